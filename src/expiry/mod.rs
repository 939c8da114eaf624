//! Background expiry: one thread for the whole process, a short loop that
//! serves every cache's due timers in bounded slices, and the pool that
//! delivers their removal notices (`deliver`).
//!
//! Every cache on the real clock registers here when built. The thread
//! sleeps until the earliest deadline any cache has published (with no timeout
//! while none has one, unless the delivery pool's line is stranded: see
//! `deliver`), then serves the due caches in rounds: each due
//! cache gets one slice of at most [`SLICE`] per round, so a cache with a
//! million due timers delays another cache's timer by about one slice, not
//! by its backlog. It starts with the first registered cache and is
//! stopped, and joined, when the last one is dropped or closed.
//!
//! The thread runs no user code that can block for long: removal listeners
//! are called by the delivery pool (see `deliver`), and a dropped cache's
//! entries are freed by the thread that dropped its last handle.
//!
//! # Ground rules
//!
//! - Each cache publishes `next_due` (see [`Expire::next_due`]), a lower
//!   bound of the end of its earliest due tick. A writer that arms an
//!   earlier timer lowers it (`fetch_min`) after publishing the shard's own
//!   bound under the shard's lock; only this thread resets it, to `NEVER`
//!   *before* it rescans the shards. Either the rescan reads the shard
//!   after the writer published (and sees the timer), or the writer's
//!   `fetch_min` comes after the reset (and lowers it again): no deadline
//!   is lost. Reaping on other threads (`run_pending_tasks`) only removes
//!   timers, so it never needs to lower the bound and never resets it.
//! - `sleep_until` is the time the thread will wake at; `0` while it is
//!   awake. A writer whose deadline is earlier lowers it and sends a wake
//!   token. The thread stores `sleep_until` and then reads every
//!   `next_due` again (both `SeqCst`): a writer either sees the new
//!   `sleep_until` and wakes the thread, or its deadline is seen by that
//!   second read. Writers with later deadlines send nothing, so steady
//!   traffic costs one relaxed load a write.
//! - The wake channel holds one token; a full channel means a wake is
//!   already on its way.

pub(crate) mod deliver;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::time::{real_now, NEVER};
use crate::unwind;

/// The longest a cache is served in one round while others wait.
pub(crate) const SLICE: u64 = 200_000;

/// A cache as the expiry thread sees it.
pub(crate) trait Expire: Send + Sync {
    /// A lower bound of the end of the cache's earliest due tick
    /// (nanoseconds on the real clock); `NEVER` without timers.
    fn next_due(&self) -> u64;
    /// Reaps what is due at `now`, stopping at `until`, and publishes the
    /// next due time; returns whether nothing due is left.
    fn run_due(&self, now: u64, until: u64) -> bool;
    /// Whether the cache was closed (and should leave the list).
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

/// A cache's place on the expiry thread's list; dropping it unregisters
/// the cache (the last registration stops the thread).
pub(crate) struct Registration {
    driver: Arc<Driver>,
    done: AtomicBool,
}

/// Registers a cache, starting the thread if it is not running.
pub(crate) fn register(cache: Weak<dyn Expire>) -> std::io::Result<Registration> {
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
    Ok(Registration { driver, done: AtomicBool::new(false) })
}

impl Registration {
    /// Tells the thread about a deadline, waking it if it sleeps past it.
    #[inline]
    pub(crate) fn schedule(&self, due: u64) {
        let driver = &self.driver;
        if due < driver.sleep_until.load(SeqCst) && driver.sleep_until.fetch_min(due, SeqCst) > due
        {
            driver.wake();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl Registration {
    /// Leaves the list (once). The last registration stops the thread and
    /// joins it (unless this is the thread itself: it then just ends), and
    /// sends the delivery pool's idle workers home.
    ///
    /// Lock order: `GLOBAL`, then a driver's `caches`; nothing that can drop
    /// a cache runs under `caches`, and nothing submits to the delivery
    /// pool under `GLOBAL` (a stranding submission takes it to wake the
    /// thread).
    pub(crate) fn unregister(&self) {
        if self.done.swap(true, SeqCst) {
            return;
        }
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
                // The loop catches every panic of the caches it serves, so
                // the thread ends normally.
                let _ = thread.join();
            }
            deliver::retire_idle();
        }
    }
}

/// Wakes the expiry thread, if one runs, for another turn of its loop
/// (the delivery pool's line was stranded).
fn wake_thread() {
    if let Some(running) = &GLOBAL.lock().running {
        running.driver.wake();
    }
}

impl Driver {
    fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(()) | TrySendError::Disconnected(())) => {}
        }
    }
}

/// One round over the caches at `now`, starting at `start`: each due
/// cache is served for at most `slice` nanoseconds. Returns whether some
/// cache still has due work (another round is needed at once).
pub(crate) fn round(caches: &[Arc<dyn Expire>], start: usize, now: u64, slice: u64) -> bool {
    let mut busy = false;
    for n in 0..caches.len() {
        let cache = &caches[(start + n) % caches.len()];
        if cache.next_due() <= now {
            let until = real_now().max(now).saturating_add(slice);
            // A panic ends this cache's slice, not the thread: the cache
            // stays consistent (no user code runs under its locks but
            // `Hash`, whose panics the shards catch themselves), and it is
            // served again at the next wake.
            let done = unwind::catch(|| cache.run_due(now, until)).unwrap_or(true);
            busy |= !done;
        }
    }
    busy
}

/// Makes this thread's allocator pay its one-time costs now, when the
/// thread starts with the first cache, not when a deadline is due: the
/// first request above glibc's small sizes from an arena that an exited
/// thread left full of small free chunks consolidates them all, which can
/// take 100 ms (see `inner::reap::Scratch`). Reaping itself allocates
/// nothing; compaction, rarely, does. (The delivery pool's workers make no
/// such request of their own.)
fn settle_allocator() {
    drop(std::hint::black_box(Vec::<u8>::with_capacity(64 << 10)));
}

fn run(driver: &Driver, wake: &Receiver<()>) {
    settle_allocator();
    let mut caches: Vec<Arc<dyn Expire>> = Vec::new();
    let mut start = 0usize;
    while !driver.stop.load(SeqCst) {
        driver.sleep_until.store(0, SeqCst);
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
        // Not under the list's lock: dropping a cache may unregister it,
        // which takes the global lock (taken before the list's lock by
        // `register`).
        drop(closed);
        let busy = round(&caches, start, real_now(), SLICE);
        start = start.wrapping_add(1);
        if busy {
            caches.clear();
            continue;
        }
        let next = caches.iter().map(|c| c.next_due()).min().unwrap_or(NEVER);
        driver.sleep_until.store(next, SeqCst);
        let again = caches.iter().map(|c| c.next_due()).min().unwrap_or(NEVER);
        // Drop the handles before sleeping: what they keep alive is freed
        // by whoever drops the last one.
        caches.clear();
        if again < next {
            continue;
        }
        // A disconnected channel cannot happen (the driver holds the
        // sender); a timeout is the normal wake. The timeout is measured
        // from a fresh reading of the caches' own clock, so the channel's
        // clock (`Instant`) drifting from it cannot make the loop spin.
        // While notices wait with no worker to deliver them, the thread
        // comes back to start one at least every `RETRY_STRANDED`.
        let stranded = deliver::retry_stranded();
        let _ = if next == NEVER && !stranded {
            wake.recv().ok()
        } else {
            let mut wait = Duration::from_nanos(next.saturating_sub(real_now()));
            if stranded {
                wait = wait.min(deliver::RETRY_STRANDED);
            }
            wake.recv_timeout(wait).ok()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A cache with a backlog of `left` due timers, reaping `per_slice` of
    /// them a slice, or with one timer due at `due`.
    struct Fake {
        due: AtomicU64,
        left: AtomicUsize,
        per_slice: usize,
        served: AtomicUsize,
    }

    impl Fake {
        fn new(due: u64, left: usize, per_slice: usize) -> Arc<Fake> {
            Arc::new(Fake {
                due: AtomicU64::new(due),
                left: AtomicUsize::new(left),
                per_slice,
                served: AtomicUsize::new(0),
            })
        }
    }

    impl Expire for Fake {
        fn next_due(&self) -> u64 {
            self.due.load(SeqCst)
        }
        fn run_due(&self, _now: u64, _until: u64) -> bool {
            self.served.fetch_add(1, SeqCst);
            let left = self.left.load(SeqCst).saturating_sub(self.per_slice);
            self.left.store(left, SeqCst);
            if left == 0 {
                self.due.store(NEVER, SeqCst);
            }
            left == 0
        }
        fn is_closed(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_backlog_waits_its_turn_behind_a_neighbours_due_timer() {
        // A: a million due timers, a thousand a slice; B: one timer due a
        // little later than A's backlog began.
        let a = Fake::new(10, 1_000_000, 1000);
        let b = Fake::new(20, 1, 1);
        let caches: Vec<Arc<dyn Expire>> = vec![a.clone(), b.clone()];
        // At 15 only A is due: one slice of it, still busy.
        assert!(round(&caches, 0, 15, SLICE));
        assert_eq!((a.served.load(SeqCst), b.served.load(SeqCst)), (1, 0));
        // At 25 B is due too: the next round serves it after one more
        // slice of A, long before A's backlog is done.
        assert!(round(&caches, 1, 25, SLICE));
        assert_eq!((a.served.load(SeqCst), b.served.load(SeqCst)), (2, 1));
        assert_eq!(b.next_due(), NEVER);
        assert!(a.left.load(SeqCst) > 0);
    }

    #[test]
    fn a_panicking_cache_does_not_stop_the_round() {
        struct Panics;
        impl Expire for Panics {
            fn next_due(&self) -> u64 {
                0
            }
            fn run_due(&self, _: u64, _: u64) -> bool {
                panic!("a value's drop panicked")
            }
            fn is_closed(&self) -> bool {
                false
            }
        }
        let b = Fake::new(0, 1, 1);
        let caches: Vec<Arc<dyn Expire>> = vec![Arc::new(Panics), b.clone()];
        assert!(!round(&caches, 0, 5, SLICE), "a panic ends the slice");
        assert_eq!(b.served.load(SeqCst), 1);
    }
}
