//! The async reader (PostgreSQL only): it reads exactly what the pool reads, recovers by
//! itself when its connections are killed, keeps libpq's TLS rules, and never reaches a
//! database it should not trust.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use oc_lettings::config::{DatabaseUrl, PostgresUrl};
use oc_lettings::db::{Database, DbError};
use oc_lettings::lettings::model as lettings;
use oc_lettings::pagination::PageRequest;
use oc_lettings::profiles::model as profiles;

use crate::common::{prepared_database, with_params, Backend};

/// Runs `body` on an actix system (the reader's connections live on its event loop, as on
/// a worker's).
fn on_worker<F: std::future::Future>(body: F) -> F::Output {
    actix_web::rt::System::new().block_on(body)
}

fn with_reader(url: &DatabaseUrl) -> Database {
    let db = Database::new(url, 2).unwrap().with_reader(2);
    assert!(db.reader().is_some(), "the reader is on for a plain URL");
    db
}

#[test]
fn the_reader_reads_exactly_what_the_pool_reads() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    // The same page functions, one database read through the reader, the other (the
    // reader off) through the pool.
    let (database, pool) = prepared_database(&backend, true);
    assert!(pool.reader().is_none());
    let reader = with_reader(&database.url);
    on_worker(async {
        // Every page size, so that pages start at every row and past the end.
        for size in [1, 2, 4, 25] {
            for number in 1..=8 {
                let page = PageRequest::from_query(&format!("page={number}"), size).unwrap();
                assert_eq!(
                    lettings::lettings(&reader, page).await.unwrap(),
                    lettings::lettings(&pool, page).await.unwrap(),
                    "lettings page {number} of {size}"
                );
                assert_eq!(
                    profiles::profiles(&reader, page).await.unwrap(),
                    profiles::profiles(&pool, page).await.unwrap(),
                    "profiles page {number} of {size}"
                );
            }
        }
        let first = PageRequest::from_query("", 25).unwrap();
        let listed = lettings::lettings(&reader, first).await.unwrap();
        assert!(listed.len() >= 6, "the demo data: {listed:?}");
        for id in listed.iter().map(|l| l.id).chain([0, -1, 999_999, i32::MAX]) {
            let read = lettings::letting(&reader, id).await.unwrap();
            assert_eq!(read, lettings::letting(&pool, id).await.unwrap(), "letting {id}");
        }
        let listed = profiles::profiles(&reader, first).await.unwrap();
        assert!(!listed.is_empty());
        let names = listed.iter().map(|p| p.username.clone());
        let odd = [
            "",
            "nobody",
            "a\0b",
            "x'; DROP TABLE auth_user; --",
            &"n".repeat(151),
            "ünïcode",
        ];
        for name in names.chain(odd.iter().map(|s| (*s).to_owned())) {
            let read = profiles::profile(&reader, name.clone()).await.unwrap();
            assert_eq!(
                read,
                profiles::profile(&pool, name.clone()).await.unwrap(),
                "profile {name:?}"
            );
        }
    });
    // The statements were prepared once per connection, not per read.
    assert!(reader.reader().unwrap().connections_opened() <= 2);
}

/// A database restart leaves every idle connection dead: the next read opens a new one
/// and succeeds (the request that finds out is not failed).
#[test]
fn the_reader_reconnects_when_its_connections_are_killed() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let (database, pool) = prepared_database(&backend, true);
    let reader = with_reader(&database.url);
    let killed = on_worker(async {
        // Both of this worker's connections open and prepare their statement.
        lettings::letting(&reader, 1).await.unwrap().unwrap();
        lettings::letting(&reader, 1).await.unwrap().unwrap();
        assert_eq!(reader.reader().unwrap().connections_opened(), 2);
        #[derive(QueryableByName)]
        struct Killed {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            killed: bool,
        }
        let killed: Vec<Killed> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
             WHERE application_name = 'oc-lettings-reader' AND datname = current_database()",
        )
        .load(&mut *pool.get().unwrap())
        .unwrap();
        // Let the connections' tasks see the server hang up on them, or not: either way
        // the reads below must succeed.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        for _ in 0..4 {
            let letting = lettings::letting(&reader, 1).await.unwrap();
            assert_eq!(letting.unwrap().id, 1);
        }
        killed.into_iter().filter(|k| k.killed).count()
    });
    assert_eq!(killed, 2, "both reader connections were found in pg_stat_activity");
    assert_eq!(
        reader.reader().unwrap().connections_opened(),
        4,
        "each lane opened one new connection"
    );
}

/// Nothing listens: an error that a page turns into a 503, quickly, and the password is
/// in no message.
#[test]
fn an_unreachable_database_is_unavailable_not_an_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = DatabaseUrl::Postgres(PostgresUrl::new(format!(
        "postgres://app:sekrit-pw@127.0.0.1:{closed}/none?sslmode=disable"
    )));
    let db = with_reader(&url);
    on_worker(async {
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let err = lettings::lettings(&db, PageRequest::from_query("", 25).unwrap())
                .await
                .unwrap_err();
            assert!(matches!(err, DbError::Unreachable(_)), "{err:?}");
            assert!(!err.to_string().contains("sekrit-pw"), "{err}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
        }
    });
}

/// Whether the reader's connection to `url` is encrypted, or why it could not connect.
fn reader_uses_tls(url: &str) -> Result<bool, String> {
    let db = with_reader(&DatabaseUrl::parse(url).unwrap());
    on_worker(async {
        let ssl =
            diesel::dsl::sql::<diesel::sql_types::Bool>("(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())");
        let rows: Vec<bool> = db
            .reader()
            .unwrap()
            .load(diesel::select(ssl))
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows[0])
    })
}

/// libpq's TLS modes, on the reader's own connections: `disable` is plain, `require` is
/// encrypted, `verify-full` checks the certificate and the host's name against
/// `sslrootcert`, and a server signed by another authority is refused.
#[test]
fn the_reader_keeps_libpqs_tls_rules() {
    let Some(Backend::Postgres(admin)) = Backend::postgres() else {
        return;
    };
    let admin = admin
        .split_once('?')
        .map_or(admin.as_str(), |(base, _)| base)
        .to_owned();
    assert!(!reader_uses_tls(&with_params(&admin, "sslmode=disable")).unwrap());
    match reader_uses_tls(&with_params(&admin, "sslmode=require")) {
        Ok(ssl) => assert!(ssl, "sslmode=require must give a TLS session"),
        Err(err) if err.contains("TLS") || err.contains("SSL") || err.contains("ssl") => {
            figure!("\nSKIPPED: the reader's TLS test (the test server has no TLS: {err})");
            return;
        }
        Err(err) => panic!("sslmode=require failed: {err}"),
    }
    let Ok(root) = std::env::var("TEST_DATABASE_TLS_ROOTCERT") else {
        figure!("\nSKIPPED: the reader's verify-full test (TEST_DATABASE_TLS_ROOTCERT is not set)");
        return;
    };
    let by_name = admin.replacen("@127.0.0.1:", "@localhost:", 1);
    assert!(reader_uses_tls(&with_params(
        &by_name,
        &format!("sslmode=verify-full&sslrootcert={root}")
    ))
    .unwrap());
    assert!(reader_uses_tls(&with_params(&admin, &format!("sslmode=verify-ca&sslrootcert={root}"))).unwrap());

    let stranger = tempfile::tempdir().unwrap();
    let stranger_root = crate::common::stranger_ca(stranger.path());
    for mode in ["verify-full", "verify-ca", "require"] {
        let refused = with_params(
            &by_name,
            &format!("sslmode={mode}&sslrootcert={}", stranger_root.display()),
        );
        let err = reader_uses_tls(&refused).unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{mode}: {err}");
    }
}
