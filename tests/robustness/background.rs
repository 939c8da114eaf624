//! The background thread against races and hostile neighbours: callers
//! reaping at the same time, facades closing, listeners that panic or
//! block, caches dropped with entries in them.

use std::collections::HashMap;
use std::panic::panic_any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache, MockClock, RemovalCause};

use super::PanicOnDrop;
use crate::common::{eventually, ms};

/// A listener counting expirations.
fn counting() -> (Arc<AtomicUsize>, impl Fn(u32, u32, RemovalCause) + Send + Sync + 'static) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    (count, move |_, _, cause| {
        if cause == RemovalCause::Expired {
            c.fetch_add(1, SeqCst);
        }
    })
}

#[test]
fn a_caller_reaping_in_a_loop_loses_no_wake_up_of_the_thread() {
    let (expired, listener) = counting();
    let cache: Cache<u32, u32> = Cache::builder().removal_listener(listener).build().unwrap();
    for k in 0..70 {
        cache.setx(k, k, Some(ms(5 + 10 * u64::from(k))));
    }
    // Reap on this thread, over and over, while the thread also works.
    let pumping = Instant::now();
    while pumping.elapsed() < ms(350) {
        cache.run_pending_tasks();
    }
    // The rest (deadlines up to 695 ms) are the thread's alone.
    assert!(eventually(|| expired.load(SeqCst) == 70), "{} of 70 expired", expired.load(SeqCst));
    assert_eq!(cache.timers(), 0);
}

#[test]
fn closing_one_facade_leaves_another_over_the_same_cache_running() {
    let (expired, listener) = counting();
    let cache: Cache<String, u32> = Cache::builder()
        .removal_listener(move |_, v, cause| listener(0, v, cause))
        .build()
        .unwrap();
    let first = AsyncCache::new(cache.clone(), KeyBuilder::new("a"));
    let second = AsyncCache::new(cache, KeyBuilder::new("a"));
    block_on(async {
        first.close().await.unwrap();
        second.setx("a:k", 1, Some(ms(10))).await.unwrap();
    });
    assert!(eventually(|| expired.load(SeqCst) == 1), "expiry stopped with the first facade");
    drop(second);
    // The first facade's cache handle is the last: its drop must not
    // release a share twice (the entry count stays sane, nothing panics).
    drop(first);
}

#[test]
fn a_listener_whose_panic_payload_panics_too_stops_nothing() {
    let panicky: Cache<u32, u32> =
        Cache::builder().removal_listener(|_, _, _| panic_any(PanicOnDrop)).build().unwrap();
    for k in 0..10 {
        panicky.setx(k, k, Some(ms(5)));
    }
    assert!(eventually(|| panicky.stats().listener_panics == 10), "not every panic was caught");
    let (expired, listener) = counting();
    let other: Cache<u32, u32> = Cache::builder().removal_listener(listener).build().unwrap();
    other.setx(1, 1, Some(ms(5)));
    assert!(eventually(|| expired.load(SeqCst) == 1), "the thread stopped");
}

#[test]
fn a_blocked_listener_holds_up_only_its_own_cache() {
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    let stuck = Arc::new(AtomicBool::new(false));
    let flag = stuck.clone();
    let slow: Cache<u32, u32> = Cache::builder()
        .removal_listener(move |_, _, _| {
            flag.store(true, SeqCst);
            // Blocks until the test ends it.
            let _ = blocked.lock().unwrap().recv();
        })
        .build()
        .unwrap();
    for k in 0..20 {
        slow.setx(k, k, Some(ms(5)));
    }
    assert!(eventually(|| stuck.load(SeqCst)), "the slow listener never ran");
    let (expired, listener) = counting();
    let other: Cache<u32, u32> = Cache::builder().removal_listener(listener).build().unwrap();
    other.setx(1, 1, Some(ms(5)));
    assert!(
        eventually(|| expired.load(SeqCst) == 1),
        "another cache's notice waited for a blocked listener"
    );
    drop(release);
}

/// Values that record the thread they are dropped on.
struct Tracked(Arc<Mutex<HashMap<String, usize>>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        let name = thread::current().name().unwrap_or("unnamed").to_string();
        *self.0.lock().unwrap().entry(name).or_default() += 1;
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked(self.0.clone())
    }
}

#[test]
fn the_last_handle_frees_the_entries_on_its_own_thread() {
    let drops: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let cache: Cache<u32, Tracked> = Cache::new();
    for k in 0..10_000 {
        cache.setx(k, Tracked(drops.clone()), Some(Duration::from_secs(3600)));
    }
    let handle = cache.clone();
    let dropper =
        thread::Builder::new().name("dropper".into()).spawn(move || drop(handle)).unwrap();
    dropper.join().unwrap();
    assert!(drops.lock().unwrap().is_empty(), "a handle is still alive");
    drop(cache);
    let drops = drops.lock().unwrap();
    let me = thread::current().name().unwrap_or("unnamed").to_string();
    assert_eq!(drops.get(&me), Some(&10_000), "dropped on {drops:?}");
}

#[test]
fn removals_give_the_memory_back() {
    let clock = MockClock::new();
    let cache: Cache<u64, u64> = Cache::builder().clock(clock.clone()).build().unwrap();
    for k in 0..100_000 {
        cache.setx(k, k, Some(ms(10)));
    }
    cache.set(u64::MAX, 0);
    let full = cache.entry_slots();
    assert!(full >= 100_000);
    clock.advance(ms(10));
    cache.run_pending_tasks();
    cache.assert_invariants();
    assert_eq!(cache.len(), 1);
    assert!(cache.entry_slots() <= 1024, "{} of {full} slots kept", cache.entry_slots());
    // And it grows again as needed.
    for k in 0..1000 {
        cache.set(k, k);
    }
    assert_eq!(cache.len(), 1001);
    cache.assert_invariants();
}
