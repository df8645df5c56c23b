//! Two architectures, for real: `docker build --platform linux/amd64,linux/arm64` makes
//! one image per architecture (arm64 cross-compiled with zig), `docker push` publishes an
//! index of both to a real registry on loopback, Heroku promotion takes the amd64 image
//! from it even where the local `repo:sha` is arm64 (an Apple Silicon laptop), and the
//! arm64 binary runs under qemu (`--version`, `migrate`, `serve` answering `/readyz`).
//! Each part skips with one line where its tools are missing; `.ci/run` installs them.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_heroku::FakeHeroku;
use common::registry::Registry;
use common::{docker_answers, skip, stderr, stdout, xtask};

const REPO: &str = "oc-lettings-multiarch";
const SHA: &str = "mmm0123456789";
const KEY: &str = "heroku-multiarch-key-0123456789";
const APP: &str = "oc-lettings-arm";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn zig_toolchain() -> Result<(), String> {
    if !on_path("cargo-zigbuild") {
        return Err("no cargo-zigbuild (cargo install --locked cargo-zigbuild)".into());
    }
    let ziglang = Command::new("python3")
        .args(["-c", "import ziglang"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !(on_path("zig") || ziglang) {
        return Err("no zig (pip install ziglang)".into());
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        if !installed.lines().any(|l| l.trim() == target) {
            return Err(format!("no Rust target {target} (rustup target add {target})"));
        }
    }
    Ok(())
}

fn docker_text(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(output.status.success(), "docker {args:?}: {}", stderr(&output));
    stdout(&output).trim().to_owned()
}

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `repository:reference` from a registry: its content type, digest and JSON.
fn manifest(
    registry: &str,
    repository: &str,
    reference: &str,
    login: (&str, &str),
) -> (String, String, serde_json::Value) {
    let response = http()
        .get(format!("http://{registry}/v2/{repository}/manifests/{reference}"))
        .header(
            "Accept",
            format!("{LIST}, application/vnd.docker.distribution.manifest.v2+json"),
        )
        .basic_auth(login.0, Some(login.1))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{repository}:{reference}");
    let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
    let digest = response.headers()["docker-content-digest"].to_str().unwrap().to_owned();
    (kind, digest, response.json().unwrap())
}

/// The architecture in the config of the image `repository@digest`.
fn architecture(registry: &str, repository: &str, config: &str, login: (&str, &str)) -> String {
    let config: serde_json::Value = http()
        .get(format!("http://{registry}/v2/{repository}/blobs/{config}"))
        .basic_auth(login.0, Some(login.1))
        .send()
        .unwrap()
        .json()
        .unwrap();
    config["architecture"].as_str().unwrap().to_owned()
}

#[test]
fn a_multi_architecture_build_is_pushed_as_an_index_and_heroku_gets_amd64() {
    const WHAT: &str = "multi-architecture image test";
    let _building = common::image_build_lock();
    if !docker_answers() {
        skip(WHAT, "no Docker daemon answers");
        return;
    }
    if let Err(why) = zig_toolchain() {
        skip(WHAT, &why);
        return;
    }
    let (registry, heroku_registry) = match (Registry::start("ci", "ci-password"), Registry::start("_", KEY)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            skip(WHAT, &why);
            return;
        }
    };
    let both = "linux/amd64,linux/arm64";
    let env = [("CIRCLE_SHA1", SHA)];
    let output = xtask(&["docker", "build", "--repo", REPO, "--platform", both], &env);
    assert!(
        output.status.success(),
        "build: {}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let platform = |tag: &str| docker_text(&["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tag]);
    assert_eq!(platform(&format!("{REPO}:{SHA}-amd64")), "linux/amd64");
    assert_eq!(platform(&format!("{REPO}:{SHA}-arm64")), "linux/arm64");
    assert_eq!(
        platform(&format!("{REPO}:{SHA}")),
        "linux/amd64",
        "the host's (x86_64 here)"
    );
    // The same FROM-scratch runtime stage for both: user, entrypoint, label.
    for arch in ["amd64", "arm64"] {
        let tag = format!("{REPO}:{SHA}-{arch}");
        assert_eq!(
            docker_text(&["image", "inspect", "--format", "{{.Config.User}}", &tag]),
            "10001:10001"
        );
        assert_eq!(
            docker_text(&[
                "image",
                "inspect",
                "--format",
                "{{index .Config.Labels \"org.opencontainers.image.revision\"}}",
                &tag
            ]),
            SHA
        );
    }

    // The push: both images, then one index under :sha and :latest.
    let login = [
        ("DOCKERHUB_USERNAME", "ci"),
        ("DOCKERHUB_PASSWORD", "ci-password"),
        ("CIRCLE_SHA1", SHA),
    ];
    let output = xtask(
        &[
            "docker",
            "push",
            "--repo",
            REPO,
            "--registry",
            &registry.host,
            "--platform",
            both,
        ],
        &login,
    );
    assert!(
        output.status.success(),
        "push: {}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(!stdout(&output).contains("ci-password") && !stderr(&output).contains("ci-password"));
    let auth = ("ci", "ci-password");
    let (kind, index_digest, index) = manifest(&registry.host, REPO, SHA, auth);
    assert_eq!(kind, LIST);
    assert_eq!(
        manifest(&registry.host, REPO, "latest", auth).1,
        index_digest,
        "latest is the same index"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    let mut amd64_config = String::new();
    for (entry, arch) in entries.iter().zip(["amd64", "arm64"]) {
        assert_eq!(entry["platform"]["os"], "linux");
        assert_eq!(entry["platform"]["architecture"], arch);
        let (kind, digest, image) = manifest(&registry.host, REPO, entry["digest"].as_str().unwrap(), auth);
        assert_eq!(
            kind, "application/vnd.docker.distribution.manifest.v2+json",
            "V2 schema 2 inside"
        );
        assert_eq!(digest, entry["digest"].as_str().unwrap());
        let config = image["config"]["digest"].as_str().unwrap().to_owned();
        assert_eq!(
            architecture(&registry.host, REPO, &config, auth),
            arch,
            "the entry is what it claims"
        );
        if arch == "amd64" {
            amd64_config = config;
        }
    }

    // An Apple Silicon laptop: the local repo:sha is the arm64 image and there is no
    // amd64 one. Heroku must get the amd64 image from the index, and only that.
    for tag in [
        format!("{REPO}:{SHA}"),
        format!("{REPO}:{SHA}-amd64"),
        format!("{REPO}:latest"),
    ] {
        let _ = Command::new("docker").args(["image", "rm", &tag]).output();
    }
    docker_text(&["tag", &format!("{REPO}:{SHA}-arm64"), &format!("{REPO}:{SHA}")]);
    let fake = FakeHeroku::start(KEY, APP, 3);
    fake.with(|s| s.registry = Some((heroku_registry.host.clone(), "_".to_owned(), KEY.to_owned())));
    let env = [
        ("CIRCLE_SHA1", SHA),
        ("HEROKU_API_KEY", KEY),
        ("HEROKU_APP_NAME", APP),
        ("HEROKU_API_URL", fake.url.as_str()),
        ("HEROKU_REGISTRY", heroku_registry.host.as_str()),
        ("DOCKER_REGISTRY", registry.host.as_str()),
        ("DOCKERHUB_USERNAME", "ci"),
        ("DOCKERHUB_PASSWORD", "ci-password"),
    ];
    let output = xtask(
        &[
            "deploy",
            "--repo",
            REPO,
            "--poll-interval",
            "0.05",
            "--health-check",
            "0",
        ],
        &env,
    );
    let text = stdout(&output);
    assert!(output.status.success(), "deploy: {text}\n{}", stderr(&output));
    assert!(
        text.contains(&format!("{REPO}:{SHA} is linux/arm64: Heroku runs linux/amd64 only")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "docker pull --platform linux/amd64 {}/{REPO}:{SHA}",
            registry.host
        )),
        "{text}"
    );
    assert_eq!(fake.with(|s| s.released_images.clone()), vec![amd64_config.clone()]);
    let heroku_auth = ("_", KEY);
    let (kind, _, web) = manifest(&heroku_registry.host, &format!("{APP}/web"), "latest", heroku_auth);
    assert_eq!(
        kind, "application/vnd.docker.distribution.manifest.v2+json",
        "one image, no index"
    );
    let web_config = web["config"]["digest"].as_str().unwrap();
    assert_eq!(web_config, amd64_config);
    assert_eq!(
        architecture(&heroku_registry.host, &format!("{APP}/web"), web_config, heroku_auth),
        "amd64"
    );
    fake.assert_no_violations();
    for tag in [format!("{REPO}:{SHA}"), format!("{REPO}:{SHA}-arm64")] {
        let _ = Command::new("docker").args(["image", "rm", &tag]).output();
    }
}

/// The arm64 binary, run by Debian's qemu-user-static on this x86_64 machine: the same
/// smoke test as the image's (its version, its migrations, a server that is ready).
#[test]
fn the_arm64_binary_runs_under_qemu() {
    const WHAT: &str = "arm64 binary under qemu";
    let Some(binary) = std::env::var_os("OC_ARM64_BINARY").map(PathBuf::from) else {
        skip(WHAT, "OC_ARM64_BINARY is not set (.ci/run builds it: cargo xtask docker build --platform linux/amd64,linux/arm64)");
        return;
    };
    let Some(qemu) = ["qemu-aarch64-static", "qemu-aarch64"].into_iter().find(|p| on_path(p)) else {
        skip(WHAT, "no qemu-aarch64-static (apt-get install qemu-user-static)");
        return;
    };
    let bytes = std::fs::read(&binary).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 183, "EM_AARCH64");
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("arm.sqlite3").display());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(qemu);
        command
            .arg(&binary)
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &database);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let version = run(&["--version"], &[("OC_GIT_SHA", SHA)]);
    assert!(version.status.success(), "{}", stderr(&version));
    assert!(stdout(&version).contains(SHA), "{}", stdout(&version));
    let migrate = run(&["migrate"], &[]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let secret = "s".repeat(50);
    let mut server = Command::new(qemu)
        .arg(&binary)
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", database.as_str()),
            ("PORT", port.as_str()),
            ("HOST", "127.0.0.1"),
            ("SECRET_KEY", secret.as_str()),
            ("ALLOWED_HOSTS", "127.0.0.1"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        match http().get(&url).send() {
            Ok(response) if response.status().as_u16() == 200 => break true,
            _ if Instant::now() > deadline => break false,
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    let _ = server.kill();
    let output = server.wait_with_output().unwrap();
    assert!(ready, "/readyz never answered 200: {}", stderr(&output));
}
