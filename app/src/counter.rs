//! Counts shared by threads, for `/metrics`: a count that only goes up (the pool's, the
//! hashers', the page cache's), and the requests by route template, method and status
//! class with their latencies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "(none)";

/// A counter that only goes up, shared by threads.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default, Clone)]
pub struct RouteStats {
    /// Answers by status class: 1xx … 5xx.
    pub by_class: [u64; 5],
    /// Cumulative per bucket of [`BUCKETS`] is computed when rendered; here, per bucket.
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

/// Counters a process keeps from its start.
#[derive(Debug)]
pub struct RequestCounts {
    started: Instant,
    /// By route template, then method: a known route is found without allocating.
    routes: Mutex<HashMap<String, HashMap<&'static str, RouteStats>>>,
}

impl Default for RequestCounts {
    fn default() -> Self {
        RequestCounts {
            started: Instant::now(),
            routes: Mutex::new(HashMap::new()),
        }
    }
}

/// A method as labelled: the ones the site answers, anything else as `other` (a client's
/// invented methods add no series).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

impl RequestCounts {
    /// One answered request: its route template (`None`: no route matched), method,
    /// status and how long it took.
    pub fn record(&self, route: Option<&str>, method: &actix_web::http::Method, status: u16, seconds: f64) {
        let route = route.unwrap_or(UNMATCHED);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let bucket = BUCKETS.iter().position(|le| seconds <= *le);
        let method = method_label(method);
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let methods = match routes.get_mut(route) {
            Some(methods) => methods,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let stats = methods.entry(method).or_default();
        stats.by_class[class] += 1;
        if let Some(bucket) = bucket {
            stats.buckets[bucket] += 1;
        }
        stats.count += 1;
        stats.sum_seconds += seconds;
    }

    /// Every route's counts, in label order.
    pub fn snapshot(&self) -> Vec<((String, &'static str), RouteStats)> {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = routes
            .iter()
            .flat_map(|(route, methods)| {
                methods
                    .iter()
                    .map(|(method, stats)| ((route.clone(), *method), stats.clone()))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// How long since the process started counting.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;

    #[test]
    fn requests_are_counted_by_template_method_and_class() {
        let metrics = RequestCounts::default();
        metrics.record(Some("/lettings/{id}/"), &Method::GET, 200, 0.0004);
        metrics.record(Some("/lettings/{id}/"), &Method::GET, 404, 0.02);
        metrics.record(None, &Method::from_bytes(b"BREW").unwrap(), 404, 7.0);
        let routes = metrics.routes.lock().unwrap();
        let letting = &routes["/lettings/{id}/"]["GET"];
        assert_eq!(letting.by_class, [0, 1, 0, 1, 0]);
        assert_eq!((letting.buckets[0], letting.buckets[4], letting.count), (1, 1, 2));
        let other = &routes[UNMATCHED]["other"];
        assert_eq!(other.buckets.iter().sum::<u64>(), 0, "over the last bucket: +Inf only");
        assert_eq!(other.count, 1);
    }
}
