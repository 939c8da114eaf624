//! Calls timed one by one, each kept with the moment it started, so that a
//! phase can be cut from them afterwards by any interval (one known only
//! once the run is over, such as "from the first removal to the last").
//!
//! The buffer is allocated and written through before it is used: a reader
//! that fills it takes no page faults while it is being timed.

use std::time::{Duration, Instant};

/// One timed call: when it started (nanoseconds after the origin) and how
/// long it took (nanoseconds, saturated at `u32::MAX`).
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: u32,
    ns: u32,
}

/// The samples of one reader, in the order it took them.
pub struct Samples {
    buf: Vec<Sample>,
    origin: Instant,
    full: bool,
}

impl Samples {
    pub fn new() -> Self {
        Samples { buf: Vec::new(), origin: Instant::now(), full: false }
    }

    /// Empties the buffer and makes room for `capacity` samples, written
    /// through once so that its pages are in memory.
    pub fn reserve(&mut self, capacity: usize) {
        self.buf.clear();
        if self.buf.capacity() < capacity {
            self.buf = Vec::with_capacity(capacity);
            self.buf.resize(capacity, Sample { at: 1, ns: 1 });
            self.buf.clear();
        }
        self.full = false;
    }

    /// Keeps calls from `origin` on (the buffer is emptied).
    pub fn start(&mut self, origin: Instant) {
        self.buf.clear();
        self.origin = origin;
        self.full = false;
    }

    /// Keeps a call timed from `start` to `end`; calls that started before
    /// the origin are not kept. Once the buffer is full (or 4.29 s after
    /// the origin), nothing more is kept and [`is_full`](Self::is_full)
    /// holds.
    #[inline]
    pub fn record(&mut self, start: Instant, end: Instant) {
        let Some(at) = start.checked_duration_since(self.origin) else { return };
        let Ok(at) = u32::try_from(at.as_nanos()) else {
            self.full = true;
            return;
        };
        if self.buf.len() == self.buf.capacity() {
            self.full = true;
            return;
        }
        let ns = u32::try_from((end - start).as_nanos()).unwrap_or(u32::MAX);
        self.buf.push(Sample { at, ns });
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The calls that started in `[from, to)`, with the part of that
    /// interval the recording covered (from its first sample to the end of
    /// its last).
    pub fn phase(&self, from: Instant, to: Instant) -> Phase {
        let offset = |t: Instant| t.saturating_duration_since(self.origin).as_nanos() as u64;
        let (from, to) = (offset(from), offset(to));
        let lo = self.buf.partition_point(|s| (s.at as u64) < from);
        let hi = self.buf.partition_point(|s| (s.at as u64) < to);
        let calls = &self.buf[lo..hi.max(lo)];
        let (Some(first), Some(last)) = (self.buf.first(), self.buf.last()) else {
            return Phase::default();
        };
        let covered_from = from.max(first.at as u64);
        let covered_to = to.min(last.at as u64 + last.ns as u64);
        let mut ns: Vec<u32> = calls.iter().map(|s| s.ns).collect();
        let Some(&max) = ns.iter().max() else { return Phase::default() };
        Phase {
            p50: nth(&mut ns, 0.5),
            p999: nth(&mut ns, 0.999),
            max: Duration::from_nanos(max as u64),
            calls: ns.len() as u64,
            span: Duration::from_nanos(covered_to.saturating_sub(covered_from)),
        }
    }
}

/// The `p`-quantile (0..=1) of `ns`, ranked as [`crate::report::quantile`]
/// ranks; by selection, so `ns` is reordered but not sorted.
fn nth(ns: &mut [u32], p: f64) -> Duration {
    let i = ((ns.len() as f64 * p) as usize).min(ns.len() - 1);
    Duration::from_nanos(*ns.select_nth_unstable(i).1 as u64)
}

/// The latency of the calls of one phase, and how many fit in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phase {
    pub p50: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub calls: u64,
    /// The length of the phase that the recording covered.
    pub span: Duration,
}

impl Phase {
    /// Calls per second within the phase.
    pub fn rate(&self) -> f64 {
        if self.span.is_zero() {
            0.0
        } else {
            self.calls as f64 / self.span.as_secs_f64()
        }
    }
}
