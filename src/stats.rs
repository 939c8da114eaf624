//! Counters of what a cache did: [`Stats`], summed from per-shard counters.
//!
//! Each shard counts its own events in relaxed atomics that sit beside its
//! lock, on the cache line a call touches anyway; no counter is shared by
//! every core. `stats()` adds the shards up, so a snapshot taken while other
//! threads work is a consistent-enough sum, not an atomic one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// Reads (`get_item`, `get`, `setdefault`, `incr`…) count hits, misses and
/// negative hits; `contains`, `ttl` and the snapshot calls (`keys`…) count
/// nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found a live value.
    pub hits: u64,
    /// Reads that found nothing (or an expired entry).
    pub misses: u64,
    /// Reads that found a negative marker.
    pub negative_hits: u64,
    /// Writes that created an entry (a value or a marker).
    pub inserts: u64,
    /// Writes that replaced a live entry (a value or a marker).
    pub updates: u64,
    /// Entries removed by a call: `del_item`, `pop`, `popitem`, `clear`,
    /// `expire(Some(ZERO))`, `setx(…, Some(ZERO))`.
    pub removals: u64,
    /// Entries evicted to stay within `max_capacity`.
    pub evictions: u64,
    /// Entries removed because their deadline passed.
    pub expirations: u64,
    /// Removal-listener calls that panicked (the panic is caught; the cache
    /// goes on).
    pub listener_panics: u64,
}

impl Stats {
    /// `hits / (hits + misses + negative_hits)`, or 0 with no reads.
    pub fn hit_ratio(&self) -> f64 {
        let reads = self.hits + self.misses + self.negative_hits;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

/// One shard's counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) negative_hits: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) removals: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) expirations: AtomicU64,
    pub(crate) listener_panics: AtomicU64,
}

/// Adds one to a counter.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Counters {
    /// Adds these counters into a snapshot.
    pub(crate) fn add_to(&self, s: &mut Stats) {
        s.hits += self.hits.load(Relaxed);
        s.misses += self.misses.load(Relaxed);
        s.negative_hits += self.negative_hits.load(Relaxed);
        s.inserts += self.inserts.load(Relaxed);
        s.updates += self.updates.load(Relaxed);
        s.removals += self.removals.load(Relaxed);
        s.evictions += self.evictions.load(Relaxed);
        s.expirations += self.expirations.load(Relaxed);
        s.listener_panics += self.listener_panics.load(Relaxed);
    }
}
