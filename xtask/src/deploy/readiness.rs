//! The readiness probe a deploy runs after its release goes live.

use std::time::{Duration, Instant};

/// Asks `{web_url}readyz` until it answers 200 (the database reachable and its schema not
/// behind the release); `Err` says what it answered last.
pub fn probe_ready(web_url: &str, within: Duration) -> std::result::Result<(), String> {
    let url = format!("{}/readyz", web_url.trim_end_matches('/'));
    let client = crate::http::http_client().map_err(|err| format!("{err:#}"))?;
    let deadline = Instant::now() + within;
    loop {
        let answer = client.get(&url).timeout(Duration::from_secs(5)).send();
        let last = match answer {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let body: String = response.text().unwrap_or_default().chars().take(200).collect();
                format!("{url} answered {status}: {}", body.trim())
            }
            Err(err) => format!("{url} did not answer: {err}"),
        };
        if Instant::now() >= deadline {
            return Err(format!("{last} (for {}s)", within.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
