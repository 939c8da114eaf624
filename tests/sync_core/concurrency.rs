//! Many threads at once, sized for two cores: exact counters, no
//! expired value ever read, `len()` right at quiescence, every stored value
//! reported exactly once.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, RwLock};
use std::thread;
use std::time::Duration;

use wheelcache::{Cache, Lookup};

use super::{mock_builder, now_ns, within, Lcg};
use crate::common::mock_cache;

/// Each test takes well under a second; a hang fails instead of stalling
/// the run.
const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn concurrent_incr_loses_no_update() {
    within(LIMIT, || {
        const THREADS: u64 = 4;
        const PER_THREAD: u64 = 5_000;
        const KEYS: u64 = 4;
        let (cache, _clock) = mock_cache::<u64, i64>();
        let barrier = Arc::new(Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let cache = cache.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    let mut seen: HashMap<u64, Vec<i64>> = HashMap::new();
                    for i in 0..PER_THREAD {
                        let k = (i + t) % KEYS;
                        seen.entry(k).or_default().push(cache.incr(k, 1).unwrap());
                    }
                    seen
                })
            })
            .collect();
        let mut returned: HashMap<u64, Vec<i64>> = HashMap::new();
        for t in threads {
            for (k, values) in t.join().unwrap() {
                // One thread sees its own increments in order.
                assert!(values.windows(2).all(|w| w[0] < w[1]), "key {k} went backwards");
                returned.entry(k).or_default().extend(values);
            }
        }
        let per_key = THREADS * PER_THREAD / KEYS;
        for k in 0..KEYS {
            assert_eq!(cache.get(&k), Some(per_key as i64), "key {k}");
            // Every intermediate total was handed out exactly once.
            let mut values = returned.remove(&k).unwrap();
            values.sort_unstable();
            assert_eq!(values, (1..=per_key as i64).collect::<Vec<_>>(), "key {k}");
        }
        assert_eq!(cache.len(), KEYS as usize);
        cache.assert_invariants();
    });
}

#[test]
fn concurrent_incr_and_decr_on_string_counters_are_exact() {
    within(LIMIT, || {
        let (cache, _clock) = mock_cache::<&'static str, String>();
        cache.set("c", "0".to_string());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                thread::spawn(move || {
                    for _ in 0..2_000 {
                        if t % 2 == 0 {
                            cache.incr("c", 3).unwrap();
                        } else {
                            cache.decr("c", 1).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cache.get("c").as_deref(), Some("8000"), "2*2000*3 - 2*2000*1");
    });
}

#[test]
fn concurrent_setdefault_agrees_on_one_value_per_key() {
    within(LIMIT, || {
        let (cache, _clock) = mock_cache::<u64, u64>();
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let cache = cache.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    (0..2_000).map(|k| cache.setdefault(k, t)).collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<Vec<u64>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let stats = cache.stats();
        assert_eq!((stats.inserts, stats.misses, stats.hits), (2_000, 2_000, 6_000));
        for k in 0..2_000 {
            let stored = cache.get(&k).unwrap();
            assert!(results.iter().all(|r| r[k as usize] == stored), "key {k}");
        }
    });
}

#[test]
fn concurrent_popitem_hands_out_each_entry_once() {
    within(LIMIT, || {
        let (cache, _clock) = mock_cache::<u64, u64>();
        for k in 0..10_000 {
            cache.set(k, k);
        }
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let cache = cache.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some((k, v)) = cache.popitem() {
                        assert_eq!(k, v);
                        got.push(k);
                    }
                    got
                })
            })
            .collect();
        let mut all = BTreeSet::new();
        let mut total = 0;
        for t in threads {
            let got = t.join().unwrap();
            total += got.len();
            all.extend(got);
        }
        assert_eq!(total, 10_000, "no entry popped twice");
        assert_eq!(all.len(), 10_000);
        assert!(cache.is_empty());
        assert_eq!(cache.stats().removals, 10_000);
        cache.assert_invariants();
    });
}

const NEVER: u64 = u64::MAX;

/// Writers store, as each value, the entry's own deadline (`NEVER` for
/// none). A writer reads the clock and writes under a shared gate the clock
/// mover takes exclusively, so the deadline the cache computes is exactly
/// the one the writer stored. Readers, outside the gate, read the clock
/// *before* each read: a value returned at clock `t >= t0` has
/// `t < deadline`, so `deadline > t0` must hold whatever the timing.
#[test]
fn no_expired_value_is_ever_read_while_the_clock_moves() {
    within(LIMIT, || {
        const WRITERS: u64 = 2;
        const KEYS_PER_WRITER: u64 = 64;
        const OPS: u64 = 4_000;
        let (builder, clock) = mock_builder::<u64, u64>();
        let notices = Arc::new(AtomicU64::new(0));
        let counted = notices.clone();
        let cache: Cache<u64, u64> = builder
            .shards(4)
            .removal_listener(move |_, _, _| {
                counted.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        let gate = Arc::new(RwLock::new(()));
        let done = Arc::new(AtomicBool::new(false));

        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (cache, clock, gate) = (cache.clone(), clock.clone(), gate.clone());
                thread::spawn(move || {
                    let mut rng = Lcg::new(100 + w);
                    // key -> deadline (NEVER: no expiry); absent: deleted.
                    let mut model: HashMap<u64, u64> = HashMap::new();
                    let mut stored = 0u64;
                    for op in 0..OPS {
                        if op % 8 == 0 {
                            thread::yield_now(); // let the clock move
                        }
                        let k = w * KEYS_PER_WRITER + rng.below(KEYS_PER_WRITER);
                        let _open = gate.read().unwrap();
                        let now = now_ns(&clock);
                        match rng.below(10) {
                            0..=6 => {
                                let ttl = 1 + rng.below(5_000_000);
                                cache.setx(k, now + ttl, Some(Duration::from_nanos(ttl)));
                                model.insert(k, now + ttl);
                                stored += 1;
                            }
                            7 => {
                                cache.setx(k, NEVER, None);
                                model.insert(k, NEVER);
                                stored += 1;
                            }
                            8 => {
                                let live = model.get(&k).is_some_and(|&d| d > now);
                                assert_eq!(cache.del_item(&k), live, "del_item({k}) at {now}");
                                model.remove(&k);
                            }
                            _ => {
                                cache.setx(k, 0, Some(Duration::ZERO));
                                model.remove(&k);
                            }
                        }
                    }
                    (model, stored)
                })
            })
            .collect();

        let reader = {
            let (cache, clock, done) = (cache.clone(), clock.clone(), done.clone());
            thread::spawn(move || {
                let mut rng = Lcg::new(7);
                let (mut reads, mut hits) = (0u64, 0u64);
                while !done.load(SeqCst) || reads < 1_000 {
                    let t0 = now_ns(&clock);
                    let k = rng.below(WRITERS * KEYS_PER_WRITER);
                    match cache.get_item(&k) {
                        Lookup::Hit(deadline) => {
                            assert!(
                                deadline > t0,
                                "key {k} read at >= {t0} ns, expired at {deadline}"
                            );
                            hits += 1;
                        }
                        Lookup::Negative => panic!("no marker was ever written"),
                        Lookup::Miss => {}
                    }
                    if reads % 64 == 0 {
                        let t0 = now_ns(&clock);
                        for (k, deadline) in cache.items() {
                            assert!(
                                deadline > t0,
                                "items(): key {k} expired at {deadline} <= {t0}"
                            );
                        }
                        if let Some(left) = cache.ttl(&k).remaining() {
                            assert!(!left.is_zero());
                        }
                    }
                    reads += 1;
                }
                (reads, hits)
            })
        };

        let mover = {
            let (cache, clock, gate, done) =
                (cache.clone(), clock.clone(), gate.clone(), done.clone());
            thread::spawn(move || {
                let mut rng = Lcg::new(3);
                let mut moves = 0u64;
                while !done.load(SeqCst) {
                    {
                        let _closed = gate.write().unwrap();
                        clock.advance(Duration::from_nanos(rng.below(1_000_000)));
                    }
                    moves += 1;
                    if moves % 4 == 0 {
                        cache.run_pending_tasks();
                    }
                    if moves % 16 == 0 {
                        let _ = cache.len();
                    }
                    thread::yield_now();
                }
                moves
            })
        };

        let mut models = Vec::new();
        let mut stored = 0;
        for w in writers {
            let (model, n) = w.join().unwrap();
            models.push(model);
            stored += n;
        }
        done.store(true, SeqCst);
        let (reads, hits) = reader.join().unwrap();
        let moves = mover.join().unwrap();
        assert!(
            reads >= 1_000 && hits > 0 && moves > 0,
            "{reads} reads, {hits} hits, {moves} moves"
        );

        // Quiescence: the cache is exactly the writers' models at this clock.
        let now = now_ns(&clock);
        let mut expected: Vec<(u64, u64)> = models
            .iter()
            .flat_map(|m| m.iter().map(|(&k, &d)| (k, d)))
            .filter(|&(_, d)| d > now)
            .collect();
        expected.sort_unstable();
        let mut items = cache.items();
        items.sort_unstable();
        assert_eq!(items, expected, "items at quiescence ({now} ns)");
        assert_eq!(cache.len(), expected.len(), "len at quiescence");
        for k in 0..WRITERS * KEYS_PER_WRITER {
            let want = expected.binary_search_by_key(&k, |&(k, _)| k).ok().map(|i| expected[i].1);
            assert_eq!(cache.get(&k), want, "key {k}");
        }
        cache.run_pending_tasks();
        let timed = expected.iter().filter(|&&(_, d)| d != NEVER).count();
        assert_eq!(cache.timers(), timed, "one timer per live entry with a deadline");
        cache.assert_invariants();

        // Every value stored was created once and leaves once: each write is an
        // insert or an update, and after clear() each was reported once.
        let stats = cache.stats();
        assert_eq!(stats.inserts + stats.updates, stored);
        cache.clear();
        assert_eq!(notices.load(SeqCst), stored, "every stored value reported exactly once");
        assert_eq!(stats.listener_panics, 0);
        cache.assert_invariants();
    });
}

#[test]
fn concurrent_mixed_calls_keep_the_table_valid() {
    within(LIMIT, || {
        const THREADS: u64 = 3;
        let (builder, clock) = mock_builder::<u64, i64>();
        let cache = builder.shards(2).negative_ttl(Duration::from_millis(3)).build().unwrap();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (cache, clock) = (cache.clone(), clock.clone());
                thread::spawn(move || {
                    let mut rng = Lcg::new(t + 11);
                    for i in 0..6_000u64 {
                        let k = rng.below(200);
                        match rng.below(14) {
                            0 => cache.set(k, 1),
                            1 => cache.setx(
                                k,
                                2,
                                Some(Duration::from_nanos(1 + rng.below(4_000_000))),
                            ),
                            2 => cache.set_negative(k),
                            3 => {
                                cache.del_item(&k);
                            }
                            4 => {
                                cache.pop(&k);
                            }
                            5 => {
                                cache.expire(
                                    &k,
                                    Some(Duration::from_nanos(1 + rng.below(4_000_000))),
                                );
                            }
                            6 => {
                                cache.expire(&k, None);
                            }
                            7 => {
                                let _ = cache.incr(k, 1);
                            }
                            8 => {
                                cache.setdefault(k, 5);
                            }
                            9 => {
                                cache.popitem();
                            }
                            10 => {
                                let _ = (cache.get(&k), cache.ttl(&k), cache.contains(&k));
                            }
                            11 => {
                                let _ = cache.iter_keys().take(20).count();
                            }
                            12 => clock.advance(Duration::from_nanos(rng.below(500_000))),
                            _ => {
                                if i % 50 == 0 {
                                    cache.run_pending_tasks();
                                } else {
                                    let _ = cache.len();
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        cache.assert_invariants();
        let len = cache.len();
        assert_eq!(len, cache.keys().len());
        assert_eq!(len, cache.iter_keys().count());
        assert!(cache.timers() <= 200);
        cache.run_pending_tasks();
        assert!(cache.items().iter().all(|(k, _)| cache.contains(k)));
        cache.clear();
        assert_eq!((cache.len(), cache.timers()), (0, 0));
        cache.assert_invariants();
    });
}

/// Keys read many times over with no write between them are read through
/// their shards' reader slots rather than the locks; a write must still
/// reach every read that starts after it: a reader that has seen (through
/// an atomic) that version `n` of every key was stored never reads an
/// older one. The writer lets the readers run well past a shard's streak
/// (64 reads) between its rounds. The values are strings, which a write
/// frees while replacing: a reader let in beside a writer would clone
/// freed memory. (That the lock keeps writers and biased readers apart is
/// tested in the crate's own unit tests, under Miri too.)
#[test]
fn a_write_after_a_streak_of_reads_reaches_every_later_read() {
    within(LIMIT, || {
        const KEYS: u64 = 64;
        const SHARDS: u64 = 4;
        const VERSIONS: u64 = 40;
        const READERS: u64 = 3;
        let cache: Cache<u64, String> = Cache::builder()
            .shards(SHARDS as usize)
            .clock(wheelcache::MockClock::new())
            .build()
            .expect("valid settings");
        for k in 0..KEYS {
            cache.set(k, format!("{k}:0"));
        }
        let stored = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let (cache, stored, reads, done) =
                    (cache.clone(), stored.clone(), reads.clone(), done.clone());
                thread::spawn(move || {
                    let mut rng = Lcg::new(r + 1);
                    while !done.load(SeqCst) {
                        let floor = stored.load(SeqCst);
                        let k = rng.below(KEYS);
                        let value = cache.get(&k).expect("no key is ever removed");
                        let (key, version) = value.split_once(':').expect("a stored value");
                        assert_eq!(key, k.to_string(), "key {k} read as {value:?}");
                        let version: u64 = version.parse().expect("a stored version");
                        assert!(version >= floor, "key {k} read as {value:?} after {floor}");
                        reads.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for n in 1..=VERSIONS {
            for k in 0..KEYS {
                cache.set(k, format!("{k}:{n}"));
            }
            stored.store(n, SeqCst);
            let from = reads.load(SeqCst);
            while reads.load(SeqCst) < from + 8 * 64 * SHARDS {
                thread::yield_now();
            }
        }
        done.store(true, SeqCst);
        for reader in readers {
            reader.join().expect("a reader panicked");
        }
        for k in 0..KEYS {
            assert_eq!(cache.get(&k), Some(format!("{k}:{VERSIONS}")));
        }
    });
}
