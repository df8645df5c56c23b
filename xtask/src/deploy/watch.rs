//! A deploy's watch: after `/readyz`, the new release's server errors for a set time, as a
//! canary analysis does it (Kayenta, Argo Rollouts' analysis runs): one number, the share
//! of its requests answered with a 5xx, against a limit; past it, the deploy rolls back as
//! it does for a failed readiness check.
//!
//! The number comes from the instances' own `/metrics` (`METRICS_TOKEN` set here as on the
//! instances), scraped through the site's URL: each scrape reaches one instance, named by
//! its `oc_build_info{commit,process}`; an instance of another commit (one the rollout has
//! not replaced yet) is left out, and each instance counts with its latest scrape (its
//! counters began with it, so all it counted is the new release's). The probes
//! (`/readyz`, `/healthz`) and the scrapes are not traffic. When the instances cannot be
//! reached, Sentry's traces of the release answer instead (its transactions since the
//! watch began, and those with a server error's status).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use super::sentry::Sentry;

/// How long and how strictly a deploy watches its release.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// How long (zero: no watch).
    pub duration: Duration,
    /// The share of 5xx answers past which the release fails (0.05: 5 %).
    pub max_error_rate: f64,
    /// Below this many requests, no verdict: too little traffic to judge.
    pub min_requests: u64,
    /// Between two looks.
    pub interval: Duration,
}

/// Where the numbers come from.
pub enum Source<'a> {
    Metrics {
        url: String,
        token: String,
    },
    Sentry {
        sentry: &'a Sentry,
        environment: String,
        since: String,
    },
}

impl Source<'_> {
    pub fn describe(&self) -> String {
        match self {
            Source::Metrics { url, .. } => format!("the instances' metrics at {url}"),
            Source::Sentry { sentry, .. } => format!("Sentry's traces (project {})", sentry.project),
        }
    }
}

/// The requests one instance has answered: all, and those with a 5xx.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub errors: u64,
    pub total: u64,
}

/// What one scrape of `/metrics` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scrape {
    /// An instance of the watched commit: its process id and counts.
    Watched(String, Counts),
    /// An instance of another commit (not replaced yet).
    Other(String),
}

/// The routes that are not traffic: the platform's probes and the scrapes themselves.
const NOT_TRAFFIC: [&str; 3] = ["/readyz", "/healthz", "/metrics"];

/// Reads a `/metrics` page (Prometheus's text format) for the release `commit`.
pub fn read_scrape(text: &str, commit: &str) -> Result<Scrape> {
    let mut instance: Option<(String, String)> = None;
    let mut counts = Counts::default();
    for line in text.lines() {
        if let Some(labels) = series(line, "oc_build_info") {
            let (Some(seen), Some(process)) = (label(labels, "commit"), label(labels, "process")) else {
                bail!("oc_build_info without its commit or process: {line}");
            };
            instance = Some((seen, process));
        } else if let Some(labels) = series(line, "oc_http_requests_total") {
            let route = label(labels, "route").unwrap_or_default();
            if NOT_TRAFFIC.contains(&route.as_str()) {
                continue;
            }
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow!("not a sample: {line}"))?;
            // Counters are whole numbers; a float that is not one is still counted.
            let value = value.max(0.0).round() as u64;
            counts.total += value;
            if label(labels, "status").as_deref() == Some("5xx") {
                counts.errors += value;
            }
        }
    }
    let (seen, process) = instance.ok_or_else(|| anyhow!("no oc_build_info: not an oc-lettings /metrics page"))?;
    Ok(if seen == commit {
        Scrape::Watched(process, counts)
    } else {
        Scrape::Other(seen)
    })
}

/// The labels of `line` when it is a sample of `name` (`name{…} value`).
fn series<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix(name)?
        .strip_prefix('{')?
        .rsplit_once('}')
        .map(|(labels, _)| labels)
}

/// One label's value (the format's escapes undone).
fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels
        .match_indices(&format!("{name}=\""))
        .find(|(i, _)| *i == 0 || labels.as_bytes()[i - 1] == b',')?
        .0
        + name.len()
        + 2;
    let mut value = String::new();
    let mut chars = labels[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

/// The verdict so far over the instances seen.
#[derive(Debug, Default)]
pub struct Tally {
    instances: BTreeMap<String, Counts>,
}

impl Tally {
    pub fn saw(&mut self, process: String, counts: Counts) {
        self.instances.insert(process, counts);
    }

    pub fn counts(&self) -> Counts {
        self.instances.values().fold(Counts::default(), |sum, c| Counts {
            errors: sum.errors + c.errors,
            total: sum.total + c.total,
        })
    }

    pub fn instances(&self) -> usize {
        self.instances.len()
    }
}

/// Whether `counts` break the limit (with enough requests to say).
pub fn breaks(watch: &Watch, counts: Counts) -> bool {
    counts.total >= watch.min_requests.max(1) && counts.errors as f64 > watch.max_error_rate * counts.total as f64
}

pub fn percent(counts: Counts) -> String {
    if counts.total == 0 {
        return "0%".to_owned();
    }
    format!("{:.1}%", 100.0 * counts.errors as f64 / counts.total as f64)
}

/// Watches `commit`'s release through `source` for `watch.duration`: `Ok` with what it
/// saw, or `Err` with the one line that says why it failed ("12 of 40 requests (30.0%)
/// answered 5xx in 35s, over the 5% limit").
pub fn watch(watch: &Watch, source: &Source<'_>, commit: &str) -> std::result::Result<String, String> {
    let started = Instant::now();
    let deadline = started + watch.duration;
    let client = crate::http::http_client().map_err(|err| format!("{err:#}"))?;
    let mut tally = Tally::default();
    let mut last_problem: Option<String> = None;
    let mut last_line = String::new();
    loop {
        let looked = match source {
            Source::Metrics { url, token } => scrape(&client, url, token, commit).map(|scrape| match scrape {
                Scrape::Watched(process, counts) => tally.saw(process, counts),
                Scrape::Other(other) => println!("    an instance of {other} answered (not replaced yet)"),
            }),
            Source::Sentry {
                sentry,
                environment,
                since,
            } => sentry
                .error_rate(commit, environment, since)
                .map(|(errors, total)| tally.saw("sentry".to_owned(), Counts { errors, total })),
        };
        match looked {
            Ok(()) => last_problem = None,
            Err(err) => {
                let problem = format!("{err:#}");
                if last_problem.as_deref() != Some(problem.as_str()) {
                    println!("    {problem}");
                }
                last_problem = Some(problem);
            }
        }
        let counts = tally.counts();
        let elapsed = started.elapsed().as_secs();
        let line = format!(
            "{} requests, {} 5xx ({}){}",
            counts.total,
            counts.errors,
            percent(counts),
            match source {
                Source::Metrics { .. } => format!(" on {} instance(s)", tally.instances()),
                Source::Sentry { .. } => String::new(),
            }
        );
        if line != last_line {
            println!("    {elapsed}s: {line}");
            last_line = line;
        }
        if breaks(watch, counts) {
            return Err(format!(
                "{} of {} requests ({}) answered 5xx in {elapsed}s, over the {}% limit ({})",
                counts.errors,
                counts.total,
                percent(counts),
                watch.max_error_rate * 100.0,
                source.describe()
            ));
        }
        if Instant::now() >= deadline {
            let seconds = watch.duration.as_secs();
            return Ok(if counts.total < watch.min_requests.max(1) {
                format!(
                    "watched {seconds}s: {} requests, too few to judge (at least {}){}",
                    counts.total,
                    watch.min_requests,
                    last_problem.map(|p| format!("; last look: {p}")).unwrap_or_default()
                )
            } else {
                format!(
                    "watched {seconds}s: {} requests, {} 5xx ({}), within the {}% limit",
                    counts.total,
                    counts.errors,
                    percent(counts),
                    watch.max_error_rate * 100.0
                )
            });
        }
        std::thread::sleep(watch.interval.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// One scrape of `url` with the bearer token.
pub fn scrape(client: &reqwest::blocking::Client, url: &str, token: &str, commit: &str) -> Result<Scrape> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .map_err(|err| anyhow!("{url} did not answer: {}", err.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "{url} answered {}{}",
            status.as_u16(),
            match status.as_u16() {
                401 => " (METRICS_TOKEN here is not the instances')",
                404 => " (METRICS_TOKEN is not set on the instances)",
                _ => "",
            }
        );
    }
    let text = response.text().map_err(|err| anyhow!("{url}: {err}"))?;
    read_scrape(&text, commit).map_err(|err| anyhow!("{url}: {err:#}"))
}

/// The source for watching the release at `web_url`: its instances' metrics when
/// `METRICS_TOKEN` is set here and a first scrape answers, else Sentry when it is set;
/// `Err` says why there is none.
pub fn source<'a>(
    web_url: &str,
    commit: &str,
    sentry: Option<&'a Sentry>,
    since: &str,
) -> std::result::Result<Source<'a>, String> {
    let url = format!("{}/metrics", web_url.trim_end_matches('/'));
    let mut why = match crate::env::optional("METRICS_TOKEN") {
        None => "METRICS_TOKEN is not set here".to_owned(),
        Some(_) if !carries_a_token(&url) => {
            format!("{url} is plain http: METRICS_TOKEN goes over https only (or to this machine)")
        }
        Some(token) => {
            let client = crate::http::http_client().map_err(|err| format!("{err:#}"))?;
            match scrape(&client, &url, &token, commit) {
                Ok(_) => return Ok(Source::Metrics { url, token }),
                Err(err) => format!("{err:#}"),
            }
        }
    };
    if let Some(sentry) = sentry {
        println!("    the instances' metrics cannot be read ({why}): watching through Sentry");
        return Ok(Source::Sentry {
            sentry,
            environment: super::sentry::environment(),
            since: since.to_owned(),
        });
    }
    why.push_str(", and Sentry's settings (SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT) are not");
    Err(why)
}

/// Whether a bearer token may be sent to `url`: https, or plain http to this machine.
fn carries_a_token(url: &str) -> bool {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            parsed.scheme() == "https"
                || (parsed.scheme() == "http" && parsed.host_str().is_some_and(crate::http::is_loopback_host))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP oc_build_info x\n# TYPE oc_build_info gauge\n\
        oc_build_info{version=\"0.1.0\",commit=\"abc\",process=\"0123456789ab\"} 1\n\
        # TYPE oc_http_requests_total counter\n\
        oc_http_requests_total{route=\"/lettings/{id}/\",method=\"GET\",status=\"2xx\"} 90\n\
        oc_http_requests_total{route=\"/lettings/\",method=\"GET\",status=\"5xx\"} 6\n\
        oc_http_requests_total{route=\"(none)\",method=\"GET\",status=\"4xx\"} 4\n\
        oc_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"5xx\"} 50\n\
        oc_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"2xx\"} 7\n\
        oc_http_request_duration_seconds_count{route=\"/lettings/\",method=\"GET\"} 6\n";

    fn strict() -> Watch {
        Watch {
            duration: Duration::from_secs(60),
            max_error_rate: 0.05,
            min_requests: 20,
            interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_scrape_counts_traffic_not_probes() {
        assert_eq!(
            read_scrape(PAGE, "abc").unwrap(),
            Scrape::Watched("0123456789ab".into(), Counts { errors: 6, total: 100 })
        );
        assert_eq!(read_scrape(PAGE, "def").unwrap(), Scrape::Other("abc".into()));
        assert!(read_scrape("oc_http_requests_total{route=\"/\"} 1\n", "abc").is_err());
    }

    #[test]
    fn labels_are_read_with_their_escapes_and_not_by_suffix() {
        assert_eq!(label(r#"route="a\"b",xroute="c""#, "route").as_deref(), Some("a\"b"));
        assert_eq!(label(r#"xroute="c",route="d""#, "route").as_deref(), Some("d"));
        assert_eq!(label(r#"xroute="c""#, "route"), None);
    }

    #[test]
    fn instances_count_once_each_with_their_latest_scrape() {
        let mut tally = Tally::default();
        tally.saw("a".into(), Counts { errors: 1, total: 10 });
        tally.saw("b".into(), Counts { errors: 0, total: 10 });
        tally.saw("a".into(), Counts { errors: 2, total: 15 });
        assert_eq!(tally.counts(), Counts { errors: 2, total: 25 });
        assert_eq!(tally.instances(), 2);
    }

    #[test]
    fn the_token_goes_over_https_or_to_this_machine_only() {
        assert!(carries_a_token("https://oc-lettings.herokuapp.com/metrics"));
        assert!(carries_a_token("http://127.0.0.1:8000/metrics"));
        assert!(!carries_a_token("http://oc-lettings.example.com/metrics"));
        assert!(!carries_a_token("http://127.0.0.1.example.com/metrics"));
        assert!(!carries_a_token("not a url"));
    }

    #[test]
    fn the_limit_needs_enough_requests() {
        let watch = strict();
        assert!(!breaks(&watch, Counts { errors: 5, total: 10 }), "too few to judge");
        assert!(breaks(&watch, Counts { errors: 6, total: 100 }));
        assert!(
            !breaks(&watch, Counts { errors: 5, total: 100 }),
            "at the limit is within it"
        );
        assert_eq!(percent(Counts { errors: 6, total: 100 }), "6.0%");
    }
}
