//! A user's second factor as stored: one TOTP key (`auth_user_totp`, pending until its
//! first code is entered) and its recovery codes (`auth_user_recovery_code`, hashed,
//! each used once). Every check that accepts something marks it used in the same
//! statement (a compare-and-set), so two instances never both accept one code.
//!
//! Keys and codes are made by the caller (`totp.rs`), so this module only reads and
//! writes rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::totp;
use crate::db::schema::{auth_user_recovery_code as recovery, auth_user_totp as key};
use crate::db::{DbConnection, DbError};

/// What a user has set up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// A confirmed key: logging in takes a code.
    pub enrolled: bool,
    /// A key waiting for its first code (enrolment under way), base32.
    pub pending: Option<String>,
    /// Recovery codes not used yet.
    pub codes_left: i64,
}

/// What a code given at login (or to confirm a change) turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The authenticator's code for now (or a neighbouring step), not used before.
    Code,
    /// An unused recovery code, now used; so many are left.
    RecoveryCode { left: i64 },
    /// Neither (wrong, used before, or the user has no second factor).
    Wrong,
}

impl Checked {
    pub fn accepted(self) -> bool {
        !matches!(self, Checked::Wrong)
    }
}

fn codes_left(conn: &mut DbConnection, user_id: i32) -> Result<i64, DbError> {
    Ok(recovery::table
        .filter(recovery::user_id.eq(user_id))
        .filter(recovery::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// What `user_id` has set up.
pub fn status(conn: &mut DbConnection, user_id: i32) -> Result<Status, DbError> {
    let row: Option<(String, Option<NaiveDateTime>)> =
        crate::db::first(key::table.find(user_id).select((key::secret, key::confirmed_at)), conn)?;
    Ok(match row {
        None => Status::default(),
        Some((_, Some(_))) => Status {
            enrolled: true,
            pending: None,
            codes_left: codes_left(conn, user_id)?,
        },
        Some((secret, None)) => Status {
            enrolled: false,
            pending: Some(secret),
            codes_left: 0,
        },
    })
}

/// Whether logging in as `user_id` takes a second factor.
pub fn enrolled(conn: &mut DbConnection, user_id: i32) -> Result<bool, DbError> {
    let confirmed: Option<Option<NaiveDateTime>> =
        crate::db::first(key::table.find(user_id).select(key::confirmed_at), conn)?;
    Ok(matches!(confirmed, Some(Some(_))))
}

/// Starts an enrolment with `secret` (replacing one under way); `false`, changing
/// nothing, when the user is enrolled already (turn it off first).
pub fn start(conn: &mut DbConnection, user_id: i32, secret: &str) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        if enrolled(conn, user_id)? {
            return Ok(false);
        }
        diesel::delete(key::table.find(user_id)).execute(conn)?;
        diesel::insert_into(key::table)
            .values((
                key::user_id.eq(user_id),
                key::secret.eq(secret),
                key::last_step.eq(0i64),
                key::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Stores `codes` (as typed-back, hashed) as the user's recovery codes, replacing any.
pub fn replace_recovery_codes(conn: &mut DbConnection, user_id: i32, codes: &[String]) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::delete(recovery::table.filter(recovery::user_id.eq(user_id))).execute(conn)?;
        // One statement per code: ten rows (a multi-row insert is not one statement over
        // both backends' connection here).
        for code in codes.iter().filter_map(|code| totp::typed_recovery_code(code)) {
            diesel::insert_into(recovery::table)
                .values((
                    recovery::user_id.eq(user_id),
                    recovery::code_hash.eq(totp::recovery_code_hash(&code)),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Finishes an enrolment: `code` must be the pending key's code for `now_step` (or a
/// neighbour). Then the key is confirmed and `codes` become the recovery codes.
/// `false`, changing nothing, for a wrong code or no enrolment under way.
pub fn confirm(
    conn: &mut DbConnection,
    user_id: i32,
    code: &str,
    now_step: i64,
    codes: &[String],
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let pending: Option<(String, i64)> = crate::db::first(
            key::table
                .find(user_id)
                .filter(key::confirmed_at.is_null())
                .select((key::secret, key::last_step)),
            conn,
        )?;
        let Some((secret, last_step)) = pending else {
            return Ok(false);
        };
        let Some(step) =
            totp::typed_code(code).and_then(|code| totp::matching_step(&secret, &code, now_step, last_step))
        else {
            return Ok(false);
        };
        let confirmed = diesel::update(
            key::table
                .find(user_id)
                .filter(key::confirmed_at.is_null())
                .filter(key::last_step.lt(step)),
        )
        .set((key::confirmed_at.eq(crate::clock::now()), key::last_step.eq(step)))
        .execute(conn)?;
        if confirmed != 1 {
            return Ok(false);
        }
        replace_recovery_codes(conn, user_id, codes)?;
        Ok(true)
    })
}

/// Checks what a user typed as their second factor: a six-digit code of their confirmed
/// key, or one of their unused recovery codes. Whatever is accepted is used up.
pub fn check(conn: &mut DbConnection, user_id: i32, input: &str, now_step: i64) -> Result<Checked, DbError> {
    if let Some(code) = totp::typed_code(input) {
        let confirmed: Option<(String, i64)> = crate::db::first(
            key::table
                .find(user_id)
                .filter(key::confirmed_at.is_not_null())
                .select((key::secret, key::last_step)),
            conn,
        )?;
        let Some((secret, last_step)) = confirmed else {
            return Ok(Checked::Wrong);
        };
        let Some(step) = totp::matching_step(&secret, &code, now_step, last_step) else {
            return Ok(Checked::Wrong);
        };
        // Used once: another instance that accepted this step (or a later one) first wins.
        let taken = diesel::update(key::table.find(user_id).filter(key::last_step.lt(step)))
            .set(key::last_step.eq(step))
            .execute(conn)?;
        return Ok(if taken == 1 { Checked::Code } else { Checked::Wrong });
    }
    if let Some(code) = totp::typed_recovery_code(input) {
        if !enrolled(conn, user_id)? {
            return Ok(Checked::Wrong);
        }
        let used = diesel::update(
            recovery::table
                .filter(recovery::user_id.eq(user_id))
                .filter(recovery::code_hash.eq(totp::recovery_code_hash(&code)))
                .filter(recovery::used_at.is_null()),
        )
        .set(recovery::used_at.eq(crate::clock::now()))
        .execute(conn)?;
        if used == 1 {
            return Ok(Checked::RecoveryCode {
                left: codes_left(conn, user_id)?,
            });
        }
    }
    Ok(Checked::Wrong)
}

/// Removes the user's key and recovery codes (turned off, or reset by a superuser or
/// the command line); whether a confirmed key was removed.
pub fn remove(conn: &mut DbConnection, user_id: i32) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let was = enrolled(conn, user_id)?;
        diesel::delete(recovery::table.filter(recovery::user_id.eq(user_id))).execute(conn)?;
        diesel::delete(key::table.find(user_id)).execute(conn)?;
        Ok(was)
    })
}
