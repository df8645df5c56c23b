//! `cargo xtask test`: every test of the workspace.

use anyhow::Result;

use crate::runner::Runner;

pub fn run(runner: &Runner) -> Result<()> {
    let mut command = runner.cargo();
    command.args(["test", "--workspace", "--locked"]);
    runner.run("test", &mut command)
}
