//! [`CacheBuilder`]: every setting of a cache, checked when it is built.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

use crate::cache::Cache;
use crate::error::BuildError;
use crate::inner::{Settings, Weigher};
use crate::listener::{Listener, RemovalCause};
use crate::time::{self, Clock};
use crate::DefaultHashBuilder;

/// Configures and builds a [`Cache`].
///
/// Every setting is checked by [`build`](CacheBuilder::build), which returns
/// a [`BuildError`] instead of panicking.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wheelcache::Cache;
///
/// let cache: Cache<String, u64> = Cache::builder()
///     .shards(16)
///     .default_ttl(Duration::from_secs(300))
///     .negative_ttl(Duration::from_secs(30))
///     .removal_listener(|key, value, cause| println!("{key}={value} left: {cause:?}"))
///     .build()?;
/// cache.set("hits".to_string(), 0);
/// # Ok::<(), wheelcache::BuildError>(())
/// ```
pub struct CacheBuilder<K, V, S = DefaultHashBuilder> {
    max_capacity: Option<u64>,
    shards: Option<usize>,
    default_ttl: Option<Duration>,
    negative_ttl: Duration,
    time_to_idle: Option<Duration>,
    tick: Duration,
    clock: Clock,
    listener: Option<Listener<K, V>>,
    weigher: Option<Weigher<K, V>>,
    hasher: S,
    marker: PhantomData<fn(K, V)>,
}

impl<K, V> Default for CacheBuilder<K, V> {
    fn default() -> Self {
        CacheBuilder {
            max_capacity: None,
            shards: None,
            default_ttl: None,
            negative_ttl: Duration::from_secs(60),
            time_to_idle: None,
            tick: Duration::from_millis(1),
            clock: Clock::default(),
            listener: None,
            weigher: None,
            hasher: DefaultHashBuilder::default(),
            marker: PhantomData,
        }
    }
}

impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.max_capacity)
            .field("shards", &self.shards)
            .field("default_ttl", &self.default_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("time_to_idle", &self.time_to_idle)
            .field("tick", &self.tick)
            .field("clock", &self.clock)
            .field("removal_listener", &self.listener.is_some())
            .field("weigher", &self.weigher.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A builder for a cache with settings.
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::default()
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// The most shards a cache can have.
    pub const MAX_SHARDS: usize = 1 << 16;
    /// Shards per available core when [`shards`](Self::shards) is not set.
    const SHARDS_PER_CORE: usize = 16;
    /// The longest tick the wheel accepts.
    pub const MAX_TICK: Duration = Duration::from_secs(1);
    /// A bounded cache gets at most one shard per this much capacity: an
    /// eviction policy needs enough entries in a shard to tell the hot
    /// ones from the cold, so that the hit ratio does not depend on the
    /// shard count.
    pub const MIN_SHARD_CAPACITY: u64 = 1024;

    /// Bounds the number of entries (negative markers count), or with a
    /// [`weigher`](CacheBuilder::weigher) their total weight. Default:
    /// unbounded.
    ///
    /// The bound is global, not split per shard: a cache under its capacity
    /// never evicts, however its keys fall over shards. When a new key
    /// finds the cache full, expired entries go first, then the eviction
    /// policy picks a victim (a scan of one-time keys does not flush the
    /// entries that are read again). Zero is a [`BuildError`].
    pub fn max_capacity(mut self, capacity: u64) -> Self {
        self.max_capacity = Some(capacity);
        self
    }

    /// The number of lock stripes, rounded up to a power of two.
    ///
    /// Default: sixteen per available core, rounded up to a power of two. A
    /// bounded cache uses at most one shard per
    /// [`MIN_SHARD_CAPACITY`](Self::MIN_SHARD_CAPACITY) of capacity. Zero,
    /// or more than [`MAX_SHARDS`](Self::MAX_SHARDS), is a [`BuildError`].
    ///
    /// More shards make it less likely that two threads want the same
    /// lock at once, which pays when several threads keep asking for the
    /// same few hot keys: every call, a read too, writes its shard's lock
    /// word, and that word then moves between the threads' cores. Each
    /// shard has its costs too: a bounded shard's entries grow to its share
    /// of the capacity plus a margin for keys falling on it unevenly (more
    /// shards, more margins), and the expiry thread serves each shard's
    /// timers on their own. The repository's compare package measures the
    /// trade on a machine (`--wheel-shards`).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The TTL of `set`, `set_item`, `setdefault` and of counters created
    /// by `incr`. Default: none (entries live until removed).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The TTL of negative markers (`set_negative`). Default: 60 s.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Expires an entry that nobody read or wrote for this long (moka's
    /// time to idle), with cause [`RemovalCause::Expired`]. It combines
    /// with TTLs: whichever comes first. Default: none.
    ///
    /// A read renews the idle deadline without moving the entry's timer
    /// (the timer is filed again when it comes round); `contains` and
    /// `ttl` do not count as reads.
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.time_to_idle = Some(idle);
        self
    }

    /// The wheel's tick, the step in which deadlines are served: most
    /// entries are removed within a tick or two of their deadline, later
    /// when the machine is busy or a mass expiry is being worked off (the
    /// README gives the measured figures). Default: 1 ms; at most
    /// [`MAX_TICK`](Self::MAX_TICK).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// The clock deadlines are read on. Default: [`Clock::real`].
    ///
    /// With the `test-util` feature a `MockClock` can be passed here.
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// A function called with each removed value and why it left.
    ///
    /// It runs after the shard lock is released, so it may call the cache.
    /// Removals a call causes are reported on the calling thread before the
    /// call returns; expirations found by the background thread are
    /// reported by a small pool of notification threads, one batch of one
    /// cache at a time, so a slow listener delays only its own cache's
    /// notices. Removals caused by a call made inside the listener are
    /// reported after it returns, not in a nested call. A panic in it is
    /// caught and counted in
    /// [`Stats::listener_panics`](crate::Stats::listener_panics).
    /// Negative markers are not reported.
    pub fn removal_listener(
        mut self,
        listener: impl Fn(K, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Weighs each value, for a capacity in weight rather than entries
    /// (moka's weigher): with one, [`max_capacity`](Self::max_capacity)
    /// bounds the sum of the weights. A negative marker weighs 1.
    ///
    /// The weigher runs before the shard lock is taken (and, for `incr`,
    /// under it). A value that alone weighs more than the capacity is not
    /// stored: the key's old entry is removed (reported
    /// [`RemovalCause::Replaced`]) and the value is reported
    /// [`RemovalCause::Evicted`] at once. A weigher without a capacity is a
    /// [`BuildError`].
    ///
    /// Weights change what the eviction policy admits. When a full cache
    /// must evict for a new key that needs more room than the entry it
    /// would evict first frees, the key must have been asked for more often
    /// (by the policy's estimate) than all the entries it would displace
    /// together, or it is left out: not stored, and reported
    /// [`RemovalCause::Evicted`] at once, as if stored and evicted, with
    /// nothing else evicted for it. This holds for every call that creates
    /// an entry (`set`, `setx`, a loader's store, `incr` of a missing key:
    /// the call still returns what it would have stored). Each such write
    /// counts towards the key's estimate, so a key written often enough
    /// gets in. Keeping out a heavy value in favour of several light ones
    /// that are asked for more often makes more requests hit for the same
    /// capacity. A key that fits in its victim's room, and any overwrite of
    /// a key already there, is stored as without a weigher.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<String, Vec<u8>> = Cache::builder()
    ///     .max_capacity(1 << 20) // 1 MiB of values
    ///     .weigher(|_key, value: &Vec<u8>| u32::try_from(value.len()).unwrap_or(u32::MAX))
    ///     .build()?;
    /// cache.set("blob".to_string(), vec![0; 4096]);
    /// assert_eq!(cache.stats().weight, 4096);
    /// # Ok::<(), wheelcache::BuildError>(())
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// Uses another hasher for keys.
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            max_capacity: self.max_capacity,
            shards: self.shards,
            default_ttl: self.default_ttl,
            negative_ttl: self.negative_ttl,
            time_to_idle: self.time_to_idle,
            tick: self.tick,
            clock: self.clock,
            listener: self.listener,
            weigher: self.weigher,
            hasher,
            marker: PhantomData,
        }
    }

    /// Checks the settings and turns them into what a cache is built from.
    fn check(self) -> Result<Settings<K, V, S>, BuildError> {
        let shards = match self.shards {
            Some(0) => return Err(BuildError::ZeroShards),
            Some(n) if n > Self::MAX_SHARDS => return Err(BuildError::TooManyShards),
            Some(n) => n.next_power_of_two(),
            None => {
                let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
                (cores * Self::SHARDS_PER_CORE).next_power_of_two().min(Self::MAX_SHARDS)
            }
        };
        if self.max_capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        if self.weigher.is_some() && self.max_capacity.is_none() {
            return Err(BuildError::WeigherWithoutCapacity);
        }
        if self.tick.is_zero() {
            return Err(BuildError::ZeroTick);
        }
        if self.tick > Self::MAX_TICK {
            return Err(BuildError::TickTooLong);
        }
        crate::ttls::check(self.default_ttl, self.negative_ttl)?;
        if self.time_to_idle.is_some_and(|t| t.is_zero()) {
            return Err(BuildError::ZeroTimeToIdle);
        }
        let entries =
            self.max_capacity.map(|c| crate::inner::entries_in(c, self.weigher.is_some()));
        let shards = match entries {
            Some(entries) => {
                let most = (entries / Self::MIN_SHARD_CAPACITY).max(1);
                let most = if most.is_power_of_two() { most } else { most.next_power_of_two() / 2 };
                shards.min(usize::try_from(most).unwrap_or(usize::MAX))
            }
            None => shards,
        };
        Ok(Settings {
            capacity: self.max_capacity,
            shards,
            default_ttl: self.default_ttl,
            negative_ttl: self.negative_ttl,
            time_to_idle: self.time_to_idle,
            tick: time::nanos(self.tick),
            clock: self.clock,
            listener: self.listener,
            weigher: self.weigher,
            hasher: self.hasher,
        })
    }
}

impl<K, V, S> CacheBuilder<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Builds the cache.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] names the first invalid setting: zero or too many
    /// shards, a zero capacity, a weigher without a capacity, a zero or too
    /// long tick, a zero default TTL, negative TTL or time to idle; or the
    /// expiry thread could not be started.
    pub fn build(self) -> Result<Cache<K, V, S>, BuildError> {
        Cache::with_settings(self.check()?)
    }
}
