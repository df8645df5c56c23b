//! Settings from the environment, each missing one named in a one-line error.

use anyhow::{bail, Result};

/// The value of `name`, or an error naming it and saying what it is for.
pub fn require(name: &str, what: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => bail!("missing variable {name} ({what})"),
    }
}

pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
