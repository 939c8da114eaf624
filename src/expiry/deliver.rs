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

use std::collections::VecDeque;
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

struct Pool {
    line: VecDeque<Arc<dyn Deliver>>,
    workers: usize,
    idle: usize,
    /// Bumped to send the idle workers home.
    retire: u64,
}

static POOL: Mutex<Pool> =
    Mutex::new(Pool { line: VecDeque::new(), workers: 0, idle: 0, retire: 0 });
static WORK: Condvar = Condvar::new();

/// Puts a cache with queued notices in line (it must not be in line
/// already), starting a worker if none is idle.
pub(crate) fn submit(cache: Arc<dyn Deliver>) {
    let mut pool = POOL.lock();
    pool.line.push_back(cache);
    if pool.idle > 0 {
        WORK.notify_one();
    } else if pool.workers < MAX_WORKERS {
        // A worker is detached: it ends on its own once idle.
        if thread::Builder::new().name("wheelcache-notify".into()).spawn(work).is_ok() {
            pool.workers += 1;
        }
        // With no thread to be had, the running workers (if any) get to
        // it; with none, the notices wait for the next submission.
    }
}

fn work() {
    let mut pool = POOL.lock();
    loop {
        if let Some(cache) = pool.line.pop_front() {
            drop(pool);
            // A listener's panics are caught inside; this is a backstop.
            let more = unwind::catch(|| cache.deliver_some()).unwrap_or(true);
            pool = POOL.lock();
            if more {
                pool.line.push_back(cache);
            } else {
                // The last handle of a dropped cache may go here: outside
                // the lock.
                drop(pool);
                drop(cache);
                pool = POOL.lock();
            }
            continue;
        }
        let retire = pool.retire;
        pool.idle += 1;
        let timed_out = WORK.wait_for(&mut pool, IDLE_EXIT).timed_out();
        pool.idle -= 1;
        if pool.line.is_empty() && (timed_out || pool.retire != retire) {
            break;
        }
    }
    pool.workers -= 1;
}

/// Sends the idle workers home now rather than after [`IDLE_EXIT`] (the
/// last cache on the real clock went); busy ones finish their line first.
pub(crate) fn retire_idle() {
    let mut pool = POOL.lock();
    pool.retire += 1;
    WORK.notify_all();
}
