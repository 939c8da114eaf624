//! Reads: lookups and whole-cache views, under shared locks.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::load::Load;
use super::reap::Mode;
use super::Inner;
use crate::lookup::{Lookup, Ttl};
use crate::stats::Read;
use crate::table::{Shard, ShardState};
use crate::time::{Now, NEVER};

/// How a lookup counts in the read counters.
#[inline]
fn read_of<V>(lookup: &Lookup<V>) -> Read {
    match lookup {
        Lookup::Hit(_) => Read::Hit,
        Lookup::Miss => Read::Miss,
        Lookup::Negative => Read::Negative,
    }
}

/// What a walk over one shard at a time yields: keys, or entries.
pub(crate) trait ShardKeys<K, V> {
    /// What one entry gives.
    type Item;
    fn item(key: &K, value: &V) -> Self::Item;
}

/// Keys of live values.
pub(crate) struct Keys;
/// Live entries.
pub(crate) struct Entries;

impl<K: Clone, V> ShardKeys<K, V> for Keys {
    type Item = K;
    fn item(key: &K, _: &V) -> K {
        key.clone()
    }
}

impl<K: Clone, V: Clone> ShardKeys<K, V> for Entries {
    type Item = (K, V);
    fn item(key: &K, value: &V) -> (K, V) {
        (key.clone(), value.clone())
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    /// Looks `key` up: a live value, a negative marker, or a miss; counts
    /// the read. Takes only the shard's shared lock. Always inlined, so
    /// that [`get`](Inner::get) holds the whole read.
    #[inline(always)]
    pub(crate) fn get_item<Q>(&self, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let lookup = self.lookup(key);
        self.reads.record(read_of(&lookup));
        lookup
    }

    /// The value of a hit: [`get_item`](Inner::get_item) for
    /// [`Cache::get`](crate::Cache::get), with `get_item`,
    /// [`lookup`](Inner::lookup), [`look`](Inner::look) and
    /// `ShardState::find_live` inlined into it.
    /// Kept a call of its own: inlined whole into a caller's loop it saves
    /// about a fifth of a read's instructions, but in the compare
    /// package's `get` hit workload that build ran at 0.64–0.71× of
    /// quick_cache's rate where this one ran at 0.81–0.82×, in
    /// alternating runs.
    #[inline(never)]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.get_item(key).into_option()
    }

    /// [`get_item`](Inner::get_item) that counts only what it finds (with
    /// `markers`, a negative marker too): anything else (`None`) is left
    /// for the caller to count (a loading call, which goes on to load or
    /// wait).
    pub(crate) fn get_found<Q>(&self, key: &Q, markers: bool) -> Option<Lookup<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let lookup = self.lookup(key);
        match lookup {
            Lookup::Hit(_) => self.reads.record(Read::Hit),
            Lookup::Negative if markers => self.reads.record(Read::Negative),
            Lookup::Negative | Lookup::Miss => return None,
        }
        Some(lookup)
    }

    /// Looks `key` up under its shard's shared lock, counting nothing.
    #[inline(always)]
    fn lookup<Q>(&self, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let hash = self.table.hash(key);
        let state = self.table.locate(hash).read();
        self.look(&state, hash, key, &mut self.now())
    }

    /// Looks `key` up in a locked shard, recording the read for the policy
    /// and the time to idle. `now` is called (once) only if the entry has
    /// an expiry or a time to idle.
    #[inline(always)]
    fn look<Q>(
        &self,
        state: &ShardState<K, V, Load<V>>,
        hash: u64,
        key: &Q,
        now: &mut Now<'_>,
    ) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        V: Clone,
    {
        match state.find_live(hash, key, now) {
            None => Lookup::Miss,
            Some(entry) => match entry.value() {
                Some(v) => Lookup::Hit(v.clone()),
                None => Lookup::Negative,
            },
        }
    }

    /// The values of live entries of `keys`, in order, looking each shard
    /// up under one shared lock; counts every read. The keys of one shard
    /// are read as of one instant of that hold (the precise clock is read
    /// at most once, and only if the coarse clock cannot prove one of
    /// their deadlines ahead): no writer can come between them.
    pub(crate) fn get_many<Q>(&self, keys: &[&Q]) -> Vec<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let mut order: Vec<(usize, u64, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let hash = self.table.hash(*key);
                (self.table.shard_index(hash), hash, i)
            })
            .collect();
        order.sort_unstable_by_key(|&(shard, _, i)| (shard, i));
        let mut out: Vec<Option<V>> = (0..keys.len()).map(|_| None).collect();
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let shard = &self.table.shards()[group[0].0];
            for &(_, hash, _) in group {
                shard.prefetch(hash);
            }
            let state = shard.read();
            let mut now = self.now();
            for &(_, hash, i) in group {
                let lookup = self.look(&state, hash, keys[i], &mut now);
                self.reads.record(read_of(&lookup));
                out[i] = lookup.into_option();
            }
        }
        out
    }

    /// Whether `key` holds a live value. Counts nothing, touches nothing.
    pub(crate) fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.table.hash(key);
        let state = self.table.locate(hash).read();
        state.find(hash, key).is_some_and(|id| {
            let expiry = state.expiry(id);
            state.entry(id).has_value() && (expiry == NEVER || self.clock.before(expiry))
        })
    }

    /// How long `key` has to live: missing, persistent, or exactly how long
    /// (the earlier of its deadline and its idle expiry).
    pub(crate) fn ttl<Q>(&self, key: &Q) -> Ttl
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.table.hash(key);
        let state = self.table.locate(hash).read();
        let Some(id) = state.find(hash, key) else {
            return Ttl::Missing;
        };
        let expiry = state.expiry(id);
        drop(state);
        if expiry == NEVER {
            return Ttl::Persistent;
        }
        let now = self.clock.now();
        if now >= expiry {
            Ttl::Missing
        } else {
            Ttl::Remaining(Duration::from_nanos(expiry - now))
        }
    }

    /// The number of live values. Expired entries not reaped yet are
    /// reaped first, on this thread: work proportional to them, never a
    /// scan of the cache.
    pub(crate) fn len(&self) -> usize {
        let now = self.clock.now();
        self.table
            .shards()
            .iter()
            .map(|shard| {
                if shard.next_due() <= now {
                    self.reap_shard(shard, now, NEVER, Mode::Inline);
                }
                shard.read().values()
            })
            .sum()
    }

    /// Visits every live value's entry, shard by shard (see
    /// [`push_live`](Inner::push_live)).
    pub(crate) fn collect<T>(&self, mut f: impl FnMut(&K, &V) -> T) -> Vec<T> {
        let mut out = Vec::new();
        for shard in self.table.shards() {
            self.push_live(shard, &mut out, &mut f);
        }
        out
    }

    /// The live values of shard `n` as `T` items; `None` past the last
    /// shard.
    pub(crate) fn shard_items<T: ShardKeys<K, V>>(&self, n: usize) -> Option<Vec<T::Item>> {
        let shard = self.table.shards().get(n)?;
        let mut out = Vec::new();
        self.push_live(shard, &mut out, T::item);
        Some(out)
    }

    /// Pushes what `f` makes of each live value's entry of `shard` onto
    /// `out`, under the shard's shared lock, as of a clock reading taken
    /// under it: an entry that expired while the lock was awaited is left
    /// out.
    fn push_live<T>(
        &self,
        shard: &Shard<K, V, Load<V>>,
        out: &mut Vec<T>,
        mut f: impl FnMut(&K, &V) -> T,
    ) {
        let state = shard.read();
        let now = self.clock.now();
        out.reserve(state.values());
        for (id, entry) in state.entries().iter().enumerate() {
            let (Some(key), Some(value)) = (entry.occupied_key(), entry.value()) else {
                continue;
            };
            if state.expiry(crate::list::id_at(id)) > now {
                out.push(f(key, value));
            }
        }
    }

    /// The room of the shards' entry vectors.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn entry_slots(&self) -> usize {
        self.table.shards().iter().map(|s| s.read().capacity()).sum()
    }

    /// Armed timers: entries and markers with an expiry, reaped or not.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn timers(&self) -> usize {
        self.table.shards().iter().map(|s| s.read().timers()).sum()
    }

    /// Checks every shard's invariants, panicking on a broken one.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn assert_invariants(&self) {
        let hasher = self.table.hasher();
        for shard in self.table.shards() {
            let state = shard.read();
            state.assert_invariants(&hasher);
            assert!(
                shard.next_due() <= state.next_tick_start(),
                "a shard's published next due tick is later than its wheel's"
            );
        }
    }
}
