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
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .fmt_fields(JsonObjectFields)
                    .with_timer(UtcMicros)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // Already initialised (tests): keep the first subscriber.
    drop(result);
}

/// A span's fields as the JSON object the JSON lines embed (`"span":{…}`), written
/// straight into the span's text. tracing-subscriber's own `JsonFields` gives the same
/// object but builds a map of JSON values first and serialises it: a third of a request's
/// logging cost in the profile, paid for the request span of every request.
struct JsonObjectFields;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for JsonObjectFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut object = String::from("{");
        fields.record(&mut JsonObjectVisitor { out: &mut object });
        object.push('}');
        writer.write_str(&object)
    }

    /// Fields recorded after the span began go inside the same object.
    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        if !current.fields.ends_with('}') {
            current.fields.clear();
            return self.format_fields(current.as_writer(), fields);
        }
        current.fields.pop();
        fields.record(&mut JsonObjectVisitor {
            out: &mut current.fields,
        });
        current.fields.push('}');
        Ok(())
    }
}

/// Appends `"name":value` pairs to a JSON object being written (a comma before each but
/// the object's first).
struct JsonObjectVisitor<'a> {
    out: &'a mut String,
}

impl JsonObjectVisitor<'_> {
    fn key(&mut self, field: &tracing::field::Field) {
        if !self.out.ends_with('{') {
            self.out.push(',');
        }
        json_string(self.out, field.name());
        self.out.push(':');
    }
}

impl tracing::field::Visit for JsonObjectVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.key(field);
        json_string(self.out, value);
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.key(field);
        self.out.push_str(&value.to_string());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.key(field);
        self.out.push_str(&value.to_string());
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.key(field);
        // As serde_json writes them: a number, or null when it is not finite.
        match serde_json::Number::from_f64(value) {
            Some(number) => self.out.push_str(&number.to_string()),
            None => self.out.push_str("null"),
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.key(field);
        json_string(self.out, &format!("{value:?}"));
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON lines' timestamp, exactly as tracing-subscriber's own (`2026-11-26T18:20:07.123456Z`,
/// RFC 3339, UTC, microseconds), with the date and time of day formatted once per second
/// per thread instead of on every line (a tenth of the access line's cost in the profile).
struct UtcMicros;

impl tracing_subscriber::fmt::time::FormatTime for UtcMicros {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        write_utc_micros(w, since_epoch)
    }
}

thread_local! {
    /// The last second formatted on this thread, and its text up to the seconds.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

fn write_utc_micros(w: &mut impl std::fmt::Write, since_epoch: std::time::Duration) -> std::fmt::Result {
    let secs = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            text.clear();
            let (year, month, day) = civil_from_days(secs / 86_400);
            let of_day = secs % 86_400;
            let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
            std::fmt::Write::write_fmt(
                text,
                format_args!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
            )?;
            *cached = secs;
        }
        w.write_str(text)
    })?;
    write!(w, ".{:06}Z", since_epoch.subsec_micros())
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
    options.release = Some(format!("oc-lettings@{}", crate::GIT_SHA).into());
    options.environment = Some(settings.sentry_environment.clone().into());
    options.send_default_pii = false;
    // Never a request body (sentry-actix would attach up to 10 kB of a form: passwords,
    // CSRF tokens); and every event, whatever made it, loses cookies and credentials.
    options.max_request_body_size = sentry::MaxRequestBodySize::None;
    options.before_send = Some(Arc::new(|event| Some(crate::redact::scrub_event(event))));
    options.transport = Some(Arc::new(
        move |options: &sentry::ClientOptions| -> Arc<dyn sentry::Transport> {
            match sentry::TransportOptions::try_from_client_options(options) {
                Some(transport_options) => Arc::new(
                    sentry::transports::ReqwestHttpTransportOptions::from(transport_options)
                        .with_client(http.clone())
                        .build(),
                ),
                // Unreachable: the DSN was set above; without one there is nothing to send.
                None => Arc::new(NoTransport),
            }
        },
    ));
    let options = options.traces_sample_rate(settings.sentry_traces_sample_rate);
    Ok(Some(sentry::init(options)))
}

/// A transport that drops events (never used while a DSN is set).
struct NoTransport;

impl sentry::Transport for NoTransport {
    fn send_envelope(&self, _envelope: sentry::Envelope) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_micros(since_epoch: std::time::Duration) -> String {
        let mut out = String::new();
        write_utc_micros(&mut out, since_epoch).unwrap();
        out
    }

    /// Writes into a shared buffer (a subscriber's output, for the test to read).
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Spans with awkward fields (escapes, control characters, non-ASCII, every value
    /// type, a field recorded later, nested spans), with an event inside: the lines parsed.
    fn json_lines(subscriber: impl tracing::Subscriber + Send + Sync) -> Vec<serde_json::Value> {
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!(
                "request",
                request_id = "0123abcd",
                path = "/a \"quoted\" \\ path\n\t\u{1}\u{7f}é✓",
                n = -3i64,
                u = 7u64,
                yes = true,
                ratio = 0.25f64,
                nan = f64::NAN,
                debug = ?vec!["x"],
                shown = %"disp",
                later = tracing::field::Empty,
            );
            let _outer = outer.enter();
            outer.record("later", "recorded after");
            let inner = tracing::info_span!("inner", id = 5);
            let _inner = inner.enter();
            let empty = tracing::info_span!("empty");
            let _empty = empty.enter();
            tracing::warn!(status = 503, "inside");
        });
        Vec::new()
    }

    fn run(with_ours: bool) -> Vec<serde_json::Value> {
        let capture = Capture::default();
        let writer = capture.clone();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || writer.clone());
        if with_ours {
            json_lines(tracing_subscriber::registry().with(layer.fmt_fields(JsonObjectFields)));
        } else {
            json_lines(tracing_subscriber::registry().with(layer));
        }
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                let mut json: serde_json::Value = serde_json::from_str(line).unwrap();
                json.as_object_mut().unwrap().remove("timestamp");
                json
            })
            .collect()
    }

    #[test]
    fn span_fields_are_the_same_json_as_tracing_subscribers_own() {
        let ours = run(true);
        let theirs = run(false);
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours, theirs);
        let spans = ours[0]["spans"].as_array().unwrap();
        assert_eq!(spans[0]["path"], "/a \"quoted\" \\ path\n\t\u{1}\u{7f}é✓");
        assert_eq!(spans[0]["later"], "recorded after");
        assert_eq!(spans[0]["nan"], serde_json::Value::Null);
        assert_eq!(spans[1]["id"], 5);
    }

    #[test]
    fn timestamps_match_rfc_3339_with_microseconds() {
        // Every day from 1970 to past 2100 (leap years, 2000, 2100), at odd times of day,
        // against chrono; then the cache: the same second twice, and a second change.
        for day in (0..50_000u64)
            .step_by(7)
            .chain([10_957, 11_016, 11_017, 47_541, 47_542])
        {
            let secs = day * 86_400 + (day * 7919) % 86_400;
            let nanos = ((day * 104_729) % 1_000_000) as u32 * 1000;
            let at = std::time::Duration::new(secs, nanos);
            let expected = chrono::DateTime::from_timestamp(secs as i64, nanos)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(utc_micros(at), expected);
            assert_eq!(utc_micros(at), expected, "from the cache");
        }
        assert_eq!(
            utc_micros(std::time::Duration::new(0, 999)),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            utc_micros(std::time::Duration::new(1_795_718_407, 123_456_789)),
            "2026-11-26T18:40:07.123456Z"
        );
    }
}
