//! Embedded migrations, applied by `oc-lettings migrate` and at `serve` start-up.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Applies pending migrations; returns how many ran. The whole run holds SQLite's write
/// lock (an exclusive transaction), so two instances starting together cannot race.
pub fn run_pending(conn: &mut DbConnection) -> Result<usize, DbError> {
    conn.exclusive_transaction(|conn| {
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|err| MigrationFailure(err.to_string()))
    })
    .map_err(|err: MigrationFailure| DbError::Migration(err.0))
}

/// Carries a harness error out of the transaction closure (which needs `From<diesel::Error>`).
#[derive(Debug)]
struct MigrationFailure(String);

impl From<diesel::result::Error> for MigrationFailure {
    fn from(err: diesel::result::Error) -> Self {
        MigrationFailure(err.to_string())
    }
}
