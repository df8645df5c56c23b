//! `cargo xtask deploy | rollback | releases`: Heroku container releases through the
//! Platform API (no Heroku CLI needed). The API and registry hosts are settings
//! (`HEROKU_API_URL`, `HEROKU_REGISTRY`), so tests aim them at loopback fakes.

pub mod api;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

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

fn step<T>(name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {name}");
    let started = Instant::now();
    let result = work();
    println!(
        "<== {name}: {} in {:.1}s",
        if result.is_ok() { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    result
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

/// `cargo xtask deploy`
pub fn deploy(runner: &Runner, image: &Image, wait: Wait) -> Result<()> {
    let Target { heroku, key, registry } = target()?;
    let remote = format!("{registry}/{}/web", heroku.app);
    if runner.dry_run {
        println!("==> check: GET /apps/{} (stack must be `container`)", heroku.app);
        println!("==> docker login --username _ --password-stdin {registry}");
        println!("==> docker tag {} {remote} && docker push {remote}", image.sha_tag());
        println!("==> read the config digest of {remote} from the registry");
        println!(
            "==> PATCH /apps/{}/formation (Accept: {})",
            heroku.app,
            api::ACCEPT_DOCKER_RELEASES
        );
        println!(
            "==> follow GET /apps/{}/releases until the release succeeds or fails",
            heroku.app
        );
        return Ok(());
    }
    let app = step("check the app", || {
        let app = heroku.app_info()?;
        if app.stack.name != "container" {
            bail!(
                "app {} is on the {} stack; container releases need the container stack: `heroku stack:set container -a {}`",
                app.name,
                app.stack.name,
                app.name
            );
        }
        Ok(app)
    })?;
    if !docker::image_exists(runner, &image.sha_tag()) {
        docker::build(runner, image)?;
    }
    let config = DockerConfig::new()?;
    docker::login(runner, &config, Some(&registry), "_", &key)?;
    runner.run(
        "docker tag",
        config.docker(runner).args(["tag", &image.sha_tag(), &remote]),
    )?;
    runner.run("docker push", config.docker(runner).args(["push", &remote]))?;
    let image_id = step("read the image id", || {
        api::config_digest(&registry, &format!("{}/web", heroku.app), "latest", "_", &key)
    })?;
    println!("    image id {image_id}");
    let before = heroku.releases(1)?.first().map_or(0, |r| r.version);
    step("release", || heroku.release_image(&image_id))?;
    let release = step("wait for the release", || follow_release(&heroku, before, wait))?;
    let web_url = app
        .web_url
        .unwrap_or_else(|| format!("https://{}.herokuapp.com/", app.name));
    if !wait.health_check.is_zero() {
        step("health check", || probe_health(&web_url, wait.health_check))?;
    }
    println!(
        "released v{} of {} ({}) at {web_url}",
        release.version, heroku.app, image.sha
    );
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
    step(&format!("roll back to v{}", chosen.version), || {
        heroku.rollback(&chosen.id)
    })?;
    let release = step("wait for the release", || follow_release(&heroku, current, wait))?;
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
