//! What must never leave the process as it came in: secrets in Sentry events (request
//! bodies, cookies, credentials, fields named like a secret) and control characters in log
//! lines (a forged line). Plain functions, called by telemetry and tested here.

use std::fmt::Write as _;

/// What a removed value is replaced with (Sentry's own marker).
pub const FILTERED: &str = "[Filtered]";

/// Whether a header, form field or query parameter name is one a secret hides behind
/// (Django's `SafeExceptionReporterFilter` and Sentry's default scrubbers use the same words).
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "token",
        "csrf",
        "key",
        "secret",
        "session",
        "cookie",
        "auth",
        "signature",
        "sig",
        "dsn",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A query string with the value of every secret-named parameter replaced.
pub fn scrub_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(&decode(name)) => format!("{name}={FILTERED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(component: &str) -> String {
    percent_encoding::percent_decode_str(&component.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Removes from a Sentry event everything that may carry a secret or a credential: the
/// request body, cookies, the environment, credential headers, and the values of
/// secret-named query parameters. Runs on every event (`before_send`), whatever the
/// integration that made it.
pub fn scrub_event(mut event: sentry::protocol::Event<'static>) -> sentry::protocol::Event<'static> {
    if let Some(request) = event.request.as_mut() {
        scrub_request(request);
    }
    event
}

/// Every item of an envelope as [`scrub_event`] leaves an event: transactions too, which
/// carry the request (sentry 0.49 has no hook for them: the transport calls this).
pub fn scrub_envelope(envelope: sentry::Envelope) -> sentry::Envelope {
    use sentry::protocol::EnvelopeItem;
    let mut scrubbed = sentry::Envelope::new().with_headers(envelope.headers().clone());
    for item in envelope.into_items() {
        scrubbed.add_item(match item {
            EnvelopeItem::Transaction(mut transaction) => {
                if let Some(request) = transaction.request.as_mut() {
                    scrub_request(request);
                }
                EnvelopeItem::Transaction(transaction)
            }
            EnvelopeItem::Event(event) => EnvelopeItem::Event(Box::new(scrub_event(*event))),
            other => other,
        });
    }
    scrubbed
}

/// A request as an event or a transaction may carry it, without its body, cookies,
/// environment, secret headers, secret query parameters or URL credentials.
fn scrub_request(request: &mut sentry::protocol::Request) {
    request.data = None;
    request.cookies = None;
    request.env.clear();
    request.headers.retain(|name, _| !is_secret_name(name));
    if let Some(query) = request.query_string.as_mut() {
        *query = scrub_query(query);
    }
    if let Some(url) = request.url.as_mut() {
        let _ = url.set_password(None);
        if !url.username().is_empty() {
            let _ = url.set_username("");
        }
        if let Some(query) = url.query().map(scrub_query) {
            url.set_query(Some(&query));
        }
    }
}

/// `text` with every control character written as an escape (`\n`, `\u{1b}`), so a value
/// in a log line can never start a new line or drive the terminal.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Event, Request};

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "password",
            "password1",
            "csrfmiddlewaretoken",
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "secret_key",
            "oc_session",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["username", "q", "title", "x-request-id", "content-type", "host"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn events_lose_bodies_cookies_credentials_and_secret_parameters() {
        let mut request = Request {
            url: "http://user:pw@example.com/admin/?q=a&token=abc".parse().ok(),
            data: Some("username=alice&password=hunter2".into()),
            cookies: Some("oc_session=xyz".into()),
            query_string: Some("q=a&api_key=abc&next=%2F".into()),
            ..Request::default()
        };
        request.headers.insert("Cookie".into(), "oc_session=xyz".into());
        request.headers.insert("Authorization".into(), "Bearer abc".into());
        request.headers.insert("X-CSRFToken".into(), "abc".into());
        request.headers.insert("User-Agent".into(), "test".into());
        request.env.insert("REMOTE_ADDR".into(), "1.2.3.4".into());
        let event = scrub_event(Event {
            request: Some(request),
            ..Event::default()
        });
        let text = serde_json::to_string(&event).unwrap();
        for secret in ["hunter2", "xyz", "Bearer", "abc", "pw@", "1.2.3.4"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("User-Agent") && text.contains("q=a"), "{text}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("alice"), "alice");
        assert_eq!(
            escape_control("a\nINFO forged\r\u{1b}[31m\u{0}"),
            "a\\nINFO forged\\r\\u{1b}[31m\\u{0}"
        );
    }
}
