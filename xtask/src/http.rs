//! The deploy's one HTTP client (reqwest, rustls with ring, the OS's roots) and the rule
//! every URL it is given goes through: plain `http://` only to this machine's loopback
//! (the tests' fakes), `https://` everywhere else.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::blocking::Client;

pub fn http_client() -> Result<Client> {
    // rustls with ring (one TLS stack in the workspace); the OS's roots.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("oc-lettings-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// Whether `host` (a name or an address, with or without a port or brackets) is this
/// machine's loopback: `localhost`, 127.0.0.0/8 or ::1. Not `127.evil.com`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => name,
            _ => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The base URL of `raw` (a host, or a URL): plain `http://` only for a loopback host
/// (the tests' fakes); anything else must be `https://`, so no key or password ever
/// crosses a network in clear text. Parsed with the `url` crate, as reqwest parses what
/// it is given, and returned as that parse serialises it: the host checked is the host
/// connected to (no differential over userinfo, `\\`, `?` or `#` tricks).
pub fn checked_base_url(raw: &str, what: &str) -> Result<String> {
    let raw = raw.trim();
    let explicit = raw.contains("://");
    let candidate = if explicit {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let url = reqwest::Url::parse(&candidate).map_err(|err| anyhow::anyhow!("{what} {raw:?} is not a URL: {err}"))?;
    let loopback = url.host_str().is_some_and(is_loopback_host);
    let mut url = url;
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" if !explicit => {
            url.set_scheme("https")
                .map_err(|()| anyhow::anyhow!("{what} {raw:?}: cannot use https"))?;
        }
        "http" => bail!("{what} {raw:?} is plain http: only a loopback address may be (use https://)"),
        other => bail!("{what} {raw:?}: unsupported scheme {other:?} (use https://)"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("{what} {raw:?} names no host");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `http://` for a registry on this machine (tests), `https://` everywhere else.
pub fn registry_url(registry: &str) -> Result<String> {
    checked_base_url(registry, "the registry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_http() {
        assert_eq!(registry_url("127.0.0.1:5000").unwrap(), "http://127.0.0.1:5000");
        assert_eq!(registry_url("localhost:5000").unwrap(), "http://localhost:5000");
        assert_eq!(registry_url("[::1]:5000").unwrap(), "http://[::1]:5000");
        assert_eq!(
            registry_url("registry.heroku.com").unwrap(),
            "https://registry.heroku.com"
        );
        assert_eq!(registry_url("https://r.example/").unwrap(), "https://r.example");
    }

    #[test]
    fn names_that_only_look_local_get_https_and_plain_http_is_refused_for_them() {
        for host in [
            "127.evil.com",
            "127.0.0.1.evil.com:5000",
            "localhost.evil.com",
            "evil.com",
        ] {
            assert!(registry_url(host).unwrap().starts_with("https://"), "{host}");
            assert!(registry_url(&format!("http://{host}")).is_err(), "{host}");
            assert!(
                checked_base_url(&format!("http://{host}"), "HEROKU_API_URL").is_err(),
                "{host}"
            );
        }
        assert!(checked_base_url("http://user@127.evil.com", "x").is_err());
        // Issue 29, finding 8: the hand-written parse read the host after the last `@`
        // of everything before the first `/`, where reqwest (WHATWG URL) connects to
        // the host before `\\`, `?` or `#`.
        for differential in [
            "http://evil.com\\@127.0.0.1",
            "http://evil.com?@127.0.0.1",
            "http://evil.com#@127.0.0.1",
            "evil.com?@127.0.0.1",
        ] {
            let checked = checked_base_url(differential, "x");
            assert!(
                checked.as_ref().is_err() || checked.as_ref().is_ok_and(|url| url.starts_with("https://evil.com")),
                "{differential}: {checked:?}"
            );
        }
        assert_eq!(
            checked_base_url("http://127.0.0.1:9\\@evil.com", "x").unwrap(),
            "http://127.0.0.1:9/@evil.com",
            "reqwest connects to 127.0.0.1 here, so plain http is fine"
        );
        assert_eq!(
            checked_base_url("http://u:p@[::1]:8/", "x").unwrap(),
            "http://u:p@[::1]:8"
        );
        assert!(checked_base_url("ftp://127.0.0.1", "x").is_err());
        assert_eq!(
            checked_base_url("http://127.0.0.1:9/", "x").unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(
            is_loopback_host("127.5.6.7:80") && is_loopback_host("LOCALHOST") && !is_loopback_host("127.0.0.1.nip.io")
        );
    }
}
