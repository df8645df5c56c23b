//! Superuser-only ways to check error reporting end to end (like the original's Sentry
//! check): a deliberate server error and a deliberate panic. Each is a CSRF-checked POST
//! (another site cannot make a logged-in browser flood Sentry); the GET only shows the
//! button. Other staff get the admin's 403: what reaches the team's Sentry is not theirs
//! to send.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use tera::Context;

use super::extract::{StaffForm, StaffUser};
use super::render::admin_page;
use crate::errors::AppError;

/// Refuses anyone but a superuser.
fn superuser_only(staff: &super::session::StaffSession) -> Result<(), AppError> {
    if staff.is_superuser {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Only superusers may send test events to error reporting.".to_owned(),
        ))
    }
}

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
pub async fn error_form(req: HttpRequest, StaffUser(staff): StaffUser) -> Result<HttpResponse, AppError> {
    superuser_only(&staff)?;
    confirm_page(&req, &staff, "Raise a test error")
}

/// `POST /admin/debug/error/`
pub async fn error(StaffForm { staff, .. }: StaffForm) -> Result<HttpResponse, AppError> {
    superuser_only(&staff)?;
    Err(AppError::Deliberate)
}

/// `GET /admin/debug/panic/`
pub async fn panic_form(req: HttpRequest, StaffUser(staff): StaffUser) -> Result<HttpResponse, AppError> {
    superuser_only(&staff)?;
    confirm_page(&req, &staff, "Raise a test panic")
}

/// `POST /admin/debug/panic/`
pub async fn panic(StaffForm { staff, .. }: StaffForm) -> Result<HttpResponse, AppError> {
    superuser_only(&staff)?;
    raise_test_panic()
}

/// The test panic, in a function of its own that is never inlined: its name is the frame
/// a Sentry event must show (the release build keeps its symbol table for that).
#[inline(never)]
fn raise_test_panic() -> ! {
    // No person named: what reaches Sentry carries no personal data.
    panic!("deliberate test panic, raised from the admin to check error reporting");
}
