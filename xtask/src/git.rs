//! The commit being built (image tags, `--version`, Sentry's release).

use std::process::Command;

use anyhow::{Context, Result};

use crate::runner::workspace_root;

/// `CIRCLE_SHA1` on CircleCI, else `git rev-parse HEAD` (with `-dirty` when the work tree
/// has uncommitted changes, so such an image never passes for the commit).
pub fn sha() -> Result<String> {
    if let Some(sha) = crate::env::optional("CIRCLE_SHA1") {
        return Ok(sha);
    }
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .context("cannot run git (is it installed?)")
    };
    let head = run(&["rev-parse", "HEAD"])?;
    anyhow::ensure!(
        head.status.success(),
        "git rev-parse HEAD failed: {}",
        String::from_utf8_lossy(&head.stderr).trim()
    );
    let sha = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let status = run(&["status", "--porcelain", "--untracked-files=no"])?;
    Ok(if status.stdout.is_empty() {
        sha
    } else {
        format!("{sha}-dirty")
    })
}

/// When `HEAD` was committed, in UTC (`2026-11-26T04:15:05Z`): the time baked into the
/// binary and the image label. A commit time, not a build time, so rebuilding an unchanged
/// commit changes nothing and relinks nothing.
pub fn commit_time() -> Result<String> {
    let out = Command::new("git")
        .args(["show", "-s", "--format=%ct", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .context("cannot run git (is it installed?)")?;
    anyhow::ensure!(
        out.status.success(),
        "git show HEAD failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let seconds: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("git show printed no commit time")?;
    let time = chrono::DateTime::from_timestamp(seconds, 0).context("commit time out of range")?;
    Ok(time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}
