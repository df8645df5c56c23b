//! The schema guard: before a release (or a rollback) goes live, whether its image knows
//! every migration the database has. Each platform reads the two facts (what the image
//! knows, what the database has applied: `ledger`); what they mean is decided here.

use anyhow::{bail, Result};

use super::ledger;

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

/// The two facts the guard weighs, read from a platform's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The newest migration the image knows (its label), if it has one.
    pub knows: Option<String>,
    /// The newest migration the database has, as recorded.
    pub applied: Option<String>,
}

/// The guard's report on `target` (`this release (<sha>)`, `v41`, `revision 3`): the line
/// that says both facts, then the finding (which migrations it does not know) as
/// [`refuse_or_warn`] says it. A record that could not be read (`facts` is `Err`) is
/// said, with `record` naming where it is, and refused under `--strict`; it never stops
/// a deploy otherwise.
pub fn check(target: &str, facts: Result<Facts>, record: &str, strict: bool, indent: &str) -> Result<()> {
    let facts = match facts {
        Ok(facts) => facts,
        Err(err) => {
            return refuse_or_warn(
                strict,
                indent,
                &format!("schema guard: cannot read the record in {record}: {err:#}"),
            )
        }
    };
    println!(
        "{indent}{target} knows migrations up to {}; the app's schema has {}",
        facts
            .knows
            .as_deref()
            .map_or("(no label)".to_owned(), ledger::display_version),
        facts
            .applied
            .as_deref()
            .map_or("no recorded migrations".to_owned(), ledger::display_version)
    );
    match ledger::verdict(
        target,
        facts.knows.as_deref(),
        facts.applied.as_deref(),
        &migrations_dir(),
    ) {
        Some(verdict) => refuse_or_warn(strict, indent, &verdict),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(knows: Option<&str>, applied: Option<&str>) -> Result<Facts> {
        Ok(Facts {
            knows: knows.map(str::to_owned),
            applied: applied.map(str::to_owned),
        })
    }

    #[test]
    fn an_image_behind_the_schema_is_refused_only_under_strict() {
        let newest = "20991231000001";
        assert!(check("v41", facts(Some("20261201000003"), Some(newest)), "r", false, "").is_ok());
        let err = check("v41", facts(Some("20261201000003"), Some(newest)), "r", true, "").map_err(|e| e.to_string());
        let Err(line) = err else {
            panic!("a release behind the schema passed --strict");
        };
        assert!(line.contains("v41") && line.ends_with("refusing (--strict)"), "{line}");
    }

    #[test]
    fn an_unreadable_record_is_a_warning_or_a_strict_refusal() {
        let unreadable = || Err(anyhow::anyhow!("connection refused"));
        assert!(check("v41", unreadable(), "127.0.0.1:9", false, "").is_ok());
        let line = check("v41", unreadable(), "127.0.0.1:9", true, "")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            line,
            "schema guard: cannot read the record in 127.0.0.1:9: connection refused: refusing (--strict)"
        );
    }

    #[test]
    fn an_image_that_knows_the_schema_passes_strict() {
        assert!(check(
            "v41",
            facts(Some("20261201000003"), Some("20261201000003")),
            "r",
            true,
            ""
        )
        .is_ok());
        assert!(check("v41", facts(None, None), "r", true, "").is_ok());
    }
}
