//! The deploy toolkit's secrets: a stage's private Docker configuration (the registry
//! password, the Heroku key) is owner-only and gone even when the stage is interrupted.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("oc-xtask-docker-"))
        .collect()
}

#[test]
fn an_interrupted_push_leaves_no_login_behind() {
    interrupted_push_leaves_no_login("TERM");
}

/// A closed terminal (SIGHUP) too (issue 29, info: the login stayed behind).
#[test]
fn a_push_whose_terminal_closes_leaves_no_login_behind() {
    interrupted_push_leaves_no_login("HUP");
}

fn interrupted_push_leaves_no_login(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let seen = dir.path().join("login-seen");
    // A `docker` that has every image, and whose login hangs (a registry that never answers),
    // after noting the mode of the configuration directory it was given.
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  login) cat >/dev/null; stat -c %a \"$DOCKER_CONFIG\" > {seen}.tmp; mv {seen}.tmp {seen}; sleep 30 ;;\n  *) exit 0 ;;\nesac\n",
        seen = seen.display()
    );
    let docker = bin.join("docker");
    std::fs::write(&docker, script).unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["docker", "push", "--registry", "127.0.0.1:9"])
        .env("PATH", path)
        .env("TMPDIR", &tmp)
        .env("DOCKERHUB_USERNAME", "pusher")
        .env("DOCKERHUB_PASSWORD", "registry-password")
        .env_remove("DOCKER_REPO")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.exists() {
        assert!(Instant::now() < deadline, "the fake docker login never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), "700", "owner-only");
    assert_eq!(leftovers(&tmp).len(), 1, "the login's directory exists while it runs");

    assert!(Command::new("kill")
        .args([&format!("-{signal}"), &xtask.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = xtask.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "xtask did not stop at SIG{signal}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    assert!(leftovers(&tmp).is_empty(), "left behind: {:?}", leftovers(&tmp));
}

#[test]
fn keys_never_travel_over_plain_http_to_a_host_that_only_looks_local() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["releases"])
        .env("HEROKU_API_KEY", "heroku-key")
        .env("HEROKU_APP_NAME", "app")
        .env("HEROKU_API_URL", "http://127.evil.com:9")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HEROKU_API_URL") && stderr.contains("plain http"),
        "{stderr}"
    );
    assert!(!stderr.contains("heroku-key"));
}
