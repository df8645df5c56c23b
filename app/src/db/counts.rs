//! How many rows a table holds, cheaply at any size: SQLite counts from the table's
//! smallest index (a few milliseconds at a million rows); PostgreSQL, whose `count(*)`
//! reads every row, keeps each listed table's count in `row_count`, exact, maintained by
//! statement-level triggers (migration `2026-12-02-000002_row_count`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{Database, DbConnection, DbError};

diesel::table! {
    /// PostgreSQL only: each counted table's rows, kept by triggers.
    row_count (table_name) {
        table_name -> Text,
        rows -> BigInt,
    }
}

/// The tables whose rows PostgreSQL keeps counted.
pub const COUNTED: [&str; 6] = [
    "auth_user",
    "auth_group",
    "lettings_address",
    "lettings_letting",
    "profiles_profile",
    "django_admin_log",
];

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

/// `table` is one of [`COUNTED`] (its name goes into SQL only then).
fn counted(table: &str) -> Result<(), DbError> {
    if COUNTED.contains(&table) {
        Ok(())
    } else {
        Err(DbError::Unexpected(format!("no row count is kept for {table}")))
    }
}

/// The rows of `table`, one of [`COUNTED`] (anything else is an error, never SQL).
pub fn rows(conn: &mut DbConnection, table: &str) -> Result<i64, DbError> {
    counted(table)?;
    let counted: Rows = match conn {
        DbConnection::Sqlite(_) => {
            diesel::sql_query(format!("SELECT count(*) AS rows FROM {table}")).get_result(conn)?
        }
        DbConnection::Postgresql(_) => diesel::sql_query("SELECT rows FROM row_count WHERE table_name = $1")
            .bind::<Text, _>(table)
            .get_result(conn)?,
    };
    Ok(counted.rows)
}

/// [`rows`] for a public page: through the async reader when it is on, else as a short
/// read (see [`Database::fetch`]).
pub async fn rows_read(db: &Database, table: &'static str) -> Result<i64, DbError> {
    counted(table)?;
    let Some(reader) = db.reader() else {
        return db.read(move |conn| rows(conn, table)).await;
    };
    let counted: Vec<i64> = reader
        .load(
            row_count::table
                .select(row_count::rows)
                .filter(row_count::table_name.eq(table)),
        )
        .await?;
    counted
        .first()
        .copied()
        .ok_or_else(|| DbError::Unexpected(format!("no row count for {table}")))
}
