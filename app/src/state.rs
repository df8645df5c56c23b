//! `AppState`: what every handler can reach (the database, the settings, the signing key,
//! the page cache). Below the router: it imports no handler, so routes, middleware and
//! views all point down at it.

use std::sync::Arc;

use crate::accounts::hashing::{Hashers, HASHER_THREADS, QUEUE};
use crate::config::{DatabaseUrl, Settings};
use crate::db::{Database, DbConnection, DbError};
use crate::page_cache::PageCache;

/// What every handler can reach.
pub struct AppState {
    pub db: Database,
    pub settings: Settings,
    /// Signs session and CSRF cookies: SECRET_KEY, or (DEBUG without one) a random key for
    /// this process only; SECRET_KEY_FALLBACKS still verify.
    pub signing_key: crate::tokens::SigningKeys,
    pub pages: Arc<PageCache>,
    /// The bounded password hashers of the login form.
    pub hashers: Hashers,
    /// What `/metrics` reports.
    pub metrics: crate::counter::RequestCounts,
}

impl AppState {
    pub fn new(db: Database, settings: Settings) -> std::io::Result<Self> {
        let signing_key = match &settings.secret_key {
            Some(key) => key.expose().as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).map_err(std::io::Error::other)?;
                key
            }
        };
        let fallbacks = settings
            .secret_key_fallbacks
            .iter()
            .map(|key| key.expose().as_bytes().to_vec())
            .collect();
        let signing_key = crate::tokens::SigningKeys::new(signing_key, fallbacks);
        let ttl = std::time::Duration::from_secs(settings.page_cache_seconds);
        let pages = Arc::new(match &settings.database_url {
            DatabaseUrl::Postgres(_) => PageCache::shared(ttl),
            DatabaseUrl::Sqlite(_) => PageCache::new(ttl),
        });
        Ok(AppState {
            db,
            settings,
            signing_key,
            pages,
            hashers: Hashers::new(HASHER_THREADS, QUEUE)?,
            metrics: crate::counter::RequestCounts::default(),
        })
    }
}

impl AppState {
    /// A write that changes what pages show (the admin's saves, deletes and actions):
    /// `write` runs with a pooled connection on the blocking pool; when its outcome says
    /// it changed something ([`Changed`]), every instance is told on the same connection
    /// (`db::notify::announce_change`: PostgreSQL's `NOTIFY`, after the write's own
    /// transaction) and this instance's page cache is cleared. The one place that
    /// sequence is written: a write cannot forget the cache.
    pub async fn write<T, F>(&self, write: F) -> Result<T, DbError>
    where
        T: Changed + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let outcome = self
            .db
            .run(move |conn| {
                let outcome = write(conn)?;
                if outcome.changed() {
                    crate::db::notify::announce_change(conn)?;
                }
                Ok(outcome)
            })
            .await?;
        if outcome.changed() {
            self.pages.invalidate();
        }
        Ok(outcome)
    }
}

/// Whether a write's outcome changed any row (see [`AppState::write`]).
pub trait Changed {
    fn changed(&self) -> bool;
}

/// Rows written.
impl Changed for usize {
    fn changed(&self) -> bool {
        *self > 0
    }
}

/// Something written, or nothing found to write.
impl<T> Changed for Option<T> {
    fn changed(&self) -> bool {
        self.is_some()
    }
}

/// Written, or refused (a form error, nothing written).
impl<T, E> Changed for Result<T, E> {
    fn changed(&self) -> bool {
        self.is_ok()
    }
}
