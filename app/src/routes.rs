//! The URL map: every public route, plus Django's APPEND_SLASH and the 404 fallback.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::errors::{error_page, AppError};
use crate::http::get_or_head;
use crate::state::AppState;
use crate::templates::render_page;
use crate::{admin, assets, lettings, profiles};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Static assets first, as a plain prefix: a `{path:.*}` pattern is a regex that every
    // asset request ran (a tenth of the stylesheet's CPU in the profile).
    cfg.service(web::scope("/static").default_service(web::to(static_file)))
        .service(web::resource("/").route(get_or_head().to(index)))
        .service(web::resource("/healthz").route(get_or_head().to(healthz)))
        .service(web::resource("/readyz").route(get_or_head().to(readyz)))
        .service(web::resource("/metrics").route(get_or_head().to(crate::metrics::endpoint)))
        .configure(lettings::routes)
        .configure(profiles::routes)
        .configure(admin::routes);
}

/// `/static/<path>`: an embedded asset, or the 404 page.
async fn static_file(req: HttpRequest) -> Result<HttpResponse, AppError> {
    assets::response(&req).ok_or(AppError::NotFound)
}

/// A page that shows no data.
#[derive(serde::Serialize)]
struct StaticPage {}

async fn index() -> Result<HttpResponse, AppError> {
    Ok(render_page("index.html", &StaticPage {})?)
}

/// Liveness: the process answers. Touches no database.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("ok\n")
}

/// What `/readyz` says of a reachable database's schema: `Err` when this release cannot
/// run on it (migrations of its own not applied), else the body, counting any migrations
/// only a newer release knows. Counts only: the migrations' names go to the log, not to
/// whoever asks (issue 29, info).
pub fn readiness(status: &crate::db::migrations::SchemaStatus) -> Result<String, String> {
    if !status.pending.is_empty() {
        tracing::warn!(pending = %status.pending.join(", "), "migrations of this release are not applied");
        return Err(format!(
            "schema behind this release: {} migration(s) not applied; run `oc-lettings migrate`\n",
            status.pending.len()
        ));
    }
    if status.unknown.is_empty() {
        return Ok("ready\n".to_owned());
    }
    tracing::info!(unknown = %status.unknown.join(", "), "the schema has migrations of a newer release");
    Ok(format!(
        "ready\nschema ahead of this release: {} applied migration(s) it does not know\n",
        status.unknown.len()
    ))
}

/// Readiness: the database answers and holds this release's schema.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let status = state.db.run(crate::db::migrations::schema_status).await;
    match status.map(|status| readiness(&status)) {
        Ok(Ok(body)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Ok(Err(body)) => {
            tracing::warn!("readiness check failed: schema behind this release");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(body)
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body("database unavailable\n")
        }
    }
}

/// Where Django's APPEND_SLASH would redirect: the same path with a slash, when that
/// path is a page of the site (and only for GET/HEAD, where a redirect loses nothing).
pub fn append_slash_target(req: &HttpRequest) -> Option<String> {
    let path = req.path();
    let method = req.method();
    let is_page_path = !path.ends_with('/') && !path.starts_with("//") && !path.starts_with("/static/");
    if !is_page_path || !(method == "GET" || method == "HEAD") {
        return None;
    }
    let candidate = format!("{path}/");
    if !req.resource_map().has_resource(&candidate) {
        return None;
    }
    Some(match req.query_string() {
        "" => candidate,
        query => format!("{candidate}?{query}"),
    })
}

/// Anything no route matched: an APPEND_SLASH redirect, or the site's 404 page.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    match append_slash_target(&req) {
        Some(location) => HttpResponse::MovedPermanently()
            .insert_header((header::LOCATION, location))
            .finish(),
        None => error_page(actix_web::http::StatusCode::NOT_FOUND),
    }
}
