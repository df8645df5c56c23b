//! Password hashes. Django's `pbkdf2_sha256$<iterations>$<salt>$<base64>` verify (so
//! users imported from the Django site log in unchanged); new hashes are argon2id, stored
//! in Django's own format (`argon2$argon2id$…`), so Django could still read them.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::PasswordHasher;
use argon2::Argon2;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The algorithm prefix Django's Argon2PasswordHasher writes before the PHC string.
const ARGON2_PREFIX: &str = "argon2";
/// The hash the dummy verification checks against: what a user of this site has (every
/// new or changed password, and every imported one after its first login, is argon2id
/// with the parameters below), so an unknown username costs what a real one does. Made
/// once, by [`prepare_dummy`] at start-up (or at the first use).
static DUMMY_ARGON2: std::sync::LazyLock<Option<String>> =
    std::sync::LazyLock::new(|| hash_password("an unknown user's password").ok());
/// Refuses absurd work factors (a hash is stored data, but never a reason to spin for minutes).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// The password is right; `upgrade` when the hash should be replaced by argon2id.
    Match {
        upgrade: bool,
    },
}

/// An argon2id hash of `password` (OWASP's parameters: 19 MiB, 2 passes), in Django's format.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let phc = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|err| HashError(err.to_string()))?;
    Ok(format!("{ARGON2_PREFIX}{phc}"))
}

/// Whether `password` matches a Django pbkdf2 hash; `None` (no hash computed) when the
/// hash is malformed or asks for an absurd work factor.
fn verify_pbkdf2_sha256(password: &str, encoded: &str) -> Option<bool> {
    let mut parts = encoded.splitn(4, '$');
    let (Some("pbkdf2_sha256"), Some(iterations), Some(salt), Some(expected)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let iterations = iterations
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PBKDF2_ITERATIONS).contains(n))?;
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut derived);
    let computed = base64::engine::general_purpose::STANDARD.encode(derived);
    Some(computed.as_bytes().ct_eq(expected.as_bytes()).into())
}

/// Most memory a stored argon2 hash may ask of a verification (OWASP's 19 MiB is the norm).
const MAX_ARGON2_KIB: usize = 256 * 1024;

thread_local! {
    /// The argon2 memory of this thread, allocated once and reused: a fresh 19 MiB
    /// allocation per verification fragments the allocator's arenas until each holds
    /// several (measured: 205 MiB after 50 logins on two threads).
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` matches an argon2 hash in Django's format; `None` (no hash
/// computed) when the hash is malformed or asks for more memory than allowed.
fn verify_argon2(password: &str, encoded: &str) -> Option<bool> {
    let hash = PasswordHash::new(encoded.strip_prefix(ARGON2_PREFIX)?).ok()?;
    let (Ok(algorithm), Ok(version), Ok(params), Some(salt), Some(expected)) = (
        argon2::Algorithm::new(hash.algorithm.as_str()),
        argon2::Version::try_from(hash.version.unwrap_or(0x13)),
        argon2::Params::try_from(&hash),
        hash.salt.as_ref(),
        hash.hash.as_ref(),
    ) else {
        return None;
    };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_KIB {
        return None;
    }
    let mut out = vec![0u8; expected.as_bytes().len()];
    let hasher = Argon2::new(algorithm, version, params);
    let computed = ARGON2_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, &mut memory[..blocks])
            .is_ok()
    });
    Some(computed && bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

thread_local! {
    /// Password hashes computed on this thread (verifications, dummy ones included): lets a
    /// test see that a failing path did the work, without timing it.
    static HASHES_RUN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_hash() {
    HASHES_RUN.with(|n| n.set(n.get() + 1));
}

/// Hashes computed so far on this thread.
pub fn hashes_run_on_this_thread() -> u64 {
    HASHES_RUN.with(std::cell::Cell::get)
}

/// Checks `password` against `encoded`. A hash starting with `!` (Django's unusable
/// password), malformed, or of an unknown algorithm never matches, and still costs one
/// full hash (Django's fix for CVE-2024-39329: no path answers faster than a wrong password).
pub fn verify_password(password: &str, encoded: &str) -> Verification {
    let (verified, upgrade) = if encoded.starts_with(ARGON2_PREFIX) {
        (verify_argon2(password, encoded), false)
    } else {
        (verify_pbkdf2_sha256(password, encoded), true)
    };
    match verified {
        Some(matched) => {
            count_hash();
            if matched {
                Verification::Match { upgrade }
            } else {
                Verification::Mismatch
            }
        }
        None => {
            verify_dummy(password);
            Verification::Mismatch
        }
    }
}

/// Spends the time a real verification would, so an unknown username answers no faster
/// or slower than a wrong password for a real user (no user enumeration by timing): an
/// argon2id verification with the site's parameters.
pub fn verify_dummy(password: &str) {
    count_hash();
    if let Some(dummy) = DUMMY_ARGON2.as_deref() {
        let _ = verify_argon2(password, dummy);
    }
}

/// Makes the dummy hash now (one argon2id hash), so the first unknown username does not
/// pay for it: `serve` calls this before it listens.
pub fn prepare_dummy() -> Option<&'static str> {
    DUMMY_ARGON2.as_deref()
}

/// Whether a stored hash can ever verify (for display: "no password set").
pub fn is_usable(encoded: &str) -> bool {
    !encoded.starts_with('!') && (encoded.starts_with(ARGON2_PREFIX) || encoded.starts_with("pbkdf2_sha256$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped Django database's admin, whose documented password is `Abc1234!`.
    const DJANGO_ADMIN: &str = "pbkdf2_sha256$180000$p35UH2yYInHF$4LTphT2basUmvfLq+XHETVvKONZrWUsLfKu1K8/Hqdk=";

    #[test]
    fn django_pbkdf2_hashes_verify_and_ask_for_an_upgrade() {
        assert_eq!(
            verify_password("Abc1234!", DJANGO_ADMIN),
            Verification::Match { upgrade: true }
        );
        assert_eq!(verify_password("abc1234!", DJANGO_ADMIN), Verification::Mismatch);
        assert_eq!(verify_password("", DJANGO_ADMIN), Verification::Mismatch);
    }

    #[test]
    fn new_hashes_are_argon2id_in_djangos_format() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("argon2$argon2id$v=19$"), "{hash}");
        assert_eq!(
            verify_password("correct horse", &hash),
            Verification::Match { upgrade: false }
        );
        assert_eq!(verify_password("wrong horse", &hash), Verification::Mismatch);
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
        assert!(is_usable(&hash));
    }

    #[test]
    fn every_failing_path_costs_one_hash() {
        for encoded in [
            DJANGO_ADMIN,
            "!unusable",
            "",
            "md5$abc$def",
            "argon2$garbage",
            "pbkdf2_sha256$0$s$h",
        ] {
            let before = hashes_run_on_this_thread();
            assert_eq!(verify_password("wrong", encoded), Verification::Mismatch);
            assert_eq!(hashes_run_on_this_thread(), before + 1, "{encoded:?}");
        }
        let before = hashes_run_on_this_thread();
        verify_dummy("x");
        assert_eq!(hashes_run_on_this_thread(), before + 1);
    }

    /// The dummy verification is the one a real user costs: argon2id with the parameters
    /// of a new password (it used to be Django 3.0's pbkdf2, measurably slower).
    #[test]
    fn the_dummy_hash_is_a_new_users_hash() {
        let dummy = prepare_dummy().unwrap();
        let real = hash_password("a real password").unwrap();
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(dummy), params(&real), "{dummy} / {real}");
        assert!(dummy.starts_with("argon2$argon2id$"), "{dummy}");
    }

    #[test]
    fn malformed_and_unusable_hashes_never_verify() {
        for encoded in [
            "!unusable",
            "",
            "md5$abc$def",
            "pbkdf2_sha256$notanumber$salt$hash",
            "pbkdf2_sha256$0$salt$hash",
            "pbkdf2_sha256$99999999999$salt$hash",
            "pbkdf2_sha256$1000$salt",
            "argon2$garbage",
        ] {
            assert_eq!(
                verify_password("anything", encoded),
                Verification::Mismatch,
                "{encoded}"
            );
        }
        assert!(!is_usable("!unusable"));
        assert!(is_usable(DJANGO_ADMIN));
    }
}
