//! Single-flight loading: concurrent callers for one missing key run one
//! loader; the others wait for its value.
//!
//! A load in flight is a [`Flight`] registered in its key's shard (under
//! the shard lock, beside the entries). Plain reads do not look at it: they
//! miss until the value is stored, and never wait. A waiter blocks on the
//! flight's condition variable (sync) or parks its `Waker` in it (async).
//! The loader holds a [`LoadGuard`]: when the loader succeeds the value is
//! stored and handed to the waiters; when it fails, panics or (async) is
//! dropped, the guard removes the flight and the waiters retry, one of them
//! becoming the next loader. No placeholder is ever left behind.

use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use crate::cache::Cache;
use crate::lookup::Lookup;

/// A load in flight.
pub(crate) struct Flight<V> {
    state: Mutex<FlightState<V>>,
    done: Condvar,
}

enum FlightState<V> {
    Running(Vec<Waker>),
    /// The loaded value, or `None` when the loader gave up (retry).
    Done(Option<V>),
}

impl<V: Clone> Flight<V> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Flight {
            state: Mutex::new(FlightState::Running(Vec::new())),
            done: Condvar::new(),
        })
    }

    /// Ends the flight, waking every waiter.
    pub(crate) fn complete(&self, value: Option<V>) {
        let wakers = match std::mem::replace(&mut *self.state.lock(), FlightState::Done(value)) {
            FlightState::Running(wakers) => wakers,
            FlightState::Done(_) => Vec::new(),
        };
        self.done.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Blocks until the flight ends: its value, or `None` to retry.
    pub(crate) fn wait(&self) -> Option<V> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                FlightState::Done(value) => return value.clone(),
                FlightState::Running(_) => self.done.wait(&mut state),
            }
        }
    }

    /// Waits for the flight without blocking a thread.
    pub(crate) fn wait_async(self: Arc<Self>) -> FlightWait<V> {
        FlightWait { flight: self }
    }
}

/// The future of [`Flight::wait_async`].
pub(crate) struct FlightWait<V> {
    flight: Arc<Flight<V>>,
}

impl<V: Clone> Future for FlightWait<V> {
    type Output = Option<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<V>> {
        let mut state = self.flight.state.lock();
        match &mut *state {
            FlightState::Done(value) => Poll::Ready(value.clone()),
            FlightState::Running(wakers) => {
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// What a caller of a loading call finds.
pub(crate) enum Begin<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A live value.
    Hit(V),
    /// Another caller is loading: wait for it.
    Wait(Arc<Flight<V>>),
    /// This caller loads; the guard ends the flight.
    Load(LoadGuard<K, V, S>),
}

/// The loader's duty: store the value and end the flight, or (on drop
/// without [`LoadGuard::finish`]) remove the flight so a waiter retries.
pub(crate) struct LoadGuard<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    cache: Cache<K, V, S>,
    key: Option<K>,
    flight: Arc<Flight<V>>,
}

impl<K, V, S> LoadGuard<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    pub(crate) fn new(cache: Cache<K, V, S>, key: K, flight: Arc<Flight<V>>) -> Self {
        LoadGuard { cache, key: Some(key), flight }
    }

    /// Stores the loaded value (default TTL) and hands it to the waiters.
    pub(crate) fn finish(mut self, value: V) -> V {
        if let Some(key) = self.key.take() {
            self.cache.end_load(key, Some(value.clone()), &self.flight);
        }
        self.flight.complete(Some(value.clone()));
        value
    }
}

impl<K, V, S> Drop for LoadGuard<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cache.end_load(key, None, &self.flight);
            self.flight.complete(None);
        }
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The live value of `key`, or the value `init` returns, stored with the
    /// default TTL. Single-flight: concurrent callers for one key run one
    /// `init`; the others wait for its value (blocking their thread).
    ///
    /// A negative marker counts as absent. Plain reads never wait for a
    /// load: they miss until its value is stored.
    ///
    /// # Panics
    ///
    /// If `init` panics, the panic propagates to this caller; the load is
    /// abandoned without leaving anything behind, and one of the waiters
    /// runs its own `init` instead.
    ///
    /// # Example
    ///
    /// ```
    /// use wheelcache::Cache;
    ///
    /// let cache: Cache<u64, String> = Cache::new();
    /// let v = cache.get_or_insert_with(7, || "loaded".to_string());
    /// assert_eq!(v, "loaded");
    /// assert_eq!(cache.get_or_insert_with(7, || unreachable!()), "loaded");
    /// ```
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        match self.try_get_or_insert_with(key, || Ok::<V, std::convert::Infallible>(init())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// As [`get_or_insert_with`](Cache::get_or_insert_with), with a loader
    /// that can fail.
    ///
    /// # Errors
    ///
    /// The loader's error, returned to the caller that ran it; nothing is
    /// stored, and a waiting caller runs its own loader next.
    pub fn try_get_or_insert_with<E>(
        &self,
        key: K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        loop {
            match self.begin_load(key.clone()) {
                Begin::Hit(v) => return Ok(v),
                Begin::Wait(flight) => {
                    if let Some(v) = flight.wait() {
                        return Ok(v);
                    }
                }
                Begin::Load(guard) => {
                    // On error or panic the guard abandons the load.
                    let value = init()?;
                    return Ok(guard.finish(value));
                }
            }
        }
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    // ---- single-flight loading (see `load`) ----------------------------

    /// Finds `key`'s live value, or the load in flight for it, or registers
    /// a new load that the caller must run.
    pub(crate) fn begin_load(&self, key: K) -> Begin<K, V, S> {
        let inner = &*self.inner;
        let hash = inner.table.hash(&key);
        let shard = inner.table.shard(hash);
        if let Lookup::Hit(v) = self.get_item(&key) {
            return Begin::Hit(v);
        }
        let mut now = inner.now();
        let mut state = shard.state.write();
        if let Some(i) = state.find(hash, &key) {
            let slot = state.slot(i);
            if let (Some(v), false) = (slot.value(), now.expired(slot)) {
                return Begin::Hit(v.clone());
            }
        }
        if let Some(flight) = state.find_load(hash, &key) {
            return Begin::Wait(flight);
        }
        let flight = Flight::new();
        state.add_load(hash, key.clone(), flight.clone());
        drop(state);
        Begin::Load(LoadGuard::new(self.clone(), key, flight))
    }

    /// Ends a load: stores its value, if it produced one, and unregisters
    /// the flight, in one critical section.
    pub(crate) fn end_load(&self, key: K, value: Option<V>, flight: &Arc<Flight<V>>) {
        let inner = &*self.inner;
        let hash = inner.table.hash(&key);
        let shard = inner.table.shard(hash);
        let mut now = inner.now();
        let mut state = shard.state.write();
        state.remove_load(flight);
        let Some(value) = value else {
            return;
        };
        let deadline = now.deadline(inner.default_ttl);
        let found = state.find(hash, &key);
        let put = inner.put(&mut state, shard, hash, found, key, Some(value), deadline, &mut now);
        drop(state);
        inner.armed(deadline);
        inner.finish(shard, put, &mut now);
    }
}
