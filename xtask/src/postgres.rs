//! A PostgreSQL server for the PostgreSQL half of the test suite:
//! `TEST_DATABASE_URL` when set; otherwise a throwaway container started with
//! testcontainers when a Docker daemon answers and the image can be had; otherwise none,
//! said in one line (the tests then run on SQLite only).

use std::process::Command;

use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, ImageExt};

/// The image built by `../shared/tools/postgres-image/build` on machines that cannot pull.
const LOCAL_IMAGE: (&str, &str) = ("postgres", "15-local");
/// The official image, where it can be pulled.
const OFFICIAL_IMAGE: (&str, &str) = ("postgres", "16-alpine");

pub enum TestPostgres {
    /// The developer's or CI's own server.
    External(String),
    /// A container this run started; removed when dropped.
    Container {
        url: String,
        _container: Box<Container<Postgres>>,
    },
    /// None to be had, and why.
    Unavailable(String),
}

impl TestPostgres {
    pub fn url(&self) -> Option<&str> {
        match self {
            TestPostgres::External(url) | TestPostgres::Container { url, .. } => Some(url),
            TestPostgres::Unavailable(_) => None,
        }
    }

    /// One line saying what the PostgreSQL tests run against.
    pub fn describe(&self) -> String {
        match self {
            TestPostgres::External(url) => {
                format!("PostgreSQL tests: TEST_DATABASE_URL ({})", redact(url))
            }
            TestPostgres::Container { url, .. } => {
                format!("PostgreSQL tests: throwaway container at {}", redact(url))
            }
            TestPostgres::Unavailable(why) => format!("PostgreSQL tests: SKIPPED ({why})"),
        }
    }
}

/// `host:port/db` of a URL, without credentials.
/// `postgres://user:pw@host:port/db?params` with `db` replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((base, params)) => (base, format!("?{params}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{params}", &base[..host_end])
}

pub fn redact(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// `name:tag` from `TEST_POSTGRES_IMAGE`, else the local image when present, else the official one.
fn image() -> (String, String) {
    if let Ok(spec) = std::env::var("TEST_POSTGRES_IMAGE") {
        if let Some((name, tag)) = spec.rsplit_once(':') {
            return (name.to_owned(), tag.to_owned());
        }
        return (spec, "latest".to_owned());
    }
    let local = format!("{}:{}", LOCAL_IMAGE.0, LOCAL_IMAGE.1);
    let present = Command::new("docker")
        .args(["image", "inspect", &local])
        .output()
        .is_ok_and(|out| out.status.success());
    let (name, tag) = if present { LOCAL_IMAGE } else { OFFICIAL_IMAGE };
    (name.to_owned(), tag.to_owned())
}

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|out| out.status.success())
}

pub fn provide(dry_run: bool) -> TestPostgres {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        if !url.trim().is_empty() {
            return TestPostgres::External(url);
        }
    }
    if dry_run {
        return TestPostgres::Unavailable("dry run: no container started".into());
    }
    if !docker_answers() {
        return TestPostgres::Unavailable(
            "no TEST_DATABASE_URL and no Docker daemon answering; set TEST_DATABASE_URL=postgres://… to run them"
                .into(),
        );
    }
    let (name, tag) = image();
    println!("==> postgres: starting {name}:{tag} with testcontainers");
    let started = std::time::Instant::now();
    match Postgres::default()
        .with_name(name.clone())
        .with_tag(tag.clone())
        .start()
    {
        Ok(container) => match container.get_host_port_ipv4(5432) {
            Ok(port) => {
                println!("<== postgres: ready in {:.1}s", started.elapsed().as_secs_f64());
                TestPostgres::Container {
                    url: format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
                    _container: Box::new(container),
                }
            }
            Err(err) => TestPostgres::Unavailable(format!("the {name}:{tag} container exposes no port: {err}")),
        },
        Err(err) => TestPostgres::Unavailable(format!(
            "cannot start {name}:{tag} ({}); set TEST_POSTGRES_IMAGE or TEST_DATABASE_URL",
            one_line(&err.to_string())
        )),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_credentials_and_parameters() {
        assert_eq!(redact("postgres://u:secret@h:5432/db?sslmode=require"), "h:5432/db");
        assert_eq!(redact("postgres://h/db"), "h/db");
    }
}

#[cfg(test)]
mod database_name_tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h/db?sslmode=require", "x"),
            "postgres://h/x?sslmode=require"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
    }
}
