//! What wraps every request: a request id, one span and one log line, the same security
//! headers on every response (error pages and the panic page included), request limits
//! like gunicorn's and nginx's, the Host check, the HTTPS redirect, and turning a handler's
//! panic into the 500 page (the connection would otherwise just drop).

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use futures_util::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::errors::{error_page, error_page_because, AppError};
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// The policy every page satisfies: no inline script or style, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Longest request line (method, target, version) and header field accepted, and most
/// header fields (gunicorn refuses 4094/8190/100; nginx's buffers are 8 KiB).
pub const MAX_REQUEST_LINE: usize = 8190;
pub const MAX_HEADER_FIELD: usize = 8190;
pub const MAX_HEADER_FIELDS: usize = 100;
/// A request body must arrive whole within this time (a body trickled a byte at a time
/// would otherwise hold a connection and a worker's attention for ever).
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Request ids handed out by this process.
static REQUEST_IDS: AtomicU64 = AtomicU64::new(0);
/// A random key drawn once per process: ids differ across instances and restarts.
static REQUEST_ID_KEY: OnceLock<[u64; 2]> = OnceLock::new();

/// The request's id, as the platform's router gave it (Heroku sets X-Request-ID) when it
/// looks like one, else a new one.
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
    new_request_id()
}

/// SplitMix64's finaliser: a bijection on u64 that scatters consecutive inputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 32 hex digits, with no system call: a per-process counter (unique within the process),
/// scattered under the process's random key (unique across processes in practice). A
/// request id correlates log lines and events; it is not a secret and guards nothing, so
/// it needs no fresh OS randomness per request (the profile showed that system call).
pub fn new_request_id() -> String {
    let key = REQUEST_ID_KEY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness (never seen): the clock and the pid still tell processes apart.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = (nanos ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
        }
        let (a, b) = bytes.split_at(8);
        [
            u64::from_le_bytes(a.try_into().unwrap_or_default()),
            u64::from_le_bytes(b.try_into().unwrap_or_default()),
        ]
    });
    let n = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{:016x}", mix(n ^ key[0]), mix(n.wrapping_add(key[1])))
}

/// The headers every response carries, whatever produced it.
fn add_headers(headers: &mut HeaderMap, id: &str, hsts: bool) {
    let fixed = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("content-security-policy", CONTENT_SECURITY_POLICY),
    ];
    for (name, value) in fixed {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static(REQUEST_ID), value);
    }
}

/// An error that left the middleware stack (the panic page): rendered as the error
/// renders itself, plus the headers every response carries.
#[derive(Debug)]
struct WithHeaders {
    inner: actix_web::Error,
    id: String,
    hsts: bool,
}

impl std::fmt::Display for WithHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl ResponseError for WithHeaders {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.inner.error_response();
        add_headers(response.headers_mut(), &self.id, self.hsts);
        response
    }
}

/// One span per request (its id, method and path on every log line of the request, and
/// its id as a tag on every Sentry event), one access line, the common headers.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();
    // HSTS over HTTPS when DEBUG is off (Django's SECURE_HSTS_SECONDS).
    let hsts = req.connection_info().scheme() == "https"
        && req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| !state.settings.debug);
    sentry::configure_scope(|scope| scope.set_tag("request_id", &id));
    // Counted for `/metrics` only when it is on (METRICS_TOKEN): no cost otherwise.
    let state = req
        .app_data::<web::Data<AppState>>()
        .filter(|state| state.settings.metrics_token.is_some())
        .cloned();
    // Fields as `&str`, not `%Display`: recorded as they are, with no formatting pass.
    let span = tracing::info_span!(
        "request",
        request_id = id.as_str(),
        method = method.as_str(),
        path = path.as_str()
    );
    let result = next.call(req).instrument(span).await;
    // The access line names its fields itself: outside the span, so they are not written
    // twice (and the JSON formatter does not re-serialise the span's fields).
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut response) => {
            add_headers(response.headers_mut(), &id, hsts);
            let status = response.status();
            access_line(&id, method.as_str(), &path, status.as_u16(), latency_ms);
            if let Some(state) = &state {
                let route = response.request().match_pattern();
                state
                    .metrics
                    .record(route.as_deref(), &method, status.as_u16(), latency_ms / 1000.0);
            }
            if status.is_server_error() {
                if let Some(err) = response.response().error() {
                    report_server_error(err);
                }
            }
            Ok(response)
        }
        Err(err) => {
            let status = err.as_response_error().status_code();
            access_line(&id, method.as_str(), &path, status.as_u16(), latency_ms);
            if let Some(state) = &state {
                state
                    .metrics
                    .record(None, &method, status.as_u16(), latency_ms / 1000.0);
            }
            if status.is_server_error() {
                report_server_error(&err);
            }
            Err(WithHeaders { inner: err, id, hsts }.into())
        }
    }
}

/// Sends a server error to Sentry (in the request's hub: its data and request id come
/// along), as the site's own error when it is one (its variant is the event's type); not
/// a panic, which the panic integration has reported already with its stack.
fn report_server_error(err: &actix_web::Error) {
    match err.as_error::<crate::errors::AppError>() {
        Some(crate::errors::AppError::Panicked { .. }) => {}
        Some(app) => {
            sentry::capture_error(app);
        }
        None => {
            sentry::capture_message(&err.to_string(), sentry::Level::Error);
        }
    }
}

/// The request's one access line: an error for a 5xx, else info. Its fields are `&str`,
/// not `%Display`: recorded as they are, with no formatting pass.
fn access_line(request_id: &str, method: &str, path: &str, status: u16, latency_ms: f64) {
    if status >= 500 {
        tracing::error!(request_id, method, path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id, method, path, status, latency_ms, "request");
    }
}

/// Why a request head is refused before any handler runs, if it is.
fn head_too_large(req: &ServiceRequest) -> Option<(StatusCode, &'static str)> {
    // "GET /path?query HTTP/1.1"
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if req.method().as_str().len() + target + 10 > MAX_REQUEST_LINE {
        return Some((StatusCode::URI_TOO_LONG, "The request line is too long."));
    }
    let headers = req.headers();
    if headers.len() > MAX_HEADER_FIELDS {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "The request has too many header fields.",
        ));
    }
    if headers
        .iter()
        .any(|(name, value)| name.as_str().len() + 2 + value.len() > MAX_HEADER_FIELD)
    {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "A request header field is too long.",
        ));
    }
    None
}

/// A request body cut off at its deadline, kept unread until its 408 has been sent.
/// actix-http drains a dropped chunked body to keep the connection alive, waiting for
/// bytes a stalled client never sends (the connection was held for minutes); an unread
/// body still alive when the response ends makes it close the connection instead.
type Stalled = Rc<RefCell<Option<Payload>>>;

/// `payload`, cut off with an error once `deadline` passes (then left in `stalled`).
fn with_deadline(payload: Payload, deadline: Duration, stalled: Stalled) -> Payload {
    let ends_at = actix_web::rt::time::Instant::now() + deadline;
    let stream = futures_util::stream::unfold(Some(payload), move |payload| {
        let stalled = stalled.clone();
        async move {
            let mut payload = payload?;
            let left = ends_at.saturating_duration_since(actix_web::rt::time::Instant::now());
            match actix_web::rt::time::timeout(left, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    *stalled.borrow_mut() = Some(payload);
                    let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body arrived too slowly");
                    Some((Err(PayloadError::Io(err)), None))
                }
            }
        }
    });
    Payload::Stream {
        payload: Box::pin(stream),
    }
}

/// A response body that holds the request's unread body until it has been sent.
struct HoldingPayload {
    body: BoxBody,
    _held: Option<Payload>,
}

impl actix_web::body::MessageBody for HoldingPayload {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Refuses an oversized request head (414/431) and cuts off a request body that is not
/// whole within [`BODY_DEADLINE`] (408, connection closed).
pub async fn limit_request(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some((status, reason)) = head_too_large(&req) {
        let (req, _) = req.into_parts();
        let mut response = error_page_because(status, reason);
        response.head_mut().set_connection_type(ConnectionType::Close);
        return Ok(ServiceResponse::new(req, response));
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if !has_body {
        return next.call(req).await;
    }
    let stalled: Stalled = Rc::default();
    let payload = req.take_payload();
    req.set_payload(with_deadline(payload, BODY_DEADLINE, stalled.clone()));
    let response = next.call(req).await?;
    let Some(held) = stalled.borrow_mut().take() else {
        return Ok(response);
    };
    tracing::warn!("request body not received within {} s", BODY_DEADLINE.as_secs());
    let (req, _) = response.into_parts();
    let mut page =
        error_page_because(StatusCode::REQUEST_TIMEOUT, "The request body arrived too slowly.").map_body(|_, body| {
            BoxBody::new(HoldingPayload {
                body,
                _held: Some(held),
            })
        });
    page.head_mut().set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(req, page))
}

/// Django's SECURE_SSL_REDIRECT: a plain-http request (as the router saw it) is sent to
/// the same URL over https. Health checks are exempt (platform probes speak plain http).
pub async fn redirect_to_https(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let redirect = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.settings.secure_ssl_redirect)
        && !exempt_from_host_check(req.path())
        && req.connection_info().scheme() != "https";
    if !redirect {
        return next.call(req).await;
    }
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    // The Host the Host check validated (or HTTP/2's authority), never X-Forwarded-Host
    // or Forwarded's host=, which any client can send (Django's SecurityMiddleware uses
    // `request.get_host()`, validated, as well).
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_owned();
    let (req, _) = req.into_parts();
    if host.is_empty() {
        return Ok(ServiceResponse::new(req, error_page(StatusCode::BAD_REQUEST)));
    }
    // Not stored by a shared cache: the redirect is this Host's, for this request.
    let response = HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, format!("https://{host}{target}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    Ok(ServiceResponse::new(req, response))
}

/// Health checks answer whatever the Host (platform probes use addresses, not names).
fn exempt_from_host_check(path: &str) -> bool {
    // `/metrics` too: Prometheus scrapes an instance by its address; the bearer token
    // guards it.
    path == "/healthz" || path == "/readyz" || path == "/metrics"
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
            Err(AppError::Panicked {
                admin: path.starts_with(crate::admin::urls::INDEX),
            }
            .into())
        }
    }
}

/// An error page of an admin URL (403, 404, 429, 500, 503) in the admin's own layout,
/// with its breadcrumbs and a way back to the admin's index, instead of the public site's:
/// the same status, headers and reported error, another body.
pub async fn admin_error_pages(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let admin = req.path().starts_with(crate::admin::urls::INDEX);
    let res = next.call(req).await?;
    if !admin {
        return Ok(res);
    }
    let Some(info) = res
        .response()
        .extensions()
        .get::<crate::errors::ErrorPageInfo>()
        .cloned()
    else {
        return Ok(res);
    };
    match crate::errors::admin_error_html(&info) {
        Some(html) => Ok(res.map_body(|_, _| BoxBody::new(html))),
        None => Ok(res),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_hex_and_not_sequential_looking() {
        let ids: Vec<String> = (0..10_000).map(|_| new_request_id()).collect();
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        // Consecutive ids share no long prefix: the counter is scattered, not exposed.
        let common = ids[0].bytes().zip(ids[1].bytes()).take_while(|(a, b)| a == b).count();
        assert!(common < 8, "{} / {}", ids[0], ids[1]);
    }
}
