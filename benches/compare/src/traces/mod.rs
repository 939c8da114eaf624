//! Hit ratios on recorded block traces: the ARC paper's OLTP and P12 and
//! the LIRS paper's traces (see `traces/README.md`), each replayed
//! cache-aside on one thread (`get`, and on a miss `set`) at several sizes,
//! by LRU and ARC (simulated), quick_cache, moka, and wheelcache with its
//! default, 1 and 64 shards. The ARC paper's own figures stand beside the
//! measured LRU and ARC; the measured LRU must match the paper's, which
//! checks the parsing. Belady's optimal replacement bounds what any cache
//! of the size can hit: a contender above it holds more than its capacity,
//! as moka does between its housekeeping runs, so moka is also replayed
//! with its housekeeping run after every insert.

pub mod files;
mod parse;
mod published;
mod sizes;
mod summary;
mod zstd;

use std::collections::HashSet;
use std::time::Instant;

use crate::contenders::{Contender, Moka, MokaHeld, Quick, Wheel};
use crate::policy::{self, Lru};
use crate::report::{Row, Table};
use crate::{replay, Opts};
use files::TraceFile;
use summary::{Measured, Seeded};

pub fn traces(table: &mut Table, opts: &Opts) {
    let mut rows = Vec::new();
    for file in files::ALL.iter().filter(|f| opts.wants_trace(f.name)) {
        let started = Instant::now();
        let parsed = file.load().unwrap_or_else(|e| panic!("cannot load a trace: {e}"));
        let trace = parsed.requests;
        let distinct =
            trace.iter().copied().collect::<HashSet<u64, ahash::RandomState>>().len() as u64;
        eprintln!(
            "  {}: {} requests, {distinct} distinct blocks, {} blank and {} `*` lines skipped \
             (loaded in {:.1} s)",
            file.name,
            trace.len(),
            parsed.blank,
            parsed.markers,
            started.elapsed().as_secs_f64()
        );
        for size in sizes::of(file, distinct, opts.long) {
            let measured = measure(file, &size.label, size.entries, &trace);
            push(table, &measured);
            if size.entries <= RESIDENCY_AT_MOST {
                let (mean, most) = moka_residency(size.entries, &trace);
                table.push(
                    &format!("traces/{}/{}", file.name, size.label),
                    "moka's keys held (sampled every 50 requests)",
                    format!("mean {mean:.1}, at most {most}, for a capacity of {}", size.entries),
                );
            }
            rows.push(measured);
        }
    }
    summary::push(table, &rows);
}

/// The largest cache whose moka residency is sampled (a sample asks for
/// every key seen so far).
const RESIDENCY_AT_MOST: u64 = 400;

/// How many keys moka holds while it replays `trace` with a capacity of
/// `entries`, as it runs by default: of the keys asked for so far, those
/// `contains_key` finds, counted every 50 requests; (mean, most).
fn moka_residency(entries: u64, trace: &[u64]) -> (f64, usize) {
    let moka = Moka::bounded(entries);
    let mut seen: Vec<u64> = Vec::new();
    let mut known: HashSet<u64, ahash::RandomState> = HashSet::default();
    let (mut total, mut samples, mut most) = (0usize, 0usize, 0usize);
    for (i, &key) in trace.iter().enumerate() {
        if moka.get(key).is_none() {
            moka.set(key, key);
        }
        if known.insert(key) {
            seen.push(key);
        }
        if i % 50 == 0 {
            let held = seen.iter().filter(|k| moka.0.contains_key(*k)).count();
            total += held;
            samples += 1;
            most = most.max(held);
        }
    }
    (total as f64 / samples.max(1) as f64, most)
}

/// Runs `replay`, noting its time in `times`.
fn timed<T>(times: &mut Vec<String>, name: &str, replay: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let ratio = replay();
    times.push(format!("{name} {:.1} s", started.elapsed().as_secs_f64()));
    ratio
}

/// Replays `trace` on every contender with room for `entries` keys, one
/// after another (each cache is dropped before the next is built).
fn measure(file: &TraceFile, label: &str, entries: u64, trace: &[u64]) -> Measured {
    let t = &mut Vec::new();
    let cap = entries as usize;
    let measured = Measured {
        trace: file.name,
        size: label.to_string(),
        lru: timed(t, "LRU", || replay::policy(Lru::new(cap), trace)),
        arc: timed(t, "ARC", || replay::policy(policy::Arc::new(cap), trace)),
        quick: timed(t, "quick_cache", || replay::cache(&Quick::bounded(entries), trace)),
        moka: timed(t, "moka", || replay::cache(&Moka::bounded(entries), trace)),
        moka_held: timed(t, "moka held", || replay::cache(&MokaHeld::bounded(entries), trace)),
        opt: timed(t, "OPT", || policy::opt::hit_percent(trace, cap)),
        wheel: timed(t, "wheelcache", || replay::cache(&Wheel::bounded(entries), trace)),
        wheel_1_shard: timed(t, "1 shard", || seeded(entries, 1, trace)),
        wheel_64_shards: timed(t, "64 shards", || seeded(entries, 64, trace)),
        published: published::at(file.name, entries),
    };
    eprintln!("  traces/{}/{label}: {}", file.name, t.join(", "));
    measured
}

/// The hash seeds the shard comparison replays wheelcache with, each
/// configuration under the same ones.
const SHARD_SEEDS: [u64; 3] = [0x5EED_0001, 0x5EED_0002, 0x5EED_0003];

/// wheelcache with `shards` shards replaying `trace` with room for
/// `entries` keys under each of [`SHARD_SEEDS`]: the hit ratio under each.
fn seeded(entries: u64, shards: usize, trace: &[u64]) -> Seeded {
    Seeded(
        SHARD_SEEDS
            .map(|seed| replay::cache(&Wheel::bounded_with_shards(entries, shards, seed), trace)),
    )
}

/// The result cell of a reference policy: measured, and the paper's figure
/// where it has one.
fn with_paper(measured: f64, paper: Option<f64>) -> String {
    match paper {
        Some(paper) => format!("{measured:.2}% (ARC paper: {paper:.2}%)"),
        None => format!("{measured:.2}%"),
    }
}

/// The rows of one trace at one size.
fn push(table: &mut Table, m: &Measured) {
    let w = format!("traces/{}/{}", m.trace, m.size);
    let ours = m.wheel;
    // A contender's hit ratio, and wheelcache's lead over it in points.
    fn row<'t>(table: &'t mut Table, w: &str, name: &str, hits: f64, ours: f64) -> &'t mut Row {
        table.push(w, name, format!("{hits:.2}%")).points(ours - hits)
    }
    row(table, &w, "wheelcache (default shards)", ours, ours)
        .points(m.gap())
        .target("≥ best peer − 1 point", m.gap() >= -1.0);
    for (name, seeded) in [
        ("wheelcache (1 shard, fixed hash seeds)", &m.wheel_1_shard),
        ("wheelcache (64 shards, the same seeds)", &m.wheel_64_shards),
    ] {
        let seeds = seeded.spread();
        let cell =
            format!("{:.2}% (mean; seeds {:.2}–{:.2})", seeded.mean(), seeds.min(), seeds.max());
        let row = table.push(&w, name, cell).points(ours - seeded.mean());
        if name.contains("64") {
            row.target("1 vs 64 shards within 0.5 point", m.shard_spread() <= 0.5);
        }
    }
    row(table, &w, "quick_cache", m.quick, ours);
    row(table, &w, "moka", m.moka, ours);
    row(table, &w, "moka, held to its capacity", m.moka_held, ours);
    row(table, &w, "OPT (Belady, the most any cache of this size hits)", m.opt, ours)
        .target("wheelcache ≤ OPT", ours <= m.opt + 1e-9);
    table
        .push(&w, "LRU (reference)", with_paper(m.lru, m.published.lru))
        .points(ours - m.lru)
        .target("≥ LRU − 0.5 point", ours >= m.lru - 0.5);
    if let Some(paper) = m.published.lru {
        let diff = m.lru - paper;
        table
            .push(&w, "measured LRU − the ARC paper's LRU", format!("{diff:+.3} pt"))
            .target("within 0.1 point", diff.abs() <= 0.1);
    }
    let arc = table.push(&w, "ARC (reference)", with_paper(m.arc, m.published.arc));
    arc.points(ours - m.arc);
    if let Some(paper) = m.published.arc {
        arc.target(&format!("≥ the ARC paper's {paper:.2}%"), ours >= paper);
    }
}
