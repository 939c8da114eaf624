//! The capacity of a bounded cache, shared by its shards without a
//! cache-wide counter on the hot path.
//!
//! The capacity is a pool of weight (entries, or the weigher's units). A
//! shard holds exactly the weight of its entries; a write that needs more
//! takes it from the pool, and every removal gives its weight back when the
//! write commits. So at rest `pool + Σ shard weight == capacity`, and the
//! bound is global: a cache under its capacity has weight in the pool and
//! never evicts, however its keys fall over the shards.
//!
//! When the pool is dry the cache is full. A write then makes room in its
//! own shard: expired entries first (if another shard may hold expired
//! entries, the write reaps them there first, see `Elsewhere`), then the
//! eviction policy's victim. An eviction frees exactly what the new entry
//! takes, so the steady state of a full cache touches no shared counter at
//! all: only the pool's cache line is read, and it is not written.

use std::sync::atomic::{AtomicI64, Ordering::*};

/// A bounded cache's capacity pool.
pub(crate) struct Room {
    capacity: u64,
    /// Weight not held by any shard. Negative after a write that had to
    /// overshoot (see `force`): later writes pay the debt back first.
    pool: AtomicI64,
}

/// Why a write could not make room in its own shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elsewhere {
    /// Another shard may hold expired entries: reap them before evicting.
    Reap,
    /// The shard has nothing (else) to evict: evict this much elsewhere.
    Evict(u64),
}

impl Room {
    pub(crate) fn new(capacity: u64) -> Self {
        Room { capacity, pool: AtomicI64::new(i64::try_from(capacity).unwrap_or(i64::MAX)) }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Takes up to `want` from the pool; returns what it got.
    #[inline]
    pub(crate) fn take(&self, want: u64) -> u64 {
        let mut pool = self.pool.load(Relaxed);
        loop {
            if pool <= 0 {
                return 0;
            }
            let got = want.min(pool as u64);
            match self.pool.compare_exchange_weak(pool, pool - got as i64, Relaxed, Relaxed) {
                Ok(_) => return got,
                Err(now) => pool = now,
            }
        }
    }

    /// Gives `n` back to the pool.
    #[inline]
    pub(crate) fn give(&self, n: u64) {
        if n > 0 {
            self.pool.fetch_add(n as i64, Relaxed);
        }
    }

    /// Takes `n` beyond what the pool holds: a write that could not make
    /// room after many tries (other writers kept taking what it freed)
    /// goes ahead, and the next writes make up for it.
    pub(crate) fn force(&self, n: u64) {
        self.pool.fetch_sub(n as i64, Relaxed);
    }

    /// What the pool holds (negative: owed).
    #[cfg(test)]
    pub(crate) fn available(&self) -> i64 {
        self.pool.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_there_is_and_pays_debts_first() {
        let room = Room::new(10);
        assert_eq!(room.take(4), 4);
        assert_eq!(room.take(10), 6);
        assert_eq!(room.take(1), 0);
        room.force(3);
        assert_eq!(room.available(), -3);
        room.give(2);
        assert_eq!(room.take(1), 0);
        room.give(2);
        assert_eq!(room.take(5), 1);
    }
}
