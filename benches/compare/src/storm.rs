//! `storm`: how a reader fares while its own cache mass-expires.
//!
//! One cache holds 100k entries without TTL, which a reader thread reads at
//! random, and 300k entries whose deadlines all fall within one 50 ms
//! window. Every `get` is timed on its own with two `Instant` readings and
//! kept with the moment it started (the timer's own cost is in every
//! sample; nothing is subtracted). The quiet phase is a fixed stretch of
//! the same reads on the same cache before the window; the storm phase is
//! exactly the interval from the first to the last expiry removal, as
//! stamped by the cache's removal listener. Both phases give p50, p99.9,
//! max, the number of gets and the reader's gets per second.
//!
//! The reader touches nothing but the cache and its own sample buffer, and
//! is told to stop through an atomic flag: it never waits for anyone. Each
//! round builds a fresh cache; the figures are shown as the median of the
//! rounds with their range.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wheelcache::{Cache, RemovalCause};

use crate::report::{count, Table};
use crate::samples::{Phase, Samples};
use crate::spread::Spread;
use crate::workload::Rng;
use crate::Opts;

const READ_KEYS: u64 = 100_000;
const EXPIRING: u64 = 300_000;
const WINDOW: Duration = Duration::from_millis(50);
/// The length of the quiet phase.
const QUIET: Duration = Duration::from_millis(300);
/// From the end of the quiet phase to the first deadline.
const GAP: Duration = Duration::from_millis(20);
/// The least time from the start of storing the expiring entries to the
/// start of the quiet phase; more when storing looks slower (see `round`).
const MIN_LEAD: Duration = Duration::from_millis(300);
/// How long after the first deadline the reader keeps going, at most,
/// waiting for the last removal.
const STORM_LIMIT: Duration = Duration::from_secs(2);
/// Gets between two looks at the stop flag.
const BLOCK: usize = 256;

/// The expiry removals of one cache, as its listener stamps them
/// (nanoseconds after `base`).
struct Removals {
    base: Instant,
    first: AtomicU64,
    last: AtomicU64,
    count: AtomicU64,
    /// Told once every expiring entry was reported.
    done: Sender<()>,
}

impl Removals {
    /// The record, and the end of the channel that hears of the last removal.
    fn new() -> (Arc<Self>, Receiver<()>) {
        let (done, all_removed) = channel();
        let removals = Removals {
            base: Instant::now(),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            count: AtomicU64::new(0),
            done,
        };
        (Arc::new(removals), all_removed)
    }

    fn stamp(&self) {
        let now = self.base.elapsed().as_nanos() as u64;
        self.first.fetch_min(now, Relaxed);
        self.last.fetch_max(now, Relaxed);
        if self.count.fetch_add(1, Relaxed) + 1 == EXPIRING {
            // The receiver may have given up already; nothing to do then.
            let _ = self.done.send(());
        }
    }

    /// The first and last stamps, if anything was removed.
    fn interval(&self) -> Option<(Instant, Instant)> {
        let first = self.first.load(Relaxed);
        (first != u64::MAX).then(|| {
            let at = |ns| self.base + Duration::from_nanos(ns);
            (at(first), at(self.last.load(Relaxed)))
        })
    }
}

/// What one round measured.
struct Round {
    quiet: Phase,
    storm: Phase,
    /// Expiring entries reported removed before the reader stopped.
    removed: u64,
    /// From the first to the last removal stamp.
    lasted: Duration,
    /// The quiet phase was shorter than planned (storing overran its start).
    quiet_cut: bool,
    /// The recording ended before the last removal.
    storm_cut: bool,
    /// The cost of one `Instant::now()` in this round, in every sample.
    timer: Duration,
}

impl Round {
    /// Every expiring entry was removed, and both phases hold gets.
    fn complete(&self) -> bool {
        self.removed == EXPIRING && !self.storm_cut && self.storm.calls > 0 && self.quiet.calls > 0
    }

    fn p999_ratio(&self) -> f64 {
        ratio(self.storm.p999.as_secs_f64(), self.quiet.p999.as_secs_f64())
    }

    fn rate_ratio(&self) -> f64 {
        ratio(self.storm.rate(), self.quiet.rate())
    }
}

/// `a / b`, infinite when `b` is zero (a round that is not complete).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::INFINITY
    } else {
        a / b
    }
}

/// Timed gets of random read keys until `stop`, kept in `samples`.
fn read(cache: &Cache<u64, u64>, seed: u64, stop: &AtomicBool, samples: &mut Samples) {
    let mut rng = Rng::new(seed);
    while !stop.load(Relaxed) && !samples.is_full() {
        for _ in 0..BLOCK {
            let key = rng.below(READ_KEYS);
            let start = Instant::now();
            let v = cache.get(black_box(&key));
            let end = Instant::now();
            assert!(v.is_some(), "read keys never expire");
            samples.record(start, end);
        }
    }
}

/// Gets per second of the timed read loop, on a cache holding the read keys.
fn read_rate(cache: &Cache<u64, u64>) -> f64 {
    let mut rng = Rng::new(1);
    let n = 100_000;
    let start = Instant::now();
    for _ in 0..n {
        let key = rng.below(READ_KEYS);
        let t = Instant::now();
        black_box(cache.get(black_box(&key)));
        black_box(t.elapsed());
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn round(seed: u64, samples: &mut Samples) -> Round {
    let (removals, all_removed) = Removals::new();
    let stamps = removals.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .removal_listener(move |_, _, cause| {
            if cause == RemovalCause::Expired {
                stamps.stamp();
            }
        })
        .build()
        .expect("valid settings");
    let fill = Instant::now();
    for k in 0..READ_KEYS {
        cache.set(k, k);
    }
    let fill = fill.elapsed();
    let (timer, _) = crate::timer();
    // Room for every sample up to the limit, at twice the rate seen.
    let capacity = read_rate(&cache) * 2.0 * (QUIET + GAP + STORM_LIMIT).as_secs_f64();
    samples.reserve(capacity as usize);
    // Storing the expiring entries, estimated from the read keys, twice
    // over: the quiet phase should start after it.
    let lead = (fill * (EXPIRING / READ_KEYS) as u32 * 2).max(MIN_LEAD);
    let quiet_from = Instant::now() + lead;
    let quiet_to = quiet_from + QUIET;
    let opens = quiet_to + GAP;
    samples.start(quiet_from);
    for i in 0..EXPIRING {
        let deadline = opens + WINDOW.mul_f64(i as f64 / EXPIRING as f64);
        // At least 1 µs: a TTL of zero would be a removal, not an expiry.
        let ttl = deadline.saturating_duration_since(Instant::now()).max(Duration::from_micros(1));
        cache.setx(READ_KEYS + i, i, Some(ttl));
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| read(&cache, seed, &stop, samples));
        // Blocks (no polling that would take CPU from the reader or the
        // expiry thread) until the last removal or the limit.
        let _ = all_removed
            .recv_timeout((opens + STORM_LIMIT).saturating_duration_since(Instant::now()));
        stop.store(true, Relaxed);
        reader.join().expect("the reader does not panic");
    });
    let quiet = samples.phase(quiet_from, quiet_to);
    let removed = removals.count.load(Relaxed);
    let (storm, lasted, storm_cut) = match removals.interval() {
        Some((first, last)) => {
            let storm = samples.phase(first, last);
            // The recording covers the phase unless it stopped short of it.
            let cut = storm.span + Duration::from_micros(1) < last - first;
            (storm, last - first, cut)
        }
        None => (Phase::default(), Duration::ZERO, true),
    };
    let quiet_cut = quiet.span < QUIET * 95 / 100;
    Round { quiet, storm, removed, lasted, quiet_cut, storm_cut, timer }
}

/// `p50 · p99.9 · max · gets · gets/s` of one phase over the rounds.
fn summary(rounds: &[Round], phase: impl Fn(&Round) -> Phase) -> String {
    let of =
        |f: &dyn Fn(&Phase) -> Duration| Spread::of_durations(rounds.iter().map(|r| f(&phase(r))));
    format!(
        "p50 {} · p99.9 {} · max {} · {} gets · {}",
        of(&|p| p.p50).duration(),
        of(&|p| p.p999).duration(),
        of(&|p| p.max).duration(),
        Spread::new(rounds.iter().map(|r| phase(r).calls as f64)).count(),
        Spread::new(rounds.iter().map(|r| phase(r).rate())).per_sec("gets"),
    )
}

pub fn storm(table: &mut Table, opts: &Opts) {
    let mut samples = Samples::new();
    let rounds: Vec<Round> = (0..opts.rounds as u64)
        .map(|i| {
            eprintln!("  storm: wheelcache, round {}", i + 1);
            round(opts.seed.wrapping_add(i), &mut samples)
        })
        .collect();
    drop(samples);
    let n = rounds.len();

    let w = "storm (get hit while 300k entries of the same cache expire in 50 ms; per-call timing)";
    let cut = rounds.iter().filter(|r| r.quiet_cut).count();
    let note = if cut > 0 { format!(" (cut short in {cut} of {n} rounds)") } else { String::new() };
    table.push(
        w,
        &format!("wheelcache, quiet: {} ms before the window{note}", QUIET.as_millis()),
        format!(
            "{}; every sample includes the cost of one Instant::now(): {}",
            summary(&rounds, |r| r.quiet),
            Spread::of_durations(rounds.iter().map(|r| r.timer)).duration()
        ),
    );
    let complete = rounds.iter().filter(|r| r.complete()).count();
    let removed = Spread::new(rounds.iter().map(|r| r.removed as f64)).count();
    let expiry = if complete == n {
        format!("all {} removed in every round", count(EXPIRING))
    } else {
        format!(
            "**{removed} of {} removed** before the reader stopped ({} s after the first \
             deadline); complete in {complete} of {n} rounds",
            count(EXPIRING),
            STORM_LIMIT.as_secs()
        )
    };
    table.push(
        w,
        "wheelcache, storm: first to last expiry removal",
        format!(
            "{}; lasted {}; {expiry}",
            summary(&rounds, |r| r.storm),
            Spread::of_durations(rounds.iter().map(|r| r.lasted)).duration()
        ),
    );
    let p999: Vec<f64> = rounds.iter().map(Round::p999_ratio).collect();
    let rate: Vec<f64> = rounds.iter().map(Round::rate_ratio).collect();
    let p999_met: Vec<bool> =
        rounds.iter().zip(&p999).map(|(r, &x)| r.complete() && x <= 1.5).collect();
    let rate_met: Vec<bool> =
        rounds.iter().zip(&rate).map(|(r, &x)| r.complete() && x >= 0.7).collect();
    table
        .push(
            w,
            "wheelcache, storm ÷ quiet",
            format!(
                "p99.9 {} · throughput {}",
                Spread::new(p999).ratio(),
                Spread::new(rate).ratio()
            ),
        )
        .targets_every_round(&[
            ("p99.9 ≤ 1.5× quiet", &p999_met),
            ("throughput ≥ 0.7× quiet", &rate_met),
        ]);
}
