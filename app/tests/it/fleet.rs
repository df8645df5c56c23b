//! Several instances on one database: an admin change on one is seen on every instance's
//! public pages at once (PostgreSQL: LISTEN/NOTIFY; SQLite: in the writing process), and
//! the pool's connections survive a database restart without a request per connection
//! failing. The fleet behind a real router (nginx) is in `fleet_router`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::browser::{assert_redirect, site_with_django_data, Browser};
use crate::common::{spawn_on, Backend, TestDatabase};

async fn an_admin_change_reaches_every_instance_at_once(backend: Backend) {
    let seeded = site_with_django_data(&backend).await;
    let long_cache = [("PAGE_CACHE_SECONDS", "600")];
    let writer = spawn_on(TestDatabase::reuse(&seeded.database), seeded.db.clone(), &long_cache);
    let reader = spawn_on(TestDatabase::reuse(&seeded.database), seeded.db.clone(), &long_cache);
    // Both instances have the page cached (on PostgreSQL, once their listener is up).
    for site in [&writer, &reader] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while site.get("/lettings/1/").await.status().as_u16() != 200 && Instant::now() < deadline {}
        assert!(site.page("/lettings/1/").await.contains("Joshua Tree Green Haus"));
    }
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    assert!(reader.page("/lettings/1/").await.contains("Joshua Tree Green Haus"));

    let admin = Browser::new(&writer);
    assert_redirect(&admin.login("admin", "Abc1234!").await, "/admin/");
    let saved = admin
        .submit(
            "/admin/lettings/letting/1/change/",
            "/admin/lettings/letting/1/change/",
            &[("title", "Renamed on another instance"), ("address", "1")],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 302);
    let written = Instant::now();
    assert!(
        writer
            .page("/lettings/1/")
            .await
            .contains("Renamed on another instance"),
        "the writing instance at once"
    );
    if matches!(backend, Backend::Sqlite) {
        return; // one process per SQLite file: nothing else to tell
    }
    loop {
        if reader
            .page("/lettings/1/")
            .await
            .contains("Renamed on another instance")
        {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "the other instance still serves the old page (its cache lasts 600 s)"
        );
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    figure!(
        "fleet: an admin write reached the other instance's page cache in {:.0} ms",
        written.elapsed().as_secs_f64() * 1000.0
    );
}

on_both_backends!(async: an_admin_change_reaches_every_instance_at_once);

/// `check --deploy` asks the server for its `max_connections` and says when the fleet's
/// connections (pools, readers and listeners) do not fit.
#[test]
fn check_deploy_warns_when_the_pools_exceed_max_connections() {
    let Some(Backend::Postgres(url)) = Backend::postgres() else {
        return;
    };
    let run_with = |pool: &str, instances: &str, readers: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("DATABASE_POOL_SIZE", pool)
            .env("INSTANCE_COUNT", instances)
            .env("WEB_CONCURRENCY", "2")
            .env("DATABASE_READ_CONNECTIONS", readers)
            .args(["check", "--deploy"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let run = |pool: &str, instances: &str| run_with(pool, instances, "2");
    let crowded = run("60", "4");
    assert!(
        crowded.contains(
            "can exceed PostgreSQL's max_connections: 4 instance(s) × (60 pooled + 4 reader (2 worker(s) × 2) + 1 listener) = 260"
        ),
        "{crowded}"
    );
    // The reader off: the pools and the listeners only.
    let pools_only = run_with("60", "4", "0");
    assert!(
        pools_only.contains("4 instance(s) × (60 pooled + 1 listener) = 244"),
        "{pools_only}"
    );
    let fits = run("8", "2");
    assert!(!fits.contains("max_connections"), "{fits}");
}
