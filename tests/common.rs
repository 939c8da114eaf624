//! Helpers shared by the test modules.

use std::time::Duration;

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
