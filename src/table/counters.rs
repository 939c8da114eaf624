//! A shard's event counters, summed into `Stats` by `Cache::stats`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::ShardState;

/// What a write did, for the counters.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    /// A new entry (value or marker).
    Insert,
    /// A live entry overwritten.
    Update,
    /// An entry removed by a call.
    Removal,
    /// An entry evicted to stay within the capacity.
    Eviction,
    /// An entry removed because it had expired.
    Expiration,
}

/// One shard's counters. Every writer holds the shard's write lock, so an
/// increment is a plain load and store (no atomic read-modify-write);
/// `stats()` may read them at any time.
#[derive(Default)]
pub(crate) struct Counters {
    counts: [AtomicU64; 5],
}

impl Counters {
    /// Adds `n` to `event`'s count; the `&mut ShardState` proves that the
    /// caller holds the shard's write lock.
    #[inline]
    pub(crate) fn add<K, V, P>(&self, _locked: &mut ShardState<K, V, P>, event: Event, n: u64) {
        let counter = &self.counts[event as usize];
        counter.store(counter.load(Relaxed) + n, Relaxed);
    }

    /// The count of `event`.
    pub(crate) fn get(&self, event: Event) -> u64 {
        self.counts[event as usize].load(Relaxed)
    }
}
