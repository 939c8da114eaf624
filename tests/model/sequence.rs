//! Random sequences of every sync call, mixed with moves of the mock clock,
//! against the model of `runner.rs`; proptest shrinks a failure to a short
//! sequence. Caches unbounded, bounded in entries, bounded in weight (a
//! weigher of the value, with capacities some values alone exceed), with
//! and without a time to idle.
//!
//! `PROPTEST_CASES` overrides the number of cases of each property (CI's
//! Miri step runs a few; a long local hunt runs thousands).

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use wheelcache::{Cache, MockClock};

use super::op::{Keep, LoadArg, Op, TtlArg, Value, KEYS};
use super::runner::{run, Settings};

/// Cases per property unless `PROPTEST_CASES` says otherwise: the whole
/// module runs in a few seconds in a debug build.
const CASES: u32 = 64;

/// The longest sequence of a case: shorter under Miri, which interprets
/// every step some thousand times slower.
const STEPS: usize = if cfg!(miri) { 24 } else { 100 };

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    config
}

/// Raw keys: the runner folds them into `0..KEYS`; a few land outside to
/// check the folding costs nothing.
fn key() -> impl Strategy<Value = u8> {
    prop_oneof![9 => 0..KEYS, 1 => any::<u8>()]
}

/// A TTL or a clock step in nanoseconds: within a tick, about a tick, up
/// to a tenth of a second, or several seconds.
fn nanos() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 1u64..1_000,
        3 => 1u64..3_000_000,
        1 => Just(1_000_000u64),
        2 => 1u64..100_000_000,
        1 => 1_000_000_000u64..10_000_000_000,
    ]
}

fn ttl() -> impl Strategy<Value = TtlArg> {
    prop_oneof![
        2 => Just(TtlArg::None),
        1 => Just(TtlArg::Zero),
        1 => Just(TtlArg::Max),
        5 => nanos().prop_map(TtlArg::Nanos),
    ]
}

/// `incr` amounts: small ones, and the ones that overflow.
fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -3i64..=3,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => Just(i64::MIN + 1),
        1 => Just(255i64),
        1 => Just(256i64),
        1 => any::<i64>(),
    ]
}

fn load_arg() -> impl Strategy<Value = LoadArg> {
    prop_oneof![
        2 => any::<u8>().prop_map(LoadArg::Value),
        2 => (any::<u8>(), ttl()).prop_map(|(v, t)| LoadArg::ValueWithTtl(v, t)),
        1 => Just(LoadArg::Absent),
        1 => Just(LoadArg::Fails),
    ]
}

fn keep() -> impl Strategy<Value = Keep> {
    prop_oneof![
        2 => Just(Keep::EvenValues),
        1 => Just(Keep::OddKeys),
        2 => any::<u8>().prop_map(Keep::KeysBelow),
        2 => Just(Keep::LightValues),
        1 => Just(Keep::Nothing),
        1 => Just(Keep::Everything),
    ]
}

/// Reads of one key or many (the weights of each group below are those of
/// its calls; a flat union of every call costs proptest most of a run).
fn reads() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => key().prop_map(Op::GetItem),
        2 => key().prop_map(Op::Get),
        1 => key().prop_map(Op::Contains),
        2 => key().prop_map(Op::Ttl),
        2 => vec(key(), 0..6).prop_map(Op::GetMany),
    ]
}

/// Writes of values and markers, one key or many.
fn writes() -> impl Strategy<Value = Op> {
    let seed = any::<u8>;
    prop_oneof![
        3 => (key(), seed()).prop_map(|(k, v)| Op::Set(k, v)),
        1 => (key(), seed()).prop_map(|(k, v)| Op::SetItem(k, v)),
        6 => (key(), seed(), ttl()).prop_map(|(k, v, t)| Op::Setx(k, v, t)),
        2 => key().prop_map(Op::SetNegative),
        2 => (key(), seed()).prop_map(|(k, v)| Op::SetDefault(k, v)),
        2 => vec((key(), seed()), 0..5).prop_map(Op::SetMany),
        3 => (key(), ttl()).prop_map(|(k, t)| Op::Expire(k, t)),
        3 => (key(), amount()).prop_map(|(k, a)| Op::Incr(k, a)),
        2 => (key(), amount()).prop_map(|(k, a)| Op::Decr(k, a)),
    ]
}

/// Loading calls.
fn loads() -> impl Strategy<Value = Op> {
    let seed = any::<u8>;
    prop_oneof![
        2 => (key(), seed()).prop_map(|(k, v)| Op::GetOrInsertWith(k, v)),
        2 => (key(), seed(), any::<bool>()).prop_map(|(k, v, f)| Op::TryGetOrInsertWith(k, v, f)),
        3 => (key(), load_arg()).prop_map(|(k, a)| Op::Load(k, a)),
    ]
}

/// Removals, and whole-cache views.
fn removals_and_views() -> impl Strategy<Value = Op> {
    let views = prop_oneof![
        Just(Op::Keys),
        Just(Op::Values),
        Just(Op::Items),
        Just(Op::IterKeys),
        Just(Op::Iter),
    ];
    prop_oneof![
        2 => key().prop_map(Op::DelItem),
        2 => key().prop_map(Op::Pop),
        1 => Just(Op::PopItem),
        1 => prop_oneof![9 => Just(Op::Stats), 1 => Just(Op::Clear)],
        1 => prop_oneof![Just(Op::Len), Just(Op::IsEmpty)],
        1 => prop_oneof![3 => views, 1 => Just(Op::DrainKeys)],
        1 => keep().prop_map(Op::Retain),
        2 => Just(Op::RunPendingTasks),
    ]
}

/// Moves of the clock.
fn clock() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => nanos().prop_map(Op::Advance),
        2 => (-1i8..=1).prop_map(Op::AdvanceTick),
        3 => (any::<u8>(), -1i8..=1).prop_map(|(p, o)| Op::AdvanceToDeadline(p, o)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => reads(),
        24 => writes(),
        7 => loads(),
        11 => removals_and_views(),
        11 => clock(),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 1..STEPS)
}

/// A capacity: none, or in entries, or in weight (`weighted`) with the
/// unit of weight.
type Capacity = (Option<u64>, bool, u32);

/// Settings of a cache: unbounded, or bounded by `capacity`; with the time
/// to idle `idle` gives.
fn settings(
    capacity: BoxedStrategy<Capacity>,
    idle: BoxedStrategy<Option<Duration>>,
) -> impl Strategy<Value = Settings> {
    // Under Miri at most two shards: `validate` walks every shard's wheel.
    let shards = prop_oneof![Just(1usize), Just(2), Just(4), Just(16)].prop_map(|n| {
        if cfg!(miri) {
            n.min(2)
        } else {
            n
        }
    });
    let tick = prop_oneof![
        4 => Just(Duration::from_millis(1)),
        1 => Just(Duration::from_nanos(1)),
        1 => Just(Duration::from_nanos(777_777)),
        1 => Just(Duration::from_secs(1)),
    ];
    let default_ttl = prop_oneof![
        4 => Just(None),
        2 => nanos().prop_map(|n| Some(Duration::from_nanos(n))),
        1 => Just(Some(Duration::MAX)),
    ];
    let negative_ttl = prop_oneof![
        1 => Just(Duration::from_secs(60)),
        2 => nanos().prop_map(Duration::from_nanos),
        1 => Just(Duration::MAX),
    ];
    (shards, capacity, idle, tick, default_ttl, negative_ttl, any::<bool>()).prop_map(
        |(shards, capacity, idle, tick, default_ttl, negative_ttl, len_every_step)| {
            let (capacity, weighted, weight_unit) = capacity;
            Settings {
                shards,
                capacity,
                weighted,
                weight_unit,
                time_to_idle: idle,
                tick,
                default_ttl,
                negative_ttl,
                len_every_step,
            }
        },
    )
}

fn no_idle() -> BoxedStrategy<Option<Duration>> {
    Just(None).boxed()
}

/// A time to idle: within a tick, a few ticks (of the usual 1 ms), up to a
/// tenth of a second, or seconds.
fn idle() -> BoxedStrategy<Option<Duration>> {
    prop_oneof![
        1 => 1u64..1_000,
        3 => 1_000_000u64..5_000_000,
        2 => 1u64..100_000_000,
        1 => 1_000_000_000u64..3_000_000_000,
    ]
    .prop_map(|n| Some(Duration::from_nanos(n)))
    .boxed()
}

fn unbounded() -> impl Strategy<Value = Settings> {
    settings(Just((None, false, 1)).boxed(), no_idle())
}

/// Capacities below the number of keys: evictions happen.
fn tight_entries() -> BoxedStrategy<Capacity> {
    prop_oneof![Just(1u64), 2..u64::from(KEYS)].prop_map(|c| (Some(c), false, 1)).boxed()
}

/// The unit of weight: mostly 1; or 64 Ki, which gives a cache of `c`
/// units up to `c` shards (the eviction paths across shards).
fn unit() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(1u32), 1 => Just(1u32 << 16)]
}

/// Capacities in weight below what the keys weigh together, down to less
/// than one value of `V` weighs alone.
fn tight_weights<V: Value>() -> BoxedStrategy<Capacity> {
    let heaviest = u64::from(V::HEAVIEST);
    let units = prop_oneof![1 => 1..=heaviest, 2 => heaviest..u64::from(KEYS) * 2];
    (units, unit()).prop_map(|(c, unit)| (Some(c * u64::from(unit)), true, unit)).boxed()
}

fn tight() -> impl Strategy<Value = Settings> {
    settings(tight_entries(), no_idle())
}

fn weighted<V: Value>() -> impl Strategy<Value = Settings> {
    settings(tight_weights::<V>(), no_idle())
}

/// Capacities with room for every key at its heaviest: nothing is ever
/// evicted.
fn roomy<V: Value>() -> impl Strategy<Value = Settings> {
    let extra = prop_oneof![Just(0), Just(3), Just(u64::MAX)];
    let capacity = (any::<bool>(), extra, unit()).prop_map(|(weighted, extra, unit)| {
        let (heaviest, unit) = if weighted { (u64::from(V::HEAVIEST), unit) } else { (1, 1) };
        let room = (u64::from(KEYS) * heaviest).saturating_add(extra);
        (Some(room.saturating_mul(u64::from(unit))), weighted, unit)
    });
    settings(capacity.boxed(), prop_oneof![1 => idle(), 1 => no_idle()].boxed())
}

/// A time to idle, in a cache unbounded or bounded in entries or weight.
fn idling<V: Value>() -> impl Strategy<Value = Settings> {
    let capacity = prop_oneof![
        2 => Just((None, false, 1)),
        1 => tight_entries(),
        1 => tight_weights::<V>(),
    ];
    settings(capacity.boxed(), idle())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unbounded_i64_matches_the_model(settings in unbounded(), ops in ops()) {
        run::<i64>(&settings, &ops);
    }

    #[test]
    fn unbounded_string_matches_the_model(settings in unbounded(), ops in ops()) {
        run::<String>(&settings, &ops);
    }

    #[test]
    fn unbounded_u8_matches_the_model(settings in unbounded(), ops in ops()) {
        run::<u8>(&settings, &ops);
    }

    #[test]
    fn bounded_i64_evicts_only_for_new_keys(settings in tight(), ops in ops()) {
        run::<i64>(&settings, &ops);
    }

    #[test]
    fn bounded_string_evicts_only_for_new_keys(settings in tight(), ops in ops()) {
        run::<String>(&settings, &ops);
    }

    #[test]
    fn bounded_with_room_for_every_key_never_evicts(settings in roomy::<i64>(), ops in ops()) {
        run::<i64>(&settings, &ops);
    }

    #[test]
    fn weighted_i64_evicts_only_what_it_must(settings in weighted::<i64>(), ops in ops()) {
        run::<i64>(&settings, &ops);
    }

    #[test]
    fn weighted_string_evicts_only_what_it_must(settings in weighted::<String>(), ops in ops()) {
        run::<String>(&settings, &ops);
    }

    #[test]
    fn weighted_u8_evicts_only_what_it_must(settings in weighted::<u8>(), ops in ops()) {
        run::<u8>(&settings, &ops);
    }

    #[test]
    fn idle_i64_expires_what_nobody_touched(settings in idling::<i64>(), ops in ops()) {
        run::<i64>(&settings, &ops);
    }

    #[test]
    fn idle_string_expires_what_nobody_touched(settings in idling::<String>(), ops in ops()) {
        run::<String>(&settings, &ops);
    }
}

/// Found by the bounded sequences: a full cache holds a live entry beside
/// where the new key goes and, in another shard, an entry that expired
/// earlier in the current tick, after the last reaping pass. The expired
/// entry must make room (expired entries go first), not the live
/// one. Which shard a key falls in depends on the cache's random hasher, so
/// the check runs on many caches.
#[test]
fn an_entry_expired_within_the_tick_makes_room_before_a_live_one() {
    for tick in [Duration::from_millis(1), Duration::from_secs(1)] {
        for attempt in 0..64 {
            let clock = MockClock::new();
            let cache: Cache<&str, u32> = Cache::builder()
                .clock(clock.clone())
                .shards(2)
                .tick(tick)
                .max_capacity(2)
                .build()
                .unwrap();
            cache.set("live", 1);
            cache.setx("old", 2, Some(Duration::from_micros(1)));
            cache.run_pending_tasks(); // nothing is due yet
            clock.advance(Duration::from_micros(2)); // "old" expired, still in tick 0
            cache.set("new", 3);
            assert_eq!(
                cache.get("live"),
                Some(1),
                "tick {tick:?}, cache {attempt}: a live entry was evicted, an expired one kept"
            );
            assert_eq!(cache.stats().evictions, 0, "tick {tick:?}, cache {attempt}");
            cache.assert_invariants();
        }
    }
}
