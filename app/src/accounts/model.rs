//! The user row, as Django stores it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::auth_user;

/// A full `auth_user` row. `password` is a hash (`pbkdf2_sha256$…`, `argon2…`, or an
/// unusable `!…`), never a password.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = auth_user)]
pub struct User {
    pub id: i32,
    pub password: String,
    pub last_login: Option<NaiveDateTime>,
    pub is_superuser: bool,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: NaiveDateTime,
}

/// A password hash that never verifies (Django's convention: it starts with `!`).
pub const UNUSABLE_PASSWORD: &str = "!unusable";
