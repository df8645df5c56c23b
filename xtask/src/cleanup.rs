//! Directories holding secrets (a registry login, the Heroku key) that must go even when
//! the stage is interrupted: on SIGINT or SIGTERM they are removed before the process ends.

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
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
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
