//! The whole delivery, for real: `cargo xtask docker build` makes an image that runs (as
//! non-root, no shell, small), `docker push` puts it in a real registry on loopback (with
//! a login) from which it pulls back by digest, and `deploy` pushes it to a registry
//! posing as Heroku's and releases it through the fake Heroku API, which must receive
//! exactly the pushed image's config digest. Skipped with one line without Docker.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::fake_heroku::{FakeHeroku, Outcome};
use common::fake_sentry::FakeSentry;
use common::registry::Registry;
use common::{docker_answers, error_line, skip, stderr, stdout, xtask};

const REPO: &str = "oc-lettings-e2e";
const SHA: &str = "e2e0123456789";
const KEY: &str = "heroku-test-key-9876543210";
const APP: &str = "oc-lettings-test";
const SENTRY_TOKEN: &str = "sntrys_e2e-token-never-printed-0123456789";
const METRICS_TOKEN: &str = "e2e-metrics-token-never-printed-0123456789";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

fn docker_text(args: &[&str]) -> String {
    let output = docker(args);
    assert!(output.status.success(), "docker {args:?}: {}", stderr(&output));
    stdout(&output).trim().to_owned()
}

/// A container removed when the test ends, however it ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", &self.0]);
    }
}

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn get(url: &str) -> (u16, String) {
    match http().get(url).send() {
        Ok(response) => (response.status().as_u16(), response.text().unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// The manifest digest and config digest of `repository:tag` in a registry.
fn pushed(registry: &str, repository: &str, tag: &str, user: &str, password: &str) -> (String, String) {
    let response = http()
        .get(format!("http://{registry}/v2/{repository}/manifests/{tag}"))
        .header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
        .basic_auth(user, Some(password))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let digest = response.headers()["docker-content-digest"].to_str().unwrap().to_owned();
    let manifest: serde_json::Value = response.json().unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
        "V2 schema 2, as Heroku needs"
    );
    (digest, manifest["config"]["digest"].as_str().unwrap().to_owned())
}

/// Runs `image` on a published port, `env` added (`NAME=value`), and waits until it
/// answers `/healthz`; the container and its base URL.
fn start_site(image: &str, env: &[&str]) -> (Container, String) {
    start_site_with(image, env, &[])
}

/// As [`start_site`], with more `docker run` arguments (a volume).
fn start_site_with(image: &str, env: &[&str], more: &[&str]) -> (Container, String) {
    let secret = format!("SECRET_KEY={}", "k".repeat(50));
    let mut args = vec![
        "run",
        "--detach",
        "--publish",
        "127.0.0.1::8080",
        "--env",
        "PORT=8080",
        "--env",
        "ALLOWED_HOSTS=127.0.0.1",
        "--env",
        &secret,
    ];
    for pair in env {
        args.extend(["--env", pair]);
    }
    args.extend_from_slice(more);
    args.push(image);
    let container = Container(docker_text(&args));
    let published = docker_text(&["port", &container.0, "8080/tcp"]);
    let base = format!("http://{}", published.lines().next().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{base}/healthz")).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the container did not answer: {}",
            docker_text(&["logs", &container.0])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (container, base)
}

/// Traffic to a site that fails once it is ready: a thread waits for the site's first
/// `/readyz` answered 200 (the deploy's readiness check, seen on its /metrics), destroys
/// its SQLite files in `data` (the database, its WAL and its index, as a disk fault
/// would), then asks for one letting after another (pages not in its cache) until dropped.
struct FailAfterReady {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FailAfterReady {
    fn start(base: &str, data: &std::path::Path) -> FailAfterReady {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (base, data, flag) = (base.to_owned(), data.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || {
            let client = http();
            let ready = || {
                client
                    .get(format!("{base}/metrics"))
                    .bearer_auth(METRICS_TOKEN)
                    .send()
                    .and_then(|r| r.text())
                    .is_ok_and(|text| text.contains("route=\"/readyz\",method=\"GET\",status=\"2xx\""))
            };
            while !flag.load(Ordering::Relaxed) && !ready() {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Overwritten in place, never truncated: the index is mapped in memory.
            for entry in std::fs::read_dir(&data).unwrap().flatten() {
                let length = entry.metadata().map_or(0, |m| m.len());
                let mut file = std::fs::OpenOptions::new().write(true).open(entry.path()).unwrap();
                std::io::Write::write_all(&mut file, &vec![0xff; length as usize]).unwrap();
            }
            let mut id = 100;
            while !flag.load(Ordering::Relaxed) {
                id += 1;
                let _ = client.get(format!("{base}/lettings/{id}/")).send();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        FailAfterReady {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FailAfterReady {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The crate names in the dependency list embedded in the image's binary, read the way a
/// scanner does: the file from the image, its `.dep-v0` section, inflated, parsed.
fn embedded_dependencies(tag: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let created = docker_text(&["create", tag]);
    let container = Container(created);
    let binary = dir.path().join("oc-lettings");
    docker_text(&["cp", &format!("{}:/oc-lettings", container.0), binary.to_str().unwrap()]);
    let section = dir.path().join("dep-v0");
    let dumped = Command::new("objcopy")
        .arg("--dump-section")
        .arg(format!(".dep-v0={}", section.display()))
        .arg(&binary)
        .arg(dir.path().join("discard"))
        .output()
        .unwrap();
    assert!(dumped.status.success(), "no .dep-v0 section: {}", stderr(&dumped));
    let json = miniz_oxide::inflate::decompress_to_vec_zlib(&std::fs::read(&section).unwrap()).unwrap();
    let list: serde_json::Value = serde_json::from_slice(&json).unwrap();
    list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_image_builds_runs_pushes_and_deploys() {
    let _building = common::image_build_lock();
    if !docker_answers() {
        skip("Docker image, push and deploy test", "no Docker daemon answers");
        return;
    }
    let musl_gcc = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("musl-gcc").is_file()));
    let musl_target = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "x86_64-unknown-linux-musl")
        });
    if !(musl_gcc && musl_target) {
        skip(
            "Docker image, push and deploy test",
            "the static build needs musl-tools and `rustup target add x86_64-unknown-linux-musl`",
        );
        return;
    }
    let (registry, heroku_registry) = match (Registry::start("ci", "ci-password"), Registry::start("_", KEY)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            skip("Docker image, push and deploy test", &why);
            return;
        }
    };
    let tag = format!("{REPO}:{SHA}");

    // Build.
    let output = xtask(&["docker", "build", "--repo", REPO], &[("CIRCLE_SHA1", SHA)]);
    assert!(
        output.status.success(),
        "build: {}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains(&format!("built {tag} and {REPO}:latest")),
        "{}",
        stdout(&output)
    );

    // What the image is: non-root, the binary as entrypoint, small, no shell.
    assert_eq!(
        docker_text(&["image", "inspect", "--format", "{{.Config.User}}", &tag]),
        "10001:10001"
    );
    assert_eq!(
        docker_text(&["image", "inspect", "--format", "{{json .Config.Entrypoint}}", &tag]),
        "[\"/oc-lettings\"]"
    );
    assert_eq!(
        docker_text(&["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", &tag]),
        "linux/amd64"
    );
    // The newest embedded migration, as a label, named as diesel records it.
    let label = docker_text(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"io.oc-lettings.newest-migration\"}}",
        &tag,
    ]);
    let newest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../app/migrations/postgres"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .max()
        .unwrap();
    assert_eq!(label, newest.split('_').next().unwrap().replace('-', ""), "{label}");
    // What scanners (Trivy, Grype) read from a FROM-scratch image: the binary's embedded
    // dependency list (cargo-auditable's `.dep-v0` section, zlib-compressed JSON).
    let auditable = Command::new(env!("CARGO"))
        .args(["auditable", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if auditable {
        let packages = embedded_dependencies(&tag);
        for name in [
            "oc-lettings",
            "actix-web",
            "diesel",
            "diesel-async",
            "tokio-postgres",
            "mimalloc",
            "rustls",
        ] {
            assert!(packages.iter().any(|p| p == name), "{name} is listed: {packages:?}");
        }
        // One PostgreSQL driver and one TLS stack: no libpq, no OpenSSL in any form.
        for absent in [
            "pq-sys",
            "pq-src",
            "openssl",
            "openssl-sys",
            "openssl-src",
            "native-tls",
        ] {
            assert!(
                !packages.iter().any(|p| p == absent),
                "{absent} is not shipped: {packages:?}"
            );
        }
    } else {
        skip(
            "the image's dependency list check",
            "cargo-auditable is not installed: cargo install cargo-auditable --locked",
        );
    }
    let size: f64 = docker_text(&["image", "inspect", "--format", "{{.Size}}", &tag])
        .parse()
        .unwrap();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\nimage {tag}: {:.1} MB\n", size / 1e6).as_bytes(),
    );
    assert!(size < 20e6, "the image stays within its 20 MB budget: {size} bytes");
    assert!(
        !docker(&["run", "--rm", "--entrypoint", "/bin/sh", &tag, "-c", "true"])
            .status
            .success(),
        "no shell"
    );
    let version = docker_text(&["run", "--rm", &tag, "--version"]);
    assert!(version.contains(&format!("git {SHA}")), "{version}");

    // It runs and serves the site (on $PORT, demo data in the SQLite file under /data).
    let (_site, base) = start_site(&tag, &[]); // serves until the test ends
    for (path, content) in [
        ("/", "Welcome to Holiday Homes"),
        ("/lettings/", "Oceanview Retreat"),
        ("/lettings/1/", "7217 Bedford Street"),
    ] {
        let (status, body) = get(&format!("{base}{path}"));
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(content), "{path}");
    }

    // Push to a registry with a login, then pull back by digest.
    let output = xtask(
        &["docker", "push", "--repo", REPO, "--registry", &registry.host],
        &[
            ("CIRCLE_SHA1", SHA),
            ("DOCKERHUB_USERNAME", "ci"),
            ("DOCKERHUB_PASSWORD", "ci-password"),
        ],
    );
    assert!(
        output.status.success(),
        "push: {}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        !stdout(&output).contains("ci-password") && !stderr(&output).contains("ci-password"),
        "the password stays secret"
    );
    let (digest, config) = pushed(&registry.host, REPO, SHA, "ci", "ci-password");
    assert_eq!(
        pushed(&registry.host, REPO, "latest", "ci", "ci-password").0,
        digest,
        "both tags"
    );
    let local_id = docker_text(&["image", "inspect", "--format", "{{.Id}}", &tag]);
    assert_eq!(config, local_id, "the pushed config is the image built");
    let client_config = tempfile::tempdir().unwrap();
    let login = Command::new("docker")
        .env("DOCKER_CONFIG", client_config.path())
        .args(["login", "--username", "ci", "--password-stdin", &registry.host])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"ci-password")?;
            drop(child.stdin.take());
            child.wait()
        })
        .unwrap();
    assert!(login.success());
    let by_digest = format!("{}/{REPO}@{digest}", registry.host);
    let pull = Command::new("docker")
        .env("DOCKER_CONFIG", client_config.path())
        .args(["pull", &by_digest])
        .output()
        .unwrap();
    assert!(pull.status.success(), "pull by digest: {}", stderr(&pull));
    let _ = docker(&["image", "rm", &by_digest]);

    // Promote, not rebuild: the local image is gone, so `deploy` must pull the pushed one
    // from the registry posing as Docker Hub (no cargo build), push it to the registry
    // posing as Heroku's, migrate in a real release phase (the fake runs the release image
    // with `docker run`), check /readyz on the running container, and record the release
    // for the schema guard.
    for local in [tag.clone(), format!("{REPO}:latest")] {
        let _ = docker(&["image", "rm", &local]);
    }
    assert!(
        !docker(&["image", "inspect", &tag]).status.success(),
        "the local image is gone"
    );
    let fake = FakeHeroku::start(KEY, APP, 41);
    fake.with(|s| {
        s.web_url = format!("{base}/");
        s.registry = Some((heroku_registry.host.clone(), "_".to_owned(), KEY.to_owned()));
    });
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
    let deploy = [
        "deploy",
        "--repo",
        REPO,
        "--poll-interval",
        "0.05",
        "--health-check",
        "20",
    ];
    let output = xtask(&deploy, &env);
    let text = stdout(&output);
    assert!(output.status.success(), "deploy: {text}\n{}", stderr(&output));
    assert!(
        text.contains(&format!(
            "docker pull --platform linux/amd64 {}/{REPO}:{SHA}",
            registry.host
        )),
        "pulled the pushed image: {text}"
    );
    assert!(
        !text.contains("static binary") && !text.contains("cargo build"),
        "nothing was compiled: {text}"
    );
    assert!(
        text.contains("the release command's output (from the app's logs):") && text.contains("migration(s) applied"),
        "the release command's output is shown: {text}"
    );
    assert!(text.contains("v42 is ready"), "{text}");
    assert!(
        text.contains(&format!("released v42 of {APP} ({SHA}) at {base}/")),
        "{text}"
    );
    for secret in [KEY, "ci-password"] {
        assert!(
            !text.contains(secret) && !stderr(&output).contains(secret),
            "secrets stay secret"
        );
    }
    assert_eq!(
        fake.with(|s| s.released_images.clone()),
        vec![config.clone()],
        "released exactly the image pushed to the first registry"
    );
    let (_, heroku_config) = pushed(&heroku_registry.host, &format!("{APP}/web"), "latest", "_", KEY);
    assert_eq!(heroku_config, config);
    let (_, release_config) = pushed(&heroku_registry.host, &format!("{APP}/release"), "latest", "_", KEY);
    assert_eq!(fake.with(|s| s.release_commands.clone()), vec![release_config.clone()]);
    assert_eq!(
        docker_text(&["image", "inspect", "--format", "{{json .Config.Cmd}}", &release_config]),
        "[\"migrate\"]",
        "the release phase runs `oc-lettings migrate`"
    );
    let ledger = |tag: &str| pushed(&registry.host, REPO, tag, "ci", "ci-password").0;
    assert_eq!(ledger(&format!("heroku-{APP}-v42")), digest, "v42 recorded");
    assert_eq!(ledger(&format!("heroku-{APP}-schema")), digest, "its schema recorded");
    fake.assert_no_violations();

    // A migration that fails fails the release; the previous release keeps serving.
    fake.with(|s| {
        s.release_env = vec![(
            "DATABASE_URL".to_owned(),
            "postgres://nobody:db-secret@127.0.0.1:9/none".to_owned(),
        )];
    });
    let output = xtask(&deploy, &env);
    let line = error_line(&output);
    // Nothing streams from this image (no curl, as on Heroku): the reason comes from
    // the app's logs, the release command's own last line.
    assert!(
        line.contains("release v43 failed: the release command failed: ") && line.contains("127.0.0.1:9"),
        "{line}"
    );
    assert!(!line.contains("db-secret"), "{line}");
    let text = stdout(&output);
    assert!(
        text.contains("the release command's output (from the app's logs):"),
        "{text}"
    );
    assert!(
        fake.with(|s| s.requests.iter().filter(|r| r.path.ends_with("/log-sessions")).count()) >= 2,
        "read through log sessions"
    );
    assert!(
        !text.contains("db-secret"),
        "the database password is not echoed: {text}"
    );
    assert!(
        fake.with(|s| s.releases[41]["current"] == true && s.releases[42]["status"] == "failed"),
        "v42 still current"
    );
    fake.with(|s| s.release_env.clear());

    // A release whose /readyz fails (an instance that does not migrate on start, on an
    // empty database) is rolled back by itself to the last good release.
    let (unready, unready_base) = start_site(&format!("{}/{REPO}:{SHA}", registry.host), &["MIGRATE_ON_START=false"]);
    assert_eq!(get(&format!("{unready_base}/readyz")).0, 503);
    fake.with(|s| s.web_url = format!("{unready_base}/"));
    let mut quick = deploy.to_vec();
    let last = quick.len() - 1;
    quick[last] = "2";
    let line = error_line(&xtask(&quick, &env));
    assert!(
        line.contains("release v44 is not ready")
            && line.contains("/readyz answered 503")
            && line.contains("rolled back to v42 (released as v45)"),
        "{line}"
    );
    let rollback_to = fake
        .with(|s| s.requests.iter().rev().find(|r| r.method == "POST").cloned())
        .unwrap();
    assert_eq!(rollback_to.body["release"], "01234567-89ab-cdef-0123-000000000042");
    assert_eq!(ledger(&format!("heroku-{APP}-v45")), digest, "the rollback recorded");

    // --no-rollback keeps it for inspection.
    let mut keep = quick.clone();
    keep.push("--no-rollback");
    let line = error_line(&xtask(&keep, &env));
    assert!(
        line.contains("release v46 is not ready") && line.contains("kept live (--no-rollback)"),
        "{line}"
    );
    drop(unready);
    fake.with(|s| s.web_url = format!("{base}/"));
    fake.assert_no_violations();

    // A release that is ready, then fails (its database file is destroyed under it, as a
    // disk fault would): the watch reads the instance's own 5xx count on its /metrics and
    // rolls back by itself; Sentry records the release, its commit, the deploy and the
    // rollback's deploy of the release it returned to (its commit from the image's label).
    let sentry = FakeSentry::start(SENTRY_TOKEN, "acme");
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let volume = format!("{}:/data", data.path().display());
    let metrics_env = format!("METRICS_TOKEN={METRICS_TOKEN}");
    let (failing, failing_base) = start_site_with(
        &format!("{}/{REPO}:{SHA}", registry.host),
        &[&metrics_env],
        &["--volume", &volume],
    );
    fake.with(|s| s.web_url = format!("{failing_base}/"));
    let traffic = FailAfterReady::start(&failing_base, data.path());
    let mut watched = env.to_vec();
    watched.extend([
        ("METRICS_TOKEN", METRICS_TOKEN),
        ("SENTRY_AUTH_TOKEN", SENTRY_TOKEN),
        ("SENTRY_ORG", "acme"),
        ("SENTRY_PROJECT", "oc-lettings"),
        ("SENTRY_URL", sentry.url.as_str()),
    ]);
    let mut watch = deploy.to_vec();
    watch.extend(["--watch", "60"]);
    let output = xtask(&watch, &watched);
    drop(traffic);
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        !all.contains(SENTRY_TOKEN) && !all.contains(METRICS_TOKEN),
        "a token was printed: {all}"
    );
    let line = error_line(&output);
    assert!(
        line.contains("release v47 failed its watch: ")
            && line.contains("answered 5xx")
            && line.contains("over the 5% limit"),
        "{line}"
    );
    assert!(line.contains("rolled back to v46 (released as v48)"), "{line}");
    let release = sentry
        .release(&format!("oc-lettings@{SHA}"))
        .expect("the release in Sentry");
    assert_eq!(release["commits"][0]["id"], SHA);
    let deploys: Vec<(String, Option<String>)> = sentry.with(|s| {
        s.deploys
            .iter()
            .map(|d| (d.version.clone(), d.body["name"].as_str().map(str::to_owned)))
            .collect()
    });
    assert_eq!(
        deploys,
        vec![
            (format!("oc-lettings@{SHA}"), None),
            (format!("oc-lettings@{SHA}"), Some("automatic rollback".to_owned())),
        ]
    );
    sentry.assert_no_violations();
    drop(failing);
    fake.with(|s| s.web_url = format!("{base}/"));
    fake.assert_no_violations();

    // The schema guard: the record says the database has a migration this image does not
    // know (as after a newer release): a warning, or a refusal under --strict.
    let newer = format!("{}/{REPO}:heroku-{APP}-schema", registry.host);
    let labelled = Command::new("docker")
        .args(["build", "--tag", &newer, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(
                child.stdin.as_mut().unwrap(),
                format!(
                    "FROM {}/{REPO}:{SHA}\nLABEL io.oc-lettings.newest-migration=20991231000001\n",
                    registry.host
                )
                .as_bytes(),
            )?;
            drop(child.stdin.take());
            child.wait_with_output()
        })
        .unwrap();
    assert!(labelled.status.success(), "{}", stderr(&labelled));
    let push = Command::new("docker")
        .env("DOCKER_CONFIG", client_config.path())
        .args(["push", &newer])
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", stderr(&push));
    let _ = docker(&["image", "rm", &newer]);
    let patches = || fake.with(|s| s.requests.iter().filter(|r| r.method != "GET").count());
    let before = patches();
    let mut strict = deploy.to_vec();
    strict.push("--strict");
    let line = error_line(&xtask(&strict, &env));
    assert!(
        line.contains(&format!(
            "this release ({SHA}) runs on a schema with 2099-12-31-000001 applied, which it does not know"
        )) && line.contains("refusing (--strict)"),
        "{line}"
    );
    let line = error_line(&xtask(&["rollback", "42", "--strict", "--repo", REPO], &env));
    assert!(
        line.contains("v42 runs on a schema with 2099-12-31-000001 applied") && line.contains("refusing (--strict)"),
        "{line}"
    );
    assert_eq!(patches(), before, "a refusal changes nothing");
    let output = xtask(&["rollback", "42", "--repo", REPO, "--poll-interval", "0.05"], &env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("warning: v42 runs on a schema with 2099-12-31-000001 applied"),
        "{}",
        stdout(&output)
    );

    // A one-off command in a dyno of the released image, run for real by the stand-in
    // (`docker run` of the image: its entrypoint, the command's words as arguments, the
    // password in its environment): the FROM-scratch image runs it with no shell.
    let mut with_password = env.to_vec();
    with_password.push(("DJANGO_SUPERUSER_PASSWORD", "first-admin-passphrase"));
    let output = xtask(
        &[
            "run",
            "--poll-interval",
            "0.05",
            "--env",
            "DJANGO_SUPERUSER_PASSWORD",
            "--",
            "createsuperuser",
            "--no-input",
            "--username",
            "admin",
        ],
        &with_password,
    );
    let text = stdout(&output);
    assert!(output.status.success(), "run: {text}\n{}", stderr(&output));
    assert!(text.contains("| Superuser admin created."), "{text}");
    assert!(!text.contains("first-admin-passphrase"), "{text}");

    // Failures of the platform itself: a release that fails without a release phase's
    // output, and one that never finishes.
    fake.with(|s| s.outcome = Outcome::Fail("Release command exited with status 1".to_owned()));
    let line = error_line(&xtask(&deploy, &env));
    assert!(line.contains("failed: Release command exited with status 1"), "{line}");
    fake.with(|s| s.outcome = Outcome::StayPending);
    let mut slow = deploy.to_vec();
    slow.extend(["--timeout", "1"]);
    let line = error_line(&xtask(&slow, &env));
    assert!(line.contains("release still pending after 1s"), "{line}");
    fake.assert_no_violations();
}

/// `Dockerfile.source` (the image built from source with Docker alone) ends in the same
/// runtime stage as the `Dockerfile` the tests build, line for line, except where the
/// binary comes from. (CI cannot pull its Rust builder image: this is what is checked.)
#[test]
fn the_source_dockerfile_ends_in_the_same_runtime_stage() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let runtime = |name: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{root}/{name}")).unwrap();
        let stage = &text[text.find("\nFROM scratch").expect("a FROM scratch stage")..];
        let mut lines: Vec<String> = stage.lines().map(str::to_owned).collect();
        let binary = lines
            .iter()
            .position(|l| l.starts_with("COPY") && l.ends_with(" /oc-lettings"))
            .expect("the binary's COPY");
        lines.remove(binary);
        // The Dockerfile's choice of binary (an ARG and its comment) is its own.
        lines.retain(|l| {
            !l.starts_with("ARG BINARY=")
                && !l.contains("static binary of the image's architecture")
                && !l.contains("passes the arm64 one")
        });
        lines
    };
    assert_eq!(runtime("Dockerfile"), runtime("Dockerfile.source"));
}
