//! The JSON log lines (`LOG_FORMAT=json`, the image's): exactly tracing-subscriber's JSON
//! format (`{"timestamp":…,"level":…,"fields":{…},"target":…}`, plus `"span"` and `"spans"`
//! inside spans), written for less. Every request logs an access line from outside its
//! span and opens that span, and tracing-subscriber's formatter builds maps of JSON values
//! for both; here the common lines are written straight into one buffer, and anything
//! else (an event inside a span, a record bridged from the `log` crate) is handed to
//! tracing-subscriber's own formatter. The tests check both give the same JSON.

use std::fmt::Write as _;
use tracing::{Event, Subscriber};

use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The JSON lines' fmt layer, writing to `writer`.
pub fn layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonObjectFields)
        .event_format(JsonLines::default())
        .with_writer(writer)
}

/// The events' format: an event outside any span written directly, anything else by
/// tracing-subscriber's JSON format.
pub struct JsonLines {
    standard: Format<Json, UtcMicros>,
}

impl Default for JsonLines {
    fn default() -> Self {
        JsonLines {
            standard: tracing_subscriber::fmt::format().json().with_timer(UtcMicros),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let meta = event.metadata();
        // The same span the standard format would show, and the `log` crate's records
        // (their target and fields are rewritten by the standard format).
        let in_span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current())
            .is_some();
        if in_span || meta.fields().field("log.target").is_some() {
            return self.standard.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(320);
        line.push_str("{\"timestamp\":\"");
        UtcMicros.format_time(&mut Writer::new(&mut line))?;
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"fields\":{");
        event.record(&mut JsonObjectVisitor { out: &mut line });
        line.push_str("},\"target\":");
        json_string(&mut line, meta.target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// A span's fields as the JSON object the JSON lines embed (`"span":{…}`), written
/// straight into the span's text. tracing-subscriber's own `JsonFields` gives the same
/// object but builds a map of JSON values first and serialises it: a third of a request's
/// logging cost in the profile, paid for the request span of every request.
struct JsonObjectFields;

impl<'writer> FormatFields<'writer> for JsonObjectFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
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
        let _ = write!(self.out, "{value}"); // writing to a String cannot fail
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}"); // writing to a String cannot fail
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.key(field);
        // As serde_json writes them: a number, or null when it is not finite.
        match serde_json::Number::from_f64(value) {
            Some(number) => {
                let _ = write!(self.out, "{number}");
            }
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
pub struct UtcMicros;

impl tracing_subscriber::fmt::time::FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

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

    const AWKWARD: &str = "/a \"quoted\" \\ path\n\t\u{1}\u{1f}\u{7f}é✓ </script>";

    /// Events outside spans (the written path) with every kind of field and awkward text;
    /// then spans with the same (a field recorded later, nested spans) and events inside
    /// them (the standard path): the lines, parsed.
    fn log_everything() {
        tracing::info!(
            request_id = "0123abcd",
            method = "GET",
            path = AWKWARD,
            status = 200u64,
            latency_ms = 0.561938f64,
            "request"
        );
        tracing::error!(
            n = -3i64,
            big = i128::MIN,
            huge = u128::MAX,
            yes = false,
            nan = f64::NAN,
            inf = f64::INFINITY,
            whole = 2.0f64,
            tiny = 1e-300f64,
            bytes = &b"\x00\xff"[..],
            debug = ?vec![AWKWARD],
            shown = %AWKWARD,
            "a {} message with {AWKWARD}",
            "formatted"
        );
        tracing::warn!(target: "elsewhere::module", "");
        tracing::info!(parent: None, "explicitly rootless");
        let outer = tracing::info_span!(
            "request",
            request_id = "0123abcd",
            path = AWKWARD,
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
        tracing::info!(parent: None, "rootless, while a span is current");
        let inner = tracing::info_span!("inner", id = 5);
        let _inner = inner.enter();
        let empty = tracing::info_span!("empty");
        let _empty = empty.enter();
        tracing::warn!(status = 503, "inside");
    }

    /// What `log_everything` writes through our layer, or through tracing-subscriber's JSON
    /// layer, one parsed line each, with the timestamp taken out (and returned).
    fn run(ours: bool) -> Vec<(serde_json::Value, String)> {
        let capture = Capture::default();
        let writer = capture.clone();
        let make_writer = move || writer.clone();
        if ours {
            let subscriber = tracing_subscriber::registry().with(layer(make_writer));
            tracing::subscriber::with_default(subscriber, log_everything);
        } else {
            let standard = tracing_subscriber::fmt::layer().json().with_writer(make_writer);
            let subscriber = tracing_subscriber::registry().with(standard);
            tracing::subscriber::with_default(subscriber, log_everything);
        }
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'));
        text.lines()
            .map(|line| {
                let mut json: serde_json::Value = serde_json::from_str(line).unwrap();
                let timestamp = json.as_object_mut().unwrap().remove("timestamp").unwrap();
                (json, timestamp.as_str().unwrap().to_owned())
            })
            .collect()
    }

    #[test]
    fn lines_are_the_same_json_as_tracing_subscribers_own() {
        let ours = run(true);
        let theirs = run(false);
        assert_eq!(ours.len(), 6, "{ours:?}");
        for ((ours, _), (theirs, _)) in ours.iter().zip(&theirs) {
            assert_eq!(ours, theirs);
        }
        let access = &ours[0].0;
        assert_eq!(access["fields"]["path"], AWKWARD);
        assert_eq!(access["fields"]["latency_ms"], 0.561938);
        assert_eq!(access["level"], "INFO");
        // As tracing-serde: 128-bit integers and bytes as their Debug text.
        assert_eq!(ours[1].0["fields"]["huge"], u128::MAX.to_string());
        assert_eq!(ours[1].0["fields"]["bytes"], "[00 ff]");
        assert_eq!(ours[1].0["fields"]["nan"], serde_json::Value::Null);
        assert_eq!(ours[2].0["target"], "elsewhere::module");
        let spans = ours[5].0["spans"].as_array().unwrap();
        assert_eq!(spans[0]["path"], AWKWARD);
        assert_eq!(spans[0]["later"], "recorded after");
        assert_eq!(spans[1]["id"], 5);
        // The timestamps: RFC 3339 in UTC with microseconds, now.
        let now = chrono::Utc::now();
        for (_, timestamp) in &ours {
            assert_eq!(timestamp.len(), "2026-11-26T18:40:07.123456Z".len(), "{timestamp}");
            let at = chrono::DateTime::parse_from_rfc3339(timestamp).unwrap();
            assert!((now - at.to_utc()).num_seconds().abs() < 60, "{timestamp}");
        }
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
