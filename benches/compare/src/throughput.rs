//! Throughput workloads: get hits on one thread and on two, the
//! read-heavy and write-heavy mixes, and TTL churn.
//!
//! Each run replays a fixed, pre-generated trace (see `workload`) and is
//! timed with `Instant` from a barrier release until every thread is done.
//!
//! - The read-heavy and write-heavy mixes (no TTLs, so no background work)
//!   give every contender its own cache, warmed up, and have them take
//!   turns slice by slice through the same traces (see `interleave`): a
//!   change in the machine's load falls on all of them alike, and each
//!   ratio is the median over the slices of one contender's time against
//!   wheelcache's on the same operations.
//! - In TTL churn, wheelcache's `setx` and its `set` reference take turns
//!   in the same way, each with a fresh cache per thread count; both
//!   caches are then dropped, and moka gets a fresh cache of its own,
//!   warmed up with the same trace, then several timed rounds of which the
//!   median is reported, so that no expiry work of wheelcache's runs
//!   during moka's turn. The `setx` cache's expiry thread does run during
//!   `set`'s turns: it removes the entries whose TTL ran out, which takes
//!   a small share of the processor (see the README).
//! - The get-hit runs (no background work) take turns the same way, ten
//!   turns a round, each after an untimed pass over its keys; on two
//!   threads, each thread's pass.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::contenders::{Contender, Dash, LockedMap, Moka, Quick, ValueExpiry, Wheel};
use crate::report::{ops_per_sec, Table};
use crate::spread::Spread;
use crate::workload::{traces, Mix, Op, Rng};
use crate::Opts;

/// What a trace's operations mean.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A read is `get`, and `set` on a miss; a write is `set`.
    CacheAside,
    /// A read is `get`; a write is `set(key, key)`.
    Plain,
    /// A write is `set_ttl_ms(key, ttl)`: the value is the TTL.
    Ttl,
    /// A write is `set(key, ttl)`: the same values as `Ttl`, with no TTL.
    TtlValueNoTtl,
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Measure {
    ops: u64,
    elapsed: Duration,
    reads: u64,
    hits: u64,
}

impl Measure {
    const ZERO: Measure = Measure { ops: 0, elapsed: Duration::ZERO, reads: 0, hits: 0 };

    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn add(&mut self, other: Measure) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.reads += other.reads;
        self.hits += other.hits;
    }
}

fn replay<C: Contender>(c: &C, trace: &[Op], kind: Kind) -> (u64, u64) {
    let (mut reads, mut hits) = (0u64, 0u64);
    for &op in trace {
        let key = black_box(op.key());
        if op.is_write() {
            match kind {
                Kind::CacheAside | Kind::Plain => c.set(key, key),
                Kind::Ttl => c.set_ttl_ms(key, op.ttl_ms()),
                Kind::TtlValueNoTtl => c.set(key, op.ttl_ms()),
            }
        } else {
            reads += 1;
            match c.get(key) {
                Some(_) => hits += 1,
                None => {
                    if let Kind::CacheAside = kind {
                        c.set(key, key)
                    }
                }
            }
        }
    }
    (reads, hits)
}

/// Replays one trace per thread, all released together.
fn run<C: Contender, T: AsRef<[Op]> + Sync>(c: &C, traces: &[T], kind: Kind) -> Measure {
    let (counts, elapsed) = released(traces, |trace, ready| {
        ready();
        replay(c, trace.as_ref(), kind)
    });
    Measure {
        ops: traces.iter().map(|t| t.as_ref().len() as u64).sum(),
        elapsed,
        reads: counts.iter().map(|&(r, _)| r).sum(),
        hits: counts.iter().map(|&(_, h)| h).sum(),
    }
}

/// Runs `work` on a thread per trace; each thread calls the `ready` it is
/// given once prepared, and the clock starts when every thread is ready.
/// Returns each thread's result and the time from that start until the last
/// one finished.
fn released<T: Sync, R: Send>(
    traces: &[T],
    work: impl Fn(&T, &dyn Fn()) -> R + Sync,
) -> (Vec<R>, Duration) {
    let barrier = Barrier::new(traces.len() + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = traces
            .iter()
            .map(|trace| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    work(trace, &|| {
                        barrier.wait();
                    })
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results = handles.into_iter().map(|h| h.join().expect("worker panicked")).collect();
        (results, start.elapsed())
    })
}

/// A contender's whole session: build a fresh cache, warm it up, run one
/// timed round per trace set (each round its own traces, so that no round
/// replays keys an earlier one inserted), drop the cache. Erased so that the
/// contenders of a workload fit in one list.
type Session<'a> = Box<dyn Fn(&[Vec<Vec<Op>>]) -> Measure + 'a>;

fn session<'a, C: Contender>(
    build: impl Fn() -> C + 'a,
    kind: Kind,
    warm: &'a [Vec<Op>],
    name: &'a str,
) -> Session<'a> {
    Box::new(move |rounds| {
        let c = build();
        run(&c, warm, kind);
        c.settle();
        let mut ms: Vec<Measure> = (rounds.iter().enumerate())
            .map(|(round, traces)| {
                let m = run(&c, traces, kind);
                c.settle();
                eprintln!("    {name}: round {}: {}", round + 1, ops_per_sec(m.rate()));
                m
            })
            .collect();
        ms.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        ms[ms.len() / 2]
    })
}

/// The traces of each timed round: `ops` operations over `threads` threads.
fn round_traces(mix: Mix, ops: u64, threads: usize, opts: &Opts, salt: u64) -> Vec<Vec<Vec<Op>>> {
    (0..opts.rounds as u64)
        .map(|round| traces(mix, ops, threads, opts.seed ^ salt ^ (round << 16) ^ threads as u64))
        .collect()
}

// ---- 1. single-thread get hit -------------------------------------------

/// The get-hit workload, on a thread of its own. On the main thread's
/// stack, which the kernel starts at a random place within its page in
/// each process, quick_cache's `get` hits ran about a fifth slower in some
/// processes than in others, by where that stack started (see the
/// package's README); a spawned thread's stack starts at the same place
/// in every process.
pub fn get_hit(table: &mut Table, opts: &Opts) {
    std::thread::scope(|s| s.spawn(|| get_hit_here(table, opts)).join().expect("get_hit panicked"));
}

fn get_hit_here(table: &mut Table, opts: &Opts) {
    const KEYS: u64 = 100_000;
    let ops = opts.ops(5_000_000);
    let mut rng = Rng::new(opts.seed);
    let walk: Vec<u64> = (0..1 << 16).map(|_| rng.below(KEYS)).collect();

    // A walk over the same keys, repeated to `ops` lookups.
    fn time(get: impl Fn(u64) -> Option<u64>, walk: &[u64], ops: u64) -> Measure {
        for &k in walk {
            black_box(get(k));
        }
        let (mut done, mut hits) = (0, 0);
        let start = Instant::now();
        while done < ops {
            for &k in walk {
                hits += get(black_box(k)).is_some() as u64;
            }
            done += walk.len() as u64;
        }
        Measure { ops: done, elapsed: start.elapsed(), reads: done, hits }
    }

    let mut map: hashbrown::HashMap<u64, u64, ahash::RandomState> = Default::default();
    // wheelcache as `Cache::new()` makes it (unbounded), and bounded like the
    // peers. Capacity to spare, so that every key stays and every get hits.
    let wheel = Wheel::unbounded();
    let wheel_bounded = Wheel::bounded(2 * KEYS);
    let wheel_ttl = Wheel::unbounded();
    let quick = Quick::bounded(2 * KEYS);
    let moka = Moka::bounded(2 * KEYS);
    let dash = Dash::unbounded();
    for k in 0..KEYS {
        map.insert(k, k);
        wheel.set(k, k);
        wheel_bounded.set(k, k);
        wheel_ttl.0.setx(k, k, Some(Duration::from_secs(3600)));
        quick.set(k, k);
        moka.set(k, k);
        dash.set(k, k);
    }
    moka.settle();

    type Get<'a> = Box<dyn Fn() -> Measure + 'a>;
    // Each contender's turn: `ops / TURNS` lookups, after a pass over the
    // walk that brings its own data back into the processor's caches.
    let turn = (ops / GET_HIT_TURNS as u64).max(walk.len() as u64);
    let contenders: Vec<(&str, Get<'_>)> = vec![
        ("wheelcache", Box::new(|| time(|k| wheel.get(k), &walk, turn))),
        ("hashbrown::HashMap (limit)", Box::new(|| time(|k| map.get(&k).copied(), &walk, turn))),
        ("wheelcache (capacity 200k)", Box::new(|| time(|k| wheel_bounded.get(k), &walk, turn))),
        ("wheelcache, entries with TTL", Box::new(|| time(|k| wheel_ttl.get(k), &walk, turn))),
        ("quick_cache", Box::new(|| time(|k| quick.get(k), &walk, turn))),
        ("moka", Box::new(|| time(|k| moka.get(k), &walk, turn))),
        ("dashmap", Box::new(|| time(|k| dash.get(k), &walk, turn))),
    ];
    // Turns in rotation, as in the mixes (see `interleave`).
    let mut results = vec![(Measure::ZERO, Vec::new()); contenders.len()];
    let mut first = 0;
    for _ in 0..opts.rounds * GET_HIT_TURNS {
        turn_each(&mut results, &mut first, |c| (contenders[c].1)());
    }
    let w = "get_hit/1t";
    let one: Vec<f64> = results.iter().map(|(m, _)| m.rate()).collect();
    for ((name, _), (m, ratios)) in contenders.iter().zip(&results) {
        assert_eq!(m.hits, m.reads, "{name}: every get should hit");
        let row = table.push(w, name, ops_per_sec(m.rate()));
        let r = median(ratios);
        match *name {
            "wheelcache" => {}
            "hashbrown::HashMap (limit)" => {
                row.ratio(r).target("≥ 0.50× (≤ 2× its time)", r >= 0.5);
            }
            "quick_cache" => {
                row.ratio(r).target("≥ 1.25× (≤ 0.8× its time)", r >= 1.25);
            }
            _ => {
                row.ratio(r);
            }
        }
    }
    let one: Vec<(&str, f64)> = contenders.iter().map(|(n, _)| *n).zip(one).collect();
    let two: [(&str, &SharedGet<'_>); 3] = [
        ("wheelcache", &|k| wheel.get(k)),
        ("quick_cache", &|k| quick.get(k)),
        ("dashmap", &|k| dash.get(k)),
    ];
    get_hit_two_threads(table, opts, &two, &one, &walk, turn);
}

/// Turns per round each get-hit contender takes.
const GET_HIT_TURNS: usize = 10;

/// A contender's `get`, called from several threads at once.
type SharedGet<'a> = dyn Fn(u64) -> Option<u64> + Sync + 'a;

/// Two threads' get hits at once, on the same keys of the same caches as
/// the single-thread turns: each thread walks the walk from its own place
/// in it. The rows give each contender's rate, its ratio, and its rate ÷
/// its single-thread rate (`one`, by name).
fn get_hit_two_threads(
    table: &mut Table,
    opts: &Opts,
    contenders: &[(&str, &SharedGet<'_>)],
    one: &[(&str, f64)],
    walk: &[u64],
    turn: u64,
) {
    // `ops` lookups in all, half on each thread, each after an untimed
    // pass over the walk.
    fn time(get: &SharedGet<'_>, walk: &[u64], ops: u64) -> Measure {
        let starts = [0, walk.len() / 2];
        let each = ops / starts.len() as u64;
        let (hits, elapsed) = released(&starts, |&start, ready| {
            for &k in walk {
                black_box(get(k));
            }
            ready();
            let mut hits = 0u64;
            for &k in walk.iter().cycle().skip(start).take(each as usize) {
                hits += get(black_box(k)).is_some() as u64;
            }
            hits
        });
        let done = each * starts.len() as u64;
        Measure { ops: done, elapsed, reads: done, hits: hits.iter().sum() }
    }
    let mut results = vec![(Measure::ZERO, Vec::new()); contenders.len()];
    let mut first = 0;
    for _ in 0..opts.rounds * GET_HIT_TURNS {
        turn_each(&mut results, &mut first, |c| time(contenders[c].1, walk, turn));
    }
    let mut scaling = Vec::new();
    for ((name, _), (m, ratios)) in contenders.iter().zip(&results) {
        assert_eq!(m.hits, m.reads, "{name}: every get should hit");
        let row = table.push("get_hit/2t", name, ops_per_sec(m.rate()));
        if *name != contenders[0].0 {
            row.ratio(median(ratios));
        }
        if let Some((_, rate)) = one.iter().find(|(n, _)| n == name) {
            scaling.push((*name, m.rate() / rate));
        }
    }
    for (name, s) in scaling {
        table.push("get_hit/2t ÷ 1t", name, format!("{s:.2}×"));
    }
}

// ---- 2, 3. read-heavy and write-heavy -----------------------------------

/// Peers' capacity in the mixes: 10% of the key space.
const CAPACITY: u64 = 100_000;
const KEY_SPACE: u64 = 1_000_000;

/// The most shards wheelcache gives a cache bounded at `CAPACITY`: one
/// per `MIN_SHARD_CAPACITY` entries, rounded down to a power of two.
pub const MOST_WHEEL_SHARDS: usize = {
    let most = CAPACITY / wheelcache::CacheBuilder::<u64, u64>::MIN_SHARD_CAPACITY;
    1 << (63 - most.leading_zeros())
};

/// The read-heavy mix: 5% writes, replayed cache-aside.
const READ_HEAVY: (Mix, Kind) =
    (Mix { keys: KEY_SPACE, zipf_s: 0.99, write_fraction: 0.05, ttl_ms: None }, Kind::CacheAside);
/// The write-heavy mix: half of the operations are plain inserts.
const WRITE_HEAVY: (Mix, Kind) =
    (Mix { keys: KEY_SPACE, zipf_s: 0.99, write_fraction: 0.5, ttl_ms: None }, Kind::Plain);

pub fn read_heavy(table: &mut Table, opts: &Opts) {
    bounded_mix(table, opts, "read_heavy", READ_HEAVY.0, READ_HEAVY.1);
}

pub fn write_heavy(table: &mut Table, opts: &Opts) {
    bounded_mix(table, opts, "write_heavy", WRITE_HEAVY.0, WRITE_HEAVY.1);
}

fn bounded_mix(table: &mut Table, opts: &Opts, name: &str, mix: Mix, kind: Kind) {
    let ops = opts.ops(4_000_000);
    let warm = traces(mix, ops / 2, 1, opts.seed ^ 0xAAAA);
    let ours = match opts.wheel_shards {
        Some(n) => format!("wheelcache ({n} shards)"),
        None => "wheelcache".to_string(),
    };
    let names = [ours.as_str(), "quick_cache", "moka", "dashmap (unbounded, no eviction)"];
    // Each contender's rate on 1 and 2 threads, for the scaling rows, and
    // the machine's own (see `private_rate`).
    let mut rates = [[0.0; 2]; 4];
    let mut private = [0.0; 2];
    for threads in [1, 2] {
        let w = format!("{name}/{threads}t");
        eprintln!("  {w}");
        let rounds = round_traces(mix, ops, threads, opts, 0x100);
        let wheel = Wheel::bounded_striped(CAPACITY, opts.wheel_shards);
        let quick = Quick::bounded(CAPACITY);
        let (moka, dash) = (Moka::bounded(CAPACITY), Dash::unbounded());
        let turns: [Turn<'_>; 4] =
            [turn(&wheel, kind), turn(&quick, kind), turn(&moka, kind), turn(&dash, kind)];
        let results = interleave(&turns, &names, &warm, &rounds);
        private[threads - 1] = private_rate(kind, &rounds);
        for (rate, (m, _)) in rates.iter_mut().zip(&results) {
            rate[threads - 1] = m.rate();
        }
        for (contender, (m, slices)) in names.iter().zip(&results) {
            let hit = 100.0 * m.hits as f64 / m.reads.max(1) as f64;
            let row =
                table.push(&w, contender, format!("{}, hits {hit:.1}%", ops_per_sec(m.rate())));
            // wheelcache's speed ÷ the contender's, slice by slice.
            let r = median(slices);
            match *contender {
                "quick_cache" => {
                    row.ratio(r).target("≥ 1.0×", r >= 1.0).target("≥ 1.2×", r >= 1.2);
                }
                "moka" => {
                    row.ratio(r).target("≥ 3.0×", r >= 3.0);
                }
                c if c.starts_with("dashmap") => {
                    row.ratio(r);
                }
                _ => {}
            }
        }
    }
    // How wheelcache and quick_cache scale from 1 thread to 2 (the ratio
    // column: wheelcache's scaling ÷ the contender's).
    let w = format!("{name}/2t ÷ 1t");
    let scaling = |[one, two]: [f64; 2]| two / one;
    let ours = scaling(rates[0]);
    let row = table.push(&w, names[0], format!("{ours:.2}×"));
    if name == "read_heavy" {
        row.target("2 threads ≥ 1.6× 1 thread", ours >= 1.6);
    }
    let theirs = scaling(rates[1]);
    table.push(&w, names[1], format!("{theirs:.2}×")).ratio(ours / theirs);
    let machine = scaling(private);
    table
        .push(
            &w,
            "a map of its own per thread (reference: nothing shared)",
            format!("{machine:.2}×"),
        )
        .ratio(ours / machine);
}

/// The machine's own rate for a mix, nothing shared: each thread replays its
/// trace of each round against a `hashbrown` map of its own behind a mutex
/// of its own (an uncontended lock a call, as a cache's read lock), filled
/// beforehand with every key of the key space, so that it neither grows nor
/// touches new memory while timed; the median over the rounds. Its change
/// from 1 thread to 2 is what the second core gives memory-bound work that
/// shares nothing, beside which the caches' own change shows what sharing
/// one costs them.
fn private_rate(kind: Kind, rounds: &[Vec<Vec<Op>>]) -> f64 {
    let rates: Vec<f64> = rounds
        .iter()
        .map(|traces| {
            let (_, elapsed) = released(traces, |trace, ready| {
                let map = LockedMap::default();
                for key in 1..=KEY_SPACE {
                    map.set(key, key);
                }
                ready();
                replay(&map, trace, kind)
            });
            let ops: usize = traces.iter().map(Vec::len).sum();
            ops as f64 / elapsed.as_secs_f64()
        })
        .collect();
    median(&rates)
}

/// Slices each round's traces are cut into for the mixes.
const SLICES: usize = 20;
/// The part of each slice a contender replays untimed before the rest is
/// timed: the turn before left the processor's caches holding another
/// contender's data, and this brings its own back.
const UNTIMED_PART: usize = 10;

/// One contender's cache in a mix: replays a part of each thread's trace
/// (`run`), then finishes deferred work outside the timing.
type Turn<'a> = Box<dyn Fn(&[&[Op]]) -> Measure + 'a>;

fn turn<C: Contender>(c: &C, kind: Kind) -> Turn<'_> {
    Box::new(move |parts| {
        let m = run(c, parts, kind);
        c.settle();
        m
    })
}

/// Warms every contender's cache with `warm`, then has them take turns
/// through each round's traces, slice by slice, the first to go moving
/// one on with each slice. Each turn replays the first `1/UNTIMED_PART` of
/// its slice untimed and times the rest. Returns, per contender, its timed
/// work summed over all slices, and for every slice wheelcache's speed ÷
/// its own (its time ÷ wheelcache's: wheelcache is the first turn).
fn interleave(
    turns: &[Turn<'_>],
    names: &[&str],
    warm: &[Vec<Op>],
    rounds: &[Vec<Vec<Op>>],
) -> Vec<(Measure, Vec<f64>)> {
    let whole: Vec<&[Op]> = warm.iter().map(Vec::as_slice).collect();
    for turn in turns {
        turn(&whole);
    }
    let mut results = vec![(Measure::ZERO, Vec::new()); turns.len()];
    let mut first = 0;
    for (round, traces) in rounds.iter().enumerate() {
        for slice in 0..SLICES {
            let cut = |t: &[Op], k: usize| t.len() * k / (SLICES * UNTIMED_PART);
            let part = |from: usize, to: usize| -> Vec<&[Op]> {
                traces.iter().map(|t| &t[cut(t, from)..cut(t, to)]).collect()
            };
            let at = slice * UNTIMED_PART;
            let (untimed, timed) = (part(at, at + 1), part(at + 1, at + UNTIMED_PART));
            turn_each(&mut results, &mut first, |c| {
                turns[c](&untimed);
                turns[c](&timed)
            });
        }
        let so_far: Vec<String> = (names.iter().zip(&results))
            .map(|(name, (m, _))| format!("{name} {}", ops_per_sec(m.rate())))
            .collect();
        eprintln!("    after round {}: {}", round + 1, so_far.join(", "));
    }
    results
}

/// One turn for each contender (`turn(c)` runs contender `c`'s), in
/// rotation starting at `first`, which moves on by one: adds each one's
/// work to its total in `results`, and its time ÷ the first contender's
/// (wheelcache's) to its ratios.
fn turn_each(
    results: &mut [(Measure, Vec<f64>)],
    first: &mut usize,
    mut turn: impl FnMut(usize) -> Measure,
) {
    let n = results.len();
    let mut took = vec![Measure::ZERO; n];
    for k in 0..n {
        let c = (*first + k) % n;
        took[c] = turn(c);
    }
    *first = (*first + 1) % n;
    let ours = took[0].elapsed.as_secs_f64();
    for ((total, ratios), m) in results.iter_mut().zip(&took) {
        total.add(*m);
        ratios.push(m.elapsed.as_secs_f64() / ours);
    }
}

/// The median of `values`.
fn median(values: &[f64]) -> f64 {
    Spread::new(values.iter().copied()).median()
}

// ---- a replay for profilers ----------------------------------------------

/// The mixes `replay_for_profiler` knows.
pub const PROFILED_MIXES: &str = "read_heavy, write_heavy, ttl_churn, ttl_churn_set";

/// One replay of a mix (see `PROFILED_MIXES`) on one thread by one
/// contender (`wheelcache` or `quick_cache`), for a profiler: the
/// cache is warmed with half as many operations, then `profiled_replay`
/// replays the timed trace. Under callgrind,
/// `--toggle-collect='*profiled_replay*'` counts the instructions of that
/// replay alone.
pub fn replay_for_profiler(contender: &str, mix: &str, opts: &Opts) -> Result<(), String> {
    // The TTL churn's writes into an unbounded cache: `setx` with each
    // write's TTL (`ttl_churn`), or `set` of the same trace (`ttl_churn_set`).
    let mix_name = mix;
    let ((mix, kind), bounded) = match mix_name {
        "read_heavy" => (READ_HEAVY, true),
        "write_heavy" => (WRITE_HEAVY, true),
        "ttl_churn" => ((TTL_CHURN, Kind::Ttl), false),
        "ttl_churn_set" => ((TTL_CHURN, Kind::TtlValueNoTtl), false),
        other => return Err(format!("--mix: {other:?} is not one of {PROFILED_MIXES}")),
    };
    let ops = opts.ops(4_000_000);
    let warm = traces(mix, ops / 2, 1, opts.seed ^ 0xAAAA);
    let timed = traces(mix, ops, 1, opts.seed ^ 0x100);
    fn go<C: Contender>(c: &C, kind: Kind, warm: &[Op], timed: &[Op]) -> (Duration, u64, u64) {
        replay(c, warm, kind);
        c.settle();
        let start = Instant::now();
        let (reads, hits) = profiled_replay(c, timed, kind);
        (start.elapsed(), reads, hits)
    }
    let (elapsed, reads, hits) = match contender {
        "wheelcache" if bounded => {
            go(&Wheel::bounded_striped(CAPACITY, opts.wheel_shards), kind, &warm[0], &timed[0])
        }
        "wheelcache" => go(&Wheel::unbounded(), kind, &warm[0], &timed[0]),
        "quick_cache" if bounded => go(&Quick::bounded(CAPACITY), kind, &warm[0], &timed[0]),
        "quick_cache" => return Err(format!("--mix {mix_name}: wheelcache only")),
        other => return Err(format!("--replay: {other:?} is not wheelcache or quick_cache")),
    };
    println!(
        "{contender}: {mix_name}/1t replay of {} operations: {}, hits {:.1}%",
        timed[0].len(),
        ops_per_sec(timed[0].len() as f64 / elapsed.as_secs_f64()),
        100.0 * hits as f64 / reads.max(1) as f64
    );
    Ok(())
}

/// The replay a profiler looks at (see `replay_for_profiler`).
#[inline(never)]
fn profiled_replay<C: Contender>(c: &C, trace: &[Op], kind: Kind) -> (u64, u64) {
    replay(c, trace, kind)
}

// ---- 4. TTL churn -------------------------------------------------------

/// The TTL churn: every operation a write, with a TTL of 1 to 60 s.
const TTL_CHURN: Mix =
    Mix { keys: KEY_SPACE, zipf_s: 0.99, write_fraction: 1.0, ttl_ms: Some((1_000, 60_000)) };

pub fn ttl_churn(table: &mut Table, opts: &Opts) {
    let mix = Mix { zipf_s: opts.churn_zipf.unwrap_or(TTL_CHURN.zipf_s), ..TTL_CHURN };
    // A skew other than the default names itself in the rows.
    let skew = opts.churn_zipf.map_or(String::new(), |s| format!(" (Zipf {s})"));
    let ops = opts.ops(3_000_000);
    let warm = traces(mix, ops / 2, 1, opts.seed ^ 0xBBBB);
    let names =
        ["wheelcache setx", "wheelcache set, no TTL (reference)", "moka (per-entry Expiry)"];
    let moka =
        session(|| Moka::new(None, Some(ValueExpiry::TtlMillis), None), Kind::Ttl, &warm, names[2]);
    for threads in [1, 2] {
        let w = format!("ttl_churn{skew}/{threads}t");
        eprintln!("  {w}");
        let rounds = round_traces(mix, ops, threads, opts, 0x200);
        // `setx` and `set` take turns through the same slices, as the
        // contenders of the mixes do; both caches are dropped before moka's
        // session, so that their expiry thread is idle during it.
        let wheel = {
            let (setx, set) = (Wheel::unbounded(), Wheel::unbounded());
            let turns = [turn(&setx, Kind::Ttl), turn(&set, Kind::TtlValueNoTtl)];
            interleave(&turns, &names[..2], &warm, &rounds)
        };
        let moka = moka(&rounds);
        let ours = wheel[0].0.rate();
        table.push(&w, names[0], ops_per_sec(ours));
        // `setx`'s speed ÷ `set`'s, slice by slice (`set`'s time ÷ `setx`'s).
        let r = median(&wheel[1].1);
        table
            .push(&w, names[1], ops_per_sec(wheel[1].0.rate()))
            .ratio(r)
            .target("setx ≥ 0.7× set", r >= 0.7)
            .target("≥ 0.8×", r >= 0.8);
        let r = ours / moka.rate();
        table.push(&w, names[2], ops_per_sec(moka.rate())).ratio(r).target("≥ 5×", r >= 5.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn took(ms: u64) -> Measure {
        Measure { ops: 10, elapsed: Duration::from_millis(ms), reads: 10, hits: ms }
    }

    #[test]
    fn turns_rotate_and_ratios_are_against_the_first_contender() {
        let mut results = vec![(Measure::ZERO, Vec::new()); 3];
        let (mut first, mut order) = (0, Vec::new());
        for _ in 0..3 {
            turn_each(&mut results, &mut first, |c| {
                order.push(c);
                took([2, 4, 1][c])
            });
        }
        assert_eq!(order, [0, 1, 2, 1, 2, 0, 2, 0, 1], "each turn starts one further on");
        assert_eq!(first, 0);
        for (c, (total, ratios)) in results.iter().enumerate() {
            assert_eq!(total.ops, 30);
            assert_eq!(total.elapsed, Duration::from_millis(3 * [2, 4, 1][c]));
            assert_eq!(ratios, &vec![[1.0, 2.0, 0.5][c]; 3]);
        }
    }
}
