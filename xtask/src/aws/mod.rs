//! `cargo xtask deploy | rollback | releases --target aws`: ECR and ECS (Fargate) with the
//! guarantees of the Heroku path. The image pushed for this commit is promoted to ECR
//! (copied registry to registry, never rebuilt), a task definition revision is registered
//! from the service's current one with only that image changed (pinned by digest), the
//! migrations run once as a one-off task before the service moves, the rollout is
//! followed until the PRIMARY deployment is COMPLETED or FAILED, `/readyz` is checked when
//! the service has a URL, and a failure rolls the service back to the revision it ran.
//!
//! A small SigV4 + JSON client of our own (`sigv4`, `api`, the answers typed in `model`)
//! rather than the AWS SDK crates: xtask needs eight operations; docs/src/deploy-aws.md
//! says what the SDK and the signing-only `aws-sigv4` crate would cost.

pub mod api;
pub mod model;
pub mod sigv4;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::deploy::guard::{self, Facts};
use crate::deploy::ledger::{Ledger, Recorded};
use crate::deploy::poll::poll;
use crate::deploy::readiness::probe_ready;
use crate::deploy::recovery::{recover, Failure};
use crate::deploy::{Deployment, Options, Platform, Wait};
use crate::docker::Image;
use crate::env;
use crate::registry::Registry;
use crate::runner::Runner;
use api::{Aws, Service};
use model::{DescribedTaskDefinition, TaskDefinition};
use sigv4::Credentials;

/// Who started the one-off migration task, as ECS shows it.
pub const STARTED_BY: &str = "oc-lettings-deploy";

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

/// The deploy's settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub region: String,
    pub credentials: Credentials,
    pub cluster: String,
    pub service: String,
    /// The ECR repository the image goes to.
    pub repository: String,
    /// The container of the task definition that runs the site (default: the only one,
    /// or the one whose image is in `repository`).
    pub container: Option<String>,
    /// Where the service answers (a load balancer's URL), for the `/readyz` check.
    pub service_url: Option<String>,
    pub ecs_endpoint: Option<String>,
    pub ecr_endpoint: Option<String>,
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let mut needed = env::Needed::default();
        let region = needed.either(
            env::optional("AWS_REGION").or_else(|| env::optional("AWS_DEFAULT_REGION")),
            "AWS_REGION",
            "the region of the cluster, e.g. eu-west-1",
        );
        let credentials = Credentials {
            access_key_id: needed.var("AWS_ACCESS_KEY_ID", "the deploy user's access key"),
            secret_access_key: needed.var("AWS_SECRET_ACCESS_KEY", "the deploy user's secret key"),
            session_token: env::optional("AWS_SESSION_TOKEN"),
        };
        let cluster = needed.var("ECS_CLUSTER", "the ECS cluster the service runs in");
        let service = needed.var("ECS_SERVICE", "the ECS service that runs the site");
        needed.check()?;
        let endpoint = |service: &str| {
            env::optional(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| env::optional("AWS_ENDPOINT_URL"))
        };
        Ok(Settings {
            region,
            credentials,
            cluster,
            service,
            repository: env::optional("ECR_REPOSITORY").unwrap_or_else(|| "oc-lettings".to_owned()),
            container: env::optional("ECS_CONTAINER"),
            service_url: env::optional("SERVICE_URL"),
            ecs_endpoint: endpoint("ECS"),
            ecr_endpoint: endpoint("ECR"),
        })
    }

    pub fn client(&self) -> Result<Aws> {
        Aws::new(
            self.region.clone(),
            self.credentials.clone(),
            Service::ecs(&self.region, self.ecs_endpoint.clone())?,
            Service::ecr(&self.region, self.ecr_endpoint.clone())?,
        )
    }
}

/// An ECS service on Fargate, and the clients that reach it.
pub struct EcsService {
    settings: Settings,
    aws: Aws,
}

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
fn describe_service(aws: &Aws, settings: &Settings) -> Result<model::Service> {
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

fn describe_task_definition(aws: &Aws, task_definition: &str) -> Result<DescribedTaskDefinition> {
    aws.ecs(
        "DescribeTaskDefinition",
        &json!({ "taskDefinition": task_definition, "include": ["TAGS"] }),
    )
}

/// Moves the service to `task_definition` and follows the rollout until it completes,
/// fails or times out.
fn update_and_follow(aws: &Aws, settings: &Settings, task_definition: &str, wait: Wait) -> Result<()> {
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

/// Runs the migrations once: a one-off task of `task_definition` with the command
/// `migrate`, on the service's network, waited for until it stops; its exit code decides.
fn run_migrations(
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

/// The ECR registry's host and its login (`GetAuthorizationToken`: `AWS:<password>`,
/// base64). The password is never printed.
fn ecr_login(aws: &Aws) -> Result<(String, (String, String))> {
    let answer: model::AuthorizationData = aws.ecr("GetAuthorizationToken", &json!({}))?;
    let data = answer
        .authorization_data
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("ECR GetAuthorizationToken: no authorizationData"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token.trim())
        .context("ECR GetAuthorizationToken: the token is not base64")?;
    let decoded = String::from_utf8(decoded).context("ECR GetAuthorizationToken: the token is not text")?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| anyhow!("ECR GetAuthorizationToken: the token is not user:password"))?;
    let endpoint = data.proxy_endpoint;
    if endpoint.is_empty() {
        bail!("ECR GetAuthorizationToken: no proxyEndpoint");
    }
    let host = endpoint
        .split_once("://")
        .map_or(endpoint.as_str(), |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned();
    Ok((host, (user.to_owned(), password.to_owned())))
}

/// One step of `deploy --target aws`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStep {
    ReadService,
    Promote,
    SchemaGuard,
    Register,
    Migrate,
    Update,
    ReadinessCheck,
}

/// A deploy under way: what the steps learn, for the steps after them.
pub struct Deploy<'a> {
    runner: &'a Runner,
    aws: &'a Aws,
    settings: &'a Settings,
    image: &'a Image,
    options: &'a Options,
    service: model::Service,
    current: String,
    /// `DescribeTaskDefinition` of `current` (with its tags): the new revision's base.
    described: DescribedTaskDefinition,
    container: String,
    pinned: String,
    new_arn: String,
    /// The schema guard's record in ECR, and this image as it knows it.
    ledger: Option<Ledger>,
    recorded: Option<Recorded>,
}

impl Deploy<'_> {
    /// After a failed rollout or readiness check: the service back on the revision it ran
    /// (unless `--no-rollback`), and the error naming both revisions.
    fn undo(&self, what: String) -> anyhow::Error {
        let (new, old) = (short_name(&self.new_arn), short_name(&self.current));
        let failure = Failure {
            what,
            release: new,
            previous: Some(old),
            by_hand: format!(
                "cargo xtask rollback --target aws {}",
                revision_number(&self.current).unwrap_or_default()
            ),
        };
        recover(self.runner, self.options.rollback, failure, || {
            update_and_follow(self.aws, self.settings, &self.current, self.options.wait)?;
            Ok("the service runs it again".to_owned())
        })
    }
}

impl Deployment for Deploy<'_> {
    type Step = DeployStep;

    fn plan(&self) -> Vec<DeployStep> {
        use DeployStep::*;
        let mut plan = vec![ReadService, Promote, SchemaGuard, Register, Migrate, Update];
        if self.settings.service_url.is_some() && !self.options.wait.health_check.is_zero() {
            plan.push(ReadinessCheck);
        }
        plan
    }

    fn describe(&self, step: DeployStep) -> String {
        let (d, s) = (self, self.settings);
        match step {
            DeployStep::ReadService => format!(
                "read the service: DescribeServices {} in {}, DescribeTaskDefinition of its task definition",
                s.service, s.cluster
            ),
            DeployStep::Promote => format!(
                "promote the pushed image: ECR GetAuthorizationToken, then copy {} to ECR {}:{} (no rebuild)",
                crate::registry::reference(&d.options.registry, &d.image.repo, &d.image.sha),
                s.repository,
                d.image.sha
            ),
            DeployStep::SchemaGuard => format!(
                "schema guard: the image's newest migration against the database's (tag {}:{}-schema in ECR)",
                s.repository,
                namespace(s)
            ),
            DeployStep::Register => {
                "register a new revision: RegisterTaskDefinition, the current one with only the image changed (by digest)"
                    .to_owned()
            }
            DeployStep::Migrate => {
                "migrate once: RunTask of the new revision with command [\"migrate\"], waited for until it stops (exit code 0)"
                    .to_owned()
            }
            DeployStep::Update => format!(
                "roll out: UpdateService {} to the new revision, DescribeServices until its deployment is COMPLETED or FAILED{}",
                s.service,
                if d.options.rollback {
                    " (rolled back to the current revision if it fails)"
                } else {
                    " (--no-rollback)"
                }
            ),
            DeployStep::ReadinessCheck => format!(
                "readiness: GET {}/readyz for up to {}s",
                s.service_url.as_deref().unwrap_or("").trim_end_matches('/'),
                d.options.wait.health_check.as_secs()
            ),
        }
    }

    fn run(&mut self, step: DeployStep) -> Result<()> {
        let d = self;
        let wait = d.options.wait;
        match step {
            DeployStep::ReadService => {
                d.service = describe_service(d.aws, d.settings)?;
                d.current = d.service.task_definition.clone();
                d.described = describe_task_definition(d.aws, &d.current)?;
                d.container = pick_container(
                    &d.described.definition()?,
                    d.settings.container.as_deref(),
                    &d.settings.repository,
                )?;
                println!("    running {}, container {}", short_name(&d.current), d.container);
            }
            DeployStep::Promote => {
                let (host, login) = ecr_login(d.aws)?;
                let ecr = Registry::new(&host, Some(login))?;
                let manifest = match ecr.manifest(&d.settings.repository, &d.image.sha)? {
                    Some(manifest) => {
                        println!("    already in ECR");
                        manifest
                    }
                    None => {
                        let source = Registry::new(&d.options.registry, crate::docker::registry_credentials())?;
                        source
                            .copy_image(&d.image.repo, &d.image.sha, &ecr, &d.settings.repository)?
                            .ok_or_else(|| {
                                anyhow!(
                                    "{} is not in {}: push it first (`cargo xtask docker push`, CircleCI's build-and-push job)",
                                    crate::registry::reference(&d.options.registry, &d.image.repo, &d.image.sha),
                                    d.options.registry
                                )
                            })?
                    }
                };
                d.pinned = format!("{host}/{}@{}", d.settings.repository, manifest.digest());
                println!("    image {}", d.pinned);
                d.ledger = Some(Ledger {
                    registry: ecr,
                    repo: d.settings.repository.clone(),
                    namespace: namespace(d.settings),
                });
            }
            DeployStep::SchemaGuard => {
                let ledger = d.ledger.as_ref().ok_or_else(|| anyhow!("the image was not promoted"))?;
                let read = ledger
                    .read(&d.image.sha)
                    .and_then(|image| Ok((image, ledger.read(&ledger.schema_tag())?)));
                let facts = match &read {
                    Ok((None, _)) => bail!("{} vanished from ECR", d.image.sha),
                    Ok((Some(image), applied)) => Ok(Facts {
                        knows: image.newest_migration.clone(),
                        applied: applied.as_ref().and_then(|a| a.newest_migration.clone()),
                    }),
                    Err(err) => Err(anyhow!("{err:#}")),
                };
                guard::check(
                    &format!("this release ({})", d.image.sha),
                    facts,
                    "ECR",
                    d.options.strict,
                    "    ",
                )?;
                if let Ok((image, _)) = read {
                    d.recorded = image;
                }
            }
            DeployStep::Register => {
                let body = new_revision(
                    &d.described.task_definition,
                    d.described.tags.as_ref(),
                    &d.container,
                    &d.pinned,
                )?;
                let registered: model::Registered = d.aws.ecs("RegisterTaskDefinition", &body)?;
                d.new_arn = registered.task_definition.task_definition_arn;
                if d.new_arn.is_empty() {
                    bail!("ECS RegisterTaskDefinition: no taskDefinitionArn in the answer");
                }
                println!("    registered {}", short_name(&d.new_arn));
            }
            DeployStep::Migrate => {
                run_migrations(d.aws, d.settings, &d.service, &d.new_arn, &d.container, wait).map_err(|err| {
                    anyhow!(
                        "{err:#}; the service was not changed, it still runs {}",
                        short_name(&d.current)
                    )
                })?;
                // The database now has this image's migrations: the guard's record follows.
                if let (Some(ledger), Some(recorded)) = (&d.ledger, &d.recorded) {
                    if let Err(err) = ledger.record_schema(recorded) {
                        println!("    warning: the schema guard could not record this image's migrations: {err:#}");
                    }
                }
            }
            DeployStep::Update => {
                if let Err(err) = update_and_follow(d.aws, d.settings, &d.new_arn, wait) {
                    return Err(d.undo(format!("{err:#}")));
                }
            }
            DeployStep::ReadinessCheck => {
                let url = d.settings.service_url.clone().unwrap_or_default();
                if let Err(reason) = probe_ready(&url, wait.health_check) {
                    return Err(d.undo(format!("{} is not ready: {reason}", short_name(&d.new_arn))));
                }
            }
        }
        Ok(())
    }

    fn summary(&self) -> String {
        format!(
            "deployed {} ({}) to {} in {}: {} running {}",
            self.image.sha,
            self.pinned,
            self.settings.service,
            self.settings.cluster,
            self.settings.service,
            short_name(&self.new_arn)
        )
    }
}

/// The schema guard's tag prefix for the service: `ecs-<cluster>-<service>`.
pub fn namespace(settings: &Settings) -> String {
    format!("ecs-{}-{}", settings.cluster, settings.service)
}

/// The guard's report on rolling back to `target`: what its image knows against the
/// database's recorded schema; refuses under `--strict`.
fn rollback_guard(aws: &Aws, settings: &Settings, target: &TaskDefinition, strict: bool) -> Result<()> {
    let facts = || -> Result<Facts> {
        let (host, login) = ecr_login(aws)?;
        let ledger = Ledger {
            registry: Registry::new(&host, Some(login))?,
            repo: settings.repository.clone(),
            namespace: namespace(settings),
        };
        let prefix = format!("{host}/{}@", settings.repository);
        let knows = match target
            .container_definitions
            .iter()
            .find_map(|c| c.image.strip_prefix(&prefix))
        {
            Some(digest) => ledger.read(digest)?.and_then(|r| r.newest_migration),
            None => None,
        };
        let applied = ledger.read(&ledger.schema_tag())?.and_then(|r| r.newest_migration);
        Ok(Facts { knows, applied })
    };
    guard::check(&format!("revision {}", target.revision), facts(), "ECR", strict, "")
}

/// The ARNs of the family's active revisions, newest first (at most `count`).
fn revision_arns(aws: &Aws, family: &str, count: usize) -> Result<Vec<String>> {
    let listed: model::TaskDefinitionArns = aws.ecs(
        "ListTaskDefinitions",
        &json!({ "familyPrefix": family, "status": "ACTIVE", "sort": "DESC", "maxResults": count.clamp(1, 100) }),
    )?;
    Ok(listed.task_definition_arns.into_iter().take(count).collect())
}

/// The revision number an ARN ends with (`…/oc-lettings:42` → 42).
pub fn revision_number(arn: &str) -> Option<i64> {
    arn.rsplit(':').next()?.parse().ok()
}

/// The task definition `name` (an ARN or `family:revision`), described.
fn definition(aws: &Aws, name: &str) -> Result<TaskDefinition> {
    describe_task_definition(aws, name)?.definition()
}

impl EcsService {
    /// The definition the service runs now.
    fn running(&self) -> Result<TaskDefinition> {
        let service = describe_service(&self.aws, &self.settings)?;
        definition(&self.aws, &service.task_definition)
    }
}

impl Platform for EcsService {
    type Deployment<'a> = Deploy<'a>;

    fn from_env() -> Result<EcsService> {
        let settings = Settings::from_env()?;
        Ok(EcsService {
            aws: settings.client()?,
            settings,
        })
    }

    fn deployment<'a>(&'a self, runner: &'a Runner, image: &'a Image, options: &'a Options) -> Result<Deploy<'a>> {
        if options.build {
            bail!("--build applies to --target heroku only (AWS promotes the pushed image)");
        }
        Ok(Deploy {
            runner,
            aws: &self.aws,
            settings: &self.settings,
            image,
            options,
            service: model::Service::default(),
            current: String::new(),
            described: DescribedTaskDefinition::default(),
            container: String::new(),
            pinned: String::new(),
            new_arn: String::new(),
            ledger: None,
            recorded: None,
        })
    }

    /// `cargo xtask rollback --target aws [REVISION]`: the service back to REVISION of
    /// its family (default: the newest active one before the revision it runs), followed
    /// until the rollout completes. The database is not touched (a later revision's
    /// migrations stay applied, as on Heroku).
    fn rollback(&self, runner: &Runner, revision: Option<i64>, options: &Options) -> Result<()> {
        let (aws, settings) = (&self.aws, &self.settings);
        let current = self.running()?;
        let target = match revision {
            Some(wanted) if wanted == current.revision => {
                bail!("{} already runs revision {wanted}", settings.service)
            }
            Some(wanted) => definition(aws, &format!("{}:{wanted}", current.family))?,
            // The newest active revision before the running one: found by its ARN, and
            // only that one described.
            None => revision_arns(aws, &current.family, 100)?
                .iter()
                .find(|arn| revision_number(arn).is_some_and(|r| r < current.revision))
                .map(|arn| definition(aws, arn))
                .transpose()?
                .ok_or_else(|| {
                    anyhow!(
                        "no revision of {} before {} to roll back to",
                        current.family,
                        current.revision
                    )
                })?,
        };
        let step = format!(
            "roll back {} from {} to {}: UpdateService, until its deployment is COMPLETED",
            settings.service,
            short_name(&current.task_definition_arn),
            short_name(&target.task_definition_arn)
        );
        rollback_guard(aws, settings, &target, options.strict)?;
        if runner.dry_run {
            println!("==> {step}");
            return Ok(());
        }
        runner.step(&step, || {
            update_and_follow(aws, settings, &target.task_definition_arn, options.wait)
        })?;
        println!(
            "rolled back {} from revision {} to revision {} ({})",
            settings.service,
            current.revision,
            target.revision,
            target.images().join(", ")
        );
        Ok(())
    }

    /// `cargo xtask releases --target aws`: the service's task definition revisions.
    fn releases(&self, count: usize) -> Result<()> {
        let current = self.running()?;
        println!("{:<10} {:<17} image", "revision", "registered");
        let repository = &self.settings.repository;
        let site_image = |revision: &TaskDefinition| {
            let ours: Vec<String> = revision
                .images()
                .into_iter()
                .filter(|image| {
                    image
                        .split('@')
                        .next()
                        .unwrap_or(image)
                        .contains(&format!("/{repository}"))
                })
                .collect();
            if ours.is_empty() {
                revision.images().join(", ")
            } else {
                ours.join(", ")
            }
        };
        for arn in revision_arns(&self.aws, &current.family, count)? {
            let revision = definition(&self.aws, &arn)?;
            let registered = revision
                .registered_at
                .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
                .map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string());
            let marker = if revision.task_definition_arn == current.task_definition_arn {
                " (running)"
            } else {
                ""
            };
            println!(
                "{:<10} {:<17} {}{marker}",
                revision.revision,
                registered,
                site_image(&revision)
            );
        }
        Ok(())
    }
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
