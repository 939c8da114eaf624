//! One entry of a shard: key, value or negative marker, deadline and its
//! place in the eviction policy, in 32 bytes for `u64` keys and values.
//! Its timer's links live apart, in a vector of the shard's beside the
//! entries (see `shard`): a lookup reads key, value, deadline and read
//! counter, never the links, so they are left out of the entries that
//! lookups bring into the processor's caches.
//!
//! An entry is *occupied* (it holds a key) or *vacant* (a hole in the
//! shard's entries, waiting for reuse, on the shard's list of vacancies
//! through its deadline's word, which holds both of that list's links).
//! Key and value sit in `MaybeUninit`s rather than in `Option`s: for types
//! without a spare bit pattern (integers, most structs) that saves two
//! words an entry. This module holds the crate's only `unsafe` code: a
//! prefetch hint (`prefetch`), and the blocks that read key and value,
//! which all rely on one invariant, stated once:
//!
//! **`key` is initialised exactly when the entry is occupied (its queue
//! bits in `order_next` are not `VACANT_QUEUE`), and `value` exactly when
//! it is occupied and its `HAS_VALUE` bit is set.**
//!
//! It is established by [`Entry::occupy`], kept by [`Entry::replace`]
//! (which reads the old value out before writing the new one), and
//! consumed by [`Entry::vacate`] and `Drop`, which each read key and value
//! out at most once. No method changes the occupied state or the bit
//! without moving the key or value with it.
//!
//! The policy's links share their words with a few bits of state: the
//! read counter in the top bits of `order_prev` (an atomic, because reads
//! bump it under the shard's shared lock), and the value flag and the
//! policy's queue (or the vacancy mark) in the top bits of `order_next`.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::list::{ID_BITS, ID_MASK, NIL};

/// In `order_next`: the entry holds a value (else a negative marker).
const HAS_VALUE: u32 = 1 << ID_BITS;
/// In `order_next`: the policy queue the entry is on (two bits).
const QUEUE_SHIFT: u32 = ID_BITS + 1;
/// The queue bits of a vacant entry: no policy queue has this number.
const VACANT_QUEUE: u32 = 3;
/// `order_next` of a vacant entry.
const VACANT: u32 = (VACANT_QUEUE << QUEUE_SHIFT) | NIL;
/// In `order_prev`: reads since the policy last looked (three bits).
const FREQ_SHIFT: u32 = ID_BITS;
/// The largest read count an entry remembers.
pub(crate) const MAX_FREQ: u8 = 7;

/// One entry. See the module docs.
pub(crate) struct Entry<K, V> {
    /// Initialised exactly when occupied.
    key: MaybeUninit<K>,
    /// Initialised exactly when occupied and `HAS_VALUE` is set.
    value: MaybeUninit<V>,
    /// Nanoseconds on the cache's clock; `NEVER` for no expiry. In a
    /// vacant entry, the vacancy list's links.
    pub(crate) deadline: u64,
    /// The policy's previous link and the read counter.
    order_prev: AtomicU32,
    /// The policy's next link, the value flag and the queue; `VACANT` in a
    /// vacant entry.
    order_next: u32,
}

impl<K, V> Entry<K, V> {
    /// A vacant entry.
    pub(crate) fn vacant() -> Self {
        Entry {
            key: MaybeUninit::uninit(),
            value: MaybeUninit::uninit(),
            deadline: 0,
            order_prev: AtomicU32::new(NIL),
            order_next: VACANT,
        }
    }

    #[inline]
    pub(crate) fn is_occupied(&self) -> bool {
        self.order_next >> QUEUE_SHIFT != VACANT_QUEUE
    }

    /// Fills a vacant entry, on no list and in queue 0.
    pub(crate) fn occupy(&mut self, key: K, value: Option<V>, deadline: u64) {
        debug_assert!(!self.is_occupied());
        self.key.write(key);
        let flag = match value {
            Some(v) => {
                self.value.write(v);
                HAS_VALUE
            }
            None => 0,
        };
        self.deadline = deadline;
        *self.order_prev.get_mut() = NIL;
        // Occupied only now, with key and value in place.
        self.order_next = NIL | flag;
    }

    /// Empties an occupied entry (already off the wheel and the policy's
    /// lists), leaving it vacant; returns its key and value.
    pub(crate) fn vacate(&mut self) -> (K, Option<V>) {
        debug_assert!(self.is_occupied());
        let has_value = self.has_value();
        // Vacant from here on: nothing reads key or value again.
        self.order_next = VACANT;
        // SAFETY: the entry was occupied, so `key` is initialised; it is
        // now vacant, so this is the one read of it.
        let key = unsafe { self.key.assume_init_read() };
        let value = if has_value {
            // SAFETY: `HAS_VALUE` was set in an occupied entry, so `value`
            // is initialised; the entry is now vacant, so it is read once.
            Some(unsafe { self.value.assume_init_read() })
        } else {
            None
        };
        (key, value)
    }

    /// The key of an occupied entry.
    #[inline]
    pub(crate) fn key(&self) -> &K {
        assert!(self.is_occupied(), "the key of a vacant entry");
        // SAFETY: the entry is occupied, so `key` is initialised.
        unsafe { self.key.assume_init_ref() }
    }

    /// The key, if the entry is occupied.
    #[inline]
    pub(crate) fn occupied_key(&self) -> Option<&K> {
        // SAFETY: the entry is occupied, so `key` is initialised.
        self.is_occupied().then(|| unsafe { self.key.assume_init_ref() })
    }

    /// Whether the entry holds a value (is not a negative marker).
    #[inline]
    pub(crate) fn has_value(&self) -> bool {
        self.order_next & HAS_VALUE != 0
    }

    /// The value; `None` for a negative marker or a vacant entry.
    #[inline]
    pub(crate) fn value(&self) -> Option<&V> {
        if self.has_value() {
            // SAFETY: `HAS_VALUE` is only set in an occupied entry whose
            // value is initialised (the module's invariant).
            Some(unsafe { self.value.assume_init_ref() })
        } else {
            None
        }
    }

    /// Puts in a new value (or marker), returning the old one.
    pub(crate) fn replace(&mut self, value: Option<V>) -> Option<V> {
        debug_assert!(self.is_occupied());
        let old = if self.has_value() {
            self.order_next &= !HAS_VALUE;
            // SAFETY: `HAS_VALUE` was set, so `value` is initialised; the
            // bit is cleared first, so the value is read out only here.
            Some(unsafe { self.value.assume_init_read() })
        } else {
            None
        };
        if let Some(v) = value {
            self.value.write(v);
            self.order_next |= HAS_VALUE;
        }
        old
    }

    // ---- the policy's state ------------------------------------------

    /// Records a read: cheap under a shared lock (a relaxed load, and a
    /// relaxed store until the counter saturates). Concurrent reads may
    /// count once for two; the policy needs no more.
    #[inline]
    pub(crate) fn touch(&self) {
        let word = self.order_prev.load(Relaxed);
        if word >> FREQ_SHIFT < u32::from(MAX_FREQ) {
            self.order_prev.store(word + (1 << FREQ_SHIFT), Relaxed);
        }
    }

    /// Reads since the policy last reset the counter.
    #[inline]
    pub(crate) fn freq(&self) -> u8 {
        (self.order_prev.load(Relaxed) >> FREQ_SHIFT) as u8
    }

    #[inline]
    pub(crate) fn set_freq(&mut self, freq: u8) {
        let word = self.order_prev.get_mut();
        *word = (*word & ID_MASK) | (u32::from(freq.min(MAX_FREQ)) << FREQ_SHIFT);
    }

    // ---- the links of a vacant entry (see `vacancies`) ----------------

    /// The previous vacancy, kept in the deadline's low half.
    #[inline]
    pub(crate) fn vacancy_prev(&self) -> u32 {
        debug_assert!(!self.is_occupied());
        self.deadline as u32
    }

    #[inline]
    pub(crate) fn set_vacancy_prev(&mut self, prev: u32) {
        debug_assert!(!self.is_occupied());
        self.deadline = (self.deadline & !u64::from(u32::MAX)) | u64::from(prev);
    }

    /// The next vacancy, kept in the deadline's high half.
    #[inline]
    pub(crate) fn vacancy_next(&self) -> u32 {
        debug_assert!(!self.is_occupied());
        (self.deadline >> 32) as u32
    }

    #[inline]
    pub(crate) fn set_vacancy_next(&mut self, next: u32) {
        debug_assert!(!self.is_occupied());
        self.deadline = (self.deadline & u64::from(u32::MAX)) | (u64::from(next) << 32);
    }

    /// The policy queue the entry is on.
    #[inline]
    pub(crate) fn queue(&self) -> u8 {
        (self.order_next >> QUEUE_SHIFT) as u8
    }

    #[inline]
    pub(crate) fn set_queue(&mut self, queue: u8) {
        debug_assert!(u32::from(queue) < VACANT_QUEUE);
        self.order_next =
            (self.order_next & !(3 << QUEUE_SHIFT)) | (u32::from(queue) << QUEUE_SHIFT);
    }

    #[inline]
    pub(crate) fn order_prev(&self) -> u32 {
        self.order_prev.load(Relaxed) & ID_MASK
    }

    #[inline]
    pub(crate) fn order_next(&self) -> u32 {
        self.order_next & ID_MASK
    }

    #[inline]
    pub(crate) fn set_order_prev(&mut self, prev: u32) {
        let word = self.order_prev.get_mut();
        *word = (*word & !ID_MASK) | prev;
    }

    #[inline]
    pub(crate) fn set_order_next(&mut self, next: u32) {
        self.order_next = (self.order_next & !ID_MASK) | next;
    }
}

impl<K, V> Drop for Entry<K, V> {
    fn drop(&mut self) {
        if self.is_occupied() {
            let has_value = self.has_value();
            // Vacant from here on, so that nothing is dropped twice even if
            // the key's `Drop` panics.
            self.order_next = VACANT;
            // SAFETY: `HAS_VALUE` was set in an occupied entry, so `value`
            // is initialised; the entry is vacant now, so it is read once.
            // Held in a local, it is dropped even if the key's drop panics.
            let _value = has_value.then(|| unsafe { self.value.assume_init_read() });
            // SAFETY: the entry was occupied, so `key` is initialised, and
            // this is the one drop of it.
            unsafe { self.key.assume_init_drop() }
        }
    }
}

/// Asks the processor to start bringing the cache line of `at` (an entry,
/// or a block of the policy's sketch) closer, ahead of its use; elsewhere
/// than on x86-64 (and under Miri) it does nothing.
#[inline]
pub(crate) fn prefetch<T>(at: &T) {
    prefetch_addr(std::ptr::from_ref(at).addr());
}

/// Asks the processor to start bringing the cache line at address `at`
/// closer; `at` need not be a live place (a prefetch never faults).
#[inline]
pub(crate) fn prefetch_addr(at: usize) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: a prefetch is a hint: it changes nothing the program can
    // observe and never faults, whatever the address; SSE, which the
    // instruction needs, is part of every x86-64 processor.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::without_provenance::<i8>(at));
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = at;
}

/// Takes an entry apart without running its `Drop` (for tests).
#[cfg(test)]
fn into_parts<K, V>(entry: Entry<K, V>) -> (K, Option<V>) {
    let mut entry = std::mem::ManuallyDrop::new(entry);
    entry.vacate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keys_and_values_are_dropped_once() {
        let (k, v) = (Arc::new("k"), Arc::new(1));
        let mut entry = Entry::vacant();
        assert!(!entry.is_occupied() && entry.value().is_none());
        entry.occupy(k.clone(), Some(v.clone()), 5);
        assert_eq!((Arc::strong_count(&k), Arc::strong_count(&v)), (2, 2));
        assert_eq!(entry.value().map(|v| **v), Some(1));
        let old = entry.replace(None);
        assert!(entry.value().is_none() && !entry.has_value());
        drop(old);
        assert_eq!(Arc::strong_count(&v), 1);
        assert!(entry.replace(Some(v.clone())).is_none());
        let (key, value) = entry.vacate();
        assert!(!entry.is_occupied());
        assert_eq!((Arc::strong_count(&k), Arc::strong_count(&v)), (2, 2));
        drop((key, value));
        assert_eq!((Arc::strong_count(&k), Arc::strong_count(&v)), (1, 1));
        entry.occupy(k.clone(), Some(v.clone()), 5);
        drop(entry);
        assert_eq!((Arc::strong_count(&k), Arc::strong_count(&v)), (1, 1));
        let mut marker: Entry<Arc<&str>, Arc<i32>> = Entry::vacant();
        marker.occupy(k.clone(), None, 0);
        let (key, value) = into_parts(marker);
        assert!(value.is_none());
        drop(key);
        assert_eq!(Arc::strong_count(&k), 1);
    }

    #[test]
    fn flags_and_links_share_words_without_mixing() {
        let mut entry: Entry<u64, u64> = Entry::vacant();
        entry.occupy(1, Some(2), 3);
        entry.set_order_prev(12345);
        entry.set_order_next(678);
        entry.set_queue(2);
        for _ in 0..10 {
            entry.touch();
        }
        assert_eq!(entry.freq(), MAX_FREQ);
        assert_eq!((entry.order_prev(), entry.order_next(), entry.queue()), (12345, 678, 2));
        assert!(entry.is_occupied(), "no queue reads as vacant");
        assert!(entry.has_value());
        entry.set_freq(1);
        entry.set_queue(1);
        entry.replace(None);
        assert_eq!((entry.freq(), entry.queue(), entry.has_value()), (1, 1, false));
        assert_eq!((entry.order_prev(), entry.order_next()), (12345, 678));
    }

    #[test]
    fn a_panicking_key_drop_still_drops_the_value() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("key drop");
            }
        }
        let v = Arc::new(0);
        let mut entry = Entry::vacant();
        entry.occupy(Bomb, Some(v.clone()), 0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(entry)));
        assert!(result.is_err());
        assert_eq!(Arc::strong_count(&v), 1);
    }

    #[test]
    fn an_entry_of_u64s_takes_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<Entry<u64, u64>>(), 32);
    }

    #[test]
    fn a_vacancy_keeps_both_links_in_the_deadline_word() {
        let mut entry: Entry<u64, u64> = Entry::vacant();
        entry.set_vacancy_prev(7);
        entry.set_vacancy_next(NIL);
        entry.set_vacancy_prev(u32::MAX - 1);
        assert_eq!((entry.vacancy_prev(), entry.vacancy_next()), (u32::MAX - 1, NIL));
        assert!(!entry.is_occupied());
        entry.occupy(1, None, 9);
        assert!(entry.is_occupied() && !entry.has_value());
        assert_eq!(entry.deadline, 9);
    }
}
