//! The async facade: the [`KvCache`] trait, the cache interface every backend
//! implements, and [`AsyncCache`], its in-memory implementation over the
//! sync [`Cache`].
//!
//! ## Thin by design
//!
//! The sync core never waits: each call holds one shard lock for a short,
//! bounded critical section and never does I/O. So [`AsyncCache`] needs no
//! runtime, no `spawn_blocking` and no waker: each of its futures does its
//! work on its first poll and completes there. The one exception is
//! single-flight loading ([`AsyncCache::get_or_load`]): a caller that finds
//! another's load in flight parks its `Waker` until that load ends, blocking
//! no thread. Like any future, one that is
//! dropped before it is polled does nothing. Any executor runs them (tokio,
//! smol, `futures::executor::block_on`), and they are `Send`, so they can be
//! awaited inside `tokio::spawn`.
//!
//! ## One trait, several backends
//!
//! [`KvCache`] is shaped for backends that can fail (a Redis server): every
//! method returns `Result<_, Error>`, keys are `&str`, and the semantics are
//! the sync core's, method for method. Code written against the trait runs
//! unchanged on another backend.
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
//! [`close`](KvCache::close) stops background expiry and refuses every
//! later call with [`Error::Closed`]. Clones of an [`AsyncCache`] share one
//! closed state.

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
use crate::keys::KeyBuilder;
use crate::load::Begin;
use crate::lookup::{Lookup, Ttl};
use crate::views::IterKeys;

/// An async key-value cache with per-key TTL, counters, negative caching and
/// a key namespace: the interface every backend implements.
///
/// The methods and their semantics are those of the sync [`Cache`], with
/// `&str` keys and every result wrapped in `Result<_, Error>`.
///
/// # Errors every method can return
///
/// - [`Error::Closed`] once [`close`](KvCache::close) has been called (except
///   by `close` itself, which may be called again).
/// - [`Error::InvalidKey`] from a method taking a key, when the key is
///   outside the namespace (fails [`KeyBuilder::validate`]). The call
///   changes nothing.
/// - [`Error::Backend`] from a backend that can fail (a network backend);
///   never from [`AsyncCache`].
///
/// A call that fails with any error but [`Error::Backend`] has changed
/// nothing. A backend error says what its call did in
/// [`BackendError::outcome`](crate::BackendError::outcome): a network
/// backend cannot promise that a request it sent and got no answer to (a
/// timeout) was not applied, so such a write is
/// [`Outcome::Unknown`](crate::Outcome::Unknown). Call again without
/// looking only after [`Outcome::NotApplied`](crate::Outcome::NotApplied),
/// or for a call that is harmless to repeat (`set`, `del_item`); `incr`
/// and `pop` are not.
///
/// # Bounds
///
/// The trait puts no bound on `V`: each backend bounds it in its own impl.
/// [`AsyncCache`] needs `V: Clone + Send + Sync + 'static` (the core's
/// bounds); a backend that stores values elsewhere can ask for
/// `serde::Serialize + DeserializeOwned` without this crate depending on
/// serde. `incr` and `decr` exist only where `V:` [`Counter`].
///
/// `Self: Send + Sync` and every future is `Send`, so a cache can be shared
/// between tasks and its calls awaited inside `tokio::spawn`. The futures
/// borrow `self` and the key, as an `async fn` would: to spawn a call, move
/// an owned handle into the task (an [`AsyncCache`] clone is cheap).
///
/// # Example
///
/// Code written against the trait runs on any backend:
///
/// ```
/// use std::time::Duration;
/// use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache, Ttl};
///
/// async fn remember_login<C: KvCache<String>>(cache: &C, user: &str) -> Result<i64, Error> {
///     let session = cache.key_builder().build(["session", user]);
///     cache.setx(&session, "active".to_string(), Some(Duration::from_secs(900))).await?;
///     let logins = cache.key_builder().build(["logins", user]);
///     cache.incr(&logins, 1).await
/// }
///
/// # futures::executor::block_on(async {
/// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
/// assert_eq!(remember_login(&cache, "ada").await?, 1);
/// assert_eq!(remember_login(&cache, "ada").await?, 2);
/// assert!(matches!(cache.ttl("app:session:ada").await?, Ttl::Remaining(_)));
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub trait KvCache<V>: Send + Sync {
    /// The key builder of this cache's namespace: build keys with it.
    fn key_builder(&self) -> &KeyBuilder;

    /// Looks `key` up: a live value ([`Lookup::Hit`]), a negative marker
    /// ([`Lookup::Negative`]), or nothing ([`Lookup::Miss`]: never set,
    /// removed, or expired).
    ///
    /// An entry is expired from its deadline on, whether or not it has been
    /// removed yet.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache, Lookup};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// cache.set("app:a", 1).await?;
    /// cache.set_negative("app:b").await?;
    /// assert_eq!(cache.get_item("app:a").await?, Lookup::Hit(1));
    /// assert_eq!(cache.get_item("app:b").await?, Lookup::Negative);
    /// assert_eq!(cache.get_item("app:c").await?, Lookup::Miss);
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    fn get_item(&self, key: &str) -> impl Future<Output = Result<Lookup<V>, Error>> + Send;

    /// Stores `value`: the same as [`set`](KvCache::set), under the seed
    /// interface's other name.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn set_item(&self, key: &str, value: V) -> impl Future<Output = Result<(), Error>> + Send {
        self.set(key, value)
    }

    /// Removes `key`'s entry or negative marker; `false` if there was none
    /// (an expired entry counts as none).
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn del_item(&self, key: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The number of live values: negative markers and expired entries are
    /// not counted.
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn len(&self) -> impl Future<Output = Result<usize, Error>> + Send;

    /// Whether there is no live value: `len() == 0`.
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn is_empty(&self) -> impl Future<Output = Result<bool, Error>> + Send {
        async move { Ok(self.len().await? == 0) }
    }

    /// Whether `key` holds a live value (a negative marker does not count).
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn contains(&self, key: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The value of a live entry; `None` for a missing, expired or negative
    /// one. Use `.unwrap_or(default)` for the seed's `default` argument.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<V>, Error>> + Send {
        async move { Ok(self.get_item(key).await?.into_option()) }
    }

    /// The live value of `key`; if there is none (or a negative marker),
    /// stores `default` with the default TTL and returns it.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// assert_eq!(cache.setdefault("app:lang", "en".to_string()).await?, "en");
    /// assert_eq!(cache.setdefault("app:lang", "fr".to_string()).await?, "en");
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    fn setdefault(&self, key: &str, default: V) -> impl Future<Output = Result<V, Error>> + Send;

    /// Removes every entry and negative marker.
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn clear(&self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Removes `key` and returns its live value; removes a negative marker
    /// and returns `None`.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn pop(&self, key: &str) -> impl Future<Output = Result<Option<V>, Error>> + Send;

    /// Removes and returns some live entry, never a negative marker (and
    /// leaves markers in place); `None` when there is no live entry.
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn popitem(&self) -> impl Future<Output = Result<Option<(String, V)>, Error>> + Send;

    /// Stores `value` with the cache's default TTL (none unless configured),
    /// replacing any value, negative marker and TTL the key had.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn set(&self, key: &str, value: V) -> impl Future<Output = Result<(), Error>> + Send;

    /// Stores `value` with its own TTL, kept exactly: `None` never expires;
    /// `Some(Duration::ZERO)` stores it already expired, which removes the
    /// key. No TTL is capped by the default TTL, and `Duration::MAX` does
    /// not overflow.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::time::Duration;
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache, Ttl};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// cache.setx("app:token", 7, Some(Duration::from_secs(30))).await?;
    /// assert!(matches!(cache.ttl("app:token").await?, Ttl::Remaining(_)));
    /// cache.setx("app:token", 8, None).await?;
    /// assert_eq!(cache.ttl("app:token").await?, Ttl::Persistent);
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    fn setx(
        &self,
        key: &str,
        value: V,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Stores a negative marker ("known to be absent upstream") with the
    /// negative TTL, replacing any value.
    ///
    /// Markers never appear in `get`, `contains`, `len`, `keys`, `values`,
    /// `items`, `popitem` or `iter_keys`; [`get_item`](KvCache::get_item)
    /// reports them as [`Lookup::Negative`] and [`ttl`](KvCache::ttl) sees
    /// their deadline.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn set_negative(&self, key: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// How long `key` has to live, told apart: [`Ttl::Missing`] (no such
    /// key, or expired), [`Ttl::Persistent`] (no expiry) or
    /// [`Ttl::Remaining`] (exact, not rounded). Works on negative markers.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::time::Duration;
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache, Ttl};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// cache.set("app:forever", 1).await?;
    /// cache.setx("app:soon", 2, Some(Duration::from_secs(10))).await?;
    /// assert_eq!(cache.ttl("app:forever").await?, Ttl::Persistent);
    /// assert!(cache.ttl("app:soon").await?.remaining() <= Some(Duration::from_secs(10)));
    /// assert_eq!(cache.ttl("app:never-set").await?, Ttl::Missing);
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    fn ttl(&self, key: &str) -> impl Future<Output = Result<Ttl, Error>> + Send;

    /// Gives `key` a new deadline: `Some(d)` expires it `d` from now,
    /// `Some(Duration::ZERO)` removes it, `None` removes its expiry
    /// (Redis's `PERSIST`). Returns `false` if there was no live entry
    /// (negative markers count as entries).
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn expire(
        &self,
        key: &str,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Adds `amount` to the integer in `key` and returns the result.
    ///
    /// A missing, expired or negative key starts from zero and gets the
    /// default TTL. An existing value is changed in place and keeps its
    /// deadline exactly.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnInteger`] if the value holds no integer (`"abc"`),
    /// [`Error::Overflow`] if the sum overflows `i64` or does not fit `V`;
    /// the value is left untouched. `Closed`, `InvalidKey`, `Backend` (see
    /// the [trait docs](KvCache)).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// assert_eq!(cache.incr("app:visits", 1).await?, 1);
    /// cache.set("app:hits", "41".to_string()).await?;
    /// assert_eq!(cache.incr("app:hits", 1).await?, 42);
    /// cache.set("app:name", "ada".to_string()).await?;
    /// assert_eq!(cache.incr("app:name", 1).await, Err(Error::NotAnInteger));
    /// assert_eq!(cache.get("app:name").await?.as_deref(), Some("ada"));
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    fn incr(&self, key: &str, amount: i64) -> impl Future<Output = Result<i64, Error>> + Send
    where
        V: Counter;

    /// Subtracts `amount` from the integer in `key`: `incr(key, -amount)`.
    ///
    /// # Errors
    ///
    /// As [`incr`](KvCache::incr); `decr(key, i64::MIN)` is
    /// [`Error::Overflow`] (its negation does not exist).
    fn decr(&self, key: &str, amount: i64) -> impl Future<Output = Result<i64, Error>> + Send
    where
        V: Counter,
    {
        let amount = amount.checked_neg().ok_or(Error::Overflow);
        async move { self.incr(key, amount?).await }
    }

    /// A snapshot of the live keys (negative markers excluded), in no
    /// particular order.
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn keys(&self) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    /// A snapshot of the live values (negative markers excluded).
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn values(&self) -> impl Future<Output = Result<Vec<V>, Error>> + Send;

    /// A snapshot of the live entries (negative markers excluded).
    ///
    /// # Errors
    ///
    /// `Closed`, `Backend` (see the [trait docs](KvCache)).
    fn items(&self) -> impl Future<Output = Result<Vec<(String, V)>, Error>> + Send;

    /// A lazy stream of the live keys (negative markers excluded).
    ///
    /// No lock is held while the consumer runs, so the loop body may call
    /// the cache, even write to it. Keys written during the loop may or may
    /// not be seen; a key is yielded at most once.
    ///
    /// # Errors
    ///
    /// The stream yields `Err(Error::Closed)` once and ends if the cache is
    /// (or gets) closed; a backend may yield `Err(Error::Backend(_))`.
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::StreamExt;
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// for n in 0..10 {
    ///     cache.set(&format!("app:{n}"), n).await?;
    /// }
    /// let mut keys = std::pin::pin!(cache.iter_keys());
    /// while let Some(key) = keys.next().await {
    ///     cache.del_item(&key?).await?; // calling the cache here is fine
    /// }
    /// assert_eq!(cache.len().await?, 0);
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    fn iter_keys(&self) -> impl Stream<Item = Result<String, Error>> + Send;

    /// Closes the cache: background expiry stops and every later call
    /// returns [`Error::Closed`].
    ///
    /// Closing is idempotent: closing a closed cache returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// `Backend` (see the [trait docs](KvCache)).
    fn close(&self) -> impl Future<Output = Result<(), Error>> + Send;
}

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
    /// Calls through it skip the namespace check and ignore `close`; after
    /// `close` its expired entries are no longer reaped in the background
    /// (they are still never returned, and `run_pending_tasks` reaps them).
    pub fn cache(&self) -> &Cache<String, V> {
        &self.shared.cache
    }

    /// The live value of `key`, or the value `init` resolves to, stored with
    /// the default TTL. Single-flight: concurrent callers for one key await
    /// one `init`; the others wait through their `Waker` (no thread is
    /// blocked). A negative marker counts as absent; plain reads never wait
    /// for a load.
    ///
    /// If the loading caller's future is dropped (cancelled) or `init`
    /// panics, the load is abandoned without leaving anything behind and a
    /// waiting caller runs its own `init`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after `close`, [`Error::InvalidKey`] for a key
    /// outside the namespace.
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder};
    ///
    /// let cache: AsyncCache<String> = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// let user = cache.get_or_load("app:user:1", async { "ada".to_string() }).await?;
    /// assert_eq!(user, "ada");
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_or_load(&self, key: &str, init: impl Future<Output = V>) -> Result<V, Error> {
        self.try_get_or_load(key, async { Ok::<V, Error>(init.await) }).await
    }

    /// As [`get_or_load`](AsyncCache::get_or_load), with a loader that can
    /// fail.
    ///
    /// # Errors
    ///
    /// The loader's error, returned to the caller that ran it (nothing is
    /// stored, and a waiting caller runs its own loader next); the cache's
    /// own errors ([`Error::Closed`], [`Error::InvalidKey`]) converted with
    /// `From`.
    pub async fn try_get_or_load<E>(
        &self,
        key: &str,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        E: From<Error>,
    {
        let cache = self.open_for(key)?;
        let mut init = Some(init);
        loop {
            match cache.begin_load(key.to_owned()) {
                Begin::Hit(v) => return Ok(v),
                Begin::Wait(flight) => {
                    if let Some(v) = flight.wait_async().await {
                        return Ok(v);
                    }
                    // The loader gave up: look again, maybe load.
                }
                Begin::Load(guard) => {
                    let Some(init) = init.take() else {
                        unreachable!("a caller loads at most once: it returns after loading");
                    };
                    // An error, a panic or a drop of this future drops the
                    // guard, which abandons the load.
                    let value = init.await?;
                    return Ok(guard.finish(value));
                }
            }
        }
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

    fn iter_keys(&self) -> impl Stream<Item = Result<String, Error>> + Send {
        KeyStream { facade: self.clone(), keys: Some(self.shared.cache.iter_keys()) }
    }

    async fn close(&self) -> Result<(), Error> {
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            self.shared.cache.stop_expiry();
        }
        Ok(())
    }
}

/// The stream of [`AsyncCache::iter_keys`]: the core's [`IterKeys`] (which
/// copies one shard's keys at a time and holds no lock between items), plus
/// the closed check. Every poll is ready.
struct KeyStream<V> {
    facade: AsyncCache<V>,
    /// `None` once the stream has ended.
    keys: Option<IterKeys<String, V>>,
}

impl<V> Stream for KeyStream<V>
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
