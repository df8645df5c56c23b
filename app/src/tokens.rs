//! Random tokens from the OS CSPRNG, and values signed with the SECRET_KEY (HMAC-SHA256).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes as 64 hex characters.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `value`, in hex (what the database keeps of a session token).
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// The HMAC-SHA256 of `value` under `key`, in hex.
pub fn signature(key: &[u8], value: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(value.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// `value.signature`.
pub fn sign(key: &[u8], value: &str) -> String {
    format!("{value}.{}", signature(key, value))
}

/// The value of a `value.signature` string whose signature is right (compared in constant time).
pub fn unsign<'a>(key: &[u8], signed: &'a str) -> Option<&'a str> {
    let (value, given) = signed.rsplit_once('.')?;
    let expected = signature(key, value);
    bool::from(expected.as_bytes().ct_eq(given.as_bytes())).then_some(value)
}

/// The keys a site signs with: the current one signs and verifies; the fallbacks
/// (`SECRET_KEY_FALLBACKS`, earlier keys being rotated out) only verify, as Django's.
pub struct SigningKeys {
    current: Vec<u8>,
    fallbacks: Vec<Vec<u8>>,
}

/// Never the keys themselves.
impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys(1 current, {} fallback(s))", self.fallbacks.len())
    }
}

impl SigningKeys {
    pub fn new(current: Vec<u8>, fallbacks: Vec<Vec<u8>>) -> Self {
        SigningKeys { current, fallbacks }
    }

    /// The HMAC of `value` under the current key.
    pub fn signature(&self, value: &str) -> String {
        signature(&self.current, value)
    }

    /// `value.signature`, under the current key.
    pub fn sign(&self, value: &str) -> String {
        sign(&self.current, value)
    }

    /// The value of `signed` if the current key or a fallback signed it.
    pub fn unsign<'a>(&self, signed: &'a str) -> Option<&'a str> {
        std::iter::once(&self.current)
            .chain(&self.fallbacks)
            .find_map(|key| unsign(key, signed))
    }
}

/// Constant-time string equality (for CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_keys_verify_but_never_sign() {
        let old = sign(b"old key", "session");
        let rotated = SigningKeys::new(b"new key".to_vec(), vec![b"old key".to_vec()]);
        assert_eq!(rotated.unsign(&old), Some("session"), "an old cookie still verifies");
        assert_eq!(rotated.unsign(&rotated.sign("fresh")), Some("fresh"));
        assert_eq!(
            unsign(b"new key", &rotated.sign("fresh")),
            Some("fresh"),
            "new ones use the new key"
        );
        assert_eq!(unsign(b"old key", &rotated.sign("fresh")), None);
        let done = SigningKeys::new(b"new key".to_vec(), Vec::new());
        assert_eq!(done.unsign(&old), None, "once the fallback is removed, old cookies end");
        assert!(!format!("{rotated:?}").contains("key\""));
        assert_eq!(format!("{rotated:?}"), "SigningKeys(1 current, 1 fallback(s))");
    }

    #[test]
    fn signed_values_round_trip_and_tampering_is_detected() {
        let signed = sign(b"key", "abc");
        assert_eq!(unsign(b"key", &signed), Some("abc"));
        assert_eq!(unsign(b"other key", &signed), None);
        assert_eq!(unsign(b"key", &signed.replace("abc", "abd")), None);
        assert_eq!(unsign(b"key", "abc"), None);
        assert_eq!(unsign(b"key", ""), None);
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}
