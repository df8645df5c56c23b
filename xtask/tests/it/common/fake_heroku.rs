//! A fake of the Heroku Platform API on a loopback port. It checks every request the way
//! the real API would (Bearer key, Accept version, Range header, body against Heroku's
//! published schema) and answers with schema-shaped JSON. Each violation is recorded, so a
//! test fails when the client misbehaves even if the client did not notice.
//!
//! Its release phase is real: a formation update with a `release` image makes a `pending`
//! release whose release command runs for real (`docker run` of that image, with
//! `release_env` as the app's config vars), and its exit code makes the release
//! `succeeded` or `failed`. As on Heroku, nothing streams from an image without `curl`
//! (this one is `FROM scratch`): the release's `output_stream_url` stays null, and the
//! command's output goes to the app's logs (`app[release.N]: …`, then
//! `heroku[release.N]: Process exited with status …`), read through a log session
//! (`POST /apps/{app}/log-sessions`, checked against the schema, then its `logplex_url`,
//! which takes no API key). When `registry` is set, every released image id must
//! be the config digest of `<app>/<process>:latest` in that registry, as Heroku pulls it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::http::{read_request, Background, Request};
use super::schema::Schema;

pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";
pub const ACCEPT_DOCKER_RELEASES: &str = "application/vnd.heroku+json; version=3.docker-releases";

/// How the next release ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    Fail(String),
    StayPending,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
}

pub struct State {
    pub key: String,
    pub app: String,
    pub stack: String,
    pub web_url: String,
    pub outcome: Outcome,
    /// Releases, oldest first.
    pub releases: Vec<Value>,
    pub requests: Vec<Recorded>,
    pub released_images: Vec<String>,
    /// The release images whose command ran, in order.
    pub release_commands: Vec<String>,
    /// Config vars the release command runs with.
    pub release_env: Vec<(String, String)>,
    /// The registry posing as Heroku's: (host, user, password).
    pub registry: Option<(String, String, String)>,
    pub violations: Vec<String>,
    polls_of_pending: u32,
    /// Release version → (its release command's output so far, whether it has ended).
    outputs: HashMap<i64, (Vec<u8>, bool)>,
    /// The app's log lines, oldest first (Heroku's format: `time source[dyno]: text`).
    pub app_logs: Vec<String>,
    /// Log sessions: id → its filter and how many lines.
    log_sessions: HashMap<String, (LogFilter, usize)>,
    /// One-off dynos: (id, name, whether its process has exited).
    pub dynos: Vec<(String, String, bool)>,
    /// What a one-off dyno prints and its exit status, where no image can run (no
    /// registry set: the tests without Docker).
    pub one_off_output: Vec<String>,
    pub one_off_exit: i32,
    url: String,
}

fn url_of(state: &Arc<Mutex<State>>) -> String {
    state.lock().unwrap().url.clone()
}

pub struct FakeHeroku {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _server: Background,
}

/// What a log session selects: a process type (`release`), one dyno (`run.1042`), a
/// source (`app`: the process's own output; `heroku`: the platform's lines).
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    kind: Option<String>,
    dyno: Option<String>,
    source: Option<String>,
}

impl LogFilter {
    fn keeps(&self, line: &str) -> bool {
        // `time source[dyno]: text`
        let Some((_, rest)) = line.split_once(' ') else {
            return false;
        };
        let Some((source, rest)) = rest.split_once('[') else {
            return false;
        };
        let dyno = rest.split(']').next().unwrap_or("");
        self.source.as_ref().is_none_or(|s| s == source)
            && self.dyno.as_ref().is_none_or(|d| d == dyno)
            && self.kind.as_ref().is_none_or(|k| dyno.starts_with(&format!("{k}.")))
    }
}

fn dyno_json(id: &str, name: &str, command: &str, state: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "command": command,
        "state": state,
        "type": "run",
        "size": "basic",
        "attach_url": null,
        "created_at": now(),
        "updated_at": now(),
        "app": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": "oc-lettings-test"},
        "release": {"id": "01234567-89ab-cdef-0123-000000000001", "version": 1}
    })
}

/// The time now, as Heroku writes it in logs (microseconds) and in releases.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn release(version: i64, status: &str, description: &str, current: bool) -> Value {
    json!({
        "id": format!("01234567-89ab-cdef-0123-{version:012}"),
        "version": version,
        "status": status,
        "description": description,
        "created_at": "2026-11-25T12:00:00Z",
        "updated_at": "2026-11-25T12:00:00Z",
        "current": current,
        "eligible_for_rollback": true,
        "output_stream_url": null,
        "addon_plan_names": [],
        "artifacts": [],
        "app": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": "oc-lettings-test"},
        "slug": null,
        "user": {"id": "01234567-89ab-cdef-0123-456789abcdef", "email": "ci@example.com"}
    })
}

impl FakeHeroku {
    /// An app with `existing` succeeded releases (v1..=existing).
    pub fn start(key: &str, app: &str, existing: i64) -> FakeHeroku {
        let releases = (1..=existing)
            .map(|v| release(v, "succeeded", &format!("Deploy v{v}"), v == existing))
            .collect();
        let state = Arc::new(Mutex::new(State {
            key: key.to_owned(),
            app: app.to_owned(),
            stack: "container".to_owned(),
            web_url: format!("https://{app}.herokuapp.com/"),
            outcome: Outcome::Succeed,
            releases,
            requests: Vec::new(),
            released_images: Vec::new(),
            release_commands: Vec::new(),
            release_env: Vec::new(),
            registry: None,
            violations: Vec::new(),
            polls_of_pending: 0,
            outputs: HashMap::new(),
            app_logs: Vec::new(),
            log_sessions: HashMap::new(),
            dynos: Vec::new(),
            one_off_output: vec!["Superuser admin created.".to_owned()],
            one_off_exit: 0,
            url: String::new(),
        }));
        let (thread_state, schema) = (state.clone(), Schema::load());
        let server = Background::start(move |stream| serve(stream, &thread_state, &schema, &url_of(&thread_state)));
        state.lock().unwrap().url.clone_from(&server.url);
        FakeHeroku {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Asserts the client broke none of the API's rules.
    pub fn assert_no_violations(&self) {
        let violations = self.with(|s| s.violations.clone());
        assert!(
            violations.is_empty(),
            "the client broke the API's rules: {violations:#?}"
        );
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    super::http::respond(stream, status, "application/json", body);
}

fn error(id: &str, message: &str) -> Value {
    json!({ "id": id, "message": message })
}

fn serve(mut stream: TcpStream, state: &Arc<Mutex<State>>, schema: &Schema, url: &str) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    if let Some(id) = request.path.strip_prefix("/logplex/") {
        let mut locked = state.lock().unwrap();
        if request.header("authorization").is_some() {
            locked
                .violations
                .push("the API key was sent to the log session's URL".to_owned());
        }
        let Some((filter, lines)) = locked.log_sessions.get(id).cloned() else {
            drop(locked);
            respond(&mut stream, 404, &error("not_found", "No such log session."));
            return;
        };
        let matching: Vec<&String> = locked.app_logs.iter().filter(|line| filter.keeps(line)).collect();
        let text: String = matching[matching.len().saturating_sub(lines)..]
            .iter()
            .map(|line| format!("{line}\n"))
            .collect();
        drop(locked);
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        return;
    }
    let mut locked = state.lock().unwrap();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    locked.requests.push(Recorded {
        method: request.method.clone(),
        path: request.path.clone(),
        body: body.clone(),
    });
    let (status, answer, phase) = route(&request, &body, &mut locked, schema, url);
    drop(locked);
    respond(&mut stream, status, &answer);
    match phase {
        Some(Start::ReleasePhase(version, image)) => {
            let state = state.clone();
            std::thread::spawn(move || run_release_command(&state, version, &image));
        }
        Some(Start::OneOff { name, command, env }) => {
            let state = state.clone();
            std::thread::spawn(move || run_one_off(&state, &name, &command, &env));
        }
        None => {}
    }
}

/// A one-off dyno's process: with a registry (the image tests), the released web image
/// really runs the command (`docker run`, the image's entrypoint, the command's words as
/// its arguments, `env` as the dyno's environment); without, the scripted
/// `one_off_output` and `one_off_exit`. Its output and exit go to the app's logs as
/// Heroku writes them, then the dyno is gone.
fn run_one_off(state: &Arc<Mutex<State>>, name: &str, command: &str, env: &[(String, String)]) {
    let (image, scripted, scripted_exit) = {
        let state = state.lock().unwrap();
        let image = state.registry.as_ref().and(state.released_images.last().cloned());
        (image, state.one_off_output.clone(), state.one_off_exit)
    };
    let (output, exit) = match image {
        Some(image) => {
            let mut docker = std::process::Command::new("docker");
            docker.args(["run", "--rm"]);
            for (key, value) in env {
                docker.args(["--env", &format!("{key}={value}")]);
            }
            let ran = docker.arg(&image).args(command.split_whitespace()).output();
            match ran {
                Ok(out) => (
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                    out.status.code().unwrap_or(1),
                ),
                Err(err) => (format!("cannot run docker: {err}"), 1),
            }
        }
        None => {
            let mut lines = scripted.join("\n");
            for (key, _) in env {
                lines.push_str(&format!("\nenvironment: {key} is set"));
            }
            (lines, scripted_exit)
        }
    };
    let mut state = state.lock().unwrap();
    state.app_logs.push(format!(
        "{} heroku[{name}]: Starting process with command `{command}`",
        now()
    ));
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        state.app_logs.push(format!("{} app[{name}]: {line}", now()));
    }
    state
        .app_logs
        .push(format!("{} heroku[{name}]: Process exited with status {exit}", now()));
    if let Some(dyno) = state.dynos.iter_mut().find(|(_, n, _)| n == name) {
        dyno.2 = true;
    }
}

/// Runs the release image's command as Heroku's release phase does, output kept for the
/// stream, and settles the release by its exit code.
fn run_release_command(state: &Arc<Mutex<State>>, version: i64, image: &str) {
    let env = state.lock().unwrap().release_env.clone();
    let mut command = std::process::Command::new("docker");
    command.args(["run", "--rm"]);
    for (key, value) in &env {
        command.args(["--env", &format!("{key}={value}")]);
    }
    let child = command
        .arg(image)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let success = match child {
        Ok(mut child) => {
            let stderr = child.stderr.take().unwrap();
            let errors = {
                let state = state.clone();
                std::thread::spawn(move || copy_output(stderr, &state, version))
            };
            copy_output(child.stdout.take().unwrap(), state, version);
            let _ = errors.join();
            child.wait().is_ok_and(|status| status.success())
        }
        Err(err) => {
            append_output(state, version, format!("cannot run docker: {err}\n").as_bytes());
            false
        }
    };
    let mut state = state.lock().unwrap();
    if let Some(output) = state.outputs.get_mut(&version) {
        output.1 = true;
    }
    // What Heroku's logs hold of the release phase: its output, then how it ended.
    let output = state
        .outputs
        .get(&version)
        .map(|(bytes, _)| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    let dyno = format!("release.{}", 1000 + version);
    let lines: Vec<String> = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| format!("{} app[{dyno}]: {line}", now()))
        .collect();
    state.app_logs.extend(lines);
    state.app_logs.push(format!(
        "{} heroku[{dyno}]: Process exited with status {}",
        now(),
        if success { 0 } else { 1 }
    ));
    let succeeded_at = state.releases.iter().position(|r| r["version"] == version);
    if let Some(at) = succeeded_at {
        if success {
            for release in &mut state.releases {
                release["current"] = json!(false);
            }
            state.releases[at]["status"] = json!("succeeded");
            state.releases[at]["current"] = json!(true);
        } else {
            state.releases[at]["status"] = json!("failed");
        }
    }
}

fn copy_output(mut from: impl Read, state: &Arc<Mutex<State>>, version: i64) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 {
            break;
        }
        append_output(state, version, &buffer[..n]);
    }
}

fn append_output(state: &Arc<Mutex<State>>, version: i64, bytes: &[u8]) {
    if let Some(output) = state.lock().unwrap().outputs.get_mut(&version) {
        output.0.extend_from_slice(bytes);
    }
}

/// The config digest of `<app>/<process>:latest` in the registry posing as Heroku's.
fn pushed_config(registry: &(String, String, String), app: &str, process: &str) -> Option<String> {
    let (host, user, password) = registry;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Asked as a client that takes anything, so an OCI manifest or an index shows as
    // what it is: Heroku's registry takes Docker V2 schema 2 only.
    let response = reqwest::blocking::Client::new()
        .get(format!("http://{host}/v2/{app}/{process}/manifests/latest"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .basic_auth(user, Some(password))
        .send()
        .ok()?;
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if kind != "application/vnd.docker.distribution.manifest.v2+json" {
        return None; // refused: not V2 schema 2
    }
    let manifest: Value = response.json().ok()?;
    manifest["config"]["digest"].as_str().map(str::to_owned)
}

/// What a request starts once it is answered.
enum Start {
    /// A release's release phase: (release version, release image).
    ReleasePhase(i64, String),
    /// A one-off dyno's process.
    OneOff {
        name: String,
        command: String,
        env: Vec<(String, String)>,
    },
}

/// An answer, and what to start after it.
type Answer = (u16, Value, Option<Start>);

fn route(request: &Request, body: &Value, state: &mut State, schema: &Schema, url: &str) -> Answer {
    if request.header("authorization") != Some(&format!("Bearer {}", state.key)) {
        return (401, error("unauthorized", "Invalid credentials provided."), None);
    }
    let app_path = format!("/apps/{}", state.app);
    let formation = request.method == "PATCH" && request.path == format!("{app_path}/formation");
    let expected_accept = if formation { ACCEPT_DOCKER_RELEASES } else { ACCEPT };
    if request.header("accept") != Some(expected_accept) {
        state.violations.push(format!(
            "{} {}: Accept {:?}, expected {expected_accept:?}",
            request.method,
            request.path,
            request.header("accept")
        ));
        return (400, error("bad_request", "Invalid Accept header."), None);
    }
    if !request.path.starts_with(&app_path) {
        return (404, error("not_found", "Couldn't find that app."), None);
    }
    let rest = &request.path[app_path.len()..];
    let (status, value) = match (request.method.as_str(), rest) {
        ("GET", "") => {
            let app = json!({
                "id": "01234567-89ab-cdef-0123-456789abcdef",
                "name": state.app,
                "stack": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": state.stack},
                "web_url": state.web_url,
            });
            (200, app)
        }
        ("PATCH", "/formation") => {
            let problems = schema.violations(
                schema.link("formation", "Batch Update"),
                body,
                "body",
                &["docker_image"],
            );
            let updates = body["updates"].as_array().cloned().unwrap_or_default();
            let mut images: Vec<(String, String)> = Vec::new();
            let mut bad = !problems.is_empty() || updates.is_empty();
            for update in &updates {
                let kind = update["type"].as_str().unwrap_or("").to_owned();
                let image = update["docker_image"].as_str().unwrap_or("").to_owned();
                let valid_image = image.len() == 71
                    && image.starts_with("sha256:")
                    && image[7..].bytes().all(|b| b.is_ascii_hexdigit());
                bad |= !valid_image || !["web", "release"].contains(&kind.as_str());
                if let Some(registry) = &state.registry {
                    if pushed_config(registry, &state.app, &kind).as_deref() != Some(image.as_str()) {
                        state.violations.push(format!(
                            "{kind} image {image} is not {}/{kind}:latest in the registry as a Docker V2 schema 2 manifest",
                            state.app
                        ));
                        bad = true;
                    }
                }
                images.push((kind, image));
            }
            let web = images.iter().find(|(k, _)| k == "web").map(|(_, i)| i.clone());
            let (Some(web), false) = (web, bad) else {
                state.violations.push(format!("formation update {body}: {problems:?}"));
                return (400, error("invalid_params", "Invalid formation update."), None);
            };
            let phase = images.iter().find(|(k, _)| k == "release").map(|(_, i)| i.clone());
            state.released_images.push(web.clone());
            let version = state.releases.len() as i64 + 1;
            let mut description = format!("Deployed web ({})", &web[7..19]);
            let mut created = release(version, "pending", "", false);
            created["created_at"] = json!(now());
            created["updated_at"] = json!(now());
            let phase = match (phase, &state.outcome) {
                (Some(image), Outcome::Succeed) => {
                    description.push_str(&format!(", release ({})", &image[7..19]));
                    state.outputs.insert(version, (Vec::new(), false));
                    state.release_commands.push(image.clone());
                    Some((version, image))
                }
                _ => None,
            };
            created["description"] = json!(description);
            state.releases.push(created);
            state.polls_of_pending = 0;
            let formation: Vec<Value> = images
                .iter()
                .map(|(kind, image)| json!({ "type": kind, "quantity": 1, "size": "basic", "docker_image": {"id": image} }))
                .collect();
            return (
                200,
                Value::Array(formation),
                phase.map(|(v, i)| Start::ReleasePhase(v, i)),
            );
        }
        ("GET", "/releases") => {
            let range = request.header("range").unwrap_or("");
            let max = range
                .strip_prefix("version ..; max=")
                .and_then(|r| r.strip_suffix(", order=desc"))
                .and_then(|n| n.parse::<usize>().ok());
            let Some(max) = max else {
                state.violations.push(format!(
                    "releases listed with Range {range:?}, expected `version ..; max=N, order=desc`"
                ));
                return (400, error("bad_request", "Invalid Range header."), None);
            };
            advance(state);
            let newest_first: Vec<Value> = state.releases.iter().rev().take(max).cloned().collect();
            for release in &newest_first {
                let problems = schema.violations(schema.definition("release"), release, "release", &[]);
                assert!(
                    problems.is_empty(),
                    "the fake's own release breaks the schema: {problems:?}"
                );
            }
            (206, Value::Array(newest_first))
        }
        ("GET", rest) if rest.starts_with("/releases/") => {
            let key = &rest["/releases/".len()..];
            match state
                .releases
                .iter()
                .find(|r| r["version"].as_i64().is_some_and(|v| v.to_string() == key) || r["id"] == key)
            {
                Some(release) => (200, release.clone()),
                None => (404, error("not_found", "Couldn't find that release.")),
            }
        }
        ("POST", "/releases") => {
            let problems = schema.violations(schema.link("release", "Rollback"), body, "body", &[]);
            let target = body["release"].as_str().unwrap_or("");
            let Some(old) = state.releases.iter().find(|r| r["id"] == target).cloned() else {
                state
                    .violations
                    .push(format!("rollback to an unknown release: {body} {problems:?}"));
                return (404, error("not_found", "Couldn't find that release."), None);
            };
            let version = state.releases.len() as i64 + 1;
            let mut created = release(version, "pending", &format!("Rollback to v{}", old["version"]), false);
            created["created_at"] = json!(now());
            created["updated_at"] = json!(now());
            state.releases.push(created.clone());
            state.polls_of_pending = 0;
            (201, created)
        }
        ("POST", "/dynos") => {
            let problems = schema.violations(schema.link("dyno", "Create"), body, "body", &[]);
            let command = body["command"].as_str().unwrap_or("").to_owned();
            if !problems.is_empty() || command.is_empty() || body["type"] != "run" {
                state.violations.push(format!("dyno create {body}: {problems:?}"));
                return (422, error("invalid_params", "Invalid dyno."), None);
            }
            let number = 1000 + state.dynos.len() + 1;
            let (id, name) = (format!("01234567-89ab-cdef-0123-{number:012}"), format!("run.{number}"));
            state.dynos.push((id.clone(), name.clone(), false));
            let env: Vec<(String, String)> = body["env"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let dyno = dyno_json(&id, &name, &command, "starting");
            let problems = schema.violations(schema.definition("dyno"), &dyno, "dyno", &[]);
            assert!(
                problems.is_empty(),
                "the fake's own dyno breaks the schema: {problems:?}"
            );
            return (201, dyno, Some(Start::OneOff { name, command, env }));
        }
        ("GET", rest) if rest.starts_with("/dynos/") => {
            let id = &rest["/dynos/".len()..];
            match state.dynos.iter().find(|(d, n, _)| d == id || n == id) {
                Some((id, name, false)) => (200, dyno_json(id, name, "", "up")),
                _ => (404, error("not_found", "Couldn't find that process.")),
            }
        }
        ("POST", "/log-sessions") => {
            let problems = schema.violations(schema.link("log-session", "Create"), body, "body", &[]);
            if !problems.is_empty() {
                state.violations.push(format!("log session {body}: {problems:?}"));
                return (422, error("invalid_params", "Invalid log session."), None);
            }
            let id = format!("01234567-89ab-cdef-0123-{:012}", state.log_sessions.len() + 1);
            let text = |key: &str| body[key].as_str().map(str::to_owned);
            let filter = LogFilter {
                kind: text("type"),
                dyno: text("dyno_name"),
                source: text("source"),
            };
            let lines = body["lines"].as_u64().unwrap_or(100) as usize;
            state.log_sessions.insert(id.clone(), (filter, lines));
            let session = json!({
                "id": id,
                "logplex_url": format!("{url}/logplex/{id}"),
                "created_at": "2026-11-25T12:00:00Z",
                "updated_at": "2026-11-25T12:00:00Z",
            });
            let problems = schema.violations(schema.definition("log-session"), &session, "log-session", &[]);
            assert!(
                problems.is_empty(),
                "the fake's own log session breaks the schema: {problems:?}"
            );
            (201, session)
        }
        _ => (404, error("not_found", "Not found.")),
    };
    (status, value, None)
}

/// A pending release finishes at the second look, as the outcome says.
fn advance(state: &mut State) {
    let outcome = state.outcome.clone();
    let Some(last) = state.releases.last_mut() else {
        return;
    };
    if last["status"] != "pending" {
        return;
    }
    let version = last["version"].as_i64().unwrap_or(0);
    if state.outputs.contains_key(&version) {
        return; // its release command settles it
    }
    state.polls_of_pending += 1;
    if state.polls_of_pending < 2 {
        return;
    }
    match outcome {
        Outcome::Succeed => {
            last["status"] = json!("succeeded");
            last["current"] = json!(true);
        }
        Outcome::Fail(reason) => {
            last["status"] = json!("failed");
            last["description"] = json!(reason);
        }
        Outcome::StayPending => {}
    }
}
