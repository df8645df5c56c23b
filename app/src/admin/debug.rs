//! Staff-only ways to check error reporting end to end (like the original's Sentry check):
//! a deliberate server error and a deliberate panic. Both answer the 500 page.

use actix_web::{web, HttpRequest, HttpResponse};

use super::request::require_staff;
use crate::errors::AppError;
use crate::startup::AppState;

/// `GET /admin/debug/error/`
pub async fn error(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let staff = require_staff(&req, &state).await?;
    Err(AppError::Deliberate(staff.username))
}

/// `GET /admin/debug/panic/`
pub async fn panic(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let staff = require_staff(&req, &state).await?;
    panic!(
        "deliberate test panic, raised by {} to check error reporting",
        staff.username
    );
}
