//! Opening connections: the connection type, per-connection settings, and the r2d2 manager.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::DbError;
use crate::config::DatabaseUrl;

/// The connection every query function takes.
pub type DbConnection = SqliteConnection;

/// Every SQLite connection: enforce foreign keys, WAL so readers never block the writer,
/// and wait (rather than fail) when another connection holds the write lock.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;";

/// Opens connections for the pool, reporting the database's own error when it cannot.
#[derive(Debug)]
pub struct ConnectionManager {
    path: PathBuf,
}

impl ConnectionManager {
    pub fn new(url: &DatabaseUrl) -> Result<Self, DbError> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                check_parent_dir(path)?;
                Ok(ConnectionManager { path: path.clone() })
            }
        }
    }

    pub fn connect(&self) -> Result<DbConnection, DbError> {
        open_sqlite(&self.path)
    }
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
        Err(DbError::Connect(diesel::ConnectionError::BadConnection(
            format!(
                "the directory {} for the SQLite file does not exist",
                parent.display()
            ),
        )))
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
