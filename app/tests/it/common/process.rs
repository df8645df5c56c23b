//! The real binary as a child process (`oc-lettings serve` on a free port, its log lines
//! collected), a loopback server posing as Sentry's ingest endpoint, and admin log-in helpers.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SECRET: &str = "Zq8-operations-test-signing-value-long-enough-0123456789";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<Vec<String>>>,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_with(env, |_| {})
    }

    /// Starts `oc-lettings serve` on a free port; `prepare` runs commands in its directory first.
    pub fn start_with(env: &[(&str, &str)], prepare: impl FnOnce(&std::path::Path)) -> Server {
        Server::start_binary(std::path::Path::new(env!("CARGO_BIN_EXE_oc-lettings")), env, prepare)
    }

    /// As [`Server::start_with`], with another build of the binary (the release build).
    pub fn start_binary(
        binary: &std::path::Path,
        env: &[(&str, &str)],
        prepare: impl FnOnce(&std::path::Path),
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let mut child = Command::new(binary)
            .current_dir(dir.path())
            .env("DATABASE_URL", "sqlite://site.sqlite3")
            .env("PORT", "0")
            .env("SECRET_KEY", SECRET)
            .env("ALLOWED_HOSTS", "127.0.0.1")
            .env("WEB_CONCURRENCY", "1")
            .env_remove("DEBUG")
            .env_remove("SENTRY_DSN")
            .env_remove("LOG_FORMAT")
            .envs(env.iter().copied())
            .arg("serve")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("the server logs its address").unwrap();
            log.lock().unwrap().push(line.clone());
            if let Some(at) = line.find("http://127.0.0.1:") {
                let rest = &line[at..];
                break rest
                    .split(|c: char| c == '"' || c.is_whitespace())
                    .next()
                    .unwrap()
                    .to_owned();
            }
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, base, log, dir }
    }

    pub fn sigterm(&self) {
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn blocking() -> reqwest::blocking::Client {
    super::install_crypto();
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A loopback server posing as Sentry's ingest endpoint: it records every envelope.
pub struct FakeSentry {
    pub port: u16,
    pub envelopes: Arc<Mutex<Vec<String>>>,
}

impl FakeSentry {
    pub fn start() -> FakeSentry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let envelopes = Arc::new(Mutex::new(Vec::new()));
        let sink = envelopes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if request_line.starts_with("POST /api/1/envelope/") {
                    sink.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                }
                let mut stream = reader.into_inner();
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
            }
        });
        FakeSentry { port, envelopes }
    }

    pub fn dsn(&self) -> String {
        format!("http://publickey@127.0.0.1:{}/1", self.port)
    }

    /// Waits up to 15 s for an envelope containing `needle`.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(found) = self.envelopes.lock().unwrap().iter().find(|e| e.contains(needle)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no Sentry envelope mentions {needle:?}: {:?}",
                self.envelopes.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub fn create_superuser(dir: &std::path::Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
        .current_dir(dir)
        .env("DATABASE_URL", "sqlite://site.sqlite3")
        .env("DJANGO_SUPERUSER_PASSWORD", "an operations passphrase")
        .args([
            "createsuperuser",
            "--no-input",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

impl Server {
    /// Waits up to 5 s for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no log line mentions {needle:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// The login form's CSRF token for `client` (its cookie is kept by the client).
pub fn login_csrf(client: &reqwest::blocking::Client, base: &str) -> String {
    let page = client
        .get(format!("{base}/admin/login/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    csrf_token(&page)
}

/// Logs `client` in as `username`, returns the admin index's HTML.
pub fn log_in(client: &reqwest::blocking::Client, base: &str, username: &str, password: &str) {
    let login = client
        .get(format!("{base}/admin/login/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let form = [
        ("csrfmiddlewaretoken", csrf_token(&login)),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
        ("next", "/admin/".to_owned()),
    ];
    let response = client.post(format!("{base}/admin/login/")).form(&form).send().unwrap();
    assert_eq!(response.status().as_u16(), 302, "logged in as {username}");
}
