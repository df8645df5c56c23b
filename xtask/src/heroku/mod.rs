//! `cargo xtask deploy | rollback | releases`: Heroku container releases through the
//! Platform API (no Heroku CLI needed). The API and registry hosts are settings
//! (`HEROKU_API_URL`, `HEROKU_REGISTRY`), so tests aim them at loopback fakes.

pub mod api;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::docker::{self, DockerConfig, Image};
use crate::env;
use crate::runner::Runner;
use api::{Heroku, Release};

pub const DEFAULT_API: &str = "https://api.heroku.com";
pub const DEFAULT_REGISTRY: &str = "registry.heroku.com";

/// How a deploy waits for its release.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub timeout: Duration,
    pub interval: Duration,
    pub health_check: Duration,
}

struct Target {
    heroku: Heroku,
    key: String,
    registry: String,
}

fn target() -> Result<Target> {
    let key = env::require("HEROKU_API_KEY", "an API key: `heroku authorizations:create`")?;
    let app = env::require("HEROKU_APP_NAME", "the Heroku app to release to")?;
    let base = api::checked_base_url(
        &env::optional("HEROKU_API_URL").unwrap_or_else(|| DEFAULT_API.to_owned()),
        "HEROKU_API_URL",
    )?;
    let registry = env::optional("HEROKU_REGISTRY").unwrap_or_else(|| DEFAULT_REGISTRY.to_owned());
    Ok(Target {
        heroku: Heroku::new(&base, key.clone(), app)?,
        key,
        registry,
    })
}

/// Follows the newest release after `after_version` until it succeeds or fails.
fn follow_release(heroku: &Heroku, after_version: i64, wait: Wait) -> Result<Release> {
    let deadline = Instant::now() + wait.timeout;
    let mut last_status = String::new();
    loop {
        let newest = heroku.releases(1)?.into_iter().next();
        if let Some(release) = newest.filter(|r| r.version > after_version) {
            if release.status != last_status {
                println!("    release v{}: {}", release.version, release.status);
                last_status.clone_from(&release.status);
            }
            match release.status.as_str() {
                "succeeded" => return Ok(release),
                "failed" | "expired" => {
                    let reason = if release.description.is_empty() {
                        "no reason given".to_owned()
                    } else {
                        release.description
                    };
                    bail!(
                        "release v{} {}: {reason} (see `heroku releases:output {} -a {}`)",
                        release.version,
                        release.status,
                        release.version,
                        heroku.app
                    )
                }
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "release still {} after {}s (raise --timeout, or check the Heroku dashboard)",
                if last_status.is_empty() {
                    "not created"
                } else {
                    &last_status
                },
                wait.timeout.as_secs()
            );
        }
        std::thread::sleep(wait.interval);
    }
}

/// Probes `{web_url}healthz` until it answers 200.
fn probe_health(web_url: &str, within: Duration) -> Result<()> {
    let url = format!("{}/healthz", web_url.trim_end_matches('/'));
    let client = api::http_client()?;
    let deadline = Instant::now() + within;
    loop {
        match client.get(&url).timeout(Duration::from_secs(5)).send() {
            Ok(response) if response.status().is_success() => return Ok(()),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Ok(response) => bail!(
                "released, but {url} answered {} for {}s",
                response.status(),
                within.as_secs()
            ),
            Err(err) => bail!("released, but {url} did not answer within {}s: {err}", within.as_secs()),
        }
    }
}

/// One step of a deploy. The plan is data: `--dry-run` prints it, the real run walks the
/// same list, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStep {
    CheckApp,
    BuildIfMissing,
    Login,
    Push,
    ReadImageId,
    Release,
    FollowRelease,
    HealthCheck,
}

/// The steps of `deploy`, in order (the health check only when it is asked for).
pub fn deploy_plan(wait: &Wait) -> Vec<DeployStep> {
    use DeployStep::*;
    let mut plan = vec![
        CheckApp,
        BuildIfMissing,
        Login,
        Push,
        ReadImageId,
        Release,
        FollowRelease,
    ];
    if !wait.health_check.is_zero() {
        plan.push(HealthCheck);
    }
    plan
}

/// A deploy under way: what the steps learn, for the steps after them.
struct Deploy<'a> {
    runner: &'a Runner,
    image: &'a Image,
    wait: Wait,
    heroku: Heroku,
    key: String,
    registry: String,
    remote: String,
    app: Option<api::App>,
    config: Option<DockerConfig>,
    image_id: String,
    before: i64,
    release: Option<Release>,
}

impl DeployStep {
    /// What the step does, as the plan and the progress lines say it.
    fn describe(self, d: &Deploy<'_>) -> String {
        let app = &d.heroku.app;
        match self {
            DeployStep::CheckApp => format!("check the app: GET /apps/{app} (stack must be `container`)"),
            DeployStep::BuildIfMissing => format!("build {} unless it exists", d.image.sha_tag()),
            DeployStep::Login => format!("docker login --username _ --password-stdin {}", d.registry),
            DeployStep::Push => format!(
                "docker tag {} {} && docker push {}",
                d.image.sha_tag(),
                d.remote,
                d.remote
            ),
            DeployStep::ReadImageId => format!("read the image id (config digest) of {} from the registry", d.remote),
            DeployStep::Release => format!(
                "release: PATCH /apps/{app}/formation (Accept: {})",
                api::ACCEPT_DOCKER_RELEASES
            ),
            DeployStep::FollowRelease => {
                format!("wait for the release: GET /apps/{app}/releases until it succeeds or fails")
            }
            DeployStep::HealthCheck => "health check: GET /healthz on the app's URL".to_owned(),
        }
    }

    fn run(self, d: &mut Deploy<'_>) -> Result<()> {
        match self {
            DeployStep::CheckApp => {
                let app = d.heroku.app_info()?;
                if app.stack.name != "container" {
                    bail!(
                        "app {} is on the {} stack; container releases need the container stack: `heroku stack:set container -a {}`",
                        app.name,
                        app.stack.name,
                        app.name
                    );
                }
                d.app = Some(app);
            }
            DeployStep::BuildIfMissing => {
                if !docker::image_exists(d.runner, &d.image.sha_tag()) {
                    docker::build(d.runner, d.image)?;
                }
            }
            DeployStep::Login => {
                let config = DockerConfig::new()?;
                docker::login(d.runner, &config, Some(&d.registry), "_", &d.key)?;
                d.config = Some(config);
            }
            DeployStep::Push => {
                let config = d.config.as_ref().ok_or_else(|| anyhow!("push before login"))?;
                d.runner.run(
                    "docker tag",
                    config.docker(d.runner).args(["tag", &d.image.sha_tag(), &d.remote]),
                )?;
                d.runner
                    .run("docker push", config.docker(d.runner).args(["push", &d.remote]))?;
            }
            DeployStep::ReadImageId => {
                d.image_id = api::config_digest(&d.registry, &format!("{}/web", d.heroku.app), "latest", "_", &d.key)?;
                println!("    image id {}", d.image_id);
            }
            DeployStep::Release => {
                d.before = d.heroku.releases(1)?.first().map_or(0, |r| r.version);
                d.heroku.release_image(&d.image_id)?;
            }
            DeployStep::FollowRelease => {
                d.release = Some(follow_release(&d.heroku, d.before, d.wait)?);
            }
            DeployStep::HealthCheck => probe_health(&web_url(d), d.wait.health_check)?,
        }
        Ok(())
    }
}

fn web_url(d: &Deploy<'_>) -> String {
    match &d.app {
        Some(api::App { web_url: Some(url), .. }) => url.clone(),
        _ => format!("https://{}.herokuapp.com/", d.heroku.app),
    }
}

/// `cargo xtask deploy`
pub fn deploy(runner: &Runner, image: &Image, wait: Wait) -> Result<()> {
    let Target { heroku, key, registry } = target()?;
    let remote = format!("{registry}/{}/web", heroku.app);
    let mut d = Deploy {
        runner,
        image,
        wait,
        heroku,
        key,
        registry,
        remote,
        app: None,
        config: None,
        image_id: String::new(),
        before: 0,
        release: None,
    };
    for step in deploy_plan(&wait) {
        let name = step.describe(&d);
        if runner.dry_run {
            println!("==> {name}");
            continue;
        }
        runner.step(&name, || step.run(&mut d))?;
    }
    if let Some(release) = &d.release {
        println!(
            "released v{} of {} ({}) at {}",
            release.version,
            d.heroku.app,
            image.sha,
            web_url(&d)
        );
    }
    Ok(())
}

/// `cargo xtask rollback [VERSION]`: the previous release (or VERSION) again.
pub fn rollback(runner: &Runner, version: Option<i64>, wait: Wait) -> Result<()> {
    let Target { heroku, .. } = target()?;
    let releases = heroku.releases(20)?;
    let current = releases.first().map_or(0, |r| r.version);
    let chosen = match version {
        Some(version) => heroku.release(&version.to_string())?,
        None => releases
            .iter()
            .skip(1)
            .find(|r| r.status == "succeeded")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no earlier successful release of {} to roll back to", heroku.app))?,
    };
    if runner.dry_run {
        println!(
            "==> POST /apps/{}/releases {{\"release\": \"{}\"}} (v{})",
            heroku.app, chosen.id, chosen.version
        );
        return Ok(());
    }
    runner.step(&format!("roll back to v{}", chosen.version), || {
        heroku.rollback(&chosen.id)
    })?;
    let release = runner.step("wait for the release", || follow_release(&heroku, current, wait))?;
    println!(
        "released v{} of {} (the code and config of v{})",
        release.version, heroku.app, chosen.version
    );
    Ok(())
}

/// "3 minutes ago" from an RFC 3339 time.
pub fn age(created_at: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(created) = chrono::DateTime::parse_from_rfc3339(created_at) else {
        return created_at.to_owned();
    };
    let seconds = (now - created.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match seconds {
        0..=59 => format!("{seconds}s ago"),
        60..=3599 => format!("{}m ago", seconds / 60),
        3600..=86_399 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// `cargo xtask releases`
pub fn releases(count: usize) -> Result<()> {
    let Target { heroku, .. } = target()?;
    let now = chrono::Utc::now();
    println!("{:<7} {:<10} {:<9} description", "version", "status", "age");
    for release in heroku.releases(count)? {
        let marker = if release.current { " (current)" } else { "" };
        println!(
            "v{:<6} {:<10} {:<9} {}{marker}",
            release.version,
            release.status,
            age(&release.created_at, now),
            release.description
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_the_heroku_cli() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(age("2026-11-25T11:59:30Z", now), "30s ago");
        assert_eq!(age("2026-11-25T11:00:00Z", now), "1h ago");
        assert_eq!(age("2026-11-20T12:00:00Z", now), "5d ago");
        assert_eq!(age("garbage", now), "garbage");
    }
}
