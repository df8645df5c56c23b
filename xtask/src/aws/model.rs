//! The parts of ECS's and ECR's answers the deploy reads, typed (names as in botocore's
//! service models; every member is optional there, so a missing one is its default
//! here). A task definition is also kept as JSON where it is copied whole into the next
//! revision (`new_revision`), so members this file does not know survive the copy.

use serde::Deserialize;
use serde_json::Value;

/// An entry of an answer's `failures`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Failure {
    pub arn: Option<String>,
    pub reason: Option<String>,
}

/// `DescribeServices`' answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeServices {
    pub services: Vec<Service>,
    pub failures: Vec<Failure>,
}

/// An ECS service: what it runs, its deployments, and the network a one-off task of it
/// needs (passed on to `RunTask` as ECS gave it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub service_name: String,
    pub status: String,
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<Value>,
    pub capacity_provider_strategy: Vec<Value>,
}

/// One deployment of a service (a rollout of one task definition).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Deployment {
    pub status: String,
    pub task_definition: String,
    pub rollout_state: String,
    pub rollout_state_reason: String,
    pub running_count: i64,
    pub desired_count: i64,
}

/// `DescribeTaskDefinition`'s answer: the definition as JSON (the next revision's base)
/// and its tags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribedTaskDefinition {
    pub task_definition: Value,
    pub tags: Option<Value>,
}

/// A task definition as the deploy reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDefinition {
    pub task_definition_arn: String,
    pub family: String,
    pub revision: i64,
    /// Seconds since the epoch (the JSON protocol's timestamps).
    pub registered_at: Option<f64>,
    pub container_definitions: Vec<ContainerDefinition>,
    pub runtime_platform: Option<RuntimePlatform>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimePlatform {
    pub cpu_architecture: Option<String>,
    pub operating_system_family: Option<String>,
}

/// `RegisterTaskDefinition`'s answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Registered {
    pub task_definition: TaskDefinition,
}

/// `ListTaskDefinitions`' answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDefinitionArns {
    pub task_definition_arns: Vec<String>,
}

/// `RunTask`'s and `DescribeTasks`' answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tasks {
    pub tasks: Vec<Task>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub task_arn: String,
    pub last_status: String,
    pub stopped_reason: Option<String>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
}

/// ECR `GetAuthorizationToken`'s answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationData {
    pub authorization_data: Vec<Authorization>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Authorization {
    pub authorization_token: String,
    pub proxy_endpoint: String,
}

impl Failure {
    /// The first failure's reason, or `otherwise`.
    pub fn first_reason<'a>(failures: &'a [Failure], otherwise: &'a str) -> &'a str {
        failures.first().and_then(|f| f.reason.as_deref()).unwrap_or(otherwise)
    }
}

/// CloudWatch Logs `GetLogEvents`' answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogEvents {
    pub events: Vec<LogEvent>,
    pub next_forward_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogEvent {
    pub message: String,
}
