//! Workload 6, expiry lateness and idle reclaim: 100k entries with deadlines
//! spread evenly over 1 s, and no cache call after they are stored. Each
//! removal reported to the listener as expired is stamped; lateness is the
//! stamp minus the entry's deadline, and idle reclaim is the last stamp
//! minus the last deadline.
//!
//! moka expires only during housekeeping, which runs on callers, so it is
//! measured twice: idle (no calls at all, as for wheelcache) and driven by
//! one `get` of a missing key per millisecond.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::contenders::{Moka, OnExpired, ValueExpiry, Wheel};
use crate::report::{dur, quantile, Table};
use crate::Opts;

const ENTRIES: u64 = 100_000;
const SPREAD: Duration = Duration::from_secs(1);
/// The first deadline, from the start of the fill (moka's fill of 100k
/// entries takes well under this).
const LEAD: Duration = Duration::from_millis(500);
/// How long the idle runs wait after the last deadline.
const IDLE_GRACE: Duration = Duration::from_secs(2);
/// How long the driven moka run may take after the last deadline.
const DRIVEN_LIMIT: Duration = Duration::from_secs(10);

/// The listener's record: (stamp, deadline) in nanoseconds after `base`.
#[derive(Clone)]
struct Recorder {
    base: Instant,
    stamps: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            base: Instant::now(),
            stamps: Arc::new(Mutex::new(Vec::with_capacity(ENTRIES as usize))),
        }
    }

    /// The removal callback: the value is the entry's deadline.
    fn on_expired(&self) -> OnExpired {
        let rec = self.clone();
        Arc::new(move |_key, deadline| {
            let now = rec.base.elapsed().as_nanos() as u64;
            rec.stamps.lock().unwrap().push((now, deadline));
        })
    }

    fn count(&self) -> usize {
        self.stamps.lock().unwrap().len()
    }

    /// The deadline of entry `i`, in nanoseconds after `base`.
    fn deadline(&self, fill_start: Duration, i: u64) -> u64 {
        (fill_start + LEAD).as_nanos() as u64 + i * (SPREAD.as_nanos() as u64 / ENTRIES)
    }

    /// The TTL that makes entry `i` expire at its deadline, stored now.
    fn ttl(&self, fill_start: Duration, i: u64) -> Duration {
        Duration::from_nanos(self.deadline(fill_start, i)).saturating_sub(self.base.elapsed())
    }
}

struct Outcome {
    removed: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Last removal after the last deadline, when every entry was removed.
    reclaim: Option<Duration>,
    /// The fill ended after the first deadline: the run is not valid.
    late_fill: bool,
}

impl Outcome {
    fn lateness(&self) -> String {
        if self.removed == 0 {
            return format!(
                "0 of {ENTRIES} removed within {} s of the last deadline",
                IDLE_GRACE.as_secs()
            );
        }
        let mut s = format!(
            "p50 {} · p99 {} · max {} ({} of {ENTRIES} removed)",
            dur(self.p50),
            dur(self.p99),
            dur(self.max),
            self.removed
        );
        if self.late_fill {
            s += " (fill overran the first deadline)";
        }
        s
    }

    fn reclaim(&self, grace: Duration) -> String {
        match self.reclaim {
            Some(d) => dur(d),
            None => format!(
                "not done: {} of {ENTRIES} gone {} s after the last deadline",
                self.removed,
                grace.as_secs()
            ),
        }
    }
}

/// Waits, calling `tick` every millisecond, until every entry was reported
/// or `limit` after the last deadline.
fn wait(rec: &Recorder, last_deadline: u64, limit: Duration, tick: impl Fn()) {
    let give_up = rec.base + Duration::from_nanos(last_deadline) + limit;
    while rec.count() < ENTRIES as usize && Instant::now() < give_up {
        tick();
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn outcome(rec: &Recorder, fill_start: Duration, fill_end: Duration) -> Outcome {
    let stamps = rec.stamps.lock().unwrap().clone();
    let last_deadline = rec.deadline(fill_start, ENTRIES - 1);
    let mut late: Vec<u64> = stamps.iter().map(|&(s, d)| s.saturating_sub(d)).collect();
    late.sort_unstable();
    let (p50, p99, max) = if late.is_empty() {
        Default::default()
    } else {
        (quantile(&late, 0.50), quantile(&late, 0.99), Duration::from_nanos(*late.last().unwrap()))
    };
    let reclaim = (stamps.len() == ENTRIES as usize).then(|| {
        let last = stamps.iter().map(|&(s, _)| s).max().unwrap_or(0);
        Duration::from_nanos(last.saturating_sub(last_deadline))
    });
    Outcome {
        removed: stamps.len(),
        p50,
        p99,
        max,
        reclaim,
        late_fill: fill_end.as_nanos() as u64 > rec.deadline(fill_start, 0),
    }
}

fn wheelcache() -> Outcome {
    let rec = Recorder::new();
    let cache = Wheel::with_listener(rec.on_expired());
    let fill_start = rec.base.elapsed();
    for i in 0..ENTRIES {
        let ttl = rec.ttl(fill_start, i);
        cache.0.setx(i, rec.deadline(fill_start, i), Some(ttl));
    }
    let fill_end = rec.base.elapsed();
    let last = rec.deadline(fill_start, ENTRIES - 1);
    wait(&rec, last, IDLE_GRACE, || {});
    let out = outcome(&rec, fill_start, fill_end);
    assert!(out.reclaim.is_none() || cache.0.is_empty());
    out
}

fn moka(driven: bool) -> Outcome {
    let rec = Recorder::new();
    let expiry = ValueExpiry::DeadlineNanos { base: rec.base };
    let cache = Moka::new(None, Some(expiry), Some(rec.on_expired()));
    let fill_start = rec.base.elapsed();
    for i in 0..ENTRIES {
        cache.0.insert(i, rec.deadline(fill_start, i));
    }
    // Registers the inserts with moka's timers before the first deadline.
    cache.0.run_pending_tasks();
    let fill_end = rec.base.elapsed();
    let last = rec.deadline(fill_start, ENTRIES - 1);
    if driven {
        wait(&rec, last, DRIVEN_LIMIT, || {
            cache.0.get(&u64::MAX);
        });
    } else {
        wait(&rec, last, IDLE_GRACE, || {});
    }
    outcome(&rec, fill_start, fill_end)
}

pub fn lateness(table: &mut Table, _opts: &Opts) {
    eprintln!("  lateness: wheelcache");
    let ours = wheelcache();
    eprintln!("  lateness: moka, idle");
    let moka_idle = moka(false);
    eprintln!("  lateness: moka, 1 get/ms");
    let moka_driven = moka(true);

    let w = "expiry_lateness (100k deadlines over 1 s; lower is better)";
    table.push(w, "wheelcache (idle: no calls)", ours.lateness()).target(
        "p99 ≤ 2 ms",
        ours.removed == ENTRIES as usize && ours.p99 <= Duration::from_millis(2),
    );
    table.push(w, "moka (idle: no calls)", moka_idle.lateness());
    let row = table.push(w, "moka (1 get/ms)", moka_driven.lateness());
    if moka_driven.removed > 0 {
        row.ratio(ours.p99.as_secs_f64() / moka_driven.p99.as_secs_f64());
    }

    let w = "idle_reclaim (last deadline → all gone; lower is better)";
    let met = ours.reclaim.is_some_and(|d| d <= Duration::from_millis(10));
    table.push(w, "wheelcache (idle: no calls)", ours.reclaim(IDLE_GRACE)).target("≤ 10 ms", met);
    table.push(w, "moka (idle: no calls)", moka_idle.reclaim(IDLE_GRACE));
    let row = table.push(w, "moka (1 get/ms)", moka_driven.reclaim(DRIVEN_LIMIT));
    if let (Some(a), Some(b)) = (ours.reclaim, moka_driven.reclaim) {
        row.ratio(a.as_secs_f64() / b.as_secs_f64());
    }
}
