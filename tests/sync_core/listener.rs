//! The removal listener: the right cause, key and value for every removal,
//! nothing for negative markers, panics contained, and no lock held while
//! it (or an `iter_keys` loop body) runs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wheelcache::{Cache, Lookup, RemovalCause};

use super::{drain, mock_builder, recorded_cache, sort_events, within};
use crate::common::ms;

use RemovalCause::{Expired, Removed, Replaced};

#[test]
fn calls_report_removed_and_replaced_with_key_and_value() {
    let (cache, _clock, events) = recorded_cache::<&str, i64>();
    cache.set("b", 1);
    cache.set("b", 2);
    assert_eq!(drain(&events), [("b", 1, Replaced)]);
    cache.setx("b", 3, Some(ms(100)));
    assert_eq!(drain(&events), [("b", 2, Replaced)]);
    cache.set("c", 5);
    assert_eq!(cache.incr("c", 1), Ok(6));
    assert_eq!(drain(&events), [("c", 5, Replaced)]);
    assert!(cache.del_item("b"));
    assert_eq!(drain(&events), [("b", 3, Removed)]);
    assert_eq!(cache.pop("c"), Some(6));
    assert_eq!(drain(&events), [("c", 6, Removed)]);
    cache.set("d", 7);
    assert_eq!(cache.popitem(), Some(("d", 7)));
    assert_eq!(drain(&events), [("d", 7, Removed)]);
    cache.set("e", 8);
    assert!(cache.expire("e", Some(Duration::ZERO)));
    assert_eq!(drain(&events), [("e", 8, Removed)]);
    cache.set("f", 9);
    cache.setx("f", 10, Some(Duration::ZERO));
    assert_eq!(drain(&events), [("f", 9, Removed)]);
    cache.set("g", 11);
    cache.set("h", 12);
    cache.clear();
    let mut cleared = drain(&events);
    sort_events(&mut cleared);
    assert_eq!(cleared, [("g", 11, Removed), ("h", 12, Removed)]);
    // Calls that remove nothing report nothing.
    assert_eq!(cache.setdefault("s", 1), 1);
    assert_eq!(cache.setdefault("s", 2), 1);
    assert!(cache.expire("s", Some(ms(5))));
    assert!(cache.expire("s", None));
    assert!(!cache.del_item("zzz"));
    assert_eq!(cache.pop("zzz"), None);
    assert_eq!(drain(&events), []);
}

#[test]
fn expiry_reports_expired_whoever_meets_the_entry() {
    let (cache, clock, events) = recorded_cache::<&str, i64>();
    let keys =
        ["reap", "write", "del", "pop", "len", "clear", "popitem", "setdefault", "incr", "expire"];
    for (v, k) in keys.iter().enumerate() {
        cache.setx(k, v as i64, Some(ms(5)));
    }
    cache.set("live", 100);
    clock.advance(ms(5));
    let expired = |k: &'static str| (k, keys.iter().position(|&x| x == k).unwrap() as i64, Expired);

    cache.set("write", 50);
    assert_eq!(drain(&events), [expired("write")]);
    assert!(!cache.del_item("del"));
    assert_eq!(drain(&events), [expired("del")]);
    assert_eq!(cache.pop("pop"), None);
    assert_eq!(drain(&events), [expired("pop")]);
    assert_eq!(cache.setdefault("setdefault", 51), 51);
    assert_eq!(drain(&events), [expired("setdefault")]);
    assert_eq!(cache.incr("incr", 1), Ok(1));
    assert_eq!(drain(&events), [expired("incr")]);
    assert!(!cache.expire("expire", None));
    assert_eq!(drain(&events), [expired("expire")]);

    // `len` reaps what is due: "reap", "len", "clear", "popitem".
    assert_eq!(cache.len(), 4, "live, write, setdefault, incr");
    let mut reaped = drain(&events);
    sort_events(&mut reaped);
    let mut expected = vec![expired("clear"), expired("len"), expired("popitem"), expired("reap")];
    sort_events(&mut expected);
    assert_eq!(reaped, expected);
    cache.assert_invariants();
}

#[test]
fn popitem_and_clear_report_the_expired_entries_they_meet() {
    let (cache, clock, events) = recorded_cache::<&str, u32>();
    cache.setx("p", 1, Some(ms(1)));
    clock.advance(ms(1));
    assert_eq!(cache.popitem(), None);
    assert_eq!(drain(&events), [("p", 1, Expired)]);
    cache.setx("q", 2, Some(ms(1)));
    cache.set("r", 3);
    clock.advance(ms(1));
    cache.clear();
    let mut cleared = drain(&events);
    sort_events(&mut cleared);
    assert_eq!(cleared, [("q", 2, Expired), ("r", 3, Removed)]);
    assert_eq!(cache.stats().expirations, 2);
}

#[test]
fn run_pending_tasks_reports_each_expired_value_once() {
    let (cache, clock, events) = recorded_cache::<u32, u32>();
    for k in 0..300 {
        cache.setx(k, k + 1, Some(ms(u64::from(k % 3) + 1)));
    }
    clock.advance(ms(2));
    cache.run_pending_tasks();
    let mut seen = drain(&events);
    sort_events(&mut seen);
    let expected: Vec<_> = (0..300).filter(|k| k % 3 != 2).map(|k| (k, k + 1, Expired)).collect();
    assert_eq!(seen, expected);
    cache.run_pending_tasks();
    assert_eq!(drain(&events), []);
    assert_eq!(cache.len(), 100);
}

#[test]
fn negative_markers_are_never_reported() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let cache = builder
        .negative_ttl(ms(5))
        .removal_listener(move |k, v, cause| sink.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    // Every way a marker leaves, with no value in the cache.
    for k in ["twice", "del", "pop", "expire-zero", "setx-zero", "expires", "met"] {
        cache.set_negative(k);
    }
    cache.set_negative("twice");
    assert_eq!(cache.popitem(), None);
    assert!(cache.del_item("del"));
    assert_eq!(cache.pop("pop"), None);
    assert!(cache.expire("expire-zero", Some(Duration::ZERO)));
    cache.setx("setx-zero", 1, Some(Duration::ZERO));
    clock.advance(ms(5));
    cache.set_negative("met"); // meets its own expired marker
    cache.run_pending_tasks(); // "twice", "expires"
    cache.set_negative("cleared");
    cache.clear();
    assert_eq!(cache.stats().expirations, 3);
    // Markers replaced by values: there was no value to report.
    for k in ["value", "incr", "setdefault", "expired"] {
        cache.set_negative(k);
    }
    cache.set("value", 1);
    assert_eq!(cache.incr("incr", 2), Ok(2));
    assert_eq!(cache.setdefault("setdefault", 3), 3);
    assert_eq!(cache.len(), 3);
    assert_eq!(*events.lock().unwrap(), []);
    // A value replaced by a marker is a value, and is reported.
    cache.set_negative("value");
    assert_eq!(*events.lock().unwrap(), [("value", 1, Replaced)]);
    assert_eq!(cache.get_item("value"), Lookup::Negative);
}

#[test]
fn a_panicking_listener_leaves_the_cache_working() {
    let (builder, clock) = mock_builder::<u32, u32>();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let cache = builder
        .removal_listener(move |k, _, _| {
            counted.fetch_add(1, SeqCst);
            if k % 2 == 1 {
                panic!("listener panics on odd key {k}");
            }
        })
        .build()
        .unwrap();
    cache.set(1, 1);
    cache.set(1, 2); // Replaced: panics
    assert_eq!(cache.get(&1), Some(2));
    assert!(cache.del_item(&1)); // Removed: panics
    assert_eq!(cache.get(&1), None);
    for k in 0..20 {
        cache.setx(k, k, Some(ms(5)));
    }
    clock.advance(ms(5));
    cache.run_pending_tasks(); // 10 panics, 10 quiet calls
    assert_eq!(calls.load(SeqCst), 22, "every notice was delivered");
    assert_eq!(cache.timers(), 0, "every expired entry was reaped");
    assert_eq!(cache.stats().listener_panics, 12);
    assert_eq!(cache.stats().expirations, 20);
    // Everything still works.
    cache.set(3, 3);
    assert_eq!(cache.pop(&3), Some(3));
    assert_eq!(cache.stats().listener_panics, 13);
    cache.set(4, 4);
    assert_eq!(cache.incr(4, 1), Ok(5));
    assert_eq!(cache.len(), 1);
    cache.assert_invariants();
}

/// A cache whose listener calls back into the cache: reads, writes to the
/// reported key and to another, deletes, `len`, snapshots and reaping. A
/// lock held across the listener call would deadlock (and `within` would
/// fail). Assertions inside the listener would be caught as listener
/// panics, so the test checks that none happened.
#[test]
fn the_listener_may_call_the_cache() {
    const BIG: u32 = 1_000_000;
    within(Duration::from_secs(20), || {
        let (builder, clock) = mock_builder::<u32, u32>();
        let handle: Arc<Mutex<Option<Cache<u32, u32>>>> = Arc::default();
        let slot = handle.clone();
        let reported = Arc::new(Mutex::new(Vec::new()));
        let sink = reported.clone();
        let cache = builder
            .shards(2)
            .removal_listener(move |k, v, cause| {
                sink.lock().unwrap().push((k, v, cause));
                // Take a handle without holding the mutex during the calls.
                let cache = slot.lock().unwrap().clone();
                let Some(cache) = cache else { return };
                if k >= 1000 || v >= BIG {
                    return;
                }
                match cause {
                    Expired | Removed => {
                        assert_eq!(cache.get(&k), None, "{k} is gone when the listener runs");
                        cache.set(k, v + BIG); // the same key again
                    }
                    _ => assert!(cache.get(&k).is_some(), "{k} holds its new value"),
                }
                cache.set(k + 1000, v);
                cache.del_item(&(k + 2000));
                let _ = (cache.len(), cache.keys(), cache.stats(), cache.contains(&k));
                cache.run_pending_tasks();
            })
            .build()
            .unwrap();
        *handle.lock().unwrap() = Some(cache.clone());

        for k in 0..8 {
            cache.setx(k, k, Some(ms(5)));
            cache.set(k + 2000, k);
        }
        clock.advance(ms(5));
        cache.run_pending_tasks();
        for k in 0..8 {
            assert_eq!(cache.get(&k), Some(k + BIG), "re-set by the listener");
            assert_eq!(cache.get(&(k + 1000)), Some(k));
            assert_eq!(cache.get(&(k + 2000)), None, "deleted by the listener");
            cache.set(k, k);
        }
        // Each removal path by a call.
        assert!(cache.del_item(&0));
        assert_eq!(cache.pop(&1), Some(1));
        cache.set(2, 7);
        assert!(cache.expire(&3, Some(Duration::ZERO)));
        cache.setx(4, 7, Some(Duration::ZERO));
        assert_eq!(cache.incr(5, 1), Ok(6));
        for k in [0, 1, 3, 4] {
            assert_eq!(cache.get(&k), Some(k + BIG), "re-set by the listener");
        }
        assert!(cache.popitem().is_some());
        let before = cache.items();
        cache.clear();
        for (k, v) in before {
            if k < 1000 && v < BIG {
                assert_eq!(cache.get(&k), Some(v + BIG), "re-set after its shard was cleared");
            }
        }
        let reported = reported.lock().unwrap().clone();
        for k in 0..8 {
            assert!(reported.contains(&(k, k, Expired)), "{k}: {reported:?}");
        }
        assert!(reported.contains(&(2, 2, Replaced)) && reported.contains(&(5, 5, Replaced)));
        assert_eq!(cache.stats().listener_panics, 0, "an assertion in the listener failed");
        handle.lock().unwrap().take(); // break the cycle
        cache.assert_invariants();
    });
}

#[test]
fn the_listener_may_call_the_cache_during_run_pending_tasks() {
    within(Duration::from_secs(20), || {
        let (builder, clock) = mock_builder::<u32, u32>();
        let handle: Arc<Mutex<Option<Cache<u32, u32>>>> = Arc::default();
        let slot = handle.clone();
        let cache = builder
            .shards(1)
            .removal_listener(move |k, v, cause| {
                let cache = slot.lock().unwrap().clone();
                if let (Some(cache), Expired) = (cache, cause) {
                    // Re-arm the same key for one more round.
                    if v < 3 {
                        cache.setx(k, v + 1, Some(ms(1)));
                    }
                }
            })
            .build()
            .unwrap();
        *handle.lock().unwrap() = Some(cache.clone());
        for k in 0..500 {
            cache.setx(k, 0, Some(ms(1)));
        }
        for round in 1..=3 {
            clock.advance(ms(1));
            cache.run_pending_tasks();
            assert_eq!(cache.len(), 500, "round {round}");
            assert!(cache.values().iter().all(|&v| v == round), "round {round}");
        }
        clock.advance(ms(1));
        cache.run_pending_tasks();
        assert!(cache.is_empty());
        assert_eq!(cache.stats().expirations, 2000);
        handle.lock().unwrap().take();
        cache.assert_invariants();
    });
}

#[test]
fn an_iter_keys_loop_may_call_the_cache() {
    within(Duration::from_secs(20), || {
        let (builder, _clock) = mock_builder::<u32, u32>();
        let cache = builder.shards(4).build().unwrap();
        for k in 0..500 {
            cache.set(k, k);
        }
        let mut yielded = HashSet::new();
        for k in cache.iter_keys() {
            assert!(yielded.insert(k), "{k} yielded twice");
            if k < 500 {
                assert_eq!(cache.get(&k), Some(k));
                assert!(cache.del_item(&k));
                cache.set(k + 500, k);
                cache.set(k + 1000, k);
                assert!(cache.del_item(&(k + 1000)));
                let _ = (cache.len(), cache.keys().len(), cache.iter_keys().take(3).count());
            }
        }
        assert!((0..500).all(|k| yielded.contains(&k)), "every original key was yielded");
        assert!(yielded.iter().all(|&k| k < 1000), "{yielded:?}");
        let mut keys = cache.keys();
        keys.sort_unstable();
        assert_eq!(keys, (500..1000).collect::<Vec<_>>());
        cache.assert_invariants();
    });
}

#[test]
fn removal_cause_was_evicted_and_was_expired() {
    assert!(RemovalCause::Evicted.was_evicted());
    assert!(!RemovalCause::Expired.was_evicted());
    assert!(!RemovalCause::Removed.was_evicted());
    assert!(!RemovalCause::Replaced.was_evicted());
    assert!(RemovalCause::Expired.was_expired());
    assert!(!RemovalCause::Evicted.was_expired());
}
