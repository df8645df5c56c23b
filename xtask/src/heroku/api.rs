//! A small client of the Heroku Platform API (the parts a container release needs), shaped
//! to Heroku's published schema, and of the Heroku registry's manifest endpoint.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::http::{checked_base_url, http_client};

/// The API's stable version, and the variant that accepts `docker_image` in formation updates.
pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";
pub const ACCEPT_DOCKER_RELEASES: &str = "application/vnd.heroku+json; version=3.docker-releases";
/// A Docker V2 schema 2 manifest (the only kind Heroku's registry takes).
pub const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub name: String,
    pub stack: Stack,
    pub web_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub id: String,
    pub version: i64,
    pub status: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub current: bool,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
}

pub struct Heroku {
    http: Client,
    base: String,
    key: String,
    pub app: String,
}

impl Heroku {
    pub fn new(base: &str, key: String, app: String) -> Result<Heroku> {
        Ok(Heroku {
            http: http_client()?,
            base: base.trim_end_matches('/').to_owned(),
            key,
            app,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str, accept: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Accept", accept)
            .bearer_auth(&self.key)
    }

    fn send<T: DeserializeOwned>(&self, request: RequestBuilder, what: &str) -> Result<T> {
        let response = request
            .send()
            .map_err(|err| anyhow!("{what}: cannot reach the Heroku API at {}: {err}", self.base))?;
        let response = check(response, what, &self.app)?;
        response
            .json::<T>()
            .map_err(|err| anyhow!("{what}: unexpected answer from the Heroku API: {err}"))
    }

    pub fn app_info(&self) -> Result<App> {
        let path = format!("/apps/{}", self.app);
        self.send(self.request(reqwest::Method::GET, &path, ACCEPT), "reading the app")
    }

    /// Releases, newest first (`Range: version ..; max=N, order=desc`).
    pub fn releases(&self, max: usize) -> Result<Vec<Release>> {
        let path = format!("/apps/{}/releases", self.app);
        let request = self
            .request(reqwest::Method::GET, &path, ACCEPT)
            .header("Range", format!("version ..; max={max}, order=desc"));
        self.send(request, "listing releases")
    }

    pub fn release(&self, version_or_id: &str) -> Result<Release> {
        let path = format!("/apps/{}/releases/{version_or_id}", self.app);
        self.send(self.request(reqwest::Method::GET, &path, ACCEPT), "reading the release")
    }

    /// Releases images (config digests) for process types in one formation update, as
    /// `heroku container:release web release` does: `release` is the release phase.
    pub fn release_images(&self, images: &[(&str, &str)]) -> Result<()> {
        let path = format!("/apps/{}/formation", self.app);
        let updates: Vec<serde_json::Value> = images
            .iter()
            .map(|(kind, image)| json!({ "type": kind, "docker_image": image }))
            .collect();
        let body = json!({ "updates": updates });
        let _: serde_json::Value = self.send(
            self.request(reqwest::Method::PATCH, &path, ACCEPT_DOCKER_RELEASES)
                .json(&body),
            "releasing the image",
        )?;
        Ok(())
    }

    /// Releases an earlier release's image and config again.
    pub fn rollback(&self, release_id: &str) -> Result<Release> {
        let path = format!("/apps/{}/releases", self.app);
        let body = json!({ "release": release_id });
        self.send(
            self.request(reqwest::Method::POST, &path, ACCEPT).json(&body),
            "rolling back",
        )
    }
}

/// A non-2xx answer as one line that says what to do.
fn check(response: Response, what: &str, app: &str) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().unwrap_or_default();
    let detail = serde_json::from_str::<ApiError>(&body)
        .map(|e| if e.message.is_empty() { e.id } else { e.message })
        .unwrap_or_else(|_| body.chars().take(200).collect());
    match status.as_u16() {
        401 => bail!("{what}: HEROKU_API_KEY was rejected (401 Unauthorized: {detail})"),
        403 => bail!("{what}: HEROKU_API_KEY may not act on app {app} (403 Forbidden: {detail})"),
        404 => bail!("{what}: no such app or release on Heroku: {app} (404: {detail})"),
        _ => bail!("{what}: the Heroku API answered {status}: {detail}"),
    }
}

/// A dyno, as the Platform API describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Dyno {
    pub id: String,
    /// `run.1234`: what its log lines carry.
    pub name: String,
    pub state: String,
}

/// The exit status in Heroku's line about `dyno` (`heroku[run.1234]: Process exited with
/// status 3`), if `line` is that line.
pub fn exit_status(line: &str, dyno: &str) -> Option<i32> {
    let rest = line.split_once(&format!("heroku[{dyno}]: "))?.1;
    rest.strip_prefix("Process exited with status ")?.trim().parse().ok()
}

/// The answer of a log session's creation.
#[derive(Debug, Deserialize)]
struct LogSession {
    logplex_url: String,
}

impl Heroku {
    /// The app's last `lines` log lines of the release phase (process type `release`), as
    /// Heroku writes them (`time source[dyno]: text`):
    /// a log session (`POST /apps/{app}/log-sessions`), then its `logplex_url` read
    /// without the API key (a session URL carries its own authority). Heroku sends a
    /// release command's output there, not to `output_stream_url`, when the image has no
    /// `curl`: this one is `FROM scratch`.
    pub fn release_logs(&self, lines: u32, within: Duration) -> Result<Vec<String>> {
        self.logs(
            json!({ "type": "release", "source": "app", "lines": lines, "tail": false }),
            within,
        )
    }

    /// The app's last `lines` log lines of the dyno `name` (its output and Heroku's lines
    /// about it: the exit status among them).
    pub fn dyno_logs(&self, name: &str, lines: u32, within: Duration) -> Result<Vec<String>> {
        self.logs(json!({ "dyno_name": name, "lines": lines, "tail": false }), within)
    }

    /// Starts a one-off dyno (`POST /apps/{app}/dynos`, type `run`, detached: its output
    /// goes to the app's logs) with `command` and `env` as its extra config vars.
    pub fn run_dyno(&self, command: &str, env: &[(String, String)]) -> Result<Dyno> {
        let path = format!("/apps/{}/dynos", self.app);
        let env: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let body = json!({ "command": command, "env": env, "type": "run", "attach": false, "time_to_live": 3600 });
        self.send(
            self.request(reqwest::Method::POST, &path, ACCEPT).json(&body),
            "starting a one-off dyno",
        )
    }

    /// The dyno `id`, or `None` once it is gone (a one-off dyno's process has exited).
    pub fn dyno(&self, id: &str) -> Result<Option<Dyno>> {
        let path = format!("/apps/{}/dynos/{id}", self.app);
        let response = self
            .request(reqwest::Method::GET, &path, ACCEPT)
            .send()
            .map_err(|err| anyhow!("reading the dyno: cannot reach the Heroku API at {}: {err}", self.base))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check(response, "reading the dyno", &self.app)?;
        response
            .json()
            .map(Some)
            .map_err(|err| anyhow!("reading the dyno: unexpected answer from the Heroku API: {err}"))
    }

    /// The lines a log session with `filter` gives (its `logplex_url` read without the
    /// API key: a session URL carries its own authority).
    fn logs(&self, filter: serde_json::Value, within: Duration) -> Result<Vec<String>> {
        let path = format!("/apps/{}/log-sessions", self.app);
        let body = filter;
        let session: LogSession = self.send(
            self.request(reqwest::Method::POST, &path, ACCEPT).json(&body),
            "reading the app's logs",
        )?;
        let url = checked_base_url(&session.logplex_url, "the log session's URL")?;
        let response = http_client()?
            .get(&url)
            .timeout(within)
            .send()
            .map_err(|err| anyhow!("cannot read the app's logs at the log session: {err}"))?;
        if !response.status().is_success() {
            bail!("the app's log session answered {}", response.status());
        }
        let text = response
            .text()
            .map_err(|err| anyhow!("the app's logs did not arrive: {err}"))?;
        Ok(text.lines().map(str::to_owned).collect())
    }
}

/// The lines logged at or after `since` (RFC 3339; a line without a time is kept).
pub fn logged_since(lines: &[String], since: &str) -> Vec<String> {
    let Ok(since) = chrono::DateTime::parse_from_rfc3339(since) else {
        return lines.to_vec();
    };
    lines
        .iter()
        .filter(|line| {
            let time = line.split_once(' ').map(|(t, _)| t).unwrap_or("");
            chrono::DateTime::parse_from_rfc3339(time).map_or(true, |t| t >= since)
        })
        .cloned()
        .collect()
}

/// A log line without its timestamp: `app[release.1234]: text` (Heroku's lines begin
/// with an RFC 3339 time and a space).
pub fn log_message(line: &str) -> String {
    match line.split_once(' ') {
        Some((time, rest)) if chrono::DateTime::parse_from_rfc3339(time).is_ok() => rest.to_owned(),
        _ => line.to_owned(),
    }
}

/// The config digest of `repository:tag` (what Heroku calls the image id), read back from
/// the registry with Basic auth.
pub fn config_digest(registry: &str, repository: &str, tag: &str, username: &str, password: &str) -> Result<String> {
    let client = crate::registry::Registry::new(registry, Some((username.to_owned(), password.to_owned())))?;
    let manifest = client
        .single_manifest(repository, tag)?
        .ok_or_else(|| anyhow!("reading the pushed manifest: {registry}/{repository}:{tag} is not there"))?;
    if manifest.media_type != MANIFEST_V2 {
        bail!(
            "reading the pushed manifest: {} is not a Docker V2 schema 2 manifest (Heroku needs one)",
            manifest.media_type
        );
    }
    Ok(manifest.config_digest)
}
