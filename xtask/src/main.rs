//! `cargo xtask <stage>`: the project's automation, in Rust, one module per stage.
//! Every stage prints what it runs and how long it took; `--dry-run` only prints.

mod lint;
mod postgres;
mod runner;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use runner::Runner;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, check and ship Orange County Lettings")]
struct Cli {
    /// Print the commands without running them.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Print more detail (the full command lines and environment that matter).
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runner = Runner::new(cli.dry_run, cli.verbose);
    let result = match cli.stage {
        Stage::Lint => lint::run(&runner),
        Stage::Test => test::run(&runner),
        Stage::Ci => lint::run(&runner).and_then(|()| test::run(&runner)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
