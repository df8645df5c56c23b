//! Logging: tracing to stderr, human-readable or JSON (`LOG_FORMAT`), level from `RUST_LOG`;
//! and Sentry, scrubbed of anything secret before an event leaves.

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .fmt_fields(escaped_fields())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry.with(crate::json_log::layer(std::io::stderr)).try_init(),
    };
    // Already initialised (tests): keep the first subscriber.
    drop(result);
}

/// The pretty format's fields, each with its control characters escaped: a username
/// holding a newline cannot forge a second log line. (The JSON format escapes by itself.)
fn escaped_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = crate::redact::escape_control(&text);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

/// Starts Sentry when `SENTRY_DSN` is set; call before the async runtime starts and keep
/// the guard until the process ends (dropping it flushes pending events). Events carry
/// the release (the git sha baked in at build time) and the environment; no personal
/// data. Delivery uses rustls with built-in roots, so it works from a `FROM scratch` image.
pub fn init_sentry(settings: &crate::config::Settings) -> anyhow::Result<Option<sentry::ClientInitGuard>> {
    use std::sync::Arc;

    let Some(dsn) = &settings.sentry_dsn else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn.parse()?);
    options.release = Some(format!("oc-lettings@{}", crate::release::git_sha()).into());
    options.environment = Some(settings.sentry_environment.clone().into());
    options.send_default_pii = false;
    // Never a request body (sentry-actix would attach up to 10 kB of a form: passwords,
    // CSRF tokens); and every event, whatever made it, loses cookies and credentials.
    options.max_request_body_size = sentry::MaxRequestBodySize::None;
    options.before_send = Some(Arc::new(|event| Some(crate::redact::scrub_event(event))));
    options.transport = Some(Arc::new(
        move |options: &sentry::ClientOptions| -> Arc<dyn sentry::Transport> {
            match sentry::TransportOptions::try_from_client_options(options) {
                Some(transport_options) => Arc::new(Scrubbing(Arc::new(
                    sentry::transports::ReqwestHttpTransportOptions::from(transport_options)
                        .with_client(http.clone())
                        .build(),
                ))),
                // Unreachable: the DSN was set above; without one there is nothing to send.
                None => Arc::new(NoTransport),
            }
        },
    ));
    let options = options.traces_sample_rate(settings.sentry_traces_sample_rate);
    // A transaction per request (started by sentry-actix; `startup`), with its spans.
    crate::trace::enable();
    Ok(Some(sentry::init(options)))
}

/// The transport every envelope leaves through: each item scrubbed as events are
/// (`redact::scrub_envelope`), transactions included, which no `before_send` sees.
struct Scrubbing(std::sync::Arc<dyn sentry::Transport>);

impl sentry::Transport for Scrubbing {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        self.0.send_envelope(crate::redact::scrub_envelope(envelope));
    }

    fn flush(&self, timeout: std::time::Duration) -> bool {
        self.0.flush(timeout)
    }

    fn shutdown(&self, timeout: std::time::Duration) -> bool {
        self.0.shutdown(timeout)
    }
}

/// A transport that drops events (never used while a DSN is set).
struct NoTransport;

impl sentry::Transport for NoTransport {
    fn send_envelope(&self, _envelope: sentry::Envelope) {}
}
