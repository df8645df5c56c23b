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
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("template error: {0}")]
    Template(String),
}

#[derive(Serialize)]
struct ErrorPage {
    status: u16,
}

impl AppError {
    fn template(status: StatusCode) -> &'static str {
        match status {
            StatusCode::NOT_FOUND => "404.html",
            StatusCode::SERVICE_UNAVAILABLE => "503.html",
            _ => "500.html",
        }
    }
}

/// The site's own error page for `status` (never a framework default or a stack trace).
pub fn error_page(status: StatusCode) -> HttpResponse {
    let html = crate::templates::render(
        AppError::template(status),
        &ErrorPage {
            status: status.as_u16(),
        },
    )
    .unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot render the error page");
        format!(
            "<!DOCTYPE html><title>Error {0}</title><h1>Error {0}</h1>",
            status.as_u16()
        )
    });
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .body(html)
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Database(DbError::Unavailable(_) | DbError::Connect(_)) => {
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
        error_page(status)
    }
}
