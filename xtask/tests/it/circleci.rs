//! The CircleCI pipeline as the original documents it: tests and lint on every branch;
//! image build+push and the Heroku deploy only on master, each only after the job before
//! it passed (and, when asked, a person's approval); every job a `cargo xtask` stage; a
//! cache per job keyed on Cargo.lock; secrets only in a context of the master-only jobs.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn config_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.circleci/config.yml")).unwrap()
}

fn config() -> Yaml {
    YamlLoader::load_from_str(&config_text()).unwrap().remove(0)
}

/// The `run` commands of a job, with the named commands it uses expanded.
fn commands(config: &Yaml, job: &str) -> Vec<String> {
    let mut found = Vec::new();
    for step in config["jobs"][job]["steps"].as_vec().unwrap() {
        collect(config, step, &mut found);
    }
    found
}

fn collect(config: &Yaml, step: &Yaml, found: &mut Vec<String>) {
    match step {
        Yaml::String(name) => {
            if let Some(steps) = config["commands"][name.as_str()]["steps"].as_vec() {
                for inner in steps {
                    collect(config, inner, found);
                }
            } else {
                found.push(name.clone());
            }
        }
        Yaml::Hash(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap();
                if key == "run" {
                    let command = value["command"].as_str().or(value.as_str()).unwrap();
                    found.extend(command.lines().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
                } else if let Some(steps) = config["commands"][key]["steps"].as_vec() {
                    for inner in steps {
                        collect(config, inner, found);
                    }
                } else {
                    found.push(key.to_owned());
                }
            }
        }
        _ => {}
    }
}

fn xtask_stages(config: &Yaml, job: &str) -> Vec<String> {
    commands(config, job)
        .into_iter()
        .filter(|c| c.starts_with("cargo xtask "))
        .collect()
}

/// A workflow's jobs: (job, requires, master only, context, type).
type WorkflowJob = (String, Vec<String>, bool, Option<String>, Option<String>);

fn workflow(config: &Yaml, name: &str) -> Vec<WorkflowJob> {
    config["workflows"][name]["jobs"]
        .as_vec()
        .unwrap_or_else(|| panic!("no workflow {name}"))
        .iter()
        .map(|entry| match entry {
            Yaml::String(name) => (name.clone(), vec![], false, None, None),
            Yaml::Hash(map) => {
                let (name, body) = map.iter().next().unwrap();
                let requires = body["requires"]
                    .as_vec()
                    .map(|r| r.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                let only = &body["filters"]["branches"]["only"];
                let master_only = only.as_str() == Some("master")
                    || only
                        .as_vec()
                        .is_some_and(|v| v.len() == 1 && v[0].as_str() == Some("master"));
                (
                    name.as_str().unwrap().to_owned(),
                    requires,
                    master_only,
                    body["context"].as_str().map(str::to_owned),
                    body["type"].as_str().map(str::to_owned),
                )
            }
            other => panic!("unexpected workflow entry {other:?}"),
        })
        .collect()
}

#[test]
fn the_workflow_runs_each_job_on_the_right_branches_in_order() {
    let config = config();
    let names: Vec<&str> = config["workflows"]
        .as_hash()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| *k != "version")
        .collect();
    assert_eq!(names, ["pipeline", "pipeline-with-approval"]);
    let production = Some("production".to_owned());
    assert_eq!(
        workflow(&config, "pipeline"),
        vec![
            ("lint-and-test".to_owned(), vec![], false, None, None),
            (
                "build-and-push".to_owned(),
                vec!["lint-and-test".to_owned()],
                true,
                production.clone(),
                None
            ),
            (
                "deploy".to_owned(),
                vec!["build-and-push".to_owned()],
                true,
                production.clone(),
                None
            ),
        ]
    );
    // With approvals on, a person approves between the pushed image and the deploy.
    assert_eq!(
        workflow(&config, "pipeline-with-approval"),
        vec![
            ("lint-and-test".to_owned(), vec![], false, None, None),
            (
                "build-and-push".to_owned(),
                vec!["lint-and-test".to_owned()],
                true,
                production.clone(),
                None
            ),
            (
                "hold-deploy".to_owned(),
                vec!["build-and-push".to_owned()],
                true,
                None,
                Some("approval".to_owned())
            ),
            (
                "deploy".to_owned(),
                vec!["hold-deploy".to_owned()],
                true,
                production,
                None
            ),
        ]
    );
    // Exactly one of the two runs: the parameter selects it.
    let parameter = &config["parameters"]["approve-deploys"];
    assert_eq!(parameter["type"].as_str(), Some("boolean"));
    assert_eq!(parameter["default"].as_bool(), Some(false));
    assert_eq!(
        config["workflows"]["pipeline"]["when"]["not"].as_str(),
        Some("<< pipeline.parameters.approve-deploys >>")
    );
    assert_eq!(
        config["workflows"]["pipeline-with-approval"]["when"].as_str(),
        Some("<< pipeline.parameters.approve-deploys >>")
    );
}

#[test]
fn every_job_is_xtask_stages() {
    let config = config();
    assert_eq!(
        xtask_stages(&config, "lint-and-test"),
        [
            "cargo xtask lint",
            "cargo xtask test",
            "cargo xtask coverage",
            "cargo xtask docs"
        ]
    );
    assert_eq!(
        xtask_stages(&config, "build-and-push"),
        [
            "cargo xtask docker build --platform linux/amd64,linux/arm64",
            "cargo xtask docker push --platform linux/amd64,linux/arm64"
        ]
    );
    // deploy compiles nothing: the xtask binary build-and-push built, through the workspace.
    assert_eq!(xtask_stages(&config, "deploy"), Vec::<String>::new());
    let deploy = commands(&config, "deploy");
    assert!(
        deploy.contains(&"/tmp/xtask-bin/xtask deploy --target << parameters.target >>".to_owned()),
        "{deploy:?}"
    );
    // The platform is the job's parameter, from the pipeline's `deploy-target`.
    let target = &config["jobs"]["deploy"]["parameters"]["target"];
    assert_eq!(target["type"].as_str(), Some("enum"));
    assert_eq!(
        target["enum"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(Yaml::as_str)
            .collect::<Vec<_>>(),
        ["heroku", "aws"]
    );
    assert_eq!(target["default"].as_str(), Some("heroku"));
    let pipeline = &config["parameters"]["deploy-target"];
    assert_eq!(pipeline["default"].as_str(), Some("heroku"));
    for name in ["pipeline", "pipeline-with-approval"] {
        let passed = config["workflows"][name]["jobs"]
            .as_vec()
            .unwrap()
            .iter()
            .find_map(|j| j["deploy"]["target"].as_str().map(str::to_owned));
        assert_eq!(
            passed.as_deref(),
            Some("<< pipeline.parameters.deploy-target >>"),
            "{name}"
        );
    }
    assert!(
        deploy
            .iter()
            .all(|c| !c.contains("cargo ") && !c.contains("restore_cache")),
        "no cargo and no cache in deploy: {deploy:?}"
    );
    assert_eq!(
        config["jobs"]["deploy"]["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .find_map(|s| s["attach_workspace"]["at"].as_str()),
        Some("/tmp/xtask-bin")
    );
    let handed = &config["jobs"]["build-and-push"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| !s["persist_to_workspace"].is_badvalue())
        .unwrap()["persist_to_workspace"];
    assert_eq!(handed["root"].as_str(), Some("/tmp/xtask-bin"));
    assert_eq!(handed["paths"][0].as_str(), Some("xtask"));
    assert!(commands(&config, "build-and-push")
        .contains(&"mkdir -p /tmp/xtask-bin && cp target/debug/xtask /tmp/xtask-bin/xtask".to_owned()));
    for job in ["build-and-push", "deploy"] {
        assert!(
            commands(&config, job).contains(&"setup_remote_docker".to_owned()),
            "{job} needs remote Docker"
        );
    }
    assert!(!commands(&config, "lint-and-test").contains(&"setup_remote_docker".to_owned()));
}

/// The `job` parameter each use of a named command in `job` passes.
fn command_parameters(config: &Yaml, job: &str, command: &str) -> Vec<String> {
    config["jobs"][job]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|step| step[command]["job"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn each_job_has_its_own_cache_keyed_on_the_lock_file() {
    let config = config();
    let restore = &config["commands"]["restore-cargo-cache"]["steps"][0]["restore_cache"]["keys"];
    assert_eq!(
        restore[0].as_str(),
        Some("v2-cargo-<< parameters.job >>-{{ arch }}-{{ checksum \"Cargo.lock\" }}")
    );
    let save = &config["commands"]["save-cargo-cache"]["steps"][0]["save_cache"];
    assert_eq!(save["key"].as_str(), restore[0].as_str());
    let paths: Vec<&str> = save["paths"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(paths, ["~/.cargo/bin", "~/.cargo/registry", "~/.cargo/git", "target"]);
    let mut keys = Vec::new();
    for job in ["lint-and-test", "build-and-push"] {
        let restored = command_parameters(&config, job, "restore-cargo-cache");
        let saved = command_parameters(&config, job, "save-cargo-cache");
        assert_eq!(restored.len(), 1, "{job} restores once");
        assert_eq!(restored, saved, "{job} saves under the key it restores");
        keys.push(restored[0].clone());
    }
    assert_ne!(
        keys[0], keys[1],
        "one key per job: a shared immutable key keeps only the first job's target/"
    );
}

#[test]
fn test_results_and_artifacts_are_stored() {
    let config = config();
    let steps = config["jobs"]["lint-and-test"]["steps"].as_vec().unwrap();
    let results: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["store_test_results"]["path"].as_str())
        .collect();
    assert_eq!(results, ["target/nextest/ci/junit.xml"]);
    let artifacts: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["store_artifacts"]["path"].as_str())
        .collect();
    assert_eq!(
        artifacts,
        [
            "target/test-artifacts",
            "target/llvm-cov/html",
            "target/book",
            "bench/RESULTS.md"
        ]
    );
    // Where they come from: the nextest profile writes the JUnit file there.
    let nextest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.config/nextest.toml")).unwrap();
    assert!(
        nextest.contains("[profile.ci.junit]") && nextest.contains("retries = 0"),
        "{nextest}"
    );
}

#[test]
fn no_secret_is_written_in_the_config() {
    let text = config_text();
    for secret in [
        "DOCKERHUB_PASSWORD",
        "HEROKU_API_KEY",
        "DOCKERHUB_USERNAME",
        "HEROKU_APP_NAME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        for line in text.lines().filter(|l| l.contains(secret)) {
            assert!(
                line.trim_start().starts_with('#'),
                "{secret} is only mentioned in comments: {line}"
            );
        }
    }
}

#[test]
fn the_schema_check_accepts_the_config_and_rejects_a_broken_one() {
    let available = Command::new("check-jsonschema")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        common::skip(
            "CircleCI schema check",
            "check-jsonschema is not installed: pip install check-jsonschema",
        );
        return;
    }
    let check = |path: &std::path::Path| {
        Command::new("check-jsonschema")
            .args(["--builtin-schema", "vendor.circle-ci"])
            .arg(path)
            .output()
            .unwrap()
    };
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.circleci/config.yml");
    let output = check(&ours);
    assert!(output.status.success(), "{}", common::stdout(&output));
    let broken = tempfile::tempdir().unwrap();
    let path = broken.path().join("config.yml");
    std::fs::write(
        &path,
        config_text()
            .replace("version: 2.1", "version: two")
            .replace("requires:", "needs:"),
    )
    .unwrap();
    assert!(!check(&path).status.success(), "the schema check can fail");
}
