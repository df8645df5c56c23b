//! `cargo xtask test`: every test of the workspace, on SQLite and, when a PostgreSQL server
//! can be had (see `postgres.rs`), on PostgreSQL too.

use anyhow::Result;

use crate::postgres;
use crate::runner::Runner;

pub fn run(runner: &Runner) -> Result<()> {
    let database = postgres::provide(runner.dry_run);
    println!("{}", database.describe());
    let mut command = runner.cargo();
    command.args(["test", "--workspace", "--locked"]);
    if let Some(url) = database.url() {
        command.env("TEST_DATABASE_URL", url);
    }
    let result = runner.run("test", &mut command);
    println!("{}", database.describe());
    result
}
