//! Single-flight loading: concurrent callers for one missing key run one
//! loader; the others wait for its value.
//!
//! A load in flight is a [`Flight`] registered in its key's shard (under
//! the shard lock, beside the entries). Plain reads do not look at it: they
//! miss until the value is stored, and never wait. A waiter blocks on the
//! flight's condition variable (sync) or parks its `Waker` in it (async);
//! a waiting future that is dropped takes its `Waker` back out. The loader
//! holds a [`LoadGuard`]: when the loader succeeds the value is stored and
//! handed to the waiters; when it fails, panics (the loader itself or the
//! value's `Clone`) or (async) is dropped, the guard removes the flight
//! and the waiters retry, one of them becoming the next loader. No
//! placeholder is ever left behind.
//!
//! Two waits could never end, so they do not happen: a loader that asks
//! for its own key (the same thread, or the same async task) does not wait
//! for itself but loads again, unshared; and a blocking (sync) caller does
//! not wait for an async load, which may need the very thread it would
//! block (a single-threaded runtime), but loads on its own.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use crate::flight::{Flight, Landing, Loader};
use crate::lookup::Loaded;

use super::write::Write;
use super::Inner;
use crate::stats::Read;

/// What a shard registers for a load in flight.
pub(crate) type Load<V> = Arc<Flight<V>>;

/// What a caller of a loading call finds.
pub(crate) enum Begin<'a, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// A live value.
    Hit(V),
    /// A live negative marker (only when markers are asked to count).
    Negative,
    /// Another caller is loading: wait for it.
    Wait(Arc<Flight<V>>),
    /// This caller loads; the guard ends the flight.
    Load(LoadGuard<'a, K, V, S>),
}

/// The loader's duty: store the value and end the flight, or (on drop
/// without [`LoadGuard::finish`]) remove the flight so a waiter retries.
pub(crate) struct LoadGuard<'a, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    inner: &'a Inner<K, V, S>,
    hash: u64,
    /// The key, until the flight ends.
    key: Option<K>,
    /// `None` for a load that shares no flight (see the module docs).
    flight: Option<Arc<Flight<V>>>,
}

impl<K, V, S> LoadGuard<'_, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// Stores what the loader produced and hands it to the waiters;
    /// returns the value (`None`: absent).
    pub(crate) fn finish(mut self, loaded: Loaded<V>) -> Option<V> {
        // Copies first: a panicking `Clone` leaves the guard armed, and
        // its drop ends the flight.
        let (value, expiry) = match loaded {
            Loaded::Value(v) => (Some(v), super::Expiry::Default),
            Loaded::ValueWithTtl(v, ttl) => (Some(v), super::Expiry::Ttl(ttl)),
            Loaded::Absent => (None, super::Expiry::Negative),
        };
        let (stored, handed, returned) = match value {
            Some(v) => {
                let (stored, returned) = (v.clone(), v.clone());
                (Some(stored), Landing::Value(v), Some(returned))
            }
            None => (None, Landing::Absent, None),
        };
        let key = self.key.take().expect("a guard finishes once");
        let flight = self.flight.take();
        let hash = self.hash;
        self.inner.put_with(hash, key, stored, expiry, |w| {
            if let Some(flight) = &flight {
                w.end_flight(flight);
            }
        });
        if let Some(flight) = flight {
            flight.complete(handed);
        }
        returned
    }
}

impl<K, V, S> Drop for LoadGuard<'_, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    fn drop(&mut self) {
        if let (Some(_), Some(flight)) = (self.key.take(), self.flight.take()) {
            let mut w = self.inner.write(self.hash);
            w.end_flight(&flight);
            w.commit();
            flight.complete(Landing::Retry);
        }
    }
}

impl<K, V, S> Write<'_, K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// Ends the registration of `flight` in this shard (if it is still
    /// registered).
    pub(crate) fn end_flight(&mut self, flight: &Arc<Flight<V>>) {
        let key = self.state_mut().remove_load(|f| Arc::ptr_eq(f, flight));
        self.keep_until_commit(key);
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// Finds `key`'s live value, or the load in flight for it, or
    /// registers a new load that the caller (`me`) must run. With
    /// `markers`, a live negative marker is an answer too; otherwise it
    /// counts as absent.
    pub(crate) fn begin_load(&self, key: K, me: Loader, markers: bool) -> Begin<'_, K, V, S> {
        let hash = self.table.hash(&key);
        let mut w = self.write(hash);
        let live = w.find(&key).filter(|&id| w.is_live(id));
        if let Some(id) = live {
            match w.value(id) {
                Some(v) => {
                    let v = v.clone();
                    w.on_read(id);
                    w.commit();
                    self.record(Read::Hit);
                    return Begin::Hit(v);
                }
                None if markers => {
                    w.on_read(id);
                    w.commit();
                    self.record(Read::Negative);
                    return Begin::Negative;
                }
                None => {}
            }
        }
        if let Some(flight) = w.state_ref().find_load(hash, &key) {
            let solo = flight.loader().is(&me)
                || (matches!(me, Loader::Thread(_)) && matches!(flight.loader(), Loader::Task(_)));
            if !solo {
                let flight = flight.clone();
                w.commit();
                self.record(Read::LoadWait);
                return Begin::Wait(flight);
            }
            w.commit();
            self.record(Read::Miss);
            return Begin::Load(LoadGuard { inner: self, hash, key: Some(key), flight: None });
        }
        let flight = Flight::new(me);
        let registered = key.clone();
        w.state_mut().add_load(hash, registered, flight.clone());
        w.commit();
        self.record(Read::Miss);
        Begin::Load(LoadGuard { inner: self, hash, key: Some(key), flight: Some(flight) })
    }
}
