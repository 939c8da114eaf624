//! The lazy whole-cache iterators: [`IterKeys`] and [`Iter`]. Each copies
//! one shard's live entries at a time under a shared lock and holds no
//! lock between items, so the caller's loop body may call the cache.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use crate::inner::{Entries, Handle, Keys, ShardKeys};
use crate::DefaultHashBuilder;

/// Copies one shard at a time: the state both iterators share, yielding
/// what `T` makes of each entry.
struct Walk<K, V, S, T, I> {
    cache: Handle<K, V, S>,
    shard: usize,
    batch: std::vec::IntoIter<I>,
    kind: PhantomData<T>,
}

impl<K, V, S, T> Walk<K, V, S, T, T::Item>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
    T: ShardKeys<K, V>,
{
    fn new(cache: Handle<K, V, S>) -> Self {
        Walk { cache, shard: 0, batch: Vec::new().into_iter(), kind: PhantomData }
    }

    fn next(&mut self) -> Option<T::Item> {
        loop {
            if let Some(item) = self.batch.next() {
                return Some(item);
            }
            self.batch = self.cache.shard_items::<T>(self.shard)?.into_iter();
            self.shard += 1;
        }
    }
}

/// The lazy iterator of [`Cache::iter_keys`](crate::Cache::iter_keys).
pub struct IterKeys<K, V, S = DefaultHashBuilder> {
    walk: Walk<K, V, S, Keys, K>,
}

/// The lazy iterator of [`Cache::iter`](crate::Cache::iter).
pub struct Iter<K, V, S = DefaultHashBuilder> {
    walk: Walk<K, V, S, Entries, (K, V)>,
}

impl<K, V, S> IterKeys<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    pub(crate) fn new(cache: Handle<K, V, S>) -> Self {
        IterKeys { walk: Walk::new(cache) }
    }
}

impl<K, V, S> Iter<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    pub(crate) fn new(cache: Handle<K, V, S>) -> Self {
        Iter { walk: Walk::new(cache) }
    }
}

impl<K, V, S> Iterator for IterKeys<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    type Item = K;

    fn next(&mut self) -> Option<K> {
        self.walk.next()
    }
}

impl<K, V, S> Iterator for Iter<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        self.walk.next()
    }
}

impl<K, V, S> fmt::Debug for IterKeys<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterKeys").field("shard", &self.walk.shard).finish_non_exhaustive()
    }
}

impl<K, V, S> fmt::Debug for Iter<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("shard", &self.walk.shard).finish_non_exhaustive()
    }
}
