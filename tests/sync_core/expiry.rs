//! The expiry engine as the API shows it: the exact
//! `now >= deadline` boundary, re-timed entries outliving their old timers,
//! timer memory, huge TTLs, and a model of many deadlines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wheelcache::{Cache, Lookup, RemovalCause, Ttl};

use super::{drain, mock_builder, now_ns, recorded_cache, sort_events, within, Lcg};
use crate::common::{mock_cache, ms};

const NS: Duration = Duration::from_nanos(1);

#[test]
fn a_read_one_nanosecond_before_the_deadline_hits_and_at_it_misses() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.setx("k", 1, Some(ms(1500)));
    clock.advance(ms(1500) - NS);
    assert_eq!(cache.get("k"), Some(1));
    cache.run_pending_tasks();
    assert_eq!((cache.len(), cache.timers(), cache.stats().expirations), (1, 1, 0));
    clock.advance(NS);
    assert_eq!(cache.get_item("k"), Lookup::Miss);
    assert!(!cache.contains("k"));
    assert_eq!(cache.ttl("k"), Ttl::Missing);
    assert!(cache.keys().is_empty() && cache.values().is_empty() && cache.items().is_empty());
    assert_eq!(cache.iter_keys().count(), 0);
    cache.run_pending_tasks();
    assert_eq!((cache.timers(), cache.stats().expirations), (0, 1));
    cache.assert_invariants();
}

#[test]
fn deadlines_off_the_tick_grid_are_exact_for_any_tick() {
    let ticks = [NS, Duration::from_nanos(333_333), ms(1), ms(7), Duration::from_secs(1)];
    for tick in ticks {
        let (builder, clock) = mock_builder::<u32, u32>();
        let cache = builder.tick(tick).build().unwrap();
        // Several deadlines inside one millisecond, none on a tick boundary.
        let ttls: Vec<u64> = (0..8).map(|i| 1_500_123 + i * 101).collect();
        for (k, &ttl) in ttls.iter().enumerate() {
            cache.setx(k as u32, k as u32, Some(Duration::from_nanos(ttl)));
        }
        for (k, &ttl) in ttls.iter().enumerate() {
            let k = k as u32;
            let now = now_ns(&clock);
            clock.advance(Duration::from_nanos(ttl - 1 - now));
            assert_eq!(cache.get(&k), Some(k), "tick {tick:?}: key {k} 1 ns early");
            cache.run_pending_tasks();
            assert_eq!(cache.len(), ttls.len() - k as usize, "tick {tick:?}: reaped early");
            clock.advance(NS);
            assert_eq!(cache.get(&k), None, "tick {tick:?}: key {k} at its deadline");
            cache.run_pending_tasks();
            assert_eq!(cache.timers(), ttls.len() - 1 - k as usize, "tick {tick:?}: not reaped");
            cache.assert_invariants();
        }
        assert_eq!(cache.stats().expirations, ttls.len() as u64);
    }
}

#[test]
fn a_one_nanosecond_ttl_expires_one_nanosecond_later() {
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.setx("k", 1, Some(NS));
    assert_eq!(cache.ttl("k"), Ttl::Remaining(NS));
    assert_eq!(cache.get("k"), Some(1));
    clock.advance(NS);
    assert_eq!(cache.get("k"), None);
}

#[test]
fn an_entry_rewritten_with_a_later_deadline_outlives_its_old_timer() {
    let (cache, clock, events) = recorded_cache::<&str, u32>();
    cache.setx("k", 1, Some(ms(10)));
    cache.setx("k", 2, Some(ms(100)));
    clock.advance(ms(50));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(2));
    assert_eq!(cache.ttl("k"), Ttl::Remaining(ms(50)));
    assert_eq!(cache.stats().expirations, 0);
    assert_eq!(drain(&events), [("k", 1, RemovalCause::Replaced)]);
    clock.advance(ms(50));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), None);
    assert_eq!(drain(&events), [("k", 2, RemovalCause::Expired)]);
    cache.assert_invariants();
}

#[test]
fn expire_extending_and_persisting_beat_the_old_timer() {
    let (cache, clock, events) = recorded_cache::<&str, u32>();
    cache.setx("longer", 1, Some(ms(10)));
    cache.setx("persist", 2, Some(ms(10)));
    cache.setx("set", 3, Some(ms(10)));
    cache.setx("marker", 4, Some(ms(10)));
    assert!(cache.expire("longer", Some(ms(100))));
    assert!(cache.expire("persist", None));
    cache.set("set", 30);
    cache.set_negative("marker");
    clock.advance(ms(50));
    cache.run_pending_tasks();
    assert_eq!(cache.get("longer"), Some(1));
    assert_eq!(cache.get("persist"), Some(2));
    assert_eq!(cache.get("set"), Some(30));
    assert_eq!(cache.get_item("marker"), Lookup::Negative);
    assert_eq!(cache.stats().expirations, 0);
    assert_eq!(cache.timers(), 2, "longer and marker");
    let mut seen = drain(&events);
    sort_events(&mut seen);
    assert_eq!(seen, [("marker", 4, RemovalCause::Replaced), ("set", 3, RemovalCause::Replaced)]);
    clock.advance(Duration::from_secs(3600));
    cache.run_pending_tasks();
    assert_eq!(cache.get("persist"), Some(2));
    assert_eq!(cache.get("longer"), None);
    assert_eq!(drain(&events), [("longer", 1, RemovalCause::Expired)]);
    cache.assert_invariants();
}

#[test]
fn a_timer_put_aside_within_its_tick_does_not_remove_the_rewritten_entry() {
    // Deadline 1.5 ms with 1 ms ticks: a run at 1.2 ms finds the timer in its
    // tick but not yet due; the key is then re-timed.
    let (cache, clock) = mock_cache::<&str, u32>();
    cache.setx("k", 1, Some(Duration::from_micros(1500)));
    clock.advance(Duration::from_micros(1200));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(1));
    cache.setx("k", 2, Some(ms(100)));
    clock.advance(ms(1));
    cache.run_pending_tasks();
    assert_eq!(cache.get("k"), Some(2));
    assert_eq!(cache.timers(), 1);
    // The same with expire() and a delete-and-insert.
    cache.setx("e", 1, Some(Duration::from_micros(1500)));
    cache.setx("d", 1, Some(Duration::from_micros(1500)));
    clock.advance(Duration::from_micros(1200));
    cache.run_pending_tasks();
    assert!(cache.expire("e", Some(ms(100))));
    assert!(cache.del_item("d"));
    cache.setx("d", 2, Some(ms(100)));
    clock.advance(ms(1));
    cache.run_pending_tasks();
    assert_eq!((cache.get("e"), cache.get("d")), (Some(1), Some(2)));
    assert_eq!(cache.stats().expirations, 0);
    cache.assert_invariants();
}

/// A reaper may hold a clock reading older than the wheel: between two of
/// its batches (the lock is released, the listener runs) another caller
/// moved the clock on, reaped, and armed a timer due in the wheel's new
/// tick. On the real clock this is the expiry thread and a `len()` on
/// another thread reading the clock a moment apart. The older reaper must
/// finish, leaving the new entry alone.
#[test]
fn a_reaper_holding_an_older_clock_reading_finishes() {
    within(Duration::from_secs(5), || {
        let (builder, clock) = mock_builder::<u32, u32>();
        let handle: Arc<Mutex<Option<Cache<u32, u32>>>> = Arc::default();
        let slot = handle.clone();
        let fired = AtomicBool::new(false);
        let mover = clock.clone();
        let cache = builder
            .shards(1)
            .removal_listener(move |_, _, _| {
                if fired.swap(true, SeqCst) {
                    return;
                }
                let cache = slot.lock().unwrap().clone().expect("set before any removal");
                mover.advance(ms(2));
                cache.run_pending_tasks();
                cache.setx(9999, 1, Some(NS)); // due in the wheel's current tick
            })
            .build()
            .unwrap();
        *handle.lock().unwrap() = Some(cache.clone());
        // More than one batch of expirations, so the reaper comes back.
        for k in 0..300 {
            cache.setx(k, k, Some(ms(1)));
        }
        clock.advance(ms(1));
        cache.run_pending_tasks();
        handle.lock().unwrap().take();
        assert_eq!(cache.stats().expirations, 300);
        assert_eq!(cache.keys(), [9999]);
        cache.assert_invariants();
        clock.advance(NS);
        cache.run_pending_tasks();
        assert_eq!((cache.len(), cache.timers()), (0, 0));
    });
}

#[test]
fn entries_moved_by_removals_keep_their_own_deadlines() {
    // Removing an entry moves another into its place; its timer must follow.
    let (cache, clock) = mock_cache::<u32, u32>();
    for k in 0..200 {
        cache.setx(k, k, Some(ms(u64::from(k) + 1)));
    }
    for k in (0..200).step_by(3) {
        assert!(cache.del_item(&k));
    }
    cache.assert_invariants();
    for step in 1..=201u32 {
        clock.advance(ms(1));
        cache.run_pending_tasks();
        let mut left = cache.keys();
        left.sort_unstable();
        let expected: Vec<u32> = (step..200).filter(|k| k % 3 != 0).collect();
        assert_eq!(left, expected, "at {step} ms");
        assert_eq!(cache.timers(), expected.len());
    }
    cache.assert_invariants();
}

#[test]
fn timer_memory_stays_bounded_under_an_overwrite_and_expire_storm() {
    let (cache, clock) = mock_cache::<u32, u32>();
    let mut rng = Lcg::new(7);
    for round in 0..100_000u32 {
        let k = round % 10;
        match rng.below(6) {
            0 | 1 => cache.setx(k, round, Some(Duration::from_nanos(1 + rng.below(5_000_000_000)))),
            2 => {
                cache.expire(&k, Some(Duration::from_nanos(1 + rng.below(1 << 40))));
            }
            3 => {
                cache.expire(&k, None);
            }
            4 => cache.set_negative(k),
            _ => cache.set(k, round),
        }
        if round % 1000 == 999 {
            assert!(cache.timers() <= 10, "{} timers for 10 keys", cache.timers());
            clock.advance(Duration::from_micros(rng.below(2000)));
            cache.run_pending_tasks();
        }
    }
    assert!(cache.timers() <= 10, "{} timers for 10 keys", cache.timers());
    cache.assert_invariants();
}

#[test]
fn len_does_not_count_expired_entries_without_any_reaping() {
    let (cache, clock) = mock_cache::<u32, u32>();
    for k in 0..10 {
        cache.setx(k, k, Some(ms(10)));
    }
    for k in 10..15 {
        cache.setx(k, k, Some(ms(20)));
    }
    for k in 15..18 {
        cache.set(k, k);
    }
    cache.set_negative(100);
    cache.set_negative(101);
    assert_eq!(cache.len(), 18);
    clock.advance(ms(10));
    // Snapshots first: they reap nothing.
    assert_eq!(cache.keys().len(), 8);
    assert_eq!(cache.values().len(), 8);
    assert_eq!(cache.items().len(), 8);
    assert_eq!(cache.iter_keys().count(), 8);
    assert_eq!(cache.timers(), 17, "nothing reaped yet");
    assert_eq!(cache.len(), 8);
    assert!(!cache.is_empty());
    clock.advance(ms(10));
    assert_eq!(cache.len(), 3);
    clock.advance(Duration::from_secs(60));
    assert_eq!(cache.len(), 3);
    cache.assert_invariants();
}

#[test]
fn an_entry_ttl_is_not_capped_by_the_default_ttl() {
    let (builder, clock) = mock_builder::<&str, u32>();
    let cache = builder.default_ttl(Duration::from_secs(1)).build().unwrap();
    cache.setx("long", 1, Some(Duration::from_secs(10)));
    cache.setx("forever", 2, None);
    cache.set("default", 3);
    clock.advance(Duration::from_secs(5));
    cache.run_pending_tasks();
    assert_eq!(cache.get("long"), Some(1));
    assert_eq!(cache.ttl("long"), Ttl::Remaining(Duration::from_secs(5)));
    assert_eq!(cache.get("forever"), Some(2));
    assert_eq!(cache.ttl("forever"), Ttl::Persistent);
    assert_eq!(cache.get("default"), None);
    assert!(cache.expire("forever", Some(Duration::from_secs(3600))));
    assert_eq!(cache.ttl("forever"), Ttl::Remaining(Duration::from_secs(3600)));
}

#[test]
fn duration_max_neither_panics_nor_overflows() {
    let (builder, clock) = mock_builder::<&str, i64>();
    let cache = builder.default_ttl(Duration::MAX).negative_ttl(Duration::MAX).build().unwrap();
    let long = Duration::from_secs(500 * 365 * 24 * 3600);
    cache.setx("x", 1, Some(Duration::MAX));
    cache.set("d", 2);
    cache.set_negative("n");
    assert_eq!(cache.incr("i", 3), Ok(3));
    cache.set("e", 4);
    assert!(cache.expire("e", Some(Duration::MAX)));
    cache.setx("p", 5, None);
    for k in ["x", "d", "n", "i", "e"] {
        let left = cache.ttl(k).remaining().unwrap_or_else(|| panic!("{k} has a deadline"));
        assert!(left > long, "{k}: {left:?}");
    }
    assert_eq!(cache.incr("x", 1), Ok(2));
    cache.run_pending_tasks();
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    cache.run_pending_tasks();
    assert_eq!(cache.len(), 5);
    assert_eq!(cache.get_item("n"), Lookup::Negative);
    cache.assert_invariants();
    // Even a clock pushed to its end panics nowhere; a persistent entry lives on.
    clock.advance(Duration::MAX);
    cache.run_pending_tasks();
    cache.setx("late", 6, Some(Duration::MAX));
    assert!(cache.expire("p", None));
    cache.run_pending_tasks();
    assert_eq!(cache.get("p"), Some(5));
    cache.assert_invariants();
}

#[test]
fn deadlines_beyond_the_wheel_range_are_kept_exactly() {
    // The wheel spans 2^36 ticks: about 795 days at 1 ms, 68 s at 1 ns.
    for (tick, ttl, step) in [
        (ms(1), Duration::from_secs(1000 * 24 * 3600), Duration::from_secs(97 * 24 * 3600)),
        (NS, Duration::from_secs(1000), Duration::from_secs(33)),
    ] {
        let (builder, clock) = mock_builder::<u32, u32>();
        let cache = builder.tick(tick).build().unwrap();
        cache.setx(1, 1, Some(ttl));
        cache.setx(2, 2, Some(ttl + NS));
        cache.setx(3, 3, Some(ttl * 2));
        while clock.elapsed() + step < ttl {
            clock.advance(step);
            cache.run_pending_tasks();
            assert_eq!(cache.len(), 3, "tick {tick:?} at {:?}", clock.elapsed());
            cache.assert_invariants();
        }
        clock.advance(ttl - NS - clock.elapsed());
        cache.run_pending_tasks();
        assert_eq!(cache.len(), 3, "tick {tick:?}: 1 ns early");
        clock.advance(NS);
        cache.run_pending_tasks();
        assert_eq!(cache.timers(), 2, "tick {tick:?}: key 1 at its deadline");
        clock.advance(NS);
        cache.run_pending_tasks();
        assert_eq!(cache.timers(), 1, "tick {tick:?}: key 2 at its deadline");
        assert_eq!(cache.get(&3), Some(3));
        // One jump straight past the last deadline.
        clock.advance(ttl);
        cache.run_pending_tasks();
        assert_eq!((cache.timers(), cache.len()), (0, 0), "tick {tick:?}");
        cache.assert_invariants();
    }
}

/// The cache against a plain map of deadlines, with the clock stepped by
/// random amounts and onto (and just before) deadlines.
fn model_run(tick: Duration, seed: u64) {
    const NEVER: u64 = u64::MAX;
    const KEYS: u64 = 48;
    let negative_ttl = ms(40);
    let (builder, clock) = mock_builder::<u64, u64>();
    let cache = builder.tick(tick).negative_ttl(negative_ttl).build().unwrap();
    let mut model: HashMap<u64, (Option<u64>, u64)> = HashMap::new();
    let mut expirations = 0u64;
    let mut rng = Lcg::new(seed);
    let live = |model: &HashMap<u64, (Option<u64>, u64)>, k: u64, now: u64| {
        model.get(&k).copied().filter(|&(_, deadline)| now < deadline)
    };
    for step in 0..3000 {
        let now = now_ns(&clock);
        // A write meeting an expired entry counts it as expired.
        let k = rng.below(KEYS);
        let expired = |model: &HashMap<u64, (Option<u64>, u64)>| {
            model.get(&k).is_some_and(|&(_, deadline)| deadline <= now)
        };
        match rng.below(10) {
            0..=3 => {
                let v = rng.below(1_000_000);
                let ttl = match rng.below(10) {
                    0 => None,
                    _ => Some(Duration::from_nanos(1 + rng.below(60_000_000))),
                };
                expirations += u64::from(expired(&model));
                cache.setx(k, v, ttl);
                model.insert(k, (Some(v), ttl.map_or(NEVER, |t| now + t.as_nanos() as u64)));
            }
            4 => {
                expirations += u64::from(expired(&model));
                cache.set_negative(k);
                model.insert(k, (None, now + negative_ttl.as_nanos() as u64));
            }
            5 => {
                expirations += u64::from(expired(&model));
                let existed = live(&model, k, now).is_some();
                assert_eq!(cache.del_item(&k), existed, "del_item({k}) at step {step}");
                model.remove(&k);
            }
            6 => {
                let ttl = match rng.below(4) {
                    0 => None,
                    _ => Some(Duration::from_nanos(1 + rng.below(60_000_000))),
                };
                let existed = live(&model, k, now).is_some();
                expirations += u64::from(expired(&model));
                assert_eq!(cache.expire(&k, ttl), existed, "expire({k}) at step {step}");
                match model.get_mut(&k) {
                    Some(entry) if existed => {
                        entry.1 = ttl.map_or(NEVER, |t| now + t.as_nanos() as u64)
                    }
                    _ => {
                        model.remove(&k);
                    }
                }
            }
            7 => {
                expirations += u64::from(expired(&model));
                let amount = rng.below(100);
                let got = cache.incr(k, amount as i64).expect("u64 counters in range");
                match live(&model, k, now) {
                    Some((Some(v), deadline)) => {
                        assert_eq!(got, (v + amount) as i64);
                        model.insert(k, (Some(v + amount), deadline));
                    }
                    _ => {
                        assert_eq!(got, amount as i64);
                        model.insert(k, (Some(amount), NEVER));
                    }
                }
            }
            _ => {
                // Move the clock: onto a deadline, just before one, or by a
                // random step.
                let upcoming: Vec<u64> = model
                    .values()
                    .map(|&(_, deadline)| deadline)
                    .filter(|&deadline| deadline != NEVER && deadline > now)
                    .collect();
                let to = match rng.below(3) {
                    0 if !upcoming.is_empty() => {
                        upcoming[rng.below(upcoming.len() as u64) as usize]
                    }
                    1 if !upcoming.is_empty() => {
                        upcoming[rng.below(upcoming.len() as u64) as usize] - 1
                    }
                    _ => now + rng.below(3_000_000),
                };
                clock.advance(Duration::from_nanos(to - now));
                if rng.below(2) == 0 {
                    let now = now_ns(&clock);
                    cache.run_pending_tasks();
                    let due: Vec<u64> =
                        model.iter().filter(|(_, &(_, d))| d <= now).map(|(&k, _)| k).collect();
                    expirations += due.len() as u64;
                    for k in due {
                        model.remove(&k);
                    }
                    let timers = model.values().filter(|&&(_, d)| d != NEVER).count();
                    assert_eq!(cache.timers(), timers, "timers after reaping at step {step}");
                }
            }
        }
        if step % 10 == 0 {
            let now = now_ns(&clock);
            for k in 0..KEYS {
                let (lookup, ttl) = match live(&model, k, now) {
                    None => (Lookup::Miss, Ttl::Missing),
                    Some((v, deadline)) => (
                        v.map_or(Lookup::Negative, Lookup::Hit),
                        if deadline == NEVER {
                            Ttl::Persistent
                        } else {
                            Ttl::Remaining(Duration::from_nanos(deadline - now))
                        },
                    ),
                };
                assert_eq!(cache.get_item(&k), lookup, "key {k} at step {step}, {now} ns");
                assert_eq!(cache.ttl(&k), ttl, "key {k} at step {step}, {now} ns");
            }
            let values = (0..KEYS).filter(|&k| matches!(live(&model, k, now), Some((Some(_), _))));
            let mut keys = cache.keys();
            keys.sort_unstable();
            assert_eq!(keys, values.collect::<Vec<_>>(), "keys at step {step}");
            cache.assert_invariants();
        }
    }
    // Reap the rest and count every expiration.
    let now = now_ns(&clock);
    cache.run_pending_tasks();
    expirations += model.values().filter(|&&(_, d)| d <= now).count() as u64;
    assert_eq!(cache.stats().expirations, expirations);
    cache.assert_invariants();
}

#[test]
fn many_deadlines_match_a_model_with_a_1_ms_tick() {
    model_run(ms(1), 1);
    model_run(ms(1), 2);
}

#[test]
fn many_deadlines_match_a_model_with_odd_ticks() {
    model_run(Duration::from_nanos(777_777), 3);
    model_run(ms(16), 4);
}

#[test]
fn a_cache_of_one_shard_behaves_the_same() {
    let (builder, clock) = mock_builder::<u32, u32>();
    let cache: Cache<u32, u32> = builder.shards(1).build().unwrap();
    for k in 0..100 {
        cache.setx(k, k, Some(ms(u64::from(k % 10) + 1)));
    }
    clock.advance(ms(5));
    assert_eq!(cache.len(), 50);
    cache.run_pending_tasks();
    assert_eq!(cache.timers(), 50);
    cache.assert_invariants();
}
