//! `neighbours`: how late a small cache B expires when it shares the
//! process (and so the one expiry thread) with a noisy neighbour A.
//!
//! B holds 20k entries with deadlines spread evenly over 1 s and gets no
//! call while they pass; its removal listener stamps each expiry (see
//! `victim`). B runs alone, then beside each neighbour, which is built and
//! running before B is filled:
//!
//! - churn: A holds 1M entries and expires 1M per second (`churn`);
//! - drop: A holds 1M entries with pending deadlines, and another thread
//!   drops its last handle half-way through B's window (`dropped`);
//! - slow listener: A's listener sleeps 10 ms a call, and 1k of its entries
//!   expire during B's window (`slow_listener`).
//!
//! Each round runs the four one after the other, each from fresh caches;
//! every neighbour's threads are joined and its cache dropped before the
//! next run starts. Each figure is shown as the median of the rounds with
//! its range, and a target is met only if every round met it.

mod churn;
mod dropped;
mod slow_listener;
mod victim;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::report::Table;
use crate::spread::Spread;
use crate::Opts;

use victim::{Lateness, Victim, Window};

/// A cache beside B, busy in its own way while B's deadlines pass.
trait Neighbour {
    /// When B's first deadline should be, if the neighbour has a say (it
    /// must leave time to fill B).
    fn opens(&self) -> Option<Instant> {
        None
    }
    /// Told B's deadlines, once B is filled and before the first of them.
    fn arm(&mut self, window: Window);
    /// Stops the neighbour, joins its threads and drops its cache; returns
    /// what it did, to show beside B's figures.
    fn finish(self: Box<Self>) -> Vec<Figure>;
}

/// One figure a neighbour reports about its run.
struct Figure {
    what: &'static str,
    value: f64,
    unit: Unit,
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    /// Seconds.
    Duration,
    PerSec,
    Count,
}

impl Unit {
    fn show(self, spread: &Spread) -> String {
        match self {
            Unit::Duration => spread.duration(),
            Unit::PerSec => spread.per_sec("removals"),
            Unit::Count => spread.count(),
        }
    }
}

/// What runs beside B.
#[derive(Debug, Clone, Copy)]
enum Beside {
    Nothing,
    Churn,
    Drop,
    SlowListener,
}

impl Beside {
    const ALL: [Beside; 4] = [Beside::Nothing, Beside::Churn, Beside::Drop, Beside::SlowListener];

    fn label(self) -> &'static str {
        match self {
            Beside::Nothing => "wheelcache B, alone",
            Beside::Churn => "wheelcache B beside churn: A holds 1M entries, expires 1M/s",
            Beside::Drop => "wheelcache B beside drop: A of 1M pending entries dropped mid-window",
            Beside::SlowListener => {
                "wheelcache B beside a slow listener: A's naps 10 ms a call, 1k expire in B's window"
            }
        }
    }

    fn start(self) -> Option<Box<dyn Neighbour>> {
        match self {
            Beside::Nothing => None,
            Beside::Churn => Some(Box::new(churn::Churn::start())),
            Beside::Drop => Some(Box::new(dropped::Dropped::start())),
            Beside::SlowListener => Some(Box::new(slow_listener::SlowListener::start())),
        }
    }
}

/// One run of B beside one neighbour.
struct Run {
    lateness: Lateness,
    figures: Vec<Figure>,
}

fn run(beside: Beside) -> Run {
    let mut neighbour = beside.start();
    let mut b = Victim::fill(neighbour.as_ref().and_then(|n| n.opens()));
    if let Some(n) = &mut neighbour {
        n.arm(b.window());
    }
    b.ready();
    b.wait();
    let lateness = b.lateness();
    let figures = neighbour.map_or_else(Vec::new, |n| n.finish());
    Run { lateness, figures }
}

/// Sleeps until `t` (at once if it is past).
fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// A thread that returns how much `counter` grew over `window`.
fn count_during(counter: Arc<AtomicU64>, window: Window) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        sleep_until(window.first);
        let before = counter.load(Relaxed);
        sleep_until(window.last);
        counter.load(Relaxed) - before
    })
}

/// Pause between two runs, so that the next starts on a settled process.
const SETTLE: Duration = Duration::from_millis(100);

pub fn neighbours(table: &mut Table, opts: &Opts) {
    let mut runs: Vec<Vec<Run>> = Beside::ALL.iter().map(|_| Vec::new()).collect();
    for round in 1..=opts.rounds {
        for (beside, runs) in Beside::ALL.iter().zip(&mut runs) {
            eprintln!("  neighbours: round {round}, {beside:?}");
            runs.push(run(*beside));
            std::thread::sleep(SETTLE);
        }
    }

    let w = "neighbours (lateness of B: 20k deadlines over 1 s, no calls; lower is better)";
    for (beside, runs) in Beside::ALL.iter().zip(&runs) {
        let late = |f: fn(&Lateness) -> Duration| {
            Spread::of_durations(runs.iter().map(|r| f(&r.lateness))).duration()
        };
        let mut result =
            format!("p50 {} · p99 {} · max {}", late(|l| l.p50), late(|l| l.p99), late(|l| l.max));
        let n = runs.len();
        let partial = runs.iter().filter(|r| r.lateness.removed < victim::ENTRIES).count();
        if partial > 0 {
            let removed = Spread::new(runs.iter().map(|r| r.lateness.removed as f64)).count();
            result += &format!(
                "; **{removed} of 20k removed** in {partial} of {n} rounds (waited 15 s past \
                 the last deadline)"
            );
        }
        let late_start = runs.iter().filter(|r| r.lateness.late_start).count();
        if late_start > 0 {
            result += &format!("; B was filled after its first deadline in {late_start} rounds");
        }
        for (i, figure) in runs[0].figures.iter().enumerate() {
            let spread = Spread::new(runs.iter().map(|r| r.figures[i].value));
            result += &format!("; {}: {}", figure.what, figure.unit.show(&spread));
        }
        let met = |ok: fn(&Lateness) -> bool| -> Vec<bool> {
            runs.iter().map(|r| r.lateness.valid() && ok(&r.lateness)).collect()
        };
        let p99 = met(|l| l.p99 <= Duration::from_millis(2));
        let max = met(|l| l.max <= Duration::from_millis(10));
        table
            .push(w, beside.label(), result)
            .targets_every_round(&[("p99 ≤ 2 ms", &p99), ("max ≤ 10 ms", &max)]);
    }
}
