//! Which database a test runs on. Every integration test runs twice: on SQLite, and on
//! PostgreSQL when `TEST_DATABASE_URL` names a server it may create databases on
//! (`cargo xtask test` provides one when it can). Without it the PostgreSQL variants
//! return at once and the test binary says so in one line.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use diesel::connection::SimpleConnection;
use oc_lettings::config::{DatabaseUrl, PostgresUrl};

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// An administrative URL of a PostgreSQL server; each test gets its own database there.
    Postgres(String),
}

static SKIP_NOTICE: Once = Once::new();

impl Backend {
    /// PostgreSQL from `TEST_DATABASE_URL`, or `None` (noting the skip once per test binary,
    /// straight to stderr so the test harness's capture does not hide it).
    pub fn postgres() -> Option<Backend> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Some(Backend::Postgres(url)),
            _ => {
                SKIP_NOTICE.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "\nSKIPPED: PostgreSQL variants of {} (TEST_DATABASE_URL is not set; `cargo xtask test` sets it when PostgreSQL is available)",
                        std::env::args().next().unwrap_or_default().rsplit('/').next().unwrap_or_default()
                    );
                });
                None
            }
        }
    }
}

/// A database of the test's own, removed when dropped.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `postgres://user:pw@host:port/db?params` with `db` replaced.
pub fn with_database_name(url: &str, name: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((base, params)) => (base, format!("?{params}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{params}", &base[..host_end])
}

impl TestDatabase {
    pub fn new(backend: &Backend) -> TestDatabase {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => TestDatabase {
                url: DatabaseUrl::Sqlite(dir.path().join("site.sqlite3")),
                dir,
                postgres: None,
            },
            Backend::Postgres(admin_url) => {
                let name = format!(
                    "oc_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                let mut admin = oc_lettings::db::connection::establish_postgres(admin_url)
                    .unwrap_or_else(|err| panic!("TEST_DATABASE_URL is set but unusable: {err}"));
                admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                let url = with_database_name(admin_url, &name);
                TestDatabase {
                    url: DatabaseUrl::Postgres(PostgresUrl::new(url)),
                    dir,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// Another handle on `other`'s database (a second instance of a fleet): it does not
    /// drop the database when it goes.
    pub fn reuse(other: &TestDatabase) -> TestDatabase {
        TestDatabase {
            url: other.url.clone(),
            dir: tempfile::tempdir().unwrap(),
            postgres: None,
        }
    }

    /// The URL as `DATABASE_URL` would give it.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.expose().to_owned(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = oc_lettings::db::connection::establish_postgres(admin_url) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Generates, for each named `fn name(backend: Backend)`, a test per backend:
/// `sqlite::name` and `postgres::name`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    (async: $($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )+
        }
        mod postgres {
            $( #[actix_web::test] async fn $name() {
                if let Some(backend) = $crate::common::Backend::postgres() { super::$name(backend).await }
            } )+
        }
    };
    (sync: $($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::common::Backend::Sqlite) } )+
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(backend) = $crate::common::Backend::postgres() { super::$name(backend) }
            } )+
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database_name("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            super::with_database_name("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(super::with_database_name("postgresql://h", "x"), "postgresql://h/x");
    }
}
