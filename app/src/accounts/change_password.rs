//! `oc-lettings changepassword [USERNAME]`, as Django's command: the new password twice
//! (no echo on a terminal), Django's validators, three tries; every session of the user
//! ends (they log in again with the new password).

use diesel::prelude::*;

use super::password::{hash_password, HashError};
use super::validators::{validate, UserAttributes};
use crate::db::schema::auth_user as user;
use crate::db::{DbConnection, DbError};

/// Django's `changepassword` gives up after this many tries.
pub const MAX_TRIES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("user '{0}' does not exist")]
    NoSuchUser(String),
    #[error("Aborting password change for user '{0}' after {1} attempts")]
    Aborted(String, usize),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl From<diesel::result::Error> for ChangePasswordError {
    fn from(err: diesel::result::Error) -> Self {
        ChangePasswordError::Database(DbError::Query(err))
    }
}

/// Asks (through `ask`, which reads one password after a prompt) for the new password
/// twice until it is valid, at most [`MAX_TRIES`] times, telling (through `say`) what was
/// wrong; stores its hash and ends the user's sessions.
pub fn change_password(
    conn: &mut DbConnection,
    username: &str,
    mut ask: impl FnMut(&str) -> Result<String, String>,
    mut say: impl FnMut(&str),
) -> Result<(), ChangePasswordError> {
    type Row = (i32, String, String, String, String);
    let found: Option<Row> = crate::db::first(
        user::table.filter(user::username.eq(username)).select((
            user::id,
            user::username,
            user::first_name,
            user::last_name,
            user::email,
        )),
        conn,
    )?;
    let Some((id, username, first_name, last_name, email)) = found else {
        return Err(ChangePasswordError::NoSuchUser(username.to_owned()));
    };
    say(&format!("Changing password for user '{username}'"));
    let attributes = UserAttributes {
        username: &username,
        first_name: &first_name,
        last_name: &last_name,
        email: &email,
    };
    for _ in 0..MAX_TRIES {
        let first = ask("Password: ").map_err(ChangePasswordError::Input)?;
        let again = ask("Password (again): ").map_err(ChangePasswordError::Input)?;
        if first != again {
            say("Passwords do not match. Please try again.");
            continue;
        }
        if let Err(message) = validate(&first, &attributes) {
            say(&message);
            continue;
        }
        let hash = hash_password(&first)?;
        crate::admin::models::user::set_password_hash(conn, id, &hash, None)?;
        say(&format!("Password changed successfully for user '{username}'"));
        return Ok(());
    }
    Err(ChangePasswordError::Aborted(username, MAX_TRIES))
}
