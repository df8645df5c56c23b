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
pub mod logs;
pub mod model;
pub mod rollout;
pub mod settings;
pub mod sigv4;
pub mod task;
pub mod task_definition;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};

use crate::arch::Arch;
use crate::deploy::guard::{self, Facts};
use crate::deploy::ledger::{Ledger, Recorded};
use crate::deploy::readiness::probe_ready;
use crate::deploy::recovery::{recover, Failure};
use crate::deploy::{Deployment, Options, Platform, Wait};
use crate::docker::Image;
use crate::registry::{Named, Registry};
use crate::runner::Runner;
use api::Aws;
use model::{DescribedTaskDefinition, TaskDefinition};
use rollout::{describe_service, update_and_follow};
use settings::Settings;
use task::run_migrations;
use task_definition::{describe_task_definition, new_revision, pick_container, revision_number, short_name};

/// An ECS service on Fargate, and the clients that reach it.
pub struct EcsService {
    settings: Settings,
    aws: Aws,
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
    Watch,
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
    /// The CPU architecture the task definition runs on (`runtimePlatform`).
    architecture: Arch,
    pinned: String,
    new_arn: String,
    /// The schema guard's record in ECR, and this image as it knows it.
    ledger: Option<Ledger>,
    recorded: Option<Recorded>,
    /// The commit of the revision a failure rolled back to.
    rolled_back_to: Option<String>,
}

impl Deploy<'_> {
    /// After a failed rollout or readiness check: the service back on the revision it ran
    /// (unless `--no-rollback`), and the error naming both revisions.
    fn undo(&mut self, what: String) -> anyhow::Error {
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
        let mut returned = false;
        let err = recover(self.runner, self.options.rollback, failure, || {
            update_and_follow(self.aws, self.settings, &self.current, self.options.wait)?;
            returned = true;
            Ok("the service runs it again".to_owned())
        });
        if returned {
            self.rolled_back_to = self
                .ledger
                .as_ref()
                .and_then(|ledger| commit_of(ledger, &self.described.task_definition));
        }
        err
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
        if self.settings.service_url.is_some() && !self.options.watch.duration.is_zero() {
            plan.push(Watch);
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
            DeployStep::Watch => crate::deploy::describe_watch(d.options),
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
                let definition = d.described.definition()?;
                d.container = pick_container(&definition, d.settings.container.as_deref(), &d.settings.repository)?;
                d.architecture = task_architecture(&definition)?;
                println!("    running {}, container {}", short_name(&d.current), d.container);
            }
            DeployStep::Promote => {
                let (host, login) = ecr_login(d.aws)?;
                let ecr = Registry::new(&host, Some(login))?;
                // Already in ECR and runnable there; otherwise (re)copied from the source,
                // which may hold an index of both architectures since.
                let named = match ecr.describe(&d.settings.repository, &d.image.sha)? {
                    Some(named) if named.architectures.contains(&d.architecture) => {
                        println!("    already in ECR");
                        named
                    }
                    _ => {
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
                check_architecture(&named, d.architecture, &d.image.sha)?;
                d.pinned = format!("{host}/{}@{}", d.settings.repository, named.digest);
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
            DeployStep::Watch => {
                let url = d.settings.service_url.clone().unwrap_or_default();
                if let Err(why) = crate::deploy::watch_release(d.options, &url, &d.image.sha) {
                    let what = format!("{} failed its watch: {why}", short_name(&d.new_arn));
                    return Err(d.undo(what));
                }
            }
        }
        Ok(())
    }

    fn live_after(&self, step: DeployStep) -> bool {
        step == DeployStep::Update
    }

    fn rolled_back_to(&self) -> Option<String> {
        self.rolled_back_to.clone()
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

/// The architecture a task definition runs on: its `runtimePlatform.cpuArchitecture`
/// (`X86_64` when it names none, as on Fargate).
pub fn task_architecture(definition: &TaskDefinition) -> Result<Arch> {
    let named = definition
        .runtime_platform
        .as_ref()
        .and_then(|p| p.cpu_architecture.as_deref())
        .unwrap_or("X86_64");
    Arch::from_name(named).ok_or_else(|| {
        anyhow!("the task definition's runtimePlatform.cpuArchitecture is {named}: the image is built for X86_64 and ARM64 only")
    })
}

/// Refuses, before a revision is registered, an image that cannot run on the task
/// definition's architecture (ECS would stop every task with CannotPullContainerError).
pub fn check_architecture(named: &Named, wanted: Arch, sha: &str) -> Result<()> {
    if named.architectures.contains(&wanted) {
        println!(
            "    {} for {}; the task definition runs on {}",
            if named.architectures.len() > 1 {
                "an index"
            } else {
                "an image"
            },
            named
                .architectures
                .iter()
                .map(|a| a.platform())
                .collect::<Vec<_>>()
                .join(", "),
            wanted.platform()
        );
        return Ok(());
    }
    bail!(
        "the image {sha} is for {} only, but the task definition runs on {} (runtimePlatform.cpuArchitecture): \
         push both (`cargo xtask docker build --platform linux/amd64,linux/arm64` and `docker push` with the same flag) \
         or change the task definition; nothing was registered",
        named.architectures.iter().map(|a| a.platform()).collect::<Vec<_>>().join(", "),
        wanted.platform()
    )
}

/// The schema guard's tag prefix for the service: `ecs-<cluster>-<service>`.
pub fn namespace(settings: &Settings) -> String {
    format!("ecs-{}-{}", settings.cluster, settings.service)
}

/// The guard's report on rolling back to `target`: what its image knows against the
/// database's recorded schema; refuses under `--strict`.
fn rollback_guard(aws: &Aws, settings: &Settings, target: &TaskDefinition, strict: bool) -> Result<Option<String>> {
    let mut commit = None;
    let mut facts = || -> Result<Facts> {
        let (host, login) = ecr_login(aws)?;
        let ledger = Ledger {
            registry: Registry::new(&host, Some(login))?,
            repo: settings.repository.clone(),
            namespace: namespace(settings),
        };
        let prefix = format!("{host}/{}@", settings.repository);
        let image = match target
            .container_definitions
            .iter()
            .find_map(|c| c.image.strip_prefix(&prefix))
        {
            Some(digest) => ledger.read(digest)?,
            None => None,
        };
        commit = image.as_ref().and_then(|i| i.revision.clone());
        let knows = image.and_then(|r| r.newest_migration);
        let applied = ledger.read(&ledger.schema_tag())?.and_then(|r| r.newest_migration);
        Ok(Facts { knows, applied })
    };
    let facts = facts();
    guard::check(&format!("revision {}", target.revision), facts, "ECR", strict, "")?;
    Ok(commit)
}

/// The commit the site's image in `definition` was built from, as its label in ECR says.
fn commit_of(ledger: &Ledger, definition: &Value) -> Option<String> {
    let prefix = format!("{}@", ledger.repo);
    definition["containerDefinitions"]
        .as_array()?
        .iter()
        .filter_map(|c| c["image"].as_str())
        .find_map(|image| {
            image
                .split_once('/')
                .map(|(_, rest)| rest)
                .and_then(|rest| rest.strip_prefix(&prefix))
        })
        .and_then(|digest| ledger.read(digest).ok().flatten())
        .and_then(|recorded| recorded.revision)
}

/// The ARNs of the family's active revisions, newest first (at most `count`).
fn revision_arns(aws: &Aws, family: &str, count: usize) -> Result<Vec<String>> {
    let listed: model::TaskDefinitionArns = aws.ecs(
        "ListTaskDefinitions",
        &json!({ "familyPrefix": family, "status": "ACTIVE", "sort": "DESC", "maxResults": count.clamp(1, 100) }),
    )?;
    Ok(listed.task_definition_arns.into_iter().take(count).collect())
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

    fn from_env(dry_run: bool) -> Result<EcsService> {
        let settings = Settings::from_env(dry_run)?;
        // A dry run calls nothing: without a region, its client is made for any valid one.
        let aws = if dry_run && settings.region.starts_with('<') {
            Settings {
                region: "us-east-1".to_owned(),
                ..settings.clone()
            }
            .client()?
        } else {
            settings.client()?
        };
        Ok(EcsService { aws, settings })
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
            architecture: Arch::Amd64,
            pinned: String::new(),
            new_arn: String::new(),
            ledger: None,
            recorded: None,
            rolled_back_to: None,
        })
    }

    /// `cargo xtask rollback --target aws [REVISION]`: the service back to REVISION of
    /// its family (default: the newest active one before the revision it runs), followed
    /// until the rollout completes. The database is not touched (a later revision's
    /// migrations stay applied, as on Heroku).
    fn rollback(&self, runner: &Runner, revision: Option<i64>, options: &Options) -> Result<Option<String>> {
        let (aws, settings) = (&self.aws, &self.settings);
        if runner.dry_run {
            let target = revision.map_or("the newest active revision before it".to_owned(), |r| {
                format!("revision {r}")
            });
            println!(
                "==> DescribeServices {} in {}, DescribeTaskDefinition of the revision it runs; ListTaskDefinitions: {target}",
                settings.service, settings.cluster
            );
            println!(
                "==> schema guard: its image against the database's schema (tag {}:{}-schema in ECR)",
                settings.repository,
                namespace(settings)
            );
            println!("==> roll back: UpdateService to it, DescribeServices until its deployment is COMPLETED");
            return Ok(None);
        }
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
        let commit = rollback_guard(aws, settings, &target, options.strict)?;
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
        Ok(commit)
    }

    /// `cargo xtask run --target aws -- COMMAND…`: a one-off task of the revision the
    /// service runs, on its network, with `COMMAND` as the site's container's command and
    /// `environment` as overrides; waited for until it stops, its output read back from
    /// CloudWatch Logs (the `awslogs` driver), its exit code returned.
    fn run(&self, runner: &Runner, command: &[String], environment: &[(String, String)], wait: Wait) -> Result<i32> {
        let (aws, settings) = (&self.aws, &self.settings);
        let shown = crate::deploy::display_command(command, environment);
        if runner.dry_run {
            println!(
                "==> DescribeServices {} in {}, DescribeTaskDefinition of the revision it runs",
                settings.service, settings.cluster
            );
            println!("==> RunTask of it on the service's network: {shown}; DescribeTasks until it stops");
            println!("==> its output: CloudWatch Logs GetLogEvents (the awslogs stream of the task)");
            return Ok(0);
        }
        let service = describe_service(aws, settings)?;
        let described = describe_task_definition(aws, &service.task_definition)?;
        let container = pick_container(
            &described.definition()?,
            settings.container.as_deref(),
            &settings.repository,
        )?;
        let task = task::OneOff {
            task_definition: &service.task_definition,
            container: &container,
            command,
            environment,
            started_by: task::RUN_BY,
            name: "one-off task",
        };
        let stopped = runner.step(
            &format!(
                "run {shown} in {} ({})",
                settings.service,
                short_name(&service.task_definition)
            ),
            || task::run_task(aws, settings, &service, &task, wait),
        )?;
        match logs::stream_of(&described.task_definition, &container, task::task_id(&stopped.arn)) {
            Some((group, stream)) => match logs::read(aws, &group, &stream) {
                Ok(lines) => {
                    println!("its output (CloudWatch Logs {group} {stream}):");
                    for line in lines {
                        println!("    | {line}");
                    }
                }
                Err(err) => println!("(cannot read its output from CloudWatch Logs: {err:#})"),
            },
            None => println!(
                "(its output is not in CloudWatch Logs: the container {container} has no awslogs log configuration)"
            ),
        }
        match stopped.exit_code {
            Some(code) => {
                println!(
                    "oc-lettings {} exited with {code}",
                    command.first().map_or("", String::as_str)
                );
                Ok(i32::try_from(code).unwrap_or(1))
            }
            None => bail!("the one-off task stopped before its container ran ({})", stopped.reason),
        }
    }

    /// `cargo xtask releases --target aws`: the service's task definition revisions.
    fn releases(&self, runner: &Runner, count: usize) -> Result<()> {
        if runner.dry_run {
            println!(
                "==> DescribeServices {} in {}, ListTaskDefinitions of its family (the newest {count}), DescribeTaskDefinition of each",
                self.settings.service, self.settings.cluster
            );
            return Ok(());
        }
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
