//! Task definitions: which container runs the site, the next revision's body (the
//! current one with only the image changed), and the names ECS gives revisions.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};

use super::api::Aws;
use super::model::{DescribedTaskDefinition, TaskDefinition};

/// The members of `RegisterTaskDefinition`'s input (botocore's ECS model): a revision is
/// registered from the current one's description with only these kept (the description
/// also holds output-only fields such as `taskDefinitionArn`, `revision`, `status`).
pub const REGISTER_FIELDS: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
];

impl TaskDefinition {
    /// The images of its containers.
    pub fn images(&self) -> Vec<String> {
        self.container_definitions.iter().map(|c| c.image.clone()).collect()
    }
}

impl DescribedTaskDefinition {
    /// The definition as the deploy reads it.
    pub fn definition(&self) -> Result<TaskDefinition> {
        serde_json::from_value(self.task_definition.clone())
            .map_err(|err| anyhow!("ECS DescribeTaskDefinition: an answer this tool cannot read: {err}"))
    }
}

/// `family:revision` of a task definition ARN (`…:task-definition/oc-lettings:42`).
pub fn short_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The body of `RegisterTaskDefinition` for `current` (a `DescribeTaskDefinition`
/// answer's `taskDefinition`, with its `tags`) with `container`'s image set to `image`.
pub fn new_revision(current: &Value, tags: Option<&Value>, container: &str, image: &str) -> Result<Value> {
    let mut body = Map::new();
    for field in REGISTER_FIELDS {
        if let Some(value) = current.get(*field) {
            if !value.is_null() {
                body.insert((*field).to_owned(), value.clone());
            }
        }
    }
    let containers = body
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow!("the task definition has no containerDefinitions"))?;
    let target = containers
        .iter_mut()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .ok_or_else(|| anyhow!("the task definition has no container named {container:?}"))?;
    target["image"] = Value::String(image.to_owned());
    if let Some(tags) = tags.filter(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
        body.insert("tags".into(), tags.clone());
    }
    Ok(Value::Object(body))
}

/// Whether `image` (`host/path[:tag][@digest]`) is in the repository `repository`.
fn in_repository(image: &str, repository: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or(image);
    let path =
        without_digest.rsplit_once(':').map_or(
            without_digest,
            |(p, tag)| if tag.contains('/') { without_digest } else { p },
        );
    path.ends_with(&format!("/{repository}"))
}

/// The container that runs the site: `ECS_CONTAINER`, else the only one, else the one
/// whose image is in the ECR repository.
pub fn pick_container(task_definition: &TaskDefinition, wanted: Option<&str>, repository: &str) -> Result<String> {
    let containers = &task_definition.container_definitions;
    let names = || {
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = wanted {
        return containers
            .iter()
            .find(|c| c.name == wanted)
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                anyhow!(
                    "ECS_CONTAINER={wanted} is not a container of the task definition ({})",
                    names()
                )
            });
    }
    if let [only] = containers.as_slice() {
        return Ok(only.name.clone());
    }
    let matching: Vec<_> = containers
        .iter()
        .filter(|c| in_repository(&c.image, repository))
        .collect();
    match matching.as_slice() {
        [only] => Ok(only.name.clone()),
        _ => bail!(
            "cannot tell which container runs the site ({}): set ECS_CONTAINER",
            names()
        ),
    }
}

/// The revision number an ARN ends with (`…/oc-lettings:42` → 42).
pub fn revision_number(arn: &str) -> Option<i64> {
    arn.rsplit(':').next()?.parse().ok()
}

/// The description of `task_definition` (an ARN or `family:revision`), with its tags.
pub fn describe_task_definition(aws: &Aws, task_definition: &str) -> Result<DescribedTaskDefinition> {
    aws.ecs(
        "DescribeTaskDefinition",
        &json!({ "taskDefinition": task_definition, "include": ["TAGS"] }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    fn task_definition() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/oc-lettings:7",
            "family": "oc-lettings",
            "revision": 7,
            "status": "ACTIVE",
            "registeredAt": 1_790_000_000.5,
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
            "compatibilities": ["EC2", "FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "requiresCompatibilities": ["FARGATE"],
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "containerDefinitions": [
                {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"},
                {"name": "web", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/oc-lettings:abc", "portMappings": [{"containerPort": 8000}]}
            ]
        })
    }

    #[test]
    fn a_new_revision_keeps_everything_but_the_image_and_no_output_field() {
        let tags = json!([{"key": "team", "value": "lettings"}]);
        let body = new_revision(&task_definition(), Some(&tags), "web", "reg/oc-lettings@sha256:ff").unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        for key in &keys {
            assert!(REGISTER_FIELDS.contains(&key.as_str()) || *key == "tags", "{key}");
        }
        for output_only in [
            "taskDefinitionArn",
            "revision",
            "status",
            "registeredAt",
            "requiresAttributes",
            "compatibilities",
        ] {
            assert!(body.get(output_only).is_none(), "{output_only}");
        }
        assert_eq!(body["containerDefinitions"][1]["image"], "reg/oc-lettings@sha256:ff");
        assert_eq!(
            body["containerDefinitions"][1]["portMappings"][0]["containerPort"],
            8000
        );
        assert_eq!(
            body["containerDefinitions"][0]["image"],
            task_definition()["containerDefinitions"][0]["image"]
        );
        assert_eq!(body["tags"], tags);
        assert!(new_revision(&task_definition(), Some(&json!([])), "web", "x")
            .unwrap()
            .get("tags")
            .is_none());
        assert!(new_revision(&task_definition(), None, "nope", "x").is_err());
    }

    #[test]
    fn the_sites_container_is_named_or_found_by_its_repository() {
        let td: TaskDefinition = typed(task_definition());
        assert_eq!(pick_container(&td, None, "oc-lettings").unwrap(), "web");
        assert_eq!(
            pick_container(&td, Some("log-router"), "oc-lettings").unwrap(),
            "log-router"
        );
        let err = pick_container(&td, Some("app"), "oc-lettings").unwrap_err().to_string();
        assert!(err.contains("log-router, web"), "{err}");
        assert!(pick_container(&td, None, "other").is_err());
        let single = json!({"containerDefinitions": [{"name": "only", "image": "x"}]});
        assert_eq!(pick_container(&typed(single), None, "oc-lettings").unwrap(), "only");
        let pinned = json!({"containerDefinitions": [
            {"name": "a", "image": "127.0.0.1:5000/oc-lettings@sha256:aa"},
            {"name": "b", "image": "127.0.0.1:5000/sidecar:1"}
        ]});
        assert_eq!(pick_container(&typed(pinned), None, "oc-lettings").unwrap(), "a");
    }
}
