//! [`Cache`]: the sync API. Each call hashes its key once, picks the shard,
//! and does its work under that one shard's lock; removals are reported to
//! the listener after the lock is released.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::builder::CacheBuilder;
use crate::counter::Counter;
use crate::error::{BuildError, Error};
use crate::expiry;
use crate::inner::{Inner, Now};
use crate::listener::RemovalCause;
use crate::lookup::{Lookup, Ttl};
use crate::stats::{add_locked, Read, ReadCounters, Stats};
use crate::table::{Slot, Table};
use crate::time::NEVER;
use crate::DefaultHashBuilder;

/// A concurrent key-value cache with per-key TTL.
///
/// `Clone` is a cheap handle: clones share one cache. See the
/// [crate docs](crate) for the guide.
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
    pub(crate) inner: Arc<Inner<K, V, S>>,
}

impl<K, V, S> Clone for Cache<K, V, S> {
    fn clone(&self) -> Self {
        Cache { inner: self.inner.clone() }
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("shards", &self.inner.table.shards().len())
            .field("default_ttl", &self.inner.default_ttl)
            .field("negative_ttl", &self.inner.negative_ttl)
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

    /// A builder for a cache with settings.
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::default()
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
    pub(crate) fn from_builder(builder: CacheBuilder<K, V, S>) -> Result<Self, BuildError> {
        let (shards, tick) = builder.validate()?;
        let driven = builder.clock.is_real();
        let capacity = builder.max_capacity.map(|c| usize::try_from(c).unwrap_or(usize::MAX));
        let entries = Arc::new(AtomicUsize::new(0));
        let inner = Arc::new(Inner {
            table: Table::new(
                shards,
                builder.hasher,
                tick,
                builder.clock.now(),
                capacity.map(|c| (c, entries.clone())),
            ),
            clock: builder.clock,
            default_ttl: builder.default_ttl,
            negative_ttl: builder.negative_ttl,
            listener: builder.listener,
            next_due: AtomicU64::new(NEVER),
            driver: OnceLock::new(),
            closed: AtomicBool::new(false),
            cursor: AtomicUsize::new(0),
            capacity,
            entries,
            reads: ReadCounters::default(),
            tick,
        });
        if driven {
            let weak = Arc::downgrade(&inner);
            let driver = expiry::register(weak).map_err(|_| BuildError::ExpiryThread)?;
            // Set once, here, before any other handle exists.
            let _ = inner.driver.set(driver);
        }
        Ok(Cache { inner })
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
        let inner = &*self.inner;
        let hash = inner.table.hash(key);
        let shard = inner.table.shard(hash);
        let state = shard.state.read();
        let lookup = match state.find(hash, key) {
            Some(i) => {
                let slot = state.slot(i);
                if slot.deadline != NEVER && slot.expired_at(inner.clock.now()) {
                    Lookup::Miss
                } else {
                    if inner.capacity.is_some() {
                        slot.touch();
                    }
                    match slot.value() {
                        Some(v) => Lookup::Hit(v.clone()),
                        None => Lookup::Negative,
                    }
                }
            }
            None => Lookup::Miss,
        };
        drop(state);
        inner.reads.record(match lookup {
            Lookup::Hit(_) => Read::Hit,
            Lookup::Miss => Read::Miss,
            Lookup::Negative => Read::Negative,
        });
        lookup
    }

    /// The value of a live entry; `None` for a missing, expired or negative one.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_item(key).into_option()
    }

    /// Whether `key` holds a live value (a negative marker does not count).
    /// Counts no hit or miss.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.table.hash(key);
        let state = inner.table.shard(hash).state.read();
        let mut now = inner.now();
        state.find(hash, key).is_some_and(|i| {
            let slot = state.slot(i);
            slot.has_value() && !now.expired(slot)
        })
    }

    /// How long `key` has to live: missing, persistent, or the exact time
    /// remaining. Works on negative markers too.
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
        let inner = &*self.inner;
        let hash = inner.table.hash(key);
        let state = inner.table.shard(hash).state.read();
        let Some(i) = state.find(hash, key) else {
            return Ttl::Missing;
        };
        let deadline = state.slot(i).deadline;
        if deadline == NEVER {
            return Ttl::Persistent;
        }
        let now = inner.clock.now();
        if now >= deadline {
            Ttl::Missing
        } else {
            Ttl::Remaining(Duration::from_nanos(deadline - now))
        }
    }

    // ---- writes -------------------------------------------------------

    /// Stores `value` with the cache's default TTL (none unless configured),
    /// replacing any value, marker and TTL the key had.
    #[inline]
    pub fn set(&self, key: K, value: V) {
        self.setx(key, value, self.inner.default_ttl);
    }

    /// The same as [`set`](Cache::set), under the reference interface's name.
    #[inline]
    pub fn set_item(&self, key: K, value: V) {
        self.set(key, value);
    }

    /// Stores `value` with its own TTL: `None` never expires; a zero TTL
    /// stores it already expired, which removes the key.
    ///
    /// A TTL is kept exactly, whatever the default TTL (the reference
    /// implementation capped every entry at its default). TTLs up to
    /// `Duration::MAX` are accepted; deadlines saturate at about 584 years.
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
    pub fn setx(&self, key: K, value: V, ttl: Option<Duration>) {
        if ttl == Some(Duration::ZERO) {
            self.remove(&key, false);
            return;
        }
        let mut now = self.inner.now();
        let deadline = now.deadline(ttl);
        self.store(key, Some(value), deadline, &mut now);
    }

    /// Stores a negative marker (the key is known to be absent upstream)
    /// with the negative TTL. Markers never appear in `get`, `values`,
    /// `items`, `keys` or `len`; `get_item` reports them as
    /// [`Lookup::Negative`].
    pub fn set_negative(&self, key: K) {
        let mut now = self.inner.now();
        let deadline = now.deadline(Some(self.inner.negative_ttl));
        self.store(key, None, deadline, &mut now);
    }

    /// Stores `value` (or a marker) under `key` with `deadline`.
    fn store(&self, key: K, value: Option<V>, deadline: u64, now: &mut Now<'_>) {
        let inner = &*self.inner;
        let hash = inner.table.hash(&key);
        let shard = inner.table.shard(hash);
        let mut state = shard.state.write();
        let found = state.find(hash, &key);
        let put = inner.put(&mut state, shard, hash, found, key, value, deadline, now);
        drop(state);
        inner.armed(deadline);
        inner.finish(shard, put, now);
    }

    /// The live value of `key`; if there is none (or a negative marker),
    /// stores `default` with the default TTL and returns it.
    pub fn setdefault(&self, key: K, default: V) -> V {
        let inner = &*self.inner;
        let hash = inner.table.hash(&key);
        let shard = inner.table.shard(hash);
        let mut now = inner.now();
        let mut state = shard.state.write();
        let found = state.find(hash, &key);
        match found.filter(|&i| !now.expired(state.slot(i))).map(|i| state.slot(i).value()) {
            Some(Some(v)) => {
                let v = v.clone();
                drop(state);
                inner.reads.record(Read::Hit);
                return v;
            }
            Some(None) => inner.reads.record(Read::Negative),
            None => inner.reads.record(Read::Miss),
        }
        let deadline = now.deadline(inner.default_ttl);
        let put = inner.put(
            &mut state,
            shard,
            hash,
            found,
            key,
            Some(default.clone()),
            deadline,
            &mut now,
        );
        drop(state);
        inner.armed(deadline);
        inner.finish(shard, put, &mut now);
        default
    }

    /// Adds `amount` to the integer in `key` and returns the result.
    ///
    /// A missing, expired or negative key starts from zero and gets the
    /// default TTL. An existing value is changed in place and **keeps its
    /// deadline exactly** (the reference implementation rounded it down to
    /// whole seconds).
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
        let inner = &*self.inner;
        let hash = inner.table.hash(&key);
        let shard = inner.table.shard(hash);
        let mut now = inner.now();
        let mut state = shard.state.write();
        let found = state.find(hash, &key);
        let live = found.filter(|&i| !now.expired(state.slot(i)));
        if let Some((i, Some(current))) = live.map(|i| (i, state.slot(i).value())) {
            // In place: the deadline stays exactly as it was.
            let n = current.to_counter().ok_or(Error::NotAnInteger)?;
            let n = n.checked_add(amount).ok_or(Error::Overflow)?;
            let value = V::from_counter(n).ok_or(Error::Overflow)?;
            let old = state.replace(i, Some(value));
            add_locked(&mut state, &shard.counters.updates, 1);
            drop(state);
            inner.reads.record(Read::Hit);
            inner.report(shard, old.map(|v| (key, v, RemovalCause::Replaced)));
            return Ok(n);
        }
        let value = V::from_counter(amount).ok_or(Error::Overflow)?;
        inner.reads.record(if live.is_some() { Read::Negative } else { Read::Miss });
        let deadline = now.deadline(inner.default_ttl);
        let put = inner.put(&mut state, shard, hash, found, key, Some(value), deadline, &mut now);
        drop(state);
        inner.armed(deadline);
        inner.finish(shard, put, &mut now);
        Ok(amount)
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
        if ttl == Some(Duration::ZERO) {
            return self.remove(key, false).is_some();
        }
        let inner = &*self.inner;
        let hash = inner.table.hash(key);
        let shard = inner.table.shard(hash);
        let mut now = inner.now();
        let mut state = shard.state.write();
        let Some(i) = state.find(hash, key) else {
            return false;
        };
        if now.expired(state.slot(i)) {
            let notice = inner.reap_entry(&mut state, shard, i, hash);
            drop(state);
            inner.report(shard, notice);
            return false;
        }
        let deadline = now.deadline(ttl);
        state.retime(i, deadline);
        drop(state);
        inner.armed(deadline);
        true
    }

    // ---- removals -----------------------------------------------------

    /// Removes `key`'s entry or marker. Returns false if there was none
    /// (an expired entry counts as none).
    pub fn del_item<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove(key, false).is_some()
    }

    /// Removes `key` and returns its live value; removes a marker and
    /// returns `None`.
    pub fn pop<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove(key, true).flatten()
    }

    /// Removes a live entry or marker: `Some(value)` (the value only when
    /// `keep`), `None` when there was none.
    fn remove<Q>(&self, key: &Q, keep: bool) -> Option<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.table.hash(key);
        let shard = inner.table.shard(hash);
        let mut now = inner.now();
        let mut state = shard.state.write();
        let i = state.find(hash, key)?;
        if now.expired(state.slot(i)) {
            let notice = inner.reap_entry(&mut state, shard, i, hash);
            drop(state);
            inner.report(shard, notice);
            return None;
        }
        let slot = state.remove(i, hash, inner.table.hasher());
        add_locked(&mut state, &shard.counters.removals, 1);
        drop(state);
        let (key, value) = slot.into_parts();
        match value {
            None => Some(None),
            Some(v) if keep => {
                if inner.listener.is_some() {
                    inner.report(shard, Some((key, v.clone(), RemovalCause::Removed)));
                }
                Some(Some(v))
            }
            Some(v) => {
                inner.report(shard, Some((key, v, RemovalCause::Removed)));
                Some(None)
            }
        }
    }

    /// Removes and returns some live entry (never a marker); `None` when
    /// there is none. Successive calls start from successive shards.
    pub fn popitem(&self) -> Option<(K, V)> {
        let inner = &*self.inner;
        let shards = inner.table.shards();
        let start = inner.cursor.fetch_add(1, Relaxed);
        let now = inner.clock.now();
        let hasher = inner.table.hasher();
        for n in 0..shards.len() {
            let shard = &shards[(start + n) % shards.len()];
            let mut expired = Vec::new();
            let mut found = None;
            let mut state = shard.state.write();
            let mut i = state.len();
            while i > 0 {
                i -= 1;
                let slot = state.slot(i);
                if slot.expired_at(now) {
                    let hash = hasher(&slot.key);
                    expired.push(state.remove(i, hash, &hasher));
                    add_locked(&mut state, &shard.counters.expirations, 1);
                } else if slot.has_value() {
                    let hash = hasher(&slot.key);
                    found = Some(state.remove(i, hash, &hasher));
                    add_locked(&mut state, &shard.counters.removals, 1);
                    break;
                }
            }
            drop(state);
            inner.report_all(shard, expired, RemovalCause::Expired);
            if let Some((key, Some(value))) = found.map(Slot::into_parts) {
                if inner.listener.is_some() {
                    inner.report(shard, Some((key.clone(), value.clone(), RemovalCause::Removed)));
                }
                return Some((key, value));
            }
        }
        None
    }

    /// Removes every entry and marker.
    pub fn clear(&self) {
        let inner = &*self.inner;
        for shard in inner.table.shards() {
            let mut state = shard.state.write();
            let slots = state.take_all();
            let now = inner.clock.now();
            let (expired, removed): (Vec<_>, Vec<_>) =
                slots.into_iter().partition(|slot| slot.expired_at(now));
            add_locked(&mut state, &shard.counters.expirations, expired.len() as u64);
            add_locked(&mut state, &shard.counters.removals, removed.len() as u64);
            drop(state);
            inner.report_all(shard, expired, RemovalCause::Expired);
            inner.report_all(shard, removed, RemovalCause::Removed);
        }
    }

    // ---- housekeeping -------------------------------------------------

    /// The cache's counters, summed over shards.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        self.inner.reads.add_to(&mut stats);
        for shard in self.inner.table.shards() {
            shard.counters.add_to(&mut stats);
        }
        stats
    }

    /// Reaps every expired entry now, on the calling thread. The expiry
    /// thread does this on its own for caches on the real clock; with a
    /// mock clock this is how expired entries are removed (and reported).
    pub fn run_pending_tasks(&self) {
        let inner = &*self.inner;
        inner.reap_all(inner.clock.now(), true);
    }

    /// The number of armed timers: entries and markers with a deadline,
    /// including expired ones not yet reaped. Never more than the entries:
    /// re-timing a key moves its one timer.
    pub fn timers(&self) -> usize {
        self.inner.table.shards().iter().map(|s| s.state.read().timers()).sum()
    }

    /// Checks the table's internal invariants, panicking on a broken one.
    /// For tests and fuzzing; it locks every shard in turn.
    #[doc(hidden)]
    pub fn validate(&self) {
        let hasher = self.inner.table.hasher();
        for shard in self.inner.table.shards() {
            shard.state.read().validate(&hasher);
        }
    }

    /// Stops background expiry for this cache (reads still respect
    /// deadlines, and `run_pending_tasks` still reaps).
    pub(crate) fn stop_expiry(&self) {
        self.inner.unregister();
    }
}
