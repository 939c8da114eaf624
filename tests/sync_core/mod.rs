//! The sync core, `Cache<K, V, S>`: its calls, their errors, expiry and
//! listeners.
//!
//! Every expiry test runs on a `MockClock`: time moves only when a test
//! moves it, and `run_pending_tasks` reaps on the test's thread. Only
//! `background` uses the real clock and the expiry thread, polling with a
//! generous bound instead of sleeping for a fixed time.

mod api;
mod background;
mod builder;
mod concurrency;
mod counters;
mod expiry;
mod listener;
mod stats;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use wheelcache::{Cache, CacheBuilder, MockClock, RemovalCause};

/// What a recording listener saw, in order.
pub(crate) type Events<K, V> = Arc<Mutex<Vec<(K, V, RemovalCause)>>>;

/// A builder on a fresh mock clock.
pub(crate) fn mock_builder<K, V>() -> (CacheBuilder<K, V>, MockClock) {
    let clock = MockClock::new();
    (CacheBuilder::default().clock(clock.clone()), clock)
}

/// A cache on a fresh mock clock whose removal listener records every call.
pub(crate) fn recorded_cache<K, V>() -> (Cache<K, V>, MockClock, Events<K, V>)
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let (builder, clock) = mock_builder();
    let events: Events<K, V> = Arc::default();
    let sink = events.clone();
    let cache = builder
        .removal_listener(move |k, v, cause| sink.lock().unwrap().push((k, v, cause)))
        .build()
        .expect("valid settings");
    (cache, clock, events)
}

/// Takes what the listener recorded so far.
pub(crate) fn drain<K, V>(events: &Events<K, V>) -> Vec<(K, V, RemovalCause)> {
    std::mem::take(&mut *events.lock().unwrap())
}

/// Sorts recorded events by key, then value (the cause has no order).
pub(crate) fn sort_events<K: Ord, V: Ord>(events: &mut [(K, V, RemovalCause)]) {
    events.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
}

/// The mock clock's reading in nanoseconds.
pub(crate) fn now_ns(clock: &MockClock) -> u64 {
    u64::try_from(clock.elapsed().as_nanos()).expect("the mock clock stays below u64::MAX ns")
}

/// Runs `f` on its own thread and fails the test if it has not returned
/// within `limit`: a deadlock shows up as a failure, not as a hung run.
pub(crate) fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            worker.join().expect("the worker sent its result");
            value
        }
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker returned without sending"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("still running after {limit:?}: deadlock"),
    }
}

/// A small deterministic generator (64-bit LCG, high bits out).
pub(crate) struct Lcg(u64);

impl Lcg {
    pub(crate) fn new(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}
