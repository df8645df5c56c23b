//! The two AWS JSON APIs the deploy needs, ECS and ECR: a POST of JSON to the service's
//! endpoint with `X-Amz-Target: <prefix>.<Operation>`, signed with SigV4. Endpoints
//! follow the SDKs' settings (`AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL_ECR`,
//! `AWS_ENDPOINT_URL`), so tests aim them at a loopback stand-in.

use anyhow::{anyhow, bail, Result};
use reqwest::blocking::Client;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::sigv4::{self, Credentials};
use crate::http::{checked_base_url, http_client};

/// One AWS service as the signer and the endpoint need it.
#[derive(Debug, Clone)]
pub struct Service {
    /// For messages: "ECS", "ECR".
    pub label: &'static str,
    /// The signing name (`ecs`, `ecr`).
    pub signing_name: &'static str,
    /// `X-Amz-Target`'s prefix.
    pub target_prefix: &'static str,
    /// `https://ecs.eu-west-1.amazonaws.com`, or the override.
    pub endpoint: String,
}

pub const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";
pub const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921";
pub const LOGS_TARGET: &str = "Logs_20140328";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

impl Service {
    /// ECS in `region`, at `endpoint` when one is given.
    pub fn ecs(region: &str, endpoint: Option<String>) -> Result<Service> {
        Ok(Service {
            label: "ECS",
            signing_name: "ecs",
            target_prefix: ECS_TARGET,
            endpoint: endpoint_or(
                endpoint,
                &format!("https://ecs.{region}.amazonaws.com"),
                "the ECS endpoint",
            )?,
        })
    }

    /// ECR's API in `region` (the registry itself is elsewhere), at `endpoint` when given.
    pub fn ecr(region: &str, endpoint: Option<String>) -> Result<Service> {
        Ok(Service {
            label: "ECR",
            signing_name: "ecr",
            target_prefix: ECR_TARGET,
            endpoint: endpoint_or(
                endpoint,
                &format!("https://api.ecr.{region}.amazonaws.com"),
                "the ECR endpoint",
            )?,
        })
    }

    /// CloudWatch Logs in `region` (a one-off task's output, with the `awslogs` driver).
    pub fn logs(region: &str, endpoint: Option<String>) -> Result<Service> {
        Ok(Service {
            label: "CloudWatch Logs",
            signing_name: "logs",
            target_prefix: LOGS_TARGET,
            endpoint: endpoint_or(
                endpoint,
                &format!("https://logs.{region}.amazonaws.com"),
                "the CloudWatch Logs endpoint",
            )?,
        })
    }

    fn host(&self) -> &str {
        let rest = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}

fn endpoint_or(endpoint: Option<String>, default: &str, what: &str) -> Result<String> {
    checked_base_url(endpoint.as_deref().unwrap_or(default), what)
}

/// A signed JSON client of ECS and ECR.
pub struct Aws {
    http: Client,
    pub region: String,
    credentials: Credentials,
    pub ecs: Service,
    pub ecr: Service,
    pub logs: Service,
}

impl Aws {
    pub fn new(region: String, credentials: Credentials, ecs: Service, ecr: Service, logs: Service) -> Result<Aws> {
        Ok(Aws {
            http: http_client()?,
            region,
            credentials,
            ecs,
            ecr,
            logs,
        })
    }

    /// Calls `operation` of `service` with `body`; the answer's JSON, or one line naming
    /// the operation and AWS's error (`ServiceNotFoundException: …`).
    pub fn call(&self, service: &Service, operation: &str, body: &Value) -> Result<Value> {
        let payload = serde_json::to_vec(body)?;
        let target = format!("{}.{operation}", service.target_prefix);
        let host = service.host().to_owned();
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let request = sigv4::Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[
                ("content-type", CONTENT_TYPE),
                ("host", &host),
                ("x-amz-target", &target),
            ],
            body: &payload,
        };
        let signed = sigv4::sign(
            &request,
            &self.credentials,
            &self.region,
            service.signing_name,
            &amz_date,
        );
        let mut builder = self
            .http
            .post(format!("{}/", service.endpoint))
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", &target)
            .body(payload);
        for (name, value) in &signed {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let what = format!("{} {operation}", service.label);
        let response = builder
            .send()
            .map_err(|err| anyhow!("{what}: cannot reach {}: {err}", service.endpoint))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        let json: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&text).map_err(|err| anyhow!("{what}: answered {status} with no JSON: {err}"))?
        };
        if status.is_success() {
            return Ok(json);
        }
        let kind = json
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| status.to_string());
        let message = json
            .get("message")
            .or_else(|| json.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let hint = match kind.as_str() {
            "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
                ": check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"
            }
            "AccessDeniedException" => ": the IAM policy lacks this action (docs/deploy-aws.md lists it)",
            _ => "",
        };
        bail!("{what}: {kind}: {message}{hint}")
    }

    /// `operation` of ECS, its answer read as `T` (`Value` for an answer not read).
    pub fn ecs<T: DeserializeOwned>(&self, operation: &str, body: &Value) -> Result<T> {
        typed(&self.ecs, operation, self.call(&self.ecs, operation, body)?)
    }

    /// `operation` of CloudWatch Logs, its answer read as `T`.
    pub fn logs<T: DeserializeOwned>(&self, operation: &str, body: &Value) -> Result<T> {
        typed(&self.logs, operation, self.call(&self.logs, operation, body)?)
    }

    /// `operation` of ECR, its answer read as `T`.
    pub fn ecr<T: DeserializeOwned>(&self, operation: &str, body: &Value) -> Result<T> {
        typed(&self.ecr, operation, self.call(&self.ecr, operation, body)?)
    }
}

/// An answer as `T`, or one line naming the operation and what did not fit.
fn typed<T: DeserializeOwned>(service: &Service, operation: &str, answer: Value) -> Result<T> {
    serde_json::from_value(answer)
        .map_err(|err| anyhow!("{} {operation}: an answer this tool cannot read: {err}", service.label))
}
