//! The admin's history as an audit trail that survives (issue 28): a deleted user's
//! entries stay, under the username they had; every row a deletion takes with it gets its
//! own entry; the delete confirmation says what goes and what stays; dumps and loads keep
//! the entries of deleted authors. Both backends.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use oc_lettings::admin::history::{self, Action};
use oc_lettings::db::schema::{auth_group, auth_user_groups, django_admin_log, lettings_letting};
use oc_lettings::manage::fixture::{self, Model};
use oc_lettings::manage::import::Quiet;

use crate::admin::{add_user, grant};
use crate::common::browser::{assert_redirect, csrf_token, logged_in_admin, site_with_django_data};
use crate::common::{spawn_app, Backend, TestApp};

/// Every entry about one object: (author's user id, kept username, action flag, message).
fn entries_of(app: &TestApp, content_type: &str, id: i32) -> Vec<(Option<i32>, String, i16, String)> {
    django_admin_log::table
        .filter(django_admin_log::content_type.eq(content_type))
        .filter(django_admin_log::object_id.eq(id.to_string()))
        .order(django_admin_log::id)
        .select((
            django_admin_log::user_id,
            django_admin_log::username,
            django_admin_log::action_flag,
            django_admin_log::change_message,
        ))
        .load(&mut *app.db.get().unwrap())
        .unwrap()
}

async fn a_deleted_users_history_stays_under_their_name(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let editor = add_user(&app, "editor", "a fine password", true, true);
    grant(&app, editor, &["lettings.view_letting", "lettings.change_letting"]);
    {
        let mut conn = app.db.get().unwrap();
        let group: i32 = diesel::insert_into(auth_group::table)
            .values(auth_group::name.eq("Editors"))
            .returning(auth_group::id)
            .get_result(&mut *conn)
            .unwrap();
        diesel::insert_into(auth_user_groups::table)
            .values((
                auth_user_groups::user_id.eq(editor),
                auth_user_groups::group_id.eq(group),
            ))
            .execute(&mut *conn)
            .unwrap();
        history::record(
            &mut conn,
            editor,
            "lettings.letting",
            1,
            "Joshua Tree Green Haus /w Hot Tub",
            Action::Change,
            "[]",
        )
        .unwrap();
    }

    // The confirmation lists what goes with the user and what stays.
    let confirm = admin.text(&format!("/admin/auth/user/{editor}/delete/")).await;
    for line in [
        "Membership of the group “Editors”",
        "Permission given to the user: lettings.view_letting",
        "These stay in the admin’s history:",
        "The 1 history entry written by this user, under the name “editor”",
    ] {
        assert!(confirm.contains(line), "{line} in {confirm}");
    }
    let token = csrf_token(&confirm);
    let deleted = admin
        .post(
            &format!("/admin/auth/user/{editor}/delete/"),
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(deleted.status().as_u16(), 302);

    // The entry stays, without its user, under the name they had.
    let kept = entries_of(&app, "lettings.letting", 1);
    assert!(
        kept.contains(&(None, "editor".to_owned(), 2, "[]".to_owned())),
        "{kept:?}"
    );
    let page = admin.text("/admin/lettings/letting/1/history/").await;
    assert!(
        page.contains("editor <span class=\"small\">(deleted user)</span>"),
        "{page}"
    );
    // The user's own deletion is recorded too, by the admin.
    let admin_id: i32 = oc_lettings::db::schema::auth_user::table
        .filter(oc_lettings::db::schema::auth_user::username.eq("admin"))
        .select(oc_lettings::db::schema::auth_user::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    let gone = entries_of(&app, "auth.user", editor);
    assert_eq!(gone.last().unwrap().0, Some(admin_id));
    assert_eq!(gone.last().unwrap().2, 3);

    // A dump names the deleted author by that name, and loading it elsewhere keeps the
    // entry (Django's loaddata would refuse it: its entries need a user).
    let mut dumped = Vec::new();
    fixture::dump(&mut app.db.get().unwrap(), &mut dumped, None, &Model::DUMPED).unwrap();
    let text = String::from_utf8(dumped.clone()).unwrap();
    assert!(text.contains(r#""user": ["editor"]"#), "{text:.400}");
    let elsewhere = spawn_app(&backend, false).await;
    let read = fixture::read(dumped.as_slice()).unwrap();
    fixture::load(&mut elsewhere.db.get().unwrap(), read, &mut Quiet, false).unwrap();
    let reloaded = entries_of(&elsewhere, "lettings.letting", 1);
    assert!(
        reloaded.contains(&(None, "editor".to_owned(), 2, "[]".to_owned())),
        "{reloaded:?}"
    );
}

async fn each_row_a_deletion_takes_gets_its_own_entry(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let (letting, address): (i32, i32) = lettings_letting::table
        .order(lettings_letting::id)
        .select((lettings_letting::id, lettings_letting::address_id))
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    let delete = format!("/admin/lettings/address/{address}/delete/");
    let confirm = admin.text(&delete).await;
    assert!(
        confirm.contains("All of the following related items will be deleted too"),
        "{confirm}"
    );
    let token = csrf_token(&confirm);
    assert_redirect(
        &admin.post(&delete, &[("csrfmiddlewaretoken", &token)]).await,
        "/admin/lettings/address/",
    );
    let entries = entries_of(&app, "lettings.letting", letting);
    let (_, username, flag, message) = entries.last().unwrap();
    assert_eq!((username.as_str(), *flag), ("admin", 3));
    assert!(message.starts_with("Deleted with the address “"), "{message}");
    let address_entries = entries_of(&app, "lettings.address", address);
    assert_eq!(address_entries.last().unwrap().2, 3);

    // Who deleted it? The deleted letting's History page still answers; its change page
    // goes back to the index, saying it may have been deleted.
    let page = admin.text(&format!("/admin/lettings/letting/{letting}/history/")).await;
    assert!(
        page.contains("(deleted)") && page.contains("Deleted with the address “"),
        "{page}"
    );
    assert!(page.contains("has been deleted; its history stays."), "{page}");
    assert_redirect(
        &admin.get(&format!("/admin/lettings/letting/{letting}/change/")).await,
        "/admin/",
    );
    let index = admin.text("/admin/").await;
    let message = format!("Letting with ID “{letting}” doesn’t exist. Perhaps it was deleted?");
    assert!(index.contains(&message), "{index}");
}

/// The entry ids of an audit log page, in order, and its "Older" and "Newer" links.
fn audit_page(html: &str) -> (Vec<i32>, Option<String>, Option<String>) {
    let ids = html
        .split("<tr data-id=\"")
        .skip(1)
        .map(|part| part[..part.find('"').unwrap()].parse().unwrap())
        .collect();
    let link = |label: &str| {
        html.find(&format!("\">{label}")).map(|end| {
            let start = html[..end].rfind("href=\"").unwrap() + "href=\"".len();
            html[start..end].replace("&amp;", "&")
        })
    };
    (ids, link("Older ›"), link("‹ Newer"))
}

async fn superusers_read_every_users_actions_in_the_audit_log(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let editor = add_user(&app, "editor", "a fine password", true, true);
    grant(&app, editor, &["lettings.view_letting"]);
    {
        let mut conn = app.db.get().unwrap();
        for n in 0..230 {
            history::record(
                &mut conn,
                editor,
                "lettings.letting",
                1,
                &format!("Loft {n}"),
                Action::Change,
                "[]",
            )
            .unwrap();
        }
    }
    // A deletion by the admin: its line links to the history, not the gone object.
    let confirm = admin.text("/admin/lettings/address/2/delete/").await;
    let token = csrf_token(&confirm);
    admin
        .post("/admin/lettings/address/2/delete/", &[("csrfmiddlewaretoken", &token)])
        .await;
    let total: i64 = django_admin_log::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    assert!(total > 250, "{total}");

    // Every entry once, newest first, a hundred a page, walking "Older" to the end.
    let mut seen = Vec::new();
    let mut url = Some("/admin/audit/".to_owned());
    let mut pages = Vec::new();
    while let Some(next) = url {
        let html = admin.text(&next).await;
        let (ids, older, _) = audit_page(&html);
        assert!(ids.len() <= 100);
        seen.extend(ids.iter().copied());
        pages.push((next, ids));
        url = older;
    }
    assert_eq!(seen.len() as i64, total);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, each once");
    // "Newer" from the second page gives the first page back.
    let (_, _, newer) = audit_page(&admin.text(&pages[1].0).await);
    let (ids, _, _) = audit_page(&admin.text(&newer.unwrap()).await);
    assert_eq!(ids, pages[0].1);

    // Narrowed to a day, the walk goes through the time index: every entry of the day
    // once, newest first, and "Newer" comes back the same way.
    let today = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let of_today: i64 = django_admin_log::table
        .filter(django_admin_log::action_time.ge(chrono::Utc::now().date_naive().and_time(chrono::NaiveTime::MIN)))
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    assert!(of_today >= 230, "{of_today}");
    let mut day_seen = Vec::new();
    let mut day_pages = Vec::new();
    let mut url = Some(format!("/admin/audit/?since={today}&until={today}"));
    while let Some(next) = url {
        let (ids, older, _) = audit_page(&admin.text(&next).await);
        day_seen.extend(ids.iter().copied());
        day_pages.push((next, ids));
        url = older;
    }
    assert_eq!(day_seen.len() as i64, of_today);
    assert!(day_seen.windows(2).all(|w| w[0] > w[1]), "newest first, each once");
    let (_, _, newer) = audit_page(&admin.text(&day_pages[1].0).await);
    let (ids, _, _) = audit_page(&admin.text(&newer.unwrap()).await);
    assert_eq!(ids, day_pages[0].1);

    // The newest lines: the deletion, linked to the letting's history (the letting went
    // with its address), not to a change page.
    let first = admin.text("/admin/audit/?model=lettings.letting&action=delete").await;
    let (ids, _, _) = audit_page(&first);
    assert_eq!(ids.len(), 1, "{first}");
    assert!(first.contains("/history/\">History</a>"), "{first}");
    assert!(!first.contains("/change/\""), "no link to a deleted object: {first}");

    // Filters: author, model, action, search, dates.
    let (ids, _, _) = audit_page(&admin.text("/admin/audit/?user=editor").await);
    assert_eq!(ids.len(), 100);
    let html = admin.text("/admin/audit/?user=editor&q=loft%2017").await;
    assert!(html.contains("Loft 17") && !html.contains("Loft 18<"), "{html}");
    let (ids, _, _) = audit_page(&admin.text("/admin/audit/?model=lettings.address&action=delete").await);
    assert_eq!(ids.len(), 1);
    let html = admin.text("/admin/audit/?since=2999-01-01").await;
    assert!(html.contains("No entries match these filters."), "{html}");
    let (ids, _, _) = audit_page(&admin.text("/admin/audit/?until=2000-01-01&user=editor").await);
    assert!(ids.is_empty());
    // What cannot be read is said, and left out; hostile values are no 5xx.
    let html = admin.text("/admin/audit/?since=yesterday&model=auth.permission").await;
    assert!(
        html.contains("From: enter a valid date") && html.contains("Model: not one of the choices"),
        "{html}"
    );
    for value in crate::security::hostile_values().iter().take(12) {
        let value: String = value.chars().take(2000).collect();
        for parameter in ["user", "q", "since", "before", "after", "model"] {
            let status = admin
                .get(&format!("/admin/audit/?{parameter}={value}"))
                .await
                .status()
                .as_u16();
            assert!(status < 500, "{parameter}={value:.40}: {status}");
        }
    }
    // Superusers only.
    let staff = crate::common::browser::Browser::with_address(&app, "10.0.0.30");
    assert_redirect(&staff.login("editor", "a fine password").await, "/admin/");
    assert_eq!(staff.get("/admin/audit/").await.status().as_u16(), 403);
    assert!(!staff.text("/admin/").await.contains("/admin/audit/"));
    assert!(admin.text("/admin/").await.contains("/admin/audit/"));
}

/// Whether `html` is drawn in the admin's layout, with a way back to its index.
fn in_admin_look(html: &str) -> bool {
    html.contains("css/admin.")
        && html.contains("Back to the site administration")
        && html.contains("class=\"breadcrumbs\"")
}

/// 403, 404, 429 and 500 of admin URLs keep the admin's look (issue 28); the public site's
/// errors keep the public one.
async fn admin_errors_keep_the_admins_look(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let response = admin.get("/admin/no/such/page/here/").await;
    assert_eq!(response.status().as_u16(), 404);
    assert!(in_admin_look(&response.text().await.unwrap()));
    let public = admin.get("/no-such-page/").await.text().await.unwrap();
    assert!(!in_admin_look(&public) && public.contains("Page not found"));

    // App index pages (Django's app_index), linked from the index and the breadcrumbs.
    let index = admin.text("/admin/").await;
    assert!(
        index.contains("<caption><a href=\"/admin/lettings/\">Lettings</a></caption>"),
        "{index}"
    );
    let app_page = admin.text("/admin/lettings/").await;
    assert!(app_page.contains("<h1>Lettings administration</h1>"), "{app_page}");
    assert!(
        app_page.contains("href=\"/admin/lettings/address/\"")
            && app_page.contains("href=\"/admin/lettings/letting/\"")
    );
    assert!(!app_page.contains("/admin/profiles/profile/") && !app_page.contains("Recent actions"));
    let list = admin.text("/admin/lettings/letting/").await;
    assert!(
        list.contains("<a href=\"/admin/lettings/\">Lettings</a>"),
        "breadcrumbs: {list}"
    );
    let response = admin.get("/admin/nope/").await;
    assert_eq!(response.status().as_u16(), 404);
    assert!(in_admin_look(&response.text().await.unwrap()));

    // 403: a staff member on a superuser's page; a CSRF failure says why.
    let editor = add_user(&app, "clerk", "a fine password", true, true);
    grant(&app, editor, &["lettings.view_letting"]);
    let clerk = crate::common::browser::Browser::with_address(&app, "10.0.0.40");
    assert_redirect(&clerk.login("clerk", "a fine password").await, "/admin/");
    let response = clerk.get("/admin/auth/user/").await;
    assert_eq!(response.status().as_u16(), 403);
    // An app of which they may see nothing is no page of theirs.
    assert_eq!(clerk.get("/admin/auth/").await.status().as_u16(), 404);
    assert_eq!(clerk.get("/admin/lettings/").await.status().as_u16(), 200);
    assert!(in_admin_look(&response.text().await.unwrap()));
    let response = clerk
        .post(
            "/admin/lettings/letting/1/delete/",
            &[("csrfmiddlewaretoken", "forged")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    let html = response.text().await.unwrap();
    assert!(
        in_admin_look(&html) && html.contains("CSRF verification failed"),
        "{html}"
    );

    // 429: the password change's old password guessed too often; Retry-After kept.
    let mut last = None;
    for _ in 0..8 {
        let response = clerk
            .submit(
                "/admin/password_change/",
                "/admin/password_change/",
                &[
                    ("old_password", "wrong"),
                    ("new_password1", "x"),
                    ("new_password2", "x"),
                ],
            )
            .await;
        if response.status().as_u16() == 429 {
            last = Some(response);
            break;
        }
    }
    let response = last.expect("a 429 after repeated wrong guesses");
    assert!(!crate::common::header(&response, "retry-after").is_empty());
    let html = response.text().await.unwrap();
    assert!(in_admin_look(&html) && html.contains("before trying again"), "{html}");

    // 500: a panic in an admin handler (the superuser's test trigger).
    let csrf = csrf_token(&admin.text("/admin/debug/panic/").await);
    let response = admin
        .post("/admin/debug/panic/", &[("csrfmiddlewaretoken", csrf.as_str())])
        .await;
    assert_eq!(response.status().as_u16(), 500);
    let html = response.text().await.unwrap();
    assert!(in_admin_look(&html) && html.contains("Server error"), "{html}");
}

on_both_backends!(async:
    admin_errors_keep_the_admins_look,
    superusers_read_every_users_actions_in_the_audit_log,
    a_deleted_users_history_stays_under_their_name,
    each_row_a_deletion_takes_gets_its_own_entry,
);
