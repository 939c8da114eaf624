//! Hit ratio: single-thread cache-aside (`get`, and on a miss `insert`) on
//! seeded traces, with capacity 1% and 10% of the key space, for Zipf 0.9
//! and 0.99, and for a Zipf 0.99 trace polluted by periodic one-shot scans.
//! A plain LRU is the reference the policy must beat on the scan mix; the
//! peers are quick_cache (CLOCK-Pro-like) and moka (W-TinyLFU).

use std::collections::HashMap;

use crate::contenders::{Contender, Quick};
use crate::report::Table;
use crate::workload::{Rng, Zipf};
use crate::Opts;

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

/// A plain LRU: a map to nodes of an index-linked list, most recent first.
struct Lru {
    cap: usize,
    map: HashMap<u64, usize, ahash::RandomState>,
    nodes: Vec<(u64, usize, usize)>, // key, prev, next
    head: usize,
    tail: usize,
}

const NIL: usize = usize::MAX;

impl Lru {
    fn new(cap: usize) -> Self {
        Lru { cap, map: HashMap::default(), nodes: Vec::new(), head: NIL, tail: NIL }
    }

    fn unlink(&mut self, i: usize) {
        let (_, prev, next) = self.nodes[i];
        if prev == NIL {
            self.head = next
        } else {
            self.nodes[prev].2 = next
        }
        if next == NIL {
            self.tail = prev
        } else {
            self.nodes[next].1 = prev
        }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].1 = NIL;
        self.nodes[i].2 = self.head;
        if self.head != NIL {
            self.nodes[self.head].1 = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    /// A hit moves the key to the front; a miss inserts it, evicting the
    /// least recent key when full.
    fn access(&mut self, key: u64) -> bool {
        if let Some(&i) = self.map.get(&key) {
            self.unlink(i);
            self.push_front(i);
            return true;
        }
        let i = if self.nodes.len() < self.cap {
            self.nodes.push((key, NIL, NIL));
            self.nodes.len() - 1
        } else {
            let i = self.tail;
            self.unlink(i);
            self.map.remove(&self.nodes[i].0);
            self.nodes[i].0 = key;
            i
        };
        self.map.insert(key, i);
        self.push_front(i);
        false
    }
}

fn ratio(trace: &[u64], mut access: impl FnMut(u64) -> bool) -> f64 {
    let hits = trace.iter().filter(|&&k| access(k)).count();
    hits as f64 / trace.len() as f64 * 100.0
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
            let wheel: wheelcache::Cache<u64, u64> =
                wheelcache::Cache::builder().max_capacity(cap).build().expect("valid settings");
            let ours = ratio(&trace, |k| {
                wheel.get(&k).is_some() || {
                    wheel.set(k, k);
                    false
                }
            });
            drop(wheel);
            let mut lru = Lru::new(cap as usize);
            let lru = ratio(&trace, |k| lru.access(k));
            let quick = Quick::bounded(cap);
            let quick = ratio(&trace, |k| {
                quick.get(k).is_some() || {
                    quick.set(k, k);
                    false
                }
            });
            let moka: moka::sync::Cache<u64, u64, ahash::RandomState> =
                moka::sync::Cache::builder()
                    .max_capacity(cap)
                    .build_with_hasher(Default::default());
            let moka = ratio(&trace, |k| {
                moka.get(&k).is_some() || {
                    moka.insert(k, k);
                    false
                }
            });
            let best = lru.max(quick).max(moka);
            table
                .push(&w, "wheelcache (S3-FIFO)", format!("{ours:.2}%"))
                .points(ours - best)
                .target("≥ best peer − 1 point", ours >= best - 1.0);
            table.push(&w, "LRU (reference)", format!("{lru:.2}%")).points(ours - lru);
            table.push(&w, "quick_cache", format!("{quick:.2}%")).points(ours - quick);
            table.push(&w, "moka", format!("{moka:.2}%")).points(ours - moka);
        }
    }
}
