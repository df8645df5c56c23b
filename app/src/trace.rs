//! Spans of the request's Sentry transaction, when one is being recorded
//! (`SENTRY_TRACES_SAMPLE_RATE` above 0, or an incoming `sentry-trace` that says sampled):
//! the database work and the template render, each a child of the transaction that
//! sentry-actix starts per request (named by its route: `GET /lettings/{id}/`).
//!
//! Off (no DSN, or no tracing), a span costs one relaxed atomic load.

use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns spans on for this process (at start-up, when Sentry may record transactions).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// A span under the current transaction, finished when dropped.
#[must_use = "a span measures until it is dropped"]
pub struct Span(Option<sentry::Span>);

/// Starts a span `op` ("db.query", "template.render") described by `description`, under
/// the transaction of the current request, if one is being recorded.
pub fn span(op: &str, description: &str) -> Span {
    if !ON.load(Ordering::Relaxed) {
        return Span(None);
    }
    let parent = sentry::configure_scope(|scope| scope.get_span());
    Span(parent.map(|parent| parent.start_child(op, description)))
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.finish();
        }
    }
}
