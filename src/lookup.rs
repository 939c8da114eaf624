//! What a read finds: [`Lookup`] for values, [`Ttl`] for deadlines; and
//! what a loader found upstream: [`Loaded`].

use std::time::Duration;

/// The outcome of [`Cache::get_item`](crate::Cache::get_item).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup<V> {
    /// A live value.
    Hit(V),
    /// No entry: never set, removed, or expired.
    Miss,
    /// A negative marker: the key is known to be absent upstream
    /// (see [`Cache::set_negative`](crate::Cache::set_negative)).
    Negative,
}

impl<V> Lookup<V> {
    /// The value of a hit; `None` for a miss or a negative marker.
    pub fn into_option(self) -> Option<V> {
        match self {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss | Lookup::Negative => None,
        }
    }

    /// Whether this is a hit.
    pub fn is_hit(&self) -> bool {
        matches!(self, Lookup::Hit(_))
    }

    /// Whether this is a negative marker.
    pub fn is_negative(&self) -> bool {
        matches!(self, Lookup::Negative)
    }

    /// Whether this is a miss.
    pub fn is_miss(&self) -> bool {
        matches!(self, Lookup::Miss)
    }
}

/// The time to live of a key, from [`Cache::ttl`](crate::Cache::ttl): a
/// missing key, a key without expiry and a key with time left are told
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// No such key (or it has expired).
    Missing,
    /// The key never expires.
    Persistent,
    /// The key expires after this long: exact, not rounded.
    Remaining(Duration),
}

impl Ttl {
    /// The remaining time, if the key has a deadline.
    pub fn remaining(self) -> Option<Duration> {
        match self {
            Ttl::Remaining(d) => Some(d),
            Ttl::Missing | Ttl::Persistent => None,
        }
    }
}

/// What a loader found upstream, for [`Cache::load`](crate::Cache::load)
/// and [`KvCache::load`](crate::KvCache::load).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wheelcache::{Cache, Loaded, Lookup};
///
/// let cache: Cache<u32, String> = Cache::new();
/// // Found upstream, cached for a minute.
/// let user = cache.load(1, || {
///     Ok::<_, std::io::Error>(Loaded::ValueWithTtl("ada".to_string(), Some(Duration::from_secs(60))))
/// })?;
/// assert_eq!(user.as_deref(), Some("ada"));
/// // Not found upstream: remembered as a negative entry.
/// assert_eq!(cache.load(2, || Ok::<_, std::io::Error>(Loaded::Absent))?, None);
/// assert_eq!(cache.get_item(&2), Lookup::Negative);
/// // The marker answers the next load without running its loader.
/// assert_eq!(cache.load(2, || -> Result<_, std::io::Error> { unreachable!() })?, None);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loaded<V> {
    /// A value, stored with the cache's default TTL.
    Value(V),
    /// A value with a TTL of its own (`None`: no expiry), kept exactly.
    ValueWithTtl(V, Option<Duration>),
    /// Nothing upstream: a negative marker is stored (negative TTL), and
    /// the callers get `None`.
    Absent,
}
