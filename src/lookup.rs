//! What a read finds: [`Lookup`] for values, [`Ttl`] for deadlines.

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

/// The time to live of a key, from [`Cache::ttl`](crate::Cache::ttl).
///
/// Unlike the reference interface, which answers `None` for all three, a
/// missing key, a key without expiry and a key with time left are told apart.
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
