//! `cargo xtask deploy | rollback | releases`: Heroku container releases through the
//! Platform API (no Heroku CLI needed). The API and registry hosts are settings
//! (`HEROKU_API_URL`, `HEROKU_REGISTRY`), so tests aim them at loopback fakes.

pub mod api;

use std::time::Instant;

use anyhow::{anyhow, bail, Result};

use crate::arch::Arch;
use crate::deploy::guard::{self, Facts};
use crate::deploy::ledger::{self, Ledger};
use crate::deploy::poll::{left_until, poll};
use crate::deploy::readiness::probe_ready;
use crate::deploy::recovery::{recover, Failure};
use crate::deploy::{Deployment, Options, Platform, Wait};
use crate::docker::{self, DockerConfig, Image};
use crate::env;
use crate::registry::Registry;
use crate::runner::Runner;
use api::{Heroku, Release};

pub const DEFAULT_API: &str = "https://api.heroku.com";
pub const DEFAULT_REGISTRY: &str = "registry.heroku.com";

/// A Heroku app on the container stack, and how to reach its API and registry.
pub struct HerokuApp {
    heroku: Heroku,
    key: String,
    registry: String,
}

/// Follows the newest release after `after_version` until it succeeds or fails. With a
/// release phase, its command's output is read back from the app's logs once it has
/// ended (Heroku streams it only from images with `curl`), and a failure says its last
/// line.
fn follow_release(heroku: &Heroku, after_version: i64, wait: Wait, release_phase: bool) -> Result<Release> {
    let deadline = Instant::now() + wait.timeout;
    let released = poll(
        wait,
        |progress| {
            let newest = heroku.releases(1)?.into_iter().next();
            let Some(release) = newest.filter(|r| r.version > after_version) else {
                return Ok(None);
            };
            progress.saw(
                &release.status,
                format!("release v{}: {}", release.version, release.status),
            );
            Ok(matches!(release.status.as_str(), "succeeded" | "failed" | "expired").then_some(release))
        },
        |last| {
            anyhow!(
                "release still {} after {}s (raise --timeout, or check the Heroku dashboard)",
                if last.is_empty() { "not created" } else { last },
                wait.timeout.as_secs()
            )
        },
    )?;
    let output = if release_phase {
        release_output(heroku, &released.created_at, left_until(deadline))
    } else {
        None
    };
    if released.status == "succeeded" {
        return Ok(released);
    }
    let reason = match output.as_deref() {
        Some(last) => format!("the release command failed: {last}; the previous release keeps serving"),
        None if released.description.is_empty() => "no reason given".to_owned(),
        None => released.description.clone(),
    };
    bail!(
        "release v{} {}: {reason} (see `heroku logs --dyno release -a {}`)",
        released.version,
        released.status,
        heroku.app
    )
}

/// Prints the release command's output from the app's logs (the lines logged since the
/// release was created: the logs also hold earlier releases'); returns the command's own
/// last line (not Heroku's exit line), if any.
fn release_output(heroku: &Heroku, created_at: &str, within: std::time::Duration) -> Option<String> {
    let logs = heroku.release_logs(200, within).map(|lines| {
        api::logged_since(&lines, created_at)
            .iter()
            .map(|l| api::log_message(l))
            .collect::<Vec<_>>()
    });
    match logs {
        Ok(lines) if lines.is_empty() => {
            println!("    (the app's logs hold no release phase output yet)");
            None
        }
        Ok(lines) => {
            println!("    the release command's output (from the app's logs):");
            for line in &lines {
                println!("    | {line}");
            }
            lines
                .iter()
                .rev()
                .find(|l| l.starts_with("app["))
                .map(|l| l.split_once("]: ").map_or(l.as_str(), |(_, text)| text).to_owned())
        }
        Err(err) => {
            println!("    (cannot read the release phase's logs: {err:#})");
            None
        }
    }
}

/// One step of a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStep {
    CheckApp,
    Promote,
    SchemaGuard,
    Login,
    Push,
    ReleaseImage,
    ReadImageIds,
    Release,
    FollowRelease,
    ReadinessCheck,
    Watch,
}

/// A deploy under way: what the steps learn, for the steps after them.
pub struct Deploy<'a> {
    runner: &'a Runner,
    image: &'a Image,
    options: &'a Options,
    heroku: &'a Heroku,
    key: &'a str,
    registry: &'a str,
    app: Option<api::App>,
    config: Option<DockerConfig>,
    /// The local image being released (`repo:sha`, or the pulled `registry/repo:sha`).
    source: String,
    /// The ledger of releases and schema in the source registry, with this image in it.
    ledger: Option<Ledger>,
    recorded: Option<ledger::Recorded>,
    web_id: String,
    release_id: String,
    before: i64,
    release: Option<Release>,
    /// The commit of the release a failure rolled back to.
    rolled_back_to: Option<String>,
}

impl Deploy<'_> {
    fn remote(&self, process: &str) -> String {
        format!("{}/{}/{process}", self.registry, self.heroku.app)
    }

    fn pushed(&self) -> String {
        crate::registry::reference(&self.options.registry, &self.image.repo, &self.image.sha)
    }

    fn config(&mut self) -> Result<&DockerConfig> {
        if self.config.is_none() {
            self.config = Some(DockerConfig::new()?);
        }
        self.config.as_ref().ok_or_else(|| anyhow!("no docker configuration"))
    }

    fn wait(&self) -> Wait {
        self.options.wait
    }

    /// Heroku's registry, through its API (login `_` with the API key).
    fn heroku_registry(&self) -> Result<Registry> {
        Registry::new(self.registry, Some(("_".to_owned(), self.key.to_owned())))
    }
}

impl Deployment for Deploy<'_> {
    type Step = DeployStep;

    /// The steps of `deploy`, in order (the readiness check only when it is asked for).
    fn plan(&self) -> Vec<DeployStep> {
        use DeployStep::*;
        let mut plan = vec![
            CheckApp,
            Promote,
            SchemaGuard,
            Login,
            Push,
            ReleaseImage,
            ReadImageIds,
            Release,
            FollowRelease,
        ];
        if !self.options.wait.health_check.is_zero() {
            plan.push(ReadinessCheck);
        }
        if !self.options.watch.duration.is_zero() {
            plan.push(Watch);
        }
        plan
    }

    fn describe(&self, step: DeployStep) -> String {
        let d = self;
        let app = &d.heroku.app;
        match step {
            DeployStep::CheckApp => format!("check the app: GET /apps/{app} (stack must be `container`)"),
            DeployStep::Promote if d.options.build => format!("build {} (--build)", d.image.sha_tag()),
            DeployStep::Promote => format!(
                "promote the pushed image: {} (linux/amd64) from the local Docker, else `docker pull --platform linux/amd64 {}` (a build only if it was never pushed)",
                d.image.sha_tag(),
                d.pushed()
            ),
            DeployStep::SchemaGuard => format!(
                "schema guard: the image's newest migration against the app's schema (tag {} in {})",
                format_args!("{}:heroku-{app}-schema", d.image.repo),
                d.options.registry
            ),
            DeployStep::Login => format!("docker login --username _ --password-stdin {}", d.registry),
            DeployStep::Push => format!("docker tag {} {} && docker push {}", d.image.sha_tag(), d.remote("web"), d.remote("web")),
            DeployStep::ReleaseImage => format!(
                "release phase image: FROM {} with CMD [\"migrate\"], pushed as {}",
                d.image.sha_tag(),
                d.remote("release")
            ),
            DeployStep::ReadImageIds => format!(
                "read the image ids (config digests) of {} and {} from the registry",
                d.remote("web"),
                d.remote("release")
            ),
            DeployStep::Release => format!(
                "release web and release: PATCH /apps/{app}/formation (Accept: {})",
                api::ACCEPT_DOCKER_RELEASES
            ),
            DeployStep::FollowRelease => format!(
                "wait for the release: GET /apps/{app}/releases until it succeeds or fails, then the release command's output from the app's logs (POST /apps/{app}/log-sessions)"
            ),
            DeployStep::ReadinessCheck => format!(
                "readiness: GET /readyz on the app's URL for up to {}s{}",
                d.wait().health_check.as_secs(),
                if d.options.rollback {
                    ", rolling back by itself if it never answers 200"
                } else {
                    " (--no-rollback: a release that is not ready stays live)"
                }
            ),
            DeployStep::Watch => crate::deploy::describe_watch(d.options),
        }
    }

    fn run(&mut self, step: DeployStep) -> Result<()> {
        let d = self;
        match step {
            DeployStep::CheckApp => {
                let app = d.heroku.app_info()?;
                if app.stack.name != "container" {
                    bail!(
                        "app {} is on the {} stack; container releases need the container stack: `heroku stack:set container -a {}`",
                        app.name,
                        app.stack.name,
                        app.name
                    );
                }
                d.app = Some(app);
            }
            DeployStep::Promote => promote(d)?,
            DeployStep::SchemaGuard => schema_guard(d)?,
            DeployStep::Login => {
                let (runner, registry, key) = (d.runner, d.registry, d.key);
                docker::login(runner, d.config()?, Some(registry), "_", key)?;
            }
            DeployStep::Push => {
                let (runner, source, remote) = (d.runner, d.source.clone(), d.remote("web"));
                let config = d.config()?;
                runner.run("docker tag", config.docker(runner).args(["tag", &source, &remote]))?;
                runner.run("docker push", config.docker(runner).args(["push", &remote]))?;
                d.heroku_registry()?
                    .ensure_docker_v2(&format!("{}/web", d.heroku.app), "latest")?;
            }
            DeployStep::ReleaseImage => {
                let (runner, source, remote) = (d.runner, d.source.clone(), d.remote("release"));
                let config = d.config()?;
                let mut build = config.docker(runner);
                docker::add_image_build(runner, &mut build);
                build.args(["--tag", &remote, "-"]);
                runner.run_with_input(
                    "release phase image",
                    &mut build,
                    &format!("FROM {source}\nCMD [\"migrate\"]\n"),
                )?;
                runner.run("docker push", config.docker(runner).args(["push", &remote]))?;
                d.heroku_registry()?
                    .ensure_docker_v2(&format!("{}/release", d.heroku.app), "latest")?;
            }
            DeployStep::ReadImageIds => {
                let app = d.heroku.app.clone();
                d.web_id = api::config_digest(d.registry, &format!("{app}/web"), "latest", "_", d.key)?;
                d.release_id = api::config_digest(d.registry, &format!("{app}/release"), "latest", "_", d.key)?;
                println!("    web image {}, release image {}", d.web_id, d.release_id);
            }
            DeployStep::Release => {
                d.before = d.heroku.releases(1)?.first().map_or(0, |r| r.version);
                d.heroku
                    .release_images(&[("web", &d.web_id), ("release", &d.release_id)])?;
            }
            DeployStep::FollowRelease => {
                let followed = follow_release(d.heroku, d.before, d.wait(), true);
                // The release phase ran (or began to): its migrations may be applied.
                if let (Some(ledger), Some(recorded)) = (&d.ledger, &d.recorded) {
                    if let Err(err) = ledger.record_schema(recorded) {
                        println!("    warning: the schema guard could not record this image's migrations: {err:#}");
                    }
                    if let Ok(release) = &followed {
                        if let Err(err) = ledger.record_release(release.version, &recorded.manifest) {
                            println!(
                                "    warning: the schema guard could not record v{}: {err:#}",
                                release.version
                            );
                        }
                    }
                }
                d.release = Some(followed?);
            }
            DeployStep::ReadinessCheck => readiness_gate(d)?,
            DeployStep::Watch => {
                let release = d.release.clone().ok_or_else(|| anyhow!("a watch before a release"))?;
                if let Err(why) = crate::deploy::watch_release(d.options, &web_url(d), &d.image.sha) {
                    return Err(fail_live(
                        d,
                        &release,
                        format!("release v{} failed its watch: {why}", release.version),
                    ));
                }
            }
        }
        Ok(())
    }

    fn live_after(&self, step: DeployStep) -> bool {
        step == DeployStep::FollowRelease
    }

    fn rolled_back_to(&self) -> Option<String> {
        self.rolled_back_to.clone()
    }

    fn summary(&self) -> String {
        match &self.release {
            Some(release) => format!(
                "released v{} of {} ({}) at {}",
                release.version,
                self.heroku.app,
                self.image.sha,
                web_url(self)
            ),
            None => format!("nothing released to {}", self.heroku.app),
        }
    }
}

/// The image to release: the local one, else the pushed one pulled, else (never pushed,
/// or `--build`) one built here.
fn promote(d: &mut Deploy<'_>) -> Result<()> {
    let local = d.image.sha_tag();
    let runner = d.runner;
    if d.options.build {
        docker::build(runner, d.image)?;
        d.source = local;
        return Ok(());
    }
    // Heroku runs linux/amd64 only: a multi-architecture build's amd64 image, else
    // `repo:sha` when it is amd64 (on an ARM laptop it is the arm64 one).
    for candidate in [d.image.arch_tag(Arch::Amd64), local.clone()] {
        if !docker::image_exists(runner, &candidate) {
            continue;
        }
        match docker::local_architecture(runner, &candidate).as_deref() {
            Some("amd64") => {
                println!("    {candidate} is in the local Docker: releasing it");
                d.source = candidate;
                return Ok(());
            }
            other => println!(
                "    {candidate} is linux/{}: Heroku runs linux/amd64 only",
                other.unwrap_or("unknown")
            ),
        }
    }
    let pushed = d.pushed();
    let source = Registry::new(&d.options.registry, docker::registry_credentials())?;
    if source.manifest(&d.image.repo, &d.image.sha)?.is_none() {
        println!("    no pushed image {pushed} (push it with `cargo xtask docker push`): building it here");
        docker::build(runner, d.image)?;
        d.source = local;
        return Ok(());
    }
    if let Some((user, password)) = docker::registry_credentials() {
        let registry = d.options.registry.clone();
        let hub = crate::registry::is_docker_hub(&registry);
        docker::login(
            runner,
            d.config()?,
            (!hub).then_some(registry.as_str()),
            &user,
            &password,
        )?;
    }
    let config = d.config()?;
    // From an index, the amd64 image (the only one Heroku's registry takes).
    runner.run(
        "docker pull",
        config
            .docker(runner)
            .args(["pull", "--platform", "linux/amd64", &pushed]),
    )?;
    d.source = pushed;
    Ok(())
}

fn ledger_for(options: &Options, repo: &str, app: &str) -> Result<Ledger> {
    Ok(Ledger {
        registry: Registry::new(&options.registry, docker::registry_credentials())?,
        repo: repo.to_owned(),
        namespace: format!("heroku-{app}"),
    })
}

/// Says, before anything is released, whether the image knows every migration the app's
/// database has; refuses under `--strict`.
fn schema_guard(d: &mut Deploy<'_>) -> Result<()> {
    let knows = docker::local_label(d.runner, &d.source, ledger::MIGRATION_LABEL);
    let ledger = ledger_for(d.options, &d.image.repo, &d.heroku.app)?;
    let read = ledger
        .registry
        .manifest(&d.image.repo, &d.image.sha)
        .and_then(|manifest| Ok((manifest, ledger.read(&ledger.schema_tag())?)));
    let facts = read
        .as_ref()
        .map_err(|err| anyhow!("{err:#}"))
        .map(|(_, applied)| Facts {
            knows: knows.clone(),
            applied: applied.as_ref().and_then(|a| a.newest_migration.clone()),
        });
    guard::check(
        &format!("this release ({})", d.image.sha),
        facts,
        &d.options.registry,
        d.options.strict,
        "    ",
    )?;
    if let Ok((manifest, _)) = read {
        match manifest {
            Some(manifest) => {
                d.recorded = Some(ledger::Recorded {
                    manifest,
                    newest_migration: knows,
                    revision: Some(d.image.sha.clone()),
                });
            }
            None => println!(
                "    note: {} is not in {}: this release will not be recorded for the schema guard",
                d.image.sha_tag(),
                d.options.registry
            ),
        }
        d.ledger = Some(ledger);
    }
    Ok(())
}

/// After a release: `/readyz` for a bounded time; on failure, the previous successful
/// release again (unless `--no-rollback`), and an error naming both.
fn readiness_gate(d: &mut Deploy<'_>) -> Result<()> {
    let url = web_url(d);
    let Some(release) = d.release.clone() else {
        bail!("readiness check before a release");
    };
    let Err(why) = probe_ready(&url, d.wait().health_check) else {
        println!("    v{} is ready", release.version);
        return Ok(());
    };
    Err(fail_live(
        d,
        &release,
        format!("release v{} is not ready: {why}", release.version),
    ))
}

/// A live release that failed (`what`): the previous successful release again (unless
/// `--no-rollback`), and the error naming both.
fn fail_live(d: &mut Deploy<'_>, release: &Release, what: String) -> anyhow::Error {
    let previous = match d.heroku.releases(20) {
        Ok(releases) => releases
            .into_iter()
            .find(|r| r.version < release.version && r.status == "succeeded"),
        Err(err) => return anyhow!("{what}; the releases to roll back to cannot be read: {err:#}"),
    };
    let (failed, before) = (
        format!("v{}", release.version),
        previous.as_ref().map(|p| format!("v{}", p.version)),
    );
    let failure = Failure {
        what,
        release: &failed,
        previous: before.as_deref(),
        by_hand: format!("cargo xtask rollback {}", previous.as_ref().map_or(0, |p| p.version)),
    };
    let (heroku, wait, ledger) = (d.heroku, d.wait(), d.ledger.as_ref());
    let mut commit = None;
    let err = recover(d.runner, d.options.rollback, failure, || {
        let previous = previous.as_ref().ok_or_else(|| anyhow!("no earlier release"))?;
        let (rolled, revision) = roll_back_to(heroku, previous, release.version, wait, ledger)?;
        commit = revision;
        Ok(format!("released as v{}", rolled.version))
    });
    d.rolled_back_to = commit;
    err
}

/// Releases `target` again and waits for it; records its image as the new release's.
/// The new release, and the commit its image was built from (when the ledger knows it).
fn roll_back_to(
    heroku: &Heroku,
    target: &Release,
    current: i64,
    wait: Wait,
    ledger: Option<&Ledger>,
) -> Result<(Release, Option<String>)> {
    heroku.rollback(&target.id)?;
    let release = follow_release(heroku, current, wait, false)?;
    let mut commit = None;
    if let Some(ledger) = ledger {
        let recorded = ledger.image_of(target.version).map(|found| found.map(|(_, r)| r));
        match recorded {
            Ok(Some(recorded)) => {
                commit = recorded.revision.clone();
                if let Err(err) = ledger.record_release(release.version, &recorded.manifest) {
                    println!(
                        "    warning: the schema guard could not record v{}: {err:#}",
                        release.version
                    );
                }
            }
            Ok(None) => {}
            Err(err) => println!(
                "    warning: the schema guard could not read v{}: {err:#}",
                target.version
            ),
        }
    }
    Ok((release, commit))
}

fn web_url(d: &Deploy<'_>) -> String {
    match &d.app {
        Some(api::App { web_url: Some(url), .. }) => url.clone(),
        _ => format!("https://{}.herokuapp.com/", d.heroku.app),
    }
}

impl Platform for HerokuApp {
    type Deployment<'a> = Deploy<'a>;

    fn from_env(dry_run: bool) -> Result<HerokuApp> {
        let mut needed = env::Needed::for_dry_run(dry_run);
        let key = needed.var("HEROKU_API_KEY", "an API key: `heroku authorizations:create`");
        let app = needed.var("HEROKU_APP_NAME", "the Heroku app to release to");
        needed.check()?;
        let base = crate::http::checked_base_url(
            &env::optional("HEROKU_API_URL").unwrap_or_else(|| DEFAULT_API.to_owned()),
            "HEROKU_API_URL",
        )?;
        let registry = env::optional("HEROKU_REGISTRY").unwrap_or_else(|| DEFAULT_REGISTRY.to_owned());
        Ok(HerokuApp {
            heroku: Heroku::new(&base, key.clone(), app)?,
            key,
            registry,
        })
    }

    fn deployment<'a>(&'a self, runner: &'a Runner, image: &'a Image, options: &'a Options) -> Result<Deploy<'a>> {
        Ok(Deploy {
            runner,
            image,
            options,
            heroku: &self.heroku,
            key: &self.key,
            registry: &self.registry,
            app: None,
            config: None,
            source: image.sha_tag(),
            ledger: None,
            recorded: None,
            web_id: String::new(),
            release_id: String::new(),
            before: 0,
            release: None,
            rolled_back_to: None,
        })
    }

    /// `cargo xtask rollback [VERSION]`: the previous release (or VERSION) again, after
    /// the schema guard has said whether it knows the app's schema.
    fn rollback(&self, runner: &Runner, version: Option<i64>, options: &Options) -> Result<Option<String>> {
        let heroku = &self.heroku;
        if runner.dry_run {
            let app = &heroku.app;
            let target = version.map_or("the newest successful release before the current one".to_owned(), |v| {
                format!("v{v}")
            });
            println!("==> GET /apps/{app}/releases: {target}");
            println!(
                "==> schema guard: its image (tag {}:heroku-{app}-v<N> in {}) against the app's schema",
                options.repo, options.registry
            );
            println!(
                "==> POST /apps/{app}/releases {{\"release\": <its id>}}, then follow it until it succeeds or fails"
            );
            return Ok(None);
        }
        let releases = heroku.releases(20)?;
        let current = releases.first().map_or(0, |r| r.version);
        let chosen = match version {
            Some(version) => heroku.release(&version.to_string())?,
            None => releases
                .iter()
                .skip(1)
                .find(|r| r.status == "succeeded")
                .cloned()
                .ok_or_else(|| anyhow!("no earlier successful release of {} to roll back to", heroku.app))?,
        };
        let ledger = rollback_guard(heroku, &chosen, options)?;
        let (release, commit) = runner.step(&format!("roll back to v{}", chosen.version), || {
            roll_back_to(heroku, &chosen, current, options.wait, Some(&ledger))
        })?;
        println!(
            "released v{} of {} (the code and config of v{}); the database keeps its migrations",
            release.version, heroku.app, chosen.version
        );
        Ok(commit)
    }

    /// `cargo xtask run --target heroku -- COMMAND…`: a detached one-off dyno of the
    /// current release (`POST /apps/{app}/dynos`, type `run`) with `environment` as its
    /// extra config vars, followed until its process has exited (the dyno is gone), its
    /// output and exit status read back from the app's logs (a log session for that
    /// dyno), the exit status returned.
    fn run(&self, runner: &Runner, command: &[String], environment: &[(String, String)], wait: Wait) -> Result<i32> {
        let heroku = &self.heroku;
        // The API takes the command as one string; an argument with a space or a quote
        // in it cannot cross that unambiguously.
        if let Some(odd) = command
            .iter()
            .find(|a| a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\'))
        {
            bail!("the argument {odd:?} cannot be passed to a Heroku dyno's command (it is one string split at spaces): pass such a value with --env");
        }
        let shown = crate::deploy::display_command(command, environment);
        if runner.dry_run {
            println!("==> POST /apps/{}/dynos (type run, detached): {shown}", heroku.app);
            println!("==> GET /apps/{}/dynos/<id> until its process has exited", heroku.app);
            println!(
                "==> its output and exit status: POST /apps/{}/log-sessions for that dyno",
                heroku.app
            );
            return Ok(0);
        }
        let dyno = runner.step(&format!("run {shown} in a one-off dyno of {}", heroku.app), || {
            let dyno = heroku.run_dyno(&command.join(" "), environment)?;
            println!("    dyno {}", dyno.name);
            poll(
                wait,
                |progress| match heroku.dyno(&dyno.id)? {
                    Some(now) => {
                        progress.saw(&now.state, format!("{}: {}", dyno.name, now.state));
                        Ok(None)
                    }
                    None => Ok(Some(())),
                },
                |last| {
                    anyhow!(
                        "the dyno {} is still {} after {}s (see `heroku logs --dyno {} -a {}`)",
                        dyno.name,
                        if last.is_empty() { "starting" } else { last },
                        wait.timeout.as_secs(),
                        dyno.name,
                        heroku.app
                    )
                },
            )?;
            Ok(dyno)
        })?;
        // The logs may lag the dyno's end: read until Heroku's exit line is there.
        let deadline = Instant::now() + wait.timeout;
        let (lines, status) = poll(
            wait,
            |_| {
                let lines = heroku.dyno_logs(&dyno.name, 500, left_until(deadline))?;
                let status = lines.iter().find_map(|l| api::exit_status(l, &dyno.name));
                Ok(status.map(|s| (lines, s)))
            },
            |_| {
                anyhow!(
                    "the logs of {} hold no exit status yet (see `heroku logs --dyno {} -a {}`)",
                    dyno.name,
                    dyno.name,
                    heroku.app
                )
            },
        )?;
        println!("its output (the app's logs, dyno {}):", dyno.name);
        let own = format!("app[{}]: ", dyno.name);
        for line in &lines {
            if let Some((_, text)) = line.split_once(&own) {
                println!("    | {text}");
            }
        }
        println!(
            "oc-lettings {} exited with {status}",
            command.first().map_or("", String::as_str)
        );
        Ok(status)
    }

    /// `cargo xtask releases`
    fn releases(&self, runner: &Runner, count: usize) -> Result<()> {
        if runner.dry_run {
            println!("==> GET /apps/{}/releases (the newest {count})", self.heroku.app);
            return Ok(());
        }
        let now = chrono::Utc::now();
        println!("{:<7} {:<10} {:<9} description", "version", "status", "age");
        for release in self.heroku.releases(count)? {
            let marker = if release.current { " (current)" } else { "" };
            println!(
                "v{:<6} {:<10} {:<9} {}{marker}",
                release.version,
                release.status,
                age(&release.created_at, now),
                release.description
            );
        }
        Ok(())
    }
}

/// The schema guard of a rollback: which applied migrations `target`'s image does not know.
fn rollback_guard(heroku: &Heroku, target: &Release, options: &Options) -> Result<Ledger> {
    let ledger = ledger_for(options, &options.repo, &heroku.app)?;
    let read = ledger
        .image_of(target.version)
        .and_then(|image| Ok((image, ledger.read(&ledger.schema_tag())?)));
    match read {
        Ok((None, _)) => guard::refuse_or_warn(
            options.strict,
            "",
            &format!(
                "schema guard: no image recorded for v{} in {} (tag {}:{}): cannot tell which migrations it knows",
                target.version,
                options.registry,
                options.repo,
                ledger.release_tag(target.version)
            ),
        )?,
        Ok((Some((_, image)), applied)) => guard::check(
            &format!("v{}", target.version),
            Ok(Facts {
                knows: image.newest_migration,
                applied: applied.and_then(|a| a.newest_migration),
            }),
            &options.registry,
            options.strict,
            "",
        )?,
        Err(err) => guard::check(
            &format!("v{}", target.version),
            Err(err),
            &options.registry,
            options.strict,
            "",
        )?,
    }
    Ok(ledger)
}

/// "3 minutes ago" from an RFC 3339 time.
pub fn age(created_at: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(created) = chrono::DateTime::parse_from_rfc3339(created_at) else {
        return created_at.to_owned();
    };
    let seconds = (now - created.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match seconds {
        0..=59 => format!("{seconds}s ago"),
        60..=3599 => format!("{}m ago", seconds / 60),
        3600..=86_399 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_the_heroku_cli() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(age("2026-11-25T11:59:30Z", now), "30s ago");
        assert_eq!(age("2026-11-25T11:00:00Z", now), "1h ago");
        assert_eq!(age("2026-11-20T12:00:00Z", now), "5d ago");
        assert_eq!(age("garbage", now), "garbage");
    }

    #[test]
    fn log_lines_lose_their_time_only() {
        assert_eq!(
            api::log_message("2026-11-25T12:00:01.000000+00:00 app[release.1042]: error: x: y"),
            "app[release.1042]: error: x: y"
        );
        assert_eq!(api::log_message("no time here: x"), "no time here: x");
        let lines: Vec<String> = [
            "2026-11-25T11:59:59.000001+00:00 app[release.1041]: earlier",
            "2026-11-25T12:00:01.000000+00:00 app[release.1042]: this one",
            "no time",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(api::logged_since(&lines, "2026-11-25T12:00:00Z"), lines[1..].to_vec());
    }
}
