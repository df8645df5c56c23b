//! `AppState`: what every handler can reach (the database, the settings, the signing key,
//! the page cache). Below the router: it imports no handler, so routes, middleware and
//! views all point down at it.

use std::sync::Arc;

use crate::accounts::hashing::{Hashers, HASHER_THREADS, QUEUE};
use crate::config::{DatabaseUrl, Settings};
use crate::db::Database;
use crate::page_cache::PageCache;

/// What every handler can reach.
pub struct AppState {
    pub db: Database,
    pub settings: Settings,
    /// Signs session and CSRF cookies: SECRET_KEY, or (DEBUG without one) a random key for
    /// this process only.
    pub signing_key: Vec<u8>,
    pub pages: Arc<PageCache>,
    /// The bounded password hashers of the login form.
    pub hashers: Hashers,
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
        })
    }
}
