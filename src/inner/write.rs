//! The one write path: [`Write`], a shard's write lock with what the write
//! did, and the write calls built on it.
//!
//! A write takes its key's shard lock, changes entries through the guard
//! (which counts every event, keeps the capacity's books and collects what
//! it removed), then drops the guard, which, in this order: gives unused
//! capacity back to the pool, publishes the shard's next due tick,
//! releases the lock, tells the expiry thread about an earlier deadline,
//! and reports the removals. The expiry protocol depends on that order
//! (see `expiry`), so it lives here once.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::mem;
use std::time::Duration;

use parking_lot::RwLockWriteGuard;

use super::load::Load;
use super::reap::Mode;
use super::room::Elsewhere;
use super::{Expiry, Inner};
use crate::counter::Counter;
use crate::error::Error;
use crate::listener::RemovalCause;
use crate::stats::Read;
use crate::table::{Event, Parts, Reaped, Shard, ShardState};
use crate::time::{Now, NEVER};

/// Tries a write makes at room in other shards before it goes ahead over
/// the capacity (see `Room::force`).
const TRIES: usize = 8;

/// How hard a write tries to make room in its own shard.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Try {
    /// Other shards' expired entries were reaped already (some of them may
    /// be due later in the current tick): evict here rather than ask again.
    pub(crate) reaped: bool,
    /// The last try: go ahead over the capacity if room cannot be made.
    pub(crate) last: bool,
}

impl Try {
    /// The try number `tries`, after the room made elsewhere so far.
    pub(crate) fn nth(tries: usize, reaped: bool) -> Try {
        Try { reaped, last: tries == TRIES }
    }
}

/// Removals of one write, reported after the lock is released: nearly
/// always at most one, kept inline so that an eviction allocates nothing.
struct Out<K, V> {
    first: Option<(Parts<K, V>, RemovalCause)>,
    rest: Vec<(Parts<K, V>, RemovalCause)>,
}

impl<K, V> Out<K, V> {
    fn push(&mut self, parts: Parts<K, V>, cause: RemovalCause) {
        if self.first.is_none() {
            self.first = Some((parts, cause));
        } else {
            self.rest.push((parts, cause));
        }
    }
}

/// A shard's write lock and what the write did. Dropping it commits.
pub(crate) struct Write<'a, K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    inner: &'a Inner<K, V, S>,
    shard: &'a Shard<K, V, Load<V>>,
    state: Option<RwLockWriteGuard<'a, ShardState<K, V, Load<V>>>>,
    /// The hash of the key written, for a keyed write.
    hash: Option<u64>,
    pub(crate) now: Now<'a>,
    out: Out<K, V>,
    /// Capacity taken from the pool or freed by this write, not yet used.
    credit: u64,
    /// The earliest expiry this write armed.
    armed: u64,
}

/// What making room for a write came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Made {
    /// The write's credit holds the room it asked for.
    Room,
    /// The policy left the new key out: nothing was evicted for it, and it
    /// is reported evicted, as if stored and evicted at once.
    Refusal,
}

/// A write that found no room in its shard gives back what it was to
/// write, and says where to look.
pub(crate) type Refused<K, V> = (K, Option<V>, Elsewhere);

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    /// Takes the write lock of the shard of `hash`.
    #[inline]
    pub(crate) fn write(&self, hash: u64) -> Write<'_, K, V, S> {
        self.write_shard(self.table.locate(hash), Some(hash))
    }

    /// [`write`](Inner::write) for a write that may give a TTL (`ttl`):
    /// with one, the clock is read before the lock is taken and is the
    /// write's time. A reading under the lock would make every other caller
    /// of the shard wait the longer, and the TTL runs from the start of the
    /// call either way.
    #[inline]
    pub(crate) fn write_timed(&self, hash: u64, ttl: Option<Duration>) -> Write<'_, K, V, S> {
        // The index's lines come in while the clock is read.
        let shard = self.table.locate(hash);
        let at = ttl.map(|_| self.clock.now());
        let mut w = self.write_shard(shard, Some(hash));
        if let Some(at) = at {
            w.now.set(at);
        }
        w
    }

    fn write_shard<'a>(
        &'a self,
        shard: &'a Shard<K, V, Load<V>>,
        hash: Option<u64>,
    ) -> Write<'a, K, V, S> {
        Write {
            inner: self,
            shard,
            state: Some(shard.write()),
            hash,
            now: self.now(),
            out: Out { first: None, rest: Vec::new() },
            credit: 0,
            armed: NEVER,
        }
    }
}

impl<K, V, S> Write<'_, K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    #[inline]
    fn state(&mut self) -> &mut ShardState<K, V, Load<V>> {
        self.state.as_mut().expect("the lock is held until the guard drops")
    }

    #[inline]
    pub(crate) fn state_mut(&mut self) -> &mut ShardState<K, V, Load<V>> {
        self.state()
    }

    /// Drops `key` (taken out of the shard) after the lock is released.
    pub(crate) fn keep_until_commit(&mut self, key: Option<K>) {
        if let Some(key) = key {
            // Without a value nothing is reported: the key is just dropped.
            self.out.push((key, None), RemovalCause::Removed);
        }
    }

    #[inline]
    pub(crate) fn state_ref(&self) -> &ShardState<K, V, Load<V>> {
        self.state.as_ref().expect("the lock is held until the guard drops")
    }

    #[inline]
    fn count(&mut self, event: Event, n: u64) {
        let shard = self.shard;
        shard.counters.add(self.state(), event, n);
    }

    /// Points a keyed write at another key of the same shard.
    pub(crate) fn rekey(&mut self, hash: u64) {
        debug_assert!(std::ptr::eq(self.shard, self.inner.table.shard(hash)));
        self.hash = Some(hash);
    }

    /// The id of `key`'s entry (expired or not); a keyed write only.
    #[inline]
    pub(crate) fn find<Q>(&self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let hash = self.hash.expect("a keyed write");
        self.state_ref().find(hash, key)
    }

    /// The entry of `key` if it is live now; an expired one is reaped
    /// (reported `Expired`) and counts as absent.
    pub(crate) fn find_live<Q>(&mut self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let id = self.find(key)?;
        if self.is_live(id) {
            Some(id)
        } else {
            self.reap(id);
            None
        }
    }

    /// Whether entry `id` is live now.
    #[inline]
    pub(crate) fn is_live(&mut self, id: u32) -> bool {
        let expiry = self.state_ref().expiry(id);
        self.now.before(expiry)
    }

    /// The value of entry `id`.
    #[inline]
    pub(crate) fn value(&self, id: u32) -> Option<&V> {
        self.state_ref().entry(id).value()
    }

    /// Records a read of live entry `id` (for the policy and the time to
    /// idle), as a lookup under the shared lock does.
    pub(crate) fn on_read(&mut self, id: u32) {
        let now = if self.inner.idle.is_some() { self.now.get() } else { 0 };
        self.state_ref().on_read(id, || now);
    }

    /// Removes entry `id`, which a call found expired (reported `Expired`).
    pub(crate) fn reap(&mut self, id: u32) {
        let parts = self.take(id, Event::Expiration);
        self.out.push(parts, RemovalCause::Expired);
    }

    /// Removes live entry `id` for a call; its parts go to the caller.
    pub(crate) fn remove(&mut self, id: u32) -> Parts<K, V> {
        self.take(id, Event::Removal)
    }

    fn take(&mut self, id: u32, event: Event) -> Parts<K, V> {
        let hash = self.hash;
        let hasher = self.inner.table.hasher();
        let weight = self.state_ref().weight(id);
        let parts = self.state().remove(id, hash, &hasher);
        self.credit += weight;
        self.count(event, 1);
        parts
    }

    /// Gives entry `id` a new deadline.
    #[inline]
    pub(crate) fn retime(&mut self, id: u32, deadline: u64) {
        if self.inner.idle.is_none() && self.state_ref().expiry(id) == deadline {
            // The same deadline, as every write without a TTL keeps: the
            // wheel and the expiry thread know it already.
            return;
        }
        // A write counts as an access only for the time to idle.
        let now = if self.inner.idle.is_some() { self.now.get() } else { 0 };
        self.state().retime(id, deadline, now);
        self.arm(id);
    }

    fn arm(&mut self, id: u32) {
        let expiry = self.state_ref().expiry(id);
        self.armed = self.armed.min(expiry);
    }

    /// Stores `value` of `weight` in entry `id` (live or expired) under
    /// `key` (the notice of the replaced value carries it), with
    /// `deadline`, or keeping the deadline if `None`.
    #[inline]
    pub(crate) fn overwrite(
        &mut self,
        id: u32,
        key: K,
        value: Option<V>,
        deadline: Option<u64>,
        weight: u32,
        attempt: Try,
    ) -> Result<(), Refused<K, V>> {
        if !self.is_live(id) {
            // An expired entry goes (reported `Expired`) and the key comes
            // back as new: room is made for it like for any new key (and
            // making room cannot then reap the entry being written).
            self.reap(id);
            return self.insert(key, value, deadline.unwrap_or(NEVER), weight, attempt);
        }
        let old_weight = self.state_ref().weight(id);
        if self.inner.room.is_some() && u64::from(weight) > old_weight {
            // The entry's own weight is freed by the write; room for the
            // rest, never at its expense.
            self.credit += old_weight;
            // No new key: the policy cannot refuse it.
            if let Err(elsewhere) = self.make_room(u64::from(weight), Some(id), None, attempt) {
                self.credit -= old_weight;
                return Err((key, value, elsewhere));
            }
            self.credit -= u64::from(weight);
        } else if self.inner.room.is_some() {
            self.credit += old_weight - u64::from(weight);
        }
        let old = self.state().replace(id, value, weight);
        match deadline {
            Some(deadline) => self.retime(id, deadline),
            None if self.inner.idle.is_some() => {
                // The deadline stays; the write still renews the idle one
                // (later: the timer stays where it is).
                let now = self.now.get();
                self.state().on_write(id, now);
            }
            None => {}
        }
        self.count(Event::Update, 1);
        self.out.push((key, old), RemovalCause::Replaced);
        Ok(())
    }

    /// Adds a new entry for `key` (absent from the shard), making room in
    /// a bounded cache, unless the policy leaves the key out (reported
    /// evicted; see `Made::Refusal`).
    pub(crate) fn insert(
        &mut self,
        key: K,
        value: Option<V>,
        deadline: u64,
        weight: u32,
        attempt: Try,
    ) -> Result<(), Refused<K, V>> {
        if self.inner.room.is_some() {
            if let Some(hash) = self.hash {
                self.state_ref().prefetch_admission(hash);
            }
            let incoming = self.hash.map(|hash| (hash, u64::from(weight)));
            match self.make_room(u64::from(weight), None, incoming, attempt) {
                Ok(Made::Room) => {}
                Ok(Made::Refusal) => {
                    // Stored and at once evicted, as far as anyone can tell.
                    self.count(Event::Eviction, 1);
                    self.out.push((key, value), RemovalCause::Evicted);
                    return Ok(());
                }
                Err(elsewhere) => return Err((key, value, elsewhere)),
            }
            self.credit -= u64::from(weight);
        }
        let now = if self.inner.idle.is_some() { self.now.get() } else { 0 };
        let hash = self.hash.expect("a keyed write");
        let hasher = self.inner.table.hasher();
        let mut dropped = Vec::new();
        let id =
            self.state().insert(hash, key, value, deadline, weight, now, &hasher, &mut dropped);
        self.count(Event::Insert, 1);
        for (parts, weight) in dropped {
            self.credit += weight;
            self.count(Event::Eviction, 1);
            self.out.push(parts, RemovalCause::Evicted);
        }
        self.arm(id);
        Ok(())
    }

    /// Gathers `need` of capacity in `credit`: from the pool, then from
    /// this shard's expired entries, then by evicting (never `protect`),
    /// unless the policy would rather leave out the new key `incoming`
    /// (its hash and weight) than evict for it. Says where to look instead
    /// when the shard cannot give it: other shards' expired entries go
    /// before this shard's live ones.
    fn make_room(
        &mut self,
        need: u64,
        protect: Option<u32>,
        incoming: Option<(u64, u64)>,
        attempt: Try,
    ) -> Result<Made, Elsewhere> {
        let Some(room) = &self.inner.room else {
            return Ok(Made::Room);
        };
        let hasher = self.inner.table.hasher();
        let mut reaping = false;
        // Only a weighted cache's policy may refuse a new key: it is asked
        // once, before the first eviction.
        let mut judge = self.inner.weigher.is_some();
        loop {
            if self.credit >= need {
                return Ok(Made::Room);
            }
            self.credit += room.take(need - self.credit);
            if self.credit >= need {
                return Ok(Made::Room);
            }
            // The clock is read only if some timer may be due.
            let due_here = self.state_ref().next_tick_start();
            if due_here != NEVER && !self.now.before(due_here) {
                let now = self.now.get();
                let state = self.state();
                if !reaping {
                    state.begin_reaping();
                    reaping = true;
                }
                match state.reap_step(now, &hasher) {
                    Reaped::Expired(parts, weight) => {
                        self.credit += weight;
                        self.count(Event::Expiration, 1);
                        self.out.push(parts, RemovalCause::Expired);
                        continue;
                    }
                    Reaped::Progress => continue,
                    Reaped::Done => {}
                }
            }
            if !attempt.reaped
                && !attempt.last
                && self.inner.due_elsewhere(self.shard, &mut self.now)
            {
                return Err(Elsewhere::Reap);
            }
            if judge {
                judge = false;
                if self.leaves_out(incoming, need) {
                    return Ok(Made::Refusal);
                }
            }
            if let Some((parts, weight)) = self.state().evict(protect, incoming, &hasher) {
                self.credit += weight;
                self.count(Event::Eviction, 1);
                self.out.push(parts, RemovalCause::Evicted);
                continue;
            }
            if attempt.last {
                room.force(need - self.credit);
                self.credit = need;
                return Ok(Made::Room);
            }
            return Err(Elsewhere::Evict(need - self.credit));
        }
    }

    /// Whether the policy of a weighted cache leaves out the new key
    /// `incoming` (its hash and weight) rather than evict for it, with
    /// `need` of room wanted and the write's credit short of it.
    #[cold]
    #[inline(never)]
    fn leaves_out(&mut self, incoming: Option<(u64, u64)>, need: u64) -> bool {
        let Some((hash, weight)) = incoming else {
            return false;
        };
        let hasher = self.inner.table.hasher();
        let missing = need - self.credit;
        self.state().refuses(hash, weight, missing, &hasher)
    }

    /// Commits the write (see the module docs); the same as dropping it.
    #[inline]
    pub(crate) fn commit(self) {}
}

impl<K, V, S> Drop for Write<'_, K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    #[inline]
    fn drop(&mut self) {
        let Some(mut state) = self.state.take() else {
            return;
        };
        let inner = self.inner;
        if let Some(room) = &inner.room {
            room.give(mem::take(&mut self.credit));
        }
        self.shard.publish(&mut state);
        drop(state);
        if self.armed != NEVER {
            inner.arm(self.armed);
        }
        // `rest` fills only after `first`.
        if let Some((parts, cause)) = self.out.first.take() {
            inner.dispose_one(parts, cause);
            if !self.out.rest.is_empty() {
                for (parts, cause) in mem::take(&mut self.out.rest) {
                    inner.dispose_one(parts, cause);
                }
            }
        }
    }
}

// ---- the write calls ---------------------------------------------------

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    /// Whether a shard other than `own` may hold entries expired by now
    /// (`now` is read only if some shard has a timer, and precisely only
    /// if the earliest may be due within the coarse clock's lag).
    pub(crate) fn due_elsewhere(&self, own: &Shard<K, V, Load<V>>, now: &mut Now<'_>) -> bool {
        let bound = self.next_due.load(std::sync::atomic::Ordering::Relaxed);
        if bound == NEVER {
            return false;
        }
        // The bound is the end of the earliest due tick; an entry that
        // expired within the current tick is behind it.
        if now.before(bound.saturating_sub(self.tick.nanos())) {
            return false;
        }
        let now = now.get();
        self.table.shards().iter().any(|s| !std::ptr::eq(s, own) && s.next_due() <= now)
    }

    /// Ends a try that found no room in its shard: releases the shard's
    /// lock, then makes room where `elsewhere` says; returns whether that
    /// reaped expired entries (the next try then knows they are gone).
    fn retry_elsewhere(&self, mut w: Write<'_, K, V, S>, elsewhere: Elsewhere) -> bool {
        let (shard, now) = (w.shard, w.now.get());
        w.commit();
        self.room_elsewhere(shard, elsewhere, now);
        elsewhere == Elsewhere::Reap
    }

    /// Makes room outside shard `own` for a write that found none there.
    fn room_elsewhere(&self, own: &Shard<K, V, Load<V>>, elsewhere: Elsewhere, now: u64) {
        match elsewhere {
            Elsewhere::Reap => {
                for shard in self.table.shards() {
                    if !std::ptr::eq(shard, own) && shard.next_due() <= now {
                        self.reap_shard(shard, now, NEVER, Mode::Inline);
                    }
                }
            }
            Elsewhere::Evict(mut need) => {
                let shards = self.table.shards();
                let start = self.cursor.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let hasher = self.table.hasher();
                for n in 0..shards.len() {
                    let shard = &shards[(start + n) % shards.len()];
                    if std::ptr::eq(shard, own) {
                        continue;
                    }
                    while need > 0 {
                        let mut w = self.write_shard(shard, None);
                        let Some((parts, weight)) = w.state().evict(None, None, &hasher) else {
                            break;
                        };
                        w.credit += weight;
                        w.count(Event::Eviction, 1);
                        w.out.push(parts, RemovalCause::Evicted);
                        need = need.saturating_sub(weight);
                    }
                    if need == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// Stores `value` (`None`: a negative marker) under `key`, replacing
    /// any entry and TTL it had.
    pub(crate) fn store(&self, key: K, value: Option<V>, expiry: Expiry) {
        let hash = self.table.hash(&key);
        self.put_with(hash, key, value, expiry, |_| {});
    }

    /// [`store`](Inner::store) for a key whose hash is known, running
    /// `first` under the shard lock before each try (a loader ending its
    /// flight in the same critical section as it stores its value).
    pub(crate) fn put_with(
        &self,
        hash: u64,
        key: K,
        value: Option<V>,
        expiry: Expiry,
        mut first: impl FnMut(&mut Write<'_, K, V, S>),
    ) {
        let ttl = self.ttl_of(expiry);
        let weight = self.weigh(&key, value.as_ref());
        if ttl == Some(Duration::ZERO) || self.refuses(weight) {
            // Stored already expired (a zero TTL), or heavier than the
            // whole capacity: either way the key is left without an entry.
            let mut w = self.write(hash);
            first(&mut w);
            // Spelled out rather than `find_live`: inlined here, that call
            // changes how the compiler inlines the rest of `store`, and
            // cost every insert some twenty instructions (callgrind).
            if let Some(id) = w.find(&key) {
                if !w.is_live(id) {
                    w.reap(id);
                } else if ttl == Some(Duration::ZERO) {
                    let parts = w.take(id, Event::Removal);
                    w.out.push(parts, RemovalCause::Removed);
                } else {
                    let parts = w.take(id, Event::Update);
                    w.out.push(parts, RemovalCause::Replaced);
                }
            }
            if ttl != Some(Duration::ZERO) {
                w.count(Event::Eviction, 1);
                w.out.push((key, value), RemovalCause::Evicted);
            }
            return;
        }
        let (mut key, mut value) = (key, value);
        let mut reaped = false;
        for tries in 0..=TRIES {
            let attempt = Try::nth(tries, reaped);
            let mut w = self.write_timed(hash, ttl);
            first(&mut w);
            let deadline = w.now.deadline(ttl);
            let done = match w.find(&key) {
                Some(id) => w.overwrite(id, key, value, Some(deadline), weight, attempt),
                None => w.insert(key, value, deadline, weight, attempt),
            };
            match done {
                Ok(()) => return,
                Err((k, v, elsewhere)) => {
                    (key, value) = (k, v);
                    reaped |= self.retry_elsewhere(w, elsewhere);
                }
            }
        }
    }

    /// Stores each of `items` with the default TTL, taking each shard's
    /// lock once for all of its keys, in order (a key that finds no room in
    /// its shard, or weighs more than the capacity, is stored on its own
    /// right then, the lock taken again for the rest).
    pub(crate) fn set_many(&self, items: Vec<(K, V)>) {
        let mut order: Vec<(usize, u64, K, V)> = items
            .into_iter()
            .map(|(key, value)| {
                let hash = self.table.hash(&key);
                (self.table.shard_index(hash), hash, key, value)
            })
            .collect();
        // Stable: a repeated key keeps its values' order.
        order.sort_by_key(|item| item.0);
        let mut items = order.into_iter().peekable();
        while let Some((shard, hash, key, value)) = items.next() {
            let mut next = Some((hash, key, value));
            let mut w = self.write_timed(hash, self.default_ttl);
            while let Some((hash, key, value)) = next.take() {
                w.rekey(hash);
                // The next key's index lines come in while this one is
                // stored (the first key's, as the lock was taken).
                if let Some(item) = items.peek().filter(|item| item.0 == shard) {
                    w.shard.prefetch(item.1);
                }
                let weight = self.weigh(&key, Some(&value));
                let done = if self.refuses(weight) {
                    Err((key, Some(value), Elsewhere::Reap))
                } else {
                    let deadline = w.now.deadline(self.default_ttl);
                    match w.find(&key) {
                        Some(id) => w.overwrite(
                            id,
                            key,
                            Some(value),
                            Some(deadline),
                            weight,
                            Try::default(),
                        ),
                        None => w.insert(key, Some(value), deadline, weight, Try::default()),
                    }
                };
                if let Err((key, value, _)) = done {
                    w.commit();
                    self.put_with(hash, key, value, Expiry::Default, |_| {});
                    w = self.write_timed(hash, self.default_ttl);
                }
                next = items.next_if(|item| item.0 == shard).map(|(_, h, k, v)| (h, k, v));
            }
        }
    }

    /// Removes every live entry for which `keep` says false (reported
    /// `Removed`). `keep` runs on copies, outside every lock, one shard at a
    /// time.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool)
    where
        K: Clone,
        V: Clone,
    {
        for n in 0..self.table.shards().len() {
            let Some(entries) = self.shard_items::<super::read::Entries>(n) else {
                break;
            };
            let gone: Vec<K> =
                entries.into_iter().filter(|(k, v)| !keep(k, v)).map(|(k, _)| k).collect();
            if gone.is_empty() {
                continue;
            }
            let mut w = self.write_shard(&self.table.shards()[n], None);
            for key in gone {
                w.rekey(self.table.hash(&key));
                let Some(id) = w.find_live(&key) else {
                    continue;
                };
                let parts = w.remove(id);
                w.out.push(parts, RemovalCause::Removed);
            }
        }
    }

    /// Whether a value of `weight` can never fit.
    pub(crate) fn refuses(&self, weight: u32) -> bool {
        self.room.as_ref().is_some_and(|room| u64::from(weight) > room.capacity())
    }

    /// The live value of `key`, or stores `default` (default TTL) and
    /// returns it; a negative marker counts as absent.
    pub(crate) fn setdefault(&self, key: K, default: V) -> V
    where
        V: Clone,
    {
        let hash = self.table.hash(&key);
        let stored = default.clone();
        let weight = self.weigh(&key, Some(&stored));
        let (mut key, mut value) = (key, Some(stored));
        let mut reaped = false;
        for tries in 0..=TRIES {
            let mut w = self.write_timed(hash, self.default_ttl);
            let found = w.find(&key);
            let live = found.filter(|&id| w.is_live(id));
            if let Some(v) = live.and_then(|id| w.value(id)) {
                let v = v.clone();
                w.on_read(live.expect("a live value"));
                w.commit();
                self.record(Read::Hit);
                return v;
            }
            if tries == 0 {
                self.record(if live.is_some() { Read::Negative } else { Read::Miss });
            }
            if self.refuses(weight) {
                w.commit();
                self.put_with(hash, key, value, Expiry::Default, |_| {});
                return default;
            }
            let deadline = w.now.deadline(self.default_ttl);
            let attempt = Try::nth(tries, reaped);
            let done = match found {
                Some(id) => w.overwrite(id, key, value, Some(deadline), weight, attempt),
                None => w.insert(key, value, deadline, weight, attempt),
            };
            match done {
                Ok(()) => return default,
                Err((k, v, elsewhere)) => {
                    (key, value) = (k, v);
                    reaped |= self.retry_elsewhere(w, elsewhere);
                }
            }
        }
        default
    }

    /// Adds `amount` to the integer in `key` (see `Cache::incr`).
    pub(crate) fn incr(&self, key: K, amount: i64) -> Result<i64, Error>
    where
        V: Counter,
    {
        let hash = self.table.hash(&key);
        let mut key = key;
        let mut reaped = false;
        for tries in 0..=TRIES {
            let mut w = self.write_timed(hash, self.default_ttl);
            let found = w.find(&key);
            let live = found.filter(|&id| w.is_live(id));
            if let (Some(id), Some(current)) = (live, live.and_then(|id| w.value(id))) {
                // In place: the deadline stays exactly as it was.
                let n = current.to_counter().ok_or(Error::NotAnInteger)?;
                let n = n.checked_add(amount).ok_or(Error::Overflow)?;
                let value = V::from_counter(n).ok_or(Error::Overflow)?;
                let weight = self.weigh(&key, Some(&value));
                if self.refuses(weight) {
                    w.commit();
                    self.put_with(hash, key, Some(value), Expiry::Default, |_| {});
                    return Ok(n);
                }
                match w.overwrite(id, key, Some(value), None, weight, Try::nth(tries, reaped)) {
                    Ok(()) => {
                        if tries == 0 {
                            self.record(Read::Hit);
                        }
                        return Ok(n);
                    }
                    Err((k, _, elsewhere)) => {
                        key = k;
                        reaped |= self.retry_elsewhere(w, elsewhere);
                        continue;
                    }
                }
            }
            let value = V::from_counter(amount).ok_or(Error::Overflow)?;
            if tries == 0 {
                self.record(if live.is_some() { Read::Negative } else { Read::Miss });
            }
            let weight = self.weigh(&key, Some(&value));
            if self.refuses(weight) {
                w.commit();
                self.put_with(hash, key, Some(value), Expiry::Default, |_| {});
                return Ok(amount);
            }
            let deadline = w.now.deadline(self.default_ttl);
            let attempt = Try::nth(tries, reaped);
            let done = match found {
                Some(id) => w.overwrite(id, key, Some(value), Some(deadline), weight, attempt),
                None => w.insert(key, Some(value), deadline, weight, attempt),
            };
            match done {
                Ok(()) => return Ok(amount),
                Err((k, _, elsewhere)) => {
                    key = k;
                    reaped |= self.retry_elsewhere(w, elsewhere);
                }
            }
        }
        Ok(amount)
    }

    /// Gives `key` a new TTL (`None`: no expiry); false if it has no live
    /// entry. A zero TTL removes it.
    pub(crate) fn expire<Q>(&self, key: &Q, ttl: Option<Duration>) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if ttl == Some(Duration::ZERO) {
            return self.delete(key);
        }
        let mut w = self.write_timed(self.table.hash(key), ttl);
        let Some(id) = w.find_live(key) else {
            return false;
        };
        let deadline = w.now.deadline(ttl);
        w.retime(id, deadline);
        true
    }

    /// Removes a live entry or marker: `Some(value)` (the value only if
    /// `keep`), `None` when there was none. The listener hears of a value
    /// as `Removed`.
    pub(crate) fn remove<Q>(&self, key: &Q, keep: bool) -> Option<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let mut w = self.write(self.table.hash(key));
        let id = w.find_live(key)?;
        let (key, value) = w.remove(id);
        w.commit();
        Some(self.removed(key, value, keep))
    }

    /// Removes a live entry or marker (a value is reported `Removed`);
    /// false when there was none.
    pub(crate) fn delete<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut w = self.write(self.table.hash(key));
        let Some(id) = w.find_live(key) else {
            return false;
        };
        let parts = w.remove(id);
        w.out.push(parts, RemovalCause::Removed);
        true
    }

    /// Reports a value a call removed and hands it back if `keep`.
    fn removed(&self, key: K, value: Option<V>, keep: bool) -> Option<V>
    where
        V: Clone,
    {
        let value = value?;
        let notifier = self.notifier.as_ref();
        match (keep, notifier) {
            (true, Some(n)) => {
                n.report([(key, value.clone(), RemovalCause::Removed)]);
                Some(value)
            }
            (true, None) => Some(value),
            (false, Some(n)) => {
                n.report([(key, value, RemovalCause::Removed)]);
                None
            }
            (false, None) => None,
        }
    }

    /// Removes and returns some live entry (never a marker); successive
    /// calls start from successive shards.
    pub(crate) fn popitem(&self) -> Option<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        let shards = self.table.shards();
        let start = self.cursor.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for n in 0..shards.len() {
            let mut w = self.write_shard(&shards[(start + n) % shards.len()], None);
            let mut id = w.state_ref().entries().len();
            while id > 0 {
                id -= 1;
                let id = crate::list::id_at(id);
                if !w.state_ref().entries()[id as usize].is_occupied() {
                    continue;
                }
                if !w.is_live(id) {
                    w.reap(id);
                } else if w.state_ref().entry(id).has_value() {
                    let (key, value) = w.remove(id);
                    w.commit();
                    let value = value.expect("checked above");
                    let kept = self.removed(key.clone(), Some(value), true)?;
                    return Some((key, kept));
                }
            }
        }
        None
    }

    /// Removes every entry and marker.
    pub(crate) fn clear(&self) {
        for shard in self.table.shards() {
            let mut state = shard.write();
            let used = state.used();
            let taken = state.take_all();
            shard.publish(&mut state);
            drop(state);
            if let Some(room) = &self.room {
                room.give(used);
            }
            let now = self.clock.now();
            let (mut expired, mut removed) = (Vec::new(), Vec::new());
            for (parts, was_expired) in taken.drain(now) {
                if was_expired {
                    expired.push(parts);
                } else {
                    removed.push(parts);
                }
            }
            // Counted under the lock again: counters are written only by
            // lock holders (see `table::Counters`).
            let mut state = shard.write();
            shard.counters.add(&mut state, Event::Expiration, expired.len() as u64);
            shard.counters.add(&mut state, Event::Removal, removed.len() as u64);
            drop(state);
            self.dispose(&mut expired, RemovalCause::Expired, Mode::Inline);
            self.dispose(&mut removed, RemovalCause::Removed, Mode::Inline);
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::time::Duration;

    use crate::{Cache, MockClock};

    /// A write that gives a TTL takes its time from a reading made before
    /// its lock: the clock moving while the lock is held leaves the write's
    /// time where it was. Without a TTL the time is read when first needed.
    #[test]
    fn a_write_with_a_ttl_reads_the_clock_before_its_lock() {
        const MS: u64 = 1_000_000;
        let clock = MockClock::new();
        let cache: Cache<u64, u64> = Cache::builder().clock(clock.clone()).build().unwrap();
        let inner = cache.inner();
        let hash = inner.table.hash(&1);
        let mut w = inner.write_timed(hash, Some(Duration::from_secs(1)));
        clock.advance(Duration::from_millis(5));
        assert_eq!(w.now.get(), 0);
        assert_eq!(w.now.deadline(Some(Duration::from_secs(1))), 1_000 * MS);
        w.commit();
        let mut w = inner.write_timed(hash, None);
        clock.advance(Duration::from_millis(5));
        assert_eq!(w.now.get(), 10 * MS);
    }
}
