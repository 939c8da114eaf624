//! The pool that calls removal listeners for background expiry.
//!
//! The expiry thread runs a listener itself only once it has proven fast
//! (see `inner::notify`); otherwise it queues each cache's notices on the
//! cache and hands the cache to this pool. A worker delivers
//! a batch of one cache's notices, then puts the cache at the back of the
//! line if more are queued, so caches take turns. One cache is in the hands
//! of at most one worker at a time, so its notices arrive in order, and a
//! listener that blocks holds up only its own cache's notices.
//!
//! Workers are started when work arrives and none is idle, up to
//! [`MAX_WORKERS`], so a few slow listeners cannot starve the others;
//! they end after [`IDLE_EXIT`] without work, or at once when the last
//! cache on the real clock goes. The pool serves every cache, on either
//! clock, so queued notices are always delivered.
//!
//! If no worker runs and none can be started (the system refuses a new
//! thread), the line is *stranded*: its notices wait, queued in order, and
//! the start is tried again by the next submission, by the next notices
//! any cache queues, and by the expiry thread (if one runs: a cache on the
//! real clock is alive), which a stranding submission wakes, at least every
//! [`RETRY_STRANDED`] while it lasts (see [`retry_stranded`]).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::unwind;

/// The most workers at once: this many listeners may block at the same
/// time before the other caches' notices wait.
pub(crate) const MAX_WORKERS: usize = 4;
/// How long a worker waits for work before it ends.
pub(crate) const IDLE_EXIT: Duration = Duration::from_secs(2);
/// The longest the expiry thread sleeps while the line is stranded before
/// it tries again to start a worker.
pub(crate) const RETRY_STRANDED: Duration = Duration::from_millis(100);

/// A cache's queue of notices, as the pool sees it.
pub(crate) trait Deliver: Send + Sync {
    /// Delivers a batch of the queued notices, and then what those
    /// listener calls caused; returns whether more are queued (and the
    /// cache should come back).
    fn deliver_some(&self) -> bool;
    /// Delivers a batch of the queued notices, nothing else; returns
    /// whether more are queued.
    fn deliver_batch(&self) -> bool;
}

/// The caches in line and the workers serving them. One for the process
/// (`POOL`); tests build their own.
struct Pool {
    state: Mutex<State>,
    /// Signalled when a cache joins the line while a worker is idle, and
    /// to send the idle workers home.
    work: Condvar,
    /// Caches wait in line and no worker runs: starting one failed. Set
    /// and cleared under `state`'s lock; read without it as a hint.
    stranded: AtomicBool,
    /// Worker starts that fail on purpose, to test a stranded line.
    #[cfg(test)]
    fail_starts: std::sync::atomic::AtomicUsize,
}

struct State {
    line: VecDeque<Arc<dyn Deliver>>,
    workers: usize,
    idle: usize,
    /// Bumped to send the idle workers home.
    retire: u64,
}

static POOL: Pool = Pool::new();

/// Puts a cache with queued notices in line (it must not be in line
/// already), starting a worker if none is idle.
pub(crate) fn submit(cache: Arc<dyn Deliver>) {
    POOL.submit(cache);
}

/// Tries again to start a worker if the line is stranded (a cheap check
/// otherwise); returns whether it still is.
pub(crate) fn retry_stranded() -> bool {
    POOL.retry_stranded()
}

/// Sends the idle workers home now rather than after [`IDLE_EXIT`] (the
/// last cache on the real clock went); busy ones finish their line first.
pub(crate) fn retire_idle() {
    POOL.retire_idle();
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            state: Mutex::new(State { line: VecDeque::new(), workers: 0, idle: 0, retire: 0 }),
            work: Condvar::new(),
            stranded: AtomicBool::new(false),
            #[cfg(test)]
            fail_starts: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn submit(&'static self, cache: Arc<dyn Deliver>) {
        let mut state = self.state.lock();
        state.line.push_back(cache);
        if state.idle > 0 {
            self.work.notify_one();
        } else {
            self.start_worker(&mut state);
        }
        drop(state);
        if self.stranded.load(Relaxed) {
            // The expiry thread may be asleep with no deadline: it retries
            // only once it has seen the line stranded.
            super::wake_thread();
        }
    }

    /// Starts a worker if there is room for one. A worker that cannot be
    /// started leaves the line to the running workers, if any, and
    /// stranded otherwise.
    fn start_worker(&'static self, state: &mut State) {
        if state.workers >= MAX_WORKERS {
            return;
        }
        if self.spawn().is_ok() {
            state.workers += 1;
            self.stranded.store(false, Relaxed);
        } else if state.workers == 0 {
            self.stranded.store(true, Relaxed);
        }
    }

    fn retry_stranded(&'static self) -> bool {
        if !self.stranded.load(Relaxed) {
            return false;
        }
        let mut state = self.state.lock();
        if state.line.is_empty() || state.workers > 0 {
            self.stranded.store(false, Relaxed);
        } else {
            self.start_worker(&mut state);
        }
        self.stranded.load(Relaxed)
    }

    /// Starts a worker thread; it is detached, and ends on its own once
    /// idle.
    fn spawn(&'static self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_starts.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1)).is_ok() {
            return Err(io::Error::other("a worker start failed on purpose"));
        }
        thread::Builder::new().name("wheelcache-notify".into()).spawn(|| self.work()).map(drop)
    }

    fn work(&self) {
        let mut state = self.state.lock();
        loop {
            if let Some(cache) = state.line.pop_front() {
                drop(state);
                // A listener's panics are caught inside; this is a backstop.
                let more = unwind::catch(|| cache.deliver_some()).unwrap_or(true);
                state = self.state.lock();
                if more {
                    state.line.push_back(cache);
                } else {
                    // The last handle of a dropped cache may go here:
                    // outside the lock.
                    drop(state);
                    drop(cache);
                    state = self.state.lock();
                }
                continue;
            }
            let retire = state.retire;
            state.idle += 1;
            let timed_out = self.work.wait_for(&mut state, IDLE_EXIT).timed_out();
            state.idle -= 1;
            if state.line.is_empty() && (timed_out || state.retire != retire) {
                break;
            }
        }
        state.workers -= 1;
    }

    fn retire_idle(&self) {
        let mut state = self.state.lock();
        state.retire += 1;
        self.work.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// A pool of the test's own, beside the process's.
    fn pool() -> &'static Pool {
        Box::leak(Box::new(Pool::new()))
    }

    /// Polls `done` until it holds, for at most ten seconds.
    fn eventually(done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > Duration::from_secs(10) {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Sends the pool's idle workers home and waits until they are gone.
    fn wind_down(pool: &Pool) {
        pool.retire_idle();
        assert!(eventually(|| pool.state.lock().workers == 0), "the workers ended");
    }

    /// A cache with `left` batches of notices queued, counting the batches
    /// delivered.
    struct Batches {
        left: AtomicUsize,
        delivered: AtomicUsize,
    }

    impl Batches {
        fn new(left: usize) -> Arc<Batches> {
            Arc::new(Batches { left: AtomicUsize::new(left), delivered: AtomicUsize::new(0) })
        }

        fn delivered(&self) -> usize {
            self.delivered.load(SeqCst)
        }
    }

    impl Deliver for Batches {
        fn deliver_some(&self) -> bool {
            self.deliver_batch()
        }

        fn deliver_batch(&self) -> bool {
            self.delivered.fetch_add(1, SeqCst);
            self.left.fetch_sub(1, SeqCst) > 1
        }
    }

    /// A cache whose one batch blocks its worker until the test lets go.
    struct Blocking {
        entered: mpsc::SyncSender<()>,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl Deliver for Blocking {
        fn deliver_some(&self) -> bool {
            self.deliver_batch()
        }

        fn deliver_batch(&self) -> bool {
            self.entered.send(()).unwrap();
            self.release.lock().recv().unwrap();
            false
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "threads and timeouts only; this module has no unsafe")]
    fn a_line_no_worker_could_take_is_served_once_one_starts() {
        let pool = pool();
        pool.fail_starts.store(2, SeqCst);
        let cache = Batches::new(3);
        pool.submit(cache.clone());
        assert!(pool.stranded.load(SeqCst), "no worker runs, none started");
        assert_eq!(pool.state.lock().workers, 0);
        assert!(pool.retry_stranded(), "the second start failed too");
        assert_eq!(cache.delivered(), 0, "nothing was there to deliver");
        assert!(!pool.retry_stranded(), "the third start succeeded");
        assert!(eventually(|| cache.delivered() == 3), "{} of 3 batches", cache.delivered());
        assert!(!pool.stranded.load(SeqCst));
        wind_down(pool);
    }

    #[test]
    #[cfg_attr(miri, ignore = "threads and timeouts only; this module has no unsafe")]
    fn a_failed_start_beside_a_busy_worker_strands_nothing() {
        let pool = pool();
        let (entered, blocked) = mpsc::sync_channel(1);
        let (release, released) = mpsc::channel();
        pool.submit(Arc::new(Blocking { entered, release: Mutex::new(released) }));
        blocked.recv_timeout(Duration::from_secs(10)).expect("the first worker started");
        // The one worker is busy, so the next cache asks for a second,
        // which cannot start: the busy worker takes the cache once free.
        pool.fail_starts.store(1, SeqCst);
        let cache = Batches::new(2);
        pool.submit(cache.clone());
        assert_eq!(pool.state.lock().workers, 1);
        assert!(!pool.stranded.load(SeqCst), "a worker runs");
        assert!(!pool.retry_stranded());
        assert_eq!(cache.delivered(), 0, "the only worker is still busy");
        release.send(()).unwrap();
        assert!(eventually(|| cache.delivered() == 2), "{} of 2 batches", cache.delivered());
        wind_down(pool);
    }
}
