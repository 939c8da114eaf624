//! The lock-striped table: a power-of-two array of shards, each a
//! reader-biased `parking_lot::RwLock` (see `biased`) around a
//! [`ShardState`], padded to its own cache lines, and the hashing that
//! picks a key's shard.
//!
//! # Ground rules
//!
//! - A key is hashed once (`Table::hash`); the hash picks the shard and is
//!   passed down to the shard's index.
//! - Each shard's lock guards everything in its `ShardState`: the index,
//!   the entries, their values and deadlines, the shard's timing wheel, its
//!   eviction policy, its share of the capacity and its loads in flight. A
//!   key's whole life (write, re-time, expiry, removal) happens under the
//!   lock of its one shard, so the expiry path re-checks the deadline under
//!   the same lock that writers take: a timer can never remove an entry that
//!   was rewritten or re-timed after it was armed.
//! - Reads take the lock shared; writes and expiry take it exclusive. No
//!   call holds two shard locks at once, so there is no lock order to keep.
//!   A shard that has been only read for a while (64 reads, no write
//!   between) goes *biased*: its readers then hold it through a slot of
//!   their own instead of the lock's word, so that reads on several cores
//!   write no line in common, and its next writer waits for those slots to
//!   clear (see `biased`).
//! - No user code runs under a shard lock but the key's `Hash`/`Eq` and the
//!   value's `Clone` (see `shard` for what a panic there does). Removed keys
//!   and values leave the shard by value and are dropped, or handed to the
//!   removal listener, after the lock is released.
//! - A caller that finds the lock taken waits for it in three stages (see
//!   `Shard::read`): it spins briefly, then yields its core a number of
//!   times, and only then sleeps in the lock's queue (a writer that then
//!   waits for biased readers to leave does the same, sleeping 50 µs at a
//!   time, see `biased`). Holds are short
//!   (expiry releases the lock after each step of its wheel), so a waiter
//!   nearly always gets the lock before sleeping; a sleeper costs a futex
//!   wake-up (tens of µs) and, woken next to the thread that woke it, can
//!   keep that thread off its core while it holds another shard's lock.
//! - Beside each lock, read without it: the counters (written by lock
//!   holders with plain stores), `next_due`, a lower bound of the
//!   shard's earliest due tick, lowered and raised only under the lock,
//!   and where the shard's index lies (written under the lock when the
//!   index's table moves), which a call reads only to start fetching the
//!   lines its lookup will read: a stale copy costs a wasted fetch, never
//!   a wrong read.

mod biased;
mod counters;
mod entry;
mod index;
mod policy;
mod shard;
mod sketch;
mod vacancies;

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::time::Duration;

use parking_lot::RwLockWriteGuard;

use biased::{BiasedLock, ReadGuard};

pub(crate) use counters::{Counters, Event};
pub(crate) use shard::{Layout, Parts, Reaped, ShardState};

use crate::time::NEVER;

/// One stripe: its lock, its counters and its published next due tick,
/// alone on their cache lines.
///
/// Laid out for the read path: the bias flag, the lock word and the start
/// of the state (the entries' and the index's pointers) share the first
/// cache line; the reader slots come after the state.
#[repr(C, align(128))]
pub(crate) struct Shard<K, V, P> {
    pub(crate) state: BiasedLock<ShardState<K, V, P>>,
    pub(crate) counters: Counters,
    /// No timer of this shard is due before the tick that starts here
    /// (nanoseconds); `NEVER` without timers. Written under the write lock.
    next_due: AtomicU64,
    /// A copy of the index's `Probe`, for a call to start fetching the
    /// index's lines before it takes the lock. Written under the write
    /// lock, and only when the index's table moved.
    probe: Published,
}

/// A shard's published `Probe`, on a cache line of its own: the writes'
/// counters and `next_due` are written often, this line seldom, so a
/// reader's core keeps it.
#[derive(Default)]
#[repr(align(64))]
struct Published {
    end: AtomicUsize,
    mask: AtomicUsize,
}

impl Published {
    /// The probe as last published; its two fields are read apart.
    #[inline]
    fn load(&self) -> index::Probe {
        index::Probe { end: self.end.load(Relaxed), mask: self.mask.load(Relaxed) }
    }

    fn store(&self, probe: index::Probe) {
        self.end.store(probe.end, Relaxed);
        self.mask.store(probe.mask, Relaxed);
    }
}

impl<K, V, P> Shard<K, V, P> {
    /// Where no timer of the shard is due before (a lower bound).
    #[inline]
    pub(crate) fn next_due(&self) -> u64 {
        self.next_due.load(SeqCst)
    }

    /// Publishes the shard's next due tick after a change of its wheel,
    /// and its index's probe after the index's table moved; the `&mut
    /// ShardState` comes from the caller's write lock. What did not change
    /// since the shard last published costs one flag's read.
    #[inline]
    pub(crate) fn publish(&self, locked: &mut ShardState<K, V, P>) {
        if let Some(probe) = locked.probe_moved() {
            self.probe.store(probe);
        }
        let Some(next) = locked.wheel_changed() else {
            return;
        };
        if self.next_due.load(Relaxed) != next {
            self.next_due.store(next, SeqCst);
        }
    }

    /// Starts fetching the index lines that a lookup of `hash` reads
    /// first, by the published probe, so that their misses overlap the
    /// taking of the lock (and a write's clock reading) instead of
    /// following it. A probe gone stale, or torn by a concurrent
    /// publishing, names lines no lookup reads: a wasted hint, never a
    /// read.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        index::prefetch_probe(self.probe.load(), hash);
    }

    /// The published probe, and the index's own, for tests.
    #[cfg(test)]
    pub(crate) fn probes(&self) -> (index::Probe, index::Probe) {
        (self.probe.load(), self.state.read().probe())
    }

    /// The shard's lock, shared: biased if it can be (see `biased`).
    #[inline(always)]
    pub(crate) fn read(&self) -> ReadGuard<'_, ShardState<K, V, P>> {
        match self.state.try_read() {
            Some(state) => state,
            None => wait(|| self.state.try_read()).unwrap_or_else(|| self.state.read()),
        }
    }

    /// The shard's lock, exclusive.
    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, ShardState<K, V, P>> {
        match self.state.try_write() {
            Some(state) => state,
            None => wait(|| self.state.try_write()).unwrap_or_else(|| self.state.write()),
        }
    }

    /// The shard's lock, exclusive, if it comes within [`SOON`]; `None`
    /// rather than waiting longer behind a holder that stays (a write
    /// growing the shard's vectors, a caller's `Hash` or `Eq` that blocks,
    /// or a holder whose thread lost its core). It waits in the lock's
    /// queue, so that a stream of readers cannot keep it out.
    #[inline]
    pub(crate) fn write_soon(&self) -> Option<RwLockWriteGuard<'_, ShardState<K, V, P>>> {
        // The timed wait tries at once before it waits.
        self.state.try_write_for(SOON)
    }
}

/// How long the expiry thread waits for a shard's lock before it passes
/// the shard by for the time being (`Shard::write_soon`): half its slice
/// of a cache's turn.
const SOON: Duration = Duration::from_micros(100);

/// Rounds of spinning on a taken lock, each twice as long as the one before
/// (up to 64 spin-loop hints): a few µs in all.
const SPIN_ROUNDS: u32 = 8;
/// Yields of the core on a taken lock after spinning, before sleeping in
/// its queue: tens of µs, enough to ride out a hold stretched by an
/// interrupt, and to let a holder that shares the core finish.
const YIELDS: u32 = 64;

/// Tries `attempt` while spinning and then yielding; `None` if the lock is
/// still taken after all of it.
#[cold]
fn wait<G>(mut attempt: impl FnMut() -> Option<G>) -> Option<G> {
    for round in 0..SPIN_ROUNDS {
        for _ in 0..1u32 << round.min(6) {
            std::hint::spin_loop();
        }
        if let Some(guard) = attempt() {
            return Some(guard);
        }
    }
    for _ in 0..YIELDS {
        std::thread::yield_now();
        if let Some(guard) = attempt() {
            return Some(guard);
        }
    }
    None
}

/// The shards and the hasher.
pub(crate) struct Table<K, V, P, S> {
    shards: Box<[Shard<K, V, P>]>,
    hasher: S,
    /// `hash >> shift` (masked) is the shard index.
    shift: u32,
    mask: usize,
}

impl<K, V, P, S: BuildHasher> Table<K, V, P, S> {
    /// A table of `shards` shards (a power of two) laid out as `layout`,
    /// whose wheels stand at `now`.
    pub(crate) fn new(shards: usize, hasher: S, layout: Layout, now: u64) -> Self {
        debug_assert!(shards.is_power_of_two() && shards <= 1 << 16);
        let bits = shards.trailing_zeros();
        Table {
            shards: (0..shards)
                .map(|_| Shard {
                    state: BiasedLock::new(ShardState::new(layout, shards, now)),
                    counters: Counters::default(),
                    next_due: AtomicU64::new(NEVER),
                    probe: Published::default(),
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

    /// The shard of a key with this hash.
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &Shard<K, V, P> {
        &self.shards[self.shard_index(hash)]
    }

    /// The shard of a key with this hash, which starts fetching the lines
    /// of its index that a lookup of the key reads first
    /// ([`Shard::prefetch`]): for a call about to take the lock and look
    /// the key up.
    #[inline]
    pub(crate) fn locate(&self, hash: u64) -> &Shard<K, V, P> {
        let shard = self.shard(hash);
        shard.prefetch(hash);
        shard
    }

    /// The index of the shard of a key with this hash.
    #[inline]
    pub(crate) fn shard_index(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize & self.mask
    }
}

impl<K, V, P, S> Table<K, V, P, S> {
    pub(crate) fn shards(&self) -> &[Shard<K, V, P>] {
        &self.shards
    }
}

#[cfg(test)]
mod tests {
    use std::mem;

    use super::*;
    use crate::time::Tick;

    #[test]
    fn a_lookup_reads_the_lock_words_line_and_one_line_that_steady_writes_leave_alone() {
        let layout = Layout {
            tick: Tick::new(1_000_000),
            idle: None,
            weighted: false,
            share: None,
            most: 0,
        };
        let shard: Shard<String, String, ()> = Shard {
            state: BiasedLock::new(ShardState::new(layout, 1, 0)),
            counters: Counters::default(),
            next_due: AtomicU64::new(NEVER),
            probe: Published::default(),
        };
        let at = |address: usize| address - (&raw const shard).addr();
        let state = shard.state.read();
        let (entries, index, hint, renews) = state.lookup_fields();
        // The bias flag and the lock word, then the index's first hash
        // table's header (control pointer, mask and counts, 32 bytes).
        let (bias, word) = shard.state.words();
        assert_eq!(at(bias), 0, "the bias flag comes first");
        assert!(at(word) + 8 <= 64, "the lock word at {}", at(word));
        assert!(at(index) + 32 <= 64, "the index at {}", at(index));
        // A hit reads the index's hint, the entry vector's pointer and
        // length, and the idle flag: they have the next line, which a
        // steady write leaves alone.
        assert!((64..128).contains(&at(hint)) && at(hint) + 8 <= 128, "the hint at {}", at(hint));
        assert!(
            (64..128).contains(&at(entries)) && at(entries) + 24 <= 128,
            "entries at {}",
            at(entries)
        );
        assert!((64..128).contains(&at(renews)), "the idle flag at {}", at(renews));
        // The published probe has a line that no write stores into.
        let line = |address: usize| at(address) / 64;
        let probe = (&raw const shard.probe).addr();
        assert_eq!(at(probe) % 64, 0, "the published probe at {}", at(probe));
        for other in [(&raw const shard.counters).addr(), (&raw const shard.next_due).addr()] {
            assert_ne!(line(other), line(probe), "a field at {} shares its line", at(other));
        }
        assert!(at(probe) + 64 <= mem::size_of_val(&shard), "within the shard");
    }
}
