//! Every method of the sync API on its own, on a mock clock.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use wheelcache::{Cache, Lookup, Ttl};

use super::mock_builder;
use crate::common::{mock_cache, ms};

/// A cache with live values `a`=1 and `b`=2, a negative marker `n`, an
/// entry `x`=9 that expired (not reaped), and persistent `p`=3.
fn populated() -> Cache<&'static str, u32> {
    let (cache, clock) = mock_cache();
    cache.setx("a", 1, Some(ms(100)));
    cache.set("b", 2);
    cache.set_negative("n");
    cache.setx("x", 9, Some(ms(10)));
    cache.setx("p", 3, None);
    clock.advance(ms(10));
    cache
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn get_item_tells_hit_miss_and_negative_apart() {
    let cache = populated();
    assert_eq!(cache.get_item("a"), Lookup::Hit(1));
    assert_eq!(cache.get_item("n"), Lookup::Negative);
    assert_eq!(cache.get_item("x"), Lookup::Miss, "expired");
    assert_eq!(cache.get_item("never"), Lookup::Miss);
}

#[test]
fn lookup_helpers() {
    let hit = Lookup::Hit(5);
    assert!(hit.is_hit() && !hit.is_miss() && !hit.is_negative());
    assert_eq!(hit.into_option(), Some(5));
    let miss: Lookup<u32> = Lookup::Miss;
    assert!(miss.is_miss() && !miss.is_hit() && !miss.is_negative());
    assert_eq!(miss.into_option(), None);
    let negative: Lookup<u32> = Lookup::Negative;
    assert!(negative.is_negative() && !negative.is_hit() && !negative.is_miss());
    assert_eq!(negative.into_option(), None);
}

#[test]
fn get_returns_only_live_values() {
    let cache = populated();
    assert_eq!(cache.get("a"), Some(1));
    assert_eq!(cache.get("p"), Some(3));
    assert_eq!(cache.get("n"), None, "negative marker");
    assert_eq!(cache.get("x"), None, "expired");
    assert_eq!(cache.get("never"), None);
}

#[test]
fn string_keys_are_read_with_str() {
    let (cache, _clock) = mock_cache::<String, String>();
    cache.set("k".to_string(), "v".to_string());
    assert_eq!(cache.get("k").as_deref(), Some("v"));
    assert!(cache.contains("k"));
    assert_eq!(cache.ttl("k"), Ttl::Persistent);
    assert!(cache.expire("k", Some(ms(1))));
    assert_eq!(cache.pop("k").as_deref(), Some("v"));
    assert!(!cache.del_item("k"));
}

#[test]
fn contains_is_true_only_for_live_values() {
    let cache = populated();
    assert!(cache.contains("a"));
    assert!(cache.contains("p"));
    assert!(!cache.contains("n"), "negative marker");
    assert!(!cache.contains("x"), "expired");
    assert!(!cache.contains("never"));
}

#[test]
fn set_replaces_value_and_ttl() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.setx("k", 1, Some(ms(10)));
    cache.set("k", 2);
    assert_eq!(cache.ttl("k"), Ttl::Persistent, "set drops the old TTL");
    clock.advance(ms(20));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(2));
    cache.set_item("k", 3);
    assert_eq!(cache.get("k"), Some(3));
    assert_eq!(cache.len(), 1);
    cache.assert_invariants();
}

#[test]
fn set_with_a_default_ttl_replaces_a_persistent_entry_deadline() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let cache = builder.default_ttl(ms(50)).build().unwrap();
    cache.setx("k", 1, None);
    cache.set("k", 2);
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(50)));
    clock.advance(ms(30));
    cache.set_item("k", 3);
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(50)), "set_item re-arms the default TTL");
    clock.advance(ms(49));
    assert_eq!(cache.get("k"), Some(3));
    clock.advance(ms(1));
    assert_eq!(cache.get("k"), None);
}

#[test]
fn setx_none_never_expires() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.setx("k", 1, None);
    clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(1));
    assert_eq!(cache.ttl("k"), Ttl::Persistent);
    assert_eq!(cache.timers(), 0);
}

#[test]
fn setx_zero_removes_the_key() {
    let (cache, _clock) = mock_cache::<&str, u32>();
    cache.setx("k", 1, Some(ms(100)));
    cache.setx("k", 2, Some(Duration::ZERO));
    assert_eq!(cache.get_item("k"), Lookup::Miss);
    assert_eq!(cache.ttl("k"), Ttl::Missing);
    assert!(!cache.del_item("k"));
    // On a missing key it stores nothing.
    cache.setx("m", 1, Some(Duration::ZERO));
    assert_eq!(cache.get_item("m"), Lookup::Miss);
    // On a negative marker it removes the marker.
    cache.set_negative("n");
    cache.setx("n", 1, Some(Duration::ZERO));
    assert_eq!(cache.get_item("n"), Lookup::Miss);
    assert_eq!((cache.len(), cache.timers()), (0, 0));
    cache.assert_invariants();
}

#[test]
fn set_negative_stores_a_marker_with_the_negative_ttl() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let cache = builder.negative_ttl(ms(30)).build().unwrap();
    cache.set("k", 1);
    cache.set_negative("k");
    assert_eq!(cache.get_item("k"), Lookup::Negative, "a marker replaces a value");
    assert_eq!(cache.get("k"), None);
    assert!(!cache.contains("k"));
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(30)));
    assert!(cache.is_empty());
    assert_eq!(cache.timers(), 1);
    clock.advance(ms(29));
    assert_eq!(cache.get_item("k"), Lookup::Negative);
    clock.advance(ms(1));
    assert_eq!(cache.get_item("k"), Lookup::Miss);
    cache.run_pending_tasks();
    assert_eq!(cache.timers(), 0);
    cache.assert_invariants();
}

#[test]
fn a_value_replaces_a_negative_marker() {
    let (cache, _clock) = mock_cache::<&str, u32>();
    cache.set_negative("k");
    cache.set("k", 1);
    assert_eq!(cache.get_item("k"), Lookup::Hit(1));
    assert_eq!(cache.ttl("k"), Ttl::Persistent, "the marker's deadline went with it");
    assert_eq!(cache.timers(), 0);
    assert_eq!(cache.len(), 1);
    cache.assert_invariants();
}

#[test]
fn setdefault_returns_a_live_value_or_stores_the_default() {
    let (cache, clock) = mock_cache::<&str, u32>();
    assert_eq!(cache.setdefault("k", 1), 1, "missing: stores the default");
    assert_eq!(cache.get("k"), Some(1));
    assert_eq!(cache.setdefault("k", 2), 1, "live: keeps the value");
    assert_eq!(cache.get("k"), Some(1));

    cache.setx("t", 5, Some(ms(20)));
    assert_eq!(cache.setdefault("t", 6), 5);
    assert_eq!(cache.ttl("t"), Ttl::Remaining(ms(20)), "a live entry keeps its deadline");
    clock.advance(ms(20));
    assert_eq!(cache.setdefault("t", 7), 7, "expired: stores the default");
    assert_eq!(cache.ttl("t"), Ttl::Persistent);

    cache.set_negative("n");
    assert_eq!(cache.setdefault("n", 8), 8, "a marker counts as absent");
    assert_eq!(cache.get_item("n"), Lookup::Hit(8));
    assert_eq!(cache.ttl("n"), Ttl::Persistent);
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.timers(), 0);
    cache.assert_invariants();
}

#[test]
fn setdefault_uses_the_default_ttl() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let cache = builder.default_ttl(ms(40)).build().unwrap();
    assert_eq!(cache.setdefault("k", 1), 1);
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(40)));
    clock.advance(ms(40));
    cache.set_negative("n");
    assert_eq!(cache.setdefault("k", 2), 2);
    assert_eq!(cache.setdefault("n", 3), 3);
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(40)));
    assert_eq!(cache.ttl("n"), Ttl::Remaining(ms(40)), "not the negative TTL");
    cache.assert_invariants();
}

#[test]
fn del_item_removes_entries_and_markers() {
    let cache = populated();
    assert!(cache.del_item("a"));
    assert!(!cache.del_item("a"));
    assert!(cache.del_item("n"), "markers are entries");
    assert_eq!(cache.get_item("n"), Lookup::Miss);
    assert!(!cache.del_item("x"), "expired counts as none");
    assert!(!cache.del_item("never"));
    assert_eq!(sorted(cache.keys()), ["b", "p"]);
    assert_eq!(cache.timers(), 0, "a, n and x had the timers");
    cache.assert_invariants();
}

#[test]
fn pop_returns_live_values_and_removes_markers() {
    let cache = populated();
    assert_eq!(cache.pop("a"), Some(1));
    assert_eq!(cache.pop("a"), None);
    assert_eq!(cache.pop("n"), None);
    assert_eq!(cache.get_item("n"), Lookup::Miss, "the marker is gone");
    assert_eq!(cache.pop("x"), None, "expired");
    assert_eq!(cache.pop("never"), None);
    assert_eq!(cache.len(), 2);
    cache.assert_invariants();
}

#[test]
fn popitem_returns_every_live_entry_once_and_never_a_marker() {
    let (cache, clock) = mock_cache::<u32, u32>();
    for k in 0..100 {
        cache.set(k, k * 10);
    }
    for k in 100..150 {
        cache.set_negative(k);
    }
    for k in 150..200 {
        cache.setx(k, k, Some(ms(5)));
    }
    clock.advance(ms(5));
    let mut seen = BTreeSet::new();
    while let Some((k, v)) = cache.popitem() {
        assert_eq!(v, k * 10, "key {k}");
        assert!(seen.insert(k), "key {k} popped twice");
    }
    assert_eq!(seen, (0..100).collect());
    assert!(cache.is_empty());
    assert_eq!(cache.popitem(), None);
    // The markers are still there.
    assert!((100..150).all(|k| cache.get_item(&k).is_negative()));
    cache.assert_invariants();
}

#[test]
fn popitem_on_an_empty_cache_is_none() {
    let (cache, _clock) = mock_cache::<u32, u32>();
    assert_eq!(cache.popitem(), None);
    cache.set_negative(1);
    assert_eq!(cache.popitem(), None);
}

#[test]
fn clear_removes_everything() {
    let cache = populated();
    cache.clear();
    for k in ["a", "b", "n", "x", "p"] {
        assert_eq!(cache.get_item(k), Lookup::Miss, "{k}");
        assert_eq!(cache.ttl(k), Ttl::Missing, "{k}");
    }
    assert!(cache.is_empty());
    assert_eq!(cache.timers(), 0);
    assert!(cache.keys().is_empty() && cache.items().is_empty());
    cache.assert_invariants();
    // Still usable.
    cache.set("a", 1);
    assert_eq!(cache.len(), 1);
}

#[test]
fn len_and_is_empty_count_live_values_only() {
    let (cache, clock) = mock_cache::<&str, u32>();
    assert!(cache.is_empty());
    assert_eq!(cache.len(), 0);
    cache.set_negative("n");
    assert!(cache.is_empty(), "a marker is not a value");
    cache.setx("t", 1, Some(ms(1)));
    assert_eq!(cache.len(), 1);
    assert!(!cache.is_empty());
    clock.advance(ms(1));
    assert!(cache.is_empty(), "expired, not reaped");
}

#[test]
fn snapshots_hold_live_values_only() {
    let cache = populated();
    assert_eq!(sorted(cache.keys()), ["a", "b", "p"]);
    assert_eq!(sorted(cache.values()), [1, 2, 3]);
    assert_eq!(sorted(cache.items()), [("a", 1), ("b", 2), ("p", 3)]);
    assert_eq!(sorted(cache.iter_keys().collect()), ["a", "b", "p"]);
    assert_eq!(cache.len(), 3);
}

#[test]
fn iter_keys_yields_each_live_key_once() {
    let (cache, clock) = mock_cache::<u32, u32>();
    for k in 0..1000 {
        cache.set(k, k);
    }
    for k in 1000..1100 {
        cache.setx(k, k, Some(ms(1)));
    }
    cache.set_negative(5000);
    clock.advance(ms(1));
    let mut seen = HashSet::new();
    for k in cache.iter_keys() {
        assert!(seen.insert(k), "{k} twice");
    }
    assert_eq!(seen, (0..1000).collect());
}

#[test]
fn iter_keys_is_lazy_and_sees_keys_of_shards_not_yet_visited() {
    let (builder, _clock) = mock_builder::<u32, u32>();
    let cache = builder.shards(1).build().unwrap();
    let mut iter = cache.iter_keys();
    // Nothing was copied yet: a key written now is seen.
    cache.set(7, 7);
    assert_eq!(iter.next(), Some(7));
    assert_eq!(iter.next(), None);
    assert!(format!("{iter:?}").starts_with("IterKeys"));
}

#[test]
fn ttl_tells_missing_persistent_and_remaining_apart_exactly() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.set("p", 1);
    cache.setx("t", 2, Some(ms(1500)));
    assert_eq!(cache.ttl("missing"), Ttl::Missing);
    assert_eq!(cache.ttl("p"), Ttl::Persistent);
    assert_eq!(cache.ttl("t"), Ttl::Remaining(ms(1500)));
    clock.advance(ms(400));
    assert_eq!(cache.ttl("t"), Ttl::Remaining(ms(1100)), "exact, not rounded");
    clock.advance(Duration::from_nanos(1));
    assert_eq!(cache.ttl("t"), Ttl::Remaining(ms(1100) - Duration::from_nanos(1)));
    clock.advance(ms(1100) - Duration::from_nanos(2));
    assert_eq!(cache.ttl("t"), Ttl::Remaining(Duration::from_nanos(1)));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(cache.ttl("t"), Ttl::Missing, "expired, not yet reaped");
    assert_eq!(cache.ttl("p"), Ttl::Persistent);
}

#[test]
fn ttl_works_on_markers() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.set_negative("n");
    clock.advance(ms(1));
    assert_eq!(cache.ttl("n"), Ttl::Remaining(Duration::from_secs(60) - ms(1)));
    assert!(cache.expire("n", None));
    assert_eq!(cache.ttl("n"), Ttl::Persistent);
    assert_eq!(cache.get_item("n"), Lookup::Negative);
}

#[test]
fn ttl_remaining_helper() {
    assert_eq!(Ttl::Remaining(ms(3)).remaining(), Some(ms(3)));
    assert_eq!(Ttl::Persistent.remaining(), None);
    assert_eq!(Ttl::Missing.remaining(), None);
}

#[test]
fn expire_sets_a_new_exact_deadline() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.set("k", 1);
    assert!(cache.expire("k", Some(ms(250))));
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(250)));
    assert_eq!(cache.get("k"), Some(1), "the value is untouched");
    clock.advance(ms(100));
    assert!(cache.expire("k", Some(ms(10))), "shortening");
    clock.advance(ms(9));
    assert_eq!(cache.get("k"), Some(1));
    clock.advance(ms(1));
    assert_eq!(cache.get("k"), None);
    cache.run_pending_tasks();
    assert_eq!(cache.timers(), 0);
}

#[test]
fn expire_zero_deletes_and_none_persists() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.setx("d", 1, Some(ms(100)));
    cache.setx("p", 2, Some(ms(100)));
    assert!(cache.expire("d", Some(Duration::ZERO)));
    assert_eq!(cache.get_item("d"), Lookup::Miss);
    assert!(!cache.expire("d", Some(Duration::ZERO)), "already gone");
    assert!(cache.expire("p", None));
    assert_eq!(cache.ttl("p"), Ttl::Persistent);
    assert_eq!(cache.timers(), 0);
    clock.advance(ms(1000));
    cache.run_pending_tasks();
    assert_eq!(cache.get("p"), Some(2));
    cache.assert_invariants();
}

#[test]
fn expire_is_false_for_missing_and_expired_keys() {
    let (cache, clock) = mock_cache::<&str, u32>();
    assert!(!cache.expire("never", Some(ms(5))));
    assert!(!cache.expire("never", None));
    assert_eq!(cache.ttl("never"), Ttl::Missing, "expire creates nothing");
    cache.setx("x", 1, Some(ms(5)));
    clock.advance(ms(5));
    assert!(!cache.expire("x", None), "expired: cannot be revived");
    assert_eq!(cache.get("x"), None);
    assert_eq!(cache.ttl("x"), Ttl::Missing);
    cache.set_negative("n");
    assert!(cache.expire("n", Some(ms(1))), "markers are entries");
    assert_eq!(cache.ttl("n"), Ttl::Remaining(ms(1)));
    cache.assert_invariants();
}

#[test]
fn run_pending_tasks_reaps_expired_entries_and_markers() {
    let (builder, clock) = mock_builder::<u32, u32>();
    let cache = builder.negative_ttl(ms(10)).build().unwrap();
    for k in 0..50 {
        cache.setx(k, k, Some(ms(10)));
    }
    for k in 50..60 {
        cache.set_negative(k);
    }
    for k in 60..70 {
        cache.setx(k, k, Some(ms(11)));
    }
    cache.set(100, 100);
    assert_eq!(cache.timers(), 70);
    clock.advance(ms(10));
    assert_eq!(cache.timers(), 70, "nothing is reaped without a call");
    cache.run_pending_tasks();
    assert_eq!(cache.timers(), 10);
    assert_eq!(cache.stats().expirations, 60, "markers expire too");
    assert_eq!(cache.len(), 11);
    // Nothing more is due: a second run changes nothing.
    cache.run_pending_tasks();
    assert_eq!(cache.timers(), 10);
    assert_eq!(cache.stats().expirations, 60);
    cache.assert_invariants();
}

#[test]
fn timers_count_entries_with_a_deadline() {
    let (cache, _clock) = mock_cache::<u32, u32>();
    cache.set(1, 1);
    cache.setx(2, 2, Some(ms(5)));
    cache.set_negative(3);
    assert_eq!(cache.timers(), 2);
    cache.expire(&1, Some(ms(5)));
    assert_eq!(cache.timers(), 3);
    cache.expire(&2, None);
    cache.del_item(&3);
    assert_eq!(cache.timers(), 1);
    cache.clear();
    assert_eq!(cache.timers(), 0);
    cache.assert_invariants();
}
