//! Security regressions, each pinned by the attack that found it: secrets that must never
//! reach Sentry or a log line, hostile input that must never be a 5xx, request limits,
//! login throttling that cannot be turned against staff, HTTPS and headers, the page cache.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::process::{blocking, create_superuser, csrf_token, log_in, FakeSentry, Server};
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

const OPS_PASSWORD: &str = "an operations passphrase";

/// Holds SQLite's write lock on the server's database until dropped: every write the
/// server tries meets "database is locked" after its busy timeout, a 500.
fn lock_database(server: &Server) -> SqliteConnection {
    let path = server.dir.path().join("site.sqlite3");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN EXCLUSIVE;")
        .unwrap();
    conn
}

#[test]
fn a_server_error_on_a_form_post_sends_no_body_cookie_or_secret_to_sentry_or_the_log() {
    let sentry = FakeSentry::start();
    let dsn = sentry.dsn();
    let server = Server::start_with(&[("SENTRY_DSN", &dsn)], create_superuser);
    let client = blocking();

    // A login that meets a locked database: a 5xx with the password in the form.
    let login_page = client
        .get(format!("{}/admin/login/", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let anonymous_csrf = csrf_token(&login_page);
    let lock = lock_database(&server);
    let response = client
        .post(format!("{}/admin/login/?token=query-secret-1", server.base))
        .header("Authorization", "Bearer header-secret-2")
        .form(&[
            ("csrfmiddlewaretoken", anonymous_csrf.as_str()),
            ("username", "ops"),
            ("password", OPS_PASSWORD),
            ("api_key", "field-secret-3"),
        ])
        .send()
        .unwrap();
    assert!(response.status().is_server_error(), "{}", response.status());
    drop(lock);
    let login_event = sentry.wait_for("/admin/login/");

    // The user add form, by a logged-in superuser, meeting the same lock.
    log_in(&client, &server.base, "ops", OPS_PASSWORD);
    let add_page = client
        .get(format!("{}/admin/auth/user/add/", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let session_csrf = csrf_token(&add_page);
    let lock = lock_database(&server);
    let response = client
        .post(format!("{}/admin/auth/user/add/", server.base))
        .form(&[
            ("csrfmiddlewaretoken", session_csrf.as_str()),
            ("username", "newstaff"),
            ("password1", "new-user-secret-4"),
            ("password2", "new-user-secret-4"),
        ])
        .send()
        .unwrap();
    assert!(response.status().is_server_error(), "{}", response.status());
    drop(lock);
    let add_event = sentry.wait_for("/admin/auth/user/add/");
    assert!(login_event.contains("database is locked") && add_event.contains("database is locked"));

    std::thread::sleep(Duration::from_millis(500));
    let everything = format!("{}\n{}", sentry.envelopes.lock().unwrap().join("\n"), server.log_text());
    for secret in [
        OPS_PASSWORD,
        "new-user-secret-4",
        "query-secret-1",
        "header-secret-2",
        "field-secret-3",
        anonymous_csrf.as_str(),
        session_csrf.as_str(),
        "csrfmiddlewaretoken",
        "password=",
        "oc_session",
        "oc_csrf",
        "Bearer",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret:?} left the process:\n{everything}"
        );
    }
}
