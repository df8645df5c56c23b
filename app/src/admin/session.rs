//! Admin sessions, stored server-side. The cookie carries `token.signature`; the table
//! keeps SHA-256(token), the user, the session's CSRF token and its expiry.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::permissions::{self, Permissions};
use crate::db::schema::{admin_session, auth_user};
use crate::db::{DbConnection, DbError};
use crate::tokens;

pub const COOKIE: &str = "oc_session";
/// Django's default session age: two weeks.
pub const AGE_SECS: i64 = 14 * 24 * 60 * 60;

/// A logged-in staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub token_hash: String,
    pub user_id: i32,
    pub username: String,
    pub is_superuser: bool,
    pub csrf_token: String,
    /// What this staff member may do in the admin (read at each request, so a change
    /// takes effect at once, on every instance).
    pub permissions: Permissions,
}

#[derive(Insertable)]
#[diesel(table_name = admin_session)]
struct NewSession<'a> {
    token_hash: &'a str,
    user_id: i32,
    csrf_token: &'a str,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

/// Opens a session for `user_id`; returns the token for the cookie.
pub fn create(conn: &mut DbConnection, user_id: i32, token: &str, csrf_token: &str) -> Result<(), DbError> {
    let created_at = crate::clock::now();
    let hash = tokens::sha256_hex(token);
    diesel::insert_into(admin_session::table)
        .values(&NewSession {
            token_hash: &hash,
            user_id,
            csrf_token,
            created_at,
            expires_at: created_at + TimeDelta::seconds(AGE_SECS),
        })
        .execute(conn)?;
    Ok(())
}

/// The live session for `token`, if its user is still an active staff member.
pub fn load(conn: &mut DbConnection, token: &str) -> Result<Option<StaffSession>, DbError> {
    let hash = tokens::sha256_hex(token);
    let row: Option<(i32, String, bool, String)> = crate::db::first(
        admin_session::table
            .inner_join(auth_user::table)
            .filter(admin_session::token_hash.eq(&hash))
            .filter(admin_session::expires_at.gt(crate::clock::now()))
            .filter(auth_user::is_active.eq(true))
            .filter(auth_user::is_staff.eq(true))
            .select((
                admin_session::user_id,
                auth_user::username,
                auth_user::is_superuser,
                admin_session::csrf_token,
            )),
        conn,
    )?;
    let Some((user_id, username, is_superuser, csrf_token)) = row else {
        return Ok(None);
    };
    let permissions = if is_superuser {
        Permissions::superuser()
    } else {
        permissions::load(conn, user_id)?
    };
    Ok(Some(StaffSession {
        token_hash: hash,
        user_id,
        username,
        is_superuser,
        csrf_token,
        permissions,
    }))
}

/// Ends one session (logout, or the old one at login).
pub fn delete(conn: &mut DbConnection, token: &str) -> Result<(), DbError> {
    let hash = tokens::sha256_hex(token);
    diesel::delete(admin_session::table.filter(admin_session::token_hash.eq(hash))).execute(conn)?;
    Ok(())
}

/// Drops expired sessions (called at login, so the table does not grow forever).
pub fn purge_expired(conn: &mut DbConnection) -> Result<usize, DbError> {
    Ok(diesel::delete(admin_session::table.filter(admin_session::expires_at.le(crate::clock::now()))).execute(conn)?)
}
