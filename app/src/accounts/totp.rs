//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, six digits,
//! 30-second steps, the parameters every authenticator app reads from an `otpauth://`
//! URI. And the one-time recovery codes that stand in for a lost authenticator. Plain
//! functions of their inputs; storing and checking them is `two_factor.rs`'s.

use ring::hmac;
use sha2::{Digest, Sha256};

/// Seconds per time step (RFC 6238's default, what authenticator apps assume).
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from (a phone's clock a little off, a code
/// typed as it changed): RFC 6238 section 5.2 recommends at most one.
pub const DRIFT_STEPS: i64 = 1;
/// Bytes of a new key: 160 bits, RFC 4226's recommendation for HMAC-SHA1.
pub const SECRET_BYTES: usize = 20;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (5 bits each: 60 random bits).
const RECOVERY_CHARS: usize = 12;

/// RFC 4648's base32 alphabet (what `otpauth://` keys are written in).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The recovery codes' alphabet, 32 characters (5 bits each): lower-case letters and
/// digits without the ones read as others (o, 1, l, i).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

/// Base32 without padding (RFC 4648), as authenticator apps take a key.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of a base32 key (case, spaces and padding ignored); `None` if it is not base32.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=')) {
        let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// A new random key, base32.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(base32(&bytes))
}

/// The time step of a Unix time (seconds).
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// RFC 4226's HOTP of `key` at `counter`, truncated to `digits` digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation: the low four bits of the last byte pick four bytes.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    word % 10u32.pow(digits)
}

/// The six-digit code of `key` (base32) at time step `step`, as the app shows it
/// (leading zeros kept); `None` for a key that is not base32 or a step before 1970.
pub fn code_at(key: &str, step: i64) -> Option<String> {
    let bytes = from_base32(key)?;
    let counter = u64::try_from(step).ok()?;
    Some(format!(
        "{:0width$}",
        hotp(&bytes, counter, DIGITS),
        width = DIGITS as usize
    ))
}

/// A code as typed: six digits once spaces are dropped ("123 456" is 123456), or `None`.
pub fn typed_code(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The step among now and its neighbours whose code `code` is, if any, later than
/// `last_step` (a code accepted once is never accepted again). Every candidate is
/// compared, in constant time, whichever matches.
pub fn matching_step(key: &str, code: &str, now_step: i64, last_step: i64) -> Option<i64> {
    let mut found = None;
    for step in (now_step - DRIFT_STEPS)..=(now_step + DRIFT_STEPS) {
        let Some(expected) = code_at(key, step) else { continue };
        if crate::tokens::same(&expected, code) && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn percent(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The `otpauth://` URI an authenticator app reads from the QR code (Google
/// Authenticator's key URI format): the issuer and the account as the label, the key,
/// and the parameters spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, key: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={key}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent(issuer),
        percent(account),
        percent(issuer)
    )
}

/// `count` new recovery codes, as shown to the user once: `xxxx-xxxx-xxxx`.
pub fn new_recovery_codes(count: usize) -> Result<Vec<String>, getrandom::Error> {
    let mut codes = Vec::with_capacity(count);
    for _ in 0..count {
        let mut bytes = [0u8; RECOVERY_CHARS];
        getrandom::fill(&mut bytes)?;
        let chars: Vec<char> = bytes
            .iter()
            .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
            .collect();
        let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
        codes.push(groups.join("-"));
    }
    Ok(codes)
}

/// A recovery code as typed, reduced to its characters (case, spaces and dashes
/// ignored), or `None` if it cannot be one.
pub fn typed_recovery_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = code.len() == RECOVERY_CHARS && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// What is stored of a recovery code (reduced by [`typed_recovery_code`]): its SHA-256.
/// 60 random bits need no slow hash against guessing online, which the login throttle
/// limits; the table alone gives nothing away.
pub fn recovery_code_hash(code: &str) -> String {
    crate::tokens::hex(&Sha256::digest(format!("recovery|{code}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 key, "12345678901234567890".
    fn rfc_key() -> String {
        base32(b"12345678901234567890")
    }

    #[test]
    fn codes_are_rfc_6238s_test_vectors() {
        let key = from_base32(&rfc_key()).unwrap();
        // (time, the eight-digit TOTP of appendix B)
        for (time, expected) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(&key, step_at(time) as u64, 8), expected, "T = {time}");
        }
        // Six digits keep the leading zeros: 7081804 → "081804".
        assert_eq!(code_at(&rfc_key(), step_at(1111111109)).unwrap(), "081804");
    }

    #[test]
    fn base32_reads_back_what_it_writes() {
        assert_eq!(rfc_key(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(from_base32("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert_eq!(from_base32("MZXW1"), None);
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 32);
        assert_eq!(from_base32(&secret).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_once() {
        let key = rfc_key();
        let now = step_at(1_700_000_000);
        let code = code_at(&key, now).unwrap();
        assert_eq!(matching_step(&key, &code, now, 0), Some(now));
        assert_eq!(matching_step(&key, &code, now + 1, 0), Some(now), "one step late");
        assert_eq!(matching_step(&key, &code, now - 1, 0), Some(now), "one step early");
        assert_eq!(matching_step(&key, &code, now + 2, 0), None, "two steps late");
        assert_eq!(matching_step(&key, &code, now, now), None, "already used");
        let previous = code_at(&key, now - 1).unwrap();
        assert_eq!(
            matching_step(&key, &previous, now, now),
            None,
            "older than the last used"
        );
        assert_eq!(
            matching_step(&key, "000000", now, 0).is_some(),
            [now - 1, now, now + 1]
                .iter()
                .any(|s| code_at(&key, *s).unwrap() == "000000")
        );
    }

    #[test]
    fn typed_codes_are_read_leniently_and_nothing_else_passes() {
        assert_eq!(typed_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(typed_code("12345"), None);
        assert_eq!(typed_code("1234567"), None);
        assert_eq!(typed_code("12345a"), None);
        assert_eq!(typed_code("١٢٣٤٥٦"), None, "only ASCII digits");
    }

    #[test]
    fn recovery_codes_are_random_readable_and_read_back() {
        let codes = new_recovery_codes(RECOVERY_CODES).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 14, "{code}");
            let typed = typed_recovery_code(&code.to_uppercase().replace('-', " ")).unwrap();
            assert_eq!(typed, code.replace('-', ""));
            assert!(!typed.contains(['o', '1', 'l', 'i']));
        }
        assert_eq!(typed_recovery_code("abcd-efgh-jkm"), None);
        assert_eq!(typed_recovery_code("abcd-efgh-jkmo"), None);
        assert_ne!(recovery_code_hash("abcdefghjkmn"), recovery_code_hash("abcdefghjkmp"));
        assert_eq!(recovery_code_hash("abcdefghjkmn").len(), 64);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        assert_eq!(
            otpauth_uri("Orange County Lettings", "ann b", "ABC"),
            "otpauth://totp/Orange%20County%20Lettings:ann%20b?secret=ABC&issuer=Orange%20County%20Lettings&algorithm=SHA1&digits=6&period=30"
        );
    }
}
