//! What the model runs found, reduced to direct calls: each test replays a
//! minimal failing sequence against the public API, so that it keeps
//! failing (or passing) whatever becomes of the generators.
//!
//! Which shard a key falls in depends on the cache's random hasher, so the
//! tests of several shards run on many caches, and the weigher's unit is
//! large enough that a cache of a few keys gets several shards (one per
//! 64 Ki units at most).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wheelcache::{Cache, MockClock, RemovalCause};

use super::op::TtlArg;
use super::op::{Op, KEYS};
use super::runner::{run, Settings};

/// A weight unit that gives a cache of `n` units up to `n` shards.
const UNIT: u32 = 1 << 16;

/// Caches each test of several shards builds: a failure that needs two
/// keys in one shard (or in two) shows on some of them.
const CACHES: usize = 64;

type Reports = Arc<Mutex<Vec<(&'static str, u32, RemovalCause)>>>;

/// A weighted cache of `capacity` units of `unit` (a value `v` weighs `v`
/// units) on `clock`, with `shards` shards, and its listener's reports.
fn weighted(
    clock: &MockClock,
    shards: usize,
    capacity: u64,
    unit: u32,
) -> (Cache<&'static str, u32>, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let cache = Cache::builder()
        .clock(clock.clone())
        .shards(shards)
        .max_capacity(capacity * u64::from(unit))
        .weigher(move |_, v: &u32| v * unit)
        .removal_listener(move |k, v, cause| sink.lock().unwrap().push((k, v / unit, cause)))
        .build()
        .expect("valid settings");
    (cache, reports)
}

/// `set_many` with a repeated key: the last value wins, even when an
/// earlier one is refused for weighing more than the whole capacity (a
/// refused value set aside and written after the rest would remove the
/// last value and leave the key without an entry).
#[test]
fn set_many_keeps_the_last_value_when_an_earlier_one_is_refused() {
    let (cache, reports) = weighted(&MockClock::new(), 1, 2, 1);
    cache.set_many(vec![("a", 3), ("a", 1)]);
    assert_eq!(cache.get("a"), Some(1), "the last value wins");
    assert_eq!(*reports.lock().unwrap(), [("a", 3, RemovalCause::Evicted)]);
    assert_eq!(cache.stats().evictions, 1, "the refused value");
    assert_eq!(cache.stats().weight, 1);
    cache.assert_invariants();
}

/// `set_many` with a repeated key in a cache of several shards: the last
/// value wins, even when an earlier one found no room in its shard (set
/// aside and written after the rest, with "a" and "c" in one shard and "b"
/// in the other, the first value of "a" would evict "c", still find too
/// little room and wait; the second would fit in the room "c" left; then
/// the first would overwrite it).
#[test]
fn set_many_keeps_the_last_value_when_an_earlier_one_finds_no_room() {
    let mut lost = 0;
    for _ in 0..CACHES {
        let (cache, _) = weighted(&MockClock::new(), 2, 3, UNIT);
        cache.set("b", 2);
        cache.set("c", 1);
        cache.set_many(vec![("a", 2), ("a", 1)]);
        lost += usize::from(cache.get("a") != Some(1));
        cache.assert_invariants();
    }
    assert_eq!(lost, 0, "of {CACHES} caches, {lost} lost the last value of a repeated key");
}

/// A write that needs room in a full cache of several shards evicts, even
/// when another shard holds a live entry whose deadline falls within the
/// current tick (a writer that takes that entry for an expired one to reap
/// elsewhere must, finding it still live, evict rather than retry until it
/// goes over the capacity).
#[test]
fn a_write_makes_room_when_another_shard_has_an_entry_due_this_tick() {
    for ttl in [Duration::from_nanos(1), Duration::from_micros(500)] {
        let mut over = 0;
        for _ in 0..CACHES {
            let clock = MockClock::new();
            let (cache, _) = weighted(&clock, 2, 2, UNIT);
            cache.setx("due", 1, Some(ttl)); // live, due within tick 0
            cache.set("new", 2); // the whole capacity: "due" must go
            let stats = cache.stats();
            over += usize::from(stats.weight > 2 * u64::from(UNIT));
            assert_eq!(cache.get("new"), Some(2));
            cache.assert_invariants();
        }
        assert_eq!(over, 0, "ttl {ttl:?}: {over} of {CACHES} caches went over their capacity");
    }
}

/// Overwriting an expired entry with a heavier value in a full weighted
/// cache makes room without reaping the entry it writes (making room must
/// not reap that very entry and leave the write a vacant slot to fill).
#[test]
fn overwriting_an_expired_entry_with_a_heavier_value_keeps_the_table_sound() {
    let clock = MockClock::new();
    let (cache, reports) = weighted(&clock, 1, 2, 1);
    cache.setx("a", 1, Some(Duration::from_micros(1)));
    cache.set("b", 1);
    clock.advance(Duration::from_micros(2));
    cache.set("a", 2);
    cache.assert_invariants();
    assert_eq!(cache.get("a"), Some(2));
    let mut reports = std::mem::take(&mut *reports.lock().unwrap());
    reports.sort_unstable_by_key(|r| r.0);
    assert_eq!(reports, [("a", 1, RemovalCause::Expired), ("b", 1, RemovalCause::Evicted)]);
    // The same through `incr` over an expired marker.
    let (cache, _) = weighted(&clock, 1, 3, 1);
    cache.set("b", 2);
    cache.set_negative("a");
    clock.advance(Duration::from_secs(61));
    assert_eq!(cache.incr("a", 2), Ok(2));
    cache.assert_invariants();
}

/// `incr` of a live value is a write: it renews the time to idle.
#[test]
fn incr_renews_the_time_to_idle() {
    let settings = Settings {
        shards: 1,
        capacity: None,
        weighted: false,
        weight_unit: 1,
        time_to_idle: Some(Duration::from_millis(1)),
        tick: Duration::from_millis(1),
        default_ttl: None,
        negative_ttl: Duration::from_secs(60),
        len_every_step: false,
    };
    let k = KEYS - 2;
    let ops = [Op::Set(k, 4), Op::Advance(1), Op::Incr(k, 0), Op::Ttl(k)];
    run::<i64>(&settings, &ops);
    let ops = [Op::Setx(k, 4, TtlArg::Max), Op::Advance(999_999), Op::Incr(k, 1), Op::Ttl(k)];
    run::<i64>(&settings, &ops);
}
