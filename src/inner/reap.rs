//! Removing expired entries, for the expiry thread and for callers.
//!
//! A shard is reaped `STEPS` steps of its wheel per hold of its lock (a
//! step is a removal, or a few timers filed again): some hundreds of
//! nanoseconds. The lock is
//! released with parking_lot's fair unlock, which hands it to a sleeping
//! waiter, if any, before the reaper can take it back. Keys and values
//! leave the lock by value; they are dropped, or reported, between holds.
//! The expiry thread takes one hold of each due shard in turn, then works
//! on a few at a time (`GROUP`), a hold each in turn, so that a shard it
//! lets go of stays free while it holds the others: a reader spinning for
//! that shard gets it at once. A shard left mostly vacant is then
//! compacted, again a step per hold.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use parking_lot::RwLockWriteGuard;

use super::Inner;
use crate::listener::RemovalCause;
use crate::table::{Event, Parts, Shard, ShardState};
use crate::time::NEVER;
use crate::unwind;

use super::load::Load;

/// Who reaps, which says where the removals are reported and how a
/// shard's lock is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The expiry thread: removals are queued for the delivery pool, and
    /// a shard whose lock does not come soon is passed by for the time
    /// being (`Shard::write_soon`). The thread serves every cache of the
    /// process: sleeping behind a holder of one cache's shard that stays
    /// (a write growing it, or one whose thread lost its core) would hold
    /// up all the others' expiry. Beside a cache expiring 1M entries a
    /// second and written to all the while, the thread was seen waiting
    /// up to 4 ms for a shard's lock.
    Background,
    /// A caller: removals go to the listener on its thread, and it waits
    /// for a shard's lock as long as it takes.
    Inline,
}

impl Mode {
    /// The lock of `shard`, exclusive, waited for as this mode waits;
    /// `None` if the expiry thread passes the shard by.
    #[inline]
    fn lock<K, V, P>(
        self,
        shard: &Shard<K, V, P>,
    ) -> Option<RwLockWriteGuard<'_, ShardState<K, V, P>>> {
        match self {
            Mode::Background => shard.write_soon(),
            Mode::Inline => Some(shard.write()),
        }
    }
}

/// Where a pass of reaping over one shard stands.
#[derive(Clone, Copy, Debug, Default)]
struct Pass {
    /// Whether the pass took its first hold.
    begun: bool,
    /// Whether nothing due is left.
    done: bool,
}

/// Entries removed by reaping, not yet disposed of: they are handed on in
/// batches, so that the listener's bookkeeping is paid per batch.
struct Removed<K, V> {
    parts: Vec<Parts<K, V>>,
    /// Their weight, to give back to the capacity pool.
    freed: u64,
}

impl<K, V> Default for Removed<K, V> {
    fn default() -> Self {
        Removed { parts: Vec::new(), freed: 0 }
    }
}

/// The expiry thread's working memory for one cache: allocated when the
/// cache is built (on the building thread) and reused for every turn, so
/// that the thread allocates nothing while it reaps. An allocation there
/// is not always cheap: a thread's first large request from an allocator
/// arena that an exited thread left full of small free chunks makes glibc
/// consolidate them all first, which took 100 ms and more after another
/// workload had freed a million small objects.
pub(crate) struct Scratch<K, V> {
    /// The due shards of a turn (by index) and where each one's pass stands.
    due: Vec<(usize, Pass)>,
    /// The shards a turn left mostly vacant, to compact.
    sparse: Vec<usize>,
    removed: Removed<K, V>,
}

impl<K, V> Scratch<K, V> {
    pub(crate) fn new(shards: usize) -> Self {
        Scratch {
            due: Vec::with_capacity(shards),
            sparse: Vec::with_capacity(shards),
            removed: Removed { parts: Vec::with_capacity(DISPOSE_BATCH + STEPS), freed: 0 },
        }
    }
}

/// Steps of the wheel a reaper takes per hold of a shard's lock. One step
/// a hold pays a lock handover per removal, which at a million expiries a
/// second kept the expiry thread busy nearly all the time; two steps halve
/// that, while a hold stays well under a microsecond. The keys of a hold's
/// removals are hashed together, so their cache misses overlap.
const STEPS: usize = 2;
/// Removed entries gathered before they are disposed of together.
const DISPOSE_BATCH: usize = 64;
/// Due shards the expiry thread works on at once once a turn's first round
/// is over, a hold each in turn; the next due shard joins as one is done.
///
/// Every hold writes the shard's lock word, on the line a reader's `get`
/// writes too (or, in a biased shard, reads), and a line the expiry
/// thread wrote last has to come over from its core. Taking every due shard in turn for as long as a mass
/// expiry lasts (it makes every shard due) kept the lines of all of them
/// moving; a group keeps that to a few shards, and with two or more the
/// shard the thread lets go of stays free while it holds the others. In
/// ten runs each of the compare package's `storm` workload (300k entries
/// of the reader's cache expiring in 50 ms, 32 shards), with every round a
/// group, the reader's throughput during the storm was 0.75× its quiet
/// figure (0.68–0.86) with all the due shards taken in turn, 0.92×
/// (0.78–1.02) with groups of two, 0.92× (0.84–1.10) of four and 0.88×
/// (0.79–0.93) of eight; its `get` p99.9 ratio moved within the runs'
/// spread: 1.27× (1.14–1.41), 1.25× (1.09–1.44), 1.22× (1.06–1.50) and
/// 1.26× (1.10–1.79).
const GROUP: usize = 4;

/// Holds the `due` shards (by index, each with its pass) until none is
/// left or `more` says stop: a first round takes one hold of each, in
/// order, then rounds take the first `GROUP` still due; `hold` takes a
/// hold, and a shard done leaves `due`, whose order the rest keep.
///
/// The first round removes what is due soonest across the shards: when the
/// thread keeps up, a tick leaves a shard a few due entries, and one hold
/// takes most of them, as taking every due shard in turn did. Groups from
/// the first round on would put the later entries of a shard's tick, and
/// the timers it files again, before the first entries of the shards
/// after it: in eight runs each of the compare package's `lateness`
/// workload, taking turns, the p99 lateness was 1.02 ms (1.00–1.05) with every due
/// shard taken in turn, 1.045 ms (1.01–1.08) with groups from the first
/// round, and 1.03 ms (1.02–1.11) with this first round; in eight runs of
/// `storm` taking turns with them, the reader's throughput during the
/// storm was 0.79× its quiet figure (0.40–0.97), 0.89× (0.75–1.08) and
/// 0.94× (0.62–1.22), its `get` p99.9 1.26×, 1.18× and 1.16×.
fn hold_rounds(
    due: &mut Vec<(usize, Pass)>,
    mut more: impl FnMut() -> bool,
    mut hold: impl FnMut(usize, &mut Pass),
) {
    let mut group = due.len();
    while !due.is_empty() && more() {
        let n = group.min(due.len());
        for (i, pass) in &mut due[..n] {
            hold(*i, pass);
        }
        due.retain(|(_, pass)| !pass.done);
        group = GROUP;
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    /// The expiry thread's turn at this cache: reaps the shards whose due
    /// tick has ended by `now` (on the real clock), stopping at `until`,
    /// and publishes the cache's next due time; returns whether nothing
    /// due is left.
    ///
    /// The due shards are reaped a hold each in turn, all of them once,
    /// then `GROUP` at a time (see `hold_rounds`): a shard the thread lets
    /// go of stays free while it holds the others, so a reader waiting for
    /// it gets in at once instead of racing the thread for it, and in a
    /// mass expiry the shards outside the group see no lock traffic.
    pub(crate) fn run_background(&self, now: u64, until: u64) -> bool {
        // The thread's reset (see `expiry`): writers lower it again.
        self.next_due.store(NEVER, SeqCst);
        let shards = self.table.shards();
        let start = self.cursor.fetch_add(1, Relaxed);
        // Only the expiry thread takes the scratch memory.
        let mut scratch = self.scratch.lock();
        let Scratch { due, sparse, removed } = &mut *scratch;
        due.clear();
        sparse.clear();
        due.extend(
            (0..shards.len())
                .map(|n| (start + n) % shards.len())
                .filter(|&i| {
                    let due = shards[i].next_due();
                    due != NEVER && due.saturating_add(self.tick.nanos()) <= now
                })
                .map(|i| (i, Pass::default())),
        );
        hold_rounds(
            due,
            || self.clock.now() < until,
            |i, pass| {
                if self.reap_hold(&shards[i], now, pass, removed, Mode::Background) == Some(true) {
                    sparse.push(i);
                }
                self.dispose_some(removed, Mode::Background);
            },
        );
        self.dispose_removed(removed, Mode::Background);
        for &i in sparse.iter() {
            if self.clock.now() >= until {
                break;
            }
            self.compact(&shards[i], until, Mode::Background);
        }
        for shard in shards {
            let next = shard.next_due().saturating_add(self.tick.nanos());
            self.next_due.fetch_min(next, SeqCst);
        }
        due.is_empty()
    }

    /// Reaps every entry expired by now, in every shard, on this thread,
    /// and compacts the shards left mostly vacant.
    pub(crate) fn run_pending(&self) {
        let now = self.clock.now();
        let driven = self.registration.get().is_some();
        if !driven {
            // No expiry thread reads the bound: recompute it here.
            self.next_due.store(NEVER, SeqCst);
        }
        for shard in self.table.shards() {
            if shard.next_due() <= now {
                self.reap_shard(shard, now, NEVER, Mode::Inline);
            } else if shard.read().is_sparse() {
                self.compact(shard, NEVER, Mode::Inline);
            }
            if !driven {
                let next = shard.next_due().saturating_add(self.tick.nanos());
                self.next_due.fetch_min(next, SeqCst);
            }
        }
    }

    /// Reaps what is due at `now` in one shard, a step per hold, until
    /// nothing is due or the cache's clock reaches `until`; compacts the
    /// shard if that leaves it mostly vacant.
    pub(crate) fn reap_shard(
        &self,
        shard: &Shard<K, V, Load<V>>,
        now: u64,
        until: u64,
        mode: Mode,
    ) {
        let mut pass = Pass::default();
        let mut removed = Removed::default();
        loop {
            let sparse = self.reap_hold(shard, now, &mut pass, &mut removed, mode);
            self.dispose_some(&mut removed, mode);
            if sparse == Some(true) {
                self.compact(shard, until, mode);
            }
            if pass.done || self.clock.now() >= until {
                self.dispose_removed(&mut removed, mode);
                return;
            }
        }
    }

    /// One hold of a shard's lock while reaping what is due at `now`:
    /// `STEPS` steps of the wheel (removals, or timers filed again). What it
    /// removes joins `removed`, to be disposed of outside the lock. Returns
    /// whether the shard is done and mostly vacant; `None`, having done
    /// nothing, if the expiry thread passed the shard by (see `Mode`).
    fn reap_hold(
        &self,
        shard: &Shard<K, V, Load<V>>,
        now: u64,
        pass: &mut Pass,
        removed: &mut Removed<K, V>,
        mode: Mode,
    ) -> Option<bool> {
        let mut state = mode.lock(shard)?;
        if !pass.begun {
            state.begin_reaping();
            pass.begun = true;
        }
        let before = removed.parts.len();
        pass.done = state.reap_steps(now, STEPS, &self.table.hasher(), |entry, weight| {
            removed.parts.push(entry);
            removed.freed += weight;
        });
        let n = removed.parts.len() - before;
        shard.counters.add(&mut state, Event::Expiration, n as u64);
        shard.publish(&mut state);
        let sparse = pass.done && state.is_sparse();
        RwLockWriteGuard::unlock_fair(state);
        Some(sparse)
    }

    /// Disposes of what holds removed once `DISPOSE_BATCH` entries have
    /// gathered.
    fn dispose_some(&self, removed: &mut Removed<K, V>, mode: Mode) {
        if removed.parts.len() >= DISPOSE_BATCH {
            self.dispose_removed(removed, mode);
        }
    }

    /// Gives back the room of what holds removed, and disposes of it.
    fn dispose_removed(&self, removed: &mut Removed<K, V>, mode: Mode) {
        if let Some(room) = &self.room {
            room.give(std::mem::take(&mut removed.freed));
        }
        self.dispose(&mut removed.parts, RemovalCause::Expired, mode);
    }

    /// Compacts a mostly vacant shard, a step per hold, until done or
    /// the clock reaches `until`, or until the expiry thread passes the
    /// shard by (it is compacted another time).
    fn compact(&self, shard: &Shard<K, V, Load<V>>, until: u64, mode: Mode) {
        let hasher = self.table.hasher();
        loop {
            let Some(mut state) = mode.lock(shard) else {
                return;
            };
            let done = state.compact_step(&hasher);
            // Moving an entry first makes the timer moves its shard owes,
            // which can bring its first due tick earlier.
            shard.publish(&mut state);
            RwLockWriteGuard::unlock_fair(state);
            if done || self.clock.now() >= until {
                return;
            }
        }
    }

    /// Hands one entry a call removed to the listener on this thread, or
    /// drops it; outside every lock.
    #[inline]
    pub(crate) fn dispose_one(&self, parts: Parts<K, V>, cause: RemovalCause) {
        // Nothing to report and nothing to drop (plain keys and values):
        // the write's commit costs no call.
        if self.notifier.is_some() || std::mem::needs_drop::<Parts<K, V>>() {
            self.report_one(parts, cause);
        }
    }

    #[inline(never)]
    fn report_one(&self, (key, value): Parts<K, V>, cause: RemovalCause) {
        match (&self.notifier, value) {
            (Some(notifier), Some(value)) => notifier.report([(key, value, cause)]),
            (_, value) => {
                unwind::catch(|| drop((key, value)));
            }
        }
    }

    /// Hands removed entries to the listener (queued for the pool, or on
    /// this thread), or drops them; outside every lock. A panicking `Drop`
    /// of one does not stop the others.
    pub(crate) fn dispose(&self, parts: &mut Vec<Parts<K, V>>, cause: RemovalCause, mode: Mode) {
        let Some(notifier) = &self.notifier else {
            for entry in parts.drain(..) {
                unwind::catch(|| drop(entry));
            }
            return;
        };
        // Straight from `parts`, which keeps its memory: nothing allocated.
        let notices = parts.drain(..).filter_map(|(key, value)| match value {
            Some(value) => Some((key, value, cause)),
            None => {
                unwind::catch(|| drop(key));
                None
            }
        });
        match mode {
            Mode::Background => notifier.background(notices),
            Mode::Inline => notifier.report(notices),
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Cache, MockClock};

    /// The due shards are held once each, in order, then a group at a
    /// time: a shard done makes room for the next; rounds stop when told.
    #[test]
    fn due_shards_are_held_once_each_then_a_group_at_a_time() {
        // Holds each of ten shards needs (shard `i` needs `needs[i]`).
        let needs = [2, 1, 3, 1, 1, 2, 5, 1, 1, 2];
        let run = |rounds: usize| {
            let mut left = needs;
            let mut due: Vec<(usize, Pass)> =
                (0..needs.len()).map(|i| (i, Pass::default())).collect();
            let (mut order, mut asked) = (Vec::new(), 0);
            hold_rounds(
                &mut due,
                || {
                    asked += 1;
                    asked <= rounds
                },
                |i, pass| {
                    left[i] -= 1;
                    pass.done = left[i] == 0;
                    order.push(i);
                },
            );
            (order, due.iter().map(|(i, _)| *i).collect::<Vec<_>>(), left)
        };
        let (order, due, left) = run(usize::MAX);
        assert!(due.is_empty());
        assert_eq!(left, [0; 10], "every shard got the holds it needed");
        assert_eq!(&order[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "the first round: all");
        // Left due: 0, 2, 5, 6 and 9; a group of four, then 9 joins as 0
        // and 5 are done.
        assert_eq!(&order[10..], &[0, 2, 5, 6, 2, 6, 9, 6, 6]);
        assert_eq!(GROUP, 4, "the orders above are for groups of four");
        let (order, due, _) = run(2);
        assert_eq!(order.len(), 14, "two rounds");
        assert_eq!(due, [2, 6, 9], "still due, in order");
    }

    /// A cache of `shards` shards holding `keys` entries whose TTLs spread
    /// over `spread` ms, `advance` ms later on its mock clock.
    fn aged(shards: usize, keys: u64, spread: u64, advance: u64) -> Cache<u64, u64> {
        let clock = MockClock::new();
        let cache = Cache::builder().clock(clock.clone()).shards(shards).build().unwrap();
        for k in 0..keys {
            cache.setx(k, k, Some(Duration::from_millis(1 + k % spread)));
        }
        clock.advance(Duration::from_millis(advance));
        cache
    }

    #[test]
    fn a_hold_takes_a_bounded_number_of_steps_of_the_wheel() {
        let cache = aged(1, 300, 200, 250);
        let inner = cache.inner();
        let shard = &inner.table.shards()[0];
        let now = inner.clock.now();
        let (mut pass, mut removed) = (Pass::default(), Removed::default());
        let mut holds = 0;
        while !pass.done {
            let before = removed.parts.len();
            inner.reap_hold(shard, now, &mut pass, &mut removed, Mode::Inline);
            let n = removed.parts.len() - before;
            assert!(n <= STEPS, "a hold removed {n} entries");
            holds += 1;
        }
        assert_eq!(removed.parts.len(), 300);
        // Steps that file timers again (from the coarser levels) take holds
        // of their own.
        assert!(holds > 300 / STEPS, "{holds} holds");
        inner.dispose_removed(&mut removed, Mode::Inline);
        cache.assert_invariants();
        assert_eq!(cache.len(), 0);
    }

    /// A shard's published bound is a lower bound: an earlier timer lowers
    /// it at once, a removal leaves it early, and the next reaping pass,
    /// finding nothing due there, makes it exact again.
    #[test]
    fn a_bound_left_early_by_a_removal_is_made_exact_by_the_next_pass() {
        const MS: u64 = 1_000_000;
        let clock = MockClock::new();
        let cache: Cache<u64, u64> =
            Cache::builder().clock(clock.clone()).shards(1).build().unwrap();
        cache.setx(2, 2, Some(Duration::from_secs(10)));
        let inner = cache.inner();
        let shard = &inner.table.shards()[0];
        let late = shard.next_due();
        assert!(late > 5 * MS && late <= 10_000 * MS, "{late}");
        cache.setx(1, 1, Some(Duration::from_millis(5)));
        let early = shard.next_due();
        assert!(early <= 5 * MS, "{early}: not lowered by the earlier timer");
        assert_eq!(cache.pop(&1), Some(1));
        assert_eq!(shard.next_due(), early, "a removal leaves the bound");
        cache.assert_invariants();
        clock.advance(Duration::from_millis(10));
        cache.run_pending_tasks();
        assert_eq!(shard.next_due(), late, "the pass made the bound exact");
        assert_eq!(cache.get(&2), Some(2));
        cache.assert_invariants();
    }

    /// The expiry thread's turn reuses the cache's scratch memory: reaping
    /// a thousand entries (two hundred under Miri, which interprets every
    /// step) over many shards allocates nothing. (Compacting a shard left
    /// mostly vacant does allocate, to give memory back; a fifth of the
    /// entries expire here, too few for that.)
    #[test]
    fn a_turn_of_the_expiry_thread_allocates_nothing() {
        let keys = if cfg!(miri) { 1_000 } else { 5_000 };
        let cache = aged(8, keys, 100, 20);
        let inner = cache.inner();
        let before = crate::counting::allocations();
        let done = inner.run_background(inner.clock.now(), NEVER);
        let allocated = crate::counting::allocations() - before;
        assert!(done);
        assert_eq!(allocated, 0, "the turn allocated {allocated} times");
        let kept = keys as usize * 4 / 5;
        let left = cache.len();
        assert!(left.abs_diff(kept) <= kept / 80, "{left} left of {keys}, not about {kept}");
        cache.assert_invariants();
    }

    /// The expiry thread does not wait behind a caller that holds one
    /// cache's shard: another cache's entries expire meanwhile, and the
    /// held cache's once the shard is let go.
    #[test]
    #[cfg_attr(miri, ignore = "the real clock and the expiry thread")]
    fn the_expiry_thread_does_not_wait_for_a_held_shard() {
        use std::sync::mpsc;
        use std::time::Instant;

        let expired = |tx: mpsc::Sender<u64>| {
            move |key: u64, _: u64, cause: RemovalCause| {
                if cause == RemovalCause::Expired {
                    let _ = tx.send(key);
                }
            }
        };
        let (to_a, from_a) = mpsc::channel();
        let (to_b, from_b) = mpsc::channel();
        let a: Cache<u64, u64> =
            Cache::builder().shards(1).removal_listener(expired(to_a)).build().unwrap();
        let b: Cache<u64, u64> =
            Cache::builder().shards(1).removal_listener(expired(to_b)).build().unwrap();
        a.setx(1, 1, Some(Duration::from_millis(5)));
        let held = a.inner().table.shards()[0].write();
        b.setx(2, 2, Some(Duration::from_millis(20)));
        let start = Instant::now();
        // Generous: the thread was waiting for the shard for as long as
        // it was held, here for the whole wait.
        let b_expired = from_b.recv_timeout(Duration::from_secs(5));
        let waited = start.elapsed();
        drop(held);
        assert_eq!(
            b_expired,
            Ok(2),
            "B's entry not removed in {waited:?} while A's shard was held"
        );
        assert_eq!(from_a.recv_timeout(Duration::from_secs(5)), Ok(1), "A's entry, once let go");
    }
}
