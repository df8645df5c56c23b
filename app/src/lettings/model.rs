//! Address and Letting: the rows, and the queries the pages need.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{lettings_address, lettings_letting};
use crate::db::{DbConnection, DbError};

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

pub fn list_lettings(conn: &mut DbConnection) -> Result<Vec<LettingSummary>, DbError> {
    Ok(lettings_letting::table
        .select((lettings_letting::id, lettings_letting::title))
        .order(lettings_letting::id)
        .load(conn)?)
}

pub fn load_letting(conn: &mut DbConnection, id: i32) -> Result<Option<LettingDetail>, DbError> {
    let row: Option<(Letting, Address)> = crate::db::first(
        lettings_letting::table
            .inner_join(lettings_address::table)
            .filter(lettings_letting::id.eq(id))
            .select((Letting::as_select(), Address::as_select())),
        conn,
    )?;
    Ok(row.map(|(letting, address)| LettingDetail {
        id: letting.id,
        title: letting.title,
        address,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
