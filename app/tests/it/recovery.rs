//! The site survives its PostgreSQL server going away: while it is down, pages answer 503
//! and `/readyz` fails (quickly, no hang); when it is back, they recover by themselves —
//! the public pages (the async reader) and `/readyz` (the pool, which here serves nothing
//! else: its dead connection must be found out, not reused forever).
//! The test runs a PostgreSQL server of its own (Debian's `initdb`/`pg_ctl`) so it can
//! really stop and start it; where those programs are absent it says so in one line.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use oc_lettings::db::Database;
use oc_lettings::startup;

use crate::common::pg_server::{pg_bindir, PrivateServer};

async fn status(client: &reqwest::Client, url: &str) -> u16 {
    client.get(url).send().await.unwrap().status().as_u16()
}

#[actix_web::test]
async fn pages_answer_503_while_postgres_is_down_and_recover_when_it_is_back() {
    let Some(bindir) = pg_bindir() else {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: PostgreSQL recovery test (no initdb/pg_ctl; install postgresql or set TEST_PG_BINDIR)"
        );
        return;
    };
    let server = PrivateServer::init(bindir);
    server.pg_ctl("start");

    let db = Database::with_acquire_timeout(&server.url(), 2, Duration::from_secs(1)).unwrap();
    startup::prepare_database(&db, true).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut env = std::collections::HashMap::new();
    env.insert("DATABASE_URL", "postgres://unused@127.0.0.1/unused".to_owned());
    env.insert("SECRET_KEY", "x".repeat(50));
    env.insert("WEB_CONCURRENCY", "1".to_owned());
    env.insert("ALLOWED_HOSTS", "127.0.0.1".to_owned());
    let settings = oc_lettings::config::Settings::from_lookup(|name| env.get(name).cloned()).unwrap();
    actix_web::rt::spawn(startup::build_server(settings, db, listener).unwrap());
    let client = crate::common::client();

    assert_eq!(status(&client, &format!("{base}/lettings/")).await, 200);
    assert_eq!(status(&client, &format!("{base}/readyz")).await, 200);

    server.pg_ctl("stop");
    let started = Instant::now();
    assert_eq!(status(&client, &format!("{base}/lettings/1/")).await, 503);
    assert_eq!(status(&client, &format!("{base}/readyz")).await, 503);
    assert_eq!(
        status(&client, &format!("{base}/healthz")).await,
        200,
        "liveness does not depend on the database"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a down database must not hang requests"
    );

    server.pg_ctl("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&client, &format!("{base}/readyz")).await != 200 {
        assert!(Instant::now() < deadline, "the site did not recover within 30 s");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let response = client.get(format!("{base}/lettings/1/")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("7217 Bedford Street"));
}
