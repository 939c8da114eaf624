//! Removal notifications: [`RemovalCause`] and the listener plumbing.
//!
//! Removals are collected while a shard lock is held and delivered after it
//! is released, so a listener may call the cache (even the same key). A
//! panicking listener is caught: the cache's state was already consistent
//! before the call, the panic is counted in [`Stats::listener_panics`]
//! (crate::Stats::listener_panics), and the remaining notices are delivered.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::stats::{bump, Counters};

/// Why an entry left the cache, as told to the removal listener.
///
/// Negative markers carry no value and are never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// Its deadline passed (reaped by the expiry thread, by
    /// `run_pending_tasks`, or by a write that met it).
    Expired,
    /// Evicted to keep the cache within `max_capacity`.
    Evicted,
    /// Removed by a call: `del_item`, `pop`, `popitem`, `clear`,
    /// `expire(…, Some(ZERO))`, `setx(…, Some(ZERO))`.
    Removed,
    /// Its value was overwritten by a write (`set`, `setx`, `incr`…).
    Replaced,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own (expiry or eviction),
    /// rather than because of a call.
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Expired | RemovalCause::Evicted)
    }
}

/// The listener a cache calls on each removal.
pub(crate) type Listener<K, V> = Box<dyn Fn(K, V, RemovalCause) + Send + Sync>;

/// A removal to report once the lock is released.
pub(crate) type Notice<K, V> = (K, V, RemovalCause);

/// Delivers notices to the listener, catching (and counting) panics.
pub(crate) fn deliver<K, V>(
    listener: &Listener<K, V>,
    counters: &Counters,
    notices: impl IntoIterator<Item = Notice<K, V>>,
) {
    for (key, value, cause) in notices {
        if catch_unwind(AssertUnwindSafe(|| listener(key, value, cause))).is_err() {
            bump(&counters.listener_panics);
        }
    }
}
