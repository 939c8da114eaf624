//! Removal notices: delivered to the listener on the thread that caused
//! them; for background expiry, by the delivery pool, or by the expiry
//! thread itself once the listener has proven fast. Notices that a
//! listener call causes are delivered after it returns, never in a nested
//! call.
//!
//! # Who calls a listener for background expiry
//!
//! A listener starts out *untrusted*: its expiry notices are queued for the
//! delivery pool (`expiry::deliver`), whose workers time every call. After
//! [`TRUST_AFTER`] calls in a row that each took less than [`FAST`], the
//! expiry thread calls it itself, between its lock holds (no hand-over to
//! another thread, no extra wake-up). The first call that takes longer than
//! [`SLOW`], or a batch that takes longer than [`BATCH_BUDGET`], loses the
//! trust again: the rest of the batch, and what follows, goes back to the
//! pool. So a listener that blocks holds up the expiry thread at most once,
//! for one call; one that is slow from the start never does. While notices
//! wait in the pool's queue, newer ones queue behind them: a cache's
//! notices arrive in order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::expiry::deliver::{self, Deliver};
use crate::listener::{Listener, Notice};
use crate::time::real_now;
use crate::unwind;

/// A call this short (nanoseconds) counts towards trust.
pub(crate) const FAST: u64 = 20_000;
/// Fast calls in a row that earn a listener the expiry thread's trust.
pub(crate) const TRUST_AFTER: u32 = 256;
/// A call this long on the expiry thread loses the trust.
pub(crate) const SLOW: u64 = 200_000;
/// Listener time the expiry thread gives one batch before it hands the
/// rest to the pool and withdraws its trust.
pub(crate) const BATCH_BUDGET: u64 = 1_000_000;

/// Notices delivered per turn of a pool worker.
const BATCH: usize = 64;

/// Batches of notices that listener calls cause which a thread delivers
/// itself, after the listener returns, before it hands the rest to the
/// pool: a chain of removals that never ends (a listener that re-inserts
/// every evicted key into a full cache) runs on in the background instead
/// of holding the caller forever.
const NESTED_BATCHES: usize = 64;

thread_local! {
    /// Whether this thread is inside a listener call: notices it causes
    /// then are queued, not delivered in a nested call.
    static IN_LISTENER: Cell<bool> = const { Cell::new(false) };
    /// Caches whose queued notices this thread delivers once its current
    /// listener call returns.
    static NESTED: RefCell<Vec<Arc<dyn Deliver>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f`, which calls listeners, then delivers the notices those calls
/// caused (see `NESTED_BATCHES`), iteratively: no listener call ever runs
/// inside another.
fn with_listeners<R>(f: impl FnOnce() -> R) -> R {
    let outer = IN_LISTENER.replace(true);
    let result = f();
    if !outer {
        let mut budget = NESTED_BATCHES;
        while let Some(cache) = NESTED.with(|n| n.borrow_mut().pop()) {
            if budget == 0 {
                deliver::submit(cache);
                continue;
            }
            budget -= 1;
            if cache.deliver_batch() {
                NESTED.with(|n| n.borrow_mut().push(cache));
            }
        }
        IN_LISTENER.set(false);
    }
    result
}

/// A cache's listener, with its queue of notices not yet delivered.
pub(crate) struct Notifier<K, V> {
    listener: Listener<K, V>,
    queue: Mutex<Queue<K, V>>,
    /// Listener calls that panicked.
    panics: AtomicU64,
    /// The expiry thread may call the listener itself (see the module docs).
    trusted: AtomicBool,
    /// Fast calls in a row, as the pool's workers timed them.
    fast_calls: AtomicU32,
    /// The batch being delivered, taken off the queue in one go: memory
    /// kept from when the cache was built, so that delivering allocates
    /// nothing (see `reap::Scratch`). Only the one thread that delivers the
    /// queue at a time takes it.
    batch: Mutex<Vec<Notice<K, V>>>,
}

struct Queue<K, V> {
    notices: VecDeque<Notice<K, V>>,
    /// Some thread is to deliver the queue: a pool worker (or the line
    /// for one), or a thread whose listener call caused the notices.
    scheduled: bool,
}

impl<K, V> Notifier<K, V>
where
    K: Send + 'static,
    V: Send + 'static,
{
    pub(crate) fn new(listener: Listener<K, V>) -> Self {
        Notifier {
            listener,
            queue: Mutex::new(Queue { notices: VecDeque::new(), scheduled: false }),
            panics: AtomicU64::new(0),
            trusted: AtomicBool::new(false),
            fast_calls: AtomicU32::new(0),
            batch: Mutex::new(Vec::with_capacity(BATCH)),
        }
    }

    /// Delivers `notices` on this thread, one call each, catching panics.
    /// Inside a listener call they are queued and delivered by this thread
    /// once that call returns, so a listener that writes to the cache
    /// never recurses into itself.
    pub(crate) fn report(self: &Arc<Self>, notices: impl IntoIterator<Item = Notice<K, V>>) {
        if IN_LISTENER.get() {
            if self.queue_up(notices) {
                NESTED.with(|n| n.borrow_mut().push(self.clone()));
            }
            return;
        }
        with_listeners(|| {
            for notice in notices {
                self.call(notice);
            }
        });
    }

    fn call(&self, (key, value, cause): Notice<K, V>) {
        if unwind::catch(|| (self.listener)(key, value, cause)).is_none() {
            self.panics.fetch_add(1, Relaxed);
        }
    }

    /// Delivers expiry notices found by the expiry thread: on this thread
    /// if the listener is trusted and nothing waits in the pool's queue,
    /// else through the pool (see the module docs). Allocates nothing but
    /// the queue's growth.
    pub(crate) fn background(self: &Arc<Self>, notices: impl Iterator<Item = Notice<K, V>>) {
        let mut notices = notices.peekable();
        if notices.peek().is_none() {
            return;
        }
        if !self.trusted.load(Relaxed) || self.queue.lock().scheduled {
            self.enqueue(notices);
            return;
        }
        with_listeners(|| {
            let start = real_now();
            let mut before = start;
            for notice in notices.by_ref() {
                self.call(notice);
                let after = real_now();
                let slow = after.saturating_sub(before) >= SLOW;
                before = after;
                if slow || after.saturating_sub(start) >= BATCH_BUDGET {
                    self.trusted.store(false, Relaxed);
                    self.fast_calls.store(0, Relaxed);
                    break;
                }
            }
        });
        if notices.peek().is_some() {
            self.enqueue(notices);
        }
    }

    /// Queues `notices` for the delivery pool; if the queue was in line
    /// already, and the line is stranded with no worker, tries again to
    /// start one.
    pub(crate) fn enqueue(self: &Arc<Self>, notices: impl IntoIterator<Item = Notice<K, V>>) {
        if self.queue_up(notices) {
            deliver::submit(self.clone());
        } else {
            deliver::retry_stranded();
        }
    }

    /// Queues `notices`; returns whether the caller must now see to their
    /// delivery (nobody was scheduled to deliver the queue).
    fn queue_up(&self, notices: impl IntoIterator<Item = Notice<K, V>>) -> bool {
        let mut queue = self.queue.lock();
        let before = queue.notices.len();
        queue.notices.extend(notices);
        let schedule = !queue.scheduled && queue.notices.len() > before;
        queue.scheduled |= schedule;
        schedule
    }
}

impl<K, V> Notifier<K, V> {
    /// Listener calls that panicked so far.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Relaxed)
    }
}

impl<K, V> Deliver for Notifier<K, V>
where
    K: Send + 'static,
    V: Send + 'static,
{
    fn deliver_some(&self) -> bool {
        with_listeners(|| self.deliver_batch())
    }

    fn deliver_batch(&self) -> bool {
        // Only the thread the queue is scheduled to takes the batch; a
        // fresh one if that ever failed.
        let mut kept = self.batch.try_lock();
        let mut fresh = Vec::new();
        let batch = kept.as_deref_mut().unwrap_or(&mut fresh);
        {
            let mut queue = self.queue.lock();
            let n = queue.notices.len().min(BATCH);
            batch.extend(queue.notices.drain(..n));
        }
        for notice in batch.drain(..) {
            let before = real_now();
            self.call(notice);
            if real_now().saturating_sub(before) < FAST {
                if self.fast_calls.fetch_add(1, Relaxed) + 1 >= TRUST_AFTER {
                    self.trusted.store(true, Relaxed);
                }
            } else {
                self.fast_calls.store(0, Relaxed);
                self.trusted.store(false, Relaxed);
            }
        }
        let mut queue = self.queue.lock();
        // Cleared under the queue's lock, where `queue_up` looks: a notice
        // queued from now on schedules the queue again.
        queue.scheduled = !queue.notices.is_empty();
        queue.scheduled
    }
}
