//! Password hashing off the request path, and bounded: login verifications run on a few
//! dedicated threads ([`HASHER_THREADS`]), at most that many at once, with at most
//! [`QUEUE`] more waiting. An argon2id verification holds 19 MiB; bounding the threads
//! bounds both the hashes in flight and the allocator arenas that keep that memory after
//! them, so a flood of login POSTs cannot grow the process beyond a known budget. Past the
//! queue, or after [`WAIT`] in it, the caller is told the site is busy (a 503 with
//! `Retry-After`), and the public pages, which never hash, keep answering.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hashes that may run at once (each argon2id verification holds 19 MiB).
pub const HASHER_THREADS: usize = 2;
/// Verifications that may wait for a hasher.
pub const QUEUE: usize = 32;
/// How long a verification may wait for a hasher before the caller gives up.
pub const WAIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Every hasher is busy and the queue is full, or the wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password hasher is busy")]
pub struct Busy;

/// The hashing threads and their queue. Cheap to share (one per process).
pub struct Hashers {
    jobs: SyncSender<Job>,
    /// Checks queued or running now.
    queued: Arc<std::sync::atomic::AtomicU64>,
    /// Checks refused because every hasher was busy.
    rejected: crate::counter::Count,
}

/// The hashers as `/metrics` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherStats {
    pub queued: u64,
    pub rejected: u64,
}

impl std::fmt::Debug for Hashers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hashers")
    }
}

impl Hashers {
    /// Starts `threads` hashing threads with a queue of `queue` jobs; they end when the
    /// `Hashers` is dropped.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Hashers> {
        let (jobs, incoming) = sync_channel::<Job>(queue);
        let incoming = Arc::new(Mutex::new(incoming));
        for n in 0..threads.max(1) {
            let incoming = incoming.clone();
            std::thread::Builder::new()
                .name(format!("oc-hasher-{n}"))
                .spawn(move || loop {
                    let next = incoming.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match next {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Hashers {
            jobs,
            queued: Arc::default(),
            rejected: crate::counter::Count::default(),
        })
    }

    pub fn stats(&self) -> HasherStats {
        HasherStats {
            queued: self.queued.load(std::sync::atomic::Ordering::Relaxed),
            rejected: self.rejected.get(),
        }
    }

    /// Runs `work` on a hashing thread and waits (asynchronously) for its result.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        use std::sync::atomic::Ordering;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
            queued.fetch_sub(1, Ordering::Relaxed);
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.rejected.add(1);
                return Err(Busy);
            }
        }
        match actix_web::rt::time::timeout(WAIT, answer).await {
            Ok(Ok(value)) => Ok(value),
            _ => {
                self.rejected.add(1);
                Err(Busy)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn at_most_the_queue_waits_and_the_rest_is_told_busy() {
        let hashers = Hashers::new(1, 2).unwrap();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let blocker = |signal: Option<std::sync::mpsc::Sender<()>>| {
            let hold = hold.clone();
            move || {
                if let Some(signal) = signal {
                    let _ = signal.send(());
                }
                let _ = hold.lock().unwrap_or_else(|p| p.into_inner()).recv();
            }
        };
        // One job runs (and waits to be released), two wait in the queue…
        let first = hashers.run(blocker(Some(started)));
        let rest = async {
            let _ = actix_web::rt::task::spawn_blocking(move || running.recv()).await;
            let queued = futures_util::future::join(hashers.run(blocker(None)), hashers.run(blocker(None)));
            let refused = async {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                // …and the next is refused at once, not queued.
                let outcome = hashers.run(|| ()).await;
                for _ in 0..3 {
                    let _ = release.send(());
                }
                outcome
            };
            futures_util::future::join(queued, refused).await
        };
        let (first, ((second, third), refused)) = futures_util::future::join(first, rest).await;
        assert_eq!(refused, Err(Busy));
        assert_eq!((first, second, third), (Ok(()), Ok(()), Ok(())));
        assert_eq!(hashers.run(|| 42).await, Ok(42), "free again");
    }
}
