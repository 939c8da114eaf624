//! The wheel against a simple model: a map from timer id to deadline tick,
//! over seeded random sequences of calls (the fuzz target `wheel` under
//! `fuzz/` explores further, guided by coverage).

use super::*;
use std::collections::BTreeMap;

type Store = VecTimers;

impl Store {
    fn add(&mut self, when: u64) -> u32 {
        self.when.push(when);
        self.links.push(Link::UNLINKED);
        self.early.push(false);
        (self.when.len() - 1) as u32
    }
}

fn validate(wheel: &Wheel, store: &mut Store) {
    wheel.assert_invariants(&*store);
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    Remove(usize),
    Poll(u64),
    /// Poll, deferring the timers whose tick is the current one.
    PollDeferring(u64),
    /// Delete a timer and move the last one into its id (as the table
    /// compacting its entries does).
    SwapRemove(usize),
    /// Push a timer's deadline later without telling the wheel.
    Grow(usize, u64),
    /// Bring a timer's deadline earlier: in place if the wheel reaches it
    /// by then, else moved.
    Shrink(usize, u64),
}

/// A seeded xorshift generator: the same sequences in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random call, weighted as a reaping shard makes them.
fn op(rng: &mut Rng) -> Op {
    let pick = rng.next() as usize;
    match rng.below(15) {
        0..=3 => Op::Insert(rng.below(5000)),
        4 => Op::Insert((1 << 30) + rng.below((1 << 40) - (1 << 30))),
        5 | 6 => Op::Remove(pick),
        7 | 8 => Op::Poll(rng.below(300)),
        9 => Op::PollDeferring(rng.below(300)),
        10 | 11 => Op::SwapRemove(pick),
        12 | 13 => Op::Grow(pick, rng.below(3000)),
        _ => Op::Shrink(pick, rng.below(5000)),
    }
}

fn run(ops: Vec<Op>) {
    let mut wheel = Wheel::default();
    let mut store = Store::default();
    // Model: id -> when, for every timer in the wheel.
    let mut model: BTreeMap<u32, u64> = BTreeMap::new();
    let mut now = 0u64;
    // What a shard keeps of the wheel between polls: the least tick the
    // inserts since the last poll returned, and what the poll left.
    let mut bound = u64::MAX;
    for op in ops {
        match op {
            Op::Insert(ahead) => {
                let id = store.add(now + ahead);
                bound = bound.min(wheel.insert(&mut store, id));
                model.insert(id, now + ahead);
            }
            Op::Remove(pick) if !model.is_empty() => {
                let id = *model.keys().nth(pick % model.len()).unwrap();
                wheel.remove(&mut store, id);
                model.remove(&id);
            }
            Op::SwapRemove(pick) if !store.when.is_empty() => {
                let hole = (pick % store.when.len()) as u32;
                wheel.remove(&mut store, hole);
                model.remove(&hole);
                let last = (store.when.len() - 1) as u32;
                store.when.swap_remove(hole as usize);
                store.links.swap_remove(hole as usize);
                store.early.swap_remove(hole as usize);
                if hole != last {
                    wheel.relink(&mut store, hole);
                    if let Some(when) = model.remove(&last) {
                        model.insert(hole, when);
                    }
                }
            }
            Op::Grow(pick, delta) if !model.is_empty() => {
                let id = *model.keys().nth(pick % model.len()).unwrap();
                store.when[id as usize] += delta;
                *model.get_mut(&id).unwrap() += delta;
            }
            Op::Shrink(pick, delta) if !model.is_empty() => {
                let id = *model.keys().nth(pick % model.len()).unwrap();
                let to = store.when[id as usize].saturating_sub(delta);
                bound = bound.min(wheel.shrink(&mut store, id, to).1);
                model.insert(id, to);
            }
            Op::Poll(step) | Op::PollDeferring(step) => {
                now += step;
                let deferring = matches!(op, Op::PollDeferring(_));
                wheel.undefer(&mut store);
                let mut deferred = 0;
                while let Some(id) = wheel.poll(&mut store, now) {
                    let when = model.remove(&id).expect("polled a timer not in the wheel");
                    if when > now {
                        // It grew after it was filed: the caller files it again.
                        wheel.insert(&mut store, id);
                        model.insert(id, when);
                        continue;
                    }
                    if deferring && when == now {
                        wheel.defer(&mut store, id);
                        model.insert(id, when);
                        deferred += 1;
                    }
                }
                // Everything due has been handed out, but what was deferred.
                let due = model.values().filter(|&&w| w <= now).count();
                assert_eq!(due, deferred, "due timers left behind at {now}");
                bound = wheel.next_expiration().unwrap_or(u64::MAX);
            }
            _ => {}
        }
        validate(&wheel, &mut store);
        assert_eq!(wheel.len(), model.len());
        // `next_expiration` is never later than the earliest deadline.
        match (wheel.next_expiration(), model.values().min()) {
            (None, None) => {}
            (Some(next), Some(&earliest)) => {
                assert!(next <= earliest.max(wheel.elapsed()), "next {next} > earliest {earliest}");
            }
            (next, earliest) => panic!("next_expiration {next:?} with earliest {earliest:?}"),
        }
        // Inserts and removals keep the bound at or below it.
        assert!(bound <= wheel.next_expiration().unwrap_or(u64::MAX), "bound {bound} too late");
    }
}

#[test]
fn an_insert_returns_when_its_list_is_taken_up() {
    let mut wheel = Wheel::starting_at(100);
    let mut store = Store::default();
    let mut least = u64::MAX;
    // Due already, then one per level, then past the top level's reach.
    for when in [90, 100, 101, 100 + 64, 100 + 5000, 100 + (1 << 20), 1 << 40, u64::MAX / 2] {
        let id = store.add(when);
        let from = wheel.insert(&mut store, id);
        assert!(from <= when.max(100), "{when}: taken up at {from}, after it is due");
        least = least.min(from);
        assert_eq!(wheel.next_expiration(), Some(least), "after filing {when}");
    }
    // In reverse, each insert makes the earliest list earlier.
    let mut wheel = Wheel::starting_at(0);
    for when in [1 << 40, 1 << 30, 1 << 20, 5000, 64, 1] {
        let id = store.add(when);
        let from = wheel.insert(&mut store, id);
        assert_eq!(wheel.next_expiration(), Some(from), "after filing {when}");
    }
}

#[test]
fn wheel_matches_model() {
    let sequences = if cfg!(miri) { 4 } else { 512 };
    for seed in 1..=sequences {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let len = 1 + rng.below(200) as usize;
        run((0..len).map(|_| op(&mut rng)).collect());
    }
}

#[test]
fn cascades_through_every_level() {
    let mut wheel = Wheel::default();
    let mut store = Store::default();
    let whens =
        [0, 1, 63, 64, 65, 4095, 4096, 1 << 18, (1 << 24) + 5, (1 << 30) + 7, 1 << 36, 1 << 40];
    for &when in &whens {
        let id = store.add(when);
        wheel.insert(&mut store, id);
    }
    let mut fired = Vec::new();
    for &when in &whens {
        // Nothing fires a tick early.
        if when > 0 {
            assert_eq!(wheel.poll(&mut store, when - 1), None);
        }
        assert!(wheel.next_expiration().unwrap() <= when);
        while let Some(id) = wheel.poll(&mut store, when) {
            fired.push(store.when[id as usize]);
        }
        assert_eq!(fired.last(), Some(&when));
    }
    assert_eq!(fired, whens);
    assert_eq!(wheel.len(), 0);
    assert_eq!(wheel.next_expiration(), None);
}

#[test]
fn deferred_timers_return_after_the_tick() {
    let mut wheel = Wheel::default();
    let mut store = Store::default();
    let id = store.add(10);
    wheel.insert(&mut store, id);
    assert_eq!(wheel.poll(&mut store, 10), Some(id));
    wheel.defer(&mut store, id);
    assert_eq!(wheel.poll(&mut store, 10), None);
    assert_eq!(wheel.next_expiration(), Some(10));
    wheel.undefer(&mut store);
    assert_eq!(wheel.poll(&mut store, 10), Some(id));
    assert_eq!(wheel.len(), 0);
}

#[test]
fn storm_of_reschedules_keeps_one_node() {
    let mut wheel = Wheel::default();
    let mut store = Store::default();
    let id = store.add(5);
    wheel.insert(&mut store, id);
    // Past the first two levels' spans either way; fewer under Miri,
    // which interprets every step.
    let end = if cfg!(miri) { 20_000 } else { 100_000 };
    for when in 6..end {
        wheel.remove(&mut store, id);
        store.when[0] = when;
        wheel.insert(&mut store, id);
        assert_eq!(wheel.len(), 1);
    }
    assert_eq!(wheel.poll(&mut store, end - 2), None);
    assert_eq!(wheel.poll(&mut store, end - 1), Some(id));
}

#[test]
fn a_timer_filed_early_stays_for_deadlines_down_to_its_slot() {
    let mut wheel = Wheel::default();
    let mut store = Store::default();
    // Level 2 (slots of 4096 ticks): due in the slot from 98304.
    let id = store.add(100_000);
    assert_eq!(wheel.insert(&mut store, id), 98_304);
    // Before that slot: it moves, early, to the level's slot after the
    // wheel's, from 4096.
    assert_eq!(wheel.shrink(&mut store, id, 50_000), (false, 4096));
    assert!(store.is_early(id));
    // Down to that slot's start, it stays; a plain timer due at 50000
    // would have moved.
    assert!(!wheel.reaches_by(50_000, 5000));
    assert_eq!(wheel.shrink(&mut store, id, 5000), (true, u64::MAX));
    validate(&wheel, &mut store);
    assert_eq!(wheel.shrink(&mut store, id, 4096), (true, u64::MAX));
    validate(&wheel, &mut store);
    // A tick before it (level 1 now, slots of 64): early again, from 64.
    assert_eq!(wheel.shrink(&mut store, id, 4095), (false, 64));
    validate(&wheel, &mut store);
    // Taken up at 64 and filed again by its tick, no longer early.
    assert_eq!(wheel.poll(&mut store, 64), None);
    assert!(!store.is_early(id));
    validate(&wheel, &mut store);
    assert_eq!(wheel.poll(&mut store, 4094), None);
    assert_eq!(wheel.poll(&mut store, 4095), Some(id));
    assert_eq!(wheel.len(), 0);
}
