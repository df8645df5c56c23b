//! What admin handlers read from a request: the session, the CSRF token, the client's
//! address, a form body, a safe `next`; and the cookies they set.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest};

use super::session::{self, StaffSession};
use crate::errors::AppError;
use crate::forms::Form;
use crate::state::AppState;
use crate::tokens;

/// Name of the CSRF field in every admin form (Django's).
pub const CSRF_FIELD: &str = "csrfmiddlewaretoken";
/// The anonymous CSRF cookie (for the login form, before there is a session).
pub const CSRF_COOKIE: &str = "oc_csrf";
/// A one-shot message shown on the next admin page.
pub const FLASH_COOKIE: &str = "oc_flash";

/// The session token from the signed cookie, if the signature holds.
pub fn session_token(req: &HttpRequest, state: &AppState) -> Option<String> {
    let cookie = req.cookie(session::COOKIE)?;
    state.signing_key.unsign(cookie.value()).map(str::to_owned)
}

/// The logged-in staff member, if any.
pub async fn current_staff(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Option<StaffSession>, AppError> {
    let Some(token) = session_token(req, state) else {
        return Ok(None);
    };
    Ok(state.db.run(move |conn| session::load(conn, &token)).await?)
}

pub fn full_path(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        query => format!("{}?{query}", req.path()),
    }
}

const CSRF_FAILURE: &str = "CSRF verification failed. Request aborted. Reload the form and try again.";

/// The form's CSRF token must be the session's.
pub fn check_csrf(staff: &StaffSession, form: &Form) -> Result<(), AppError> {
    if !form.get(CSRF_FIELD).is_empty() && tokens::same(form.get(CSRF_FIELD), &staff.csrf_token) {
        Ok(())
    } else {
        Err(AppError::Forbidden(CSRF_FAILURE.into()))
    }
}

/// Before login: the form's token must be the one in the signed CSRF cookie.
pub fn check_anonymous_csrf(req: &HttpRequest, state: &AppState, form: &Form) -> Result<(), AppError> {
    let expected = req
        .cookie(CSRF_COOKIE)
        .and_then(|c| state.signing_key.unsign(c.value()).map(str::to_owned));
    match expected {
        Some(expected) if !form.get(CSRF_FIELD).is_empty() && tokens::same(form.get(CSRF_FIELD), &expected) => Ok(()),
        _ => Err(AppError::Forbidden(CSRF_FAILURE.into())),
    }
}

/// An `application/x-www-form-urlencoded` body; anything else is a 400.
pub fn parse_form(body: &[u8]) -> Result<Form, AppError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(Form::from_pairs)
        .map_err(|err| AppError::BadRequest(err.to_string()))
}

/// Says once per process, in the log, that requests carry `X-Forwarded-For` while no
/// proxy is trusted: behind a router with `TRUSTED_PROXY_COUNT=0`, every client is counted
/// as the router's address (one client for the login throttle).
fn warn_of_untrusted_forwarding(req: &HttpRequest) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if req.headers().contains_key("x-forwarded-for") && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "a request carries X-Forwarded-For but TRUSTED_PROXY_COUNT is 0: clients are told apart by the peer \
             address only (behind a router, set TRUSTED_PROXY_COUNT to the number of proxies)"
        );
    }
}

/// The client's address. With no proxy in front (`TRUSTED_PROXY_COUNT=0`) it is the peer:
/// an `X-Forwarded-For` sent by the client itself is ignored. Behind `n` proxies it is the
/// `n`-th entry from the end of `X-Forwarded-For` (each proxy appends the address it saw;
/// Heroku's router and an AWS ALB append the client's as the last). A request with fewer
/// entries than proxies did not come through them all: the peer again.
pub fn client_address(req: &HttpRequest, trusted_proxies: usize) -> String {
    let peer = || req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    if trusted_proxies == 0 {
        warn_of_untrusted_forwarding(req);
        return peer();
    }
    // Split as bytes: a client's own entry may hold any byte (a non-ASCII one made the
    // whole line unreadable, and the client was counted as the proxy), and only the
    // entries the proxies appended are read as addresses.
    let entries: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|entry| String::from_utf8_lossy(entry).trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if entries.len() < trusted_proxies {
        return peer();
    }
    match entries[entries.len() - trusted_proxies].parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => peer(),
    }
}

/// `next` if it is a path on this site, else the admin index (no open redirects).
pub fn safe_next(next: &str) -> String {
    let is_local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if is_local {
        next.to_owned()
    } else {
        super::urls::INDEX.to_owned()
    }
}

/// Whether the client reached us over HTTPS (directly, or per the router's X-Forwarded-Proto).
pub fn is_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// A cookie as every admin cookie is: HttpOnly, SameSite=Lax, and Secure over HTTPS or
/// when SESSION_COOKIE_SECURE / CSRF_COOKIE_SECURE say so.
pub fn cookie(req: &HttpRequest, name: &'static str, value: String, max_age_secs: Option<i64>) -> Cookie<'static> {
    let always_secure = req.app_data::<web::Data<AppState>>().is_some_and(|state| {
        if name == CSRF_COOKIE {
            state.settings.csrf_cookie_secure
        } else {
            state.settings.session_cookie_secure
        }
    });
    let mut builder = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(always_secure || is_https(req));
    if let Some(secs) = max_age_secs {
        builder = builder.max_age(actix_web::cookie::time::Duration::seconds(secs));
    }
    builder.finish()
}

/// A cookie that deletes `name`.
pub fn expired(req: &HttpRequest, name: &'static str) -> Cookie<'static> {
    let mut removal = cookie(req, name, String::new(), Some(0));
    removal.make_removal();
    removal
}

/// How long a one-shot message is shown for (it is meant for the very next page).
pub const FLASH_SECS: i64 = 60;

/// A one-shot message's cookie value, as actix stores it (percent-encoded): the message
/// signed together with what it is (so no other signed value of the site passes for one)
/// and when it stops being shown (so a copied cookie is worth nothing a minute later).
pub fn flash_value(keys: &tokens::SigningKeys, message: &str, now_ms: i64) -> String {
    let payload = format!("flash|{}|{message}", now_ms.saturating_add(FLASH_SECS * 1000));
    let signature = keys.signature(&payload);
    let encoded = percent_encoding::utf8_percent_encode(&payload, percent_encoding::NON_ALPHANUMERIC);
    format!("{encoded}.{signature}")
}

/// The message of a flash cookie's (percent-decoded) value, if this site signed it and
/// its minute has not run out.
pub fn read_flash(keys: &tokens::SigningKeys, value: &str, now_ms: i64) -> Option<String> {
    let payload = keys.unsign(value)?;
    let (until, message) = payload.strip_prefix("flash|")?.split_once('|')?;
    (until.parse::<i64>().ok()? >= now_ms).then(|| message.to_owned())
}

/// The message left by the previous request, if any, and only if this site signed it
/// (a forged cookie shows nothing) within the last minute.
pub fn take_flash(req: &HttpRequest) -> Option<String> {
    let state = req.app_data::<web::Data<AppState>>()?;
    // actix hands cookie values over percent-decoded.
    let cookie = req.cookie(FLASH_COOKIE)?;
    read_flash(&state.signing_key, cookie.value(), crate::clock::now_ms())
}

/// A one-shot message for the next page, signed with the SECRET_KEY.
pub fn flash_cookie(req: &HttpRequest, message: &str) -> Cookie<'static> {
    let value = match req.app_data::<web::Data<AppState>>() {
        Some(state) => flash_value(&state.signing_key, message, crate::clock::now_ms()),
        None => String::new(),
    };
    cookie(req, FLASH_COOKIE, value, Some(FLASH_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&[u8]]) -> HttpRequest {
        let mut request = actix_web::test::TestRequest::default().peer_addr("10.0.0.2:40000".parse().unwrap());
        for value in values {
            request = request.append_header((
                "x-forwarded-for",
                actix_web::http::header::HeaderValue::from_bytes(value).unwrap(),
            ));
        }
        request.to_http_request()
    }

    #[test]
    fn a_clients_own_bytes_in_x_forwarded_for_do_not_hide_its_address() {
        // Issue 29, finding 4: the client's part held a non-ASCII byte, and it was counted
        // under the proxy's address (10.0.0.2).
        let req = forwarded(&[b"\xff\xfe junk, 203.0.113.9"]);
        assert_eq!(client_address(&req, 1), "203.0.113.9");
        let req = forwarded(&[b"1.2.3.4\xc3", b"203.0.113.9, 198.51.100.7"]);
        assert_eq!(client_address(&req, 2), "203.0.113.9");
        assert_eq!(client_address(&req, 1), "198.51.100.7");
        // Fewer entries than proxies, or no proxy at all: the peer.
        assert_eq!(client_address(&forwarded(&[b"203.0.113.9"]), 2), "10.0.0.2");
        assert_eq!(client_address(&forwarded(&[b"203.0.113.9"]), 0), "10.0.0.2");
        // The proxy's entry is not an address: the peer, never the client's junk.
        assert_eq!(client_address(&forwarded(&[b"1.1.1.1, \xff"]), 1), "10.0.0.2");
    }

    #[test]
    fn a_flash_message_is_this_sites_for_one_minute() {
        let keys = tokens::SigningKeys::new(b"k".repeat(50), Vec::new());
        let at = 1_800_000_000_000;
        let value = flash_value(&keys, "The letting “A|B” was changed.", at);
        let decoded = percent_encoding::percent_decode_str(&value).decode_utf8().unwrap();
        assert_eq!(
            read_flash(&keys, &decoded, at + 59_000).as_deref(),
            Some("The letting “A|B” was changed.")
        );
        assert_eq!(read_flash(&keys, &decoded, at + 61_000), None, "a minute later");
        let other = tokens::SigningKeys::new(b"j".repeat(50), Vec::new());
        assert_eq!(read_flash(&other, &decoded, at), None, "another key");
        // Another signed value of the site (a CSRF cookie, a device cookie) is no message.
        assert_eq!(read_flash(&keys, &keys.sign("some-token"), at), None);
        assert_eq!(read_flash(&keys, &keys.sign("device|abc|admin"), at), None);
    }

    #[test]
    fn next_is_only_followed_to_local_paths() {
        assert_eq!(safe_next("/admin/lettings/letting/"), "/admin/lettings/letting/");
        assert_eq!(safe_next("/admin/?q=a"), "/admin/?q=a");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
            "admin/",
            "/a\nb",
        ] {
            assert_eq!(safe_next(bad), "/admin/", "{bad:?}");
        }
    }
}
