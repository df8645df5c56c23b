//! Profile: the row, and the queries the pages need.

use diesel::prelude::*;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use std::sync::LazyLock;

use crate::db::reader::{column, pg_sql, Query};
use crate::db::schema::{auth_user, profiles_profile};
use crate::db::{Database, DbConnection, DbError};
use crate::pagination::{PageRequest, Start};

/// Django usernames are at most 150 characters; a longer path segment names no one.
pub const USERNAME_MAX_CHARS: usize = 150;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = profiles_profile)]
pub struct Profile {
    pub id: i32,
    pub favorite_city: String,
    pub user_id: i32,
}

/// One line of the profiles list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileSummary {
    pub username: String,
    /// `/profiles/<username>/`, percent-encoded.
    pub url: String,
}

/// What the profile page shows.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Serialize)]
pub struct ProfileDetail {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub favorite_city: String,
}

/// Characters kept as they are in a path segment; everything else is percent-encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+');

pub fn profile_url(username: &str) -> String {
    format!("/profiles/{}/", utf8_percent_encode(username, PATH_SEGMENT))
}

/// The id that the page after `offset` rows starts at, read over the primary key alone:
/// the rows before the page are stepped over in the key's index, never read or joined.
#[diesel::dsl::auto_type]
fn first_profile_id(offset: i64) -> _ {
    profiles_profile::table
        .select(profiles_profile::id)
        .order(profiles_profile::id)
        .offset(offset)
        .limit(1_i64)
}

/// The id `skip` ids before the largest (a page in the back half of the list starts there).
#[diesel::dsl::auto_type]
fn last_profile_id(skip: i64) -> _ {
    profiles_profile::table
        .select(profiles_profile::id)
        .order(profiles_profile::id.desc())
        .offset(skip)
        .limit(1_i64)
}

/// `limit` rows from id `from_id` on, in id order.
#[diesel::dsl::auto_type]
fn profiles_query(from_id: i32, limit: i64) -> _ {
    profiles_profile::table
        .inner_join(auth_user::table)
        .select(auth_user::username)
        .filter(profiles_profile::id.ge(from_id))
        .order(profiles_profile::id)
        .limit(limit)
}

#[diesel::dsl::auto_type]
fn profile_query<'a>(username: &'a str) -> _ {
    profiles_profile::table
        .inner_join(auth_user::table)
        .filter(auth_user::username.eq(username))
        .select((
            auth_user::username,
            auth_user::first_name,
            auth_user::last_name,
            auth_user::email,
            profiles_profile::favorite_city,
        ))
}

fn summary(username: String) -> ProfileSummary {
    ProfileSummary {
        url: profile_url(&username),
        username,
    }
}

/// No stored username is empty, longer than Django allows, or holds control characters
/// (which PostgreSQL would reject outright, NUL above all): such a name is looked up nowhere.
fn could_exist(username: &str) -> bool {
    !username.is_empty() && username.chars().count() <= USERNAME_MAX_CHARS && !username.chars().any(char::is_control)
}

/// The rows of one page of the profiles list (one more than the page shows).
pub fn list_profiles(conn: &mut DbConnection, page: PageRequest) -> Result<Vec<ProfileSummary>, DbError> {
    let from_id = match page.offset() {
        0 => 0,
        _ => {
            let first = match page.start(crate::db::counts::rows(conn, "profiles_profile")?) {
                Start::Skip(skip) => crate::db::load(first_profile_id(skip), conn)?,
                Start::SkipFromEnd(skip) => crate::db::load(last_profile_id(skip), conn)?,
                Start::PastEnd => Vec::new(),
            };
            match first.into_iter().next() {
                Some(id) => id,
                None => return Ok(Vec::new()),
            }
        }
    };
    let usernames: Vec<String> = crate::db::load(profiles_query(from_id, page.limit()), conn)?;
    Ok(usernames.into_iter().map(summary).collect())
}

pub fn load_profile(conn: &mut DbConnection, username: &str) -> Result<Option<ProfileDetail>, DbError> {
    if !could_exist(username) {
        return Ok(None);
    }
    Ok(crate::db::load(profile_query(username), conn)?.into_iter().next())
}

static FIRST_PROFILE_ID_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&first_profile_id(0)));
static FIRST_PROFILE_ID: Query = Query {
    name: "first_profile_id",
    sql: &FIRST_PROFILE_ID_SQL,
};
static LAST_PROFILE_ID_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&last_profile_id(0)));
static LAST_PROFILE_ID: Query = Query {
    name: "last_profile_id",
    sql: &LAST_PROFILE_ID_SQL,
};
static PROFILES_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&profiles_query(0, 0)));
static PROFILES: Query = Query {
    name: "profiles",
    sql: &PROFILES_SQL,
};
static PROFILE_SQL: LazyLock<String> = LazyLock::new(|| pg_sql(&profile_query("")));
static PROFILE: Query = Query {
    name: "profile",
    sql: &PROFILE_SQL,
};

/// One page of the profiles list: through the async reader when it is on (PostgreSQL),
/// else [`list_profiles`] on the pool.
pub async fn profiles(db: &Database, page: PageRequest) -> Result<Vec<ProfileSummary>, DbError> {
    let Some(reader) = db.reader() else {
        return db.read(move |conn| list_profiles(conn, page)).await;
    };
    let Some(from_id) = reader
        .first_id(page, "profiles_profile", &FIRST_PROFILE_ID, &LAST_PROFILE_ID)
        .await?
    else {
        return Ok(Vec::new());
    };
    let rows = reader.query(&PROFILES, &[&from_id, &page.limit()]).await?;
    rows.iter().map(|row| Ok(summary(column(row, 0)?))).collect()
}

/// One profile, as [`load_profile`] reads it.
pub async fn profile(db: &Database, username: String) -> Result<Option<ProfileDetail>, DbError> {
    let Some(reader) = db.reader() else {
        return db.read(move |conn| load_profile(conn, &username)).await;
    };
    if !could_exist(&username) {
        return Ok(None);
    }
    let rows = reader.query(&PROFILE, &[&username]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(ProfileDetail {
        username: column(row, 0)?,
        first_name: column(row, 1)?,
        last_name: column(row, 2)?,
        email: column(row, 3)?,
        favorite_city: column(row, 4)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_urls_encode_what_a_path_cannot_hold() {
        assert_eq!(profile_url("HeadlinesGazer"), "/profiles/HeadlinesGazer/");
        assert_eq!(profile_url("a.b@c+d-e_f"), "/profiles/a.b@c+d-e_f/");
        assert_eq!(profile_url("a/b c?"), "/profiles/a%2Fb%20c%3F/");
    }
}
