//! A stand-in for the ECS and ECR APIs on a loopback port. It checks every request the
//! way AWS would: a POST of `application/x-amz-json-1.1` to `/`, an `X-Amz-Target` naming
//! an operation of the service's model, a SigV4 signature recomputed here (its own
//! implementation, from the raw request) with the test's keys, a fresh `X-Amz-Date`, and
//! the body against the operation's input shape in botocore's service model (members,
//! required members, types, enums). A request that breaks a rule is answered as AWS
//! answers it, and recorded as a violation so the test fails even if the client did not
//! notice.
//!
//! What it simulates (moto does not roll deployments): a service on a task definition
//! family; `RegisterTaskDefinition` adds a revision (its image must be in the registry
//! posing as ECR, by digest); `RunTask` starts a task that is PROVISIONING, RUNNING, then
//! STOPPED with `migration_exit`; `UpdateService` starts a PRIMARY deployment that is
//! IN_PROGRESS for two looks, then COMPLETED, or FAILED when its image is in
//! `failing_images`. `GET /readyz` answers 200 unless the running revision's image is in
//! `unready_images` (the service's URL, for the readiness check). `GET /metrics` (with
//! `metrics_token` as the bearer token, as the site asks) is a scrape of one of the
//! running revision's two instances in turn, in the site's format: each scrape finds it
//! has answered ten more requests since, four of them with a 500 when its image is in
//! `erroring_images` (an instance that fails once it is ready); `oc_build_info` names the
//! commit from `image_commits`.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use base64::Engine;
use ring::{digest, hmac};
use serde_json::{json, Value};

use super::http::{read_request, Background};

pub const ECS_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";
pub const ECR_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";
pub const LOGS_PREFIX: &str = "Logs_20140328";
/// The `awslogs` options of the site's container in the stand-in's task definitions.
pub const LOG_GROUP: &str = "/ecs/oc-lettings";
pub const LOG_PREFIX: &str = "ecs";
pub const ACCOUNT: &str = "123456789012";

/// botocore's service model of `service` (`ecs`, `ecr`), through botocore's own loader;
/// `None` when python3 or botocore is missing.
pub fn botocore_model(service: &str) -> Option<Value> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "import json, botocore.loaders as l; print(json.dumps(l.Loader().load_service_model('{service}', 'service-2')))"
            ),
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub target: String,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
}

pub struct State {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    /// Task definitions, oldest first (revision n at index n-1).
    pub task_definitions: Vec<Value>,
    /// The service's task definition ARN.
    pub running: String,
    pub deployments: Vec<Value>,
    looks_at_rollout: u32,
    pub network: Value,
    /// The registry posing as ECR: (host, user, password).
    pub ecr: (String, String, String),
    pub migration_exit: i64,
    /// What a one-off task other than `migrate` prints, and its exit code.
    pub one_off_output: Vec<String>,
    pub one_off_exit: i64,
    /// CloudWatch Logs streams of the `awslogs` group: stream name → messages.
    pub log_streams: HashMap<String, Vec<String>>,
    pub failing_images: Vec<String>,
    pub unready_images: Vec<String>,
    pub erroring_images: Vec<String>,
    /// Image digest → the commit its instances report.
    pub image_commits: Vec<(String, String)>,
    /// `METRICS_TOKEN` on the instances (None: `/metrics` is a 404, as without it).
    pub metrics_token: Option<String>,
    /// Instances' counters: process id → (requests, 5xx).
    pub instances: HashMap<String, (u64, u64)>,
    scrapes: u64,
    pub tasks: Vec<(String, Value, u32)>,
    pub requests: Vec<Recorded>,
    pub violations: Vec<String>,
}

impl State {
    fn arn(&self, revision: usize) -> String {
        format!(
            "arn:aws:ecs:{}:{ACCOUNT}:task-definition/oc-lettings:{revision}",
            self.region
        )
    }

    fn find_task_definition(&self, name: &str) -> Option<Value> {
        let short = name.rsplit('/').next().unwrap_or(name);
        let (family, revision) = match short.split_once(':') {
            Some((family, revision)) => (family, revision.parse::<usize>().ok()?),
            None => (short, self.task_definitions.len()),
        };
        if family != "oc-lettings" || revision == 0 {
            return None;
        }
        self.task_definitions.get(revision - 1).cloned()
    }

    fn image_of(&self, arn: &str) -> String {
        self.find_task_definition(arn)
            .and_then(|td| {
                td.pointer("/containerDefinitions/1/image")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    /// One instance of the running revision scraped (as the site writes `/metrics`).
    fn scrape(&mut self) -> String {
        let running = self.running.clone();
        let image = self.image_of(&running);
        let revision = running.rsplit(':').next().unwrap_or("0").to_owned();
        self.scrapes += 1;
        let process = format!("{:0>10}{:02}", revision, self.scrapes % 2);
        let erroring = self.erroring_images.iter().any(|bad| image.contains(bad.as_str()));
        let counts = self.instances.entry(process.clone()).or_insert((0, 0));
        counts.0 += 10;
        if erroring {
            counts.1 += 4;
        }
        let (total, errors) = *counts;
        let commit = self
            .image_commits
            .iter()
            .find(|(digest, _)| image.contains(digest.as_str()))
            .map_or("dev", |(_, commit)| commit.as_str());
        format!(
            "# HELP oc_build_info The release this process runs.\n# TYPE oc_build_info gauge\n\
             oc_build_info{{version=\"0.1.0\",commit=\"{commit}\",process=\"{process}\"}} 1\n\
             # HELP oc_http_requests_total Requests answered.\n# TYPE oc_http_requests_total counter\n\
             oc_http_requests_total{{route=\"/lettings/{{id}}/\",method=\"GET\",status=\"2xx\"}} {}\n\
             oc_http_requests_total{{route=\"/lettings/{{id}}/\",method=\"GET\",status=\"5xx\"}} {errors}\n\
             oc_http_requests_total{{route=\"/readyz\",method=\"GET\",status=\"2xx\"}} 3\n\
             oc_uptime_seconds 12.5\n",
            total - errors
        )
    }

    fn service_json(&self) -> Value {
        json!({
            "serviceArn": format!("arn:aws:ecs:{}:{ACCOUNT}:service/{}/{}", self.region, self.cluster, self.service),
            "serviceName": self.service,
            "clusterArn": format!("arn:aws:ecs:{}:{ACCOUNT}:cluster/{}", self.region, self.cluster),
            "status": "ACTIVE",
            "desiredCount": 2,
            "runningCount": 2,
            "launchType": "FARGATE",
            "platformVersion": "LATEST",
            "taskDefinition": self.running,
            "deployments": self.deployments,
            "networkConfiguration": self.network,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}},
        })
    }
}

pub struct FakeAws {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _server: Background,
}

/// The first revision: a log router beside the site's container, as real task
/// definitions often have, with output-only fields a registration must not send back.
fn task_definition(region: &str, revision: usize, image: &str) -> Value {
    json!({
        "taskDefinitionArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:task-definition/oc-lettings:{revision}"),
        "family": "oc-lettings",
        "revision": revision,
        "status": "ACTIVE",
        "registeredAt": 1_790_000_000 + revision as i64 * 3600,
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
        "compatibilities": ["EC2", "FARGATE"],
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"),
        "containerDefinitions": [
            {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable", "essential": false},
            {
                "name": "web",
                "image": image,
                "essential": true,
                "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": LOG_GROUP, "awslogs-region": region, "awslogs-stream-prefix": LOG_PREFIX}},
                "environment": [{"name": "ALLOWED_HOSTS", "value": "oc-lettings.example.com"}]
            }
        ]
    })
}

impl FakeAws {
    pub fn start(access_key: &str, secret_key: &str, ecr: (String, String, String)) -> FakeAws {
        let ecs_model = botocore_model("ecs").expect("botocore's ECS model");
        let ecr_model = botocore_model("ecr").expect("botocore's ECR model");
        let logs_model = botocore_model("logs").expect("botocore's CloudWatch Logs model");
        let region = "eu-west-1".to_owned();
        let first = task_definition(&region, 1, &format!("{}/oc-lettings@sha256:{}", ecr.0, "0".repeat(64)));
        let running = first["taskDefinitionArn"].as_str().unwrap().to_owned();
        let state = Arc::new(Mutex::new(State {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region,
            cluster: "oc-cluster".into(),
            service: "oc-web".into(),
            deployments: vec![json!({
                "id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": running,
                "desiredCount": 2, "runningCount": 2, "rolloutState": "COMPLETED"
            })],
            running,
            task_definitions: vec![first],
            looks_at_rollout: 0,
            network: json!({"awsvpcConfiguration": {"subnets": ["subnet-0abc"], "securityGroups": ["sg-0abc"], "assignPublicIp": "DISABLED"}}),
            ecr,
            migration_exit: 0,
            one_off_output: vec!["Superuser admin created.".to_owned()],
            one_off_exit: 0,
            log_streams: HashMap::new(),
            failing_images: Vec::new(),
            unready_images: Vec::new(),
            erroring_images: Vec::new(),
            image_commits: Vec::new(),
            metrics_token: None,
            instances: HashMap::new(),
            scrapes: 0,
            tasks: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
        }));
        let thread_state = state.clone();
        let server =
            Background::start(move |stream| serve(stream, &thread_state, [&ecs_model, &ecr_model, &logs_model]));
        FakeAws {
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
        assert!(violations.is_empty(), "the client broke AWS's rules: {violations:#?}");
    }

    /// The operations called, in order (`RunTask`, `UpdateService`, …).
    pub fn operations(&self) -> Vec<String> {
        self.with(|s| {
            s.requests
                .iter()
                .map(|r| r.target.rsplit('.').next().unwrap_or("").to_owned())
                .collect()
        })
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    super::http::respond(stream, status, "application/x-amz-json-1.1", body);
}

fn aws_error(kind: &str, message: &str) -> Value {
    json!({ "__type": kind, "message": message })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// Checks the request's SigV4 signature against `secret`: the scope (key, date, region,
/// service), the signed headers (host, x-amz-date and x-amz-target at least), the date's
/// freshness, and the signature itself, recomputed from what arrived.
#[allow(clippy::too_many_arguments)]
pub fn verify_signature(
    request_headers: &[(String, String)],
    method: &str,
    path: &str,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> Result<(), String> {
    let header = |name: &str| {
        request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let authorization = header("authorization").ok_or("no Authorization header")?;
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let mut parts = std::collections::HashMap::new();
    for part in rest.split(", ") {
        let (k, v) = part.split_once('=').ok_or("malformed Authorization")?;
        parts.insert(k.to_owned(), v.to_owned());
    }
    let credential = parts.get("Credential").ok_or("no Credential")?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(format!("malformed credential scope {credential}"));
    }
    if scope[0] != access_key {
        return Err(format!("unknown access key {}", scope[0]));
    }
    if scope[2] != region || scope[3] != service {
        return Err(format!(
            "scope {}/{} where {region}/{service} was expected",
            scope[2], scope[3]
        ));
    }
    let amz_date = header("x-amz-date").ok_or("no X-Amz-Date")?;
    if !amz_date.starts_with(scope[1]) {
        return Err("X-Amz-Date is not the scope's day".into());
    }
    let when = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ").map_err(|_| "bad X-Amz-Date")?;
    let skew = (chrono::Utc::now().naive_utc() - when).num_seconds().abs();
    if skew > 300 {
        return Err(format!("X-Amz-Date is {skew}s off (AWS allows 5 minutes)"));
    }
    let signed: Vec<&str> = parts
        .get("SignedHeaders")
        .ok_or("no SignedHeaders")?
        .split(';')
        .collect();
    for needed in ["host", "x-amz-date", "x-amz-target", "content-type"] {
        if !signed.contains(&needed) {
            return Err(format!("{needed} is not signed"));
        }
    }
    let mut sorted = signed.clone();
    sorted.sort_unstable();
    if sorted != signed {
        return Err("SignedHeaders are not sorted".into());
    }
    let mut canonical_headers = String::new();
    for name in &signed {
        let value = header(name).ok_or(format!("signed header {name} is missing"))?;
        canonical_headers.push_str(&format!(
            "{name}:{}\n",
            value.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    let canonical = format!(
        "{method}\n{path}\n\n{canonical_headers}\n{}\n{}",
        signed.join(";"),
        hex(digest::digest(&digest::SHA256, body).as_ref())
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        scope[1],
        scope[2],
        scope[3],
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = mac(format!("AWS4{secret}").as_bytes(), scope[1]);
    for part in [scope[2], scope[3], "aws4_request"] {
        key = mac(&key, part);
    }
    let expected = hex(&mac(&key, &to_sign));
    if parts.get("Signature") != Some(&expected) {
        return Err("The request signature we calculated does not match the signature you provided.".into());
    }
    Ok(())
}

/// What in `value` breaks `shape` of `model` (botocore's JSON service model).
pub fn shape_violations(model: &Value, shape: &str, value: &Value, path: &str) -> Vec<String> {
    let Some(spec) = model.pointer(&format!("/shapes/{shape}")) else {
        return vec![format!("{path}: unknown shape {shape}")];
    };
    let kind = spec["type"].as_str().unwrap_or("");
    let mut found = Vec::new();
    match kind {
        "structure" => {
            let Some(object) = value.as_object() else {
                return vec![format!("{path}: expected an object")];
            };
            let members = spec["members"].as_object().cloned().unwrap_or_default();
            for required in spec["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(required) {
                    found.push(format!("{path}.{required}: required"));
                }
            }
            for (key, item) in object {
                match members.get(key).and_then(|m| m["shape"].as_str()) {
                    Some(member) => found.extend(shape_violations(model, member, item, &format!("{path}.{key}"))),
                    None => found.push(format!("{path}.{key}: not a member of {shape}")),
                }
            }
        }
        "list" => match value.as_array() {
            Some(items) => {
                let member = spec["member"]["shape"].as_str().unwrap_or("");
                for (i, item) in items.iter().enumerate() {
                    found.extend(shape_violations(model, member, item, &format!("{path}[{i}]")));
                }
            }
            None => found.push(format!("{path}: expected a list")),
        },
        "map" => match value.as_object() {
            Some(object) => {
                let item_shape = spec["value"]["shape"].as_str().unwrap_or("");
                for (key, item) in object {
                    found.extend(shape_violations(model, item_shape, item, &format!("{path}.{key}")));
                }
            }
            None => found.push(format!("{path}: expected a map")),
        },
        "string" => match value.as_str() {
            Some(text) => {
                if let Some(allowed) = spec["enum"].as_array() {
                    if !allowed.iter().any(|a| a.as_str() == Some(text)) {
                        found.push(format!("{path}: {text:?} is not one of {allowed:?}"));
                    }
                }
            }
            None => found.push(format!("{path}: expected a string")),
        },
        "integer" | "long" => {
            if !value.is_i64() {
                found.push(format!("{path}: expected an integer"));
            } else if let (Some(min), Some(n)) = (spec["min"].as_i64(), value.as_i64()) {
                if n < min {
                    found.push(format!("{path}: under {min}"));
                }
            }
        }
        "boolean" if !value.is_boolean() => found.push(format!("{path}: expected a boolean")),
        "double" | "float" if !value.is_number() => found.push(format!("{path}: expected a number")),
        _ => {}
    }
    found
}

fn serve(mut stream: TcpStream, state: &Arc<Mutex<State>>, [ecs, ecr, logs]: [&Value; 3]) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let mut state = state.lock().unwrap();
    if request.method == "GET" && request.path == "/readyz" {
        let image = state.image_of(&state.running.clone());
        let ready = !state.unready_images.iter().any(|bad| image.contains(bad.as_str()));
        respond(&mut stream, if ready { 200 } else { 503 }, &json!({"ready": ready}));
        return;
    }
    if request.method == "GET" && request.path == "/metrics" {
        let Some(token) = state.metrics_token.clone() else {
            respond(&mut stream, 404, &json!({"error": "not found"}));
            return;
        };
        if request.header("authorization") != Some(&format!("Bearer {token}")) {
            respond(&mut stream, 401, &json!({"error": "unauthorized"}));
            return;
        }
        let text = state.scrape();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        return;
    }
    let target = request.header("x-amz-target").unwrap_or("").to_owned();
    let (model, service) = match target.split_once('.') {
        Some((ECS_PREFIX, _)) => (ecs, "ecs"),
        Some((ECR_PREFIX, _)) => (ecr, "ecr"),
        Some((LOGS_PREFIX, _)) => (logs, "logs"),
        _ => {
            state.violations.push(format!("unknown X-Amz-Target {target:?}"));
            respond(
                &mut stream,
                400,
                &aws_error("UnknownOperationException", "unknown target"),
            );
            return;
        }
    };
    let operation = target.rsplit('.').next().unwrap_or("").to_owned();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    state.requests.push(Recorded {
        target: target.clone(),
        body: body.clone(),
        headers: request.headers.clone(),
        raw_body: request.body.clone(),
    });
    if request.method != "POST" || request.path != "/" {
        state
            .violations
            .push(format!("{operation}: {} {}", request.method, request.path));
    }
    if request.header("content-type") != Some("application/x-amz-json-1.1") {
        state.violations.push(format!(
            "{operation}: Content-Type {:?}",
            request.header("content-type")
        ));
    }
    let (access, secret, region) = (state.access_key.clone(), state.secret_key.clone(), state.region.clone());
    if let Err(why) = verify_signature(
        &request.headers,
        &request.method,
        &request.path,
        &request.body,
        &access,
        &secret,
        &region,
        service,
    ) {
        // A wrong key is the client's setting, not a client bug: not a violation.
        if !why.starts_with("The request signature") && !why.starts_with("unknown access key") {
            state.violations.push(format!("{operation}: {why}"));
        }
        let kind = if why.starts_with("unknown access key") {
            "UnrecognizedClientException"
        } else {
            "InvalidSignatureException"
        };
        respond(&mut stream, 400, &aws_error(kind, &why));
        return;
    }
    let Some(input) = model
        .pointer(&format!("/operations/{operation}/input/shape"))
        .and_then(Value::as_str)
    else {
        state
            .violations
            .push(format!("{operation}: not an operation of {service}"));
        respond(&mut stream, 400, &aws_error("UnknownOperationException", &operation));
        return;
    };
    let violations = shape_violations(model, input, &body, &operation);
    if !violations.is_empty() {
        state.violations.extend(violations.iter().cloned());
        respond(
            &mut stream,
            400,
            &aws_error("SerializationException", &violations.join("; ")),
        );
        return;
    }
    let (status, answer) = route(&operation, &body, &mut state);
    respond(&mut stream, status, &answer);
}

fn route(operation: &str, body: &Value, state: &mut State) -> (u16, Value) {
    let cluster_ok = body.get("cluster").and_then(Value::as_str) == Some(state.cluster.as_str());
    match operation {
        "GetAuthorizationToken" => {
            let (host, user, password) = state.ecr.clone();
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            (
                200,
                json!({"authorizationData": [{"authorizationToken": token, "expiresAt": 1_900_000_000, "proxyEndpoint": format!("http://{host}")}]}),
            )
        }
        "DescribeServices" => {
            let wanted = body.pointer("/services/0").and_then(Value::as_str).unwrap_or("");
            if !cluster_ok {
                return (400, aws_error("ClusterNotFoundException", "Cluster not found."));
            }
            if wanted != state.service {
                let arn = format!(
                    "arn:aws:ecs:{}:{ACCOUNT}:service/{}/{wanted}",
                    state.region, state.cluster
                );
                return (
                    200,
                    json!({"services": [], "failures": [{"arn": arn, "reason": "MISSING"}]}),
                );
            }
            advance_rollout(state);
            (200, json!({"services": [state.service_json()], "failures": []}))
        }
        "DescribeTaskDefinition" => {
            let name = body["taskDefinition"].as_str().unwrap_or("");
            match state.find_task_definition(name) {
                Some(td) => (200, json!({"taskDefinition": td, "tags": []})),
                None => (400, aws_error("ClientException", "Unable to describe task definition.")),
            }
        }
        "ListTaskDefinitions" => {
            let mut arns: Vec<String> = (1..=state.task_definitions.len()).map(|r| state.arn(r)).collect();
            if body["sort"].as_str() == Some("DESC") {
                arns.reverse();
            }
            let max = body["maxResults"].as_u64().unwrap_or(100) as usize;
            arns.truncate(max);
            (200, json!({"taskDefinitionArns": arns}))
        }
        "RegisterTaskDefinition" => {
            let revision = state.task_definitions.len() + 1;
            let image = body
                .pointer("/containerDefinitions/1/image")
                .and_then(Value::as_str)
                .unwrap_or("");
            let (host, user, password) = state.ecr.clone();
            match image.split_once('@') {
                Some((name, digest)) if name == format!("{host}/oc-lettings") => {
                    if !manifest_exists(&host, &user, &password, "oc-lettings", digest) {
                        state
                            .violations
                            .push(format!("RegisterTaskDefinition: {image} is not in ECR"));
                    }
                }
                _ => state.violations.push(format!(
                    "RegisterTaskDefinition: {image:?} is not an ECR image pinned by digest"
                )),
            }
            if body.pointer("/containerDefinitions/0") != state.task_definitions[0].pointer("/containerDefinitions/0") {
                state
                    .violations
                    .push("RegisterTaskDefinition: the log router changed".into());
            }
            let mut td = body.clone();
            for (key, value) in task_definition(&state.region, revision, image).as_object().unwrap() {
                if matches!(
                    key.as_str(),
                    "taskDefinitionArn"
                        | "revision"
                        | "status"
                        | "registeredAt"
                        | "requiresAttributes"
                        | "compatibilities"
                ) {
                    td[key] = value.clone();
                }
            }
            state.task_definitions.push(td.clone());
            (200, json!({"taskDefinition": td, "tags": []}))
        }
        "RunTask" => {
            let td = body["taskDefinition"].as_str().unwrap_or("").to_owned();
            if state.find_task_definition(&td).is_none() {
                return (400, aws_error("ClientException", "TaskDefinition not found."));
            }
            let command = body
                .pointer("/overrides/containerOverrides/0/command")
                .cloned()
                .unwrap_or(Value::Null);
            if command.as_array().is_none_or(|c| c.is_empty())
                || body.pointer("/overrides/containerOverrides/0/name") != Some(&json!("web"))
            {
                state
                    .violations
                    .push(format!("RunTask: not a command of the site's container: {body}"));
            }
            if body.get("networkConfiguration") != Some(&state.network) || !cluster_ok {
                state
                    .violations
                    .push("RunTask: not on the service's network and cluster".into());
            }
            let arn = format!(
                "arn:aws:ecs:{}:{ACCOUNT}:task/{}/{:032x}",
                state.region,
                state.cluster,
                state.tasks.len() + 1
            );
            let environment = body
                .pointer("/overrides/containerOverrides/0/environment")
                .cloned()
                .unwrap_or(json!([]));
            state.tasks.push((
                arn.clone(),
                json!({"taskDefinitionArn": td, "command": command, "environment": environment}),
                0,
            ));
            (
                200,
                json!({"tasks": [{"taskArn": arn, "lastStatus": "PROVISIONING", "taskDefinitionArn": td}], "failures": []}),
            )
        }
        "DescribeTasks" => {
            let wanted = body
                .pointer("/tasks/0")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let (migration_exit, one_off_exit) = (state.migration_exit, state.one_off_exit);
            let one_off_output = state.one_off_output.clone();
            let Some(task) = state.tasks.iter_mut().find(|(arn, _, _)| *arn == wanted) else {
                return (
                    200,
                    json!({"tasks": [], "failures": [{"arn": wanted, "reason": "MISSING"}]}),
                );
            };
            task.2 += 1;
            let migrate = task.1["command"] == json!(["migrate"]);
            let exit = if migrate { migration_exit } else { one_off_exit };
            if task.2 == 2 {
                // It ran: what the awslogs driver would have written, by the task's id.
                let mut lines = if migrate {
                    vec!["SQLite file /data/oc-lettings.sqlite3: 1 migration(s) applied".to_owned()]
                } else {
                    one_off_output
                };
                // The environment it got, by name only (as a command would see it).
                for variable in task.1["environment"].as_array().cloned().unwrap_or_default() {
                    lines.push(format!(
                        "environment: {} is set",
                        variable["name"].as_str().unwrap_or("")
                    ));
                }
                let id = wanted.rsplit('/').next().unwrap_or("").to_owned();
                let stream = format!("{LOG_PREFIX}/web/{id}");
                state.log_streams.insert(stream, lines);
            }
            let Some(task) = state.tasks.iter_mut().find(|(arn, _, _)| *arn == wanted) else {
                return (500, aws_error("ServerException", "lost the task"));
            };
            let (status, containers) = match task.2 {
                1 => ("RUNNING", json!([{"name": "web", "lastStatus": "RUNNING"}])),
                _ => (
                    "STOPPED",
                    json!([{"name": "web", "lastStatus": "STOPPED", "exitCode": exit}]),
                ),
            };
            let mut described = json!({"taskArn": wanted, "lastStatus": status, "containers": containers});
            if status == "STOPPED" {
                described["stoppedReason"] = json!("Essential container in task exited");
            }
            (200, json!({"tasks": [described], "failures": []}))
        }
        "GetLogEvents" => {
            if body["logGroupName"] != LOG_GROUP {
                return (
                    400,
                    aws_error("ResourceNotFoundException", "The specified log group does not exist."),
                );
            }
            let stream = body["logStreamName"].as_str().unwrap_or("");
            let Some(messages) = state.log_streams.get(stream) else {
                return (
                    400,
                    aws_error("ResourceNotFoundException", "The specified log stream does not exist."),
                );
            };
            // One page: the events from the head, then the same token on an empty page.
            let events: Vec<Value> = if body.get("nextToken").is_some() {
                Vec::new()
            } else {
                messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| json!({"timestamp": 1_790_000_000_000_i64 + i as i64, "message": m, "ingestionTime": 1_790_000_000_500_i64}))
                    .collect()
            };
            (
                200,
                json!({"events": events, "nextForwardToken": "f/0001", "nextBackwardToken": "b/0001"}),
            )
        }
        "UpdateService" => {
            let td = body["taskDefinition"].as_str().unwrap_or("").to_owned();
            let Some(found) = state.find_task_definition(&td) else {
                return (400, aws_error("ClientException", "TaskDefinition not found."));
            };
            if !cluster_ok || body["service"].as_str() != Some(state.service.as_str()) {
                return (400, aws_error("ServiceNotFoundException", "Service not found."));
            }
            let arn = found["taskDefinitionArn"].as_str().unwrap_or("").to_owned();
            for deployment in &mut state.deployments {
                deployment["status"] = json!("ACTIVE");
            }
            let id = format!("ecs-svc/{}", state.requests.len());
            state.deployments.insert(
                0,
                json!({"id": id, "status": "PRIMARY", "taskDefinition": arn, "desiredCount": 2, "runningCount": 0, "rolloutState": "IN_PROGRESS", "rolloutStateReason": "ECS deployment in progress."}),
            );
            state.looks_at_rollout = 0;
            (200, json!({"service": state.service_json()}))
        }
        other => (
            400,
            aws_error("UnsupportedOperation", &format!("the stand-in does not serve {other}")),
        ),
    }
}

/// Two looks at an IN_PROGRESS deployment, then it COMPLETES (the service runs it, the
/// others drain) or FAILS (the service keeps what it ran).
fn advance_rollout(state: &mut State) {
    let Some(primary) = state.deployments.first().cloned() else {
        return;
    };
    if primary["rolloutState"] != "IN_PROGRESS" {
        return;
    }
    state.looks_at_rollout += 1;
    let arn = primary["taskDefinition"].as_str().unwrap_or("").to_owned();
    if state.looks_at_rollout < 3 {
        state.deployments[0]["runningCount"] = json!(1);
        return;
    }
    let image = state.image_of(&arn);
    if state.failing_images.iter().any(|bad| image.contains(bad.as_str())) {
        state.deployments[0]["rolloutState"] = json!("FAILED");
        state.deployments[0]["rolloutStateReason"] = json!("ECS deployment circuit breaker: tasks failed to start.");
        state.deployments[0]["runningCount"] = json!(0);
    } else {
        state.deployments[0]["rolloutState"] = json!("COMPLETED");
        state.deployments[0]["rolloutStateReason"] = json!("ECS deployment completed.");
        state.deployments[0]["runningCount"] = json!(2);
        state.deployments.truncate(1);
        state.running = arn;
    }
}

/// A plain HTTP client for loopback (ring as rustls's provider, as xtask's own).
pub fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::new()
}

fn manifest_exists(host: &str, user: &str, password: &str, repo: &str, digest: &str) -> bool {
    http()
        .head(format!("http://{host}/v2/{repo}/manifests/{digest}"))
        .basic_auth(user, Some(password))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .is_ok_and(|r| r.status().is_success())
}
