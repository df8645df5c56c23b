//! Logging in and out of the admin.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use tera::Context;

use super::extract::{AnonymousForm, StaffForm};
use super::render::{admin_page, redirect};
use super::request::{client_address, cookie, current_staff, expired, safe_next, session_token, CSRF_COOKIE};
use super::{session, throttle, two_factor};
use crate::accounts::hashing::Hashers;
use crate::accounts::password::{self, Verification};
use crate::db::schema::auth_user;
use crate::db::{DbConnection, DbError};
use crate::errors::AppError;
use crate::state::AppState;
use crate::tokens;

/// Django's message: it does not say which of the two was wrong.
pub const LOGIN_FAILED: &str =
    "Please enter the correct username and password for a staff account. Note that both fields may be case-sensitive.";

/// The login pages' `next` from the query string, followed only within the site.
pub(super) fn next_from_query(req: &HttpRequest) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let next = pairs
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
        .unwrap_or_default();
    safe_next(&next)
}

/// A page shown before login, with the visitor's anonymous CSRF token (kept while its
/// signature holds; a new one otherwise) in the form and in its signed cookie.
pub fn anonymous_page(
    req: &HttpRequest,
    state: &AppState,
    template: &str,
    mut context: Context,
) -> Result<HttpResponse, AppError> {
    let token = match req
        .cookie(CSRF_COOKIE)
        .and_then(|c| state.signing_key.unsign(c.value()).map(str::to_owned))
    {
        Some(token) => token,
        None => tokens::random_token()?,
    };
    context.insert("csrf_token", &token);
    let mut response = admin_page(req, None, template, context, StatusCode::OK)?;
    let signed = state.signing_key.sign(&token);
    response
        .add_cookie(&cookie(req, CSRF_COOKIE, signed, Some(365 * 24 * 60 * 60)))
        .map_err(|err| AppError::BadRequest(err.to_string()))?;
    Ok(response)
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("next", next);
    context.insert("username", username);
    context.insert("error", &error);
    anonymous_page(req, state, "admin/login.html", context)
}

/// `GET /admin/login/`
pub async fn login_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let next = next_from_query(&req);
    if current_staff(&req, &state).await?.is_some() {
        return Ok(redirect(&next));
    }
    login_page(&req, &state, &next, "", None)
}

/// The stored credentials of a username: (id, hash, may log in to the admin).
fn load_credentials(conn: &mut DbConnection, username: &str) -> Result<Option<(i32, String, bool)>, DbError> {
    let row: Option<(i32, String, bool, bool)> = crate::db::first(
        auth_user::table.filter(auth_user::username.eq(username)).select((
            auth_user::id,
            auth_user::password,
            auth_user::is_active,
            auth_user::is_staff,
        )),
        conn,
    )?;
    Ok(row.map(|(id, hash, active, staff)| (id, hash, active && staff)))
}

/// Opens the session (ending the previous one: the session id rotates at login), records
/// the login, and replaces a Django hash by argon2id.
fn open_session(
    conn: &mut DbConnection,
    user_id: i32,
    new_hash: Option<String>,
    old_token: Option<String>,
    token: &str,
    csrf_token: &str,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        if let Some(old) = old_token {
            session::delete(conn, &old)?;
        }
        session::purge_expired(conn)?;
        session::create(conn, user_id, token, csrf_token)?;
        let user = auth_user::table.find(user_id);
        diesel::update(user)
            .set(auth_user::last_login.eq(crate::clock::now()))
            .execute(conn)?;
        if let Some(hash) = new_hash {
            diesel::update(user).set(auth_user::password.eq(hash)).execute(conn)?;
        }
        Ok(())
    })
}

/// Whether a username can be looked up at all: Django's limit of 150 characters, and no
/// NUL (PostgreSQL refuses one in text; Django's ProhibitNullCharactersValidator).
fn lookupable(username: &str) -> bool {
    !username.is_empty() && username.chars().count() <= throttle::MAX_USERNAME_CHARS && !username.contains('\0')
}

/// Checks the password on one of the bounded hashers (never on the worker thread); as
/// slow for an unknown user or an unusable password as for a wrong one.
/// `Some((id, new hash))` when the user may log in.
async fn verify(
    hashers: &Hashers,
    credentials: Option<(i32, String, bool)>,
    password: String,
) -> Result<Option<(i32, Option<String>)>, AppError> {
    hashers
        .run(move || match credentials {
            None => {
                password::verify_dummy(&password);
                Ok(None)
            }
            Some((id, hash, may_log_in)) => match password::verify_password(&password, &hash) {
                Verification::Match { upgrade } if may_log_in => {
                    let new_hash = if upgrade {
                        Some(password::hash_password(&password)?)
                    } else {
                        None
                    };
                    Ok(Some((id, new_hash)))
                }
                _ => Ok(None),
            },
        })
        .await
        .map_err(|_| AppError::Busy)?
        .map_err(|err: password::HashError| AppError::Password(err))
}

/// The 503 page (with `Retry-After`) of a login that found every hasher busy, as a
/// response rather than an error, so a flood of logins does not flood Sentry.
fn busy() -> HttpResponse {
    tracing::warn!("login refused: every password hasher is busy");
    actix_web::ResponseError::error_response(&AppError::Busy)
}

/// `POST /admin/login/`
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    AnonymousForm(form): AnonymousForm,
) -> Result<HttpResponse, AppError> {
    let username = form.get("username").to_owned();
    let password = form.get("password").to_owned();
    let next = safe_next(form.get("next"));
    let client = client_address(&req, state.settings.trusted_proxy_count);
    // A username no user can have (empty, too long, a NUL) is counted too, under one
    // key that no real username can be: each costs a hash like any other failure.
    let lookupable = lookupable(&username);
    let who = if lookupable {
        username.clone()
    } else {
        throttle::IMPOSSIBLE_USERNAME.to_owned()
    };
    // A browser that has logged in as this user before keeps its own allowance.
    let device = if lookupable {
        super::device::from_request(&req, &state, &username)
    } else {
        None
    };
    let admitted = throttle::admit_guess(&state, &who, &client, device, "login").await?;

    let credentials = if lookupable {
        let lookup = username.clone();
        state.db.run(move |conn| load_credentials(conn, &lookup)).await?
    } else {
        None
    };
    let verdict = match verify(&state.hashers, credentials, password).await {
        // Not an error to report (a flood of logins): the page says to try again.
        Err(AppError::Busy) => return Ok(busy()),
        other => other?,
    };
    let Some((user_id, new_hash)) = verdict else {
        if admitted.delays_on_failure() {
            state
                .db
                .run(move |conn| throttle::confirm_failure(conn, &admitted, crate::clock::now_ms()))
                .await?;
        }
        tracing::info!(%username, %client, "failed admin login");
        return login_page(&req, &state, &next, &username, Some(LOGIN_FAILED));
    };
    // An enrolled user's right password opens no session: the login waits for a code
    // (the password's attempt is given back, not forgiven: only the code forgives).
    let (pending_hash, counted) = (new_hash.clone(), admitted.clone());
    let pending = state
        .db
        .run(move |conn| {
            let pending = two_factor::pending_login(conn, user_id, pending_hash.as_deref())?;
            if pending.is_some() {
                throttle::give_back_attempt(conn, &counted)?;
            }
            Ok(pending)
        })
        .await?;
    if let Some(hash) = pending {
        let value = two_factor::pending_value(&state.signing_key, user_id, &hash, crate::clock::now_ms());
        tracing::info!(%username, "admin login waits for a two-factor code");
        let mut response = redirect(&two_factor::code_page_url(&next));
        response
            .add_cookie(&two_factor::pending_cookie(&req, value))
            .map_err(|err| AppError::BadRequest(err.to_string()))?;
        return Ok(response);
    }
    logged_in(&req, &state, user_id, &username, new_hash, admitted, &next).await
}

/// A login that has passed every check: the throttle forgives its attempt, the session
/// opens (a new session id; the old session ends), the browser becomes a trusted device
/// of the user, and the response goes to `next`.
pub async fn logged_in(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    user_id: i32,
    username: &str,
    new_hash: Option<String>,
    admitted: throttle::Admitted,
    next: &str,
) -> Result<HttpResponse, AppError> {
    let token = tokens::random_token()?;
    let csrf_token = tokens::random_token()?;
    let old_token = session_token(req, state);
    let (session_token_value, csrf) = (token.clone(), csrf_token.clone());
    state
        .db
        .run(move |conn| {
            throttle::forgive(conn, &admitted)?;
            open_session(conn, user_id, new_hash, old_token, &session_token_value, &csrf)
        })
        .await?;
    tracing::info!(%username, "admin login");
    let signed = state.signing_key.sign(&token);
    let mut response = HttpResponse::Found();
    response.insert_header(("Location", next.to_owned())).cookie(cookie(
        req,
        session::COOKIE,
        signed,
        Some(session::AGE_SECS),
    ));
    if let Some(device) = super::device::cookie_for(req, state, username) {
        response.cookie(device);
    }
    Ok(response.finish())
}

/// `GET /admin/logout/`: a confirmation (logging out changes state, so it is a POST).
pub async fn logout_confirm(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    match current_staff(&req, &state).await? {
        Some(staff) => admin_page(
            &req,
            Some(&staff),
            "admin/logout_confirm.html",
            Context::new(),
            StatusCode::OK,
        ),
        None => Ok(redirect(super::urls::LOGIN)),
    }
}

/// `POST /admin/logout/`
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { .. }: StaffForm,
) -> Result<HttpResponse, AppError> {
    if let Some(token) = session_token(&req, &state) {
        state.db.run(move |conn| session::delete(conn, &token)).await?;
    }
    let mut response = admin_page(&req, None, "admin/logged_out.html", Context::new(), StatusCode::OK)?;
    response
        .add_cookie(&expired(&req, session::COOKIE))
        .map_err(|err| AppError::BadRequest(err.to_string()))?;
    Ok(response)
}
