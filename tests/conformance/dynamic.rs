//! [`DynKvCache`] trait objects: `&dyn DynKvCache` and
//! `Box<dyn DynKvCache>` answer every method as the backend underneath
//! does. [`every_method`] is run here on the in-memory backend and in
//! `redis` on the Redis one.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use futures::StreamExt;
use wheelcache::{
    AsyncCache, BackendError, Cache, DynKvCache, Error, KeyBuilder, Loaded, Lookup, Ttl,
};

fn s(v: &str) -> String {
    v.to_string()
}

/// Calls every method of `c` (an empty cache with no default TTL) through
/// the trait object and checks each answer; `Err` on an unexpected error,
/// a panic on a wrong answer.
pub(crate) async fn every_method(c: &dyn DynKvCache<String>) -> Result<(), Error> {
    let keys = c.key_builder().clone();
    let [a, b, n, m, l] = ["a", "b", "n", "m", "l"].map(|name| keys.build([name]));
    let outside = "outside-the-namespace";

    assert!(c.is_empty().await?);
    c.set(&a, s("1")).await?;
    c.set_item(&b, s("2")).await?;
    c.set_negative(&n).await?;
    assert_eq!(c.get_item(&a).await?, Lookup::Hit(s("1")));
    assert_eq!(c.get_item(&n).await?, Lookup::Negative);
    assert_eq!(c.get(&b).await?, Some(s("2")));
    assert!(c.contains(&a).await? && !c.contains(&n).await?);
    assert_eq!(c.len().await?, 2);
    assert_eq!(c.setdefault(&b, s("x")).await?, "2");
    assert_eq!(c.get_many(&[&b, &m, &n, &a]).await?, [Some(s("2")), None, None, Some(s("1"))]);
    c.set_many(vec![(&m, s("3")), (&l, s("4"))]).await?;
    assert_eq!(c.get_many(&[&m, &l]).await?, [Some(s("3")), Some(s("4"))]);

    c.setx(&a, s("5"), Some(Duration::from_secs(30))).await?;
    assert!(matches!(c.ttl(&a).await?, Ttl::Remaining(d) if d <= Duration::from_secs(30)));
    assert!(c.expire(&a, None).await?);
    assert_eq!(c.ttl(&a).await?, Ttl::Persistent);
    assert_eq!(c.incr(&a, 2).await?, 7);
    assert_eq!(c.decr(&a, 10).await?, -3);

    let mut seen: Vec<String> = c.keys().await?;
    seen.sort();
    assert_eq!(seen, [&a, &b, &l, &m].map(String::clone));
    assert_eq!(c.values().await?.len(), 4);
    assert_eq!(c.items().await?.len(), 4);
    let mut streamed = 0;
    let mut stream = pin!(c.iter_keys());
    while let Some(k) = stream.next().await {
        assert_ne!(k?, n, "markers are not keys");
        streamed += 1;
    }
    assert_eq!(streamed, 4);

    assert_eq!(c.pop(&l).await?, Some(s("4")));
    assert!(c.del_item(&m).await?);
    assert!(c.popitem().await?.is_some());

    // Loading, with boxed loaders.
    let fresh = keys.build(["fresh"]);
    assert_eq!(c.get_or_load(&fresh, Box::pin(async { s("g") })).await?, "g");
    assert_eq!(c.get_or_load(&fresh, Box::pin(async { s("other") })).await?, "g", "a hit");
    let tried = keys.build(["tried"]);
    let failed = c.try_get_or_load(
        &tried,
        Box::pin(async { Err(Error::Backend(BackendError::msg("down"))) }),
    );
    assert_eq!(failed.await, Err(Error::Backend(BackendError::msg("down"))));
    assert_eq!(c.get_item(&tried).await?, Lookup::Miss, "a failing loader stores nothing");
    assert_eq!(c.try_get_or_load(&tried, Box::pin(async { Ok(s("t")) })).await?, "t");
    let timed = keys.build(["timed"]);
    let ttl = Some(Duration::from_secs(20));
    let found = c.load(&timed, Box::pin(async move { Ok(Loaded::ValueWithTtl(s("w"), ttl)) }));
    assert_eq!(found.await?, Some(s("w")));
    assert!(matches!(c.ttl(&timed).await?, Ttl::Remaining(d) if d <= Duration::from_secs(20)));
    let absent = keys.build(["absent"]);
    assert_eq!(c.load(&absent, Box::pin(async { Ok(Loaded::Absent) })).await?, None);
    assert_eq!(c.get_item(&absent).await?, Lookup::Negative);
    let never = Box::pin(async { unreachable!("a live marker answers without loading") });
    assert_eq!(c.load(&absent, never).await?, None);

    // The namespace and closing are the backend's.
    assert_eq!(c.get(outside).await, Err(Error::InvalidKey));
    assert_eq!(c.get_many(&[&a, outside]).await, Err(Error::InvalidKey));
    assert_eq!(c.set_many(vec![(outside, s("x"))]).await, Err(Error::InvalidKey));
    c.clear().await?;
    assert!(c.is_empty().await?);
    c.close().await?;
    assert_eq!(c.get(&a).await, Err(Error::Closed));
    assert_eq!(c.get_or_load(&a, Box::pin(async { s("x") })).await, Err(Error::Closed));
    Ok(())
}

fn memory(prefix: &str) -> AsyncCache<String> {
    AsyncCache::new(Cache::new(), KeyBuilder::new(prefix))
}

#[test]
fn a_reference_to_a_trait_object_over_the_memory_backend() {
    let cache = memory("ref");
    block_on(every_method(&cache)).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn boxed_and_shared_trait_objects_over_the_memory_backend() {
    let boxed: Box<dyn DynKvCache<String>> = Box::new(memory("boxed"));
    block_on(every_method(boxed.as_ref())).unwrap_or_else(|e| panic!("{e}"));
    let shared: Arc<dyn DynKvCache<String>> = Arc::new(memory("shared"));
    let clone = shared.clone();
    block_on(every_method(&*clone)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(block_on(shared.len()), Err(Error::Closed), "the clone closed the one cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trait_object_futures_are_send() {
    let shared: Arc<dyn DynKvCache<String>> = Arc::new(memory("send"));
    let task = tokio::spawn(async move { every_method(&*shared).await });
    task.await.expect("no panic").unwrap_or_else(|e| panic!("{e}"));
}
