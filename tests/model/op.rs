//! The calls of a model run, as plain data, and the value types they run
//! on. `sequence.rs` generates them with proptest; the fuzz target `ops`
//! (fuzz/) decodes them from the fuzzer's bytes; `runner.rs` applies them.
//!
//! Keys and value seeds are raw bytes: the runner folds keys into
//! `0..KEYS`, so that calls meet each other's keys, and maps seeds to values
//! through [`Value::pick`]. Each value type also has a deterministic weight
//! ([`Value::weight`]), the weigher of a weighted run.

use std::fmt::Debug;
use std::time::Duration;

use wheelcache::Counter;

/// Keys are `0..KEYS`.
pub(crate) const KEYS: u8 = 8;

/// A TTL argument of `setx` or `expire`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TtlArg {
    /// No expiry.
    None,
    /// `Duration::ZERO`: removes the key.
    Zero,
    /// A TTL in nanoseconds (zero is the same as `Zero`).
    Nanos(u64),
    /// `Duration::MAX`: saturates, never overflows.
    Max,
}

impl TtlArg {
    pub(crate) fn duration(self) -> Option<Duration> {
        match self {
            TtlArg::None => None,
            TtlArg::Zero => Some(Duration::ZERO),
            TtlArg::Nanos(n) => Some(Duration::from_nanos(n)),
            TtlArg::Max => Some(Duration::MAX),
        }
    }
}

/// What a `load` call's loader finds upstream (`Loaded`), or its failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadArg {
    /// `Loaded::Value` of the value of this seed: the default TTL.
    Value(u8),
    /// `Loaded::ValueWithTtl` of the value of this seed.
    ValueWithTtl(u8, TtlArg),
    /// `Loaded::Absent`: a negative marker with the negative TTL.
    Absent,
    /// The loader returns an error.
    Fails,
}

/// The predicate of a `retain` call, of the key and the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Keeps the values that hold an even integer.
    EvenValues,
    /// Keeps the odd keys.
    OddKeys,
    /// Keeps the keys below this one (folded into `0..=KEYS`).
    KeysBelow(u8),
    /// Keeps the values that weigh at most 2.
    LightValues,
    /// Keeps nothing.
    Nothing,
    /// Keeps everything.
    Everything,
}

impl Keep {
    /// Whether `retain` keeps `k` holding `v`.
    pub(crate) fn keeps<V: Value>(self, k: u8, v: &V) -> bool {
        match self {
            Keep::EvenValues => v.int().is_some_and(|n| n % 2 == 0),
            Keep::OddKeys => k % 2 == 1,
            Keep::KeysBelow(n) => k < n % (KEYS + 1),
            Keep::LightValues => v.weight() <= 2,
            Keep::Nothing => false,
            Keep::Everything => true,
        }
    }
}

/// One call on the cache, or one move of its clock.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    GetItem(u8),
    Get(u8),
    Contains(u8),
    Ttl(u8),
    Set(u8, u8),
    SetItem(u8, u8),
    Setx(u8, u8, TtlArg),
    SetNegative(u8),
    SetDefault(u8, u8),
    DelItem(u8),
    Pop(u8),
    PopItem,
    Clear,
    Len,
    IsEmpty,
    Keys,
    Values,
    Items,
    IterKeys,
    /// `del_item` of every key `iter_keys` yields, inside the loop.
    DrainKeys,
    Expire(u8, TtlArg),
    Incr(u8, i64),
    Decr(u8, i64),
    GetOrInsertWith(u8, u8),
    /// The loader fails when the flag is set.
    TryGetOrInsertWith(u8, u8, bool),
    /// `load` of the key with a loader that finds this.
    Load(u8, LoadArg),
    /// `get_many` of these keys, in this order (repeats allowed).
    GetMany(Vec<u8>),
    /// `set_many` of these pairs of key and value seed, in this order
    /// (repeats allowed: the last value wins).
    SetMany(Vec<(u8, u8)>),
    Retain(Keep),
    /// `iter()`, collected.
    Iter,
    RunPendingTasks,
    Stats,
    /// Moves the clock by this many nanoseconds.
    Advance(u64),
    /// Moves the clock by one tick of the cache, minus 1 ns, exactly, or
    /// plus 1 ns (the field, folded): onto the edge where a read renews the
    /// time to idle again.
    AdvanceTick(i8),
    /// Moves the clock onto one of the deadlines in the cache (picked by the
    /// first field), plus -1, 0 or +1 nanosecond (the second, folded).
    ///
    /// Never onto the saturated deadline of a `Duration::MAX` TTL, 584
    /// years ahead: the wheel re-files a timer beyond its range once per
    /// rotation of its top level (2^36 ticks) the clock passes, so with a
    /// 1 ns tick that one jump costs 2^28 re-filings (seconds, minutes in a
    /// debug build). A real clock never jumps that far.
    AdvanceToDeadline(u8, i8),
}

/// The value types of a run: `incr` must be able to fail on each of them.
pub(crate) trait Value: Clone + Ord + Debug + Counter + Send + Sync + 'static {
    /// The most a value of the type weighs.
    const HEAVIEST: u32;
    /// A value from a small domain that includes the integer extremes (and,
    /// for `String`, text that holds no integer).
    fn pick(seed: u8) -> Self;
    /// The weigher of a weighted run: a few units, deterministic, from 1 to
    /// [`HEAVIEST`](Value::HEAVIEST), so that small capacities meet values
    /// heavier than themselves.
    fn weight(&self) -> u32;
    /// The integer the model reads in the value, if any.
    fn int(&self) -> Option<i64>;
    /// The value holding `n`, if the type can.
    fn of(n: i64) -> Option<Self>;
}

fn pick_int(seed: u8) -> i64 {
    match seed % 16 {
        0 => i64::MAX,
        1 => i64::MIN,
        2 => i64::MAX - 1,
        3 => -1,
        n => i64::from(n) - 4,
    }
}

impl Value for i64 {
    const HEAVIEST: u32 = 4;
    fn pick(seed: u8) -> Self {
        pick_int(seed)
    }
    /// `1 + |v| % 4`.
    fn weight(&self) -> u32 {
        1 + (self.unsigned_abs() % 4) as u32
    }
    fn int(&self) -> Option<i64> {
        Some(*self)
    }
    fn of(n: i64) -> Option<Self> {
        Some(n)
    }
}

impl Value for u8 {
    const HEAVIEST: u32 = 3;
    /// `1 + v % 3`.
    fn weight(&self) -> u32 {
        1 + u32::from(*self % 3)
    }
    fn pick(seed: u8) -> Self {
        match seed % 4 {
            0 => u8::MAX,
            1 => u8::MAX - 1,
            _ => seed / 4,
        }
    }
    fn int(&self) -> Option<i64> {
        Some(i64::from(*self))
    }
    fn of(n: i64) -> Option<Self> {
        u8::try_from(n).ok()
    }
}

impl Value for String {
    const HEAVIEST: u32 = 5;
    /// `1 + len % 5`.
    fn weight(&self) -> u32 {
        1 + (self.len() % 5) as u32
    }
    fn pick(seed: u8) -> Self {
        const NOT_INTEGERS: [&str; 8] = ["abc", "", "01", "+1", " 7", "-0", "1.5", "-"];
        match seed % 3 {
            0 => NOT_INTEGERS[usize::from(seed / 3) % NOT_INTEGERS.len()].to_string(),
            _ => pick_int(seed / 3).to_string(),
        }
    }
    /// Strict base-10, as Redis reads counters: the text must be exactly
    /// how the integer prints (so no sign on zero, no `+`, no leading zeros).
    fn int(&self) -> Option<i64> {
        self.parse::<i64>().ok().filter(|n| n.to_string() == *self)
    }
    fn of(n: i64) -> Option<Self> {
        Some(n.to_string())
    }
}
