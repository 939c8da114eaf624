//! [`Cache`]: the sync API, a thin handle over the core (`inner`).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use crate::counter::Counter;
use crate::error::{BuildError, Error};
use crate::flight::{Landing, Loader};
use crate::inner::{Begin, Expiry, Handle, Inner, Settings};
use crate::iter::{Iter, IterKeys};
use crate::lookup::{Loaded, Lookup, Ttl};
use crate::stats::Stats;
use crate::DefaultHashBuilder;

/// A concurrent key-value cache with per-key TTL.
///
/// `Clone` is a cheap handle: clones share one cache, and the last one to
/// be dropped frees the entries (on its own thread) and stops the cache's
/// background expiry. See the [crate docs](crate) for the guide.
///
/// Keys are read by reference to any borrowed form (`&str` for `String`
/// keys) and written by value. Values are returned by clone: wrap large
/// values in an `Arc`, so that a read clones a pointer.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wheelcache::{Cache, Lookup, Ttl};
///
/// let cache: Cache<String, String> = Cache::new();
/// cache.set("greeting".to_string(), "hello".to_string());
/// assert_eq!(cache.get("greeting").as_deref(), Some("hello"));
///
/// cache.setx("session".to_string(), "abc".to_string(), Some(Duration::from_secs(60)));
/// assert!(matches!(cache.ttl("session"), Ttl::Remaining(_)));
///
/// cache.set_negative("no-such-user".to_string());
/// assert_eq!(cache.get_item("no-such-user"), Lookup::Negative);
/// assert_eq!(cache.get("no-such-user"), None);
/// ```
pub struct Cache<K, V, S = DefaultHashBuilder> {
    inner: Handle<K, V, S>,
}

impl<K, V, S> Clone for Cache<K, V, S> {
    fn clone(&self) -> Self {
        Cache { inner: self.inner.clone() }
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("shards", &self.inner.shard_count())
            .field("max_capacity", &self.inner.capacity())
            .field("default_ttl", &self.inner.default_ttl())
            .field("negative_ttl", &self.inner.negative_ttl())
            .finish_non_exhaustive()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An unbounded cache with no default TTL on the real clock.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start the expiry thread (use
    /// [`Cache::builder`] to get that as an error).
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(cache) => cache,
            Err(e) => panic!("wheelcache: {e}"),
        }
    }
}

impl<K, V> Default for Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A cache with checked settings (see `CacheBuilder::build`).
    pub(crate) fn with_settings(settings: Settings<K, V, S>) -> Result<Self, BuildError> {
        Ok(Cache { inner: Inner::build(settings)? })
    }

    // ---- reads --------------------------------------------------------

    /// Looks `key` up: a live value, a negative marker, or a miss.
    ///
    /// An entry is expired from its deadline on (`now >= deadline`), whether
    /// or not the expiry thread has removed it yet. Takes only a shared lock.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::{Cache, Lookup};
    ///
    /// let cache: Cache<&str, u32> = Cache::new();
    /// cache.set("a", 1);
    /// cache.set_negative("b");
    /// assert_eq!(cache.get_item("a"), Lookup::Hit(1));
    /// assert_eq!(cache.get_item("b"), Lookup::Negative);
    /// assert_eq!(cache.get_item("c"), Lookup::Miss);
    /// ```
    #[inline]
    pub fn get_item<Q>(&self, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.get_item(key)
    }

    /// The value of a live entry; `None` for a missing, expired or negative one.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.get(key)
    }

    /// [`get`](Cache::get) for many keys at once, in order; each shard's
    /// lock is taken once for all of its keys, which are read as of one
    /// instant of that hold (the precise clock is read at most once a
    /// shard, not once a key). Keys of different shards are read one shard
    /// after another.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<String, u32> = Cache::new();
    /// cache.set_many(vec![("a".to_string(), 1), ("b".to_string(), 2)]);
    /// assert_eq!(cache.get_many(&["a", "x", "b"]), [Some(1), None, Some(2)]);
    /// ```
    pub fn get_many<Q>(&self, keys: &[&Q]) -> Vec<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.get_many(keys)
    }

    /// Whether `key` holds a live value (a negative marker does not count).
    /// Counts no hit or miss and does not count as an access.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.contains(key)
    }

    /// How long `key` has to live: missing, persistent, or the exact time
    /// remaining (the earlier of its TTL and its time to idle). Works on
    /// negative markers too; does not count as an access.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use wheelcache::{Cache, Ttl};
    ///
    /// let cache: Cache<&str, u32> = Cache::new();
    /// cache.set("forever", 1);
    /// cache.setx("soon", 2, Some(Duration::from_secs(10)));
    /// assert_eq!(cache.ttl("forever"), Ttl::Persistent);
    /// assert!(cache.ttl("soon").remaining().unwrap() <= Duration::from_secs(10));
    /// assert_eq!(cache.ttl("never-set"), Ttl::Missing);
    /// ```
    pub fn ttl<Q>(&self, key: &Q) -> Ttl
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.ttl(key)
    }

    // ---- writes -------------------------------------------------------

    /// Stores `value` with the cache's default TTL (none unless configured),
    /// replacing any value, marker and TTL the key had.
    #[inline]
    pub fn set(&self, key: K, value: V) {
        self.inner.store(key, Some(value), Expiry::Default);
    }

    /// The same as [`set`](Cache::set), under the dict-style name of the
    /// key-value cache interface (`set_item`/`del_item`/`get_item`).
    #[inline]
    pub fn set_item(&self, key: K, value: V) {
        self.set(key, value);
    }

    /// Stores `value` with its own TTL: `None` never expires; a zero TTL
    /// stores it already expired, which removes the key.
    ///
    /// A TTL is kept exactly, never capped by the default TTL. TTLs up to
    /// `Duration::MAX` are accepted; deadlines saturate at about 584 years.
    /// It runs from the start of the call: the clock is read before the
    /// call waits for its shard's lock, not while holding it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<&str, u32> = Cache::new();
    /// cache.setx("k", 1, Some(Duration::from_secs(30)));
    /// cache.setx("k", 2, Some(Duration::ZERO));
    /// assert_eq!(cache.get("k"), None);
    /// ```
    #[inline]
    pub fn setx(&self, key: K, value: V, ttl: Option<Duration>) {
        self.inner.store(key, Some(value), Expiry::Ttl(ttl));
    }

    /// [`set`](Cache::set) for many entries at once (default TTL); each
    /// shard's lock is taken once for all of its keys. With a repeated key
    /// the last value wins.
    pub fn set_many(&self, items: Vec<(K, V)>) {
        self.inner.set_many(items);
    }

    /// Stores a negative marker (the key is known to be absent upstream)
    /// with the negative TTL. Markers never appear in `get`, `values`,
    /// `items`, `keys` or `len`; `get_item` reports them as
    /// [`Lookup::Negative`].
    pub fn set_negative(&self, key: K) {
        self.inner.store(key, None, Expiry::Negative);
    }

    /// The live value of `key`; if there is none (or a negative marker),
    /// stores `default` with the default TTL and returns it.
    pub fn setdefault(&self, key: K, default: V) -> V {
        self.inner.setdefault(key, default)
    }

    /// Adds `amount` to the integer in `key` and returns the result.
    ///
    /// A missing, expired or negative key starts from zero and gets the
    /// default TTL. An existing value is changed in place and **keeps its
    /// deadline exactly** (not rounded to whole seconds).
    ///
    /// # Errors
    ///
    /// [`Error::NotAnInteger`] if the value holds no integer (`"abc"`),
    /// [`Error::Overflow`] if the sum overflows `i64` or does not fit `V`.
    /// On error nothing changes.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::{Cache, Error};
    ///
    /// let cache: Cache<&str, String> = Cache::new();
    /// assert_eq!(cache.incr("visits", 1)?, 1);
    /// cache.set("hits", "41".to_string());
    /// assert_eq!(cache.incr("hits", 1)?, 42);
    /// assert_eq!(cache.get("hits").as_deref(), Some("42"));
    /// cache.set("name", "abc".to_string());
    /// assert_eq!(cache.incr("name", 1), Err(Error::NotAnInteger));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn incr(&self, key: K, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        self.inner.incr(key, amount)
    }

    /// Subtracts `amount` from the integer in `key`: `incr(key, -amount)`.
    ///
    /// # Errors
    ///
    /// As [`incr`](Cache::incr); `decr(key, i64::MIN)` is
    /// [`Error::Overflow`] (its negation does not exist).
    pub fn decr(&self, key: K, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        self.incr(key, amount.checked_neg().ok_or(Error::Overflow)?)
    }

    /// Gives `key` a new deadline: `Some(d)` expires it `d` from now,
    /// `Some(ZERO)` deletes it, `None` removes its expiry (Redis's PERSIST).
    /// Returns false if there was no live entry (markers count as entries).
    pub fn expire<Q>(&self, key: &Q, ttl: Option<Duration>) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.expire(key, ttl)
    }

    // ---- removals -----------------------------------------------------

    /// Removes `key`'s entry or marker. Returns false if there was none
    /// (an expired entry counts as none).
    pub fn del_item<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.delete(key)
    }

    /// Removes `key` and returns its live value; removes a marker and
    /// returns `None`.
    pub fn pop<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.remove(key, true).flatten()
    }

    /// Removes and returns some live entry (never a marker); `None` when
    /// there is none. Successive calls start from successive shards.
    pub fn popitem(&self) -> Option<(K, V)> {
        self.inner.popitem()
    }

    /// Removes every entry and marker.
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// Removes every live entry for which `keep` returns false; the
    /// listener hears of each as [`RemovalCause::Removed`](crate::RemovalCause).
    ///
    /// `keep` runs on copies of one shard's entries at a time, with no lock
    /// held, so it may call the cache. It judges a snapshot: an entry
    /// written again after its shard was copied is removed or kept by what
    /// `keep` said of its earlier value.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<u32, u32> = Cache::new();
    /// for k in 0..10 {
    ///     cache.set(k, k * k);
    /// }
    /// cache.retain(|_, v| v % 2 == 0);
    /// assert_eq!(cache.len(), 5);
    /// ```
    pub fn retain(&self, keep: impl FnMut(&K, &V) -> bool) {
        self.inner.retain(keep);
    }

    // ---- whole-cache views --------------------------------------------

    /// The number of live values (markers and expired entries not counted).
    ///
    /// Expired entries the expiry thread has not reached yet are reaped
    /// first, on this thread: work proportional to them, never a scan of
    /// the cache.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether there is no live value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the live keys (markers excluded).
    pub fn keys(&self) -> Vec<K> {
        self.inner.collect(|k, _| k.clone())
    }

    /// A snapshot of the live values (markers excluded).
    pub fn values(&self) -> Vec<V> {
        self.inner.collect(|_, v| v.clone())
    }

    /// A snapshot of the live entries (markers excluded).
    pub fn items(&self) -> Vec<(K, V)> {
        self.inner.collect(|k, v| (k.clone(), v.clone()))
    }

    /// A lazy iterator over the live keys (markers excluded).
    ///
    /// It copies one shard's keys at a time under a shared lock and holds no
    /// lock while the caller's loop body runs, so the body may call the
    /// cache, even write to it. A key present throughout the loop is
    /// yielded once; keys written or removed during the loop may or may
    /// not be; no key is yielded twice.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<u32, u32> = Cache::new();
    /// for k in 0..10 {
    ///     cache.set(k, k);
    /// }
    /// for k in cache.iter_keys() {
    ///     cache.del_item(&k); // no deadlock
    /// }
    /// assert!(cache.is_empty());
    /// ```
    pub fn iter_keys(&self) -> IterKeys<K, V, S> {
        IterKeys::new(self.inner.clone())
    }

    /// A lazy iterator over the live entries (markers excluded), as
    /// `(key, value)` clones: like [`iter_keys`](Cache::iter_keys), one
    /// shard at a time, no lock held while the loop body runs.
    pub fn iter(&self) -> Iter<K, V, S> {
        Iter::new(self.inner.clone())
    }

    pub(crate) fn inner(&self) -> &Inner<K, V, S> {
        &self.inner
    }

    // ---- loading ------------------------------------------------------

    /// The live value of `key`, or the value `init` returns, stored with the
    /// default TTL. Single-flight: concurrent callers for one key run one
    /// `init`; the others wait for its value (blocking their thread).
    ///
    /// A negative marker counts as absent. Plain reads never wait for a
    /// load: they miss until its value is stored. An `init` that asks the
    /// cache for its own key loads it again (it does not wait for itself);
    /// a blocking caller never waits for an async load
    /// ([`AsyncCache::get_or_load`](crate::KvCache::get_or_load)) but
    /// runs its own `init`, since the async loader may need the thread it
    /// would block.
    ///
    /// # Panics
    ///
    /// If `init` panics, the panic propagates to this caller; the load is
    /// abandoned without leaving anything behind, and one of the waiters
    /// runs its own `init` instead.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<u64, String> = Cache::new();
    /// let v = cache.get_or_insert_with(7, || "loaded".to_string());
    /// assert_eq!(v, "loaded");
    /// assert_eq!(cache.get_or_insert_with(7, || unreachable!()), "loaded");
    /// ```
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        match self.try_get_or_insert_with(key, || Ok::<V, std::convert::Infallible>(init())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Single-flight loading with the loader's say on the result: the live
    /// value of `key` (`Some`), a live negative marker's "absent" (`None`,
    /// without running `load`), or what `load` finds upstream: a value with
    /// the default TTL or a TTL of its own, or [`Loaded::Absent`], which
    /// stores a negative marker and answers `None`. Concurrent callers for
    /// one key run one `load`, as in
    /// [`get_or_insert_with`](Cache::get_or_insert_with).
    ///
    /// # Errors
    ///
    /// The loader's error, returned to the caller that ran it; nothing is
    /// stored, and a waiting caller runs its own loader next.
    ///
    /// # Example
    ///
    /// See [`Loaded`].
    pub fn load<E>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<Loaded<V>, E>,
    ) -> Result<Option<V>, E> {
        match self.inner.get_found(&key, true) {
            Some(Lookup::Hit(v)) => return Ok(Some(v)),
            Some(Lookup::Negative) => return Ok(None),
            _ => {}
        }
        let mut load = Some(load);
        loop {
            match self.inner.begin_load(key.clone(), Loader::this_thread(), true) {
                Begin::Hit(v) => return Ok(Some(v)),
                Begin::Negative => return Ok(None),
                Begin::Wait(flight) => match flight.wait() {
                    Landing::Value(v) => return Ok(Some(v)),
                    Landing::Absent => return Ok(None),
                    Landing::Retry => {}
                },
                Begin::Load(guard) => {
                    let load = load.take().expect("a caller loads at most once: it returns after");
                    return Ok(guard.finish(load()?));
                }
            }
        }
    }

    /// As [`get_or_insert_with`](Cache::get_or_insert_with), with a loader
    /// that can fail.
    ///
    /// # Errors
    ///
    /// The loader's error, returned to the caller that ran it; nothing is
    /// stored, and a waiting caller runs its own loader next.
    pub fn try_get_or_insert_with<E>(
        &self,
        key: K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(Lookup::Hit(v)) = self.inner.get_found(&key, false) {
            return Ok(v);
        }
        let mut init = Some(init);
        loop {
            match self.inner.begin_load(key.clone(), Loader::this_thread(), false) {
                Begin::Hit(v) => return Ok(v),
                Begin::Negative => unreachable!("markers count as absent here"),
                Begin::Wait(flight) => match flight.wait() {
                    Landing::Value(v) => return Ok(v),
                    Landing::Absent | Landing::Retry => {}
                },
                Begin::Load(guard) => {
                    let init = init.take().expect("a caller loads at most once: it returns after");
                    // On error or panic the guard abandons the load.
                    let value = init()?;
                    let stored = guard.finish(Loaded::Value(value));
                    return Ok(stored.expect("a value was loaded"));
                }
            }
        }
    }

    // ---- housekeeping -------------------------------------------------

    /// The cache's counters, summed over shards.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Reaps every expired entry now, on the calling thread, and compacts
    /// shards that removals left mostly empty. The expiry thread does this
    /// on its own for caches on the real clock; with a mock clock this is
    /// how expired entries are removed (and reported).
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending();
    }

    /// The number of armed timers: entries and markers with an expiry,
    /// including expired ones not yet reaped. Never more than the entries:
    /// re-timing a key moves its one timer.
    #[cfg(feature = "test-util")]
    pub fn timers(&self) -> usize {
        self.inner.timers()
    }

    /// The room the shards' entry vectors hold, in entries (occupied,
    /// vacant or spare): what a mass removal should give back.
    #[cfg(feature = "test-util")]
    pub fn entry_slots(&self) -> usize {
        self.inner.entry_slots()
    }

    /// Checks the internal invariants of every shard, panicking on a
    /// broken one. For tests and fuzzing; it locks every shard in turn.
    #[cfg(feature = "test-util")]
    pub fn assert_invariants(&self) {
        self.inner.assert_invariants();
    }
}

impl<K, V, S> Cache<K, V, S> {
    /// Gives up this handle's share of the cache before the handle is
    /// dropped: the last share to go stops background expiry. The share
    /// must be [restored](Cache::restore_share) before the handle drops.
    pub(crate) fn release_share(&self) {
        self.inner.release_share();
    }

    /// Balances an earlier [`release_share`](Cache::release_share), just
    /// before the handle drops.
    pub(crate) fn restore_share(&self) {
        self.inner.acquire();
    }
}
