//! Size-aware capacity: each key's value has a weight (a size in bytes,
//! 1 to 4096, log-uniform, fixed per key), the capacity bounds the total
//! weight, and the caches evict by weight. Single-thread cache-aside (`get`,
//! and on a miss `insert`) over 100k keys with Zipf 0.99, capacity 1% and
//! 10% of the weight of all keys. Shown: the hit ratio (of requests) and
//! the replay's rate, for wheelcache's `weigher`, quick_cache's `Weighter`
//! and moka's `weigher`. Each round replays the trace into a fresh cache;
//! the median round's rate is shown (the hit ratio is the same every
//! round for wheelcache and quick_cache).

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
}

struct Wheel(wheelcache::Cache<u64, u64>);
struct Quick(quick_cache::sync::Cache<u64, u64, WeighedQuick, ahash::RandomState>);
struct Moka(moka::sync::Cache<u64, u64, ahash::RandomState>);

impl Weighted for Wheel {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.set(key, value)
    }
}

impl Weighted for Quick {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.insert(key, value)
    }
}

impl Weighted for Moka {
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.insert(key, value)
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

/// Replays `trace` cache-aside; returns the hit percentage and ops/s.
fn replay(cache: &impl Weighted, trace: &[u64], weights: &[u64]) -> (f64, f64) {
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
    (hits as f64 / trace.len() as f64 * 100.0, rate)
}

/// The median rate of `rounds` replays, each into a fresh cache, and the
/// hit ratio of the median round.
fn rounds<C: Weighted>(
    build: impl Fn() -> C,
    trace: &[u64],
    weights: &[u64],
    n: usize,
) -> (f64, f64) {
    let mut runs: Vec<(f64, f64)> = (0..n).map(|_| replay(&build(), trace, weights)).collect();
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    runs[runs.len() / 2]
}

pub fn weighted(table: &mut Table, opts: &Opts) {
    let len = opts.ops(1_000_000);
    let weights: Vec<u64> = (0..KEYS).map(weight).collect();
    let total: u64 = weights.iter().sum();
    let mean = total / KEYS;
    let zipf = Zipf::new(KEYS, 0.99);
    let mut rng = Rng::new(opts.seed ^ 0x3E1);
    let trace: Vec<u64> = (0..len).map(|_| zipf.sample(&mut rng)).collect();
    let n = opts.rounds.max(1);
    for percent in [1, 10] {
        let capacity = total * percent / 100;
        let w = format!("weighted/zipf 0.99/cap {percent}% of the bytes");
        eprintln!("  {w}");
        let (ours, ours_rate) = rounds(|| wheel(capacity), &trace, &weights, n);
        let (quick_hits, quick_rate) = rounds(|| quick(capacity, mean), &trace, &weights, n);
        let (moka_hits, moka_rate) = rounds(|| moka(capacity), &trace, &weights, n);
        let best = quick_hits.max(moka_hits);
        let cell = |hits: f64, rate: f64| format!("hits {hits:.2}% · {}", ops_per_sec(rate));
        table
            .push(&w, "wheelcache (weigher)", cell(ours, ours_rate))
            .target("hits ≥ best peer − 1 point", ours >= best - 1.0);
        table
            .push(&w, "quick_cache (Weighter)", cell(quick_hits, quick_rate))
            .points(ours - quick_hits);
        table.push(&w, "moka (weigher)", cell(moka_hits, moka_rate)).points(ours - moka_hits);
        table
            .push(&w, "wheelcache ÷ quick_cache, rate", String::new())
            .ratio(ours_rate / quick_rate);
        table.push(&w, "wheelcache ÷ moka, rate", String::new()).ratio(ours_rate / moka_rate);
    }
}
