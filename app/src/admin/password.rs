//! Every staff user's own password (`/admin/password_change/`), as Django's admin: the old
//! password, the new one twice, Django's validators; the user stays logged in here and
//! every other session of theirs ends.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

use super::extract::{StaffForm, StaffUser};
use super::render::{admin_page, redirect};
use super::session::StaffSession;
use super::throttle;
use crate::accounts::model::PasswordOwner;
use crate::accounts::password::{hash_password, verify_password, Verification};
use crate::db::DbConnection;
use crate::errors::AppError;
use crate::forms::Form;
use crate::password_rules::validate;
use crate::state::AppState;

pub const OLD: &str = "old_password";
pub const NEW1: &str = "new_password1";
pub const NEW2: &str = "new_password2";

/// Field name → its errors, as the form shows them.
pub type FieldErrors = BTreeMap<&'static str, Vec<String>>;

/// What a change came to: done, or the form's errors (nothing changed).
#[derive(Debug)]
pub enum Outcome {
    Changed,
    Invalid(FieldErrors),
}

/// The message of a wrong old password (Django's).
const OLD_PASSWORD_WRONG: &str = "Your old password was entered incorrectly. Please enter it again.";

impl Outcome {
    /// Whether the old password was given and found wrong: a guess the throttle counts.
    fn guessed_wrong(&self) -> bool {
        matches!(self, Outcome::Invalid(errors) if errors.get(OLD).is_some_and(|e| e.iter().any(|m| m == OLD_PASSWORD_WRONG)))
    }
}

/// Checks the form and, when it is right, stores the new password's hash and ends the
/// user's other sessions (this one, `staff.token_hash`, stays).
pub fn change_own_password(conn: &mut DbConnection, staff: &StaffSession, form: &Form) -> Result<Outcome, AppError> {
    let Some(owner) = PasswordOwner::by_id(conn, staff.user_id)? else {
        return Err(AppError::NotFound);
    };
    let mut errors = FieldErrors::new();
    let (old, new1, new2) = (form.get(OLD), form.get(NEW1), form.get(NEW2));
    if old.is_empty() {
        errors.insert(OLD, vec!["This field is required.".into()]);
    } else if !matches!(verify_password(old, &owner.password), Verification::Match { .. }) {
        errors.insert(OLD, vec![OLD_PASSWORD_WRONG.into()]);
    }
    if new1.is_empty() {
        errors.insert(NEW1, vec!["This field is required.".into()]);
    }
    if new2.is_empty() {
        errors.insert(NEW2, vec!["This field is required.".into()]);
    } else if new1 != new2 {
        errors.insert(NEW2, vec!["The two password fields didn’t match.".into()]);
    } else {
        if let Err(messages) = validate(new2, &owner.attributes()) {
            errors.insert(NEW2, messages);
        }
    }
    if !errors.is_empty() {
        return Ok(Outcome::Invalid(errors));
    }
    let hash = hash_password(new2)?;
    let csrf = crate::tokens::random_token()?;
    let kept = crate::accounts::model::KeptSession {
        token_hash: &staff.token_hash,
        new_csrf_token: &csrf,
    };
    crate::accounts::model::set_password_hash(conn, staff.user_id, &hash, Some(kept))?;
    Ok(Outcome::Changed)
}

fn form_page(req: &HttpRequest, staff: &StaffSession, errors: &FieldErrors) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("errors", errors);
    context.insert("crumb", "Password change");
    // As Django: a form with errors is shown again with 200.
    admin_page(req, Some(staff), "admin/password_change.html", context, StatusCode::OK)
}

/// `GET /admin/password_change/`
pub async fn change_form(req: HttpRequest, StaffUser(staff): StaffUser) -> Result<HttpResponse, AppError> {
    form_page(&req, &staff, &FieldErrors::new())
}

/// `POST /admin/password_change/`
pub async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
) -> Result<HttpResponse, AppError> {
    // The old password is a password guess like a login's: counted by the same throttle
    // (this client, this user), before it is checked (issue 29, finding 10: 30 wrong
    // guesses went through in 0.7 s).
    let admitted = throttle::admit_request_guess(&req, &state, &staff.username, "password change").await?;
    let actor = staff.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let outcome = change_own_password(conn, &actor, &form);
            match &outcome {
                Ok(outcome) if outcome.guessed_wrong() => {
                    throttle::confirm_failure(conn, &admitted, crate::clock::now_ms())?
                }
                // Not a wrong guess (the old password was right, or not given): the
                // attempt is given back.
                _ => throttle::forgive(conn, &admitted)?,
            }
            Ok(outcome)
        })
        .await??;
    match outcome {
        Outcome::Changed => Ok(redirect(super::urls::PASSWORD_CHANGE_DONE)),
        Outcome::Invalid(errors) => form_page(&req, &staff, &errors),
    }
}

/// `GET /admin/password_change/done/`
pub async fn done(req: HttpRequest, StaffUser(staff): StaffUser) -> Result<HttpResponse, AppError> {
    admin_page(
        &req,
        Some(&staff),
        "admin/password_change_done.html",
        {
            let mut context = Context::new();
            context.insert("crumb", "Password change");
            context
        },
        StatusCode::OK,
    )
}
