//! `oc-lettings changepassword [USERNAME]`, as Django's command: the new password twice
//! (no echo on a terminal), Django's validators, three tries; every session of the user
//! ends (they log in again with the new password).

use super::model::PasswordOwner;
use super::password::{hash_password, HashError};
use crate::db::{DbConnection, DbError};
use crate::password_rules::validate;

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

/// Asks (through `ask`, which reads one password after a prompt) for the new password
/// twice until it is valid, at most [`MAX_TRIES`] times, telling (through `say`) what was
/// wrong; stores its hash and ends the user's sessions.
pub fn change_password(
    conn: &mut DbConnection,
    username: &str,
    mut ask: impl FnMut(&str) -> Result<String, String>,
    mut say: impl FnMut(&str),
) -> Result<(), ChangePasswordError> {
    let Some(owner) = PasswordOwner::by_username(conn, username)? else {
        return Err(ChangePasswordError::NoSuchUser(username.to_owned()));
    };
    let username = owner.username.as_str();
    say(&format!("Changing password for user '{username}'"));
    for _ in 0..MAX_TRIES {
        let first = ask("Password: ").map_err(ChangePasswordError::Input)?;
        let again = ask("Password (again): ").map_err(ChangePasswordError::Input)?;
        if first != again {
            say("Passwords do not match. Please try again.");
            continue;
        }
        if let Err(messages) = validate(&first, &owner.attributes()) {
            // As Django's command: every rule the password breaks, one per line.
            say(&messages.join("\n"));
            continue;
        }
        let hash = hash_password(&first)?;
        crate::accounts::model::set_password_hash(conn, owner.id, &hash, None)?;
        say(&format!("Password changed successfully for user '{username}'"));
        return Ok(());
    }
    Err(ChangePasswordError::Aborted(owner.username.clone(), MAX_TRIES))
}
