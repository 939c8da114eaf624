//! [`KvCache`]: the async key-value cache interface every backend
//! implements ([`AsyncCache`](crate::AsyncCache)(crate::AsyncCache) in memory, `RedisCache` on
//! a Redis server).
//!
//! It is shaped for backends that can fail: every method returns
//! `Result<_, Error>`, keys are `&str`, and the semantics are the sync
//! [`Cache`](crate::Cache)'s, method for method. Code written against the
//! trait runs unchanged on another backend.

use std::future::Future;
use std::time::Duration;

use futures_core::Stream;

use crate::counter::Counter;
use crate::error::Error;
use crate::keys::KeyBuilder;
use crate::lookup::{Loaded, Lookup, Ttl};

/// An async key-value cache with per-key TTL, counters, negative caching and
/// a key namespace: the interface every backend implements.
///
/// The methods and their semantics are those of the sync [`Cache`](crate::Cache), with
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
///   never from [`AsyncCache`](crate::AsyncCache).
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
/// [`AsyncCache`](crate::AsyncCache) needs `V: Clone + Send + Sync + 'static` (the core's
/// bounds); a backend that stores values elsewhere can ask for
/// `serde::Serialize + DeserializeOwned` without this crate depending on
/// serde. `incr` and `decr` exist only where `V:` [`Counter`].
///
/// `Self: Send + Sync` and every future is `Send`, so a cache can be shared
/// between tasks and its calls awaited inside `tokio::spawn`. The futures
/// borrow `self` and the key, as an `async fn` would: to spawn a call, move
/// an owned handle into the task (an [`AsyncCache`](crate::AsyncCache) clone is cheap).
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

    /// Stores `value`: the same as [`set`](KvCache::set), under its
    /// dict-style name.
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
    /// one. Use `.unwrap_or(default)` for a default value.
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

    // ---- batches --------------------------------------------------------

    /// [`get`](KvCache::get) for many keys, in order: `None` for a missing,
    /// expired or negative one. The memory backend takes each shard's lock
    /// once for all its keys; a network backend makes one round trip.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey` (if any key is outside the namespace: then
    /// nothing is read), `Backend` (see the [trait docs](KvCache)).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// cache.set_many(vec![("app:a", 1), ("app:b", 2)]).await?;
    /// assert_eq!(cache.get_many(&["app:a", "app:x", "app:b"]).await?, [Some(1), None, Some(2)]);
    /// # Ok::<(), wheelcache::Error>(())
    /// # }).unwrap();
    /// ```
    fn get_many(&self, keys: &[&str])
        -> impl Future<Output = Result<Vec<Option<V>>, Error>> + Send;

    /// [`set`](KvCache::set) for many entries (default TTL); with a
    /// repeated key the last value wins. The memory backend takes each
    /// shard's lock once for all its keys; a network backend makes one
    /// round trip.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey` (if any key is outside the namespace: then
    /// nothing is written), `Backend` (see the [trait docs](KvCache)).
    fn set_many(&self, items: Vec<(&str, V)>) -> impl Future<Output = Result<(), Error>> + Send;

    // ---- single-flight loading ---------------------------------------------

    /// The live value of `key`, or the value `load` resolves to, stored with
    /// the default TTL. Concurrent callers for one key in this process
    /// await one `load` (single flight); a negative marker counts as
    /// absent. A hit costs no allocation.
    ///
    /// If the loading caller's future is dropped (cancelled) or `load`
    /// panics, the load is abandoned without leaving anything behind and a
    /// waiting caller runs its own `load`.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidKey`, `Backend` (see the [trait docs](KvCache)).
    fn get_or_load<F>(&self, key: &str, load: F) -> impl Future<Output = Result<V, Error>> + Send
    where
        F: Future<Output = V> + Send,
        V: Send,
    {
        async move { self.try_get_or_load(key, async { Ok::<V, Error>(load.await) }).await }
    }

    /// As [`get_or_load`](KvCache::get_or_load), with a loader that can
    /// fail.
    ///
    /// # Errors
    ///
    /// The loader's error, returned to the caller that ran it (nothing is
    /// stored, and a waiting caller runs its own loader next); the cache's
    /// own errors converted with `From`.
    fn try_get_or_load<F, E>(
        &self,
        key: &str,
        load: F,
    ) -> impl Future<Output = Result<V, E>> + Send
    where
        F: Future<Output = Result<V, E>> + Send,
        E: From<Error> + Send;

    /// Single-flight loading with the loader's say on the result (see
    /// [`Loaded`]): the live value of `key` (`Some`), a live negative
    /// marker's "absent" (`None`, without running `load`), or what `load`
    /// finds upstream: a value with the default TTL or a TTL of its own,
    /// or [`Loaded::Absent`], which stores a negative marker and answers
    /// `None`.
    ///
    /// # Errors
    ///
    /// As [`try_get_or_load`](KvCache::try_get_or_load).
    ///
    /// # Example
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::time::Duration;
    /// use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache, Loaded};
    ///
    /// let cache = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
    /// let found = cache
    ///     .load("app:user:1", async { Ok::<_, Error>(Loaded::ValueWithTtl(7, Some(Duration::from_secs(60)))) })
    ///     .await?;
    /// assert_eq!(found, Some(7));
    /// let missing = cache.load("app:user:2", async { Ok::<_, Error>(Loaded::Absent) }).await?;
    /// assert_eq!(missing, None); // and remembered as a negative entry
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    fn load<F, E>(&self, key: &str, load: F) -> impl Future<Output = Result<Option<V>, E>> + Send
    where
        F: Future<Output = Result<Loaded<V>, E>> + Send,
        E: From<Error> + Send;
}
