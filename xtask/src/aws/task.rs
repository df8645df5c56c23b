//! One-off tasks of the service's task definition, on the service's network: the
//! migrations before a rollout (`run_migrations`), and `cargo xtask run` (any
//! `oc-lettings` command, with environment overrides for its secrets). Each is started
//! with `RunTask`, followed with `DescribeTasks` until it stops, and judged by its
//! container's exit code; its output is read back from CloudWatch Logs (`logs`).

use anyhow::{anyhow, bail, Result};
use serde_json::json;

use super::api::Aws;
use super::model;
use super::settings::Settings;
use crate::deploy::poll::poll;
use crate::deploy::Wait;

/// Who started the one-off migration task, as ECS shows it.
pub const STARTED_BY: &str = "oc-lettings-deploy";
/// Who started a `cargo xtask run` task.
pub const RUN_BY: &str = "oc-lettings-run";

/// A one-off task to run.
pub struct OneOff<'a> {
    pub task_definition: &'a str,
    pub container: &'a str,
    /// The container's command (the image's entrypoint is `oc-lettings`).
    pub command: &'a [String],
    /// Environment overrides: the secrets a command needs go here, never on its command
    /// line (ECS shows the command in its console and in every DescribeTasks).
    pub environment: &'a [(String, String)],
    pub started_by: &'static str,
    /// What the progress lines call it ("migration task").
    pub name: &'a str,
}

/// How a one-off task ended: its ARN, its container's exit code (`None`: the container
/// never ran) and the reason ECS gives.
pub struct Stopped {
    pub arn: String,
    pub exit_code: Option<i64>,
    pub reason: String,
}

/// Starts `task` on the service's network (its launch type or capacity providers, its
/// subnets and security groups, its platform version) and waits until it stops.
pub fn run_task(
    aws: &Aws,
    settings: &Settings,
    service: &model::Service,
    task: &OneOff<'_>,
    wait: Wait,
) -> Result<Stopped> {
    let environment: Vec<serde_json::Value> = task
        .environment
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let mut container = json!({ "name": task.container, "command": task.command });
    if !environment.is_empty() {
        container["environment"] = json!(environment);
    }
    let mut body = json!({
        "cluster": settings.cluster,
        "taskDefinition": task.task_definition,
        "count": 1,
        "startedBy": task.started_by,
        "overrides": { "containerOverrides": [container] },
    });
    if let Some(launch_type) = &service.launch_type {
        body["launchType"] = json!(launch_type);
    } else if !service.capacity_provider_strategy.is_empty() {
        body["capacityProviderStrategy"] = json!(service.capacity_provider_strategy);
    }
    if let Some(network) = service.network_configuration.as_ref().filter(|v| !v.is_null()) {
        body["networkConfiguration"] = network.clone();
    }
    if let Some(version) = &service.platform_version {
        body["platformVersion"] = json!(version);
    }
    let answer: model::Tasks = aws.ecs("RunTask", &body)?;
    let Some(arn) = answer
        .tasks
        .first()
        .map(|t| t.task_arn.clone())
        .filter(|a| !a.is_empty())
    else {
        bail!(
            "the {} did not start: {}",
            task.name,
            model::Failure::first_reason(&answer.failures, "no task was started")
        );
    };
    println!("    {} {}", task.name, task_id(&arn));
    let stopped = poll(
        wait,
        |progress| {
            let answer: model::Tasks =
                aws.ecs("DescribeTasks", &json!({ "cluster": settings.cluster, "tasks": [arn] }))?;
            let described = answer.tasks.into_iter().next().unwrap_or_default();
            progress.saw(
                &described.last_status,
                format!("{}: {}", task.name, described.last_status),
            );
            Ok((described.last_status == "STOPPED").then_some(described))
        },
        |status| anyhow!("the {} is still {status} after {}s", task.name, wait.timeout.as_secs()),
    )?;
    let ours = stopped.containers.iter().find(|c| c.name == task.container);
    let reason = stopped
        .stopped_reason
        .as_deref()
        .or_else(|| ours.and_then(|c| c.reason.as_deref()))
        .unwrap_or("no reason given")
        .to_owned();
    Ok(Stopped {
        arn,
        exit_code: ours.and_then(|c| c.exit_code),
        reason,
    })
}

/// The task's id: the last part of its ARN (what the `awslogs` stream names end with).
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Runs the migrations once: a one-off task of `task_definition` with the command
/// `migrate`, on the service's network, waited for until it stops; its exit code decides.
pub fn run_migrations(
    aws: &Aws,
    settings: &Settings,
    service: &model::Service,
    task_definition: &str,
    container: &str,
    wait: Wait,
) -> Result<()> {
    let command = ["migrate".to_owned()];
    let task = OneOff {
        task_definition,
        container,
        command: &command,
        environment: &[],
        started_by: STARTED_BY,
        name: "migration task",
    };
    let stopped = run_task(aws, settings, service, &task, wait)?;
    match stopped.exit_code {
        Some(0) => Ok(()),
        Some(code) => bail!(
            "the migration task exited with {code} ({}); see its logs in CloudWatch",
            stopped.reason
        ),
        None => bail!(
            "the migration task stopped before its container ran ({})",
            stopped.reason
        ),
    }
}
