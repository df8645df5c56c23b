//! A second factor for staff (TOTP, RFC 6238), which Django's admin has only through a
//! third-party app (django-otp): enrolment with a QR code drawn on the server (an SVG
//! image, no script: the CSP is unchanged), one-time recovery codes shown once and
//! stored hashed, the login's second step, and resets by a superuser or the command line.
//!
//! The login's second step: a right password for an enrolled user opens no session. It
//! sets a short-lived signed cookie naming the user (and a fingerprint of their password
//! hash, so a password change voids it) and asks for a code; only a right code opens the
//! session. Codes are counted by the login throttle as passwords are (same keys), and a
//! right password alone forgives nothing, so knowing the password buys no more guesses.
//!
//! Every change (turned on, turned off, new recovery codes, a reset, a login with a
//! recovery code) is recorded in the user's history.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use diesel::prelude::*;
use serde::Serialize;
use tera::Context;

use super::extract::{AnonymousForm, StaffForm, StaffUser};
use super::history::{self, Action};
use super::render::{admin_page, redirect, redirect_with_message};
use super::request::{cookie, expired, safe_next};
use super::session::StaffSession;
use super::{throttle, urls};
use crate::accounts::totp;
use crate::accounts::two_factor::{self, Checked};
use crate::db::schema::auth_user;
use crate::db::{DbConnection, DbError};
use crate::errors::AppError;
use crate::state::AppState;
use crate::tokens::SigningKeys;

/// The cookie that carries a login between its password and its code.
pub const PENDING_COOKIE: &str = "oc_2fa";
/// How long the code may take after the password.
pub const PENDING_SECS: i64 = 5 * 60;
/// The issuer an authenticator app shows beside the account.
pub const ISSUER: &str = "Orange County Lettings";
/// The form field of a code (six digits, or a recovery code).
pub const CODE: &str = "code";

pub const TURNED_ON: &str = "Turned on two-factor authentication.";
pub const TURNED_OFF: &str = "Turned off two-factor authentication.";
pub const NEW_CODES: &str = "Made new recovery codes for two-factor authentication.";
pub const RESET: &str = "Reset two-factor authentication.";
pub const RESET_FROM_COMMAND_LINE: &str = "Reset two-factor authentication (from the command line).";
/// What a wrong code is told: nothing about which kind of code it was.
pub const WRONG_CODE: &str = "Please enter a correct code. A code works once; wait for the next one.";
const TOO_SLOW: &str = "That took too long. Please log in again.";

/// The time step now.
fn now_step() -> i64 {
    totp::step_at(crate::clock::now_ms().div_euclid(1000))
}

/// Records `message` in user `user_id`'s history, by `actor_id`.
fn record(conn: &mut DbConnection, actor_id: i32, user_id: i32, message: &str) -> Result<(), DbError> {
    let username: String = auth_user::table.find(user_id).select(auth_user::username).first(conn)?;
    history::record(conn, actor_id, "auth.user", user_id, &username, Action::Change, message)
}

/// Takes away `user_id`'s second factor, records it as done by `actor_id` with
/// `message`, and ends the user's sessions (but `keep`, the acting superuser's own);
/// whether the user had one (nothing is recorded otherwise).
pub fn reset(
    conn: &mut DbConnection,
    user_id: i32,
    actor_id: i32,
    message: &str,
    keep: Option<&str>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let had = two_factor::remove(conn, user_id)?;
        if had {
            record(conn, actor_id, user_id, message)?;
            crate::accounts::model::end_sessions_but(conn, user_id, keep)?;
        }
        Ok(had)
    })
}

/// What `oc-lettings reset-two-factor USERNAME` came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandReset {
    NoSuchUser,
    NothingToReset,
    Reset,
}

/// `oc-lettings reset-two-factor USERNAME` (as `changepassword` is for a password): the
/// user's second factor goes and all their sessions end; recorded in their history as
/// their own act, from the command line (the log needs an author; the command has none).
pub fn reset_from_command_line(conn: &mut DbConnection, username: &str) -> Result<CommandReset, DbError> {
    let id: Option<i32> = crate::db::first(
        auth_user::table
            .filter(auth_user::username.eq(username))
            .select(auth_user::id),
        conn,
    )?;
    let Some(id) = id else {
        return Ok(CommandReset::NoSuchUser);
    };
    Ok(if reset(conn, id, id, RESET_FROM_COMMAND_LINE, None)? {
        CommandReset::Reset
    } else {
        CommandReset::NothingToReset
    })
}

/// Paths a superuser who must enrol may still reach: these pages and logging out.
pub fn open_before_enrolment(path: &str) -> bool {
    path.starts_with(urls::TWO_FACTOR) || path == urls::LOGOUT
}

/// Whether the setting requires a second factor of `staff` (a superuser).
fn required_of(state: &AppState, staff: &StaffSession) -> bool {
    state.settings.two_factor_required_for_superusers && staff.is_superuser
}

/// Whether `staff` must enrol before using the admin (the setting is on, they are a
/// superuser, and they have no second factor).
pub async fn must_enrol(state: &AppState, staff: &StaffSession) -> Result<bool, AppError> {
    if !required_of(state, staff) {
        return Ok(false);
    }
    let id = staff.user_id;
    Ok(!state.db.run(move |conn| two_factor::enrolled(conn, id)).await?)
}

// ---------------------------------------------------------------------------------------
// The login's second step

/// A login whose password was right, waiting for its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub user_id: i32,
    issued_ms: i64,
    fingerprint: String,
}

/// What a pending login binds itself to: the user's password hash as stored, so that a
/// password change (by them or a superuser) voids every pending login.
fn fingerprint(hash: &str) -> String {
    crate::tokens::sha256_hex(&format!("2fa-login|{hash}"))[..32].to_owned()
}

/// The pending cookie's value for `user_id`, whose stored hash is `hash`.
pub fn pending_value(keys: &SigningKeys, user_id: i32, hash: &str, now_ms: i64) -> String {
    keys.sign(&format!("2fa|{user_id}|{now_ms}|{}", fingerprint(hash)))
}

/// The pending login of `value` if this site signed it; `Err(())` once it has expired.
pub fn read_pending(keys: &SigningKeys, value: &str, now_ms: i64) -> Option<Result<Pending, ()>> {
    let text = keys.unsign(value)?;
    let mut parts = text.split('|');
    let (Some("2fa"), Some(id), Some(issued), Some(fingerprint), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (user_id, issued_ms) = (id.parse().ok()?, issued.parse::<i64>().ok()?);
    let age = now_ms.saturating_sub(issued_ms);
    if !(-60_000..=PENDING_SECS * 1000).contains(&age) {
        return Some(Err(()));
    }
    Some(Ok(Pending {
        user_id,
        issued_ms,
        fingerprint: fingerprint.to_owned(),
    }))
}

/// For a user whose password was just found right: `Some(their stored hash)` when they
/// are enrolled (the login waits for a code: [`pending_value`] binds it to that hash),
/// after storing `new_hash` (a Django hash's upgrade), so that is the hash bound.
pub fn pending_login(conn: &mut DbConnection, user_id: i32, new_hash: Option<&str>) -> Result<Option<String>, DbError> {
    if !two_factor::enrolled(conn, user_id)? {
        return Ok(None);
    }
    if let Some(hash) = new_hash {
        diesel::update(auth_user::table.find(user_id))
            .set(auth_user::password.eq(hash))
            .execute(conn)?;
    }
    let hash: String = auth_user::table.find(user_id).select(auth_user::password).first(conn)?;
    Ok(Some(hash))
}

/// The user a pending login is for, if it still holds: the user may still log in to the
/// admin and their password is the one that was entered. `(username)`.
fn pending_user(conn: &mut DbConnection, pending: &Pending) -> Result<Option<String>, DbError> {
    let row: Option<(String, String, bool, bool)> = crate::db::first(
        auth_user::table.find(pending.user_id).select((
            auth_user::username,
            auth_user::password,
            auth_user::is_active,
            auth_user::is_staff,
        )),
        conn,
    )?;
    Ok(row.and_then(|(username, hash, active, staff)| {
        (active && staff && crate::tokens::same(&fingerprint(&hash), &pending.fingerprint)).then_some(username)
    }))
}

/// The URL of the code page, returning to `next`.
pub fn code_page_url(next: &str) -> String {
    format!(
        "{}?{}",
        urls::LOGIN_TWO_FACTOR,
        serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
    )
}

fn code_page(req: &HttpRequest, state: &AppState, next: &str, error: Option<&str>) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("next", next);
    context.insert("error", &error);
    super::auth::anonymous_page(req, state, "admin/login_two_factor.html", context)
}

fn back_to_login(req: &HttpRequest, message: &str) -> HttpResponse {
    let mut response = redirect_with_message(req, urls::LOGIN, message);
    let _ = response.add_cookie(&expired(req, PENDING_COOKIE));
    response
}

/// `GET /admin/login/two_factor/`: the code form, while a login waits for one.
pub async fn code_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let pending = req
        .cookie(PENDING_COOKIE)
        .and_then(|c| read_pending(&state.signing_key, c.value(), crate::clock::now_ms()));
    match pending {
        Some(Ok(_)) => code_page(&req, &state, &super::auth::next_from_query(&req), None),
        Some(Err(())) => Ok(back_to_login(&req, TOO_SLOW)),
        None => Ok(redirect(urls::LOGIN)),
    }
}

/// `POST /admin/login/two_factor/`: a right code (or unused recovery code) opens the session.
pub async fn code(
    req: HttpRequest,
    state: web::Data<AppState>,
    AnonymousForm(form): AnonymousForm,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.get("next"));
    let pending = req
        .cookie(PENDING_COOKIE)
        .and_then(|c| read_pending(&state.signing_key, c.value(), crate::clock::now_ms()));
    let pending = match pending {
        Some(Ok(pending)) => pending,
        Some(Err(())) => return Ok(back_to_login(&req, TOO_SLOW)),
        None => return Ok(redirect(urls::LOGIN)),
    };
    let waiting = pending.clone();
    let Some(username) = state.db.run(move |conn| pending_user(conn, &waiting)).await? else {
        // Deactivated, or the password changed since: start again.
        return Ok(back_to_login(&req, "Please log in again."));
    };
    let admitted = throttle::admit_request_guess(&req, &state, &username, "two-factor code").await?;
    let (input, counted, user_id) = (form.get(CODE).to_owned(), admitted.clone(), pending.user_id);
    let checked = state
        .db
        .run(move |conn| {
            let checked = two_factor::check(conn, user_id, &input, now_step())?;
            match checked {
                Checked::Wrong => throttle::confirm_failure(conn, &counted, crate::clock::now_ms())?,
                Checked::RecoveryCode { left } => record(
                    conn,
                    user_id,
                    user_id,
                    &format!("Logged in with a recovery code ({left} left)."),
                )?,
                Checked::Code => {}
            }
            Ok(checked)
        })
        .await?;
    if !checked.accepted() {
        let client = super::request::client_address(&req, state.settings.trusted_proxy_count);
        tracing::info!(%username, %client, "wrong two-factor code");
        return code_page(&req, &state, &next, Some(WRONG_CODE));
    }
    let mut response = super::auth::logged_in(&req, &state, user_id, &username, None, admitted, &next).await?;
    let _ = response.add_cookie(&expired(&req, PENDING_COOKIE));
    if let Checked::RecoveryCode { left } = checked {
        let message = format!(
            "You logged in with a recovery code; {left} left. Make new ones on the two-factor page if you are running out."
        );
        let _ = response.add_cookie(&super::request::flash_cookie(&req, &message));
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// A staff member's own second factor: /admin/two_factor/

#[derive(Serialize)]
struct StatusView {
    enrolled: bool,
    codes_left: i64,
    /// Whether the setting keeps this user from turning it off.
    required: bool,
    /// Whether the user must set it up before using the admin.
    must_enrol: bool,
}

fn status_page(
    req: &HttpRequest,
    state: &AppState,
    staff: &StaffSession,
    status: &two_factor::Status,
    error: Option<(&str, &str)>,
) -> Result<HttpResponse, AppError> {
    let required = required_of(state, staff);
    let mut context = Context::new();
    context.insert("crumb", "Two-factor authentication");
    context.insert(
        "two_factor",
        &StatusView {
            enrolled: status.enrolled,
            codes_left: status.codes_left,
            required,
            must_enrol: required && !status.enrolled,
        },
    );
    context.insert("error_form", &error.map(|(form, _)| form));
    context.insert("error", &error.map(|(_, message)| message));
    // As Django's forms: a form with errors is shown again with 200.
    admin_page(req, Some(staff), "admin/two_factor.html", context, StatusCode::OK)
}

async fn load_status(state: &AppState, user_id: i32) -> Result<two_factor::Status, AppError> {
    Ok(state.db.run(move |conn| two_factor::status(conn, user_id)).await?)
}

/// `GET /admin/two_factor/`
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
) -> Result<HttpResponse, AppError> {
    let status = load_status(&state, staff.user_id).await?;
    status_page(&req, &state, &staff, &status, None)
}

/// The QR code of `uri`, as an `img` source: an SVG drawn here, base64 in a data URI
/// (the CSP's `img-src` allows `data:`; no script, no request elsewhere).
pub fn qr_data_uri(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|err| AppError::BadRequest(format!("cannot draw the QR code: {err}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// A key as people copy it by hand: groups of four.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn setup_page(
    req: &HttpRequest,
    staff: &StaffSession,
    secret: &str,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("crumb", "Set up two-factor authentication");
    context.insert("qr", &qr_data_uri(&totp::otpauth_uri(ISSUER, &staff.username, secret))?);
    context.insert("secret", &grouped(secret));
    context.insert("error", &error);
    admin_page(req, Some(staff), "admin/two_factor_setup.html", context, StatusCode::OK)
}

fn codes_page(
    req: &HttpRequest,
    staff: &StaffSession,
    codes: &[String],
    heading: &str,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("crumb", heading);
    context.insert("heading", heading);
    context.insert("codes", codes);
    admin_page(req, Some(staff), "admin/two_factor_codes.html", context, StatusCode::OK)
}

/// `POST /admin/two_factor/`: starts an enrolment (a new key, waiting for its first code).
pub async fn start(state: web::Data<AppState>, StaffForm { staff, .. }: StaffForm) -> Result<HttpResponse, AppError> {
    let secret = totp::new_secret()?;
    let user_id = staff.user_id;
    let started = state
        .db
        .run(move |conn| two_factor::start(conn, user_id, &secret))
        .await?;
    Ok(redirect(if started {
        urls::TWO_FACTOR_SETUP
    } else {
        urls::TWO_FACTOR
    }))
}

/// `GET /admin/two_factor/setup/`: the QR code and key of the enrolment under way.
pub async fn setup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
) -> Result<HttpResponse, AppError> {
    match load_status(&state, staff.user_id).await?.pending {
        Some(secret) => setup_page(&req, &staff, &secret, None),
        None => Ok(redirect(urls::TWO_FACTOR)),
    }
}

/// `POST /admin/two_factor/setup/`: the first code confirms the key; the recovery codes
/// are shown, once. The user's other sessions (opened without a second factor) end.
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
) -> Result<HttpResponse, AppError> {
    let Some(secret) = load_status(&state, staff.user_id).await?.pending else {
        return Ok(redirect(urls::TWO_FACTOR));
    };
    let admitted = guess(&req, &state, &staff).await?;
    let codes = totp::new_recovery_codes(totp::RECOVERY_CODES)?;
    let (actor, code, kept_codes) = (staff.clone(), form.get(CODE).to_owned(), codes.clone());
    let confirmed = state
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let confirmed = two_factor::confirm(conn, actor.user_id, &code, now_step(), &kept_codes)?;
                if confirmed {
                    record(conn, actor.user_id, actor.user_id, TURNED_ON)?;
                    crate::accounts::model::end_sessions_but(conn, actor.user_id, Some(&actor.token_hash))?;
                    throttle::forgive(conn, &admitted)?;
                } else {
                    throttle::confirm_failure(conn, &admitted, crate::clock::now_ms())?;
                }
                Ok(confirmed)
            })
        })
        .await?;
    if !confirmed {
        return setup_page(&req, &staff, &secret, Some(WRONG_CODE));
    }
    tracing::info!(username = %staff.username, "two-factor authentication turned on");
    codes_page(&req, &staff, &codes, "Two-factor authentication is on")
}

/// A code typed on one of the user's own pages: a guess, counted by the login throttle.
async fn guess(req: &HttpRequest, state: &AppState, staff: &StaffSession) -> Result<throttle::Admitted, AppError> {
    throttle::admit_request_guess(req, state, &staff.username, "two-factor code").await
}

/// Checks a code the user typed to prove they hold their second factor, counting it as
/// a guess; then, if it was right, runs `then` in the same transaction.
async fn with_code<T: Send + 'static>(
    req: &HttpRequest,
    state: &AppState,
    staff: &StaffSession,
    code: String,
    then: impl FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
) -> Result<Option<T>, AppError> {
    let admitted = guess(req, state, staff).await?;
    let user_id = staff.user_id;
    Ok(state
        .db
        .run(move |conn| {
            conn.transaction(|conn| match two_factor::check(conn, user_id, &code, now_step())? {
                Checked::Wrong => {
                    throttle::confirm_failure(conn, &admitted, crate::clock::now_ms())?;
                    Ok(None)
                }
                Checked::Code | Checked::RecoveryCode { .. } => {
                    throttle::forgive(conn, &admitted)?;
                    then(conn).map(Some)
                }
            })
        })
        .await?)
}

/// `POST /admin/two_factor/recovery_codes/`: new recovery codes (the old ones stop
/// working), for a right code.
pub async fn new_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
) -> Result<HttpResponse, AppError> {
    let codes = totp::new_recovery_codes(totp::RECOVERY_CODES)?;
    let (kept, user_id) = (codes.clone(), staff.user_id);
    let done = with_code(&req, &state, &staff, form.get(CODE).to_owned(), move |conn| {
        two_factor::replace_recovery_codes(conn, user_id, &kept)?;
        record(conn, user_id, user_id, NEW_CODES)
    })
    .await?;
    match done {
        Some(()) => codes_page(&req, &staff, &codes, "New recovery codes"),
        None => {
            let status = load_status(&state, staff.user_id).await?;
            status_page(&req, &state, &staff, &status, Some(("codes", WRONG_CODE)))
        }
    }
}

/// `POST /admin/two_factor/disable/`: turns it off, for a right code, unless the
/// setting requires it of this user.
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
) -> Result<HttpResponse, AppError> {
    if required_of(&state, &staff) {
        return Err(AppError::Forbidden(
            "Two-factor authentication is required for superusers on this site; another superuser can reset it.".into(),
        ));
    }
    let user_id = staff.user_id;
    let done = with_code(&req, &state, &staff, form.get(CODE).to_owned(), move |conn| {
        two_factor::remove(conn, user_id)?;
        record(conn, user_id, user_id, TURNED_OFF)
    })
    .await?;
    match done {
        Some(()) => Ok(redirect_with_message(&req, urls::TWO_FACTOR, TURNED_OFF)),
        None => {
            let status = load_status(&state, staff.user_id).await?;
            status_page(&req, &state, &staff, &status, Some(("disable", WRONG_CODE)))
        }
    }
}

/// The pending-login cookie for a response.
pub fn pending_cookie(req: &HttpRequest, value: String) -> actix_web::cookie::Cookie<'static> {
    cookie(req, PENDING_COOKIE, value, Some(PENDING_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_grouped_by_four_and_the_qr_code_is_an_svg_image() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        let uri = qr_data_uri(&totp::otpauth_uri(ISSUER, "admin", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")).unwrap();
        let svg = uri.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let svg = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(svg).unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn a_pending_login_holds_five_minutes_under_this_sites_key_only() {
        let keys = SigningKeys::new(b"k".repeat(50), Vec::new());
        let other = SigningKeys::new(b"j".repeat(50), Vec::new());
        let at = 1_800_000_000_000;
        let value = pending_value(&keys, 7, "argon2$hash", at);
        let pending = read_pending(&keys, &value, at + 299_000).unwrap().unwrap();
        assert_eq!(pending.user_id, 7);
        assert_eq!(pending.fingerprint, fingerprint("argon2$hash"));
        assert_ne!(pending.fingerprint, fingerprint("argon2$other"));
        assert_eq!(read_pending(&keys, &value, at + 301_000), Some(Err(())), "expired");
        assert_eq!(
            read_pending(&keys, &value, at - 120_000),
            Some(Err(())),
            "from the future"
        );
        assert_eq!(read_pending(&other, &value, at), None, "another key");
        let forged = value.replacen("2fa|7|", "2fa|8|", 1);
        assert_eq!(read_pending(&keys, &forged, at), None, "another user");
        assert_eq!(read_pending(&keys, &keys.sign("2fa|7"), at), None, "malformed");
    }

    #[test]
    fn only_the_two_factor_pages_and_logout_are_open_before_enrolment() {
        assert!(open_before_enrolment(urls::TWO_FACTOR));
        assert!(open_before_enrolment(urls::TWO_FACTOR_SETUP));
        assert!(open_before_enrolment(urls::LOGOUT));
        assert!(!open_before_enrolment(urls::INDEX));
        assert!(!open_before_enrolment(urls::PASSWORD_CHANGE));
        assert!(!open_before_enrolment("/admin/auth/user/"));
    }
}
