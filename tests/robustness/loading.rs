//! Single-flight loading when the loader's value cannot be cloned, when a
//! loader asks for its own key, when sync and async callers meet, and when
//! waiters give up.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use futures::executor::block_on;
use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache, MockClock};

use super::Brittle;
use crate::common::{eventually, within_patience};

fn brittle_cache() -> Cache<u32, Brittle> {
    Cache::builder().clock(MockClock::new()).build().unwrap()
}

#[test]
fn a_value_whose_clone_panics_does_not_wedge_its_key() {
    let cache = brittle_cache();
    let fuse = Arc::new(AtomicUsize::new(1));
    let first = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(1, || Brittle::new(1, &fuse));
    }));
    assert!(first.is_err(), "the loader's clone panicked in its caller");
    let again = cache.clone();
    let f = fuse.clone();
    let second = within_patience(move || again.get_or_insert_with(1, || Brittle::new(2, &f)).n);
    assert_eq!(second, Some(2), "the next caller loads instead of waiting forever");
    cache.assert_invariants();
}

#[test]
fn waiters_wake_when_the_loaders_clone_panics() {
    let cache = brittle_cache();
    let fuse = Arc::new(AtomicUsize::new(0));
    let (started, loading) = std::sync::mpsc::channel();
    let loader = {
        let (cache, fuse) = (cache.clone(), fuse.clone());
        thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                cache.get_or_insert_with(1, || {
                    started.send(()).unwrap();
                    // Hold the load until the other caller waits for it.
                    assert!(eventually(|| cache.stats().load_waits == 1), "no waiter came");
                    fuse.store(1, SeqCst);
                    Brittle::new(1, &fuse)
                })
            }))
            .is_err()
        })
    };
    loading.recv().unwrap();
    let waiter = {
        let (cache, fuse) = (cache.clone(), fuse.clone());
        within_patience(move || cache.get_or_insert_with(1, || Brittle::new(2, &fuse)).n)
    };
    assert!(loader.join().unwrap(), "the loader's clone panicked");
    assert_eq!(waiter, Some(2), "the waiter took the load over");
}

#[test]
fn waits_count_apart_from_misses() {
    let cache: Cache<u32, u32> = Cache::builder().clock(MockClock::new()).build().unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                cache.get_or_insert_with(1, || {
                    assert!(eventually(|| cache.stats().load_waits == 7), "not all waited");
                    5
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 5);
    }
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.load_waits, stats.hits), (1, 7, 0));
}

#[test]
fn a_loader_that_loads_its_own_key_does_not_wait_for_itself() {
    let cache: Cache<u32, u32> = Cache::builder().clock(MockClock::new()).build().unwrap();
    let outer = cache.clone();
    let got = within_patience(move || {
        outer.get_or_insert_with(1, || outer.get_or_insert_with(1, || 5) + 1)
    });
    assert_eq!(got, Some(6));
    assert_eq!(cache.get(&1), Some(6), "the outer loader stored last");
}

#[test]
fn an_async_loader_that_loads_its_own_key_does_not_wait_for_itself() {
    let facade: AsyncCache<u32> = AsyncCache::new(
        Cache::builder().clock(MockClock::new()).build().unwrap(),
        KeyBuilder::new("t"),
    );
    let got = within_patience(move || {
        block_on(async {
            facade
                .get_or_load("t:k", async {
                    facade.get_or_load("t:k", async { 5 }).await.unwrap() + 1
                })
                .await
        })
    });
    assert_eq!(got, Some(Ok(6)));
}

#[test]
fn a_blocking_caller_does_not_wait_for_an_async_load_on_its_own_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let facade: AsyncCache<u32> = AsyncCache::new(
        Cache::builder().clock(MockClock::new()).build().unwrap(),
        KeyBuilder::new("t"),
    );
    let got = within_patience(move || {
        runtime.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            let loading = facade.clone();
            let task = tokio::spawn(async move {
                loading.get_or_load("t:k", async { rx.await.unwrap() }).await.unwrap()
            });
            // Let the task register its load, then block this, the only,
            // runtime thread on the same key.
            tokio::task::yield_now().await;
            assert_eq!(facade.cache().stats().misses, 1, "the async load is in flight");
            let blocking = facade.cache().get_or_insert_with("t:k".to_string(), || 9);
            tx.send(7).unwrap();
            (blocking, task.await.unwrap())
        })
    });
    assert_eq!(got, Some((9, 7)));
}

/// A waker that counts nothing but its own clones (its `Arc`).
struct Counted;

impl Wake for Counted {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_cancelled_waiter_takes_its_waker_back() {
    let facade: AsyncCache<u32> = AsyncCache::new(
        Cache::builder().clock(MockClock::new()).build().unwrap(),
        KeyBuilder::new("t"),
    );
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let mut loader = Box::pin(facade.get_or_load("t:k", async { rx.await.unwrap() }));
    // The loader's task and the waiters' task: two wakers.
    let (loading, waiting) = (Arc::new(Counted), Arc::new(Counted));
    let loader_waker = Waker::from(loading.clone());
    let mut cx = Context::from_waker(&loader_waker);
    assert!(loader.as_mut().poll(&mut cx).is_pending(), "the load is in flight");
    let waiter_waker = Waker::from(waiting.clone());
    let mut waiter_cx = Context::from_waker(&waiter_waker);
    for _ in 0..1000 {
        let mut waiter = Box::pin(facade.get_or_load("t:k", async { 0 }));
        assert!(waiter.as_mut().poll(&mut waiter_cx).is_pending(), "it waits for the load");
        drop(waiter);
    }
    drop(waiter_waker);
    assert_eq!(Arc::strong_count(&waiting), 1, "a dropped waiter left its waker behind");
    tx.send(3).unwrap();
    assert_eq!(loader.as_mut().poll(&mut cx), Poll::Ready(Ok(3)));
}
