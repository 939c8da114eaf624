//! Cache B, the one whose expiry lateness is measured: 20k entries with
//! deadlines spread evenly over one second, and no call to it while they
//! pass. Its removal listener stamps each expiry; lateness is the stamp
//! minus the entry's deadline.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wheelcache::{Cache, RemovalCause};

use crate::report::quantile;

pub const ENTRIES: u64 = 20_000;
/// From the first deadline to the last.
pub const SPREAD: Duration = Duration::from_secs(1);
/// The least time from the start of the fill to the first deadline.
const LEAD: Duration = Duration::from_millis(200);
/// How long after the last deadline B is waited for, at most.
const GRACE: Duration = Duration::from_secs(15);

/// The span of B's deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub first: Instant,
    pub last: Instant,
}

/// What B's listener writes: when each entry was removed as expired.
struct Stamps {
    base: Instant,
    /// Nanoseconds after `base`, by key; 0 while not removed.
    at: Vec<AtomicU64>,
    count: AtomicU64,
    /// Told once every entry was removed.
    done: Sender<()>,
}

impl Stamps {
    fn stamp(&self, key: u64) {
        let now = (self.base.elapsed().as_nanos() as u64).max(1);
        self.at[key as usize].store(now, Relaxed);
        if self.count.fetch_add(1, Relaxed) + 1 == ENTRIES {
            // The receiver may have given up already; nothing to do then.
            let _ = self.done.send(());
        }
    }
}

/// Cache B, filled, with its record of removals.
pub struct Victim {
    cache: Cache<u64, u64>,
    stamps: Arc<Stamps>,
    all_removed: Receiver<()>,
    window: Window,
    /// When the fill (and whatever ran after it before the first deadline)
    /// ended; see [`Victim::ready`].
    ready: Instant,
}

/// B's lateness in one run.
#[derive(Debug, Clone, Copy)]
pub struct Lateness {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub removed: u64,
    /// B was not ready before its first deadline: the run says nothing.
    pub late_start: bool,
}

impl Lateness {
    /// Every entry was removed and the run started in time.
    pub fn valid(&self) -> bool {
        self.removed == ENTRIES && !self.late_start
    }
}

impl Victim {
    /// Builds B and stores its entries: key `i`'s deadline is `i` steps of
    /// `SPREAD / (ENTRIES - 1)` after the first, which is `opens` or, if
    /// that is sooner, `LEAD` after now.
    pub fn fill(opens: Option<Instant>) -> Victim {
        let (done, all_removed) = channel();
        let stamps = Arc::new(Stamps {
            base: Instant::now(),
            at: (0..ENTRIES).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            done,
        });
        let listener = stamps.clone();
        let cache = Cache::builder()
            .removal_listener(move |key, _, cause| {
                if cause == RemovalCause::Expired {
                    listener.stamp(key);
                }
            })
            .build()
            .expect("valid settings");
        let first = (Instant::now() + LEAD).max(opens.unwrap_or(Instant::now()));
        let window = Window { first, last: first + SPREAD };
        let mut b = Victim { cache, stamps, all_removed, window, ready: first };
        for i in 0..ENTRIES {
            let ttl = b.deadline(i).saturating_duration_since(Instant::now());
            // At least 1 µs: a TTL of zero would be a removal, not an expiry.
            b.cache.setx(i, i, Some(ttl.max(Duration::from_micros(1))));
        }
        b.ready = Instant::now();
        b
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// Marks the end of the setup: if it is past the first deadline, the
    /// run is not valid.
    pub fn ready(&mut self) {
        self.ready = Instant::now();
    }

    fn deadline(&self, i: u64) -> Instant {
        self.window.first + SPREAD.mul_f64(i as f64 / (ENTRIES - 1) as f64)
    }

    /// Blocks, without calling B, until every entry was removed or `GRACE`
    /// after the last deadline.
    pub fn wait(&self) {
        let give_up = self.window.last + GRACE;
        let _ = self.all_removed.recv_timeout(give_up.saturating_duration_since(Instant::now()));
    }

    /// B's lateness: stamp minus deadline for each removed entry. Drops B.
    pub fn lateness(self) -> Lateness {
        let base = self.stamps.base;
        let mut late: Vec<u64> = (0..ENTRIES)
            .filter_map(|i| {
                let at = self.stamps.at[i as usize].load(Relaxed);
                let deadline = self.deadline(i).saturating_duration_since(base);
                (at != 0).then(|| at.saturating_sub(deadline.as_nanos() as u64))
            })
            .collect();
        late.sort_unstable();
        let removed = late.len() as u64;
        let late_start = self.ready > self.window.first;
        drop(self.cache);
        if late.is_empty() {
            let zero = Duration::ZERO;
            return Lateness { p50: zero, p99: zero, max: zero, removed, late_start };
        }
        Lateness {
            p50: quantile(&late, 0.5),
            p99: quantile(&late, 0.99),
            max: quantile(&late, 1.0),
            removed,
            late_start,
        }
    }
}
