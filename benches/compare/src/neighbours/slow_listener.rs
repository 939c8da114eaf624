//! The neighbour with a slow listener: cache A's removal listener sleeps
//! 10 ms per call, and 1k of A's entries expire during B's window (their
//! deadlines spread evenly over it).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wheelcache::Cache;

use super::victim::Window;
use super::{count_during, Figure, Neighbour, Unit};

const ENTRIES: u64 = 1_000;
const NAP: Duration = Duration::from_millis(10);
/// How long after B's window A's calls are waited for, at most (they take
/// `ENTRIES × NAP` = 10 s in all).
const LIMIT: Duration = Duration::from_secs(30);

pub struct SlowListener {
    cache: Cache<u64, u64>,
    base: Instant,
    calls: Arc<AtomicU64>,
    /// When A's latest call ended, in nanoseconds after `base`.
    last_call: Arc<AtomicU64>,
    /// Told when the last of A's entries was reported.
    all_called: Receiver<()>,
    during: Option<JoinHandle<u64>>,
    window: Option<Window>,
}

impl SlowListener {
    /// Builds A (empty: its entries are stored once B's window is known).
    pub fn start() -> SlowListener {
        let base = Instant::now();
        let calls = Arc::new(AtomicU64::new(0));
        let last_call = Arc::new(AtomicU64::new(0));
        let (done, all_called) = channel();
        let (counter, ended) = (calls.clone(), last_call.clone());
        let cache = Cache::builder()
            .removal_listener(move |_, _, _| {
                std::thread::sleep(NAP);
                ended.store(base.elapsed().as_nanos() as u64, Relaxed);
                if counter.fetch_add(1, Relaxed) + 1 == ENTRIES {
                    let _ = done.send(());
                }
            })
            .build()
            .expect("valid settings");
        SlowListener { cache, base, calls, last_call, all_called, during: None, window: None }
    }
}

impl Neighbour for SlowListener {
    /// Stores A's entries with deadlines spread evenly over `window`.
    fn arm(&mut self, window: Window) {
        let span = window.last - window.first;
        for i in 0..ENTRIES {
            let deadline = window.first + span.mul_f64(i as f64 / (ENTRIES - 1) as f64);
            let ttl = deadline.saturating_duration_since(Instant::now());
            // At least 1 µs: a TTL of zero would be a removal, not an expiry.
            self.cache.setx(i, i, Some(ttl.max(Duration::from_micros(1))));
        }
        self.during = Some(count_during(self.calls.clone(), window));
        self.window = Some(window);
    }

    /// Waits for A's remaining calls (so that none runs during the next
    /// measurement), then drops A.
    fn finish(mut self: Box<Self>) -> Vec<Figure> {
        let window = self.window.expect("armed");
        let give_up = window.last + LIMIT;
        let _ = self.all_called.recv_timeout(give_up.saturating_duration_since(Instant::now()));
        let last = self.base + Duration::from_nanos(self.last_call.load(Relaxed));
        let during = self.during.take().expect("armed").join().expect("the count runs");
        vec![
            Figure {
                what: "A's listener calls during B's window",
                value: during as f64,
                unit: Unit::Count,
            },
            Figure {
                what: "A's last call ended after B's last deadline",
                value: last.saturating_duration_since(window.last).as_secs_f64(),
                unit: Unit::Duration,
            },
        ]
    }
}
