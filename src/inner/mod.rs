//! The core behind a [`Cache`](crate::Cache) handle: the table, the
//! settings, and every operation, as methods of [`Inner`]. `cache.rs` is a
//! thin public layer over it.
//!
//! - `write`: the one write path, a guard ([`Write`](write::Write)) whose `commit`
//!   releases the shard lock, gives unused capacity back, publishes the
//!   shard's next deadline and reports removals, in that order.
//! - `read`: lookups and whole-cache views under shared locks.
//! - `reap`: removing expired entries in bounded lock holds, for the
//!   expiry thread and for callers.
//! - `room`: the capacity of a bounded cache.
//! - `load`: single-flight loading.
//! - `notify`: removal notices and the listener.
//!
//! # Ground rules
//!
//! Besides the table's (see `table`): a call holds at most one shard lock
//! at a time and never runs user code under it but the key's `Hash`/`Eq`
//! and the value's `Clone`; removed keys and values are dropped or
//! reported after the lock is released. Shared state outside the shards:
//! `next_due` (see `expiry`), the capacity pool (see `room`), the read
//! counters (see `stats`), and `handles`, the number of user handles: the
//! last one to go frees the entries on its own thread.

mod load;
mod notify;
mod read;
mod reap;
mod room;
mod write;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use std::hash::{BuildHasher, Hash};

use parking_lot::Mutex;

use crate::error::BuildError;
use crate::expiry::{self, Expire, Registration};
use crate::listener::Listener;
use crate::stats::{Read, ReadCounters, Stats};
use crate::table::{Event, Layout, Table};
use crate::time::{self, Clock, Now, Tick, NEVER};
pub(crate) use load::Begin;
use load::Load;
use notify::Notifier;
pub(crate) use read::{Entries, Keys, ShardKeys};
use reap::Scratch;
use room::Room;

/// Computes an entry's weight (`CacheBuilder::weigher`).
pub(crate) type Weigher<K, V> = Box<dyn Fn(&K, &V) -> u32 + Send + Sync>;

/// A cache's checked settings: what `CacheBuilder::build` hands over.
pub(crate) struct Settings<K, V, S> {
    /// The capacity in entries, or in weight with a weigher.
    pub(crate) capacity: Option<u64>,
    /// A power of two.
    pub(crate) shards: usize,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) negative_ttl: Duration,
    pub(crate) time_to_idle: Option<Duration>,
    /// Nanoseconds, at least one.
    pub(crate) tick: u64,
    pub(crate) clock: Clock,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) hasher: S,
}

/// The state a cache's handles share.
pub(crate) struct Inner<K, V, S> {
    table: Table<K, V, Load<V>, S>,
    clock: Clock,
    /// The wheel's tick.
    tick: Tick,
    default_ttl: Option<Duration>,
    negative_ttl: Duration,
    /// The time to idle in nanoseconds.
    idle: Option<u64>,
    notifier: Option<Arc<Notifier<K, V>>>,
    weigher: Option<Weigher<K, V>>,
    room: Option<Room>,
    reads: ReadCounters,
    /// A lower bound of the end of the earliest due tick in any shard
    /// (nanoseconds); reset only by the expiry thread (see `expiry`).
    next_due: AtomicU64,
    /// This cache's place on the expiry thread's list; unset on a mock
    /// clock.
    registration: OnceLock<Registration>,
    closed: AtomicBool,
    /// User handles alive (`Cache` clones).
    handles: AtomicUsize,
    /// Where whole-cache walks (`popitem`, eviction elsewhere, the expiry
    /// thread's rounds) start, so repeated ones spread over the shards.
    cursor: AtomicUsize,
    /// The expiry thread's working memory for this cache.
    scratch: Mutex<Scratch<K, V>>,
}

/// A user's handle on the core: it counts among the cache's users while it
/// lives (see [`Inner::release`]), and derefs to the core.
pub(crate) struct Handle<K, V, S> {
    inner: Arc<Inner<K, V, S>>,
}

impl<K, V, S> Handle<K, V, S> {
    /// The first handle of a new core.
    pub(crate) fn new(inner: Arc<Inner<K, V, S>>) -> Self {
        Handle { inner }
    }
}

impl<K, V, S> Clone for Handle<K, V, S> {
    fn clone(&self) -> Self {
        self.inner.acquire();
        Handle { inner: self.inner.clone() }
    }
}

impl<K, V, S> Drop for Handle<K, V, S> {
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl<K, V, S> std::ops::Deref for Handle<K, V, S> {
    type Target = Inner<K, V, S>;

    fn deref(&self) -> &Inner<K, V, S> {
        &self.inner
    }
}

/// Units of weight an entry is assumed to weigh at least, to size a
/// weighed cache's shards and policy before any entry is known. Weights
/// are often bytes: a smaller guess gave a cache of about a thousand
/// entries of a few hundred bytes four shards, too few entries each for
/// the policy to tell hot from cold (6 points of hit ratio lost).
pub(crate) const ASSUMED_WEIGHT: u64 = 256;

/// The entries a capacity is assumed to hold: the capacity itself without
/// a weigher, else that many entries of `ASSUMED_WEIGHT`.
pub(crate) fn entries_in(capacity: u64, weighed: bool) -> u64 {
    if weighed {
        capacity / ASSUMED_WEIGHT
    } else {
        capacity
    }
}

/// How a TTL is given to a write.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expiry {
    /// This TTL (`None`: no expiry).
    Ttl(Option<Duration>),
    /// The cache's default TTL.
    Default,
    /// The negative TTL (a marker).
    Negative,
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A cache built from `settings`, registered with the expiry thread if
    /// it runs on the real clock; its first handle.
    pub(crate) fn build(settings: Settings<K, V, S>) -> Result<Handle<K, V, S>, BuildError> {
        let Settings {
            capacity,
            shards,
            default_ttl,
            negative_ttl,
            time_to_idle,
            tick,
            clock,
            listener,
            weigher,
            hasher,
        } = settings;
        let tick = Tick::new(tick);
        let layout = Layout {
            tick,
            idle: time_to_idle.map(time::nanos),
            weighted: weigher.is_some() && capacity.is_some(),
            share: capacity.map(|c| {
                let entries = entries_in(c, weigher.is_some());
                usize::try_from(entries / shards as u64).unwrap_or(usize::MAX).max(1)
            }),
            most: capacity
                .map_or(0, |c| usize::try_from(c / shards as u64).unwrap_or(usize::MAX).max(1)),
        };
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
        let driven = clock.is_real();
        let inner = Arc::new(Inner {
            table: Table::new(shards, hasher, layout, clock.now()),
            clock,
            tick,
            default_ttl,
            negative_ttl,
            idle: layout.idle,
            notifier: listener.map(|l| Arc::new(Notifier::new(l))),
            weigher: weigher.filter(|_| capacity.is_some()),
            room: capacity.map(Room::new),
            reads: ReadCounters::new(threads),
            next_due: AtomicU64::new(NEVER),
            registration: OnceLock::new(),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            cursor: AtomicUsize::new(0),
            scratch: Mutex::new(Scratch::new(shards)),
        });
        if driven {
            let weak: Weak<dyn Expire> = Arc::downgrade(&inner) as Weak<dyn Expire>;
            let registration = expiry::register(weak).map_err(|_| BuildError::ExpiryThread)?;
            // Set once, here, before any other handle exists.
            let _ = inner.registration.set(registration);
        }
        Ok(Handle::new(inner))
    }
}

impl<K, V, S> Inner<K, V, S> {
    #[inline]
    pub(crate) fn now(&self) -> Now<'_> {
        Now::new(&self.clock)
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.table.shards().len()
    }

    pub(crate) fn default_ttl(&self) -> Option<Duration> {
        self.default_ttl
    }

    pub(crate) fn negative_ttl(&self) -> Duration {
        self.negative_ttl
    }

    pub(crate) fn capacity(&self) -> Option<u64> {
        self.room.as_ref().map(Room::capacity)
    }

    /// The TTL a write of `expiry` gets.
    pub(crate) fn ttl_of(&self, expiry: Expiry) -> Option<Duration> {
        match expiry {
            Expiry::Ttl(ttl) => ttl,
            Expiry::Default => self.default_ttl,
            Expiry::Negative => Some(self.negative_ttl),
        }
    }

    /// Counts a read.
    #[inline]
    pub(crate) fn record(&self, read: Read) {
        self.reads.record(read);
    }

    /// Tells the expiry thread about a newly armed expiry (nanoseconds);
    /// called after the shard lock is released.
    #[inline]
    pub(crate) fn arm(&self, expiry: u64) {
        let next_due = self.next_due.load(Relaxed);
        // `due` (below) ends the tick that holds `expiry`, so it is later
        // than `expiry`: an expiry at or after the next due time cannot
        // bring it earlier, and its tick need not be worked out.
        if expiry >= next_due {
            return;
        }
        // The thread reaps a tick once it has ended.
        let due = self.tick.of(expiry).saturating_add(1).saturating_mul(self.tick.nanos());
        if due < next_due {
            self.next_due.fetch_min(due, SeqCst);
            if let Some(registration) = self.registration.get() {
                registration.schedule(due);
            }
        }
    }

    /// One more user handle.
    pub(crate) fn acquire(&self) {
        self.handles.fetch_add(1, Relaxed);
    }

    /// One user handle less; the last one shuts the cache down.
    pub(crate) fn release(&self) {
        if self.handles.fetch_sub(1, AcqRel) == 1 {
            self.shut_down();
        }
    }

    /// One user share less without the handle going (a closed facade):
    /// the last one stops background expiry; the entries stay until the
    /// handle drops.
    pub(crate) fn release_share(&self) {
        if self.handles.fetch_sub(1, AcqRel) == 1 {
            self.close();
        }
    }

    /// Stops background expiry and frees every entry, on this thread and
    /// without reporting them: nothing uses the cache any more.
    fn shut_down(&self) {
        self.close();
        for shard in self.table.shards() {
            let taken = shard.write().take_all();
            drop(taken);
        }
    }

    /// Leaves the expiry thread's list (idempotent).
    pub(crate) fn close(&self) {
        if !self.closed.swap(true, SeqCst) {
            if let Some(registration) = self.registration.get() {
                registration.unregister();
            }
        }
    }

    /// The counters, summed.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        self.reads.add_to(&mut stats);
        for shard in self.table.shards() {
            let c = &shard.counters;
            stats.inserts += c.get(Event::Insert);
            stats.updates += c.get(Event::Update);
            stats.removals += c.get(Event::Removal);
            stats.evictions += c.get(Event::Eviction);
            stats.expirations += c.get(Event::Expiration);
            stats.weight += shard.read().used();
        }
        stats.listener_panics = self.notifier.as_ref().map_or(0, |n| n.panics());
        stats
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    /// The weight of a value (1 without a weigher, and for markers).
    #[inline]
    pub(crate) fn weigh(&self, key: &K, value: Option<&V>) -> u32 {
        match (&self.weigher, value) {
            (Some(weigher), Some(value)) => weigher(key, value),
            _ => 1,
        }
    }
}

impl<K, V, S> Expire for Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn next_due(&self) -> u64 {
        self.next_due.load(SeqCst)
    }

    fn run_due(&self, now: u64, until: u64) -> bool {
        self.run_background(now, until)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::expiry::Expire;
    use crate::{Cache, MockClock};

    #[test]
    fn arming_keeps_the_end_of_the_earliest_armed_tick() {
        // The mock clock stands at zero: a TTL is its deadline.
        let cache: Cache<u64, u64> = Cache::builder()
            .clock(MockClock::new())
            .tick(Duration::from_millis(10))
            .build()
            .unwrap();
        let next_due = || cache.inner().next_due();
        let ms = |ms: u64| ms * 1_000_000;
        assert_eq!(next_due(), u64::MAX, "nothing armed");
        cache.setx(1, 1, Some(Duration::from_millis(55)));
        assert_eq!(next_due(), ms(60), "the end of the tick that holds 55 ms");
        // Later, in the same tick or after it: no change.
        cache.setx(2, 2, Some(Duration::from_millis(58)));
        cache.setx(3, 3, Some(Duration::from_millis(60)));
        cache.setx(4, 4, Some(Duration::from_millis(900)));
        assert_eq!(next_due(), ms(60));
        // Earlier, in an earlier tick: down to that tick's end.
        cache.setx(5, 5, Some(Duration::from_millis(49)));
        assert_eq!(next_due(), ms(50));
        // At the very start of a tick.
        cache.setx(6, 6, Some(Duration::from_millis(20)));
        assert_eq!(next_due(), ms(30));
    }

    #[test]
    #[cfg_attr(miri, ignore = "tens of thousands of writes; no unsafe of its own")]
    fn each_shard_publishes_where_its_index_lies_after_every_write() {
        let cache: Cache<u64, u64> = Cache::builder().shards(2).build().unwrap();
        let check = |when: &str| {
            for (n, shard) in cache.inner().table.shards().iter().enumerate() {
                let (published, own) = shard.probes();
                assert_eq!(published, own, "shard {n} {when}");
            }
        };
        check("when new");
        // Through the index's growths, in one step and then a little at a
        // time (the table being drained).
        for key in 0..20_000 {
            cache.set(key, key);
            if key % 97 == 0 {
                check(&format!("after inserting {key}"));
            }
        }
        for key in (0..20_000).filter(|key| key % 100 != 0) {
            cache.del_item(&key);
        }
        check("after removals");
        // A hundred entries a shard: compacted, and the index rebuilt.
        cache.run_pending_tasks();
        assert!(cache.entry_slots() < 20_000 / 4, "compacted: {}", cache.entry_slots());
        check("after a compaction");
        cache.clear();
        check("after a clear");
        cache.set(1, 1);
        check("after the first insert since");
    }
}
