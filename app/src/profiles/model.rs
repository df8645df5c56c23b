//! Profile: the row, and the queries the pages need.

use diesel::prelude::*;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use crate::db::schema::{auth_user, profiles_profile};
use crate::db::{Database, DbError};
use crate::pagination::PageRequest;

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
fn profile_query(username: String) -> _ {
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
pub async fn profiles(db: &Database, page: PageRequest) -> Result<Vec<ProfileSummary>, DbError> {
    let Some(from_id) = db
        .first_id(page, "profiles_profile", first_profile_id, last_profile_id)
        .await?
    else {
        return Ok(Vec::new());
    };
    let usernames: Vec<String> = db.fetch(profiles_query(from_id, page.limit())).await?;
    Ok(usernames.into_iter().map(summary).collect())
}

/// One profile, by its user's name.
pub async fn profile(db: &Database, username: String) -> Result<Option<ProfileDetail>, DbError> {
    if !could_exist(&username) {
        return Ok(None);
    }
    Ok(db.fetch(profile_query(username)).await?.into_iter().next())
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
