//! `CacheBuilder`, `BuildError` and the defaults of a built cache.

use std::collections::hash_map::RandomState;
use std::time::Duration;

use wheelcache::{BuildError, Cache, CacheBuilder, Ttl};

use super::mock_builder;
use crate::common::ms;

fn error_of(builder: CacheBuilder<u64, u64>) -> BuildError {
    builder.build().expect_err("the settings are invalid")
}

#[test]
fn zero_shards_is_an_error() {
    assert_eq!(error_of(mock_builder().0.shards(0)), BuildError::ZeroShards);
}

#[test]
fn too_many_shards_is_an_error() {
    let too_many = CacheBuilder::<u64, u64>::MAX_SHARDS + 1;
    assert_eq!(error_of(mock_builder().0.shards(too_many)), BuildError::TooManyShards);
    assert_eq!(error_of(mock_builder().0.shards(usize::MAX)), BuildError::TooManyShards);
}

#[test]
fn shard_count_is_rounded_up_to_a_power_of_two() {
    for (asked, got) in [(1, 1), (3, 4), (5, 8), (64, 64)] {
        let cache = mock_builder::<u64, u64>().0.shards(asked).build().unwrap();
        let debug = format!("{cache:?}");
        assert!(debug.contains(&format!("shards: {got},")), "{asked} shards: {debug}");
        // Whatever the count, the cache works.
        for k in 0..100 {
            cache.set(k, k);
        }
        assert_eq!(cache.len(), 100);
        cache.assert_invariants();
    }
}

#[test]
fn zero_tick_is_an_error() {
    assert_eq!(error_of(mock_builder().0.tick(Duration::ZERO)), BuildError::ZeroTick);
}

#[test]
fn tick_longer_than_max_is_an_error() {
    let max = CacheBuilder::<u64, u64>::MAX_TICK;
    assert_eq!(
        error_of(mock_builder().0.tick(max + Duration::from_nanos(1))),
        BuildError::TickTooLong
    );
    assert_eq!(error_of(mock_builder().0.tick(Duration::MAX)), BuildError::TickTooLong);
    // The bounds themselves are fine.
    assert!(mock_builder::<u64, u64>().0.tick(max).build().is_ok());
    assert!(mock_builder::<u64, u64>().0.tick(Duration::from_nanos(1)).build().is_ok());
}

#[test]
fn zero_default_ttl_is_an_error() {
    assert_eq!(error_of(mock_builder().0.default_ttl(Duration::ZERO)), BuildError::ZeroDefaultTtl);
}

#[test]
fn zero_negative_ttl_is_an_error() {
    assert_eq!(
        error_of(mock_builder().0.negative_ttl(Duration::ZERO)),
        BuildError::ZeroNegativeTtl
    );
}

#[test]
fn build_errors_are_displayed_and_are_std_errors() {
    let errors = [
        BuildError::ZeroShards,
        BuildError::TooManyShards,
        BuildError::ZeroTick,
        BuildError::TickTooLong,
        BuildError::ZeroDefaultTtl,
        BuildError::ZeroNegativeTtl,
    ];
    let mut messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(messages.iter().all(|m| !m.is_empty()));
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), errors.len(), "each error has its own message");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(BuildError::ZeroTick);
    assert!(boxed.source().is_none());
}

#[test]
fn defaults_are_no_default_ttl_and_a_60_second_negative_ttl() {
    let (builder, _clock) = mock_builder::<&str, u32>();
    let cache = builder.build().unwrap();
    cache.set("a", 1);
    cache.set_item("b", 2);
    assert_eq!(cache.setdefault("c", 3), 3);
    assert_eq!(cache.incr("d", 4), Ok(4));
    for k in ["a", "b", "c", "d"] {
        assert_eq!(cache.ttl(k), Ttl::Persistent, "{k}");
    }
    assert_eq!(cache.timers(), 0);
    cache.set_negative("n");
    assert_eq!(cache.ttl("n"), Ttl::Remaining(Duration::from_secs(60)));
}

#[test]
fn configured_ttls_are_applied() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let cache = builder.default_ttl(ms(300)).negative_ttl(ms(40)).build().unwrap();
    cache.set("a", 1);
    cache.set_item("b", 2);
    cache.setdefault("c", 3);
    cache.incr("d", 4).unwrap();
    cache.set_negative("n");
    for k in ["a", "b", "c", "d"] {
        assert_eq!(cache.ttl(k), Ttl::Remaining(ms(300)), "{k}");
    }
    assert_eq!(cache.ttl("n"), Ttl::Remaining(ms(40)));
    assert_eq!(cache.timers(), 5);
    clock.advance(ms(40));
    assert!(cache.get_item("n").is_miss());
    clock.advance(ms(260));
    assert!(cache.is_empty());
    cache.assert_invariants();
}

#[test]
fn a_custom_hasher_works() {
    let (builder, _clock) = mock_builder::<String, u32>();
    let cache: Cache<String, u32, RandomState> =
        builder.hasher(RandomState::new()).build().unwrap();
    for k in 0..200 {
        cache.set(k.to_string(), k);
    }
    for k in 0..200 {
        assert_eq!(cache.get(k.to_string().as_str()), Some(k));
    }
    assert_eq!(cache.len(), 200);
    cache.assert_invariants();
}

#[test]
fn builder_debug_names_its_settings() {
    let (builder, _clock) = mock_builder::<u64, u64>();
    let debug = format!("{:?}", builder.shards(2).tick(ms(3)).removal_listener(|_, _, _| {}));
    for field in ["shards: Some(2)", "tick: 3ms", "removal_listener: true"] {
        assert!(debug.contains(field), "{field} missing from {debug}");
    }
}

#[test]
fn new_and_default_are_unbounded_persistent_real_clock_caches() {
    let cache: Cache<u64, u64> = Cache::new();
    cache.set(1, 1);
    assert_eq!(cache.ttl(&1), Ttl::Persistent);
    let other: Cache<u64, u64> = Cache::default();
    other.set(1, 2);
    assert_eq!((cache.get(&1), other.get(&1)), (Some(1), Some(2)), "two caches, not one");
    // A real-clock TTL counts down from now.
    cache.setx(2, 2, Some(Duration::from_secs(3600)));
    let left = cache.ttl(&2).remaining().expect("has a deadline");
    assert!(left <= Duration::from_secs(3600) && left > Duration::from_secs(3500), "{left:?}");
}

#[test]
fn clones_share_one_cache() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let cache = builder.build().unwrap();
    let handle = cache.clone();
    handle.setx("a", 1, Some(ms(5)));
    assert_eq!(cache.get("a"), Some(1));
    cache.del_item("a");
    assert_eq!(handle.get("a"), None);
    handle.setx("b", 2, Some(ms(5)));
    drop(handle);
    clock.advance(ms(5));
    cache.run_pending_tasks();
    assert_eq!((cache.timers(), cache.stats().expirations), (0, 1));
}
