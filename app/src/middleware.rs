//! What wraps every request: a request id and one log line, the Host check, security
//! headers, and turning a handler's panic into the 500 page (the connection would
//! otherwise just drop).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::FutureExt;

use crate::admin::tokens;
use crate::errors::{error_page, AppError};
use crate::startup::AppState;

pub const REQUEST_ID: &str = "x-request-id";

static FALLBACK_IDS: AtomicU64 = AtomicU64::new(1);

/// The request's id, as the platform's router gave it (Heroku sets X-Request-ID) when it
/// looks like one, else a new random one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn request_id(req: &ServiceRequest) -> String {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let plausible = (8..=200).contains(&given.len())
        && given
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plausible {
        return given.to_owned();
    }
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => tokens::hex(&bytes),
        // No OS randomness (never seen): still unique within the process.
        Err(_) => format!("{:032x}", FALLBACK_IDS.fetch_add(1, Ordering::Relaxed)),
    }
}

/// One line per request (method, path, status, latency, request id); `X-Request-Id` on the
/// response.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut response = match next.call(req).await {
        Ok(response) => response,
        Err(err) => {
            let status = err.as_response_error().status_code().as_u16();
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::error!(request_id = %id, %method, %path, status, latency_ms, "request");
            return Err(err);
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(request_id = %id, %method, %path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id = %id, %method, %path, status, latency_ms, "request");
    }
    Ok(response)
}

/// Health checks answer whatever the Host (platform probes use addresses, not names).
fn exempt_from_host_check(path: &str) -> bool {
    path == "/healthz" || path == "/readyz"
}

/// Django's ALLOWED_HOSTS: an unknown Host is a 400, before any handler runs.
pub async fn check_host(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let allowed = match req.app_data::<web::Data<AppState>>() {
        Some(state) => {
            let host = req.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
            exempt_from_host_check(req.path()) || state.settings.host_allowed(host)
        }
        None => true,
    };
    if allowed {
        return next.call(req).await;
    }
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(100)
        .collect::<String>();
    tracing::warn!(%host, "Host not in ALLOWED_HOSTS");
    let (req, _) = req.into_parts();
    Ok(ServiceResponse::new(req, error_page(StatusCode::BAD_REQUEST)))
}

/// HSTS over HTTPS when DEBUG is off (Django's SECURE_HSTS_SECONDS).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let hsts = req.connection_info().scheme() == "https"
        && req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| !state.settings.debug);
    let mut response = next.call(req).await?;
    if hsts {
        response.headers_mut().insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(response)
}

/// A panic in a handler becomes the 500 page for that request only (Sentry's panic
/// integration has already reported it). The request cannot be kept for the response
/// (handlers need it unshared), so the page comes back as an error actix renders.
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(%path, "handler panicked");
            Err(AppError::Panicked.into())
        }
    }
}
