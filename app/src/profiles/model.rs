//! Profile: the row, and the queries the pages need.

use diesel::prelude::*;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use crate::db::schema::{auth_user, profiles_profile};
use crate::db::{DbConnection, DbError};

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

pub fn list_profiles(conn: &mut DbConnection) -> Result<Vec<ProfileSummary>, DbError> {
    let usernames: Vec<String> = profiles_profile::table
        .inner_join(auth_user::table)
        .select(auth_user::username)
        .order(profiles_profile::id)
        .load(conn)?;
    Ok(usernames
        .into_iter()
        .map(|username| ProfileSummary {
            url: profile_url(&username),
            username,
        })
        .collect())
}

pub fn load_profile(conn: &mut DbConnection, username: &str) -> Result<Option<ProfileDetail>, DbError> {
    // No stored username is empty, longer than Django allows, or holds control characters
    // (which PostgreSQL would reject outright, NUL above all).
    if username.is_empty() || username.chars().count() > USERNAME_MAX_CHARS || username.chars().any(char::is_control) {
        return Ok(None);
    }
    crate::db::first(
        profiles_profile::table
            .inner_join(auth_user::table)
            .filter(auth_user::username.eq(username))
            .select((
                auth_user::username,
                auth_user::first_name,
                auth_user::last_name,
                auth_user::email,
                profiles_profile::favorite_city,
            )),
        conn,
    )
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
