//! Test support: the xtask binary, a fake Heroku API, a real registry on loopback.
#![allow(dead_code, clippy::unwrap_used)]

pub mod fake_aws;
pub mod fake_heroku;
pub mod fake_sentry;
pub mod http;
pub mod registry;
pub mod schema;

use std::io::Write;
use std::process::{Command, Output};

/// Runs `cargo xtask ARGS` (the built binary) with a clean environment for its settings.
pub fn xtask(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args);
    for var in [
        "HEROKU_API_KEY",
        "HEROKU_APP_NAME",
        "HEROKU_API_URL",
        "HEROKU_REGISTRY",
        "DOCKERHUB_USERNAME",
        "DOCKERHUB_PASSWORD",
        "DOCKER_REPO",
        "DOCKER_REGISTRY",
        "CIRCLE_SHA1",
        "DEPLOY_TARGET",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ECS",
        "AWS_ENDPOINT_URL_ECR",
        "ECS_CLUSTER",
        "ECS_SERVICE",
        "ECS_CONTAINER",
        "ECR_REPOSITORY",
        "SERVICE_URL",
        "SENTRY_AUTH_TOKEN",
        "SENTRY_ORG",
        "SENTRY_PROJECT",
        "SENTRY_URL",
        "SENTRY_ENVIRONMENT",
        "SENTRY_REPOSITORY",
        "METRICS_TOKEN",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The single `error: …` line of a failed run.
pub fn error_line(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure; stdout: {}",
        stdout(output)
    );
    let err = stderr(output);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line, got: {err}");
    lines[0].to_owned()
}

pub fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Says, once and past the test harness's capture, why a test did not run.
pub fn skip(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "\nSKIPPED: {what} ({why})");
}

/// Held by every test that runs `cargo xtask docker build`: they share `target/image`,
/// whose binary the build rewrites (plain `cargo test` runs a binary's tests in parallel
/// threads; nextest's `heavy` group keeps them apart across processes).
pub fn image_build_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
