//! One stripe of the table: an index, the entries, and their timing wheel.
//!
//! Entries live densely in `slots`; `index` is a `hashbrown::HashTable` of
//! positions into `slots` (4 bytes a bucket, so a sparse table costs little),
//! and each entry carries its timer's intrusive [`Link`], so the shard's
//! [`Wheel`] needs no storage of its own. Removal is `swap_remove`: the last
//! entry moves into the hole, and its index bucket and timer links are
//! repointed. Everything here runs under the shard's lock (see `table`).

use std::borrow::Borrow;
use std::mem;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use hashbrown::HashTable;

use super::policy::{Ghost, Policy, MAX_FREQ};
use super::slot::Slot;
use crate::load::Flight;
use crate::time::NEVER;
use crate::wheel::{Link, Polled, Timers, Wheel};

/// The entry an eviction must spare: the one just written.
pub(crate) enum Protect {
    /// By position.
    Index(usize),
    /// By the hash of its key (a key with that exact hash is spared; another
    /// key sharing the full 64-bit hash is spared with it, which is harmless).
    Hash(u64),
}

/// What one step of reaping found.
pub(crate) enum Reaped<K, V> {
    /// An expired entry, now removed.
    Expired(Slot<K, V>),
    /// Work done (timers filed again or put aside), nothing removed yet.
    Progress,
    /// Nothing more is due.
    Done,
}

/// The entries as the wheel sees them: timers with a tick and a link.
struct Timed<'a, K, V> {
    slots: &'a mut [Slot<K, V>],
    tick: u64,
}

impl<K, V> Timers for Timed<'_, K, V> {
    #[inline]
    fn when(&self, id: u32) -> u64 {
        self.slots[id as usize].deadline / self.tick
    }
    #[inline]
    fn link_mut(&mut self, id: u32) -> &mut Link {
        &mut self.slots[id as usize].link
    }
}

/// A copy of the entries' timers, for validation without `&mut`.
struct LinksOnly<'a> {
    links: &'a mut [Link],
    whens: &'a [u64],
}

impl Timers for LinksOnly<'_> {
    fn when(&self, id: u32) -> u64 {
        self.whens[id as usize]
    }
    fn link_mut(&mut self, id: u32) -> &mut Link {
        &mut self.links[id as usize]
    }
}

/// The state behind one shard's lock (the fields a read uses first).
#[repr(C)]
pub(crate) struct ShardState<K, V> {
    slots: Vec<Slot<K, V>>,
    index: HashTable<u32>,
    wheel: Wheel,
    /// Entries holding a value (not markers), expired or not.
    values: usize,
    /// Nanoseconds per wheel tick.
    tick: u64,
    policy: Policy,
    /// The cache-wide entry count of a bounded cache.
    entries: Option<Arc<AtomicUsize>>,
    /// Single-flight loads in progress: few at a time, so a plain list.
    loads: Vec<(u64, K, Arc<Flight<V>>)>,
}

impl<K, V> ShardState<K, V> {
    /// An empty shard. A bounded cache passes its shared entry count and
    /// the shard's share of the capacity (the size of its ghost queue).
    pub(crate) fn new(
        tick: u64,
        now: u64,
        entries: Option<Arc<AtomicUsize>>,
        share: usize,
    ) -> Self {
        let mut policy = Policy::default();
        policy.ghost.set_capacity(share);
        ShardState {
            index: HashTable::new(),
            slots: Vec::new(),
            wheel: Wheel::starting_at(now / tick),
            values: 0,
            tick,
            policy,
            entries,
            loads: Vec::new(),
        }
    }

    /// The load in flight for `key`.
    pub(crate) fn find_load(&self, hash: u64, key: &K) -> Option<Arc<Flight<V>>>
    where
        K: Eq,
    {
        self.loads.iter().find(|(h, k, _)| *h == hash && k == key).map(|(_, _, f)| f.clone())
    }

    /// Registers a load in flight for `key` (which has none).
    pub(crate) fn add_load(&mut self, hash: u64, key: K, flight: Arc<Flight<V>>) {
        self.loads.push((hash, key, flight));
    }

    /// Ends the registration of `flight`.
    pub(crate) fn remove_load(&mut self, flight: &Arc<Flight<V>>) {
        self.loads.retain(|(_, _, f)| !Arc::ptr_eq(f, flight));
    }

    fn timed(&mut self) -> (&mut Wheel, Timed<'_, K, V>) {
        (&mut self.wheel, Timed { slots: &mut self.slots, tick: self.tick })
    }

    /// The position of `key`'s entry.
    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.slots;
        self.index.find(hash, |&i| slots[i as usize].key.borrow() == key).map(|&i| i as usize)
    }

    #[inline]
    pub(crate) fn slot(&self, i: usize) -> &Slot<K, V> {
        &self.slots[i]
    }

    pub(crate) fn slots(&self) -> &[Slot<K, V>] {
        &self.slots
    }

    /// Entries, markers included, expired or not.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Entries holding a value, expired or not.
    pub(crate) fn values(&self) -> usize {
        self.values
    }

    /// Timers in the wheel.
    pub(crate) fn timers(&self) -> usize {
        self.wheel.len()
    }

    /// Adds a new entry (the key must be absent); returns its position.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: Option<V>,
        deadline: u64,
        hasher: impl Fn(&K) -> u64,
    ) -> usize {
        let i = self.slots.len();
        let id = u32::try_from(i).expect("a shard holds at most u32::MAX - 1 entries");
        self.values += usize::from(value.is_some());
        // A key evicted lately from the small queue comes back to main.
        let main = self.entries.is_some() && self.policy.ghost.contains(Ghost::fingerprint(hash));
        self.policy.small += usize::from(!main);
        if let Some(entries) = &self.entries {
            entries.fetch_add(1, Relaxed);
        }
        self.slots.push(Slot::new(key, value, deadline, main));
        let slots = &self.slots;
        self.index.insert_unique(hash, id, |&j| hasher(&slots[j as usize].key));
        if deadline != NEVER {
            let (wheel, mut timed) = self.timed();
            wheel.insert(&mut timed, id);
        }
        i
    }

    /// Puts a new value (or marker) in entry `i`; returns the old one.
    pub(crate) fn replace(&mut self, i: usize, value: Option<V>) -> Option<V> {
        let old = self.slots[i].replace(value);
        self.values =
            self.values + usize::from(self.slots[i].has_value()) - usize::from(old.is_some());
        old
    }

    /// Gives entry `i` a new deadline, moving its one timer if it is earlier.
    pub(crate) fn retime(&mut self, i: usize, deadline: u64) {
        let old = self.slots[i].deadline;
        if old == deadline {
            return;
        }
        if old != NEVER && deadline != NEVER && deadline > old {
            // Later: the timer stays where it is, and is filed again when its
            // old slot comes round (`reap_one`). Renewing a TTL — the common
            // re-time — touches no list.
            self.slots[i].deadline = deadline;
            return;
        }
        let id = i as u32;
        let (wheel, mut timed) = self.timed();
        if old != NEVER {
            wheel.remove(&mut timed, id);
        }
        timed.slots[i].deadline = deadline;
        if deadline != NEVER {
            wheel.insert(&mut timed, id);
        }
    }

    /// Removes entry `i`, whose key hashes to `hash`.
    pub(crate) fn remove(&mut self, i: usize, hash: u64, hasher: impl Fn(&K) -> u64) -> Slot<K, V> {
        let id = i as u32;
        let last = self.slots.len() - 1;
        match self.index.find_entry(hash, |&j| j == id) {
            Ok(bucket) => {
                bucket.remove();
            }
            Err(_) => unreachable!("entry {i} is not in the index"),
        }
        let (wheel, mut timed) = self.timed();
        wheel.remove(&mut timed, id);
        let slot = self.slots.swap_remove(i);
        self.values -= usize::from(slot.has_value());
        self.policy.small -= usize::from(!slot.main);
        if let Some(entries) = &self.entries {
            entries.fetch_sub(1, Relaxed);
        }
        if i != last {
            // The last entry moved into the hole: repoint its bucket and links.
            let moved = hasher(&self.slots[i].key);
            let from = last as u32;
            match self.index.find_mut(moved, |&j| j == from) {
                Some(bucket) => *bucket = id,
                None => unreachable!("moved entry {last} is not in the index"),
            }
            let (wheel, mut timed) = self.timed();
            wheel.relocate(&mut timed, from, id);
        }
        slot
    }

    /// Removes every entry, returning them.
    pub(crate) fn take_all(&mut self) -> Vec<Slot<K, V>> {
        self.index.clear();
        self.wheel = Wheel::starting_at(self.wheel.elapsed());
        self.values = 0;
        self.policy.small = 0;
        self.policy.ghost.clear();
        if let Some(entries) = &self.entries {
            entries.fetch_sub(self.slots.len(), Relaxed);
        }
        mem::take(&mut self.slots)
    }

    /// Starts a pass of reaping: timers put aside by the last pass are
    /// looked at again.
    pub(crate) fn begin_reaping(&mut self) {
        let (wheel, mut timed) = self.timed();
        wheel.undefer(&mut timed);
    }

    /// One bounded step of reaping: takes the next entry whose deadline is
    /// at or before `now`, or does a little of the wheel's work.
    pub(crate) fn reap_one(&mut self, now: u64, hasher: impl Fn(&K) -> u64) -> Reaped<K, V> {
        let tick = self.tick;
        let (wheel, mut timed) = self.timed();
        let id = match wheel.poll_step(&mut timed, now / tick) {
            Polled::Due(id) => id,
            Polled::Busy => return Reaped::Progress,
            Polled::Idle => return Reaped::Done,
        };
        let i = id as usize;
        let deadline = self.slots[i].deadline;
        if !self.slots[i].expired_at(now) {
            let (wheel, mut timed) = self.timed();
            if deadline / tick > wheel.elapsed() {
                // Re-timed later since the timer was armed: file it anew,
                // in a slot this pass will not reach.
                wheel.insert(&mut timed, id);
            } else {
                // Not due at this caller's `now`, though its tick has come
                // (ticks round deadlines down, and the wheel may have been
                // advanced by a caller with a later reading): put it aside
                // so that this pass does not see it again.
                wheel.defer(&mut timed, id);
            }
            return Reaped::Progress;
        }
        debug_assert_ne!(deadline, NEVER);
        let hash = hasher(&self.slots[i].key);
        Reaped::Expired(self.remove(i, hash, hasher))
    }

    /// Evicts one entry by the policy, never the `protect`ed one; `None` if
    /// there is nothing else to evict.
    pub(crate) fn evict(
        &mut self,
        protect: Option<Protect>,
        hasher: impl Fn(&K) -> u64,
    ) -> Option<Slot<K, V>> {
        let len = self.slots.len();
        let protect = match protect {
            Some(Protect::Index(i)) => Some(i),
            Some(Protect::Hash(hash)) => self
                .index
                .find(hash, |&j| hasher(&self.slots[j as usize].key) == hash)
                .map(|&j| j as usize),
            None => None,
        };
        let protected_small = protect.is_some_and(|p| !self.slots[p].main);
        if len <= usize::from(protect.is_some()) {
            return None;
        }
        // Every credit is at most MAX_FREQ and each look takes one away or
        // moves the hand: a victim turns up within a few sweeps.
        for _ in 0..(MAX_FREQ as usize + 2) * (len + 1) {
            let from_small = self.policy.evict_small(self.slots.len(), protected_small);
            let hand =
                if from_small { &mut self.policy.hand_small } else { &mut self.policy.hand_main };
            if *hand >= self.slots.len() {
                *hand = 0;
            }
            let i = *hand;
            let slot = &mut self.slots[i];
            if Some(i) == protect || slot.main == from_small {
                *hand += 1;
                continue;
            }
            let freq = slot.freq.get_mut();
            if *freq > 0 {
                if from_small {
                    slot.main = true;
                    self.policy.small -= 1;
                    *freq = 0;
                } else {
                    *freq -= 1;
                }
                *hand += 1;
                continue;
            }
            let hash = hasher(&slot.key);
            if from_small {
                self.policy.ghost.insert(Ghost::fingerprint(hash));
            }
            return Some(self.remove(i, hash, hasher));
        }
        None
    }

    /// Whether an entry may have expired by `now`: the wheel holds a timer
    /// whose tick has begun.
    pub(crate) fn may_have_expired(&self, now: u64) -> bool {
        self.wheel.next_expiration().is_some_and(|t| t <= now / self.tick)
    }

    /// Checks every invariant of the shard, panicking on a broken one.
    pub(crate) fn validate(&self, hasher: impl Fn(&K) -> u64) {
        assert_eq!(self.index.len(), self.slots.len(), "index and entries differ in size");
        for (i, slot) in self.slots.iter().enumerate() {
            let hash = hasher(&slot.key);
            assert!(self.index.find(hash, |&j| j as usize == i).is_some(), "entry {i} not indexed");
            assert_eq!(
                slot.link.is_linked(),
                slot.deadline != NEVER,
                "entry {i}: timer vs deadline"
            );
        }
        let values = self.slots.iter().filter(|s| s.has_value()).count();
        assert_eq!(values, self.values, "value count");
        let small = self.slots.iter().filter(|s| !s.main).count();
        assert_eq!(small, self.policy.small, "small-queue count");
        // The wheel's lists: links, tags and count agree.
        let mut slots: Vec<Link> = self.slots.iter().map(|s| s.link).collect();
        let whens: Vec<u64> = self.slots.iter().map(|s| s.deadline / self.tick).collect();
        self.wheel.validate(&mut LinksOnly { links: &mut slots, whens: &whens });
    }

    /// The earliest time (nanoseconds) at which reaping can find work:
    /// the end of the wheel's next due tick; `NEVER` with no timers.
    pub(crate) fn next_due(&self) -> u64 {
        match self.wheel.next_expiration() {
            Some(t) => t.saturating_add(1).saturating_mul(self.tick),
            None => NEVER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path that moves or drops entries, on heap-owning keys and
    /// values, with the invariants checked after each step (and, under
    /// Miri, every drop checked).
    #[test]
    fn entries_survive_every_move() {
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let h = |k: &String| hasher.hash_one(k);
        let mut shard: ShardState<String, String> =
            ShardState::new(10, 0, Some(Arc::new(AtomicUsize::new(0))), 4);
        for n in 0..12u64 {
            let key = format!("k{n}");
            let deadline = if n % 3 == 0 { NEVER } else { 100 + n * 7 };
            let value = (n % 4 != 0).then(|| format!("v{n}"));
            shard.insert(h(&key), key, value, deadline, h);
            shard.validate(h);
        }
        let i = shard.find(h(&"k5".to_string()), "k5").unwrap();
        assert_eq!(shard.replace(i, Some("new".into())).as_deref(), Some("v5"));
        shard.retime(i, 50);
        shard.retime(i, 500);
        shard.validate(h);
        let victim = shard.evict(Some(Protect::Index(0)), h).expect("something to evict");
        drop(victim);
        shard.validate(h);
        shard.begin_reaping();
        let mut reaped = 0;
        loop {
            match shard.reap_one(160, h) {
                Reaped::Expired(slot) => {
                    assert!(slot.deadline <= 160);
                    reaped += 1;
                }
                Reaped::Progress => {}
                Reaped::Done => break,
            }
            shard.validate(h);
        }
        assert!(reaped > 0);
        let i = shard.find(h(&"k3".to_string()), "k3").unwrap();
        let (key, value) = shard.remove(i, h(&"k3".to_string()), h).into_parts();
        assert_eq!((key.as_str(), value.as_deref()), ("k3", Some("v3")));
        shard.validate(h);
        let rest = shard.take_all();
        assert!(!rest.is_empty());
        shard.validate(h);
    }
}
