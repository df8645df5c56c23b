//! Failed-login throttling, in the spirit of django-axes and OWASP's guidance (Django has
//! none). Counted in the database, so every instance shares the counts and a restart
//! forgives nothing:
//!
//! - per (client, username): five free failures, then each further attempt from that
//!   client for that username waits a delay that doubles from 1 s up to 15 minutes. Other
//!   clients, the user's own browser among them, are not held back by these failures.
//! - per client: twenty free failures across all usernames, then the same doubling delay
//!   (one address guessing many usernames).
//! - per username, over every client that has not logged in as that user before: thirty
//!   failures, then the same doubling delay. A guesser spread over many addresses gets
//!   thirty evaluated guesses, then a few an hour, whatever its number of addresses or
//!   connections (issue 29, finding 3: after 55 failures, 16 concurrent guesses were all
//!   checked; a soft delay slowed them, it did not limit them).
//! - per device: a browser that has logged in as the user holds a signed device cookie
//!   (OWASP's "device cookies", `device.rs`) and keeps its own allowance (five failures,
//!   then the doubling delay) instead of the username's, so strangers hitting the cap
//!   never lock the user out of a browser they have used.
//!
//! Clients are told apart by address; an IPv6 client by its /64, the block one
//! subscriber gets (eight addresses of one /64 counted as eight clients got 40 guesses).
//!
//! Each attempt is counted *before* its password is checked, in one atomic step with the
//! decision (a compare-and-set on the counter row), so a burst of concurrent guesses
//! cannot all pass a check that has not seen the others yet; a success gives the count back.
//! Records are forgotten an hour after their last failure, and pruned then.

use std::time::Duration;

use diesel::prelude::*;

use crate::db::schema::login_throttle as throttle;
use crate::db::{DbConnection, DbError};

/// Failures allowed per (client, username) before delays start.
pub const FREE_FAILURES_PER_PAIR: i32 = 5;
/// Failures allowed per client across usernames (several staff may share an address).
pub const FREE_FAILURES_PER_CLIENT: i32 = 20;
/// Failures per username from browsers that have not logged in as that user before,
/// over every client, before delays start.
pub const FREE_FAILURES_PER_USERNAME: i32 = 30;
/// Failures allowed per trusted device (a browser holding the user's device cookie).
pub const FREE_FAILURES_PER_DEVICE: i32 = 5;
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A record is forgotten this long after its last failure.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Longest username counted (Django's limit); longer ones cannot exist and are refused first.
pub const MAX_USERNAME_CHARS: usize = 150;
/// The key every attempt with a username no user can have is counted under (empty, over
/// [`MAX_USERNAME_CHARS`], or holding a NUL): Django's usernames never hold a space.
pub const IMPOSSIBLE_USERNAME: &str = "(no such username)";
/// Compare-and-set attempts before a contended key is treated as busy.
const CAS_TRIES: usize = 8;

/// How long a key that has failed `count` times (this attempt included) blocks the next.
pub fn delay_for(count: i32, free: i32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(count - free).unwrap_or(0).min(20);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Until when a key that has failed `count` times blocks: never (0) while its failures
/// are free, so that another instance whose clock is a few milliseconds behind is not
/// refused by a block of no length.
fn blocked_until(now: i64, count: i32, free: i32) -> i64 {
    let delay = delay_for(count, free);
    if delay.is_zero() {
        0
    } else {
        now.saturating_add(millis(delay))
    }
}

/// A username as counted: lower-case (the counts of `Admin` and `admin` are one).
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// A client as counted: its address, or for IPv6 its /64 (one subscriber's block, in
/// which it may take any address); an IPv4-mapped IPv6 address is its IPv4 address.
pub fn client_key(client: &str) -> String {
    match client.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
        Ok(ip) => ip.to_string(),
        Err(_) => client.to_owned(),
    }
}

/// One counted attempt on one key, remembered so that a success can give it back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    key: String,
    count: i32,
    /// The key's free failures (its delay is `delay_for(count, free)`).
    free: i32,
    previous_blocked_until: i64,
}

/// An attempt that may go ahead: its password may now be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    counted: Vec<Counted>,
}

/// Why an attempt may not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Try again after this long.
    Wait(Duration),
}

#[derive(Queryable)]
struct Row {
    failures: i32,
    last_failure_ms: i64,
    blocked_until_ms: i64,
}

/// Counts one attempt on `key` if the key is not blocked; `Err(wait)` when it is.
/// Atomic: the row changes only if nobody changed it since it was read.
fn count_attempt(
    conn: &mut DbConnection,
    key: &str,
    free: i32,
    now: i64,
) -> Result<Result<Counted, Duration>, DbError> {
    for _ in 0..CAS_TRIES {
        let row: Option<Row> = throttle::table
            .filter(throttle::key.eq(key))
            .select((
                throttle::failures,
                throttle::last_failure_ms,
                throttle::blocked_until_ms,
            ))
            .load::<Row>(conn)?
            .into_iter()
            .next();
        match row {
            None => {
                let inserted = diesel::insert_into(throttle::table)
                    .values((
                        throttle::key.eq(key),
                        throttle::failures.eq(1),
                        throttle::last_failure_ms.eq(now),
                        throttle::blocked_until_ms.eq(blocked_until(now, 1, free)),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => {
                        return Ok(Ok(Counted {
                            key: key.to_owned(),
                            count: 1,
                            free,
                            previous_blocked_until: 0,
                        }))
                    }
                    // Another instance inserted it first: read it again.
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => continue,
                    Err(err) => return Err(err.into()),
                }
            }
            Some(row) => {
                let forgotten = now.saturating_sub(row.last_failure_ms) >= millis(FORGET_AFTER);
                let failures = if forgotten { 0 } else { row.failures };
                if failures > 0 && row.blocked_until_ms > now {
                    return Ok(Err(Duration::from_millis(
                        u64::try_from(row.blocked_until_ms - now).unwrap_or(0),
                    )));
                }
                let count = failures.saturating_add(1);
                let updated = diesel::update(
                    throttle::table
                        .filter(throttle::key.eq(key))
                        .filter(throttle::failures.eq(row.failures))
                        .filter(throttle::last_failure_ms.eq(row.last_failure_ms)),
                )
                .set((
                    throttle::failures.eq(count),
                    throttle::last_failure_ms.eq(now),
                    throttle::blocked_until_ms.eq(blocked_until(now, count, free)),
                ))
                .execute(conn)?;
                if updated == 1 {
                    return Ok(Ok(Counted {
                        key: key.to_owned(),
                        count,
                        free,
                        previous_blocked_until: if forgotten { 0 } else { row.blocked_until_ms },
                    }));
                }
            }
        }
    }
    // Contended beyond reason (a burst on one key): refuse this one briefly.
    Ok(Err(Duration::from_secs(1)))
}

/// Decides whether `client` may try `username` now and, if so, counts the attempt as a
/// failure until [`forgive`] says otherwise. `device`: the id of the trusted device the
/// attempt comes from (a valid device cookie for this username), if any. `username` must
/// already be at most [`MAX_USERNAME_CHARS`] long.
pub fn admit(
    conn: &mut DbConnection,
    username: &str,
    client: &str,
    device: Option<&str>,
    now: i64,
) -> Result<Result<Admitted, Refusal>, DbError> {
    prune(conn, now)?;
    let user = username_key(username);
    let client = client_key(client);
    let mut keys = vec![
        (format!("client:{client}"), FREE_FAILURES_PER_CLIENT),
        (format!("pair:{client}|{user}"), FREE_FAILURES_PER_PAIR),
    ];
    keys.push(match device {
        Some(device) => (format!("device:{device}|{user}"), FREE_FAILURES_PER_DEVICE),
        None => (format!("user:{user}"), FREE_FAILURES_PER_USERNAME),
    });
    let mut counted = Vec::with_capacity(keys.len());
    for (key, free) in keys {
        match count_attempt(conn, &key, free, now)? {
            Ok(c) => counted.push(c),
            Err(wait) => {
                // The keys counted before this one give the attempt back: it was refused,
                // not evaluated.
                give_back(conn, &counted, false)?;
                return Ok(Err(Refusal::Wait(wait)));
            }
        }
    }
    Ok(Ok(Admitted { counted }))
}

/// A password guess for `username` from `client` (a login, or a password change's old
/// password), counted before it is checked: the attempt as admitted, or the 429 it gets
/// instead (`what` names the guess in the log).
pub async fn admit_guess(
    state: &crate::state::AppState,
    username: &str,
    client: &str,
    device: Option<String>,
    what: &'static str,
) -> Result<Admitted, crate::errors::AppError> {
    let (who, from) = (username.to_owned(), client.to_owned());
    let admitted = state
        .db
        .run(move |conn| admit(conn, &who, &from, device.as_deref(), crate::clock::now_ms()))
        .await?;
    match admitted {
        Ok(admitted) => Ok(admitted),
        Err(Refusal::Wait(wait)) => {
            tracing::warn!(%username, %client, "{what} throttled");
            Err(crate::errors::AppError::TooManyRequests(
                wait.as_secs_f64().ceil().max(1.0) as u64,
            ))
        }
    }
}

/// [`admit_guess`] for a guess at `username`'s password or code made by this request: its
/// client, and its device cookie for that user if it has one.
pub async fn admit_request_guess(
    req: &actix_web::HttpRequest,
    state: &crate::state::AppState,
    username: &str,
    what: &'static str,
) -> Result<Admitted, crate::errors::AppError> {
    let client = super::request::client_address(req, state.settings.trusted_proxy_count);
    let device = super::device::from_request(req, state, username);
    admit_guess(state, username, &client, device, what).await
}

impl Admitted {
    /// Whether this attempt, once it fails, starts a delay on one of its keys.
    pub fn delays_on_failure(&self) -> bool {
        self.counted.iter().any(|c| !delay_for(c.count, c.free).is_zero())
    }
}

/// A failed login, once its password has been found wrong: the delays it started run
/// from `now`, the end of the verification, not from when the attempt was counted (a
/// verification slowed by load must not use up the delay it earned). Only moves a
/// `blocked_until` later, and only on a key no other attempt has counted since.
pub fn confirm_failure(conn: &mut DbConnection, admitted: &Admitted, now: i64) -> Result<(), DbError> {
    for counted in &admitted.counted {
        let delay = delay_for(counted.count, counted.free);
        if delay.is_zero() {
            continue;
        }
        let until = now.saturating_add(millis(delay));
        diesel::update(
            throttle::table
                .filter(throttle::key.eq(&counted.key))
                .filter(throttle::failures.eq(counted.count))
                .filter(throttle::blocked_until_ms.lt(until)),
        )
        .set(throttle::blocked_until_ms.eq(until))
        .execute(conn)?;
    }
    Ok(())
}

/// A successful login: the (client, username) and device records go, and the client's
/// and the username's counts are given back the attempt (unless another attempt came since).
pub fn forgive(conn: &mut DbConnection, admitted: &Admitted) -> Result<(), DbError> {
    give_back(conn, &admitted.counted, true)
}

/// An attempt that was no wrong guess, though it opened nothing yet (a right password
/// that waits for its second factor): each key gets the attempt back, and nothing more
/// is forgiven, so a known password buys no extra guesses at the code.
pub fn give_back_attempt(conn: &mut DbConnection, admitted: &Admitted) -> Result<(), DbError> {
    give_back(conn, &admitted.counted, false)
}

/// Gives each key back one counted attempt (unless another attempt came since); with
/// `success`, the (client, username) and device records go altogether.
fn give_back(conn: &mut DbConnection, counted: &[Counted], success: bool) -> Result<(), DbError> {
    for counted in counted {
        if success && (counted.key.starts_with("pair:") || counted.key.starts_with("device:")) {
            diesel::delete(throttle::table.filter(throttle::key.eq(&counted.key))).execute(conn)?;
        } else {
            diesel::update(
                throttle::table
                    .filter(throttle::key.eq(&counted.key))
                    .filter(throttle::failures.eq(counted.count)),
            )
            .set((
                throttle::failures.eq(counted.count - 1),
                throttle::blocked_until_ms.eq(counted.previous_blocked_until),
            ))
            .execute(conn)?;
        }
    }
    Ok(())
}

/// Drops records an hour past their last failure (the table stays as small as the last
/// hour's failures; a client is blocked long before it adds many).
fn prune(conn: &mut DbConnection, now: i64) -> Result<usize, DbError> {
    Ok(
        diesel::delete(throttle::table.filter(throttle::last_failure_ms.lt(now - millis(FORGET_AFTER))))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_are_capped() {
        assert_eq!(delay_for(4, 5), Duration::ZERO);
        assert_eq!(delay_for(5, 5), Duration::from_secs(1));
        assert_eq!(delay_for(9, 5), Duration::from_secs(16));
        assert_eq!(delay_for(500, 5), MAX_DELAY);
        assert_eq!(delay_for(3, i32::MAX), Duration::ZERO);
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_ipv4_is_itself() {
        assert_eq!(client_key("2001:db8:1:2::7"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(client_key("2001:db8:1:3::7"), client_key("2001:db8:1:2::7"));
        assert_eq!(client_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key("192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key(""), "");
    }
}
