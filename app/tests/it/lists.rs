//! Lists that grow, over HTTP on both backends: the public lists' pages (`?page=N`,
//! `PAGE_SIZE`, previous/next, a junk or past-the-end page a 404), the admin's foreign-key
//! search (`/admin/autocomplete/`: permissions, paging, hostile terms, never a 5xx) and
//! its no-JavaScript id input, the admin's elided page links, and facets counted in SQL.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use oc_lettings::db::schema::{lettings_address, lettings_letting};

use crate::admin::{add_user, grant};
use crate::common::browser::{assert_redirect, logged_in_admin, site_with_django_data, Browser};
use crate::common::{list_links, prepared_database, spawn_on, Backend, TestApp};

/// `count` more addresses (street "Scale Street <n>", in state TX), each with a letting
/// titled "Scale letting <n>"; in one transaction.
fn add_lettings(app: &TestApp, count: usize) {
    let mut conn = app.db.get().unwrap();
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for n in 1..=count {
            let address: i32 = diesel::insert_into(lettings_address::table)
                .values((
                    lettings_address::number.eq(i32::try_from(n).unwrap()),
                    lettings_address::street.eq(format!("Scale Street {n}")),
                    lettings_address::city.eq("Austin"),
                    lettings_address::state.eq("TX"),
                    lettings_address::zip_code.eq(73301),
                    lettings_address::country_iso_code.eq("USA"),
                ))
                .returning(lettings_address::id)
                .get_result(conn)?;
            diesel::insert_into(lettings_letting::table)
                .values((
                    lettings_letting::title.eq(format!("Scale letting {n}")),
                    lettings_letting::address_id.eq(address),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
    .unwrap();
}

async fn public_lists_are_paged(backend: Backend) {
    let (database, db) = prepared_database(&backend, true);
    let app = spawn_on(database, db, &[("PAGE_SIZE", "4"), ("PAGE_CACHE_SECONDS", "60")]);
    // 6 demo lettings and 4 profiles: two pages of lettings, one of profiles.
    let first = app.page("/lettings/").await;
    let links = list_links(&first);
    assert_eq!(links.len(), 4);
    assert_eq!(links[0].0, "/lettings/1/");
    assert!(first.contains("<nav class=\"pager\" aria-label=\"Pages\">"));
    assert!(first.contains("href=\"/lettings/?page=2\" rel=\"next\">Next &rarr;</a>"));
    assert!(!first.contains("rel=\"prev\""), "no page before the first");
    assert!(first.contains("Page 1"));

    let second = app.page("/lettings/?page=2").await;
    let links = list_links(&second);
    assert_eq!(
        links.iter().map(|(href, _)| href.as_str()).collect::<Vec<_>>(),
        ["/lettings/5/", "/lettings/6/"]
    );
    assert!(second.contains("href=\"/lettings/\" rel=\"prev\">&larr; Previous</a>"));
    assert!(!second.contains("rel=\"next\""), "the last page");
    assert_eq!(app.page("/lettings/?page=1").await, first, "page 1 either way");
    assert_eq!(
        app.page("/lettings/?utm_source=x&page=2").await,
        second,
        "other parameters ignored"
    );

    // Past the end, or junk: the site's 404 page, as Django's ListView answers.
    for path in [
        "/lettings/?page=3",
        "/lettings/?page=0",
        "/lettings/?page=-1",
        "/lettings/?page=abc",
        "/lettings/?page=2.0",
        "/lettings/?page=%00",
        "/lettings/?page=99999999999999999999",
        "/lettings/?page=4294967295",
        "/lettings/?page=1&page=2",
        "/profiles/?page=2",
        "/profiles/?page=x",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert!(
            response.text().await.unwrap().contains("<!DOCTYPE html>"),
            "{path}: the site's page"
        );
    }
    assert_eq!(app.head("/lettings/?page=2").await.status().as_u16(), 200);

    // A page that fits: no links at all.
    let profiles = app.page("/profiles/").await;
    assert_eq!(list_links(&profiles).len(), 4);
    assert!(!profiles.contains("pager"));

    // A page past the end is not cached as missing: it shows once there are rows for it.
    add_lettings(&app, 3);
    let third = app.page("/lettings/?page=3").await;
    assert_eq!(list_links(&third).len(), 1, "9 lettings, 4 a page");
}

async fn a_short_list_is_the_page_it_always_was(backend: Backend) {
    // The default page size holds the demo data: no pager, the same links as before.
    let (database, db) = prepared_database(&backend, true);
    let app = spawn_on(database, db, &[]);
    for path in ["/lettings/", "/profiles/"] {
        let html = app.page(path).await;
        assert!(!html.contains("pager") && !html.contains("?page="), "{path}");
        assert!(
            html.contains("</ul>\n      \n      <div class=\"actions\">"),
            "{path}: the list runs straight into the buttons, as before"
        );
    }
}

/// A staff member with only these permissions, logged in.
async fn staff_with(app: &TestApp, name: &str, permissions: &[&str]) -> Browser {
    let id = add_user(app, name, "a fine password", true, true);
    grant(app, id, permissions);
    let browser = Browser::with_address(app, "10.0.0.9");
    assert_redirect(&browser.login(name, "a fine password").await, "/admin/");
    browser
}

const LETTING_ADDRESS: &str = "/admin/autocomplete/?app_label=lettings&model_name=letting&field_name=address";

async fn json(browser: &Browser, path: &str) -> serde_json::Value {
    let response = browser.get(path).await;
    assert_eq!(response.status().as_u16(), 200, "{path}");
    assert_eq!(
        crate::common::header(&response, "content-type"),
        "application/json",
        "{path}"
    );
    response.json().await.unwrap()
}

fn texts(value: &serde_json::Value) -> Vec<String> {
    value["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn autocomplete_searches_pages_and_checks_permissions(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    add_lettings(&app, 45);
    let admin = logged_in_admin(&app).await;

    // 6 original addresses and 45 more: 20 a page, in id order.
    let page = json(&admin, LETTING_ADDRESS).await;
    assert_eq!(texts(&page).len(), 20);
    assert_eq!(
        page["results"][0],
        serde_json::json!({"id": "1", "text": "7217 Bedford Street"})
    );
    assert_eq!(page["pagination"]["more"], true);
    let third = json(&admin, &format!("{LETTING_ADDRESS}&page=3")).await;
    assert_eq!(texts(&third).len(), 11);
    assert_eq!(third["pagination"]["more"], false);
    assert_eq!(texts(&third).last().unwrap(), "45 Scale Street 45");

    // The related model's search: street, city, state, country, number, zip code.
    let found = json(&admin, &format!("{LETTING_ADDRESS}&term=BEDFORD")).await;
    assert_eq!(texts(&found), ["7217 Bedford Street"]);
    let found = json(&admin, &format!("{LETTING_ADDRESS}&term=street%204")).await;
    assert_eq!(texts(&found).len(), 7, "Scale Street 4 and 40-45: {found}");
    let found = json(&admin, &format!("{LETTING_ADDRESS}&term=7217")).await;
    assert_eq!(texts(&found), ["7217 Bedford Street"]);
    // The profile form's user: users by username.
    let users = json(
        &admin,
        "/admin/autocomplete/?app_label=profiles&model_name=profile&field_name=user&term=a",
    )
    .await;
    let names = texts(&users);
    let mut sorted = names.clone();
    sorted.sort();
    assert!(!names.is_empty() && names == sorted, "{names:?}");

    // Hostile or odd terms: an answer, never an error, and wildcards are literal.
    for term in [
        "%25",
        "_",
        "%5C",
        "%27%3B--",
        "%00",
        "%22%3E%3Cscript%3E",
        "%C3%BC",
        "%E2%80%AE",
        "a%20%20b",
    ] {
        let found = json(&admin, &format!("{LETTING_ADDRESS}&term={term}")).await;
        assert!(texts(&found).is_empty(), "{term}: {found}");
    }
    let long = "x".repeat(1_000);
    assert!(texts(&json(&admin, &format!("{LETTING_ADDRESS}&term={long}")).await).is_empty());

    // Naming no foreign key of a registered model: 403, as Django's view refuses.
    for path in [
        "/admin/autocomplete/",
        "/admin/autocomplete/?app_label=lettings&model_name=letting&field_name=title",
        "/admin/autocomplete/?app_label=lettings&model_name=nope&field_name=address",
        "/admin/autocomplete/?app_label=auth&model_name=user&field_name=password",
        "/admin/autocomplete/?app_label=lettings&app_label=lettings&model_name=letting&field_name=address",
    ] {
        assert_eq!(admin.get(path).await.status().as_u16(), 403, "{path}");
    }
    // A junk page, or one past the end: 404.
    for page in ["0", "x", "4", "-1", "1.5"] {
        let path = format!("{LETTING_ADDRESS}&page={page}");
        assert_eq!(admin.get(&path).await.status().as_u16(), 404, "{path}");
    }

    // Who may search: staff who may view the related model. Letting editors without
    // `view_address` get a 403 (and still the id input); anonymous visitors the login page.
    let editor = staff_with(&app, "editor", &["lettings.view_letting", "lettings.change_letting"]).await;
    let response = editor.get(LETTING_ADDRESS).await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        !response.text().await.unwrap().contains("Bedford"),
        "nothing of the rows"
    );
    let form = editor.text("/admin/lettings/letting/1/change/").await;
    assert!(form.contains("name=\"address\" id=\"id_address\" value=\"1\""));
    assert!(form.contains("id=\"id_address_label\">7217 Bedford Street</strong>"));
    assert!(
        !form.contains("data-autocomplete") && !form.contains("related-lookup"),
        "no search offered"
    );
    let reader = staff_with(&app, "reader", &["lettings.view_address", "lettings.add_letting"]).await;
    assert_eq!(texts(&json(&reader, LETTING_ADDRESS).await).len(), 20);
    let form = reader.text("/admin/lettings/letting/add/").await;
    assert!(form.contains("data-autocomplete") && form.contains("related-lookup"));
    // Users are for superusers only: a staff member cannot search them through a profile.
    let profiles = staff_with(&app, "profiles", &["profiles.change_profile", "profiles.view_profile"]).await;
    let path = "/admin/autocomplete/?app_label=profiles&model_name=profile&field_name=user";
    assert_eq!(profiles.get(path).await.status().as_u16(), 403);
    let anonymous = Browser::new(&app);
    let response = anonymous.get(LETTING_ADDRESS).await;
    assert_eq!(response.status().as_u16(), 302);
    assert!(crate::common::header(&response, "location").starts_with("/admin/login/"));
}

async fn the_id_input_works_without_javascript(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    add_lettings(&app, 1);
    let admin = logged_in_admin(&app).await;
    let free: i32 = lettings_address::table
        .filter(lettings_address::street.eq("Scale Street 1"))
        .select(lettings_address::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    // The letting on it moves elsewhere, freeing the address; then a new letting takes it
    // by its id, typed in, as with Django's raw_id_fields.
    diesel::delete(lettings_letting::table.filter(lettings_letting::address_id.eq(free)))
        .execute(&mut *app.db.get().unwrap())
        .unwrap();
    let add = "/admin/lettings/letting/add/";
    let id = free.to_string();
    for bad in ["", "abc", "0", "-3", "99999", "1 OR 1=1"] {
        let response = admin.submit(add, add, &[("title", "Typed in"), ("address", bad)]).await;
        assert_eq!(response.status().as_u16(), 200, "{bad:?}: the form again");
        let html = response.text().await.unwrap();
        assert!(html.contains("errorlist"), "{bad:?}");
        assert!(
            html.contains("id=\"id_address_label\"></strong>"),
            "{bad:?}: no name for no row"
        );
    }
    let response = admin
        .submit(add, add, &[("title", "Typed in"), ("address", &format!(" {id} "))])
        .await;
    assert_redirect(&response, "/admin/lettings/letting/");
    let address: i32 = lettings_letting::table
        .filter(lettings_letting::title.eq("Typed in"))
        .select(lettings_letting::address_id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(address, free);
}

async fn admin_lists_link_a_few_pages_and_count_in_sql(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    add_lettings(&app, 1_200);
    let admin = logged_in_admin(&app).await;
    // 1 206 lettings, 100 a page: 13 pages, linked as Django elides them.
    let paginator = |html: &str| {
        let pages = html.split("<p class=\"paginator\">").nth(1).unwrap();
        pages.split("</p>").next().unwrap().to_owned()
    };
    let pages = paginator(&admin.text("/admin/lettings/letting/?p=2").await);
    for shown in [
        "letting/\">1</a>",
        "<span class=\"this-page\">2</span>",
        "?p=5\">5</a>",
        "?p=12\">12</a>",
        "?p=13\">13</a>",
    ] {
        assert!(pages.contains(shown), "{shown} in {pages}");
    }
    assert!(!pages.contains("?p=6\"") && !pages.contains("?p=11\""), "{pages}");
    assert_eq!(pages.matches("<span class=\"ellipsis\">…</span>").count(), 1, "{pages}");
    assert!(pages.contains("1206 lettings"));
    let pages = paginator(&admin.text("/admin/lettings/letting/?p=10").await);
    assert!(
        pages.contains("?p=2\">2</a> <span class=\"ellipsis\">…</span> <a href=\"/admin/lettings/letting/?p=7\">7</a>"),
        "{pages}"
    );
    // The last page: its 6 rows.
    let html = admin.text("/admin/lettings/letting/?p=13").await;
    assert_eq!(html.matches("<th scope=\"row\">").count(), 6);

    // Facets: counted by the database, TX with every added address.
    let html = admin.text("/admin/lettings/address/").await;
    assert!(
        html.contains("state__exact=TX\">TX</a> <span class=\"count\">(1200)</span>"),
        "TX counted"
    );
    let html = admin.text("/admin/lettings/address/?q=scale%20street%2011").await;
    assert!(
        html.contains("state__exact=TX\">TX</a> <span class=\"count\">(111)</span>"),
        "11, 110-119 and 1100-1199 match the search"
    );
    assert!(!html.contains("state__exact=CA\""), "no address of the search is in CA");
    assert!(!html.contains("Show counts"), "a small table counts by itself");

    // What a table too large to count by default lists instead: its values from the
    // column's index, in order, each once.
    let mut conn = app.db.get().unwrap();
    let states = oc_lettings::admin::model::distinct_values(&mut conn, "lettings_address", "state").unwrap();
    let mut expected = states.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(states, expected);
    assert!(
        states.contains(&"TX".to_owned()) && states.contains(&"GA".to_owned()),
        "{states:?}"
    );
    assert!(oc_lettings::admin::model::is_small(&mut conn, "lettings_address").unwrap());
    drop(conn);
    // `_facets=True` is kept by every link of the list.
    let html = admin.text("/admin/lettings/address/?_facets=True&o=1").await;
    assert!(
        html.contains("state__exact=TX&amp;o=1&amp;_facets=True\">TX</a> <span class=\"count\">(1200)</span>"),
        "{html}"
    );
}

/// `counts::rows` equals a real count for every counted table.
fn assert_counts_exact(app: &TestApp, when: &str) {
    let mut conn = app.db.get().unwrap();
    for table in oc_lettings::db::counts::COUNTED {
        #[derive(QueryableByName)]
        struct Counted {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let real: Counted = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(
            oc_lettings::db::counts::rows(&mut conn, table).unwrap(),
            real.n,
            "{table}, {when}"
        );
    }
}

async fn row_counts_stay_exact(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    assert_counts_exact(&app, "after the import");
    add_lettings(&app, 30);
    assert_counts_exact(&app, "after inserts");
    // The import again (upserts: updated rows are not new rows).
    let source = crate::common::django_fixture("oc-lettings-site.sqlite3", app.database.dir.path());
    oc_lettings::manage::import::import_django(&source, &mut app.db.get().unwrap()).unwrap();
    assert_counts_exact(&app, "after a second import");
    // Deleting an address through the admin takes its letting with it (ON DELETE CASCADE).
    let admin = logged_in_admin(&app).await;
    let page = "/admin/lettings/address/1/delete/";
    assert_redirect(
        &admin.submit(page, page, &[("post", "yes")]).await,
        "/admin/lettings/address/",
    );
    assert_counts_exact(&app, "after a cascading delete");
    let list = "/admin/lettings/letting/";
    let response = admin
        .submit(
            list,
            list,
            &[
                ("action", "delete_selected"),
                ("_selected_action", "2"),
                ("_selected_action", "3"),
                ("post", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 302);
    assert_counts_exact(&app, "after a bulk delete");
    assert!(
        admin.text(list).await.contains("33 lettings"),
        "the list's total is the kept count"
    );
}

/// The rows of an admin list's search, by their first cell.
async fn found(admin: &Browser, list: &str, term: &str) -> usize {
    let html = admin.text(&format!("{list}?q={term}")).await;
    html.matches("<th scope=\"row\">").count()
}

async fn search_follows_every_write(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let addresses = "/admin/lettings/address/";
    assert_eq!(found(&admin, addresses, "bedford").await, 1);
    assert_eq!(found(&admin, addresses, "BEDF").await, 1, "case folded");
    assert_eq!(found(&admin, addresses, "ford st").await, 1, "across the space");
    assert_eq!(found(&admin, addresses, "7217").await, 1, "the number");
    assert_eq!(
        found(&admin, addresses, "GA").await,
        1,
        "two characters: read row by row"
    );
    // Changed through the admin: found by its new street only.
    let change = "/admin/lettings/address/1/change/";
    let fields = [
        ("number", "7217"),
        ("street", "Quayside Lane"),
        ("city", "Brunswick"),
        ("state", "GA"),
        ("zip_code", "31525"),
        ("country_iso_code", "USA"),
    ];
    assert_redirect(&admin.submit(change, change, &fields).await, addresses);
    assert_eq!(found(&admin, addresses, "bedford").await, 0);
    assert_eq!(found(&admin, addresses, "quaysi").await, 1);
    // The letting on it is found by its street too.
    assert_eq!(found(&admin, "/admin/lettings/letting/", "quayside").await, 1);
    // Deleted: found no more.
    let delete = "/admin/lettings/address/1/delete/";
    assert_redirect(&admin.submit(delete, delete, &[("post", "yes")]).await, addresses);
    assert_eq!(found(&admin, addresses, "quayside").await, 0);
    assert_eq!(found(&admin, "/admin/lettings/letting/", "quayside").await, 0);
    // Users and profiles: by username, names and email; profiles by username and city.
    assert_eq!(found(&admin, "/admin/auth/user/", "headlines").await, 1);
    assert_eq!(found(&admin, "/admin/profiles/profile/", "headlinesgaz").await, 1);
    assert_eq!(found(&admin, "/admin/profiles/profile/", "buenos").await, 1);
    // Wildcards and quotes are plain characters.
    for term in ["%25%25%25", "___", "%22%22%22", "%27%27%27", "a%22b"] {
        assert_eq!(found(&admin, addresses, term).await, 0, "{term}");
    }
}

/// `count` more addresses ("<prefix> Street <n>") each with a letting ("<prefix> letting
/// <n>"), inserted by two statements (the same SQL on both backends).
fn insert_lettings(app: &TestApp, prefix: &str, count: i32) {
    let mut conn = app.db.get().unwrap();
    diesel::sql_query(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO lettings_address (number, street, city, state, zip_code, country_iso_code) \
         SELECT i % 10000, '{prefix} Street ' || i, 'Austin', 'TX', 73301, 'USA' FROM n"
    ))
    .execute(&mut *conn)
    .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO lettings_letting (title, address_id) \
         SELECT replace(street, ' Street ', ' letting '), id FROM lettings_address WHERE street LIKE '{prefix} Street %' ORDER BY id"
    ))
    .execute(&mut *conn)
    .unwrap();
}

/// The first cells of an admin list's rows.
fn first_cells(html: &str) -> Vec<String> {
    html.split("<th scope=\"row\"><a href=\"")
        .skip(1)
        .map(|row| row.split('>').nth(1).unwrap().split('<').next().unwrap().to_owned())
        .collect()
}

async fn common_searches_are_not_counted_and_read_newest_first(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    insert_lettings(&app, "Scale", 2_600);
    let admin = logged_in_admin(&app).await;
    let list = "/admin/lettings/letting/";
    let newest_first = |html: &str, first: i32| {
        let cells = first_cells(html);
        let expected: Vec<String> = (0..100).map(|n| format!("Scale letting {}", first - n)).collect();
        assert_eq!(cells, expected, "a page of the newest matches, newest first");
    };
    // 2 600 matches, more than the 2 000 a search counts: "2000+", pages still exact.
    let html = admin.text(&format!("{list}?q=scale")).await;
    assert!(html.contains("2000+ results"), "not counted past 2000");
    assert!(html.contains("2000+ lettings"));
    assert!(
        !html.contains("2600 results") && !html.contains("2606 lettings"),
        "no count of every match"
    );
    newest_first(&html, 2_600);
    newest_first(&admin.text(&format!("{list}?q=SCALE&p=2")).await, 2_500);
    // The pages go on past the links, a full page leading to the next.
    let html = admin.text(&format!("{list}?q=scale&p=20")).await;
    newest_first(&html, 700);
    assert!(html.contains("?q=scale&amp;p=21\">21</a>"), "a link to the page after");
    // Sorted by a column: read through the index, every match sorted.
    let sorted = first_cells(&admin.text(&format!("{list}?q=scale&o=0")).await);
    assert_eq!(sorted[..2], ["Scale letting 1", "Scale letting 10"]);
    assert_eq!(sorted.len(), 100);
    // A rarer term is counted: 11, 110-119, 1100-1199.
    let html = admin.text(&format!("{list}?q=scale%20letting%2011")).await;
    assert!(html.contains("111 results"), "counted exactly");
    assert_eq!(first_cells(&html)[0], "Scale letting 1199");

    // 20 000 newer lettings that do not match: the newest rows hold no page of the term,
    // so it is read through the index, and the page is the same.
    insert_lettings(&app, "Plain", 20_000);
    let html = admin.text(&format!("{list}?q=scale")).await;
    assert!(html.contains("2000+ results"));
    newest_first(&html, 2_600);
    newest_first(&admin.text(&format!("{list}?q=scale&p=2")).await, 2_500);
    // And the walk's own rows are right when they do hold the page.
    let plain = first_cells(&admin.text(&format!("{list}?q=plain")).await);
    assert_eq!(plain[0], "Plain letting 20000");
    assert_eq!(plain[99], "Plain letting 19901");
}

on_both_backends!(async:
    common_searches_are_not_counted_and_read_newest_first,
    search_follows_every_write,
    row_counts_stay_exact,
    public_lists_are_paged,
    a_short_list_is_the_page_it_always_was,
    autocomplete_searches_pages_and_checks_permissions,
    the_id_input_works_without_javascript,
    admin_lists_link_a_few_pages_and_count_in_sql,
);
