//! `cargo xtask bench`: the site's speed, memory and start-up, measured on loopback with
//! wrk against nginx serving the very same bytes on another port in the same run (the
//! ratio app/nginx is the figure that holds on a shared machine). Writes bench/RESULTS.md.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::runner::{workspace_root, Runner};

mod report;
mod scale;
mod soak;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Seconds of load on each URL, for each server.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent connections (keep-alive).
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Where to write the results.
    #[arg(long, default_value = "bench/RESULTS.md")]
    pub output: PathBuf,
    /// The static binary's allocator, for an allocator trial (default: the image's own,
    /// `docker::STATIC_FEATURES`).
    #[arg(long, value_enum)]
    pub allocator: Option<Allocator>,
    /// Instead of the page table: a soak of this many seconds (mixed load on the shipped
    /// binary, RSS sampled every 2 s), written to bench/SOAK.md.
    #[arg(long, value_name = "SECONDS")]
    pub soak: Option<u64>,
    /// Instead of the page table: the scale benchmark with this many rows per table
    /// (repeat for several sizes), written to bench/SCALE.md.
    #[arg(long, value_name = "ROWS")]
    pub scale: Vec<u64>,
    /// With --scale: seconds of wrk on each page (one connection; twice that for the
    /// 64-connection runs).
    #[arg(long, default_value_t = 3)]
    pub probe_seconds: u64,
    /// With --scale: measure this binary instead of building the shipped one.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

/// A global allocator of the static binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Allocator {
    /// musl's own malloc (mallocng)
    Musl,
    Mimalloc,
    Jemalloc,
}

impl Allocator {
    fn features(self) -> &'static str {
        match self {
            Allocator::Musl => "",
            Allocator::Mimalloc => "mimalloc",
            Allocator::Jemalloc => "jemalloc",
        }
    }
}

/// A binary measured: the static one the image ships, or the glibc build for reference.
pub struct Binary {
    /// `static musl, mimalloc (shipped)`
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Builds the static binary (as `cargo xtask docker build` does) and, unless `static_only`,
/// the glibc release build; copies each under target/bench so a later build does not
/// change them mid-run.
pub fn build_binaries(runner: &Runner, allocator: Option<Allocator>, static_only: bool) -> Result<Vec<Binary>> {
    if !runner.dry_run {
        crate::docker::check_static_toolchain(runner, crate::arch::Arch::Amd64)
            .context("the bench measures the image's static binary")?;
    }
    let features = allocator.map_or(crate::docker::STATIC_FEATURES, Allocator::features);
    let shipped = features == crate::docker::STATIC_FEATURES;
    let static_path = crate::docker::static_binary(runner, features, crate::arch::Arch::Amd64)?;
    let mut binaries = vec![(static_path, "static".to_owned())];
    if !static_only {
        let mut build = runner.cargo();
        build.args(["build", "--release", "--locked", "--package", "oc-lettings"]);
        runner.run("glibc release binary (reference)", &mut build)?;
        binaries.push((workspace_root().join("target/release/oc-lettings"), "glibc".to_owned()));
    }
    if runner.dry_run {
        return Ok(Vec::new());
    }
    let dir = workspace_root().join("target/bench-bin");
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    for (path, kind) in binaries {
        let copy = dir.join(format!("oc-lettings-{kind}"));
        std::fs::copy(&path, &copy).with_context(|| format!("cannot copy {}", path.display()))?;
        let version = runner.capture("--version", Command::new(&copy).arg("--version"))?;
        let allocator = version
            .split("allocator ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or("unknown")
            .to_owned();
        let name = if kind == "static" && allocator == "system" {
            "static musl, musl's malloc".to_owned()
        } else if kind == "static" {
            format!("static musl, {allocator}{}", if shipped { " (shipped)" } else { "" })
        } else {
            format!("glibc, {allocator} malloc (reference)")
        };
        let bytes = std::fs::metadata(&copy)?.len();
        out.push(Binary {
            name,
            path: copy,
            bytes,
        });
    }
    Ok(out)
}

/// A binary given with `--binary`, named by its `--version`.
fn given_binary(runner: &Runner, path: &Path) -> Result<Binary> {
    let version = runner.capture("--version", Command::new(path).arg("--version"))?;
    Ok(Binary {
        name: format!("{} ({})", path.display(), version.trim()),
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// (label, path, Accept-Encoding)
const URLS: &[(&str, &str, Option<&str>)] = &[
    ("index", "/", None),
    ("lettings", "/lettings/", None),
    ("letting", "/lettings/1/", None),
    ("profiles", "/profiles/", None),
    ("profile", "/profiles/HeadlinesGazer/", None),
    ("css (br)", "CSS", Some("br")),
    ("404", "/no-such-page/", None),
];

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One GET over a fresh connection; (status, headers, body).
fn fetch(port: u16, path: &str, accept_encoding: Option<&str>) -> Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let encoding = accept_encoding
        .map(|e| format!("Accept-Encoding: {e}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{encoding}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    split_response(&raw)
}

/// A whole HTTP/1.1 response as read off a closed connection: (status, head, body).
fn split_response(raw: &[u8]) -> Result<(u16, String, Vec<u8>)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, head, raw[split + 4..].to_vec()))
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How the site runs for one series of measurements.
#[derive(Debug, Clone)]
struct Setup {
    database_url: String,
    /// PAGE_CACHE_SECONDS
    cache_seconds: u64,
    /// DATABASE_READ_CONNECTIONS, when not the default.
    read_connections: Option<u32>,
}

impl Setup {
    fn sqlite(cache_seconds: u64) -> Setup {
        Setup {
            database_url: "sqlite://bench.sqlite3".to_owned(),
            cache_seconds,
            read_connections: None,
        }
    }
}

fn start_app(binary: &Path, dir: &Path, port: u16) -> Result<Process> {
    start_app_with(binary, dir, port, &Setup::sqlite(2))
}

fn start_app_with(binary: &Path, dir: &Path, port: u16, setup: &Setup) -> Result<Process> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("app.log"))?;
    let child = Command::new(binary)
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("SECRET_KEY", "bench-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz")
        .env("ALLOWED_HOSTS", "127.0.0.1")
        .env("DATABASE_URL", &setup.database_url)
        .env("PAGE_CACHE_SECONDS", setup.cache_seconds.to_string())
        .env("TRUSTED_PROXY_COUNT", "1")
        .env("LOG_FORMAT", "json")
        .envs(
            setup
                .read_connections
                .map(|n| ("DATABASE_READ_CONNECTIONS", n.to_string())),
        )
        .env_remove("DEBUG")
        .env_remove("SENTRY_DSN")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start the site")?;
    Ok(Process(child))
}

/// Launch to the first 200 on `/`.
fn time_to_first_200(binary: &Path, dir: &Path) -> Result<Duration> {
    let port = free_port()?;
    let started = Instant::now();
    let _app = start_app(binary, dir, port)?;
    let deadline = started + Duration::from_secs(20);
    loop {
        if let Ok((200, _, _)) = fetch(port, "/", None) {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!(
                "the site did not answer within 20 s (see {})",
                dir.join("app.log").display()
            );
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

#[derive(Debug, Default, Clone)]
struct Load {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn parse_duration_ms(text: &str) -> f64 {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Reads wrk's `--latency` report.
fn parse_wrk(output: &str, expect_status: u16) -> Load {
    let mut load = Load::default();
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            load.requests_per_sec = rest.trim().parse().unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("50%") {
            load.p50_ms = parse_duration_ms(rest);
        } else if let Some(rest) = line.strip_prefix("99%") {
            load.p99_ms = parse_duration_ms(rest);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            if expect_status < 400 {
                load.errors += rest.trim().parse::<u64>().unwrap_or(0);
            }
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            load.errors += rest
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    load
}

fn wrk(runner: &Runner, port: u16, path: &str, encoding: Option<&str>, args: &BenchArgs, expect: u16) -> Result<Load> {
    let mut command = runner.command("wrk");
    command.args([
        "-t2",
        &format!("-c{}", args.connections),
        &format!("-d{}s", args.duration),
        "--latency",
    ]);
    if let Some(encoding) = encoding {
        command.args(["-H", &format!("Accept-Encoding: {encoding}")]);
    }
    command.arg(format!("http://127.0.0.1:{port}{path}"));
    let output = runner.capture("wrk", &mut command)?;
    Ok(parse_wrk(&output, expect))
}

/// A memory figure of `/proc/<pid>/status` in KiB: `VmHWM` (peak) or `VmRSS` (now).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| format!(", {:.0} GiB", kib as f64 / 1_048_576.0));
    format!("{cpu}, {cores} cores{memory}")
}

const NGINX_CONF: &str = "worker_processes WORKERS;
daemon off;
pid PREFIX/nginx.pid;
error_log PREFIX/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path PREFIX/tmp; proxy_temp_path PREFIX/tmp; fastcgi_temp_path PREFIX/tmp;
  uwsgi_temp_path PREFIX/tmp; scgi_temp_path PREFIX/tmp;
  types { text/html html; text/css css; }
  server {
    listen 127.0.0.1:PORT;
    root PREFIX/root;
    index index.html;
    error_page 404 /404.html;
    location = /404.html { internal; }
  }
}
";

/// Everything measured for one binary.
struct Measured {
    binary: Binary,
    series: Vec<Series>,
    cold_start: Duration,
    /// VmHWM under the 64-connection load (SQLite, cache on).
    rss_kib: Option<u64>,
    many: (Load, u64),
    fleet: Option<Load>,
    /// `/lettings/1/` on PostgreSQL over TLS, cache off (the shipped binary only).
    tls: Option<Result<Load, String>>,
    /// `/lettings/1/` on PostgreSQL, cache off, the async reader off: every read through
    /// the blocking pool (the shipped binary only).
    pool: Option<Load>,
}

/// `cargo xtask bench`
pub fn run(runner: &Runner, args: &BenchArgs) -> Result<()> {
    for tool in ["wrk", "nginx"] {
        if runner
            .capture(tool, runner.command("sh").args(["-c", &format!("command -v {tool}")]))
            .is_err()
        {
            bail!("bench: missing tool {tool} (apt-get install {tool})");
        }
    }
    if !args.scale.is_empty() {
        let binary = match &args.binary {
            Some(path) => given_binary(runner, path)?,
            None => match build_binaries(runner, args.allocator, true)?.into_iter().next() {
                Some(binary) => binary,
                None => return Ok(()),
            },
        };
        let output = if args.output == Path::new("bench/RESULTS.md") {
            PathBuf::from("bench/SCALE.md")
        } else {
            args.output.clone()
        };
        return scale::run(runner, &binary, &args.scale, args.probe_seconds, &output);
    }
    if let Some(seconds) = args.soak {
        let binaries = build_binaries(runner, args.allocator, true)?;
        return match binaries.into_iter().next() {
            Some(binary) => soak::run(runner, &binary, seconds),
            None => Ok(()),
        };
    }
    let binaries = build_binaries(runner, args.allocator, false)?;
    if runner.dry_run {
        return Ok(());
    }
    let dir = workspace_root().join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    // The bytes nginx serves are the shipped binary's own.
    let (urls, prefix) = {
        let app_port = free_port()?;
        let _app = start_app(&binaries[0].path, &dir, app_port)?;
        wait_for(app_port, "/healthz", "the site")?;
        nginx_root(&dir, app_port)?
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let nginx_port = free_port()?;
    let conf = NGINX_CONF
        .replace("PREFIX", &prefix.to_string_lossy())
        .replace("PORT", &nginx_port.to_string())
        .replace("WORKERS", &workers.to_string());
    std::fs::write(prefix.join("nginx.conf"), conf)?;
    let _nginx = start_nginx(&prefix)?;
    wait_for(nginx_port, "/", "nginx")?;

    let postgres = crate::postgres::provide(runner.dry_run);
    let database = bench_database(runner, &postgres);
    let postgres_note = match &database {
        Ok(_) => format!(
            "PostgreSQL: {}, database `oc_bench`, over plain TCP (`sslmode=disable`, loopback like nginx; TLS measured once, below)",
            postgres.describe()
        ),
        Err(why) => {
            println!("PostgreSQL half skipped: {why}");
            format!("PostgreSQL: not measured ({why})")
        }
    };
    let measured = measure_all(runner, binaries, &dir, &urls, args, database.as_ref().ok(), nginx_port)?;
    // The nginx column: its runs beside the SQLite, cache on series (every URL).
    let baseline: Vec<Load> = measured[0]
        .series
        .iter()
        .find(|s| s.name == SQLITE_ON)
        .map(|s| s.nginx.iter().map(|l| l.clone().unwrap_or_default()).collect())
        .unwrap_or_default();

    let image = runner
        .capture(
            "image size",
            runner
                .command("docker")
                .args(["image", "inspect", "--format", "{{.Size}}", "oc-lettings:latest"]),
        )
        .ok()
        .and_then(|s| s.parse::<f64>().ok());

    let report = report::write(&report::Inputs {
        args,
        workers,
        postgres_note: &postgres_note,
        urls: &urls,
        baseline: &baseline,
        measured: &measured,
        image_bytes: image,
    })?;
    let output = workspace_root().join(&args.output);
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&output, report)?;
    println!("wrote {}", output.display());
    Ok(())
}

/// Fetches every URL from the site on `app_port` and writes those bytes into a web root
/// for nginx; returns the URLs and nginx's prefix.
fn nginx_root(dir: &Path, app_port: u16) -> Result<(Vec<Url>, PathBuf)> {
    let (_, _, index) = fetch(app_port, "/", None)?;
    let html = String::from_utf8_lossy(&index);
    let css_path = html
        .split("href=\"")
        .find_map(|chunk| {
            chunk
                .split('"')
                .next()
                .filter(|href| href.starts_with("/static/css/styles."))
        })
        .ok_or_else(|| anyhow!("no stylesheet link on /"))?
        .to_owned();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("root"))?;
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let mut urls = Vec::new();
    for (label, path, encoding) in URLS {
        let path = if *path == "CSS" { css_path.as_str() } else { path };
        let (status, head, body) = fetch(app_port, path, *encoding)?;
        if encoding.is_some() && !head.to_ascii_lowercase().contains("content-encoding: br") {
            bail!("{path} did not come back brotli-encoded");
        }
        let file = if status == 404 {
            prefix.join("root/404.html")
        } else if path.ends_with('/') {
            prefix
                .join("root")
                .join(path.trim_start_matches('/'))
                .join("index.html")
        } else {
            prefix.join("root").join(path.trim_start_matches('/'))
        };
        std::fs::create_dir_all(file.parent().ok_or_else(|| anyhow!("bad path"))?)?;
        std::fs::write(&file, &body)?;
        urls.push(Url {
            label,
            path: path.to_owned(),
            encoding: *encoding,
            status,
            bytes: body.len(),
        });
    }
    Ok((urls, prefix))
}

/// Every binary: cold start; then each configuration (SQLite and PostgreSQL, cache on and
/// off) with every binary started side by side and, URL by URL, nginx then each binary
/// under the same load, so that a slow spell of a shared machine hits all of them alike
/// and each ratio is to the nginx run just before it; then the fleet and TLS rows (the
/// shipped binary) and the 1 000-connection row.
fn measure_all(
    runner: &Runner,
    binaries: Vec<Binary>,
    dir: &Path,
    urls: &[Url],
    args: &BenchArgs,
    postgres: Option<&String>,
    nginx_port: u16,
) -> Result<Vec<Measured>> {
    let mut cold_starts = Vec::new();
    for binary in &binaries {
        // The first start creates and seeds the database; then five timed starts.
        time_to_first_200(&binary.path, dir)?;
        let mut starts: Vec<Duration> = (0..5)
            .map(|_| time_to_first_200(&binary.path, dir))
            .collect::<Result<_>>()?;
        starts.sort();
        println!(
            "{}: cold start to the first 200 (median of 5): {:.1} ms",
            binary.name,
            starts[2].as_secs_f64() * 1000.0
        );
        cold_starts.push(starts[2]);
    }
    let plain = postgres.map(|url| with_sslmode(url, "disable"));
    let mut configs = vec![
        (SQLITE_ON, Setup::sqlite(2), true),
        (SQLITE_OFF, Setup::sqlite(0), false),
    ];
    if let Some(url) = &plain {
        for (name, cache_seconds) in [(PG_ON, 2), (PG_OFF, 0)] {
            let setup = Setup {
                database_url: url.clone(),
                cache_seconds,
                read_connections: None,
            };
            configs.push((name, setup, false));
        }
    }
    let mut series: Vec<Vec<Series>> = binaries.iter().map(|_| Vec::new()).collect();
    let mut rss = vec![None; binaries.len()];
    for (name, setup, all) in &configs {
        let mut running = Vec::new();
        for binary in &binaries {
            let port = free_port()?;
            let app = start_app_with(&binary.path, dir, port, setup)?;
            wait_for(port, "/readyz", "the site")?;
            running.push((port, app));
        }
        let mut loads: Vec<Vec<Option<Load>>> = binaries.iter().map(|_| Vec::new()).collect();
        let mut nginx = Vec::new();
        for url in urls {
            let page = url.status == 200 && !url.path.starts_with("/static/");
            if !all && !page {
                nginx.push(None);
                for l in &mut loads {
                    l.push(None);
                }
                continue;
            }
            let theirs = wrk(runner, nginx_port, &url.path, url.encoding, args, url.status)?;
            println!(
                "{:<10} {name:<22} nginx {:>9.0} req/s p99 {:.2} ms",
                url.label, theirs.requests_per_sec, theirs.p99_ms
            );
            for (index, (port, _)) in running.iter().enumerate() {
                let ours = wrk(runner, *port, &url.path, url.encoding, args, url.status)?;
                println!(
                    "{:<10} {name:<22} {:<5} {:>9.0} req/s p99 {:.2} ms ({:.2})",
                    url.label,
                    if index == 0 { "ships" } else { "glibc" },
                    ours.requests_per_sec,
                    ours.p99_ms,
                    ours.requests_per_sec / theirs.requests_per_sec.max(1.0)
                );
                loads[index].push(Some(ours));
            }
            nginx.push(Some(theirs));
        }
        for (index, (_, app)) in running.iter().enumerate() {
            if *name == SQLITE_ON {
                rss[index] = peak_rss_kib(app.0.id());
            }
            series[index].push(Series {
                name: (*name).to_owned(),
                loads: std::mem::take(&mut loads[index]),
                nginx: nginx.clone(),
            });
        }
    }
    let mut measured = Vec::new();
    for (index, binary) in binaries.into_iter().enumerate() {
        let (mut fleet, mut tls, mut pool) = (None, None, None);
        if let (0, Some(plain), Some(url)) = (index, &plain, postgres) {
            fleet = Some(fleet_row(runner, &binary.path, dir, plain, args)?);
            tls = Some(tls_row(runner, &binary.path, dir, url, args));
            pool = Some(pool_row(runner, &binary.path, dir, plain, args)?);
        }
        let many = many_connections_row(runner, &binary.path, dir, args)?;
        measured.push(Measured {
            series: std::mem::take(&mut series[index]),
            cold_start: cold_starts[index],
            rss_kib: rss[index],
            many,
            fleet,
            tls,
            pool,
            binary,
        });
    }
    Ok(measured)
}

/// `/lettings/1/` on PostgreSQL over TLS (`sslmode=require`), cache off: what TLS to the
/// database costs (`Err`: why it was not measured, e.g. a server without TLS).
fn tls_row(runner: &Runner, binary: &Path, dir: &Path, url: &str, args: &BenchArgs) -> Result<Load, String> {
    let setup = Setup {
        database_url: with_sslmode(url, "require"),
        cache_seconds: 0,
        read_connections: None,
    };
    let port = free_port().map_err(|e| e.to_string())?;
    let _app = start_app_with(binary, dir, port, &setup).map_err(|e| e.to_string())?;
    wait_for(port, "/readyz", "the site on PostgreSQL over TLS")
        .map_err(|_| "the server did not accept a TLS connection (sslmode=require)".to_owned())?;
    let load = wrk(runner, port, "/lettings/1/", None, args, 200).map_err(|e| e.to_string())?;
    println!(
        "letting    PostgreSQL over TLS, off   {:>9.0} req/s p99 {:.2} ms",
        load.requests_per_sec, load.p99_ms
    );
    Ok(load)
}

/// `/lettings/1/` on PostgreSQL, cache off, with the async reader off
/// (`DATABASE_READ_CONNECTIONS=0`): the read through libpq's pool on a blocking thread, as
/// before the reader, in the same run.
fn pool_row(runner: &Runner, binary: &Path, dir: &Path, url: &str, args: &BenchArgs) -> Result<Load> {
    let setup = Setup {
        database_url: url.to_owned(),
        cache_seconds: 0,
        read_connections: Some(0),
    };
    let port = free_port()?;
    let _app = start_app_with(binary, dir, port, &setup)?;
    wait_for(port, "/readyz", "the site on PostgreSQL with the reader off")?;
    let load = wrk(runner, port, "/lettings/1/", None, args, 200)?;
    println!(
        "letting    PostgreSQL, pool only, off {:>9.0} req/s p99 {:.2} ms",
        load.requests_per_sec, load.p99_ms
    );
    Ok(load)
}

pub(crate) const SQLITE_ON: &str = "SQLite, cache on";
pub(crate) const SQLITE_OFF: &str = "SQLite, cache off";
pub(crate) const PG_ON: &str = "PostgreSQL, cache on";
pub(crate) const PG_OFF: &str = "PostgreSQL, cache off";

/// One URL measured: the bytes nginx serves for it are the site's own.
struct Url {
    label: &'static str,
    path: String,
    encoding: Option<&'static str>,
    status: u16,
    bytes: usize,
}

/// One way of running the site, measured on every URL (`None`: not measured there), with
/// the nginx run made just before each.
struct Series {
    name: String,
    loads: Vec<Option<Load>>,
    nginx: Vec<Option<Load>>,
}

fn wait_for(port: u16, path: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while fetch(port, path, None).map(|r| r.0).unwrap_or(0) != 200 {
        if Instant::now() > deadline {
            bail!("{what} did not answer 200 on {path} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn start_nginx(prefix: &Path) -> Result<Process> {
    Ok(Process(
        Command::new("nginx")
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-p")
            .arg(prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nginx")?,
    ))
}

/// A fresh database `oc_bench` on the PostgreSQL server the tests would use (psql makes it).
fn bench_database(runner: &Runner, postgres: &crate::postgres::TestPostgres) -> Result<String> {
    let admin = postgres
        .url()
        .ok_or_else(|| anyhow!("{}", postgres.describe()))?
        .to_owned();
    runner
        .capture(
            "psql",
            runner.command("psql").args([
                admin.as_str(),
                "-q",
                "-c",
                "DROP DATABASE IF EXISTS oc_bench WITH (FORCE)",
                "-c",
                "CREATE DATABASE oc_bench",
            ]),
        )
        .map_err(|err| anyhow!("cannot create the bench database with psql: {err}"))?;
    Ok(crate::postgres::with_database(&admin, "oc_bench"))
}

/// `url` with `sslmode` set (replacing any), for the plain-TCP columns and the TLS row.
fn with_sslmode(url: &str, mode: &str) -> String {
    let (base, params) = url.split_once('?').unwrap_or((url, ""));
    let mut kept: Vec<&str> = params
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslmode="))
        .collect();
    let mode = format!("sslmode={mode}");
    kept.push(&mode);
    format!("{base}?{}", kept.join("&"))
}

const ROUTER_CONF: &str = "worker_processes WORKERS;
daemon off;
pid PREFIX/nginx.pid;
error_log PREFIX/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path PREFIX/tmp; proxy_temp_path PREFIX/tmp; fastcgi_temp_path PREFIX/tmp;
  uwsgi_temp_path PREFIX/tmp; scgi_temp_path PREFIX/tmp;
  upstream fleet {
UPSTREAMS    keepalive 64;
  }
  server {
    listen 127.0.0.1:PORT;
    location / {
      proxy_pass http://fleet;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
";

/// Three instances on one PostgreSQL behind nginx as the router.
fn fleet_row(runner: &Runner, binary: &Path, dir: &Path, url: &str, args: &BenchArgs) -> Result<Load> {
    let setup = Setup {
        database_url: url.to_owned(),
        cache_seconds: 2,
        read_connections: None,
    };
    let mut instances = Vec::new();
    let mut upstreams = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let app = start_app_with(binary, dir, port, &setup)?;
        wait_for(port, "/readyz", "a fleet instance")?;
        upstreams.push_str(&format!("    server 127.0.0.1:{port} max_fails=0;\n"));
        instances.push(app);
    }
    let prefix = dir.join("router");
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let port = free_port()?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let conf = ROUTER_CONF
        .replace("PREFIX", &prefix.to_string_lossy())
        .replace("PORT", &port.to_string())
        .replace("WORKERS", &workers.to_string())
        .replace("UPSTREAMS", &upstreams);
    std::fs::write(prefix.join("nginx.conf"), conf)?;
    let _router = start_nginx(&prefix)?;
    wait_for(port, "/lettings/1/", "the fleet's router")?;
    let load = wrk(runner, port, "/lettings/1/", None, args, 200)?;
    println!(
        "fleet      3 instances behind nginx   {:>9.0} req/s p99 {:.2} ms",
        load.requests_per_sec, load.p99_ms
    );
    Ok(load)
}

/// 1 000 keep-alive connections on one page: throughput, p99 and the peak RSS they cost.
fn many_connections_row(runner: &Runner, binary: &Path, dir: &Path, args: &BenchArgs) -> Result<(Load, u64)> {
    let port = free_port()?;
    let app = start_app_with(binary, dir, port, &Setup::sqlite(2))?;
    wait_for(port, "/healthz", "the site")?;
    let many = BenchArgs {
        connections: 1000,
        ..args.clone()
    };
    let load = wrk(runner, port, "/lettings/1/", None, &many, 200)?;
    let rss = peak_rss_kib(app.0.id()).unwrap_or(0);
    println!(
        "1000 conns SQLite, cache on           {:>9.0} req/s p99 {:.2} ms, RSS {:.1} MB",
        load.requests_per_sec,
        load.p99_ms,
        rss as f64 / 1024.0
    );
    Ok((load, rss))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 2s test @ http://127.0.0.1:1/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   730.12us  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  650.00us
     75%  800.00us
     90%    1.00ms
     99%    2.50ms
  100 requests in 2.00s, 1.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  43210.55
Transfer/sec:      5.00MB";

    #[test]
    fn sslmode_is_set_once() {
        assert_eq!(
            with_sslmode("postgres://u:p@h/db", "disable"),
            "postgres://u:p@h/db?sslmode=disable"
        );
        assert_eq!(
            with_sslmode("postgres://h/db?sslmode=verify-full&sslrootcert=/ca.crt", "require"),
            "postgres://h/db?sslrootcert=/ca.crt&sslmode=require"
        );
    }

    #[test]
    fn wrk_reports_are_read() {
        let load = parse_wrk(SAMPLE, 200);
        assert!((load.requests_per_sec - 43210.55).abs() < 0.01);
        assert!((load.p50_ms - 0.65).abs() < 1e-9);
        assert!((load.p99_ms - 2.5).abs() < 1e-9);
        assert_eq!(load.errors, 10);
        assert_eq!(parse_wrk(SAMPLE, 404).errors, 3, "404s are expected on the 404 page");
    }
}
