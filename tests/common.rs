//! Helpers shared by the test modules.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wheelcache::{Cache, MockClock};

/// A cache on a fresh mock clock.
pub(crate) fn mock_cache<K, V>() -> (Cache<K, V>, MockClock)
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let clock = MockClock::new();
    let cache = Cache::builder().clock(clock.clone()).build().expect("valid settings");
    (cache, clock)
}

/// Milliseconds, shorter to read in tests.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How long a poll waits before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(5);

/// Polls `done` every 2 ms until it holds or `PATIENCE` runs out.
pub(crate) fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > PATIENCE {
            return false;
        }
        thread::sleep(ms(2));
    }
}

/// Runs `f` on a thread of its own and returns its result, or `None` if it
/// has not returned within `PATIENCE` (a call that hangs fails the test
/// instead of hanging it; the thread is left behind).
pub(crate) fn within_patience<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE).ok()
}
