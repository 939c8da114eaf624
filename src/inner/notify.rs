//! Removal notices: delivered to the listener on the thread that caused
//! them, or queued for the delivery pool (background expiry). Notices that
//! a listener call causes are delivered after it returns, never in a
//! nested call.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::expiry::deliver::{self, Deliver};
use crate::listener::{Listener, Notice};
use crate::unwind;

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

    /// Queues `notices` for the delivery pool.
    pub(crate) fn enqueue(self: &Arc<Self>, notices: impl IntoIterator<Item = Notice<K, V>>) {
        if self.queue_up(notices) {
            deliver::submit(self.clone());
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
        let batch: Vec<_> = {
            let mut queue = self.queue.lock();
            let n = queue.notices.len().min(BATCH);
            queue.notices.drain(..n).collect()
        };
        for notice in batch {
            self.call(notice);
        }
        let mut queue = self.queue.lock();
        // Cleared under the queue's lock, where `queue_up` looks: a notice
        // queued from now on schedules the queue again.
        queue.scheduled = !queue.notices.is_empty();
        queue.scheduled
    }
}
