//! The eviction policy of a bounded cache: S3-FIFO (Yang et al., SOSP '23)
//! over a shard's dense entries.
//!
//! New entries start in the *small* queue; an entry read while there moves
//! to the *main* queue when the small queue is trimmed, an unread one is
//! evicted and its key's fingerprint kept in a *ghost* queue. A key that
//! comes back while its ghost is remembered goes straight to main. Main is a
//! CLOCK: a read entry loses one of its (at most three) credits per sweep,
//! one with none is evicted. One-hit wonders (a scan) thus pass through the
//! small queue without displacing the working set.
//!
//! Reads only bump a 2-bit counter in the entry (a relaxed load, and a
//! relaxed store until it saturates), under the shard's shared lock: a hit
//! never needs the write lock and never moves anything. The queues are not
//! lists: each queue is the set of entries flagged for it, swept by its own
//! hand over the dense vector, so the policy costs two bytes an entry.

use std::collections::VecDeque;

use hashbrown::HashTable;

/// Reads an entry remembers (the counter saturates here).
pub(crate) const MAX_FREQ: u8 = 3;

/// The small queue is trimmed while it holds at least this share (1/n) of
/// the shard's entries.
const SMALL_SHARE: usize = 10;

/// The per-shard policy state (under the shard lock).
#[derive(Default)]
pub(crate) struct Policy {
    pub(crate) hand_small: usize,
    pub(crate) hand_main: usize,
    /// Entries in the small queue.
    pub(crate) small: usize,
    pub(crate) ghost: Ghost,
}

impl Policy {
    /// Whether the next victim comes from the small queue, given the
    /// shard's size and whether the protected entry is in it.
    pub(crate) fn evict_small(&self, len: usize, protected_small: bool) -> bool {
        let small = self.small - usize::from(protected_small);
        small > 0 && (small * SMALL_SHARE >= len || self.small == len)
    }
}

/// Fingerprints of keys recently evicted from the small queue, FIFO.
#[derive(Default)]
pub(crate) struct Ghost {
    set: HashTable<u32>,
    fifo: VecDeque<u32>,
    cap: usize,
}

fn spread(fp: u32) -> u64 {
    // hashbrown takes its tag from the top bits: spread the fingerprint.
    u64::from(fp).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Ghost {
    /// Sets how many fingerprints are remembered.
    pub(crate) fn set_capacity(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// The fingerprint of a key's hash (bits the shard choice does not use).
    pub(crate) fn fingerprint(hash: u64) -> u32 {
        hash as u32
    }

    pub(crate) fn contains(&self, fp: u32) -> bool {
        self.set.find(spread(fp), |&x| x == fp).is_some()
    }

    pub(crate) fn insert(&mut self, fp: u32) {
        if self.cap == 0 || self.contains(fp) {
            return;
        }
        if self.fifo.len() >= self.cap {
            if let Some(old) = self.fifo.pop_front() {
                if let Ok(entry) = self.set.find_entry(spread(old), |&x| x == old) {
                    entry.remove();
                }
            }
        }
        self.fifo.push_back(fp);
        self.set.insert_unique(spread(fp), fp, |&x| spread(x));
    }

    pub(crate) fn clear(&mut self) {
        self.set.clear();
        self.fifo.clear();
    }
}
