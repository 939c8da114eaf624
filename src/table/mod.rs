//! The lock-striped table: a power-of-two array of shards, each a
//! `parking_lot::RwLock` around a [`ShardState`], padded to its own cache
//! lines.
//!
//! # Ground rules
//!
//! - A key is hashed once (`Table::hash`); the hash picks the shard and is
//!   passed down to the shard's index.
//! - Each shard's lock guards everything in its `ShardState`: the index, the
//!   entries, their values and deadlines, and the shard's timing wheel. A
//!   key's whole life (write, re-time, expiry, removal) happens under the
//!   lock of its one shard, so the expiry path re-checks the deadline under
//!   the same lock that writers take: a timer can never remove an entry that
//!   was rewritten or re-timed after it was armed.
//! - Reads take the lock shared; writes and expiry take it exclusive. No
//!   call holds two shard locks at once, so there is no lock order to keep.
//! - No user code runs under a shard lock but the key's `Hash`/`Eq` and the
//!   value's `Clone`: removal listeners are called after the lock is released.
//! - The counters beside each lock are relaxed atomics: statistics only,
//!   nothing is ordered by them.

mod policy;
mod shard;
mod slot;

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::stats::Counters;
pub(crate) use shard::{Protect, Reaped, ShardState};
pub(crate) use slot::Slot;

/// One stripe: its lock and its counters, alone on their cache lines.
///
/// Laid out for the read path: the lock word and the start of the state
/// (the entries' and the index's pointers) share the first cache line.
#[repr(C, align(128))]
pub(crate) struct Shard<K, V> {
    pub(crate) state: RwLock<ShardState<K, V>>,
    pub(crate) counters: Counters,
}

pub(crate) struct Table<K, V, S> {
    shards: Box<[Shard<K, V>]>,
    hasher: S,
    /// `hash >> shift` (masked) is the shard index.
    shift: u32,
    mask: usize,
}

impl<K, V, S: BuildHasher> Table<K, V, S> {
    /// A table of `shards` shards (a power of two) with the given tick; a
    /// bounded one (capacity, shared entry count) counts its entries.
    pub(crate) fn new(
        shards: usize,
        hasher: S,
        tick: u64,
        now: u64,
        capacity: Option<(usize, Arc<AtomicUsize>)>,
    ) -> Self {
        debug_assert!(shards.is_power_of_two() && shards <= 1 << 16);
        let bits = shards.trailing_zeros();
        let share = capacity.as_ref().map_or(0, |(cap, _)| cap.div_ceil(shards));
        let entries = capacity.map(|(_, entries)| entries);
        Table {
            shards: (0..shards)
                .map(|_| Shard {
                    state: RwLock::new(ShardState::new(tick, now, entries.clone(), share)),
                    counters: Counters::default(),
                })
                .collect(),
            hasher,
            // hashbrown takes a bucket from the low bits of the hash and its
            // 7-bit tag from the top 7 (57..64). The shard comes from the
            // bits just below the tag (57-bits..57): a shard's index would
            // need 2^(57-16) buckets before it looked at them, so keys that
            // share a shard stay spread within it.
            shift: 57 - bits,
            mask: shards - 1,
        }
    }

    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The hasher for re-hashing stored keys (as the index grows or an
    /// entry moves).
    #[inline]
    pub(crate) fn hasher(&self) -> impl Fn(&K) -> u64 + '_
    where
        K: Hash,
    {
        move |k| self.hasher.hash_one(k)
    }

    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &Shard<K, V> {
        &self.shards[(hash >> self.shift) as usize & self.mask]
    }
}

impl<K, V, S> Table<K, V, S> {
    pub(crate) fn shards(&self) -> &[Shard<K, V>] {
        &self.shards
    }
}
