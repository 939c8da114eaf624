//! Removing expired entries, for the expiry thread and for callers.
//!
//! A shard is reaped in short lock holds: at most [`HOLD_STEPS`] steps of
//! the wheel (a removal, or a few timers filed again) and at most
//! [`HOLD_NANOS`] on the cache's clock, after which the lock is released
//! with parking_lot's fair unlock, which hands it to a waiting reader or
//! writer before the reaper can take it back. Keys and values leave the
//! lock by value; they are dropped, or reported, between holds. A shard
//! left mostly vacant is then compacted, in holds of a few moves.

use std::hash::{BuildHasher, Hash};

use parking_lot::RwLockWriteGuard;

use super::Inner;
use crate::listener::RemovalCause;
use crate::table::{Event, Parts, Reaped, Shard};
use crate::time::NEVER;
use crate::unwind;

use super::load::Load;

/// Wheel steps per hold of a shard lock.
pub(crate) const HOLD_STEPS: usize = 16;
/// The longest hold of a shard lock while reaping, in nanoseconds.
pub(crate) const HOLD_NANOS: u64 = 4_000;
/// Entries moved per hold while compacting.
const COMPACT_MOVES: usize = 16;

/// Where the removals of a reap are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Queued for the delivery pool (the expiry thread).
    Background,
    /// To the listener on this thread (a caller).
    Inline,
}

/// What a reap of one shard did, for the tests of its holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Holds {
    /// Lock holds taken.
    pub(crate) holds: usize,
    /// Entries removed.
    pub(crate) removed: usize,
    /// The most steps in one hold.
    pub(crate) longest: usize,
    /// Whether nothing due is left.
    pub(crate) done: bool,
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
    pub(crate) fn run_background(&self, now: u64, until: u64) -> bool {
        // The thread's reset (see `expiry`): writers lower it again.
        self.next_due.store(NEVER, std::sync::atomic::Ordering::SeqCst);
        let shards = self.table.shards();
        let start = self.cursor.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut done = true;
        for n in 0..shards.len() {
            let shard = &shards[(start + n) % shards.len()];
            let due = shard.next_due();
            if due != NEVER && due.saturating_add(self.tick) <= now {
                if self.clock.now() < until {
                    done &= self.reap_shard(shard, now, until, Mode::Background).done;
                } else {
                    done = false;
                }
            }
            let next = shard.next_due().saturating_add(self.tick);
            self.next_due.fetch_min(next, std::sync::atomic::Ordering::SeqCst);
        }
        done
    }

    /// Reaps every entry expired by now, in every shard, on this thread,
    /// and compacts the shards left mostly vacant.
    pub(crate) fn run_pending(&self) {
        let now = self.clock.now();
        let driven = self.registration.get().is_some();
        if !driven {
            // No expiry thread reads the bound: recompute it here.
            self.next_due.store(NEVER, std::sync::atomic::Ordering::SeqCst);
        }
        for shard in self.table.shards() {
            if shard.next_due() <= now {
                self.reap_shard(shard, now, NEVER, Mode::Inline);
            } else if shard.state.read().is_sparse() {
                self.compact(shard, NEVER);
            }
            if !driven {
                let next = shard.next_due().saturating_add(self.tick);
                self.next_due.fetch_min(next, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    /// Reaps what is due at `now` in one shard, in bounded holds, until
    /// nothing is due or the cache's clock reaches `until`.
    pub(crate) fn reap_shard(
        &self,
        shard: &Shard<K, V, Load<V>>,
        now: u64,
        until: u64,
        mode: Mode,
    ) -> Holds {
        let hasher = self.table.hasher();
        let mut report = Holds::default();
        let mut parts: Vec<Parts<K, V>> = Vec::new();
        loop {
            let mut state = shard.state.write();
            if report.holds == 0 {
                state.begin_reaping();
            }
            let started = self.clock.now();
            let (mut steps, mut freed) = (0, 0);
            while steps < HOLD_STEPS {
                steps += 1;
                match state.reap_step(now, &hasher) {
                    Reaped::Expired(entry, weight) => {
                        parts.push(entry);
                        freed += weight;
                    }
                    Reaped::Progress => {}
                    Reaped::Done => {
                        report.done = true;
                        break;
                    }
                }
                if steps % 4 == 0 && self.clock.now().saturating_sub(started) >= HOLD_NANOS {
                    break;
                }
            }
            shard.counters.add(&mut state, Event::Expiration, parts.len() as u64);
            shard.publish(&state);
            let sparse = report.done && state.is_sparse();
            RwLockWriteGuard::unlock_fair(state);
            report.holds += 1;
            report.removed += parts.len();
            report.longest = report.longest.max(steps);
            if let Some(room) = &self.room {
                room.give(freed);
            }
            self.dispose(&mut parts, RemovalCause::Expired, mode);
            if report.done {
                if sparse {
                    self.compact(shard, until);
                }
                return report;
            }
            if self.clock.now() >= until {
                return report;
            }
        }
    }

    /// Compacts a mostly vacant shard, in holds of a few moves, until done
    /// or the clock reaches `until`.
    fn compact(&self, shard: &Shard<K, V, Load<V>>, until: u64) {
        let hasher = self.table.hasher();
        loop {
            let mut state = shard.state.write();
            let done = state.compact_step(COMPACT_MOVES, &hasher);
            RwLockWriteGuard::unlock_fair(state);
            if done || self.clock.now() >= until {
                return;
            }
        }
    }

    /// Hands one entry a call removed to the listener on this thread, or
    /// drops it; outside every lock.
    pub(crate) fn dispose_one(&self, (key, value): Parts<K, V>, cause: RemovalCause) {
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
        let mut notices = Vec::with_capacity(parts.len());
        for (key, value) in parts.drain(..) {
            match value {
                Some(value) => notices.push((key, value, cause)),
                None => {
                    unwind::catch(|| drop(key));
                }
            }
        }
        match mode {
            Mode::Background => notifier.background(notices),
            Mode::Inline => notifier.report(notices),
        }
    }
}
