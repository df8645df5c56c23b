//! A short-lived cache of the public pages (Django's `cache_page`, in memory). Pages change
//! only through the admin: its writes clear this process's cache at once, and the time
//! limit (`PAGE_CACHE_SECONDS`, 2 s by default, 0 to turn off) bounds how long another
//! instance of the site can show the previous version.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::HttpResponse;

use crate::errors::AppError;

/// Most pages kept (only existing lettings and profiles are cached, so this is a guard).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Entry {
    html: Bytes,
    stored: Instant,
    generation: u64,
}

#[derive(Debug)]
pub struct PageCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Entry>>,
    /// Other instances share the database: the cache is used only while this instance
    /// hears of their changes (`db::notify`).
    shared: bool,
    listening: AtomicBool,
}

impl PageCache {
    /// A cache for this process alone (SQLite, or no cache when `ttl` is zero).
    pub fn new(ttl: Duration) -> Self {
        PageCache {
            ttl,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            shared: false,
            listening: AtomicBool::new(false),
        }
    }

    /// A cache for one of several instances on one database: off until
    /// [`set_listening`](Self::set_listening) says their changes are heard.
    pub fn shared(ttl: Duration) -> Self {
        PageCache {
            shared: true,
            ..PageCache::new(ttl)
        }
    }

    /// Whether the listener is connected (a shared cache is used only then).
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && (!self.shared || self.listening.load(Ordering::Acquire))
    }

    /// Whether this cache needs a listener for other instances' changes.
    pub fn needs_listener(&self) -> bool {
        self.shared && !self.ttl.is_zero()
    }

    /// The page stored under `key`, if it is fresh and no write happened since.
    pub fn get(&self, key: &str, now: Instant) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.get(key)?;
        (entry.generation == generation && now.saturating_duration_since(entry.stored) < self.ttl)
            .then(|| entry.html.clone())
    }

    /// The version of the data: read it *before* rendering a page and give it to `put`, so
    /// a write that lands during the render keeps the page out of the cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `html` (rendered from data as of `generation`) unless a write came since.
    pub fn put(&self, key: &str, html: Bytes, now: Instant, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            entries.retain(|_, e| e.generation == generation && now.saturating_duration_since(e.stored) < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(
            key.to_owned(),
            Entry {
                html,
                stored: now,
                generation,
            },
        );
    }

    /// How many pages are kept.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every page (after a write through the admin).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

/// A public page from the page cache, or rendered by `render` (a query and a template)
/// and kept there. `key` names the page by its parsed input (`letting:1`), never by the raw
/// path (`/lettings/01/` and `/%6cettings/1/` are the same page).
pub async fn cached_page<F>(state: &crate::state::AppState, key: &str, render: F) -> Result<HttpResponse, AppError>
where
    F: std::future::Future<Output = Result<String, AppError>>,
{
    let now = std::time::Instant::now();
    if let Some(html) = state.pages.get(key, now) {
        return Ok(crate::templates::html_response(html));
    }
    let generation = state.pages.generation();
    let html = actix_web::web::Bytes::from(render.await?);
    state.pages.put(key, html.clone(), now, generation);
    Ok(crate::templates::html_response(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_expire_and_writes_clear_them() {
        let cache = PageCache::new(Duration::from_secs(2));
        let t0 = Instant::now();
        cache.put("/lettings/", Bytes::from_static(b"v1"), t0, cache.generation());
        assert_eq!(
            cache.get("/lettings/", t0 + Duration::from_secs(1)).as_deref(),
            Some(&b"v1"[..])
        );
        assert_eq!(cache.get("/lettings/", t0 + Duration::from_secs(2)), None, "expired");
        cache.put("/lettings/", Bytes::from_static(b"v1"), t0, cache.generation());
        cache.invalidate();
        assert_eq!(cache.get("/lettings/", t0), None, "a write clears the cache");
        assert_eq!(cache.get("/profiles/", t0), None);
    }

    #[test]
    fn a_shared_cache_is_used_only_while_listening() {
        let cache = PageCache::shared(Duration::from_secs(60));
        let t0 = Instant::now();
        cache.put("/", Bytes::from_static(b"x"), t0, cache.generation());
        assert_eq!(cache.get("/", t0), None, "not listening yet");
        cache.set_listening(true);
        cache.put("/", Bytes::from_static(b"x"), t0, cache.generation());
        assert_eq!(cache.get("/", t0).as_deref(), Some(&b"x"[..]));
        cache.set_listening(false);
        assert_eq!(
            cache.get("/", t0),
            None,
            "the listener dropped: never a page another instance changed"
        );
    }

    #[test]
    fn a_zero_ttl_turns_it_off() {
        let cache = PageCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.put("/", Bytes::from_static(b"x"), t0, cache.generation());
        assert_eq!(cache.get("/", t0), None);
    }

    #[test]
    fn a_page_rendered_across_a_write_is_not_kept() {
        let cache = PageCache::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let before_render = cache.generation();
        cache.invalidate(); // an admin write while the page was being rendered
        cache.put("letting:1", Bytes::from_static(b"stale"), t0, before_render);
        assert_eq!(cache.get("letting:1", t0), None, "the stale page was not kept");
    }
}
