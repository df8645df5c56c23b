//! The schema guard's memory: which image each release ran, and the newest migration any
//! release has applied, kept as tags in the image registry (`DOCKER_REGISTRY`) next to
//! the images themselves, so a laptop and CI read the same record:
//!
//! - `<repo>:heroku-<app>-v<N>`: the image of release vN (its manifest, unchanged);
//! - `<repo>:heroku-<app>-schema`: the image with the newest migration a release phase
//!   has run on the app's database (on ECS: `<repo>:ecs-<cluster>-<service>-schema` in
//!   the ECR repository, after each migration task).
//!
//! Each image carries its newest migration as the label `io.oc-lettings.newest-migration`
//! (the Dockerfile), so the registry alone tells what a release knows.

use std::path::Path;

use anyhow::Result;

use crate::registry::{Manifest, Registry};

pub const MIGRATION_LABEL: &str = "io.oc-lettings.newest-migration";
/// The commit an image was built from (the Dockerfile's OCI label).
pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";

/// The ledger of one app in one repository; its tags begin with `namespace`
/// (`heroku-<app>`, `ecs-<cluster>-<service>`).
pub struct Ledger {
    pub registry: Registry,
    pub repo: String,
    pub namespace: String,
}

/// An image as the ledger knows it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub manifest: Manifest,
    /// diesel's version of the newest migration it embeds (`20261201000003`).
    pub newest_migration: Option<String>,
    /// The commit it was built from (Sentry's release of a rollback's target).
    pub revision: Option<String>,
}

impl Ledger {
    pub fn release_tag(&self, version: i64) -> String {
        format!("{}-v{version}", self.namespace)
    }

    pub fn schema_tag(&self) -> String {
        format!("{}-schema", self.namespace)
    }

    /// The image under `tag` (or digest), with its newest migration; `None` when no such tag.
    pub fn read(&self, tag: &str) -> Result<Option<Recorded>> {
        let Some(manifest) = self.registry.manifest(&self.repo, tag)? else {
            return Ok(None);
        };
        let labels = self.registry.labels(&self.repo, &manifest.config_digest)?;
        let newest_migration = labels
            .get(MIGRATION_LABEL)
            .filter(|v| v.len() == 14 && v.bytes().all(|b| b.is_ascii_digit()))
            .cloned();
        let revision = labels
            .get(REVISION_LABEL)
            .filter(|v| (7..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit()))
            .cloned();
        Ok(Some(Recorded {
            manifest,
            newest_migration,
            revision,
        }))
    }

    /// The image of release `version`, or of the nearest release before it that has one:
    /// a release made outside the toolkit (a config change, an add-on) runs the image of
    /// the release before it.
    pub fn image_of(&self, version: i64) -> Result<Option<(i64, Recorded)>> {
        for v in (1..=version).rev().take(20) {
            if let Some(recorded) = self.read(&self.release_tag(v))? {
                return Ok(Some((v, recorded)));
            }
        }
        Ok(None)
    }

    /// Records that release `version` runs `image`.
    pub fn record_release(&self, version: i64, image: &Manifest) -> Result<()> {
        self.registry
            .put_manifest(&self.repo, &self.release_tag(version), image)
    }

    /// Records that a release phase ran `image`'s migrations, when they are newer than
    /// the schema recorded so far.
    pub fn record_schema(&self, image: &Recorded) -> Result<()> {
        let current = self.read(&self.schema_tag())?;
        let newer = match (&image.newest_migration, current.and_then(|c| c.newest_migration)) {
            (Some(new), Some(old)) => *new > old,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if newer {
            self.registry
                .put_manifest(&self.repo, &self.schema_tag(), &image.manifest)?;
        }
        Ok(())
    }
}

/// `20261201000003` as the migration directories name it: `2026-12-01-000003`.
pub fn display_version(version: &str) -> String {
    if version.len() == 14 && version.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}-{}-{}-{}",
            &version[..4],
            &version[4..6],
            &version[6..8],
            &version[8..]
        )
    } else {
        version.to_owned()
    }
}

/// The migrations of this checkout in `(known, applied]`: what a release that knows up to
/// `known` has not heard of, on a schema at `applied`. By directory name where this
/// checkout has them.
pub fn unknown_migrations(migrations_dir: &Path, known: &str, applied: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(migrations_dir)
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| {
                    let version = crate::docker::migration_version(name);
                    version.as_str() > known && version.as_str() <= applied
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names
        .last()
        .is_none_or(|last| crate::docker::migration_version(last) != applied)
    {
        names.push(display_version(applied));
    }
    names
}

/// The guard's verdict: `None` when `target` knows every applied migration (or nothing
/// can be told), else the sentence that says which it does not know.
pub fn verdict(
    target: &str,
    target_knows: Option<&str>,
    applied: Option<&str>,
    migrations_dir: &Path,
) -> Option<String> {
    let (known, applied) = (target_knows?, applied?);
    if known >= applied {
        return None;
    }
    let unknown = unknown_migrations(migrations_dir, known, applied);
    Some(format!(
        "{target} runs on a schema with {} applied, which it does not know (it knows up to {})",
        unknown.join(", "),
        display_version(known)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_the_directories_name_them() {
        assert_eq!(display_version("20261201000003"), "2026-12-01-000003");
        assert_eq!(display_version("unknown"), "unknown");
    }

    #[test]
    fn the_verdict_names_what_the_target_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "2026-11-20-000001_users",
            "2026-11-26-000001_login_throttle",
            "2026-12-01-000003_history",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let text = verdict("v41", Some("20261120000001"), Some("20261201000003"), dir.path()).unwrap();
        assert_eq!(
            text,
            "v41 runs on a schema with 2026-11-26-000001_login_throttle, 2026-12-01-000003_history applied, which it does not know (it knows up to 2026-11-20-000001)"
        );
        // A schema newer than this checkout: named by version.
        let text = verdict("v41", Some("20261201000003"), Some("20261224000001"), dir.path()).unwrap();
        assert!(text.contains("with 2026-12-24-000001 applied"), "{text}");
        assert_eq!(
            verdict("v42", Some("20261201000003"), Some("20261201000003"), dir.path()),
            None
        );
        assert_eq!(
            verdict("v42", Some("20261224000001"), Some("20261201000003"), dir.path()),
            None
        );
        assert_eq!(verdict("v42", None, Some("20261201000003"), dir.path()), None);
    }
}
