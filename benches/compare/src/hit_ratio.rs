//! Hit ratio: single-thread cache-aside (`get`, and on a miss `insert`) on
//! seeded traces, with capacity 1% and 10% of the key space, for Zipf 0.9
//! and 0.99, and for a Zipf 0.99 trace polluted by periodic one-shot scans.
//! A plain LRU is the reference the policy must beat on the scan mix; the
//! peers are quick_cache (CLOCK-Pro-like) and moka (W-TinyLFU).

use crate::contenders::{Moka, Quick, Wheel};
use crate::policy::Lru;
use crate::report::Table;
use crate::workload::{Rng, Zipf};
use crate::{replay, Opts};

const KEYS: u64 = 100_000;

/// A trace's name, Zipf exponent, and scans (every `period` requests, `len`
/// one-time keys).
type Mix = (&'static str, f64, Option<(u64, u64)>);

/// A request trace: Zipf traffic, optionally interrupted every `period`
/// requests by a scan of `scan` keys never requested before or after.
fn trace(s: f64, len: u64, scan: Option<(u64, u64)>, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(KEYS, s);
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len as usize);
    let mut fresh = KEYS;
    while (out.len() as u64) < len {
        if let Some((period, scan)) = scan {
            if out.len() as u64 % period == period - 1 {
                for _ in 0..scan {
                    out.push(fresh);
                    fresh += 1;
                }
            }
        }
        out.push(zipf.sample(&mut rng));
    }
    out
}

pub fn hit_ratio(table: &mut Table, opts: &Opts) {
    let len = opts.ops(1_000_000);
    let mixes: [Mix; 3] = [
        ("zipf 0.9", 0.9, None),
        ("zipf 0.99", 0.99, None),
        // A scan of 20k one-time keys after every 50k requests.
        ("zipf 0.99 + scans", 0.99, Some((50_000, 20_000))),
    ];
    for (name, s, scan) in mixes {
        let trace = trace(s, len, scan, opts.seed ^ 0x417);
        for percent in [1, 10] {
            let cap = KEYS * percent / 100;
            let w = format!("hit_ratio/{name}/cap {percent}%");
            eprintln!("  {w}");
            let ours = replay::cache(&Wheel::bounded(cap), &trace);
            let lru = replay::policy(Lru::new(cap as usize), &trace);
            let quick = replay::cache(&Quick::bounded(cap), &trace);
            let moka = replay::cache(&Moka::bounded(cap), &trace);
            let best = lru.max(quick).max(moka);
            table
                .push(&w, "wheelcache (W-TinyLFU)", format!("{ours:.2}%"))
                .points(ours - best)
                .target("≥ best peer − 1 point", ours >= best - 1.0);
            table.push(&w, "LRU (reference)", format!("{lru:.2}%")).points(ours - lru);
            table.push(&w, "quick_cache", format!("{quick:.2}%")).points(ours - quick);
            table.push(&w, "moka", format!("{moka:.2}%")).points(ours - moka);
        }
    }
}
