//! The user row, as Django stores it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{admin_session, auth_user};
use crate::db::{DbConnection, DbError};

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

/// The session that changed its own password, which stays logged in: its token's hash,
/// and the CSRF token it gets instead of its old one (Django rotates a session's keys
/// when its password changes: `update_session_auth_hash`).
#[derive(Debug, Clone, Copy)]
pub struct KeptSession<'a> {
    pub token_hash: &'a str,
    pub new_csrf_token: &'a str,
}

/// Stores a user's new password hash and ends their sessions (as a password change
/// should), but `kept` (a user who changed their own password stays logged in, with a
/// new CSRF token); whether the user exists.
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: i32,
    hash: &str,
    kept: Option<KeptSession<'_>>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let updated = diesel::update(auth_user::table.find(id))
            .set(auth_user::password.eq(hash))
            .execute(conn)?;
        let sessions = admin_session::table.filter(admin_session::user_id.eq(id));
        match kept {
            Some(kept) => {
                diesel::delete(sessions.filter(admin_session::token_hash.ne(kept.token_hash))).execute(conn)?;
                diesel::update(sessions.filter(admin_session::token_hash.eq(kept.token_hash)))
                    .set(admin_session::csrf_token.eq(kept.new_csrf_token))
                    .execute(conn)?;
            }
            None => {
                diesel::delete(sessions).execute(conn)?;
            }
        }
        Ok(updated > 0)
    })
}

/// Ends every session of a user but `keep` (a session's token hash: the acting user's own).
pub fn end_sessions_but(conn: &mut DbConnection, id: i32, keep: Option<&str>) -> Result<(), DbError> {
    let sessions = admin_session::table.filter(admin_session::user_id.eq(id));
    match keep {
        Some(keep) => diesel::delete(sessions.filter(admin_session::token_hash.ne(keep))).execute(conn)?,
        None => diesel::delete(sessions).execute(conn)?,
    };
    Ok(())
}

/// Ends every session of a user (deactivated or demoted).
pub fn end_sessions(conn: &mut DbConnection, id: i32) -> Result<(), DbError> {
    diesel::delete(admin_session::table.filter(admin_session::user_id.eq(id))).execute(conn)?;
    Ok(())
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

    pub fn attributes(&self) -> crate::password_rules::UserAttributes<'_> {
        crate::password_rules::UserAttributes {
            username: &self.username,
            first_name: &self.first_name,
            last_name: &self.last_name,
            email: &self.email,
        }
    }
}
