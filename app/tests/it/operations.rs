//! The binary as it runs in production: Sentry reporting (against a loopback server
//! posing as Sentry's ingest endpoint), request ids and JSON logs, the Host check and HSTS,
//! graceful shutdown with a request in flight, and `check --deploy`.
#![allow(clippy::unwrap_used)]

use crate::common::process::{blocking, create_superuser, csrf_token, log_in, FakeSentry, Server, SECRET};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// What ships keeps the site's function names (the image's binary keeps the symbols of
/// `oc_lettings` code, `docker::static_binary`): a panic's Sentry event from that binary
/// names the function that panicked. The binary is `OC_SHIPPED_BINARY` (`.ci/run` builds
/// the image's binary and sets it); skipped with one line without it.
#[test]
fn a_panic_event_from_the_shipped_binary_names_the_function_that_panicked() {
    let Some(binary) = std::env::var_os("OC_SHIPPED_BINARY") else {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: shipped-binary symbol test (OC_SHIPPED_BINARY is not set; .ci/run sets it)"
        );
        return;
    };
    let sentry = FakeSentry::start();
    let dsn = sentry.dsn();
    let server = Server::start_binary(std::path::Path::new(&binary), &[("SENTRY_DSN", &dsn)], create_superuser);
    let client = blocking();
    log_in(&client, &server.base, "ops", "an operations passphrase");
    let page = client
        .get(format!("{}/admin/debug/panic/", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let response = client
        .post(format!("{}/admin/debug/panic/", server.base))
        .form(&[("csrfmiddlewaretoken", csrf_token(&page).as_str())])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let event = sentry.wait_for("deliberate test panic");
    assert!(
        event.contains("\"function\":\"oc_lettings::admin::debug::raise_test_panic\""),
        "the panicking frame is named: {event}"
    );
}

#[test]
fn server_errors_and_panics_reach_sentry_and_404s_do_not() {
    let sentry = FakeSentry::start();
    let dsn = sentry.dsn();
    let server = Server::start_with(
        &[("SENTRY_DSN", &dsn), ("SENTRY_ENVIRONMENT", "test")],
        create_superuser,
    );
    let client = blocking();
    assert_eq!(
        client
            .get(format!("{}/no-such-page/", server.base))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    log_in(&client, &server.base, "ops", "an operations passphrase");

    // The triggers are CSRF-checked POSTs: a GET only shows the button, a forged POST is refused.
    let page = client
        .get(format!("{}/admin/debug/error/", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = csrf_token(&page);
    let forged = client
        .post(format!("{}/admin/debug/error/", server.base))
        .form(&[("csrfmiddlewaretoken", "forged")])
        .send()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let response = client
        .post(format!("{}/admin/debug/error/", server.base))
        .form(&[("csrfmiddlewaretoken", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        response.text().unwrap().contains("Server error"),
        "the site's own 500 page"
    );
    let event = sentry.wait_for("deliberate test error");
    assert!(
        !event.contains("by ops") && !event.contains("\"ops\""),
        "no username in the event: {event}"
    );
    // One span per request: the error's own log line and its Sentry event carry the id
    // the client got back.
    assert!(
        event.contains(&format!("\"request_id\":\"{request_id}\"")),
        "the event is tagged with the request id: {event}"
    );
    let error_line = server.wait_log("request failed");
    assert!(error_line.contains(&request_id), "{error_line}");
    assert!(event.contains("\"environment\":\"test\""), "{event}");
    assert!(
        event.contains(&format!(
            "\"release\":\"oc-lettings@{}\"",
            oc_lettings::release::git_sha()
        )),
        "{event}"
    );
    assert!(
        event.contains("/admin/debug/error/"),
        "the request is attached: {event}"
    );
    assert!(
        event.contains("\"exception\":{\"values\":[{\"type\":\"Deliberate\""),
        "{event}"
    );

    // A panic is a 500 page for that request only (not a dropped connection), and reported.
    let response = client
        .post(format!("{}/admin/debug/panic/", server.base))
        .form(&[("csrfmiddlewaretoken", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert!(response.text().unwrap().contains("Server error"));
    let panic_event = sentry.wait_for("deliberate test panic");
    // One event per panic: the panic integration's, with its stack; not a second one for
    // the 500 it became.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let panics = sentry
        .envelopes
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains("deliberate test panic") || e.contains("handler panicked"))
        .count();
    assert_eq!(panics, 1, "one event per panic");
    assert!(
        !panic_event.contains("by ops") && !panic_event.contains("\"ops\""),
        "{panic_event}"
    );
    assert_eq!(
        client
            .get(format!("{}/healthz", server.base))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200,
        "still serving"
    );

    std::thread::sleep(Duration::from_millis(500));
    let envelopes = sentry.envelopes.lock().unwrap().clone();
    assert!(
        envelopes.iter().all(|e| !e.contains("no-such-page")),
        "a 404 is not an error to report"
    );
    assert!(
        envelopes.iter().all(|e| !e.contains("oc_session=")),
        "no session cookies (no personal data)"
    );
}

/// Issue 31, traces: with a sample rate, each request is a transaction named by its route
/// template, with spans for the database and the render, and nothing secret in it; an
/// incoming `sentry-trace` that says sampled is honoured even at rate 0.
#[test]
fn requests_are_transactions_named_by_route_with_database_and_render_spans() {
    let sentry = FakeSentry::start();
    let dsn = sentry.dsn();
    let server = Server::start(&[("SENTRY_DSN", &dsn), ("SENTRY_TRACES_SAMPLE_RATE", "1")]);
    let client = blocking();
    let response = client
        .get(format!("{}/lettings/1/?password=hunter2&page=1", server.base))
        .header("cookie", "oc_session=a-secret-session-value")
        .header("authorization", "Bearer a-secret-bearer")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let envelope = sentry.wait_for("\"type\":\"transaction\"");
    assert!(
        envelope.contains("\"transaction\":\"GET /lettings/{id}/\""),
        "{envelope}"
    );
    assert!(envelope.contains("\"op\":\"db.query\""), "a database span: {envelope}");
    assert!(
        envelope.contains("\"op\":\"template.render\""),
        "a render span: {envelope}"
    );
    assert!(envelope.contains("lettings/letting.html"), "{envelope}");
    for secret in ["hunter2", "a-secret-session-value", "a-secret-bearer"] {
        assert!(!envelope.contains(secret), "{secret} in {envelope}");
    }

    // Rate 0: only a request whose caller sampled it is recorded, in the caller's trace.
    let sentry = FakeSentry::start();
    let dsn = sentry.dsn();
    let server = Server::start(&[("SENTRY_DSN", &dsn), ("SENTRY_TRACES_SAMPLE_RATE", "0")]);
    let trace = "771a43a4192642f0b136d5159a501700";
    let response = client
        .get(format!("{}/profiles/", server.base))
        .header("sentry-trace", format!("{trace}-b80c3abb6d764b5a-1"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let envelope = sentry.wait_for(trace);
    assert!(envelope.contains("\"transaction\":\"GET /profiles/\""), "{envelope}");
}

#[test]
fn every_request_gets_an_id_and_one_json_log_line() {
    let server = Server::start(&[("LOG_FORMAT", "json")]);
    let client = blocking();
    let response = client
        .get(format!("{}/lettings/", server.base))
        .header("x-request-id", "req-from-router-0001")
        .send()
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "req-from-router-0001",
        "the router's id is kept"
    );
    let response = client.get(format!("{}/profiles/", server.base)).send().unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32);
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let found = server
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&generated))
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no log line for the request");
        std::thread::sleep(Duration::from_millis(50));
    };
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["fields"]["method"], "GET");
    assert_eq!(json["fields"]["path"], "/profiles/");
    assert_eq!(json["fields"]["status"], 200);
    assert!(json["fields"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(server
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("req-from-router-0001")));
}

#[test]
fn unknown_hosts_get_400_and_https_gets_hsts_and_secure_cookies() {
    let server = Server::start(&[("ALLOWED_HOSTS", "lettings.example.com,127.0.0.1")]);
    let client = blocking();
    let response = client
        .get(format!("{}/", server.base))
        .header("host", "evil.example.net")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().unwrap().contains("Bad request"));
    let response = client
        .get(format!("{}/healthz", server.base))
        .header("host", "10.1.2.3")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "platform health checks use addresses");
    let response = client
        .get(format!("{}/", server.base))
        .header("host", "lettings.example.com")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );

    let response = client
        .get(format!("{}/admin/login/", server.base))
        .header("x-forwarded-proto", "https")
        .send()
        .unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let plain = client.get(format!("{}/admin/login/", server.base)).send().unwrap();
    assert!(!plain.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let mut server = Server::start(&[]);
    let mut slow = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let body = "username=a&password=b";
    write!(
        slow,
        "POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..5]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(500));
    // No new connections are taken any more…
    let refused = TcpStream::connect_timeout(
        &format!("127.0.0.1:{}", server.port()).parse().unwrap(),
        Duration::from_secs(1),
    )
    .is_err();
    assert!(refused, "the listener closed at SIGTERM");
    // …but the request already in flight is finished.
    slow.write_all(&body.as_bytes()[5..]).unwrap();
    let mut answer = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    slow.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "the in-flight request got its answer (a CSRF refusal): {answer:.80}"
    );
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
}

#[test]
fn check_deploy_lists_unsafe_settings() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().copied())
            .args(["check", "--deploy"])
            .output()
            .unwrap()
    };
    let output = run(&[("DEBUG", "true"), ("SECRET_KEY", "short"), ("DYNO", "web.1")]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "DEBUG is on",
        "SECRET_KEY is too short",
        "ALLOWED_HOSTS is empty",
        "SQLite file on Heroku",
        "SEED_DEMO is on",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
    let output = run(&[
        ("SECRET_KEY", SECRET),
        ("ALLOWED_HOSTS", "lettings.example.com"),
        ("DATABASE_URL", "postgres://u:p@db.example.com/app?sslmode=require"),
        ("SECURE_SSL_REDIRECT", "true"),
        ("SESSION_COOKIE_SECURE", "true"),
        ("CSRF_COOKIE_SECURE", "true"),
        ("SEED_DEMO", "false"),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(String::from_utf8_lossy(&output.stdout).contains("no issues"));
}
