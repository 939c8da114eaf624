//! [`CacheBuilder`]: every setting of a cache, checked when it is built.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::cache::Cache;
use crate::error::BuildError;
use crate::listener::{Listener, RemovalCause};
use crate::time::Clock;
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
    pub(crate) max_capacity: Option<u64>,
    pub(crate) shards: Option<usize>,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) negative_ttl: Duration,
    pub(crate) tick: Duration,
    pub(crate) clock: Clock,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) hasher: S,
    marker: PhantomData<fn(K, V)>,
}

impl<K, V> Default for CacheBuilder<K, V> {
    fn default() -> Self {
        CacheBuilder {
            max_capacity: None,
            shards: None,
            default_ttl: None,
            negative_ttl: Duration::from_secs(60),
            tick: Duration::from_millis(1),
            clock: Clock::default(),
            listener: None,
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
            .field("tick", &self.tick)
            .field("clock", &self.clock)
            .field("removal_listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// The most shards a cache can have.
    pub const MAX_SHARDS: usize = 1 << 16;
    /// The longest tick the wheel accepts.
    pub const MAX_TICK: Duration = Duration::from_secs(1);

    /// Bounds the number of entries (negative markers count). Default: unbounded.
    ///
    /// The bound is global, not split per shard: a cache under its capacity
    /// never evicts, however its keys fall over shards. When a new key
    /// finds the cache full, expired entries go first, then the S3-FIFO
    /// policy picks a victim (a scan of one-time keys does not flush the
    /// entries that are read again). Concurrent inserts may overshoot the
    /// bound by at most one entry per inserting thread, for the moment it
    /// takes them to evict. Zero is a [`BuildError`].
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.max_capacity = Some(entries);
        self
    }

    /// The number of lock stripes, rounded up to a power of two.
    ///
    /// Default: four per available core, rounded up to a power of two.
    /// Zero, or more than [`MAX_SHARDS`](Self::MAX_SHARDS), is a
    /// [`BuildError`].
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

    /// The wheel's tick: entries are removed within about one tick of their
    /// deadline. Default: 1 ms; at most [`MAX_TICK`](Self::MAX_TICK).
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
    /// It runs after the shard lock is released, on the thread that caused
    /// the removal (the expiry thread for expirations), so it may call the
    /// cache. Keep it short: expirations of every cache wait for it. A
    /// panic in it is caught and counted in
    /// [`Stats::listener_panics`](crate::Stats::listener_panics).
    /// Negative markers are not reported.
    pub fn removal_listener(
        mut self,
        listener: impl Fn(K, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Uses another hasher for keys.
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            max_capacity: self.max_capacity,
            shards: self.shards,
            default_ttl: self.default_ttl,
            negative_ttl: self.negative_ttl,
            tick: self.tick,
            clock: self.clock,
            listener: self.listener,
            hasher,
            marker: PhantomData,
        }
    }

    /// Checks the settings: the shard count (rounded up to a power of two)
    /// and the tick in nanoseconds.
    pub(crate) fn validate(&self) -> Result<(usize, u64), BuildError> {
        let shards = match self.shards {
            Some(0) => return Err(BuildError::ZeroShards),
            Some(n) if n > Self::MAX_SHARDS => return Err(BuildError::TooManyShards),
            Some(n) => n.next_power_of_two(),
            None => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                (cores * 4).next_power_of_two().min(Self::MAX_SHARDS)
            }
        };
        if self.max_capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        if self.tick.is_zero() {
            return Err(BuildError::ZeroTick);
        }
        if self.tick > Self::MAX_TICK {
            return Err(BuildError::TickTooLong);
        }
        if self.default_ttl.is_some_and(|t| t.is_zero()) {
            return Err(BuildError::ZeroDefaultTtl);
        }
        if self.negative_ttl.is_zero() {
            return Err(BuildError::ZeroNegativeTtl);
        }
        Ok((shards, self.tick.as_nanos() as u64))
    }
}

impl<K, V, S> CacheBuilder<K, V, S>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: std::hash::BuildHasher + Send + Sync + 'static,
{
    /// Builds the cache.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] names the first invalid setting: zero or too many
    /// shards, a zero or too long tick, a zero default or negative TTL; or
    /// the expiry thread could not be started.
    pub fn build(self) -> Result<Cache<K, V, S>, BuildError> {
        Cache::from_builder(self)
    }
}
