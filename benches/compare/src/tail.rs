//! Workload 7, tail latency of `get` hits while a mass expiry runs, against
//! the same reads on a quiet cache.
//!
//! 100k entries without TTL are read at random; 200k other entries expire
//! within one 100 ms window. Every `get` is timed on its own with two
//! `Instant` readings (the timer's own cost is in every sample, quiet or
//! not). The quiet phase reads the same cache before the window; the
//! expiry phase reads from the window's start until every expiring entry
//! was reported removed (at least the 100 ms window, at most 3 s).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contenders::{Contender, Moka, OnExpired, ValueExpiry, Wheel};
use crate::report::{count, dur, Table};
use crate::workload::Rng;
use crate::Opts;

const READ_KEYS: u64 = 100_000;
const EXPIRING: u64 = 200_000;
const WINDOW: Duration = Duration::from_millis(100);
/// The least time from storing the expiring entries to the window's opening;
/// more when filling and the quiet phase look slower (see `lead`).
const MIN_LEAD: Duration = Duration::from_millis(500);
const PHASE_LIMIT: Duration = Duration::from_secs(3);

/// Nanosecond buckets up to 1 ms, and the rare slower samples apart.
struct Histogram {
    buckets: Vec<u32>,
    slow: Vec<u64>,
    count: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram { buckets: vec![0; 1 << 20], slow: Vec::new(), count: 0 }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        self.count += 1;
        match self.buckets.get_mut(ns as usize) {
            Some(b) => *b += 1,
            None => self.slow.push(ns),
        }
    }

    fn quantile(&mut self, p: f64) -> Duration {
        let rank = ((self.count as f64 * p) as u64).min(self.count.saturating_sub(1));
        let mut seen = 0u64;
        for (ns, &n) in self.buckets.iter().enumerate() {
            seen += n as u64;
            if seen > rank {
                return Duration::from_nanos(ns as u64);
            }
        }
        self.slow.sort_unstable();
        Duration::from_nanos(self.slow[(rank - seen) as usize])
    }

    fn max(&mut self) -> Duration {
        self.quantile(1.0)
    }

    fn summary(&mut self) -> String {
        format!(
            "p50 {} · p99.9 {} · max {} ({} gets)",
            dur(self.quantile(0.5)),
            dur(self.quantile(0.999)),
            dur(self.max()),
            count(self.count)
        )
    }
}

/// Timed gets of random read keys while `go()` holds.
fn read<C: Contender>(c: &C, rng: &mut Rng, h: &mut Histogram, mut go: impl FnMut(u64) -> bool) {
    let mut n = 0u64;
    while go(n) {
        for _ in 0..256 {
            let key = rng.below(READ_KEYS);
            let start = Instant::now();
            let v = c.get(black_box(key));
            let ns = start.elapsed().as_nanos() as u64;
            assert!(v.is_some(), "read keys never expire");
            h.record(ns);
        }
        n += 256;
    }
}

struct Phases {
    quiet: Histogram,
    storm: Histogram,
    storm_time: Duration,
    removed: usize,
    late_fill: bool,
}

/// `store(cache, key, deadline_ns_after_base)`: `u64::MAX` is no deadline.
fn measure<C: Contender>(
    opts: &Opts,
    base: Instant,
    removed: &AtomicUsize,
    cache: C,
    store: impl Fn(&C, u64, u64),
) -> Phases {
    let fill = Instant::now();
    for k in 0..READ_KEYS {
        store(&cache, k, u64::MAX);
    }
    let fill = fill.elapsed();
    let quiet_reads = opts.ops(2_000_000);
    let window = base.elapsed() + lead(&cache, fill, quiet_reads);
    let step = WINDOW.as_nanos() as u64 / EXPIRING;
    for i in 0..EXPIRING {
        store(&cache, READ_KEYS + i, window.as_nanos() as u64 + i * step);
    }
    cache.settle();
    let opens = base + window;
    let mut rng = Rng::new(opts.seed);
    let mut quiet = Histogram::new();
    // Quiet: the same reads before any deadline (stopping early, should the
    // window come near).
    read(&cache, &mut rng, &mut quiet, |n| {
        n < quiet_reads && Instant::now() + Duration::from_millis(20) < opens
    });
    let late_fill = quiet.count < quiet_reads;
    while Instant::now() < opens {
        std::hint::spin_loop();
    }
    let mut storm = Histogram::new();
    let closes = opens + WINDOW;
    read(&cache, &mut rng, &mut storm, |_| {
        let now = Instant::now();
        now < opens + PHASE_LIMIT && (now < closes || removed.load(Relaxed) < EXPIRING as usize)
    });
    Phases { quiet, storm, storm_time: opens.elapsed(), removed: removed.load(Relaxed), late_fill }
}

/// Time enough, with a margin, to store the expiring entries (estimated from
/// the read keys' fill) and run the quiet phase (estimated from a sample of
/// gets) before the window opens.
fn lead<C: Contender>(cache: &C, fill: Duration, quiet_reads: u64) -> Duration {
    const SAMPLE: u32 = 20_000;
    let mut rng = Rng::new(1);
    let start = Instant::now();
    for _ in 0..SAMPLE {
        black_box(cache.get(rng.below(READ_KEYS)));
    }
    // Timed gets cost about twice a bare one (two clock readings).
    let quiet = start.elapsed() / SAMPLE * 2 * quiet_reads as u32;
    let store = fill * (EXPIRING / READ_KEYS) as u32;
    (3 * (store + quiet) / 2).max(MIN_LEAD)
}

fn counter() -> (Arc<AtomicUsize>, OnExpired) {
    let removed = Arc::new(AtomicUsize::new(0));
    let r = removed.clone();
    (
        removed,
        Arc::new(move |_, _| {
            r.fetch_add(1, Relaxed);
        }),
    )
}

pub fn tail_latency(table: &mut Table, opts: &Opts) {
    eprintln!("  tail_latency: wheelcache");
    let base = Instant::now();
    let (removed, on_expired) = counter();
    let mut ours =
        measure(opts, base, &removed, Wheel::with_listener(on_expired), |c, k, deadline| {
            if deadline == u64::MAX {
                c.0.set(k, deadline);
            } else {
                let ttl = Duration::from_nanos(deadline).saturating_sub(base.elapsed());
                c.0.setx(k, deadline, Some(ttl));
            }
        });
    eprintln!("  tail_latency: moka");
    let (removed, on_expired) = counter();
    let mut moka = measure(
        opts,
        base,
        &removed,
        Moka::new(None, Some(ValueExpiry::DeadlineNanos { base }), Some(on_expired)),
        |c, k, deadline| c.0.insert(k, deadline),
    );

    let w = "tail_latency (get hit, per-call timing; lower is better)";
    let p = |h: &mut Histogram| h.quantile(0.999).as_secs_f64();
    let (our_quiet, our_storm) = (p(&mut ours.quiet), p(&mut ours.storm));
    let (moka_quiet, moka_storm) = (p(&mut moka.quiet), p(&mut moka.storm));
    for (name, ph, ratio) in [
        ("wheelcache", &mut ours, None),
        ("moka", &mut moka, Some((our_quiet / moka_quiet, our_storm / moka_storm))),
    ] {
        let note = if ph.late_fill { " (quiet phase cut short)" } else { "" };
        let row = table.push(w, &format!("{name}, quiet{note}"), ph.quiet.summary());
        if let Some((q, _)) = ratio {
            row.ratio(q);
        }
        let during = format!(
            "{}; {} of {EXPIRING} expired in these {}",
            ph.storm.summary(),
            ph.removed,
            dur(ph.storm_time)
        );
        let row = table.push(w, &format!("{name}, while 200k expire in 100 ms"), during);
        match ratio {
            Some((_, s)) => {
                row.ratio(s);
            }
            None => {
                let r = our_storm / our_quiet;
                row.target(&format!("p99.9 ≤ 1.5× quiet ({r:.2}×)"), r <= 1.5);
            }
        }
    }
}
