//! The public pages' reads on PostgreSQL, asynchronously: each actix worker keeps its own
//! few connections (diesel-async over tokio-postgres, on the worker's own event loop),
//! each query type prepared once per connection by diesel-async's statement cache, and
//! every request's query sent down one of them at once — concurrent requests pipeline on
//! a connection instead of queueing for a pooled one on a blocking thread. The queries are
//! the diesel queries every other path runs, decoded by diesel: a page reads through
//! [`super::Database::fetch`], which picks this reader when it is on.
//!
//! Why: through the blocking pool each uncached page cost two thread switches (worker →
//! blocking thread → worker) around the round trip, and a request held a whole
//! connection for its round trip. Measured in `bench/RESULTS.md`.
//!
//! What stays on the blocking pool (diesel over the same driver, see
//! [`super::pg_connection`]): every write, the admin, commands, and every read when this
//! reader is off (SQLite; `DATABASE_READ_CONNECTIONS=0`). Both open their connections
//! through [`super::pg_config::PgTarget`], with the same TLS rules.
//!
//! Failure: a query that fails on a connection that is gone (it fails a `SELECT 1` too)
//! drops that connection; when the connection was not new, the
//! read is tried once more on a fresh one (a database restart leaves every idle connection
//! dead: the first request on each must not be the one that finds out). A connection that
//! cannot be opened fails the requests waiting for it at once (503), and for
//! [`RECONNECT_BACKOFF`] after that, requests fail fast instead of each trying again.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use futures_util::lock::Mutex;

use super::pg_config::{PgTarget, READER_APPLICATION_NAME};
use super::DbError;

/// After a failed connect, how long a worker answers "unavailable" at once before trying
/// again (so that an outage costs one connect attempt per worker per interval, not one per
/// request).
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);

/// A read that takes longer than this (a stalled server, a dead network path) is answered
/// "unavailable" (503), as a pooled read waiting for a connection is.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A query the reader can run: any diesel query the pool could run, owned (it may be run
/// twice: once more on a fresh connection when its connection turns out dead).
pub trait ReaderQuery<T>:
    for<'c> diesel_async::methods::LoadQuery<'static, &'c AsyncPgConnection, T> + Clone + 'static
{
}

impl<Q, T> ReaderQuery<T> for Q where
    Q: for<'c> diesel_async::methods::LoadQuery<'static, &'c AsyncPgConnection, T> + Clone + 'static
{
}

/// The reader: cheap to clone; its connections live on the workers that use it.
#[derive(Clone)]
pub struct Reader {
    shared: Arc<Shared>,
}

struct Shared {
    /// Tells apart two readers used on one thread (tests run several sites in a process).
    id: u64,
    target: Arc<PgTarget>,
    per_worker: usize,
    opened: AtomicU64,
    queries: AtomicU64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This worker's connections, per reader.
    static WORKER: RefCell<HashMap<u64, Rc<Lanes>>> = RefCell::new(HashMap::new());
}

/// One worker's connections for one reader.
struct Lanes {
    lanes: Vec<Lane>,
    next: Cell<usize>,
    /// The reader they belong to: when it is gone, so are they (see [`Reader::lanes`]).
    owner: std::sync::Weak<Shared>,
}

#[derive(Default)]
struct Lane {
    /// Held while connecting, so that the requests behind it wait for that one attempt.
    live: Mutex<Option<Rc<Live>>>,
    /// When the last connect failed, and why.
    failed: RefCell<Option<(Instant, String)>>,
}

/// An open connection: diesel-async's, whose statement cache prepares each query type once
/// per connection, and which pipelines the queries sent on it together (they share it).
struct Live {
    conn: AsyncPgConnection,
}

impl Reader {
    pub fn new(target: Arc<PgTarget>, per_worker: usize) -> Self {
        Reader {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                target,
                per_worker: per_worker.max(1),
                opened: AtomicU64::new(0),
                queries: AtomicU64::new(0),
            }),
        }
    }

    /// Connections opened so far, on every worker (for tests and the scaling docs).
    pub fn connections_opened(&self) -> u64 {
        self.shared.opened.load(Ordering::Relaxed)
    }

    /// Queries sent so far (for `/metrics`).
    pub fn queries(&self) -> u64 {
        self.shared.queries.load(Ordering::Relaxed)
    }

    /// The rows of `query`, decoded by diesel as the pool's would be.
    pub async fn load<Q, T>(&self, query: Q) -> Result<Vec<T>, DbError>
    where
        Q: ReaderQuery<T>,
        T: Send + 'static,
    {
        self.shared.queries.fetch_add(1, Ordering::Relaxed);
        // Boxed, so the page handlers' futures stay small (they are moved into place whole).
        match tokio::time::timeout(READ_TIMEOUT, Box::pin(self.load_with_retry(query))).await {
            Ok(result) => result,
            Err(_) => Err(DbError::Unreachable(format!(
                "no answer from the database within {} s",
                READ_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn load_with_retry<Q, T>(&self, query: Q) -> Result<Vec<T>, DbError>
    where
        Q: ReaderQuery<T>,
        T: Send + 'static,
    {
        let lanes = self.lanes();
        let lane = lanes.pick();
        let mut retried = false;
        loop {
            let (live, fresh) = lane.live(&self.shared).await?;
            let mut conn = &live.conn;
            let err = match diesel_async::RunQueryDsl::load(query.clone(), &mut conn).await {
                Ok(rows) => return Ok(rows),
                Err(err) => err,
            };
            // A wrong query leaves its connection as it was: a connection that fails a
            // `SELECT 1` as well is gone (the server restarted, or ended the session).
            let gone = super::connection::is_connection_lost(&err)
                || diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "SELECT 1")
                    .await
                    .is_err();
            if !gone {
                return Err(DbError::Query(err));
            }
            lane.discard(&live).await;
            let message = self.shared.target.redact(&err.to_string());
            if fresh || retried {
                return Err(DbError::Unreachable(message));
            }
            tracing::info!(error = %message, "a database connection failed; reading again on a new one");
            retried = true;
        }
    }

    /// This worker's lanes for this reader, made on first use.
    fn lanes(&self) -> Rc<Lanes> {
        WORKER.with(|worker| {
            let mut worker = worker.borrow_mut();
            if let Some(lanes) = worker.get(&self.shared.id) {
                return lanes.clone();
            }
            // A reader that is gone leaves its lanes here: close them now.
            worker.retain(|_, lanes| lanes.owner.strong_count() > 0);
            let lanes = Rc::new(Lanes {
                lanes: (0..self.shared.per_worker).map(|_| Lane::default()).collect(),
                next: Cell::new(0),
                owner: Arc::downgrade(&self.shared),
            });
            worker.insert(self.shared.id, lanes.clone());
            lanes
        })
    }
}

impl Lanes {
    /// Round robin over the worker's connections.
    fn pick(&self) -> &Lane {
        let i = self.next.get();
        self.next.set((i + 1) % self.lanes.len());
        &self.lanes[i]
    }
}

impl Lane {
    /// The open connection, or a new one (`true`) when there is none (a connection found
    /// dead is discarded, see [`Reader::load`]).
    async fn live(&self, shared: &Shared) -> Result<(Rc<Live>, bool), DbError> {
        let mut slot = self.live.lock().await;
        if let Some(live) = slot.as_ref() {
            return Ok((live.clone(), false));
        }
        if let Some((at, why)) = self.failed.borrow().as_ref() {
            if at.elapsed() < RECONNECT_BACKOFF {
                return Err(DbError::Unreachable(why.clone()));
            }
        }
        // Boxed apart from the query's own box (`Reader::query`): the connect and TLS
        // handshake future is kilobytes, and only a connect needs it.
        // The socket's task is spawned on this worker's event loop.
        match Box::pin(shared.target.connect_diesel(READER_APPLICATION_NAME)).await {
            Ok(conn) => {
                shared.opened.fetch_add(1, Ordering::Relaxed);
                let live = Rc::new(Live { conn });
                *slot = Some(live.clone());
                *self.failed.borrow_mut() = None;
                Ok((live, true))
            }
            Err(why) => {
                *slot = None;
                *self.failed.borrow_mut() = Some((Instant::now(), why.clone()));
                Err(DbError::Unreachable(why))
            }
        }
    }

    /// Forgets `live` (when it is still this lane's connection): the next read opens anew.
    async fn discard(&self, live: &Rc<Live>) {
        let mut slot = self.live.lock().await;
        if slot.as_ref().is_some_and(|current| Rc::ptr_eq(current, live)) {
            *slot = None;
        }
    }
}
