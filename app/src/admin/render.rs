//! Rendering an admin page: the logged-in user, the CSRF token, the one-shot message.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use tera::Context;

use super::request::{expired, flash_cookie, take_flash, FLASH_COOKIE};
use super::session::StaffSession;
use crate::errors::AppError;
use crate::templates::render_context;

#[derive(Serialize)]
struct UserView<'a> {
    username: &'a str,
    is_superuser: bool,
}

pub fn admin_page(
    req: &HttpRequest,
    staff: Option<&StaffSession>,
    template: &str,
    mut context: Context,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    if let Some(staff) = staff {
        context.insert(
            "user",
            &UserView {
                username: &staff.username,
                is_superuser: staff.is_superuser,
            },
        );
        context.insert("csrf_token", &staff.csrf_token);
    }
    context.insert("admin_urls", &super::urls::FIXED);
    let flash = take_flash(req);
    context.insert("flash", &flash);
    let html = render_context(template, &context)?;
    let mut response = HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .body(html);
    if flash.is_some() {
        response
            .add_cookie(&expired(req, FLASH_COOKIE))
            .map_err(|err| AppError::BadRequest(err.to_string()))?;
    }
    Ok(response)
}

/// A 302 to `location` carrying a message for the next page.
pub fn redirect_with_message(req: &HttpRequest, location: &str, message: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", location))
        .cookie(flash_cookie(req, message))
        .finish()
}

pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found().insert_header(("Location", location)).finish()
}

/// An admin URL's error page, in the admin's layout with a way back to its index
/// (`errors::set_admin_error_pages`): 403, 404, 429, 500 and 503; `None` for others.
pub fn error_html(info: &crate::errors::ErrorPageInfo) -> Option<String> {
    let (title, text) = match info.status {
        403 => ("Forbidden", "You don’t have permission to do this."),
        404 => ("Page not found", "We’re sorry, but the requested page could not be found."),
        429 => ("Too many attempts", "Too many failed login attempts from here."),
        500 => (
            "Server error",
            "Something went wrong on our side. The error has been logged and reported to the site administrators; please try again in a moment.",
        ),
        503 => ("Busy", "The site is busy for a moment; please try again shortly."),
        _ => return None,
    };
    let mut context = Context::new();
    context.insert("admin_urls", &super::urls::FIXED);
    context.insert("flash", &None::<String>);
    context.insert("crumb", title);
    context.insert("title", title);
    context.insert("text", text);
    context.insert("status", &info.status);
    context.insert("reason", &info.reason);
    context.insert("retry_after", &info.retry_after);
    match render_context("admin/error.html", &context) {
        Ok(html) => Some(html),
        Err(err) => {
            tracing::error!(error = %err, "cannot render the admin's error page");
            None
        }
    }
}
