//! Workload 5, memory per entry: 1M `u64 -> u64` entries, bytes requested
//! from the allocator (counted by `alloc::Counting`), minus the 16 bytes of
//! key and value. Each cache is built, filled, measured and dropped before
//! the next.

use std::time::Duration;

use crate::alloc;
use crate::contenders::{Contender, Dash, Moka, Quick, ValueExpiry, Wheel};
use crate::report::Table;
use crate::Opts;

const ENTRIES: u64 = 1_000_000;
/// The long TTL of the "with TTL" rows (1 h), in milliseconds; it is also
/// the stored value, which moka's `Expiry` reads.
const TTL_MS: u64 = 3_600_000;

struct Footprint {
    /// Bytes per entry beyond the 16 of key and value.
    overhead: f64,
    entries: usize,
}

fn measure<C>(
    build: impl FnOnce() -> C,
    fill: impl Fn(&mut C, u64),
    len: impl Fn(&C) -> usize,
) -> Footprint {
    alloc::count(true);
    let before = alloc::bytes();
    let mut c = build();
    for k in 0..ENTRIES {
        fill(&mut c, k);
    }
    let entries = len(&c);
    let after = alloc::bytes();
    drop(c);
    alloc::count(false);
    Footprint { overhead: (after - before) as f64 / entries as f64 - 16.0, entries }
}

pub fn memory(table: &mut Table, _opts: &Opts) {
    let ttl = Some(Duration::from_millis(TTL_MS));
    eprintln!("  memory/no_ttl");
    let no_ttl: Vec<(&str, Footprint)> = vec![
        ("wheelcache", measure(Wheel::unbounded, |c, k| c.set(k, k), |c| c.len())),
        (
            "wheelcache (capacity 1M)",
            measure(|| Wheel::bounded(ENTRIES), |c, k| c.set(k, k), |c| c.len()),
        ),
        (
            "hashbrown::HashMap (reference)",
            measure(
                hashbrown::HashMap::<u64, u64, ahash::RandomState>::default,
                |c, k| {
                    c.insert(k, k);
                },
                |c| c.len(),
            ),
        ),
        (
            "quick_cache (capacity 1M)",
            measure(|| Quick::bounded(ENTRIES), |c, k| c.set(k, k), |c| c.len()),
        ),
        ("moka (capacity 1M)", measure(|| Moka::bounded(ENTRIES), |c, k| c.set(k, k), |c| c.len())),
        ("dashmap", measure(Dash::unbounded, |c, k| c.set(k, k), |c| c.len())),
    ];
    eprintln!("  memory/ttl");
    let with_ttl: Vec<(&str, Footprint)> = vec![
        (
            "wheelcache setx",
            measure(Wheel::unbounded, |c, k| c.0.setx(k, TTL_MS, ttl), |c| c.len()),
        ),
        (
            "wheelcache setx (capacity 1M)",
            measure(|| Wheel::bounded(ENTRIES), |c, k| c.0.setx(k, TTL_MS, ttl), |c| c.len()),
        ),
        (
            "moka (capacity 1M, per-entry Expiry)",
            measure(
                || Moka::new(Some(ENTRIES), Some(ValueExpiry::TtlMillis), None),
                |c, k| c.set_ttl_ms(k, TTL_MS),
                |c| c.len(),
            ),
        ),
    ];

    for (w, rows) in [
        ("memory/no_ttl (B/entry, lower is better)", no_ttl),
        ("memory/ttl (B/entry, lower is better)", with_ttl),
    ] {
        // Like for like: bounded peers against the bounded wheelcache row,
        // the others against the unbounded one.
        let (unbounded, bounded) = (rows[0].1.overhead, rows[1].1.overhead);
        for (name, f) in &rows {
            let mut result = format!("{:.1} B", f.overhead);
            if f.entries != ENTRIES as usize {
                result += &format!(" ({} entries kept)", f.entries);
            }
            let row = table.push(w, name, result);
            let ours = if name.contains("capacity") { bounded } else { unbounded };
            if !name.starts_with("wheelcache") {
                row.ratio(ours / f.overhead);
            } else if w.starts_with("memory/ttl") {
                row.target("≤ 40 B", f.overhead <= 40.0);
            }
        }
    }
}
