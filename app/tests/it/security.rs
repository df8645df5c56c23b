//! Security regressions, each pinned by the attack that found it: secrets that must never
//! reach Sentry or a log line, hostile input that must never be a 5xx, request limits,
//! login throttling that cannot be turned against staff, HTTPS and headers, the page cache.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::process::{blocking, create_superuser, csrf_token, log_in, login_csrf, FakeSentry, Server};
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
    let anonymous_csrf = login_csrf(&client, &server.base);
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
        "an+operations+passphrase",
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

#[test]
fn a_malformed_database_url_is_refused_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["migrate", "serve"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
            .current_dir(dir.path())
            .env("DATABASE_URL", "postgres://app:s3cr%zzet-pw@127.0.0.1:1/app")
            .env("DEBUG", "true")
            .arg(command)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            !stderr.contains("s3cr") && !stderr.contains("zzet"),
            "the password was printed: {stderr}"
        );
    }
}

/// Issue 29 (info): behind a router with `TRUSTED_PROXY_COUNT=0` every client would be
/// counted as the router; the log says so, once, at the first login that shows it.
#[test]
fn forwarded_for_without_trusted_proxies_is_warned_of_once() {
    let server = Server::start(&[("TRUSTED_PROXY_COUNT", "0")]);
    let client = blocking();
    let warning = "carries X-Forwarded-For but TRUSTED_PROXY_COUNT is 0";
    let token = login_csrf(&client, &server.base);
    let login = |forwarded: Option<&str>| {
        let mut request = client.post(format!("{}/admin/login/", server.base)).form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", "nobody"),
            ("password", "wrong"),
        ]);
        if let Some(value) = forwarded {
            request = request.header("x-forwarded-for", value);
        }
        assert_eq!(request.send().unwrap().status().as_u16(), 200);
    };
    login(None);
    assert!(!server.log_text().contains(warning), "no header, no warning");
    login(Some("203.0.113.9"));
    login(Some("203.0.113.10"));
    server.wait_log(warning);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.log_text().matches(warning).count(), 1, "{}", server.log_text());
}

#[test]
fn log_fields_cannot_forge_a_line_or_drive_the_terminal() {
    let server = Server::start(&[]);
    let client = blocking();
    let token = login_csrf(&client, &server.base);
    let forged =
        "mallory\n2026-11-26T00:00:00.000000Z  INFO oc_lettings::admin::auth: admin login username=admin\u{1b}[2J";
    let response = client
        .post(format!("{}/admin/login/", server.base))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", forged),
            ("password", "wrong"),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let line = server.wait_log("failed admin login");
    assert!(line.contains("mallory\\n2026"), "escaped in its line: {line}");
    let log = server.log_text();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-11-26T00:00:00.000000Z")),
        "a forged line: {log}"
    );
    assert!(!log.contains('\u{1b}'), "a raw escape byte reached the log");
}

// --- In-process, on both backends ----------------------------------------------------------

use crate::common::browser::{assert_redirect, logged_in_admin, site_with_django_data, Browser};
use crate::common::{header, spawn_on, Backend, TestApp};
use diesel::prelude::*;
use oc_lettings::admin::model::registry;
use oc_lettings::db::schema::{auth_user, lettings_address, lettings_letting, login_throttle, profiles_profile};
use oc_lettings::middleware::BODY_DEADLINE;

/// A user row as the admin can change it.
type UserRow = (i32, String, String, String, String, String, bool, bool, bool);

/// Everything the admin can change, as text: compared before and after a refused write.
fn snapshot(app: &TestApp) -> String {
    let mut conn = app.db.get().unwrap();
    let users: Vec<UserRow> = auth_user::table
        .order(auth_user::id)
        .select((
            auth_user::id,
            auth_user::username,
            auth_user::password,
            auth_user::first_name,
            auth_user::last_name,
            auth_user::email,
            auth_user::is_active,
            auth_user::is_staff,
            auth_user::is_superuser,
        ))
        .load(&mut *conn)
        .unwrap();
    let addresses: Vec<(i32, i32, String, String, String, i32, String)> = lettings_address::table
        .order(lettings_address::id)
        .load(&mut *conn)
        .unwrap();
    let lettings: Vec<(i32, String, i32)> = lettings_letting::table
        .order(lettings_letting::id)
        .load(&mut *conn)
        .unwrap();
    let profiles: Vec<(i32, String, i32)> = profiles_profile::table
        .order(profiles_profile::id)
        .load(&mut *conn)
        .unwrap();
    format!("{users:?}\n{addresses:?}\n{lettings:?}\n{profiles:?}")
}

/// Hostile values, percent-encoded as they travel in a form or a query string.
const HOSTILE: &[&str] = &[
    "%00",
    "ad%00min",
    "%ED%A0%80",
    "%ED%A0%80x%ED%BF%BF",
    "%FF%FE",
    "99999999999999999999999",
    "-99999999999999999999999",
    "9223372036854775808",
    "%E2%80%AEevil%E2%80%AC",
    "%25",
    "_",
    "%5C",
    "%25_%5C%25",
    "%27%3B+DROP+TABLE+auth_user%3B--",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "1e999",
    "-1",
    "0",
];

pub(crate) fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = HOSTILE.iter().map(|v| (*v).to_owned()).collect();
    values.push("A".repeat(64 * 1024));
    values.push(format!("{}%00", "b".repeat(200)));
    values
}

/// A valid form for each model's add and change page (ids of the imported Django data).
fn valid_form(model: &str, adding: bool) -> Vec<(&'static str, &'static str)> {
    match model {
        "address" => vec![
            ("number", "12"),
            ("street", "Harbor Boulevard"),
            ("city", "Costa Mesa"),
            ("state", "CA"),
            ("zip_code", "92626"),
            ("country_iso_code", "USA"),
        ],
        "letting" => vec![("title", "A title"), ("address", "1")],
        "profile" => vec![("user", "2"), ("favorite_city", "Irvine")],
        "user" if adding => vec![
            ("username", "newcomer"),
            ("password1", "a fine passphrase"),
            ("password2", "a fine passphrase"),
        ],
        _ => vec![
            ("username", "admin"),
            ("email", "admin@example.com"),
            ("first_name", "Ad"),
            ("last_name", "Min"),
            ("is_active", "on"),
            ("is_staff", "on"),
            ("is_superuser", "on"),
        ],
    }
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) async fn post_raw(browser: &Browser, path: &str, body: String) -> reqwest::Response {
    browser
        .client
        .post(format!("{}{path}", browser.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn hostile_input_never_5xxes_and_writes_nothing_on_error(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let csrf = crate::common::browser::csrf_token(&admin.text("/admin/").await);
    let values = hostile_values();

    // Public pages and the login form. (A URL cannot carry 64 KiB through the client: the
    // longest it can is far past the site's own 8 KiB limit, a 414.)
    let in_url = |value: &str| value.chars().take(60_000).collect::<String>();
    for value in &values {
        let value = &in_url(value);
        for path in [
            format!("/lettings/{value}/"),
            format!("/profiles/{value}/"),
            format!("/{value}"),
            format!("/lettings/?q={value}"),
            format!("/static/{value}"),
        ] {
            let status = admin.get(&path).await.status().as_u16();
            assert!(status < 500, "GET {:.80}: {status}", path);
        }
        let anonymous = Browser::with_address(&app, "192.0.2.99");
        let token = crate::common::browser::csrf_token(&anonymous.text("/admin/login/").await);
        for field in ["username", "password", "next"] {
            let mut body = format!("csrfmiddlewaretoken={token}&username=x&password=y&next=%2F");
            body.push_str(&format!("&{field}={value}"));
            let status = post_raw(&anonymous, "/admin/login/", body).await.status().as_u16();
            assert!(status < 500, "login {field}={:.40}: {status}", value);
        }
    }

    // Every admin list's search, sort and page; every field of every admin form.
    for model in registry() {
        let meta = model.meta();
        let list = meta.url();
        for value in &values {
            let value = &in_url(value);
            for parameter in ["q", "o", "p"] {
                let path = format!("{list}?{parameter}={value}");
                let status = admin.get(&path).await.status().as_u16();
                assert!(status < 500, "GET {:.80}: {status}", path);
            }
        }
        for (adding, action, specs) in [
            (true, format!("{list}add/"), meta.add_fields),
            (false, format!("{list}1/change/"), meta.change_fields),
        ] {
            for spec in specs {
                for value in &values {
                    let before = snapshot(&app);
                    let mut body = format!("csrfmiddlewaretoken={csrf}");
                    for (name, valid) in valid_form(meta.name, adding) {
                        if name != spec.name {
                            body.push_str(&format!("&{name}={}", encode(valid)));
                        }
                    }
                    body.push_str(&format!("&{}={value}", spec.name));
                    let response = post_raw(&admin, &action, body).await;
                    let status = response.status().as_u16();
                    assert!(status < 500, "POST {action} {}={:.40}: {status}", spec.name, value);
                    if status != 302 {
                        assert_eq!(
                            snapshot(&app),
                            before,
                            "POST {action} {}={:.40} was refused ({status}) but wrote",
                            spec.name,
                            value
                        );
                    }
                }
            }
        }
    }
}

async fn nul_bytes_are_a_form_error_or_no_match_never_a_query(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let anonymous = Browser::new(&app);
    let token = crate::common::browser::csrf_token(&anonymous.text("/admin/login/").await);
    let response = post_raw(
        &anonymous,
        "/admin/login/",
        format!("csrfmiddlewaretoken={token}&username=ad%00min&password=Abc1234%21"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "the login form again, with its error");
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Please enter the correct username"));
    let admin = logged_in_admin(&app).await;
    for model in registry() {
        let response = admin.get(&format!("{}?q=a%00b", model.meta().url())).await;
        assert_eq!(response.status().as_u16(), 200, "{}", model.meta().url());
        assert!(response.text().await.unwrap().contains(" 0 "), "no match");
    }
    assert_eq!(admin.get("/profiles/a%00b/").await.status().as_u16(), 404);
}

async fn others_failures_never_lock_a_user_out(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    // Five failures for `admin` from five addresses: nobody is blocked by them…
    for n in 1..=5 {
        let attacker = Browser::with_address(&app, &format!("198.51.100.{n}"));
        assert_eq!(attacker.login("admin", "guess").await.status().as_u16(), 200);
    }
    // …least of all the user herself, from her own address.
    let owner = Browser::with_address(&app, "203.0.113.50");
    assert_redirect(&owner.login("admin", "Abc1234!").await, "/admin/");
    // Twenty more from one attacker address block that address, for that username only
    // at first, then for every username; the owner still gets in.
    let attacker = Browser::with_address(&app, "198.51.100.77");
    let mut refused = 0;
    for _ in 0..20 {
        if attacker.login("admin", "guess").await.status().as_u16() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 14, "the guessing client is held back ({refused} refused)");
    let owner_again = Browser::with_address(&app, "203.0.113.51");
    assert_redirect(&owner_again.login("admin", "Abc1234!").await, "/admin/");
}

/// Issue 29, finding 3: a guesser spread over many addresses gets a capped number of
/// evaluated guesses for one username, concurrent or not (before: after 55 failures, 16
/// concurrent guesses were all checked, only slowed); the user's own browser, holding its
/// device cookie, is not locked out by them.
async fn strangers_hit_a_cap_per_username_that_the_users_own_browser_does_not(backend: Backend) {
    use oc_lettings::admin::throttle::{admit, confirm_failure, Refusal, FREE_FAILURES_PER_USERNAME};
    let app = site_with_django_data(&backend).await;
    let owner = Browser::with_address(&app, "203.0.113.60");
    assert_redirect(&owner.login("admin", "Abc1234!").await, "/admin/");
    assert!(
        owner.cookie("oc_device").is_some(),
        "a login marks the browser as the user's"
    );
    // She logs out; her browser keeps its device cookie.
    owner.submit("/admin/", "/admin/logout/", &[]).await;
    assert!(owner.cookie("oc_device").is_some());
    // One failure from each of many addresses: each is evaluated, up to the cap.
    for n in 0..FREE_FAILURES_PER_USERNAME {
        let stranger = Browser::with_address(&app, &format!("198.18.{}.{}", n / 200, n % 200 + 1));
        assert_eq!(
            stranger.login("admin", "guess").await.status().as_u16(),
            200,
            "guess {n}"
        );
    }
    // Past the cap, a stranger's guess is evaluated only once the delay before it ran out,
    // and the delays double: six more, on a clock moved on past each (to a minute's delay).
    let mut conn = app.db.get().unwrap();
    let mut now = oc_lettings::clock::now_ms();
    for n in 0..6 {
        let client = format!("198.18.9.{n}");
        let admitted = loop {
            match admit(&mut conn, "admin", &client, None, now).unwrap() {
                Ok(admitted) => break admitted,
                Err(Refusal::Wait(wait)) => now += i64::try_from(wait.as_millis()).unwrap() + 1,
            }
        };
        confirm_failure(&mut conn, &admitted, now).unwrap();
    }
    drop(conn);
    // Past it, 16 guesses at once from 16 new addresses: none is evaluated.
    let strangers: Vec<Browser> = (0..16)
        .map(|n| Browser::with_address(&app, &format!("198.19.0.{}", n + 1)))
        .collect();
    let mut bodies = Vec::new();
    for stranger in &strangers {
        let token = crate::common::browser::csrf_token(&stranger.text("/admin/login/").await);
        bodies.push(format!("csrfmiddlewaretoken={token}&username=admin&password=guess"));
    }
    let burst = strangers
        .iter()
        .zip(&bodies)
        .map(|(stranger, body)| post_raw(stranger, "/admin/login/", body.clone()));
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    // Nor is a stranger's right password (the cap is what OWASP's device cookies make
    // safe to have)…
    let new_browser = Browser::with_address(&app, "198.19.1.1");
    assert_eq!(new_browser.login("admin", "Abc1234!").await.status().as_u16(), 429);
    // …but the user's own browser logs in, with its own allowance.
    assert_redirect(&owner.login("admin", "Abc1234!").await, "/admin/");
    // Its cookie is the user's only: it does not lift another username's cap.
    let value = owner.cookie("oc_device").unwrap();
    let keys = &app_signing_keys();
    assert!(oc_lettings::admin::device::device_for(keys, &value, "admin").is_some());
    assert!(oc_lettings::admin::device::device_for(keys, &value, "ADMIN").is_some());
    assert!(oc_lettings::admin::device::device_for(keys, &value, "AirWow").is_none());
    let (id, signature) = value.split_once('.').unwrap();
    let forged = format!("{id}0.{signature}");
    assert!(oc_lettings::admin::device::device_for(keys, &forged, "admin").is_none());
}

/// The test sites' signing keys (their SECRET_KEY, as `settings_for` sets it).
fn app_signing_keys() -> oc_lettings::tokens::SigningKeys {
    oc_lettings::tokens::SigningKeys::new(crate::common::TEST_SECRET_KEY.as_bytes().to_vec(), Vec::new())
}

/// Issue 29, finding 3: eight addresses of one IPv6 /64 (one subscriber) are one client
/// (before: 40 guesses, not one 429).
async fn the_addresses_of_one_ipv6_64_are_one_client(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let mut refused = 0;
    for round in 0..5 {
        for n in 1..=8 {
            let browser = Browser::with_address(&app, &format!("2001:db8:5:6::{n:x}{round}"));
            if browser.login("admin", "guess").await.status().as_u16() == 429 {
                refused += 1;
            }
        }
    }
    assert!(refused >= 30, "{refused} of 40 refused");
    // Another /64 is another client.
    let neighbour = Browser::with_address(&app, "2001:db8:5:7::1");
    assert_eq!(neighbour.login("admin", "guess").await.status().as_u16(), 200);
}

async fn a_burst_of_guesses_is_decided_one_at_a_time(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let guesser = Browser::with_address(&app, "192.0.2.33");
    for _ in 0..5 {
        assert_eq!(guesser.login("admin", "guess").await.status().as_u16(), 200);
    }
    let response = guesser.login("admin", "guess").await;
    assert_eq!(response.status().as_u16(), 429);
    let wait: u64 = header(&response, "retry-after").parse().unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1000 * wait + 200)).await;
    // The delay is over: 16 guesses at once. One is evaluated; the count it adds blocks the rest.
    let token = crate::common::browser::csrf_token(&guesser.text("/admin/login/").await);
    let body = format!("csrfmiddlewaretoken={token}&username=admin&password=guess");
    let burst = (0..16).map(|_| post_raw(&guesser, "/admin/login/", body.clone()));
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let evaluated = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(evaluated, 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
}

async fn counts_are_shared_by_instances_and_survive_a_restart(backend: Backend) {
    let first = site_with_django_data(&backend).await;
    let second = spawn_on(
        crate::common::TestDatabase::reuse(&first.database),
        first.db.clone(),
        &[],
    );
    for (n, site) in [&first, &second, &first, &second, &first].iter().enumerate() {
        let browser = Browser::with_address(site, "192.0.2.44");
        assert_eq!(
            browser.login("admin", "guess").await.status().as_u16(),
            200,
            "failure {n}"
        );
    }
    // Two more failures, each once the delay before it is over (1 s, then 2 s): the next
    // delay is 4 s, room enough for the checks below on a loaded machine. Each failure
    // lands on the other instance, so each delay was set by the count of both.
    for (site, wait) in [(&second, 1100), (&first, 2100)] {
        actix_web::rt::time::sleep(Duration::from_millis(wait)).await;
        let browser = Browser::with_address(site, "192.0.2.44");
        assert_eq!(browser.login("admin", "guess").await.status().as_u16(), 200);
    }
    for site in [&first, &second] {
        let browser = Browser::with_address(site, "192.0.2.44");
        assert_eq!(browser.login("admin", "guess").await.status().as_u16(), 429);
    }
    // A new instance (a restart) knows the count too.
    let restarted = spawn_on(
        crate::common::TestDatabase::reuse(&first.database),
        first.db.clone(),
        &[],
    );
    let browser = Browser::with_address(&restarted, "192.0.2.44");
    assert_eq!(browser.login("admin", "guess").await.status().as_u16(), 429);
}

async fn forwarded_for_is_trusted_only_from_configured_proxies(backend: Backend) {
    let behind_router = site_with_django_data(&backend).await;
    // No proxy in front: the client's own X-Forwarded-For is ignored, a new value per
    // request walks past nothing.
    let direct = spawn_on(
        crate::common::TestDatabase::reuse(&behind_router.database),
        behind_router.db.clone(),
        &[("TRUSTED_PROXY_COUNT", "0")],
    );
    for n in 0..5 {
        let spoofer = Browser::with_address(&direct, &format!("10.9.8.{n}"));
        assert_eq!(spoofer.login("admin", "guess").await.status().as_u16(), 200);
    }
    let spoofer = Browser::with_address(&direct, "10.9.8.200");
    assert_eq!(spoofer.login("admin", "guess").await.status().as_u16(), 429);
    // Behind one router, only the entry it appended counts: a forged first entry does not.
    for n in 0..5 {
        let spoofer = Browser::with_address(&behind_router, &format!("10.1.1.{n}, 192.0.2.55"));
        assert_eq!(spoofer.login("admin", "guess").await.status().as_u16(), 200);
    }
    let spoofer = Browser::with_address(&behind_router, "10.1.1.99, 192.0.2.55");
    assert_eq!(spoofer.login("admin", "guess").await.status().as_u16(), 429);
}

async fn impossible_usernames_are_counted_under_one_key_never_stored(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = Browser::with_address(&app, "192.0.2.66");
    for length in [151, 5000] {
        let response = browser.login(&"u".repeat(length), "guess").await;
        assert_eq!(response.status().as_u16(), 200);
    }
    let rows: i64 = login_throttle::table
        .filter(login_throttle::key.like("%uuuuuuuuu%"))
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(rows, 0, "not stored");
    let counted: i64 = login_throttle::table
        .filter(login_throttle::key.like("%(no such username)%"))
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    assert!(counted > 0, "counted, under the one key no real username can be");
}

async fn the_panic_page_carries_every_header(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let csrf = crate::common::browser::csrf_token(&admin.text("/admin/debug/panic/").await);
    let response = admin
        .post("/admin/debug/panic/", &[("csrfmiddlewaretoken", csrf.as_str())])
        .await;
    assert_eq!(response.status().as_u16(), 500);
    let ordinary = admin.get("/lettings/").await;
    for name in [
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "content-security-policy",
        "cross-origin-opener-policy",
    ] {
        assert_eq!(header(&response, name), header(&ordinary, name), "{name}");
        assert!(!header(&response, name).is_empty(), "{name}");
    }
    assert_eq!(header(&response, "x-request-id").len(), 32);
    assert!(response.text().await.unwrap().contains("Server error"));
}

async fn https_is_enforced_where_configured(backend: Backend) {
    let plain = site_with_django_data(&backend).await;
    let strict = spawn_on(
        crate::common::TestDatabase::reuse(&plain.database),
        plain.db.clone(),
        &[("SECURE_SSL_REDIRECT", "true"), ("DYNO", "web.1")],
    );
    let over_http = strict
        .get_with("/admin/login/?next=%2Fadmin%2F", &[("x-forwarded-proto", "http")])
        .await;
    assert_eq!(over_http.status().as_u16(), 301);
    let location = header(&over_http, "location");
    assert!(
        location.starts_with("https://127.0.0.1") && location.ends_with("/admin/login/?next=%2Fadmin%2F"),
        "{location}"
    );
    assert!(
        over_http.headers().get("set-cookie").is_none(),
        "no cookie over plain http"
    );
    assert_eq!(
        header(&over_http, "cache-control"),
        "no-store",
        "no shared cache keeps it"
    );
    // The redirect goes to the validated Host, whatever a client says its host is
    // (it went to https://evil.example/ before: issue 29, finding 2).
    for forged in [
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "host=evil.example;proto=http"),
    ] {
        let response = strict
            .get_with("/admin/", &[("x-forwarded-proto", "http"), forged])
            .await;
        assert_eq!(response.status().as_u16(), 301, "{forged:?}");
        let location = header(&response, "location");
        assert!(
            location.starts_with("https://127.0.0.1") && !location.contains("evil"),
            "{forged:?}: {location}"
        );
    }
    let probe = strict.get_with("/healthz", &[("x-forwarded-proto", "http")]).await;
    assert_eq!(probe.status().as_u16(), 200, "platform probes speak plain http");
    let over_https = strict
        .get_with("/admin/login/", &[("x-forwarded-proto", "https")])
        .await;
    assert_eq!(over_https.status().as_u16(), 200);
    assert!(header(&over_https, "set-cookie").contains("Secure"));
    // Secure cookies even on a plain-http request when asked (a TLS proxy that says nothing).
    let cookies_only = spawn_on(
        crate::common::TestDatabase::reuse(&plain.database),
        plain.db.clone(),
        &[("CSRF_COOKIE_SECURE", "true")],
    );
    let response = cookies_only.get("/admin/login/").await;
    assert!(header(&response, "set-cookie").contains("Secure"), "CSRF_COOKIE_SECURE");
    let response = plain.get("/admin/login/").await;
    assert!(
        !header(&response, "set-cookie").contains("Secure"),
        "local plain http works"
    );
}

async fn a_forged_flash_message_is_not_shown(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let response = app
        .get_with(
            "/admin/login/",
            &[("cookie", "oc_flash=Your%20account%20is%20locked%2C%20call%20555-0100")],
        )
        .await;
    assert!(!response.text().await.unwrap().contains("555-0100"));
    let forged_signature = format!("oc_flash=Pay%20now.{}", "0".repeat(64));
    let response = app.get_with("/admin/login/", &[("cookie", &forged_signature)]).await;
    assert!(!response.text().await.unwrap().contains("Pay now"));
    // The site's own messages still show.
    let admin = logged_in_admin(&app).await;
    let csrf = crate::common::browser::csrf_token(&admin.text("/admin/").await);
    let saved = admin
        .post(
            "/admin/lettings/letting/1/change/",
            &[
                ("csrfmiddlewaretoken", csrf.as_str()),
                ("title", "Signed"),
                ("address", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 302);
    assert!(admin
        .text("/admin/lettings/letting/")
        .await
        .contains("was changed successfully"));
}

async fn changing_ones_own_password_keeps_this_session_and_ends_the_others(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let here = logged_in_admin(&app).await;
    let elsewhere = Browser::with_address(&app, "198.51.100.200");
    assert_redirect(&elsewhere.login("admin", "Abc1234!").await, "/admin/");
    let admin_id: i32 = auth_user::table
        .filter(auth_user::username.eq("admin"))
        .select(auth_user::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    let form_page = format!("/admin/auth/user/{admin_id}/password/");
    let csrf = crate::common::browser::csrf_token(&here.text(&form_page).await);
    let response = here
        .post(
            &form_page,
            &[
                ("csrfmiddlewaretoken", csrf.as_str()),
                ("password1", "a brand new passphrase"),
                ("password2", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(here.get("/admin/").await.status().as_u16(), 200, "still logged in here");
    assert_eq!(
        elsewhere.get("/admin/").await.status().as_u16(),
        302,
        "logged out elsewhere"
    );
}

// --- The page cache ---------------------------------------------------------------------------

async fn spellings_of_one_page_share_one_cache_entry(backend: Backend) {
    use actix_web::web;
    use oc_lettings::state::AppState;
    let (database, db) = crate::common::prepared_database(&backend, true);
    let state = web::Data::new(AppState::new(db, crate::common::settings_for(&database)).unwrap());
    state.pages.set_listening(true); // as the PostgreSQL listener does once connected
    for raw in ["1", "01", "001", "+1"] {
        let response = oc_lettings::lettings::views::detail(state.clone(), web::Path::from(raw.to_owned())).await;
        let status = response
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| actix_web::ResponseError::status_code(&e).as_u16());
        assert!(status == 200 || status == 404, "{raw}: {status}");
    }
    assert_eq!(state.pages.len(), 1, "one letting, one entry");
    for query in ["", "page=1", "page=", "x=1&page=1", "page=2", "page=01", "page=abc"] {
        let req = actix_web::test::TestRequest::get()
            .uri(&format!("/lettings/?{query}"))
            .to_http_request();
        let _ = oc_lettings::lettings::views::index(req.clone(), state.clone()).await;
        let _ = oc_lettings::profiles::views::index(req, state.clone()).await;
    }
    assert_eq!(
        state.pages.len(),
        3,
        "one entry per list, whatever its query spells page 1 as"
    );
}

/// Key rotation as Django's `SECRET_KEY_FALLBACKS`: a session signed with the old key stays
/// valid while that key is a fallback, and ends when it is removed; a session made after
/// the rotation is signed with the new key only.
async fn a_rotated_key_keeps_sessions_while_it_is_a_fallback(backend: Backend) {
    use crate::common::TEST_SECRET_KEY;
    const NEW_KEY: &str = "the-rotated-in-key-0123456789-abcdefghijklmnopqrstuvwxyz";
    let old_site = site_with_django_data(&backend).await;
    let site_with = |settings: &[(&str, &str)]| {
        spawn_on(
            crate::common::TestDatabase::reuse(&old_site.database),
            old_site.db.clone(),
            settings,
        )
    };
    let rotating = site_with(&[("SECRET_KEY", NEW_KEY), ("SECRET_KEY_FALLBACKS", TEST_SECRET_KEY)]);
    let rotated = site_with(&[("SECRET_KEY", NEW_KEY)]);
    // The same browser (cookie jar) on another site of the same host.
    let on = |browser: &Browser, site: &TestApp| Browser {
        client: browser.client.clone(),
        jar: browser.jar.clone(),
        base: site.address.clone(),
    };
    let logged_in = |response: reqwest::Response| response.status().as_u16() == 200;

    let before = logged_in_admin(&old_site).await;
    assert!(logged_in(before.get("/admin/").await));
    assert!(
        logged_in(on(&before, &rotating).get("/admin/").await),
        "the old key is a fallback"
    );
    assert!(
        !logged_in(on(&before, &rotated).get("/admin/").await),
        "the fallback is gone"
    );

    let after = logged_in_admin(&rotating).await;
    assert!(
        logged_in(on(&after, &rotated).get("/admin/").await),
        "signed with the new key"
    );
    assert!(
        !logged_in(on(&after, &old_site).get("/admin/").await),
        "never with the old one"
    );
}

on_both_backends!(async:
    strangers_hit_a_cap_per_username_that_the_users_own_browser_does_not,
    the_addresses_of_one_ipv6_64_are_one_client,
    a_rotated_key_keeps_sessions_while_it_is_a_fallback,
    hostile_input_never_5xxes_and_writes_nothing_on_error,
    nul_bytes_are_a_form_error_or_no_match_never_a_query,
    others_failures_never_lock_a_user_out,
    a_burst_of_guesses_is_decided_one_at_a_time,
    counts_are_shared_by_instances_and_survive_a_restart,
    forwarded_for_is_trusted_only_from_configured_proxies,
    impossible_usernames_are_counted_under_one_key_never_stored,
    the_panic_page_carries_every_header,
    https_is_enforced_where_configured,
    a_forged_flash_message_is_not_shown,
    changing_ones_own_password_keeps_this_session_and_ends_the_others,
    spellings_of_one_page_share_one_cache_entry,
);

// --- Request limits -------------------------------------------------------------------------

use std::io::{Read as _, Write as _};

/// Sends `head` (and then `body`, a byte at a time every `pace`) on a fresh connection;
/// returns the answer's status line and how long the answer took.
fn raw_exchange(address: &str, head: &str, body: &[u8], pace: Duration) -> (String, Duration) {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = std::time::Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    for byte in body {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(pace);
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    (text.lines().next().unwrap_or_default().to_owned(), started.elapsed())
}

#[actix_web::test]
async fn oversized_heads_are_refused_and_slow_bodies_cut_off() {
    let app = crate::common::spawn_app(&Backend::Sqlite, true).await;
    let address = app.address.clone();
    let answers = actix_web::rt::task::spawn_blocking(move || {
        let long_line = format!("GET /lettings/?q={} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "a".repeat(9000));
        let long_field = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "b".repeat(9000));
        let many_fields = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{}Connection: close\r\n\r\n",
            (0..101).map(|n| format!("X-F{n}: v\r\n")).collect::<String>()
        );
        let fine = "GET /lettings/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_owned();
        let mut answers: Vec<(String, Duration)> = [long_line, long_field, many_fields, fine]
            .iter()
            .map(|head| raw_exchange(&address, head, b"", Duration::ZERO))
            .collect();
        // A body announced as 40 bytes, sent one byte every 400 ms (16 s in all).
        let slow = "POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n";
        answers.push(raw_exchange(&address, slow, &[b'a'; 40], Duration::from_millis(400)));
        answers
    })
    .await
    .unwrap();
    assert!(
        answers[0].0.starts_with("HTTP/1.1 414"),
        "request line: {:?}",
        answers[0]
    );
    assert!(
        answers[1].0.starts_with("HTTP/1.1 431"),
        "header field: {:?}",
        answers[1]
    );
    assert!(
        answers[2].0.starts_with("HTTP/1.1 431"),
        "header count: {:?}",
        answers[2]
    );
    assert!(
        answers[3].0.starts_with("HTTP/1.1 200"),
        "a normal request: {:?}",
        answers[3]
    );
    let (status, took) = &answers[4];
    assert!(status.starts_with("HTTP/1.1 408"), "slow body: {status}");
    assert!(
        *took < Duration::from_secs(14),
        "cut off after the deadline, not at the end: {took:?}"
    );
}

/// Sends `head` and the start of a chunked body that never ends, then waits: the answer's
/// status line, and whether the server closed the connection (end of stream) rather than
/// leaving it open (the read timing out).
fn stalled_chunked_body(address: &str, head: &str) -> (String, bool) {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    // Well past the body deadline: an open connection shows as a timed-out read.
    stream.set_read_timeout(Some(BODY_DEADLINE * 3)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"5\r\nab").unwrap();
    let mut answer = Vec::new();
    let closed = stream.read_to_end(&mut answer).is_ok();
    let text = String::from_utf8_lossy(&answer);
    (text.lines().next().unwrap_or_default().to_owned(), closed)
}

#[actix_web::test]
async fn a_chunked_body_that_never_arrives_gets_408_and_its_connection_closed() {
    let app = crate::common::spawn_app(&Backend::Sqlite, true).await;
    let address = app.address.clone();
    let (status, closed) = actix_web::rt::task::spawn_blocking(move || {
        let head = "POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n";
        stalled_chunked_body(&address, head)
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(closed, "the connection is closed after the 408, not held open");
}

// --- A login flood --------------------------------------------------------------------------

/// The most memory the site may hold during a flood of 50 concurrent logins: its own
/// footprint plus two argon2id verifications (19 MiB each) and slack. Unbounded, one
/// verification per blocking thread ran at once (8 here: about 150 MiB of hashes alone).
const FLOOD_RSS_BUDGET_MIB: u64 = 110;

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib / 1024
}

#[test]
fn a_login_flood_cannot_exhaust_memory_and_pages_keep_answering() {
    // An argon2id user (createsuperuser hashes with it), 50 clients guessing at once.
    let server = Server::start_with(&[("TRUSTED_PROXY_COUNT", "1")], create_superuser);
    let pid = server.child.id();
    let client = blocking();
    let token = login_csrf(&client, &server.base);
    let base = server.base.clone();
    let flood: Vec<_> = (0..50)
        .map(|n| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            std::thread::spawn(move || {
                client
                    .post(format!("{base}/admin/login/"))
                    .header("x-forwarded-for", format!("198.18.0.{n}"))
                    .form(&[
                        ("csrfmiddlewaretoken", token.as_str()),
                        ("username", "ops"),
                        ("password", "wrong guess"),
                    ])
                    .send()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    // Public pages answer while the flood is on.
    std::thread::sleep(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let status = client
        .get(format!("{}/lettings/", server.base))
        .send()
        .unwrap()
        .status()
        .as_u16();
    let page_took = started.elapsed();
    let statuses: Vec<u16> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    let peak = peak_rss_mib(pid);
    figure!(
        "login flood: 50 concurrent logins: {} answered 200, {} 503 (busy), {} 429 (the username's cap), a public page took {:.0} ms; peak RSS {peak} MiB (budget {FLOOD_RSS_BUDGET_MIB})",
        statuses.iter().filter(|s| **s == 200).count(),
        statuses.iter().filter(|s| **s == 503).count(),
        statuses.iter().filter(|s| **s == 429).count(),
        page_took.as_secs_f64() * 1000.0
    );
    assert_eq!(status, 200);
    assert!(page_took < Duration::from_secs(2), "a public page waited {page_took:?}");
    assert!(statuses.iter().all(|s| matches!(s, 200 | 429 | 503)), "{statuses:?}");
    // Fifty strangers on one username: the username's cap refuses those past it before any
    // hash; the rest still make a flood for the hashers.
    let hashed = statuses.iter().filter(|s| matches!(s, 200 | 503)).count();
    assert!(hashed >= 20, "{statuses:?}");
    assert!(peak <= FLOOD_RSS_BUDGET_MIB, "peak RSS {peak} MiB over the budget");
}
