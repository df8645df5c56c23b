//! Runs one step: prints it, times it, and turns every failure into one clear line.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

pub struct Runner {
    pub dry_run: bool,
    pub verbose: bool,
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `program arg arg…`, quoted where needed, for display; the program's full path only
/// when `full_path` (the `CARGO` that runs xtask is a long toolchain path).
pub fn display(command: &Command, full_path: bool) -> String {
    let program = std::path::Path::new(command.get_program());
    let program = match program.file_name() {
        Some(name) if !full_path => name.to_string_lossy().into_owned(),
        _ => program.to_string_lossy().into_owned(),
    };
    let mut parts = vec![program];
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            parts.push(format!("{arg:?}"));
        } else {
            parts.push(arg.into_owned());
        }
    }
    parts.join(" ")
}

impl Runner {
    pub fn new(dry_run: bool, verbose: bool) -> Self {
        Runner { dry_run, verbose }
    }

    /// A `cargo` command run from the workspace root, with the cargo that runs xtask.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(workspace_root());
        command
    }

    /// Runs `command` with inherited output; fails with one line naming the step.
    pub fn run(&self, step: &str, command: &mut Command) -> Result<()> {
        let shown = display(command, self.verbose);
        println!("==> {step}: {shown}");
        if self.verbose {
            if let Some(dir) = command.get_current_dir() {
                println!("    in {}", dir.display());
            }
        }
        if self.dry_run {
            return Ok(());
        }
        let started = Instant::now();
        let program = command.get_program().to_string_lossy().into_owned();
        let status = command
            .status()
            .with_context(|| format!("{step}: cannot run `{program}` (is it installed and on PATH?)"))?;
        println!(
            "<== {step}: {} in {:.1}s",
            if status.success() { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        if !status.success() {
            bail!("{step} failed ({status}): {shown}");
        }
        Ok(())
    }
}
