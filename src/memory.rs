//! [`AsyncCache`]: the in-memory [`KvCache`], a thin async layer over the
//! sync [`Cache`].
//!
//! ## Thin by design
//!
//! The sync core never waits: each call holds one shard lock for a short,
//! bounded critical section and never does I/O. So [`AsyncCache`] needs no
//! runtime and no `spawn_blocking`: each of its futures does its work on
//! its first poll and completes there. The one exception is single-flight
//! loading ([`AsyncCache::get_or_load`]): a caller that finds another's
//! load in flight parks its `Waker` until that load ends, blocking no
//! thread. Like any future, one that is dropped before it is polled does
//! nothing. Any executor runs them (tokio, smol,
//! `futures::executor::block_on`), and they are `Send`, so they can be
//! awaited inside `tokio::spawn`.
//!
//! ## Namespaces
//!
//! An [`AsyncCache`] accepts only keys its [`KeyBuilder`] validates (the
//! prefix followed by the split string); any other key is
//! [`Error::InvalidKey`] and changes nothing. The underlying cache belongs to
//! the facade's namespace: `clear`, `len`, `keys`, `values`, `items`,
//! `popitem` and `iter_keys` act on the whole cache. Give each namespace its
//! own cache (a cache is cheap) rather than sharing one between prefixes.
//!
//! ## Closing
//!
//! [`close`](KvCache::close) refuses every later call with
//! [`Error::Closed`] and gives up the facade's share of the cache: if no
//! other handle uses the cache, its background expiry stops and its
//! entries are freed. Clones of an [`AsyncCache`] share one closed state.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use crate::builder::CacheBuilder;
use crate::cache::Cache;
use crate::counter::Counter;
use crate::error::{BuildError, Error};
use crate::flight::{Landing, Loader};
use crate::inner::Begin;
use crate::iter::IterKeys;
use crate::keys::KeyBuilder;
use crate::kv::KvCache;
use crate::lookup::{Loaded, Lookup, Ttl};

/// The in-memory [`KvCache`]: a [`Cache<String, V>`](Cache) and the
/// [`KeyBuilder`] of its namespace.
///
/// Each call checks the closed state and the key, calls the sync core, and
/// completes on its first poll (see [the async facade](crate#the-async-facade)).
/// Keys that fail [`KeyBuilder::validate`] are [`Error::InvalidKey`]. The
/// whole underlying cache is the namespace: `clear`, `len`, `keys`, … act on
/// all of it.
///
/// `close` is idempotent. A call that has passed its closed check when
/// `close` runs completes normally; every call that starts after `close`
/// has returned is [`Error::Closed`], and so is `Closed` for a key outside
/// the namespace (the closed check comes first).
///
/// `Clone` is a cheap handle: clones share the cache and the closed state.
///
/// # Example
///
/// ```
/// # futures::executor::block_on(async {
/// use std::time::Duration;
/// use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache};
///
/// let cache: AsyncCache<String> = AsyncCache::from_builder(
///     Cache::builder().default_ttl(Duration::from_secs(60)),
///     KeyBuilder::new("app"),
/// )?;
/// let key = cache.key_builder().build(["user", "42"]);
/// cache.set(&key, "ada".to_string()).await?;
/// assert_eq!(cache.get(&key).await?.as_deref(), Some("ada"));
/// assert_eq!(cache.get("user:42").await, Err(Error::InvalidKey));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct AsyncCache<V> {
    shared: Arc<Shared<V>>,
}

struct Shared<V> {
    cache: Cache<String, V>,
    keys: KeyBuilder,
    /// Set once by `close`, never cleared. Checked at the start of each call.
    closed: AtomicBool,
}

impl<V> Drop for Shared<V> {
    fn drop(&mut self) {
        if *self.closed.get_mut() {
            // `close` gave the share up already: balance it before the
            // handle drops and gives it up again.
            self.cache.restore_share();
        }
    }
}

impl<V> Clone for AsyncCache<V> {
    fn clone(&self) -> Self {
        AsyncCache { shared: self.shared.clone() }
    }
}

impl<V> fmt::Debug for AsyncCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCache")
            .field("key_builder", &self.shared.keys)
            .field("closed", &self.is_closed())
            .field("cache", &self.shared.cache)
            .finish()
    }
}

impl<V> AsyncCache<V> {
    /// Whether [`close`](KvCache::close) has been called on this cache (or
    /// a clone).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl<V> AsyncCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// The async facade over `cache`, accepting the keys of `key_builder`.
    ///
    /// The cache becomes the namespace's: entries already in it, or written
    /// through another handle, are seen by `len`, `keys` and the rest.
    pub fn new(cache: Cache<String, V>, key_builder: KeyBuilder) -> Self {
        let shared = Shared { cache, keys: key_builder, closed: AtomicBool::new(false) };
        AsyncCache { shared: Arc::new(shared) }
    }

    /// Builds the cache from `builder`'s settings and wraps it:
    /// `AsyncCache::new(builder.build()?, key_builder)`.
    ///
    /// # Errors
    ///
    /// The [`BuildError`] of [`CacheBuilder::build`].
    pub fn from_builder(
        builder: CacheBuilder<String, V>,
        key_builder: KeyBuilder,
    ) -> Result<Self, BuildError> {
        Ok(Self::new(builder.build()?, key_builder))
    }

    /// The sync cache underneath, for what the facade does not offer
    /// ([`stats`](Cache::stats), [`run_pending_tasks`](Cache::run_pending_tasks)).
    /// Calls through it skip the namespace check and ignore `close`.
    pub fn cache(&self) -> &Cache<String, V> {
        &self.shared.cache
    }

    /// The core, unless the facade is closed.
    fn open(&self) -> Result<&Cache<String, V>, Error> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(&self.shared.cache)
        }
    }

    /// The core, unless the facade is closed or `key` is outside the
    /// namespace (`Closed` wins).
    fn open_for(&self, key: &str) -> Result<&Cache<String, V>, Error> {
        let cache = self.open()?;
        if self.shared.keys.validate(key) {
            Ok(cache)
        } else {
            Err(Error::InvalidKey)
        }
    }
}

/// Each method checks, calls the sync core and returns: the `async fn`s
/// never await, so their futures complete on the first poll.
impl<V> KvCache<V> for AsyncCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn key_builder(&self) -> &KeyBuilder {
        &self.shared.keys
    }

    async fn get_item(&self, key: &str) -> Result<Lookup<V>, Error> {
        Ok(self.open_for(key)?.get_item(key))
    }

    async fn del_item(&self, key: &str) -> Result<bool, Error> {
        Ok(self.open_for(key)?.del_item(key))
    }

    async fn len(&self) -> Result<usize, Error> {
        Ok(self.open()?.len())
    }

    async fn contains(&self, key: &str) -> Result<bool, Error> {
        Ok(self.open_for(key)?.contains(key))
    }

    async fn setdefault(&self, key: &str, default: V) -> Result<V, Error> {
        Ok(self.open_for(key)?.setdefault(key.to_owned(), default))
    }

    async fn clear(&self) -> Result<(), Error> {
        self.open()?.clear();
        Ok(())
    }

    async fn pop(&self, key: &str) -> Result<Option<V>, Error> {
        Ok(self.open_for(key)?.pop(key))
    }

    async fn popitem(&self) -> Result<Option<(String, V)>, Error> {
        Ok(self.open()?.popitem())
    }

    async fn set(&self, key: &str, value: V) -> Result<(), Error> {
        self.open_for(key)?.set(key.to_owned(), value);
        Ok(())
    }

    async fn setx(&self, key: &str, value: V, ttl: Option<Duration>) -> Result<(), Error> {
        self.open_for(key)?.setx(key.to_owned(), value, ttl);
        Ok(())
    }

    async fn set_negative(&self, key: &str) -> Result<(), Error> {
        self.open_for(key)?.set_negative(key.to_owned());
        Ok(())
    }

    async fn ttl(&self, key: &str) -> Result<Ttl, Error> {
        Ok(self.open_for(key)?.ttl(key))
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool, Error> {
        Ok(self.open_for(key)?.expire(key, ttl))
    }

    async fn incr(&self, key: &str, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        self.open_for(key)?.incr(key.to_owned(), amount)
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.open()?.keys())
    }

    async fn values(&self) -> Result<Vec<V>, Error> {
        Ok(self.open()?.values())
    }

    async fn items(&self) -> Result<Vec<(String, V)>, Error> {
        Ok(self.open()?.items())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<V>>, Error> {
        let cache = self.open()?;
        if !keys.iter().all(|k| self.shared.keys.validate(k)) {
            return Err(Error::InvalidKey);
        }
        Ok(cache.get_many(keys))
    }

    async fn set_many(&self, items: Vec<(&str, V)>) -> Result<(), Error> {
        let cache = self.open()?;
        if !items.iter().all(|(k, _)| self.shared.keys.validate(k)) {
            return Err(Error::InvalidKey);
        }
        cache.set_many(items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        Ok(())
    }

    async fn try_get_or_load<F, E>(&self, key: &str, load: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>> + Send,
        E: From<Error> + Send,
    {
        let cache = self.open_for(key)?;
        // A hit allocates nothing: the key is copied only to load.
        if let Some(Lookup::Hit(v)) = cache.inner().get_found(key, false) {
            return Ok(v);
        }
        let me = Loader::this_task().await;
        let mut load = Some(load);
        loop {
            match cache.inner().begin_load(key.to_owned(), me.clone(), false) {
                Begin::Hit(v) => return Ok(v),
                Begin::Negative => unreachable!("markers count as absent here"),
                Begin::Wait(flight) => match flight.wait_async().await {
                    Landing::Value(v) => return Ok(v),
                    // The loader gave up (or found nothing, which a marker
                    // does not answer here): look again, maybe load.
                    Landing::Absent | Landing::Retry => {}
                },
                Begin::Load(guard) => {
                    let load = load.take().expect("a caller loads at most once: it returns after");
                    // An error, a panic or a drop of this future drops the
                    // guard, which abandons the load.
                    let value = load.await?;
                    let stored = guard.finish(Loaded::Value(value));
                    return Ok(stored.expect("a value was loaded"));
                }
            }
        }
    }

    async fn load<F, E>(&self, key: &str, load: F) -> Result<Option<V>, E>
    where
        F: Future<Output = Result<Loaded<V>, E>> + Send,
        E: From<Error> + Send,
    {
        let cache = self.open_for(key)?;
        match cache.inner().get_found(key, true) {
            Some(Lookup::Hit(v)) => return Ok(Some(v)),
            Some(Lookup::Negative) => return Ok(None),
            _ => {}
        }
        let me = Loader::this_task().await;
        let mut load = Some(load);
        loop {
            match cache.inner().begin_load(key.to_owned(), me.clone(), true) {
                Begin::Hit(v) => return Ok(Some(v)),
                Begin::Negative => return Ok(None),
                Begin::Wait(flight) => match flight.wait_async().await {
                    Landing::Value(v) => return Ok(Some(v)),
                    Landing::Absent => return Ok(None),
                    Landing::Retry => {}
                },
                Begin::Load(guard) => {
                    let load = load.take().expect("a caller loads at most once: it returns after");
                    return Ok(guard.finish(load.await?));
                }
            }
        }
    }

    fn iter_keys(&self) -> impl Stream<Item = Result<String, Error>> + Send {
        LiveKeys { facade: self.clone(), keys: Some(self.shared.cache.iter_keys()) }
    }

    async fn close(&self) -> Result<(), Error> {
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            // Other handles of the cache (a `Cache` clone, another facade)
            // keep it running; the last share to go shuts it down.
            self.shared.cache.release_share();
        }
        Ok(())
    }
}

/// The stream of [`AsyncCache::iter_keys`]: the sync [`IterKeys`] (which
/// copies one shard's keys at a time and holds no lock between items), plus
/// the closed check. Every poll is ready.
struct LiveKeys<V> {
    facade: AsyncCache<V>,
    /// `None` once the stream has ended.
    keys: Option<IterKeys<String, V>>,
}

impl<V> Stream for LiveKeys<V>
where
    V: Clone + Send + Sync + 'static,
{
    type Item = Result<String, Error>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(keys) = &mut this.keys else {
            return Poll::Ready(None);
        };
        let item =
            if this.facade.is_closed() { Some(Err(Error::Closed)) } else { keys.next().map(Ok) };
        if !matches!(item, Some(Ok(_))) {
            this.keys = None;
        }
        Poll::Ready(item)
    }
}
