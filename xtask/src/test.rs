//! `cargo xtask test`: every test of the workspace, on SQLite and, when a PostgreSQL server
//! can be had (see `postgres.rs`), on PostgreSQL too. With cargo-nextest installed it runs
//! them through nextest's `ci` profile (`.config/nextest.toml`: JUnit XML for CircleCI, no
//! retries, slow tests reported), then the doctests (which nextest does not run);
//! without it, plain `cargo test`. It says which.

use std::path::PathBuf;

use anyhow::Result;

use crate::postgres;
use crate::runner::{workspace_root, Runner};

/// Where the `ci` profile writes its JUnit report.
pub fn junit_path() -> PathBuf {
    workspace_root().join("target/nextest/ci/junit.xml")
}

/// The installed cargo-nextest's version line, if any.
fn nextest_version(runner: &Runner) -> Option<String> {
    runner
        .capture("cargo nextest", runner.cargo().args(["nextest", "--version"]))
        .ok()
        .and_then(|v| v.lines().next().map(str::to_owned))
}

pub fn run(runner: &Runner) -> Result<()> {
    let database = postgres::provide(runner.dry_run);
    println!("{}", database.describe());
    let url = database.url();
    let with_database = |command: &mut std::process::Command| {
        if let Some(url) = &url {
            command.env("TEST_DATABASE_URL", url);
        }
    };
    let result = match nextest_version(runner) {
        Some(version) => {
            println!(
                "test runner: {version} (profile ci; JUnit in {})",
                junit_path().display()
            );
            let mut nextest = runner.cargo();
            nextest.args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--profile",
                "ci",
                "--no-tests",
                "warn",
            ]);
            with_database(&mut nextest);
            let tests = runner.run("test (nextest)", &mut nextest);
            if !runner.dry_run {
                report_slowest(&junit_path(), 8);
            }
            let mut doc = runner.cargo();
            doc.args(["test", "--workspace", "--locked", "--doc"]);
            with_database(&mut doc);
            tests.and_then(|()| runner.run("doctests", &mut doc))
        }
        None => {
            println!("test runner: cargo test (cargo-nextest is not installed: `cargo install cargo-nextest --locked` for JUnit output)");
            let mut command = runner.cargo();
            command.args(["test", "--workspace", "--locked"]);
            with_database(&mut command);
            runner.run("test", &mut command)
        }
    };
    println!("{}", database.describe());
    result
}

/// The slowest tests of a JUnit report: (seconds, name), slowest first.
pub fn slowest(junit: &str, count: usize) -> Vec<(f64, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].to_owned())
    };
    let mut tests: Vec<(f64, String)> = junit
        .split("<testcase")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let seconds = attribute(tag, "time")?.parse().ok()?;
            let class = attribute(tag, "classname").unwrap_or_default();
            let name = attribute(tag, "name")?;
            Some((seconds, format!("{class} {name}").trim().to_owned()))
        })
        .collect();
    tests.sort_by(|a, b| b.0.total_cmp(&a.0));
    tests.truncate(count);
    tests
}

fn report_slowest(path: &std::path::Path, count: usize) {
    let Ok(junit) = std::fs::read_to_string(path) else {
        return;
    };
    println!("slowest tests:");
    for (seconds, name) in slowest(&junit, count) {
        println!("  {seconds:>7.2}s  {name}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_tests_are_read_from_junit() {
        let junit = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="0" errors="0" time="12.5">
  <testsuite name="oc-lettings::it" tests="3">
    <testcase name="fleet::a_rolling_restart" classname="oc-lettings::it" timestamp="2026-11-26T08:00:00Z" time="10.250">
    </testcase>
    <testcase name="pages::index" classname="oc-lettings::it" time="0.010"/>
    <testcase name="image::builds" classname="xtask::image" time="2.000"/>
  </testsuite>
</testsuites>"#;
        assert_eq!(
            slowest(junit, 2),
            vec![
                (10.25, "oc-lettings::it fleet::a_rolling_restart".to_owned()),
                (2.0, "xtask::image image::builds".to_owned()),
            ]
        );
        assert!(slowest("not xml", 3).is_empty());
    }
}
