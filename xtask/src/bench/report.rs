//! bench/RESULTS.md: one table per binary (the shipped static one first), the shipped
//! binary against the glibc build, and every SPEC §7 goal judged on the shipped binary.

use std::fmt::Write as _;

use anyhow::Result;

use super::{BenchArgs, Load, Measured, Series, Url, PG_OFF, SQLITE_OFF, SQLITE_ON};
use crate::runner::workspace_root;

pub struct Inputs<'a> {
    pub args: &'a BenchArgs,
    pub workers: usize,
    pub postgres_note: &'a str,
    pub urls: &'a [Url],
    pub baseline: &'a [Load],
    pub measured: &'a [Measured],
    pub image_bytes: Option<f64>,
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn write(inputs: &Inputs) -> Result<String> {
    let Inputs {
        args,
        workers,
        postgres_note,
        urls,
        baseline,
        measured,
        image_bytes,
    } = inputs;
    let mut report = String::new();
    writeln!(report, "# Benchmark results\n")?;
    writeln!(report, "- date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"))?;
    writeln!(report, "- machine: {}", super::machine())?;
    writeln!(report, "- commit: {}", crate::git::sha().unwrap_or_default())?;
    for m in measured.iter() {
        let path = m.binary.path.strip_prefix(workspace_root()).unwrap_or(&m.binary.path);
        writeln!(
            report,
            "- binary: {} — `{}`, {:.1} MB",
            m.binary.name,
            path.display(),
            m.binary.bytes as f64 / 1e6
        )?;
    }
    writeln!(
        report,
        "- command: `cargo xtask bench --duration {} --connections {}` (wrk -t2 -c{} -d{}s --latency, keep-alive, loopback; the site with the demo data, {workers} workers, JSON logs at info to a file as in the image; nginx {workers} workers serving the same bytes; cache on = PAGE_CACHE_SECONDS=2, off = 0, i.e. every request a cache miss)",
        args.duration, args.connections, args.connections, args.duration
    )?;
    writeln!(report, "- {postgres_note}")?;

    for m in measured.iter() {
        writeln!(report, "\n## {}\n", m.binary.name)?;
        table(&mut report, urls, baseline, &m.series)?;
        writeln!(report)?;
        if let Some(fleet) = &m.fleet {
            writeln!(
                report,
                "- fleet: three instances on PostgreSQL behind nginx (round robin, keep-alive), `/lettings/1/`, cache on: {:.0} req/s, p99 {:.1} ms, {} errors",
                fleet.requests_per_sec, fleet.p99_ms, fleet.errors
            )?;
        }
        let plain = m.series.iter().find(|s| s.name == PG_OFF).and_then(|s| {
            urls.iter()
                .position(|u| u.path == "/lettings/1/")
                .and_then(|i| s.loads[i].clone())
        });
        if let Some(pool) = &m.pool {
            let gain = plain.as_ref().map_or(String::new(), |reader| {
                format!(
                    "; the async reader's run above: {:.2}× this",
                    reader.requests_per_sec / pool.requests_per_sec.max(1.0)
                )
            });
            writeln!(
                report,
                "- PostgreSQL with the async reader off (`DATABASE_READ_CONNECTIONS=0`: the read through libpq's pool on a blocking thread), cache off, `/lettings/1/`: {:.0} req/s, p99 {:.1} ms{gain}",
                pool.requests_per_sec, pool.p99_ms
            )?;
        }
        match &m.tls {
            Some(Ok(load)) => {
                let cost = plain.as_ref().map_or(String::new(), |plain| {
                    format!(
                        " ({:.2} of plain TCP)",
                        load.requests_per_sec / plain.requests_per_sec.max(1.0)
                    )
                });
                writeln!(
                    report,
                    "- PostgreSQL over TLS (`sslmode=require`), cache off, `/lettings/1/`: {:.0} req/s{cost}, p99 {:.1} ms",
                    load.requests_per_sec, load.p99_ms
                )?;
            }
            Some(Err(why)) => writeln!(report, "- PostgreSQL over TLS: not measured ({why})")?,
            None => {}
        }
        let (many, many_rss) = &m.many;
        writeln!(
            report,
            "- 1 000 keep-alive connections (wrk -t2 -c1000) on `/lettings/1/`, SQLite, cache on: {:.0} req/s, p99 {:.1} ms, {} errors, peak RSS {:.1} MB",
            many.requests_per_sec,
            many.p99_ms,
            many.errors,
            mb(*many_rss)
        )?;
        writeln!(
            report,
            "- cold start, launch to the first 200 on `/` (median of 5, SQLite database present): {:.1} ms",
            m.cold_start.as_secs_f64() * 1000.0
        )?;
        if let Some(kib) = m.rss_kib {
            writeln!(
                report,
                "- peak resident memory under the {}-connection load (SQLite, cache on): {:.1} MB",
                args.connections,
                mb(kib)
            )?;
        }
    }
    writeln!(
        report,
        "\nEach cell: the binary's req/s (**its ratio to nginx's run just before it**, its p99). The nginx column is nginx's run beside the SQLite, cache on series. The configurations run one after another with both binaries up side by side; within each, for every URL: nginx, then the shipped binary, then the glibc build."
    )?;

    if let [shipped, reference, ..] = &measured[..] {
        writeln!(report, "\n## {} / {}\n", shipped.binary.name, reference.binary.name)?;
        write!(report, "| page |")?;
        for s in &shipped.series {
            write!(report, " {} |", s.name)?;
        }
        writeln!(report)?;
        write!(report, "|---|")?;
        for _ in &shipped.series {
            write!(report, "---:|")?;
        }
        writeln!(report)?;
        for (index, url) in urls.iter().enumerate() {
            write!(report, "| {} |", url.label)?;
            for s in &shipped.series {
                let theirs = reference.series.iter().find(|r| r.name == s.name);
                match (&s.loads[index], theirs.and_then(|r| r.loads[index].as_ref())) {
                    (Some(ours), Some(theirs)) => write!(
                        report,
                        " {:.2} |",
                        ours.requests_per_sec / theirs.requests_per_sec.max(1.0)
                    )?,
                    _ => write!(report, " — |")?,
                }
            }
            writeln!(report)?;
        }
    }

    if let Some(shipped) = measured.first() {
        writeln!(
            report,
            "\n## Goals, judged on the shipped binary: {}\n",
            shipped.binary.name
        )?;
        for goal in goals(shipped, measured.get(1), urls, baseline, *image_bytes) {
            writeln!(report, "- {goal}")?;
        }
    }
    Ok(report)
}

/// The site's columns for one binary: req/s, ratio to nginx, p99.
fn table(report: &mut String, urls: &[Url], baseline: &[Load], series: &[Series]) -> Result<()> {
    write!(report, "| page | bytes | nginx req/s |")?;
    for s in series {
        write!(report, " {} |", s.name)?;
    }
    writeln!(report)?;
    write!(report, "|---|---:|---:|")?;
    for _ in series {
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
        for s in series {
            match &s.loads[index] {
                Some(ours) => {
                    let nginx = s.nginx[index].as_ref().unwrap_or(theirs);
                    let ratio = ours.requests_per_sec / nginx.requests_per_sec.max(1.0);
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
    Ok(())
}

/// One line per SPEC §7 goal (and issue 18's shipped/glibc ratio): met or not, with the
/// worst figure.
fn goals(
    shipped: &Measured,
    reference: Option<&Measured>,
    urls: &[Url],
    baseline: &[Load],
    image: Option<f64>,
) -> Vec<String> {
    let verdict = |ok: bool| if ok { "met" } else { "**NOT met**" };
    let series = |name: &str| shipped.series.iter().find(|s| s.name == name);
    // (label, ratio to nginx, p99) of the measured cells of `name` whose URL passes `keep`.
    let cells = |name: &str, keep: &dyn Fn(&Url) -> bool| -> Vec<(&str, f64, f64)> {
        let Some(s) = series(name) else { return Vec::new() };
        urls.iter()
            .enumerate()
            .filter(|(_, url)| keep(url))
            .filter_map(|(i, url)| {
                s.loads[i].as_ref().map(|load| {
                    let nginx = s.nginx[i].as_ref().unwrap_or(&baseline[i]);
                    (
                        url.label,
                        load.requests_per_sec / nginx.requests_per_sec.max(1.0),
                        load.p99_ms,
                    )
                })
            })
            .collect()
    };
    let page = |url: &Url| url.status == 200 && !url.path.starts_with("/static/");
    let worst = |cells: &[(&str, f64, f64)]| {
        cells
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("not measured".to_owned(), |c| {
                format!("lowest {} on {}", fmt2(c.1), c.0)
            })
    };
    let slowest = |cells: &[(&str, f64, f64)]| cells.iter().max_by(|a, b| a.2.total_cmp(&b.2)).map_or(0.0, |c| c.2);
    let mut lines = Vec::new();
    let cached = cells(SQLITE_ON, &page);
    let ok = !cached.is_empty() && cached.iter().all(|c| c.1 >= 0.8);
    lines.push(format!(
        "pages with the cache ≥ 0.8 of nginx: {} ({})",
        verdict(ok),
        worst(&cached)
    ));
    let p99 = slowest(&cached);
    lines.push(format!(
        "p99 ≤ 5 ms at 64 connections (cached pages): {} (highest {p99:.1} ms)",
        verdict(!cached.is_empty() && p99 <= 5.0)
    ));
    let css = cells(SQLITE_ON, &|url: &Url| url.path.starts_with("/static/"));
    let ok = !css.is_empty() && css.iter().all(|c| c.1 >= 0.8);
    lines.push(format!("static CSS ≥ 0.8 of nginx: {} ({})", verdict(ok), worst(&css)));
    let sqlite_off = cells(SQLITE_OFF, &page);
    let ok = !sqlite_off.is_empty() && sqlite_off.iter().all(|c| c.1 >= 0.6);
    lines.push(format!(
        "SQLite without the cache ≥ 0.6: {} ({})",
        verdict(ok),
        worst(&sqlite_off)
    ));
    let pg_off = cells(PG_OFF, &page);
    if pg_off.is_empty() {
        lines.push("PostgreSQL without the cache ≥ 0.35, p99 ≤ 10 ms: not measured".to_owned());
    } else {
        let ok = pg_off.iter().all(|c| c.1 >= 0.35 && c.2 <= 10.0);
        lines.push(format!(
            "PostgreSQL without the cache ≥ 0.35 with p99 ≤ 10 ms: {} ({}, highest p99 {:.1} ms)",
            verdict(ok),
            worst(&pg_off),
            slowest(&pg_off)
        ));
    }
    if let Some(kib) = shipped.rss_kib {
        lines.push(format!(
            "RSS ≤ 25 MB at 64 connections: {} ({:.1} MB)",
            verdict(mb(kib) <= 25.0),
            mb(kib)
        ));
    }
    let many = mb(shipped.many.1);
    lines.push(format!(
        "RSS ≤ 40 MB at 1 000 connections: {} ({many:.1} MB)",
        verdict(many <= 40.0)
    ));
    let cold = shipped.cold_start.as_secs_f64() * 1000.0;
    lines.push(format!(
        "cold start ≤ 50 ms (SQLite): {} ({cold:.1} ms)",
        verdict(cold <= 50.0)
    ));
    match image {
        Some(bytes) => lines.push(format!(
            "image ≤ 20 MB: {} ({:.1} MB, `oc-lettings:latest`)",
            verdict(bytes <= 20e6),
            bytes / 1e6
        )),
        None => lines
            .push("image ≤ 20 MB: not measured (no `oc-lettings:latest`; run `cargo xtask docker build`)".to_owned()),
    }
    if let Some(reference) = reference {
        let mut lowest: Option<(f64, String)> = None;
        for s in &shipped.series {
            let Some(r) = reference.series.iter().find(|r| r.name == s.name) else {
                continue;
            };
            for (i, url) in urls.iter().enumerate() {
                if let (Some(ours), Some(theirs)) = (&s.loads[i], &r.loads[i]) {
                    let ratio = ours.requests_per_sec / theirs.requests_per_sec.max(1.0);
                    if lowest.as_ref().is_none_or(|(l, _)| ratio < *l) {
                        lowest = Some((ratio, format!("{}, {}", url.label, s.name)));
                    }
                }
            }
        }
        if let Some((ratio, at)) = lowest {
            lines.push(format!(
                "shipped binary ≥ 0.9 of the glibc build's req/s on every page: {} (lowest {} on {at})",
                verdict(ratio >= 0.9),
                fmt2(ratio)
            ));
        }
    }
    lines
}

fn fmt2(value: f64) -> String {
    format!("{value:.2}")
}
