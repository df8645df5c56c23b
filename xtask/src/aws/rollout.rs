//! A rollout of the service to a task definition: started with `UpdateService`, followed
//! with `DescribeServices` until its deployment is COMPLETED or FAILED.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::api::Aws;
use super::model;
use super::settings::Settings;
use super::task_definition::short_name;
use crate::deploy::poll::poll;
use crate::deploy::Wait;

/// How a rollout ended, from a `DescribeServices` answer's service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    InProgress { running: i64, desired: i64 },
    Completed,
    Failed(String),
}

/// The state of the rollout of `task_definition` in `service`: its deployment's
/// `rolloutState` while it is PRIMARY; FAILED when ECS itself rolled it back (its
/// circuit breaker made another deployment PRIMARY).
pub fn rollout_of(service: &model::Service, task_definition: &str) -> Rollout {
    let Some(ours) = service
        .deployments
        .iter()
        .find(|d| d.task_definition == task_definition)
    else {
        return Rollout::Failed(format!(
            "the service has no deployment of {} (ECS replaced it)",
            short_name(task_definition)
        ));
    };
    let reason = ours.rollout_state_reason.clone();
    match (ours.status.as_str(), ours.rollout_state.as_str()) {
        (_, "FAILED") => Rollout::Failed(if reason.is_empty() {
            "no reason given".into()
        } else {
            reason
        }),
        ("PRIMARY", "COMPLETED") => Rollout::Completed,
        ("PRIMARY", _) => Rollout::InProgress {
            running: ours.running_count,
            desired: ours.desired_count,
        },
        (status, _) => Rollout::Failed(format!(
            "its deployment is {status} (ECS rolled back by itself{})",
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        )),
    }
}

/// The service's description (`DescribeServices`), or one line saying it is not there.
pub fn describe_service(aws: &Aws, settings: &Settings) -> Result<model::Service> {
    let answer: model::DescribeServices = aws.ecs(
        "DescribeServices",
        &json!({ "cluster": settings.cluster, "services": [settings.service] }),
    )?;
    match answer.services.into_iter().next() {
        Some(service) if service.status != "INACTIVE" => Ok(service),
        _ => bail!(
            "ECS service {} not found in cluster {} ({}): check ECS_CLUSTER, ECS_SERVICE and AWS_REGION",
            settings.service,
            settings.cluster,
            model::Failure::first_reason(&answer.failures, "MISSING")
        ),
    }
}

/// Moves the service to `task_definition` and follows the rollout until it completes,
/// fails or times out.
pub fn update_and_follow(aws: &Aws, settings: &Settings, task_definition: &str, wait: Wait) -> Result<()> {
    aws.ecs::<Value>(
        "UpdateService",
        &json!({
            "cluster": settings.cluster,
            "service": settings.service,
            "taskDefinition": task_definition,
        }),
    )?;
    let name = short_name(task_definition);
    poll(
        wait,
        |progress| {
            let state = rollout_of(&describe_service(aws, settings)?, task_definition);
            match &state {
                Rollout::InProgress { running, desired } => {
                    progress.saw(
                        "IN_PROGRESS",
                        format!("{name}: IN_PROGRESS ({running}/{desired} running)"),
                    );
                    Ok(None)
                }
                Rollout::Completed => {
                    progress.saw("COMPLETED", format!("{name}: COMPLETED"));
                    Ok(Some(()))
                }
                Rollout::Failed(reason) => {
                    progress.saw("FAILED", format!("{name}: FAILED ({reason})"));
                    bail!("the rollout of {name} FAILED: {reason}")
                }
            }
        },
        |_| {
            anyhow!(
                "the rollout of {name} is still IN_PROGRESS after {}s",
                wait.timeout.as_secs()
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::task_definition::revision_number;

    fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn rollouts_are_read_from_the_deployment_of_the_revision() {
        let arn = "arn:aws:ecs:eu-west-1:1:task-definition/oc-lettings:8";
        let service = |deployments: Value| -> model::Service { typed(json!({ "deployments": deployments })) };
        assert_eq!(
            rollout_of(
                &service(
                    json!([{"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "IN_PROGRESS", "runningCount": 1, "desiredCount": 2}])
                ),
                arn
            ),
            Rollout::InProgress { running: 1, desired: 2 }
        );
        assert_eq!(
            rollout_of(
                &service(json!([{"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "COMPLETED"}])),
                arn
            ),
            Rollout::Completed
        );
        assert_eq!(
            rollout_of(
                &service(
                    json!([{"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "FAILED", "rolloutStateReason": "tasks failed to start"}])
                ),
                arn
            ),
            Rollout::Failed("tasks failed to start".into())
        );
        // ECS's circuit breaker put the old revision back as PRIMARY.
        let rolled = rollout_of(
            &service(json!([
                {"status": "PRIMARY", "taskDefinition": "…/oc-lettings:7", "rolloutState": "IN_PROGRESS"},
                {"status": "ACTIVE", "taskDefinition": arn, "rolloutState": "IN_PROGRESS"}
            ])),
            arn,
        );
        assert!(matches!(rolled, Rollout::Failed(reason) if reason.contains("ECS rolled back by itself")));
        assert!(matches!(rollout_of(&service(json!([])), arn), Rollout::Failed(_)));
        assert_eq!(short_name(arn), "oc-lettings:8");
        assert_eq!(revision_number(arn), Some(8));
        assert_eq!(revision_number("oc-lettings"), None);
    }
}
