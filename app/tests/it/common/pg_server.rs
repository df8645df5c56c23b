//! A PostgreSQL server of the test's own (Debian's `initdb`/`pg_ctl`, in a temporary
//! directory, on a free loopback port), so a test can really stop and start it.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use oc_lettings::config::{DatabaseUrl, PostgresUrl};

/// The directory holding `initdb` and `pg_ctl`: `TEST_PG_BINDIR`, or Debian's newest.
pub fn pg_bindir() -> Option<PathBuf> {
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
pub struct PrivateServer {
    bindir: PathBuf,
    data: PathBuf,
    pub port: u16,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    pub fn command(&self, program: &str) -> Command {
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

    pub fn init(bindir: PathBuf) -> PrivateServer {
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

    pub fn pg_ctl(&self, action: &str) {
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

    pub fn url(&self) -> DatabaseUrl {
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
