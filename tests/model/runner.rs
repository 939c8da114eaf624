//! The runner that applies each [`Op`] to a cache and to the model
//! (`reference.rs`) and compares them. Shared by the proptest sequences
//! (`sequence.rs`) and the fuzz target `ops` (fuzz/), which includes this
//! file, `op.rs`, `reference.rs` and `weights.rs` by path.
//!
//! After every call the runner checks:
//! - the call's answer, and whether it ran its loader;
//! - the listener's reports: the ones the call must make (a value replaced,
//!   removed, met expired, or refused for its weight), and no other but
//!   expired entries reaped and, in a bounded cache, entries evicted by a
//!   write; a key no more often than the call must report it (twice for
//!   a refused value: the one it replaced, and itself), but for a batch
//!   (`set_many`), which may write a key more than once;
//! - `ttl` of every key (exact, the earlier of the deadline and the idle
//!   deadline), which neither reaps nor counts nor renews anything, and
//!   `items()`;
//! - in a bounded cache: the model cannot tell which key is evicted, so a
//!   live key that vanished is taken as evicted; `weights.rs` checks that
//!   only writes evict, never their own key, that the live entries weigh at
//!   most the capacity afterwards, and no more was evicted than needed;
//!   each evicted value must be reported `Evicted`, and `stats().evictions`
//!   counts them (and the refused values) exactly;
//! - `timers()` between the live entries with an expiry and every entry
//!   with one that the cache may still hold (exact after reaping);
//! - `assert_invariants()`, the counters of `stats()` never going
//!   backwards, and `stats().weight` (see `weights.rs`).

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wheelcache::{Cache, Error, Loaded, MockClock, RemovalCause, Stats, Ttl};

use super::op::{LoadArg, Op, Value, KEYS};
use super::reference::{Model, Rules};
use super::weights::{self, Writes};

/// How a cache under test is built, and how the run looks at it.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) shards: usize,
    /// In entries, or in weight when `weighted`.
    pub(crate) capacity: Option<u64>,
    /// A weigher of [`Value::weight`] (only with a capacity).
    pub(crate) weighted: bool,
    /// What one unit of [`Value::weight`] weighs (a weighted run only):
    /// a large unit with a capacity as large gives a bounded cache several
    /// shards (one per 64 Ki units at most) while it holds only `KEYS` keys.
    pub(crate) weight_unit: u32,
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) tick: Duration,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) negative_ttl: Duration,
    /// Call `len()` after every step. It reaps, so runs without it keep
    /// expired entries around until a call meets them.
    pub(crate) len_every_step: bool,
}

type Report<V> = (u8, V, RemovalCause);

const EXPIRED: &[RemovalCause] = &[RemovalCause::Expired];
const EVICTED: &[RemovalCause] = &[RemovalCause::Evicted];
const REMOVED: &[RemovalCause] = &[RemovalCause::Removed];
const REPLACED: &[RemovalCause] = &[RemovalCause::Replaced];
/// A batch write in a bounded cache may evict a value of its own keys
/// (even one it wrote itself) before it would have replaced it.
const REPLACED_OR_EVICTED: &[RemovalCause] = &[RemovalCause::Replaced, RemovalCause::Evicted];

/// What the loader of a failing load returns.
const FAILED: &str = "the loader failed";

/// A report a call must make: `key` with `value`, for one of `causes`.
#[derive(Debug)]
struct Must<V> {
    key: u8,
    value: V,
    causes: &'static [RemovalCause],
}

/// What the listener must and may report for one call.
struct Expect<V> {
    /// Reports the call must make, in any order.
    must: Vec<Must<V>>,
    /// The call may reap (and report) expired entries of any key.
    may_reap: bool,
    /// What the call writes, and so what it may evict.
    writes: Writes,
    /// Evictions `stats()` may count beyond the reports and the vanished
    /// keys: a batch's keys whose live marker was evicted rather than
    /// replaced (nobody hears of markers).
    hidden: u64,
}

impl<V> Expect<V> {
    fn nothing() -> Self {
        Expect { must: Vec::new(), may_reap: false, writes: Writes::None, hidden: 0 }
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
    /// Evictions seen so far (values refused for their weight included).
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
        assert!(!settings.weighted || settings.capacity.is_some(), "a weigher needs a capacity");
        if settings.weighted {
            let unit = settings.weight_unit;
            builder = builder.weigher(move |_: &u8, v: &V| v.weight() * unit);
        }
        if let Some(idle) = settings.time_to_idle {
            builder = builder.time_to_idle(idle);
        }
        let cache = builder.build().expect("valid settings");
        let model = Model::new(Rules {
            tick: settings.tick.as_nanos(),
            idle: settings.time_to_idle.map(|d| d.as_nanos()),
            weighted: settings.weighted,
            unit: u64::from(settings.weight_unit),
            capacity: settings.capacity,
        });
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
        // A weighted cache's policy may leave out a new key.
        let refusable = match expect.writes {
            Writes::One(k) if self.settings.weighted && before.live(k).is_none() => Some(k),
            _ => None,
        };
        let evicted = self.check_reports(op, &before, &expect, refusable);
        self.check_state(op, &expect, refusable, evicted);
        self.step += 1;
    }

    /// Clears the cache: every value still held is reported once, and
    /// nothing is left.
    fn finish(mut self) {
        self.step(&Op::Clear);
        assert_eq!(self.cache.len(), 0, "len after clear");
        assert_eq!(self.cache.timers(), 0, "timers after clear");
        assert_eq!(self.cache.stats().weight, 0, "stats().weight after clear");
        assert!(self.reports.lock().unwrap().is_empty(), "reports after clear");
        let room = u64::from(KEYS) * self.model.heaviest();
        if self.settings.capacity.is_some_and(|c| c >= room) {
            assert_eq!(self.evicted, 0, "a cache with room for every key evicted");
        }
        self.cache.assert_invariants();
    }

    fn key(k: u8) -> u8 {
        k % KEYS
    }

    fn bounded(&self) -> bool {
        self.settings.capacity.is_some()
    }

    fn apply(&mut self, op: &Op) -> Expect<V> {
        let s = self.step;
        let (cache, model) = (&self.cache, &self.model);
        match *op {
            Op::GetItem(k) => {
                let k = Self::key(k);
                assert_eq!(cache.get_item(&k), model.lookup(k), "step {s}: {op:?}");
                self.model.read(k);
                Expect::nothing()
            }
            Op::Get(k) => {
                let k = Self::key(k);
                assert_eq!(cache.get(&k), model.live_value(k), "step {s}: {op:?}");
                self.model.read(k);
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
                        self.model.read(k);
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
                        expect.must.push(Must { key: k, value: v, causes: REMOVED });
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
                        let causes = if model.is_live(e) { REMOVED } else { EXPIRED };
                        Some(Must { key: k, value: e.value.clone()?, causes })
                    })
                    .collect();
                self.model.entries.clear();
                Expect { must, ..Expect::nothing() }
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
            Op::Iter => {
                let mut items: Vec<(u8, V)> = cache.iter().collect();
                items.sort_unstable();
                assert_eq!(items, model.items(), "step {s}: iter (each live entry once)");
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
                let must = items
                    .into_iter()
                    .map(|(key, value)| Must { key, value, causes: REMOVED })
                    .collect();
                Expect { must, ..Expect::nothing() }
            }
            Op::Retain(keep) => {
                let judged = RefCell::new(Vec::new());
                cache.retain(|&k, v: &V| {
                    judged.borrow_mut().push((k, v.clone()));
                    keep.keeps(k, v)
                });
                let mut judged = judged.into_inner();
                judged.sort_unstable();
                let items = model.items();
                assert_eq!(judged, items, "step {s}: {op:?} judged each live value once");
                let mut must = Vec::new();
                for (k, v) in items {
                    if !keep.keeps(k, &v) {
                        self.model.entries.remove(&k);
                        must.push(Must { key: k, value: v, causes: REMOVED });
                    }
                }
                Expect { must, ..Expect::nothing() }
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
                    // A write: a new deadline, and the idle one renewed.
                    let (deadline, now) = (model.deadline(ttl), model.now);
                    let e = self.model.entries.get_mut(&k).expect("live");
                    (e.deadline, e.touched) = (deadline, now);
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
                        Err(FAILED)
                    } else {
                        Ok(v.clone())
                    }
                });
                let v = if fails { Err(FAILED) } else { Ok(v) };
                self.loaded(op, k, v, got, called.get())
            }
            Op::Load(k, arg) => {
                let k = Self::key(k);
                let called = Cell::new(false);
                let got = cache.load(k, || {
                    called.set(true);
                    match arg {
                        LoadArg::Value(seed) => Ok(Loaded::Value(V::pick(seed))),
                        LoadArg::ValueWithTtl(seed, ttl) => {
                            Ok(Loaded::ValueWithTtl(V::pick(seed), ttl.duration()))
                        }
                        LoadArg::Absent => Ok(Loaded::Absent),
                        LoadArg::Fails => Err(FAILED),
                    }
                });
                self.load(op, k, arg, got, called.get())
            }
            Op::GetMany(ref keys) => {
                let keys: Vec<u8> = keys.iter().map(|&k| Self::key(k)).collect();
                let refs: Vec<&u8> = keys.iter().collect();
                let got = cache.get_many(&refs);
                let want: Vec<Option<V>> = keys.iter().map(|&k| model.live_value(k)).collect();
                assert_eq!(got, want, "step {s}: get_many({keys:?})");
                for &k in &keys {
                    self.model.read(k);
                }
                Expect::nothing()
            }
            Op::SetMany(ref pairs) => {
                let items: Vec<(u8, V)> =
                    pairs.iter().map(|&(k, seed)| (Self::key(k), V::pick(seed))).collect();
                cache.set_many(items.clone());
                let mut expect =
                    Expect { may_reap: self.bounded(), writes: Writes::Batch, ..Expect::nothing() };
                for (k, v) in items {
                    self.put(k, Some(v), self.settings.default_ttl, &mut expect);
                }
                expect
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
            Op::AdvanceTick(offset) => {
                let by = model.rules.tick as i128 + i128::from(offset % 2);
                self.advance(by as u128);
                Expect::nothing()
            }
            Op::AdvanceToDeadline(pick, offset) => {
                // Not to the saturated deadline of a `Duration::MAX` TTL:
                // see `Op::AdvanceToDeadline`.
                let expiries = model.expiries();
                if let Some(&at) = expiries.get(usize::from(pick) % expiries.len().max(1)) {
                    let to = (at as i128 + i128::from(offset % 2)) as u128;
                    self.advance(to.saturating_sub(self.model.now));
                }
                Expect::nothing()
            }
        }
    }

    fn advance(&mut self, by: u128) {
        let by = by.min(super::reference::LATEST - self.model.now);
        self.clock.advance(Duration::from_nanos(by as u64));
        self.model.now += by;
    }

    /// A write of `value` (`None`: a marker) to `k` with `ttl`.
    fn write(&mut self, k: u8, value: Option<V>, ttl: Option<Duration>) -> Expect<V> {
        let mut expect =
            Expect { may_reap: self.bounded(), writes: Writes::One(k), ..Expect::nothing() };
        self.put(k, value, ttl, &mut expect);
        expect
    }

    /// Puts `value` into the model for a write of `k` with `ttl`, and adds
    /// to `expect` the reports it makes: the old value replaced (or met
    /// expired); a value heavier than the whole capacity is not stored but
    /// reported evicted at once.
    fn put(&mut self, k: u8, value: Option<V>, ttl: Option<Duration>, expect: &mut Expect<V>) {
        let batch = expect.writes == Writes::Batch && self.bounded();
        let model = &mut self.model;
        if let Some(old) = model.entries.remove(&k) {
            let live = model.is_live(&old);
            match old.value {
                Some(value) => {
                    let causes = match (live, batch) {
                        (false, _) => EXPIRED,
                        (true, false) => REPLACED,
                        (true, true) => REPLACED_OR_EVICTED,
                    };
                    expect.must.push(Must { key: k, value, causes });
                }
                None if live && batch => expect.hidden += 1,
                None => {}
            }
        }
        if model.refuses(value.as_ref()) {
            let value = value.expect("a marker weighs 1");
            expect.must.push(Must { key: k, value, causes: EVICTED });
        } else {
            let entry = model.entry(value, ttl);
            model.entries.insert(k, entry);
        }
    }

    /// A removal of `k`: whether it had a live entry (marker or value).
    fn remove(&mut self, k: u8) -> (bool, Expect<V>) {
        let mut expect = Expect::nothing();
        let live = self.model.live(k).is_some();
        if let Some(Some(value)) = self.model.entries.remove(&k).map(|e| e.value) {
            let causes = if live { REMOVED } else { EXPIRED };
            expect.must.push(Must { key: k, value, causes });
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
            if let Some(Some(value)) = self.model.entries.remove(&k).map(|e| e.value) {
                expect.must.push(Must { key: k, value, causes: EXPIRED });
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
                // A failed `incr` changes nothing, and is no access.
                let Ok(sum) = want else {
                    return Expect::nothing();
                };
                let new = V::of(sum).expect("checked above");
                let must = vec![Must { key: k, value: old, causes: REPLACED }];
                let mut expect =
                    Expect { must, may_reap: self.bounded(), writes: Writes::One(k), hidden: 0 };
                if self.model.refuses(Some(&new)) {
                    self.model.entries.remove(&k);
                    expect.must.push(Must { key: k, value: new, causes: EVICTED });
                } else {
                    // In place: the deadline stays exactly as it was; the
                    // idle deadline is renewed.
                    let now = self.model.now;
                    let e = self.model.entries.get_mut(&k).expect("live");
                    (e.value, e.touched) = (Some(new), now);
                }
                expect
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
        // The lookup that finds a live entry is a read, even of a marker
        // (which counts as absent here).
        let found = self.model.live_value(k);
        self.model.read(k);
        if let Some(old) = found {
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

    /// `load(k)` with a loader that finds `arg`, which answered `got` and
    /// did or did not call the loader.
    fn load(
        &mut self,
        op: &Op,
        k: u8,
        arg: LoadArg,
        got: Result<Option<V>, &'static str>,
        called: bool,
    ) -> Expect<V> {
        let s = self.step;
        if let Some(e) = self.model.live(k) {
            // A live value, or a live marker's "absent", without loading.
            assert_eq!(got, Ok(e.value.clone()), "step {s}: {op:?} over a live entry");
            assert!(!called, "step {s}: {op:?} ran its loader over a live entry");
            self.model.read(k);
            return Expect::nothing();
        }
        assert!(called, "step {s}: {op:?} did not run its loader");
        match arg {
            LoadArg::Fails => {
                assert_eq!(got, Err(FAILED), "step {s}: {op:?}");
                // A failed load changes nothing.
                Expect::nothing()
            }
            LoadArg::Absent => {
                assert_eq!(got, Ok(None), "step {s}: {op:?}");
                self.write(k, None, Some(self.settings.negative_ttl))
            }
            LoadArg::Value(seed) => {
                let v = V::pick(seed);
                assert_eq!(got, Ok(Some(v.clone())), "step {s}: {op:?}");
                self.write(k, Some(v), self.settings.default_ttl)
            }
            LoadArg::ValueWithTtl(seed, ttl) => {
                let v = V::pick(seed);
                assert_eq!(got, Ok(Some(v.clone())), "step {s}: {op:?}");
                match ttl.duration() {
                    // Stored already expired: the key is left without an
                    // entry (the one it had was not live).
                    Some(Duration::ZERO) => self.remove(k).1,
                    ttl => self.write(k, Some(v), ttl),
                }
            }
        }
    }

    /// Checks the listener's reports of the last call against `expect`,
    /// forgets the reaped entries, and returns the evicted ones, in the
    /// order they were reported.
    fn check_reports(
        &mut self,
        op: &Op,
        before: &Model<V>,
        expect: &Expect<V>,
        refusable: Option<u8>,
    ) -> Vec<(u8, V)> {
        let s = self.step;
        let mut reports = std::mem::take(&mut *self.reports.lock().unwrap());
        if expect.writes != Writes::Batch {
            // A key once, unless the call must report it more often (a
            // refused value, and the value it replaced), or the policy
            // left out the key written (its expired entry reaped, then its
            // value evicted).
            for k in 0..KEYS {
                let n = reports.iter().filter(|r| r.0 == k).count();
                let must = expect.must.iter().filter(|m| m.key == k).count();
                let most = must.max(1) + usize::from(refusable == Some(k));
                assert!(n <= most, "step {s}: {op:?} reported {k} {n} times: {reports:?}");
            }
        }
        // Each required report, matched first by its likeliest cause (a
        // batch's value that may have been evicted was most likely
        // replaced), then by any cause it may have.
        let mut pending: Vec<&Must<V>> = expect.must.iter().collect();
        let all = reports.clone();
        for strict in [true, false] {
            pending.retain(|want| {
                let fits = |r: &Report<V>| {
                    r.0 == want.key
                        && r.1 == want.value
                        && if strict { r.2 == want.causes[0] } else { want.causes.contains(&r.2) }
                };
                let Some(at) = reports.iter().position(fits) else {
                    return true;
                };
                if reports.remove(at).2 == RemovalCause::Evicted {
                    self.evicted += 1;
                }
                false
            });
        }
        if let Some(want) = pending.first() {
            panic!("step {s}: {op:?} did not report {want:?}; it reported {all:?}");
        }
        let mut evicted = Vec::new();
        let evicts = expect.writes != Writes::None && self.bounded();
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
                RemovalCause::Evicted if evicts => evicted.push((k, v)),
                _ => panic!(
                    "step {s}: {op:?} reported {k}={v:?} {cause:?} unexpectedly (all reports: \
                     {all:?})"
                ),
            }
        }
        evicted
    }

    /// Compares the whole cache with the model after a call that made the
    /// reports `evicted` (in order).
    fn check_state(
        &mut self,
        op: &Op,
        expect: &Expect<V>,
        refusable: Option<u8>,
        mut evicted: Vec<(u8, V)>,
    ) {
        let s = self.step;
        let what =
            || format!("step {s}: {op:?} (the model before the evictions: {:?})", self.model);
        // A live key the cache no longer holds can only have been evicted.
        let mut gone = Vec::new();
        for k in 0..KEYS {
            let (got, want) = (self.cache.ttl(&k), self.model.ttl(k));
            if got != want {
                let eviction = self.bounded() && got == Ttl::Missing;
                assert!(eviction, "step {s}: after {op:?}, ttl({k}) is {got:?}, not {want:?}");
                gone.push(k);
            }
        }
        if let Some(capacity) = self.settings.capacity {
            // Victims holding values are each reported, in the order they
            // were evicted; a marker's place in that order is unknown.
            let values = gone.iter().all(|k| self.model.entries[k].value.is_some());
            let last = evicted.iter().rev().map(|e| e.0).find(|k| values && gone.contains(k));
            let writes = expect.writes;
            weights::check_evictions(&self.model, capacity, &gone, last, writes, refusable, &what);
        }
        for &k in &gone {
            let entry = self.model.entries.remove(&k).expect("a live entry");
            if let Some(v) = entry.value {
                let Some(at) = evicted.iter().position(|e| *e == (k, v.clone())) else {
                    panic!("step {s}: {op:?} evicted {k}={v:?} without reporting it");
                };
                evicted.remove(at);
            }
        }
        assert_eq!(evicted, [], "step {s}: {op:?} reported evictions of entries still there");
        self.evicted += gone.len() as u64;

        let mut items = self.cache.items();
        items.sort_unstable();
        assert_eq!(items, self.model.items(), "step {s}: items after {op:?}");

        let timers = self.cache.timers();
        let model = &self.model;
        let expiries = model.entries.values().filter_map(|e| model.expiry(e));
        let (live, held) = expiries
            .fold((0, 0), |(live, held), at| (live + usize::from(at > model.now), held + 1));
        assert!(
            (live..=held).contains(&timers),
            "step {s}: {timers} timers after {op:?}: {live} live entries have an expiry, \
             {held} may be held"
        );

        self.cache.assert_invariants();

        let stats = self.cache.stats();
        let old = self.stats;
        let pairs = [
            ("hits", old.hits, stats.hits),
            ("misses", old.misses, stats.misses),
            ("negative_hits", old.negative_hits, stats.negative_hits),
            ("load_waits", old.load_waits, stats.load_waits),
            ("inserts", old.inserts, stats.inserts),
            ("updates", old.updates, stats.updates),
            ("removals", old.removals, stats.removals),
            ("expirations", old.expirations, stats.expirations),
        ];
        for (name, old, new) in pairs {
            assert!(new >= old, "step {s}: stats().{name} went from {old} to {new}");
        }
        assert_eq!(stats.load_waits, 0, "step {s}: a load waited with one thread");
        let evictions = self.evicted..=self.evicted + expect.hidden;
        assert!(
            evictions.contains(&stats.evictions),
            "step {s}: stats().evictions is {} after {op:?}, not in {evictions:?}",
            stats.evictions
        );
        self.evicted = stats.evictions;
        assert_eq!(stats.listener_panics, 0);
        let what = || format!("step {s}: after {op:?} (the model: {:?})", self.model);
        weights::check_weight(&self.model, stats.weight, self.settings.capacity, &what);
        self.stats = stats;
    }
}
