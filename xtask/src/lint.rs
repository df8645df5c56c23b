//! `cargo xtask lint`: formatting, clippy with warnings as errors, and the CircleCI
//! config against CircleCI's published schema.

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
    runner.run("clippy", &mut clippy)?;
    let mut schema = runner.command("check-jsonschema");
    schema.args(["--builtin-schema", "vendor.circle-ci", ".circleci/config.yml"]);
    runner.run("circleci config schema", &mut schema)
}
