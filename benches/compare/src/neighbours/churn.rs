//! The churning neighbour: cache A holds 1M entries and expires a million
//! of them per second, for as long as it runs.
//!
//! A's entries form one endless schedule: the `j`-th has key
//! `j % KEYS` and deadline `start + j µs`, and lives one second, so it is
//! stored one second before its deadline. The first million are stored at
//! once, their deadlines spread over the first second, which is also B's
//! window (see [`Neighbour::opens`]); a writer thread stores the rest on
//! schedule, 1k at a time, so that the churn goes on while B's late
//! entries are still due. A key comes back 50 ms after its previous
//! deadline, by when the expiry thread should have removed it; so about 1M
//! entries are live and about 1M expire each second, as long as the writer
//! keeps to its schedule (how far it fell behind is reported).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wheelcache::{Cache, RemovalCause};

use super::victim::Window;
use super::{count_during, sleep_until, Figure, Neighbour, Unit};

/// Entries live at any time, and expiries per second.
const LIVE: u64 = 1_000_000;
/// How long an entry lives.
const LIFE: Duration = Duration::from_secs(1);
/// How long a key stays out of the cache between two lives.
const ABSENT: Duration = Duration::from_millis(50);
/// Keys in turn: enough that each is absent for `ABSENT`.
const KEYS: u64 = LIVE + LIVE * ABSENT.as_millis() as u64 / LIFE.as_millis() as u64;
/// Entries the writer stores per wake-up (1 ms of schedule).
const BATCH: u64 = 1_000;
/// From the start of the fill to the first deadline.
const LEAD: Duration = Duration::from_millis(1500);

/// A lives in its writer thread, which drops it when told to stop.
pub struct Churn {
    expired: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Returns how far behind its schedule the writer fell, at most.
    writer: Option<JoinHandle<Duration>>,
    during: Option<JoinHandle<u64>>,
    window: Option<Window>,
    /// The first deadline.
    start: Instant,
}

impl Churn {
    /// Builds and fills A and starts the writer; A's first deadline is
    /// still ahead.
    pub fn start() -> Churn {
        let expired = Arc::new(AtomicU64::new(0));
        let counter = expired.clone();
        let cache = Cache::builder()
            .removal_listener(move |_, _, cause| {
                if cause == RemovalCause::Expired {
                    counter.fetch_add(1, Relaxed);
                }
            })
            .build()
            .expect("valid settings");
        let start = Instant::now() + LEAD;
        for j in 0..LIVE {
            store(&cache, start, j);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || write(&cache, start, &stop))
        };
        Churn { expired, stop, writer: Some(writer), during: None, window: None, start }
    }
}

/// The deadline of the `j`-th entry of the schedule.
fn deadline(start: Instant, j: u64) -> Instant {
    start + Duration::from_micros(j * 1_000_000 / LIVE)
}

fn store(cache: &Cache<u64, u64>, start: Instant, j: u64) {
    let ttl = deadline(start, j).saturating_duration_since(Instant::now());
    // At least 1 µs: a TTL of zero would be a removal, not an expiry.
    cache.setx(j % KEYS, j, Some(ttl.max(Duration::from_micros(1))));
}

/// Stores the schedule from the `LIVE`-th entry on, each batch when its
/// first entry is due (one `LIFE` before its deadline), until `stop`.
fn write(cache: &Cache<u64, u64>, start: Instant, stop: &AtomicBool) -> Duration {
    let mut behind = Duration::ZERO;
    let mut j = LIVE;
    while !stop.load(Relaxed) {
        let due = deadline(start, j) - LIFE;
        sleep_until(due);
        behind = behind.max(Instant::now().saturating_duration_since(due));
        for j in j..j + BATCH {
            store(cache, start, j);
        }
        j += BATCH;
    }
    behind
}

impl Neighbour for Churn {
    fn opens(&self) -> Option<Instant> {
        Some(self.start)
    }

    fn arm(&mut self, window: Window) {
        self.during = Some(count_during(self.expired.clone(), window));
        self.window = Some(window);
    }

    fn finish(mut self: Box<Self>) -> Vec<Figure> {
        self.stop.store(true, Relaxed);
        let behind = self.writer.take().expect("started").join().expect("the writer runs");
        let expired = self.during.take().expect("armed").join().expect("the count runs");
        let window = self.window.expect("armed");
        let rate = expired as f64 / (window.last - window.first).as_secs_f64();
        vec![
            Figure { what: "A's expiries during B's window", value: rate, unit: Unit::PerSec },
            Figure {
                what: "A's writer fell behind its schedule by at most",
                value: behind.as_secs_f64(),
                unit: Unit::Duration,
            },
        ]
    }
}
