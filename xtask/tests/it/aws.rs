//! `cargo xtask deploy | rollback | releases --target aws` against a loopback stand-in of
//! ECS and ECR (`common::fake_aws`: SigV4 checked with the test's keys, every body against
//! botocore's service models, rollouts simulated) and two real registries (Debian's
//! docker-registry): the one `docker push` pushed to, and one posing as ECR. No Docker
//! daemon is needed: the image is copied registry to registry. Skipped, with one line,
//! where botocore or the registry is missing.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Output;

use common::fake_aws::{botocore_model, FakeAws};
use common::fake_sentry::FakeSentry;
use common::registry::Registry;
use common::{error_line, skip, stderr, stdout};
use ring::digest;
use serde_json::json;

const ACCESS_KEY: &str = "AKIATESTDEPLOY000001";
const SECRET_KEY: &str = "test-secret-key/do-not-print+0123456789";
const SHA: &str = "4f2c0ffee0000000000000000000000000000001";
const SOURCE_PASSWORD: &str = "source-registry-password";
const ECR_PASSWORD: &str = "ecr-password-from-the-token";

fn sha256(bytes: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, bytes);
    format!(
        "sha256:{}",
        hash.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Pushes a small image (a config with the release's label, one layer) as `repo:tag`
/// over the registry API, as `docker push` would leave it; its manifest digest.
fn push_image(registry: &Registry, user: &str, password: &str, repo: &str, tag: &str, migration: &str) -> String {
    push_image_for(registry, (user, password), repo, tag, migration, "amd64").0
}

/// As [`push_image`], for `architecture`; its manifest's digest and size.
fn push_image_for(
    registry: &Registry,
    (user, password): (&str, &str),
    repo: &str,
    tag: &str,
    migration: &str,
    architecture: &str,
) -> (String, usize) {
    let http = common::fake_aws::http();
    let base = format!("http://{}", registry.host);
    let config = serde_json::to_vec(&json!({
        "architecture": architecture, "os": "linux",
        "config": {"Cmd": ["serve"], "Labels": {
            "io.oc-lettings.newest-migration": migration,
            // The commit, as the Dockerfile labels it (Sentry's release of a rollback).
            "org.opencontainers.image.revision": tag,
        }},
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap();
    let layer = format!("not really a tar, but bytes with a digest ({architecture})").into_bytes();
    for blob in [&config, &layer] {
        let started = http
            .post(format!("{base}/v2/{repo}/blobs/uploads/"))
            .basic_auth(user, Some(password))
            .send()
            .unwrap();
        assert!(started.status().is_success(), "{}", started.status());
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = http
            .put(format!("{location}{separator}digest={}", sha256(blob)))
            .basic_auth(user, Some(password))
            .body(blob.clone())
            .send()
            .unwrap();
        assert!(put.status().is_success(), "{}", put.status());
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": sha256(&config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer.len(), "digest": sha256(&layer)}]
    }))
    .unwrap();
    let put = http
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .basic_auth(user, Some(password))
        .header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        .body(manifest.clone())
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    (sha256(&manifest), manifest.len())
}

/// The stand-in, its two registries, and this commit's image pushed to the first.
struct World {
    fake: FakeAws,
    source: Registry,
    ecr: Registry,
    digest: String,
}

fn world(what: &str) -> Option<World> {
    if botocore_model("ecs").is_none() {
        skip(
            what,
            "no botocore for python3 (pip install botocore): its ECS/ECR models check the requests",
        );
        return None;
    }
    let (source, ecr) = match (
        Registry::start("ci", SOURCE_PASSWORD),
        Registry::start("AWS", ECR_PASSWORD),
    ) {
        (Ok(source), Ok(ecr)) => (source, ecr),
        (Err(why), _) | (_, Err(why)) => {
            skip(what, &why);
            return None;
        }
    };
    let digest = push_image(
        &source,
        "ci",
        SOURCE_PASSWORD,
        "team/oc-lettings",
        SHA,
        "20261126000002",
    );
    let fake = FakeAws::start(
        ACCESS_KEY,
        SECRET_KEY,
        (ecr.host.clone(), "AWS".into(), ECR_PASSWORD.into()),
    );
    Some(World {
        fake,
        source,
        ecr,
        digest,
    })
}

impl World {
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_ENDPOINT_URL", self.fake.url.as_str()),
            ("ECS_CLUSTER", "oc-cluster"),
            ("ECS_SERVICE", "oc-web"),
            ("ECR_REPOSITORY", "oc-lettings"),
            ("DOCKER_REGISTRY", self.source.host.as_str()),
            ("DOCKER_REPO", "team/oc-lettings"),
            ("DOCKERHUB_USERNAME", "ci"),
            ("DOCKERHUB_PASSWORD", SOURCE_PASSWORD),
            ("CIRCLE_SHA1", SHA),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut env = self.env();
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let borrowed: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let output = common::xtask(args, &borrowed);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        for secret in [SECRET_KEY, SOURCE_PASSWORD, ECR_PASSWORD] {
            assert!(!all.contains(secret), "a secret was printed: {all}");
        }
        output
    }

    fn deploy(&self, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut args = vec![
            "deploy",
            "--target",
            "aws",
            "--timeout",
            "30",
            "--poll-interval",
            "0.05",
        ];
        if !extra_args.contains(&"--health-check") {
            args.extend(["--health-check", "3"]);
        }
        args.extend_from_slice(extra_args);
        self.run(&args, extra_env)
    }

    fn running(&self) -> String {
        self.fake.with(|s| s.running.rsplit('/').next().unwrap().to_owned())
    }
}

#[test]
fn a_deploy_promotes_migrates_and_rolls_out() {
    let Some(w) = world("AWS deploy test") else {
        return;
    };
    let output = w.deploy(&[], &[("SERVICE_URL", &w.fake.url)]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    w.fake.assert_no_violations();

    // The image went to ECR unchanged (same manifest digest), and the new revision pins it.
    let pinned = format!("{}/oc-lettings@{}", w.ecr.host, w.digest);
    assert!(out.contains(&format!("image {pinned}")), "{out}");
    assert_eq!(w.running(), "oc-lettings:2");
    let revision = w.fake.with(|s| s.task_definitions[1].clone());
    assert_eq!(revision["containerDefinitions"][1]["image"], pinned.as_str());
    assert_eq!(revision["cpu"], "256");
    assert_eq!(
        revision["containerDefinitions"][1]["environment"],
        json!([{"name": "ALLOWED_HOSTS", "value": "oc-lettings.example.com"}])
    );

    // The migration ran once, on the new revision, before the service moved.
    let operations = w.fake.operations();
    let position = |op: &str| operations.iter().position(|o| o == op).unwrap();
    assert!(position("GetAuthorizationToken") < position("RegisterTaskDefinition"));
    assert!(position("RegisterTaskDefinition") < position("RunTask"));
    assert!(position("DescribeTasks") < position("UpdateService"), "{operations:?}");
    assert_eq!(operations.iter().filter(|o| *o == "RunTask").count(), 1);
    let run = w.fake.with(|s| {
        s.requests
            .iter()
            .find(|r| r.target.ends_with(".RunTask"))
            .unwrap()
            .body
            .clone()
    });
    assert!(run["taskDefinition"].as_str().unwrap().ends_with("oc-lettings:2"));
    assert_eq!(run["launchType"], "FARGATE");
    for line in [
        "migration task: STOPPED",
        "oc-lettings:2: IN_PROGRESS",
        "oc-lettings:2: COMPLETED",
        &format!("readiness: GET {}/readyz", w.fake.url),
        &format!("deployed {SHA}"),
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }

    // A second deploy of the same commit moves no layer: the image is already in ECR.
    let again = w.deploy(&["--health-check", "0"], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("already in ECR"));
    assert_eq!(w.running(), "oc-lettings:3");
    w.fake.assert_no_violations();
}

#[test]
fn a_failed_migration_leaves_the_service_alone() {
    let Some(w) = world("AWS failed migration test") else {
        return;
    };
    w.fake.with(|s| s.migration_exit = 1);
    let output = w.deploy(&[], &[]);
    let line = error_line(&output);
    assert!(line.contains("the migration task exited with 1"), "{line}");
    assert!(
        line.contains("the service was not changed, it still runs oc-lettings:1"),
        "{line}"
    );
    assert!(!w.fake.operations().contains(&"UpdateService".to_owned()));
    assert_eq!(w.running(), "oc-lettings:1");
    w.fake.assert_no_violations();
}

#[test]
fn a_failed_rollout_or_readiness_rolls_back_by_itself() {
    let Some(w) = world("AWS rollback-on-failure test") else {
        return;
    };
    // The rollout fails (ECS's circuit breaker): back to revision 1, both named.
    w.fake.with(|s| s.failing_images = vec![w.digest.clone()]);
    let output = w.deploy(&[], &[]);
    let line = error_line(&output);
    assert!(
        line.contains("the rollout of oc-lettings:2 FAILED: ECS deployment circuit breaker"),
        "{line}"
    );
    assert!(line.contains("rolled back to oc-lettings:1"), "{line}");
    assert_eq!(w.running(), "oc-lettings:1");
    assert_eq!(w.fake.operations().iter().filter(|o| *o == "UpdateService").count(), 2);

    // It rolls out, but /readyz never answers 200: back to revision 1 too.
    w.fake.with(|s| {
        s.failing_images.clear();
        s.unready_images = vec![w.digest.clone()];
    });
    let output = w.deploy(&["--health-check", "1"], &[("SERVICE_URL", &w.fake.url)]);
    let line = error_line(&output);
    assert!(line.contains("oc-lettings:3 is not ready"), "{line}");
    assert!(line.contains("answered 503"), "{line}");
    assert!(line.contains("rolled back to oc-lettings:1"), "{line}");
    assert_eq!(w.running(), "oc-lettings:1");

    // --no-rollback keeps it, and says how to go back.
    let output = w.deploy(
        &["--health-check", "1", "--no-rollback"],
        &[("SERVICE_URL", &w.fake.url)],
    );
    let line = error_line(&output);
    assert!(
        line.contains("oc-lettings:4 kept live (--no-rollback)")
            && line.contains("`cargo xtask rollback --target aws 1` returns to oc-lettings:1"),
        "{line}"
    );
    assert_eq!(w.running(), "oc-lettings:4");
    w.fake.assert_no_violations();
}

#[test]
fn releases_and_a_manual_rollback() {
    let Some(w) = world("AWS rollback test") else {
        return;
    };
    let output = w.deploy(&["--health-check", "0"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let output = w.run(&["releases", "--target", "aws"], &[]);
    let out = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("revision"), "{out}");
    assert!(lines[1].starts_with("2 ") && lines[1].ends_with("(running)"), "{out}");
    assert!(lines[1].contains(&w.digest), "{out}");
    assert!(lines[2].starts_with("1 ") && !lines[2].contains("(running)"), "{out}");

    let args = [
        "rollback",
        "--target",
        "aws",
        "--timeout",
        "30",
        "--poll-interval",
        "0.05",
    ];
    let output = w.run(&args, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("rolled back oc-web from revision 2 to revision 1"));
    assert_eq!(w.running(), "oc-lettings:1");
    // Forward again by number, then the same number once more: a clear refusal.
    let mut to_two = args.to_vec();
    to_two.push("2");
    assert!(w.run(&to_two, &[]).status.success());
    assert_eq!(w.running(), "oc-lettings:2");
    let line = error_line(&w.run(&to_two, &[]));
    assert!(line.contains("oc-web already runs revision 2"), "{line}");
    let mut to_nine = args.to_vec();
    to_nine.push("9");
    let line = error_line(&w.run(&to_nine, &[]));
    assert!(line.contains("DescribeTaskDefinition: ClientException"), "{line}");
    assert_eq!(w.running(), "oc-lettings:2");
    w.fake.assert_no_violations();
}

#[test]
fn bad_keys_and_missing_settings_are_one_line() {
    let Some(w) = world("AWS settings test") else {
        return;
    };
    let line = error_line(&w.deploy(&[], &[("AWS_SECRET_ACCESS_KEY", "wrong-secret")]));
    assert!(
        line.contains("ECS DescribeServices: InvalidSignatureException"),
        "{line}"
    );
    assert!(
        line.contains("check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
        "{line}"
    );
    let line = error_line(&w.deploy(&[], &[("AWS_ACCESS_KEY_ID", "AKIANOBODY")]));
    assert!(line.contains("UnrecognizedClientException"), "{line}");
    let line = error_line(&w.deploy(&[], &[("ECS_SERVICE", "nope")]));
    assert!(
        line.contains("ECS service nope not found in cluster oc-cluster (MISSING)"),
        "{line}"
    );
    let line = error_line(&w.deploy(&[], &[("ECS_CLUSTER", "")]));
    assert_eq!(
        line,
        "error: missing variable ECS_CLUSTER (the ECS cluster the service runs in)"
    );
    let line = error_line(&w.deploy(&[], &[("CIRCLE_SHA1", "0000000000000000000000000000000000000bad")]));
    assert!(line.contains("is not in"), "{line}");
    assert!(line.contains("push it first"), "{line}");
    assert_eq!(w.running(), "oc-lettings:1");
    let line = error_line(&w.deploy(&["--build"], &[]));
    assert!(line.contains("--build applies to --target heroku only"), "{line}");
    w.fake.assert_no_violations();

    // The dry run prints the plan and calls nothing: deploy, rollback and releases, with
    // or without credentials.
    let before = w.fake.operations().len();
    let output = w.run(&["--dry-run", "deploy", "--target", "aws"], &[]);
    assert!(output.status.success());
    let out = stdout(&output);
    assert!(out.contains("==> migrate once: RunTask of the new revision"), "{out}");
    for args in [
        ["--dry-run", "rollback", "--target", "aws"],
        ["--dry-run", "releases", "--target", "aws"],
    ] {
        let output = w.run(&args, &[]);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    let bare: Vec<(&str, &str)> = vec![("AWS_ENDPOINT_URL", w.fake.url.as_str()), ("CIRCLE_SHA1", SHA)];
    for args in [
        ["--dry-run", "deploy", "--target", "aws"],
        ["--dry-run", "rollback", "--target", "aws"],
        ["--dry-run", "releases", "--target", "aws"],
    ] {
        let output = common::xtask(&args, &bare);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(
            stdout(&output).contains(
                "dry run: AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ECS_CLUSTER, ECS_SERVICE not set"
            ),
            "{args:?}: {}",
            stdout(&output)
        );
    }
    assert_eq!(w.fake.operations().len(), before);
}

/// botocore signs the exact request the deploy sent (same date, headers and body) and
/// gets the signature the deploy sent: the signer agrees with AWS's own SDK.
#[test]
fn a_signature_matches_botocore() {
    let Some(w) = world("AWS signature test") else {
        return;
    };
    let output = w.run(&["releases", "--target", "aws"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let sent = w.fake.with(|s| s.requests[0].clone());
    let header = |name: &str| {
        sent.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let script = r#"
import sys, json, datetime
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.loads(sys.stdin.read())
when = datetime.datetime.strptime(a["date"], "%Y%m%dT%H%M%SZ")
request = AWSRequest(method="POST", url=a["url"], data=a["body"].encode(), headers={"Content-Type": a["type"], "X-Amz-Target": a["target"]})
class Fixed(datetime.datetime):
    @classmethod
    def now(cls, tz=None): return when
    @classmethod
    def utcnow(cls): return when
with mock.patch("botocore.auth.datetime.datetime", Fixed):
    SigV4Auth(Credentials(a["key"], a["secret"]), "ecs", "eu-west-1").add_auth(request)
print(request.headers["Authorization"])
"#;
    let input = json!({
        "date": header("x-amz-date"),
        "url": format!("{}/", w.fake.url),
        "body": String::from_utf8(sent.raw_body.clone()).unwrap(),
        "type": header("content-type"),
        "target": header("x-amz-target"),
        "key": ACCESS_KEY,
        "secret": SECRET_KEY,
    });
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let result = child.wait_with_output().unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let botocore = String::from_utf8_lossy(&result.stdout).trim().to_owned();
    assert_eq!(botocore, header("authorization"));
}

/// The schema guard, as on Heroku: each migration task records the newest migration the
/// database has (`oc-lettings:ecs-oc-cluster-oc-web-schema` in ECR); a deploy or a
/// rollback to an image that does not know it says which migrations, and `--strict`
/// refuses before anything changes.
#[test]
fn the_schema_guard_speaks_before_an_image_that_does_not_know_the_schema() {
    let Some(w) = world("AWS schema guard test") else {
        return;
    };
    let output = w.deploy(&["--health-check", "0"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!(
            "this release ({SHA}) knows migrations up to 2026-11-26-000002; the app's schema has no recorded migrations"
        )),
        "{}",
        stdout(&output)
    );
    // A newer image (it knows the permissions migration) is deployed and migrates.
    const NEWER: &str = "4f2c0ffee0000000000000000000000000000002";
    push_image(
        &w.source,
        "ci",
        SOURCE_PASSWORD,
        "team/oc-lettings",
        NEWER,
        "20261126000003",
    );
    let output = w.deploy(&["--health-check", "0"], &[("CIRCLE_SHA1", NEWER)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(w.running(), "oc-lettings:3");

    // Back to revision 2: its image does not know 2026-11-26-000003_permissions.
    let args = [
        "rollback",
        "--target",
        "aws",
        "--timeout",
        "30",
        "--poll-interval",
        "0.05",
    ];
    let mut strict = args.to_vec();
    strict.push("--strict");
    let line = error_line(&w.run(&strict, &[]));
    assert!(
        line.contains(
            "revision 2 runs on a schema with 2026-11-26-000003_permissions applied, which it does not know (it knows up to 2026-11-26-000002): refusing (--strict)"
        ),
        "{line}"
    );
    assert_eq!(w.running(), "oc-lettings:3", "--strict changed nothing");
    let output = w.run(&args, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("warning: revision 2 runs on a schema with 2026-11-26-000003_permissions applied"));
    assert_eq!(w.running(), "oc-lettings:2");

    // Deploying the older commit again: the same finding, before any revision is registered.
    let registered = w.fake.with(|s| s.task_definitions.len());
    let line = error_line(&w.deploy(&["--strict"], &[]));
    assert!(
        line.contains(&format!(
            "this release ({SHA}) runs on a schema with 2026-11-26-000003_permissions applied"
        )),
        "{line}"
    );
    assert_eq!(w.fake.with(|s| s.task_definitions.len()), registered);
    w.fake.assert_no_violations();
}

/// A task definition on Graviton (`runtimePlatform.cpuArchitecture: ARM64`): an amd64-only
/// image is refused before any revision is registered; an index of both architectures
/// (what `docker push --platform linux/amd64,linux/arm64` publishes) is copied to ECR whole
/// and pinned by its digest.
#[test]
fn an_arm64_task_definition_takes_an_index_and_refuses_an_amd64_image() {
    let Some(w) = world("AWS architecture test") else {
        return;
    };
    w.fake.with(|s| {
        s.task_definitions[0]["runtimePlatform"] =
            json!({"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"});
    });
    let output = w.deploy(&["--health-check", "0"], &[]);
    let line = error_line(&output);
    assert!(
        line.contains("is for linux/amd64 only, but the task definition runs on linux/arm64")
            && line.contains("nothing was registered"),
        "{line}"
    );
    assert!(!w.fake.operations().iter().any(|o| o == "RegisterTaskDefinition"));
    assert_eq!(w.running(), "oc-lettings:1");

    // The same commit pushed again for both: an index in the source registry.
    let login = ("ci", SOURCE_PASSWORD);
    let tag = format!("{SHA}-arm64");
    let (arm, arm_size) = push_image_for(&w.source, login, "team/oc-lettings", &tag, "20261126000002", "arm64");
    let amd_size = {
        let response = common::fake_aws::http()
            .get(format!(
                "http://{}/v2/team/oc-lettings/manifests/{}",
                w.source.host, w.digest
            ))
            .basic_auth("ci", Some(SOURCE_PASSWORD))
            .header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
            .send()
            .unwrap();
        response.bytes().unwrap().len()
    };
    let list = "application/vnd.docker.distribution.manifest.list.v2+json";
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": list,
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": w.digest, "size": amd_size, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": arm, "size": arm_size, "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    }))
    .unwrap();
    let put = common::fake_aws::http()
        .put(format!("http://{}/v2/team/oc-lettings/manifests/{SHA}", w.source.host))
        .basic_auth("ci", Some(SOURCE_PASSWORD))
        .header("Content-Type", list)
        .body(index.clone())
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let output = w.deploy(&["--health-check", "0"], &[]);
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("an index for linux/amd64, linux/arm64; the task definition runs on linux/arm64"),
        "{text}"
    );
    let pinned = w.fake.with(|s| {
        s.task_definitions
            .last()
            .unwrap()
            .pointer("/containerDefinitions/1/image")
            .and_then(|v| v.as_str())
            .unwrap()
            .to_owned()
    });
    assert!(
        pinned.ends_with(&format!("/oc-lettings@{}", sha256(&index))),
        "pinned by the index: {pinned}"
    );
    // ECR holds the index and both images, by digest.
    for digest in [sha256(&index), w.digest.clone(), arm] {
        let found = common::fake_aws::http()
            .head(format!("http://{}/v2/oc-lettings/manifests/{digest}", w.ecr.host))
            .basic_auth("AWS", Some(ECR_PASSWORD))
            .header(
                "Accept",
                format!("{list}, application/vnd.docker.distribution.manifest.v2+json"),
            )
            .send()
            .unwrap();
        assert!(found.status().is_success(), "{digest} in ECR");
    }
    w.fake.assert_no_violations();
}

/// `cargo xtask run --target aws`: the first admin in production. A one-off task of the
/// revision the service runs, on its network, the command as the site's container's
/// command and the password as an environment override (never on the command line, never
/// printed); its output read back from CloudWatch Logs, its exit code returned.
#[test]
fn a_one_off_command_runs_as_an_ecs_task_with_its_secret_in_the_environment() {
    let Some(w) = world("AWS one-off command test") else {
        return;
    };
    let secret = "first-admin-passphrase-7731";
    let args = [
        "run",
        "--target",
        "aws",
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
    let output = w.run(&args, &[("DJANGO_SUPERUSER_PASSWORD", secret)]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("| Superuser admin created.") && text.contains("| environment: DJANGO_SUPERUSER_PASSWORD is set"),
        "its output, from CloudWatch Logs: {text}"
    );
    assert!(text.contains("oc-lettings createsuperuser exited with 0"), "{text}");
    assert!(!text.contains(secret), "the secret is never printed: {text}");
    let run = w.fake.with(|s| {
        s.requests
            .iter()
            .rfind(|r| r.target.ends_with(".RunTask"))
            .map(|r| r.body.clone())
            .unwrap()
    });
    let container = &run["overrides"]["containerOverrides"][0];
    assert_eq!(
        container["command"],
        json!(["createsuperuser", "--no-input", "--username", "admin"])
    );
    assert!(
        !container["command"].to_string().contains(secret),
        "not on the command line"
    );
    assert_eq!(
        container["environment"],
        json!([{"name": "DJANGO_SUPERUSER_PASSWORD", "value": secret}])
    );
    assert_eq!(run["startedBy"], "oc-lettings-run");
    assert_eq!(
        run["taskDefinition"],
        w.fake.with(|s| s.running.clone()),
        "the running revision"
    );
    assert_eq!(w.running(), "oc-lettings:1", "the service is not touched");

    // The command's exit code is the tool's.
    w.fake.with(|s| {
        s.one_off_exit = 3;
        s.one_off_output = vec!["error: That username is already taken.".to_owned()];
    });
    let output = w.run(&args, &[("DJANGO_SUPERUSER_PASSWORD", secret)]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    assert!(stdout(&output).contains("| error: That username is already taken."));

    // A missing variable is named before anything is called; a dry run calls nothing.
    let before = w.fake.operations().len();
    let line = error_line(&w.run(&args, &[]));
    assert!(line.contains("missing variable DJANGO_SUPERUSER_PASSWORD"), "{line}");
    let mut dry = vec!["--dry-run"];
    dry.extend_from_slice(&args);
    let output = w.run(&dry, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("RunTask of it on the service's network: oc-lettings createsuperuser --no-input --username admin (with DJANGO_SUPERUSER_PASSWORD from this environment)"), "{}", stdout(&output));
    assert_eq!(w.fake.operations().len(), before);
    w.fake.assert_no_violations();
}

const SENTRY_TOKEN: &str = "sntrys_test-token-never-printed-0123456789";
const METRICS_TOKEN: &str = "metrics-token-never-printed-0123456789";
const BAD_SHA: &str = "badc0de000000000000000000000000000000002";

#[test]
fn a_release_that_fails_after_ready_is_rolled_back_by_its_watch_and_sentry_records_it() {
    let Some(w) = world("AWS deploy watch test") else {
        return;
    };
    let sentry = FakeSentry::start(SENTRY_TOKEN, "acme");
    let bad = push_image(
        &w.source,
        "ci",
        SOURCE_PASSWORD,
        "team/oc-lettings",
        BAD_SHA,
        "20261126000002",
    );
    w.fake.with(|s| {
        s.metrics_token = Some(METRICS_TOKEN.to_owned());
        s.image_commits = vec![(w.digest.clone(), SHA.to_owned()), (bad.clone(), BAD_SHA.to_owned())];
        s.erroring_images = vec![bad.clone()];
    });
    let settings = [
        ("SERVICE_URL", w.fake.url.as_str()),
        ("SENTRY_AUTH_TOKEN", SENTRY_TOKEN),
        ("SENTRY_ORG", "acme"),
        ("SENTRY_PROJECT", "oc-lettings"),
        ("SENTRY_URL", sentry.url.as_str()),
        ("METRICS_TOKEN", METRICS_TOKEN),
    ];
    let no_secret = |output: &Output| {
        let all = format!("{}{}", stdout(output), stderr(output));
        for secret in [SENTRY_TOKEN, METRICS_TOKEN] {
            assert!(!all.contains(secret), "a token was printed: {all}");
        }
    };

    // A good release: watched for its time, within the limit; Sentry has the release, its
    // commit, and its deploy.
    let output = w.deploy(&["--watch", "1"], &settings);
    no_secret(&output);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    assert!(out.contains("within the 5% limit"), "{out}");
    let good = sentry.release(&format!("oc-lettings@{SHA}")).expect("the release");
    assert_eq!(good["projects"], json!(["oc-lettings"]));
    assert_eq!(good["commits"][0]["id"], SHA);
    assert!(good["dateReleased"].is_string(), "finalized: {good}");
    let deploys = sentry.with(|s| s.deploys.clone());
    assert_eq!(deploys.len(), 1);
    assert_eq!(deploys[0].version, format!("oc-lettings@{SHA}"));
    assert_eq!(deploys[0].body["environment"], "production");

    // A release that serves 500s once it is ready: its watch sees them on the instances'
    // metrics and rolls back by itself, naming both revisions and the rate.
    let output = w.deploy(
        &["--watch", "30"],
        &[settings.as_slice(), &[("CIRCLE_SHA1", BAD_SHA)]].concat(),
    );
    no_secret(&output);
    let line = error_line(&output);
    assert!(line.contains("oc-lettings:3 failed its watch: "), "{line}");
    assert!(
        line.contains("answered 5xx") && line.contains("(40.0%)") && line.contains("over the 5% limit"),
        "{line}"
    );
    assert!(line.contains("rolled back to oc-lettings:2"), "{line}");
    assert_eq!(w.running(), "oc-lettings:2");
    // Sentry: the bad release, its deploy when it went live, then a deploy of the release
    // the rollback returned to.
    let bad_release = sentry
        .release(&format!("oc-lettings@{BAD_SHA}"))
        .expect("the bad release");
    assert_eq!(bad_release["commits"][0]["id"], BAD_SHA);
    let deploys = sentry.with(|s| s.deploys.clone());
    let shown: Vec<(String, String)> = deploys
        .iter()
        .map(|d| (d.version.clone(), d.body["name"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        shown,
        vec![
            (format!("oc-lettings@{SHA}"), String::new()),
            (format!("oc-lettings@{BAD_SHA}"), String::new()),
            (format!("oc-lettings@{SHA}"), "automatic rollback".to_owned()),
        ]
    );

    // Without the instances' metrics (no METRICS_TOKEN here), Sentry's traces judge: a
    // 404 is no failure of the release, a 500 is.
    sentry.with(|s| {
        let release = format!("oc-lettings@{BAD_SHA}");
        for (status, n) in [("ok", 15), ("not_found", 5), ("internal_error", 10)] {
            s.spans
                .extend(std::iter::repeat_n((release.clone(), status.to_owned()), n));
        }
    });
    let without_metrics: Vec<(&str, &str)> = settings
        .iter()
        .copied()
        .filter(|(k, _)| *k != "METRICS_TOKEN")
        .collect();
    let output = w.deploy(
        &["--watch", "30"],
        &[without_metrics.as_slice(), &[("CIRCLE_SHA1", BAD_SHA)]].concat(),
    );
    no_secret(&output);
    assert!(
        stdout(&output).contains("watching through Sentry"),
        "{}",
        stdout(&output)
    );
    let line = error_line(&output);
    assert!(line.contains("10 of 30 requests (33.3%) answered 5xx"), "{line}");
    assert!(
        line.contains("Sentry's traces") && line.contains("rolled back to oc-lettings:2"),
        "{line}"
    );
    assert_eq!(w.running(), "oc-lettings:2");
    assert!(sentry.with(|s| s.requests.iter().any(|r| r.ends_with("/events/"))));

    // A manual rollback records a deploy of the release it returns to, when its image
    // names its commit (revision 1's is not in ECR: said, nothing recorded).
    let output = w.run(
        &["rollback", "--target", "aws", "--poll-interval", "0.05", "1"],
        &settings,
    );
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("Sentry: no deploy recorded (the image rolled back to names no commit)"));
    let output = w.run(
        &["rollback", "--target", "aws", "--poll-interval", "0.05", "2"],
        &settings,
    );
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(w.running(), "oc-lettings:2");
    let last = sentry.with(|s| s.deploys.last().cloned()).unwrap();
    assert_eq!(
        (last.version.as_str(), last.body["name"].as_str()),
        (format!("oc-lettings@{SHA}").as_str(), Some("rollback"))
    );

    // Sentry refusing the token is a warning: the release goes out all the same.
    let wrong = "sntrys_wrong-token-also-never-printed";
    let mut refused = settings.to_vec();
    refused.retain(|(k, _)| *k != "SENTRY_AUTH_TOKEN");
    refused.push(("SENTRY_AUTH_TOKEN", wrong));
    let output = w.deploy(&["--watch", "0"], &refused);
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{all}");
    assert!(
        all.contains(
            "warning: Sentry answered 401 to POST /organizations/acme/releases/: Invalid token (the deploy goes on)"
        ),
        "{all}"
    );
    assert!(!all.contains(wrong), "{all}");
    sentry.assert_no_violations();
    w.fake.assert_no_violations();
}
