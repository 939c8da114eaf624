//! A shard's lock: a `parking_lot::RwLock` that readers can also take
//! without writing its word, while no writer has come lately (reader
//! bias, after BRAVO: Dice and Kogan, USENIX ATC '19).
//!
//! A read through the lock writes the lock's word twice, on the way in and
//! out, and on two cores that word's line passes from one to the other on
//! nearly every read. A *biased* read writes instead a slot of the lock's
//! own that only its thread uses (the thread's number, see
//! `threads::slot`, modulo [`SLOTS`]), and reads the lock's bias flag, a
//! line that then stays in every reader's cache.
//!
//! The protocol, on `bias` and the slots (every access `SeqCst` where the
//! argument needs it):
//! - A reader that sees the bias on claims its slot (0 → 1), then reads the
//!   bias again. Still on: it reads the state and clears its slot
//!   (`Release`) when done. Off: it clears the slot and takes the lock; so
//!   does a reader whose slot another thread sharing its number holds
//!   (without claiming it).
//! - A writer takes the lock (which keeps out the readers through it and
//!   the other writers), and if the bias is on, turns it off and waits
//!   until every slot is clear. Claim-then-check on one side and
//!   clear-then-check on the other is Dekker's pattern: in the single
//!   order of `SeqCst` operations, either the writer's wait sees the
//!   reader's claim and waits for its release (whose `Release` store
//!   hands the reader's reads over to the writer's `Acquire`), or the
//!   reader's second check comes after the writer turned the bias off,
//!   and it backs out.
//! - The bias is turned on only by a reader holding the lock (so no writer
//!   is in), after [`STREAK`] reads in a row through the lock with no
//!   writer between; its `Release` store hands everything the lock's last
//!   writer did to the biased readers that see it. A writer always reads
//!   the bias after taking the lock, so it sees every such store made
//!   before.
//!
//! So a lock that writers come to often stays unbiased (a writer then
//! pays one more load), and one that is only read soon goes biased, where
//! the first writer pays for a look at each slot.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Reader slots of a lock, each on its own cache line. Threads whose
/// numbers agree modulo this share a slot: the second to come reads
/// through the lock.
const SLOTS: usize = 8;
/// Reads through the lock in a row, with no writer between, after which
/// readers go biased (under Miri fewer, so that its few reads and writes
/// often meet across a turn of the bias).
const STREAK: u32 = if cfg!(miri) { 4 } else { 64 };

/// Spins, then yields, of a writer waiting for a biased reader to leave,
/// before it sleeps 50 µs at a time.
const SPINS: u32 = 64;
const YIELDS: u32 = 64;

/// The lock. See the module docs.
#[repr(C)]
pub(crate) struct BiasedLock<T> {
    /// Whether readers may take their slot instead of the lock (1) or not
    /// (0). With `streak` and the lock's word, on the line that a read
    /// reads first.
    bias: AtomicU32,
    /// Reads through the lock since a writer last took it; counted with
    /// plain stores, so that two readers at once may count one.
    streak: AtomicU32,
    lock: RwLock<T>,
    slots: [Slot; SLOTS],
}

/// One reader slot: 1 while a biased reader holds it.
#[derive(Default)]
#[repr(align(64))]
struct Slot(AtomicU32);

/// A shared hold of the lock, either way it was taken; released by the
/// thread that took it, as the lock's own guards are (not `Send`).
pub(crate) struct ReadGuard<'a, T> {
    lock: &'a BiasedLock<T>,
    /// The slot a biased read claimed; `None`: the read holds the lock
    /// shared (its guard forgotten, see `through`).
    slot: Option<&'a AtomicU32>,
    _not_send: PhantomData<*const ()>,
}

impl<T> ReadGuard<'_, T> {
    /// Whether the hold is a slot's, for tests.
    #[cfg(test)]
    fn is_biased(&self) -> bool {
        self.slot.is_some()
    }
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: while the guard lives, no writer holds the state: the
        // guard holds the lock shared, or a claimed slot seen biased (see
        // `read_biased`); the reference is lent no longer than the guard.
        unsafe { &*self.lock.lock.data_ptr() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        match self.slot {
            Some(slot) => slot.store(0, Release),
            // SAFETY: this guard holds one shared lock, taken by `through`
            // whose guard it forgot; this is its only release.
            None => unsafe { self.lock.lock.force_unlock_read() },
        }
    }
}

impl<T> BiasedLock<T> {
    pub(crate) fn new(state: T) -> Self {
        BiasedLock {
            bias: AtomicU32::new(0),
            streak: AtomicU32::new(0),
            lock: RwLock::new(state),
            slots: Default::default(),
        }
    }

    /// The lock shared, if it is free for readers: biased if the bias is
    /// on and this thread's slot free, else through the lock.
    #[inline(always)]
    pub(crate) fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        let bias = self.bias.load(Relaxed);
        if bias != 0 {
            if let Some(guard) = self.read_biased() {
                return Some(guard);
            }
        }
        let guard = self.lock.try_read()?;
        if bias == 0 {
            self.count_read();
        }
        Some(self.through(guard))
    }

    /// A read through the lock, waiting for it in the lock's queue.
    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        let guard = self.lock.read();
        if self.bias.load(Relaxed) == 0 {
            self.count_read();
        }
        self.through(guard)
    }

    /// A biased read, if this thread's slot is free and the bias (seen on
    /// by the caller) still on once the slot is claimed.
    #[inline]
    fn read_biased(&self) -> Option<ReadGuard<'_, T>> {
        let slot = &self.slots[crate::threads::slot() % SLOTS].0;
        if slot.compare_exchange(0, 1, SeqCst, Relaxed).is_err() {
            return None;
        }
        // From here the slot is cleared when the guard drops.
        let guard = ReadGuard { lock: self, slot: Some(slot), _not_send: PhantomData };
        // No writer holds the state while the slot is claimed and the bias
        // was on after the claim: a writer turns the bias off before it
        // looks at the slots, and waits for this one to clear (see the
        // module docs). The writer before took the lock before the bias
        // was last turned on, and its writes are handed over by that
        // `Release` store and this `SeqCst` (acquiring) load of it.
        (self.bias.load(SeqCst) != 0).then_some(guard)
    }

    /// Counts a read through the lock (the bias seen off), and turns the
    /// bias on after a streak of them; the caller holds the lock shared,
    /// so no writer is in (see the module docs).
    #[inline(always)]
    fn count_read(&self) {
        let streak = self.streak.load(Relaxed) + 1;
        if streak >= STREAK {
            self.bias.store(1, Release);
        } else {
            self.streak.store(streak, Relaxed);
        }
    }

    /// The guard of a read through the lock: `guard`'s hold, which the
    /// returned guard releases when dropped.
    #[inline(always)]
    fn through<'a>(&'a self, guard: RwLockReadGuard<'a, T>) -> ReadGuard<'a, T> {
        std::mem::forget(guard);
        ReadGuard { lock: self, slot: None, _not_send: PhantomData }
    }

    /// The lock exclusive, if it is free; the biased readers gone.
    #[inline]
    pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let guard = self.lock.try_write()?;
        self.revoke();
        Some(guard)
    }

    /// The lock exclusive, waiting for it in the lock's queue for at most
    /// `timeout` (while it waits there, new readers queue behind it); the
    /// biased readers gone.
    pub(crate) fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        let guard = self.lock.try_write_for(timeout)?;
        self.revoke();
        Some(guard)
    }

    /// The lock exclusive, waiting for it in the lock's queue; the biased
    /// readers gone.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        let guard = self.lock.write();
        self.revoke();
        guard
    }

    /// Ends the readers' streak, and the bias if it is on; the caller
    /// holds the lock exclusive.
    #[inline]
    fn revoke(&self) {
        if self.bias.load(Relaxed) != 0 {
            self.unbias();
        } else if self.streak.load(Relaxed) != 0 {
            self.streak.store(0, Relaxed);
        }
    }

    /// Turns the bias off and waits for the biased readers to leave.
    #[cold]
    #[inline(never)]
    fn unbias(&self) {
        self.bias.store(0, SeqCst);
        self.streak.store(0, Relaxed);
        for slot in &self.slots {
            let mut tries = 0u32;
            while slot.0.load(SeqCst) != 0 {
                // A biased reader holds its slot for one lookup and its
                // value's clone, or for a whole batch (`get_many`) or copy
                // of a shard: spin a little, then let it have the core,
                // then sleep. The writer holds the lock all the while, so
                // a sleep can keep the shard's other callers out up to
                // 50 µs past that reader's leaving.
                tries += 1;
                if tries <= SPINS {
                    std::hint::spin_loop();
                } else if tries <= SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
    }

    /// The addresses of the bias flag and of the lock's word, for the
    /// shard's layout test.
    #[cfg(test)]
    pub(crate) fn words(&self) -> (usize, usize) {
        ((&raw const self.bias).addr(), (&raw const self.lock).addr())
    }

    /// Whether the bias is on, for tests.
    #[cfg(test)]
    pub(crate) fn is_biased(&self) -> bool {
        self.bias.load(SeqCst) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    #[test]
    fn a_streak_of_reads_turns_the_bias_on_and_a_writer_turns_it_off() {
        let lock = BiasedLock::new(5u64);
        for _ in 0..STREAK {
            assert!(!lock.try_read().expect("free").is_biased());
        }
        assert!(lock.is_biased());
        let guard = lock.try_read().expect("free");
        assert!(guard.is_biased());
        assert_eq!(*guard, 5);
        drop(guard);
        *lock.write() = 6;
        assert!(!lock.is_biased());
        let guard = lock.try_read().expect("free");
        assert!(!guard.is_biased());
        assert_eq!(*guard, 6);
    }

    #[test]
    fn a_writer_between_reads_ends_their_streak() {
        let lock = BiasedLock::new(0u64);
        for round in 0..4 * STREAK {
            drop(lock.read());
            if round % (STREAK / 2) == 0 {
                drop(lock.write());
            }
        }
        assert!(!lock.is_biased());
    }

    #[test]
    fn a_writer_waits_for_a_biased_reader_to_leave() {
        let lock = BiasedLock::new(0u64);
        for _ in 0..STREAK {
            drop(lock.read());
        }
        let reader = lock.try_read().expect("free");
        assert!(reader.is_biased());
        let wrote = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                *lock.write() = 1;
                wrote.store(true, SeqCst);
            });
            // The writer cannot finish while the reader holds its slot.
            for _ in 0..1000 {
                assert!(!wrote.load(SeqCst));
                std::thread::yield_now();
            }
            assert_eq!(*reader, 0);
            drop(reader);
        });
        assert!(wrote.load(SeqCst));
        assert_eq!(*lock.read(), 1);
    }

    /// Writers keep two halves of the state equal; readers, biased or not,
    /// must never see them apart. Under Miri this also checks the reads
    /// and writes for data races. Once the writer is done, the readers
    /// read on until each has read biased once (their reads through the
    /// lock then turn the bias on, and nothing turns it off).
    #[test]
    fn readers_never_see_a_write_half_done() {
        let lock = BiasedLock::new([0u64; 2]);
        let (readers, reads, writes) = if cfg!(miri) { (2, 100, 20) } else { (3, 20_000, 2_000) };
        let done = AtomicBool::new(false);
        // Reads so far, all readers together.
        let read = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..readers {
                s.spawn(|| {
                    let mut biased = false;
                    for n in 0.. {
                        let guard = lock.try_read().unwrap_or_else(|| lock.read());
                        biased |= guard.is_biased();
                        assert_eq!(guard[0], guard[1], "a write seen half done");
                        drop(guard);
                        read.fetch_add(1, Relaxed);
                        if n >= reads && biased && done.load(SeqCst) {
                            break;
                        }
                    }
                });
            }
            s.spawn(|| {
                for n in 1..=writes {
                    let mut state = lock.write();
                    state[0] = n;
                    std::hint::spin_loop();
                    state[1] = n;
                    drop(state);
                    // Let the readers build a streak now and then: wait for
                    // two streaks' worth of reads (not for a number of
                    // yields, which on a busy host may each take a
                    // scheduler's slice).
                    if n % 4 == 0 {
                        let until = read.load(Relaxed) + 2 * STREAK as usize;
                        while read.load(Relaxed) < until {
                            std::thread::yield_now();
                        }
                    }
                }
                done.store(true, SeqCst);
            });
        });
        let state = lock.read();
        assert_eq!(*state, [writes; 2]);
    }
}
