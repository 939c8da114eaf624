//! The timing wheel against a `BTreeMap` of the timers it holds: inserts
//! (due soon, far past the wheel's range, or already due), removals,
//! `swap_remove` relocations, deadlines grown in place or brought earlier,
//! moves of time, and
//! reaping passes polled one bounded step at a time with other calls in
//! between, as a shard does when it releases its lock between batches.
//! `assert_invariants()` after every call.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wheelcache::__fuzz::{FuzzWheel, Step};

/// The latest tick a shard can ask for: its latest deadline (`u64::MAX - 1`
/// nanoseconds) on a 1 ns tick.
const LATEST: u64 = u64::MAX - 1;

/// The longest jump of time: a jump costs the wheel one re-filing per
/// 2^36 ticks (a turn of its top level) for each timer beyond its range, so
/// unbounded jumps would only make slow runs.
const MAX_JUMP: u64 = 1 << 40;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A timer due this many ticks from now.
    Insert(u16),
    /// A timer due far ahead: past the wheel's range, up to the end of time.
    InsertFar(u64),
    /// A timer due this many ticks before now: due at once.
    InsertBehind(u16),
    /// Files a timer that is not in the wheel again, by its deadline.
    Reinsert(u16),
    Remove(u16),
    /// Deletes a timer, moving the last one into its id.
    SwapRemove(u16),
    /// Pushes a timer's deadline later without telling the wheel.
    Grow(u16, u32),
    /// Brings a timer's deadline earlier, in place where the wheel allows.
    Shrink(u16, u32),
    Advance(u16),
    AdvanceFar(u64),
    /// Starts a reaping pass: deferred timers become pollable again.
    Undefer,
    /// One bounded step of polling; a timer handed out that is due within
    /// the current tick is deferred if `defer`.
    Step {
        defer: bool,
    },
    /// A whole reaping pass.
    Pass {
        defer: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    start: u64,
    ops: Vec<Op>,
}

struct Run {
    wheel: FuzzWheel,
    /// Timers in the wheel: id -> (deadline, deadline when last filed).
    model: BTreeMap<u32, (u64, u64)>,
    /// Timers deferred since the last `undefer`.
    deferred: BTreeSet<u32>,
    now: u64,
}

impl Run {
    fn pick(&self, n: u16) -> Option<u32> {
        let timers = self.wheel.timers();
        (timers > 0).then(|| u32::from(n) % timers as u32)
    }

    fn insert(&mut self, when: u64) {
        let id = self.wheel.push(when);
        self.model.insert(id, (when, when));
    }

    /// One poll step at `now`, doing what a shard does with what it gets.
    fn step(&mut self, defer: bool) -> Step {
        let step = self.wheel.poll_step(self.now);
        if let Step::Due(id) = step {
            let Some((when, filed)) = self.model.remove(&id) else {
                panic!("timer {id} handed out but not in the wheel");
            };
            assert!(filed <= self.now, "timer {id} filed at {filed} handed out at {}", self.now);
            assert!(!self.wheel.is_linked(id), "timer {id} handed out but still linked");
            self.deferred.remove(&id);
            if when > self.now {
                // Re-timed later since it was filed: the shard files it anew.
                self.wheel.insert(id);
                self.model.insert(id, (when, when));
            } else if defer && when == self.now {
                // Due later within this tick: put aside for the next pass.
                self.wheel.defer(id);
                self.model.insert(id, (when, when));
                self.deferred.insert(id);
            }
        }
        step
    }

    /// After polling went idle at `now`, every timer due is out of the
    /// wheel but the deferred ones.
    fn check_idle(&self) {
        let left: Vec<_> = self
            .model
            .iter()
            .filter(|&(id, &(when, _))| when <= self.now && !self.deferred.contains(id))
            .collect();
        assert!(left.is_empty(), "idle at {} with due timers {left:?}", self.now);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert(ahead) => self.insert(self.now.saturating_add(u64::from(ahead)).min(LATEST)),
            Op::InsertFar(ahead) => self.insert(self.now.saturating_add(ahead).min(LATEST)),
            Op::InsertBehind(behind) => self.insert(self.now.saturating_sub(u64::from(behind))),
            Op::Reinsert(n) => {
                if let Some(id) = self.pick(n).filter(|&id| !self.wheel.is_linked(id)) {
                    self.wheel.insert(id);
                    let when = self.wheel.when(id);
                    self.model.insert(id, (when, when));
                }
            }
            Op::Remove(n) => {
                if let Some(id) = self.pick(n) {
                    self.wheel.remove(id);
                    self.model.remove(&id);
                    self.deferred.remove(&id);
                }
            }
            Op::SwapRemove(n) => {
                if let Some(id) = self.pick(n) {
                    let last = self.wheel.timers() as u32 - 1;
                    self.wheel.swap_remove(id);
                    self.model.remove(&id);
                    self.deferred.remove(&id);
                    if id != last {
                        if let Some(timer) = self.model.remove(&last) {
                            self.model.insert(id, timer);
                        }
                        if self.deferred.remove(&last) {
                            self.deferred.insert(id);
                        }
                    }
                }
            }
            Op::Grow(n, by) => {
                if let Some(id) = self.pick(n) {
                    let by = u64::from(by).min(LATEST - self.wheel.when(id).min(LATEST));
                    self.wheel.grow(id, by);
                    if let Some((when, _)) = self.model.get_mut(&id) {
                        *when += by;
                    }
                }
            }
            Op::Shrink(n, by) => {
                let Some(id) = self.pick(n).filter(|id| self.model.contains_key(id)) else {
                    return;
                };
                let (when, filed) = self.model[&id];
                let to = when.saturating_sub(u64::from(by));
                if self.wheel.shrink(id, to) {
                    // It may be handed out as early as it was filed, or at
                    // the new deadline.
                    self.model.insert(id, (to, filed.min(to)));
                } else {
                    self.model.insert(id, (to, to));
                    self.deferred.remove(&id);
                }
            }
            Op::Advance(by) => self.now = self.now.saturating_add(u64::from(by)).min(LATEST),
            Op::AdvanceFar(by) => self.now = self.now.saturating_add(by % MAX_JUMP).min(LATEST),
            Op::Undefer => {
                self.wheel.undefer();
                self.deferred.clear();
            }
            Op::Step { defer } => {
                if self.step(defer) == Step::Idle {
                    self.check_idle();
                }
            }
            Op::Pass { defer } => {
                self.wheel.undefer();
                self.deferred.clear();
                // Each timer is handed out at most once per pass, and is
                // filed again at most once per level and once per 2^36
                // ticks of the jump (`MAX_JUMP`): the bound is generous.
                let mut budget = (self.model.len() + 1) * 8 * (6 + (MAX_JUMP >> 30) as usize);
                while self.step(defer) != Step::Idle {
                    budget -= 1;
                    assert!(budget > 0, "a pass at {} does not end", self.now);
                }
                self.check_idle();
            }
        }
    }

    fn check(&mut self, op: &Op) {
        self.wheel.assert_invariants();
        assert_eq!(self.wheel.len(), self.model.len(), "after {op:?}");
        assert!(self.wheel.elapsed() <= self.now, "the wheel ran ahead of time");
        let earliest = self.model.values().map(|&(when, _)| when).min();
        match (self.wheel.next_expiration(), earliest) {
            (None, None) => {}
            (Some(next), Some(earliest)) => assert!(
                next <= earliest.max(self.wheel.elapsed()),
                "after {op:?}: next expiration {next} after the earliest deadline {earliest}"
            ),
            (next, earliest) => {
                panic!("after {op:?}: next expiration {next:?}, earliest deadline {earliest:?}")
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let start = input.start.min(LATEST);
    let mut run = Run {
        wheel: FuzzWheel::starting_at(start),
        model: BTreeMap::new(),
        deferred: BTreeSet::new(),
        now: start,
    };
    for op in &input.ops {
        run.apply(op);
        run.check(op);
    }
});
