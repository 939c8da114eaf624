//! The state behind a [`Cache`](crate::Cache) handle, and the work every
//! call shares: writing into a locked shard (making room in a bounded
//! cache), reaping expired entries, and reporting removals once the lock is
//! released.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::expiry::{self, Driver, Expire};
use crate::listener::{deliver, Listener, Notice, RemovalCause};
use crate::stats::{add_locked, ReadCounters};
use crate::table::{Protect, Reaped, Shard, ShardState, Slot, Table};
use crate::time::{self, Clock, NEVER};

/// Entries reaped under one hold of a shard lock: the expiry thread lets
/// readers in between batches.
const REAP_BATCH: usize = 64;

/// The state a cache's handles share.
pub(crate) struct Inner<K, V, S> {
    pub(crate) table: Table<K, V, S>,
    pub(crate) clock: Clock,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) negative_ttl: Duration,
    pub(crate) listener: Option<Listener<K, V>>,
    /// No deadline in the cache is earlier than this (see `expiry`).
    pub(crate) next_due: AtomicU64,
    /// The expiry thread serving this cache; unset on a mock clock.
    pub(crate) driver: OnceLock<Arc<Driver>>,
    pub(crate) closed: AtomicBool,
    /// Where `popitem` (and eviction in other shards) starts looking, so
    /// repeated calls spread over shards.
    pub(crate) cursor: AtomicUsize,
    /// `max_capacity`, and the entries counted against it (markers and
    /// expired entries not yet reaped included).
    pub(crate) capacity: Option<usize>,
    pub(crate) entries: Arc<AtomicUsize>,
    /// Hits, misses and negative hits.
    pub(crate) reads: ReadCounters,
    /// Nanoseconds per wheel tick.
    pub(crate) tick: u64,
}

/// Entries a write removed to make room: nearly always one, kept inline so
/// that an eviction allocates nothing.
pub(crate) struct Victims<K, V> {
    first: Option<(Slot<K, V>, RemovalCause)>,
    rest: Vec<(Slot<K, V>, RemovalCause)>,
}

impl<K, V> Default for Victims<K, V> {
    fn default() -> Self {
        Victims { first: None, rest: Vec::new() }
    }
}

impl<K, V> Victims<K, V> {
    fn push(&mut self, victim: (Slot<K, V>, RemovalCause)) {
        if self.first.is_none() {
            self.first = Some(victim);
        } else {
            self.rest.push(victim);
        }
    }

    fn into_iter(self) -> impl Iterator<Item = (Slot<K, V>, RemovalCause)> {
        self.first.into_iter().chain(self.rest)
    }
}

/// What a write did, to finish once the lock is released.
pub(crate) struct Put<K, V> {
    /// The value it replaced.
    pub(crate) notice: Option<Notice<K, V>>,
    /// Entries removed to make room (a bounded cache only).
    pub(crate) victims: Victims<K, V>,
    /// The inserting shard could not make room: look in the others.
    pub(crate) elsewhere: bool,
    /// The hash of the key written.
    pub(crate) hash: u64,
}

/// The current time, read from the clock at most once, when first needed.
pub(crate) struct Now<'a> {
    pub(crate) clock: &'a Clock,
    pub(crate) at: Option<u64>,
}

impl Now<'_> {
    #[inline]
    pub(crate) fn get(&mut self) -> u64 {
        *self.at.get_or_insert_with(|| self.clock.now())
    }

    /// Whether `slot` is expired now; reads the clock only for a slot with
    /// a deadline.
    #[inline]
    pub(crate) fn expired<K, V>(&mut self, slot: &Slot<K, V>) -> bool {
        slot.deadline != NEVER && slot.expired_at(self.get())
    }

    /// The deadline of a TTL starting now.
    #[inline]
    pub(crate) fn deadline(&mut self, ttl: Option<Duration>) -> u64 {
        ttl.map_or(NEVER, |ttl| time::deadline(self.get(), ttl))
    }
}

impl<K, V, S> Inner<K, V, S> {
    #[inline]
    pub(crate) fn now(&self) -> Now<'_> {
        Now { clock: &self.clock, at: None }
    }

    /// Tells the expiry thread about a newly armed deadline.
    #[inline]
    pub(crate) fn armed(&self, deadline: u64) {
        if deadline < self.next_due.load(Relaxed) {
            self.next_due.fetch_min(deadline, SeqCst);
            if let Some(driver) = self.driver.get() {
                driver.schedule(deadline);
            }
        }
    }

    /// Delivers a removal to the listener, if there is one; otherwise just
    /// drops it (outside the lock).
    #[inline]
    pub(crate) fn report(&self, shard: &Shard<K, V>, notice: Option<Notice<K, V>>) {
        if let (Some(listener), Some(notice)) = (&self.listener, notice) {
            deliver(listener, &shard.counters, [notice]);
        }
    }

    /// Reports every value among removed entries.
    pub(crate) fn report_all(
        &self,
        shard: &Shard<K, V>,
        slots: Vec<Slot<K, V>>,
        cause: RemovalCause,
    ) {
        if let Some(listener) = &self.listener {
            let notices = slots.into_iter().filter_map(|s| match s.into_parts() {
                (key, Some(v)) => Some((key, v, cause)),
                (_, None) => None,
            });
            deliver(listener, &shard.counters, notices);
        }
    }

    pub(crate) fn unregister(&self) {
        if !self.closed.swap(true, SeqCst) && self.driver.get().is_some() {
            expiry::unregister();
        }
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Whether a bounded cache holds at least `extra` more than its capacity.
    pub(crate) fn full(&self, extra: usize) -> bool {
        self.capacity.is_some_and(|cap| self.entries.load(Relaxed) >= cap.saturating_add(extra))
    }

    /// Writes `value` under `key` in a locked shard: over entry `found`, or
    /// as a new entry, making room first in a bounded cache.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put(
        &self,
        state: &mut ShardState<K, V>,
        shard: &Shard<K, V>,
        hash: u64,
        found: Option<usize>,
        key: K,
        value: Option<V>,
        deadline: u64,
        now: &mut Now<'_>,
    ) -> Put<K, V> {
        let mut put = Put { notice: None, victims: Victims::default(), elsewhere: false, hash };
        if let Some(i) = found {
            let live = !now.expired(state.slot(i));
            let old = state.replace(i, value);
            state.retime(i, deadline);
            if live {
                add_locked(state, &shard.counters.updates, 1);
            } else {
                add_locked(state, &shard.counters.expirations, 1);
                add_locked(state, &shard.counters.inserts, 1);
            }
            let cause = if live { RemovalCause::Replaced } else { RemovalCause::Expired };
            put.notice = old.map(|v| (key, v, cause));
            return put;
        }
        add_locked(state, &shard.counters.inserts, 1);
        if self.capacity.is_none() {
            state.insert(hash, key, value, deadline, self.table.hasher());
            return put;
        }
        let hasher = self.table.hasher();
        if self.full(0) {
            // Full: this shard's expired entries go first (a cache without
            // deadlines skips this, clock read included).
            if state.timers() > 0 {
                let at = now.get();
                state.begin_reaping();
                while self.full(0) {
                    match state.reap_one(at, &hasher) {
                        Reaped::Expired(slot) => {
                            add_locked(state, &shard.counters.expirations, 1);
                            put.victims.push((slot, RemovalCause::Expired));
                        }
                        Reaped::Progress => {}
                        Reaped::Done => break,
                    }
                }
            }
            // Other shards may hold expired entries: reap those first.
            // `next_due` is the end of the earliest due tick: an entry that
            // expired earlier in the current tick is behind it.
            let next_due = self.next_due.load(Relaxed);
            let tick_end = (now.get() / self.tick).saturating_add(1).saturating_mul(self.tick);
            put.elsewhere = self.full(0) && next_due != NEVER && next_due <= tick_end;
        }
        let i = state.insert(hash, key, value, deadline, &hasher);
        // Checked after the insert, so that racing inserts into a cache one
        // short of full cannot all skip eviction.
        if self.full(1) && !put.elsewhere {
            match state.evict(Some(Protect::Index(i)), &hasher) {
                Some(slot) => {
                    add_locked(state, &shard.counters.evictions, 1);
                    put.victims.push((slot, RemovalCause::Evicted));
                }
                None => put.elsewhere = true,
            }
        }
        put
    }

    /// Finishes a write once the shard lock is released: counts and reports
    /// what it removed, and makes room in other shards if it must.
    pub(crate) fn finish(&self, shard: &Shard<K, V>, put: Put<K, V>, now: &mut Now<'_>) {
        self.report(shard, put.notice);
        if let Some(listener) = &self.listener {
            let notices = put.victims.into_iter().filter_map(|(s, cause)| match s.into_parts() {
                (key, Some(v)) => Some((key, v, cause)),
                (_, None) => None,
            });
            deliver(listener, &shard.counters, notices);
        }
        if put.elsewhere {
            self.trim_elsewhere(shard, put.hash, now.get());
        }
    }

    /// Brings a bounded cache back within capacity from shards other than
    /// `skip`: expired entries first, then one policy victim per shard,
    /// round-robin. One lock at a time.
    pub(crate) fn trim_elsewhere(&self, inserted: &Shard<K, V>, hash: u64, now: u64) {
        self.reap_all(now, true);
        let hasher = self.table.hasher();
        let shards = self.table.shards();
        let start = self.cursor.fetch_add(1, Relaxed);
        for n in 0..shards.len() {
            if !self.full(1) {
                return;
            }
            let shard = &shards[(start + n) % shards.len()];
            // The entry just written is not a candidate.
            let protect = std::ptr::eq(shard, inserted).then_some(Protect::Hash(hash));
            let mut state = shard.state.write();
            let victim = state.evict(protect, &hasher);
            if victim.is_some() {
                add_locked(&mut state, &shard.counters.evictions, 1);
            }
            drop(state);
            if let Some((key, value)) = victim.map(Slot::into_parts) {
                self.report(shard, value.map(|v| (key, v, RemovalCause::Evicted)));
            }
        }
    }

    /// Reaps every shard that has due timers (`exact`: any timer whose tick
    /// has begun; otherwise, as the expiry thread does, whose tick has
    /// ended), and publishes the next deadline (see `expiry`).
    pub(crate) fn reap_all(&self, now: u64, exact: bool) {
        self.next_due.store(NEVER, SeqCst);
        for shard in self.table.shards() {
            let state = shard.state.read();
            let (due, next) = (state.may_have_expired(now), state.next_due());
            drop(state);
            let next = if (exact && due) || (!exact && next <= now) {
                self.reap_shard(shard, now)
            } else {
                next
            };
            self.next_due.fetch_min(next, SeqCst);
        }
    }

    /// Removes the expired entry `i`, counting it.
    pub(crate) fn reap_entry(
        &self,
        state: &mut ShardState<K, V>,
        shard: &Shard<K, V>,
        i: usize,
        hash: u64,
    ) -> Option<Notice<K, V>> {
        let slot = state.remove(i, hash, self.table.hasher());
        add_locked(state, &shard.counters.expirations, 1);
        let (key, value) = slot.into_parts();
        Some((key, value?, RemovalCause::Expired))
    }

    /// Reaps everything due at `now` in one shard, in batches that release
    /// the lock in between; returns the shard's next due time.
    pub(crate) fn reap_shard(&self, shard: &Shard<K, V>, now: u64) -> u64 {
        let hasher = self.table.hasher();
        let mut first = true;
        loop {
            let mut reaped = Vec::new();
            let mut state = shard.state.write();
            if first {
                state.begin_reaping();
                first = false;
            }
            let mut done = false;
            for _ in 0..REAP_BATCH {
                match state.reap_one(now, &hasher) {
                    Reaped::Expired(slot) => reaped.push(slot),
                    Reaped::Progress => {}
                    Reaped::Done => {
                        done = true;
                        break;
                    }
                }
            }
            let next = state.next_due();
            add_locked(&mut state, &shard.counters.expirations, reaped.len() as u64);
            drop(state);
            self.report_all(shard, reaped, RemovalCause::Expired);
            if done {
                return next;
            }
        }
    }
}

impl<K, V, S> Expire for Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Send + Sync,
{
    fn next_due(&self) -> u64 {
        self.next_due.load(SeqCst)
    }

    fn run_due(&self, now: u64) {
        self.reap_all(now, false);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

impl<K, V, S> Drop for Inner<K, V, S> {
    fn drop(&mut self) {
        self.unregister();
    }
}
