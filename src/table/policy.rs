//! The eviction policy of a bounded cache: S3-FIFO (Yang et al., SOSP '23)
//! over a shard's entries.
//!
//! New entries join the back of the *small* (probation) queue. Eviction
//! looks at the front of small while it holds at least a tenth of the
//! shard's weight: an entry read while there moves to the back of the
//! *main* queue, an unread one is evicted and its key's fingerprint kept
//! in a *ghost* queue. A key that comes back while its ghost is remembered
//! goes straight to main. Main is a FIFO with reinsertion (a CLOCK): an
//! entry at its front that was read loses one read and goes to the back;
//! one with none left is evicted. One-hit wonders (a scan) thus pass
//! through small without displacing the working set.
//!
//! The queues are intrusive lists through the entries (see `entry`), so
//! their order survives removals anywhere: an entry removed by a call or
//! by expiry just leaves its queue. Reads only bump the entry's counter (a
//! relaxed load, and a relaxed store until it saturates) under the shard's
//! shared lock: a hit never needs the write lock and never moves anything.

use super::entry::{Entry, MAX_FREQ};
use super::ghost::Ghost;
use crate::list::{self, is_sentinel, Link, Nodes, SENTINEL_BASE};

/// The probation queue.
const SMALL: u8 = 0;
/// The main queue.
const MAIN: u8 = 1;
const QUEUES: usize = 2;

/// The small queue is trimmed while it holds at least 1/`SMALL_SHARE` of
/// the shard's weight.
const SMALL_SHARE: u64 = 10;

/// The reads an entry keeps in main (its counter saturates higher, but
/// main gives an entry at most this many second chances).
const MAIN_CREDITS: u8 = 3;

fn head(queue: u8) -> u32 {
    SENTINEL_BASE + u32::from(queue)
}

/// The entries' policy links and the queues' sentinels, as list nodes.
struct Order<'a, K, V> {
    sentinels: &'a mut [Link; QUEUES],
    entries: &'a mut [Entry<K, V>],
}

impl<K, V> Nodes for Order<'_, K, V> {
    #[inline]
    fn prev(&self, id: u32) -> u32 {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].prev
        } else {
            self.entries[id as usize].order_prev()
        }
    }
    #[inline]
    fn next(&self, id: u32) -> u32 {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].next
        } else {
            self.entries[id as usize].order_next()
        }
    }
    #[inline]
    fn set_prev(&mut self, id: u32, prev: u32) {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].prev = prev;
        } else {
            self.entries[id as usize].set_order_prev(prev);
        }
    }
    #[inline]
    fn set_next(&mut self, id: u32, next: u32) {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].next = next;
        } else {
            self.entries[id as usize].set_order_next(next);
        }
    }
}

/// A shard's policy state (under the shard's lock).
pub(crate) struct Policy {
    sentinels: [Link; QUEUES],
    /// The weight on each queue.
    weight: [u64; QUEUES],
    ghost: Ghost,
}

/// An entry the policy chose to evict, already off its queue.
pub(crate) struct Victim {
    pub(crate) id: u32,
    /// It left from probation: remember its key in the ghost queue.
    pub(crate) ghost: bool,
}

impl Policy {
    /// The policy of a shard whose share of the capacity is about `share`
    /// entries (the ghost queue remembers as many).
    pub(crate) fn new(share: usize) -> Self {
        Policy {
            sentinels: [Link::empty(head(SMALL)), Link::empty(head(MAIN))],
            weight: [0; QUEUES],
            ghost: Ghost::new(share),
        }
    }

    fn order<'a, K, V>(
        sentinels: &'a mut [Link; QUEUES],
        entries: &'a mut [Entry<K, V>],
    ) -> Order<'a, K, V> {
        Order { sentinels, entries }
    }

    fn push<K, V>(&mut self, entries: &mut [Entry<K, V>], queue: u8, id: u32, weight: u64) {
        let entry = &mut entries[id as usize];
        entry.set_queue(queue);
        self.weight[queue as usize] += weight;
        list::push_back(&mut Self::order(&mut self.sentinels, entries), head(queue), id);
    }

    fn pop<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32, weight: u64) -> u8 {
        let queue = entries[id as usize].queue();
        self.weight[queue as usize] -= weight;
        list::unlink(&mut Self::order(&mut self.sentinels, entries), id);
        queue
    }

    /// Places a new entry of `weight` whose key hashes to `hash`.
    pub(crate) fn admit<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        id: u32,
        weight: u64,
        hash: u64,
    ) {
        let queue = if self.ghost.contains(Ghost::fingerprint(hash)) { MAIN } else { SMALL };
        entries[id as usize].set_freq(0);
        self.push(entries, queue, id, weight);
    }

    /// Takes an entry that is leaving the cache off its queue.
    pub(crate) fn forget<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32, weight: u64) {
        self.pop(entries, id, weight);
    }

    /// An entry's weight changed from `old` to `new`.
    pub(crate) fn reweigh<K, V>(&mut self, entries: &[Entry<K, V>], id: u32, old: u64, new: u64) {
        let queue = entries[id as usize].queue() as usize;
        self.weight[queue] = self.weight[queue] - old + new;
    }

    /// Remembers the key of an entry evicted from probation.
    pub(crate) fn remember(&mut self, hash: u64) {
        self.ghost.insert(Ghost::fingerprint(hash));
    }

    /// Picks the next entry to evict, never `protect`, and takes it off its
    /// queue; `None` when there is nothing else to evict. Entries looked at
    /// on the way are moved (promoted or given a second chance); the
    /// protected one goes to the back of its queue.
    pub(crate) fn victim<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        weight_of: impl Fn(u32) -> u64,
        protect: Option<u32>,
    ) -> Option<Victim> {
        let spared = protect.map(|id| {
            let weight = weight_of(id);
            (id, self.pop(entries, id, weight), weight)
        });
        let victim = self.choose(entries, &weight_of);
        if let Some((id, queue, weight)) = spared {
            self.push(entries, queue, id, weight);
        }
        victim
    }

    fn choose<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        weight_of: &impl Fn(u32) -> u64,
    ) -> Option<Victim> {
        // Every look promotes an entry or takes a read away from it: a
        // victim turns up within a few sweeps.
        for _ in 0..(usize::from(MAX_FREQ) + 2) * (entries.len() + 1) {
            let order = Self::order(&mut self.sentinels, entries);
            let (small, main) = (list::front(&order, head(SMALL)), list::front(&order, head(MAIN)));
            let total = self.weight[SMALL as usize] + self.weight[MAIN as usize];
            let (queue, front) = match (small, main) {
                (Some(s), Some(_)) if self.weight[SMALL as usize] * SMALL_SHARE >= total => {
                    (SMALL, s)
                }
                (Some(s), None) => (SMALL, s),
                (_, Some(m)) => (MAIN, m),
                (None, None) => return None,
            };
            let weight = weight_of(front);
            let freq = entries[front as usize].freq();
            self.pop(entries, front, weight);
            if freq == 0 {
                return Some(Victim { id: front, ghost: queue == SMALL });
            }
            // Read since it joined (small) or since main last looked: to
            // the back of main with one read less.
            let left = if queue == SMALL { 0 } else { freq.min(MAIN_CREDITS) - 1 };
            entries[front as usize].set_freq(left);
            self.push(entries, MAIN, front, weight);
        }
        None
    }

    /// Forgets every entry and ghost (the shard was emptied).
    pub(crate) fn clear(&mut self) {
        self.sentinels = [Link::empty(head(SMALL)), Link::empty(head(MAIN))];
        self.weight = [0; QUEUES];
        self.ghost.clear();
    }

    /// Relinks an entry moved to id `to` by a compaction.
    pub(crate) fn relink<K, V>(&mut self, entries: &mut [Entry<K, V>], to: u32) {
        list::relink(&mut Self::order(&mut self.sentinels, entries), to);
    }

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    /// Checks the queues: every occupied entry on exactly the queue it
    /// names, the weights right. Panics on a broken invariant.
    pub(crate) fn assert_invariants<K, V>(
        &self,
        entries: &[Entry<K, V>],
        weight_of: impl Fn(u32) -> u64,
    ) {
        struct View<'a, K, V>(&'a [Link; QUEUES], &'a [Entry<K, V>]);
        impl<K, V> Nodes for View<'_, K, V> {
            fn prev(&self, id: u32) -> u32 {
                if is_sentinel(id) {
                    self.0[(id - SENTINEL_BASE) as usize].prev
                } else {
                    self.1[id as usize].order_prev()
                }
            }
            fn next(&self, id: u32) -> u32 {
                if is_sentinel(id) {
                    self.0[(id - SENTINEL_BASE) as usize].next
                } else {
                    self.1[id as usize].order_next()
                }
            }
            fn set_prev(&mut self, _: u32, _: u32) {
                unreachable!("a read-only view")
            }
            fn set_next(&mut self, _: u32, _: u32) {
                unreachable!("a read-only view")
            }
        }
        let view = View(&self.sentinels, entries);
        let mut seen = 0;
        for queue in [SMALL, MAIN] {
            let mut weight = 0;
            seen += list::walk(&view, head(queue), |id| {
                let entry = &entries[id as usize];
                assert!(entry.is_occupied(), "vacant entry {id} on queue {queue}");
                assert_eq!(entry.queue(), queue, "entry {id} names the wrong queue");
                weight += weight_of(id);
            });
            assert_eq!(weight, self.weight[queue as usize], "weight of queue {queue}");
        }
        let occupied = entries.iter().filter(|e| e.is_occupied()).count();
        assert_eq!(seen, occupied, "entries on no queue");
    }
}
