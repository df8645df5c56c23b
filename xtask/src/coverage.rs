//! `cargo xtask coverage`: line coverage of the site with cargo-llvm-cov, on both
//! databases, failing under the original project's bar (80 %).

use anyhow::{bail, Result};

use crate::postgres;
use crate::runner::Runner;

/// The original's bar (pytest-cov `--cov-fail-under=80`).
pub const MIN_LINES_PERCENT: u32 = 80;

pub fn run(runner: &Runner) -> Result<()> {
    if !runner.dry_run
        && runner
            .capture("cargo llvm-cov", runner.cargo().args(["llvm-cov", "--version"]))
            .is_err()
    {
        bail!(
            "coverage: cargo-llvm-cov is not installed (cargo install cargo-llvm-cov --locked && rustup component add llvm-tools-preview)"
        );
    }
    let database = postgres::provide(runner.dry_run);
    println!("{}", database.describe());
    let mut command = runner.cargo();
    command.args(["llvm-cov", "--package", "oc-lettings", "--locked", "--no-report"]);
    if let Some(url) = database.url() {
        command.env("TEST_DATABASE_URL", url);
    }
    runner.run("coverage", &mut command)?;
    // One run, two reports: HTML for people (a CircleCI artifact), the summary for the bar.
    runner.run("coverage html", runner.cargo().args(["llvm-cov", "report", "--html"]))?;
    runner.run(
        "coverage summary",
        runner.cargo().args([
            "llvm-cov",
            "report",
            "--summary-only",
            "--fail-under-lines",
            &MIN_LINES_PERCENT.to_string(),
        ]),
    )?;
    if !runner.dry_run {
        println!(
            "coverage report: {}",
            crate::runner::workspace_root()
                .join("target/llvm-cov/html/index.html")
                .display()
        );
    }
    Ok(())
}
