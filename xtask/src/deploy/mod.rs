//! The platform-neutral core of `deploy`, `rollback` and `releases`. A platform (Heroku,
//! AWS ECS) implements [`Platform`]: it reads its settings, makes a [`Deployment`] (a plan
//! of its own steps, which [`deploy`] prints under `--dry-run` and walks otherwise), rolls
//! back and lists its releases. What the platforms share lives here: how they wait
//! (`poll`), the readiness probe (`readiness`), the rollback decision (`recovery`), the
//! schema guard (`guard`) and its record in the registry (`ledger`). The platforms import
//! from here, never from each other; all of them, and the registry client, use the one
//! HTTP client of `crate::http`.

pub mod guard;
pub mod ledger;
pub mod poll;
pub mod readiness;
pub mod recovery;

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
    /// The previous release (or `to`) again, after the schema guard has spoken. Under
    /// `--dry-run`, the calls it would make, none made.
    fn rollback(&self, runner: &Runner, to: Option<i64>, options: &Options) -> Result<()>;
    /// The last `count` releases, newest first. Under `--dry-run`, the call it would make.
    fn releases(&self, runner: &Runner, count: usize) -> Result<()>;
    /// `cargo xtask run`: one `oc-lettings` command (`command`, its arguments) in a
    /// one-off container of the running release, with `environment` as overrides; its
    /// output shown, its exit code returned.
    fn run(&self, runner: &Runner, command: &[String], environment: &[(String, String)], wait: Wait) -> Result<i32>;
}

/// `cargo xtask deploy`: the platform's plan, printed (`--dry-run`) or walked step by step.
pub fn deploy<P: Platform>(runner: &Runner, platform: &P, image: &Image, options: &Options) -> Result<()> {
    let mut deployment = platform.deployment(runner, image, options)?;
    for step in deployment.plan() {
        let name = deployment.describe(step);
        if runner.dry_run {
            println!("==> {name}");
            continue;
        }
        runner.step(&name, || deployment.run(step))?;
    }
    if !runner.dry_run {
        println!("{}", deployment.summary());
    }
    Ok(())
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
    match stage {
        Stage::Deploy(image) => deploy(runner, &platform, &image, options).map(|()| 0),
        Stage::Rollback(to) => platform.rollback(runner, to, options).map(|()| 0),
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
