//! `oc-lettings createsuperuser`: a staff superuser who can log in to the admin.

use diesel::prelude::*;

use super::fields::{EMAIL, PASSWORD_FIELDS, USERNAME};
use super::password::{hash_password, HashError};
use crate::clock::now;
use crate::db::schema::auth_user;
use crate::db::{DbConnection, DbError};
use crate::forms::{clean, FieldSpec, Form, FormErrors};

/// The admin's user fields: the same rules for a superuser made on the command line.
const FIELDS: &[FieldSpec] = &[USERNAME, EMAIL, PASSWORD_FIELDS[0]];

#[derive(Debug, thiserror::Error)]
pub enum SuperuserError {
    #[error("{0}")]
    Invalid(String),
    #[error("Error: That username is already taken.")]
    Taken,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Database(#[from] DbError),
}

fn describe(errors: &FormErrors) -> String {
    errors
        .fields
        .iter()
        .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Validates like the admin's user form, then creates an active staff superuser.
pub fn create_superuser(
    conn: &mut DbConnection,
    username: &str,
    email: &str,
    password: &str,
) -> Result<i32, SuperuserError> {
    let form = Form::from_pairs([
        ("username".to_owned(), username.to_owned()),
        ("email".to_owned(), email.to_owned()),
        ("password1".to_owned(), password.to_owned()),
    ]);
    let cleaned = clean(FIELDS, &form).map_err(|errors| SuperuserError::Invalid(describe(&errors)))?;
    let hash = hash_password(password)?;
    let inserted = diesel::insert_into(auth_user::table)
        .values((
            auth_user::username.eq(cleaned.text("username")),
            auth_user::email.eq(cleaned.text("email")),
            auth_user::password.eq(hash),
            auth_user::is_superuser.eq(true),
            auth_user::is_staff.eq(true),
            auth_user::is_active.eq(true),
            auth_user::date_joined.eq(now()),
        ))
        .returning(auth_user::id)
        .get_result(conn);
    match inserted {
        Ok(id) => Ok(id),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(SuperuserError::Taken)
        }
        Err(err) => Err(DbError::Query(err).into()),
    }
}
