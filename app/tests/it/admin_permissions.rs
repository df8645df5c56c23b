//! Django's permissions in the admin, over HTTP on both backends: each role (view only,
//! change through a group, add only, view and delete, nothing) against each page and each
//! POST; what is refused is a 403 that changes nothing. Groups and users' permissions
//! are managed by superusers on their pages. Then the bulk action "Delete selected …"
//! and the filter sidebar.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use oc_lettings::db::schema::{auth_group, django_admin_log, lettings_address, lettings_letting, profiles_profile};

use crate::admin::{add_user, grant};
use crate::common::browser::{assert_redirect, csrf_token, logged_in_admin, site_with_django_data, Browser};
use crate::common::{Backend, TestApp};

/// What a role was given on lettings.
#[derive(Debug, Clone, Copy)]
struct Role {
    name: &'static str,
    view: bool,
    add: bool,
    change: bool,
    delete: bool,
}

const ROLES: [Role; 5] = [
    Role {
        name: "viewer",
        view: true,
        add: false,
        change: false,
        delete: false,
    },
    // Through the group "Editors": view and change.
    Role {
        name: "editor",
        view: true,
        add: false,
        change: true,
        delete: false,
    },
    Role {
        name: "adder",
        view: false,
        add: true,
        change: false,
        delete: false,
    },
    Role {
        name: "remover",
        view: true,
        add: false,
        change: false,
        delete: true,
    },
    Role {
        name: "nobody",
        view: false,
        add: false,
        change: false,
        delete: false,
    },
];

fn letting_title(app: &TestApp, id: i32) -> Option<String> {
    lettings_letting::table
        .find(id)
        .select(lettings_letting::title)
        .first(&mut *app.db.get().unwrap())
        .optional()
        .unwrap()
}

fn lettings(app: &TestApp) -> i64 {
    lettings_letting::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap()
}

fn free_address(app: &TestApp, state: &str, country: &str) -> i32 {
    diesel::insert_into(lettings_address::table)
        .values((
            lettings_address::number.eq(1),
            lettings_address::street.eq("Ocean Drive"),
            lettings_address::city.eq("Laguna Beach"),
            lettings_address::state.eq(state),
            lettings_address::zip_code.eq(92651),
            lettings_address::country_iso_code.eq(country),
        ))
        .returning(lettings_address::id)
        .get_result(&mut *app.db.get().unwrap())
        .unwrap()
}

fn status(response: &reqwest::Response) -> u16 {
    response.status().as_u16()
}

/// Sets the roles up through the superuser's pages: the group "Editors", the users, their
/// group and their permissions. Returns the group's id.
async fn set_up_roles(app: &TestApp, admin: &Browser) -> i32 {
    let add = "/admin/auth/group/add/";
    let response = admin
        .submit(
            add,
            add,
            &[
                ("name", "Editors"),
                ("permissions", "lettings.view_letting"),
                ("permissions", "lettings.change_letting"),
            ],
        )
        .await;
    assert_redirect(&response, "/admin/auth/group/");
    let group: i32 = auth_group::table
        .filter(auth_group::name.eq("Editors"))
        .select(auth_group::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    // A permission that cannot be given, and a second group of the same name, are form errors.
    let html = admin
        .submit(add, add, &[("name", "Editors")])
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Group with this Name already exists."), "{html}");
    let html = admin
        .submit(add, add, &[("name", "Admins"), ("permissions", "auth.change_user")])
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Select a valid choice. auth.change_user is not one of the available choices."));

    for role in ROLES {
        let id = add_user(app, role.name, "a fine password", true, true);
        let change = format!("/admin/auth/user/{id}/change/");
        let mut fields: Vec<(&str, &str)> = vec![("username", role.name), ("is_active", "on"), ("is_staff", "on")];
        let group_id = group.to_string();
        match role.name {
            "editor" => fields.push(("groups", &group_id)),
            "viewer" => fields.push(("user_permissions", "lettings.view_letting")),
            "adder" => fields.push(("user_permissions", "lettings.add_letting")),
            "remover" => {
                fields.push(("user_permissions", "lettings.view_letting"));
                fields.push(("user_permissions", "lettings.delete_letting"));
            }
            _ => {}
        }
        assert_redirect(&admin.submit(&change, &change, &fields).await, "/admin/auth/user/");
        // The user's page shows what was given, checked.
        let html = admin.text(&change).await;
        if role.name == "editor" {
            assert!(html.contains(&format!("name=\"groups\" value=\"{group}\" checked")));
        }
        if role.name == "adder" {
            assert!(html.contains("name=\"user_permissions\" value=\"lettings.add_letting\" checked"));
            assert!(html.contains("Lettings | letting | Can add letting"));
        }
    }
    group
}

async fn each_role_against_each_page_and_post(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let group = set_up_roles(&app, &admin).await;
    let address = free_address(&app, "CA", "USA");
    let address_id = address.to_string();

    for role in ROLES {
        let browser = Browser::new(&app);
        assert_redirect(&browser.login(role.name, "a fine password").await, "/admin/");
        let index = browser.text("/admin/").await;
        let token = csrf_token(&index);
        let post = |path: String, fields: Vec<(&'static str, String)>| {
            let browser = &browser;
            let token = token.clone();
            async move {
                let mut all: Vec<(&str, String)> = vec![("csrfmiddlewaretoken", token)];
                all.extend(fields);
                let borrowed: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
                browser.post(&path, &borrowed).await
            }
        };
        let r = role.name;
        let seen = role.view || role.change;

        // The index lists what the role may see, and links only what it may open.
        assert_eq!(
            index.contains("href=\"/admin/lettings/letting/\""),
            seen,
            "{r}: list link"
        );
        assert_eq!(
            index.contains("href=\"/admin/lettings/letting/add/\""),
            role.add,
            "{r}: add link"
        );
        assert!(
            !index.contains("/admin/lettings/address/"),
            "{r}: no address permission"
        );
        assert!(
            !index.contains("/admin/auth/"),
            "{r}: users and groups are the superusers'"
        );
        if r == "nobody" {
            assert!(index.contains("You don’t have permission to view or edit anything."));
        }

        // The list.
        let list = browser.get("/admin/lettings/letting/").await;
        assert_eq!(status(&list), if seen { 200 } else { 403 }, "{r}: list");
        if seen {
            let html = list.text().await.unwrap();
            assert_eq!(html.contains("Add letting"), role.add, "{r}");
            assert_eq!(html.contains("Delete selected lettings"), role.delete, "{r}");
            assert_eq!(html.contains("name=\"_selected_action\""), role.delete, "{r}");
        }

        // The object's page: the form, or its values read-only.
        let page = browser.get("/admin/lettings/letting/1/change/").await;
        assert_eq!(status(&page), if seen { 200 } else { 403 }, "{r}: change page");
        if seen {
            let html = page.text().await.unwrap();
            assert_eq!(html.contains("<h1>Change letting</h1>"), role.change, "{r}");
            assert_eq!(html.contains("<h1>View letting</h1>"), !role.change, "{r}");
            assert_eq!(html.contains("name=\"_save\""), role.change, "{r}");
            assert_eq!(html.contains("/admin/lettings/letting/1/delete/"), role.delete, "{r}");
            let title = letting_title(&app, 1).unwrap();
            assert!(html.contains(&title), "{r}: the values show");
        }
        let history = browser.get("/admin/lettings/letting/1/history/").await;
        assert_eq!(status(&history), if seen { 200 } else { 403 }, "{r}: history");

        // Adding.
        assert_eq!(
            status(&browser.get("/admin/lettings/letting/add/").await),
            if role.add { 200 } else { 403 },
            "{r}: add page"
        );
        let before = lettings(&app);
        let added = post(
            "/admin/lettings/letting/add/".into(),
            vec![("title", format!("Added by {r}")), ("address", address_id.clone())],
        )
        .await;
        if role.add {
            // No list to go back to: the index, as Django does.
            assert_redirect(&added, "/admin/");
            assert_eq!(lettings(&app), before + 1);
        } else {
            assert_eq!(status(&added), 403, "{r}: add");
            assert_eq!(lettings(&app), before, "{r}: nothing added");
        }

        // Changing.
        let changed = post(
            "/admin/lettings/letting/1/change/".into(),
            vec![("title", format!("Changed by {r}")), ("address", "1".into())],
        )
        .await;
        if role.change {
            assert_redirect(&changed, "/admin/lettings/letting/");
            assert_eq!(letting_title(&app, 1).unwrap(), format!("Changed by {r}"));
        } else {
            assert_eq!(status(&changed), 403, "{r}: change");
            assert_ne!(letting_title(&app, 1).unwrap(), format!("Changed by {r}"));
        }

        // Deleting one, and in bulk (its confirmation page, then the confirmed POST).
        assert_eq!(
            status(&browser.get("/admin/lettings/letting/6/delete/").await),
            if role.delete { 200 } else { 403 },
            "{r}: delete page"
        );
        let before = lettings(&app);
        let confirm = post(
            "/admin/lettings/letting/".into(),
            vec![("action", "delete_selected".into()), ("_selected_action", "6".into())],
        )
        .await;
        let deleted = post(
            "/admin/lettings/letting/".into(),
            vec![
                ("action", "delete_selected".into()),
                ("_selected_action", "6".into()),
                ("post", "yes".into()),
            ],
        )
        .await;
        let single = post("/admin/lettings/letting/5/delete/".into(), vec![]).await;
        if role.delete {
            assert_eq!(status(&confirm), 200);
            assert!(confirm.text().await.unwrap().contains("Underground Hygge"));
            assert_redirect(&deleted, "/admin/lettings/letting/");
            assert_redirect(&single, "/admin/lettings/letting/");
            assert_eq!(lettings(&app), before - 2);
        } else {
            for (what, response) in [("confirm", confirm), ("bulk", deleted), ("single", single)] {
                assert_eq!(status(&response), 403, "{r}: {what}");
            }
            assert_eq!(lettings(&app), before, "{r}: nothing deleted");
        }

        // Users and groups: superusers only, for every one of these roles.
        for path in [
            "/admin/auth/user/",
            "/admin/auth/group/",
            &format!("/admin/auth/group/{group}/change/"),
        ] {
            assert_eq!(status(&browser.get(path).await), 403, "{r}: {path}");
        }
        let promote = post(
            format!("/admin/auth/group/{group}/change/"),
            vec![
                ("name", "Editors".into()),
                ("permissions", "lettings.delete_letting".into()),
            ],
        )
        .await;
        assert_eq!(status(&promote), 403, "{r}: group change");
    }

    // A permission taken from the group is gone at once, on the editor's open session.
    let editor = Browser::new(&app);
    editor.login("editor", "a fine password").await;
    assert_eq!(status(&editor.get("/admin/lettings/letting/1/change/").await), 200);
    let change = format!("/admin/auth/group/{group}/change/");
    assert_redirect(
        &admin
            .submit(
                &change,
                &change,
                &[("name", "Editors"), ("permissions", "lettings.view_letting")],
            )
            .await,
        "/admin/auth/group/",
    );
    let html = editor.text("/admin/lettings/letting/1/change/").await;
    assert!(html.contains("<h1>View letting</h1>"));
    let token = csrf_token(&editor.text("/admin/").await);
    let refused = editor
        .post(
            "/admin/lettings/letting/1/change/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("title", "Late edit"),
                ("address", "1"),
            ],
        )
        .await;
    assert_eq!(status(&refused), 403);
    assert_ne!(letting_title(&app, 1).unwrap(), "Late edit");
    // The group's history records the change of its permissions.
    let html = admin.text(&format!("/admin/auth/group/{group}/history/")).await;
    assert!(html.contains("Changed Permissions."), "{html}");

    // Deleting the group says whose membership goes, and keeps the user.
    let delete = format!("/admin/auth/group/{group}/delete/");
    assert!(admin
        .text(&delete)
        .await
        .contains("Membership of user “editor” (the user stays)"));
    assert_redirect(&admin.submit(&delete, &delete, &[]).await, "/admin/auth/group/");
    assert_eq!(status(&editor.get("/admin/lettings/letting/").await), 403);
    assert_eq!(status(&editor.get("/admin/").await), 200, "still logged in");
}

async fn bulk_delete_goes_through_its_confirmation(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let list = "/admin/lettings/address/?q=street";
    let html = admin.text(list).await;
    assert!(html.contains("Delete selected addresses"));
    let token = csrf_token(&html);

    // Nothing picked, no action, or rows that do not exist: a message, nothing changes.
    for (fields, message) in [
        (vec![("action", "delete_selected")], "Items must be selected"),
        (vec![("action", ""), ("_selected_action", "1")], "No action selected."),
        (
            vec![("action", "drop_tables"), ("_selected_action", "1")],
            "No action selected.",
        ),
        (
            vec![
                ("action", "delete_selected"),
                ("_selected_action", "999"),
                ("post", "yes"),
            ],
            "Items must be selected",
        ),
        (
            vec![("action", "delete_selected"), ("_selected_action", "x")],
            "Items must be selected",
        ),
    ] {
        let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
        all.extend(fields);
        let response = admin.post(list, &all).await;
        assert_redirect(&response, list);
        assert!(admin.text(list).await.contains(message), "{message}");
    }
    let addresses = |app: &TestApp| -> i64 {
        lettings_address::table
            .count()
            .get_result(&mut *app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(addresses(&app), 6);
    // Without the session's CSRF token: refused.
    let forged = admin
        .post(
            list,
            &[
                ("csrfmiddlewaretoken", "forged"),
                ("action", "delete_selected"),
                ("_selected_action", "1"),
                ("post", "yes"),
            ],
        )
        .await;
    assert_eq!(status(&forged), 403);

    // The confirmation lists each row and what goes with it; it deletes nothing.
    let picked = [
        ("csrfmiddlewaretoken", token.as_str()),
        ("action", "delete_selected"),
        ("_selected_action", "1"),
        ("_selected_action", "2"),
        ("_selected_action", "2"),
        ("_selected_action", "999"),
    ];
    let response = admin.post(list, &picked).await;
    assert_eq!(status(&response), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Are you sure you want to delete the selected addresses?"));
    assert!(html.contains("7217 Bedford Street"));
    assert!(html.contains("<li>Letting: Joshua Tree Green Haus /w Hot Tub</li>"));
    assert!(html.contains("<li>Letting: Oceanview Retreat</li>"));
    assert_eq!(
        html.matches("name=\"_selected_action\"").count(),
        2,
        "each existing row once"
    );
    assert!(
        html.contains("href=\"/admin/lettings/address/?q=street\""),
        "back to the same list"
    );
    assert_eq!(addresses(&app), 6);

    // Confirmed: both go, with their lettings, each with a history entry.
    let mut confirmed: Vec<(&str, &str)> = vec![("csrfmiddlewaretoken", token.as_str())];
    confirmed.extend([
        ("action", "delete_selected"),
        ("_selected_action", "1"),
        ("_selected_action", "2"),
        ("post", "yes"),
    ]);
    assert_redirect(&admin.post(list, &confirmed).await, list);
    assert!(admin.text(list).await.contains("Successfully deleted 2 addresses."));
    assert_eq!(addresses(&app), 4);
    let deletions: Vec<String> = django_admin_log::table
        .filter(django_admin_log::action_flag.eq(3))
        .filter(django_admin_log::content_type.eq("lettings.address"))
        .select(django_admin_log::object_repr)
        .order(django_admin_log::object_id)
        .load(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(deletions, ["7217 Bedford Street", "4 Military Street"]);
    assert_eq!(
        app.get("/lettings/1/").await.status().as_u16(),
        404,
        "the public page went too"
    );
    // The same confirmation again: nothing left to delete.
    assert_redirect(&admin.post(list, &confirmed).await, list);
    assert_eq!(addresses(&app), 4);

    // More rows than a form may hold: a 400, nothing deleted.
    let mut huge: Vec<(&str, String)> = vec![
        ("csrfmiddlewaretoken", token.clone()),
        ("action", "delete_selected".into()),
        ("post", "yes".into()),
    ];
    huge.extend((1..=1001).map(|id| ("_selected_action", id.to_string())));
    let borrowed: Vec<(&str, &str)> = huge.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(status(&admin.post(list, &borrowed).await), 400);
    assert_eq!(addresses(&app), 4);
}

async fn filters_narrow_lists_and_count_their_values(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    free_address(&app, "CA", "USA");
    free_address(&app, "CA", "USA");
    free_address(&app, "ON", "CAN");

    let html = admin.text("/admin/lettings/address/").await;
    assert!(html.contains("By state") && html.contains("By country iso code"));
    assert!(
        html.contains("<a href=\"/admin/lettings/address/?state__exact=CA\">CA</a> <span class=\"count\">(2)</span>")
    );
    assert!(html.contains("?country_iso_code__exact=USA\">USA</a> <span class=\"count\">(8)</span>"));
    assert!(html.contains("?country_iso_code__exact=CAN\">CAN</a> <span class=\"count\">(1)</span>"));

    // One country: its rows only; the state counts follow, the country counts do not.
    let html = admin.text("/admin/lettings/address/?country_iso_code__exact=CAN").await;
    assert_eq!(html.matches("<th scope=\"row\">").count(), 1);
    assert!(html.contains("1 address"));
    assert!(html.contains("state__exact=ON\">ON</a> <span class=\"count\">(1)</span>"));
    assert!(!html.contains("state__exact=CA\""));
    assert!(html.contains("USA</a> <span class=\"count\">(8)</span>"));
    // The search keeps the filter, and the filter's links keep the search.
    assert!(html.contains("<input type=\"hidden\" name=\"country_iso_code__exact\" value=\"CAN\">"));
    let html = admin
        .text("/admin/lettings/address/?q=ocean&country_iso_code__exact=USA")
        .await;
    assert_eq!(html.matches("<th scope=\"row\">").count(), 2);
    assert!(
        html.contains("href=\"/admin/lettings/address/?q=ocean&amp;country_iso_code__exact=USA&amp;state__exact=CA\"")
    );

    // A value no row has: an empty list that still shows the value picked; odd input is no error.
    for path in [
        "/admin/lettings/address/?state__exact=ZZ",
        "/admin/lettings/address/?state__exact=%00",
        "/admin/lettings/address/?state__exact=%27%3B--&nope__exact=1",
    ] {
        let response = admin.get(path).await;
        assert_eq!(status(&response), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("No addresses match these filters."), "{path}");
    }
    // …and the value no row has is not echoed back as a choice (issue 29, info).
    let html = admin.text("/admin/lettings/address/?state__exact=ZZ").await;
    assert!(!html.contains(">ZZ</a>"), "{html}");
    assert!(html.contains("href=\"/admin/lettings/address/\">All</a>"), "{html}");

    // Profiles by favourite city.
    let html = admin.text("/admin/profiles/profile/").await;
    assert!(html.contains("By favorite city"));
    assert!(html.contains("favorite_city__exact=Berlin\">Berlin</a> <span class=\"count\">(1)</span>"));
    let html = admin.text("/admin/profiles/profile/?favorite_city__exact=Berlin").await;
    assert_eq!(html.matches("<th scope=\"row\">").count(), 1);
    assert!(html.contains("4meRomance"));
    let profiles: i64 = profiles_profile::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(profiles, 4);
    // Lettings have no filter.
    assert!(!admin
        .text("/admin/lettings/letting/")
        .await
        .contains("changelist-filter"));
}

/// Deleting a row deletes what hangs on it: that needs the delete permission of every
/// model among those rows, as Django's `get_deleted_objects` checks (issue 29, finding 1:
/// a staff member with only view and delete on addresses deleted lettings with them).
async fn deleting_through_a_cascade_needs_that_models_permission(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let id = add_user(&app, "remover", "a fine password", true, true);
    grant(&app, id, &["lettings.view_address", "lettings.delete_address"]);
    let remover = Browser::with_address(&app, "10.0.0.31");
    assert_redirect(&remover.login("remover", "a fine password").await, "/admin/");
    let before = lettings(&app);
    let title = letting_title(&app, 1).unwrap();
    let refused = "doesn't have permission to delete the following types of objects";

    // One address: the confirmation says why and offers no deletion; a POST is refused.
    let page = "/admin/lettings/address/1/delete/";
    let html = remover.text(page).await;
    assert!(html.contains(refused) && html.contains("<li>letting</li>"), "{html}");
    assert!(!html.contains("Yes, I’m sure"));
    let response = remover.submit(page, page, &[("post", "yes")]).await;
    assert_eq!(status(&response), 403);
    // In bulk: the same, for the whole selection.
    let list = "/admin/lettings/address/";
    let free = free_address(&app, "CA", "USA").to_string();
    let picked = [
        ("action", "delete_selected"),
        ("_selected_action", "1"),
        ("_selected_action", free.as_str()),
    ];
    let response = remover.submit(list, list, &picked).await;
    let html = response.text().await.unwrap();
    assert!(html.contains(refused) && !html.contains("Yes, I’m sure"), "{html}");
    let mut confirmed = picked.to_vec();
    confirmed.push(("post", "yes"));
    assert_eq!(status(&remover.submit(list, list, &confirmed).await), 403);
    assert_eq!(lettings(&app), before, "no letting went");
    assert_eq!(letting_title(&app, 1).as_deref(), Some(title.as_str()));

    // An address with nothing on it goes, as before.
    let page = format!("/admin/lettings/address/{free}/delete/");
    assert!(remover.text(&page).await.contains("Yes, I’m sure"));
    assert_eq!(status(&remover.submit(&page, &page, &[("post", "yes")]).await), 302);
    // Given the lettings' delete permission too, the address and its letting go.
    grant(&app, id, &["lettings.delete_letting"]);
    let page = "/admin/lettings/address/1/delete/";
    assert_eq!(status(&remover.submit(page, page, &[("post", "yes")]).await), 302);
    assert_eq!(letting_title(&app, 1), None);
    assert_eq!(lettings(&app), before - 1);
}

/// Django's `UserAdmin` filters (issue 28): staff, superuser and active status, each
/// "Yes"/"No" with its count, `?is_staff__exact=1` as Django spells it; any other value
/// is no filter (not echoed as a choice).
async fn the_user_list_filters_by_status_as_djangos(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    add_user(&app, "clerk", "a fine password", true, true);
    add_user(&app, "gone", "a fine password", true, false);
    add_user(&app, "visitor", "a fine password", false, true);
    let users: i64 = oc_lettings::db::schema::auth_user::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    let staff: i64 = oc_lettings::db::schema::auth_user::table
        .filter(oc_lettings::db::schema::auth_user::is_staff.eq(true))
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();

    let html = admin.text("/admin/auth/user/").await;
    for title in ["By staff status", "By superuser status", "By active"] {
        assert!(html.contains(title), "{title}");
    }
    let yes = format!("<a href=\"/admin/auth/user/?is_staff__exact=1\">Yes</a> <span class=\"count\">({staff})</span>");
    assert!(html.contains(&yes), "{html}");
    let no = format!(
        "<a href=\"/admin/auth/user/?is_staff__exact=0\">No</a> <span class=\"count\">({})</span>",
        users - staff
    );
    assert!(html.contains(&no), "{html}");

    let rows = |html: &str| html.matches("<th scope=\"row\">").count() as i64;
    let html = admin.text("/admin/auth/user/?is_staff__exact=1").await;
    assert_eq!(rows(&html), staff);
    assert!(html.contains(">clerk<") && !html.contains(">visitor<"));
    let html = admin.text("/admin/auth/user/?is_active__exact=0").await;
    assert_eq!(rows(&html), 1);
    assert!(html.contains(">gone<"));
    let html = admin
        .text("/admin/auth/user/?is_superuser__exact=1&is_active__exact=1")
        .await;
    assert!(html.contains(">admin<") && !html.contains(">clerk<"));
    // Another value is no filter: the whole list, and no such choice in the sidebar.
    let html = admin.text("/admin/auth/user/?is_staff__exact=maybe").await;
    assert_eq!(rows(&html), users.min(100));
    assert!(!html.contains("maybe"), "{html}");

    // Groups, shown by name and picked by id as Django's `?groups__id__exact=<id>`; the
    // counts follow the other filters.
    use oc_lettings::db::schema::{auth_user, auth_user_groups};
    let mut conn = app.db.get().unwrap();
    for name in ["Editors", "Auditors"] {
        diesel::insert_into(auth_group::table)
            .values(auth_group::name.eq(name))
            .execute(&mut *conn)
            .unwrap();
    }
    let group = |conn: &mut _, name: &str| -> i32 {
        auth_group::table
            .filter(auth_group::name.eq(name))
            .select(auth_group::id)
            .first(conn)
            .unwrap()
    };
    let user = |conn: &mut _, name: &str| -> i32 {
        auth_user::table
            .filter(auth_user::username.eq(name))
            .select(auth_user::id)
            .first(conn)
            .unwrap()
    };
    let (editors, auditors) = (group(&mut *conn, "Editors"), group(&mut *conn, "Auditors"));
    for member in ["clerk", "gone"] {
        let id = user(&mut *conn, member);
        diesel::insert_into(auth_user_groups::table)
            .values((auth_user_groups::user_id.eq(id), auth_user_groups::group_id.eq(editors)))
            .execute(&mut *conn)
            .unwrap();
    }
    drop(conn);
    let html = admin.text("/admin/auth/user/").await;
    assert!(html.contains("By groups"), "{html}");
    let choice = |id: i32, name: &str, n: i64| {
        format!("<a href=\"/admin/auth/user/?groups__id__exact={id}\">{name}</a> <span class=\"count\">({n})</span>")
    };
    assert!(html.contains(&choice(editors, "Editors", 2)), "{html}");
    assert!(html.contains(&choice(auditors, "Auditors", 0)), "{html}");
    let html = admin
        .text(&format!("/admin/auth/user/?groups__id__exact={editors}"))
        .await;
    assert_eq!(rows(&html), 2);
    assert!(html.contains(">clerk<") && html.contains(">gone<") && !html.contains(">visitor<"));
    // With another filter: the list and the group's count narrow together.
    let html = admin
        .text(&format!(
            "/admin/auth/user/?groups__id__exact={editors}&is_active__exact=1"
        ))
        .await;
    assert_eq!(rows(&html), 1);
    assert!(html.contains(">clerk<") && !html.contains(">gone<"));
    let html = admin.text("/admin/auth/user/?is_active__exact=1").await;
    assert!(
        html.contains(&format!(
            "<a href=\"/admin/auth/user/?is_active__exact=1&amp;groups__id__exact={editors}\">Editors</a> <span class=\"count\">(1)</span>"
        )),
        "{html}"
    );
    // A group that is not a number matches no one, and is no error.
    let response = admin.get("/admin/auth/user/?groups__id__exact=x").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(rows(&response.text().await.unwrap()), 0);
}

/// Django's related-object links beside a foreign key (issue 28), without JavaScript: add
/// a new address from the letting form and come back with it chosen; change or view the
/// chosen one; each link only as the viewer may.
/// The address inline on the letting form (issue 28, Django's `StackedInline` for the
/// one-to-one): a new address made with a new letting in one transaction, each with its
/// history entry; a failure of either saves neither; choosing an address and entering a
/// new one is an error; the change form edits the letting's own address (and only it);
/// staff who may not add addresses get no inline, and what they send for it is ignored.
async fn the_letting_form_makes_its_address_in_one_transaction(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let count = |app: &TestApp| -> (i64, i64) {
        let mut conn = app.db.get().unwrap();
        (
            lettings_address::table.count().get_result(&mut *conn).unwrap(),
            lettings_letting::table.count().get_result(&mut *conn).unwrap(),
        )
    };
    let page = "/admin/lettings/letting/add/";
    let html = admin.text(page).await;
    assert!(html.contains("name=\"address-0-street\""), "{html}");
    let inline = |street: &'static str, state: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("address-0-number", "7"),
            ("address-0-street", street),
            ("address-0-city", "Irvine"),
            ("address-0-state", state),
            ("address-0-zip_code", "92618"),
            ("address-0-country_iso_code", "USA"),
        ]
    };
    let before = count(&app);

    // The letting fails (no title): the address is not kept either.
    let mut fields = vec![("title", ""), ("address", "")];
    fields.extend(inline("Inline Street", "CA"));
    let html = admin.submit(page, page, &fields).await.text().await.unwrap();
    assert!(html.contains("errornote"), "{html}");
    assert!(
        html.contains("value=\"Inline Street\""),
        "the inline keeps its values: {html}"
    );
    assert_eq!(count(&app), before, "nothing saved");
    // The address fails: its error beside its field, nothing saved.
    let mut fields = vec![("title", "Inline Loft"), ("address", "")];
    fields.extend(inline("Inline Street", "California"));
    let html = admin.submit(page, page, &fields).await.text().await.unwrap();
    assert!(html.contains("id=\"error_address-0-state\""), "{html}");
    assert_eq!(count(&app), before, "nothing saved");
    // Both an address chosen and a new one: an error, not a guess.
    let mut fields = vec![("title", "Inline Loft"), ("address", "1")];
    fields.extend(inline("Inline Street", "CA"));
    let html = admin.submit(page, page, &fields).await.text().await.unwrap();
    assert!(
        html.contains("Choose an existing address or enter a new one below, not both."),
        "{html}"
    );
    assert_eq!(count(&app), before);

    // Both right: one transaction, two rows, two history entries.
    let mut fields = vec![("title", "Inline Loft"), ("address", "")];
    fields.extend(inline("Inline Street", "CA"));
    let response = admin.submit(page, page, &fields).await;
    assert_eq!(status(&response), 302);
    assert_eq!(count(&app), (before.0 + 1, before.1 + 1));
    let (letting_id, address_id): (i32, i32) = lettings_letting::table
        .filter(lettings_letting::title.eq("Inline Loft"))
        .select((lettings_letting::id, lettings_letting::address_id))
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    let street: String = lettings_address::table
        .find(address_id)
        .select(lettings_address::street)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(street, "Inline Street");
    let entries = |app: &TestApp, content_type: &str, id: i32| -> Vec<(i16, String)> {
        django_admin_log::table
            .filter(django_admin_log::content_type.eq(content_type))
            .filter(django_admin_log::object_id.eq(id.to_string()))
            .order(django_admin_log::id)
            .select((django_admin_log::action_flag, django_admin_log::change_message))
            .load(&mut *app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(entries(&app, "lettings.address", address_id).len(), 1);
    assert_eq!(entries(&app, "lettings.letting", letting_id).len(), 1);

    // The change form edits the letting's own address, saved with it.
    let change = format!("/admin/lettings/letting/{letting_id}/change/");
    let html = admin.text(&change).await;
    assert!(
        html.contains(&format!("name=\"address-0-id\" value=\"{address_id}\""))
            && html.contains("value=\"Inline Street\""),
        "{html}"
    );
    let id_text = address_id.to_string();
    let mut fields = vec![
        ("title", "Inline Loft"),
        ("address", id_text.as_str()),
        ("address-0-id", id_text.as_str()),
    ];
    fields.extend(inline("Renamed Street", "CA"));
    assert_eq!(status(&admin.submit(&change, &change, &fields).await), 302);
    let street: String = lettings_address::table
        .find(address_id)
        .select(lettings_address::street)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(street, "Renamed Street");
    let address_entries = entries(&app, "lettings.address", address_id);
    assert_eq!(address_entries.len(), 2);
    assert!(address_entries[1].1.contains("Street"), "{address_entries:?}");
    // Another address's id in the inline (a stale or forged form): refused, nothing changed.
    fields[2] = ("address-0-id", "1");
    let html = admin.submit(&change, &change, &fields).await.text().await.unwrap();
    assert!(html.contains("no longer the one this form is about"), "{html}");
    let first: String = lettings_address::table
        .find(1)
        .select(lettings_address::street)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_ne!(first, "Renamed Street");

    // Staff who may add lettings but not addresses: no inline, and what they send for it
    // is never read.
    let clerk = add_user(&app, "clerk", "a fine password", true, true);
    grant(
        &app,
        clerk,
        &["lettings.add_letting", "lettings.view_letting", "lettings.view_address"],
    );
    let browser = crate::common::browser::Browser::with_address(&app, "10.0.0.51");
    assert_redirect(&browser.login("clerk", "a fine password").await, "/admin/");
    let html = browser.text(page).await;
    assert!(!html.contains("address-0-street"), "{html}");
    let before = count(&app);
    let mut fields = vec![("title", "Sneaky Loft"), ("address", "")];
    fields.extend(inline("Sneaky Street", "CA"));
    let html = browser.submit(page, page, &fields).await.text().await.unwrap();
    assert!(html.contains("errornote"), "the address is still required: {html}");
    assert_eq!(count(&app), before, "no address made without the permission");
}

/// The popup side of the related-object links (issue 28), as Django's `_popup=1`: the
/// form without the admin's header, the flag kept through a form shown again with errors,
/// and once saved, not a redirect but a page whose script hands the row back, its data
/// (the row's id and name) escaped in an attribute whatever the name holds; a change in a
/// popup answers the same way. The browser test runs the script.
async fn a_popup_form_hands_the_row_back(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let form_url = "/admin/lettings/address/add/?_popup=1";
    let html = admin.text(form_url).await;
    assert!(
        html.contains("<input type=\"hidden\" name=\"_popup\" value=\"1\">"),
        "{html}"
    );
    assert!(
        !html.contains("admin-header") && !html.contains("class=\"breadcrumbs\""),
        "{html}"
    );
    assert!(!html.contains("_addanother"), "one Save button in a popup: {html}");

    let mut fields = vec![
        ("number", "12"),
        ("street", ""),
        ("city", "Costa Mesa"),
        ("state", "CA"),
        ("zip_code", "92626"),
        ("country_iso_code", "USA"),
        ("_popup", "1"),
    ];
    // An error keeps the popup a popup.
    let html = admin
        .submit(form_url, "/admin/lettings/address/add/", &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("errornote") && html.contains("name=\"_popup\" value=\"1\""),
        "{html}"
    );
    let street = "Quote \" & <script>alert(1)</script> Way";
    fields[1] = ("street", street);
    let response = admin.submit(form_url, "/admin/lettings/address/add/", &fields).await;
    assert_eq!(status(&response), 200, "a page, not a redirect");
    let html = response.text().await.unwrap();
    let id: i32 = lettings_address::table
        .filter(lettings_address::street.eq(street))
        .select(lettings_address::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert!(html.contains("js/popup_response."), "{html}");
    assert!(!html.contains("<script>alert"), "the name is escaped: {html}");
    let data = html
        .split("data-popup-response=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let unescaped = data
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&");
    let json: serde_json::Value = serde_json::from_str(&unescaped).unwrap();
    assert_eq!(json["action"], "add");
    assert_eq!(json["value"], id.to_string());
    assert_eq!(json["obj"], format!("12 {street}"));
    // A change in a popup answers the same way, as a change.
    let change = format!("/admin/lettings/address/{id}/change/");
    fields[1] = ("street", "Harbor Boulevard");
    let response = admin.submit(&format!("{change}?_popup=1"), &change, &fields).await;
    assert_eq!(status(&response), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("&quot;action&quot;:&quot;change&quot;"), "{html}");
    assert!(html.contains("12 Harbor Boulevard"), "{html}");
}

async fn related_objects_are_in_reach_from_a_form(backend: Backend) {
    let app = site_with_django_data(&backend).await;
    let admin = logged_in_admin(&app).await;
    let html = admin.text("/admin/lettings/letting/add/").await;
    let link = "/admin/lettings/address/add/?_return=%2Fadmin%2Flettings%2Fletting%2Fadd%2F&amp;_field=address";
    assert!(html.contains(link), "{html}");

    // The address form remembers where it came from…
    let form_url = link.replace("&amp;", "&");
    let html = admin.text(&form_url).await;
    assert!(
        html.contains("name=\"_return\" value=\"/admin/lettings/letting/add/\""),
        "{html}"
    );
    let mut fields = vec![
        ("number", "12"),
        ("street", "Harbor Boulevard"),
        ("city", "Costa Mesa"),
        ("state", "CA"),
        ("zip_code", "92626"),
        ("country_iso_code", "USA"),
        ("_return", "/admin/lettings/letting/add/"),
        ("_field", "address"),
    ];
    let response = admin.submit(&form_url, "/admin/lettings/address/add/", &fields).await;
    let id: i32 = lettings_address::table
        .filter(lettings_address::street.eq("Harbor Boulevard"))
        .select(lettings_address::id)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    // …and goes back to the letting form with the new address chosen.
    let back = format!("/admin/lettings/letting/add/?address={id}");
    assert_redirect(&response, &back);
    let html = admin.text(&back).await;
    assert!(
        html.contains(&format!("name=\"address\" id=\"id_address\" value=\"{id}\"")),
        "{html}"
    );
    assert!(
        html.contains("12 Harbor Boulevard"),
        "the chosen address is named: {html}"
    );
    assert!(
        html.contains(&format!("href=\"/admin/lettings/address/{id}/change/\"")),
        "a change link: {html}"
    );

    // Never back to anywhere else: a foreign return is ignored.
    fields[1] = ("street", "Bristol Street");
    fields[6] = ("_return", "https://evil.example/admin/");
    let response = admin
        .submit("/admin/lettings/address/add/", "/admin/lettings/address/add/", &fields)
        .await;
    assert_eq!(status(&response), 302);
    assert!(!crate::common::header(&response, "location").contains("evil"));

    // A staff member who may only view addresses: a "View" link, no "Add another".
    let viewer = add_user(&app, "viewer", "a fine password", true, true);
    grant(
        &app,
        viewer,
        &[
            "lettings.view_letting",
            "lettings.change_letting",
            "lettings.view_address",
        ],
    );
    let browser = crate::common::browser::Browser::with_address(&app, "10.0.0.50");
    assert_redirect(&browser.login("viewer", "a fine password").await, "/admin/");
    let html = browser.text("/admin/lettings/letting/1/change/").await;
    assert!(
        html.contains("class=\"related-widget-wrapper-link view-related\""),
        "{html}"
    );
    assert!(
        !html.contains("add-related") && !html.contains("change-related"),
        "{html}"
    );
}

on_both_backends!(async:
    related_objects_are_in_reach_from_a_form,
    a_popup_form_hands_the_row_back,
    the_letting_form_makes_its_address_in_one_transaction,
    the_user_list_filters_by_status_as_djangos,
    deleting_through_a_cascade_needs_that_models_permission,
    each_role_against_each_page_and_post,
    bulk_delete_goes_through_its_confirmation,
    filters_narrow_lists_and_count_their_values,
);
