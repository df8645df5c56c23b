//! The time as the database keeps it: UTC without a zone (Django's `USE_TZ` columns), and
//! milliseconds since the Unix epoch (the login throttle's counters).

use chrono::{NaiveDateTime, Utc};

/// Now, in UTC, as stored in timestamp columns.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// Milliseconds since the Unix epoch (the instances' clocks are the platform's, kept by NTP).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
