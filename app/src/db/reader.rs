//! The public pages' reads on PostgreSQL, asynchronously: each actix worker keeps its own
//! few connections (tokio-postgres, on the worker's own event loop), with the pages'
//! statements prepared once per connection, and every request's query sent down one of
//! them at once — concurrent requests pipeline on a connection instead of queueing for a
//! pooled one on a blocking thread.
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
//! Failure: a query that fails drops its connection; when that connection was not new, the
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

use futures_util::lock::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::pg_config::PgTarget;
use super::DbError;

/// After a failed connect, how long a worker answers "unavailable" at once before trying
/// again (so that an outage costs one connect attempt per worker per interval, not one per
/// request).
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);

/// A read that takes longer than this (a stalled server, a dead network path) is answered
/// "unavailable" (503), as a pooled read waiting for a connection is.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A query the reader knows by name: its SQL (from diesel's query builder, see
/// [`pg_sql`]) is prepared once per connection, on first use.
pub struct Query {
    pub name: &'static str,
    pub sql: &'static std::sync::LazyLock<String>,
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

/// An open connection and the statements prepared on it.
struct Live {
    client: Client,
    statements: RefCell<HashMap<&'static str, Statement>>,
}

impl Reader {
    pub fn new(target: Arc<PgTarget>, per_worker: usize) -> Self {
        Reader {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                target,
                per_worker: per_worker.max(1),
                opened: AtomicU64::new(0),
            }),
        }
    }

    /// Connections opened so far, on every worker (for tests and the scaling docs).
    pub fn connections_opened(&self) -> u64 {
        self.shared.opened.load(Ordering::Relaxed)
    }

    /// Runs `query` with `params` and returns its rows.
    pub async fn query(&self, query: &Query, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, DbError> {
        // Boxed, so the page handlers' futures stay small (they are moved into place whole).
        match tokio::time::timeout(READ_TIMEOUT, Box::pin(self.query_with_retry(query, params))).await {
            Ok(result) => result,
            Err(_) => Err(DbError::Unreachable(format!(
                "no answer from the database within {} s",
                READ_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The id a public list's `page` starts from, on `table`: 0 for the first page, else
    /// the id `first` (skipping from the smallest id) or `last` (from the largest, for a
    /// page in the back half) finds; `None` past the end. Both queries take diesel's
    /// binds, the limit then the offset.
    pub async fn first_id(
        &self,
        page: crate::pagination::PageRequest,
        table: &'static str,
        first: &Query,
        last: &Query,
    ) -> Result<Option<i32>, DbError> {
        use crate::pagination::Start;
        if page.offset() == 0 {
            return Ok(Some(0));
        }
        let rows = match page.start(super::counts::rows_read(self, table).await?) {
            Start::Skip(skip) => self.query(first, &[&1_i64, &skip]).await?,
            Start::SkipFromEnd(skip) => self.query(last, &[&1_i64, &skip]).await?,
            Start::PastEnd => Vec::new(),
        };
        rows.first().map(|row| column(row, 0)).transpose()
    }

    async fn query_with_retry(&self, query: &Query, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, DbError> {
        let lanes = self.lanes();
        let lane = lanes.pick();
        let mut retried = false;
        loop {
            let (live, fresh) = lane.live(&self.shared).await?;
            match live.run(query, params).await {
                Ok(rows) => return Ok(rows),
                Err(err) => {
                    lane.discard(&live).await;
                    if fresh || retried {
                        return Err(self.error(&err));
                    }
                    tracing::info!(error = %self.shared.target.redact(&err.to_string()), "a database connection failed; reading again on a new one");
                    retried = true;
                }
            }
        }
    }

    fn error(&self, err: &tokio_postgres::Error) -> DbError {
        let message = self.shared.target.redact(&err.to_string());
        if is_unavailable(err) {
            DbError::Unreachable(message)
        } else {
            DbError::Read(message)
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
    /// The open connection, or a new one (`true`) when there is none or it has closed.
    async fn live(&self, shared: &Shared) -> Result<(Rc<Live>, bool), DbError> {
        let mut slot = self.live.lock().await;
        if let Some(live) = slot.as_ref() {
            if !live.client.is_closed() {
                return Ok((live.clone(), false));
            }
        }
        if let Some((at, why)) = self.failed.borrow().as_ref() {
            if at.elapsed() < RECONNECT_BACKOFF {
                return Err(DbError::Unreachable(why.clone()));
            }
        }
        // Boxed apart from the query's own box (`Reader::query`): the connect and TLS
        // handshake future is kilobytes, and only a connect needs it.
        match Box::pin(shared.target.connect()).await {
            Ok((client, connection)) => {
                shared.opened.fetch_add(1, Ordering::Relaxed);
                actix_web::rt::spawn(connection);
                let live = Rc::new(Live {
                    client,
                    statements: RefCell::new(HashMap::new()),
                });
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

impl Live {
    async fn run(&self, query: &Query, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        let prepared = self.statements.borrow().get(query.name).cloned();
        let statement = match prepared {
            Some(statement) => statement,
            None => {
                let statement = self.client.prepare(query.sql).await?;
                self.statements.borrow_mut().insert(query.name, statement.clone());
                statement
            }
        };
        self.client.query(&statement, params).await
    }
}

/// Whether `err` means the database is out of reach (a 503), not that the query was wrong:
/// the connection closed or broke (no SQLSTATE), or the server said so itself — class 08
/// (connection exception), 53 (insufficient resources: too many connections) or 57
/// (operator intervention: shutting down, starting up, a cancelled statement).
pub fn is_unavailable(err: &tokio_postgres::Error) -> bool {
    match err.code() {
        None => true,
        Some(state) => err.is_closed() || ["08", "53", "57"].iter().any(|class| state.code().starts_with(class)),
    }
}

/// The PostgreSQL SQL of a diesel query, with `$1`… for its bind parameters: the reader
/// runs the very query the blocking path runs.
pub fn pg_sql<Q>(query: &Q) -> String
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    use diesel::backend::Backend;
    use diesel::query_builder::QueryBuilder;
    let mut builder = <diesel::pg::Pg as Backend>::QueryBuilder::default();
    // Building the SQL of a fixed query cannot fail for PostgreSQL (no value is checked
    // here: binds become `$n`); a test builds every query the reader runs.
    if let Err(err) = query.to_sql(&mut builder, &diesel::pg::Pg) {
        return format!("-- the query cannot be built: {err}");
    }
    builder.finish()
}

/// Column `index` of `row`, as `T`.
pub fn column<'a, T>(row: &'a Row, index: usize) -> Result<T, DbError>
where
    T: tokio_postgres::types::FromSql<'a>,
{
    row.try_get(index)
        .map_err(|err| DbError::Read(format!("column {index}: {err}")))
}
