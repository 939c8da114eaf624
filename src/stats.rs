//! Counters of what a cache did: [`Stats`], summed from the read counters
//! and the shards' write counters.
//!
//! Writes count their events per shard, under the shard's write lock (see
//! `table::Counters`). Reads count in per-thread stripes without an atomic
//! read-modify-write (see [`ReadCounters`]). No counter is shared by every
//! core. `stats()` adds it all up, so a snapshot taken while other threads
//! work is a sum of counters, not an atomic picture; once they stop, it is
//! exact.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::threads::{known_slot, slot};

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// Reads (`get_item`, `get`, `setdefault`, `incr`…) count hits, misses and
/// negative hits; `contains`, `ttl` and the snapshot calls (`keys`…) count
/// nothing. A loading call (`get_or_insert_with`…) that waits for another
/// caller's load counts a load wait, not a miss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found a live value.
    pub hits: u64,
    /// Reads that found nothing (or an expired entry).
    pub misses: u64,
    /// Reads that found a negative marker.
    pub negative_hits: u64,
    /// Loading calls that waited for another caller's load of the same key.
    pub load_waits: u64,
    /// Writes that created an entry (a value or a marker).
    pub inserts: u64,
    /// Writes that replaced a live entry (a value or a marker).
    pub updates: u64,
    /// Entries removed by a call: `del_item`, `pop`, `popitem`, `clear`,
    /// `retain`, `expire(Some(ZERO))`, `setx(…, Some(ZERO))`.
    pub removals: u64,
    /// Entries evicted to stay within `max_capacity` (and values refused
    /// because they alone weigh more than it, or new keys the eviction
    /// policy of a weighted cache left out: see
    /// [`CacheBuilder::weigher`](crate::CacheBuilder::weigher)).
    pub evictions: u64,
    /// Entries removed because their deadline (or time to idle) passed.
    pub expirations: u64,
    /// Removal-listener calls that panicked (the panic is caught; the cache
    /// goes on).
    pub listener_panics: u64,
    /// The entries' total weight now: their number (markers included),
    /// or the sum of the weigher's weights.
    pub weight: u64,
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
#[derive(Clone, Copy, Debug)]
pub(crate) enum Read {
    Hit,
    Miss,
    Negative,
    LoadWait,
}

/// A cache's read counters: hits, misses, negative hits and load waits.
///
/// Reads are the hot path, and an atomic read-modify-write costs about as
/// much as the rest of a hit. So each thread that is alive holds a slot
/// number of its own (the lowest free one, given back when the thread
/// ends, see [`slot`]), and a thread whose slot has a stripe here counts
/// in it with a plain relaxed load and store: no other thread writes that
/// stripe while the slot is held, so no count is lost. Threads beyond the
/// stripes (more threads alive at once than `stripes`) count with atomic
/// adds on shared stripes: exact too, only slower.
pub(crate) struct ReadCounters {
    owned: Box<[Stripe]>,
    shared: Box<[Stripe]>,
}

#[derive(Default)]
#[repr(align(64))]
struct Stripe {
    counts: [AtomicU64; 4],
}

impl ReadCounters {
    /// Counters with stripes for `threads` threads.
    pub(crate) fn new(threads: usize) -> Self {
        let stripes = threads.clamp(1, 256);
        ReadCounters {
            owned: (0..stripes).map(|_| Stripe::default()).collect(),
            shared: (0..stripes.min(8)).map(|_| Stripe::default()).collect(),
        }
    }

    /// Counts one read.
    ///
    /// A thread that has not asked for its slot yet holds `usize::MAX`,
    /// past every owned stripe, so one bounds check finds both it and a
    /// thread without a stripe of its own, off the common path.
    #[inline]
    pub(crate) fn record(&self, read: Read) {
        match self.owned.get(known_slot()) {
            Some(stripe) => count_owned(stripe, read),
            None => self.record_unowned(read),
        }
    }

    /// [`record`](ReadCounters::record) for a thread without a stripe of
    /// its own, or that has not asked for its slot yet.
    #[cold]
    #[inline(never)]
    fn record_unowned(&self, read: Read) {
        let slot = slot();
        match self.owned.get(slot) {
            Some(stripe) => count_owned(stripe, read),
            None => {
                let stripe = &self.shared[slot % self.shared.len()];
                stripe.counts[read as usize].fetch_add(1, Relaxed);
            }
        }
    }

    /// Adds these counters into a snapshot.
    pub(crate) fn add_to(&self, s: &mut Stats) {
        for stripe in self.owned.iter().chain(self.shared.iter()) {
            let [hits, misses, negative, waits] = &stripe.counts;
            s.hits += hits.load(Relaxed);
            s.misses += misses.load(Relaxed);
            s.negative_hits += negative.load(Relaxed);
            s.load_waits += waits.load(Relaxed);
        }
    }
}

/// Counts `read` in this thread's own stripe.
#[inline]
fn count_owned(stripe: &Stripe, read: Read) {
    let counter = &stripe.counts[read as usize];
    // Only this thread writes this stripe while it holds its slot.
    counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_are_exact_with_more_threads_than_stripes() {
        let counters = Arc::new(ReadCounters::new(2));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counters.record(Read::Hit);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut stats = Stats::default();
        counters.add_to(&mut stats);
        assert_eq!(stats.hits, 60_000);
    }
}
