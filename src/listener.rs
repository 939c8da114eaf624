//! [`RemovalCause`] and the shape of a removal listener.

/// Why an entry left the cache, as told to the removal listener.
///
/// Negative markers carry no value and are never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// Its deadline (or its time to idle) passed: reaped by the expiry
    /// thread, by `run_pending_tasks`, or by a call that met it.
    Expired,
    /// Evicted to keep the cache within `max_capacity`.
    Evicted,
    /// Removed by a call: `del_item`, `pop`, `popitem`, `clear`, `retain`,
    /// `expire(…, Some(ZERO))`, `setx(…, Some(ZERO))`.
    Removed,
    /// Its value was overwritten by a write (`set`, `setx`, `incr`…).
    Replaced,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own, to stay within its
    /// capacity (the one cause a larger cache would have avoided).
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Evicted)
    }

    /// Whether the entry's time ran out (its TTL or its time to idle).
    pub fn was_expired(self) -> bool {
        matches!(self, RemovalCause::Expired)
    }
}

/// The listener a cache calls on each removal.
pub(crate) type Listener<K, V> = Box<dyn Fn(K, V, RemovalCause) + Send + Sync>;

/// A removal to report once the lock is released.
pub(crate) type Notice<K, V> = (K, V, RemovalCause);
