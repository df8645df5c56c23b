//! Cross-instance cache invalidation through PostgreSQL. Every admin write ends with
//! `NOTIFY oc_pages` on its own connection; each instance keeps one more connection that
//! `LISTEN`s on the channel (on a thread of its own, waiting on the socket) and clears
//! that instance's page cache when a notification arrives. While the listener is not
//! connected (the database is down, or the instance just started) the page cache is not
//! used at all, so an instance never serves a page another instance has changed.
//!
//! Chosen over a version row read per request: a version row costs a round trip on every
//! cached page (the cache's whole point is to avoid one); NOTIFY costs one statement per
//! admin write and one idle connection per instance. On SQLite (one process per file) the
//! in-process invalidation is all there is.

use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use futures_util::StreamExt;

use super::pg_config::PgTarget;
use super::{DbConnection, DbError};

/// What the listener keeps in step with the other instances' writes (the page cache):
/// told whether it is listening (nothing missed while it is) and when pages changed.
pub trait Listening: Send + Sync + 'static {
    fn set_listening(&self, listening: bool);
    fn invalidate(&self);
}

/// The notification channel.
pub const CHANNEL: &str = "oc_pages";
/// How often the listener, while nothing arrives, checks that its instance still runs.
pub const POLL: Duration = Duration::from_millis(250);
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
pub fn spawn_listener<P: Listening>(target: Arc<PgTarget>, pages: &Arc<P>) -> std::io::Result<()> {
    let pages = Arc::downgrade(pages);
    let runtime = super::pg_connection::new_runtime()?;
    std::thread::Builder::new()
        .name("oc-pages-listener".into())
        .spawn(move || runtime.block_on(listen(&target, &pages)))
        .map(drop)
}

/// Why a listening connection ended.
enum Ended {
    /// The instance is gone: stop.
    Stopped,
    /// The connection was lost: listen again.
    Lost,
}

async fn listen<P: Listening>(target: &PgTarget, pages: &Weak<P>) {
    let mut warned = false;
    loop {
        let Some(cache) = pages.upgrade() else {
            return;
        };
        cache.set_listening(false);
        drop(cache);
        let connected = match target.connect_diesel(super::pg_config::APPLICATION_NAME).await {
            Ok(mut conn) => {
                use diesel_async::SimpleAsyncConnection;
                conn.batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .map(|()| conn)
                    .map_err(|err| err.to_string())
            }
            Err(why) => Err(why),
        };
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(why) => {
                if !warned {
                    tracing::warn!(error = %why, "page cache off: cannot listen for other instances' changes");
                    warned = true;
                }
                tokio::time::sleep(RECONNECT).await;
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
        match hear(&mut conn, pages).await {
            Ended::Stopped => return,
            Ended::Lost => {
                if let Some(cache) = pages.upgrade() {
                    cache.invalidate();
                    cache.set_listening(false);
                }
                tracing::warn!("page cache off: the listening connection was lost; reconnecting");
                warned = true;
            }
        }
    }
}

/// Clears the cache at each notification, until the connection or the instance is gone.
async fn hear<P: Listening>(conn: &mut diesel_async::AsyncPgConnection, pages: &Weak<P>) -> Ended {
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    loop {
        let heard = tokio::time::timeout(POLL, notifications.next()).await;
        let Some(cache) = pages.upgrade() else {
            return Ended::Stopped;
        };
        match heard {
            // Quiet: the instance still runs, so wait on.
            Err(_) => {}
            Ok(Some(Ok(_))) => cache.invalidate(),
            Ok(Some(Err(_)) | None) => return Ended::Lost,
        }
    }
}
