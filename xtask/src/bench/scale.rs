//! `cargo xtask bench --scale 10000 --scale 1000000`: the site with N rows in each of its
//! four tables and N history entries, on SQLite and on PostgreSQL. For each N it
//! generates a Django database of the original's layout (`scale.sql`, run by the sqlite3
//! shell on a copy of the refactored fixture: the same rows on every run), imports it
//! with `import-django` (time, peak RSS), then starts the binary on it and probes every
//! page a visitor or a staff member opens, one request at a time (wrk, one connection:
//! median and p99, and the page's bytes), and drives 64 connections at the list pages
//! (req/s, p99, and the process's peak RSS), with the page cache on and off. Writes
//! bench/SCALE.md with the goals of SPEC §9 judged on every row.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::{free_port, parse_wrk, peak_rss_kib, split_response, start_app_with, wait_for, Binary, Load, Setup};
use crate::runner::{workspace_root, Runner};

const GENERATE: &str = include_str!("scale.sql");

/// The site's default `PAGE_SIZE` (public lists) and the admin's rows a page.
const PUBLIC_PAGE_SIZE: u64 = 25;
const ADMIN_PAGE_SIZE: u64 = 100;

/// SPEC §9's goals.
const PAGE_MS: f64 = 50.0;
const PAGE_BYTES: usize = 256 * 1024;
const SERVE_RSS_MB: f64 = 128.0;
const IMPORT_SECONDS: f64 = 120.0;
const IMPORT_RSS_MB: f64 = 256.0;

/// One backend's database for a run.
struct Target {
    name: &'static str,
    url: String,
}

struct Import {
    seconds: f64,
    peak_mb: f64,
    ok: bool,
}

/// One page's single-request figures.
struct Probe {
    label: String,
    path: String,
    status: u16,
    bytes: usize,
    load: Load,
}

/// 64 connections at one page.
struct Crowd {
    label: String,
    cache: bool,
    load: Load,
}

struct BackendRun {
    backend: &'static str,
    import: Import,
    probes: Vec<Probe>,
    crowds: Vec<Crowd>,
    /// Peak RSS of the serving process, cache off and cache on (MB).
    peak_mb: [f64; 2],
}

struct SizeRun {
    rows: u64,
    generate_seconds: f64,
    backends: Vec<BackendRun>,
}

pub fn run(runner: &Runner, binary: &Binary, sizes: &[u64], probe_seconds: u64, output: &Path) -> Result<()> {
    for tool in ["sqlite3", "wrk"] {
        if runner
            .capture(tool, runner.command("sh").args(["-c", &format!("command -v {tool}")]))
            .is_err()
        {
            bail!("bench --scale: missing tool {tool} (apt-get install {tool})");
        }
    }
    let postgres = crate::postgres::provide(runner.dry_run);
    let admin_url = postgres.url().map(str::to_owned);
    if admin_url.is_none() {
        println!("PostgreSQL half skipped: {}", postgres.describe());
    }
    let mut runs = Vec::new();
    for &rows in sizes {
        let dir = workspace_root().join(format!("target/bench-scale/{rows}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let started = Instant::now();
        let source = generate(runner, &dir, rows)?;
        let generate_seconds = started.elapsed().as_secs_f64();
        let mut targets = vec![Target {
            name: "SQLite",
            url: "sqlite://site.sqlite3".to_owned(),
        }];
        if let Some(admin) = &admin_url {
            targets.push(Target {
                name: "PostgreSQL",
                url: super::with_sslmode(&scale_database(runner, admin)?, "disable"),
            });
        }
        let mut backends = Vec::new();
        for target in targets {
            println!("== {rows} rows, {}: import", target.name);
            let import = import(binary, &dir, &source, &target.url)?;
            println!(
                "   import: {:.1} s, peak RSS {:.0} MB{}",
                import.seconds,
                import.peak_mb,
                if import.ok { "" } else { " (FAILED, see import.log)" }
            );
            if !import.ok {
                bail!("import-django failed; see {}", dir.join("import.log").display());
            }
            backends.push(measure(runner, binary, &dir, &target, rows, probe_seconds, import)?);
        }
        runs.push(SizeRun {
            rows,
            generate_seconds,
            backends,
        });
    }
    let report = write_report(binary, &runs, probe_seconds, &postgres.describe());
    let output = workspace_root().join(output);
    std::fs::write(&output, report)?;
    println!("wrote {}", output.display());
    Ok(())
}

/// The Django database with `rows` rows per table: the refactored fixture, its rows
/// replaced by `scale.sql`'s.
fn generate(runner: &Runner, dir: &Path, rows: u64) -> Result<PathBuf> {
    let fixture = workspace_root().join("app/tests/fixtures/django/oc-lettings-refactored.sqlite3");
    let source = dir.join("django.sqlite3");
    std::fs::copy(&fixture, &source).with_context(|| format!("cannot copy {}", fixture.display()))?;
    let mut permissions = std::fs::metadata(&source)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&source, permissions)?;
    let sql = GENERATE.replace(":rows", &rows.to_string());
    let mut child = runner
        .command("sqlite3")
        .arg(&source)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot run sqlite3")?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no stdin for sqlite3"))?
        .write_all(sql.as_bytes())?;
    if !child.wait()?.success() {
        bail!("sqlite3 could not generate the data");
    }
    Ok(source)
}

/// A fresh database `oc_scale` on the PostgreSQL server.
fn scale_database(runner: &Runner, admin: &str) -> Result<String> {
    runner
        .capture(
            "psql",
            runner.command("psql").args([
                admin,
                "-q",
                "-c",
                "DROP DATABASE IF EXISTS oc_scale WITH (FORCE)",
                "-c",
                "CREATE DATABASE oc_scale",
            ]),
        )
        .map_err(|err| anyhow!("cannot create the scale database with psql: {err}"))?;
    Ok(crate::postgres::with_database(admin, "oc_scale"))
}

/// `import-django` into `url` from an empty database: wall time, and the peak RSS polled
/// from /proc while it runs (VmHWM only grows, so the last reading is the peak to within
/// the poll's 50 ms).
fn import(binary: &Binary, dir: &Path, source: &Path, url: &str) -> Result<Import> {
    if url.starts_with("sqlite:") {
        let _ = std::fs::remove_file(dir.join("site.sqlite3"));
    }
    let log = std::fs::File::create(dir.join("import.log"))?;
    let started = Instant::now();
    let mut child = Command::new(&binary.path)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env_remove("DEBUG")
        .arg("import-django")
        .arg(source)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start import-django")?;
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Import {
        seconds: started.elapsed().as_secs_f64(),
        peak_mb: peak_kib as f64 / 1024.0,
        ok: status.success(),
    })
}

/// One request with a cookie (and a form body for a POST), over a fresh connection.
fn request(port: u16, method: &str, path: &str, cookie: &str, body: &str) -> Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        let _ = write!(head, "Cookie: {cookie}\r\n");
    }
    if method == "POST" {
        let _ = write!(
            head,
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    split_response(&raw)
}

/// The `name=value` pairs of a response's Set-Cookie headers.
fn cookies(head: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap_or("").to_owned())
        })
        .collect()
}

/// Logs in as the generated data's `admin` (Abc1234!); the Cookie header of its session.
fn log_in(port: u16) -> Result<String> {
    let (_, head, body) = request(port, "GET", "/admin/login/", "", "")?;
    let html = String::from_utf8_lossy(&body);
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html
        .find(marker)
        .ok_or_else(|| anyhow!("no CSRF field on the login page"))?
        + marker.len();
    let token = &html[start..start + html[start..].find('"').unwrap_or(0)];
    let jar = cookies(&head).join("; ");
    let form = format!("username=admin&password=Abc1234%21&next=%2Fadmin%2F&csrfmiddlewaretoken={token}");
    let (status, head, _) = request(port, "POST", "/admin/login/", &jar, &form)?;
    if status != 302 {
        bail!("cannot log in as admin (status {status})");
    }
    let session = cookies(&head);
    if session.is_empty() {
        bail!("the login set no session cookie");
    }
    Ok(session.join("; "))
}

/// Every page the goals cover, as (label, path); ids and names are the generated data's.
fn pages(rows: u64) -> Vec<(String, String)> {
    let public_last = rows.div_ceil(PUBLIC_PAGE_SIZE).max(1);
    let middle = (rows / 2).max(1);
    let admin_last = rows.div_ceil(ADMIN_PAGE_SIZE).max(1);
    let mut pages: Vec<(String, String)> = vec![
        ("index".into(), "/".into()),
        ("lettings, page 1".into(), "/lettings/".into()),
        ("lettings, last page".into(), format!("/lettings/?page={public_last}")),
        ("a letting".into(), format!("/lettings/{middle}/")),
        ("profiles, page 1".into(), "/profiles/".into()),
        ("profiles, last page".into(), format!("/profiles/?page={public_last}")),
        (
            "a profile".into(),
            format!("/profiles/{}{middle}/", FIRST_NAMES[(middle % 15) as usize]),
        ),
        ("admin index".into(), "/admin/".into()),
    ];
    let lists: [(&str, &str, &[&str]); 5] = [
        ("lettings/letting", "cozy", &[]),
        (
            "lettings/address",
            "harbor",
            &["state__exact=CA", "country_iso_code__exact=CAN"],
        ),
        ("profiles/profile", "berlin", &["favorite_city__exact=Berlin"]),
        ("auth/user", "robin1", &[]),
        ("auth/group", "editors", &[]),
    ];
    for (model, term, filters) in lists {
        let base = format!("/admin/{model}/");
        pages.push((format!("{model}: list"), base.clone()));
        if model != "auth/group" {
            pages.push((format!("{model}: last page"), format!("{base}?p={admin_last}")));
            pages.push((format!("{model}: sorted by column 1"), format!("{base}?o=0")));
            pages.push((
                format!("{model}: sorted by column 2, descending"),
                format!("{base}?o=-1"),
            ));
        }
        pages.push((format!("{model}: search \"{term}\""), format!("{base}?q={term}")));
        for filter in filters {
            pages.push((format!("{model}: filter {filter}"), format!("{base}?{filter}")));
        }
        pages.push((format!("{model}: add form"), format!("{base}add/")));
        if model != "auth/group" {
            pages.push((format!("{model}: change form"), format!("{base}{middle}/change/")));
            pages.push((format!("{model}: history"), format!("{base}{middle}/history/")));
        }
    }
    // The audit log (issue 28): every user's entries, newest first, keyset-paged by id.
    for (name, query) in [
        ("audit log", String::new()),
        ("audit log, halfway back", format!("?before={middle}")),
        ("audit log by user", "?user=admin".to_owned()),
        ("audit log by model", "?model=lettings.letting".to_owned()),
        ("audit log, deletions (none)", "?action=delete".to_owned()),
        ("audit log search \"cozy\"", "?q=cozy".to_owned()),
        ("audit log, one day", "?since=2020-06-14&until=2020-06-14".to_owned()),
    ] {
        pages.push((name.into(), format!("/admin/audit/{query}")));
    }
    pages.push((
        "autocomplete: addresses \"harbor\"".into(),
        "/admin/autocomplete/?app_label=lettings&model_name=letting&field_name=address&term=harbor".into(),
    ));
    pages.push((
        "autocomplete: users, page 2".into(),
        "/admin/autocomplete/?app_label=profiles&model_name=profile&field_name=user&page=2".into(),
    ));
    pages
}

/// `scale.sql`'s first names, in order (a username is one of them and the row number).
const FIRST_NAMES: [&str; 15] = [
    "Jamie", "Alex", "Sam", "Robin", "Taylor", "Jordan", "Casey", "Morgan", "Riley", "Avery", "Quinn", "Drew",
    "Parker", "Reese", "Skyler",
];

/// wrk with one connection on `path` for `seconds`: single requests back to back.
fn probe(runner: &Runner, port: u16, path: &str, cookie: &str, seconds: u64) -> Result<Load> {
    let mut command = runner.command("wrk");
    command.args(["-t1", "-c1", &format!("-d{seconds}s"), "--latency"]);
    if !cookie.is_empty() {
        command.args(["-H", &format!("Cookie: {cookie}")]);
    }
    command.arg(format!("http://127.0.0.1:{port}{path}"));
    Ok(parse_wrk(&runner.capture("wrk", &mut command)?, 200))
}

fn crowd(runner: &Runner, port: u16, path: &str, seconds: u64) -> Result<Load> {
    let mut command = runner.command("wrk");
    command.args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency"]);
    command.arg(format!("http://127.0.0.1:{port}{path}"));
    Ok(parse_wrk(&runner.capture("wrk", &mut command)?, 200))
}

/// The pages 64 connections are driven at: the public lists, first and last pages.
fn crowd_pages(rows: u64) -> Vec<String> {
    let last = rows.div_ceil(PUBLIC_PAGE_SIZE).max(1);
    vec![
        "/lettings/".into(),
        format!("/lettings/?page={last}"),
        "/profiles/".into(),
        format!("/profiles/?page={last}"),
    ]
}

fn measure(
    runner: &Runner,
    binary: &Binary,
    dir: &Path,
    target: &Target,
    rows: u64,
    probe_seconds: u64,
    import: Import,
) -> Result<BackendRun> {
    let mut run = BackendRun {
        backend: target.name,
        import,
        probes: Vec::new(),
        crowds: Vec::new(),
        peak_mb: [0.0; 2],
    };
    for (slot, cache_seconds) in [(0, 0), (1, 2)] {
        let port = free_port()?;
        let setup = Setup {
            database_url: target.url.clone(),
            cache_seconds,
            read_connections: None,
        };
        let app = start_app_with(&binary.path, dir, port, &setup)?;
        wait_for(port, "/healthz", "the site")?;
        if cache_seconds == 0 {
            // Every page, uncached: single requests.
            let cookie = log_in(port)?;
            for (label, path) in pages(rows) {
                let (status, _, body) = request(port, "GET", &path, &cookie, "")?;
                let load = probe(runner, port, &path, &cookie, probe_seconds)?;
                println!(
                    "   {label}: {status}, {} bytes, median {:.1} ms, p99 {:.1} ms",
                    body.len(),
                    load.p50_ms,
                    load.p99_ms
                );
                run.probes.push(Probe {
                    label,
                    path,
                    status,
                    bytes: body.len(),
                    load,
                });
            }
        }
        for label in crowd_pages(rows) {
            let load = crowd(runner, port, &label, probe_seconds * 2)?;
            println!(
                "   64 connections on {label}, cache {}: {:.0} req/s, p99 {:.1} ms, {} errors",
                if cache_seconds > 0 { "on" } else { "off" },
                load.requests_per_sec,
                load.p99_ms,
                load.errors
            );
            run.crowds.push(Crowd {
                label,
                cache: cache_seconds > 0,
                load,
            });
        }
        run.peak_mb[slot] = peak_rss_kib(app.0.id()).unwrap_or(0) as f64 / 1024.0;
        drop(app);
    }
    Ok(run)
}

fn judge(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**NOT met**"
    }
}

fn write_report(binary: &Binary, runs: &[SizeRun], probe_seconds: u64, postgres: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Scale benchmark\n");
    let _ = writeln!(
        out,
        "`cargo xtask bench --scale N …` on this machine ({}), {}. Binary: **{}** ({:.1} MB). \
         PostgreSQL: {postgres}, over plain TCP on loopback. Each size: N addresses, lettings, \
         users and profiles and N history entries, generated by `xtask/src/bench/scale.sql` \
         into a Django database of the original's layout and imported with `import-django`. \
         Pages: wrk with one connection for {probe_seconds} s each (single requests back to \
         back, page cache off, logged in as `admin` for the admin's pages): median and p99 \
         latency, and the page's bytes. Crowds: 64 connections for {} s on the public lists. \
         Peak RSS: the serving process's VmHWM after all of its runs.\n",
        super::machine(),
        today(),
        binary.name,
        binary.bytes as f64 / 1e6,
        probe_seconds * 2
    );
    let mut all_met = true;
    for size in runs {
        let _ = writeln!(
            out,
            "## {} rows per table\n\nGenerated in {:.1} s.\n",
            size.rows, size.generate_seconds
        );
        let _ = writeln!(
            out,
            "| | import | import peak RSS | serve peak RSS, cache off | serve peak RSS, cache on |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for backend in &size.backends {
            let _ = writeln!(
                out,
                "| {} | {:.1} s | {:.0} MB | {:.0} MB | {:.0} MB |",
                backend.backend, backend.import.seconds, backend.import.peak_mb, backend.peak_mb[0], backend.peak_mb[1]
            );
        }
        let _ = writeln!(out);
        let _ = write!(out, "| page |");
        for backend in &size.backends {
            let _ = write!(out, " {0} median | {0} p99 | {0} bytes |", backend.backend);
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "|---|{}", "---:|---:|---:|".repeat(size.backends.len()));
        let Some(first) = size.backends.first() else {
            continue;
        };
        let mut worst_ms: f64 = 0.0;
        let mut worst_bytes = 0;
        let mut bad_status = Vec::new();
        for (index, probe) in first.probes.iter().enumerate() {
            let _ = write!(out, "| {} (`{}`) |", probe.label, probe.path);
            for backend in &size.backends {
                if let Some(p) = backend.probes.get(index) {
                    let _ = write!(
                        out,
                        " {:.1} ms | {:.1} ms | {} |",
                        p.load.p50_ms, p.load.p99_ms, p.bytes
                    );
                    worst_ms = worst_ms.max(p.load.p50_ms);
                    worst_bytes = worst_bytes.max(p.bytes);
                    if p.status != 200 || p.load.errors > 0 {
                        bad_status.push(format!("{} {} ({})", backend.backend, p.path, p.status));
                    }
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "\n| 64 connections | cache |{}",
            size.backends
                .iter()
                .map(|b| format!(" {} req/s | p99 | errors |", b.backend))
                .collect::<String>()
        );
        let _ = writeln!(out, "|---|---|{}", "---:|---:|---:|".repeat(size.backends.len()));
        for (index, crowd) in first.crowds.iter().enumerate() {
            let _ = write!(
                out,
                "| `{}` | {} |",
                crowd.label,
                if crowd.cache { "on" } else { "off" }
            );
            for backend in &size.backends {
                if let Some(c) = backend.crowds.get(index) {
                    let _ = write!(
                        out,
                        " {:.0} | {:.1} ms | {} |",
                        c.load.requests_per_sec, c.load.p99_ms, c.load.errors
                    );
                }
            }
            let _ = writeln!(out);
        }
        let import_worst = size.backends.iter().map(|b| b.import.seconds).fold(0.0, f64::max);
        let import_rss = size.backends.iter().map(|b| b.import.peak_mb).fold(0.0, f64::max);
        let serve_rss = size
            .backends
            .iter()
            .map(|b| b.peak_mb[0].max(b.peak_mb[1]))
            .fold(0.0, f64::max);
        let goals = [
            (
                format!("every page's median ≤ {PAGE_MS} ms"),
                worst_ms <= PAGE_MS,
                format!("worst {worst_ms:.1} ms"),
            ),
            (
                format!("every page ≤ {} KB", PAGE_BYTES / 1024),
                worst_bytes <= PAGE_BYTES,
                format!("largest {worst_bytes} bytes"),
            ),
            (
                "every page a 200".to_owned(),
                bad_status.is_empty(),
                bad_status.join(", "),
            ),
            (
                format!("serve peak RSS ≤ {SERVE_RSS_MB} MB"),
                serve_rss <= SERVE_RSS_MB,
                format!("{serve_rss:.0} MB"),
            ),
            (
                format!("import ≤ {IMPORT_SECONDS} s"),
                import_worst <= IMPORT_SECONDS,
                format!("{import_worst:.1} s"),
            ),
            (
                format!("import RSS ≤ {IMPORT_RSS_MB} MB"),
                import_rss <= IMPORT_RSS_MB,
                format!("{import_rss:.0} MB"),
            ),
        ];
        let _ = writeln!(out, "\n| goal (SPEC §9) | | |\n|---|---|---|");
        for (goal, ok, figure) in goals {
            all_met &= ok;
            let _ = writeln!(out, "| {goal} | {} | {figure} |", judge(ok));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "Every goal met at every size: {}.",
        if all_met { "yes" } else { "**no**" }
    );
    out
}

/// Today's date as `date` prints it (no date crate in xtask).
fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_the_generated_rows() {
        let pages = pages(1_000_000);
        let path = |label: &str| pages.iter().find(|(l, _)| l == label).map(|(_, p)| p.as_str());
        assert_eq!(path("lettings, last page"), Some("/lettings/?page=40000"));
        assert_eq!(path("a letting"), Some("/lettings/500000/"));
        // scale.sql: user i + 1 is FIRST_NAMES[i % 15] followed by i.
        assert_eq!(path("a profile"), Some("/profiles/Jordan500000/"));
        assert_eq!(
            path("lettings/letting: last page"),
            Some("/admin/lettings/letting/?p=10000")
        );
        assert!(pages.iter().all(|(_, p)| p.starts_with('/')));
    }

    #[test]
    fn set_cookies_are_read_as_name_value_pairs() {
        let head =
            "HTTP/1.1 302 Found\r\nset-cookie: oc_session=abc; Path=/admin/; HttpOnly\r\nSet-Cookie: oc_csrf=x\r\n";
        assert_eq!(cookies(head), ["oc_session=abc", "oc_csrf=x"]);
    }
}
