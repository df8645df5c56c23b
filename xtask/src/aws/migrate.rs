//! The migrations, run once before the service moves: a one-off task of the new
//! revision with the command `migrate`, on the service's network, waited for until it
//! stops; its exit code decides.

use anyhow::{anyhow, bail, Result};
use serde_json::json;

use super::api::Aws;
use super::model;
use super::settings::Settings;
use crate::deploy::poll::poll;
use crate::deploy::Wait;

/// Who started the one-off migration task, as ECS shows it.
pub const STARTED_BY: &str = "oc-lettings-deploy";

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
    let mut body = json!({
        "cluster": settings.cluster,
        "taskDefinition": task_definition,
        "count": 1,
        "startedBy": STARTED_BY,
        "overrides": { "containerOverrides": [{ "name": container, "command": ["migrate"] }] },
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
    let Some(task) = answer
        .tasks
        .first()
        .map(|t| t.task_arn.clone())
        .filter(|a| !a.is_empty())
    else {
        bail!(
            "the migration task did not start: {}",
            model::Failure::first_reason(&answer.failures, "no task was started")
        );
    };
    println!("    migration task {}", task.rsplit('/').next().unwrap_or(&task));
    let stopped = poll(
        wait,
        |progress| {
            let answer: model::Tasks = aws.ecs(
                "DescribeTasks",
                &json!({ "cluster": settings.cluster, "tasks": [task] }),
            )?;
            let described = answer.tasks.into_iter().next().unwrap_or_default();
            progress.saw(
                &described.last_status,
                format!("migration task: {}", described.last_status),
            );
            Ok((described.last_status == "STOPPED").then_some(described))
        },
        |status| anyhow!("the migration task is still {status} after {}s", wait.timeout.as_secs()),
    )?;
    let ours = stopped.containers.iter().find(|c| c.name == container);
    let reason = stopped
        .stopped_reason
        .as_deref()
        .or_else(|| ours.and_then(|c| c.reason.as_deref()))
        .unwrap_or("no reason given");
    match ours.and_then(|c| c.exit_code) {
        Some(0) => Ok(()),
        Some(code) => bail!("the migration task exited with {code} ({reason}); see its logs in CloudWatch"),
        None => bail!("the migration task stopped before its container ran ({reason})"),
    }
}
