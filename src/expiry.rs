//! The background expiry thread: one for the whole process, a short loop
//! around the caches' wheels.
//!
//! Every cache on the real clock registers here when built. The thread
//! sleeps until the earliest deadline any cache has published (not at all
//! while none has one), reaps what is due, and sleeps again. It starts with
//! the first registered cache and is stopped, and joined, when the last one
//! is dropped or closed.
//!
//! # Ground rules
//!
//! - Each cache publishes `next_due`, a lower bound of its earliest deadline
//!   (nanoseconds on the real clock). A writer that arms a timer earlier than
//!   it lowers it (`fetch_min`) *after* releasing the shard lock; the thread
//!   resets it to `NEVER` *before* it scans the shards and lowers it again
//!   from each. Either the scan takes the shard lock after the writer (and
//!   sees the timer), or the writer's load comes after the reset (and it
//!   lowers the value itself): no deadline is lost.
//! - `sleep_until` is the time the thread will wake at; `0` while it is
//!   awake. A writer whose deadline is earlier lowers it and sends a wake
//!   token. The thread stores `sleep_until` and then reads every
//!   `next_due` again (both `SeqCst`): a writer either sees the new
//!   `sleep_until` and wakes the thread, or its deadline is seen by that
//!   second read. Writers with later deadlines send nothing, so steady
//!   traffic costs one relaxed load a write.
//! - The wake channel holds one token; a full channel means a wake is
//!   already on its way.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::time::{real_now, NEVER};

/// A cache as the expiry thread sees it.
pub(crate) trait Expire: Send + Sync {
    /// No deadline of the cache is earlier than this (nanoseconds).
    fn next_due(&self) -> u64;
    /// Reaps everything due at `now` and publishes the next deadline.
    fn run_due(&self, now: u64);
    /// Whether the cache was closed (and should be dropped from the list).
    fn is_closed(&self) -> bool;
}

/// The state shared by the thread and the caches it serves.
pub(crate) struct Driver {
    sleep_until: AtomicU64,
    wake: Sender<()>,
    stop: AtomicBool,
    caches: Mutex<Vec<Weak<dyn Expire>>>,
}

struct Running {
    driver: Arc<Driver>,
    thread: JoinHandle<()>,
}

struct Global {
    /// Registered caches, alive and not closed.
    caches: usize,
    running: Option<Running>,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global { caches: 0, running: None });

/// Registers a cache, starting the thread if it is not running.
pub(crate) fn register(cache: Weak<dyn Expire>) -> std::io::Result<Arc<Driver>> {
    let mut global = GLOBAL.lock();
    if global.running.is_none() {
        let (wake, rx) = crossbeam_channel::bounded(1);
        let driver = Arc::new(Driver {
            sleep_until: AtomicU64::new(NEVER),
            wake,
            stop: AtomicBool::new(false),
            caches: Mutex::new(Vec::new()),
        });
        let shared = driver.clone();
        let thread =
            thread::Builder::new().name("wheelcache".into()).spawn(move || run(&shared, &rx))?;
        global.running = Some(Running { driver, thread });
    }
    global.caches += 1;
    let driver = global.running.as_ref().map(|r| r.driver.clone()).expect("started above");
    driver.caches.lock().push(cache);
    driver.wake();
    Ok(driver)
}

/// Unregisters a cache; the last one stops the thread and joins it (unless
/// this is the thread itself, dropping the last handle: it then just ends).
///
/// Lock order: `GLOBAL`, then a driver's `caches`; nothing that can drop a
/// cache runs under `caches`.
pub(crate) fn unregister() {
    let running = {
        let mut global = GLOBAL.lock();
        global.caches -= 1;
        if global.caches > 0 {
            return;
        }
        global.running.take()
    };
    if let Some(Running { driver, thread }) = running {
        driver.stop.store(true, SeqCst);
        driver.wake();
        if thread.thread().id() != thread::current().id() {
            // The loop never panics (listener panics are caught), and if it
            // did there would be nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Driver {
    /// Tells the thread about a deadline, waking it if it sleeps past it.
    #[inline]
    pub(crate) fn schedule(&self, deadline: u64) {
        if deadline < self.sleep_until.load(SeqCst)
            && self.sleep_until.fetch_min(deadline, SeqCst) > deadline
        {
            self.wake();
        }
    }

    fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

fn run(driver: &Driver, wake: &Receiver<()>) {
    let mut caches: Vec<Arc<dyn Expire>> = Vec::new();
    while !driver.stop.load(SeqCst) {
        driver.sleep_until.store(0, SeqCst);
        let now = real_now();
        let mut closed = Vec::new();
        driver.caches.lock().retain(|weak| match weak.upgrade() {
            Some(cache) if cache.is_closed() => {
                closed.push(cache);
                false
            }
            Some(cache) => {
                caches.push(cache);
                true
            }
            None => false,
        });
        // Not under the list's lock: dropping the last handle of a cache
        // unregisters it, which takes the global lock (taken before the
        // list's lock by `register`).
        drop(closed);
        let mut next = NEVER;
        for cache in &caches {
            if cache.next_due() <= now {
                cache.run_due(now);
            }
            next = next.min(cache.next_due());
        }
        driver.sleep_until.store(next, SeqCst);
        let again = caches.iter().map(|c| c.next_due()).min().unwrap_or(NEVER);
        // Drop the handles before sleeping: a user dropping their last one
        // then frees the cache at once, on their own thread.
        caches.clear();
        if again < next {
            continue;
        }
        // A disconnected channel cannot happen (the driver holds the
        // sender); a timeout is the normal wake. The timeout is measured
        // from a fresh reading of the caches' own clock, so the channel's
        // clock (`Instant`) drifting from it cannot make the loop spin.
        let _ = if next == NEVER {
            wake.recv().ok()
        } else {
            let wait = next.saturating_sub(real_now());
            wake.recv_timeout(Duration::from_nanos(wait)).ok()
        };
    }
}
