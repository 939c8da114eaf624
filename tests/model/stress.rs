//! Threads of mixed calls with invariants that hold whatever the timing,
//! sized for two cores: each test runs in well under a second.
//!
//! `sync_core::concurrency` already checks exact counters under plain
//! `incr`, no expired value read by `get_item` and `items`, and the table
//! staying valid under every call at once. These add what needs a version
//! in each value or a second phase: no entry coming back once a reader saw
//! it gone, the same with a bounded cache evicting, single-flight loads
//! once per key (again after expiry, with failing loaders among them), and
//! counters exact while the entries around them move and expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, RwLock};
use std::thread;
use std::time::Duration;

use wheelcache::{Cache, Lookup, MockClock, Ttl};

/// A value that knows its key's write number and its own deadline
/// (`NEVER`: none).
type Stamp = (u64, u64);

const NEVER: u64 = u64::MAX;

/// A small deterministic generator (64-bit LCG, high bits out).
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn now_ns(clock: &MockClock) -> u64 {
    u64::try_from(clock.elapsed().as_nanos()).expect("the mock clock stays below u64::MAX ns")
}

/// What a reader has seen of one key: reads must never go back to a write
/// older than the newest one seen, nor to one seen gone.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// The oldest write number a read may still return.
    floor: u64,
    /// The write number of the last value read, if the last read found one.
    last: Option<u64>,
}

impl Seen {
    fn hit(&mut self, k: u64, (write, deadline): Stamp, read_at: u64) {
        assert!(deadline > read_at, "key {k}: read at >= {read_at} ns, expired at {deadline}");
        assert!(write >= self.floor, "key {k}: write {write} came back after {}", self.floor);
        self.floor = write;
        self.last = Some(write);
    }

    fn gone(&mut self) {
        // The value last read has expired, or was removed, replaced by a
        // marker, or evicted: it can never be read again.
        if let Some(write) = self.last.take() {
            self.floor = write + 1;
        }
    }
}

/// Writers each own a range of keys and stamp every value with its key's
/// write number and deadline; they read the clock and write under a shared
/// gate that the clock mover takes exclusively, so the deadline the cache
/// computes is the one in the value. Readers read the clock *before* each
/// read. A value read must be live at that reading, and once a reader has
/// seen a value gone, no read returns it (or anything older) again.
fn versioned_run(capacity: Option<u64>) {
    const WRITERS: u64 = 2;
    const KEYS: u64 = 32;
    const OPS: u64 = 3_000;
    let clock = MockClock::new();
    let mut builder = Cache::builder().clock(clock.clone()).shards(4);
    if let Some(capacity) = capacity {
        builder = builder.max_capacity(capacity);
    }
    let negative_ttl = Duration::from_millis(2);
    let cache: Cache<u64, Stamp> = builder.negative_ttl(negative_ttl).build().unwrap();
    let gate = Arc::new(RwLock::new(()));
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (cache, clock, gate) = (cache.clone(), clock.clone(), gate.clone());
            thread::spawn(move || {
                let mut rng = Lcg::new(w + 1);
                // key -> (value or marker, deadline); absent: removed.
                let mut model: HashMap<u64, (Option<Stamp>, u64)> = HashMap::new();
                let mut writes = vec![0u64; KEYS as usize];
                for op in 0..OPS {
                    if op % 16 == 0 {
                        thread::yield_now(); // let the clock move
                    }
                    let i = rng.below(KEYS);
                    let k = w * KEYS + i;
                    let _open = gate.read().unwrap();
                    let now = now_ns(&clock);
                    let live = model.get(&k).is_some_and(|&(_, d)| d > now);
                    let mut stamp = |deadline| {
                        writes[i as usize] += 1;
                        (writes[i as usize], deadline)
                    };
                    match rng.below(12) {
                        0..=5 => {
                            let ttl = 1 + rng.below(3_000_000);
                            let v = stamp(now + ttl);
                            cache.setx(k, v, Some(Duration::from_nanos(ttl)));
                            model.insert(k, (Some(v), now + ttl));
                        }
                        6 => {
                            let v = stamp(NEVER);
                            cache.set(k, v);
                            model.insert(k, (Some(v), NEVER));
                        }
                        7 => {
                            cache.set_negative(k);
                            model.insert(k, (None, now + negative_ttl.as_nanos() as u64));
                        }
                        8 if capacity.is_none() => {
                            assert_eq!(cache.del_item(&k), live, "del_item({k}) at {now}");
                            model.remove(&k);
                        }
                        9 if capacity.is_none() => {
                            let want = model.get(&k).filter(|_| live).and_then(|&(v, _)| v);
                            assert_eq!(cache.pop(&k), want, "pop({k}) at {now}");
                            model.remove(&k);
                        }
                        10 => {
                            cache.expire(&k, Some(Duration::ZERO));
                            model.remove(&k);
                        }
                        _ => {
                            cache.setx(k, stamp(0), Some(Duration::ZERO));
                            model.remove(&k);
                        }
                    }
                }
                model
            })
        })
        .collect();

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (cache, clock, done) = (cache.clone(), clock.clone(), done.clone());
            thread::spawn(move || {
                let mut rng = Lcg::new(100 + r);
                let mut seen = vec![Seen::default(); (WRITERS * KEYS) as usize];
                let (mut reads, mut hits) = (0u64, 0u64);
                while !done.load(SeqCst) || reads < 2_000 {
                    let k = rng.below(WRITERS * KEYS);
                    let read_at = now_ns(&clock);
                    match cache.get_item(&k) {
                        Lookup::Hit(v) => {
                            seen[k as usize].hit(k, v, read_at);
                            hits += 1;
                        }
                        Lookup::Miss | Lookup::Negative => seen[k as usize].gone(),
                    }
                    if reads % 128 == 0 {
                        let read_at = now_ns(&clock);
                        for (k, v) in cache.items() {
                            seen[k as usize].hit(k, v, read_at);
                        }
                    }
                    reads += 1;
                }
                (reads, hits)
            })
        })
        .collect();

    let mover = {
        let (cache, clock, gate, done) = (cache.clone(), clock.clone(), gate.clone(), done.clone());
        thread::spawn(move || {
            let mut rng = Lcg::new(7);
            let mut moves = 0u64;
            while !done.load(SeqCst) {
                {
                    let _closed = gate.write().unwrap();
                    clock.advance(Duration::from_nanos(rng.below(400_000)));
                }
                match moves % 8 {
                    0 => cache.run_pending_tasks(),
                    4 => {
                        let _ = cache.len();
                    }
                    _ => {}
                }
                moves += 1;
                thread::yield_now();
            }
        })
    };

    let models: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    done.store(true, SeqCst);
    for r in readers {
        let (reads, hits) = r.join().unwrap();
        assert!(hits > 0, "{reads} reads and not one hit");
    }
    mover.join().unwrap();

    // Quiescence.
    cache.run_pending_tasks();
    cache.assert_invariants();
    let now = now_ns(&clock);
    let model: HashMap<u64, (Option<Stamp>, u64)> =
        models.into_iter().flatten().filter(|&(_, (_, d))| d > now).collect();
    let mut held = 0;
    for k in 0..WRITERS * KEYS {
        let want = model.get(&k).copied();
        let lookup = cache.get_item(&k);
        match (lookup, want) {
            (Lookup::Miss, None) => {}
            // A bounded cache may have evicted it.
            (Lookup::Miss, Some(_)) if capacity.is_some() => {}
            (Lookup::Hit(v), Some((Some(w), _))) if v == w => held += 1,
            (Lookup::Negative, Some((None, _))) => held += 1,
            (lookup, want) => panic!("key {k} at {now} ns: {lookup:?}, the writer left {want:?}"),
        }
    }
    let timed = (0..WRITERS * KEYS).filter(|k| matches!(cache.ttl(k), Ttl::Remaining(_))).count();
    assert_eq!(cache.timers(), timed, "one timer per entry with a deadline, none expired");
    let values = model.values().filter(|(v, _)| v.is_some()).count();
    match capacity {
        None => {
            assert_eq!(held, model.len(), "every live entry is there");
            assert_eq!(cache.len(), values, "len at quiescence");
        }
        Some(capacity) => {
            assert!(held as u64 <= capacity, "{held} entries for a capacity of {capacity}");
            assert!(cache.stats().evictions > 0, "the bounded run never evicted");
            assert!(cache.len() <= values);
        }
    }
    assert_eq!(cache.len(), cache.items().len());
}

#[test]
fn no_value_outlives_its_deadline_or_comes_back() {
    versioned_run(None);
}

#[test]
fn no_value_comes_back_from_eviction_and_the_bound_holds() {
    versioned_run(Some(24));
}

/// Four threads load the same 64 keys, in different orders; one of them
/// with a loader that fails on even keys. Each key is loaded exactly once,
/// every caller gets that load's value; after the entries expire, exactly
/// once more.
#[test]
fn single_flight_loads_each_key_once_per_expiry() {
    const THREADS: u64 = 4;
    const KEYS: u64 = 64;
    let clock = MockClock::new();
    let ttl = Duration::from_millis(10);
    let cache: Cache<u64, (u64, u64)> =
        Cache::builder().clock(clock.clone()).shards(4).default_ttl(ttl).build().unwrap();
    let loads: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
    let failures = Arc::new(AtomicU64::new(0));
    for round in 0..2u64 {
        let barrier = Arc::new(Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (cache, loads, failures) = (cache.clone(), loads.clone(), failures.clone());
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    let mut got = vec![None; KEYS as usize];
                    for i in 0..KEYS {
                        let k = (i * (t + 1) + t * 17) % KEYS;
                        let load = || {
                            let n = loads[k as usize].fetch_add(1, SeqCst);
                            (k, n)
                        };
                        got[k as usize] = if t == THREADS - 1 && k % 2 == 0 {
                            let r = cache.try_get_or_insert_with(k, || {
                                failures.fetch_add(1, SeqCst);
                                Err("down")
                            });
                            r.ok()
                        } else {
                            Some(cache.get_or_insert_with(k, load))
                        };
                    }
                    got
                })
            })
            .collect();
        let results: Vec<Vec<Option<(u64, u64)>>> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        for k in 0..KEYS {
            assert_eq!(loads[k as usize].load(SeqCst), round + 1, "round {round}: loads of {k}");
            let want = (k, round);
            assert_eq!(cache.get(&k), Some(want), "round {round}: key {k}");
            for r in &results {
                assert!(r[k as usize].is_none_or(|v| v == want), "round {round}: key {k}: {r:?}");
            }
        }
        assert_eq!(cache.len(), KEYS as usize);
        cache.assert_invariants();
        clock.advance(ttl);
        assert!(cache.is_empty(), "round {round}: everything expired");
    }
    assert_eq!(cache.timers(), 0);
    assert!(failures.load(SeqCst) <= 2 * KEYS / 2, "a failing loader ran twice for one key");
}

/// Two threads count on four persistent counters while a third churns
/// entries with short TTLs in the same two shards (so removals move the
/// counters' entries about), re-times the counters, moves the clock and
/// reaps. No increment is lost, and each thread sees its own in order.
#[test]
fn counters_stay_exact_while_entries_around_them_move_and_expire() {
    const COUNTERS: u64 = 4;
    const PER_THREAD: u64 = 4_000;
    let clock = MockClock::new();
    let cache: Cache<u64, i64> = Cache::builder().clock(clock.clone()).shards(2).build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let counting: Vec<_> = (0..2u64)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut last = vec![i64::MIN; COUNTERS as usize];
                for i in 0..PER_THREAD {
                    let k = (i + t) % COUNTERS;
                    let n = if t == 0 { cache.incr(k, 2) } else { cache.decr(k, -2) };
                    let n = n.unwrap();
                    assert!(n > last[k as usize], "counter {k} went back to {n}");
                    last[k as usize] = n;
                }
            })
        })
        .collect();
    let churn = {
        let (cache, clock, done) = (cache.clone(), clock.clone(), done.clone());
        thread::spawn(move || {
            let mut rng = Lcg::new(5);
            let mut model: HashMap<u64, u64> = HashMap::new();
            let mut ops = 0u64;
            while !done.load(SeqCst) || ops < 2_000 {
                let now = now_ns(&clock);
                let k = 100 + rng.below(200);
                match rng.below(8) {
                    0..=3 => {
                        let ttl = 1 + rng.below(2_000_000);
                        cache.setx(k, 1, Some(Duration::from_nanos(ttl)));
                        model.insert(k, now + ttl);
                    }
                    4 => {
                        cache.del_item(&k);
                        model.remove(&k);
                    }
                    5 => {
                        // Once a counter exists, re-timing it keeps it.
                        let c = rng.below(COUNTERS);
                        if cache.expire(&c, Some(Duration::from_secs(3600))) {
                            assert!(cache.expire(&c, None), "counter {c} vanished");
                        }
                    }
                    6 => clock.advance(Duration::from_nanos(rng.below(500_000))),
                    _ => cache.run_pending_tasks(),
                }
                ops += 1;
            }
            model
        })
    };
    for t in counting {
        t.join().unwrap();
    }
    done.store(true, SeqCst);
    let model = churn.join().unwrap();
    let per_counter = (2 * PER_THREAD / COUNTERS) as i64 * 2;
    for k in 0..COUNTERS {
        assert_eq!(cache.get(&k), Some(per_counter), "counter {k}");
        assert_eq!(cache.ttl(&k), Ttl::Persistent, "counter {k}");
    }
    let now = now_ns(&clock);
    let live = model.values().filter(|&&d| d > now).count();
    assert_eq!(cache.len(), COUNTERS as usize + live, "len at quiescence");
    cache.run_pending_tasks();
    assert_eq!(cache.timers(), live);
    cache.assert_invariants();
}
