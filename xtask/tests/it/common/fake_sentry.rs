//! A stand-in for Sentry's web API on a loopback port, for the deploy's releases, deploys
//! and error rate. It checks every request the way Sentry would: the bearer token, the
//! path against the operations of Sentry's published OpenAPI schema (an excerpt of
//! getsentry/sentry-api-schema in `tests/fixtures/sentry/`), the JSON body against the
//! operation's request schema (types, required fields, lengths, formats, and no field the
//! schema does not know: Sentry would drop it silently), the query's required parameters
//! and enums. Violations are recorded, so a test fails on a malformed call even when the
//! client did not notice. Its record (releases, their commits, deploys) is what a test
//! reads back.
//!
//! Its error-rate answers come from `spans`: transactions (release, status) a test puts
//! there, counted for the query's `release:"…"` and `span.status:[…]` terms.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::http::{read_request, Background, Request};

#[derive(Debug, Clone)]
pub struct Deploy {
    pub version: String,
    pub body: Value,
}

#[derive(Default)]
pub struct State {
    pub token: String,
    pub org: String,
    /// Release version → what was sent for it (merged: creation, then updates).
    pub releases: Vec<(String, Value)>,
    pub deploys: Vec<Deploy>,
    /// Transactions: (release, span status).
    pub spans: Vec<(String, String)>,
    /// Every request: method and path.
    pub requests: Vec<String>,
    pub violations: Vec<String>,
}

pub struct FakeSentry {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _server: Background,
}

impl FakeSentry {
    pub fn start(token: &str, org: &str) -> FakeSentry {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sentry/openapi-excerpt.json"
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            org: org.to_owned(),
            ..State::default()
        }));
        let thread_state = state.clone();
        let server = Background::start(move |mut stream| {
            if let Some(request) = read_request(&mut stream) {
                serve(&mut stream, &request, &thread_state, &schema);
            }
        });
        FakeSentry {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn assert_no_violations(&self) {
        let violations = self.with(|s| s.violations.clone());
        assert!(violations.is_empty(), "Sentry API violations: {violations:#?}");
    }

    /// The release `version` as recorded (None when never created).
    pub fn release(&self, version: &str) -> Option<Value> {
        self.with(|s| s.releases.iter().find(|(v, _)| v == version).map(|(_, r)| r.clone()))
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    super::http::respond(stream, status, "application/json", body);
}

/// Percent-decoding of a path segment or query value.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The schema's operation for `method` on `path` (its templates matched segment by
/// segment), with the path parameters.
fn operation<'a>(schema: &'a Value, method: &str, path: &str) -> Option<(&'a Value, Vec<(String, String)>)> {
    let segments: Vec<&str> = path.split('/').collect();
    for (template, ops) in schema["paths"].as_object()? {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = parts.iter().zip(&segments).all(|(t, s)| {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                params.push((name.to_owned(), decode(s)));
                !s.is_empty()
            } else {
                t == s
            }
        });
        if matched {
            if let Some(op) = ops.get(method.to_ascii_lowercase()) {
                return Some((op, params));
            }
        }
    }
    None
}

/// Every way `value` breaks the OpenAPI schema `schema`.
fn violations(schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut found = Vec::new();
    if value.is_null() {
        if schema["nullable"] != true && schema.get("type").is_some() {
            found.push(format!("{at}: null where the schema does not allow it"));
        }
        return found;
    }
    if let Some(options) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        if !options.iter().any(|o| violations(o, value, at).is_empty()) {
            found.push(format!("{at}: matches none of its alternatives"));
        }
        return found;
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(object) = value.as_object() else {
                found.push(format!("{at}: expected an object"));
                return found;
            };
            for required in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(required) {
                    found.push(format!("{at}: missing required {required:?}"));
                }
            }
            let properties = schema["properties"].as_object();
            for (key, item) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => found.extend(violations(property, item, &format!("{at}.{key}"))),
                    None if schema.get("additionalProperties").is_some() => {}
                    None => found.push(format!(
                        "{at}: {key:?} is not a field of this operation (Sentry ignores it)"
                    )),
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    found.extend(violations(&schema["items"], item, &format!("{at}[{i}]")));
                }
            }
            None => found.push(format!("{at}: expected an array")),
        },
        Some("string") => match value.as_str() {
            Some(text) => {
                let length = text.chars().count() as u64;
                if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
                    found.push(format!("{at}: longer than {}", schema["maxLength"]));
                }
                if schema["minLength"].as_u64().is_some_and(|min| length < min) {
                    found.push(format!("{at}: shorter than {}", schema["minLength"]));
                }
                if let Some(allowed) = schema["enum"].as_array() {
                    if !allowed.iter().any(|a| a == value) {
                        found.push(format!("{at}: {text:?} is not one of {allowed:?}"));
                    }
                }
                match schema["format"].as_str() {
                    Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                        found.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
                    }
                    Some("uri") if !text.contains("://") => found.push(format!("{at}: {text:?} is not a URI")),
                    _ => {}
                }
            }
            None => found.push(format!("{at}: expected a string")),
        },
        Some("integer") if !value.is_i64() && !value.is_u64() => found.push(format!("{at}: expected an integer")),
        Some("boolean") if !value.is_boolean() => found.push(format!("{at}: expected a boolean")),
        _ => {}
    }
    found
}

/// The query's `release:"…"` (or bare) value and its `span.status:[…]` list.
fn terms(query: &str) -> (Option<String>, Option<Vec<String>>, bool) {
    let release = query.split("release:").nth(1).map(|rest| {
        if let Some(quoted) = rest.strip_prefix('"') {
            quoted.split('"').next().unwrap_or("").to_owned()
        } else {
            rest.split_whitespace().next().unwrap_or("").to_owned()
        }
    });
    let statuses = query.split("span.status:[").nth(1).map(|rest| {
        rest.split(']')
            .next()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    });
    (release, statuses, query.contains("is_transaction:true"))
}

fn serve(stream: &mut TcpStream, request: &Request, state: &Arc<Mutex<State>>, schema: &Value) {
    let mut s = state.lock().unwrap();
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    s.requests.push(format!("{} {path}", request.method));
    if request.header("authorization") != Some(&format!("Bearer {}", s.token)) {
        respond(stream, 401, &json!({"detail": "Invalid token"}));
        return;
    }
    let Some((op, params)) = operation(schema, &request.method, path) else {
        s.violations
            .push(format!("{} {path}: no such operation in Sentry's API", request.method));
        respond(stream, 404, &json!({"detail": "Not found"}));
        return;
    };
    let operation_id = op["operationId"].as_str().unwrap_or("").to_owned();
    let param = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    if param("organization_id_or_slug").as_deref() != Some(s.org.as_str()) {
        respond(stream, 404, &json!({"detail": "The requested resource does not exist"}));
        return;
    }
    // The query's parameters against the operation's.
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    for parameter in op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
    {
        let name = parameter["name"].as_str().unwrap_or("");
        let given: Vec<&String> = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect();
        if parameter["required"] == true && given.is_empty() {
            s.violations
                .push(format!("{operation_id}: missing the query parameter {name}"));
        }
        if let Some(allowed) = parameter["schema"]["enum"].as_array() {
            for value in &given {
                if !allowed.iter().any(|a| a == value.as_str()) {
                    s.violations
                        .push(format!("{operation_id}: {name}={value} is not one of {allowed:?}"));
                }
            }
        }
        if parameter["schema"]["format"] == "date-time" {
            for value in &given {
                if chrono::DateTime::parse_from_rfc3339(value).is_err() {
                    s.violations
                        .push(format!("{operation_id}: {name}={value} is not a date-time"));
                }
            }
        }
    }
    let known: Vec<&str> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for (key, _) in &pairs {
        if !known.contains(&key.as_str()) {
            s.violations
                .push(format!("{operation_id}: unknown query parameter {key}"));
        }
    }
    // The body against the operation's request schema.
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(_) => {
                s.violations.push(format!("{operation_id}: the body is not JSON"));
                respond(stream, 400, &json!({"detail": "Malformed request"}));
                return;
            }
        }
    };
    if let Some(request_schema) = op.pointer("/requestBody/content/application~1json/schema") {
        if request
            .header("content-type")
            .is_none_or(|t| !t.starts_with("application/json"))
        {
            s.violations
                .push(format!("{operation_id}: the body is not sent as application/json"));
        }
        let found = violations(request_schema, &body, "body");
        if !found.is_empty() {
            s.violations
                .extend(found.iter().map(|v| format!("{operation_id}: {v}")));
            respond(stream, 400, &json!({"detail": found.join("; ")}));
            return;
        }
    }
    match operation_id.as_str() {
        "createOrganizationRelease" => {
            let version = body["version"].as_str().unwrap_or("").to_owned();
            if let Some((_, existing)) = s.releases.iter_mut().find(|(v, _)| *v == version) {
                if let Some(commits) = body.get("commits") {
                    existing["commits"] = commits.clone();
                }
                respond(stream, 208, &json!({"version": version}));
                return;
            }
            s.releases.push((version.clone(), body.clone()));
            respond(
                stream,
                201,
                &json!({"id": s.releases.len(), "version": version, "shortVersion": version,
                        "dateCreated": "2026-12-03T12:00:00Z", "dateReleased": null, "newGroups": 0,
                        "commitCount": body["commits"].as_array().map_or(0, Vec::len)}),
            );
        }
        "updateOrganizationRelease" | "createOrganizationReleaseDeploy" => {
            let version = param("version").unwrap_or_default();
            let Some(index) = s.releases.iter().position(|(v, _)| *v == version) else {
                respond(stream, 404, &json!({"detail": "The requested resource does not exist"}));
                return;
            };
            if operation_id == "updateOrganizationRelease" {
                for (key, value) in body.as_object().into_iter().flatten() {
                    s.releases[index].1[key] = value.clone();
                }
                respond(stream, 200, &json!({"version": version}));
            } else {
                s.deploys.push(Deploy {
                    version,
                    body: body.clone(),
                });
                respond(
                    stream,
                    201,
                    &json!({"id": s.deploys.len().to_string(), "environment": body["environment"],
                            "name": body["name"], "dateStarted": body["dateStarted"],
                            "dateFinished": body["dateFinished"]}),
                );
            }
        }
        "listOrganizationEvents" => {
            let query = pairs.iter().find(|(k, _)| k == "query").map_or("", |(_, v)| v.as_str());
            let (release, statuses, transactions) = terms(query);
            if !transactions {
                s.violations.push(format!(
                    "listOrganizationEvents: {query:?} does not select transactions"
                ));
            }
            let count = s
                .spans
                .iter()
                .filter(|(r, status)| {
                    release.as_ref().is_none_or(|want| want == r)
                        && statuses.as_ref().is_none_or(|list| list.contains(status))
                })
                .count();
            respond(
                stream,
                200,
                &json!({"data": [{"count()": count}], "meta": {"fields": {"count()": "integer"}}}),
            );
        }
        other => {
            s.violations
                .push(format!("{other}: not expected from the deploy toolkit"));
            respond(stream, 404, &json!({"detail": "Not found"}));
        }
    }
}
