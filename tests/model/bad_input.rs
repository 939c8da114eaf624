//! Rows of the crate docs' "Bad input" table that no other module tests:
//! the largest settings, a panicking or failing loader over an entry that
//! is already there, a panicking async loader, and a panicking listener on
//! the expiry thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wheelcache::{AsyncCache, Cache, CacheBuilder, KeyBuilder, KvCache, Lookup, MockClock, Ttl};

/// Every setting at its largest valid value builds, and nothing overflows.
#[test]
fn the_largest_settings_are_accepted() {
    let clock = MockClock::new();
    let cache: Cache<u64, i64> = CacheBuilder::default()
        .clock(clock.clone())
        .max_capacity(u64::MAX)
        .shards(CacheBuilder::<u64, i64>::MAX_SHARDS)
        .tick(CacheBuilder::<u64, i64>::MAX_TICK)
        .default_ttl(Duration::MAX)
        .negative_ttl(Duration::MAX)
        .build()
        .expect("the largest settings are valid");
    cache.set(1, i64::MAX);
    cache.set_negative(2);
    assert_eq!(cache.incr(3, i64::MIN), Ok(i64::MIN));
    assert_eq!(cache.get(&1), Some(i64::MAX));
    assert_eq!(cache.get_item(&2), Lookup::Negative);
    let centuries = Duration::from_secs(500 * 365 * 24 * 3600);
    assert!(cache.ttl(&1).remaining().is_some_and(|left| left > centuries));
    clock.advance(Duration::from_secs(3600));
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.stats().evictions, 0);
    cache.assert_invariants();
}

/// A full bounded cache holding a negative marker, an expired entry and a
/// live one: a loader that panics or fails for the marker's key, or for a
/// new key, changes nothing (the marker stays, nothing is evicted, nothing
/// is reaped), and the next caller loads.
#[test]
fn a_panicking_or_failing_loader_changes_nothing() {
    let clock = MockClock::new();
    let cache: Cache<&str, u64> =
        Cache::builder().clock(clock.clone()).max_capacity(3).shards(1).build().unwrap();
    cache.set_negative("marker");
    cache.setx("old", 1, Some(Duration::from_millis(5)));
    cache.set("live", 2);
    clock.advance(Duration::from_millis(5));
    let before = (cache.ttl("marker"), cache.timers(), cache.stats());
    for key in ["marker", "new"] {
        let r = catch_unwind(AssertUnwindSafe(|| {
            cache.get_or_insert_with(key, || panic!("the loader panics"))
        }));
        assert!(r.is_err(), "{key}: the panic reaches the caller");
        let r = cache.try_get_or_insert_with(key, || Err::<u64, _>("down"));
        assert_eq!(r, Err("down"), "{key}");
    }
    assert_eq!(cache.get_item("marker"), Lookup::Negative);
    assert_eq!(cache.get_item("new"), Lookup::Miss);
    assert_eq!(cache.get("live"), Some(2));
    let after = cache.stats();
    assert_eq!((cache.ttl("marker"), cache.timers()), (before.0, before.1));
    assert_eq!((after.evictions, after.expirations), (before.2.evictions, before.2.expirations));
    // No placeholder was left behind: the next caller loads.
    assert_eq!(cache.get_or_insert_with("marker", || 7), 7);
    assert_eq!(cache.get_or_insert_with("new", || 8), 8);
    assert_eq!(cache.stats().evictions, 0, "the expired entry made room");
    cache.assert_invariants();
}

/// A loader future that panics abandons the load: nothing is stored, and
/// the next caller loads.
#[test]
fn a_panicking_async_loader_leaves_nothing_and_the_next_caller_loads() {
    let cache: AsyncCache<u64> = AsyncCache::new(Cache::new(), KeyBuilder::new("t"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(cache.get_or_load("t:k", async { panic!("the loader panics") }))
    }));
    assert!(r.is_err(), "the panic reaches the caller");
    futures::executor::block_on(async {
        assert_eq!(cache.get("t:k").await, Ok(None));
        assert_eq!(cache.get_or_load("t:k", async { 5 }).await, Ok(5));
        assert_eq!(cache.ttl("t:k").await, Ok(Ttl::Persistent));
    });
}

/// A listener that panics on every call, on the expiry thread: each panic
/// is caught and counted, and the thread goes on expiring. (The real
/// clock: only it has the thread. The test polls, with a generous bound,
/// what only the thread changes.)
#[test]
fn a_panicking_listener_does_not_stop_the_expiry_thread() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let cache: Cache<u32, u32> = Cache::builder()
        .removal_listener(move |_, _, _| {
            counted.fetch_add(1, SeqCst);
            panic!("the listener panics");
        })
        .build()
        .unwrap();
    let reaped = |n: usize| {
        let limit = Instant::now() + Duration::from_secs(10);
        // The panic is counted once the listener has unwound, just after it
        // counted its call: wait for both.
        while calls.load(SeqCst) < n
            || cache.timers() > 0
            || cache.stats().listener_panics < n as u64
        {
            assert!(Instant::now() < limit, "{} of {n} expirations", calls.load(SeqCst));
            thread::sleep(Duration::from_millis(1));
        }
    };
    for round in 1..=2 {
        for k in 0..10 {
            cache.setx(k, k, Some(Duration::from_millis(1)));
        }
        reaped(10 * round);
        assert_eq!(cache.stats().listener_panics, 10 * round as u64, "round {round}");
        assert_eq!(cache.stats().expirations, 10 * round as u64, "round {round}");
    }
    assert!(cache.is_empty());
    cache.assert_invariants();
}
