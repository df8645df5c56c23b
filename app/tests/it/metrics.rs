//! `/metrics` (issue 31): off without `METRICS_TOKEN`, a 401 without the token, and with
//! it Prometheus's text format, requests counted by route template (never the raw path),
//! histograms that add up, and no secret in it; on both backends.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{header, prepared_database, spawn_app, spawn_on, Backend, TestApp};

const TOKEN: &str = "metrics-token-for-tests-0123456789";

async fn site_with_metrics(backend: &Backend) -> TestApp {
    let (database, db) = prepared_database(backend, true);
    spawn_on(database, db, &[("METRICS_TOKEN", TOKEN), ("PAGE_CACHE_SECONDS", "60")])
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "no-store");
    response.text().await.unwrap()
}

/// The samples of an exposition, checked line by line: every family has its HELP and
/// TYPE before its samples, every sample is `name{labels} number`. Keyed by
/// `name{labels}` as written.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut typed = BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line:?}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "{name} has no TYPE before it");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        assert!(samples.insert(series.to_owned(), value).is_none(), "twice: {series}");
    }
    samples
}

async fn metrics_are_a_404_without_a_token(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

async fn metrics_need_the_token(backend: Backend) {
    let app = site_with_metrics(&backend).await;
    for auth in [None, Some("Bearer wrong-token-wrong-token-wrong"), Some(TOKEN)] {
        let mut request = app.client.get(format!("{}/metrics", app.address));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        assert_eq!(header(&response, "www-authenticate"), "Bearer realm=\"metrics\"");
        assert!(!response.text().await.unwrap().contains("oc_http"));
    }
}

async fn requests_are_counted_by_route_template(backend: Backend) {
    let app = site_with_metrics(&backend).await;
    for path in [
        "/lettings/1/",
        "/lettings/2/",
        "/lettings/",
        "/lettings/",
        "/no/such/page/x",
    ] {
        app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
    }
    // Prometheus scrapes an instance by its address: any Host.
    let by_address = app
        .client
        .get(format!("{}/metrics", app.address))
        .header("host", "10.0.0.5:8000")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(by_address.status().as_u16(), 200);
    let text = scrape(&app).await;
    let samples = parse(&text);
    let count = |series: &str| {
        samples
            .get(series)
            .copied()
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        count(r#"oc_http_requests_total{route="/lettings/{id}/",method="GET",status="2xx"}"#),
        2.0
    );
    assert_eq!(
        count(r#"oc_http_requests_total{route="/lettings/",method="GET",status="2xx"}"#),
        2.0
    );
    assert_eq!(
        count(r#"oc_http_requests_total{route="(none)",method="GET",status="4xx"}"#),
        1.0
    );
    assert!(
        !text.contains("/lettings/1/") && !text.contains("/no/such"),
        "raw paths are no labels"
    );
    assert!(!text.contains(TOKEN), "the token is not in the page");
    // A histogram's buckets climb to its count.
    let labels = r#"route="/lettings/{id}/",method="GET""#;
    let mut last = 0.0;
    for le in oc_lettings::metrics::BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".to_owned()])
    {
        let n = count(&format!(
            "oc_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}"
        ));
        assert!(n >= last, "le={le}");
        last = n;
    }
    assert_eq!(
        last,
        count(&format!("oc_http_request_duration_seconds_count{{{labels}}}"))
    );
    assert!(count(&format!("oc_http_request_duration_seconds_sum{{{labels}}}")) > 0.0);
    // The rest of the RED method's context.
    assert!(
        count("oc_page_cache_hits_total") >= 1.0,
        "the second /lettings/ was a hit"
    );
    assert!(count("oc_page_cache_entries") >= 1.0 && count("oc_page_cache_bytes") > 1000.0);
    // The pages read through the pool, or on PostgreSQL through the async reader.
    assert!(count("oc_db_pool_checkouts_total") + count("oc_db_reader_queries_total") >= 3.0);
    assert!(count("oc_db_pool_max_connections") >= 1.0);
    assert_eq!(count("oc_password_hash_rejections_total"), 0.0);
    assert!(count("process_resident_memory_bytes") > 1e6);
    assert!(count("oc_uptime_seconds") > 0.0);
    // Which release and which process: what the deploy's watch tells instances apart by.
    let info = text
        .lines()
        .find(|l| l.starts_with("oc_build_info{"))
        .expect("oc_build_info");
    assert!(
        info.contains(&format!("commit=\"{}\"", oc_lettings::release::git_sha())) && info.ends_with("} 1"),
        "{info}"
    );
    let process = info
        .split("process=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    assert!(
        process.len() == 12 && process.bytes().all(|b| b.is_ascii_hexdigit()),
        "{info}"
    );
    // The scrape itself is counted, as a route of its own, and is never cached.
    let again = parse(&scrape(&app).await);
    assert!(again[r#"oc_http_requests_total{route="/metrics",method="GET",status="2xx"}"#] >= 2.0);
}

on_both_backends!(async:
    metrics_are_a_404_without_a_token,
    metrics_need_the_token,
    requests_are_counted_by_route_template,
);
