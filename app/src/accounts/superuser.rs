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
    /// An answer could not be read (stdin closed).
    #[error("{0}")]
    Input(String),
    #[error("Error: That username is already taken.")]
    Taken,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// The form's messages, without its internal field names (`password1`), as Django's
/// command prints them.
fn describe(errors: &FormErrors) -> String {
    errors
        .fields
        .values()
        .flatten()
        .chain(&errors.form)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The messages of one field's rules for `value` (none: it passes).
fn field_errors(spec: FieldSpec, value: &str) -> Vec<String> {
    let form = Form::from_pairs([(spec.name.to_owned(), value.to_owned())]);
    match clean(&[spec], &form) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.fields.into_values().flatten().collect(),
    }
}

fn username_taken(conn: &mut DbConnection, username: &str) -> Result<bool, DbError> {
    let found: Option<i32> = auth_user::table
        .filter(auth_user::username.eq(username))
        .select(auth_user::id)
        .first(conn)
        .optional()
        .map_err(DbError::Query)?;
    Ok(found.is_some())
}

/// How `createsuperuser` talks to the person at the terminal.
pub struct Prompts<'a> {
    /// One answer after a prompt (`Err`: none can be read).
    pub ask: &'a mut dyn FnMut(&str) -> Result<String, String>,
    /// A password after a prompt, not echoed.
    pub ask_password: &'a mut dyn FnMut(&str) -> Result<String, String>,
    /// A line for the person (an error, a rule the password breaks).
    pub say: &'a mut dyn FnMut(&str),
}

/// `createsuperuser` without `--no-input`, as Django's: each answer checked when it is
/// given and asked again when it is refused (a taken or malformed username, a malformed
/// email, passwords that differ or are blank); a password that breaks the rules is
/// named rule by rule, then "Bypass password validation and create user anyway? [y/N]"
/// (anything but `y` asks for it again). A value given as a flag is not asked again: a
/// refused one is an error. Returns the username.
pub fn create_interactively(
    conn: &mut DbConnection,
    given_username: Option<String>,
    given_email: Option<String>,
    given_password: Option<String>,
    prompts: Prompts<'_>,
) -> Result<String, SuperuserError> {
    let Prompts { ask, ask_password, say } = prompts;
    let input = SuperuserError::Input;
    let username = loop {
        let (name, given) = match &given_username {
            Some(name) => (name.clone(), true),
            None => (ask("Username: ").map_err(input)?, false),
        };
        let mut errors = field_errors(USERNAME, &name);
        if errors.is_empty() && username_taken(conn, &name)? {
            errors.push("That username is already taken.".to_owned());
        }
        match (errors.as_slice(), given) {
            ([], _) => break name,
            (_, true) => return Err(SuperuserError::Invalid(format!("Error: {}", errors.join(" ")))),
            (_, false) => say(&format!("Error: {}", errors.join(" "))),
        }
    };
    let email = loop {
        let (address, given) = match &given_email {
            Some(address) => (address.clone(), true),
            None => (ask("Email address: ").map_err(input)?, false),
        };
        let errors = if address.is_empty() {
            Vec::new()
        } else {
            field_errors(EMAIL, &address)
        };
        match (errors.as_slice(), given) {
            ([], _) => break address,
            (_, true) => return Err(SuperuserError::Invalid(format!("Error: {}", errors.join(" ")))),
            (_, false) => say(&format!("Error: {}", errors.join(" "))),
        }
    };
    let attributes = crate::password_rules::UserAttributes {
        username: &username,
        first_name: "",
        last_name: "",
        email: &email,
    };
    let password = match given_password {
        Some(password) => {
            crate::password_rules::validate(&password, &attributes)
                .map_err(|messages| SuperuserError::Invalid(messages.join(" ")))?;
            password
        }
        None => loop {
            let first = ask_password("Password: ").map_err(input)?;
            let again = ask_password("Password (again): ").map_err(input)?;
            if first != again {
                say("Error: Your passwords didn't match.");
                continue;
            }
            if first.is_empty() {
                say("Error: Blank passwords aren't allowed.");
                continue;
            }
            let Err(messages) = crate::password_rules::validate(&first, &attributes) else {
                break first;
            };
            for message in &messages {
                say(message);
            }
            let bypass = ask("Bypass password validation and create user anyway? [y/N]: ").map_err(input)?;
            if bypass.trim().eq_ignore_ascii_case("y") {
                break first;
            }
        },
    };
    insert_superuser(conn, &username, &email, &password)?;
    Ok(username)
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
    insert_superuser(conn, &cleaned.text("username"), &cleaned.text("email"), password)
}

/// Inserts an active staff superuser (the checks are the caller's).
fn insert_superuser(
    conn: &mut DbConnection,
    username: &str,
    email: &str,
    password: &str,
) -> Result<i32, SuperuserError> {
    let hash = hash_password(password)?;
    let inserted = diesel::insert_into(auth_user::table)
        .values((
            auth_user::username.eq(username),
            auth_user::email.eq(email),
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
