//! Embedded migrations (one directory per backend, the DDL differs), applied by
//! `oc-lettings migrate` and at `serve` start-up, under a lock that serialises instances
//! starting together.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Key of the PostgreSQL advisory locks taken while the schema is prepared.
const SCHEMA_LOCK_KEY: i64 = 0x6f63_6c65_7474; // "oclett"

/// Runs `task` in a transaction that first takes a database-wide lock:
/// `pg_advisory_xact_lock` on PostgreSQL, SQLite's write lock (taken by a first write,
/// waiting out `busy_timeout`) on SQLite. Released at commit or rollback.
/// `task` must not open transactions of its own (diesel's multi-backend connection does not
/// nest them into savepoints of this one).
pub fn with_schema_lock<T>(
    conn: &mut DbConnection,
    task: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    if let DbConnection::Sqlite(sqlite) = conn {
        sqlite.batch_execute("CREATE TABLE IF NOT EXISTS oc_schema_lock (id INTEGER PRIMARY KEY)")?;
    }
    conn.transaction(|conn| {
        match conn {
            DbConnection::Sqlite(sqlite) => {
                sqlite.batch_execute("INSERT OR REPLACE INTO oc_schema_lock (id) VALUES (1)")?
            }
            DbConnection::Postgresql(pg) => {
                pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})"))?
            }
        }
        task(conn)
    })
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<usize, DbError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|applied| applied.len())
        .map_err(|err| DbError::Migration(err.to_string()))
}

/// Applies pending migrations; returns how many ran. The whole run is one transaction on
/// the backend's own connection (each migration a savepoint in it) holding the same lock
/// as [`with_schema_lock`], so two instances starting together cannot race.
pub fn run_pending(conn: &mut DbConnection) -> Result<usize, DbError> {
    match conn {
        DbConnection::Sqlite(sqlite) => sqlite.immediate_transaction(|sqlite| apply(sqlite, SQLITE_MIGRATIONS)),
        DbConnection::Postgresql(pg) => pg.transaction(|pg| {
            pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})"))?;
            apply(pg, POSTGRES_MIGRATIONS)
        }),
    }
}

/// How the database's schema compares with the migrations this binary embeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Embedded migrations the database has not applied (the schema is behind this release).
    pub pending: Vec<String>,
    /// Applied migrations this binary does not know (a newer release ran them; the schema
    /// is ahead, which an older release survives since migrations only add).
    pub unknown: Vec<String>,
}

fn compare<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<SchemaStatus, DbError>
where
    C: MigrationHarness<C::Backend> + Connection,
    EmbeddedMigrations: MigrationSource<C::Backend>,
{
    let embedded: Vec<String> = MigrationSource::<C::Backend>::migrations(&migrations)
        .map_err(|err| DbError::Migration(err.to_string()))?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let mut applied: Vec<String> = conn
        .applied_migrations()
        .map_err(|err| DbError::Migration(err.to_string()))?
        .iter()
        .map(ToString::to_string)
        .collect();
    applied.sort();
    let pending = embedded.iter().filter(|v| !applied.contains(v)).cloned().collect();
    let unknown = applied.into_iter().filter(|v| !embedded.contains(v)).collect();
    Ok(SchemaStatus { pending, unknown })
}

/// Compares the applied migrations with the embedded ones (two queries; the migrations
/// table is created if missing, as diesel does before any migration).
pub fn schema_status(conn: &mut DbConnection) -> Result<SchemaStatus, DbError> {
    match conn {
        DbConnection::Sqlite(sqlite) => compare(sqlite, SQLITE_MIGRATIONS),
        DbConnection::Postgresql(pg) => compare(pg, POSTGRES_MIGRATIONS),
    }
}

/// After rows were inserted with explicit ids, PostgreSQL's sequences must move past them
/// (SQLite's AUTOINCREMENT does so by itself).
pub fn sync_id_sequences(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgresql(pg) = conn {
        for table in [
            "auth_user",
            "lettings_address",
            "lettings_letting",
            "profiles_profile",
            "django_admin_log",
            "auth_group",
        ] {
            pg.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))?;
        }
    }
    Ok(())
}
