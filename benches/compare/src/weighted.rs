//! Size-aware capacity: each key's value has a weight (a size in bytes,
//! 1 to 4096, log-uniform, fixed per key), the capacity bounds the total
//! weight, and the caches evict by weight. Single-thread cache-aside (`get`,
//! and on a miss `insert`) over 100k keys with Zipf 0.99, capacity 1% and
//! 10% of the weight of all keys. Shown: the hit ratio (of requests), the
//! replay's rate and the entries held at its end, for wheelcache's
//! `weigher`, quick_cache's `Weighter` and moka's `weigher`, and moka with
//! its housekeeping run after every insert, so that it holds to its
//! capacity (as in `traces`; by default it applies the capacity later).
//! Each round replays the trace into a fresh cache; the median round's
//! rate is shown (the hit ratio is the same every round for wheelcache and
//! quick_cache). The entries held tell how a policy spends the weight: the
//! more light entries, the more requests hit for the same capacity.

use std::hint::black_box;
use std::time::Instant;

use crate::report::{ops_per_sec, Table};
use crate::workload::{Rng, Zipf};
use crate::Opts;

const KEYS: u64 = 100_000;

/// A key's weight: log-uniform in 1..=4096, from the key alone.
fn weight(key: u64) -> u64 {
    let mut rng = Rng::new(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
    let bits = rng.next_f64() * 12.0;
    (2f64.powf(bits) as u64).clamp(1, 4096)
}

/// The weight a cache's weigher reads: the value is the key's weight.
fn as_weight(value: &u64) -> u32 {
    *value as u32
}

#[derive(Clone)]
struct WeighedQuick;

impl quick_cache::Weighter<u64, u64> for WeighedQuick {
    fn weight(&self, _: &u64, value: &u64) -> u64 {
        *value
    }
}

/// A weighted cache as the replay sees it.
trait Weighted {
    fn get(&self, key: u64) -> Option<u64>;
    fn insert(&self, key: u64, value: u64);
    /// The entries it holds, once it has applied its capacity.
    fn entries(&self) -> u64;
}

struct Wheel(wheelcache::Cache<u64, u64>);
struct Quick(quick_cache::sync::Cache<u64, u64, WeighedQuick, ahash::RandomState>);
struct Moka(moka::sync::Cache<u64, u64, ahash::RandomState>);
/// moka running its housekeeping after every insert.
struct MokaHeld(Moka);

impl Weighted for Wheel {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.set(key, value)
    }
    fn entries(&self) -> u64 {
        self.0.len() as u64
    }
}

impl Weighted for Quick {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.insert(key, value)
    }
    fn entries(&self) -> u64 {
        self.0.len() as u64
    }
}

impl Weighted for Moka {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.insert(key, value)
    }
    fn entries(&self) -> u64 {
        self.0.run_pending_tasks();
        self.0.entry_count()
    }
}

impl Weighted for MokaHeld {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.insert(key, value);
        self.0 .0.run_pending_tasks();
    }
    fn entries(&self) -> u64 {
        self.0.entries()
    }
}

fn wheel(capacity: u64) -> Wheel {
    Wheel(
        wheelcache::Cache::builder()
            .max_capacity(capacity)
            .weigher(|_: &u64, v: &u64| as_weight(v))
            .build()
            .expect("valid settings"),
    )
}

fn quick(capacity: u64, mean: u64) -> Quick {
    Quick(quick_cache::sync::Cache::with(
        (capacity / mean.max(1)) as usize,
        capacity,
        WeighedQuick,
        ahash::RandomState::new(),
        Default::default(),
    ))
}

fn moka(capacity: u64) -> Moka {
    Moka(
        moka::sync::Cache::builder()
            .max_capacity(capacity)
            .weigher(|_: &u64, v: &u64| as_weight(v))
            .build_with_hasher(ahash::RandomState::new()),
    )
}

/// What one replay measured.
#[derive(Clone, Copy)]
struct Replayed {
    /// The percentage of requests that hit.
    hits: f64,
    /// Requests a second.
    rate: f64,
    /// The entries held at the end.
    entries: u64,
}

/// Replays `trace` cache-aside.
fn replay(cache: &impl Weighted, trace: &[u64], weights: &[u64]) -> Replayed {
    let start = Instant::now();
    let mut hits = 0u64;
    for &key in trace {
        if black_box(cache.get(key)).is_some() {
            hits += 1;
        } else {
            cache.insert(key, weights[key as usize]);
        }
    }
    let rate = trace.len() as f64 / start.elapsed().as_secs_f64();
    Replayed { hits: hits as f64 / trace.len() as f64 * 100.0, rate, entries: cache.entries() }
}

/// The median round (by rate) of `n` replays, each into a fresh cache.
fn rounds<C: Weighted>(
    build: impl Fn() -> C,
    trace: &[u64],
    weights: &[u64],
    n: usize,
) -> Replayed {
    let mut runs: Vec<Replayed> = (0..n).map(|_| replay(&build(), trace, weights)).collect();
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    runs[runs.len() / 2]
}

pub fn weighted(table: &mut Table, opts: &Opts) {
    let len = opts.ops(1_000_000);
    let weights: Vec<u64> = (0..KEYS).map(weight).collect();
    let total: u64 = weights.iter().sum();
    let mean = total / KEYS;
    let zipf = Zipf::new(KEYS, 0.99);
    let mut rng = Rng::new(opts.seed ^ 0x3E1);
    // Zipf ranks run from 1; keys from 0.
    let trace: Vec<u64> = (0..len).map(|_| zipf.sample(&mut rng) - 1).collect();
    let n = opts.rounds.max(1);
    for percent in [1, 10] {
        let capacity = total * percent / 100;
        let w = format!("weighted/zipf 0.99/cap {percent}% of the bytes");
        eprintln!("  {w}");
        let ours = rounds(|| wheel(capacity), &trace, &weights, n);
        let quick = rounds(|| quick(capacity, mean), &trace, &weights, n);
        let moka_run = rounds(|| moka(capacity), &trace, &weights, n);
        // Its rate is not a contender's: one round, for the hit ratio.
        let held = replay(&MokaHeld(moka(capacity)), &trace, &weights);
        let best = quick.hits.max(moka_run.hits);
        let cell = |r: &Replayed, rate: bool| {
            let rate = if rate { format!(" · {}", ops_per_sec(r.rate)) } else { String::new() };
            format!("hits {:.2}%{rate} · {} entries", r.hits, r.entries)
        };
        table
            .push(&w, "wheelcache (weigher)", cell(&ours, true))
            .target("hits ≥ best peer − 1 point", ours.hits >= best - 1.0);
        table.push(&w, "quick_cache (Weighter)", cell(&quick, true)).points(ours.hits - quick.hits);
        table.push(&w, "moka (weigher)", cell(&moka_run, true)).points(ours.hits - moka_run.hits);
        table
            .push(&w, "moka, held to its capacity", cell(&held, false))
            .points(ours.hits - held.hits);
        table
            .push(&w, "wheelcache ÷ quick_cache, rate", String::new())
            .ratio(ours.rate / quick.rate);
        table.push(&w, "wheelcache ÷ moka, rate", String::new()).ratio(ours.rate / moka_run.rate);
    }
}
