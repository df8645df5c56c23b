//! One typed `Settings`, read once from the environment (and `.env`), validated up front:
//! a missing or malformed setting stops start-up with one line naming it.

use std::path::PathBuf;

/// What `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (created and migrated on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL server, as a libpq URL (`postgres://user:password@host:port/db?sslmode=…`).
    Postgres(PostgresUrl),
}

/// A password shorter than this is withheld with the whole message that quotes it,
/// rather than blanked word by word.
const SHORT_PASSWORD: usize = 8;

/// A PostgreSQL URL. It may carry a password, so `Debug` and `describe` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn new(url: impl Into<String>) -> Self {
        PostgresUrl(url.into())
    }

    /// The full URL, for libpq only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The password of the URL's user part, as written (percent-escapes and all).
    fn raw_password(&self) -> Option<&str> {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, rest)| rest);
        let (userinfo, _) = rest.rsplit_once('@')?;
        let (_, password) = userinfo.split_once(':')?;
        (!password.is_empty()).then_some(password)
    }

    /// `text` (an error message that may quote the URL) with the URL's password, as
    /// written or decoded, and the URL itself replaced by their redacted forms.
    pub fn redact_in(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, &format!("postgres://…@{}", self.redacted()));
        if let Some(raw) = self.raw_password() {
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned();
            // A short password is found in ordinary words too: blanking each would mangle
            // the message and show where (and how long) the password is. The message is
            // withheld instead.
            if [raw, decoded.as_str()]
                .iter()
                .any(|p| p.chars().count() < SHORT_PASSWORD && out.contains(*p))
            {
                return format!(
                    "the database's message is withheld: it may quote the password of DATABASE_URL ({})",
                    self.redacted()
                );
            }
            for secret in [raw.to_owned(), decoded] {
                out = out.replace(&secret, "***");
            }
            // libpq quotes a bad escape with what follows it: any fragment of the password.
            for fragment in raw.split('%').filter(|f| f.chars().count() >= SHORT_PASSWORD) {
                out = out.replace(fragment, "***");
            }
        }
        out
    }

    /// `host:port/database`, without user, password or parameters.
    pub fn redacted(&self) -> String {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, rest)| rest);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        rest.split('?').next().unwrap_or(rest).to_owned()
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted())
    }
}

impl Settings {
    /// The server's worker threads: WEB_CONCURRENCY, else one per core.
    pub fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

impl DatabaseUrl {
    /// The embedded default: `oc-lettings.sqlite3` in the working directory.
    pub fn default_sqlite() -> Self {
        DatabaseUrl::Sqlite(PathBuf::from("oc-lettings.sqlite3"))
    }

    /// `sqlite://relative/path`, `sqlite:///absolute/path` (or `sqlite:path`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path == "/" {
                return Err("a sqlite URL needs a file path, e.g. sqlite://oc-lettings.sqlite3".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
            if after_scheme.is_empty() {
                return Err("a postgres URL needs a host, e.g. postgres://user:password@host:5432/db".into());
            }
            if !percent_escapes_are_valid(raw) {
                return Err(
                    "a % in the URL must start an escape such as %40 (the URL is not shown: it may hold a password)"
                        .into(),
                );
            }
            return Ok(DatabaseUrl::Postgres(PostgresUrl::new(raw)));
        }
        Err("expected sqlite://relative/path, sqlite:///absolute/path or postgres://user:password@host/db".into())
    }

    /// For logs: never prints credentials.
    pub fn describe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("SQLite file {}", path.display()),
            DatabaseUrl::Postgres(url) => format!("PostgreSQL {}", url.redacted()),
        }
    }
}

/// Whether every `%` starts a two-hex-digit escape (libpq refuses the URL otherwise, and
/// quotes the offending part, the password included, in its error).
fn percent_escapes_are_valid(url: &str) -> bool {
    let bytes = url.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The secret that signs sessions. Its value never appears in `Debug` output or errors.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Host names this site answers to (Django's ALLOWED_HOSTS); empty with DEBUG on
    /// means localhost only, empty with DEBUG off means none.
    pub allowed_hosts: Vec<String>,
    pub sentry_dsn: Option<String>,
    pub sentry_environment: String,
    pub sentry_traces_sample_rate: f32,
    pub host: String,
    pub port: u16,
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    /// DATABASE_READ_CONNECTIONS: the async reader's connections per worker (PostgreSQL;
    /// 0: the public pages read through the pool as everything else does).
    pub database_read_connections: usize,
    pub secret_key: Option<SecretKey>,
    /// SECRET_KEY_FALLBACKS (Django 4.1's): earlier keys, comma-separated, whose signed
    /// cookies (sessions, CSRF, messages) are still accepted; nothing new is signed with
    /// them. Rotation without logging everyone out.
    pub secret_key_fallbacks: Vec<SecretKey>,
    /// `METRICS_TOKEN`: `/metrics` is served, to requests bearing it, only when set.
    pub metrics_token: Option<SecretKey>,
    pub debug: bool,
    pub seed_demo: bool,
    /// MIGRATE_ON_START: `serve` applies pending migrations before listening (off where a
    /// release phase runs `oc-lettings migrate` instead).
    pub migrate_on_start: bool,
    /// How long a public page may be served from memory (0: never).
    pub page_cache_seconds: u64,
    /// PAGE_SIZE: rows a page of a public list shows (Django's `paginate_by`).
    pub page_size: u32,
    pub log_format: LogFormat,
    pub workers: Option<usize>,
    /// The most instances (dynos, tasks) on this database at once, a deploy's overlap
    /// included: what `check --deploy` multiplies the pool by.
    pub instance_count: u32,
    /// How many proxies in front of the site append to `X-Forwarded-For` (Heroku's router
    /// and an AWS ALB: 1; `docker run -p`: 0, the peer address is the client).
    pub trusted_proxy_count: usize,
    /// Redirect plain-http requests to https (Django's SECURE_SSL_REDIRECT).
    pub secure_ssl_redirect: bool,
    /// Mark the session cookie `Secure` even on a plain-http request (SESSION_COOKIE_SECURE).
    pub session_cookie_secure: bool,
    /// Mark the CSRF cookie `Secure` even on a plain-http request (CSRF_COOKIE_SECURE).
    pub csrf_cookie_secure: bool,
    /// TWO_FACTOR_REQUIRED_FOR_SUPERUSERS: a superuser without a second factor may only
    /// set one up (every other admin page sends them there), and may not turn it off.
    pub two_factor_required_for_superusers: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("setting {name} is required: {reason}")]
    Missing { name: &'static str, reason: &'static str },
    #[error("cannot read .env: {0}")]
    DotEnv(String),
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// The host name of a Host header: lower-case, without the port, brackets kept for IPv6.
pub fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        return host.split_once(']').map(|(ip, _)| format!("{ip}]")).unwrap_or_default();
    }
    let name = host.rsplit_once(':').map_or(host.as_str(), |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            ""
        }
    });
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if valid {
        name.trim_end_matches('.').to_owned()
    } else {
        String::new()
    }
}

/// `true/false`, `1/0`, `yes/no`, `on/off`, any case.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A whole number setting within `range` (`default` when unset); `expected` says what it
/// is in the error ("1-256").
fn number_in<T>(
    raw: Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<T>,
    default: T,
    expected: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd,
{
    match raw {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(invalid(name, format!("expected {expected}, got {raw:?}"))),
        },
    }
}

impl Settings {
    /// Reads `.env` (when present) into the environment, then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        if let Err(err) = dotenvy::dotenv() {
            if !err.not_found() {
                return Err(ConfigError::DotEnv(err.to_string()));
            }
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let flag = |name: &'static str, default: bool| match get(name) {
            None => Ok(default),
            Some(raw) => parse_bool(&raw).ok_or_else(|| invalid(name, format!("expected true or false, got {raw:?}"))),
        };

        let port = number_in(
            get("PORT"),
            "PORT",
            0..=u16::MAX,
            8000,
            "a port number 0-65535 (0: any free port)",
        )?;
        // A Heroku dyno (DYNO is set) must listen on every interface, as the image does; it
        // sits behind one router, which speaks https to the world.
        let on_heroku = get("DYNO").is_some();
        let default_host = if on_heroku { "0.0.0.0" } else { "127.0.0.1" };
        let host = get("HOST").map_or_else(|| default_host.to_owned(), |h| h.trim().to_owned());
        if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" {
            return Err(invalid(
                "HOST",
                format!("expected an IP address such as 0.0.0.0, got {host:?}"),
            ));
        }
        let database_url = match get("DATABASE_URL") {
            None => DatabaseUrl::default_sqlite(),
            Some(raw) => DatabaseUrl::parse(&raw).map_err(|reason| invalid("DATABASE_URL", reason))?,
        };
        let database_pool_size = number_in(get("DATABASE_POOL_SIZE"), "DATABASE_POOL_SIZE", 1..=256, 8, "1-256")?;
        let database_read_connections = number_in(
            get("DATABASE_READ_CONNECTIONS"),
            "DATABASE_READ_CONNECTIONS",
            0..=16,
            2,
            "0-16 per worker",
        )?;
        let log_format = match get("LOG_FORMAT").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", format!("expected pretty or json, got {other:?}"))),
        };
        let workers = match get("WEB_CONCURRENCY") {
            None => None,
            raw => Some(number_in(raw, "WEB_CONCURRENCY", 1..=512, 1, "1-512 workers")?),
        };
        let debug = flag("DEBUG", false)?;
        let allowed_hosts = get("ALLOWED_HOSTS")
            .map(|raw| {
                raw.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let sentry_dsn = match get("SENTRY_DSN") {
            None => None,
            Some(raw) => {
                let dsn = raw.trim().to_owned();
                if dsn.parse::<sentry::types::Dsn>().is_err() {
                    return Err(invalid(
                        "SENTRY_DSN",
                        "expected a DSN such as https://key@o0.ingest.sentry.io/0",
                    ));
                }
                Some(dsn)
            }
        };
        let sentry_traces_sample_rate = number_in(
            get("SENTRY_TRACES_SAMPLE_RATE"),
            "SENTRY_TRACES_SAMPLE_RATE",
            0.0..=1.0,
            0.0,
            "a number from 0 to 1",
        )?;
        let sentry_environment = get("SENTRY_ENVIRONMENT")
            .map(|e| e.trim().to_owned())
            .unwrap_or_else(|| {
                if debug {
                    "development".into()
                } else {
                    "production".into()
                }
            });
        let page_cache_seconds = number_in(
            get("PAGE_CACHE_SECONDS"),
            "PAGE_CACHE_SECONDS",
            0..=3600,
            2,
            "0-3600 seconds",
        )?;
        let page_size = number_in(
            get("PAGE_SIZE"),
            "PAGE_SIZE",
            1..=crate::pagination::MAX_PAGE_SIZE,
            crate::pagination::DEFAULT_PAGE_SIZE,
            "1-1000 rows",
        )?;
        let trusted_proxy_count = number_in(
            get("TRUSTED_PROXY_COUNT"),
            "TRUSTED_PROXY_COUNT",
            0..=10,
            usize::from(on_heroku),
            "the number of proxies in front of the site, 0-10",
        )?;
        let secure_ssl_redirect = flag("SECURE_SSL_REDIRECT", on_heroku)?;
        let instance_count = number_in(get("INSTANCE_COUNT"), "INSTANCE_COUNT", 1..=1000, 1, "1-1000 instances")?;
        let metrics_token = match get("METRICS_TOKEN").filter(|t| !t.trim().is_empty()) {
            Some(token) if token.len() < 24 || token.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err(invalid(
                    "METRICS_TOKEN",
                    "at least 24 characters, no spaces (it is a password for /metrics: openssl rand -hex 24)",
                ))
            }
            Some(token) => Some(SecretKey(token)),
            None => None,
        };
        Ok(Settings {
            metrics_token,
            instance_count,
            trusted_proxy_count,
            secure_ssl_redirect,
            session_cookie_secure: flag("SESSION_COOKIE_SECURE", on_heroku)?,
            csrf_cookie_secure: flag("CSRF_COOKIE_SECURE", on_heroku)?,
            two_factor_required_for_superusers: flag("TWO_FACTOR_REQUIRED_FOR_SUPERUSERS", false)?,
            page_cache_seconds,
            page_size,
            allowed_hosts,
            sentry_dsn,
            sentry_environment,
            sentry_traces_sample_rate,
            host,
            port,
            database_url,
            database_pool_size,
            database_read_connections,
            secret_key: get("SECRET_KEY").map(SecretKey),
            secret_key_fallbacks: get("SECRET_KEY_FALLBACKS")
                .map(|keys| {
                    keys.split(',')
                        .map(str::trim)
                        .filter(|key| !key.is_empty())
                        .map(|key| SecretKey(key.to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            debug,
            seed_demo: flag("SEED_DEMO", true)?,
            migrate_on_start: flag("MIGRATE_ON_START", true)?,
            log_format,
            workers,
        })
    }

    /// Whether `host` (a Host header, port and all) names this site, as Django checks it:
    /// exact names, `.example.com` for a domain and its subdomains, `*` for any.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.is_empty() {
            return false;
        }
        let defaults = ["localhost", "127.0.0.1", "[::1]"];
        let patterns: Vec<&str> = if self.allowed_hosts.is_empty() && self.debug {
            defaults.to_vec()
        } else {
            self.allowed_hosts.iter().map(String::as_str).collect()
        };
        patterns.iter().any(|pattern| {
            *pattern == "*"
                || *pattern == name
                || pattern
                    .strip_prefix('.')
                    .is_some_and(|domain| name == domain || name.ends_with(&format!(".{domain}")))
        })
    }

    /// Serving needs a SECRET_KEY unless DEBUG is on (as Django refuses to start without one).
    pub fn require_secret_key(&self) -> Result<(), ConfigError> {
        if self.secret_key.is_none() && !self.debug {
            return Err(ConfigError::Missing {
                name: "SECRET_KEY",
                reason: "set it to a long random string (or DEBUG=true for local development)",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_run_on_the_embedded_sqlite_file() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 8000);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.database_url, DatabaseUrl::Sqlite("oc-lettings.sqlite3".into()));
        assert!(!s.debug);
        assert!(s.seed_demo);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert!(s.secret_key.is_none());
    }

    #[test]
    fn dynos_listen_on_every_interface() {
        assert_eq!(settings(&[("DYNO", "web.1")]).unwrap().host, "0.0.0.0");
        assert_eq!(
            settings(&[("DYNO", "web.1"), ("HOST", "127.0.0.1")]).unwrap().host,
            "127.0.0.1"
        );
    }

    #[test]
    fn https_and_proxies_default_to_the_platform() {
        let local = settings(&[]).unwrap();
        assert_eq!(local.trusted_proxy_count, 0, "no proxy: the peer is the client");
        assert!(!local.secure_ssl_redirect && !local.session_cookie_secure && !local.csrf_cookie_secure);
        let dyno = settings(&[("DYNO", "web.1")]).unwrap();
        assert_eq!(dyno.trusted_proxy_count, 1, "Heroku's router is one hop");
        assert!(dyno.secure_ssl_redirect && dyno.session_cookie_secure && dyno.csrf_cookie_secure);
        let overridden = settings(&[
            ("DYNO", "web.1"),
            ("SECURE_SSL_REDIRECT", "false"),
            ("TRUSTED_PROXY_COUNT", "2"),
        ])
        .unwrap();
        assert!(!overridden.secure_ssl_redirect);
        assert_eq!(overridden.trusted_proxy_count, 2);
        assert!(settings(&[("TRUSTED_PROXY_COUNT", "many")])
            .unwrap_err()
            .to_string()
            .contains("TRUSTED_PROXY_COUNT"));
    }

    #[test]
    fn sqlite_urls_relative_and_absolute() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db"),
            Ok(DatabaseUrl::Sqlite("data/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/x.db"),
            Ok(DatabaseUrl::Sqlite("/var/x.db".into()))
        );
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn postgres_urls_in_heroku_form_never_show_the_password() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@db.example.com:5432/app?sslmode=require").unwrap();
        assert!(matches!(url, DatabaseUrl::Postgres(_)));
        assert_eq!(url.describe(), "PostgreSQL db.example.com:5432/app");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://localhost/app"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("postgres://").is_err());
    }

    #[test]
    fn a_malformed_postgres_url_is_refused_without_showing_its_password() {
        let err = settings(&[("DATABASE_URL", "postgres://app:s3cr%zzet@db.example.com/app")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("DATABASE_URL") && text.contains("%40"), "{text}");
        assert!(!text.contains("s3cr") && !text.contains("zzet"), "{text}");
        let url = PostgresUrl::new("postgres://app:p%40ss-word@db.example.com/app");
        let message = "connection to postgres://app:p%40ss-word@db.example.com/app failed: p@ss-word, \"p%40ss-word\"";
        let redacted = url.redact_in(message);
        assert!(!redacted.contains("ss-word"), "{redacted}");
        assert!(
            redacted.contains("db.example.com:") || redacted.contains("db.example.com/app"),
            "{redacted}"
        );
    }

    #[test]
    fn a_short_password_withholds_the_message_rather_than_mangle_it() {
        // Issue 29, info: "a" blanked every "a" of the message, and showed the length.
        let url = PostgresUrl::new("postgres://app:a@db.example.com/app");
        let redacted = url.redact_in("FATAL: password authentication failed for user \"app\"");
        assert!(redacted.starts_with("the database's message is withheld"), "{redacted}");
        assert!(
            !redacted.contains("***") && redacted.contains("db.example.com"),
            "{redacted}"
        );
        // A message that does not hold it is left as it is.
        let url = PostgresUrl::new("postgres://app:zq@db.example.com/app");
        assert_eq!(url.redact_in("connection refused"), "connection refused");
        // A long one is blanked where it appears, and nothing else changes.
        let url = PostgresUrl::new("postgres://app:correct-horse@db.example.com/app");
        assert_eq!(
            url.redact_in("bad password correct-horse for app"),
            "bad password *** for app"
        );
    }

    #[test]
    fn a_bad_setting_is_named() {
        let err = settings(&[("PORT", "eighty")]).unwrap_err();
        assert!(err.to_string().contains("PORT"), "{err}");
        let err = settings(&[("DEBUG", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("DEBUG"), "{err}");
        let err = settings(&[("DATABASE_URL", "ftp://x")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        let err = settings(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().contains("LOG_FORMAT"), "{err}");
        let err = settings(&[("WEB_CONCURRENCY", "0")]).unwrap_err();
        assert!(err.to_string().contains("WEB_CONCURRENCY"), "{err}");
        let err = settings(&[("HOST", "not a host")]).unwrap_err();
        assert!(err.to_string().contains("HOST"), "{err}");
    }

    #[test]
    fn hosts_are_checked_like_django() {
        let strict = settings(&[("ALLOWED_HOSTS", "Example.com, .lettings.test")]).unwrap();
        assert!(strict.host_allowed("example.com"));
        assert!(strict.host_allowed("EXAMPLE.com:8000"));
        assert!(strict.host_allowed("lettings.test") && strict.host_allowed("www.lettings.test"));
        assert!(!strict.host_allowed("evil.com") && !strict.host_allowed("example.com.evil.com"));
        assert!(
            !strict.host_allowed("") && !strict.host_allowed("exa mple.com") && !strict.host_allowed("example.com:x")
        );
        let debug = settings(&[("DEBUG", "true")]).unwrap();
        assert!(
            debug.host_allowed("localhost:8000") && debug.host_allowed("127.0.0.1") && debug.host_allowed("[::1]:8000")
        );
        assert!(!debug.host_allowed("example.com"));
        assert!(
            !settings(&[]).unwrap().host_allowed("localhost"),
            "DEBUG off and no ALLOWED_HOSTS: nothing"
        );
        assert!(settings(&[("ALLOWED_HOSTS", "*")])
            .unwrap()
            .host_allowed("anything.example"));
    }

    #[test]
    fn sentry_settings_are_validated() {
        assert!(settings(&[("SENTRY_DSN", "not a dsn")])
            .unwrap_err()
            .to_string()
            .contains("SENTRY_DSN"));
        assert!(settings(&[("SENTRY_TRACES_SAMPLE_RATE", "2")])
            .unwrap_err()
            .to_string()
            .contains("SENTRY_TRACES_SAMPLE_RATE"));
        let s = settings(&[
            ("SENTRY_DSN", "http://key@127.0.0.1:9/1"),
            ("SENTRY_TRACES_SAMPLE_RATE", "0.25"),
        ])
        .unwrap();
        assert_eq!(s.sentry_dsn.as_deref(), Some("http://key@127.0.0.1:9/1"));
        assert_eq!(s.sentry_environment, "production");
        assert!((s.sentry_traces_sample_rate - 0.25).abs() < f32::EPSILON);
    }

    #[test]
    fn secret_key_required_only_without_debug() {
        let err = settings(&[]).unwrap().require_secret_key().unwrap_err();
        assert!(err.to_string().contains("SECRET_KEY"));
        assert!(settings(&[("DEBUG", "true")]).unwrap().require_secret_key().is_ok());
        let with_key = settings(&[("SECRET_KEY", "s3cret-value")]).unwrap();
        assert!(with_key.require_secret_key().is_ok());
        assert!(!format!("{with_key:?}").contains("s3cret-value"));
    }
}
