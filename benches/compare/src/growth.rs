//! The growth workload, the longest insert while a cache fills: 2M new
//! `u64` keys into an empty cache on one thread, every insert timed on its
//! own with two `Instant` readings. A table that grows in one step
//! re-hashes everything it holds inside one insert, under its lock, so the
//! longest inserts show how growth is paid for; the throughput rows show
//! what it costs on average.

use std::time::Instant;

use crate::contenders::{Contender, LockedMap, Quick, Wheel};
use crate::report::{count, dur, quantile, Table};
use crate::Opts;

/// Inserts over this many nanoseconds are counted apart.
const SLOW_NS: u64 = 1_000_000;

/// The timed fill of one cache: every insert's nanoseconds.
fn fill(c: &impl Contender, keys: u64) -> Vec<u64> {
    let mut took = Vec::with_capacity(keys as usize);
    for k in 0..keys {
        let start = Instant::now();
        c.set(k, k);
        took.push(start.elapsed().as_nanos() as u64);
    }
    took
}

pub fn growth(table: &mut Table, opts: &Opts) {
    let keys = opts.ops(2_000_000);
    eprintln!("  growth");
    let rows: Vec<(&str, Vec<u64>)> = vec![
        ("wheelcache", fill(&Wheel::unbounded(), keys)),
        ("wheelcache (capacity = keys)", fill(&Wheel::bounded(keys), keys)),
        ("quick_cache (capacity = keys)", fill(&Quick::bounded(keys), keys)),
        ("hashbrown::HashMap in a Mutex (reference)", fill(&LockedMap::default(), keys)),
    ];
    let w = format!("growth/{}", count(keys));
    for (contender, mut took) in rows {
        let slow = took.iter().filter(|&&t| t > SLOW_NS).count() as u64;
        took.sort_unstable();
        let longest = std::time::Duration::from_nanos(*took.last().expect("keys > 0"));
        table.push(
            &w,
            contender,
            format!(
                "longest {}, p99.99 {}, {} over 1 ms",
                dur(longest),
                dur(quantile(&took, 0.9999)),
                count(slow)
            ),
        );
    }
}
