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

/// What a password change needs of a user: the stored hash, and the attributes a new
/// password may not resemble (Django's similarity validator).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = auth_user)]
pub struct PasswordOwner {
    pub id: i32,
    pub password: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

impl PasswordOwner {
    pub fn by_id(conn: &mut crate::db::DbConnection, id: i32) -> Result<Option<Self>, crate::db::DbError> {
        crate::db::first(auth_user::table.find(id).select(Self::as_select()), conn)
    }

    pub fn by_username(conn: &mut crate::db::DbConnection, username: &str) -> Result<Option<Self>, crate::db::DbError> {
        crate::db::first(
            auth_user::table
                .filter(auth_user::username.eq(username))
                .select(Self::as_select()),
            conn,
        )
    }

    pub fn attributes(&self) -> crate::accounts::validators::UserAttributes<'_> {
        crate::accounts::validators::UserAttributes {
            username: &self.username,
            first_name: &self.first_name,
            last_name: &self.last_name,
            email: &self.email,
        }
    }
}
