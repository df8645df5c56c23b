//! Address and Letting: the rows, and the queries the pages need.

use diesel::prelude::*;
use serde::Serialize;

use std::sync::LazyLock;

use crate::db::reader::{column, pg_sql, Query};
use crate::db::schema::{lettings_address, lettings_letting};
use crate::db::{Database, DbConnection, DbError};
use crate::pagination::{PageRequest, Start};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = lettings_address)]
pub struct Address {
    pub id: i32,
    pub number: i32,
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip_code: i32,
    pub country_iso_code: String,
}

impl std::fmt::Display for Address {
    /// As the original's `__str__`: "7217 Bedford Street".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.number, self.street)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = lettings_letting)]
pub struct Letting {
    pub id: i32,
    pub title: String,
    pub address_id: i32,
}

/// One line of the lettings list.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct LettingSummary {
    pub id: i32,
    pub title: String,
}

/// What the letting page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LettingDetail {
    pub id: i32,
    pub title: String,
    pub address: Address,
}

/// The id that the page after `offset` rows starts at, read over the primary key alone:
/// the rows before the page are stepped over in the key's index, never read or joined.
#[diesel::dsl::auto_type]
fn first_letting_id(offset: i64) -> _ {
    lettings_letting::table
        .select(lettings_letting::id)
        .order(lettings_letting::id)
        .offset(offset)
        .limit(1_i64)
}

/// The id `skip` ids before the largest (a page in the back half of the list starts there).
#[diesel::dsl::auto_type]
fn last_letting_id(skip: i64) -> _ {
    lettings_letting::table
        .select(lettings_letting::id)
        .order(lettings_letting::id.desc())
        .offset(skip)
        .limit(1_i64)
}

/// `limit` rows from id `from_id` on, in id order.
#[diesel::dsl::auto_type]
fn lettings_query(from_id: i32, limit: i64) -> _ {
    lettings_letting::table
        .select((lettings_letting::id, lettings_letting::title))
        .filter(lettings_letting::id.ge(from_id))
        .order(lettings_letting::id)
        .limit(limit)
}

/// Selects the join's default: every column of the letting, then of its address.
#[diesel::dsl::auto_type]
fn letting_query(id: i32) -> _ {
    lettings_letting::table
        .inner_join(lettings_address::table)
        .filter(lettings_letting::id.eq(id))
}

/// The rows of one page of the lettings list (one more than the page shows, see
/// [`PageRequest::limit`]).
pub fn list_lettings(conn: &mut DbConnection, page: PageRequest) -> Result<Vec<LettingSummary>, DbError> {
    let from_id = match page.offset() {
        0 => 0,
        _ => {
            let first = match page.start(crate::db::counts::rows(conn, "lettings_letting")?) {
                Start::Skip(skip) => crate::db::load(first_letting_id(skip), conn)?,
                Start::SkipFromEnd(skip) => crate::db::load(last_letting_id(skip), conn)?,
                Start::PastEnd => Vec::new(),
            };
            match first.into_iter().next() {
                Some(id) => id,
                None => return Ok(Vec::new()),
            }
        }
    };
    crate::db::load(lettings_query(from_id, page.limit()), conn)
}

pub fn load_letting(conn: &mut DbConnection, id: i32) -> Result<Option<LettingDetail>, DbError> {
    let row: Option<(Letting, Address)> = crate::db::load(letting_query(id), conn)?.into_iter().next();
    Ok(row.map(|(letting, address)| LettingDetail {
        id: letting.id,
        title: letting.title,
        address,
    }))
}

static FIRST_LETTING_ID_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&first_letting_id(0)));
static FIRST_LETTING_ID: Query = Query {
    name: "first_letting_id",
    sql: &FIRST_LETTING_ID_SQL,
};
static LAST_LETTING_ID_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&last_letting_id(0)));
static LAST_LETTING_ID: Query = Query {
    name: "last_letting_id",
    sql: &LAST_LETTING_ID_SQL,
};
static LETTINGS_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&lettings_query(0, 0)));
static LETTINGS: Query = Query {
    name: "lettings",
    sql: &LETTINGS_SQL,
};
static LETTING_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&letting_query(0)));
static LETTING: Query = Query {
    name: "letting",
    sql: &LETTING_SQL,
};

/// One page of the lettings list: through the async reader when it is on (PostgreSQL),
/// else [`list_lettings`] on the pool.
pub async fn lettings(db: &Database, page: PageRequest) -> Result<Vec<LettingSummary>, DbError> {
    let Some(reader) = db.reader() else {
        return db.read(move |conn| list_lettings(conn, page)).await;
    };
    let Some(from_id) = reader
        .first_id(page, "lettings_letting", &FIRST_LETTING_ID, &LAST_LETTING_ID)
        .await?
    else {
        return Ok(Vec::new());
    };
    let rows = reader.query(&LETTINGS, &[&from_id, &page.limit()]).await?;
    rows.iter()
        .map(|row| {
            Ok(LettingSummary {
                id: column(row, 0)?,
                title: column(row, 1)?,
            })
        })
        .collect()
}

/// One letting with its address, as [`load_letting`] reads it.
pub async fn letting(db: &Database, id: i32) -> Result<Option<LettingDetail>, DbError> {
    let Some(reader) = db.reader() else {
        return db.read(move |conn| load_letting(conn, id)).await;
    };
    let rows = reader.query(&LETTING, &[&id]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    // Columns: the letting's (id, title, address_id), then the address's, in table order.
    Ok(Some(LettingDetail {
        id: column(row, 0)?,
        title: column(row, 1)?,
        address: Address {
            id: column(row, 3)?,
            number: column(row, 4)?,
            street: column(row, 5)?,
            city: column(row, 6)?,
            state: column(row, 7)?,
            zip_code: column(row, 8)?,
            country_iso_code: column(row, 9)?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_reads_futures_stay_small() {
        // A page handler's future holds its read's; it is moved whole into place on every
        // request. The reader keeps its connect and query futures on the heap (4.5 KB
        // inline before, most of an uncached page's memcpy in the profile).
        let url = crate::config::DatabaseUrl::Sqlite("unused.sqlite3".into());
        let db = Database::new(&url, 1).unwrap();
        let page = PageRequest::from_query("", 25).unwrap();
        let sizes = [
            std::mem::size_of_val(&lettings(&db, page)),
            std::mem::size_of_val(&letting(&db, 1)),
            std::mem::size_of_val(&crate::profiles::model::profiles(&db, page)),
            std::mem::size_of_val(&crate::profiles::model::profile(&db, String::new())),
        ];
        assert!(sizes.iter().all(|&size| size <= 512), "{sizes:?}");
    }

    #[test]
    fn address_displays_like_the_original() {
        let address = Address {
            id: 1,
            number: 7217,
            street: "Bedford Street".into(),
            city: "Brunswick".into(),
            state: "GA".into(),
            zip_code: 31525,
            country_iso_code: "USA".into(),
        };
        assert_eq!(address.to_string(), "7217 Bedford Street");
    }
}
