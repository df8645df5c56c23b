//! Directories holding secrets (a registry login, the Heroku key) that must go even when
//! the stage is interrupted: on SIGINT, SIGTERM or SIGHUP (a closed terminal) they are
//! removed before the process ends. What a SIGKILL or a crash leaves behind is swept by
//! the next stage ([`sweep_stale`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// Removes `dir` if the process is interrupted before it is unregistered.
pub fn register(dir: &Path) {
    install_handler();
    DIRS.lock().unwrap_or_else(|p| p.into_inner()).push(dir.to_owned());
}

pub fn unregister(dir: &Path) {
    DIRS.lock().unwrap_or_else(|p| p.into_inner()).retain(|d| d != dir);
}

fn install_handler() {
    HANDLER.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            eprintln!("warning: cannot watch for SIGINT/SIGTERM; an interrupted stage may leave its login behind");
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                for dir in DIRS.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                eprintln!("interrupted: removed the stage's private Docker configuration");
                std::process::exit(128 + signal);
            }
        });
    });
}

/// How old a left-behind secret directory must be before a later stage removes it: older
/// than any stage runs (a deploy takes minutes; this is a day).
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Removes the directories named `prefix…` in `parent` that this user owns and that were
/// last changed over [`STALE_AFTER`] ago: the logins of stages killed with SIGKILL (or
/// crashed) before they could clean up. Returns how many went.
pub fn sweep_stale(parent: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        // Made as a stage makes them: a directory only its owner may enter (one that is
        // not ours cannot be removed anyway).
        #[cfg(unix)]
        let ours = {
            use std::os::unix::fs::MetadataExt;
            meta.is_dir() && meta.mode() & 0o777 == 0o700
        };
        #[cfg(not(unix))]
        let ours = meta.is_dir();
        let stale = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if ours && stale && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_private_directories_of_the_prefix_are_swept() {
        use std::os::unix::fs::DirBuilderExt;
        let parent = tempfile::tempdir().unwrap();
        let make = |name: &str, age_secs: u64| {
            let dir = parent.path().join(name);
            std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
            std::fs::write(dir.join("config.json"), "{}").unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
            std::fs::File::open(&dir).unwrap().set_modified(when).unwrap();
            dir
        };
        let old = make("oc-xtask-docker-old", 2 * 24 * 60 * 60);
        let fresh = make("oc-xtask-docker-fresh", 60);
        let other = make("someone-else-old", 2 * 24 * 60 * 60);
        assert_eq!(sweep_stale(parent.path(), "oc-xtask-docker-"), 1);
        assert!(!old.exists());
        assert!(fresh.exists(), "a stage running now keeps its login");
        assert!(other.exists());
    }
}
