//! `cargo xtask <stage>`: the project's automation, in Rust, one module per stage.
//! Every stage prints what it runs and how long it took; `--dry-run` only prints.

mod bench;
mod cleanup;
mod coverage;
mod docker;
mod env;
mod git;
mod heroku;
mod lint;
mod postgres;
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
    /// rustfmt check and clippy with warnings as errors.
    Lint,
    /// The whole workspace's tests (the README's test command).
    Test,
    /// What CI runs on every branch: lint, then test.
    Ci,
    /// Line coverage of the site (cargo-llvm-cov), failing under 80 %.
    Coverage,
    /// Benchmarks: the site against nginx serving the same bytes (wrk), RSS, cold start.
    Bench(bench::BenchArgs),
    /// The Docker image: `docker build`, `docker push`.
    Docker {
        #[command(subcommand)]
        action: DockerAction,
    },
    /// Release this commit's image on Heroku (builds it first if needed).
    Deploy {
        #[command(flatten)]
        wait: WaitArgs,
        /// Image repository of the local image (default: DOCKER_REPO, DOCKERHUB_USERNAME/oc-lettings, oc-lettings).
        #[arg(long)]
        repo: Option<String>,
    },
    /// Release the previous release (or VERSION) again.
    Rollback {
        /// The release version to return to (default: the one before the current).
        version: Option<i64>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The app's last releases: version, status, age, description.
    Releases {
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
    },
    /// Log in (DOCKERHUB_USERNAME / DOCKERHUB_PASSWORD, password on stdin) and push both tags.
    Push {
        #[arg(long)]
        repo: Option<String>,
        /// Push to this registry instead of Docker Hub (e.g. an ECR host, or 127.0.0.1:5000).
        #[arg(long)]
        registry: Option<String>,
    },
}

#[derive(clap::Args)]
struct WaitArgs {
    /// Seconds to wait for the release to succeed or fail.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Seconds between two looks at the release.
    #[arg(long, default_value_t = 2.0)]
    poll_interval: f64,
    /// Seconds to wait for /healthz to answer after the release (0: no check).
    #[arg(long, default_value_t = 60)]
    health_check: u64,
}

impl WaitArgs {
    fn wait(&self) -> heroku::Wait {
        heroku::Wait {
            timeout: Duration::from_secs(self.timeout),
            interval: Duration::from_secs_f64(self.poll_interval.clamp(0.05, 60.0)),
            health_check: Duration::from_secs(self.health_check),
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runner = Runner::new(cli.dry_run, cli.verbose);
    match cli.stage {
        Stage::Lint => lint::run(&runner),
        Stage::Test => test::run(&runner),
        Stage::Ci => lint::run(&runner).and_then(|()| test::run(&runner)),
        Stage::Coverage => coverage::run(&runner),
        Stage::Bench(args) => bench::run(&runner, &args),
        Stage::Docker {
            action: DockerAction::Build { repo },
        } => docker::build(&runner, &Image::for_commit(docker::repo(repo))?),
        Stage::Docker {
            action: DockerAction::Push { repo, registry },
        } => docker::push(&runner, &Image::for_commit(docker::repo(repo))?, registry.as_deref()),
        Stage::Deploy { wait, repo } => heroku::deploy(&runner, &Image::for_commit(docker::repo(repo))?, wait.wait()),
        Stage::Rollback { version, wait } => heroku::rollback(&runner, version, wait.wait()),
        Stage::Releases { count } => heroku::releases(count),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
