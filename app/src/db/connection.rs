//! Opening connections: the connection type, per-connection settings, and the r2d2 manager.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

use super::DbError;
use crate::config::{DatabaseUrl, PostgresUrl};

/// The connection every query function takes: one of the two backends, chosen by
/// `DATABASE_URL`. Query functions are written once, against diesel's DSL.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Every SQLite connection: enforce foreign keys, WAL so readers never block the writer,
/// and wait (rather than fail) when another connection holds the write lock.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;";

/// Seconds libpq waits for a PostgreSQL server before giving up (unless the URL says).
const PG_CONNECT_TIMEOUT_SECS: u32 = 3;

/// Opens connections for the pool, reporting the database's own error when it cannot.
/// (diesel's generic r2d2 manager would report every failure of a multi-connection as
/// "Invalid connection url".)
pub enum ConnectionManager {
    Sqlite(PathBuf),
    Postgres { url: String, redact: PostgresUrl },
}

/// Never the PostgreSQL URL itself (it holds the password).
impl std::fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionManager::Sqlite(path) => write!(f, "ConnectionManager::Sqlite({})", path.display()),
            ConnectionManager::Postgres { redact, .. } => write!(f, "ConnectionManager::Postgres({redact:?})"),
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
                url: with_connect_timeout(url.expose()),
                redact: url.clone(),
            }),
        }
    }

    pub fn connect(&self) -> Result<DbConnection, DbError> {
        match self {
            ConnectionManager::Sqlite(path) => open_sqlite(path).map(DbConnection::Sqlite),
            // libpq's message may quote the URL, password included: never pass that on.
            ConnectionManager::Postgres { url, redact } => PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(|err| {
                    DbError::Connect(diesel::ConnectionError::BadConnection(
                        redact.redact_in(&err.to_string()),
                    ))
                }),
        }
    }
}

/// Adds libpq's `connect_timeout` so a server that does not answer fails fast.
fn with_connect_timeout(url: &str) -> String {
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
    conn.batch_execute(SQLITE_PRAGMAS)?;
    Ok(conn)
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        ConnectionManager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
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
