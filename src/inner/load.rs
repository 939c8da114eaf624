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

use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::write::Write;
use super::Inner;
use crate::stats::Read;

/// What a shard registers for a load in flight.
pub(crate) type Load<V> = Arc<Flight<V>>;

/// Who runs a load.
#[derive(Clone, Debug)]
pub(crate) enum Loader {
    /// A thread, blocking its callers.
    Thread(ThreadId),
    /// An async task, known by its waker.
    Task(Waker),
}

impl Loader {
    /// The calling thread.
    pub(crate) fn this_thread() -> Loader {
        Loader::Thread(thread::current().id())
    }

    /// The task polling the current future.
    pub(crate) async fn this_task() -> Loader {
        std::future::poll_fn(|cx| Poll::Ready(Loader::Task(cx.waker().clone()))).await
    }

    fn is(&self, other: &Loader) -> bool {
        match (self, other) {
            (Loader::Thread(a), Loader::Thread(b)) => a == b,
            (Loader::Task(a), Loader::Task(b)) => a.will_wake(b),
            _ => false,
        }
    }
}

/// A load in flight.
pub(crate) struct Flight<V> {
    state: Mutex<FlightState<V>>,
    done: Condvar,
    loader: Loader,
}

enum FlightState<V> {
    /// Waiting futures' wakers, by the slot each future holds.
    Running {
        wakers: Vec<Option<Waker>>,
        free: Vec<usize>,
    },
    Done(Landing<V>),
}

/// How a flight ended, as its waiters see it.
#[derive(Clone, Debug)]
pub(crate) enum Landing<V> {
    /// The loaded value.
    Value(V),
    /// The loader found nothing upstream (a negative marker is stored).
    Absent,
    /// The loader gave up (failed, panicked or was dropped): look again.
    Retry,
}

impl<V: Clone> Flight<V> {
    fn new(loader: Loader) -> Arc<Self> {
        Arc::new(Flight {
            state: Mutex::new(FlightState::Running { wakers: Vec::new(), free: Vec::new() }),
            done: Condvar::new(),
            loader,
        })
    }

    /// Ends the flight, waking every waiter.
    fn complete(&self, outcome: Landing<V>) {
        let wakers = match std::mem::replace(&mut *self.state.lock(), FlightState::Done(outcome)) {
            FlightState::Running { wakers, .. } => wakers,
            FlightState::Done(_) => Vec::new(),
        };
        self.done.notify_all();
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    /// Blocks until the flight ends.
    pub(crate) fn wait(&self) -> Landing<V> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                FlightState::Done(value) => return value.clone(),
                FlightState::Running { .. } => self.done.wait(&mut state),
            }
        }
    }

    /// Waits for the flight without blocking a thread.
    pub(crate) fn wait_async(self: Arc<Self>) -> FlightWait<V> {
        FlightWait { flight: self, slot: None }
    }
}

/// The future of [`Flight::wait_async`].
pub(crate) struct FlightWait<V> {
    flight: Arc<Flight<V>>,
    /// This future's place among the flight's wakers.
    slot: Option<usize>,
}

impl<V: Clone> Future for FlightWait<V> {
    type Output = Landing<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Landing<V>> {
        let this = self.get_mut();
        let mut state = this.flight.state.lock();
        match &mut *state {
            FlightState::Done(value) => Poll::Ready(value.clone()),
            FlightState::Running { wakers, free } => {
                match this.slot {
                    Some(slot) => wakers[slot] = Some(cx.waker().clone()),
                    None => {
                        let slot = free.pop().unwrap_or_else(|| {
                            wakers.push(None);
                            wakers.len() - 1
                        });
                        wakers[slot] = Some(cx.waker().clone());
                        this.slot = Some(slot);
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl<V> Drop for FlightWait<V> {
    /// A cancelled waiter leaves no waker behind.
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut state = self.flight.state.lock();
            if let FlightState::Running { wakers, free } = &mut *state {
                wakers[slot] = None;
                free.push(slot);
            }
        }
    }
}

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

/// What a loader produced.
pub(crate) enum Loaded<V> {
    /// A value, with its TTL (`None`: the default TTL).
    Value(V, Option<Option<Duration>>),
    /// Nothing upstream: a negative marker (negative TTL).
    Absent,
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
        let (stored, expiry, handed, returned) = match loaded {
            Loaded::Value(v, ttl) => {
                let ttl = ttl.unwrap_or(self.inner.default_ttl());
                let stored = v.clone();
                let returned = v.clone();
                (Some(stored), super::Expiry::Ttl(ttl), Landing::Value(v), Some(returned))
            }
            Loaded::Absent => (None, super::Expiry::Negative, Landing::Absent, None),
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
                    w.commit();
                    self.record(Read::Hit);
                    return Begin::Hit(v);
                }
                None if markers => {
                    w.commit();
                    self.record(Read::Negative);
                    return Begin::Negative;
                }
                None => {}
            }
        }
        if let Some(flight) = w.state_ref().find_load(hash, &key) {
            let solo = flight.loader.is(&me)
                || (matches!(me, Loader::Thread(_)) && matches!(flight.loader, Loader::Task(_)));
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
