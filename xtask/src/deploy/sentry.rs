//! Releases and deploys in Sentry, as `sentry-cli releases new / set-commits / finalize`
//! and `deploys new` record them in a CI pipeline, through Sentry's web API
//! (`SENTRY_AUTH_TOKEN`, `SENTRY_ORG`, `SENTRY_PROJECT`; `SENTRY_URL` for a self-hosted
//! Sentry, default `https://sentry.io/`). The release is the one the site reports its
//! events under (`oc-lettings@<commit>`), so release health, suspect commits and
//! "resolved in next release" line up with the events. Also the error rate of a release,
//! for a deploy's watch when it cannot reach the instances.
//!
//! The token goes in the `Authorization` header only: never in a URL, a progress line or
//! an error message.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::blocking::{Client, RequestBuilder};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{checked_base_url, http_client};

pub const DEFAULT_URL: &str = "https://sentry.io/";

/// The span statuses of a server error (sentry-actix maps 500 to `internal_error`, 501 to
/// `unimplemented`, 503 to `unavailable`); a 404 is `not_found`, not a failure of the
/// release.
const SERVER_ERRORS: &str = "span.status:[internal_error,unavailable,unimplemented,unknown_error,data_loss]";

/// Sentry's name of the release of `commit`: what the site sets as its events' release.
pub fn version(commit: &str) -> String {
    format!("oc-lettings@{commit}")
}

/// A commit as Sentry's release API takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    /// `owner/name`, when the origin remote says it.
    pub repository: Option<String>,
    pub message: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// RFC 3339.
    pub timestamp: Option<String>,
}

/// A project in one organisation of a Sentry.
pub struct Sentry {
    http: Client,
    base: String,
    token: String,
    pub org: String,
    pub project: String,
}

impl std::fmt::Debug for Sentry {
    /// Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sentry")
            .field("base", &self.base)
            .field("org", &self.org)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// What the settings say: a Sentry to record in, or why not (one line).
pub enum Settings {
    Set(Sentry),
    Unset(String),
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    detail: Value,
}

impl Settings {
    /// From `SENTRY_AUTH_TOKEN`, `SENTRY_ORG`, `SENTRY_PROJECT` (and `SENTRY_URL`): all
    /// three, or the names of those unset.
    pub fn from_env() -> Result<Settings> {
        let names = ["SENTRY_AUTH_TOKEN", "SENTRY_ORG", "SENTRY_PROJECT"];
        let values: Vec<Option<String>> = names.iter().map(|n| crate::env::optional(n)).collect();
        let missing: Vec<&str> = names
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Ok(Settings::Unset(format!(
                "Sentry: no release recorded ({} unset)",
                missing.join(", ")
            )));
        }
        let mut values = values.into_iter().flatten();
        let (token, org, project) = (
            values.next().unwrap_or_default(),
            values.next().unwrap_or_default(),
            values.next().unwrap_or_default(),
        );
        for (name, value) in [("SENTRY_ORG", &org), ("SENTRY_PROJECT", &project)] {
            if !is_slug(value) {
                bail!("{name} {value:?} is not a Sentry slug (lowercase letters, digits, - and _)");
            }
        }
        let base = checked_base_url(
            &crate::env::optional("SENTRY_URL").unwrap_or_else(|| DEFAULT_URL.to_owned()),
            "SENTRY_URL",
        )?;
        Ok(Settings::Set(Sentry {
            http: http_client()?,
            base: base.trim_end_matches('/').to_owned(),
            token,
            org,
            project,
        }))
    }
}

fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Sentry {
    /// `…/api/0/organizations/{org}/` and then `below`, each segment escaped, with the
    /// trailing slash Sentry's routes have.
    fn url(&self, below: &[&str]) -> Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.base).context("SENTRY_URL")?;
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| anyhow!("SENTRY_URL cannot take a path"))?;
            path.pop_if_empty()
                .extend(["api", "0", "organizations", &self.org])
                .extend(below)
                .push("");
        }
        Ok(url)
    }

    fn send(&self, what: &str, request: RequestBuilder) -> Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .send()
            .map_err(|err| anyhow!("Sentry did not answer {what}: {}", err.without_url()))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_str::<ApiError>(&text)
                .ok()
                .map(|e| match e.detail {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            let detail: String = detail.chars().take(200).collect();
            bail!(
                "Sentry answered {} to {what}{}",
                status.as_u16(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            );
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `releases new` with `set-commits`: the release of `commit` in the project, the
    /// commit associated (its author makes suspect commits work). An existing release
    /// (a redeploy) is fine.
    pub fn new_release(&self, commit: &Commit) -> Result<()> {
        let version = version(&commit.id);
        let mut data = json!({ "id": commit.id });
        for (key, value) in [
            ("repository", &commit.repository),
            ("message", &commit.message),
            ("author_name", &commit.author_name),
            ("author_email", &commit.author_email),
            ("timestamp", &commit.timestamp),
        ] {
            if let Some(value) = value {
                data[key] = json!(value);
            }
        }
        let body = json!({ "version": version, "projects": [self.project], "commits": [data] });
        self.send(
            &format!("POST /organizations/{}/releases/", self.org),
            self.http.post(self.url(&["releases"])?).json(&body),
        )?;
        Ok(())
    }

    /// `releases finalize`: the release went live now.
    pub fn finalize(&self, commit: &str, released: &str) -> Result<()> {
        let version = version(commit);
        self.send(
            &format!("PUT /organizations/{}/releases/{version}/", self.org),
            self.http
                .put(self.url(&["releases", &version])?)
                .json(&json!({ "dateReleased": released })),
        )?;
        Ok(())
    }

    /// `deploys new`: `commit`'s release deployed to `environment` between the two times.
    pub fn record_deploy(&self, commit: &str, deploy: &Deploy<'_>) -> Result<()> {
        let version = version(commit);
        let mut body = json!({
            "environment": deploy.environment,
            "projects": [self.project],
            "dateStarted": deploy.started,
            "dateFinished": deploy.finished,
        });
        if let Some(name) = deploy.name {
            body["name"] = json!(name.chars().take(64).collect::<String>());
        }
        self.send(
            &format!("POST /organizations/{}/releases/{version}/deploys/", self.org),
            self.http
                .post(self.url(&["releases", &version, "deploys"])?)
                .json(&body),
        )?;
        Ok(())
    }

    /// The share of `commit`'s requests since `since` that failed with a server error, as
    /// Sentry's traces count them: (server errors, transactions).
    pub fn error_rate(&self, commit: &str, environment: &str, since: &str) -> Result<(u64, u64)> {
        let release = format!("release:\"{}\" is_transaction:true", version(commit));
        let count = |query: &str| -> Result<u64> {
            let mut url = self.url(&["events"])?;
            url.query_pairs_mut()
                .append_pair("dataset", "spans")
                .append_pair("field", "count()")
                .append_pair("project", &self.project)
                .append_pair("environment", environment)
                .append_pair("start", since)
                .append_pair("end", &now())
                .append_pair("query", query);
            let answer = self.send(&format!("GET /organizations/{}/events/", self.org), self.http.get(url))?;
            // A count, as an integer or (from some datasets) a float.
            let count = answer["data"]
                .get(0)
                .and_then(|row| row["count()"].as_f64())
                .unwrap_or(0.0);
            Ok(count.max(0.0).round() as u64)
        };
        let all = count(&release)?;
        let failed = if all == 0 {
            0
        } else {
            count(&format!("{release} {SERVER_ERRORS}"))?
        };
        Ok((failed, all))
    }
}

/// A deploy as `deploys new` records it.
pub struct Deploy<'a> {
    pub environment: &'a str,
    pub name: Option<&'a str>,
    pub started: &'a str,
    pub finished: &'a str,
}

/// Now, in RFC 3339 (UTC, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The environment the deploys are recorded in: `SENTRY_ENVIRONMENT` (as the site sends
/// it), else `production`.
pub fn environment() -> String {
    crate::env::optional("SENTRY_ENVIRONMENT").unwrap_or_else(|| "production".to_owned())
}

/// The commit `sha` as git knows it here (message, author, time), with the origin
/// remote's `owner/name`; only its id when git does not know it (a shallow clone).
pub fn commit_info(sha: &str) -> Commit {
    let sha = sha.trim_end_matches("-dirty");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(crate::runner::workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let mut commit = Commit {
        id: sha.to_owned(),
        ..Commit::default()
    };
    if let Some(shown) = git(&["show", "-s", "--format=%an%x00%ae%x00%cI%x00%s", sha, "--"]) {
        let mut parts = shown.trim_end_matches('\n').splitn(4, '\0');
        let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
        commit.author_name = next().map(|n| n.chars().take(128).collect());
        commit.author_email = next().filter(|e| e.len() <= 200);
        commit.timestamp = next();
        commit.message = next();
    }
    commit.repository = crate::env::optional("SENTRY_REPOSITORY")
        .or_else(|| git(&["remote", "get-url", "origin"]).and_then(|url| repository_of(url.trim())));
    commit
}

/// `owner/name` of a GitHub-style remote URL (`git@github.com:owner/name.git`,
/// `https://github.com/owner/name`); `None` for anything else.
pub fn repository_of(remote: &str) -> Option<String> {
    let path = remote
        .split_once("://")
        .map(|(_, rest)| rest.split_once('/').map_or("", |(_, p)| p))
        .or_else(|| remote.split_once(':').map(|(_, p)| p))?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = path.rsplit('/');
    let (name, owner) = (parts.next()?, parts.next()?);
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    (ok(owner) && ok(name) && owner.len() + name.len() < 64).then(|| format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_name_their_repository() {
        for (remote, repo) in [
            ("git@github.com:acme/oc-lettings.git", Some("acme/oc-lettings")),
            ("https://github.com/acme/oc-lettings", Some("acme/oc-lettings")),
            (
                "https://token@github.com/acme/oc-lettings.git/",
                Some("acme/oc-lettings"),
            ),
            ("/srv/git/oc-lettings", None),
            ("https://example.com/", None),
        ] {
            assert_eq!(repository_of(remote).as_deref(), repo, "{remote}");
        }
    }

    #[test]
    fn slugs_are_checked() {
        assert!(is_slug("acme-inc") && is_slug("oc_lettings2"));
        assert!(!is_slug("") && !is_slug("Acme") && !is_slug("a/b") && !is_slug("a?b"));
    }
}
