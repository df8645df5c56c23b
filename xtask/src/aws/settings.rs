//! The AWS deploy's settings, from the environment.

use anyhow::Result;

use super::api::{Aws, Service};
use super::sigv4::Credentials;
use crate::env;

/// The deploy's settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub region: String,
    pub credentials: Credentials,
    pub cluster: String,
    pub service: String,
    /// The ECR repository the image goes to.
    pub repository: String,
    /// The container of the task definition that runs the site (default: the only one,
    /// or the one whose image is in `repository`).
    pub container: Option<String>,
    /// Where the service answers (a load balancer's URL), for the `/readyz` check.
    pub service_url: Option<String>,
    pub ecs_endpoint: Option<String>,
    pub ecr_endpoint: Option<String>,
    pub logs_endpoint: Option<String>,
}

impl Settings {
    /// The settings; under a dry run (`dry_run`), missing ones shown as `<NAME>`.
    pub fn from_env(dry_run: bool) -> Result<Settings> {
        let mut needed = env::Needed::for_dry_run(dry_run);
        let region = needed.either(
            env::optional("AWS_REGION").or_else(|| env::optional("AWS_DEFAULT_REGION")),
            "AWS_REGION",
            "the region of the cluster, e.g. eu-west-1",
        );
        let credentials = Credentials {
            access_key_id: needed.var("AWS_ACCESS_KEY_ID", "the deploy user's access key"),
            secret_access_key: needed.var("AWS_SECRET_ACCESS_KEY", "the deploy user's secret key"),
            session_token: env::optional("AWS_SESSION_TOKEN"),
        };
        let cluster = needed.var("ECS_CLUSTER", "the ECS cluster the service runs in");
        let service = needed.var("ECS_SERVICE", "the ECS service that runs the site");
        needed.check()?;
        let endpoint = |service: &str| {
            env::optional(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| env::optional("AWS_ENDPOINT_URL"))
        };
        Ok(Settings {
            region,
            credentials,
            cluster,
            service,
            repository: env::optional("ECR_REPOSITORY").unwrap_or_else(|| "oc-lettings".to_owned()),
            container: env::optional("ECS_CONTAINER"),
            service_url: env::optional("SERVICE_URL"),
            ecs_endpoint: endpoint("ECS"),
            ecr_endpoint: endpoint("ECR"),
            logs_endpoint: endpoint("CLOUDWATCH_LOGS"),
        })
    }

    pub fn client(&self) -> Result<Aws> {
        Aws::new(
            self.region.clone(),
            self.credentials.clone(),
            Service::ecs(&self.region, self.ecs_endpoint.clone())?,
            Service::ecr(&self.region, self.ecr_endpoint.clone())?,
            Service::logs(&self.region, self.logs_endpoint.clone())?,
        )
    }
}
