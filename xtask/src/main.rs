//! `cargo xtask <stage>`: the project's automation, in Rust, one module per stage.
//! Every stage prints what it runs and how long it took; `--dry-run` only prints.

mod arch;
mod aws;
mod bench;
mod cleanup;
mod coverage;
mod deploy;
mod docker;
mod docs;
mod env;
mod git;
mod heroku;
mod http;
mod lint;
mod postgres;
mod registry;
mod runner;
mod test;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use docker::Image;
use runner::Runner;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, check and ship Orange County Lettings")]
struct Cli {
    /// Print the commands without running them.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Print more detail (full program paths, working directories, read-only queries).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    stage: Stage,
}

#[derive(Subcommand)]
enum Stage {
    /// rustfmt, clippy with warnings as errors, the CircleCI config's schema, cargo-deny.
    Lint,
    /// The whole workspace's tests (the README's test command).
    Test,
    /// What CI runs on every branch: lint, then test.
    Ci,
    /// Line coverage of the site (cargo-llvm-cov), failing under 80 %; HTML in target/llvm-cov/html.
    Coverage,
    /// The user guide (mdBook) into target/book, its internal links checked.
    Docs,
    /// Benchmarks: the site against nginx serving the same bytes (wrk), RSS, cold start.
    Bench(bench::BenchArgs),
    /// The Docker image: `docker build`, `docker push`.
    Docker {
        #[command(subcommand)]
        action: DockerAction,
    },
    /// Release this commit's pushed image: promote it, migrate once (Heroku's release
    /// phase, or a one-off ECS task), check /readyz, watch its 5xx share, roll back by
    /// itself on failure; the release and its deploy recorded in Sentry.
    Deploy {
        #[command(flatten)]
        target: TargetArg,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        watch: WatchArgs,
        /// Build the image here instead of promoting the pushed one.
        #[arg(long)]
        build: bool,
        /// Keep a release that fails its readiness check or its watch live (for inspection).
        #[arg(long)]
        no_rollback: bool,
        /// Refuse when the release does not know a migration the database has.
        #[arg(long)]
        strict: bool,
    },
    /// Release the previous release (or VERSION) again.
    Rollback {
        /// The release version (Heroku) or task definition revision (AWS) to return to
        /// (default: the one before the current).
        version: Option<i64>,
        #[command(flatten)]
        target: TargetArg,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        source: SourceArgs,
        /// Refuse when the target does not know a migration the database has.
        #[arg(long)]
        strict: bool,
    },
    /// One oc-lettings command in a one-off container of the running release (AWS: an ECS
    /// task on the service's network), its output shown and its exit code returned:
    /// `cargo xtask run --target aws --env DJANGO_SUPERUSER_PASSWORD -- createsuperuser --no-input --username admin`.
    Run {
        #[command(flatten)]
        target: TargetArg,
        #[command(flatten)]
        wait: WaitArgs,
        /// A local variable to pass to the command's environment (its value goes to the
        /// platform's API only, never on a command line); repeat for several.
        #[arg(long = "env", value_name = "NAME")]
        env: Vec<String>,
        /// The oc-lettings command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// The last releases: Heroku's versions, or the ECS service's task definition revisions.
    Releases {
        #[command(flatten)]
        target: TargetArg,
        /// How many.
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
}

#[derive(Subcommand)]
enum DockerAction {
    /// Build the static binary and the `FROM scratch` image, tagged `<repo>:<git sha>` and `:latest`.
    Build {
        #[arg(long)]
        repo: Option<String>,
        /// The architectures: linux/amd64 (the default, what Heroku runs), linux/arm64, or
        /// both, comma-separated (zig cross-compiles what musl-gcc cannot).
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
    },
    /// Log in (DOCKERHUB_USERNAME / DOCKERHUB_PASSWORD, password on stdin) and push both tags.
    Push {
        #[arg(long)]
        repo: Option<String>,
        /// Push to this registry instead of Docker Hub (default DOCKER_REGISTRY; e.g. an ECR host, or 127.0.0.1:5000).
        #[arg(long)]
        registry: Option<String>,
        /// The architectures built (as for `build`); with two, `repo:sha` and `repo:latest`
        /// become an image index of both.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
    },
}

/// Where to deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Platform {
    /// Heroku container releases (HEROKU_API_KEY, HEROKU_APP_NAME).
    Heroku,
    /// ECR and ECS Fargate (AWS_REGION, AWS credentials, ECS_CLUSTER, ECS_SERVICE).
    Aws,
}

#[derive(clap::Args)]
struct TargetArg {
    /// The platform (default DEPLOY_TARGET, else heroku).
    #[arg(long = "target", value_enum, env = "DEPLOY_TARGET", default_value = "heroku")]
    platform: Platform,
}

/// Where the pushed images are (the source of a promotion and the schema guard's record).
#[derive(clap::Args, Default)]
struct SourceArgs {
    /// Image repository (default: DOCKER_REPO, DOCKERHUB_USERNAME/oc-lettings, oc-lettings).
    #[arg(long)]
    repo: Option<String>,
    /// The registry `docker push` pushed to (default: DOCKER_REGISTRY, else Docker Hub).
    #[arg(long)]
    registry: Option<String>,
}

const WAIT_TIMEOUT: u64 = 600;
const WAIT_INTERVAL: f64 = 2.0;
const WAIT_HEALTH_CHECK: u64 = 60;

#[derive(clap::Args)]
struct WaitArgs {
    /// Seconds to wait for the release to succeed or fail.
    #[arg(long, default_value_t = WAIT_TIMEOUT)]
    timeout: u64,
    /// Seconds between two looks at the release.
    #[arg(long, default_value_t = WAIT_INTERVAL)]
    poll_interval: f64,
    /// Seconds to wait for /readyz to answer 200 after the release (0: no check).
    #[arg(long, default_value_t = WAIT_HEALTH_CHECK)]
    health_check: u64,
}

const WATCH_SECONDS: u64 = 180;

/// The watch after readiness.
#[derive(clap::Args)]
struct WatchArgs {
    /// Seconds to watch the new release's 5xx share after /readyz (0: no watch).
    #[arg(long = "watch", default_value_t = WATCH_SECONDS, value_name = "SECONDS")]
    seconds: u64,
    /// The share of 5xx answers, in percent, past which the release is rolled back.
    #[arg(long, default_value_t = 5.0, value_parser = parse_percent)]
    max_error_rate: f64,
    /// Fewer requests than this in the watch: no verdict (too little traffic).
    #[arg(long, default_value_t = 20)]
    watch_min_requests: u64,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage"))?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is not between 0 and 100"))
    }
}

impl WatchArgs {
    fn watch(&self, wait: &deploy::Wait) -> deploy::watch::Watch {
        deploy::watch::Watch {
            duration: Duration::from_secs(self.seconds),
            max_error_rate: self.max_error_rate / 100.0,
            min_requests: self.watch_min_requests,
            interval: wait.interval.max(Duration::from_secs_f64(0.2)),
        }
    }

    fn none() -> deploy::watch::Watch {
        deploy::watch::Watch {
            duration: Duration::ZERO,
            max_error_rate: 0.05,
            min_requests: 20,
            interval: Duration::from_secs(2),
        }
    }
}

impl Default for WaitArgs {
    fn default() -> Self {
        WaitArgs {
            timeout: WAIT_TIMEOUT,
            poll_interval: WAIT_INTERVAL,
            health_check: WAIT_HEALTH_CHECK,
        }
    }
}

impl SourceArgs {
    fn options(self, wait: deploy::Wait, build: bool, rollback: bool, strict: bool) -> deploy::Options {
        deploy::Options {
            wait,
            repo: docker::repo(self.repo),
            registry: docker::registry(self.registry),
            build,
            rollback,
            strict,
            watch: WatchArgs::none(),
            sentry: None,
        }
    }
}

impl WaitArgs {
    fn wait(&self) -> deploy::Wait {
        deploy::Wait {
            timeout: Duration::from_secs(self.timeout),
            interval: Duration::from_secs_f64(self.poll_interval.clamp(0.05, 60.0)),
            health_check: Duration::from_secs(self.health_check),
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runner = Runner::new(cli.dry_run, cli.verbose);
    let done = match cli.stage {
        Stage::Lint => lint::run(&runner),
        Stage::Test => test::run(&runner),
        Stage::Ci => lint::run(&runner).and_then(|()| test::run(&runner)),
        Stage::Coverage => coverage::run(&runner),
        Stage::Docs => docs::run(&runner),
        Stage::Bench(args) => bench::run(&runner, &args),
        Stage::Docker {
            action: DockerAction::Build { repo, platform },
        } => docker::build_for(
            &runner,
            &Image::for_commit(docker::repo(repo))?,
            &arch::parse_platforms(&platform)?,
        ),
        Stage::Docker {
            action:
                DockerAction::Push {
                    repo,
                    registry,
                    platform,
                },
        } => docker::push(
            &runner,
            &Image::for_commit(docker::repo(repo))?,
            &docker::registry(registry),
            &arch::parse_platforms(&platform)?,
        ),
        Stage::Deploy {
            target,
            wait,
            source,
            watch,
            build,
            no_rollback,
            strict,
        } => {
            let image = Image::for_commit(docker::repo(source.repo.clone()))?;
            let mut options = source.options(wait.wait(), build, !no_rollback, strict);
            options.watch = watch.watch(&options.wait);
            on_platform(&runner, target.platform, deploy::Stage::Deploy(image), &options).map(|_| ())
        }
        Stage::Rollback {
            version,
            target,
            wait,
            source,
            strict,
        } => {
            let options = source.options(wait.wait(), false, false, strict);
            on_platform(&runner, target.platform, deploy::Stage::Rollback(version), &options).map(|_| ())
        }
        Stage::Releases { count, target } => {
            let options = SourceArgs::default().options(WaitArgs::default().wait(), false, false, false);
            on_platform(&runner, target.platform, deploy::Stage::Releases(count), &options).map(|_| ())
        }
        Stage::Run {
            target,
            wait,
            env,
            command,
        } => {
            let options = SourceArgs::default().options(wait.wait(), false, false, false);
            return on_platform(&runner, target.platform, deploy::Stage::Run { command, env }, &options)
                .map(|code| ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// The one place the platform is chosen: everything after it is the platform's
/// `deploy::Platform` implementation.
fn on_platform(
    runner: &Runner,
    platform: Platform,
    stage: deploy::Stage,
    options: &deploy::Options,
) -> anyhow::Result<i32> {
    match platform {
        Platform::Heroku => deploy::run::<heroku::HerokuApp>(runner, stage, options),
        Platform::Aws => deploy::run::<aws::EcsService>(runner, stage, options),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
