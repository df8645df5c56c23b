//! Cross-instance cache invalidation through PostgreSQL. Every admin write ends with
//! `NOTIFY oc_pages` on its own connection; each instance keeps one more connection that
//! `LISTEN`s on the channel (a thread polling it every [`POLL`]) and clears that instance's
//! page cache when a notification arrives. While the listener is not connected (the
//! database is down, or the instance just started) the page cache is not used at all, so
//! an instance never serves a page another instance has changed.
//!
//! Chosen over a version row read per request: a version row costs a round trip on every
//! cached page (the cache's whole point is to avoid one); NOTIFY costs one statement per
//! admin write, one idle connection per instance and a non-blocking poll (a local
//! `PQconsumeInput`, no round trip) every 25 ms. On SQLite (one process per file) the
//! in-process invalidation is all there is.

use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{DbConnection, DbError};
use crate::config::PostgresUrl;

/// What the listener keeps in step with the other instances' writes (the page cache):
/// told whether it is listening (nothing missed while it is) and when pages changed.
pub trait Listening: Send + Sync + 'static {
    fn set_listening(&self, listening: bool);
    fn invalidate(&self);
}

/// The notification channel.
pub const CHANNEL: &str = "oc_pages";
/// How often the listener looks for notifications.
pub const POLL: Duration = Duration::from_millis(25);
/// How long the listener waits before reconnecting.
const RECONNECT: Duration = Duration::from_secs(1);

/// After an admin write, on the write's own connection: tells every instance (on
/// PostgreSQL) that pages changed. On SQLite there are no other instances to tell.
pub fn announce_change(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgresql(pg) = conn {
        pg.batch_execute(&format!("NOTIFY {CHANNEL}"))?;
    }
    Ok(())
}

/// Starts this instance's listener; it stops by itself once `pages` is dropped.
pub fn spawn_listener<P: Listening>(url: &PostgresUrl, pages: &Arc<P>) -> std::io::Result<()> {
    let url = crate::db::connection::with_connect_timeout(url.expose());
    let pages = Arc::downgrade(pages);
    std::thread::Builder::new()
        .name("oc-pages-listener".into())
        .spawn(move || listen(&url, &pages))
        .map(drop)
}

fn listen<P: Listening>(url: &str, pages: &Weak<P>) {
    let mut warned = false;
    loop {
        let Some(cache) = pages.upgrade() else {
            return;
        };
        cache.set_listening(false);
        drop(cache);
        let connected = crate::db::connection::establish_postgres(url)
            .map_err(DbError::Connect)
            .and_then(|mut conn| {
                conn.batch_execute(&format!("LISTEN {CHANNEL}"))?;
                Ok(conn)
            });
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(err) => {
                if !warned {
                    tracing::warn!(error = %err, "page cache off: cannot listen for other instances' changes");
                    warned = true;
                }
                std::thread::sleep(RECONNECT);
                continue;
            }
        };
        if std::mem::take(&mut warned) {
            tracing::info!("page cache on again: listening for other instances' changes");
        }
        // Changes may have been missed while not listening.
        match pages.upgrade() {
            Some(cache) => {
                cache.invalidate();
                cache.set_listening(true);
            }
            None => return,
        }
        loop {
            std::thread::sleep(POLL);
            let Some(cache) = pages.upgrade() else {
                return;
            };
            let mut changed = false;
            let mut lost = false;
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(_) => changed = true,
                    Err(_) => {
                        lost = true;
                        break;
                    }
                }
            }
            if changed || lost {
                cache.invalidate();
            }
            if lost {
                cache.set_listening(false);
                tracing::warn!("page cache off: the listening connection was lost; reconnecting");
                warned = true;
                break;
            }
        }
    }
}
