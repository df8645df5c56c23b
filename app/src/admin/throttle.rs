//! Failed-login throttling (Django has none; django-axes adds it): per username and per
//! client address, a few free failures, then each further attempt must wait a delay that
//! doubles with every failure (capped), answered with 429 and `Retry-After`.
//! Kept in memory per process: a restart forgives, which is acceptable for a brake on
//! password guessing (the argon2/pbkdf2 cost is the other one).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before delays start, per username.
pub const FREE_FAILURES_PER_USERNAME: u32 = 5;
/// Failures allowed before delays start, per client address (several staff may share one).
pub const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A key's record is forgotten this long after its last failure.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Most keys remembered (an attacker cycling usernames cannot grow memory without bound).
const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
}

/// How long a key must still wait, given its failures.
pub fn delay_for(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = (count - free).min(20);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

fn keys(username: &str, address: &str) -> [(String, u32); 2] {
    [
        (format!("user:{}", username.to_lowercase()), FREE_FAILURES_PER_USERNAME),
        (format!("addr:{address}"), FREE_FAILURES_PER_ADDRESS),
    ]
}

impl LoginThrottle {
    /// `Err(wait)` when this username or address must wait before trying again.
    pub fn check(&self, username: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let map = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut wait = Duration::ZERO;
        for (key, free) in keys(username, address) {
            if let Some(failures) = map.get(&key) {
                let ready_at = failures.last + delay_for(failures.count, free);
                wait = wait.max(ready_at.saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    pub fn record_failure(&self, username: &str, address: &str, now: Instant) {
        let mut map = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        }
        for (key, _) in keys(username, address) {
            let entry = map.entry(key).or_insert(Failures { count: 0, last: now });
            if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// A successful login clears its username's record (not the address's).
    pub fn record_success(&self, username: &str) {
        let mut map = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(&format!("user:{}", username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_free_failures_then_a_doubling_delay() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES_PER_USERNAME - 1 {
            throttle.record_failure("admin", "1.2.3.4", t0);
            assert!(throttle.check("admin", "1.2.3.4", t0).is_ok());
        }
        throttle.record_failure("admin", "1.2.3.4", t0);
        assert_eq!(throttle.check("admin", "1.2.3.4", t0), Err(Duration::from_secs(1)));
        assert_eq!(
            throttle.check("ADMIN", "5.6.7.8", t0),
            Err(Duration::from_secs(1)),
            "per username, any case, any address"
        );
        assert!(throttle.check("admin", "1.2.3.4", t0 + Duration::from_secs(1)).is_ok());
        throttle.record_failure("admin", "1.2.3.4", t0 + Duration::from_secs(1));
        assert_eq!(
            throttle.check("admin", "1.2.3.4", t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(2))
        );
    }

    #[test]
    fn an_address_trying_many_usernames_is_slowed_too() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for n in 0..FREE_FAILURES_PER_ADDRESS {
            throttle.record_failure(&format!("user{n}"), "9.9.9.9", t0);
        }
        assert!(throttle.check("someone-new", "9.9.9.9", t0).is_err());
        assert!(throttle.check("someone-new", "8.8.8.8", t0).is_ok());
    }

    #[test]
    fn success_forgives_the_username_and_time_forgets() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES_PER_USERNAME {
            throttle.record_failure("admin", "1.1.1.1", t0);
        }
        throttle.record_success("admin");
        assert!(throttle.check("admin", "2.2.2.2", t0).is_ok());
        for _ in 0..FREE_FAILURES_PER_USERNAME {
            throttle.record_failure("bob", "3.3.3.3", t0);
        }
        let later = t0 + FORGET_AFTER;
        throttle.record_failure("bob", "3.3.3.3", later);
        assert!(
            throttle.check("bob", "3.3.3.3", later).is_ok(),
            "old failures were forgotten"
        );
    }

    #[test]
    fn delays_are_capped() {
        assert_eq!(delay_for(4, 5), Duration::ZERO);
        assert_eq!(delay_for(5, 5), Duration::from_secs(1));
        assert_eq!(delay_for(9, 5), Duration::from_secs(16));
        assert_eq!(delay_for(500, 5), MAX_DELAY);
    }
}
