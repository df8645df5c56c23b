//! How many rows a table holds, cheaply at any size: SQLite counts from the table's
//! smallest index (a few milliseconds at a million rows); PostgreSQL, whose `count(*)`
//! reads every row, keeps each listed table's count in `row_count`, exact, maintained by
//! statement-level triggers (migration `2026-12-02-000002_row_count`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::reader::{column, Query, Reader};
use super::{DbConnection, DbError};

static ROW_COUNT_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| "SELECT rows FROM row_count WHERE table_name = $1".to_owned());
static ROW_COUNT: Query = Query {
    name: "row_count",
    sql: &ROW_COUNT_SQL,
};

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

/// [`rows`] through the async reader (PostgreSQL).
pub async fn rows_read(reader: &Reader, table: &str) -> Result<i64, DbError> {
    counted(table)?;
    match reader.query(&ROW_COUNT, &[&table]).await?.first() {
        Some(row) => column(row, 0),
        None => Err(DbError::Unexpected(format!("no row count for {table}"))),
    }
}
