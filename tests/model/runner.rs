//! The model, and the runner that applies each [`Op`] to a cache and to the
//! model and compares them. Shared by the proptest sequences
//! (`sequence.rs`) and the fuzz target `ops` (fuzz/), which includes this
//! file and `op.rs` by path.
//!
//! The model is a plain map from key to value (`None`: a negative marker)
//! and deadline (`None`: persistent), in nanoseconds on the mock clock. It
//! keeps expired entries until it knows they are gone: every removed value
//! is reported to the removal listener, so the model knows exactly which
//! expired values the cache still holds; expired markers are reported to
//! nobody, so for them it keeps an upper bound (that is all `timers()` is
//! checked against).
//!
//! After every call the runner checks:
//! - the call's answer;
//! - the listener's reports: the ones the call must make (a value replaced,
//!   removed, or met expired), and no other but expired entries reaped and,
//!   in a bounded cache, entries evicted by an insert;
//! - `ttl` of every key, which neither reaps nor counts nor touches the
//!   eviction policy, and `items()`;
//! - in a bounded cache: the model cannot tell which key is evicted, so a
//!   live key that vanished is taken as evicted, and the runner checks that
//!   evictions happen only when a call puts a new key into a full cache,
//!   exactly as many as bring the cache back to its capacity (expired
//!   entries go first), never of the inserted key, and that each evicted
//!   value is reported `Evicted` and counted in `stats().evictions`;
//! - `timers()` between the live entries with a deadline and every entry
//!   with one that the cache may still hold (exact after reaping);
//! - `assert_invariants()`, and `stats()` never going backwards.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wheelcache::{Cache, Error, Lookup, MockClock, RemovalCause, Stats, Ttl};

use super::op::{Op, Value, KEYS};

/// The latest deadline: TTLs up to `Duration::MAX` saturate here, at
/// `u64::MAX - 1` nanoseconds (about 584 years) on the cache's clock.
const LATEST: u128 = u64::MAX as u128 - 1;

/// How a cache under test is built, and how the run looks at it.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) shards: usize,
    pub(crate) capacity: Option<u64>,
    pub(crate) tick: Duration,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) negative_ttl: Duration,
    /// Call `len()` after every step. It reaps, so runs without it keep
    /// expired entries around until a call meets them.
    pub(crate) len_every_step: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry<V> {
    value: Option<V>,
    deadline: Option<u128>,
}

#[derive(Clone, Debug)]
struct Model<V> {
    /// Every entry the cache may hold: all the live ones, and the expired
    /// ones not known to be reaped.
    entries: BTreeMap<u8, Entry<V>>,
    /// The mock clock, in nanoseconds.
    now: u128,
}

impl<V: Value> Model<V> {
    fn is_live(&self, e: &Entry<V>) -> bool {
        e.deadline.is_none_or(|d| d > self.now)
    }

    fn live(&self, k: u8) -> Option<&Entry<V>> {
        self.entries.get(&k).filter(|e| self.is_live(e))
    }

    fn expired(&self, k: u8) -> Option<&Entry<V>> {
        self.entries.get(&k).filter(|e| !self.is_live(e))
    }

    fn live_value(&self, k: u8) -> Option<V> {
        self.live(k).and_then(|e| e.value.clone())
    }

    fn deadline(&self, ttl: Option<Duration>) -> Option<u128> {
        ttl.map(|t| (self.now + t.as_nanos()).min(LATEST))
    }

    fn lookup(&self, k: u8) -> Lookup<V> {
        match self.live(k) {
            None => Lookup::Miss,
            Some(Entry { value: None, .. }) => Lookup::Negative,
            Some(Entry { value: Some(v), .. }) => Lookup::Hit(v.clone()),
        }
    }

    fn ttl(&self, k: u8) -> Ttl {
        match self.live(k).map(|e| e.deadline) {
            None => Ttl::Missing,
            Some(None) => Ttl::Persistent,
            Some(Some(d)) => Ttl::Remaining(Duration::from_nanos((d - self.now) as u64)),
        }
    }

    /// Live entries, markers included: what counts against a capacity.
    fn live_count(&self) -> usize {
        self.entries.values().filter(|e| self.is_live(e)).count()
    }

    /// Live values (no markers), by key.
    fn items(&self) -> Vec<(u8, V)> {
        self.entries
            .iter()
            .filter(|(_, e)| self.is_live(e))
            .filter_map(|(&k, e)| Some((k, e.value.clone()?)))
            .collect()
    }
}

type Report<V> = (u8, V, RemovalCause);

/// What the listener must and may report for one call.
struct Expect<V> {
    /// Reports the call must make, in any order.
    must: Vec<Report<V>>,
    /// The call may reap (and report) expired entries of any key.
    may_reap: bool,
    /// The call put this key, which had no live entry, into the cache: in a
    /// full bounded cache another key's entry may be evicted.
    inserts: Option<u8>,
}

impl<V> Expect<V> {
    fn nothing() -> Self {
        Expect { must: Vec::new(), may_reap: false, inserts: None }
    }
}

/// A cache on a mock clock, its model, and what the run has seen.
pub(crate) struct Runner<V: Value> {
    cache: Cache<u8, V>,
    clock: MockClock,
    reports: Arc<Mutex<Vec<Report<V>>>>,
    model: Model<V>,
    settings: Settings,
    /// The last `stats()`, which must never go backwards.
    stats: Stats,
    /// Entries seen evicted so far.
    evicted: u64,
    step: usize,
}

/// Runs `ops` on a cache built with `settings` against the model.
pub(crate) fn run<V: Value>(settings: &Settings, ops: &[Op]) {
    let mut runner = Runner::<V>::new(settings.clone());
    for op in ops {
        runner.step(op);
        if settings.len_every_step {
            runner.step(&Op::Len);
        }
    }
    runner.finish();
}

impl<V: Value> Runner<V> {
    fn new(settings: Settings) -> Self {
        let clock = MockClock::new();
        let reports: Arc<Mutex<Vec<Report<V>>>> = Arc::default();
        let sink = reports.clone();
        let mut builder = Cache::builder()
            .clock(clock.clone())
            .shards(settings.shards)
            .tick(settings.tick)
            .negative_ttl(settings.negative_ttl)
            .removal_listener(move |k, v, cause| sink.lock().unwrap().push((k, v, cause)));
        if let Some(ttl) = settings.default_ttl {
            builder = builder.default_ttl(ttl);
        }
        if let Some(capacity) = settings.capacity {
            builder = builder.max_capacity(capacity);
        }
        let cache = builder.build().expect("valid settings");
        let model = Model { entries: BTreeMap::new(), now: 0 };
        Runner {
            cache,
            clock,
            reports,
            model,
            settings,
            stats: Stats::default(),
            evicted: 0,
            step: 0,
        }
    }

    /// Applies `op` to the cache and the model, and checks everything.
    fn step(&mut self, op: &Op) {
        let before = self.model.clone();
        let expect = self.apply(op);
        let evicted = self.check_reports(op, &before, &expect);
        self.check_state(op, &expect, evicted);
        self.step += 1;
    }

    /// Clears the cache: every value still held is reported once, and
    /// nothing is left.
    fn finish(mut self) {
        self.step(&Op::Clear);
        assert_eq!(self.cache.len(), 0, "len after clear");
        assert_eq!(self.cache.timers(), 0, "timers after clear");
        assert!(self.reports.lock().unwrap().is_empty(), "reports after clear");
        if self.settings.capacity.is_some_and(|c| c >= u64::from(KEYS)) {
            assert_eq!(self.evicted, 0, "a cache with room for every key evicted");
        }
        self.cache.assert_invariants();
    }

    fn key(k: u8) -> u8 {
        k % KEYS
    }

    fn apply(&mut self, op: &Op) -> Expect<V> {
        let s = self.step;
        let (cache, model) = (&self.cache, &self.model);
        match *op {
            Op::GetItem(k) => {
                let k = Self::key(k);
                assert_eq!(cache.get_item(&k), model.lookup(k), "step {s}: {op:?}");
                Expect::nothing()
            }
            Op::Get(k) => {
                let k = Self::key(k);
                assert_eq!(cache.get(&k), model.live_value(k), "step {s}: {op:?}");
                Expect::nothing()
            }
            Op::Contains(k) => {
                let k = Self::key(k);
                assert_eq!(cache.contains(&k), model.live_value(k).is_some(), "step {s}: {op:?}");
                Expect::nothing()
            }
            Op::Ttl(k) => {
                let k = Self::key(k);
                assert_eq!(cache.ttl(&k), model.ttl(k), "step {s}: {op:?}");
                Expect::nothing()
            }
            Op::Set(k, seed) | Op::SetItem(k, seed) => {
                let (k, v) = (Self::key(k), V::pick(seed));
                if matches!(op, Op::Set(..)) {
                    cache.set(k, v.clone());
                } else {
                    cache.set_item(k, v.clone());
                }
                self.write(k, Some(v), self.settings.default_ttl)
            }
            Op::Setx(k, seed, ttl) => {
                let (k, v, ttl) = (Self::key(k), V::pick(seed), ttl.duration());
                cache.setx(k, v.clone(), ttl);
                if ttl == Some(Duration::ZERO) {
                    self.remove(k).1
                } else {
                    self.write(k, Some(v), ttl)
                }
            }
            Op::SetNegative(k) => {
                let k = Self::key(k);
                cache.set_negative(k);
                self.write(k, None, Some(self.settings.negative_ttl))
            }
            Op::SetDefault(k, seed) => {
                let (k, v) = (Self::key(k), V::pick(seed));
                let got = cache.setdefault(k, v.clone());
                match model.live_value(k) {
                    Some(old) => {
                        assert_eq!(got, old, "step {s}: {op:?} over a live value");
                        Expect::nothing()
                    }
                    None => {
                        assert_eq!(got, v, "step {s}: {op:?} stores the default");
                        self.write(k, Some(v), self.settings.default_ttl)
                    }
                }
            }
            Op::DelItem(k) => {
                let k = Self::key(k);
                let got = cache.del_item(&k);
                let (existed, expect) = self.remove(k);
                assert_eq!(got, existed, "step {s}: {op:?}");
                expect
            }
            Op::Pop(k) => {
                let k = Self::key(k);
                let got = cache.pop(&k);
                assert_eq!(got, model.live_value(k), "step {s}: {op:?}");
                self.remove(k).1
            }
            Op::PopItem => {
                let got = cache.popitem();
                let mut expect = Expect { may_reap: true, ..Expect::nothing() };
                match got {
                    Some((k, v)) => {
                        assert_eq!(model.live_value(k), Some(v.clone()), "step {s}: popitem {k}");
                        expect.must.push((k, v, RemovalCause::Removed));
                        self.model.entries.remove(&k);
                    }
                    None => assert_eq!(model.items(), [], "step {s}: popitem found nothing"),
                }
                expect
            }
            Op::Clear => {
                cache.clear();
                let must = model
                    .entries
                    .iter()
                    .filter_map(|(&k, e)| {
                        let cause = if model.is_live(e) {
                            RemovalCause::Removed
                        } else {
                            RemovalCause::Expired
                        };
                        Some((k, e.value.clone()?, cause))
                    })
                    .collect();
                self.model.entries.clear();
                Expect { must, may_reap: false, inserts: None }
            }
            Op::Len | Op::IsEmpty => {
                let want = model.items().len();
                if matches!(op, Op::Len) {
                    assert_eq!(cache.len(), want, "step {s}: len");
                } else {
                    assert_eq!(cache.is_empty(), want == 0, "step {s}: is_empty");
                }
                self.reap_all()
            }
            Op::Keys => {
                let mut keys = cache.keys();
                keys.sort_unstable();
                let want: Vec<u8> = model.items().into_iter().map(|(k, _)| k).collect();
                assert_eq!(keys, want, "step {s}: keys");
                Expect::nothing()
            }
            Op::Values => {
                let mut values = cache.values();
                values.sort_unstable();
                let mut want: Vec<V> = model.items().into_iter().map(|(_, v)| v).collect();
                want.sort_unstable();
                assert_eq!(values, want, "step {s}: values");
                Expect::nothing()
            }
            Op::Items => {
                let mut items = cache.items();
                items.sort_unstable();
                assert_eq!(items, model.items(), "step {s}: items");
                Expect::nothing()
            }
            Op::IterKeys => {
                let mut keys: Vec<u8> = cache.iter_keys().collect();
                keys.sort_unstable();
                let want: Vec<u8> = model.items().into_iter().map(|(k, _)| k).collect();
                assert_eq!(keys, want, "step {s}: iter_keys (each key once)");
                Expect::nothing()
            }
            Op::DrainKeys => {
                let mut seen = Vec::new();
                for k in cache.iter_keys() {
                    assert!(cache.del_item(&k), "step {s}: del_item({k}) inside iter_keys");
                    seen.push(k);
                }
                seen.sort_unstable();
                let items = model.items();
                let want: Vec<u8> = items.iter().map(|&(k, _)| k).collect();
                assert_eq!(seen, want, "step {s}: iter_keys while deleting");
                for k in &want {
                    self.model.entries.remove(k);
                }
                let must = items.into_iter().map(|(k, v)| (k, v, RemovalCause::Removed)).collect();
                Expect { must, may_reap: false, inserts: None }
            }
            Op::Expire(k, ttl) => {
                let (k, ttl) = (Self::key(k), ttl.duration());
                let got = cache.expire(&k, ttl);
                if ttl == Some(Duration::ZERO) {
                    let (existed, expect) = self.remove(k);
                    assert_eq!(got, existed, "step {s}: {op:?}");
                    return expect;
                }
                let live = model.live(k).is_some();
                assert_eq!(got, live, "step {s}: {op:?}");
                if live {
                    let deadline = model.deadline(ttl);
                    self.model.entries.get_mut(&k).expect("live").deadline = deadline;
                    Expect::nothing()
                } else {
                    // An expired entry met by `expire` is reaped.
                    self.remove(k).1
                }
            }
            Op::Incr(k, amount) => {
                let k = Self::key(k);
                let got = cache.incr(k, amount);
                self.counter(k, amount, got)
            }
            Op::Decr(k, amount) => {
                let k = Self::key(k);
                let got = cache.decr(k, amount);
                match amount.checked_neg() {
                    Some(amount) => self.counter(k, amount, got),
                    None => {
                        assert_eq!(got, Err(Error::Overflow), "step {s}: {op:?}");
                        Expect::nothing()
                    }
                }
            }
            Op::GetOrInsertWith(k, seed) => {
                let (k, v) = (Self::key(k), V::pick(seed));
                let called = Cell::new(false);
                let got = cache.get_or_insert_with(k, || {
                    called.set(true);
                    v.clone()
                });
                self.loaded(op, k, Ok(v), Ok(got), called.get())
            }
            Op::TryGetOrInsertWith(k, seed, fails) => {
                let (k, v) = (Self::key(k), V::pick(seed));
                let called = Cell::new(false);
                let got = cache.try_get_or_insert_with(k, || {
                    called.set(true);
                    if fails {
                        Err("the loader failed")
                    } else {
                        Ok(v.clone())
                    }
                });
                let v = if fails { Err("the loader failed") } else { Ok(v) };
                self.loaded(op, k, v, got, called.get())
            }
            Op::RunPendingTasks => {
                cache.run_pending_tasks();
                self.reap_all()
            }
            Op::Stats => {
                // Every counter is checked after every step; here the ratio.
                let ratio = cache.stats().hit_ratio();
                assert!((0.0..=1.0).contains(&ratio), "step {s}: hit ratio {ratio}");
                Expect::nothing()
            }
            Op::Advance(n) => {
                self.advance(u128::from(n));
                Expect::nothing()
            }
            Op::AdvanceToDeadline(pick, offset) => {
                let deadlines: Vec<u128> = model
                    .entries
                    .values()
                    .filter_map(|e| e.deadline)
                    // Not to the saturated deadline of a `Duration::MAX` TTL:
                    // see `Op::AdvanceToDeadline`.
                    .filter(|&d| d > model.now && d < LATEST)
                    .collect();
                if let Some(&d) = deadlines.get(usize::from(pick) % deadlines.len().max(1)) {
                    let to = (d as i128 + i128::from(offset % 2)) as u128;
                    self.advance(to.saturating_sub(self.model.now));
                }
                Expect::nothing()
            }
        }
    }

    fn advance(&mut self, by: u128) {
        let by = by.min(LATEST - self.model.now);
        self.clock.advance(Duration::from_nanos(by as u64));
        self.model.now += by;
    }

    /// A write of `value` (`None`: a marker) to `k` with `ttl`.
    fn write(&mut self, k: u8, value: Option<V>, ttl: Option<Duration>) -> Expect<V> {
        let model = &mut self.model;
        let mut expect = Expect { may_reap: self.settings.capacity.is_some(), ..Expect::nothing() };
        match model.entries.get(&k) {
            Some(e) if model.is_live(e) => {
                if let Some(old) = &e.value {
                    expect.must.push((k, old.clone(), RemovalCause::Replaced));
                }
            }
            Some(e) => {
                if let Some(old) = &e.value {
                    expect.must.push((k, old.clone(), RemovalCause::Expired));
                }
                expect.inserts = Some(k);
            }
            None => expect.inserts = Some(k),
        }
        let deadline = model.deadline(ttl);
        model.entries.insert(k, Entry { value, deadline });
        expect
    }

    /// A removal of `k`: whether it had a live entry (marker or value).
    fn remove(&mut self, k: u8) -> (bool, Expect<V>) {
        let mut expect = Expect::nothing();
        let live = self.model.live(k).is_some();
        if let Some(Entry { value: Some(v), .. }) = self.model.entries.remove(&k) {
            let cause = if live { RemovalCause::Removed } else { RemovalCause::Expired };
            expect.must.push((k, v, cause));
        }
        (live, expect)
    }

    /// A call that reaps every expired entry.
    fn reap_all(&mut self) -> Expect<V> {
        let expired: Vec<u8> = self
            .model
            .entries
            .keys()
            .copied()
            .filter(|&k| self.model.expired(k).is_some())
            .collect();
        let mut expect = Expect { may_reap: true, ..Expect::nothing() };
        for k in expired {
            if let Some(Entry { value: Some(v), .. }) = self.model.entries.remove(&k) {
                expect.must.push((k, v, RemovalCause::Expired));
            }
        }
        expect
    }

    /// `incr(k, amount)`, which answered `got`.
    fn counter(&mut self, k: u8, amount: i64, got: Result<i64, Error>) -> Expect<V> {
        let s = self.step;
        match self.model.live_value(k) {
            Some(old) => {
                let want = match old.int() {
                    None => Err(Error::NotAnInteger),
                    Some(n) => n
                        .checked_add(amount)
                        .filter(|&sum| V::of(sum).is_some())
                        .ok_or(Error::Overflow),
                };
                assert_eq!(got, want, "step {s}: incr({k}, {amount}) on {old:?}");
                let Ok(sum) = want else {
                    return Expect::nothing();
                };
                // In place: the deadline stays exactly as it was.
                self.model.entries.get_mut(&k).expect("live").value = V::of(sum);
                let must = vec![(k, old, RemovalCause::Replaced)];
                Expect { must, may_reap: false, inserts: None }
            }
            None => match V::of(amount) {
                None => {
                    assert_eq!(got, Err(Error::Overflow), "step {s}: incr({k}, {amount}) new");
                    Expect::nothing()
                }
                Some(v) => {
                    assert_eq!(got, Ok(amount), "step {s}: incr({k}, {amount}) new");
                    self.write(k, Some(v), self.settings.default_ttl)
                }
            },
        }
    }

    /// A single-flight load of `k` whose loader would give `v`, which
    /// answered `got` and did or did not call the loader.
    fn loaded(
        &mut self,
        op: &Op,
        k: u8,
        v: Result<V, &'static str>,
        got: Result<V, &'static str>,
        called: bool,
    ) -> Expect<V> {
        let s = self.step;
        if let Some(old) = self.model.live_value(k) {
            assert_eq!(got, Ok(old), "step {s}: {op:?} over a live value");
            assert!(!called, "step {s}: {op:?} ran its loader over a live value");
            return Expect::nothing();
        }
        assert!(called, "step {s}: {op:?} did not run its loader");
        assert_eq!(got, v, "step {s}: {op:?}");
        match v {
            Ok(v) => self.write(k, Some(v), self.settings.default_ttl),
            // A failed load changes nothing.
            Err(_) => Expect::nothing(),
        }
    }

    /// Checks the listener's reports of the last call against `expect`,
    /// forgets the reaped entries, and returns the evicted ones.
    fn check_reports(&mut self, op: &Op, before: &Model<V>, expect: &Expect<V>) -> Vec<(u8, V)> {
        let s = self.step;
        let mut reports = std::mem::take(&mut *self.reports.lock().unwrap());
        let mut keys: Vec<u8> = reports.iter().map(|r| r.0).collect();
        keys.sort_unstable();
        assert!(
            keys.windows(2).all(|w| w[0] != w[1]),
            "step {s}: {op:?} reported a key twice: {reports:?}"
        );
        for want in &expect.must {
            let Some(at) = reports.iter().position(|r| r == want) else {
                panic!("step {s}: {op:?} did not report {want:?}; it reported {reports:?}");
            };
            reports.swap_remove(at);
        }
        let mut evicted = Vec::new();
        for (k, v, cause) in reports {
            let was = before.entries.get(&k);
            match cause {
                RemovalCause::Expired if expect.may_reap => {
                    let expired = before.expired(k).and_then(|e| e.value.as_ref());
                    assert_eq!(expired, Some(&v), "step {s}: {op:?} reaped {k}={v:?}");
                    if self.model.entries.get(&k) == was {
                        self.model.entries.remove(&k);
                    }
                }
                RemovalCause::Evicted if expect.inserts.is_some() => evicted.push((k, v)),
                _ => panic!("step {s}: {op:?} reported {k}={v:?} {cause:?} unexpectedly"),
            }
        }
        evicted
    }

    /// Compares the whole cache with the model after a call that made the
    /// reports `evicted`.
    fn check_state(&mut self, op: &Op, expect: &Expect<V>, mut evicted: Vec<(u8, V)>) {
        let s = self.step;
        // A live key the cache no longer holds can only have been evicted.
        let live = self.model.live_count();
        let mut gone = Vec::new();
        for k in 0..KEYS {
            let (got, want) = (self.cache.ttl(&k), self.model.ttl(k));
            if got != want {
                let eviction = self.settings.capacity.is_some() && got == Ttl::Missing;
                assert!(eviction, "step {s}: after {op:?}, ttl({k}) is {got:?}, not {want:?}");
                gone.push(k);
            }
        }
        if let Some(capacity) = self.settings.capacity {
            let over = live.saturating_sub(usize::try_from(capacity).unwrap_or(usize::MAX));
            assert_eq!(
                gone.len(),
                over,
                "step {s}: {op:?} evicted {gone:?} with {live} live entries for a capacity \
                 of {capacity} (the model: {:?})",
                self.model
            );
            if let Some(&k) = gone.first() {
                assert!(
                    expect.inserts.is_some_and(|new| !gone.contains(&new)),
                    "step {s}: {op:?} evicted {k} without inserting another key"
                );
            }
        }
        for &k in &gone {
            let entry = self.model.entries.remove(&k).expect("a live entry");
            if let Some(v) = entry.value {
                let Some(at) = evicted.iter().position(|e| *e == (k, v.clone())) else {
                    panic!("step {s}: {op:?} evicted {k}={v:?} without reporting it");
                };
                evicted.swap_remove(at);
            }
        }
        assert_eq!(evicted, [], "step {s}: {op:?} reported evictions of entries still there");
        self.evicted += gone.len() as u64;

        let mut items = self.cache.items();
        items.sort_unstable();
        assert_eq!(items, self.model.items(), "step {s}: items after {op:?}");

        let timers = self.cache.timers();
        let now = self.model.now;
        let timed = |e: &&Entry<V>| e.deadline.is_some();
        let held = self.model.entries.values().filter(timed).count();
        let live = self.model.entries.values().filter(timed).filter(|e| e.deadline > Some(now));
        let live = live.count();
        assert!(
            (live..=held).contains(&timers),
            "step {s}: {timers} timers after {op:?}: {live} live entries have a deadline, \
             {held} may be held"
        );

        self.cache.assert_invariants();

        let stats = self.cache.stats();
        let old = self.stats;
        let pairs = [
            ("hits", old.hits, stats.hits),
            ("misses", old.misses, stats.misses),
            ("negative_hits", old.negative_hits, stats.negative_hits),
            ("inserts", old.inserts, stats.inserts),
            ("updates", old.updates, stats.updates),
            ("removals", old.removals, stats.removals),
            ("expirations", old.expirations, stats.expirations),
        ];
        for (name, old, new) in pairs {
            assert!(new >= old, "step {s}: stats().{name} went from {old} to {new}");
        }
        assert_eq!(stats.evictions, self.evicted, "step {s}: stats().evictions after {op:?}");
        assert_eq!(stats.listener_panics, 0);
        self.stats = stats;
    }
}
