//! `AppError`: every way a request can fail, mapped to a status and a page in one place.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// Not logged in to the admin: a redirect to `location`, its login page (which then
    /// goes back to the page asked for).
    #[error("login required")]
    LoginRequired { location: String },
    /// An admin page of an object that does not exist (any more): back to `location`
    /// with the message in `flash` (a signed cookie), as Django's "Letting with ID “6”
    /// doesn’t exist. Perhaps it was deleted?".
    #[error("no such object")]
    Missing {
        location: String,
        flash: Box<actix_web::cookie::Cookie<'static>>,
    },
    /// A refused request (a CSRF failure, a staff member asking for a superuser's page).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many failed logins: try again after this many seconds.
    #[error("too many requests; retry after {0} s")]
    TooManyRequests(u64),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("cannot generate a random token: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Password(#[from] crate::accounts::password::HashError),
    /// The admin's test error (no person named: what reaches Sentry carries no personal data).
    #[error("deliberate test error, raised from the admin to check error reporting")]
    Deliberate,
    /// A handler panicked; `admin`: on an admin page (its 500 page is the admin's).
    #[error("a handler panicked")]
    Panicked { admin: bool },
    /// Every password hasher is busy (a flood of logins): try again shortly.
    #[error("every password hasher is busy")]
    Busy,
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    retry_after: u64,
}

impl AppError {
    fn template(status: StatusCode) -> &'static str {
        match status {
            StatusCode::NOT_FOUND => "404.html",
            StatusCode::SERVICE_UNAVAILABLE => "503.html",
            StatusCode::FORBIDDEN => "403.html",
            StatusCode::TOO_MANY_REQUESTS => "429.html",
            StatusCode::BAD_REQUEST
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::URI_TOO_LONG
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "400.html",
            _ => "500.html",
        }
    }
}

/// The site's own error page for `status` (never a framework default or a stack trace).
pub fn error_page(status: StatusCode) -> HttpResponse {
    error_page_with(status, "", 0)
}

/// The site's error page for `status`, saying why.
pub fn error_page_because(status: StatusCode, reason: &str) -> HttpResponse {
    error_page_with(status, reason, 0)
}

/// What an error page says, kept on its response, so that an admin page's error can be
/// shown in the admin's own layout (`middleware::admin_error_pages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPageInfo {
    pub status: u16,
    pub reason: String,
    pub retry_after: u64,
}

/// How the admin draws an error page: set once at start-up by the assembly
/// (`startup`), so that this layer shows the admin's errors without importing the admin.
pub type AdminErrorPages = fn(&ErrorPageInfo) -> Option<String>;
static ADMIN_ERROR_PAGES: std::sync::OnceLock<AdminErrorPages> = std::sync::OnceLock::new();

/// Sets how the admin draws its error pages (the first call wins).
pub fn set_admin_error_pages(render: AdminErrorPages) {
    let _ = ADMIN_ERROR_PAGES.set(render);
}

/// The admin's page for `info`, if the admin draws one for that status.
pub fn admin_error_html(info: &ErrorPageInfo) -> Option<String> {
    ADMIN_ERROR_PAGES.get().and_then(|render| render(info))
}

fn error_page_with(status: StatusCode, reason: &str, retry_after: u64) -> HttpResponse {
    let page = ErrorPage {
        status: status.as_u16(),
        reason,
        retry_after,
    };
    let html = crate::templates::render(AppError::template(status), &page).unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot render the error page");
        format!(
            "<!DOCTYPE html><title>Error {0}</title><h1>Error {0}</h1>",
            status.as_u16()
        )
    });
    let mut response = HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .body(html);
    response.extensions_mut().insert(ErrorPageInfo {
        status: status.as_u16(),
        reason: reason.to_owned(),
        retry_after,
    });
    response
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::LoginRequired { .. } | AppError::Missing { .. } => StatusCode::FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Random(_) | AppError::Password(_) | AppError::Deliberate | AppError::Panicked { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            AppError::Database(DbError::Unavailable(_) | DbError::Connect(_) | DbError::Unreachable(_))
            | AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            // The connection died under the query (a database restart): unavailable, not a bug.
            AppError::Database(DbError::Query(err)) if crate::db::connection::is_connection_lost(err) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Database(_) | AppError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        }
        match self {
            AppError::LoginRequired { location } => HttpResponse::Found()
                .insert_header(("Location", location.as_str()))
                .finish(),
            AppError::Missing { location, flash } => HttpResponse::Found()
                .insert_header(("Location", location.as_str()))
                .cookie(flash.as_ref().clone())
                .finish(),
            AppError::Forbidden(reason) => error_page_with(status, reason, 0),
            AppError::TooManyRequests(secs) => {
                let mut response = error_page_with(status, "", *secs);
                if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
                    response
                        .headers_mut()
                        .insert(actix_web::http::header::RETRY_AFTER, value);
                }
                response
            }
            AppError::Busy => {
                let mut response = error_page(status);
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("2"),
                );
                response
            }
            AppError::Panicked { admin: true } => {
                let info = ErrorPageInfo {
                    status: status.as_u16(),
                    reason: String::new(),
                    retry_after: 0,
                };
                match admin_error_html(&info) {
                    Some(html) => HttpResponse::build(status)
                        .content_type(ContentType::html())
                        .insert_header(("Cache-Control", "no-store"))
                        .body(html),
                    None => error_page(status),
                }
            }
            _ => error_page(status),
        }
    }
}
