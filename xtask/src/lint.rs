//! `cargo xtask lint`: formatting and clippy, warnings as errors.

use anyhow::Result;

use crate::runner::Runner;

pub fn run(runner: &Runner) -> Result<()> {
    let mut fmt = runner.cargo();
    fmt.args(["fmt", "--all", "--check"]);
    runner.run("rustfmt", &mut fmt)?;
    let mut clippy = runner.cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    runner.run("clippy", &mut clippy)
}
