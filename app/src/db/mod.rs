//! The database: connection pool, embedded migrations, row counts, the cross-instance change listener.
//!
//! Handlers never touch a connection directly: they call [`Database::run`] with a plain
//! function that takes `&mut DbConnection`, which runs on the blocking thread pool, never
//! on an actix worker thread — except the public pages' short reads on SQLite, through
//! [`Database::read`]. Which database sits behind `DbConnection` is decided here
//! alone, from `DATABASE_URL`.

pub mod connection;
pub mod counts;
pub mod migrations;
pub mod notify;
pub mod pg_config;
pub mod pg_connection;
pub mod reader;
pub mod schema;

use std::time::Duration;

use diesel::query_dsl::LoadQuery;
use diesel::{RunQueryDsl, SqliteConnection};

pub use connection::{ConnectionManager, DbConnection, PgConnection};

use crate::config::DatabaseUrl;

pub type Pool = r2d2::Pool<ConnectionManager>;

/// How long a request waits for a free connection before it gets a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error("cannot open the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database task was cancelled")]
    Cancelled,
    #[error("unexpected answer from the database: {0}")]
    Unexpected(String),
    /// The async reader could not reach the database (or the connection died under it).
    #[error("database unavailable: {0}")]
    Unreachable(String),
}

/// The rows of `query`, run on the connection's own backend rather than through the
/// multi-backend wrapper: the wrapper hides the query's type from diesel's statement
/// cache, which then rebuilds the query's SQL on every call to find its prepared
/// statement (a tenth of an uncached SQLite page's CPU in the profile). Here the
/// statement is found by the query's type, with no SQL built.
pub fn load<'query, Q, T>(query: Q, conn: &mut DbConnection) -> Result<Vec<T>, DbError>
where
    Q: LoadQuery<'query, SqliteConnection, T>
        + RunQueryDsl<SqliteConnection>
        + LoadQuery<'query, PgConnection, T>
        + RunQueryDsl<PgConnection>,
{
    Ok(match conn {
        DbConnection::Sqlite(conn) => query.load(conn)?,
        DbConnection::Postgresql(conn) => query.load(conn)?,
    })
}

/// A query a public page runs through [`Database::fetch`]: one diesel query, which every
/// backend and path runs as it is and diesel decodes.
pub trait PageQuery<T>:
    LoadQuery<'static, SqliteConnection, T>
    + RunQueryDsl<SqliteConnection>
    + LoadQuery<'static, PgConnection, T>
    + RunQueryDsl<PgConnection>
    + reader::ReaderQuery<T>
    + Send
{
}

impl<Q, T> PageQuery<T> for Q where
    Q: LoadQuery<'static, SqliteConnection, T>
        + RunQueryDsl<SqliteConnection>
        + LoadQuery<'static, PgConnection, T>
        + RunQueryDsl<PgConnection>
        + reader::ReaderQuery<T>
        + Send
{
}

/// The one row of `query`, which selects by a primary or unique key, through the
/// multi-backend wrapper (a query built with `as_select()` names one backend, so it
/// cannot go through [`load`]). Loaded, not `.first()`: through the wrapper a `LIMIT`
/// keeps the prepared statement from being reused (measured 2-4x slower).
pub fn first<'query, Q, T>(query: Q, conn: &mut DbConnection) -> Result<Option<T>, DbError>
where
    Q: LoadQuery<'query, DbConnection, T> + RunQueryDsl<DbConnection>,
{
    Ok(query.load::<T>(conn)?.into_iter().next())
}

/// A connection checked out of the pool, used as a `DbConnection`; back to the pool when
/// dropped.
pub struct DbGuard(r2d2::PooledConnection<ConnectionManager>);

impl std::ops::Deref for DbGuard {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.0.conn
    }
}

impl std::ops::DerefMut for DbGuard {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0.conn
    }
}

/// The shared pool. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    /// Bumped when a query finds its connection gone (PostgreSQL only).
    lost: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Which database: on SQLite short reads may run on the caller's thread (see
    /// [`Database::read`]); on PostgreSQL the async reader may serve them.
    url: DatabaseUrl,
    /// The pool's own way of opening a connection, for [`Database::get`]'s first one (and
    /// how PostgreSQL is reached, which the reader shares).
    opener: std::sync::Arc<ConnectionManager>,
    /// The public pages' reads on PostgreSQL, when on: see [`reader`].
    reader: Option<reader::Reader>,
    /// Checkouts, and those that waited (for `/metrics`).
    counters: std::sync::Arc<PoolCounters>,
}

/// How the pool has been used since the process started.
#[derive(Debug, Default)]
struct PoolCounters {
    checkouts: crate::counter::Count,
    waits: crate::counter::Count,
    wait_micros: crate::counter::Count,
}

/// The pool as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    pub max: u64,
    pub open: u64,
    pub in_use: u64,
    pub checkouts: u64,
    pub waits: u64,
    pub wait_seconds: f64,
}

/// A connection from `pool`: an idle one at once, or one waited for (counted).
fn checkout(pool: &Pool, counters: &PoolCounters) -> Result<r2d2::PooledConnection<ConnectionManager>, r2d2::Error> {
    counters.checkouts.add(1);
    if let Some(pooled) = pool.try_get() {
        return Ok(pooled);
    }
    let started = std::time::Instant::now();
    let pooled = pool.get();
    counters.waits.add(1);
    counters
        .wait_micros
        .add(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    pooled
}

impl Database {
    /// Builds the pool without opening a connection yet (start-up stays fast; a database
    /// that is down shows up as 503s and a failing `/readyz`, not as a crash).
    pub fn new(url: &DatabaseUrl, pool_size: u32) -> Result<Self, DbError> {
        Self::with_acquire_timeout(url, pool_size, ACQUIRE_TIMEOUT)
    }

    /// As [`Database::new`], with how long a caller may wait for a connection.
    pub fn with_acquire_timeout(url: &DatabaseUrl, pool_size: u32, timeout: Duration) -> Result<Self, DbError> {
        let manager = ConnectionManager::new(url)?;
        let lost = manager.lost_signal();
        let opener = std::sync::Arc::new(manager.clone());
        // Checked at checkout, cheaply: see `ConnectionManager::is_valid`.
        let pool = r2d2::Pool::builder()
            .test_on_check_out(true)
            .max_size(pool_size)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            .build_unchecked(manager);
        Ok(Database {
            pool,
            lost,
            counters: std::sync::Arc::default(),
            reader: None,
            url: url.clone(),
            opener,
        })
    }

    /// This database with the async reader on (PostgreSQL, `per_worker` > 0).
    pub fn with_reader(mut self, per_worker: usize) -> Self {
        self.reader = match (self.opener.pg_target(), per_worker) {
            (Some(target), 1..) => Some(reader::Reader::new(target, per_worker)),
            _ => None,
        };
        self
    }

    /// How PostgreSQL is reached (`None` on SQLite).
    pub fn pg_target(&self) -> Option<std::sync::Arc<pg_config::PgTarget>> {
        self.opener.pg_target()
    }

    /// The async reader, when it is on.
    pub fn reader(&self) -> Option<&reader::Reader> {
        self.reader.as_ref()
    }

    /// The pool's use, for `/metrics`.
    pub fn pool_stats(&self) -> PoolStats {
        let state = self.pool.state();
        PoolStats {
            max: u64::from(self.pool.max_size()),
            open: u64::from(state.connections),
            in_use: u64::from(state.connections.saturating_sub(state.idle_connections)),
            checkouts: self.counters.checkouts.get(),
            waits: self.counters.waits.get(),
            wait_seconds: self.counters.wait_micros.get() as f64 / 1e6,
        }
    }

    /// Most connections the pool holds.
    pub fn max_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// A connection for blocking code (commands, start-up). Not for async handlers.
    ///
    /// While the pool holds no connection yet, one is opened here first: a database that
    /// cannot be opened (a read-only or corrupt file, a refused connection, a wrong
    /// password) then says why at once, in its own words, instead of after the pool's
    /// acquire timeout wrapped in "timed out waiting for connection".
    pub fn get(&self) -> Result<DbGuard, DbError> {
        if let Some(pooled) = self.pool.try_get() {
            return Ok(DbGuard(pooled));
        }
        if self.pool.state().connections == 0 {
            drop(self.opener.connect()?);
        }
        Ok(DbGuard(self.pool.get()?))
    }

    /// Runs `task` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, task: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let _span = crate::trace::span("db.query", "pool");
        let pool = self.pool.clone();
        let lost = self.lost.clone();
        let counters = self.counters.clone();
        actix_web::web::block(move || {
            pg_connection::blocking(|| {
                let mut conn = DbGuard(checkout(&pool, &counters)?);
                let mut result = task(&mut conn);
                // Any failure: the connection is checked before it serves again (a dead one
                // reused within the alive-bypass window would fail every task forever).
                conn.0.suspect = result.is_err();
                if let Err(err) = &result {
                    if conn.0.is_gone(err) {
                        conn.0.broken = true;
                        if let Some(lost) = &lost {
                            lost.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        }
                        // The database went away under the task (a 503), not a bad query.
                        if let DbError::Query(query) = err {
                            result = Err(DbError::Unreachable(format!(
                                "the database connection was lost: {query}"
                            )));
                        }
                    }
                }
                result
            })
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }

    /// Runs a short read (a public page's query): on SQLite, when a connection is free at
    /// once, right here on the calling thread; otherwise as [`Database::run`] does.
    ///
    /// A SQLite read of a page is a few microseconds against the page cache, and in WAL
    /// mode it never waits for a writer; handing it to a blocking thread and back cost
    /// more than the read itself (a quarter of an uncached page's CPU went to those two
    /// thread switches in the profile). Writes, and every PostgreSQL query (a network
    /// round trip that a stalled server could stretch), always take the blocking pool, and
    /// so does a read that would have to wait for a connection.
    pub async fn read<T, F>(&self, task: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        if matches!(self.url, DatabaseUrl::Sqlite(_)) {
            if let Some(pooled) = self.pool.try_get() {
                self.counters.checkouts.add(1);
                let mut conn = DbGuard(pooled);
                return task(&mut conn);
            }
        }
        self.run(task).await
    }

    /// The rows of a public page's `query`, by the fastest path there is, chosen here: on
    /// PostgreSQL the async reader when it is on (the worker's own connections, no thread
    /// switch); on SQLite the calling thread when a connection is free (see
    /// [`Database::read`]); else the blocking pool. Every path runs the same diesel query
    /// and diesel decodes its rows, once.
    pub async fn fetch<Q, T>(&self, query: Q) -> Result<Vec<T>, DbError>
    where
        Q: PageQuery<T>,
        T: Send + 'static,
    {
        let _span = crate::trace::span("db.query", "page read");
        match &self.reader {
            Some(reader) => reader.load(query).await,
            None => self.read(move |conn| load(query, conn)).await,
        }
    }

    /// The id a public list's `page` starts from, on `table`: 0 for the first page, else
    /// the id that `first(skip)` (skipping from the smallest id) or `last(skip)` (from the
    /// largest, for a page in the back half) finds, over the primary key alone; `None`
    /// past the end.
    pub async fn first_id<F, L>(
        &self,
        page: crate::pagination::PageRequest,
        table: &'static str,
        first: impl FnOnce(i64) -> F,
        last: impl FnOnce(i64) -> L,
    ) -> Result<Option<i32>, DbError>
    where
        F: PageQuery<i32>,
        L: PageQuery<i32>,
    {
        use crate::pagination::Start;
        if page.offset() == 0 {
            return Ok(Some(0));
        }
        let ids = match page.start(counts::rows_read(self, table).await?) {
            Start::Skip(skip) => self.fetch(first(skip)).await?,
            Start::SkipFromEnd(skip) => self.fetch(last(skip)).await?,
            Start::PastEnd => Vec::new(),
        };
        Ok(ids.into_iter().next())
    }

    /// PostgreSQL's `max_connections` (blocking; for `check --deploy`).
    pub fn max_connections(&self) -> Result<i64, DbError> {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            setting: String,
        }
        let rows: Vec<Setting> = diesel::sql_query("SELECT setting FROM pg_settings WHERE name = 'max_connections'")
            .load(&mut *self.get()?)?;
        rows.first()
            .and_then(|row| row.setting.parse().ok())
            .ok_or_else(|| DbError::Unexpected("max_connections is not a number".into()))
    }
}
