//! What every platform's deploy shares: how it waits, the readiness probe, the schema
//! guard's report (`ledger`: what each image knows of the schema, read from the registry).
//! The Heroku and AWS deploys import from here, never from each
//! other; all three, and the registry client, use the one HTTP client of `crate::http`.

pub mod ledger;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How a deploy waits for its release.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub timeout: Duration,
    pub interval: Duration,
    pub health_check: Duration,
}

/// Asks `{web_url}readyz` until it answers 200 (the database reachable and its schema not
/// behind the release); `Err` says what it answered last.
pub fn probe_ready(web_url: &str, within: Duration) -> std::result::Result<(), String> {
    let url = format!("{}/readyz", web_url.trim_end_matches('/'));
    let client = crate::http::http_client().map_err(|err| format!("{err:#}"))?;
    let deadline = Instant::now() + within;
    loop {
        let answer = client.get(&url).timeout(Duration::from_secs(5)).send();
        let last = match answer {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let body: String = response.text().unwrap_or_default().chars().take(200).collect();
                format!("{url} answered {status}: {}", body.trim())
            }
            Err(err) => format!("{url} did not answer: {err}"),
        };
        if Instant::now() >= deadline {
            return Err(format!("{last} (for {}s)", within.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn migrations_dir() -> std::path::PathBuf {
    crate::runner::workspace_root().join("app/migrations/postgres")
}

/// A schema guard's finding: a refusal under `--strict`, else a warning line (`indent`
/// before it: a deploy's steps are indented, a rollback's lines are not).
pub fn refuse_or_warn(strict: bool, indent: &str, what: &str) -> Result<()> {
    if strict {
        bail!("{what}: refusing (--strict)");
    }
    println!("{indent}warning: {what}");
    Ok(())
}

/// The guard's report on `target` (`this release (<sha>)`, `v41`), which knows migrations
/// up to `knows`, on a schema at `applied`: the line that says both, then the finding
/// (which migrations it does not know) as [`refuse_or_warn`] says it.
pub fn report_schema(
    target: &str,
    knows: Option<&str>,
    applied: Option<&str>,
    strict: bool,
    indent: &str,
) -> Result<()> {
    println!(
        "{indent}{target} knows migrations up to {}; the app's schema has {}",
        knows.map_or("(no label)".to_owned(), ledger::display_version),
        applied.map_or("no recorded migrations".to_owned(), ledger::display_version)
    );
    match ledger::verdict(target, knows, applied, &migrations_dir()) {
        Some(verdict) => refuse_or_warn(strict, indent, &verdict),
        None => Ok(()),
    }
}
