//! The monitoring chapter's promise, checked with a real Prometheus (Debian's `prometheus`
//! package): it scrapes a running site's `/metrics` with the bearer token, as the docs'
//! scrape job does, and every query of the checked-in Grafana dashboard
//! (`docs/src/grafana/oc-lettings-dashboard.json`) is evaluated through its HTTP API and
//! returns data: at least one series, every value a finite number. A dashboard whose query
//! names a series the site does not export, or a label it does not have, fails here.
//! Skipped with one line where `prometheus` is not installed.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{prepared_database, spawn_on, Backend};

const TOKEN: &str = "metrics-token-for-prometheus-0123456789";

/// A Prometheus process, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Prometheus scraping `target` (host:port) every second with the token from a file.
fn start_prometheus(target: &str) -> Option<Prometheus> {
    if Command::new("prometheus").arg("--version").output().is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the dashboard's queries against a real Prometheus (no `prometheus`; apt-get install prometheus)"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: oc-lettings\n    authorization:\n      credentials_file: {}\n    \
             static_configs:\n      - targets: [\"{target}\"]\n",
            token.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    })
}

/// Every query of the dashboard, with Grafana's `$__rate_interval` as a window that holds
/// several of these one-second scrapes.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/src/grafana/oc-lettings-dashboard.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "20s");
            queries.push((format!("{} / {}", panel["title"], target["legendFormat"]), expr));
        }
    }
    assert!(queries.len() >= 10, "the dashboard has its panels");
    queries
}

/// An instant query's answer (`Null` while Prometheus is not listening yet).
async fn query(client: &reqwest::Client, prometheus: &str, expr: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&format!("{prometheus}/api/v1/query"), &[("query", expr)]).unwrap();
    match client.get(url).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

async fn every_dashboard_query_returns_data(backend: Backend) {
    let (database, db) = prepared_database(&backend, true);
    let app = spawn_on(database, db, &[("METRICS_TOKEN", TOKEN), ("PAGE_CACHE_SECONDS", "60")]);
    let target = app.address.trim_start_matches("http://").to_owned();
    let Some(prometheus) = start_prometheus(&target) else {
        return;
    };
    let client = reqwest::Client::new();
    // Traffic while Prometheus scrapes (pages, a cached page again, a 404), until it has
    // at least five scrapes of the site: every rate then has points to work with.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    loop {
        round += 1;
        for path in ["/", "/lettings/", "/lettings/1/", "/profiles/", "/no/such/page/"] {
            let _ = app.get(path).await;
        }
        let _ = app.get(&format!("/lettings/{}/", 1 + round % 6)).await;
        let scrapes = query(&client, &prometheus.url, "count_over_time(oc_uptime_seconds[1m])").await;
        let seen = scrapes["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if seen >= 5.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the site: {}",
            query(&client, &prometheus.url, "up").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up = query(&client, &prometheus.url, "up").await;
    assert_eq!(
        up["data"]["result"][0]["value"][1], "1",
        "the scrape with the token works: {up}"
    );
    for (panel, expr) in dashboard_queries() {
        let answer = query(&client, &prometheus.url, &expr).await;
        assert_eq!(answer["status"], "success", "{panel}: {expr}: {answer}");
        let result = answer["data"]["result"].as_array().cloned().unwrap_or_default();
        assert!(!result.is_empty(), "{panel}: no data for {expr}");
        for series in &result {
            let value = series["value"][1].as_str().unwrap_or("");
            let number: f64 = value.parse().unwrap_or(f64::NAN);
            assert!(
                number.is_finite(),
                "{panel}: {expr} gave {value} for {}",
                series["metric"]
            );
        }
    }
}

on_both_backends!(async: every_dashboard_query_returns_data);

/// The alert rules the monitoring chapter offers, checked by Prometheus's own `promtool`.
#[test]
fn the_documented_alert_rules_are_valid() {
    if Command::new("promtool").arg("--version").output().is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the documented alert rules (no `promtool`; apt-get install prometheus)"
        );
        return;
    }
    let chapter = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/monitoring.md")).unwrap();
    let rules = chapter
        .split("```yaml\ngroups:")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .map(|body| format!("groups:{body}"))
        .expect("the chapter's alert rules");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let checked = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("SUCCESS: 4 rules found"));
}
