//! Whole-cache views: `len`, the snapshots `keys`/`values`/`items`, and the
//! lazy [`IterKeys`], which holds no lock while the caller's code runs.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::cache::Cache;
use crate::DefaultHashBuilder;

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    // ---- whole-cache views --------------------------------------------

    /// The number of live values (markers and expired entries not counted).
    ///
    /// Expired entries the expiry thread has not reached yet are reaped
    /// first, on this thread: that is work proportional to them, never a
    /// scan of the cache.
    pub fn len(&self) -> usize {
        let inner = &*self.inner;
        let now = inner.clock.now();
        inner
            .table
            .shards()
            .iter()
            .map(|shard| {
                let state = shard.state.read();
                if !state.may_have_expired(now) {
                    return state.values();
                }
                drop(state);
                inner.reap_shard(shard, now);
                shard.state.read().values()
            })
            .sum()
    }

    /// Whether there is no live value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Visits every live value's entry, shard by shard, under a shared lock.
    fn collect<T>(&self, mut f: impl FnMut(&K, &V) -> T) -> Vec<T> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let mut out = Vec::new();
        for shard in inner.table.shards() {
            let state = shard.state.read();
            out.reserve(state.values());
            for slot in state.slots() {
                if let (Some(v), false) = (slot.value(), slot.expired_at(now)) {
                    out.push(f(&slot.key, v));
                }
            }
        }
        out
    }

    /// A snapshot of the live keys (markers excluded).
    pub fn keys(&self) -> Vec<K> {
        self.collect(|k, _| k.clone())
    }

    /// A snapshot of the live values (markers excluded).
    pub fn values(&self) -> Vec<V> {
        self.collect(|_, v| v.clone())
    }

    /// A snapshot of the live entries (markers excluded).
    pub fn items(&self) -> Vec<(K, V)> {
        self.collect(|k, v| (k.clone(), v.clone()))
    }

    /// A lazy iterator over the live keys (markers excluded).
    ///
    /// It copies one shard's keys at a time under a shared lock and holds no
    /// lock while the caller's loop body runs, so the body may call the
    /// cache, even write to it. Keys written during the loop may or may
    /// not be seen; a key is yielded at most once.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<u32, u32> = Cache::new();
    /// for k in 0..10 {
    ///     cache.set(k, k);
    /// }
    /// for k in cache.iter_keys() {
    ///     cache.del_item(&k); // no deadlock
    /// }
    /// assert!(cache.is_empty());
    /// ```
    pub fn iter_keys(&self) -> IterKeys<K, V, S> {
        IterKeys { cache: self.clone(), shard: 0, batch: Vec::new().into_iter() }
    }

    /// The keys of live values in shard `n`.
    fn shard_keys(&self, n: usize) -> Option<Vec<K>> {
        let inner = &*self.inner;
        let shard = inner.table.shards().get(n)?;
        let now = inner.clock.now();
        let state = shard.state.read();
        let keys = state
            .slots()
            .iter()
            .filter(|slot| slot.has_value() && !slot.expired_at(now))
            .map(|slot| slot.key.clone())
            .collect();
        Some(keys)
    }
}

/// The lazy iterator of [`Cache::iter_keys`].
pub struct IterKeys<K, V, S = DefaultHashBuilder> {
    cache: Cache<K, V, S>,
    shard: usize,
    batch: std::vec::IntoIter<K>,
}

impl<K, V, S> Iterator for IterKeys<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    type Item = K;

    fn next(&mut self) -> Option<K> {
        loop {
            if let Some(key) = self.batch.next() {
                return Some(key);
            }
            self.batch = self.cache.shard_keys(self.shard)?.into_iter();
            self.shard += 1;
        }
    }
}

impl<K, V, S> fmt::Debug for IterKeys<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterKeys").field("shard", &self.shard).finish_non_exhaustive()
    }
}
