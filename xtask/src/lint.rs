//! `cargo xtask lint`: formatting, clippy with warnings as errors, the CircleCI config
//! against CircleCI's published schema, and the supply chain with cargo-deny (`deny.toml`:
//! licenses, bans, sources; advisories when the advisory database can be fetched).

use anyhow::{bail, Result};

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
    runner.run("circleci config schema", &mut schema)?;
    supply_chain(runner)
}

/// Whether this is CI (CircleCI and most others set `CI=true`): there a missing tool is
/// an error, on a laptop a skipped check said in one line.
fn in_ci() -> bool {
    crate::env::optional("CI").is_some_and(|v| v != "false" && v != "0")
}

fn supply_chain(runner: &Runner) -> Result<()> {
    let installed = runner.dry_run
        || runner
            .capture("cargo deny", runner.cargo().args(["deny", "--version"]))
            .is_ok();
    if !installed {
        let why = "cargo-deny is not installed (cargo install cargo-deny --locked)";
        if in_ci() {
            bail!("supply chain: {why}");
        }
        println!("SKIPPED: supply chain check ({why})");
        return Ok(());
    }
    let mut offline = runner.cargo();
    offline.args(["deny", "--all-features", "check", "licenses", "bans", "sources"]);
    runner.run("cargo deny (licenses, bans, sources)", &mut offline)?;
    // Advisories need RustSec's database from GitHub: fetched where it can be.
    let mut fetch = runner.cargo();
    fetch.args(["deny", "fetch", "db"]);
    if !runner.dry_run {
        if let Err(err) = runner.capture("advisory database", &mut fetch) {
            println!(
                "SKIPPED: cargo deny advisories (the advisory database cannot be fetched: {})",
                first_line(&format!("{err:#}"))
            );
            return Ok(());
        }
    }
    let mut advisories = runner.cargo();
    advisories.args(["deny", "--all-features", "--offline", "check", "advisories"]);
    runner.run("cargo deny (advisories)", &mut advisories)
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or(text);
    let end = line.char_indices().nth(200).map_or(line.len(), |(i, _)| i);
    &line[..end]
}
