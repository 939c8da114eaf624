//! The cache against its model: call sequences decoded from the fuzzer's
//! bytes run through the runner of `tests/model` (the same model and the
//! same checks as the proptest sequences, `assert_invariants()` after every call),
//! on a mock clock, unbounded or bounded (in entries, or in weight with a
//! weigher of the value), with or without a time to idle, with `i64`,
//! `String` or `u8` values.

#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/op.rs"]
mod op;
#[path = "../../tests/model/reference.rs"]
mod reference;
#[path = "../../tests/model/runner.rs"]
mod runner;
#[path = "../../tests/model/weights.rs"]
mod weights;

use op::{Keep, LoadArg, Op, TtlArg, KEYS};
use runner::{run, Settings};

/// The most calls a run makes: longer inputs are cut, to keep runs fast.
const MAX_OPS: usize = 400;

#[derive(Arbitrary, Debug)]
enum Tick {
    Millisecond,
    Nanosecond,
    Odd,
    Second,
}

#[derive(Arbitrary, Debug)]
enum Capacity {
    Unbounded,
    /// `1 + n % 12` entries: below, at and above the 8 keys.
    Entries(u8),
    /// `1 + n % 48` units of weight: from below what one value weighs to
    /// room for every key at its heaviest. With `wide`, a unit weighs
    /// 64 Ki, which gives the cache several shards.
    Weight {
        n: u8,
        wide: bool,
    },
    Largest,
}

#[derive(Arbitrary, Debug)]
enum Values {
    I64,
    String,
    U8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    shards: u8,
    capacity: Capacity,
    tick: Tick,
    /// Nanoseconds; zero stands for `Duration::MAX`.
    default_ttl: Option<u32>,
    negative_ttl: Option<u32>,
    /// Nanoseconds, at least one.
    time_to_idle: Option<u32>,
    len_every_step: bool,
    values: Values,
    ops: Vec<Op>,
}

/// A TTL or a clock step in nanoseconds: within a tick, about a tick, up
/// to a tenth of a second, or several seconds.
fn nanos(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=4)? {
        0 => u.int_in_range(1..=999)?,
        1 => u.int_in_range(1..=3_000_000)?,
        2 => 1_000_000,
        3 => u.int_in_range(1..=100_000_000)?,
        _ => u.int_in_range(1_000_000_000..=10_000_000_000)?,
    })
}

fn ttl(u: &mut Unstructured<'_>) -> Result<TtlArg> {
    Ok(match u.int_in_range(0..=7)? {
        0 | 1 => TtlArg::None,
        2 => TtlArg::Zero,
        3 => TtlArg::Max,
        _ => TtlArg::Nanos(nanos(u)?),
    })
}

/// `incr` amounts: small ones, and the ones that overflow.
fn amount(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0..=9)? {
        0 => i64::MAX,
        1 => i64::MIN,
        2 => i64::MIN + 1,
        3 => 255,
        4 => 256,
        5 => u.arbitrary()?,
        _ => u.int_in_range(-3..=3)?,
    })
}

fn load_arg(u: &mut Unstructured<'_>) -> Result<LoadArg> {
    Ok(match u.int_in_range(0..=5)? {
        0 | 1 => LoadArg::Value(u.arbitrary()?),
        2 | 3 => LoadArg::ValueWithTtl(u.arbitrary()?, ttl(u)?),
        4 => LoadArg::Absent,
        _ => LoadArg::Fails,
    })
}

fn keep(u: &mut Unstructured<'_>) -> Result<Keep> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Keep::EvenValues,
        1 => Keep::OddKeys,
        2 => Keep::KeysBelow(u.arbitrary()?),
        3 => Keep::LightValues,
        4 => Keep::Nothing,
        _ => Keep::Everything,
    })
}

/// A short list of keys (`get_many`), or of keys and value seeds
/// (`set_many`): repeats are likely among 8 keys.
fn few<T>(
    u: &mut Unstructured<'_>,
    one: impl Fn(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=5)?;
    (0..n).map(|_| one(u)).collect()
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let k: u8 = u.arbitrary()?;
        Ok(match u.int_in_range(0..=36)? {
            0 => Op::GetItem(k),
            1 => Op::Get(k),
            2 => Op::Contains(k),
            3 => Op::Ttl(k),
            4 => Op::Set(k, u.arbitrary()?),
            5 => Op::SetItem(k, u.arbitrary()?),
            6 | 7 => Op::Setx(k, u.arbitrary()?, ttl(u)?),
            8 => Op::SetNegative(k),
            9 => Op::SetDefault(k, u.arbitrary()?),
            10 => Op::DelItem(k),
            11 => Op::Pop(k),
            12 => Op::PopItem,
            13 => Op::Clear,
            14 => Op::Len,
            15 => Op::IsEmpty,
            16 => Op::Keys,
            17 => Op::Values,
            18 => Op::Items,
            19 => Op::IterKeys,
            20 => Op::DrainKeys,
            21 => Op::Expire(k, ttl(u)?),
            22 => Op::Incr(k, amount(u)?),
            23 => Op::Decr(k, amount(u)?),
            24 => Op::GetOrInsertWith(k, u.arbitrary()?),
            25 => Op::TryGetOrInsertWith(k, u.arbitrary()?, u.arbitrary()?),
            26 => Op::RunPendingTasks,
            27 => Op::Stats,
            28 => Op::Advance(nanos(u)?),
            29 | 30 => Op::Load(k, load_arg(u)?),
            31 => Op::GetMany(few(u, |u| u.int_in_range(0..=KEYS - 1))?),
            32 => Op::SetMany(few(u, |u| Ok((u.int_in_range(0..=KEYS - 1)?, u.arbitrary()?)))?),
            33 => Op::Retain(keep(u)?),
            34 => Op::Iter,
            35 => Op::AdvanceTick(u.arbitrary()?),
            _ => Op::AdvanceToDeadline(u.arbitrary()?, u.arbitrary()?),
        })
    }
}

fn ttl_setting(nanos: Option<u32>) -> Option<Duration> {
    nanos.map(|n| if n == 0 { Duration::MAX } else { Duration::from_nanos(u64::from(n)) })
}

fuzz_target!(|input: Input| {
    let mut ops = input.ops;
    ops.truncate(MAX_OPS);
    let (capacity, weighted, weight_unit) = match input.capacity {
        Capacity::Unbounded => (None, false, 1),
        Capacity::Entries(n) => (Some(1 + u64::from(n % 12)), false, 1),
        Capacity::Weight { n, wide } => {
            let unit: u32 = if wide { 1 << 16 } else { 1 };
            (Some((1 + u64::from(n % 48)) * u64::from(unit)), true, unit)
        }
        Capacity::Largest => (Some(u64::MAX), false, 1),
    };
    let settings = Settings {
        shards: [1, 2, 4, 16][usize::from(input.shards % 4)],
        capacity,
        weighted,
        weight_unit,
        time_to_idle: input.time_to_idle.map(|n| Duration::from_nanos(u64::from(n.max(1)))),
        tick: match input.tick {
            Tick::Millisecond => Duration::from_millis(1),
            Tick::Nanosecond => Duration::from_nanos(1),
            Tick::Odd => Duration::from_nanos(777_777),
            Tick::Second => Duration::from_secs(1),
        },
        default_ttl: ttl_setting(input.default_ttl),
        negative_ttl: ttl_setting(input.negative_ttl).unwrap_or(Duration::from_secs(60)),
        len_every_step: input.len_every_step,
    };
    match input.values {
        Values::I64 => run::<i64>(&settings, &ops),
        Values::String => run::<String>(&settings, &ops),
        Values::U8 => run::<u8>(&settings, &ops),
    }
});
