//! What a deploy does when its release went live and then failed (a rollout that did not
//! complete, a `/readyz` that never answered 200): the one decision every platform makes
//! the same way, and the one sentence that reports it.

use anyhow::{anyhow, Result};

use crate::runner::Runner;

/// A live release that failed.
pub struct Failure<'a> {
    /// What went wrong, as one line ("release v44 is not ready: …").
    pub what: String,
    /// The failed release, as the platform names it ("v44", "oc-lettings:3").
    pub release: &'a str,
    /// The release to return to, when there is one ("v42", "oc-lettings:1").
    pub previous: Option<&'a str>,
    /// The command that returns to `previous` by hand (said under `--no-rollback`).
    pub by_hand: String,
}

/// Rolls back to the previous release (as the step `rolling back to …`) unless
/// `--no-rollback` keeps the failed one live; either way, the error that names both
/// releases and what became of them. `roll_back` returns what the platform adds ("released
/// as v45").
pub fn recover(
    runner: &Runner,
    roll_back_allowed: bool,
    failure: Failure<'_>,
    roll_back: impl FnOnce() -> Result<String>,
) -> anyhow::Error {
    let Failure {
        what,
        release,
        previous,
        by_hand,
    } = failure;
    let Some(previous) = previous else {
        return anyhow!("{what}; no earlier release to roll back to");
    };
    if !roll_back_allowed {
        return anyhow!("{what}; {release} kept live (--no-rollback): `{by_hand}` returns to {previous}");
    }
    match runner.step(&format!("{release} failed: rolling back to {previous}"), roll_back) {
        Ok(detail) if detail.is_empty() => anyhow!("{what}; rolled back to {previous}"),
        Ok(detail) => anyhow!("{what}; rolled back to {previous} ({detail})"),
        Err(err) => anyhow!("{what}; the rollback to {previous} failed too: {err:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(previous: Option<&str>) -> Failure<'_> {
        Failure {
            what: "release v44 is not ready: /readyz answered 503".into(),
            release: "v44",
            previous,
            by_hand: "cargo xtask rollback 42".into(),
        }
    }

    fn runner() -> Runner {
        Runner::new(false, false)
    }

    #[test]
    fn a_failed_release_is_rolled_back_and_both_are_named() {
        let mut rolled = false;
        let err = recover(&runner(), true, failure(Some("v42")), || {
            rolled = true;
            Ok("released as v45".into())
        });
        assert!(rolled);
        assert_eq!(
            err.to_string(),
            "release v44 is not ready: /readyz answered 503; rolled back to v42 (released as v45)"
        );
    }

    #[test]
    fn no_rollback_keeps_it_live_and_never_rolls_back() {
        let err = recover(&runner(), false, failure(Some("v42")), || {
            panic!("rolled back under --no-rollback")
        });
        assert_eq!(
            err.to_string(),
            "release v44 is not ready: /readyz answered 503; v44 kept live (--no-rollback): \
             `cargo xtask rollback 42` returns to v42"
        );
    }

    #[test]
    fn nothing_to_return_to_and_a_failed_rollback_are_said() {
        let err = recover(&runner(), true, failure(None), || panic!("rolled back to nothing"));
        assert!(
            err.to_string().ends_with("; no earlier release to roll back to"),
            "{err}"
        );
        let err = recover(&runner(), true, failure(Some("v42")), || {
            Err(anyhow!("release v45 failed"))
        });
        assert!(
            err.to_string()
                .ends_with("; the rollback to v42 failed too: release v45 failed"),
            "{err}"
        );
    }
}
