//! `oc-lettings check --deploy`: every setting that is unsafe in production, as Django's
//! `check --deploy` lists them.

use crate::config::{DatabaseUrl, Settings};

/// Secrets shorter than this are guessable (Django's rule).
const MIN_SECRET_LENGTH: usize = 50;
const MIN_SECRET_DISTINCT: usize = 5;

/// The problems of `settings` for a production deployment; `env` reads the platform's
/// variables (`DYNO` on Heroku, `HOME`, libpq's `PG…` variables).
pub fn deploy_problems(settings: &Settings, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    if settings.debug {
        problems.push("DEBUG is on: error pages can show details and HSTS is not sent; set DEBUG=false".to_owned());
    }
    match &settings.secret_key {
        None => problems.push("SECRET_KEY is not set: the site will not start without DEBUG".to_owned()),
        Some(key) => problems.extend(key_problems("SECRET_KEY", key.expose())),
    }
    // Django's security.W025: a fallback still verifies sessions, so it must be as strong.
    for (i, key) in settings.secret_key_fallbacks.iter().enumerate() {
        problems.extend(key_problems(
            &format!("SECRET_KEY_FALLBACKS entry {}", i + 1),
            key.expose(),
        ));
        if settings
            .secret_key
            .as_ref()
            .is_some_and(|current| current.expose() == key.expose())
        {
            problems.push(format!(
                "SECRET_KEY_FALLBACKS entry {} is SECRET_KEY itself: list only the keys being rotated out",
                i + 1
            ));
        }
    }
    if settings.allowed_hosts.is_empty() {
        problems.push(
            "ALLOWED_HOSTS is empty: with DEBUG off every request is refused (400); list the site's host names"
                .to_owned(),
        );
    } else if settings.allowed_hosts.iter().any(|h| h == "*") {
        problems.push("ALLOWED_HOSTS contains *: any Host header is accepted; list the site's host names".to_owned());
    }
    let on_heroku = env("DYNO").is_some();
    match &settings.database_url {
        DatabaseUrl::Sqlite(_) if on_heroku => problems.push(
            "DATABASE_URL is a SQLite file on Heroku, whose disk is wiped at every restart and not shared between dynos: \
             use Heroku Postgres"
                .to_owned(),
        ),
        DatabaseUrl::Postgres(url) => {
            // What the site itself refuses at start-up (a libpq-only setting, a `PG…`
            // variable the URL would need): said here too, before a deploy finds out.
            let home = env("HOME").map(std::path::PathBuf::from);
            if let Err(why) = crate::db::pg_config::PgTarget::from_url(url, &env, home) {
                problems.push(format!("{why} (the site will not start)"));
            }
            let raw = url.expose();
            let local = is_local_server(raw);
            // libpq's rule: the URL's sslmode, else PGSSLMODE, else prefer (which is not
            // a requirement: it falls back to plain TCP).
            let mode = sslmode_in(raw).or_else(|| env("PGSSLMODE")).unwrap_or_else(|| "prefer".to_owned());
            let tls_required = matches!(mode.as_str(), "require" | "verify-ca" | "verify-full");
            if !local && !tls_required {
                problems.push(
                    "DATABASE_URL does not require TLS: add sslmode=require to it, or set PGSSLMODE=require".to_owned(),
                );
            }
        }
        DatabaseUrl::Sqlite(_) => problems.push(
            "DATABASE_URL is a SQLite file: it lives on this machine's disk (lost with a container, never shared \
             between instances); use PostgreSQL in production"
                .to_owned(),
        ),
    }
    if settings.seed_demo {
        problems.push(
            "SEED_DEMO is on: an empty production database gets the demo lettings and profiles at start-up; \
             set SEED_DEMO=false"
                .to_owned(),
        );
    }
    // Django's security.W008, W012 and W016.
    if !settings.secure_ssl_redirect {
        problems.push(
            "SECURE_SSL_REDIRECT is off: plain-http requests are served instead of redirected to https; \
             set SECURE_SSL_REDIRECT=true (the default on Heroku) if the site is only served over https"
                .to_owned(),
        );
    }
    if !settings.session_cookie_secure {
        problems.push(
            "SESSION_COOKIE_SECURE is off: the admin session cookie may travel over plain http; set SESSION_COOKIE_SECURE=true"
                .to_owned(),
        );
    }
    if !settings.csrf_cookie_secure {
        problems.push(
            "CSRF_COOKIE_SECURE is off: the admin's CSRF cookie may travel over plain http; set CSRF_COOKIE_SECURE=true"
                .to_owned(),
        );
    }
    if on_heroku && settings.host.starts_with("127.") {
        problems.push("HOST is 127.0.0.1 on Heroku: the router cannot reach the app; set HOST=0.0.0.0".to_owned());
    }
    problems
}

/// What is wrong with a signing key called `name` (never quoting it).
fn key_problems(name: &str, key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let distinct = key.chars().collect::<std::collections::BTreeSet<_>>().len();
    if key.chars().count() < MIN_SECRET_LENGTH || distinct < MIN_SECRET_DISTINCT {
        problems.push(format!(
            "{name} is too short or too simple: use at least {MIN_SECRET_LENGTH} random characters (e.g. `openssl rand -base64 48`)"
        ));
    }
    let lower = key.to_ascii_lowercase();
    if ["change-me", "changeme", "django-insecure", "secret-key", "your-secret"]
        .iter()
        .any(|p| lower.contains(p))
    {
        problems.push(format!("{name} looks like a placeholder: generate a random one"));
    }
    problems
}

/// Connections PostgreSQL keeps for superusers (its `superuser_reserved_connections`).
const RESERVED_CONNECTIONS: i64 = 3;

/// Whether every instance's connections fit in the server's `max_connections`; the
/// problem when they do not. An instance holds its pool (`DATABASE_POOL_SIZE`), the async
/// reader's connections (`DATABASE_READ_CONNECTIONS` per worker, when `reader_on`) and
/// the page cache's listener. During a rolling deploy old and new instances overlap:
/// count them in `INSTANCE_COUNT`.
pub fn connection_budget_problem(settings: &Settings, max_connections: i64, reader_on: bool) -> Option<String> {
    let workers = settings.worker_count();
    let readers = if reader_on {
        settings.database_read_connections * workers
    } else {
        0
    };
    let per_instance = i64::from(settings.database_pool_size) + i64::try_from(readers).unwrap_or(i64::MAX / 4) + 1;
    let needed = per_instance.saturating_mul(i64::from(settings.instance_count));
    let available = max_connections - RESERVED_CONNECTIONS;
    (needed > available).then(|| {
        let reader = if readers > 0 {
            format!(
                " + {readers} reader ({workers} worker(s) × {})",
                settings.database_read_connections
            )
        } else {
            String::new()
        };
        format!(
            "the instances' connections can exceed PostgreSQL's max_connections: {} instance(s) × ({} pooled{reader} + 1 listener) = {needed} > {available} ({max_connections} less {RESERVED_CONNECTIONS} reserved); lower DATABASE_POOL_SIZE (or DATABASE_READ_CONNECTIONS, WEB_CONCURRENCY), or raise the plan's connection limit",
            settings.instance_count, settings.database_pool_size
        )
    })
}

/// Whether a libpq URL's server is this machine: a Unix socket (no host, or a `host=`
/// that is a path), `localhost`, or a loopback address; the host compared whole, after
/// the user part and before the port (`…@localhost.attacker.example/db` is not local).
fn is_local_server(raw: &str) -> bool {
    let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match hostport.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => hostport.split(':').next().unwrap_or(""),
    };
    let host = percent_encoding::percent_decode_str(host).decode_utf8_lossy();
    let socket = host.is_empty() || host.starts_with('/');
    let param_host = query_param(raw, "host");
    match param_host {
        Some(param) => param.starts_with('/') || is_loopback_name(&param),
        None => socket || is_loopback_name(&host),
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The last value of the URL's `sslmode` parameter, as libpq takes it.
fn sslmode_in(raw: &str) -> Option<String> {
    query_param(raw, "sslmode")
}

/// The last value of the URL's `name` query parameter, percent-decoded.
fn query_param(raw: &str, name: &str) -> Option<String> {
    let query = raw.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let settings = Settings::from_lookup(|name| map.get(name).cloned()).unwrap();
        deploy_problems(&settings, |name| map.get(name).cloned())
    }

    const GOOD_KEY: &str = "n7Q2vX9kLp4Rz8Ws1Tb6Yc3Hd5Fg0Jm2Nq7Vx4Kl9Pr8Zs3Wt6Ub1Yd5Hf";

    #[test]
    fn a_sound_production_configuration_passes() {
        let found = problems(&[
            ("SECRET_KEY", GOOD_KEY),
            ("ALLOWED_HOSTS", "oc-lettings.herokuapp.com"),
            ("DATABASE_URL", "postgres://u:p@db.example.com/app?sslmode=require"),
            ("HOST", "0.0.0.0"),
            ("DYNO", "web.1"),
            ("SEED_DEMO", "false"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn each_unsafe_setting_is_listed() {
        let found = problems(&[
            ("DEBUG", "true"),
            ("SECRET_KEY", "change-me"),
            ("DYNO", "web.1"),
            ("HOST", "127.0.0.1"),
        ]);
        let text = found.join("\n");
        for expected in [
            "DEBUG is on",
            "SECRET_KEY is too short",
            "SECRET_KEY looks like a placeholder",
            "ALLOWED_HOSTS is empty",
            "SQLite file on Heroku",
            "HOST is 127.0.0.1",
            "SEED_DEMO is on",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        let found = problems(&[
            ("SECRET_KEY", GOOD_KEY),
            ("ALLOWED_HOSTS", "*"),
            ("DATABASE_URL", "postgres://u:p@db.example.com/app"),
            ("DYNO", "web.1"),
            ("SEED_DEMO", "false"),
        ]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(problems(&[
            ("SECRET_KEY", GOOD_KEY),
            ("ALLOWED_HOSTS", "x.example"),
            ("DATABASE_URL", "postgres://u:p@db.example.com/app?sslmode=require"),
            ("SECURE_SSL_REDIRECT", "true"),
            ("SESSION_COOKIE_SECURE", "true"),
            ("CSRF_COOKIE_SECURE", "true"),
            ("SEED_DEMO", "false"),
        ])
        .is_empty());
        // Off Heroku too: a SQLite file is not production's database.
        let sqlite = problems(&[("SECRET_KEY", GOOD_KEY), ("ALLOWED_HOSTS", "x.example")]);
        assert!(
            sqlite.iter().any(|p| p.starts_with("DATABASE_URL is a SQLite file")),
            "{sqlite:?}"
        );
    }

    #[test]
    fn only_this_machine_is_local_and_the_urls_sslmode_wins_over_pgsslmode() {
        // Issue 29, finding 9: both were accepted before.
        let tls_problem = |url: &str, pgsslmode: Option<&str>| {
            let mut pairs = vec![
                ("SECRET_KEY", GOOD_KEY),
                ("ALLOWED_HOSTS", "x.example"),
                ("DATABASE_URL", url),
                ("SECURE_SSL_REDIRECT", "true"),
                ("SESSION_COOKIE_SECURE", "true"),
                ("CSRF_COOKIE_SECURE", "true"),
            ];
            if let Some(mode) = pgsslmode {
                pairs.push(("PGSSLMODE", mode));
            }
            problems(&pairs).iter().any(|p| p.contains("does not require TLS"))
        };
        assert!(tls_problem("postgres://u:p@localhost.attacker.example/db", None));
        assert!(tls_problem("postgres://u:p@127.0.0.1.nip.io/db", None));
        assert!(
            tls_problem("postgres://localhost:p@db.example.com/db", None),
            "a user named localhost"
        );
        assert!(tls_problem(
            "postgres://u:p@db.example.com/app?sslmode=disable",
            Some("require")
        ));
        assert!(tls_problem("postgres://u:p@db.example.com/app?sslmode=prefer", None));
        assert!(tls_problem("postgres://u:p@/app?host=db.example.com", None));
        for local in [
            "postgres://u:p@localhost/db",
            "postgres://u:p@LOCALHOST:5432/db",
            "postgres://u:p@127.0.0.1:5432/db",
            "postgres://u:p@[::1]:5432/db",
            "postgres:///db?host=/var/run/postgresql",
        ] {
            assert!(!tls_problem(local, None), "{local}");
        }
        assert!(!tls_problem("postgres://u:p@db.example.com/app", Some("require")));
        // What the site would refuse at start-up is a problem here too.
        let refused = problems(&[
            ("SECRET_KEY", GOOD_KEY),
            ("ALLOWED_HOSTS", "x.example"),
            ("DATABASE_URL", "postgres://u:p@db.example.com/app?sslmode=require"),
            ("PGSERVICE", "prod"),
        ]);
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("PGSERVICE is set, but only DATABASE_URL is read")
                    && p.ends_with("(the site will not start)")),
            "{refused:?}"
        );
        assert!(!tls_problem(
            "postgres://u:p@db.example.com/app?sslmode=verify-full&sslrootcert=system",
            Some("disable")
        ));
    }

    #[test]
    fn fallback_keys_are_checked_like_the_key() {
        let weak = problems(&[
            ("SECRET_KEY", GOOD_KEY),
            ("ALLOWED_HOSTS", "x.example"),
            ("SECRET_KEY_FALLBACKS", &format!("short, {GOOD_KEY}")),
        ]);
        assert!(
            weak.iter()
                .any(|p| p.starts_with("SECRET_KEY_FALLBACKS entry 1 is too short")),
            "{weak:?}"
        );
        assert!(
            weak.iter()
                .any(|p| p.starts_with("SECRET_KEY_FALLBACKS entry 2 is SECRET_KEY itself")),
            "{weak:?}"
        );
        assert!(
            !weak.iter().any(|p| p.contains("short,") || p.contains(GOOD_KEY)),
            "never quoted: {weak:?}"
        );
    }

    #[test]
    fn the_fleet_must_fit_in_max_connections() {
        let map: HashMap<&str, &str> = [("DATABASE_POOL_SIZE", "20"), ("INSTANCE_COUNT", "4")].into();
        let settings = Settings::from_lookup(|name| map.get(name).map(|v| (*v).to_owned())).unwrap();
        let problem = connection_budget_problem(&settings, 80, false).unwrap();
        assert!(
            problem.contains("4 instance(s) × (20 pooled + 1 listener) = 84 > 77"),
            "{problem}"
        );
        assert!(
            connection_budget_problem(&settings, 100, false).is_none(),
            "84 fit in 97"
        );
    }

    #[test]
    fn the_readers_connections_count_per_worker() {
        let map: HashMap<&str, &str> = [
            ("DATABASE_POOL_SIZE", "8"),
            ("INSTANCE_COUNT", "3"),
            ("WEB_CONCURRENCY", "4"),
            ("DATABASE_READ_CONNECTIONS", "2"),
        ]
        .into();
        let settings = Settings::from_lookup(|name| map.get(name).map(|v| (*v).to_owned())).unwrap();
        // 3 × (8 + 4 × 2 + 1) = 51.
        let problem = connection_budget_problem(&settings, 50, true).unwrap();
        assert!(
            problem.contains("3 instance(s) × (8 pooled + 8 reader (4 worker(s) × 2) + 1 listener) = 51 > 47"),
            "{problem}"
        );
        assert!(connection_budget_problem(&settings, 54, true).is_none(), "51 fit in 51");
        // The reader off (DATABASE_READ_CONNECTIONS=0): the pool and the listener only.
        assert!(
            connection_budget_problem(&settings, 30, false).is_none(),
            "27 fit in 27"
        );
    }

    #[test]
    fn plain_http_settings_are_listed_like_djangos_w008_w012_w016() {
        let found = problems(&[("SECRET_KEY", GOOD_KEY), ("ALLOWED_HOSTS", "x.example")]).join("\n");
        for expected in [
            "SECURE_SSL_REDIRECT is off",
            "SESSION_COOKIE_SECURE is off",
            "CSRF_COOKIE_SECURE is off",
        ] {
            assert!(found.contains(expected), "missing {expected:?} in {found}");
        }
        let on_heroku = problems(&[
            ("SECRET_KEY", GOOD_KEY),
            ("ALLOWED_HOSTS", "x.example"),
            ("DYNO", "web.1"),
        ])
        .join("\n");
        assert!(
            !on_heroku.contains("SECURE_SSL_REDIRECT"),
            "on by default on a dyno: {on_heroku}"
        );
        assert!(problems(&[]).iter().any(|p| p.contains("SECRET_KEY is not set")));
    }
}
