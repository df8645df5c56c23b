//! `/metrics`: the running site in Prometheus's text exposition format (0.0.4), for the
//! RED method: requests by route template, method and status class; their latencies as
//! histograms; the database pool (in use, waits, time waited); the async reader; the
//! password hashers' queue (depth, rejections); the page cache (hits, misses, entries,
//! bytes); the process's RSS and uptime.
//!
//! Off unless `METRICS_TOKEN` is set (then a 404 like any unknown URL); with it, only a
//! request carrying `Authorization: Bearer <token>` is answered (compared in constant
//! time), never from the page cache, never stored by a cache (`no-store`). Routes are
//! labelled by their template (`/lettings/{id}/`), never by the raw path: a scan of a
//! million URLs adds one series (`route="(none)"`), not a million.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::errors::AppError;
use crate::state::AppState;

pub use crate::counter::{BUCKETS, UNMATCHED};

/// The metrics page.
pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(8 * 1024);
    family(
        &mut out,
        "oc_build_info",
        "gauge",
        "The release this process runs (its commit) and the process's own id, for telling instances apart.",
    );
    let _ = writeln!(
        out,
        "oc_build_info{{version=\"{}\",commit=\"{}\",process=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        escape(crate::release::git_sha()),
        process_id()
    );
    let routes = state.metrics.snapshot();
    family(
        &mut out,
        "oc_http_requests_total",
        "counter",
        "Requests answered, by route template, method and status class.",
    );
    for ((route, method), stats) in &routes {
        for (class, n) in stats.by_class.iter().enumerate().filter(|(_, n)| **n > 0) {
            let _ = writeln!(
                out,
                "oc_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{}xx\"}} {n}",
                escape(route),
                class + 1
            );
        }
    }
    family(
        &mut out,
        "oc_http_request_duration_seconds",
        "histogram",
        "Time to answer a request, from its head to its response, by route template and method.",
    );
    for ((route, method), stats) in &routes {
        let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(stats.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "oc_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "oc_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            stats.count
        );
        let _ = writeln!(
            out,
            "oc_http_request_duration_seconds_sum{{{labels}}} {}",
            stats.sum_seconds
        );
        let _ = writeln!(
            out,
            "oc_http_request_duration_seconds_count{{{labels}}} {}",
            stats.count
        );
    }

    let pool = state.db.pool_stats();
    gauge(&mut out, "oc_db_pool_max_connections", "The pool's size.", pool.max);
    gauge(&mut out, "oc_db_pool_connections", "Connections open now.", pool.open);
    gauge(
        &mut out,
        "oc_db_pool_in_use",
        "Connections checked out now.",
        pool.in_use,
    );
    counter(
        &mut out,
        "oc_db_pool_checkouts_total",
        "Connections checked out.",
        pool.checkouts,
    );
    counter(
        &mut out,
        "oc_db_pool_waits_total",
        "Checkouts that found no idle connection and waited.",
        pool.waits,
    );
    family(
        &mut out,
        "oc_db_pool_wait_seconds_total",
        "counter",
        "Time spent waiting for a connection.",
    );
    let _ = writeln!(out, "oc_db_pool_wait_seconds_total {}", pool.wait_seconds);
    let reader = state.db.reader();
    gauge(
        &mut out,
        "oc_db_reader_enabled",
        "Whether the public pages read through the async PostgreSQL reader (1) or the pool (0).",
        u64::from(reader.is_some()),
    );
    counter(
        &mut out,
        "oc_db_reader_queries_total",
        "Queries the async reader sent.",
        reader.map_or(0, |r| r.queries()),
    );
    counter(
        &mut out,
        "oc_db_reader_connections_opened_total",
        "Connections the async reader opened (more than its lanes: reconnections).",
        reader.map_or(0, |r| r.connections_opened()),
    );

    let hashers = state.hashers.stats();
    gauge(
        &mut out,
        "oc_password_hash_queue_depth",
        "Password checks waiting for a hashing thread or running.",
        hashers.queued,
    );
    counter(
        &mut out,
        "oc_password_hash_rejections_total",
        "Password checks refused (503) because every hasher was busy.",
        hashers.rejected,
    );

    let pages = state.pages.stats();
    counter(
        &mut out,
        "oc_page_cache_hits_total",
        "Public pages served from the cache.",
        pages.hits,
    );
    counter(
        &mut out,
        "oc_page_cache_misses_total",
        "Public pages rendered (not in the cache).",
        pages.misses,
    );
    gauge(&mut out, "oc_page_cache_entries", "Pages kept.", pages.entries);
    gauge(&mut out, "oc_page_cache_bytes", "Bytes of the pages kept.", pages.bytes);

    if let Some(rss) = resident_bytes() {
        gauge(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss,
        );
    }
    family(
        &mut out,
        "oc_uptime_seconds",
        "gauge",
        "Seconds since this process started.",
    );
    let _ = writeln!(out, "oc_uptime_seconds {:.3}", state.metrics.uptime().as_secs_f64());
    out
}

/// This process's id in `oc_build_info`: random, drawn once, so that a scraper that
/// reaches the instances through a router (the deploy's watch) tells them apart, and a
/// restarted instance counts as a new one (its counters began again).
fn process_id() -> &'static str {
    static ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        // Twelve hex digits of a random token; the start time's nanoseconds if the OS
        // has no randomness to give (an id, not a secret).
        crate::tokens::random_token().map_or_else(
            |_| {
                format!(
                    "{:012x}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() & 0xffff_ffff_ffff)
                )
            },
            |token| token[..12].to_owned(),
        )
    });
    &ID
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// A label value as the exposition format escapes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// This process's resident set, from `/proc/self/status` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    // `VmRSS` is in kB whatever the page size (statm counts pages: 64 KiB ones on some
    // arm64 kernels would have read 16 times too small as 4 KiB).
    resident_kib(&std::fs::read_to_string("/proc/self/status").ok()?).map(|kib| kib * 1024)
}

/// The `VmRSS:` line of a `/proc/<pid>/status`, in kB.
fn resident_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// Whether the request carries the bearer token (compared in constant time).
fn authorized(req: &HttpRequest, token: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    crate::tokens::same(&crate::tokens::sha256_hex(given), &crate::tokens::sha256_hex(token))
}

/// `GET /metrics`
pub async fn endpoint(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(token) = &state.settings.metrics_token else {
        return Err(AppError::NotFound);
    };
    if !authorized(&req, token.expose()) {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("401 Unauthorized: /metrics needs Authorization: Bearer <METRICS_TOKEN>\n"));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(render(&state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_in_kib_whatever_the_page_size() {
        let status = "Name:\toc-lettings\nVmHWM:\t   20480 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(resident_kib(status), Some(12345));
        assert_eq!(resident_kib("Name:\tx\n"), None);
        assert!(resident_bytes().is_some_and(|b| b > 1024 * 1024), "this test's own RSS");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
