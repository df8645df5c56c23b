//! `cargo xtask releases | rollback | deploy` against a fake Heroku API on loopback (the
//! real one cannot be reached from here): what each sends, and each failure as one line.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::fake_heroku::{FakeHeroku, Outcome};
use common::{error_line, stdout, xtask};

const KEY: &str = "test-api-key-0123456789";
const APP: &str = "oc-lettings-test";

fn heroku_env(fake: &FakeHeroku) -> Vec<(&'static str, String)> {
    vec![
        ("HEROKU_API_KEY", KEY.to_owned()),
        ("HEROKU_APP_NAME", APP.to_owned()),
        ("HEROKU_API_URL", fake.url.clone()),
        ("HEROKU_REGISTRY", "127.0.0.1:9".to_owned()),
        // The schema guard's record: a registry that is not there (the image test has one).
        ("DOCKER_REGISTRY", "127.0.0.1:9".to_owned()),
        ("CIRCLE_SHA1", "0123456789abcdef0123456789abcdef01234567".to_owned()),
    ]
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    xtask(args, &pairs)
}

#[test]
fn releases_are_listed_newest_first() {
    let fake = FakeHeroku::start(KEY, APP, 3);
    let output = run(&["releases", "--count", "2"], &heroku_env(&fake));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = stdout(&output);
    let v3 = text.find("v3").unwrap();
    let v2 = text.find("v2").unwrap();
    assert!(v3 < v2 && !text.contains("v1 "), "{text}");
    assert!(text.contains("succeeded") && text.contains("(current)"), "{text}");
    fake.assert_no_violations();
}

#[test]
fn a_rejected_api_key_is_one_clear_line() {
    let fake = FakeHeroku::start("the-right-key", APP, 1);
    let line = error_line(&run(&["releases"], &heroku_env(&fake)));
    assert!(line.contains("HEROKU_API_KEY was rejected (401 Unauthorized"), "{line}");
    assert!(!line.contains(KEY), "the key is never printed");
}

#[test]
fn missing_settings_are_named() {
    for (args, missing) in [
        (vec!["deploy"], "HEROKU_API_KEY"),
        (vec!["releases"], "HEROKU_API_KEY"),
        (vec!["rollback"], "HEROKU_API_KEY"),
        (vec!["docker", "push"], "DOCKERHUB_USERNAME"),
    ] {
        let output = xtask(&args, &[("CIRCLE_SHA1", "abc")]);
        let line = error_line(&output);
        assert!(
            line.starts_with("error: missing variable") && line.contains(&format!(" {missing} (")),
            "{args:?}: {line}"
        );
    }
    // Every missing one in one run, not one run per variable.
    let line = error_line(&xtask(&["deploy"], &[("CIRCLE_SHA1", "abc")]));
    assert!(
        line.contains("missing variables HEROKU_API_KEY (") && line.contains(", HEROKU_APP_NAME ("),
        "{line}"
    );
    let line = error_line(&xtask(&["releases", "--target", "aws"], &[]));
    for name in [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "ECS_CLUSTER",
        "ECS_SERVICE",
    ] {
        assert!(line.contains(&format!("{name} (")), "{name}: {line}");
    }
    let line = error_line(&xtask(&["docker", "push"], &[("CIRCLE_SHA1", "abc")]));
    assert!(
        line.contains("missing variables DOCKERHUB_USERNAME (") && line.contains(", DOCKERHUB_PASSWORD ("),
        "{line}"
    );
    let output = xtask(&["deploy"], &[("CIRCLE_SHA1", "abc"), ("HEROKU_API_KEY", KEY)]);
    assert!(error_line(&output).contains("missing variable HEROKU_APP_NAME"));
    let output = xtask(
        &["docker", "push"],
        &[("CIRCLE_SHA1", "abc"), ("DOCKERHUB_USERNAME", "me")],
    );
    assert!(error_line(&output).contains("missing variable DOCKERHUB_PASSWORD"));
}

#[test]
fn an_app_off_the_container_stack_is_explained_before_anything_is_pushed() {
    let fake = FakeHeroku::start(KEY, APP, 1);
    fake.with(|s| s.stack = "heroku-24".to_owned());
    let line = error_line(&run(&["deploy"], &heroku_env(&fake)));
    assert!(
        line.contains("heroku-24 stack") && line.contains("heroku stack:set container -a oc-lettings-test"),
        "{line}"
    );
    assert!(
        fake.with(|s| s.requests.iter().all(|r| r.method == "GET")),
        "nothing was changed"
    );
}

#[test]
fn rollback_releases_the_previous_release_again() {
    let fake = FakeHeroku::start(KEY, APP, 3);
    let output = run(&["rollback", "--poll-interval", "0.05"], &heroku_env(&fake));
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("released v4 of oc-lettings-test (the code and config of v2)"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("warning: schema guard: cannot read the record in 127.0.0.1:9"),
        "a guard without its record says so and does not block: {}",
        stdout(&output)
    );
    let line = error_line(&run(&["rollback", "--strict"], &heroku_env(&fake)));
    assert!(
        line.contains("schema guard: cannot read the record in 127.0.0.1:9") && line.contains("refusing (--strict)"),
        "{line}"
    );
    let posted = fake
        .with(|s| s.requests.iter().find(|r| r.method == "POST").cloned())
        .unwrap();
    assert_eq!(posted.path, "/apps/oc-lettings-test/releases");
    assert_eq!(posted.body["release"], "01234567-89ab-cdef-0123-000000000002");

    let output = run(&["rollback", "1", "--poll-interval", "0.05"], &heroku_env(&fake));
    assert!(
        stdout(&output).contains("(the code and config of v1)"),
        "{}",
        stdout(&output)
    );
    fake.assert_no_violations();
}

#[test]
fn a_failed_rollback_exits_non_zero_with_the_reason() {
    let fake = FakeHeroku::start(KEY, APP, 2);
    fake.with(|s| s.outcome = Outcome::Fail("release phase exited 1".to_owned()));
    let line = error_line(&run(&["rollback", "--poll-interval", "0.05"], &heroku_env(&fake)));
    assert!(line.contains("release v3 failed: release phase exited 1"), "{line}");
}

#[test]
fn dry_runs_change_nothing() {
    let fake = FakeHeroku::start(KEY, APP, 1);
    let output = run(&["--dry-run", "deploy"], &heroku_env(&fake));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("PATCH /apps/oc-lettings-test/formation") && text.contains("--password-stdin"),
        "{text}"
    );
    assert!(!text.contains(KEY));
    assert!(fake.with(|s| s.requests.is_empty()), "a dry run sends nothing");

    let output = xtask(&["--dry-run", "docker", "build"], &[("CIRCLE_SHA1", "abc123")]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("cargo auditable build --release --locked --package oc-lettings --features mimalloc --target x86_64-unknown-linux-musl"), "{text}");
    assert!(
        text.contains("--tag oc-lettings:abc123 --tag oc-lettings:latest"),
        "{text}"
    );
}

/// A dry run (deploy, rollback, releases, docker push) prints what it would do, calls no
/// API and needs no credentials: the missing ones are named once and shown as `<NAME>`.
#[test]
fn a_dry_run_needs_no_credentials_and_calls_nothing() {
    let fake = FakeHeroku::start(KEY, APP, 3);
    let bare = [
        ("HEROKU_API_URL", fake.url.clone()),
        ("CIRCLE_SHA1", "abc123".to_owned()),
    ];
    for args in [
        vec!["--dry-run", "deploy"],
        vec!["--dry-run", "rollback"],
        vec!["--dry-run", "rollback", "2"],
        vec!["--dry-run", "releases"],
    ] {
        let output = run(&args, &bare);
        assert!(output.status.success(), "{args:?}: {}", common::stderr(&output));
        let text = stdout(&output);
        assert!(
            text.contains("dry run: HEROKU_API_KEY, HEROKU_APP_NAME not set"),
            "{args:?}: {text}"
        );
        assert!(text.contains("/apps/<HEROKU_APP_NAME>/"), "{args:?}: {text}");
    }
    // With credentials too, a dry rollback reads nothing (it used to list the releases).
    let output = run(&["--dry-run", "rollback"], &heroku_env(&fake));
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains(&format!("POST /apps/{APP}/releases")),
        "{}",
        stdout(&output)
    );
    assert!(fake.with(|s| s.requests.is_empty()), "a dry run sends nothing");
    let output = xtask(&["--dry-run", "docker", "push"], &[("CIRCLE_SHA1", "abc123")]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert!(
        stdout(&output).contains("dry run: DOCKERHUB_USERNAME, DOCKERHUB_PASSWORD not set"),
        "{}",
        stdout(&output)
    );
    // Without --dry-run, the same missing variables are an error, all named at once.
    let line = error_line(&run(&["releases"], &bare));
    assert!(
        line.contains("missing variables HEROKU_API_KEY") && line.contains("HEROKU_APP_NAME"),
        "{line}"
    );
}

#[test]
fn missing_docker_is_one_clear_line() {
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().to_string_lossy().into_owned();
    let output = xtask(&["docker", "build"], &[("CIRCLE_SHA1", "abc123"), ("PATH", &path)]);
    let line = error_line(&output);
    assert!(line.contains("cannot run `docker`: not found on PATH"), "{line}");
}

/// `cargo xtask run` on Heroku: a detached one-off dyno (the Platform API's Dyno Create,
/// checked against its schema), the password as the dyno's environment (never in its
/// command, never printed), followed until it is gone, its output and exit status from
/// the app's logs.
#[test]
fn a_one_off_command_runs_in_a_detached_dyno_with_its_secret_in_the_environment() {
    let fake = FakeHeroku::start(KEY, APP, 2);
    let secret = "first-admin-passphrase-4412";
    let mut env = heroku_env(&fake);
    env.push(("DJANGO_SUPERUSER_PASSWORD", secret.to_owned()));
    let args = [
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
    ];
    let output = run(&args, &env);
    let text = format!("{}{}", stdout(&output), common::stderr(&output));
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("| Superuser admin created.") && text.contains("| environment: DJANGO_SUPERUSER_PASSWORD is set"),
        "{text}"
    );
    assert!(text.contains("oc-lettings createsuperuser exited with 0"), "{text}");
    assert!(!text.contains(secret), "{text}");
    let created = fake
        .with(|s| s.requests.iter().find(|r| r.path.ends_with("/dynos")).cloned())
        .unwrap();
    assert_eq!(created.body["command"], "createsuperuser --no-input --username admin");
    assert_eq!(created.body["env"]["DJANGO_SUPERUSER_PASSWORD"], secret);
    assert_eq!(created.body["type"], "run");
    assert!(fake.with(|s| s.dynos.iter().all(|(_, _, exited)| *exited)));

    // Its exit status is the tool's; an argument a dyno's command string cannot carry is
    // refused before anything is called.
    fake.with(|s| {
        s.one_off_exit = 2;
        s.one_off_output = vec!["error: That username is already taken.".to_owned()];
    });
    let output = run(&args, &env);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stdout(&output).contains("| error: That username is already taken."));
    let before = fake.with(|s| s.requests.len());
    let line = error_line(&run(
        &["run", "--", "createsuperuser", "--username", "two words"],
        &heroku_env(&fake),
    ));
    assert!(line.contains("cannot be passed to a Heroku dyno's command"), "{line}");
    assert_eq!(fake.with(|s| s.requests.len()), before);
    fake.assert_no_violations();
}
