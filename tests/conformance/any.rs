//! The conformance suite on [`AnyCache`] over the in-memory backend (both
//! kinds of clock, two executors): every call goes through the
//! `DynKvCache` trait object it holds, loaders' own error types included.

use std::time::Duration;

use futures::executor::block_on;
use wheelcache::{AnyCache, AsyncCache, Cache, Error, KeyBuilder, KvCache, Loaded, MockClock};

use super::{run_all, Backend};

/// `AnyCache`s of `AsyncCache`s on one mock clock.
struct MockAny {
    clock: MockClock,
}

impl Backend for MockAny {
    type Cache = AnyCache<String>;

    fn cache(&self) -> AnyCache<String> {
        let builder = Cache::builder().clock(self.clock.clone());
        let memory = AsyncCache::from_builder(builder, KeyBuilder::new("any")).expect("valid");
        AnyCache::memory(memory)
    }

    fn advance(&self, by: Duration) -> bool {
        self.clock.advance(by);
        true
    }
}

/// `AnyCache`s of `AsyncCache`s on the real clock.
struct RealAny;

impl Backend for RealAny {
    type Cache = AnyCache<String>;

    fn cache(&self) -> AnyCache<String> {
        AsyncCache::new(Cache::new(), KeyBuilder::with_split_char("real-any", "/")).into()
    }

    fn advance(&self, _: Duration) -> bool {
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_any_cache_on_tokio() {
    tokio::spawn(async {
        run_all(&MockAny { clock: MockClock::new() }).await;
        run_all(&RealAny).await;
    })
    .await
    .expect("the suite passes");
}

#[test]
fn suite_on_any_cache_on_futures_block_on() {
    block_on(run_all(&MockAny { clock: MockClock::new() }));
    block_on(run_all(&RealAny));
}

/// Neither a serde type nor `Debug`: `AnyCache::memory` asks for neither,
/// whatever features are on.
#[derive(Clone, PartialEq)]
struct Opaque(u32);

#[test]
fn the_memory_backend_needs_no_serde() {
    block_on(async {
        let cache = AnyCache::memory(AsyncCache::new(Cache::new(), KeyBuilder::new("app")));
        cache.set("app:o", Opaque(1)).await?;
        assert!(cache.get("app:o").await? == Some(Opaque(1)));
        let loaded =
            cache.load("app:p", async { Ok::<_, Error>(Loaded::Value(Opaque(2))) }).await?;
        assert!(loaded == Some(Opaque(2)));
        assert_eq!(cache.backend(), "memory");
        assert!(cache.as_memory().is_some_and(|m| m.cache().len() == 2));
        assert!(format!("{cache:?}").contains("memory"));
        Ok::<(), Error>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// A loader's error reaches its caller unchanged through the trait object,
/// and the cache's own errors still convert with `From`.
#[test]
fn loader_errors_cross_the_trait_object_unchanged() {
    #[derive(Debug, PartialEq)]
    enum Mine {
        NotFound { id: u32, reason: String },
        Cache(Error),
    }
    impl From<Error> for Mine {
        fn from(e: Error) -> Self {
            Mine::Cache(e)
        }
    }
    block_on(async {
        let cache: AnyCache<u32> =
            AnyCache::memory(AsyncCache::new(Cache::new(), KeyBuilder::new("app")));
        let not_found = || Mine::NotFound { id: 9, reason: "gone".to_string() };
        let failed = cache.try_get_or_load("app:9", async { Err::<u32, _>(not_found()) }).await;
        assert_eq!(failed, Err(not_found()));
        let failed = cache.load("app:9", async { Err::<Loaded<u32>, _>(not_found()) }).await;
        assert_eq!(failed, Err(not_found()));
        // A loader's error that is the placeholder's twin is still its own.
        let twin =
            wheelcache::BackendError::msg("the loader failed (its caller gets its own error)");
        let failed = cache
            .try_get_or_load("app:9", async { Err::<u32, _>(Error::Backend(twin.clone())) })
            .await;
        assert_eq!(failed, Err(Error::Backend(twin)));
        assert_eq!(cache.get("app:9").await, Ok(None), "nothing stored");
        let outside = cache.try_get_or_load("elsewhere", async { Ok::<u32, Mine>(1) }).await;
        assert_eq!(outside, Err(Mine::Cache(Error::InvalidKey)));
        cache.close().await.expect("closes");
        let closed = cache.load("app:9", async { Ok::<_, Mine>(Loaded::Value(1)) }).await;
        assert_eq!(closed, Err(Mine::Cache(Error::Closed)));
    });
}
