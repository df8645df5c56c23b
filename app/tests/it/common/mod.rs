//! Test helpers: the real server on a random loopback port, over a fresh database.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod backend;
pub mod browser;
pub mod pg_server;
pub mod process;

pub use backend::{Backend, TestDatabase};

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use std::time::Duration;

use oc_lettings::config::{DatabaseUrl, PostgresUrl, Settings};
use oc_lettings::db::Database;
use oc_lettings::startup;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Database,
    pub database: TestDatabase,
}

/// The test site's settings: behind one proxy (as on Heroku), so a test can say which
/// client a request comes from with `X-Forwarded-For`.
/// The SECRET_KEY of every test site unless it says otherwise.
pub const TEST_SECRET_KEY: &str = "test-secret-key-test-secret-key-test-secret-key";

pub fn settings_for(database: &TestDatabase) -> Settings {
    settings_with(database, &[])
}

/// As [`settings_for`], with some settings changed.
pub fn settings_with(database: &TestDatabase, extra: &[(&str, &str)]) -> Settings {
    let mut env = HashMap::new();
    env.insert("TRUSTED_PROXY_COUNT", "1".to_owned());
    for (name, value) in extra {
        env.insert(*name, (*value).to_owned());
    }
    env.insert("DATABASE_URL", database.url_string());
    env.entry("SECRET_KEY").or_insert_with(|| TEST_SECRET_KEY.to_owned());
    env.insert("WEB_CONCURRENCY", "1".to_owned());
    env.entry("ALLOWED_HOSTS").or_insert_with(|| "127.0.0.1".to_owned());
    Settings::from_lookup(|name| env.get(name).cloned()).unwrap()
}

/// reqwest's TLS is rustls without a built-in crypto provider (the workspace's one TLS
/// stack uses ring): install it before any client is built.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client that shows redirects instead of following them, and never decompresses.
pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A migrated database of the test's own, seeded with the demo data or empty.
pub fn prepared_database(backend: &Backend, seed: bool) -> (TestDatabase, Database) {
    let database = TestDatabase::new(backend);
    let db = Database::new(&database.url, 4).unwrap();
    startup::prepare_database(&db, seed).unwrap();
    (database, db)
}

/// Starts the site on 127.0.0.1:0 over a new database, seeded with the demo data or empty.
pub async fn spawn_app(backend: &Backend, seed: bool) -> TestApp {
    let (database, db) = prepared_database(backend, seed);
    spawn_with(database, db)
}

/// Starts the site over a database that cannot be reached: a SQLite path that is a
/// directory, or a PostgreSQL port where nothing listens.
pub async fn spawn_app_with_broken_db(backend: &Backend) -> TestApp {
    let database = TestDatabase::new(backend);
    let url = match backend {
        Backend::Sqlite => {
            let path = database.dir.path().join("is-a-directory");
            std::fs::create_dir(&path).unwrap();
            DatabaseUrl::Sqlite(path)
        }
        Backend::Postgres(_) => {
            let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            DatabaseUrl::Postgres(PostgresUrl::new(format!("postgres://nobody@127.0.0.1:{closed}/none")))
        }
    };
    let db = Database::with_acquire_timeout(&url, 2, Duration::from_millis(500)).unwrap();
    spawn_with(database, db)
}

/// Starts a second site on the same database (another instance of a fleet), or one with
/// some settings changed.
pub fn spawn_on(database: TestDatabase, db: Database, extra: &[(&str, &str)]) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = startup::build_server(settings_with(&database, extra), db.clone(), listener).unwrap();
    actix_web::rt::spawn(server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: client(),
        db,
        database,
    }
}

fn spawn_with(database: TestDatabase, db: Database) -> TestApp {
    spawn_on(database, db, &[])
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.address, path))
            .send()
            .await
            .unwrap()
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.client
            .head(format!("{}{}", self.address, path))
            .send()
            .await
            .unwrap()
    }

    /// GET with extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{}", self.address, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// GET a page: asserts 200 HTML and returns the body.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8",
            "GET {path}"
        );
        response.text().await.unwrap()
    }
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The text of the first `<tag …>…</tag>` in `html`.
pub fn element_text(html: &str, tag: &str) -> String {
    let open = html
        .find(&format!("<{tag}"))
        .unwrap_or_else(|| panic!("no <{tag}> in page"));
    let start = open + html[open..].find('>').unwrap() + 1;
    let end = start + html[start..].find(&format!("</{tag}>")).unwrap();
    html[start..end].trim().to_owned()
}

/// Every `(href, text)` of the `<a href="…">text</a>` links in `html`.
pub fn links_in(html: &str) -> Vec<(String, String)> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|chunk| {
            let (href, rest) = chunk.split_once('"')?;
            let text = rest.split_once('>')?.1.split_once("</a>")?.0;
            Some((href.to_owned(), text.to_owned()))
        })
        .collect()
}

/// The `(href, text)` links of the block that starts at `marker` and ends at `end`.
pub fn links_between(html: &str, marker: &str, end: &str) -> Vec<(String, String)> {
    let Some(start) = html.find(marker) else {
        return Vec::new();
    };
    let stop = html[start..].find(end).map_or(html.len(), |i| start + i);
    links_in(&html[start..stop])
}

/// Every `(href, text)` of the links inside `<ul class="list-flush">`.
pub fn list_links(html: &str) -> Vec<(String, String)> {
    links_between(html, "<ul class=\"list-flush\">", "</ul>")
}

/// The original Django site's databases (copied from the shared fixtures, so a fresh clone
/// tests on its own), as a private copy the test may open or change freely.
pub fn django_fixture(name: &str, dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/django")
        .join(name);
    let copy = dir.join(name);
    std::fs::copy(&source, &copy).unwrap();
    let mut permissions = std::fs::metadata(&copy).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&copy, permissions).unwrap();
    copy
}

/// `url` with `params` (`a=1&b=2`) added to its query string.
pub fn with_params(url: &str, params: &str) -> String {
    format!("{url}{}{params}", if url.contains('?') { '&' } else { '?' })
}

/// A certificate authority of its own, in `dir`, that signed nothing the test servers
/// present: its certificate's path (for `sslrootcert`).
pub fn stranger_ca(dir: &Path) -> PathBuf {
    let root = dir.join("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=stranger",
        ])
        .arg("-keyout")
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&root)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    root
}
