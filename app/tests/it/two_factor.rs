//! A second factor for staff (issue 29): enrolment with a QR code drawn on the server,
//! the login's code step, recovery codes, the throttle on codes, the setting that requires
//! it of superusers, and resets by a superuser and from the command line; each recorded
//! in the user's history. Both backends.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use oc_lettings::accounts::totp;
use oc_lettings::db::schema::{auth_user, auth_user_recovery_code, auth_user_totp, django_admin_log};
use oc_lettings::manage::import::import_django;

use crate::admin::add_user;
use crate::common::browser::{assert_redirect, csrf_token, logged_in_admin, site_with_django_data, Browser};
use crate::common::{django_fixture, header, prepared_database, spawn_on, Backend, TestApp};

const PASSWORD: &str = "Abc1234!";

fn user_id(app: &TestApp, username: &str) -> i32 {
    auth_user::table
        .filter(auth_user::username.eq(username))
        .select(auth_user::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap()
}

/// The code an authenticator app shows `steps` time steps from now.
fn code(secret: &str, steps: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    totp::code_at(secret, totp::step_at(now) + steps).unwrap()
}

/// Lets the codes of now and its neighbours be used again (the site accepts each step
/// once; a test that needs more codes than 30 seconds give makes them usable again).
fn forget_used_steps(app: &TestApp, id: i32) {
    diesel::update(auth_user_totp::table.find(id))
        .set(auth_user_totp::last_step.eq(0i64))
        .execute(&mut *app.db.get().unwrap())
        .unwrap();
}

fn history_messages(app: &TestApp, id: i32) -> Vec<String> {
    django_admin_log::table
        .filter(django_admin_log::content_type.eq("auth.user"))
        .filter(django_admin_log::object_id.eq(id.to_string()))
        .order(django_admin_log::id.asc())
        .select(django_admin_log::change_message)
        .load(&mut *app.db.get().unwrap())
        .unwrap()
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start} in {html}")) + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

/// Enrols `browser`'s user: the set-up page's key, a wrong code refused, the right one;
/// returns the key and the recovery codes shown.
async fn enrol(browser: &Browser) -> (String, Vec<String>) {
    let html = browser.text("/admin/two_factor/").await;
    assert!(
        html.contains("Two-factor authentication is <strong>off</strong>"),
        "{html}"
    );
    let token = csrf_token(&html);
    let started = browser
        .post("/admin/two_factor/", &[("csrfmiddlewaretoken", &token)])
        .await;
    assert_redirect(&started, "/admin/two_factor/setup/");
    let html = browser.text("/admin/two_factor/setup/").await;
    // The QR code is an SVG drawn here, inline as a data: URI (no script, no request out).
    let qr = between(&html, "<img class=\"qr\" src=\"", "\"");
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr:.60}");
    assert!(!html.contains("<script"));
    let secret = between(&html, "<code class=\"secret\">", "</code>").replace(' ', "");
    assert_eq!(totp::from_base32(&secret).unwrap().len(), totp::SECRET_BYTES);

    let wrong = if code(&secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let response = browser
        .submit(
            "/admin/two_factor/setup/",
            "/admin/two_factor/setup/",
            &[("code", wrong)],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("Please enter a correct code."));

    let response = browser
        .submit(
            "/admin/two_factor/setup/",
            "/admin/two_factor/setup/",
            &[("code", &code(&secret, 0))],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let html = response.text().await.unwrap();
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|part| part[..part.find("</code>").unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), totp::RECOVERY_CODES, "{html}");
    (secret, codes)
}

/// Logs in with the password: the login waits for a code, with no session yet.
async fn password_step(browser: &Browser, username: &str) {
    let response = browser.login(username, PASSWORD).await;
    assert_redirect(&response, "/admin/login/two_factor/?next=%2Fadmin%2F");
    assert!(browser.session_cookie().is_none(), "a session before the code");
    assert!(browser.cookie("oc_2fa").is_some());
    assert_redirect(&browser.get("/admin/").await, "/admin/login/?next=%2Fadmin%2F");
}

async fn code_step(browser: &Browser, code: &str) -> reqwest::Response {
    browser
        .submit(
            "/admin/login/two_factor/?next=%2Fadmin%2F",
            "/admin/login/two_factor/",
            &[("code", code), ("next", "/admin/")],
        )
        .await
}

async fn enrolment_then_login_with_a_code_or_a_recovery_code_once(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin_id = user_id(&app, "admin");
    let other_session = logged_in_admin(&app).await;
    let admin = logged_in_admin(&app).await;
    let (secret, codes) = enrol(&admin).await;

    // Stored: the key, and only hashes of the codes.
    let stored: Vec<String> = auth_user_recovery_code::table
        .filter(auth_user_recovery_code::user_id.eq(admin_id))
        .select(auth_user_recovery_code::code_hash)
        .load(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(stored.len(), codes.len());
    for code in &codes {
        assert!(!stored
            .iter()
            .any(|s| s.contains(code.as_str()) || s.contains(&code.replace('-', ""))));
    }
    // Turning it on ends the sessions opened without it; this one stays.
    assert_redirect(&other_session.get("/admin/").await, "/admin/login/?next=%2Fadmin%2F");
    let html = admin.text("/admin/two_factor/").await;
    assert!(
        html.contains("Two-factor authentication is <strong>on</strong>"),
        "{html}"
    );
    assert!(html.contains("10 recovery codes left."), "{html}");

    // A right password is not enough; a wrong code opens nothing; the right one does.
    let browser = Browser::new(&app);
    password_step(&browser, "admin").await;
    let response = code_step(&browser, "12345").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("Please enter a correct code."));
    assert!(browser.session_cookie().is_none());
    let now_plus_one = code(&secret, 1);
    assert_redirect(&code_step(&browser, &now_plus_one).await, "/admin/");
    assert!(browser.session_cookie().is_some());
    assert!(browser.text("/admin/").await.contains("Site administration"));

    // A code works once, on every instance: the same code in another browser is refused.
    let again = Browser::with_address(&app, "10.0.0.2");
    password_step(&again, "admin").await;
    assert_eq!(code_step(&again, &now_plus_one).await.status().as_u16(), 200);
    assert!(again.session_cookie().is_none());

    // A recovery code (typed any way) works once and says how many are left.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_redirect(&code_step(&again, &typed).await, "/admin/");
    assert!(again.text("/admin/").await.contains("9 left"));
    let third = Browser::with_address(&app, "10.0.0.3");
    password_step(&third, "admin").await;
    assert_eq!(code_step(&third, &codes[3]).await.status().as_u16(), 200);
    assert!(third.session_cookie().is_none());

    // Hostile input at the code step is a wrong code, never a 5xx.
    for value in crate::security::hostile_values().iter().take(6) {
        let token = csrf_token(&third.text("/admin/login/two_factor/").await);
        let body = format!("csrfmiddlewaretoken={token}&next=%2Fadmin%2F&code={value}");
        let status = crate::security::post_raw(&third, "/admin/login/two_factor/", body)
            .await
            .status()
            .as_u16();
        assert!(status == 200 || status == 429, "code={value:.40}: {status}");
    }

    // The history says what happened, in the user's own name.
    let history = history_messages(&app, admin_id);
    assert!(
        history.contains(&"Turned on two-factor authentication.".to_owned()),
        "{history:?}"
    );
    assert!(
        history.contains(&"Logged in with a recovery code (9 left).".to_owned()),
        "{history:?}"
    );
    let page = admin.text(&format!("/admin/auth/user/{admin_id}/history/")).await;
    assert!(page.contains("Turned on two-factor authentication."), "{page}");
}

async fn a_pending_login_is_void_once_the_password_changes(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let (secret, _) = enrol(&admin).await;
    let browser = Browser::with_address(&app, "10.0.0.5");
    password_step(&browser, "admin").await;
    // Meanwhile the password is changed (by them elsewhere, or by a superuser).
    let id = user_id(&app, "admin");
    let hash = oc_lettings::accounts::password::hash_password("A new pass 9").unwrap();
    oc_lettings::accounts::model::set_password_hash(&mut app.db.get().unwrap(), id, &hash, None).unwrap();
    let response = code_step(&browser, &code(&secret, 1)).await;
    assert_redirect(&response, "/admin/login/");
    assert!(browser.session_cookie().is_none());
    // A pending cookie is nothing without its code: the code page needs one.
    let stranger = Browser::with_address(&app, "10.0.0.6");
    assert_redirect(&stranger.get("/admin/login/two_factor/").await, "/admin/login/");
}

async fn codes_are_throttled_and_a_known_password_buys_no_more_guesses(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let (secret, _) = enrol(&admin).await;
    let wrong = {
        let right: Vec<String> = (-1..=1).map(|s| code(&secret, s)).collect();
        (0..1000)
            .map(|n| format!("{n:06}"))
            .find(|c| !right.contains(c))
            .unwrap()
    };
    // Someone who has the password: four wrong codes, the password again (right, so the
    // login waits for a code once more), then one more wrong code: the fifth failure.
    let attacker = Browser::with_address(&app, "198.51.100.7");
    password_step(&attacker, "admin").await;
    for _ in 0..4 {
        assert_eq!(code_step(&attacker, &wrong).await.status().as_u16(), 200);
    }
    password_step(&attacker, "admin").await;
    assert_eq!(code_step(&attacker, &wrong).await.status().as_u16(), 200);
    // The right password did not wipe the count: the next guess waits.
    let response = code_step(&attacker, &code(&secret, 1)).await;
    assert_eq!(response.status().as_u16(), 429, "{}", response.text().await.unwrap());
    assert!(attacker.session_cookie().is_none());
    // The owner's browser (a device that logged in before) is not held back.
    assert_redirect(
        &admin.login_again("admin", PASSWORD).await,
        "/admin/login/two_factor/?next=%2Fadmin%2F",
    );
    assert_redirect(&code_step(&admin, &code(&secret, 1)).await, "/admin/");
}

async fn new_codes_and_turning_off_take_a_code(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let id = user_id(&app, "admin");
    let admin = logged_in_admin(&app).await;
    let (secret, old_codes) = enrol(&admin).await;
    let html = admin
        .submit(
            "/admin/two_factor/",
            "/admin/two_factor/recovery_codes/",
            &[("code", "12")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Please enter a correct code."), "{html}");
    let response = admin
        .submit(
            "/admin/two_factor/",
            "/admin/two_factor/recovery_codes/",
            &[("code", &code(&secret, 1))],
        )
        .await;
    let html = response.text().await.unwrap();
    assert!(html.contains("New recovery codes"), "{html}");
    // The old codes stop working.
    let browser = Browser::with_address(&app, "10.0.0.8");
    password_step(&browser, "admin").await;
    assert_eq!(code_step(&browser, &old_codes[0]).await.status().as_u16(), 200);
    assert!(browser.session_cookie().is_none());

    forget_used_steps(&app, id);
    let turned_off = admin
        .submit(
            "/admin/two_factor/",
            "/admin/two_factor/disable/",
            &[("code", &code(&secret, 0))],
        )
        .await;
    assert_redirect(&turned_off, "/admin/two_factor/");
    let off = Browser::with_address(&app, "10.0.0.9");
    assert_redirect(&off.login("admin", PASSWORD).await, "/admin/");
    let history = history_messages(&app, id);
    for message in [
        "Turned on two-factor authentication.",
        "Made new recovery codes for two-factor authentication.",
        "Turned off two-factor authentication.",
    ] {
        assert!(history.contains(&message.to_owned()), "{message}: {history:?}");
    }
}

async fn superusers_must_enrol_where_required_and_only_a_reset_takes_it_away(backend: Backend) {
    let (database, db) = prepared_database(&backend, false);
    let source = django_fixture("oc-lettings-site.sqlite3", database.dir.path());
    import_django(&source, &mut db.get().unwrap()).unwrap();
    let app = spawn_on(database, db, &[("TWO_FACTOR_REQUIRED_FOR_SUPERUSERS", "true")]);
    let admin_id = user_id(&app, "admin");
    let staff_id = add_user(&app, "clerk", PASSWORD, true, true);

    // A superuser without it logs in, and every admin page sends them to set it up.
    let admin = logged_in_admin(&app).await;
    for page in ["/admin/", "/admin/lettings/letting/", "/admin/password_change/"] {
        assert_redirect(&admin.get(page).await, "/admin/two_factor/");
    }
    let html = admin.text("/admin/two_factor/").await;
    assert!(
        html.contains("requires two-factor authentication for superusers"),
        "{html}"
    );
    // Staff who are not superusers are not held to it.
    let clerk = Browser::with_address(&app, "10.0.0.20");
    assert_redirect(&clerk.login("clerk", PASSWORD).await, "/admin/");
    assert_eq!(clerk.get("/admin/").await.status().as_u16(), 200);

    let (secret, _) = enrol(&admin).await;
    assert_eq!(admin.get("/admin/").await.status().as_u16(), 200);
    // Required: it cannot be turned off, even with a right code.
    let refused = admin
        .submit(
            "/admin/two_factor/",
            "/admin/two_factor/disable/",
            &[("code", &code(&secret, 1))],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(oc_lettings::accounts::two_factor::enrolled(&mut app.db.get().unwrap(), admin_id).unwrap());

    // The clerk enrols too; a superuser resets it (a lost phone): the clerk's sessions end.
    let (_, _) = enrol(&clerk).await;
    let reset = format!("/admin/auth/user/{staff_id}/two_factor/");
    let form = admin.text(&reset).await;
    assert!(form.contains("Reset two-factor authentication: clerk"), "{form}");
    let response = admin.submit(&reset, &reset, &[]).await;
    assert_redirect(&response, &format!("/admin/auth/user/{staff_id}/change/"));
    assert_redirect(&clerk.get("/admin/").await, "/admin/login/?next=%2Fadmin%2F");
    assert!(!oc_lettings::accounts::two_factor::enrolled(&mut app.db.get().unwrap(), staff_id).unwrap());
    assert_redirect(&clerk.login("clerk", PASSWORD).await, "/admin/");
    assert!(history_messages(&app, staff_id).contains(&"Reset two-factor authentication.".to_owned()));
    // The change form links to the reset.
    assert!(admin
        .text(&format!("/admin/auth/user/{staff_id}/change/"))
        .await
        .contains(&reset));

    // The command line's reset (a superuser who lost their phone, with no other superuser).
    use oc_lettings::admin::two_factor::{reset_from_command_line, CommandReset};
    let mut conn = app.db.get().unwrap();
    assert_eq!(
        reset_from_command_line(&mut conn, "admin").unwrap(),
        CommandReset::Reset
    );
    assert_eq!(
        reset_from_command_line(&mut conn, "admin").unwrap(),
        CommandReset::NothingToReset
    );
    assert_eq!(
        reset_from_command_line(&mut conn, "nobody").unwrap(),
        CommandReset::NoSuchUser
    );
    drop(conn);
    assert!(history_messages(&app, admin_id)
        .contains(&"Reset two-factor authentication (from the command line).".to_owned()));
    // Its sessions ended; at the next login the setting sends it to set up again.
    assert_redirect(&admin.get("/admin/").await, "/admin/login/?next=%2Fadmin%2F");
    let again = logged_in_admin(&app).await;
    assert_redirect(&again.get("/admin/").await, "/admin/two_factor/");
}

on_both_backends!(async:
    enrolment_then_login_with_a_code_or_a_recovery_code_once,
    a_pending_login_is_void_once_the_password_changes,
    codes_are_throttled_and_a_known_password_buys_no_more_guesses,
    new_codes_and_turning_off_take_a_code,
    superusers_must_enrol_where_required_and_only_a_reset_takes_it_away,
);
