//! Counters of what a cache did: [`Stats`], summed from per-shard counters.
//!
//! Writes count their events per shard, in relaxed atomics beside the
//! shard's lock, on cache lines a write touches anyway. Reads count in
//! per-thread stripes without an atomic read-modify-write (see
//! `ReadCounters`). No counter is shared by every core. `stats()` adds it
//! all up, so a snapshot taken while other threads work is a sum of
//! counters, not an atomic picture.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::table::ShardState;

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

/// What a read found, for the read counters.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    Hit,
    Miss,
    Negative,
}

/// Stripes of read counters: a cache's hits, misses and negative hits.
///
/// Reads are the hot path, and an atomic read-modify-write costs about as
/// much as the rest of a hit. So each thread counts in its own stripe (by a
/// thread-local index handed out round-robin) with a plain relaxed load and
/// store, which no other core touches while it runs. The counts are exact
/// while no two threads that share a stripe read the same cache at the same
/// instant: always with up to `STRIPES` threads, almost always beyond.
pub(crate) struct ReadCounters {
    stripes: Box<[Stripe]>,
}

/// The number of read-counter stripes a cache has.
const STRIPES: usize = 32;

#[derive(Default)]
#[repr(align(64))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    negative_hits: AtomicU64,
}

impl Default for ReadCounters {
    fn default() -> Self {
        ReadCounters { stripes: (0..STRIPES).map(|_| Stripe::default()).collect() }
    }
}

/// This thread's stripe.
#[inline]
fn stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, Relaxed) % STRIPES;
            s.set(i);
        }
        i
    })
}

impl ReadCounters {
    /// Counts one read.
    #[inline]
    pub(crate) fn record(&self, read: Read) {
        let stripe = &self.stripes[stripe()];
        let counter = match read {
            Read::Hit => &stripe.hits,
            Read::Miss => &stripe.misses,
            Read::Negative => &stripe.negative_hits,
        };
        // Only this thread writes this stripe (see the type's docs).
        counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Adds these counters into a snapshot.
    pub(crate) fn add_to(&self, s: &mut Stats) {
        for stripe in self.stripes.iter() {
            s.hits += stripe.hits.load(Relaxed);
            s.misses += stripe.misses.load(Relaxed);
            s.negative_hits += stripe.negative_hits.load(Relaxed);
        }
    }
}

/// One shard's other counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) inserts: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) removals: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) expirations: AtomicU64,
    pub(crate) listener_panics: AtomicU64,
}

/// Adds `n` to a counter of a shard whose write lock the caller holds (the
/// `&mut ShardState` is the proof): every writer of these counters holds
/// that lock, so a plain load and store does, without the cost of an atomic
/// read-modify-write; `stats()` may read them at any time.
#[inline]
pub(crate) fn add_locked<K, V>(_locked: &mut ShardState<K, V>, counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// Adds one to a counter.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Counters {
    /// Adds these counters into a snapshot.
    pub(crate) fn add_to(&self, s: &mut Stats) {
        s.inserts += self.inserts.load(Relaxed);
        s.updates += self.updates.load(Relaxed);
        s.removals += self.removals.load(Relaxed);
        s.evictions += self.evictions.load(Relaxed);
        s.expirations += self.expirations.load(Relaxed);
        s.listener_panics += self.listener_panics.load(Relaxed);
    }
}
