//! `stats()`: every counter exact over a scripted sequence.

use std::time::Duration;

use wheelcache::Stats;

use super::mock_builder;
use crate::common::ms;

/// The counters this file checks, as a tuple that prints well on failure:
/// (hits, misses, negative_hits, inserts, updates, removals, expirations).
fn counts(s: Stats) -> (u64, u64, u64, u64, u64, u64, u64) {
    (s.hits, s.misses, s.negative_hits, s.inserts, s.updates, s.removals, s.expirations)
}

#[test]
fn counters_are_exact_over_a_scripted_sequence() {
    let (builder, clock) = mock_builder::<&str, i64>();
    let cache = builder.negative_ttl(ms(50)).build().unwrap();
    let step = |what: &str, expected: (u64, u64, u64, u64, u64, u64, u64)| {
        assert_eq!(counts(cache.stats()), expected, "after {what}");
    };
    step("nothing", (0, 0, 0, 0, 0, 0, 0));
    assert!(cache.get_item("a").is_miss());
    step("a miss", (0, 1, 0, 0, 0, 0, 0));
    cache.set("a", 1);
    step("an insert", (0, 1, 0, 1, 0, 0, 0));
    assert_eq!(cache.get("a"), Some(1));
    step("a hit", (1, 1, 0, 1, 0, 0, 0));
    cache.set_item("a", 2);
    step("an update", (1, 1, 0, 1, 1, 0, 0));
    cache.set_negative("n");
    step("a marker insert", (1, 1, 0, 2, 1, 0, 0));
    assert!(cache.get_item("n").is_negative());
    assert_eq!(cache.get("n"), None);
    step("two negative hits", (1, 1, 2, 2, 1, 0, 0));
    // Calls that count nothing.
    assert!(cache.contains("a") && !cache.contains("n") && !cache.contains("zz"));
    let _ = (cache.ttl("a"), cache.ttl("zz"), cache.keys(), cache.values(), cache.items());
    let _ = (cache.len(), cache.is_empty(), cache.iter_keys().count(), cache.timers());
    cache.run_pending_tasks();
    step("calls that count nothing", (1, 1, 2, 2, 1, 0, 0));

    cache.setx("t", 1, Some(ms(10)));
    step("a timed insert", (1, 1, 2, 3, 1, 0, 0));
    clock.advance(ms(10));
    assert_eq!(cache.get("t"), None);
    step("a read of an expired entry", (1, 2, 2, 3, 1, 0, 0));
    cache.run_pending_tasks();
    step("reaping it", (1, 2, 2, 3, 1, 0, 1));
    assert!(cache.del_item("a"));
    assert!(!cache.del_item("a"));
    step("one delete, one miss", (1, 2, 2, 3, 1, 1, 1));
    assert_eq!(cache.pop("n"), None);
    step("popping a marker", (1, 2, 2, 3, 1, 2, 1));
    assert_eq!(cache.setdefault("d", 5), 5);
    step("setdefault inserting", (1, 3, 2, 4, 1, 2, 1));
    assert_eq!(cache.setdefault("d", 6), 5);
    step("setdefault hitting", (2, 3, 2, 4, 1, 2, 1));
    cache.setx("e", 1, Some(ms(5)));
    clock.advance(ms(5));
    cache.set("e", 2);
    step("a write meeting an expired entry", (2, 3, 2, 6, 1, 2, 2));
    assert!(cache.expire("e", Some(Duration::ZERO)));
    step("expire(ZERO)", (2, 3, 2, 6, 1, 3, 2));
    cache.setx("e", 1, Some(Duration::ZERO));
    assert!(!cache.expire("e", None));
    step("nothing to remove", (2, 3, 2, 6, 1, 3, 2));
    cache.set("f", 1);
    cache.setx("f", 2, Some(Duration::ZERO));
    step("setx(ZERO) on a live entry", (2, 3, 2, 7, 1, 4, 2));
    cache.set("g", 1);
    step("an insert", (2, 3, 2, 8, 1, 4, 2));
    assert!(cache.popitem().is_some() && cache.popitem().is_some());
    assert_eq!(cache.popitem(), None);
    step("two popitems and an empty one", (2, 3, 2, 8, 1, 6, 2));
    cache.set("h", 1);
    cache.set_negative("m");
    cache.setx("x", 1, Some(ms(1)));
    clock.advance(ms(1));
    cache.clear();
    step("clear: a value, a marker, an expired entry", (2, 3, 2, 11, 1, 8, 3));
    cache.setx("y", 1, Some(ms(1)));
    clock.advance(ms(1));
    assert_eq!(cache.len(), 0);
    step("len reaping", (2, 3, 2, 12, 1, 8, 4));
    cache.set_negative("z");
    clock.advance(ms(50));
    assert!(cache.get_item("z").is_miss());
    cache.run_pending_tasks();
    step("an expired marker read, then reaped", (2, 4, 2, 13, 1, 8, 5));
    cache.set_negative("q");
    assert_eq!(cache.setdefault("q", 1), 1);
    step("setdefault over a marker", (2, 4, 3, 14, 2, 8, 5));
    cache.setx("r", 1, Some(ms(1)));
    clock.advance(ms(1));
    assert_eq!(cache.setdefault("r", 2), 2);
    step("setdefault over an expired entry", (2, 5, 3, 16, 2, 8, 6));
    cache.assert_invariants();

    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.listener_panics), (0, 0));
    assert!((stats.hit_ratio() - 2.0 / 10.0).abs() < 1e-12, "{}", stats.hit_ratio());
    assert_eq!(Stats::default().hit_ratio(), 0.0);
}

#[test]
fn incr_counts_as_a_write() {
    let (builder, clock) = mock_builder::<&str, i64>();
    let cache = builder.build().unwrap();
    let writes = |c: &wheelcache::Cache<&'static str, i64>| {
        let s = c.stats();
        (s.inserts, s.updates, s.removals, s.expirations)
    };
    cache.incr("c", 1).unwrap();
    assert_eq!(writes(&cache), (1, 0, 0, 0), "creating");
    cache.incr("c", 1).unwrap();
    cache.decr("c", 1).unwrap();
    assert_eq!(writes(&cache), (1, 2, 0, 0), "adding in place");
    cache.set("s", i64::MAX);
    assert!(cache.incr("s", 1).is_err());
    assert!(cache.decr("s", i64::MIN).is_err());
    assert_eq!(writes(&cache), (2, 2, 0, 0), "a failed incr counts nothing");
    cache.set_negative("n");
    cache.incr("n", 1).unwrap();
    assert_eq!(writes(&cache), (3, 3, 0, 0), "over a marker");
    cache.setx("x", 5, Some(ms(1)));
    clock.advance(ms(1));
    cache.incr("x", 1).unwrap();
    assert_eq!(writes(&cache), (5, 3, 0, 1), "over an expired entry");
}

/// `Stats` documents `incr` among the reads that count hits, misses and
/// negative hits, the way `setdefault` counts them.
#[test]
fn incr_counts_its_read_as_documented() {
    let (builder, clock) = mock_builder::<&str, i64>();
    let cache = builder.build().unwrap();
    let reads = |c: &wheelcache::Cache<&'static str, i64>| {
        let s = c.stats();
        (s.hits, s.misses, s.negative_hits)
    };
    cache.incr("c", 1).unwrap();
    assert_eq!(reads(&cache), (0, 1, 0), "incr of a missing key is a miss");
    cache.incr("c", 1).unwrap();
    assert_eq!(reads(&cache), (1, 1, 0), "incr of a live counter is a hit");
    cache.set_negative("n");
    cache.incr("n", 1).unwrap();
    assert_eq!(reads(&cache), (1, 1, 1), "incr over a marker is a negative hit");
    cache.setx("x", 5, Some(ms(1)));
    clock.advance(ms(1));
    cache.incr("x", 1).unwrap();
    assert_eq!(reads(&cache), (1, 2, 1), "incr over an expired entry is a miss");
}
