//! The site survives its PostgreSQL server going away: while it is down, pages answer 503
//! and `/readyz` fails (quickly, no hang); when it is back, they recover by themselves.
//! The test runs a PostgreSQL server of its own (Debian's `initdb`/`pg_ctl`) so it can
//! really stop and start it; where those programs are absent it says so in one line.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use oc_lettings::config::{DatabaseUrl, PostgresUrl};
use oc_lettings::db::Database;
use oc_lettings::startup;

/// The directory holding `initdb` and `pg_ctl`: `TEST_PG_BINDIR`, or Debian's newest.
fn pg_bindir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TEST_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A PostgreSQL server in a temporary directory, on a free loopback port.
struct PrivateServer {
    bindir: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if self.as_postgres {
            // PostgreSQL refuses to run as root.
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn init(bindir: PathBuf) -> PrivateServer {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = running_as_root();
        if as_postgres {
            assert!(Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success());
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PrivateServer {
            bindir,
            data: dir.path().join("data"),
            port,
            as_postgres,
            _dir: dir,
        };
        let output = server
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-D"])
            .arg(&server.data)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        server
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.display()
        );
        let output = self
            .command("pg_ctl")
            .args([action, "-w", "-m", "fast", "-o", &options, "-l"])
            .arg(self.data.join("log"))
            .arg("-D")
            .arg(&self.data)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn url(&self) -> DatabaseUrl {
        DatabaseUrl::Postgres(PostgresUrl::new(format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.port
        )))
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-D"])
                .arg(&self.data)
                .output();
        }
    }
}

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
