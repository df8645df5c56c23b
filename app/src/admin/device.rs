//! Device cookies (OWASP's answer to per-user login limits that strangers could aim at a
//! victim): a browser that logs in as a user gets a signed cookie naming the user and a
//! random device id. Its later attempts for that user are counted under the device, with
//! an allowance of their own, instead of under the username's cap for strangers
//! (`throttle.rs`): a flood of guesses from elsewhere never locks the user out of a
//! browser they have used.
//!
//! The cookie holds no username: its signature covers it, so the cookie tells nothing to
//! someone who reads it, and is worth nothing for another user.

use actix_web::cookie::Cookie;
use actix_web::HttpRequest;

use super::request::cookie;
use super::throttle::username_key;
use crate::state::AppState;
use crate::tokens::SigningKeys;

pub const COOKIE: &str = "oc_device";
/// How long a browser stays trusted after its last login (OWASP leaves it to the site).
pub const AGE_SECS: i64 = 180 * 24 * 60 * 60;

/// What the signature covers: what the value is (so no other signed value passes for
/// one), the device id, and the user (lower-case), who is not in the cookie itself.
fn signed_text(device: &str, username: &str) -> String {
    format!("device|{device}|{}", username_key(username))
}

/// The cookie's value for a new device of `username`: `id.signature`.
pub fn issue(keys: &SigningKeys, username: &str) -> Result<String, getrandom::Error> {
    let device = crate::tokens::random_token()?;
    let signature = keys.signature(&signed_text(&device, username));
    Ok(format!("{device}.{signature}"))
}

/// The device id of `value` if it is a device cookie this site issued for `username`
/// (under the current key or a fallback).
pub fn device_for(keys: &SigningKeys, value: &str, username: &str) -> Option<String> {
    let (device, signature) = value.split_once('.')?;
    if device.is_empty() || !device.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    keys.unsign(&format!("{}.{signature}", signed_text(device, username)))?;
    Some(device.to_owned())
}

/// The trusted device the request comes from, for `username`.
pub fn from_request(req: &HttpRequest, state: &AppState, username: &str) -> Option<String> {
    let value = req.cookie(COOKIE)?;
    device_for(&state.signing_key, value.value(), username)
}

/// The cookie that marks this browser as a device of `username`: the one it has when it
/// is already theirs (same id), else a new one.
pub fn cookie_for(req: &HttpRequest, state: &AppState, username: &str) -> Option<Cookie<'static>> {
    let value = match req.cookie(COOKIE) {
        Some(existing) if device_for(&state.signing_key, existing.value(), username).is_some() => {
            existing.value().to_owned()
        }
        _ => issue(&state.signing_key, username).ok()?,
    };
    Some(cookie(req, COOKIE, value, Some(AGE_SECS)))
}
