//! The public site over real HTTP: every page of SITE.md with its content, APPEND_SLASH,
//! HEAD, health checks, security headers, and bad input (always a 404 page, never a 500).
#![allow(clippy::unwrap_used)]

use crate::common::{element_text, header, list_links, spawn_app, spawn_app_with_broken_db, Backend};

const LETTING_TITLES: [&str; 6] = [
    "Joshua Tree Green Haus /w Hot Tub",
    "Oceanview Retreat",
    "&#x27;Silo Studio&#x27; Cottage",
    "Pirates of the Caribbean Getaway",
    "The Mushroom Dome Retreat &amp; LAND of Paradise Suite",
    "Underground Hygge",
];

fn assert_layout(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("alt=\"Logo Orange County Lettings\""));
    assert!(html.contains("<a class=\"btn btn-primary\" href=\"/profiles/\">Profiles</a>"));
    assert!(html.contains("<a class=\"btn btn-primary\" href=\"/lettings/\">Lettings</a>"));
    assert!(html.contains("Copyright &copy; Orange County Lettings 2023"));
    assert!(html.contains("Privacy Policy") && html.contains("Terms &amp; Conditions"));
    assert!(html.contains("href=\"/static/css/styles."), "hashed stylesheet link");
}

/// The buttons under the content, in order.
fn action_buttons(html: &str) -> Vec<(String, String)> {
    assert!(html.contains("<div class=\"actions"), "a button row");
    crate::common::links_between(html, "<div class=\"actions", "</div>")
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

async fn index_page(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let html = app.page("/").await;
    assert_layout(&html);
    assert_eq!(element_text(&html, "title"), "Holiday Homes");
    assert_eq!(element_text(&html, "h1"), "Welcome to Holiday Homes");
    assert_eq!(
        action_buttons(&html),
        pairs(&[("/profiles/", "Profiles"), ("/lettings/", "Lettings")])
    );
}

async fn lettings_list_links_every_letting_in_order(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let html = app.page("/lettings/").await;
    assert_layout(&html);
    assert_eq!(element_text(&html, "title"), "Lettings");
    assert_eq!(element_text(&html, "h1"), "Lettings");
    let expected: Vec<(String, String)> = (1..)
        .zip(LETTING_TITLES)
        .map(|(id, title)| (format!("/lettings/{id}/"), title.to_owned()))
        .collect();
    assert_eq!(list_links(&html), expected);
    assert_eq!(
        action_buttons(&html),
        pairs(&[("/", "Home"), ("/profiles/", "Profiles")])
    );
}

async fn letting_page_shows_the_address_card(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let html = app.page("/lettings/1/").await;
    assert_layout(&html);
    assert_eq!(element_text(&html, "title"), "Joshua Tree Green Haus /w Hot Tub");
    assert_eq!(element_text(&html, "h1"), "Joshua Tree Green Haus /w Hot Tub");
    let card = &html[html.find("<div class=\"card\">").unwrap()..];
    let paragraphs: Vec<&str> = card
        .split("<p>")
        .skip(1)
        .take(3)
        .map(|p| p.split("</p>").next().unwrap())
        .collect();
    assert_eq!(paragraphs, ["7217 Bedford Street", "Brunswick, GA 31525", "USA"]);
    assert_eq!(
        action_buttons(&html),
        pairs(&[("/lettings/", "Back"), ("/", "Home"), ("/profiles/", "Profiles")])
    );

    let html = app.page("/lettings/5/").await;
    assert_eq!(element_text(&html, "h1"), LETTING_TITLES[4]);
    assert!(html.contains("<p>9606 Harvard Street</p>") && html.contains("<p>Aliquippa, PA 15001</p>"));
}

async fn profiles_list_links_every_profile(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let html = app.page("/profiles/").await;
    assert_layout(&html);
    assert_eq!(element_text(&html, "title"), "Profiles");
    assert_eq!(element_text(&html, "h1"), "Profiles");
    let expected = ["HeadlinesGazer", "DavWin", "AirWow", "4meRomance"]
        .map(|name| (format!("/profiles/{name}/"), name.to_owned()))
        .to_vec();
    assert_eq!(list_links(&html), expected);
    assert_eq!(
        action_buttons(&html),
        pairs(&[("/", "Home"), ("/lettings/", "Lettings")])
    );
}

async fn profile_page_shows_the_user_card(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let html = app.page("/profiles/HeadlinesGazer/").await;
    assert_layout(&html);
    assert_eq!(element_text(&html, "title"), "HeadlinesGazer");
    assert_eq!(element_text(&html, "h1"), "HeadlinesGazer");
    for line in [
        "<p><strong>First name :</strong> Jamie</p>",
        "<p><strong>Last name :</strong> Lal</p>",
        "<p><strong>Email :</strong> jssssss33@acee9.live</p>",
        "<p><strong>Favorite city :</strong> Buenos Aires</p>",
    ] {
        assert!(html.contains(line), "missing {line}");
    }
    assert_eq!(
        action_buttons(&html),
        pairs(&[("/profiles/", "Back"), ("/", "Home"), ("/lettings/", "Lettings")])
    );
}

async fn empty_site_says_so(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let html = app.page("/lettings/").await;
    assert!(html.contains("No lettings are available."));
    assert!(list_links(&html).is_empty());
    let html = app.page("/profiles/").await;
    assert!(html.contains("No profiles are available."));
    assert_eq!(app.get("/lettings/1/").await.status().as_u16(), 404);
}

async fn bad_urls_get_the_404_page_never_a_500(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let long = format!("/{}", "a".repeat(4000));
    let long_user = format!("/profiles/{}/", "u".repeat(151));
    let cases = [
        "/nope/",
        "/lettings/abc/",
        "/lettings/0/",
        "/lettings/-1/",
        "/lettings/+1/",
        "/lettings/1.5/",
        "/lettings/7/",
        "/lettings/2147483647/",
        "/lettings/2147483648/",
        "/lettings/99999999999999999999999/",
        "/lettings/%31/x/",
        "/profiles/nobody/",
        "/profiles/%00/",
        "/profiles/headlinesgazer/",
        "/profiles/HeadlinesGazer%2F/",
        "/profiles/..%2F..%2Fetc%2Fpasswd/",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/../Cargo.toml",
        "/static/%2e%2e/%2e%2e/Cargo.toml",
        "/static/css/../../src/main.rs",
        "/static/",
        "/static/css/missing.css",
        long.as_str(),
        long_user.as_str(),
    ];
    for path in cases {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 404, "GET {path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8",
            "GET {path}"
        );
        let html = response.text().await.unwrap();
        assert_eq!(element_text(&html, "h1"), "Page not found", "GET {path}");
        assert!(html.contains("href=\"/\""), "a link home on {path}");
    }
    // Under /admin/ an anonymous visitor is sent to log in first, as Django's admin does
    // (its catch-all view); what a logged-in one gets is the admin's 404.
    let response = app.get("/admin/%ff%fe/").await;
    assert_eq!(response.status().as_u16(), 302);
    assert!(header(&response, "location").starts_with("/admin/login/?next="));
}

async fn append_slash_redirects_like_django(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    for (from, to) in [
        ("/lettings", "/lettings/"),
        ("/lettings/1", "/lettings/1/"),
        ("/profiles", "/profiles/"),
        ("/profiles/HeadlinesGazer", "/profiles/HeadlinesGazer/"),
        ("/profiles?page=2", "/profiles/?page=2"),
    ] {
        let response = app.get(from).await;
        assert_eq!(response.status().as_u16(), 301, "GET {from}");
        assert_eq!(header(&response, "location"), to, "GET {from}");
    }
    // No redirect where the slashed path is no page either, or for assets.
    for path in ["/nope", "/static/css/styles.css/x", "//evil.example.com"] {
        assert_eq!(app.get(path).await.status().as_u16(), 404, "GET {path}");
    }
}

async fn head_works_wherever_get_does(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    for path in [
        "/",
        "/lettings/",
        "/lettings/1/",
        "/profiles/",
        "/profiles/AirWow/",
        "/healthz",
        "/readyz",
    ] {
        let response = app.head(path).await;
        assert_eq!(response.status().as_u16(), 200, "HEAD {path}");
        assert!(response.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }
    assert_eq!(app.head("/lettings/99/").await.status().as_u16(), 404);
}

async fn other_methods_do_not_reach_the_pages(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let response = app
        .client
        .post(format!("{}/lettings/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = app.client.delete(format!("{}/", app.address)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

async fn security_headers_on_every_response(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    for path in ["/", "/lettings/1/", "/nope/"] {
        let response = app.get(path).await;
        assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&response, "referrer-policy"), "same-origin", "{path}");
    }
}

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(&backend, true).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "ready\n");
}

/// `/readyz` holds the schema against this release: migrations only a newer release knows
/// are named but keep it ready (they only add); one of its own missing makes it a 503.
async fn readiness_follows_the_schema(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let app = spawn_app(&backend, true).await;
    let newest = {
        let mut conn = app.db.get().unwrap();
        let status = oc_lettings::db::migrations::schema_status(&mut conn).unwrap();
        assert_eq!(status, Default::default(), "a migrated database matches its release");
        conn.batch_execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')")
            .unwrap();
        #[derive(diesel::QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let rows: Vec<Version> = diesel::RunQueryDsl::load(
            diesel::sql_query(
                "SELECT version FROM __diesel_schema_migrations WHERE version < '2999' ORDER BY version DESC",
            ),
            &mut *conn,
        )
        .unwrap();
        rows[0].version.clone()
    };
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200, "a schema ahead still serves");
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with("ready\n") && body.contains("schema ahead") && body.contains("1 applied migration(s)"),
        "{body}"
    );
    assert_eq!(app.get("/lettings/").await.status().as_u16(), 200);

    app.db
        .get()
        .unwrap()
        .batch_execute(&format!(
            "DELETE FROM __diesel_schema_migrations WHERE version = '{newest}'"
        ))
        .unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 503, "a schema behind is not ready");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("schema behind") && body.contains("1 migration(s) not applied"),
        "{body}"
    );
    // Counts only: the migrations' names are for the log, not for whoever asks.
    assert!(!body.contains(&newest) && !body.contains("2999"), "{body}");
}

async fn a_database_that_cannot_be_opened_is_a_503_not_a_hang_or_a_500(backend: Backend) {
    let app = spawn_app_with_broken_db(&backend).await;
    assert_eq!(
        app.get("/healthz").await.status().as_u16(),
        200,
        "liveness needs no database"
    );
    assert_eq!(app.get("/readyz").await.status().as_u16(), 503);
    let response = app.get("/lettings/").await;
    assert_eq!(response.status().as_u16(), 503);
    let html = response.text().await.unwrap();
    assert_eq!(element_text(&html, "h1"), "Service unavailable");
    assert_eq!(
        app.get("/").await.status().as_u16(),
        200,
        "pages without data still work"
    );
}

on_both_backends!(async:
    index_page,
    lettings_list_links_every_letting_in_order,
    letting_page_shows_the_address_card,
    profiles_list_links_every_profile,
    profile_page_shows_the_user_card,
    empty_site_says_so,
    bad_urls_get_the_404_page_never_a_500,
    append_slash_redirects_like_django,
    head_works_wherever_get_does,
    other_methods_do_not_reach_the_pages,
    security_headers_on_every_response,
    health_and_readiness,
    readiness_follows_the_schema,
    a_database_that_cannot_be_opened_is_a_503_not_a_hang_or_a_500,
);
