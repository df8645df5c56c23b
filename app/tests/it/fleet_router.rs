//! The fleet as production runs it: three instances of the `oc-lettings` binary on one
//! PostgreSQL (a server of the test's own, so it can be restarted), behind nginx as the
//! router (round robin, keep-alive, `max_fails=0` so a restarting instance is retried,
//! never marked down), the way Heroku's router or an ALB sits in front. Under a steady,
//! bounded load it shows: instances started together on an empty database migrate once;
//! a rolling restart fails no request; an admin change is seen on every instance at once;
//! sessions and the login throttle are shared; a PostgreSQL restart gives 503s only while
//! it is down, every instance recovers by itself, and no acknowledged write is lost.
//!
//! The binary is `OC_FLEET_BINARY` when set (`.ci/run` points it at the release build),
//! else the test profile's. Skipped with one line where PostgreSQL's `initdb` or nginx is
//! missing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::common::pg_server::{pg_bindir, PrivateServer};
use crate::common::process::csrf_token;

const SECRET: &str = "fleet-test-signing-value-long-enough-0123456789-abcdef";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn binary() -> PathBuf {
    std::env::var_os("OC_FLEET_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_oc-lettings")))
}

fn nginx() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// One `oc-lettings serve`, its log lines collected.
struct Instance {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn start(port: u16, database_url: &str, dir: &Path) -> Instance {
        let mut child = Command::new(binary())
            .current_dir(dir)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("PORT", port.to_string())
            .env("SECRET_KEY", SECRET)
            .env("ALLOWED_HOSTS", "127.0.0.1,localhost")
            .env("WEB_CONCURRENCY", "1")
            .env("DATABASE_POOL_SIZE", "4")
            .env("PAGE_CACHE_SECONDS", "600")
            .env("TRUSTED_PROXY_COUNT", "1")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,oc_lettings=info")
            .arg("serve")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Access lines are many; keep what the test reads.
                if !line.contains("\"message\":\"request\"") {
                    sink.lock().unwrap().push(line);
                }
            }
        });
        Instance { child, port, log }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self, within: Duration) {
        let client = client();
        let deadline = Instant::now() + within;
        loop {
            if client
                .get(format!("{}/readyz", self.base()))
                .send()
                .is_ok_and(|r| r.status().as_u16() == 200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instance on {} not ready: {:?}",
                self.port,
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigterm_and_wait(&mut self) {
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit after SIGTERM: {status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "still running 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `migrations_applied` and `seeded_demo_data` of its "database ready" line.
    fn preparation(&self) -> (u64, bool) {
        let lines = self.log.lock().unwrap();
        let line = lines
            .iter()
            .find(|l| l.contains("database ready"))
            .unwrap_or_else(|| panic!("no 'database ready' line: {lines:?}"));
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        (
            json["fields"]["migrations_applied"].as_u64().unwrap(),
            json["fields"]["seeded_demo_data"].as_bool().unwrap(),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx as the router: round robin over the instances, keep-alive to them, a refused
/// or reset connection retried on the next instance (idempotent requests).
struct Router {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Router {
    fn start(program: &Path, upstreams: &[u16]) -> Router {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=0;\n"))
            .collect();
        let root = dir.path().display();
        let user = if running_as_root() { "user root root;" } else { "" };
        let config = format!(
            "{user}\nworker_processes 1;\ndaemon off;\n# One process: nothing outlives the test, whatever ends it.\nmaster_process off;\nerror_log {root}/error.log warn;\npid {root}/nginx.pid;\n\
             events {{ worker_connections 2048; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
               fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
               upstream fleet {{\n{servers}    keepalive 64;\n  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://fleet;\n\
                 proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n      proxy_set_header X-Forwarded-Proto http;\n\
                 proxy_next_upstream error timeout;\n      proxy_connect_timeout 2s;\n    }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(program)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let router = Router { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        router
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // SIGTERM first: an nginx with workers stops them before it exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn client() -> reqwest::blocking::Client {
    crate::common::install_crypto();
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(4)
        .build()
        .unwrap()
}

/// What a load saw: answers by status (0: the connection failed), and latencies.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<u16, u64>,
    errors: Vec<String>,
    latencies_ms: Vec<f64>,
    /// (when, status) of each answer, for "only while it was down".
    timeline: Vec<(Instant, u16)>,
}

impl Seen {
    fn total(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn p99_ms(&mut self) -> f64 {
        self.latencies_ms.sort_by(f64::total_cmp);
        let index = (self.latencies_ms.len() * 99 / 100).min(self.latencies_ms.len().saturating_sub(1));
        self.latencies_ms.get(index).copied().unwrap_or(0.0)
    }
}

/// A steady, bounded load: `threads` clients (keep-alive) requesting public pages through
/// the router in a loop until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Load {
    fn start(base: &str, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let paths = [
            "/lettings/",
            "/lettings/1/",
            "/profiles/",
            "/profiles/HeadlinesGazer/",
            "/",
        ];
        let threads = (0..threads)
            .map(|t| {
                let (stop, seen, base) = (stop.clone(), seen.clone(), base.to_owned());
                std::thread::spawn(move || {
                    let client = client();
                    let mut n = t;
                    // Bounded: at most 10 minutes, whatever happens to the test.
                    let deadline = Instant::now() + Duration::from_secs(600);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let path = paths[n % paths.len()];
                        n += 1;
                        let sent = Instant::now();
                        let outcome = client.get(format!("{base}{path}")).send();
                        let took = sent.elapsed().as_secs_f64() * 1000.0;
                        let mut seen = seen.lock().unwrap();
                        match outcome {
                            Ok(response) => {
                                let status = response.status().as_u16();
                                *seen.statuses.entry(status).or_default() += 1;
                                seen.latencies_ms.push(took);
                                seen.timeline.push((Instant::now(), status));
                            }
                            Err(err) => {
                                *seen.statuses.entry(0).or_default() += 1;
                                seen.errors.push(format!("{path}: {err}"));
                                seen.timeline.push((Instant::now(), 0));
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            seen,
            threads,
            started: Instant::now(),
        }
    }

    fn finish(self) -> (Seen, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        let elapsed = self.started.elapsed();
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        (seen, elapsed)
    }
}

fn page_text(client: &reqwest::blocking::Client, url: &str) -> String {
    client.get(url).send().unwrap().text().unwrap()
}

fn log_in(client: &reqwest::blocking::Client, base: &str, password: &str) -> reqwest::blocking::Response {
    let page = client.get(format!("{base}/admin/login/")).send().unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("oc_csrf="))
        .map(|c| c.split(';').next().unwrap().to_owned());
    let html = page.text().unwrap();
    let mut request = client.post(format!("{base}/admin/login/")).form(&[
        ("csrfmiddlewaretoken", csrf_token(&html).as_str()),
        ("username", "boss"),
        ("password", password),
        ("next", "/admin/"),
    ]);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().unwrap()
}

fn session_cookie(response: &reqwest::blocking::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("oc_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie")
}

#[test]
fn three_instances_behind_nginx_survive_restarts_of_themselves_and_of_postgres() {
    let (Some(bindir), Some(nginx)) = (pg_bindir(), nginx()) else {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: fleet test (needs PostgreSQL's initdb/pg_ctl and nginx: apt-get install postgresql nginx)"
        );
        return;
    };
    figure!("fleet: binary {}", binary().display());
    let server = PrivateServer::init(bindir);
    server.pg_ctl("start");
    let database_url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let work = tempfile::tempdir().unwrap();

    // Three instances started at the same moment on an empty database.
    let ports = [free_port(), free_port(), free_port()];
    let mut instances: Vec<Instance> = ports
        .iter()
        .map(|port| Instance::start(*port, &database_url, work.path()))
        .collect();
    for instance in &instances {
        instance.wait_ready(Duration::from_secs(60));
    }
    let preparations: Vec<(u64, bool)> = instances.iter().map(Instance::preparation).collect();
    let migrated: Vec<u64> = preparations.iter().map(|p| p.0).filter(|n| *n > 0).collect();
    assert_eq!(migrated.len(), 1, "exactly one instance migrated: {preparations:?}");
    assert_eq!(
        preparations.iter().filter(|p| p.1).count(),
        1,
        "the demo data was seeded once: {preparations:?}"
    );
    let mut pg = oc_lettings::db::connection::establish_postgres(&database_url).unwrap();
    let lettings: i64 = oc_lettings::db::schema::lettings_letting::table
        .count()
        .get_result(&mut pg)
        .unwrap();
    assert_eq!(lettings, 6, "seeded once, not three times");
    figure!(
        "fleet: 3 instances started together: one applied {} migrations, all serve",
        migrated[0]
    );

    // A staff account for the admin parts.
    let output = Command::new(binary())
        .current_dir(work.path())
        .env_clear()
        .env("DATABASE_URL", &database_url)
        .env("DJANGO_SUPERUSER_PASSWORD", "fleet passphrase")
        .args([
            "createsuperuser",
            "--no-input",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let router = Router::start(&nginx, &ports);

    // A rolling restart under load: each instance in turn gets SIGTERM and a new one
    // takes its place on the same port, as Heroku does at a deploy and every day.
    let load = Load::start(&router.base(), 8);
    std::thread::sleep(Duration::from_secs(2));
    for (index, port) in ports.iter().enumerate() {
        instances[index].sigterm_and_wait();
        instances[index] = Instance::start(*port, &database_url, work.path());
        instances[index].wait_ready(Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (mut seen, elapsed) = load.finish();
    let failed: u64 = seen.statuses.iter().filter(|(s, _)| **s != 200).map(|(_, n)| n).sum();
    let p99 = seen.p99_ms();
    figure!(
        "fleet: rolling restart under load: {} requests in {:.1} s ({:.0} req/s through nginx), p99 {:.1} ms, answers {:?}",
        seen.total(),
        elapsed.as_secs_f64(),
        seen.total() as f64 / elapsed.as_secs_f64(),
        p99,
        seen.statuses
    );
    assert_eq!(
        failed,
        0,
        "failed requests: {:?} {:?}",
        seen.statuses,
        &seen.errors[..seen.errors.len().min(5)]
    );
    assert!(seen.total() > 100, "the load ran");

    // The public pages read through each instance's async reader: at most its budget of
    // connections per instance (1 worker × DATABASE_READ_CONNECTIONS=2 here), none left
    // behind by the instances that were replaced.
    #[derive(diesel::QueryableByName)]
    struct Readers {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count_readers = |pg: &mut oc_lettings::db::PgConnection| -> i64 {
        diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'oc-lettings-reader'")
            .get_result::<Readers>(pg)
            .unwrap()
            .n
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut readers = count_readers(&mut pg);
    while readers > 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        readers = count_readers(&mut pg);
    }
    figure!("fleet: reader connections after the restarts: {readers} (budget 3 instances × 1 worker × 2)");
    assert!((1..=6).contains(&readers), "{readers} reader connections");

    // A session made on one instance is valid on the others.
    let browser = client();
    let logged_in = log_in(&browser, &instances[0].base(), "fleet passphrase");
    assert_eq!(logged_in.status().as_u16(), 302);
    let session = session_cookie(&logged_in);
    for instance in &instances {
        let response = browser
            .get(format!("{}/admin/", instance.base()))
            .header("cookie", &session)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "the session on port {}", instance.port);
    }

    // An admin change on one instance is on every instance's pages at once (their caches
    // last 600 s).
    for instance in &instances {
        let html = page_text(&browser, &format!("{}/lettings/1/", instance.base()));
        assert!(html.contains("Joshua Tree Green Haus"), "cached before the change");
    }
    let admin_page = browser
        .get(format!("{}/admin/", instances[1].base()))
        .header("cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = csrf_token(&admin_page);
    let saved = browser
        .post(format!("{}/admin/lettings/letting/1/change/", instances[1].base()))
        .header("cookie", &session)
        .form(&[
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("title", "Changed on one instance"),
            ("address", "1"),
        ])
        .send()
        .unwrap();
    assert_eq!(saved.status().as_u16(), 302);
    let written = Instant::now();
    for instance in &instances {
        loop {
            let html = page_text(&browser, &format!("{}/lettings/1/", instance.base()));
            if html.contains("Changed on one instance") {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(2),
                "port {} still serves the old page",
                instance.port
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    figure!(
        "fleet: an admin change was on all 3 instances' pages {:.0} ms after it was acknowledged",
        written.elapsed().as_secs_f64() * 1000.0
    );

    // The login throttle counts across instances (requests spread by the router).
    let guesser = client();
    for _ in 0..5 {
        assert_eq!(log_in(&guesser, &router.base(), "wrong").status().as_u16(), 200);
    }
    assert_eq!(log_in(&guesser, &router.base(), "wrong").status().as_u16(), 429);

    // PostgreSQL restarted mid-load: 503s only while it is down, then every instance
    // recovers by itself; every acknowledged write is still there.
    let load = Load::start(&router.base(), 8);
    std::thread::sleep(Duration::from_secs(1));
    let mut acknowledged = Vec::new();
    let add = |n: u32| {
        browser
            .post(format!("{}/admin/lettings/address/add/", router.base()))
            .header("cookie", &session)
            .form(&[
                ("csrfmiddlewaretoken", csrf.as_str()),
                ("number", &n.to_string()),
                ("street", &format!("Acknowledged Street {n}")),
                ("city", "Irvine"),
                ("state", "CA"),
                ("zip_code", "92602"),
                ("country_iso_code", "USA"),
            ])
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    for n in 0..3 {
        if add(n) == 302 {
            acknowledged.push(n);
        }
    }
    server.pg_ctl("stop");
    let down = Instant::now();
    for n in 3..6 {
        let status = add(n);
        assert!(
            status == 503 || status == 302,
            "a write while the database is down: {status}"
        );
        if status == 302 {
            acknowledged.push(n);
        }
    }
    std::thread::sleep(Duration::from_secs(3).saturating_sub(down.elapsed()));
    server.pg_ctl("start");
    let up = Instant::now();
    for instance in &instances {
        instance.wait_ready(Duration::from_secs(30));
    }
    let recovered = Instant::now();
    for n in 6..9 {
        assert_eq!(add(n), 302, "writes work again");
        acknowledged.push(n);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (mut seen, _) = load.finish();
    let late_failures: Vec<u16> = seen
        .timeline
        .iter()
        .filter(|(when, status)| *when > recovered + Duration::from_millis(500) && *status != 200)
        .map(|(_, status)| *status)
        .collect();
    let p99 = seen.p99_ms();
    figure!(
        "fleet: PostgreSQL down {:.1} s under load: answers {:?}, all instances ready {:.1} s after it was back, p99 {:.0} ms",
        (up - down).as_secs_f64(),
        seen.statuses,
        (recovered - up).as_secs_f64(),
        p99
    );
    assert!(
        seen.statuses.keys().all(|s| *s == 200 || *s == 503),
        "only 503s while it was down, never a 500 or a dropped connection: {:?} {:?}",
        seen.statuses,
        &seen.errors[..seen.errors.len().min(5)]
    );
    assert!(late_failures.is_empty(), "failures after recovery: {late_failures:?}");
    let mut pg = oc_lettings::db::connection::establish_postgres(&database_url).unwrap();
    for n in acknowledged {
        let found: i64 = oc_lettings::db::schema::lettings_address::table
            .filter(oc_lettings::db::schema::lettings_address::street.eq(format!("Acknowledged Street {n}")))
            .count()
            .get_result(&mut pg)
            .unwrap();
        assert_eq!(found, 1, "acknowledged write {n} lost");
    }
}
