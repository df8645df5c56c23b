//! Runs one step: prints it, times it, and turns every failure into one clear line.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

fn not_found_hint(program: &str) -> &'static str {
    match program {
        "docker" => " (install Docker: https://docs.docker.com/engine/install/)",
        "musl-gcc" => " (apt-get install musl-tools)",
        "objcopy" => " (apt-get install binutils)",
        "check-jsonschema" => " (pip install check-jsonschema)",
        "chromium" => " (apt-get install chromium chromium-driver)",
        "wrk" => " (apt-get install wrk)",
        _ => "",
    }
}

/// The last lines of a command's output, for an error message.
fn tail(output: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
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

    /// A command run from the workspace root.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(workspace_root());
        command
    }

    fn announce(&self, step: &str, command: &Command) -> String {
        let shown = display(command, self.verbose);
        println!("==> {step}: {shown}");
        if self.verbose {
            if let Some(dir) = command.get_current_dir() {
                println!("    in {}", dir.display());
            }
        }
        shown
    }

    fn spawn_error(step: &str, command: &Command) -> String {
        let program = command.get_program().to_string_lossy().into_owned();
        format!(
            "{step}: cannot run `{program}`: not found or not executable{}",
            not_found_hint(&program)
        )
    }

    /// Runs `command` with inherited output; fails with one line naming the step.
    pub fn run(&self, step: &str, command: &mut Command) -> Result<()> {
        let shown = self.announce(step, command);
        if self.dry_run {
            return Ok(());
        }
        let started = Instant::now();
        let status = command.status().with_context(|| Self::spawn_error(step, command))?;
        self.finish(step, started, status.success());
        if !status.success() {
            bail!("{step} failed ({status}): {shown}");
        }
        Ok(())
    }

    /// Runs `command` with `secret` on its stdin (never on its command line), output
    /// captured and shown only on failure.
    pub fn run_with_secret(&self, step: &str, command: &mut Command, secret: &str) -> Result<()> {
        self.run_with_input(step, command, secret)
    }

    /// Runs `command` with `input` on its stdin, output captured and shown only on failure.
    pub fn run_with_input(&self, step: &str, command: &mut Command, input: &str) -> Result<()> {
        let shown = self.announce(step, command);
        if self.dry_run {
            return Ok(());
        }
        let started = Instant::now();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| Self::spawn_error(step, command))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .with_context(|| format!("{step}: cannot write to its input"))?;
        }
        let output = child
            .wait_with_output()
            .with_context(|| format!("{step}: lost the process"))?;
        self.finish(step, started, output.status.success());
        if !output.status.success() {
            bail!(
                "{step} failed ({}): {shown}: {}",
                output.status,
                tail(&output.stderr, 3)
            );
        }
        Ok(())
    }

    /// Runs `command` and returns its stdout (trimmed); its output is shown only on failure.
    /// Runs even in a dry run (for read-only queries).
    pub fn capture(&self, step: &str, command: &mut Command) -> Result<String> {
        if self.verbose {
            self.announce(step, command);
        }
        let output = command.output().with_context(|| Self::spawn_error(step, command))?;
        if !output.status.success() {
            let shown = display(command, self.verbose);
            bail!(
                "{step} failed ({}): {shown}: {}",
                output.status,
                tail(&output.stderr, 3)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Runs `work` as a named step (not a command): announced, timed, ok/FAILED.
    pub fn step<T>(&self, step: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("==> {step}");
        let started = Instant::now();
        let result = work();
        self.finish(step, started, result.is_ok());
        result
    }

    fn finish(&self, step: &str, started: Instant, ok: bool) {
        println!(
            "<== {step}: {} in {:.1}s",
            if ok { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
    }
}
