//! One stripe of the table: its entries, their index, their timing wheel,
//! the eviction policy and the shard's share of the capacity, all behind
//! the shard's one lock (see `table`).
//!
//! Entries live in `entries` by id; an id stays with its entry for the
//! entry's life (removal leaves a vacancy for the next insert), so the
//! wheel's and the policy's lists through the entries survive removals.
//! `index` is a `hashbrown::HashTable` of ids (4 bytes a bucket, so a
//! sparse table costs little) that grows a few buckets per insert (see
//! `index`). A shard that has lost most of its entries
//! is compacted, a few moves at a time, and shrunk.
//!
//! User code that runs here: the key's `Eq` (in `find`, before anything
//! changes) and `Hash` when the index re-hashes stored keys (on growth, to
//! remove or move an entry). A `Hash` that panics there is caught: the
//! entry is found by a scan of the index instead, and an entry that could
//! not be placed while the index grew is dropped from the shard (returned
//! as evicted), so the shard stays consistent whatever the keys do.

use std::borrow::Borrow;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::entry::{prefetch, Entry};
use super::index::Index;
use super::policy::{Policy, Weighed};
use super::vacancies::Vacancies;
use crate::list::{id_at, Link, MAX_ELEMENTS};
use crate::time::{Now, Tick, LATEST, NEVER};
use crate::unwind;
use crate::wheel::{Polled, TimerView, Timers, Wheel};

/// The most wheel steps `ShardState::reap_steps` takes at once.
pub(crate) const REAP_BATCH: usize = 8;
/// Timer moves a shard owes before it makes them (`ShardState::owe`).
const OWED_BATCH: usize = 32;
/// Vacancies cut off the end of the entries in one step of compacting.
const TRIM_STEP: usize = 64;
/// A bounded shard's entry vector grows to its share and a margin before
/// it doubles (see `make_room_for_entry`): keys fall on the shards
/// unevenly, a shard's count off its share by about the square root of the
/// share (one standard deviation), so the margin is four of those and a
/// hundredth of the share.
fn share_margin(share: usize) -> usize {
    share / 100 + 4 * share.isqrt()
}
/// The bytes of a per-entry vector's first room: past the largest request
/// glibc's allocator serves from a thread's own cache of freed chunks
/// (1,032 bytes). A chunk from that cache may belong to any arena, that of
/// an exited thread included, and a vector born in a chunk stays in its
/// arena as it grows: each growth takes that arena's lock. A new expiry
/// thread takes over such an arena and, when it settles its allocator
/// (`expiry::settle_allocator`), holds the lock while it consolidates the
/// arena's free chunks: after another cache's millions of small frees,
/// for up to a second. A first room this large comes from the inserting
/// thread's own arena instead.
const FIRST_ROOM_BYTES: usize = 1040;

/// The first room of an empty per-entry vector of elements of `size`
/// bytes: `FIRST_ROOM_BYTES` or more, rounded up to a power of two of
/// elements (for `u64` keys and values, 64 entries and 256 timer links,
/// 2 KiB each). Doubling from there, the vectors keep power-of-two capacities, each at
/// least the entries' own, so that a bounded shard's last growth
/// (`make_room_for_entry`) sets them all to its share and margin together.
fn first_room(size: usize) -> usize {
    FIRST_ROOM_BYTES.div_ceil(size.max(1)).next_power_of_two()
}

/// A shard left with at most this many entries rebuilds its index smaller
/// when compacted; one with more keeps the index's buckets (see `shrink`).
const SHRINK_INDEX_AT_MOST: usize = 256;

/// An entry taken out of a shard: its key and value (`None`: a marker).
pub(crate) type Parts<K, V> = (K, Option<V>);

/// What one step of reaping found.
pub(crate) enum Reaped<K, V> {
    /// An expired entry, now removed, and its weight.
    Expired(Parts<K, V>, u64),
    /// Work done (timers filed again or put aside), nothing removed yet.
    Progress,
    /// Nothing more is due.
    Done,
}

/// How a shard is set up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// The wheel's tick.
    pub(crate) tick: Tick,
    /// The time to idle in nanoseconds; `None` without one.
    pub(crate) idle: Option<u64>,
    /// Entries carry weights (else each weighs 1).
    pub(crate) weighted: bool,
    /// The shard's share of the capacity, in entries, for a bounded cache
    /// (`None`: unbounded, no eviction policy).
    pub(crate) share: Option<usize>,
    /// The most entries the shard's policy sizes its memory of keys for:
    /// its share without weights; with them, its share of the capacity's
    /// weight, as many entries as can fit if each weighs 1 (the share in
    /// entries is only a guess at the weights).
    pub(crate) most: usize,
}

/// The entries as the wheel sees them: timers with a tick and a link.
struct Timed<'a, K, V> {
    entries: &'a [Entry<K, V>],
    links: &'a mut [Link],
    early: &'a mut [u64],
    touched: &'a [AtomicU64],
    idle: Option<u64>,
    tick: Tick,
}

/// When an entry expires: its deadline, or its time to idle after its
/// last access, whichever comes first.
#[inline]
fn expiry<K, V>(entry: &Entry<K, V>, touched: Option<&AtomicU64>, idle: Option<u64>) -> u64 {
    match (idle, touched) {
        // The idle deadline saturates where TTL deadlines do: never `NEVER`.
        (Some(idle), Some(at)) => {
            entry.deadline.min(at.load(Relaxed).saturating_add(idle).min(LATEST))
        }
        _ => entry.deadline,
    }
}

impl<K, V> TimerView for Timed<'_, K, V> {
    #[inline]
    fn when(&self, id: u32) -> u64 {
        let i = id as usize;
        self.tick.of(expiry(&self.entries[i], self.touched.get(i), self.idle))
    }
    #[inline]
    fn link(&self, id: u32) -> &Link {
        &self.links[id as usize]
    }
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    fn is_early(&self, id: u32) -> bool {
        is_early(self.early, id)
    }
}

/// Bit `id` of the bitset `early` (clear past its end).
#[inline]
fn is_early(early: &[u64], id: u32) -> bool {
    early.get(id as usize / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
}

/// Sets bit `id` of the bitset `early` to `value`. Past its end nothing
/// is recorded: a timer filed early but not marked so is only judged by
/// the narrower reach of one filed by its tick (`Wheel::reaches_by`).
#[inline]
fn set_early(early: &mut [u64], id: u32, value: bool) {
    let Some(word) = early.get_mut(id as usize / 64) else {
        return;
    };
    let bit = 1u64 << (id % 64);
    // Most filings are not early, of timers not filed early before: the
    // word is then only read.
    if value {
        *word |= bit;
    } else if *word & bit != 0 {
        *word &= !bit;
    }
}

#[cfg(any(test, fuzzing, feature = "test-util"))]
/// The entries as the wheel's checks see them.
struct TimedView<'a, K, V, P>(&'a ShardState<K, V, P>);

#[cfg(any(test, fuzzing, feature = "test-util"))]
impl<K, V, P> TimerView for TimedView<'_, K, V, P> {
    /// A timer owed a move is checked by the latest tick it was due at
    /// when owed one: it waits in the slot that tick was filed in.
    fn when(&self, id: u32) -> u64 {
        let owed = self.0.owed.iter().filter(|&&(owed, _)| owed == id).map(|&(_, was)| was);
        owed.fold(self.0.layout.tick.of(self.0.expiry(id)), u64::max)
    }
    fn link(&self, id: u32) -> &Link {
        &self.0.timers[id as usize]
    }
    fn is_early(&self, id: u32) -> bool {
        is_early(&self.0.early, id)
    }
}

impl<K, V> Timers for Timed<'_, K, V> {
    #[inline]
    fn link_mut(&mut self, id: u32) -> &mut Link {
        &mut self.links[id as usize]
    }
    #[inline]
    fn set_early(&mut self, id: u32, early: bool) {
        set_early(self.early, id, early);
    }
}

/// A key's hash, or `None` if its `Hash` panicked (the panic is caught).
#[inline]
fn rehash<K>(hasher: &impl Fn(&K) -> u64, key: &K) -> Option<u64> {
    unwind::catch(|| hasher(key))
}

/// The entries' weights and keys' hashes, as the policy asks for them.
struct Weighing<'a, H> {
    weights: &'a [u32],
    hasher: &'a H,
}

impl<K, V, H: Fn(&K) -> u64> Weighed<K, V> for Weighing<'_, H> {
    #[inline]
    fn is_weighted(&self) -> bool {
        !self.weights.is_empty()
    }
    #[inline]
    fn weight(&self, id: u32) -> u64 {
        self.weights.get(id as usize).map_or(1, |&w| u64::from(w))
    }
    #[inline]
    fn hash(&self, entry: &Entry<K, V>) -> Option<u64> {
        rehash(self.hasher, entry.key())
    }
}

/// The state behind one shard's lock.
///
/// In declaration order (`repr(C)`): what every lookup reads, the index,
/// whose hash table's header (its control pointer and mask, and the
/// counts that every insert and removal writes) shares the lock word's
/// cache line (see `Shard`), then on the next line the rest of the index
/// (its prefetch hint), the entry vector, and whether reads renew a time
/// to idle, the one other field a hit reads: lines that a steady write
/// leaves alone, besides the lock's, which it writes anyway. Then what
/// inserts and evictions use; last the wheel and the loads. With many
/// shards a shard's lines are often cold when a call comes: a hit then
/// misses on two of them, not on the three or four it would if `touched`
/// and the policy were read too.
#[repr(C)]
pub(crate) struct ShardState<K, V, P> {
    index: Index,
    entries: Vec<Entry<K, V>>,
    /// Reads renew a time to idle: `touched` is kept (`layout.idle` is
    /// set). A copy of that, where a hit reads it.
    renews: bool,
    /// Whether `due_from` may have changed since `wheel_changed` last
    /// said: set by an insert that lowers it, and by the polls.
    wheel_moved: bool,
    /// Whether the wheel was polled since `due_from` was last recomputed.
    wheel_polled: bool,
    /// The vacant entries.
    vacant: Vacancies,
    /// Occupied entries, markers included.
    occupied: usize,
    /// Entries holding a value (not markers), expired or not.
    values: usize,
    /// The weight of the entries (their number, unless weighted).
    used: u64,
    /// No timer is due before this tick (`u64::MAX`: none in the wheel):
    /// the wheel's `next_expiration` when it was last polled, lowered by
    /// each insert since to the tick its list is taken up, and by each
    /// move owed since to the tick it is owed for. Removals leave
    /// it: a bound a little early costs the reaper one visit that finds
    /// nothing, where recomputing it costs every write with a TTL a search
    /// of the wheel's levels.
    due_from: u64,
    layout: Layout,
    /// Each entry's weight, by id (a weighted cache only).
    weights: Vec<u32>,
    /// Each entry's last access, by id (a cache with a time to idle only).
    touched: Vec<AtomicU64>,
    /// The eviction policy of a bounded cache.
    policy: Option<Policy>,
    /// Each entry's timer links, by id: where the wheel keeps it
    /// (unlinked without an expiry, and in a vacant entry). Apart from the
    /// entries, which lookups read, and four times as dense for `u64` keys
    /// and values: moving a timer writes its neighbours' links, not
    /// entries nobody else asked for.
    timers: Vec<Link>,
    /// Whether each entry's timer is filed early (`Wheel::insert_early`),
    /// a bit an entry, by id, as far as an entry owed a move (`owe`) or
    /// filed since (`insert`): a shard whose writes never bring a deadline
    /// earlier never allocates it, and it grows in the writers, never in
    /// the expiry thread. Once allocated, it also says that the shard's
    /// writes do bring deadlines earlier, and new timers are filed early.
    early: Vec<u64>,
    wheel: Wheel,
    /// Timers owed a move: entries whose deadline came earlier than the
    /// wheel takes up the slot their timer waits in, each with the tick
    /// its timer was last due at. Such a timer stays where it is until
    /// `settle` moves it: before the wheel is next polled or its timers
    /// renumbered, or once `OWED_BATCH` are owed, all together, so that
    /// the cache misses of their unlinking overlap.
    owed: Vec<(u32, u64)>,
    /// The earliest tick an owed timer is due at (`u64::MAX`: none owed).
    owed_due: u64,
    /// Single-flight loads in progress: few at a time, so a plain list.
    loads: Vec<(u64, K, P)>,
}

impl<K, V, P> ShardState<K, V, P> {
    /// An empty shard, one of a cache's `shards`, whose wheel stands at
    /// `now` (nanoseconds).
    pub(crate) fn new(layout: Layout, shards: usize, now: u64) -> Self {
        ShardState {
            entries: Vec::new(),
            vacant: Vacancies::default(),
            index: Index::default(),
            wheel: Wheel::starting_at(layout.tick.of(now)),
            policy: layout.share.map(|share| Policy::new(share, layout.most, shards)),
            layout,
            weights: Vec::new(),
            touched: Vec::new(),
            timers: Vec::new(),
            early: Vec::new(),
            renews: layout.idle.is_some(),
            occupied: 0,
            values: 0,
            used: 0,
            loads: Vec::new(),
            owed: Vec::new(),
            owed_due: u64::MAX,
            due_from: u64::MAX,
            wheel_moved: true,
            wheel_polled: true,
        }
    }

    /// The wheel, to change, with the entries as its timers. A change that
    /// can make a timer due earlier than `due_from` says so (`file`, or
    /// `polled`).
    fn timed(&mut self) -> (&mut Wheel, Timed<'_, K, V>) {
        let timed = Timed {
            entries: &self.entries,
            links: &mut self.timers,
            early: &mut self.early,
            touched: &self.touched,
            idle: self.layout.idle,
            tick: self.layout.tick,
        };
        (&mut self.wheel, timed)
    }

    // ---- lookups ------------------------------------------------------

    /// The addresses of the entry vector, the index, the index's prefetch
    /// hint and the flag a hit reads, for the layout's test.
    #[cfg(test)]
    pub(crate) fn lookup_fields(&self) -> (usize, usize, usize, usize) {
        (
            (&raw const self.entries).addr(),
            (&raw const self.index).addr(),
            self.index.hint_addr(),
            (&raw const self.renews).addr(),
        )
    }

    /// Where the index keeps what a lookup reads first, for tests.
    #[cfg(test)]
    pub(crate) fn probe(&self) -> super::index::Probe {
        self.index.probe()
    }

    /// Where the index keeps what a lookup reads first (see
    /// `Shard::prefetch`), if that changed since this was last asked.
    #[inline]
    pub(crate) fn probe_moved(&mut self) -> Option<super::index::Probe> {
        self.index.take_moved().then(|| self.index.probe())
    }

    /// The id of `key`'s entry.
    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let entries = &self.entries;
        self.index.find(hash, |i| entries[i as usize].key().borrow() == key)
    }

    #[inline]
    pub(crate) fn entry(&self, id: u32) -> &Entry<K, V> {
        &self.entries[id as usize]
    }

    /// When entry `id` expires (its deadline, or its idle expiry if that
    /// comes first); `NEVER` if it does not.
    #[inline]
    pub(crate) fn expiry(&self, id: u32) -> u64 {
        let i = id as usize;
        expiry(&self.entries[i], self.touched.get(i), self.layout.idle)
    }

    /// Records a read of entry `id` at `now` for the policy and the time
    /// to idle; cheap under the shared lock.
    #[inline]
    pub(crate) fn on_read(&self, id: u32, now: impl FnOnce() -> u64) {
        let i = id as usize;
        self.record_read(&self.entries[i], self.touched.get(i), now);
    }

    /// [`on_read`](ShardState::on_read) of `entry`, whose last access is
    /// `touched`.
    #[inline]
    fn record_read(
        &self,
        entry: &Entry<K, V>,
        touched: Option<&AtomicU64>,
        now: impl FnOnce() -> u64,
    ) {
        // Marked in an unbounded cache too, where nothing reads the mark:
        // it saturates after a few reads, and a hit need not read whether
        // the shard has a policy.
        entry.touch();
        if let Some(at) = touched {
            // Renewed lazily: the timer stays where it is and is filed
            // again when it comes round. A store at most once a tick.
            let now = now();
            if now >= at.load(Relaxed).saturating_add(self.layout.tick.nanos()) {
                at.fetch_max(now, Relaxed);
            }
        }
    }

    /// `key`'s entry if it is live at `now`, its read recorded as
    /// [`on_read`](ShardState::on_read) records it; `None` for no entry or
    /// an expired one (whose read is not recorded). `now` is asked only if
    /// the entry has an expiry or a time to idle, and reads the precise
    /// clock only when its coarse reading cannot tell (see `Now::before`),
    /// or to renew a time to idle. The
    /// read path's [`find`](ShardState::find), [`expiry`](ShardState::expiry)
    /// and `on_read` in one: the entry and its last access are looked up
    /// once for all three. Always inlined, as the read path is (see
    /// `Inner::get`).
    #[inline(always)]
    pub(crate) fn find_live<Q>(&self, hash: u64, key: &Q, now: &mut Now<'_>) -> Option<&Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let entries = &self.entries;
        let mut found = None;
        self.index.find(hash, |i| {
            let entry = &entries[i as usize];
            let hit = entry.key().borrow() == key;
            if hit {
                found = Some((i as usize, entry));
            }
            hit
        })?;
        let (i, entry) = found?;
        if !self.renews {
            if entry.deadline == NEVER {
                // Never expires, and no time to idle: no clock to read.
                entry.touch();
                return Some(entry);
            }
            return self.timed_read(entry, None, now);
        }
        self.timed_read(entry, self.touched.get(i), now)
    }

    /// [`find_live`](ShardState::find_live)'s part for an entry with an
    /// expiry or a time to idle, read at `now`. Out of line: inlined, its
    /// clock reading and renewal would cost every lookup registers kept
    /// across their calls.
    #[inline(never)]
    fn timed_read<'a>(
        &self,
        entry: &'a Entry<K, V>,
        touched: Option<&AtomicU64>,
        now: &mut Now<'_>,
    ) -> Option<&'a Entry<K, V>> {
        let expiry = expiry(entry, touched, self.layout.idle);
        if !now.before(expiry) {
            return None;
        }
        self.record_read(entry, touched, || now.get());
        Some(entry)
    }

    /// Records a write of entry `id` at `now` for the time to idle (a
    /// write always renews it).
    #[inline]
    pub(crate) fn on_write(&mut self, id: u32, now: u64) {
        if let Some(at) = self.touched.get_mut(id as usize) {
            *at.get_mut() = now;
        }
    }

    /// Every entry, vacant ones included, by id.
    pub(crate) fn entries(&self) -> &[Entry<K, V>] {
        &self.entries
    }

    /// The room of the entry vector.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Entries holding a value, expired or not.
    pub(crate) fn values(&self) -> usize {
        self.values
    }

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    /// Timers in the wheel.
    pub(crate) fn timers(&self) -> usize {
        self.wheel.len()
    }

    /// The weight of entry `id`.
    #[inline]
    pub(crate) fn weight(&self, id: u32) -> u64 {
        self.weights.get(id as usize).map_or(1, |&w| u64::from(w))
    }

    // ---- accounting -----------------------------------------------------

    /// The weight of the entries.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    // ---- writes -------------------------------------------------------

    /// Adds a new entry for `key` (which must be absent) and returns its id.
    /// Entries the index could not re-hash while growing are dropped into
    /// `dropped`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: Option<V>,
        deadline: u64,
        weight: u32,
        now: u64,
        hasher: &impl Fn(&K) -> u64,
        dropped: &mut Vec<(Parts<K, V>, u64)>,
    ) -> u32 {
        let id = match self.vacant.pop(&mut self.entries) {
            Some(id) => id,
            None => {
                let id = self.entries.len();
                assert!(id < MAX_ELEMENTS as usize, "a shard holds fewer than 2^29 entries");
                self.make_room_for_entry();
                self.entries.push(Entry::vacant());
                self.timers.push(Link::UNLINKED);
                if self.layout.weighted {
                    self.weights.push(0);
                }
                if self.layout.idle.is_some() {
                    self.touched.push(AtomicU64::new(0));
                }
                id_at(id)
            }
        };
        let i = id as usize;
        self.values += usize::from(value.is_some());
        self.entries[i].occupy(key, value, deadline);
        if let Some(w) = self.weights.get_mut(i) {
            *w = weight;
        }
        if let Some(at) = self.touched.get_mut(i) {
            *at.get_mut() = now;
        }
        self.occupied += 1;
        self.used += u64::from(weight);
        self.index_insert(hash, id, hasher, dropped);
        if let Some(policy) = &mut self.policy {
            let of = Weighing { weights: &self.weights, hasher };
            policy.admit(&mut self.entries, &of, id, hash, self.occupied);
        }
        if self.expiry(id) != NEVER {
            self.file_new(id);
        }
        id
    }

    /// Before the entry vector grows: a bounded shard that would double
    /// past its share grows to its share and a margin instead
    /// (`share_margin`), so that a full cache does not keep up to half its
    /// entries' room unused; past that, the vector doubles as usual.
    fn make_room_for_entry(&mut self) {
        let len = self.entries.len();
        if len < self.entries.capacity() {
            return;
        }
        if len == 0 {
            self.reserve_each(first_room);
            return;
        }
        let Some(share) = self.layout.share else {
            return;
        };
        let most = share.saturating_add(share_margin(share));
        if len < most && len.saturating_mul(2) > most {
            self.reserve_each(|_| most - len);
        }
    }

    /// Reserves room in the entries and in each per-entry vector the layout
    /// keeps: `room(size)` more elements for a vector of elements of `size`
    /// bytes.
    fn reserve_each(&mut self, room: impl Fn(usize) -> usize) {
        fn reserve<T>(v: &mut Vec<T>, room: &impl Fn(usize) -> usize) {
            v.reserve_exact(room(mem::size_of::<T>()));
        }
        reserve(&mut self.entries, &room);
        reserve(&mut self.timers, &room);
        if self.layout.weighted {
            reserve(&mut self.weights, &room);
        }
        if self.layout.idle.is_some() {
            reserve(&mut self.touched, &room);
        }
    }

    /// Puts `id` into the index, dropping any entry whose key could not be
    /// hashed while the index grew.
    #[inline]
    fn index_insert(
        &mut self,
        hash: u64,
        id: u32,
        hasher: &impl Fn(&K) -> u64,
        dropped: &mut Vec<(Parts<K, V>, u64)>,
    ) {
        let mut lost = Vec::new();
        let entries = &self.entries;
        self.index.insert(hash, id, |j| rehash(hasher, entries[j as usize].key()), &mut lost);
        for j in lost {
            let weight = self.weight(j);
            dropped.push((self.detach(j), weight));
        }
    }

    /// Puts a new value (or marker) of `weight` in entry `id`; returns the
    /// old one.
    #[inline]
    pub(crate) fn replace(&mut self, id: u32, value: Option<V>, weight: u32) -> Option<V> {
        let i = id as usize;
        let was = self.entries[i].has_value();
        let old = self.entries[i].replace(value);
        self.values = self.values + usize::from(self.entries[i].has_value()) - usize::from(was);
        if let Some(w) = self.weights.get_mut(i) {
            let before = u64::from(mem::replace(w, weight));
            self.used = self.used - before + u64::from(weight);
            if let Some(policy) = &mut self.policy {
                policy.reweigh(&self.entries, id, before, u64::from(weight));
            }
        }
        old
    }

    /// Gives entry `id` a new deadline; a write at `now` also counts as an
    /// access for the time to idle. Its one timer moves only if it must
    /// fire earlier than the wheel takes up the slot it waits in, and then
    /// not at once (`owe`): a later expiry, or an earlier one still in that
    /// slot's reach, leaves it in place, to be filed again when its slot
    /// comes round (renewing a TTL touches no list).
    #[inline]
    pub(crate) fn retime(&mut self, id: u32, deadline: u64, now: u64) {
        let tick = self.layout.tick;
        let i = id as usize;
        let before = self.expiry(id);
        self.entries[i].deadline = deadline;
        if let Some(at) = self.touched.get_mut(i) {
            *at.get_mut() = now;
        }
        let after = self.expiry(id);
        match (before == NEVER, after == NEVER) {
            (true, true) => {}
            (true, false) => self.refile(id, false, true),
            (false, true) => self.refile(id, true, false),
            // Earlier: the timer is owed a move, unless the wheel reaches
            // it in time where it is.
            // (A later deadline cannot fall in an earlier tick: its ticks
            // are worked out only for an earlier one.)
            (false, false) if after < before && tick.of(after) < tick.of(before) => {
                if !self.stays(id, tick.of(before), tick.of(after)) {
                    self.owe(id, tick.of(before), tick.of(after));
                } else if !self.owed.is_empty() {
                    // The timer may itself be owed a move, its deadline
                    // already before its slot's start, where the wheel's
                    // reach proves nothing: its first record moves it, and
                    // the shard must be reaped by the new deadline.
                    self.owe_by(tick.of(after));
                }
            }
            (false, false) => {}
        }
    }

    /// Whether entry `id`'s timer, due at tick `old`, may be due at `new`,
    /// earlier, where it is: whether the wheel takes up its slot by then.
    #[inline]
    fn stays(&self, id: u32, old: u64, new: u64) -> bool {
        if is_early(&self.early, id) {
            self.wheel.reaches_early_by(old, new)
        } else {
            self.wheel.reaches_by(old, new)
        }
    }

    /// Takes entry `id`'s timer off the wheel, files it, or both; out of
    /// line, as most writes leave the wheel alone.
    #[inline(never)]
    fn refile(&mut self, id: u32, remove: bool, insert: bool) {
        if remove {
            let (wheel, mut timed) = self.timed();
            wheel.remove(&mut timed, id);
        }
        if insert {
            self.file_new(id);
        }
    }

    /// Files the timer of entry `id`, which had none. Once a write here
    /// has brought a deadline earlier than its timer's slot (`owe`), new
    /// timers are filed early too: a deadline brought earlier, down to
    /// that slot's start, then leaves the timer where it is.
    #[inline]
    fn file_new(&mut self, id: u32) {
        let early = self.early.capacity() != 0;
        if early {
            self.cover_early(id);
        }
        self.file(id, early);
    }

    /// Notes that entry `id`'s timer, due at tick `was` in a slot that
    /// starts by then, must move to be due at `due`, earlier; `due_from`
    /// comes down to `due` now, so that the shard is reaped (and the timer
    /// moved) by then.
    #[inline(never)]
    fn owe(&mut self, id: u32, was: u64, due: u64) {
        self.cover_early(id);
        self.owed.push((id, was));
        self.owe_by(due);
        if self.owed.len() >= OWED_BATCH {
            self.settle();
        }
    }

    /// Grows the bits of early timers to cover entry `id`.
    #[inline]
    fn cover_early(&mut self, id: u32) {
        let words = id as usize / 64 + 1;
        if self.early.len() < words {
            // The first room as the per-entry vectors' (`first_room`).
            if self.early.capacity() == 0 {
                self.early.reserve_exact(first_room(mem::size_of::<u64>()).max(words));
            }
            self.early.resize(words, 0);
        }
    }

    /// Brings `due_from`, and the earliest tick owed, down to `due`: an
    /// owed move must be made by then.
    fn owe_by(&mut self, due: u64) {
        self.owed_due = self.owed_due.min(due);
        if due < self.due_from {
            self.due_from = due;
            self.wheel_moved = true;
        }
    }

    /// Moves the timers owed a move (`owe`). A timer since removed, or
    /// whose entry's id was taken again, is filed where it belongs already:
    /// it is left alone, or moved where it would be filed anyway. The
    /// timers' links, then their neighbours', are fetched for all of them
    /// before any is unlinked.
    fn settle(&mut self) {
        if self.owed.is_empty() {
            return;
        }
        let owed = mem::take(&mut self.owed);
        for &(id, _) in &owed {
            if let Some(link) = self.timers.get(id as usize) {
                prefetch(link);
            }
        }
        for &(id, _) in &owed {
            if let Some(link) = self.timers.get(id as usize) {
                for near in [link.prev, link.next] {
                    if let Some(near) = self.timers.get(near as usize) {
                        prefetch(near);
                    }
                }
            }
        }
        let tick = self.layout.tick;
        for &(id, was) in &owed {
            if !self.timers.get(id as usize).is_some_and(Link::is_linked) {
                continue;
            }
            if !self.stays(id, was, tick.of(self.expiry(id))) {
                // Early, so that this key's deadline may come earlier
                // again without a move until the wheel reaches the slot.
                let (wheel, mut timed) = self.timed();
                wheel.remove(&mut timed, id);
                self.file(id, true);
            }
        }
        self.owed = owed;
        self.owed.clear();
        self.owed_due = u64::MAX;
    }

    /// Files entry `id`'s timer, early if `early`
    /// (`Wheel::insert_early`), lowering `due_from` if it comes first.
    #[inline]
    fn file(&mut self, id: u32, early: bool) {
        let (wheel, mut timed) = self.timed();
        let from =
            if early { wheel.insert_early(&mut timed, id) } else { wheel.insert(&mut timed, id) };
        if from < self.due_from {
            self.due_from = from;
            self.wheel_moved = true;
        }
    }

    /// What `due_from` is when exact: the wheel's next expiration tick, or
    /// `u64::MAX` without timers.
    fn exact_due(&self) -> u64 {
        self.wheel.next_expiration().unwrap_or(u64::MAX).min(self.owed_due)
    }

    /// The wheel was polled: `due_from` is recomputed when it is next
    /// published.
    fn polled(&mut self) {
        self.wheel_moved = true;
        self.wheel_polled = true;
    }

    /// Removes entry `id`; `hash` is its key's hash when the caller has it.
    pub(crate) fn remove(
        &mut self,
        id: u32,
        hash: Option<u64>,
        hasher: &impl Fn(&K) -> u64,
    ) -> Parts<K, V> {
        self.unindex(id, hash, hasher);
        self.detach(id)
    }

    /// Takes entry `id` out of the index.
    #[inline]
    fn unindex(&mut self, id: u32, hash: Option<u64>, hasher: &impl Fn(&K) -> u64) {
        let hash = hash.or_else(|| rehash(hasher, self.entries[id as usize].key()));
        // Without a hash (the key's `Hash` panicked) the index scans.
        let entries = &self.entries;
        self.index.remove(hash, id, |j| rehash(hasher, entries[j as usize].key()));
    }

    /// Takes entry `id` (already out of the index) off the wheel and the
    /// policy's queue (unless the policy took it off already) and vacates it.
    fn detach(&mut self, id: u32) -> Parts<K, V> {
        let weight = self.weight(id);
        if let Some(policy) = &mut self.policy {
            if self.entries[id as usize].order_prev() != crate::list::NIL {
                policy.forget(&mut self.entries, id, weight);
            }
        }
        self.release(id, weight)
    }

    /// Takes entry `id` of `weight` (already out of the index and off the
    /// policy's queue) off the wheel and vacates it.
    #[inline(always)]
    fn release(&mut self, id: u32, weight: u64) -> Parts<K, V> {
        // Only an entry with an expiry has a timer, unless the reaper took
        // it already (the wheel checks): the links of an entry without
        // one, apart from the entry, are not read.
        if self.expiry(id) != NEVER {
            self.refile(id, true, false);
        }
        let entry = &mut self.entries[id as usize];
        self.values -= usize::from(entry.has_value());
        self.occupied -= 1;
        self.used -= weight;
        let parts = entry.vacate();
        self.vacant.push(&mut self.entries, id);
        parts
    }

    /// Removes every entry, returning them.
    pub(crate) fn take_all(&mut self) -> Taken<K, V> {
        self.index = Index::default();
        self.wheel = Wheel::starting_at(self.wheel.elapsed());
        self.owed.clear();
        self.owed_due = u64::MAX;
        self.polled();
        if let Some(policy) = &mut self.policy {
            policy.clear();
        }
        self.occupied = 0;
        self.values = 0;
        self.used = 0;
        self.vacant = Vacancies::default();
        self.weights = Vec::new();
        self.timers = Vec::new();
        self.early = Vec::new();
        Taken {
            entries: mem::take(&mut self.entries),
            touched: mem::take(&mut self.touched),
            idle: self.layout.idle,
        }
    }

    // ---- expiry -------------------------------------------------------

    /// Starts a pass of reaping: timers put aside by the last pass are
    /// looked at again.
    pub(crate) fn begin_reaping(&mut self) {
        self.polled();
        let (wheel, mut timed) = self.timed();
        wheel.undefer(&mut timed);
    }

    /// One bounded step of reaping: takes the next entry whose expiry is at
    /// or before `now`, or does a little of the wheel's work.
    pub(crate) fn reap_step(&mut self, now: u64, hasher: &impl Fn(&K) -> u64) -> Reaped<K, V> {
        let id = match self.poll_due(now) {
            Polled::Due(id) => id,
            Polled::Busy => return Reaped::Progress,
            Polled::Idle => return Reaped::Done,
        };
        let weight = self.weight(id);
        self.unindex(id, None, hasher);
        Reaped::Expired(self.detach(id), weight)
    }

    /// Up to `steps` steps of reaping at once, each expired entry handed to
    /// `expired` with its weight; returns whether nothing more is due. The
    /// expired entries' keys are hashed, and then looked up in the index,
    /// one after the other rather than each in turn, so that their cache
    /// misses overlap.
    pub(crate) fn reap_steps(
        &mut self,
        now: u64,
        steps: usize,
        hasher: &impl Fn(&K) -> u64,
        mut expired: impl FnMut(Parts<K, V>, u64),
    ) -> bool {
        let mut due = [(0u32, None::<u64>); REAP_BATCH];
        let (mut n, mut done) = (0, false);
        for _ in 0..steps.min(REAP_BATCH) {
            match self.poll_due(now) {
                Polled::Due(id) => {
                    due[n].0 = id;
                    n += 1;
                }
                Polled::Busy => {}
                Polled::Idle => {
                    done = true;
                    break;
                }
            }
        }
        let due = &mut due[..n];
        for (id, hash) in due.iter_mut() {
            *hash = rehash(hasher, self.entries[*id as usize].key());
        }
        for &(id, hash) in due.iter() {
            // A key whose `Hash` panicked above is not hashed again: any
            // hash misses it (or finds it by its id), then a scan does.
            self.unindex(id, Some(hash.unwrap_or(0)), hasher);
        }
        for &(id, _) in due.iter() {
            let weight = self.weight(id);
            expired(self.detach(id), weight);
        }
        done
    }

    /// Polls the wheel once: an expired entry (off the wheel, still
    /// indexed), or work done, or nothing due.
    fn poll_due(&mut self, now: u64) -> Polled {
        self.settle();
        self.polled();
        let tick = self.layout.tick;
        let (wheel, mut timed) = self.timed();
        let id = match wheel.poll_step(&mut timed, tick.of(now)) {
            Polled::Due(id) => id,
            Polled::Idle => {
                // Nothing due now: the bound is made exact, so that a writer
                // that reaps before it evicts does not poll again for
                // nothing.
                self.due_from = self.exact_due();
                self.wheel_polled = false;
                return Polled::Idle;
            }
            busy @ Polled::Busy => return busy,
        };
        let expiry = self.expiry(id);
        if expiry <= now {
            return Polled::Due(id);
        }
        let (wheel, mut timed) = self.timed();
        if tick.of(expiry) > wheel.elapsed() {
            // Renewed since the timer was filed: file it anew, in a slot
            // this pass will not reach.
            wheel.insert(&mut timed, id);
        } else {
            // Due later in the current tick (ticks round deadlines down),
            // or the wheel was advanced by a caller with a later reading:
            // put it aside for this pass.
            wheel.defer(&mut timed, id);
        }
        Polled::Busy
    }

    /// The start (nanoseconds) of a tick before whose end reaping finds
    /// nothing: the earliest in which it can find work, or one before.
    /// `NEVER` without timers.
    #[inline]
    pub(crate) fn next_tick_start(&self) -> u64 {
        match self.due_from {
            u64::MAX => NEVER,
            t => t.saturating_mul(self.layout.tick.nanos()),
        }
    }

    /// [`next_tick_start`](ShardState::next_tick_start) if it may have
    /// changed since the last call (the first call always says), made
    /// exact if the wheel was polled since; or `None`: what the shard
    /// published after that call still holds.
    #[inline]
    pub(crate) fn wheel_changed(&mut self) -> Option<u64> {
        // Every write asks; the flags share a line with what every read
        // reads, so they are written only when they change: a store that
        // leaves a value as it was still takes the line from the other
        // cores' caches.
        if !self.wheel_moved {
            return None;
        }
        self.wheel_moved = false;
        if self.wheel_polled {
            self.wheel_polled = false;
            self.due_from = self.exact_due();
        }
        Some(self.next_tick_start())
    }

    // ---- eviction -------------------------------------------------------

    /// Starts fetching what admitting a new key whose hash is `hash` will
    /// read of the policy.
    #[inline]
    pub(crate) fn prefetch_admission(&self, hash: u64) {
        if let Some(policy) = &self.policy {
            policy.prefetch(hash);
        }
    }

    /// Whether the policy leaves out a new key whose hash is `hash`, of
    /// `weight`, rather than evict for the `missing` part of its room: only
    /// ever in a weighted cache, for a key asked for less often than the
    /// entries it would displace together (see `Policy::refuses`).
    pub(crate) fn refuses(
        &mut self,
        hash: u64,
        weight: u64,
        missing: u64,
        hasher: &impl Fn(&K) -> u64,
    ) -> bool {
        if !self.layout.weighted {
            return false;
        }
        let Some(policy) = &mut self.policy else {
            return false;
        };
        let of = Weighing { weights: &self.weights, hasher };
        policy.refuses(&mut self.entries, &of, hash, weight, missing)
    }

    /// Evicts one entry by the policy, never `protect`, to make room for a
    /// new key whose hash and weight are `incoming` (`None`: a heavier
    /// value for an entry already there); `None` if there is nothing else
    /// to evict (or the cache is unbounded).
    pub(crate) fn evict(
        &mut self,
        protect: Option<u32>,
        incoming: Option<(u64, u64)>,
        hasher: &impl Fn(&K) -> u64,
    ) -> Option<(Parts<K, V>, u64)> {
        let of = Weighing { weights: &self.weights, hasher };
        let (id, hash, weight) =
            self.policy.as_mut()?.victim(&mut self.entries, &of, protect, incoming)?;
        self.unindex(id, hash, hasher);
        // The policy took it off its queue already.
        Some((self.release(id, weight), weight))
    }

    // ---- compaction -------------------------------------------------------

    /// Whether most of the entries' room is vacant: time to compact.
    pub(crate) fn is_sparse(&self) -> bool {
        self.entries.capacity() >= 64 && self.occupied * 4 < self.entries.capacity()
    }

    /// One step of compacting: cuts off up to `TRIM_STEP` vacancies at the
    /// end, or moves the last entry into a vacancy, or, once no vacancy is
    /// left, gives the spare room back to the allocator; returns whether it
    /// is done.
    pub(crate) fn compact_step(&mut self, hasher: &impl Fn(&K) -> u64) -> bool {
        let last_vacant =
            |entries: &[Entry<K, V>]| entries.last().is_some_and(|e| !e.is_occupied());
        if last_vacant(&self.entries) {
            for _ in 0..TRIM_STEP {
                if !last_vacant(&self.entries) {
                    break;
                }
                let last = id_at(self.entries.len() - 1);
                self.vacant.remove(&mut self.entries, last);
                self.entries.pop();
            }
        } else {
            let Some(hole) = self.vacant.pop(&mut self.entries) else {
                self.shrink(hasher);
                return true;
            };
            // The last entry is occupied, so the hole lies before it.
            self.relocate(id_at(self.entries.len() - 1), hole, hasher);
            // The hole, now last and off the list, goes.
            self.entries.pop();
        }
        self.timers.truncate(self.entries.len());
        self.early.truncate(self.entries.len().div_ceil(64));
        self.weights.truncate(self.entries.len());
        self.touched.truncate(self.entries.len());
        false
    }

    /// Moves the entry at `from` (the last) into the vacancy `to`.
    fn relocate(&mut self, from: u32, to: u32, hasher: &impl Fn(&K) -> u64) {
        // The owed moves name timers by id.
        self.settle();
        let (f, t) = (from as usize, to as usize);
        let hash = rehash(hasher, self.entries[f].key());
        self.index.rename(hash, from, to);
        self.entries.swap(f, t);
        self.timers.swap(f, t);
        let (was_early, into_early) = (is_early(&self.early, from), is_early(&self.early, to));
        set_early(&mut self.early, from, into_early);
        set_early(&mut self.early, to, was_early);
        if !self.weights.is_empty() {
            self.weights.swap(f, t);
        }
        if !self.touched.is_empty() {
            self.touched.swap(f, t);
        }
        let (wheel, mut timed) = self.timed();
        wheel.relink(&mut timed, to);
        if let Some(policy) = &mut self.policy {
            policy.relink(&mut self.entries, to);
        }
    }

    /// Gives back the room of the vacancies (all at the end by now). The
    /// index (5 bytes a slot) is rebuilt smaller only when it holds at most
    /// `SHRINK_INDEX_AT_MOST` entries: the rebuild hashes every key again
    /// under the lock, and a longer hold would stall the shard's readers.
    fn shrink(&mut self, hasher: &impl Fn(&K) -> u64) {
        let len = self.entries.len();
        self.entries.shrink_to(len);
        self.timers.shrink_to(len);
        self.early.shrink_to(len.div_ceil(64));
        self.weights.shrink_to(len);
        self.touched.shrink_to(len);
        self.vacant = Vacancies::default();
        if self.index.len() <= SHRINK_INDEX_AT_MOST {
            let entries = &self.entries;
            // A key whose `Hash` panics now lands in a wrong bucket; it was
            // findable by nobody anyway (every lookup of it panics).
            self.index.shrink_to(len, |j| rehash(hasher, entries[j as usize].key()));
        }
    }

    // ---- single-flight loads ----------------------------------------------

    /// The load in flight for `key`.
    pub(crate) fn find_load(&self, hash: u64, key: &K) -> Option<&P>
    where
        K: Eq,
    {
        self.loads.iter().find(|(h, k, _)| *h == hash && k == key).map(|(_, _, p)| p)
    }

    /// Registers a load in flight for `key` (which has none).
    pub(crate) fn add_load(&mut self, hash: u64, key: K, load: P) {
        self.loads.push((hash, key, load));
    }

    /// Ends the registration of the load `is_it` picks; returns its key.
    pub(crate) fn remove_load(&mut self, is_it: impl Fn(&P) -> bool) -> Option<K> {
        let at = self.loads.iter().position(|(_, _, p)| is_it(p))?;
        Some(self.loads.swap_remove(at).1)
    }

    // ---- checks -------------------------------------------------------

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    /// Checks every invariant of the shard, panicking on a broken one.
    pub(crate) fn assert_invariants(&self, hasher: &impl Fn(&K) -> u64) {
        let len = self.entries.len();
        assert_eq!(self.index.len(), self.occupied, "index and entries differ in size");
        assert_eq!(self.timers.len(), len, "a timer link for each entry");
        assert!(self.early.len() <= len.div_ceil(64), "early bits past the entries");
        let mut vacant = vec![false; len];
        let listed = self.vacant.walk(&self.entries, |id| {
            assert!((id as usize) < len, "vacancy {id} listed past the end");
            assert!(!self.entries[id as usize].is_occupied(), "occupied entry {id} listed vacant");
            assert!(!mem::replace(&mut vacant[id as usize], true), "vacancy {id} listed twice");
        });
        assert_eq!(listed, self.vacant.len(), "the vacancies' count");
        let (mut occupied, mut values, mut used) = (0, 0, 0);
        for (i, entry) in self.entries.iter().enumerate() {
            let id = id_at(i);
            if !entry.is_occupied() {
                assert!(vacant[i], "vacant entry {i} is not listed");
                assert!(!self.timers[i].is_linked(), "vacant entry {i} has a timer");
                continue;
            }
            occupied += 1;
            values += usize::from(entry.has_value());
            used += self.weight(id);
            let hash = hasher(entry.key());
            assert!(self.index.find(hash, |j| j == id).is_some(), "entry {i} not indexed");
            assert_eq!(
                self.timers[i].is_linked(),
                self.expiry(id) != NEVER,
                "entry {i}: timer vs expiry"
            );
        }
        assert_eq!((occupied, values, used), (self.occupied, self.values, self.used), "counts");
        if let Some(policy) = &self.policy {
            policy.assert_invariants(&self.entries, &Weighing { weights: &self.weights, hasher });
        }
        self.wheel.assert_invariants(&TimedView(self));
        let exact = self.exact_due();
        assert!(self.due_from <= exact, "due from {} after the wheel's {exact}", self.due_from);
    }
}

/// The entries taken out of a shard by [`ShardState::take_all`], to be
/// taken apart once its lock is released.
pub(crate) struct Taken<K, V> {
    entries: Vec<Entry<K, V>>,
    touched: Vec<AtomicU64>,
    idle: Option<u64>,
}

impl<K, V> Taken<K, V> {
    /// The entries' parts, each with whether it had expired at `now`.
    pub(crate) fn drain(self, now: u64) -> impl Iterator<Item = (Parts<K, V>, bool)> {
        let Taken { entries, touched, idle } = self;
        entries.into_iter().enumerate().filter(|(_, e)| e.is_occupied()).map(
            move |(i, mut entry)| {
                let expired = expiry(&entry, touched.get(i), idle) <= now;
                (entry.vacate(), expired)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MS: u64 = 1_000_000;

    fn hasher(key: &u64) -> u64 {
        key.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
    }

    /// A pass of reaping at `now`: the keys it removed.
    fn reap(shard: &mut ShardState<u64, u64, ()>, now: u64) -> Vec<u64> {
        shard.begin_reaping();
        let mut expired = Vec::new();
        loop {
            match shard.reap_step(now, &hasher) {
                Reaped::Expired((k, _), _) => expired.push(k),
                Reaped::Progress => {}
                Reaped::Done => return expired,
            }
        }
    }

    /// A small random generator, so that a failure replays exactly.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// A deadline owed a move and brought earlier again, within what the
    /// wheel's reach would allow for a timer filed by it, still brings the
    /// shard's first due tick down: the timer waits in the slot its first
    /// deadline was filed in, which starts after both.
    #[test]
    fn a_deadline_owed_a_move_and_brought_earlier_again_is_reaped_by_then() {
        let layout =
            Layout { tick: Tick::new(MS), idle: None, weighted: false, share: None, most: 0 };
        let mut shard: ShardState<u64, u64, ()> = ShardState::new(layout, 1, 0);
        let (key, mut dropped) = (1u64, Vec::new());
        let id = shard.insert(hasher(&key), key, Some(1), 60_000 * MS, 1, 0, &hasher, &mut dropped);
        shard.retime(id, 90_000 * MS, 0);
        assert_eq!(shard.early.capacity(), 0, "no move owed, no bits for early timers");
        shard.retime(id, 5_000 * MS, 0);
        assert_eq!(shard.owed.len(), 1, "90 s to 5 s is owed a move");
        assert!(shard.early.capacity() >= first_room(8), "the bits' first room");
        // 4.9 s lies within the reach of a timer filed by 5 s.
        shard.retime(id, 4_900 * MS, 0);
        assert!(shard.next_tick_start() <= 4_900 * MS);
        shard.assert_invariants(&hasher);
        assert!(reap(&mut shard, 4_899 * MS).is_empty());
        assert_eq!(reap(&mut shard, 4_900 * MS), vec![key]);
    }

    /// A shard files new timers (of new keys, or of keys given their
    /// first deadline) by their tick until a write there brings a
    /// deadline earlier than its timer's slot; from then on it files them
    /// early, in the slot after the wheel's at their level, so that a
    /// new key's deadline brought earlier, down to that slot's start, owes
    /// no move. Every key still expires exactly on time.
    #[test]
    fn after_a_move_is_owed_new_timers_are_filed_early() {
        let layout =
            Layout { tick: Tick::new(MS), idle: None, weighted: false, share: None, most: 0 };
        let mut shard: ShardState<u64, u64, ()> = ShardState::new(layout, 1, 0);
        let mut dropped = Vec::new();
        let mut put = |shard: &mut ShardState<u64, u64, ()>, key: u64, at: u64| {
            shard.insert(hasher(&key), key, Some(key), at, 1, 0, &hasher, &mut dropped)
        };
        // 60 s ahead is filed in level 2, whose slots span 4.096 s: by its
        // tick in the slot starting at 57.344 s, early in the one at 4.096 s.
        let first = put(&mut shard, 1, 60_000 * MS);
        let second = put(&mut shard, 2, 60_000 * MS);
        assert!(!is_early(&shard.early, second), "no move owed yet: filed by its tick");
        shard.retime(first, 5_000 * MS, 0);
        assert_eq!(shard.owed.len(), 1, "60 s to 5 s, filed by its tick, is owed a move");
        let third = put(&mut shard, 3, 60_000 * MS);
        assert!(is_early(&shard.early, third), "a move was owed: filed early");
        let fourth = put(&mut shard, 4, NEVER);
        shard.retime(fourth, 60_000 * MS, 0);
        assert!(is_early(&shard.early, fourth), "a first deadline given later: filed early too");
        shard.retime(third, 5_000 * MS, 0);
        assert_eq!(shard.owed.len(), 1, "5 s is after 4.096 s: the early timer stays");
        shard.retime(third, 4_000 * MS, 0);
        assert_eq!(shard.owed.len(), 2, "4 s is before 4.096 s: a move is owed");
        shard.assert_invariants(&hasher);
        assert!(reap(&mut shard, 3_999 * MS).is_empty());
        assert_eq!(reap(&mut shard, 4_000 * MS), vec![3]);
        assert!(reap(&mut shard, 4_999 * MS).is_empty());
        assert_eq!(reap(&mut shard, 5_000 * MS), vec![1]);
        assert!(reap(&mut shard, 59_999 * MS).is_empty());
        let mut last = reap(&mut shard, 60_000 * MS);
        last.sort_unstable();
        assert_eq!(last, vec![2, 4]);
        shard.assert_invariants(&hasher);
    }

    /// Keys written with deadlines from milliseconds to a minute and a
    /// half ahead, rewritten earlier and later, removed, the shard
    /// compacted and reaped as the clock goes on, against a map of
    /// deadlines: a reap at `now` takes exactly the keys due by then, and
    /// the shard never says its first due tick is later than a key's.
    /// Rewrites that bring a deadline earlier than the wheel reaches the
    /// timer's slot leave the timer owed a move, and those moves are made
    /// in batches and before every poll, filing the timers early, which
    /// keeps later such rewrites in place.
    #[test]
    fn timers_owed_a_move_expire_on_time() {
        let layout =
            Layout { tick: Tick::new(MS), idle: None, weighted: false, share: None, most: 0 };
        let mut shard: ShardState<u64, u64, ()> = ShardState::new(layout, 1, 0);
        let mut model: HashMap<u64, u64> = HashMap::new();
        let mut rng = Lcg(7);
        let (mut now, mut owed, mut settled_in_batch, mut relocated) = (0u64, 0, 0, 0);
        let mut kept_early = 0;
        let steps = if cfg!(miri) { 60 } else { 30_000 };
        for step in 0..steps {
            // Phases of mostly writes, then of mostly removals, so that the
            // shard also empties out and is compacted.
            let removing = (step / 4_000) % 3 == 2;
            // Reaping often, or seldom, so that moves are also owed by the
            // batch.
            let reaping = if (step / 5_000) % 2 == 0 { 10 } else { 500 };
            let key = rng.below(500);
            let action = if rng.below(reaping) == 0 { 9 } else { rng.below(9) };
            match action {
                0..=5 if !removing || rng.below(4) == 0 => {
                    let ahead = match rng.below(4) {
                        0 => rng.below(100) * MS,
                        1 => rng.below(10_000) * MS,
                        2 => (30_000 + rng.below(60_000)) * MS,
                        _ => NEVER - now,
                    };
                    let deadline = now + ahead;
                    match shard.find(hasher(&key), &key) {
                        Some(id) => {
                            let before = shard.owed.len();
                            let tick = |t: u64| layout.tick.of(t);
                            let (was, to) = (tick(shard.expiry(id)), tick(deadline));
                            // A move a timer not filed early would need.
                            let plain_moves = deadline != NEVER
                                && was != tick(NEVER)
                                && to < was
                                && !shard.wheel.reaches_by(was, to);
                            let early = is_early(&shard.early, id);
                            shard.retime(id, deadline, now);
                            if shard.owed.len() > before {
                                owed += 1;
                            } else if shard.owed.len() < before {
                                settled_in_batch += 1;
                            } else if plain_moves && early {
                                kept_early += 1;
                            }
                        }
                        None => {
                            let mut dropped = Vec::new();
                            let hash = hasher(&key);
                            shard.insert(
                                hash,
                                key,
                                Some(key),
                                deadline,
                                1,
                                now,
                                &hasher,
                                &mut dropped,
                            );
                            assert!(dropped.is_empty());
                        }
                    }
                    if deadline == NEVER {
                        model.remove(&key);
                    } else {
                        model.insert(key, deadline);
                    }
                }
                0..=7 => {
                    if let Some(id) = shard.find(hasher(&key), &key) {
                        let (k, _) = shard.remove(id, Some(hasher(&key)), &hasher);
                        assert_eq!(k, key);
                        model.remove(&key);
                    }
                }
                8 => {
                    while shard.is_sparse() {
                        relocated += usize::from(!shard.owed.is_empty());
                        if shard.compact_step(&hasher) {
                            break;
                        }
                    }
                }
                _ => {
                    now +=
                        if rng.below(20) == 0 { rng.below(5_000) * MS } else { rng.below(3) * MS };
                    let mut expired = reap(&mut shard, now);
                    expired.sort_unstable();
                    let mut due: Vec<u64> =
                        model.iter().filter(|&(_, &d)| d <= now).map(|(&k, _)| k).collect();
                    due.sort_unstable();
                    assert_eq!(expired, due, "step {step}: reaped at {now}");
                    model.retain(|_, d| *d > now);
                }
            }
            assert!(shard.owed.len() < OWED_BATCH);
            if let Some(&first) = model.values().min() {
                assert!(shard.next_tick_start() <= first, "step {step}: due from after a deadline");
            }
            shard.assert_invariants(&hasher);
        }
        if cfg!(miri) {
            return;
        }
        // The path under test was taken, often.
        assert!(owed > 1_000, "{owed} moves owed");
        assert!(kept_early > 20, "{kept_early} timers kept in place by being filed early");
        assert!(settled_in_batch > 10, "{settled_in_batch} batches settled by a write");
        assert!(relocated > 0, "no compaction met an owed move");
    }
}
