//! Settings from the environment, every missing one named in one line.

use anyhow::{bail, Result};

pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads several required variables and reports every missing one at once (not the first
/// only, which would take one run per variable to find them all).
#[derive(Default)]
pub struct Needed {
    missing: Vec<String>,
}

impl Needed {
    /// The value of `name` (empty when missing: then [`Needed::check`] fails).
    pub fn var(&mut self, name: &str, what: &str) -> String {
        match optional(name) {
            Some(value) => value,
            None => {
                self.missing.push(format!("{name} ({what})"));
                String::new()
            }
        }
    }

    /// Records `name` as missing unless `value` is there.
    pub fn either(&mut self, value: Option<String>, name: &str, what: &str) -> String {
        value.unwrap_or_else(|| {
            self.missing.push(format!("{name} ({what})"));
            String::new()
        })
    }

    /// Fails with every missing variable named, in the order asked.
    pub fn check(self) -> Result<()> {
        match self.missing.as_slice() {
            [] => Ok(()),
            [one] => bail!("missing variable {one}"),
            many => bail!("missing variables {}", many.join(", ")),
        }
    }
}
