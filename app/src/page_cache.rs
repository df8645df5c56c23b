//! A short-lived cache of the public pages (Django's `cache_page`, in memory). Pages change
//! only through the admin: its writes clear this process's cache at once, and the time
//! limit (`PAGE_CACHE_SECONDS`, 2 s by default, 0 to turn off) bounds how long another
//! instance of the site can show the previous version.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use tokio::sync::watch;

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
    /// The pages being rendered now, by key and data version: a request that misses while
    /// one is under way waits for it instead of rendering the same page again.
    flights: Mutex<HashMap<(String, u64), Waiting>>,
    hits: crate::counter::Count,
    misses: crate::counter::Count,
}

/// The cache as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// Where the page being rendered arrives (`None` until it does).
type Waiting = watch::Receiver<Option<Bytes>>;

/// A cache miss's part in rendering its page: the one request that renders it, or one that
/// waits for that render.
pub enum Flight<'a> {
    Render(FlightGuard<'a>),
    Wait(Waiting),
}

/// Held by the request rendering a page; the page goes to the waiting requests through
/// [`FlightGuard::finish`]. Dropped without it (an error, a cancelled request), the waiting
/// requests are told and render the page themselves.
pub struct FlightGuard<'a> {
    cache: &'a PageCache,
    key: (String, u64),
    sender: watch::Sender<Option<Bytes>>,
}

impl FlightGuard<'_> {
    pub fn finish(self, html: Bytes) {
        self.sender.send_replace(Some(html));
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.cache
            .flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.key);
    }
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
            flights: Mutex::new(HashMap::new()),
            hits: crate::counter::Count::default(),
            misses: crate::counter::Count::default(),
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
        let page = entries.get(key).and_then(|entry| {
            (entry.generation == generation && now.saturating_duration_since(entry.stored) < self.ttl)
                .then(|| entry.html.clone())
        });
        match page {
            Some(_) => self.hits.add(1),
            None => self.misses.add(1),
        }
        page
    }

    pub fn stats(&self) -> CacheStats {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        CacheStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            entries: entries.len() as u64,
            bytes: entries.values().map(|e| e.html.len() as u64).sum(),
        }
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

    /// A miss on `key` at data version `generation`: render it, or wait for the request
    /// already rendering it. (The version is part of the key: a request that comes after a
    /// write never waits for a page read before it.)
    pub fn join(&self, key: &str, generation: u64) -> Flight<'_> {
        let mut flights = self.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (key.to_owned(), generation);
        if let Some(receiver) = flights.get(&key) {
            return Flight::Wait(receiver.clone());
        }
        let (sender, receiver) = watch::channel(None);
        flights.insert(key.clone(), receiver);
        Flight::Render(FlightGuard {
            cache: self,
            key,
            sender,
        })
    }

    /// How many pages are being rendered now.
    pub fn in_flight(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
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

/// The cross-instance listener (PostgreSQL's `LISTEN`) keeps this cache in step.
impl crate::db::notify::Listening for PageCache {
    fn set_listening(&self, listening: bool) {
        PageCache::set_listening(self, listening);
    }

    fn invalidate(&self) {
        PageCache::invalidate(self);
    }
}

/// A public page from the page cache, or rendered by `render` (a query and a template)
/// and kept there. `key` names the page by its parsed input (`letting:1`), never by the raw
/// path (`/lettings/01/` and `/%6cettings/1/` are the same page). Concurrent misses on one
/// key render it once: the others wait for that render and answer with its page (with the
/// cache off, every request renders its own).
pub async fn cached_page<F>(pages: &PageCache, key: &str, render: F) -> Result<HttpResponse, AppError>
where
    F: std::future::Future<Output = Result<String, AppError>>,
{
    let now = std::time::Instant::now();
    if let Some(html) = pages.get(key, now) {
        return Ok(crate::templates::html_response(html));
    }
    if !pages.enabled() {
        return Ok(crate::templates::html_response(Bytes::from(render.await?)));
    }
    let generation = pages.generation();
    let guard = match pages.join(key, generation) {
        Flight::Render(guard) => Some(guard),
        Flight::Wait(mut receiver) => match receiver.wait_for(Option::is_some).await {
            Ok(html) => {
                if let Some(html) = html.as_ref() {
                    return Ok(crate::templates::html_response(html.clone()));
                }
                None
            }
            // The render failed or was cancelled: this request renders its own.
            Err(_) => None,
        },
    };
    let html = Bytes::from(render.await?);
    pages.put(key, html.clone(), now, generation);
    if let Some(guard) = guard {
        guard.finish(html.clone());
    }
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
    fn a_miss_under_way_is_waited_for_not_rendered_again() {
        let cache = PageCache::new(Duration::from_secs(2));
        let Flight::Render(guard) = cache.join("lettings:1", 0) else {
            panic!("the first miss renders");
        };
        let Flight::Wait(mut waiting) = cache.join("lettings:1", 0) else {
            panic!("the second waits");
        };
        assert!(
            matches!(cache.join("lettings:1", 1), Flight::Render(_)),
            "after a write, a request never waits for a page read before it"
        );
        assert!(matches!(cache.join("lettings:2", 0), Flight::Render(_)), "another page");
        guard.finish(Bytes::from_static(b"page"));
        assert_eq!(waiting.borrow_and_update().as_deref(), Some(&b"page"[..]));
        assert_eq!(cache.in_flight(), 0, "every flight ended");
    }

    #[test]
    fn a_failed_render_lets_the_waiting_requests_render_their_own() {
        let cache = PageCache::new(Duration::from_secs(2));
        let Flight::Render(guard) = cache.join("profiles:1", 0) else {
            panic!("the first miss renders");
        };
        let Flight::Wait(waiting) = cache.join("profiles:1", 0) else {
            panic!("the second waits");
        };
        drop(guard);
        assert!(waiting.has_changed().is_err(), "the waiting request hears of it");
        assert!(
            matches!(cache.join("profiles:1", 0), Flight::Render(_)),
            "the next one renders"
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
