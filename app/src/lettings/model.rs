//! Address and Letting: the rows, and the queries the pages need.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{lettings_address, lettings_letting};
use crate::db::{Database, DbError};
use crate::pagination::PageRequest;

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
pub async fn lettings(db: &Database, page: PageRequest) -> Result<Vec<LettingSummary>, DbError> {
    let Some(from_id) = db
        .first_id(page, "lettings_letting", first_letting_id, last_letting_id)
        .await?
    else {
        return Ok(Vec::new());
    };
    db.fetch(lettings_query(from_id, page.limit())).await
}

/// One letting with its address.
pub async fn letting(db: &Database, id: i32) -> Result<Option<LettingDetail>, DbError> {
    let rows: Vec<(Letting, Address)> = db.fetch(letting_query(id)).await?;
    Ok(rows.into_iter().next().map(|(letting, address)| LettingDetail {
        id: letting.id,
        title: letting.title,
        address,
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
