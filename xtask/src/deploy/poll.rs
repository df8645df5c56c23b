//! How a deploy waits: one look every `Wait::interval` until the thing under way is done
//! or `Wait::timeout` has passed, each new state printed once.

use std::time::{Duration, Instant};

use anyhow::Result;

/// How a deploy waits for its release.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub timeout: Duration,
    pub interval: Duration,
    pub health_check: Duration,
}

/// What the looks have seen so far: the last state line printed and the last status.
#[derive(Debug, Default)]
pub struct Progress {
    line: Option<String>,
    status: String,
}

impl Progress {
    /// Prints `line` (indented as a step's detail) unless it is the line printed last, and
    /// keeps `status` for the timeout message.
    pub fn saw(&mut self, status: &str, line: String) {
        if self.line.as_deref() != Some(line.as_str()) {
            println!("    {line}");
            self.line = Some(line);
        }
        status.clone_into(&mut self.status);
    }

    /// The last status seen ("" before the first).
    pub fn status(&self) -> &str {
        &self.status
    }
}

/// Calls `look` until it returns `Some` (done, whatever the outcome) or an error, sleeping
/// `wait.interval` between two looks; past `wait.timeout`, the error `timed_out` makes of
/// the last status.
pub fn poll<T>(
    wait: Wait,
    mut look: impl FnMut(&mut Progress) -> Result<Option<T>>,
    timed_out: impl FnOnce(&str) -> anyhow::Error,
) -> Result<T> {
    let deadline = Instant::now() + wait.timeout;
    let mut progress = Progress::default();
    loop {
        if let Some(done) = look(&mut progress)? {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            return Err(timed_out(progress.status()));
        }
        std::thread::sleep(wait.interval);
    }
}

/// The time left before `deadline`, at least a second (for a call that needs a bound).
pub fn left_until(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(timeout_ms: u64) -> Wait {
        Wait {
            timeout: Duration::from_millis(timeout_ms),
            interval: Duration::from_millis(1),
            health_check: Duration::ZERO,
        }
    }

    #[test]
    fn polls_until_done_and_keeps_the_last_status() {
        let mut looks = 0;
        let done = poll(
            quick(10_000),
            |progress| {
                looks += 1;
                progress.saw(if looks < 3 { "pending" } else { "done" }, format!("look {looks}"));
                Ok((looks == 3).then_some(looks))
            },
            |_| anyhow::anyhow!("timed out"),
        );
        assert_eq!(done.ok(), Some(3));
    }

    #[test]
    fn a_timeout_names_the_last_status_and_an_error_stops_at_once() {
        let err = poll(
            quick(20),
            |progress| {
                progress.saw("pending", "release v2: pending".into());
                Ok(None::<()>)
            },
            |last| anyhow::anyhow!("still {last}"),
        )
        .map(|()| "finished");
        assert_eq!(err.map_err(|e| e.to_string()), Err("still pending".to_owned()));

        let mut looks = 0;
        let failed = poll(
            quick(10_000),
            |_| {
                looks += 1;
                Err::<Option<()>, _>(anyhow::anyhow!("release v2 failed"))
            },
            |_| anyhow::anyhow!("timed out"),
        );
        assert_eq!(looks, 1);
        assert_eq!(failed.map_err(|e| e.to_string()), Err("release v2 failed".to_owned()));
    }
}
