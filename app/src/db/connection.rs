//! Opening connections: the connection type, per-connection settings, and the r2d2 manager.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::pg_config::PgTarget;
pub use super::pg_connection::PgConnection;
use super::DbError;
use crate::config::{DatabaseUrl, PostgresUrl};

/// The connection every query function takes: one of the two backends, chosen by
/// `DATABASE_URL`. Query functions are written once, against diesel's DSL.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Every SQLite connection: wait (rather than fail) when another connection holds a lock,
/// enforce foreign keys, WAL so readers never block the writer.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
];

/// How long a new connection retries a pragma that SQLite refused as busy (its busy
/// handler is not called for the switch to WAL while another process is writing a new
/// file: two instances starting on one file at once).
const SQLITE_BUSY_RETRY: Duration = Duration::from_secs(5);

/// Seconds libpq waits for a PostgreSQL server before giving up (unless the URL says).
const PG_CONNECT_TIMEOUT_SECS: u32 = 3;

/// Opens connections for the pool, reporting the database's own error when it cannot.
/// (diesel's generic r2d2 manager would report every failure of a multi-connection as
/// "Invalid connection url".)
#[derive(Clone)]
pub enum ConnectionManager {
    Sqlite(PathBuf),
    Postgres {
        target: Arc<PgTarget>,
        /// Bumped when a connection is found dead: every idle one is checked before reuse.
        epoch: Arc<AtomicU64>,
    },
}

/// A pooled connection and what the pool knows of its health.
pub struct Pooled {
    pub conn: DbConnection,
    /// When it last went back to the pool healthy.
    returned: Instant,
    /// The manager's epoch when it was last known alive.
    epoch: u64,
    /// A query on it failed in a way that means the connection is gone.
    pub broken: bool,
    /// A task on it failed in some other way (the migration harness, say, reports a lost
    /// connection as its own error): pinged before its next use, however recent.
    pub suspect: bool,
}

/// A PostgreSQL connection back in the pool within this long is not pinged before its
/// next use (HikariCP's alive-bypass window): under load no request pays a second round
/// trip, while a connection that sat idle (across a database restart, say) is checked.
pub const ALIVE_BYPASS: Duration = Duration::from_millis(500);

/// Whether a query error means the connection itself is gone (the server restarted or
/// the network dropped), not that the query was wrong.
pub fn is_connection_lost(err: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind::{ClosedConnection, UnableToSendCommand};
    matches!(
        err,
        diesel::result::Error::DatabaseError(ClosedConnection | UnableToSendCommand, _)
            | diesel::result::Error::BrokenTransactionManager
    )
}

impl Pooled {
    /// Whether `err`, just returned by a task on this connection, means the connection is
    /// gone. A server that shuts down or terminates the session says so in an error of its
    /// own (SQLSTATE 57P01, which diesel-async reports without its code) before it closes
    /// the socket, so after any failed query on PostgreSQL the connection is asked once.
    pub fn is_gone(&mut self, err: &DbError) -> bool {
        match err {
            DbError::Query(err) if is_connection_lost(err) => true,
            DbError::Query(_) | DbError::Migration(_) | DbError::Unexpected(_) => match &mut self.conn {
                DbConnection::Postgresql(pg) => pg.is_closed() || pg.batch_execute("SELECT 1").is_err(),
                DbConnection::Sqlite(_) => false,
            },
            _ => self.is_closed(),
        }
    }

    /// Whether the connection's socket has closed (PostgreSQL; a SQLite file never does).
    pub fn is_closed(&mut self) -> bool {
        match &mut self.conn {
            DbConnection::Postgresql(pg) => pg.is_closed(),
            DbConnection::Sqlite(_) => false,
        }
    }
}

/// Never the PostgreSQL URL itself (it holds the password).
impl std::fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionManager::Sqlite(path) => write!(f, "ConnectionManager::Sqlite({})", path.display()),
            ConnectionManager::Postgres { target, .. } => {
                write!(f, "ConnectionManager::Postgres({:?})", target.url())
            }
        }
    }
}

impl ConnectionManager {
    pub fn new(url: &DatabaseUrl) -> Result<Self, DbError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                check_parent_dir(path)?;
                Ok(ConnectionManager::Sqlite(path.clone()))
            }
            DatabaseUrl::Postgres(url) => Ok(ConnectionManager::Postgres {
                target: Arc::new(pg_target(url)?),
                epoch: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    pub fn connect(&self) -> Result<DbConnection, DbError> {
        match self {
            ConnectionManager::Sqlite(path) => open_sqlite(path).map(DbConnection::Sqlite),
            ConnectionManager::Postgres { target, .. } => open_postgres(target).map(DbConnection::Postgresql),
        }
    }
}

/// Adds libpq's `connect_timeout` so a server that does not answer fails fast.
pub fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={PG_CONNECT_TIMEOUT_SECS}")
}

/// A missing directory would otherwise surface as a vague "unable to open database file".
fn check_parent_dir(path: &Path) -> Result<(), DbError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Ok(()),
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(DbError::Connect(diesel::ConnectionError::BadConnection(format!(
            "the directory {} for the SQLite file does not exist",
            parent.display()
        ))))
    }
}

pub fn open_sqlite(path: &Path) -> Result<SqliteConnection, DbError> {
    let name = path.to_str().ok_or_else(|| {
        DbError::Connect(diesel::ConnectionError::BadConnection(format!(
            "the SQLite path {} is not valid UTF-8",
            path.display()
        )))
    })?;
    let mut conn = SqliteConnection::establish(name).map_err(|err| {
        DbError::Connect(diesel::ConnectionError::BadConnection(format!(
            "{}: {err}",
            path.display()
        )))
    })?;
    // The first statement is where a file that is not a database, or cannot be written,
    // says so: named with its path.
    let started = Instant::now();
    for pragma in SQLITE_PRAGMAS {
        loop {
            match conn.batch_execute(pragma) {
                Ok(()) => break,
                Err(err) if is_busy(&err) && started.elapsed() < SQLITE_BUSY_RETRY => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => {
                    return Err(DbError::Connect(diesel::ConnectionError::BadConnection(format!(
                        "{}: {err}",
                        path.display()
                    ))))
                }
            }
        }
    }
    Ok(conn)
}

/// SQLite's SQLITE_BUSY, as diesel reports it (its message is SQLite's own, fixed text).
fn is_busy(err: &diesel::result::Error) -> bool {
    matches!(err, diesel::result::Error::DatabaseError(_, info) if info.message().contains("database is locked"))
}

impl ConnectionManager {
    fn epoch(&self) -> u64 {
        match self {
            ConnectionManager::Postgres { epoch, .. } => epoch.load(Ordering::Acquire),
            ConnectionManager::Sqlite(_) => 0,
        }
    }

    /// How PostgreSQL is reached (`None` for SQLite).
    pub fn pg_target(&self) -> Option<Arc<PgTarget>> {
        match self {
            ConnectionManager::Postgres { target, .. } => Some(target.clone()),
            ConnectionManager::Sqlite(_) => None,
        }
    }

    /// What [`Database`](super::Database) bumps when a connection is found dead, so that
    /// every idle one is checked before its next use (`None` for SQLite).
    pub fn lost_signal(&self) -> Option<Arc<AtomicU64>> {
        match self {
            ConnectionManager::Postgres { epoch, .. } => Some(epoch.clone()),
            ConnectionManager::Sqlite(_) => None,
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = DbError;

    fn connect(&self) -> Result<Pooled, DbError> {
        Ok(Pooled {
            conn: ConnectionManager::connect(self)?,
            returned: Instant::now(),
            epoch: self.epoch(),
            broken: false,
            suspect: false,
        })
    }

    /// At checkout: a SQLite connection (a file handle) is always fine; a PostgreSQL one
    /// is pinged only when it idled past [`ALIVE_BYPASS`] or a connection died since it was
    /// last known alive.
    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), DbError> {
        if matches!(self, ConnectionManager::Sqlite(_)) {
            return Ok(());
        }
        let epoch = self.epoch();
        if !pooled.suspect && pooled.epoch == epoch && pooled.returned.elapsed() < ALIVE_BYPASS {
            return Ok(());
        }
        pooled.conn.batch_execute("SELECT 1")?;
        pooled.epoch = epoch;
        pooled.suspect = false;
        Ok(())
    }

    /// At check-in: a connection whose query found it gone is dropped, not reused.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.returned = Instant::now();
        pooled.broken || pooled.is_closed()
    }
}

/// How the pool reaches PostgreSQL: `DATABASE_URL` read by libpq's rules (see
/// [`super::pg_config`]), or a one-line reason it cannot be.
pub fn pg_target(url: &PostgresUrl) -> Result<PgTarget, DbError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    PgTarget::from_url(url, |name| std::env::var(name).ok(), home)
        .map_err(|why| DbError::Connect(diesel::ConnectionError::BadConnection(why)))
}

/// Opens a blocking PostgreSQL connection: the TLS rules of `target`, on a runtime of its
/// own. The error never holds the URL's password.
pub fn open_postgres(target: &PgTarget) -> Result<PgConnection, DbError> {
    let runtime = super::pg_connection::new_runtime().map_err(|err| {
        DbError::Connect(diesel::ConnectionError::BadConnection(format!(
            "cannot start a runtime for a database connection: {err}"
        )))
    })?;
    match super::pg_connection::run_on(&runtime, target.connect_diesel(super::pg_config::APPLICATION_NAME)) {
        Ok(conn) => Ok(PgConnection::new(conn, runtime)),
        Err(why) => {
            // Not dropped: a waiting shutdown panics when called from an async task.
            runtime.shutdown_background();
            Err(DbError::Connect(diesel::ConnectionError::BadConnection(why)))
        }
    }
}

/// [`open_postgres`] from a URL (one-off connections: the tests' own).
pub fn establish_postgres(url: &str) -> Result<PgConnection, DbError> {
    open_postgres(&pg_target(&PostgresUrl::new(url))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db"),
            "postgres://h/db?connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=require"),
            "postgres://h/db?sslmode=require&connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9"),
            "postgres://h/db?connect_timeout=9"
        );
    }
}
