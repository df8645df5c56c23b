//! `oc-lettings backup FILE`: a consistent copy of a SQLite database, taken while the site
//! serves (SQLite's `VACUUM INTO`: one read transaction, so the copy is the database at one
//! moment, whatever is written meanwhile; in WAL mode the writers are not blocked), then
//! opened and checked. PostgreSQL is backed up by its platform (Heroku Postgres backups,
//! RDS snapshots) or `pg_dump`: see docs/src/operations.md.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::{DbConnection, DbError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup copies a SQLite database; back PostgreSQL up with the platform's backups (Heroku Postgres, RDS snapshots) or pg_dump: see docs/src/operations.md"
    )]
    NotSqlite,
    #[error("{0} already exists: a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("the backup's directory {0} does not exist")]
    NoDirectory(PathBuf),
    #[error("the backup path {0} is not valid UTF-8")]
    NotUtf8(PathBuf),
    #[error("the copy at {path} failed its integrity check: {why}")]
    Damaged { path: PathBuf, why: String },
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for BackupError {
    fn from(err: diesel::result::Error) -> Self {
        BackupError::Database(DbError::Query(err))
    }
}

/// What was copied: the file, its size, and its rows per table of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub rows: Vec<(&'static str, i64)>,
}

impl std::fmt::Display for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: Vec<String> = self.rows.iter().map(|(table, n)| format!("{n} {table}")).collect();
        write!(
            f,
            "{} ({} bytes, integrity ok): {}",
            self.path.display(),
            self.bytes,
            rows.join(", ")
        )
    }
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

/// Copies the database behind `conn` (SQLite) to `path`, a new file, then opens the copy
/// and checks it. A failed or damaged copy leaves nothing behind.
pub fn backup(conn: &mut DbConnection, path: &Path) -> Result<Backup, BackupError> {
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return Err(BackupError::NotSqlite);
    }
    if path.exists() {
        return Err(BackupError::Exists(path.to_owned()));
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(BackupError::NoDirectory(dir.to_owned()));
        }
    }
    let name = path.to_str().ok_or_else(|| BackupError::NotUtf8(path.to_owned()))?;
    // Bound, not spliced: any file name is a value, never SQL.
    diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(name).execute(conn)?;
    match verify(path) {
        Ok(backup) => Ok(backup),
        Err(err) => {
            let _ = std::fs::remove_file(path);
            Err(err)
        }
    }
}

/// Opens the copy on its own and checks it: SQLite's integrity check, and its rows.
fn verify(path: &Path) -> Result<Backup, BackupError> {
    // Opened as it is (no pragmas: nothing is written to the copy).
    let name = path.to_str().ok_or_else(|| BackupError::NotUtf8(path.to_owned()))?;
    let mut copy = diesel::SqliteConnection::establish(name).map_err(DbError::Connect)?;
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut copy)?;
    let verdict: Vec<String> = checks.into_iter().map(|c| c.integrity_check).collect();
    if verdict != ["ok"] {
        return Err(BackupError::Damaged {
            path: path.to_owned(),
            why: verdict.join("; "),
        });
    }
    let mut rows = Vec::new();
    for table in super::import::FILLED {
        // A fixed table name, never input.
        let counted: Rows = diesel::sql_query(format!("SELECT count(*) AS rows FROM {table}")).get_result(&mut copy)?;
        rows.push((table, counted.rows));
    }
    drop(copy);
    let bytes = std::fs::metadata(path)
        .map_err(|err| DbError::Unexpected(format!("{}: {err}", path.display())))?
        .len();
    Ok(Backup {
        path: path.to_owned(),
        bytes,
        rows,
    })
}
