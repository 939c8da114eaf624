//! One load in flight, as its loader and its waiters share it: the state
//! machine of single-flight loading, for any backend (the memory cache
//! registers flights in its shards, the Redis backend in a map of its own).
//!
//! A [`Flight`] is `Running` until its loader ends it with a [`Landing`]:
//! the value, "absent", or "retry" (the loader gave up). Sync waiters block
//! on its condition variable; async waiters park their `Waker` in a slot
//! of their own, and take it back out if they are dropped first, so a
//! cancelled waiter leaves nothing behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex};

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

    pub(crate) fn is(&self, other: &Loader) -> bool {
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

impl<V> Flight<V> {
    /// Who runs the load.
    pub(crate) fn loader(&self) -> &Loader {
        &self.loader
    }
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
    pub(crate) fn new(loader: Loader) -> Arc<Self> {
        Arc::new(Flight {
            state: Mutex::new(FlightState::Running { wakers: Vec::new(), free: Vec::new() }),
            done: Condvar::new(),
            loader,
        })
    }

    /// Ends the flight, waking every waiter.
    pub(crate) fn complete(&self, outcome: Landing<V>) {
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
