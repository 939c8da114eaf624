//! Listeners that write back into their own cache, and read counters with
//! more threads than stripes.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use wheelcache::{Cache, MockClock, RemovalCause};

use crate::common::{eventually, within_patience};

#[test]
fn a_listener_that_reinserts_every_eviction_does_not_recurse() {
    // Each eviction puts its key back, which evicts another, and so on: a
    // chain far deeper than any stack, for as long as the counter allows.
    const CHAIN: usize = 50_000;
    let evicted = Arc::new(AtomicUsize::new(0));
    let handle: Arc<Mutex<Option<Cache<u64, u64>>>> = Arc::default();
    let (count, slot) = (evicted.clone(), handle.clone());
    let cache: Cache<u64, u64> = Cache::builder()
        .clock(MockClock::new())
        .max_capacity(100)
        .removal_listener(move |k, v, cause| {
            if cause == RemovalCause::Evicted && count.fetch_add(1, SeqCst) < CHAIN {
                let cache = slot.lock().unwrap().clone();
                if let Some(cache) = cache {
                    cache.set(k, v);
                }
            }
        })
        .build()
        .unwrap();
    *handle.lock().unwrap() = Some(cache.clone());
    let writer = cache.clone();
    let returned = within_patience(move || {
        for k in 0..200 {
            writer.set(k, k);
        }
    });
    assert!(returned.is_some(), "the writes never returned");
    assert!(eventually(|| evicted.load(SeqCst) > CHAIN), "the chain stopped");
    assert!(eventually(|| cache.len() == 100));
    handle.lock().unwrap().take();
    cache.assert_invariants();
}

#[test]
fn read_counts_are_exact_with_more_threads_than_stripes() {
    let cache: Cache<u32, u32> = Cache::builder().clock(MockClock::new()).build().unwrap();
    cache.set(1, 1);
    let threads = 64;
    let barrier = Arc::new(Barrier::new(threads));
    let readers: Vec<_> = (0..threads)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..2000 {
                    assert_eq!(cache.get(&1), Some(1));
                    assert_eq!(cache.get(&2), None);
                }
            })
        })
        .collect();
    readers.into_iter().for_each(|t| t.join().unwrap());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (128_000, 128_000));
    // Threads come and go: their slots are reused, and two readers at
    // once still count every read.
    for _ in 0..3 {
        let pair: Vec<_> = (0..2)
            .map(|_| {
                let cache = cache.clone();
                thread::spawn(move || {
                    for _ in 0..10_000 {
                        cache.get(&1);
                    }
                })
            })
            .collect();
        pair.into_iter().for_each(|t| t.join().unwrap());
    }
    assert_eq!(cache.stats().hits, 128_000 + 60_000);
}
