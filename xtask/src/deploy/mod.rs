//! The platform-neutral core of `deploy`, `rollback` and `releases`. A platform (Heroku,
//! AWS ECS) implements [`Platform`]: it reads its settings, makes a [`Deployment`] (a plan
//! of its own steps, which [`deploy`] prints under `--dry-run` and walks otherwise), rolls
//! back and lists its releases. What the platforms share lives here: how they wait
//! (`poll`), the readiness probe (`readiness`), the rollback decision (`recovery`), the
//! schema guard (`guard`) and its record in the registry (`ledger`), the watch after
//! readiness (`watch`) and the release's record in Sentry (`sentry`). The platforms import
//! from here, never from each other; all of them, and the registry client, use the one
//! HTTP client of `crate::http`.

pub mod guard;
pub mod ledger;
pub mod poll;
pub mod readiness;
pub mod recovery;
pub mod sentry;
pub mod watch;

use std::rc::Rc;

use anyhow::Result;

use crate::docker::Image;
use crate::runner::Runner;
pub use poll::Wait;

/// What `deploy` and `rollback` are asked to do, whatever the platform.
#[derive(Debug, Clone)]
pub struct Options {
    pub wait: Wait,
    /// The repository `docker push` pushed to (`DOCKER_REPO`, …).
    pub repo: String,
    /// The registry `docker push` pushed to (`DOCKER_REGISTRY`): the source of the image
    /// and the schema guard's record.
    pub registry: String,
    /// Build the image here instead of promoting the pushed one (where the platform can).
    pub build: bool,
    /// Roll back by itself when the release goes live and fails.
    pub rollback: bool,
    /// Refuse when the target does not know a migration the database has.
    pub strict: bool,
    /// How long and how strictly to watch the release after `/readyz`.
    pub watch: watch::Watch,
    /// Where releases and deploys are recorded (read by `run`; `None` when unset).
    pub sentry: Option<Rc<sentry::Sentry>>,
}

/// A deploy under way on one platform: its plan, and what its steps learn for the steps
/// after them. The plan is data: `--dry-run` prints it, the real run walks the same list,
/// so the two cannot drift apart.
pub trait Deployment {
    type Step: Copy;

    /// The steps, in order.
    fn plan(&self) -> Vec<Self::Step>;
    /// What the step does, as the plan and the progress lines say it.
    fn describe(&self, step: Self::Step) -> String;
    fn run(&mut self, step: Self::Step) -> Result<()>;
    /// The closing line once every step has run.
    fn summary(&self) -> String;
    /// Whether the release is live once `step` has run (the rollout's end: Sentry's
    /// deploy marker goes there, before readiness and the watch judge it).
    fn live_after(&self, step: Self::Step) -> bool;
    /// After a failed step: the commit of the release it rolled back to, when it did
    /// (Sentry records a deploy of that release).
    fn rolled_back_to(&self) -> Option<String> {
        None
    }
}

/// A platform the site is released to.
pub trait Platform: Sized {
    type Deployment<'a>: Deployment
    where
        Self: 'a;

    /// The platform's settings from the environment (every missing one named in one line;
    /// under `--dry-run`, shown as `<NAME>`: a dry run calls no API and needs no
    /// credentials).
    fn from_env(dry_run: bool) -> Result<Self>;
    /// A deploy of `image`, not yet begun.
    fn deployment<'a>(
        &'a self,
        runner: &'a Runner,
        image: &'a Image,
        options: &'a Options,
    ) -> Result<Self::Deployment<'a>>;
    /// The previous release (or `to`) again, after the schema guard has spoken; the
    /// commit it returned to, when its image names one. Under `--dry-run`, the calls it
    /// would make, none made.
    fn rollback(&self, runner: &Runner, to: Option<i64>, options: &Options) -> Result<Option<String>>;
    /// The last `count` releases, newest first. Under `--dry-run`, the call it would make.
    fn releases(&self, runner: &Runner, count: usize) -> Result<()>;
    /// `cargo xtask run`: one `oc-lettings` command (`command`, its arguments) in a
    /// one-off container of the running release, with `environment` as overrides; its
    /// output shown, its exit code returned.
    fn run(&self, runner: &Runner, command: &[String], environment: &[(String, String)], wait: Wait) -> Result<i32>;
}

/// `cargo xtask deploy`: the platform's plan, printed (`--dry-run`) or walked step by step,
/// between the release's creation in Sentry and its deploy record there.
pub fn deploy<P: Platform>(runner: &Runner, platform: &P, image: &Image, options: &Options) -> Result<()> {
    let mut deployment = platform.deployment(runner, image, options)?;
    let started = sentry::now();
    let sentry = options.sentry.as_deref();
    if runner.dry_run {
        match sentry {
            Some(s) => println!(
                "==> Sentry: release {} of project {} with its commit (POST /organizations/{}/releases/)",
                sentry::version(&image.sha),
                s.project,
                s.org
            ),
            None => println!("==> Sentry: no release recorded (SENTRY_AUTH_TOKEN, SENTRY_ORG or SENTRY_PROJECT unset)"),
        }
    } else if let Some(sentry) = sentry {
        let commit = sentry::commit_info(&image.sha);
        in_sentry(
            runner,
            &format!("Sentry: release {} with its commit", sentry::version(&image.sha)),
            || sentry.new_release(&commit),
        );
    }
    for step in deployment.plan() {
        let name = deployment.describe(step);
        if runner.dry_run {
            println!("==> {name}");
            continue;
        }
        if let Err(err) = runner.step(&name, || deployment.run(step)) {
            if let (Some(sentry), Some(commit)) = (sentry, deployment.rolled_back_to()) {
                record_deploy(runner, sentry, &commit, &sentry::now(), Some("automatic rollback"));
            }
            return Err(err);
        }
        if let (Some(sentry), true) = (sentry, deployment.live_after(step)) {
            let released = sentry::now();
            in_sentry(
                runner,
                &format!("Sentry: finalize {}", sentry::version(&image.sha)),
                || sentry.finalize(&image.sha, &released),
            );
            record_deploy(runner, sentry, &image.sha, &started, None);
        }
    }
    if runner.dry_run {
        if sentry.is_some() {
            println!(
                "==> Sentry: once the release is live, finalize it and record its deploy to {} (PUT …/releases/{}/, POST …/deploys/); a rollback records a deploy of the release it returns to",
                sentry::environment(),
                sentry::version(&image.sha)
            );
        }
        return Ok(());
    }
    println!("{}", deployment.summary());
    Ok(())
}

/// A call to Sentry as a step: a failure is a warning, never the deploy's (the release is
/// live whatever Sentry says).
fn in_sentry(runner: &Runner, name: &str, call: impl FnOnce() -> Result<()>) {
    if let Err(err) = runner.step(name, call) {
        println!("    warning: {err:#} (the deploy goes on)");
    }
}

/// Sentry's `deploys new` for `commit`'s release, to the environment the site reports.
fn record_deploy(runner: &Runner, sentry: &sentry::Sentry, commit: &str, started: &str, name: Option<&str>) {
    let environment = sentry::environment();
    let finished = sentry::now();
    let deploy = sentry::Deploy {
        environment: &environment,
        name,
        started,
        finished: &finished,
    };
    in_sentry(
        runner,
        &format!("Sentry: deploy of {} to {environment}", sentry::version(commit)),
        || sentry.record_deploy(commit, &deploy),
    );
}

/// The watch after readiness, as a platform's step runs it: `Err` says why the release
/// failed it (the platform then rolls back as for a failed readiness check).
pub fn watch_release(options: &Options, web_url: &str, commit: &str) -> std::result::Result<(), String> {
    let since = sentry::now();
    let source = match watch::source(web_url, commit, options.sentry.as_deref(), &since) {
        Ok(source) => source,
        Err(why) => {
            println!("    not watched: {why}");
            return Ok(());
        }
    };
    println!(
        "    watching {} for {}s through {}",
        sentry::version(commit),
        options.watch.duration.as_secs(),
        source.describe()
    );
    let seen = watch::watch(&options.watch, &source, commit)?;
    println!("    {seen}");
    Ok(())
}

/// The plan's line for the watch.
pub fn describe_watch(options: &Options) -> String {
    format!(
        "watch the release for {}s: its share of 5xx answers, from the instances' /metrics (METRICS_TOKEN) or else Sentry's traces, {} past {}%",
        options.watch.duration.as_secs(),
        if options.rollback {
            "rolled back by itself"
        } else {
            "kept live (--no-rollback)"
        },
        options.watch.max_error_rate * 100.0
    )
}

/// The deploy stages on platform `P`, chosen once by `main`.
pub enum Stage {
    Deploy(Image),
    Rollback(Option<i64>),
    Releases(usize),
    /// A one-off command and the names of the local variables it gets as overrides.
    Run {
        command: Vec<String>,
        env: Vec<String>,
    },
}

/// Runs `stage` on `P`; the exit code for the process (a one-off command's own).
pub fn run<P: Platform>(runner: &Runner, stage: Stage, options: &Options) -> Result<i32> {
    let platform = P::from_env(runner.dry_run)?;
    let mut options = options.clone();
    if matches!(stage, Stage::Deploy(_) | Stage::Rollback(_)) {
        match sentry::Settings::from_env()? {
            sentry::Settings::Set(sentry) => options.sentry = Some(Rc::new(sentry)),
            sentry::Settings::Unset(line) if !runner.dry_run => println!("{line}"),
            sentry::Settings::Unset(_) => {}
        }
    }
    let options = &options;
    match stage {
        Stage::Deploy(image) => deploy(runner, &platform, &image, options).map(|()| 0),
        Stage::Rollback(to) => {
            let started = sentry::now();
            let commit = platform.rollback(runner, to, options)?;
            if let (Some(sentry), false) = (options.sentry.as_deref(), runner.dry_run) {
                match commit {
                    Some(commit) => record_deploy(runner, sentry, &commit, &started, Some("rollback")),
                    None => println!("Sentry: no deploy recorded (the image rolled back to names no commit)"),
                }
            }
            Ok(0)
        }
        Stage::Releases(count) => platform.releases(runner, count).map(|()| 0),
        Stage::Run { command, env } => {
            let environment = overrides(&env, runner.dry_run)?;
            platform.run(runner, &command, &environment, options.wait)
        }
    }
}

/// The values of the local variables `names`, for a one-off command's environment (every
/// missing one named at once). Their values go to the platform's API only: never on a
/// command line, never printed.
pub fn overrides(names: &[String], dry_run: bool) -> Result<Vec<(String, String)>> {
    let mut needed = crate::env::Needed::for_dry_run(dry_run);
    let values: Vec<(String, String)> = names
        .iter()
        .map(|name| (name.clone(), needed.var(name, "passed with --env")))
        .collect();
    needed.check()?;
    Ok(values)
}

/// A one-off command as a person reads it (for the progress lines; no value of its
/// environment).
pub fn display_command(command: &[String], environment: &[(String, String)]) -> String {
    let mut shown = format!("oc-lettings {}", command.join(" "));
    if !environment.is_empty() {
        let names: Vec<&str> = environment.iter().map(|(n, _)| n.as_str()).collect();
        shown.push_str(&format!(" (with {} from this environment)", names.join(", ")));
    }
    shown
}
