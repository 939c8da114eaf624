//! The dropped neighbour: cache A holds 1M entries whose deadlines are
//! still pending, spread over a few seconds after B's window, and its last
//! handle is dropped by another thread half-way through B's window.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wheelcache::Cache;

use super::victim::Window;
use super::{sleep_until, Figure, Neighbour, Unit};

const ENTRIES: u64 = 1_000_000;
/// From the start of the fill to A's first deadline: past B's window.
const FIRST: Duration = Duration::from_secs(5);
/// From A's first deadline to its last.
const SPREAD: Duration = Duration::from_secs(3);

pub struct Dropped {
    /// A, until the dropping thread takes it.
    cache: Option<Cache<u64, u64>>,
    /// Returns how long the drop took.
    dropper: Option<JoinHandle<Duration>>,
}

impl Dropped {
    /// Builds and fills A.
    pub fn start() -> Dropped {
        let cache = Cache::builder().build().expect("valid settings");
        let first = Instant::now() + FIRST;
        for i in 0..ENTRIES {
            let deadline = first + SPREAD.mul_f64(i as f64 / ENTRIES as f64);
            cache.setx(i, i, Some(deadline.saturating_duration_since(Instant::now())));
        }
        Dropped { cache: Some(cache), dropper: None }
    }
}

impl Neighbour for Dropped {
    /// Hands A's only handle to a thread that drops it half-way through
    /// `window`.
    fn arm(&mut self, window: Window) {
        let cache = self.cache.take().expect("armed once");
        let at = window.first + (window.last - window.first) / 2;
        self.dropper = Some(std::thread::spawn(move || {
            sleep_until(at);
            let start = Instant::now();
            drop(cache);
            start.elapsed()
        }));
    }

    fn finish(mut self: Box<Self>) -> Vec<Figure> {
        let took = self.dropper.take().expect("armed").join().expect("the drop runs");
        vec![Figure {
            what: "dropping A (1M entries) half-way through B's window took",
            value: took.as_secs_f64(),
            unit: Unit::Duration,
        }]
    }
}
