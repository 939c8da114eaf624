//! wheelcache side by side with quick_cache, moka and dashmap, in one
//! process, one contender after another on the same seeded workload; one
//! markdown table of results and ratios. See README.md.
//!
//! `cargo run --release --manifest-path benches/compare/Cargo.toml -- [--long] [--only a,b]`

mod alloc;
mod contenders;
mod growth;
mod hit_ratio;
mod lateness;
mod memory;
mod neighbours;
mod policy;
mod replay;
mod report;
mod samples;
mod spread;
mod storm;
mod tail;
mod throughput;
mod traces;
mod weighted;
mod workload;

use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Settings of a run.
pub struct Opts {
    /// Multiplies every operation count.
    pub scale: f64,
    /// Timed rounds per contender in the throughput workloads, and rounds
    /// of each configuration in `storm` and `neighbours` (median kept).
    pub rounds: usize,
    pub seed: u64,
    /// `--long`: besides the scale and rounds, every cache size of the
    /// `traces` workload.
    pub long: bool,
    /// The traces the `traces` workload replays (`None`: all).
    pub traces: Option<Vec<String>>,
    /// `--wheel-shards`: wheelcache's lock stripes in the read- and
    /// write-heavy mixes (`None`: its default).
    pub wheel_shards: Option<usize>,
    /// `--churn-zipf`: the TTL churn's Zipf exponent (`None`: 0.99).
    pub churn_zipf: Option<f64>,
}

impl Opts {
    /// An operation count, scaled.
    pub fn ops(&self, base: u64) -> u64 {
        ((base as f64 * self.scale) as u64).max(1024)
    }

    /// Whether the `traces` workload replays the trace `name`.
    pub fn wants_trace(&self, name: &str) -> bool {
        self.traces.as_ref().is_none_or(|t| t.iter().any(|n| n == name))
    }
}

type Workload = fn(&mut report::Table, &Opts);

const WORKLOADS: &[(&str, Workload, &str)] = &[
    (
        "get_hit",
        throughput::get_hit,
        "get hits on 100k u64 keys, 1 thread (bare hashbrown as the limit) and 2",
    ),
    (
        "read_heavy",
        throughput::read_heavy,
        "95% get (set on miss) / 5% set, Zipf 0.99 over 1M keys, capacity 100k; 1 and 2 threads",
    ),
    (
        "write_heavy",
        throughput::write_heavy,
        "50% get / 50% set, Zipf 0.99 over 1M keys, capacity 100k; 1 and 2 threads",
    ),
    (
        "ttl_churn",
        throughput::ttl_churn,
        "every op a write with a TTL of 1-60 s, Zipf 0.99 over 1M keys; 1 and 2 threads",
    ),
    (
        "growth",
        growth::growth,
        "the longest insert while 2M new keys fill an empty cache, one thread",
    ),
    (
        "hit_ratio",
        hit_ratio::hit_ratio,
        "cache-aside hit ratio, capacity 1% and 10% of 100k keys: Zipf 0.9, 0.99, 0.99 + scans; vs LRU, quick_cache, moka",
    ),
    (
        "weighted",
        weighted::weighted,
        "size-aware capacity: hit ratio and rate with weights of 1-4096 per key, capacity 1% and 10% of the bytes; vs quick_cache's and moka's weighers",
    ),
    (
        "memory",
        memory::memory,
        "bytes per entry beyond key and value, 1M u64 -> u64 entries, with and without TTL",
    ),
    (
        "lateness",
        lateness::lateness,
        "expiry lateness and idle reclaim, 100k deadlines spread over 1 s, no calls",
    ),
    (
        "tail_latency",
        tail::tail_latency,
        "p99.9 of get hits while 200k entries expire in 100 ms, vs a quiet cache",
    ),
    (
        "storm",
        storm::storm,
        "get latency and throughput while 300k entries of the same cache expire in 50 ms; per round",
    ),
    (
        "neighbours",
        neighbours::neighbours,
        "expiry lateness of a 20k-entry cache beside a churning, a dropped and a slow-listener cache",
    ),
    (
        "traces",
        traces::traces,
        "cache-aside hit ratio on the ARC and LIRS papers' block traces; vs LRU, ARC, quick_cache, moka",
    ),
];

const USAGE: &str = "\
usage: compare [--long] [--only NAME[,NAME...]] [--traces NAME[,NAME...]] [--scale F]
               [--rounds N] [--seed N] [--wheel-shards N] [--churn-zipf S] [--list]
               [--replay CONTENDER [--mix MIX]]

  --long        5x the operations and 5 rounds, and every cache size of the traces
                workload (the default run takes a few minutes)
  --only NAMES  run only these workloads (see --list)
  --traces NAMES  the traces workload replays only these traces (see --list)
  --scale F     multiply every operation count by F (e.g. 0.1 for a smoke run)
  --rounds N    timed rounds per contender, or per configuration in storm and
                neighbours (default 3)
  --seed N      the workloads' seed (default 42)
  --wheel-shards N  wheelcache's shards in read_heavy and write_heavy (and in
                --replay of those), instead of its default (16 per core): a
                power of two, at most 64 (one per 1024 entries of the mixes'
                capacity)
  --churn-zipf S  the Zipf exponent of ttl_churn's keys, instead of 0.99 (from
                0.5 to 3): above 1 the threads meet on a few hot keys and on
                their shards' locks
  --list        list the workloads and the traces, and exit
  --replay CONTENDER  only replay one mix on one thread with wheelcache
                or quick_cache, for a profiler (perf, or callgrind with
                --toggle-collect='*profiled_replay*'), and exit
  --mix MIX     the mix --replay replays: read_heavy (default), write_heavy,
                ttl_churn (setx into an unbounded cache) or ttl_churn_set (the
                same trace with set; these two with wheelcache only)";

fn parse() -> Result<(Opts, Vec<&'static str>), String> {
    let mut opts = Opts {
        scale: 1.0,
        rounds: 3,
        seed: 42,
        long: false,
        traces: None,
        wheel_shards: None,
        churn_zipf: None,
    };
    let mut only: Option<Vec<String>> = None;
    let mut replay: Option<String> = None;
    let mut mix: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--long" => {
                opts.scale *= 5.0;
                opts.rounds = 5;
                opts.long = true;
            }
            "--only" => {
                let v = value("--only")?;
                only.get_or_insert_with(Vec::new).extend(v.split(',').map(str::to_string));
            }
            "--traces" => {
                let v = value("--traces")?;
                for name in v.split(',') {
                    if !traces::files::ALL.iter().any(|f| f.name == name) {
                        return Err(format!("unknown trace {name:?} (see --list)"));
                    }
                }
                opts.traces.get_or_insert_with(Vec::new).extend(v.split(',').map(str::to_string));
            }
            "--scale" => {
                opts.scale = value("--scale")?.parse().map_err(|e| format!("--scale: {e}"))?
            }
            "--rounds" => {
                opts.rounds = value("--rounds")?.parse().map_err(|e| format!("--rounds: {e}"))?;
                if opts.rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
            }
            "--seed" => opts.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--wheel-shards" => {
                let n: usize =
                    value("--wheel-shards")?.parse().map_err(|e| format!("--wheel-shards: {e}"))?;
                let most = throughput::MOST_WHEEL_SHARDS;
                if n == 0 || !n.is_power_of_two() || n > most {
                    return Err(format!("--wheel-shards must be a power of two, at most {most}"));
                }
                opts.wheel_shards = Some(n);
            }
            "--churn-zipf" => {
                let s: f64 =
                    value("--churn-zipf")?.parse().map_err(|e| format!("--churn-zipf: {e}"))?;
                if !(0.5..=3.0).contains(&s) {
                    return Err("--churn-zipf must be from 0.5 to 3".into());
                }
                opts.churn_zipf = Some(s);
            }
            "--replay" => replay = Some(value("--replay")?),
            "--mix" => mix = Some(value("--mix")?),
            "--list" => {
                for (name, _, what) in WORKLOADS {
                    println!("{name:14} {what}");
                }
                let names: Vec<&str> = traces::files::ALL.iter().map(|f| f.name).collect();
                println!("\ntraces: {}", names.join(", "));
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            // `cargo bench` passes `--bench`; nothing to do with it.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if let Some(contender) = replay {
        // After every argument is read, so that --scale and --seed apply.
        let mix = mix.as_deref().unwrap_or("read_heavy");
        throughput::replay_for_profiler(&contender, mix, &opts)?;
        std::process::exit(0);
    }
    if mix.is_some() {
        return Err(format!("--mix is for --replay only\n{USAGE}"));
    }
    let names: Vec<&'static str> = match only {
        None => WORKLOADS.iter().map(|w| w.0).collect(),
        Some(only) => {
            for name in &only {
                if !WORKLOADS.iter().any(|w| w.0 == name) {
                    return Err(format!("unknown workload {name:?} (see --list)"));
                }
            }
            WORKLOADS.iter().map(|w| w.0).filter(|n| only.iter().any(|o| o == n)).collect()
        }
    };
    Ok((opts, names))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average, from `/proc/loadavg`.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// How long one cache line takes to pass from one thread to another, on
/// average over a ping-pong of `N` passes: what every line two threads
/// share costs each time it changes hands. A virtual machine's cores may
/// sit on one die and share its last-level cache, or on two, and the host
/// may move them between runs; the two-thread rows depend on it. `None`
/// with one core.
fn line_pass(cores: usize) -> Option<Duration> {
    use std::sync::atomic::{AtomicU64, Ordering::*};
    const N: u64 = 100_000;
    #[repr(align(128))]
    struct Line(AtomicU64);
    if cores < 2 {
        return None;
    }
    let line = Line(AtomicU64::new(0));
    // Each side waits for the other's number, then writes the next one.
    let side = |first: u64| {
        let mut n = first;
        while n < N {
            while line.0.load(Acquire) != n {
                std::hint::spin_loop();
            }
            line.0.store(n + 1, Release);
            n += 2;
        }
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| side(1));
        side(0);
    });
    Some(start.elapsed() / N as u32)
}

/// The cost of one `Instant::now()` and the smallest step it shows.
fn timer() -> (Duration, Duration) {
    const N: u32 = 100_000;
    let start = Instant::now();
    let mut step = Duration::MAX;
    let mut prev = start;
    for _ in 0..N {
        let now = Instant::now();
        if now > prev {
            step = step.min(now - prev);
        }
        prev = now;
    }
    (start.elapsed() / N, step)
}

fn main() {
    let (opts, names) = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for real numbers");
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (reading, step) = timer();

    let load_before = load();
    let pass_before = line_pass(cores);
    let started = Instant::now();
    let mut table = report::Table::default();
    for name in &names {
        let (_, run, _) = WORKLOADS.iter().find(|w| w.0 == *name).expect("known");
        eprintln!("{name}");
        let t = Instant::now();
        run(&mut table, &opts);
        eprintln!("  ({:.1} s)", t.elapsed().as_secs_f64());
    }

    println!("# wheelcache vs quick_cache, moka, dashmap");
    println!();
    println!("- machine: {cores} cores (available_parallelism), {}", cpu_model());
    println!(
        "- load average (1 min, other work on the machine included): {load_before} at the start, \
         {} at the end",
        load()
    );
    if let (Some(before), Some(after)) = (pass_before, line_pass(cores)) {
        println!(
            "- a cache line passed between two threads in {} at the start, {} at the end \
             (the 2-thread rows pay it for each line their threads share)",
            report::dur(before),
            report::dur(after)
        );
    }
    println!(
        "- timer: Instant::now() costs {} and steps by {} here; tail latency times each call",
        report::dur(reading),
        report::dur(step)
    );
    println!(
        "- run: scale {}, {} rounds (the mixes and TTL churn's setx and set: of 20 slices each, and get hit: of 10 turns each, the contenders taking turns, ratios the median over the turns; TTL churn's moka, storm, neighbours: median of the rounds), seed {}, {:.0} s",
        opts.scale,
        opts.rounds,
        opts.seed,
        started.elapsed().as_secs_f64()
    );
    println!(
        "- ratios are wheelcache's figure ÷ the row's: above 1 is better for throughput, \
         below 1 is better for bytes and latencies"
    );
    println!();
    table.print();
}
