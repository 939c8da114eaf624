//! The ghost queue: fingerprints of keys lately evicted from the policy's
//! probation queue, first in, first out, so that a key that comes back soon
//! after is recognised.

use std::collections::VecDeque;

use hashbrown::HashTable;

/// Fingerprints of keys recently evicted, FIFO, with a set for lookups.
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
    /// A ghost queue remembering up to `cap` fingerprints.
    pub(crate) fn new(cap: usize) -> Self {
        Ghost { cap, ..Ghost::default() }
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
