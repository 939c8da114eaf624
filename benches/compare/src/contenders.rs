//! The caches under test behind one small trait, so every workload is one
//! generic function monomorphised per contender (no dynamic dispatch in the
//! timed loops).
//!
//! Every contender hashes keys with `ahash`, so the numbers compare the
//! structures rather than the hashers (moka and dashmap default to SipHash).

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A concurrent `u64 -> u64` map as the workloads use it.
pub trait Contender: Sync {
    fn get(&self, key: u64) -> Option<u64>;
    fn set(&self, key: u64, value: u64);
    /// Stores `ttl_ms` as the value, expiring after `ttl_ms` milliseconds
    /// (moka's [`ValueExpiry::TtlMillis`] reads the TTL back from the value).
    /// Only the contenders with per-key TTL implement it.
    fn set_ttl_ms(&self, _key: u64, _ttl_ms: u64) {
        unreachable!("this contender has no per-key TTL")
    }
    /// Finishes deferred work (moka's pending tasks) before a measurement.
    fn settle(&self) {}
    fn len(&self) -> usize;
}

/// The removal callback the expiry workloads install: `(key, value)` of an
/// entry that expired.
pub type OnExpired = Arc<dyn Fn(u64, u64) + Send + Sync>;

// ---- wheelcache ---------------------------------------------------------

pub struct Wheel(pub wheelcache::Cache<u64, u64>);

impl Wheel {
    pub fn unbounded() -> Self {
        Wheel(wheelcache::Cache::new())
    }

    pub fn bounded(capacity: u64) -> Self {
        Self::bounded_striped(capacity, None)
    }

    /// Bounded, with `shards` lock stripes (`None`: the default number).
    pub fn bounded_striped(capacity: u64, shards: Option<usize>) -> Self {
        let builder = wheelcache::Cache::builder().max_capacity(capacity);
        let builder = match shards {
            Some(n) => builder.shards(n),
            None => builder,
        };
        Wheel(builder.build().expect("valid settings"))
    }

    /// Bounded, with `shards` lock stripes instead of the default number,
    /// and its keys hashed with fixed seeds derived from `seed` (the hash
    /// seeds decide which keys share a shard and a sketch counter, and so
    /// move a hit ratio by themselves; fixing them isolates the shards'
    /// effect).
    pub fn bounded_with_shards(capacity: u64, shards: usize, seed: u64) -> Self {
        let hasher = ahash::RandomState::with_seeds(
            seed,
            seed ^ 0x9E37_79B9_7F4A_7C15,
            seed ^ 0xC2B2_AE3D_27D4_EB4F,
            seed ^ 0x1656_67B1_9E37_79F9,
        );
        let cache = wheelcache::Cache::builder()
            .max_capacity(capacity)
            .shards(shards)
            .hasher(hasher)
            .build()
            .expect("valid settings");
        Wheel(cache)
    }

    pub fn with_listener(on_expired: OnExpired) -> Self {
        let cache = wheelcache::Cache::builder()
            .removal_listener(move |k, v, cause| {
                if cause == wheelcache::RemovalCause::Expired {
                    on_expired(k, v);
                }
            })
            .build()
            .expect("valid settings");
        Wheel(cache)
    }
}

impl Contender for Wheel {
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    #[inline]
    fn set(&self, key: u64, value: u64) {
        self.0.set(key, value)
    }
    #[inline]
    fn set_ttl_ms(&self, key: u64, ttl_ms: u64) {
        self.0.setx(key, ttl_ms, Some(Duration::from_millis(ttl_ms)))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// ---- quick_cache --------------------------------------------------------

pub struct Quick(
    pub quick_cache::sync::Cache<u64, u64, quick_cache::UnitWeighter, ahash::RandomState>,
);

impl Quick {
    /// What `quick_cache::sync::Cache::new` builds, but hashing with
    /// `ahash` (its default hasher is foldhash).
    pub fn bounded(capacity: u64) -> Self {
        Quick(quick_cache::sync::Cache::with(
            capacity as usize,
            capacity,
            quick_cache::UnitWeighter,
            ahash::RandomState::new(),
            Default::default(),
        ))
    }
}

impl Contender for Quick {
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    #[inline]
    fn set(&self, key: u64, value: u64) {
        self.0.insert(key, value)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// ---- moka ---------------------------------------------------------------

pub type MokaCache = moka::sync::Cache<u64, u64, ahash::RandomState>;

pub struct Moka(pub MokaCache);

/// moka's per-entry expiry, read from the value (moka's `Expiry` sees the
/// key and value only, not an argument of `insert`).
#[derive(Debug, Clone, Copy)]
pub enum ValueExpiry {
    /// The value is the TTL in milliseconds.
    TtlMillis,
    /// The value is the deadline in nanoseconds after `base`; `u64::MAX`
    /// never expires.
    DeadlineNanos { base: Instant },
}

impl ValueExpiry {
    fn ttl(&self, value: u64, now: Instant) -> Option<Duration> {
        match *self {
            ValueExpiry::TtlMillis => Some(Duration::from_millis(value)),
            ValueExpiry::DeadlineNanos { .. } if value == u64::MAX => None,
            ValueExpiry::DeadlineNanos { base } => {
                Some((base + Duration::from_nanos(value)).saturating_duration_since(now))
            }
        }
    }
}

impl moka::Expiry<u64, u64> for ValueExpiry {
    fn expire_after_create(
        &self,
        _key: &u64,
        value: &u64,
        created_at: Instant,
    ) -> Option<Duration> {
        self.ttl(*value, created_at)
    }

    /// An overwrite sets the new value's TTL, as wheelcache's `setx` does.
    fn expire_after_update(
        &self,
        _key: &u64,
        value: &u64,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.ttl(*value, updated_at)
    }
}

impl Moka {
    pub fn new(
        capacity: Option<u64>,
        expiry: Option<ValueExpiry>,
        on_expired: Option<OnExpired>,
    ) -> Self {
        let mut builder = moka::sync::Cache::builder();
        if let Some(capacity) = capacity {
            builder = builder.max_capacity(capacity);
        }
        if let Some(expiry) = expiry {
            builder = builder.expire_after(expiry);
        }
        if let Some(on_expired) = on_expired {
            builder = builder.eviction_listener(move |k: Arc<u64>, v, cause| {
                if cause == moka::notification::RemovalCause::Expired {
                    on_expired(*k, v);
                }
            });
        }
        Moka(builder.build_with_hasher(ahash::RandomState::new()))
    }

    pub fn bounded(capacity: u64) -> Self {
        Moka::new(Some(capacity), None, None)
    }
}

impl Contender for Moka {
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    #[inline]
    fn set(&self, key: u64, value: u64) {
        self.0.insert(key, value)
    }
    #[inline]
    fn set_ttl_ms(&self, key: u64, ttl_ms: u64) {
        self.0.insert(key, ttl_ms)
    }
    fn settle(&self) {
        self.0.run_pending_tasks();
    }
    fn len(&self) -> usize {
        self.0.run_pending_tasks();
        self.0.entry_count() as usize
    }
}

/// moka made to hold its capacity: its writes are applied (and its
/// evictions made) by housekeeping that runs later, so between two runs a
/// moka cache may hold more entries than its capacity. This one runs the
/// pending housekeeping after every insert, as the hit-ratio replays need
/// to compare caches of the same size.
pub struct MokaHeld(pub Moka);

impl MokaHeld {
    pub fn bounded(capacity: u64) -> Self {
        MokaHeld(Moka::bounded(capacity))
    }
}

impl Contender for MokaHeld {
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(key)
    }
    #[inline]
    fn set(&self, key: u64, value: u64) {
        self.0.set(key, value);
        self.0.settle();
    }
    #[inline]
    fn set_ttl_ms(&self, key: u64, ttl_ms: u64) {
        self.0.set_ttl_ms(key, ttl_ms);
        self.0.settle();
    }
    fn settle(&self) {
        self.0.settle();
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// ---- dashmap ------------------------------------------------------------

pub struct Dash(pub dashmap::DashMap<u64, u64, ahash::RandomState>);

impl Dash {
    pub fn unbounded() -> Self {
        Dash(dashmap::DashMap::with_hasher(ahash::RandomState::new()))
    }
}

impl Contender for Dash {
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key).map(|v| *v)
    }
    #[inline]
    fn set(&self, key: u64, value: u64) {
        self.0.insert(key, value);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

// ---- a bare map ---------------------------------------------------------

/// A bare `hashbrown::HashMap` behind a `std::sync::Mutex`: one table that
/// grows in one step (the growth workload's reference), and, one per
/// thread, work that shares nothing (the mixes' reference for scaling).
#[derive(Default)]
pub struct LockedMap(std::sync::Mutex<hashbrown::HashMap<u64, u64, ahash::RandomState>>);

impl Contender for LockedMap {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.lock().unwrap().get(&key).copied()
    }
    fn set(&self, key: u64, value: u64) {
        self.0.lock().unwrap().insert(key, value);
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}
