//! A fake of the Heroku Platform API on a loopback port. It checks every request the way
//! the real API would (Bearer key, Accept version, Range header, body against Heroku's
//! published schema) and answers with schema-shaped JSON. Each violation is recorded, so a
//! test fails when the client misbehaves even if the client did not notice.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{json, Value};

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
    pub violations: Vec<String>,
    polls_of_pending: u32,
}

pub struct FakeHeroku {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
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
            violations: Vec::new(),
            polls_of_pending: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_state, thread_stop) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let schema = Schema::load();
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &thread_state, &schema),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        FakeHeroku {
            url,
            state,
            stop,
            thread: Some(thread),
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

impl Drop for FakeHeroku {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn error(id: &str, message: &str) -> Value {
    json!({ "id": id, "message": message })
}

fn serve(mut stream: TcpStream, state: &Arc<Mutex<State>>, schema: &Schema) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let mut state = state.lock().unwrap();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    state.requests.push(Recorded {
        method: request.method.clone(),
        path: request.path.clone(),
        body: body.clone(),
    });
    let (status, answer) = route(&request, &body, &mut state, schema);
    drop(state);
    respond(&mut stream, status, &answer);
}

fn route(request: &Request, body: &Value, state: &mut State, schema: &Schema) -> (u16, Value) {
    if request.header("authorization") != Some(&format!("Bearer {}", state.key)) {
        return (401, error("unauthorized", "Invalid credentials provided."));
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
        return (400, error("bad_request", "Invalid Accept header."));
    }
    if !request.path.starts_with(&app_path) {
        return (404, error("not_found", "Couldn't find that app."));
    }
    let rest = &request.path[app_path.len()..];
    match (request.method.as_str(), rest) {
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
            let image = updates
                .first()
                .and_then(|u| u["docker_image"].as_str())
                .unwrap_or("")
                .to_owned();
            let valid_image =
                image.len() == 71 && image.starts_with("sha256:") && image[7..].bytes().all(|b| b.is_ascii_hexdigit());
            if !problems.is_empty() || updates.len() != 1 || updates[0]["type"] != "web" || !valid_image {
                state.violations.push(format!("formation update {body}: {problems:?}"));
                return (400, error("invalid_params", "Invalid formation update."));
            }
            state.released_images.push(image.clone());
            let version = state.releases.len() as i64 + 1;
            state.releases.push(release(
                version,
                "pending",
                &format!("Deployed web ({})", &image[7..19]),
                false,
            ));
            state.polls_of_pending = 0;
            (
                200,
                json!([{ "type": "web", "quantity": 1, "size": "basic", "docker_image": {"id": image} }]),
            )
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
                return (400, error("bad_request", "Invalid Range header."));
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
                return (404, error("not_found", "Couldn't find that release."));
            };
            let version = state.releases.len() as i64 + 1;
            let created = release(version, "pending", &format!("Rollback to v{}", old["version"]), false);
            state.releases.push(created.clone());
            state.polls_of_pending = 0;
            (201, created)
        }
        _ => (404, error("not_found", "Not found.")),
    }
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
