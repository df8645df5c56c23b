//! `cargo xtask bench --soak SECONDS`: the shipped binary under mixed load for a while —
//! public pages under wrk (every page in turn, 64 connections) and, on a timer, an admin
//! who logs in (a full argon2id verification) and edits a letting — with its resident
//! memory sampled every two seconds. After the warm-up RSS must not grow. Writes
//! bench/SOAK.md.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::{free_port, parse_wrk, start_app, wait_for, Binary};
use crate::runner::{workspace_root, Runner};

/// How often RSS is read.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// How often the admin logs in and saves a letting (36 times in three minutes).
const ADMIN_EVERY: Duration = Duration::from_secs(5);
/// Growth of the mean RSS from the first to the last third of the steady phase that still
/// counts as flat (allocator noise).
const FLAT_MIB: f64 = 2.0;

const USERNAME: &str = "soak-admin";
const PASSWORD: &str = "soak-password-not-secret-1";

/// Public pages, in turn, for wrk.
const SCRIPT: &str = r#"local paths = {"/", "/lettings/", "/lettings/1/", "/lettings/2/", "/profiles/",
  "/profiles/HeadlinesGazer/"}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"#;

/// One RSS reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub seconds: f64,
    pub rss_kib: u64,
}

/// Whether RSS stayed flat after the warm-up: (flat, growth in MiB, warm-up end in s).
pub fn judge(samples: &[Sample], total_seconds: f64) -> (bool, f64, f64) {
    let warm_up = (total_seconds * 0.2).max(20.0).min(total_seconds / 2.0);
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.seconds >= warm_up).collect();
    if steady.len() < 3 {
        return (false, f64::NAN, warm_up);
    }
    let third = steady.len() / 3;
    let mean = |part: &[&Sample]| part.iter().map(|s| s.rss_kib as f64).sum::<f64>() / part.len() as f64;
    let growth = (mean(&steady[steady.len() - third..]) - mean(&steady[..third])) / 1024.0;
    (growth <= FLAT_MIB, growth, warm_up)
}

pub fn run(runner: &Runner, binary: &Binary, seconds: u64) -> Result<()> {
    if seconds < 30 {
        bail!("--soak: give at least 30 seconds (a warm-up and a steady phase)");
    }
    let dir = workspace_root().join("target/bench/soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let app = start_app(&binary.path, &dir, port)?;
    wait_for(port, "/healthz", "the site")?;
    let made = Command::new(&binary.path)
        .current_dir(&dir)
        .env("DATABASE_URL", "sqlite://bench.sqlite3")
        .env("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
        .env("SECRET_KEY", "bench-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz")
        .args([
            "createsuperuser",
            "--no-input",
            "--username",
            USERNAME,
            "--email",
            "soak@example.com",
        ])
        .output()
        .context("cannot run createsuperuser")?;
    if !made.status.success() {
        bail!(
            "createsuperuser failed: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        );
    }
    std::fs::write(dir.join("pages.lua"), SCRIPT)?;
    println!("soak: {seconds} s on {} (pid {})", binary.name, app.0.id());

    let started = Instant::now();
    let wrk = runner
        .command("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(dir.join("pages.lua"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start wrk")?;
    let stop = Arc::new(AtomicBool::new(false));
    let admin = {
        let stop = stop.clone();
        std::thread::spawn(move || admin_loop(port, &stop))
    };
    let mut samples = Vec::new();
    let deadline = started + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if let Some(rss) = super::status_kib(app.0.id(), "VmRSS") {
            samples.push(Sample {
                seconds: started.elapsed().as_secs_f64(),
                rss_kib: rss,
            });
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    stop.store(true, Ordering::Release);
    let output = wrk.wait_with_output().context("wrk did not finish")?;
    let load = parse_wrk(&String::from_utf8_lossy(&output.stdout), 200);
    let admin = admin.join().map_err(|_| anyhow!("the admin thread panicked"))?;
    let peak = super::peak_rss_kib(app.0.id()).unwrap_or(0);
    drop(app);

    let (flat, growth, warm_up) = judge(&samples, seconds as f64);
    let mut report = String::new();
    writeln!(report, "# Soak\n")?;
    writeln!(report, "- date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"))?;
    writeln!(report, "- machine: {}", super::machine())?;
    writeln!(report, "- commit: {}", crate::git::sha().unwrap_or_default())?;
    writeln!(
        report,
        "- binary: {} ({:.1} MB)",
        binary.name,
        binary.bytes as f64 / 1e6
    )?;
    writeln!(
        report,
        "- command: `cargo xtask bench --soak {seconds}`: SQLite with the demo data, cache on; wrk -t2 -c64 on six public pages in turn; every {} s an admin logs in (argon2id) and saves a letting",
        ADMIN_EVERY.as_secs()
    )?;
    writeln!(
        report,
        "- public pages: {:.0} req/s, p99 {:.1} ms, {} errors (non-2xx answers and socket errors)",
        load.requests_per_sec, load.p99_ms, load.errors
    )?;
    writeln!(
        report,
        "- admin: {} logins and saves succeeded, {} failed{}",
        admin.ok,
        admin.failed,
        admin
            .last_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (last: {e})"))
    )?;
    writeln!(report, "- peak RSS (VmHWM): {:.1} MB", peak as f64 / 1024.0)?;
    writeln!(
        report,
        "- verdict: after a warm-up of {warm_up:.0} s, the mean RSS of the last third of the run is {growth:+.1} MiB from the first third: {}\n",
        if flat { "flat (≤ 2 MiB)" } else { "**GROWING**" }
    )?;
    writeln!(report, "| t (s) | RSS (MB) | |")?;
    writeln!(report, "|---:|---:|---|")?;
    let max = samples.iter().map(|s| s.rss_kib).max().unwrap_or(1).max(1);
    for sample in samples.iter().step_by(5) {
        let bar = "█".repeat((sample.rss_kib * 40 / max) as usize);
        writeln!(
            report,
            "| {:.0} | {:.1} | {bar} |",
            sample.seconds,
            sample.rss_kib as f64 / 1024.0
        )?;
    }
    let output = workspace_root().join("bench/SOAK.md");
    std::fs::write(&output, &report)?;
    print!("{report}");
    println!("wrote {}", output.display());
    if admin.ok == 0 {
        bail!("soak: no admin login succeeded (see target/bench/soak/app.log)");
    }
    if !flat {
        bail!("soak: RSS grew by {growth:.1} MiB after the warm-up");
    }
    Ok(())
}

#[derive(Debug, Default)]
struct AdminTally {
    ok: u32,
    failed: u32,
    last_error: Option<String>,
}

fn admin_loop(port: u16, stop: &AtomicBool) -> AdminTally {
    let mut tally = AdminTally::default();
    let mut round = 0u32;
    while !stop.load(Ordering::Acquire) {
        round += 1;
        match admin_round(port, round) {
            Ok(()) => tally.ok += 1,
            Err(err) => {
                tally.failed += 1;
                tally.last_error = Some(format!("{err:#}"));
            }
        }
        let next = Instant::now() + ADMIN_EVERY;
        while Instant::now() < next && !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    tally
}

/// Logs in afresh, saves letting 1 with a new title, logs out.
fn admin_round(port: u16, round: u32) -> Result<()> {
    let mut jar = Jar::default();
    let page = request(port, "GET", "/admin/login/", &mut jar, None)?;
    let token = csrf_token(&page.body)?;
    let body = format!("csrfmiddlewaretoken={token}&username={USERNAME}&password={PASSWORD}&next=%2Fadmin%2F");
    let login = request(port, "POST", "/admin/login/", &mut jar, Some(&body))?;
    if login.status != 302 {
        bail!("login answered {}", login.status);
    }
    let form = request(port, "GET", "/admin/lettings/letting/1/change/", &mut jar, None)?;
    if form.status != 200 {
        bail!("the change form answered {}", form.status);
    }
    let token = csrf_token(&form.body)?;
    let address = form
        .body
        .split("<option value=\"")
        .skip(1)
        .find(|option| option.contains("\" selected"))
        .and_then(|option| option.split('"').next())
        .ok_or_else(|| anyhow!("no selected address on the change form"))?
        .to_owned();
    let body = format!("csrfmiddlewaretoken={token}&title=Soak+round+{round}&address={address}");
    let saved = request(port, "POST", "/admin/lettings/letting/1/change/", &mut jar, Some(&body))?;
    if saved.status != 302 {
        bail!("saving the letting answered {}", saved.status);
    }
    let body = format!("csrfmiddlewaretoken={token}");
    request(port, "POST", "/admin/logout/", &mut jar, Some(&body))?;
    Ok(())
}

fn csrf_token(html: &str) -> Result<String> {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).ok_or_else(|| anyhow!("no CSRF field"))? + marker.len();
    let end = html[start..].find('"').ok_or_else(|| anyhow!("no CSRF field"))?;
    Ok(html[start..start + end].to_owned())
}

/// The cookies a browser would keep (name=value).
#[derive(Debug, Default)]
struct Jar(Vec<(String, String)>);

struct Response {
    status: u16,
    body: String,
}

/// One request over a fresh connection, cookies sent and kept.
fn request(port: u16, method: &str, path: &str, jar: &mut Jar, form: Option<&str>) -> Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let cookies: Vec<String> = jar.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if !cookies.is_empty() {
        head.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
    }
    if let Some(form) = form {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(form) = form {
        stream.write_all(form.as_bytes())?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let (status, head, body) = super::split_response(&raw).with_context(|| format!("{method} {path}"))?;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let pair = value.trim().split(';').next().unwrap_or_default();
        if let Some((key, value)) = pair.split_once('=') {
            jar.0.retain(|(k, _)| k != key);
            if !value.is_empty() {
                jar.0.push((key.to_owned(), value.to_owned()));
            }
        }
    }
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[u64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, &mib)| Sample {
                seconds: i as f64 * 2.0,
                rss_kib: mib * 1024,
            })
            .collect()
    }

    #[test]
    fn a_plateau_after_warm_up_is_flat() {
        // 60 s: warm-up to 20 s (rising), then flat with noise.
        let mut values = vec![10, 20, 30, 40, 50, 60, 70, 75, 78, 80];
        values.extend([
            80, 81, 80, 79, 80, 81, 80, 80, 81, 80, 80, 79, 80, 81, 80, 80, 81, 80, 80, 80,
        ]);
        let (flat, growth, warm_up) = judge(&samples(&values), 60.0);
        assert!(flat, "growth {growth}");
        assert_eq!(warm_up, 20.0);
    }

    #[test]
    fn steady_growth_is_caught() {
        let values: Vec<u64> = (0..30).map(|i| 40 + i).collect();
        let (flat, growth, _) = judge(&samples(&values), 60.0);
        assert!(!flat);
        assert!(growth > 10.0, "{growth}");
    }
}
