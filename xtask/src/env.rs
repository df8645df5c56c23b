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
    names: Vec<String>,
    /// A dry run: a missing variable reads as `<NAME>` and is only noted.
    placeholders: bool,
}

impl Needed {
    /// For a dry run (`true`): nothing is required, since nothing is called; a missing
    /// variable reads as `<NAME>` in the plan, and [`Needed::check`] says so in one line.
    pub fn for_dry_run(dry_run: bool) -> Needed {
        Needed {
            placeholders: dry_run,
            ..Needed::default()
        }
    }

    /// The value of `name` (empty when missing: then [`Needed::check`] fails).
    pub fn var(&mut self, name: &str, what: &str) -> String {
        let value = optional(name);
        self.either(value, name, what)
    }

    /// Records `name` as missing unless `value` is there.
    pub fn either(&mut self, value: Option<String>, name: &str, what: &str) -> String {
        value.unwrap_or_else(|| {
            self.missing.push(format!("{name} ({what})"));
            self.names.push(name.to_owned());
            if self.placeholders {
                format!("<{name}>")
            } else {
                String::new()
            }
        })
    }

    /// Fails with every missing variable named, in the order asked (a dry run only
    /// notes them).
    pub fn check(self) -> Result<()> {
        if self.placeholders {
            if !self.names.is_empty() {
                println!(
                    "dry run: {} not set (shown as <NAME>; a real run needs {})",
                    self.names.join(", "),
                    if self.names.len() == 1 { "it" } else { "them" }
                );
            }
            return Ok(());
        }
        match self.missing.as_slice() {
            [] => Ok(()),
            [one] => bail!("missing variable {one}"),
            many => bail!("missing variables {}", many.join(", ")),
        }
    }
}
