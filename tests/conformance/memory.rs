//! The conformance suite on [`AsyncCache`], under two executors and on both
//! kinds of clock, plus what only the in-memory backend promises.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::executor::block_on;
use futures::{Stream, StreamExt};
use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache, Loaded, Lookup, MockClock, Ttl};

use super::{run_all, Backend};

/// `AsyncCache`s on one mock clock.
struct Mock {
    clock: MockClock,
}

impl Mock {
    fn new() -> Self {
        Mock { clock: MockClock::new() }
    }
}

impl Backend for Mock {
    type Cache = AsyncCache<String>;

    fn cache(&self) -> AsyncCache<String> {
        let builder = Cache::builder().clock(self.clock.clone());
        AsyncCache::from_builder(builder, KeyBuilder::new("test")).expect("valid settings")
    }

    fn advance(&self, by: Duration) -> bool {
        self.clock.advance(by);
        true
    }
}

/// `AsyncCache`s on the real clock, driven by the expiry thread: the suite
/// runs as it will on a backend whose time cannot be moved.
struct Real;

impl Backend for Real {
    type Cache = AsyncCache<String>;

    fn cache(&self) -> AsyncCache<String> {
        AsyncCache::new(Cache::new(), KeyBuilder::with_split_char("real", "/"))
    }

    fn advance(&self, _: Duration) -> bool {
        false
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn mock_cache<V>() -> (AsyncCache<V>, MockClock)
where
    V: Clone + Send + Sync + 'static,
{
    let clock = MockClock::new();
    let builder = Cache::builder().clock(clock.clone());
    (AsyncCache::from_builder(builder, KeyBuilder::new("app")).expect("valid settings"), clock)
}

// ---- the suite, on two executors --------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_tokio_multi_thread() {
    // Spawning the whole suite proves every future it awaits is `Send`.
    let task = tokio::spawn(async {
        run_all(&Mock::new()).await;
        run_all(&Real).await;
    });
    task.await.expect("the suite passes");
}

#[test]
fn suite_on_futures_block_on() {
    block_on(run_all(&Mock::new()));
    block_on(run_all(&Real));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_share_one_cache() {
    let (cache, _clock) = mock_cache::<u64>();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    cache.incr("app:hits", 1).await?;
                }
                cache.get("app:hits").await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("no panic").expect("no error").is_some());
    }
    assert_eq!(cache.get("app:hits").await, Ok(Some(800)), "no lost update");

    // A single facade future, spawned as it is.
    let c = cache.clone();
    let popped = tokio::spawn(async move { c.pop("app:hits").await }).await.expect("no panic");
    assert_eq!(popped, Ok(Some(800)));
}

// ---- what only AsyncCache promises ------------------------------------

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn futures_complete_on_the_first_poll() {
    let (cache, _clock) = mock_cache::<String>();
    assert_eq!(poll_once(cache.set("app:k", s("v"))), Poll::Ready(Ok(())));
    assert_eq!(poll_once(cache.get("app:k")), Poll::Ready(Ok(Some(s("v")))));
    assert_eq!(poll_once(cache.incr("app:n", 2)), Poll::Ready(Ok(2)));
    assert_eq!(poll_once(cache.decr("app:n", 1)), Poll::Ready(Ok(1)));
    assert_eq!(poll_once(cache.decr("app:n", i64::MIN)), Poll::Ready(Err(Error::Overflow)));
    assert_eq!(poll_once(cache.get("nope")), Poll::Ready(Err(Error::InvalidKey)));
    let mut keys = pin!(cache.iter_keys());
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen = 0;
    loop {
        match keys.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(key)) => {
                key.expect("a key");
                seen += 1;
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("iter_keys never waits"),
        }
    }
    assert_eq!(seen, 2);
    assert_eq!(poll_once(cache.close()), Poll::Ready(Ok(())));
}

#[test]
fn futures_do_nothing_until_polled() {
    let (cache, _clock) = mock_cache::<String>();
    drop(cache.set("app:k", s("v")));
    drop(cache.close());
    assert!(!cache.is_closed());
    assert_eq!(cache.cache().get("app:k"), None);
}

#[test]
fn ttls_are_not_capped_by_the_default() {
    block_on(async {
        let clock = MockClock::new();
        let builder = Cache::builder().clock(clock.clone()).default_ttl(Duration::from_secs(1));
        let cache: AsyncCache<String> =
            AsyncCache::from_builder(builder, KeyBuilder::default()).expect("valid settings");
        let key = |name: &str| cache.key_builder().build([name]);
        let hour = Duration::from_secs(3600);
        cache.setx(&key("long"), s("v"), Some(hour)).await?;
        assert_eq!(cache.ttl(&key("long")).await?, Ttl::Remaining(hour));
        cache.setx(&key("forever"), s("v"), None).await?;
        assert_eq!(cache.ttl(&key("forever")).await?, Ttl::Persistent);
        let own = Loaded::ValueWithTtl(s("v"), Some(hour));
        cache.load(&key("loaded-long"), async { Ok::<_, Error>(own) }).await?;
        assert_eq!(cache.ttl(&key("loaded-long")).await?, Ttl::Remaining(hour));
        // The default applies to `set`, `set_item`, `setdefault`, new
        // counters, batches and loaded values.
        cache.set(&key("a"), s("v")).await?;
        cache.set_item(&key("b"), s("v")).await?;
        cache.setdefault(&key("c"), s("v")).await?;
        cache.incr(&key("d"), 1).await?;
        cache.set_many(vec![(&key("e"), s("v"))]).await?;
        cache.get_or_load(&key("f"), async { s("v") }).await?;
        cache.load(&key("g"), async { Ok::<_, Error>(Loaded::Value(s("v"))) }).await?;
        for name in ["a", "b", "c", "d", "e", "f", "g"] {
            assert_eq!(cache.ttl(&key(name)).await?, Ttl::Remaining(Duration::from_secs(1)));
        }
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.len().await?, 3, "only `long`, `forever` and `loaded-long` are left");
        Ok::<(), Error>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn close_wins_over_an_invalid_key_and_is_shared_by_clones() {
    block_on(async {
        let (cache, _clock) = mock_cache::<String>();
        let clone = cache.clone();
        cache.set("app:k", s("v")).await?;
        assert_eq!(cache.get("outside").await, Err(Error::InvalidKey));
        clone.close().await?;
        assert!(cache.is_closed() && clone.is_closed());
        assert_eq!(cache.get("outside").await, Err(Error::Closed));
        assert_eq!(cache.get("app:k").await, Err(Error::Closed));
        cache.close().await?;
        // The sync core underneath still answers (background expiry is stopped).
        assert_eq!(cache.cache().get("app:k"), Some(s("v")));
        assert!(format!("{cache:?}").contains("closed: true"));
        Ok::<(), Error>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_stream_ends_with_closed_when_closed_midway() {
    block_on(async {
        let (cache, _clock) = mock_cache::<u32>();
        for n in 0..10 {
            cache.set(&format!("app:{n}"), n).await?;
        }
        let mut keys = pin!(cache.iter_keys());
        assert!(matches!(keys.next().await, Some(Ok(_))));
        cache.close().await?;
        assert_eq!(keys.next().await, Some(Err(Error::Closed)));
        assert_eq!(keys.next().await, None);
        assert_eq!(keys.next().await, None);
        Ok::<(), Error>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_cache_belongs_to_the_namespace() {
    block_on(async {
        let core: Cache<String, u32> = Cache::new();
        core.set("app:before".to_string(), 1);
        core.set("elsewhere".to_string(), 2);
        let cache = AsyncCache::new(core.clone(), KeyBuilder::new("app"));
        assert_eq!(cache.get("app:before").await?, Some(1));
        // Whole-cache calls see every entry of the underlying cache, even
        // one written through another handle outside the namespace.
        assert_eq!(cache.len().await?, 2);
        assert_eq!(cache.get("elsewhere").await, Err(Error::InvalidKey));
        cache.clear().await?;
        assert!(core.is_empty());
        Ok::<(), Error>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn integer_values_count_too() {
    block_on(async {
        let (cache, clock) = mock_cache::<u8>();
        cache.setx("app:n", 250, Some(Duration::from_millis(1500))).await?;
        clock.advance(Duration::from_millis(1000));
        assert_eq!(cache.incr("app:n", 5).await?, 255);
        assert_eq!(cache.incr("app:n", 1).await, Err(Error::Overflow), "past u8::MAX");
        assert_eq!(cache.decr("app:n", 256).await, Err(Error::Overflow), "below zero");
        assert_eq!(cache.get_item("app:n").await?, Lookup::Hit(255));
        assert_eq!(cache.ttl("app:n").await?, Ttl::Remaining(Duration::from_millis(500)));
        Ok::<(), Error>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
