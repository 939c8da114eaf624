//! One entry of a shard: key, value or negative marker, deadline, timer
//! link and eviction bits, in 40 bytes for `u64` keys and values.
//!
//! The value sits in a `MaybeUninit<V>` beside a flag, rather than in an
//! `Option<V>`: for value types without a spare bit pattern (integers,
//! most structs) that saves a word an entry. This is the crate's only
//! `unsafe` code; the invariant every block relies on is stated once:
//!
//! **`value` is initialised exactly when `has_value` is true.**
//!
//! It is established by [`Slot::new`], kept by [`Slot::replace`] (which
//! reads the old value out before writing the new one), and consumed by
//! [`Slot::into_parts`] and `Drop`, which each read the value out at most
//! once. No method lets the flag change without the value changing with it.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use super::policy::MAX_FREQ;
use crate::wheel::Link;

/// One entry.
pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    /// Initialised exactly when `has_value` (else: a negative marker).
    value: MaybeUninit<V>,
    /// Nanoseconds on the cache's clock; `NEVER` for no expiry.
    pub(crate) deadline: u64,
    pub(crate) link: Link,
    /// Reads since the policy last looked (saturating at `MAX_FREQ`).
    pub(crate) freq: AtomicU8,
    /// In the policy's main queue (else the small one).
    pub(crate) main: bool,
    has_value: bool,
}

impl<K, V> Slot<K, V> {
    /// A new entry, in the small queue unless `main`.
    pub(crate) fn new(key: K, value: Option<V>, deadline: u64, main: bool) -> Self {
        let has_value = value.is_some();
        let value = match value {
            Some(v) => MaybeUninit::new(v),
            None => MaybeUninit::uninit(),
        };
        Slot { key, value, deadline, link: Link::UNLINKED, freq: AtomicU8::new(0), main, has_value }
    }

    /// The value; `None` for a negative marker.
    #[inline]
    pub(crate) fn value(&self) -> Option<&V> {
        if self.has_value {
            // SAFETY: `has_value` is true, so `value` is initialised (the
            // module's invariant).
            Some(unsafe { self.value.assume_init_ref() })
        } else {
            None
        }
    }

    /// Whether the entry holds a value (is not a negative marker).
    #[inline]
    pub(crate) fn has_value(&self) -> bool {
        self.has_value
    }

    /// Puts in a new value (or marker), returning the old one.
    pub(crate) fn replace(&mut self, value: Option<V>) -> Option<V> {
        let old = if self.has_value {
            self.has_value = false;
            // SAFETY: `has_value` was true, so `value` is initialised; the
            // flag is cleared first, so the value is read out only here.
            Some(unsafe { self.value.assume_init_read() })
        } else {
            None
        };
        if let Some(v) = value {
            self.value.write(v);
            self.has_value = true;
        }
        old
    }

    /// Takes the entry apart.
    pub(crate) fn into_parts(self) -> (K, Option<V>) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so `key` is read
        // out once; the other fields are plain data or atomics with no drop.
        let key = unsafe { ptr::read(&this.key) };
        let value = if this.has_value {
            // SAFETY: `has_value` is true, so `value` is initialised, and it
            // is read out only here (`this` is not dropped).
            Some(unsafe { this.value.assume_init_read() })
        } else {
            None
        };
        (key, value)
    }

    /// Records a read for the eviction policy: cheap under a shared lock,
    /// and no store at all once the counter is saturated.
    #[inline]
    pub(crate) fn touch(&self) {
        let f = self.freq.load(Relaxed);
        if f < MAX_FREQ {
            self.freq.store(f + 1, Relaxed);
        }
    }

    /// Whether the entry is expired at `now` (`now >= deadline`).
    #[inline]
    pub(crate) fn expired_at(&self, now: u64) -> bool {
        now >= self.deadline
    }
}

impl<K, V> Drop for Slot<K, V> {
    fn drop(&mut self) {
        if self.has_value {
            // SAFETY: `has_value` is true, so `value` is initialised, and a
            // dropped slot is never read again.
            unsafe { self.value.assume_init_drop() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn values_are_dropped_once() {
        let v = Arc::new(1);
        let mut slot = Slot::new("k".to_string(), Some(v.clone()), 0, false);
        assert_eq!(Arc::strong_count(&v), 2);
        assert_eq!(slot.value().map(|v| **v), Some(1));
        let old = slot.replace(None);
        assert!(slot.value().is_none() && !slot.has_value());
        assert_eq!(Arc::strong_count(&v), 2);
        drop(old);
        assert_eq!(Arc::strong_count(&v), 1);
        assert!(slot.replace(Some(v.clone())).is_none());
        assert_eq!(Arc::strong_count(&v), 2);
        drop(slot);
        assert_eq!(Arc::strong_count(&v), 1);
        let slot = Slot::new("k".to_string(), Some(v.clone()), 0, true);
        let (key, value) = slot.into_parts();
        assert_eq!((key.as_str(), value.map(|v| *v)), ("k", Some(1)));
        assert_eq!(Arc::strong_count(&v), 1);
        let marker: Slot<String, Arc<i32>> = Slot::new("m".to_string(), None, 0, false);
        assert_eq!(marker.into_parts(), ("m".to_string(), None));
    }

    #[test]
    fn an_entry_of_u64s_fits_in_40_bytes() {
        assert_eq!(std::mem::size_of::<Slot<u64, u64>>(), 40);
    }
}
