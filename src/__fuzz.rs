//! Internals for the fuzz targets under `fuzz/` (built by cargo-fuzz with
//! `--cfg fuzzing`): not part of the API, no stability promise.
//!
//! `FuzzWheel` is the crate's timing wheel over timers kept in a plain
//! vector, the way a shard keeps them in its entries. Its methods keep the
//! wheel's preconditions (a timer is filed only when it is not in the wheel,
//! a deadline only grows in place), so that any sequence of calls is a
//! valid use: whatever the fuzzer finds is the wheel's fault.

use crate::wheel::{Link, Polled, VecTimers as Store, Wheel};

/// What one [`FuzzWheel::poll_step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// This timer's tick has come; it is out of the wheel.
    Due(u32),
    /// Part of a slot was filed again: call again.
    Busy,
    /// Nothing is due.
    Idle,
}

/// A timing wheel and its timers, by id (`0..timers()`).
#[derive(Default)]
pub struct FuzzWheel {
    wheel: Wheel,
    store: Store,
}

impl FuzzWheel {
    /// An empty wheel standing at tick `now`.
    pub fn starting_at(now: u64) -> FuzzWheel {
        FuzzWheel { wheel: Wheel::starting_at(now), store: Store::default() }
    }

    /// Adds a timer due at tick `when`, files it, and returns its id.
    pub fn push(&mut self, when: u64) -> u32 {
        let id = u32::try_from(self.store.when.len()).expect("fewer than u32::MAX timers");
        self.store.when.push(when);
        self.store.links.push(Link::UNLINKED);
        self.store.early.push(false);
        self.wheel.insert(&mut self.store, id);
        id
    }

    /// Files timer `id` again (one that `poll_step` handed out, or that
    /// was removed); nothing happens if it is in the wheel.
    pub fn insert(&mut self, id: u32) {
        if !self.is_linked(id) {
            self.wheel.insert(&mut self.store, id);
        }
    }

    /// Takes timer `id` out of the wheel (it stays among the timers).
    pub fn remove(&mut self, id: u32) {
        self.wheel.remove(&mut self.store, id);
    }

    /// Deletes timer `id`, moving the last timer into its id, as a shard
    /// compacting its entries moves its last entry into a vacancy.
    pub fn swap_remove(&mut self, id: u32) {
        let last = self.store.when.len() as u32 - 1;
        self.wheel.remove(&mut self.store, id);
        self.store.when.swap_remove(id as usize);
        self.store.links.swap_remove(id as usize);
        self.store.early.swap_remove(id as usize);
        if id != last {
            self.wheel.relink(&mut self.store, id);
        }
    }

    /// Pushes timer `id`'s deadline `by` ticks later without telling the
    /// wheel, as renewing a TTL does.
    pub fn grow(&mut self, id: u32, by: u64) {
        let when = &mut self.store.when[id as usize];
        *when = when.saturating_add(by);
    }

    /// Makes timer `id` (in the wheel) due at tick `to`, earlier, as
    /// re-timing a key does: in place when the wheel reaches it by then,
    /// moved and filed early otherwise. Returns whether it stayed in place.
    pub fn shrink(&mut self, id: u32, to: u64) -> bool {
        self.wheel.shrink(&mut self.store, id, to).0
    }

    /// One bounded step of polling at tick `now`.
    pub fn poll_step(&mut self, now: u64) -> Step {
        match self.wheel.poll_step(&mut self.store, now) {
            Polled::Due(id) => Step::Due(id),
            Polled::Busy => Step::Busy,
            Polled::Idle => Step::Idle,
        }
    }

    /// Puts timer `id`, just handed out by `poll_step`, aside until
    /// [`undefer`](FuzzWheel::undefer); nothing happens if it is in the wheel.
    pub fn defer(&mut self, id: u32) {
        if !self.is_linked(id) {
            self.wheel.defer(&mut self.store, id);
        }
    }

    /// Makes the deferred timers pollable again (the start of a pass).
    pub fn undefer(&mut self) {
        self.wheel.undefer(&mut self.store);
    }

    /// Timer `id`'s deadline tick.
    pub fn when(&self, id: u32) -> u64 {
        self.store.when[id as usize]
    }

    /// Whether timer `id` is in the wheel.
    pub fn is_linked(&self, id: u32) -> bool {
        self.store.links[id as usize].is_linked()
    }

    /// The number of timers, in the wheel or not.
    pub fn timers(&self) -> usize {
        self.store.when.len()
    }

    /// The number of timers in the wheel.
    pub fn len(&self) -> usize {
        self.wheel.len()
    }

    /// Whether no timer is in the wheel.
    pub fn is_empty(&self) -> bool {
        self.wheel.len() == 0
    }

    /// The tick the wheel has been advanced to.
    pub fn elapsed(&self) -> u64 {
        self.wheel.elapsed()
    }

    /// A tick such that nothing in the wheel is due before its end.
    pub fn next_expiration(&self) -> Option<u64> {
        self.wheel.next_expiration()
    }

    /// Checks every invariant of the wheel, panicking on a broken one.
    pub fn assert_invariants(&self) {
        self.wheel.assert_invariants(&self.store);
    }
}
