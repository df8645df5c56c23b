//! Staff-only ways to check error reporting end to end (like the original's Sentry check):
//! a deliberate server error and a deliberate panic. Each is a CSRF-checked POST (another
//! site cannot make a logged-in browser flood Sentry); the GET only shows the button.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

use super::render::admin_page;
use super::request::{check_csrf, parse_form, require_staff};
use crate::errors::AppError;
use crate::startup::AppState;

fn confirm_page(
    req: &HttpRequest,
    staff: &super::session::StaffSession,
    heading: &str,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    context.insert("heading", heading);
    context.insert("action", req.path());
    admin_page(req, Some(staff), "admin/debug_confirm.html", context, StatusCode::OK)
}

/// `GET /admin/debug/error/`
pub async fn error_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let staff = require_staff(&req, &state).await?;
    confirm_page(&req, &staff, "Raise a test error")
}

/// `POST /admin/debug/error/`
pub async fn error(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let staff = require_staff(&req, &state).await?;
    check_csrf(&staff, &parse_form(&body)?)?;
    Err(AppError::Deliberate(staff.username))
}

/// `GET /admin/debug/panic/`
pub async fn panic_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let staff = require_staff(&req, &state).await?;
    confirm_page(&req, &staff, "Raise a test panic")
}

/// `POST /admin/debug/panic/`
pub async fn panic(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let staff = require_staff(&req, &state).await?;
    check_csrf(&staff, &parse_form(&body)?)?;
    panic!(
        "deliberate test panic, raised by {} to check error reporting",
        staff.username
    );
}
