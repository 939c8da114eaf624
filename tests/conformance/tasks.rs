//! Tasks for the checks that need callers running at once, on whichever
//! executor the suite runs on: tokio tasks inside a tokio runtime, else a
//! thread each with its own `block_on`. (Futures joined in one task share
//! its waker, so a cache would take them for one caller.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::PATIENCE;

/// How long the checks let spawned callers run before they look: enough
/// for every caller to reach the cache, so a cache that does not make
/// them wait is caught. Passing never depends on it.
pub(crate) const SETTLE: Duration = Duration::from_millis(50);

/// A spawned caller.
pub(crate) enum Spawned<T> {
    Task(tokio::task::JoinHandle<T>),
    Thread(thread::JoinHandle<T>),
}

/// Runs `fut` on a task of its own.
pub(crate) fn spawn<T, F>(fut: F) -> Spawned<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => Spawned::Task(runtime.spawn(fut)),
        Err(_) => Spawned::Thread(thread::spawn(move || futures::executor::block_on(fut))),
    }
}

impl<T> Spawned<T> {
    /// Whether the caller has returned (or panicked).
    pub(crate) fn is_finished(&self) -> bool {
        match self {
            Spawned::Task(t) => t.is_finished(),
            Spawned::Thread(t) => t.is_finished(),
        }
    }

    /// The caller's result, `Err` if it panicked; `None` if it has not
    /// returned within `PATIENCE` (a hang fails the check instead of
    /// hanging it).
    pub(crate) async fn join(self) -> Option<thread::Result<T>> {
        if !until(|| self.is_finished()).await {
            return None;
        }
        Some(match self {
            Spawned::Task(t) => t.await.map_err(|e| e.into_panic()),
            Spawned::Thread(t) => t.join(),
        })
    }
}

/// Waits `d` without blocking a tokio worker.
pub(crate) async fn nap(d: Duration) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(d).await;
    } else {
        thread::sleep(d);
    }
}

/// Polls `done` every 2 ms until it holds or `PATIENCE` runs out; whether
/// it held.
pub(crate) async fn until(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > PATIENCE {
            return false;
        }
        nap(Duration::from_millis(2)).await;
    }
}

/// Polls `fut` once with a waker that does nothing.
pub(crate) fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}
