//! Bounded capacity, eviction and single-flight loading.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use wheelcache::{BuildError, Cache, MockClock, RemovalCause};

use crate::common::ms;

fn bounded(cap: u64, shards: usize) -> (Cache<u64, u64>, MockClock) {
    let clock = MockClock::new();
    let cache =
        Cache::builder().max_capacity(cap).shards(shards).clock(clock.clone()).build().unwrap();
    (cache, clock)
}

#[test]
fn zero_capacity_is_an_error() {
    let r = Cache::<u64, u64>::builder().max_capacity(0).build();
    assert_eq!(r.unwrap_err(), BuildError::ZeroCapacity);
}

#[test]
fn never_evicts_below_capacity_whatever_the_shards() {
    let (cache, _) = bounded(1000, 64);
    for k in 0..1000 {
        cache.set(k, k);
    }
    assert_eq!(cache.len(), 1000);
    assert_eq!(cache.stats().evictions, 0);
    for k in 0..1000 {
        assert_eq!(cache.get(&k), Some(k), "key {k} evicted below capacity");
    }
    cache.assert_invariants();
}

#[test]
fn the_bound_holds_and_counts_markers() {
    let (cache, _) = bounded(100, 8);
    for k in 0..1000 {
        if k % 3 == 0 {
            cache.set_negative(k);
        } else {
            cache.set(k, k);
        }
        let entries =
            cache.len() + (0..=k).filter(|j| j % 3 == 0 && cache.get_item(j).is_negative()).count();
        assert!(entries <= 100, "{entries} entries after inserting {k}");
    }
    assert_eq!(cache.stats().evictions, 900);
    cache.assert_invariants();
}

#[test]
fn overwriting_a_key_in_a_full_cache_evicts_nothing() {
    let (cache, _) = bounded(10, 4);
    for k in 0..10 {
        cache.set(k, k);
    }
    for round in 0..5 {
        for k in 0..10 {
            cache.set(k, k + round);
        }
    }
    assert_eq!(cache.stats().evictions, 0);
    assert_eq!(cache.len(), 10);
}

#[test]
fn the_bound_holds_under_four_threads() {
    let cap = 1000;
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(cap).shards(16).build().unwrap();
    let evicted = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for k in 0..20_000u64 {
                    cache.set(t * 1_000_000 + k, k);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    evicted.fetch_add(cache.stats().evictions as usize, Ordering::Relaxed);
    // At quiescence the bound holds exactly; the slack is only while
    // inserts race.
    assert!(cache.len() <= cap as usize, "len {} over {cap}", cache.len());
    assert_eq!(cache.len() + evicted.load(Ordering::Relaxed), 80_000);
    cache.assert_invariants();
}

#[test]
fn expired_entries_go_before_live_ones() {
    let (cache, clock) = bounded(10, 4);
    for k in 0..5 {
        cache.setx(k, k, Some(ms(100)));
    }
    for k in 5..10 {
        cache.set(k, k);
    }
    clock.advance(ms(100));
    // Five new keys: the five expired entries make room, nothing live goes.
    for k in 10..15 {
        cache.set(k, k);
    }
    let stats = cache.stats();
    assert_eq!(stats.evictions, 0);
    assert_eq!(stats.expirations, 5);
    for k in 5..15 {
        assert_eq!(cache.get(&k), Some(k));
    }
    cache.assert_invariants();
}

#[test]
fn eviction_is_reported_to_the_listener() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .max_capacity(3)
        .shards(1)
        .clock(MockClock::new())
        .removal_listener(move |k, v, cause| sink.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    for k in 0..4 {
        cache.set(k, k * 10);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (k, v, cause) = seen[0];
    assert_eq!((v, cause), (k * 10, RemovalCause::Evicted));
    assert_eq!(cache.get(&k), None);
}

#[test]
fn a_scan_does_not_flush_the_working_set() {
    let (cache, _) = bounded(100, 1);
    for k in 0..50 {
        cache.set(k, k);
    }
    for _ in 0..3 {
        for k in 0..50 {
            assert_eq!(cache.get(&k), Some(k));
        }
    }
    // A scan of one-time keys, ten times the capacity. The working set is
    // read again every 60 scan keys: 50 + 60 > 100, so an LRU cache would
    // lose most of it between two reads.
    for k in 1000..2000 {
        cache.set(k, k);
        if k % 60 == 0 {
            for h in 0..50 {
                cache.get(&h);
            }
        }
    }
    let kept = (0..50).filter(|k| cache.get(k).is_some()).count();
    assert!(kept >= 45, "only {kept} of 50 hot keys survived a scan");
    cache.assert_invariants();
}

#[test]
fn single_flight_runs_the_loader_once_under_eight_threads() {
    let cache: Cache<u64, u64> = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                cache.get_or_insert_with(42, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Keep the load in flight long enough for the others to queue.
                    thread::sleep(ms(50));
                    4242
                })
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 4242);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get(&42), Some(4242));
}

#[test]
fn a_panicking_loader_leaves_nothing_and_the_next_caller_loads() {
    let cache: Cache<u64, u64> = Cache::new();
    let r =
        catch_unwind(AssertUnwindSafe(|| cache.get_or_insert_with(1, || panic!("loader failed"))));
    assert!(r.is_err());
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get_or_insert_with(1, || 11), 11);
}

#[test]
fn a_failing_loader_returns_its_error_and_stores_nothing() {
    let cache: Cache<u64, u64> = Cache::new();
    let r: Result<u64, &str> = cache.try_get_or_insert_with(1, || Err("down"));
    assert_eq!(r, Err("down"));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.try_get_or_insert_with(1, || Ok::<_, &str>(5)), Ok(5));
    assert_eq!(cache.get(&1), Some(5));
}

#[test]
fn waiters_take_over_from_a_panicking_loader() {
    let cache: Cache<u64, u64> = Cache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                catch_unwind(AssertUnwindSafe(|| {
                    cache.get_or_insert_with(9, || {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(ms(20));
                        if n == 0 {
                            panic!("first loader fails");
                        }
                        99
                    })
                }))
                .ok()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // The first loader's caller saw its panic; everyone else got the value
    // from exactly one more load.
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 1);
    assert!(results.iter().flatten().all(|&v| v == 99));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn plain_reads_do_not_wait_for_a_load() {
    let cache: Cache<u64, u64> = Cache::new();
    let started = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let loader = {
        let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
        thread::spawn(move || {
            cache.get_or_insert_with(3, || {
                started.wait();
                release.wait();
                33
            })
        })
    };
    started.wait();
    // The load is in flight: a plain read misses at once.
    assert_eq!(cache.get(&3), None);
    release.wait();
    assert_eq!(loader.join().unwrap(), 33);
    assert_eq!(cache.get(&3), Some(33));
}

mod async_loading {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache};

    fn facade() -> AsyncCache<u64> {
        AsyncCache::new(Cache::new(), KeyBuilder::new("t"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_load_for_eight_tasks() {
        let cache = facade();
        let loads = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_load("t:k", async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            // Hold the load open while the others arrive.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            7
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(7));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_loader_hands_the_load_to_a_waiter() {
        let cache = facade();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let first = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load("t:k", async {
                        let _ = started_tx.send(());
                        std::future::pending::<u64>().await
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let second = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_load("t:k", async { 2 }).await })
        };
        // Let the second task find the load in flight and park its waker.
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        assert_eq!(second.await.unwrap(), Ok(2));
        assert_eq!(cache.get("t:k").await, Ok(Some(2)));
    }

    #[tokio::test]
    async fn a_failing_loader_stores_nothing() {
        let cache = facade();
        let r = cache.try_get_or_load("t:k", async { Err::<u64, Error>(Error::Overflow) }).await;
        assert_eq!(r, Err(Error::Overflow));
        assert_eq!(cache.get("t:k").await, Ok(None));
        assert_eq!(cache.get_or_load("t:k", async { 5 }).await, Ok(5));
    }

    #[tokio::test]
    async fn loading_checks_the_namespace_and_closing() {
        let cache = facade();
        assert_eq!(cache.get_or_load("elsewhere", async { 1 }).await, Err(Error::InvalidKey));
        cache.close().await.unwrap();
        assert_eq!(cache.get_or_load("t:k", async { 1 }).await, Err(Error::Closed));
    }
}

#[test]
fn the_bound_holds_in_one_shard_with_deadlines_pending() {
    // Entries with deadlines make the cache look for expired entries in
    // other shards first; with one shard (or all others empty) the victim
    // must then come from the inserting shard, sparing the new key.
    for shards in [1, 4] {
        let (cache, clock) = bounded(5, shards);
        for k in 0..5 {
            cache.setx(k, k, Some(ms(1000)));
        }
        clock.advance(ms(10));
        for k in 5..50 {
            cache.setx(k, k, Some(ms(1000)));
            assert_eq!(cache.get(&k), Some(k), "the key just written was evicted");
            assert!(cache.len() <= 5, "{} entries in a cache of 5 ({shards} shards)", cache.len());
        }
        assert_eq!(cache.stats().evictions, 45);
        cache.assert_invariants();
    }
}

#[test]
fn a_full_cache_keeps_little_unused_entry_room() {
    // 4 shards of a 100,000 capacity: a share of 25,000 each, whose entry
    // vectors grow to the share and its margin (250 + 4 * 158), not to the
    // next power of two (32,768).
    let (cache, _) = bounded(100_000, 4);
    for k in 0..200_000 {
        cache.set(k, k);
    }
    assert_eq!(cache.len(), 100_000);
    let most = 4 * (25_000 + 250 + 4 * 158);
    assert!(cache.entry_slots() <= most, "{} entry slots for 100,000 entries", cache.entry_slots());
    cache.assert_invariants();
}

/// Removals as the listener heard them: key, value, cause.
type Heard = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

/// What a value of 1 weighs in `weighted`: the weight a cache assumes an
/// entry has when it sizes its policy before it holds any, so that these
/// caches start sized for what they will hold.
const UNIT: u32 = 256;

/// A one-shard cache of `cap` units whose values weigh as many units as
/// they say, and what its listener heard.
fn weighted(cap: u64) -> (Cache<u64, u64>, Heard) {
    let heard = Heard::default();
    let sink = heard.clone();
    let cache = Cache::builder()
        .max_capacity(cap * u64::from(UNIT))
        .shards(1)
        .clock(MockClock::new())
        .weigher(|_, v: &u64| *v as u32 * UNIT)
        .removal_listener(move |k, v, cause| sink.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    (cache, heard)
}

/// `weighted(100)` filled with keys 0 to 99 of weight 1, each then read
/// `reads` times.
fn full_of_light_keys(reads: usize) -> (Cache<u64, u64>, Heard) {
    let (cache, heard) = weighted(100);
    for k in 0..100 {
        cache.set(k, 1);
    }
    for _ in 0..reads {
        for k in 0..100 {
            assert_eq!(cache.get(&k), Some(1));
        }
    }
    (cache, heard)
}

#[test]
fn a_heavy_new_key_does_not_push_out_light_keys_read_more_often() {
    let (cache, heard) = full_of_light_keys(4);
    // It would displace fifty keys each asked for five times.
    cache.set(1000, 50);
    assert_eq!(cache.get(&1000), None);
    assert_eq!(*heard.lock().unwrap(), [(1000, 50, RemovalCause::Evicted)]);
    assert!((0..100).all(|k| cache.get(&k) == Some(1)), "a light key went");
    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.weight), (1, 100 * u64::from(UNIT)));
    cache.assert_invariants();
}

#[test]
fn a_counter_left_out_still_returns_its_count() {
    let (cache, heard) = full_of_light_keys(4);
    // A new counter of 50 would weigh fifty keys read five times each.
    assert_eq!(cache.incr(1000, 50), Ok(50));
    assert_eq!(cache.get(&1000), None);
    assert_eq!(*heard.lock().unwrap(), [(1000, 50, RemovalCause::Evicted)]);
    cache.assert_invariants();
}

#[test]
fn a_heavy_new_key_asked_for_often_enough_displaces_only_what_it_needs() {
    let (cache, heard) = full_of_light_keys(0);
    // Each refused write counts as a miss of the key, until it is asked
    // for more often than the ten keys it displaces together.
    let mut writes = 0;
    while cache.get(&1000).is_none() {
        assert!(writes < 16, "still left out after {writes} writes");
        cache.set(1000, 10);
        writes += 1;
    }
    assert!(writes > 1, "a key asked for once displaced ten");
    let heard = heard.lock().unwrap();
    let (refused, evicted): (Vec<_>, Vec<_>) = heard.iter().partition(|r| r.0 == 1000);
    assert_eq!(refused, vec![&(1000, 10, RemovalCause::Evicted); writes - 1]);
    assert_eq!(evicted.len(), 10, "{evicted:?}");
    assert!(evicted
        .iter()
        .all(|&&(k, v, cause)| k < 100 && v == 1 && cause == RemovalCause::Evicted));
    assert_eq!((0..100).filter(|k| cache.get(k).is_some()).count(), 90);
    assert_eq!(cache.stats().weight, 100 * u64::from(UNIT));
    cache.assert_invariants();
}

#[test]
fn a_new_key_no_heavier_than_the_victim_is_never_left_out() {
    let (cache, heard) = full_of_light_keys(4);
    // Into the window, to meet main's victims later, as in a cache
    // without weights.
    cache.set(1000, 1);
    assert_eq!(cache.get(&1000), Some(1));
    let heard = heard.lock().unwrap();
    assert!(matches!(heard.as_slice(), [(k, 1, RemovalCause::Evicted)] if *k < 100), "{heard:?}");
    cache.assert_invariants();
}
