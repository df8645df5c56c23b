//! `cargo xtask bench`: the site's speed, memory and start-up, measured on loopback with
//! wrk against nginx serving the very same bytes on another port in the same run (the
//! ratio app/nginx is the figure that holds on a shared machine). Writes bench/RESULTS.md.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::runner::{workspace_root, Runner};

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
}

impl Setup {
    fn sqlite(cache_seconds: u64) -> Setup {
        Setup {
            database_url: "sqlite://bench.sqlite3".to_owned(),
            cache_seconds,
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

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
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
    let mut build = runner.cargo();
    build.args(["build", "--release", "--locked", "--package", "oc-lettings"]);
    runner.run("release binary", &mut build)?;
    if runner.dry_run {
        return Ok(());
    }
    let binary = workspace_root().join("target/release/oc-lettings");
    let dir = workspace_root().join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    // Cold start: the first start creates and seeds the database; then five timed starts.
    time_to_first_200(&binary, &dir)?;
    let mut starts: Vec<Duration> = (0..5)
        .map(|_| time_to_first_200(&binary, &dir))
        .collect::<Result<_>>()?;
    starts.sort();
    let cold_start = starts[2];
    println!(
        "cold start to the first 200 (median of 5): {:.1} ms",
        cold_start.as_secs_f64() * 1000.0
    );

    let app_port = free_port()?;
    let app = start_app(&binary, &dir, app_port)?;
    wait_for(app_port, "/healthz", "the site")?;

    // The same bytes for nginx.
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
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let nginx_port = free_port()?;
    let conf = NGINX_CONF
        .replace("PREFIX", &prefix.to_string_lossy())
        .replace("PORT", &nginx_port.to_string())
        .replace("WORKERS", &workers.to_string());
    std::fs::write(prefix.join("nginx.conf"), conf)?;
    let nginx = start_nginx(&prefix)?;
    wait_for(nginx_port, "/", "nginx")?;

    let mut baseline = Vec::new();
    for url in &urls {
        let theirs = wrk(runner, nginx_port, &url.path, url.encoding, args, url.status)?;
        println!(
            "{:<10} nginx {:>9.0} req/s p99 {:.2} ms",
            url.label, theirs.requests_per_sec, theirs.p99_ms
        );
        baseline.push(theirs);
    }
    drop(nginx);

    // The site, on each database, with the page cache on (its default) and off (every
    // request a cache miss).
    let mut series: Vec<Series> = Vec::new();
    let measure = |name: &str, port: u16, all: bool| -> Result<Series> {
        let mut loads = Vec::new();
        for url in &urls {
            let page = url.status == 200 && !url.path.starts_with("/static/");
            if !all && !page {
                loads.push(None);
                continue;
            }
            let ours = wrk(runner, port, &url.path, url.encoding, args, url.status)?;
            println!(
                "{:<10} {name:<24} {:>9.0} req/s p99 {:.2} ms",
                url.label, ours.requests_per_sec, ours.p99_ms
            );
            loads.push(Some(ours));
        }
        Ok(Series {
            name: name.to_owned(),
            loads,
        })
    };
    series.push(measure("SQLite, cache on", app_port, true)?);
    let rss = peak_rss_kib(app.0.id());
    drop(app);
    {
        let port = free_port()?;
        let _app = start_app_with(&binary, &dir, port, &Setup::sqlite(0))?;
        wait_for(port, "/healthz", "the site")?;
        series.push(measure("SQLite, cache off", port, false)?);
    }
    let postgres = crate::postgres::provide(runner.dry_run);
    let mut fleet = None;
    let postgres_note = match bench_database(runner, &postgres) {
        Ok(url) => {
            for cache_seconds in [2, 0] {
                let setup = Setup {
                    database_url: url.clone(),
                    cache_seconds,
                };
                let port = free_port()?;
                let _app = start_app_with(&binary, &dir, port, &setup)?;
                wait_for(port, "/readyz", "the site on PostgreSQL")?;
                let name = if cache_seconds > 0 {
                    "PostgreSQL, cache on"
                } else {
                    "PostgreSQL, cache off"
                };
                series.push(measure(name, port, false)?);
            }
            fleet = Some(fleet_row(runner, &binary, &dir, &url, args)?);
            format!("PostgreSQL: {}", postgres.describe())
        }
        Err(why) => {
            println!("PostgreSQL half skipped: {why}");
            format!("PostgreSQL: not measured ({why})")
        }
    };
    let many = many_connections_row(runner, &binary, &dir, args)?;

    let image = runner
        .capture(
            "image size",
            runner
                .command("docker")
                .args(["image", "inspect", "--format", "{{.Size}}", "oc-lettings:latest"]),
        )
        .ok()
        .and_then(|s| s.parse::<f64>().ok());

    let mut report = String::new();
    writeln!(report, "# Benchmark results\n")?;
    writeln!(report, "- date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"))?;
    writeln!(report, "- machine: {}", machine())?;
    writeln!(report, "- commit: {}", crate::git::sha().unwrap_or_default())?;
    writeln!(
        report,
        "- binary: `target/release/oc-lettings` (glibc, release profile)"
    )?;
    writeln!(
        report,
        "- command: `cargo xtask bench --duration {} --connections {}` (wrk -t2 -c{} -d{}s --latency, keep-alive, loopback; the site with the demo data, {workers} workers, logging at info to a file; nginx {workers} workers serving the same bytes; cache on = PAGE_CACHE_SECONDS=2, off = 0, i.e. every request a cache miss)",
        args.duration, args.connections, args.connections, args.duration
    )?;
    writeln!(report, "- {postgres_note}\n")?;
    write!(report, "| page | bytes | nginx req/s |")?;
    for s in &series {
        write!(report, " {} |", s.name)?;
    }
    writeln!(report)?;
    write!(report, "|---|---:|---:|")?;
    for _ in &series {
        write!(report, "---:|")?;
    }
    writeln!(report)?;
    for (index, url) in urls.iter().enumerate() {
        let theirs = &baseline[index];
        write!(
            report,
            "| {} `{}` | {} | {:.0} |",
            url.label, url.path, url.bytes, theirs.requests_per_sec
        )?;
        for s in &series {
            match &s.loads[index] {
                Some(ours) => {
                    let ratio = ours.requests_per_sec / theirs.requests_per_sec.max(1.0);
                    let errors = if ours.errors > 0 {
                        format!(", {} errors", ours.errors)
                    } else {
                        String::new()
                    };
                    write!(
                        report,
                        " {:.0} (**{ratio:.2}**, p99 {:.1} ms{errors}) |",
                        ours.requests_per_sec, ours.p99_ms
                    )?;
                }
                None => write!(report, " — |")?,
            }
        }
        writeln!(report)?;
    }
    writeln!(
        report,
        "\nEach cell: the site's req/s (**its ratio to nginx**, its p99).\n"
    )?;
    if let Some(fleet) = &fleet {
        writeln!(
            report,
            "- fleet: three instances on PostgreSQL behind nginx (round robin, keep-alive), `/lettings/1/`, cache on: {:.0} req/s, p99 {:.1} ms, {} errors",
            fleet.requests_per_sec, fleet.p99_ms, fleet.errors
        )?;
    }
    writeln!(
        report,
        "- 1 000 keep-alive connections (wrk -t2 -c1000) on `/lettings/1/`, SQLite, cache on: {:.0} req/s, p99 {:.1} ms, {} errors, peak RSS {:.1} MB",
        many.0.requests_per_sec,
        many.0.p99_ms,
        many.0.errors,
        many.1 as f64 / 1024.0
    )?;
    writeln!(
        report,
        "- cold start, launch to the first 200 on `/` (median of 5, SQLite database present): {:.1} ms",
        cold_start.as_secs_f64() * 1000.0
    )?;
    if let Some(kib) = rss {
        writeln!(
            report,
            "- peak resident memory of the site under the {}-connection load (SQLite, cache on): {:.1} MB",
            args.connections,
            kib as f64 / 1024.0
        )?;
    }
    match image {
        Some(bytes) => writeln!(report, "- Docker image `oc-lettings:latest`: {:.1} MB", bytes / 1e6)?,
        None => writeln!(
            report,
            "- Docker image: not measured (no `oc-lettings:latest`; run `cargo xtask docker build`)"
        )?,
    }
    writeln!(report, "\nGoals (SPEC §7): pages with the cache ≥ 0.8 of nginx, CSS ≥ 0.8, p99 ≤ 5 ms at 64 connections; without the cache SQLite ≥ 0.6, PostgreSQL ≥ 0.35 with p99 ≤ 10 ms; RSS ≤ 25 MB at 64 connections, ≤ 40 MB at 1 000; cold start ≤ 50 ms; image ≤ 20 MB.")?;
    let output = workspace_root().join(&args.output);
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&output, report)?;
    println!("wrote {}", output.display());
    Ok(())
}

/// One URL measured: the bytes nginx serves for it are the site's own.
struct Url {
    label: &'static str,
    path: String,
    encoding: Option<&'static str>,
    status: u16,
    bytes: usize,
}

/// One way of running the site, measured on every URL (`None`: not measured there).
struct Series {
    name: String,
    loads: Vec<Option<Load>>,
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
    fn wrk_reports_are_read() {
        let load = parse_wrk(SAMPLE, 200);
        assert!((load.requests_per_sec - 43210.55).abs() < 0.01);
        assert!((load.p50_ms - 0.65).abs() < 1e-9);
        assert!((load.p99_ms - 2.5).abs() < 1e-9);
        assert_eq!(load.errors, 10);
        assert_eq!(parse_wrk(SAMPLE, 404).errors, 3, "404s are expected on the 404 page");
    }
}
