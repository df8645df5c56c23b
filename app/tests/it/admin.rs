//! The admin over HTTP, driven like a browser (cookies, CSRF tokens from the pages):
//! logging in with a Django hash, every model's list/add/change/delete, bad input,
//! CSRF failures and login throttling, on both backends.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use oc_lettings::accounts::password::hash_password;
use oc_lettings::db::schema::{
    auth_user, auth_user_user_permissions, lettings_address, lettings_letting, profiles_profile,
};

use crate::common::browser::{assert_redirect, logged_in_admin, site_with_django_data, Browser};
use crate::common::{header, Backend, TestApp};

pub(crate) fn add_user(app: &TestApp, username: &str, password: &str, staff: bool, active: bool) -> i32 {
    diesel::insert_into(auth_user::table)
        .values((
            auth_user::username.eq(username),
            auth_user::password.eq(hash_password(password).unwrap()),
            auth_user::is_staff.eq(staff),
            auth_user::is_active.eq(active),
            auth_user::date_joined.eq(chrono::Utc::now().naive_utc()),
        ))
        .returning(auth_user::id)
        .get_result(&mut *app.db.get().unwrap())
        .unwrap()
}

/// Gives `user` these permissions directly.
pub(crate) fn grant(app: &TestApp, user: i32, permissions: &[&str]) {
    for permission in permissions {
        diesel::insert_into(auth_user_user_permissions::table)
            .values((
                auth_user_user_permissions::user_id.eq(user),
                auth_user_user_permissions::permission.eq(*permission),
            ))
            .execute(&mut *app.db.get().unwrap())
            .unwrap();
    }
}

/// Rows in a table.
macro_rules! count {
    ($app:expr, $table:expr) => {{
        let n: i64 = $table.count().get_result(&mut *$app.db.get().unwrap()).unwrap();
        n
    }};
}

async fn a_django_user_logs_in_with_the_old_password(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let html = browser.text("/admin/").await;
    assert!(html.contains("Site administration"));
    assert!(html.contains("Welcome, <strong>admin</strong>"));
    for url in [
        "/admin/auth/user/",
        "/admin/lettings/address/",
        "/admin/lettings/letting/",
        "/admin/profiles/profile/",
    ] {
        assert!(html.contains(&format!("href=\"{url}\"")), "{url}");
    }
    // The Django hash was replaced by argon2id, and the password still works.
    let hash: String = auth_user::table
        .filter(auth_user::username.eq("admin"))
        .select(auth_user::password)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert!(hash.starts_with("argon2$argon2id$"), "{hash}");
    assert_redirect(&Browser::new(&app).login("admin", "Abc1234!").await, "/admin/");
}

async fn wrong_passwords_and_non_staff_are_refused(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    add_user(&app, "visitor", "visitor-password", false, true);
    add_user(&app, "retired", "retired-password", true, false);
    for (username, password) in [
        ("admin", "wrong"),
        ("nobody", "Abc1234!"),
        ("visitor", "visitor-password"),
        ("retired", "retired-password"),
    ] {
        let browser = Browser::new(&app);
        let response = browser.login(username, password).await;
        assert_eq!(response.status().as_u16(), 200, "{username}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Please enter the correct username and password for a staff account."),
            "{username}"
        );
        assert!(html.contains(&format!("value=\"{username}\"")), "the username is kept");
        assert!(
            !html.contains(password) || password == username,
            "the password is not echoed"
        );
        assert!(browser.session_cookie().is_none(), "{username} got a session");
        assert_redirect(&browser.get("/admin/").await, "/admin/login/?next=%2Fadmin%2F");
    }
}

async fn every_admin_page_requires_a_session(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = Browser::new(&app);
    for path in [
        "/admin/",
        "/admin/lettings/letting/",
        "/admin/lettings/letting/1/change/",
        "/admin/auth/user/1/password/",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status().as_u16(), 302, "{path}");
        assert!(
            header(&response, "location").starts_with("/admin/login/?next=%2Fadmin%2F"),
            "{path}"
        );
    }
    let response = browser
        .post("/admin/lettings/letting/1/delete/", &[("csrfmiddlewaretoken", "x")])
        .await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(count!(app, lettings_letting::table), 6, "nothing deleted");
}

async fn login_rotates_the_session_and_logout_ends_it(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let first = browser.session_cookie().unwrap();
    assert_redirect(&browser.login_again("admin", "Abc1234!").await, "/admin/");
    let second = browser.session_cookie().unwrap();
    assert_ne!(first, second, "a new session id at login");
    // The old session no longer opens anything.
    let stale = crate::common::client();
    let response = stale
        .get(format!("{}/admin/", app.address))
        .header("cookie", format!("oc_session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    // A tampered cookie neither.
    let last = if second.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &second[..second.len() - 1]);
    let response = stale
        .get(format!("{}/admin/", app.address))
        .header("cookie", format!("oc_session={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);

    let response = browser.submit("/admin/", "/admin/logout/", &[]).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("Logged out"));
    let response = stale
        .get(format!("{}/admin/", app.address))
        .header("cookie", format!("oc_session={second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        302,
        "the session ended on the server, not only in the browser"
    );
}

async fn next_is_followed_only_within_the_site(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    for (next, expected) in [
        ("/admin/lettings/letting/", "/admin/lettings/letting/"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/", "/admin/"),
    ] {
        let browser = Browser::new(&app);
        let response = browser
            .submit(
                "/admin/login/",
                "/admin/login/",
                &[("username", "admin"), ("password", "Abc1234!"), ("next", next)],
            )
            .await;
        assert_redirect(&response, expected);
    }
    let browser = logged_in_admin(&app).await;
    let response = browser.get("/admin/login/?next=/admin/profiles/profile/").await;
    assert_redirect(&response, "/admin/profiles/profile/");
}

async fn addresses_list_search_add_change_and_delete(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let html = browser.text("/admin/lettings/address/").await;
    assert!(html.contains("7217 Bedford Street") && html.contains("6 addresses"));
    let html = browser.text("/admin/lettings/address/?q=HARVARD").await;
    assert!(html.contains("9606 Harvard Street") && !html.contains("Bedford") && html.contains("1 result"));
    let html = browser.text("/admin/lettings/address/?q=31525").await;
    assert!(
        html.contains("Bedford") && html.contains("1 result"),
        "search by zip code"
    );
    let html = browser.text("/admin/lettings/address/?q=%25").await;
    assert!(html.contains("No addresses match"), "wildcards are literal");
    let html = browser.text("/admin/lettings/address/?o=1").await;
    let (aliquippa, willoughby) = (html.find("Aliquippa").unwrap(), html.find("Willoughby").unwrap());
    assert!(aliquippa < willoughby, "sorted by city");

    let fields = [
        ("number", "12"),
        ("street", "Harbor Boulevard"),
        ("city", "Costa Mesa"),
        ("state", "ca"),
        ("zip_code", "92626"),
        ("country_iso_code", "usa"),
        ("_save", ""),
    ];
    let response = browser
        .submit("/admin/lettings/address/add/", "/admin/lettings/address/add/", &fields)
        .await;
    assert_redirect(&response, "/admin/lettings/address/");
    let html = browser.text("/admin/lettings/address/").await;
    assert!(html.contains("The address “12 Harbor Boulevard” was added successfully."));
    assert!(
        html.contains("<td>CA</td>") && html.contains("<td>USA</td>"),
        "letters stored upper-case"
    );
    let new_id: i32 = lettings_address::table
        .filter(lettings_address::street.eq("Harbor Boulevard"))
        .select(lettings_address::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();

    // Invalid input: errors beside the fields, nothing changed.
    let change = format!("/admin/lettings/address/{new_id}/change/");
    let bad = [
        ("number", "10000"),
        ("street", ""),
        ("city", "Costa Mesa"),
        ("state", "C4"),
        ("zip_code", "-1"),
        ("country_iso_code", "US"),
    ];
    let response = browser.submit(&change, &change, &bad).await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Please correct the errors below."));
    for (field, message) in [
        ("number", "Ensure this value is less than or equal to 9999."),
        ("street", "This field is required."),
        ("state", "Enter exactly 2 letters."),
        ("zip_code", "Ensure this value is greater than or equal to 0."),
        ("country_iso_code", "Enter exactly 3 letters."),
    ] {
        assert!(
            html.contains(&format!("<p class=\"errorlist\" id=\"error_{field}\">{message}</p>")),
            "{field}"
        );
    }
    assert!(html.contains("value=\"Costa Mesa\""), "what was typed is kept");
    let street: String = lettings_address::table
        .find(new_id)
        .select(lettings_address::street)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(street, "Harbor Boulevard");

    let good = [
        ("number", "14"),
        ("street", "Harbor Boulevard"),
        ("city", "Costa Mesa"),
        ("state", "CA"),
        ("zip_code", "92626"),
        ("country_iso_code", "USA"),
        ("_continue", ""),
    ];
    assert_redirect(&browser.submit(&change, &change, &good).await, &change);
    assert!(browser
        .text(&change)
        .await
        .contains("The address “14 Harbor Boulevard” was changed successfully."));

    // Deleting an address in use says what goes with it, and deletes nothing before "yes".
    let html = browser.text("/admin/lettings/address/1/delete/").await;
    assert!(html.contains("Are you sure you want to delete the address “7217 Bedford Street”?"));
    assert!(html.contains("<li>Letting: Joshua Tree Green Haus /w Hot Tub</li>"));
    assert_eq!(count!(app, lettings_letting::table), 6);
    let response = browser
        .submit(
            "/admin/lettings/address/1/delete/",
            "/admin/lettings/address/1/delete/",
            &[],
        )
        .await;
    assert_redirect(&response, "/admin/lettings/address/");
    assert_eq!(count!(app, lettings_letting::table), 5);
    assert_eq!(count!(app, lettings_address::table), 6);
    assert_redirect(&browser.get("/admin/lettings/address/1/change/").await, "/admin/");
}

/// Adds the address "1 Ocean Drive, Laguna Beach" through the admin's form; its id.
async fn add_ocean_drive_address(app: &TestApp, browser: &Browser) -> i32 {
    let address = [
        ("number", "1"),
        ("street", "Ocean Drive"),
        ("city", "Laguna Beach"),
        ("state", "CA"),
        ("zip_code", "92651"),
        ("country_iso_code", "USA"),
    ];
    browser
        .submit("/admin/lettings/address/add/", "/admin/lettings/address/add/", &address)
        .await;
    lettings_address::table
        .filter(lettings_address::street.eq("Ocean Drive"))
        .select(lettings_address::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap()
}

async fn lettings_pick_an_address_and_keep_one_per_address(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let html = browser.text("/admin/lettings/letting/add/").await;
    // The address is an id input with a search (autocomplete_fields), not a list of
    // every address (raw_id_fields' scale): no <option> at all.
    assert!(!html.contains("<option"), "no address listed");
    assert!(html.contains("name=\"address\" id=\"id_address\" value=\"\" class=\"vForeignKeyRawIdAdminField\""));
    assert!(html.contains(
        "data-autocomplete=\"/admin/autocomplete/?app_label=lettings&amp;model_name=letting&amp;field_name=address\""
    ));
    assert!(html.contains("<a class=\"related-lookup\" href=\"/admin/lettings/address/\""));
    assert!(html.contains("<strong class=\"related-label\" id=\"id_address_label\"></strong>"));
    assert!(html.contains("js/autocomplete."), "the search script");

    let taken = [("title", "A second letting"), ("address", "1")];
    let response = browser
        .submit("/admin/lettings/letting/add/", "/admin/lettings/letting/add/", &taken)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Letting with this Address already exists."));
    assert!(
        html.contains("<strong class=\"related-label\" id=\"id_address_label\">7217 Bedford Street</strong>"),
        "the form sent back names the address it was given"
    );
    let missing = [("title", "Nowhere"), ("address", "999")];
    let response = browser
        .submit("/admin/lettings/letting/add/", "/admin/lettings/letting/add/", &missing)
        .await;
    assert!(response.text().await.unwrap().contains("Select a valid choice."));
    assert_eq!(count!(app, lettings_letting::table), 6, "nothing created");

    // A free address, then a letting on it.
    let address_id = add_ocean_drive_address(&app, &browser).await;
    let id = address_id.to_string();
    let long_title = "t".repeat(257);
    let response = browser
        .submit(
            "/admin/lettings/letting/add/",
            "/admin/lettings/letting/add/",
            &[("title", &long_title), ("address", &id)],
        )
        .await;
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Ensure this value has at most 256 characters (it has 257)."));
    let fields = [
        ("title", "Laguna <Loft> & Sea"),
        ("address", id.as_str()),
        ("_addanother", ""),
    ];
    let response = browser
        .submit("/admin/lettings/letting/add/", "/admin/lettings/letting/add/", &fields)
        .await;
    assert_redirect(&response, "/admin/lettings/letting/add/");
    let html = browser.text("/admin/lettings/letting/").await;
    assert!(
        html.contains("Laguna &lt;Loft&gt; &amp; Sea"),
        "escaped in the admin too"
    );
    // It is on the public site at once.
    let letting_id: i32 = lettings_letting::table
        .filter(lettings_letting::address_id.eq(address_id))
        .select(lettings_letting::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    let public = app.page(&format!("/lettings/{letting_id}/")).await;
    assert!(public.contains("1 Ocean Drive") && public.contains("Laguna Beach, CA 92651"));

    let change = format!("/admin/lettings/letting/{letting_id}/change/");
    let html = browser.text(&change).await;
    assert!(html.contains(&format!("name=\"address\" id=\"id_address\" value=\"{address_id}\"")));
    assert!(html.contains("<strong class=\"related-label\" id=\"id_address_label\">1 Ocean Drive</strong>"));
    assert_redirect(
        &browser
            .submit(&change, &change, &[("title", "Laguna Loft"), ("address", &id)])
            .await,
        "/admin/lettings/letting/",
    );
    assert!(app
        .page(&format!("/lettings/{letting_id}/"))
        .await
        .contains("<h1 class=\"display-title\">Laguna Loft</h1>"));

    let delete = format!("/admin/lettings/letting/{letting_id}/delete/");
    assert!(browser.text(&delete).await.contains("Nothing else will be deleted."));
    assert_redirect(&browser.submit(&delete, &delete, &[]).await, "/admin/lettings/letting/");
    assert_eq!(
        app.get(&format!("/lettings/{letting_id}/")).await.status().as_u16(),
        404
    );
    assert_eq!(count!(app, lettings_address::table), 7, "the address stays");
}

async fn profiles_pick_a_user_and_keep_one_per_user(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let html = browser.text("/admin/profiles/profile/?q=buenos").await;
    assert!(html.contains("HeadlinesGazer") && html.contains("1 result"));
    let taken = [("user", "5"), ("favorite_city", "Lima")];
    let response = browser
        .submit("/admin/profiles/profile/add/", "/admin/profiles/profile/add/", &taken)
        .await;
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Profile with this User already exists."));
    let fields = [("user", "1"), ("favorite_city", "")];
    assert_redirect(
        &browser
            .submit("/admin/profiles/profile/add/", "/admin/profiles/profile/add/", &fields)
            .await,
        "/admin/profiles/profile/",
    );
    assert_eq!(count!(app, profiles_profile::table), 5);
    assert!(app
        .page("/profiles/admin/")
        .await
        .contains("<strong>Email :</strong> admin@email.com"));
}

async fn users_are_created_with_a_hashed_password_and_managed(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let add = "/admin/auth/user/add/";
    for (fields, error) in [
        (
            vec![
                ("username", "admin"),
                ("password1", "a fine password"),
                ("password2", "a fine password"),
            ],
            "A user with that username already exists.",
        ),
        (
            vec![
                ("username", "bad name!"),
                ("password1", "a fine password"),
                ("password2", "a fine password"),
            ],
            "Enter a valid username.",
        ),
        (
            vec![
                ("username", "carol"),
                ("password1", "a fine password"),
                ("password2", "another one"),
            ],
            "The two password fields didn’t match.",
        ),
        (
            vec![("username", "carol"), ("password1", "short"), ("password2", "short")],
            "This password is too short.",
        ),
    ] {
        let response = browser.submit(add, add, &fields).await;
        assert_eq!(response.status().as_u16(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains(error), "{error}");
        assert!(!html.contains("a fine password"), "passwords are never sent back");
    }
    assert_eq!(count!(app, auth_user::table), 5);

    let response = browser
        .submit(
            add,
            add,
            &[
                ("username", "carol"),
                ("password1", "a fine password"),
                ("password2", "a fine password"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 302);
    let change = header(&response, "location");
    let html = browser.text(&change).await;
    assert!(html.contains("The user “carol” was added successfully."));
    assert!(!html.contains("argon2"), "the hash is not shown");
    let fields = [
        ("username", "carol"),
        ("first_name", "Carol"),
        ("last_name", "Danvers"),
        ("email", "carol@example.com"),
        ("is_active", "on"),
        ("is_staff", "on"),
        ("user_permissions", "lettings.view_letting"),
        ("user_permissions", "lettings.change_letting"),
    ];
    assert_redirect(&browser.submit(&change, &change, &fields).await, "/admin/auth/user/");
    assert_redirect(&Browser::new(&app).login("carol", "a fine password").await, "/admin/");

    // A staff member who is no superuser manages what they were given, never users.
    let carol = Browser::new(&app);
    carol.login("carol", "a fine password").await;
    let index = carol.text("/admin/").await;
    assert!(!index.contains("/admin/auth/user/"));
    assert!(!index.contains("/admin/lettings/address/"));
    assert_eq!(carol.get("/admin/auth/user/").await.status().as_u16(), 403);
    assert_eq!(carol.get("/admin/lettings/letting/").await.status().as_u16(), 200);
    assert_eq!(carol.get("/admin/lettings/address/").await.status().as_u16(), 403);
    // Nor does she send test events to Sentry: the buttons and their POSTs are refused.
    for path in ["/admin/debug/error/", "/admin/debug/panic/"] {
        assert_eq!(carol.get(path).await.status().as_u16(), 403, "{path}");
        assert_eq!(
            carol.submit("/admin/", path, &[]).await.status().as_u16(),
            403,
            "{path}"
        );
    }

    // Deactivated, then active again: the sessions she had ended with the deactivation
    // (they came back to life with the reactivation before).
    let inactive: Vec<(&str, &str)> = fields
        .iter()
        .copied()
        .filter(|(name, _)| *name != "is_active")
        .collect();
    assert_redirect(&browser.submit(&change, &change, &inactive).await, "/admin/auth/user/");
    assert_redirect(&browser.submit(&change, &change, &fields).await, "/admin/auth/user/");
    assert_eq!(carol.get("/admin/").await.status().as_u16(), 302, "logged out for good");
    carol.login("carol", "a fine password").await;
    assert_eq!(carol.get("/admin/").await.status().as_u16(), 200);

    // A new password through the password form; the old one stops working, sessions end.
    let id = change
        .trim_end_matches("/change/")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let password = format!("/admin/auth/user/{id}/password/");
    let response = browser
        .submit(&password, &password, &[("password1", "x7#kq"), ("password2", "x7#kq")])
        .await;
    assert!(response.text().await.unwrap().contains("This password is too short."));
    let response = browser
        .submit(
            &password,
            &password,
            &[("password1", "a new passphrase"), ("password2", "a new passphrase")],
        )
        .await;
    assert_redirect(&response, &change);
    assert_eq!(
        carol.get("/admin/").await.status().as_u16(),
        302,
        "carol's session ended"
    );
    assert_eq!(
        Browser::new(&app)
            .login("carol", "a fine password")
            .await
            .status()
            .as_u16(),
        200
    );
    assert_redirect(&Browser::new(&app).login("carol", "a new passphrase").await, "/admin/");
    // The superuser's setting of carol's password is in carol's history, as Django's
    // user_change_password records it (issue 29, finding 11: it left no entry).
    let history = browser.text(&format!("/admin/auth/user/{id}/history/")).await;
    assert!(history.contains("Changed password."), "{history}");

    // Deleting a user says the profile goes too.
    let html = browser.text("/admin/auth/user/5/delete/").await;
    assert!(html.contains("<li>Profile: HeadlinesGazer</li>"));
    assert_redirect(
        &browser
            .submit("/admin/auth/user/5/delete/", "/admin/auth/user/5/delete/", &[])
            .await,
        "/admin/auth/user/",
    );
    assert_eq!(app.get("/profiles/HeadlinesGazer/").await.status().as_u16(), 404);
}

async fn state_changes_without_the_csrf_token_are_refused(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let fields = [("title", "Sneaky"), ("address", "1")];
    for token in [None, Some("wrong"), Some("")] {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = token {
            all.push(("csrfmiddlewaretoken", token));
        }
        let response = browser.post("/admin/lettings/letting/1/change/", &all).await;
        assert_eq!(response.status().as_u16(), 403, "{token:?}");
        assert!(response.text().await.unwrap().contains("CSRF verification failed"));
        let response = browser.post("/admin/lettings/letting/1/delete/", &all).await;
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(count!(app, lettings_letting::table), 6);
    let title: String = lettings_letting::table
        .find(1)
        .select(lettings_letting::title)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(title, "Joshua Tree Green Haus /w Hot Tub");
    // The login form too: a token that is not the cookie's.
    let stranger = Browser::new(&app);
    let response = stranger
        .post(
            "/admin/login/",
            &[
                ("csrfmiddlewaretoken", "x"),
                ("username", "admin"),
                ("password", "Abc1234!"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
}

async fn failed_logins_are_throttled(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = Browser::with_address(&app, "192.0.2.7");
    for _ in 0..5 {
        assert_eq!(browser.login("admin", "guess").await.status().as_u16(), 200);
    }
    // That client waits now, for that username, even with the right password…
    let response = browser.login("admin", "Abc1234!").await;
    assert_eq!(response.status().as_u16(), 429);
    let wait: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Too many failed login attempts"));
    // …but the user, elsewhere, is not locked out by those failures.
    let elsewhere = Browser::with_address(&app, "198.51.100.1");
    assert_redirect(&elsewhere.login("admin", "Abc1234!").await, "/admin/");
    // After the delay, the right password gets in from the first client too.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100 * wait)).await;
    assert_redirect(&browser.login("admin", "Abc1234!").await, "/admin/");

    // One address guessing many usernames is slowed too.
    let guesser = Browser::with_address(&app, "203.0.113.9");
    for n in 0..20 {
        assert_eq!(guesser.login(&format!("user{n}"), "guess").await.status().as_u16(), 200);
    }
    assert_eq!(guesser.login("someone", "guess").await.status().as_u16(), 429);

    // Usernames no user can have cost a hash each and are counted too (issue 29,
    // finding 5: 300 of them from one address got no 429).
    let long = "u".repeat(151);
    for (n, bad) in ["", long.as_str(), "nul\0name"].into_iter().cycle().take(5).enumerate() {
        let address = "203.0.113.77";
        let response = Browser::with_address(&app, address).login(bad, "guess").await;
        assert_eq!(response.status().as_u16(), 200, "attempt {n}: the login page again");
    }
    let response = Browser::with_address(&app, "203.0.113.77").login("", "guess").await;
    assert_eq!(response.status().as_u16(), 429, "the sixth impossible username waits");
    // Counted for that client only: the admin still logs in from elsewhere.
    let elsewhere = Browser::with_address(&app, "198.51.100.2");
    assert_redirect(&elsewhere.login("admin", "Abc1234!").await, "/admin/");
}

/// A delay runs from the end of the failed check, not from when the attempt was counted:
/// a check slowed by load (a queue of logins, a busy machine) does not use it up.
async fn a_throttle_delay_runs_from_the_end_of_the_failed_check(backend: Backend) {
    use oc_lettings::admin::throttle::{admit, confirm_failure, Refusal};
    let app = site_with_django_data(&backend).await;
    let mut conn = app.db.get().unwrap();
    let t0 = oc_lettings::clock::now_ms();
    for client in ["192.0.2.50", "192.0.2.51"] {
        for n in 0..4 {
            let admitted = admit(&mut conn, "admin", client, None, t0 + n).unwrap();
            assert!(admitted.is_ok(), "{client} {n}: {admitted:?}");
        }
    }
    // The fifth failure of each client starts a 1 s delay; the first client's check ends
    // 3 s after the attempt was counted and says so, the second's is never confirmed.
    let slow = admit(&mut conn, "admin", "192.0.2.50", None, t0 + 4).unwrap().unwrap();
    let unconfirmed = admit(&mut conn, "admin", "192.0.2.51", None, t0 + 4).unwrap().unwrap();
    assert!(slow.delays_on_failure() && unconfirmed.delays_on_failure());
    confirm_failure(&mut conn, &slow, t0 + 3_004).unwrap();
    // Half a second after the slow check ended, that client still waits (half a second)…
    match admit(&mut conn, "admin", "192.0.2.50", None, t0 + 3_504).unwrap() {
        Err(Refusal::Wait(wait)) => assert_eq!(wait, std::time::Duration::from_millis(500)),
        Ok(_) => panic!("admitted before the delay that began at the failure's end ran out"),
    }
    // …while a delay counted from the attempt alone would have run out long ago.
    assert!(admit(&mut conn, "admin", "192.0.2.51", None, t0 + 3_504)
        .unwrap()
        .is_ok());
}

async fn bad_admin_urls_and_bodies(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    for path in [
        "/admin/nope/nope/",
        "/admin/lettings/letting/abc/change/",
        "/admin/lettings/letting/-1/change/",
    ] {
        assert_eq!(browser.get(path).await.status().as_u16(), 404, "{path}");
    }
    // An object that does not exist (any more): back to the index, which says so (Django's).
    for (path, message) in [
        (
            "/admin/lettings/letting/99/change/",
            "Letting with ID “99” doesn’t exist. Perhaps it was deleted?",
        ),
        (
            "/admin/lettings/letting/99/delete/",
            "Letting with ID “99” doesn’t exist. Perhaps it was deleted?",
        ),
        (
            "/admin/lettings/letting/99/history/",
            "Letting with ID “99” doesn’t exist. Perhaps it was deleted?",
        ),
        (
            "/admin/auth/user/99/password/",
            "User with ID “99” doesn’t exist. Perhaps it was deleted?",
        ),
    ] {
        assert_redirect(&browser.get(path).await, "/admin/");
        let index = browser.text("/admin/").await;
        assert!(index.contains(message), "{path}: {index}");
    }
    let response = browser
        .client
        .post(format!("{}/admin/lettings/letting/1/change/", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("title=%zz&address=%")
        .send()
        .await
        .unwrap();
    assert!(
        response.status().as_u16() == 400 || response.status().as_u16() == 403,
        "{}",
        response.status()
    );
    // Odd list parameters are tolerated: a page past the end leads to the last page (an
    // unknown sort and an empty search dropped), which says so.
    let past = browser.get("/admin/lettings/address/?p=999&o=banana&q=").await;
    assert_redirect(&past, "/admin/lettings/address/");
    let html = browser.text("/admin/lettings/address/").await;
    assert!(html.contains("6 addresses"), "{html}");
    assert!(html.contains("There is no page 999 of 6 addresses"), "{html}");
    // Deleting what is not there: a 404, and nothing in the history.
    let token = crate::common::browser::csrf_token(&browser.text("/admin/").await);
    let entries = || -> i64 {
        oc_lettings::db::schema::django_admin_log::table
            .count()
            .get_result(&mut *app.db.get().unwrap())
            .unwrap()
    };
    let before = entries();
    let response = browser
        .post("/admin/lettings/letting/99/delete/", &[("csrfmiddlewaretoken", &token)])
        .await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(entries(), before);
}

async fn lists_are_paginated(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    {
        let mut conn = app.db.get().unwrap();
        for n in 0..150 {
            diesel::insert_into(lettings_address::table)
                .values((
                    lettings_address::number.eq(n),
                    lettings_address::street.eq(format!("Street {n:03}")),
                    lettings_address::city.eq("Irvine"),
                    lettings_address::state.eq("CA"),
                    lettings_address::zip_code.eq(92602),
                    lettings_address::country_iso_code.eq("USA"),
                ))
                .execute(&mut *conn)
                .unwrap();
        }
    }
    let browser = logged_in_admin(&app).await;
    let first = browser.text("/admin/lettings/address/").await;
    assert_eq!(first.matches("/change/\">").count(), 100);
    assert!(first.contains("156 addresses") && first.contains("href=\"/admin/lettings/address/?p=2\""));
    let second = browser.text("/admin/lettings/address/?p=2").await;
    assert_eq!(second.matches("/change/\">").count(), 56);
    // Past the end: the last page, said so (not "No addresses yet." beside "156 addresses").
    let past = browser.get("/admin/lettings/address/?q=irvine&p=9").await;
    assert_redirect(&past, "/admin/lettings/address/?q=irvine&p=2");
    let landed = browser.text("/admin/lettings/address/?q=irvine&p=2").await;
    assert!(
        landed.contains("There is no page 9 of 150 addresses: here is the last one."),
        "{landed}"
    );
    assert!(!landed.contains("No addresses"), "{landed}");
    let irvine = browser.text("/admin/lettings/address/?q=irvine&p=2").await;
    assert_eq!(irvine.matches("/change/\">").count(), 50);
}

/// Django's `UserAdmin` hooks: "Save" on a new user continues to its details, "Save and
/// add another" adds another; the change form links the user's password page and shows
/// what no form changes.
async fn adding_a_user_follows_djangos_user_admin(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let add = "/admin/auth/user/add/";
    let response = browser
        .submit(
            add,
            add,
            &[
                ("username", "dora"),
                ("password1", "a fine password"),
                ("password2", "a fine password"),
                ("_save", ""),
            ],
        )
        .await;
    let location = header(&response, "location");
    assert!(
        location.starts_with("/admin/auth/user/") && location.ends_with("/change/"),
        "{location}"
    );
    let html = browser.text(&location).await;
    assert!(html.contains("/password/\">Change this user’s password</a>"), "{html}");
    assert!(html.contains("Date joined") && html.contains("Last login") && html.contains("never"));
    let response = browser
        .submit(
            add,
            add,
            &[
                ("username", "erin"),
                ("password1", "a fine password"),
                ("password2", "a fine password"),
                ("_addanother", ""),
            ],
        )
        .await;
    assert_redirect(&response, add);
    // Other models keep Django's default: "Save" goes back to the list.
    let response = browser
        .submit(
            "/admin/lettings/letting/1/change/",
            "/admin/lettings/letting/1/change/",
            &[("title", "Saved"), ("address", "1"), ("_save", "")],
        )
        .await;
    assert_redirect(&response, "/admin/lettings/letting/");
    // No password link on another model's page (the header's own "Change password" aside).
    assert!(!browser
        .text("/admin/lettings/letting/1/change/")
        .await
        .contains("/password/\">"));
    assert_eq!(
        browser
            .get("/admin/lettings/letting/1/password/")
            .await
            .status()
            .as_u16(),
        404
    );
}

async fn staff_change_their_own_password_as_in_django(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let page = "/admin/password_change/";
    assert_redirect(
        &Browser::new(&app).get(page).await,
        "/admin/login/?next=%2Fadmin%2Fpassword%5Fchange%2F",
    );
    let browser = logged_in_admin(&app).await;
    let elsewhere = logged_in_admin(&app).await;
    let html = browser.text("/admin/").await;
    assert!(
        html.contains("<a href=\"/admin/password_change/\">Change password</a>"),
        "{html}"
    );
    let html = browser.text(page).await;
    assert!(html.contains("<h1>Password change</h1>") && html.contains("name=\"old_password\""));

    // Each mistake is a form error and changes nothing.
    for (fields, message) in [
        (
            ["wrong", "a new passphrase", "a new passphrase"],
            "Your old password was entered incorrectly.",
        ),
        (
            ["Abc1234!", "a new passphrase", "another passphrase"],
            "The two password fields didn’t match.",
        ),
        (
            ["Abc1234!", "password123", "password123"],
            "This password is too common.",
        ),
        (
            ["Abc1234!", "Admin!!", "Admin!!"],
            "The password is too similar to the username.",
        ),
        (
            ["Abc1234!", "x7#kq", "x7#kq"],
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            ["Abc1234!", "80417296153", "80417296153"],
            "This password is entirely numeric.",
        ),
        (["", "", ""], "This field is required."),
    ] {
        let response = browser
            .submit(
                page,
                page,
                &[
                    ("old_password", fields[0]),
                    ("new_password1", fields[1]),
                    ("new_password2", fields[2]),
                ],
            )
            .await;
        assert_eq!(response.status().as_u16(), 200, "{message}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}: {html}");
        assert!(
            !html.contains(fields[1]) || fields[1].is_empty(),
            "a password is never echoed back"
        );
    }
    // Every rule a password breaks is said, each on its own line, as Django lists them.
    let response = browser
        .submit(
            page,
            page,
            &[
                ("old_password", "Abc1234!"),
                ("new_password1", "1234"),
                ("new_password2", "1234"),
            ],
        )
        .await;
    let html = response.text().await.unwrap();
    for message in [
        "<p class=\"errorlist\" id=\"error_new_password2\">This password is too short. It must contain at least 8 characters.</p>",
        "<p class=\"errorlist\">This password is too common.</p>",
        "<p class=\"errorlist\">This password is entirely numeric.</p>",
    ] {
        assert!(html.contains(message), "{message}: {html}");
    }
    assert_eq!(
        elsewhere.get("/admin/").await.status().as_u16(),
        200,
        "nothing changed yet"
    );

    // The change: this session stays, the others end, the old password stops working.
    let old_token = crate::common::browser::csrf_token(&browser.text(page).await);
    let response = browser
        .submit(
            page,
            page,
            &[
                ("old_password", "Abc1234!"),
                ("new_password1", "a new passphrase"),
                ("new_password2", "a new passphrase"),
            ],
        )
        .await;
    assert_redirect(&response, "/admin/password_change/done/");
    // The session's CSRF token is a new one (issue 29, finding 11): the old one, which a
    // page read before the change may have leaked, is refused.
    let new_token = crate::common::browser::csrf_token(&browser.text(page).await);
    assert_ne!(new_token, old_token);
    let with_old_token = browser
        .post(
            page,
            &[
                ("csrfmiddlewaretoken", old_token.as_str()),
                ("old_password", "a new passphrase"),
                ("new_password1", "yet another passphrase"),
                ("new_password2", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(with_old_token.status().as_u16(), 403);
    assert!(browser
        .text("/admin/password_change/done/")
        .await
        .contains("Your password was changed."));
    assert_eq!(browser.get("/admin/").await.status().as_u16(), 200, "still logged in");
    assert_eq!(
        elsewhere.get("/admin/").await.status().as_u16(),
        302,
        "the other session ended"
    );
    assert_eq!(
        Browser::new(&app).login("admin", "Abc1234!").await.status().as_u16(),
        200
    );
    assert_redirect(&Browser::new(&app).login("admin", "a new passphrase").await, "/admin/");
    // Without the CSRF token, nothing happens.
    let response = browser
        .post(
            page,
            &[
                ("old_password", "a new passphrase"),
                ("new_password1", "yet another passphrase"),
                ("new_password2", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert_redirect(&Browser::new(&app).login("admin", "a new passphrase").await, "/admin/");
}

/// The old password of the password change is a guess the login throttle counts (issue
/// 29, finding 10: 30 wrong guesses went through in 0.7 s).
async fn guessing_the_old_password_is_throttled(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = Browser::with_address(&app, "192.0.2.44");
    assert_redirect(&browser.login("admin", "Abc1234!").await, "/admin/");
    let page = "/admin/password_change/";
    let attempt = |old: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit(
                    page,
                    page,
                    &[
                        ("old_password", old),
                        ("new_password1", "a new passphrase"),
                        ("new_password2", "a new passphrase"),
                    ],
                )
                .await
        }
    };
    for n in 0..5 {
        let response = attempt("a guess").await;
        assert_eq!(response.status().as_u16(), 200, "guess {n}: the form again");
    }
    let response = attempt("another guess").await;
    assert_eq!(response.status().as_u16(), 429, "the sixth guess waits");
    let wait: u64 = header(&response, "retry-after").parse().unwrap();
    // Even the right one waits its turn, then goes through.
    assert_eq!(attempt("Abc1234!").await.status().as_u16(), 429);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1100 * wait)).await;
    assert_redirect(&attempt("Abc1234!").await, "/admin/password_change/done/");
}

async fn every_add_change_and_delete_is_in_the_history(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let browser = logged_in_admin(&app).await;
    let change = "/admin/lettings/letting/1/change/";
    let letting = browser.text(change).await;
    assert!(
        letting.contains("href=\"/admin/lettings/letting/1/history/\">History</a>"),
        "{letting}"
    );
    // "View on site" where the object has a public page: lettings and profiles, not addresses.
    assert!(
        letting.contains("<a class=\"viewsitelink\" href=\"/lettings/1/\">View on site</a>"),
        "{letting}"
    );
    let profile = browser.text("/admin/profiles/profile/1/change/").await;
    let username: String = profiles_profile::table
        .inner_join(auth_user::table)
        .filter(profiles_profile::id.eq(1))
        .select(auth_user::username)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    let public = format!("/profiles/{username}/");
    assert!(
        profile.contains(&format!("href=\"{public}\">View on site</a>")),
        "{profile}"
    );
    assert_eq!(
        app.get(&public).await.status().as_u16(),
        200,
        "the link leads to the page"
    );
    assert!(!browser
        .text("/admin/lettings/address/1/change/")
        .await
        .contains("View on site"));

    // A change of one field, then a save that changes nothing.
    let response = browser
        .submit(
            change,
            change,
            &[
                ("title", "Joshua Tree Green Haus /w Hot Tub (renamed)"),
                ("address", "1"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 302);
    let response = browser
        .submit(
            change,
            change,
            &[
                ("title", "Joshua Tree Green Haus /w Hot Tub (renamed)"),
                ("address", "1"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 302);
    let history = browser.text("/admin/lettings/letting/1/history/").await;
    assert!(
        history.contains("Change history: Joshua Tree Green Haus /w Hot Tub (renamed)"),
        "{history}"
    );
    let changed = history.find("Changed Title.").expect("the change");
    let unchanged = history.find("No fields changed.").expect("the save without a change");
    assert!(changed < unchanged, "oldest first: {history}");
    assert!(history.contains("<td>admin</td>"), "who: {history}");
    // In the admin's look: its breadcrumbs back to the list, a styled table, and the times'
    // zone said (issue 28).
    let crumbs = &history[history.find("class=\"breadcrumbs\"").expect("breadcrumbs")..];
    let crumbs = &crumbs[..crumbs.find("</nav>").unwrap()];
    assert!(
        crumbs.contains("href=\"/admin/lettings/letting/\"") && crumbs.contains("(renamed) › History"),
        "{crumbs}"
    );
    assert!(history.contains("<table class=\"results history\">") && history.contains("Date/time (UTC)"));
    let password = browser.text("/admin/password_change/").await;
    assert!(password.contains("class=\"breadcrumbs\"") && password.contains("&rsaquo; Password change"));

    // An addition and a deletion, in the admin's recent actions, newest first.
    let id = add_ocean_drive_address(&app, &browser).await;
    let delete = format!("/admin/lettings/address/{id}/delete/");
    assert_eq!(browser.submit(&delete, &delete, &[]).await.status().as_u16(), 302);
    let index = browser.text("/admin/").await;
    let recent = &index[index.find("Recent actions").expect("recent actions")..];
    // The model as Django names it there ("Address"), not the content type's label.
    let deleted = recent.find("Address · Deleted.").expect("the deletion");
    let added = recent.find("Address · Added.").expect("the addition");
    assert!(!recent.contains("lettings.address"), "{recent}");
    let renamed = recent
        .find("href=\"/admin/lettings/letting/1/change/\"")
        .expect("a link to the letting");
    assert!(deleted < added && added < renamed, "newest first: {recent}");
    assert!(
        !recent.contains(&format!("href=\"/admin/lettings/address/{id}/change/\"")),
        "no link to what was deleted: {recent}"
    );

    // Django's own history came along with the import, times and messages unchanged.
    let imported = browser.text("/admin/auth/user/3/history/").await;
    assert!(
        imported.contains("Added.") && imported.contains("Changed First name, Last name and Email address."),
        "{imported}"
    );
    assert!(imported.contains("June 14, 2020, 9:45 a.m."), "{imported}");

    // A staff member who may not see users may not see their history either.
    let other = Browser::new(&app);
    let made = browser
        .submit(
            "/admin/auth/user/add/",
            "/admin/auth/user/add/",
            &[
                ("username", "dora"),
                ("password1", "a fine password"),
                ("password2", "a fine password"),
            ],
        )
        .await;
    assert_eq!(made.status().as_u16(), 302);
    let dora: i32 = auth_user::table
        .filter(auth_user::username.eq("dora"))
        .select(auth_user::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    diesel::update(auth_user::table.find(dora))
        .set(auth_user::is_staff.eq(true))
        .execute(&mut *app.db.get().unwrap())
        .unwrap();
    grant(&app, dora, &["lettings.view_letting"]);
    other.login("dora", "a fine password").await;
    assert_eq!(other.get("/admin/auth/user/3/history/").await.status().as_u16(), 403);
    assert_eq!(
        other.get("/admin/lettings/letting/1/history/").await.status().as_u16(),
        200
    );
    assert_redirect(&other.get("/admin/lettings/letting/999/history/").await, "/admin/");
}

on_both_backends!(async:
    adding_a_user_follows_djangos_user_admin,
    a_django_user_logs_in_with_the_old_password,
    wrong_passwords_and_non_staff_are_refused,
    every_admin_page_requires_a_session,
    login_rotates_the_session_and_logout_ends_it,
    next_is_followed_only_within_the_site,
    addresses_list_search_add_change_and_delete,
    lettings_pick_an_address_and_keep_one_per_address,
    profiles_pick_a_user_and_keep_one_per_user,
    users_are_created_with_a_hashed_password_and_managed,
    state_changes_without_the_csrf_token_are_refused,
    failed_logins_are_throttled,
    a_throttle_delay_runs_from_the_end_of_the_failed_check,
    bad_admin_urls_and_bodies,
    lists_are_paginated,
    staff_change_their_own_password_as_in_django,
    guessing_the_old_password_is_throttled,
    every_add_change_and_delete_is_in_the_history,
);
