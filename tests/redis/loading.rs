//! Batches and single-flight loading on a real server: what the shared
//! conformance checks cannot see (round trips, the stored text, refused
//! writes, which callers share a load), and the trait objects over Redis.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
// `DynKvCache` is named, not imported: with both traits in scope, calls on
// a concrete cache would be ambiguous.
use wheelcache::{
    AnyCache, AsyncCache, Cache, Error, KeyBuilder, KvCache, Loaded, Lookup, Outcome, RedisCache,
    RedisOptions,
};

use super::{connect, connect_with, RedisServer};
use crate::conformance::dynamic::every_method;
use crate::conformance::tasks::{nap, spawn, until, SETTLE};

fn s(v: &str) -> String {
    v.to_string()
}

/// How many times the server has run `command` since the last reset.
async fn calls(raw: &mut MultiplexedConnection, command: &str) -> u64 {
    let info: String =
        ::redis::cmd("INFO").arg("commandstats").query_async(raw).await.expect("raw INFO");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|rest| rest.split(',').next().unwrap_or("").parse().expect("a count"))
        .unwrap_or(0)
}

async fn reset_stats(raw: &mut MultiplexedConnection) {
    ::redis::cmd("CONFIG").arg("RESETSTAT").query_async::<()>(raw).await.expect("raw RESETSTAT");
}

async fn set_maxmemory(raw: &mut MultiplexedConnection, limit: &str) {
    let mut set = ::redis::cmd("CONFIG");
    set.arg("SET").arg("maxmemory").arg(limit);
    set.query_async::<()>(raw).await.expect("raw CONFIG SET");
}

/// The outcome of a backend error; any other result fails the test.
fn outcome<T: std::fmt::Debug>(result: Result<T, Error>) -> Outcome {
    match result {
        Err(Error::Backend(e)) => e.outcome(),
        other => panic!("expected Error::Backend, got {other:?}"),
    }
}

// ---- batches ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_round_trip_and_checks_every_key_before_sending() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let options = RedisOptions::new().default_ttl(Duration::from_secs(3600));
    let cache: RedisCache<String> = connect_with(&server, KeyBuilder::new("b"), options).await;
    cache.set_negative("b:n").await?;

    reset_stats(&mut raw).await;
    cache.set_many(vec![("b:1", s("one")), ("b:2", s("two")), ("b:n", s("three"))]).await?;
    assert_eq!(calls(&mut raw, "multi").await, 1, "one transaction");
    assert_eq!(calls(&mut raw, "exec").await, 1);
    assert_eq!(calls(&mut raw, "set").await, 3);
    let got = cache.get_many(&["b:1", "b:x", "b:2", "b:n"]).await?;
    assert_eq!(got, [Some(s("one")), None, Some(s("two")), Some(s("three"))]);
    assert_eq!(calls(&mut raw, "mget").await, 1, "one MGET");
    assert_eq!(calls(&mut raw, "get").await, 0);

    // Stored as `set` stores: the text, with the default TTL.
    let text: String = raw.get("b:1").await.expect("raw GET");
    assert_eq!(text, "one");
    let left: i64 = raw.pttl("b:n").await.expect("raw PTTL");
    assert!(left > 3_590_000 && left <= 3_600_000, "{left}");

    // A key outside the namespace: nothing is sent.
    reset_stats(&mut raw).await;
    assert_eq!(cache.get_many(&["b:1", "c:1"]).await, Err(Error::InvalidKey));
    assert_eq!(
        cache.set_many(vec![("b:1", s("x")), ("c:1", s("x"))]).await,
        Err(Error::InvalidKey)
    );
    assert_eq!(cache.get_many(&[]).await, Ok(vec![]));
    assert_eq!(cache.set_many(vec![]).await, Ok(()));
    for command in ["mget", "multi", "set", "exec"] {
        assert_eq!(calls(&mut raw, command).await, 0, "{command} sent");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_server_refuses_applies_none_of_it() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let cache: RedisCache<String> = connect(&server, KeyBuilder::new("b")).await;
    cache.set("b:kept", s("7")).await?;
    set_maxmemory(&mut raw, "1").await;
    let refused = cache.set_many(vec![("b:new", s("1")), ("b:kept", s("8"))]).await;
    set_maxmemory(&mut raw, "0").await;
    assert_eq!(outcome(refused), Outcome::NotApplied);
    assert_eq!(cache.get_many(&["b:new", "b:kept"]).await?, [None, Some(s("7"))]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_sees_other_redis_types_as_absent() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let cache: RedisCache<String> = connect(&server, KeyBuilder::new("b")).await;
    let _: i64 = raw.rpush("b:list", "x").await.expect("raw RPUSH");
    cache.set("b:k", s("v")).await?;
    assert_eq!(cache.get_many(&["b:list", "b:k"]).await?, [None, Some(s("v"))]);
    assert!(cache.get("b:list").await.is_err(), "where get meets WRONGTYPE");
    Ok(())
}

// ---- loading ----------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: u8,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_values_are_stored_as_set_setx_and_set_negative_store_them() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let options = RedisOptions::new()
        .default_ttl(Duration::from_secs(3600))
        .negative_ttl(Duration::from_secs(30));
    let cache: RedisCache<u64> = connect_with(&server, KeyBuilder::new("l"), options).await;
    let pttl = {
        let raw = raw.clone();
        move |key: &'static str| {
            let mut raw = raw.clone();
            async move { raw.pttl::<_, i64>(key).await.expect("raw PTTL") }
        }
    };

    assert_eq!(cache.get_or_load("l:default", async { 41 }).await?, 41);
    let text: String = raw.get("l:default").await.expect("raw GET");
    assert_eq!(text, "41", "decimal text, as `set` stores it");
    assert!((3_590_000..=3_600_000).contains(&pttl("l:default").await), "the default TTL");

    let ttl = Some(Duration::from_millis(1500));
    let own = cache.load("l:own", async { Ok::<_, Error>(Loaded::ValueWithTtl(7, ttl)) }).await?;
    assert_eq!(own, Some(7));
    assert!((1..=1500).contains(&pttl("l:own").await), "its own TTL, in whole ms");
    let forever = cache.load("l:forever", async { Ok::<_, Error>(Loaded::ValueWithTtl(8, None)) });
    assert_eq!(forever.await?, Some(8));
    assert_eq!(pttl("l:forever").await, -1, "no expiry");

    assert_eq!(cache.load("l:absent", async { Ok::<_, Error>(Loaded::Absent) }).await?, None);
    let marker: Vec<u8> = raw.get("l:absent").await.expect("raw GET");
    assert!(std::str::from_utf8(&marker).is_err(), "the marker is no value's text");
    assert!((29_000..=30_000).contains(&pttl("l:absent").await), "the negative TTL");
    assert_eq!(cache.get_item("l:absent").await?, Lookup::Negative);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_whose_store_is_refused_stores_nothing_and_frees_the_key() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let cache: RedisCache<String> = connect(&server, KeyBuilder::new("l")).await;
    cache.set_negative("l:k").await?;
    set_maxmemory(&mut raw, "1").await;
    let refused = cache.try_get_or_load("l:k", async { Ok::<_, Error>(s("lost")) }).await;
    set_maxmemory(&mut raw, "0").await;
    assert_eq!(outcome(refused), Outcome::NotApplied, "reported as the SET's failure");
    assert_eq!(cache.get_item("l:k").await?, Lookup::Negative, "what the key held stays");
    // The flight ended with the failure: the next caller loads.
    assert_eq!(cache.try_get_or_load("l:k", async { Ok::<_, Error>(s("next")) }).await?, "next");
    Ok(())
}

/// Runs `CALLERS` loads of `key` at once, through each of `caches` in
/// turn, with loaders held until `expected` of them have started (and a
/// little longer, for any others to start); returns how many loaders ran
/// and what the callers got.
async fn gated_loads(
    caches: Vec<RedisCache<User>>,
    key: &'static str,
    expected: usize,
) -> (usize, Vec<User>) {
    const CALLERS: usize = 6;
    let loads = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let cache = caches[i % caches.len()].clone();
            let (loads, gate) = (loads.clone(), gate.clone());
            spawn(async move {
                cache
                    .get_or_load(key, async move {
                        loads.fetch_add(1, SeqCst);
                        drop(gate.acquire().await);
                        User { name: s("ada"), age: 36 }
                    })
                    .await
            })
        })
        .collect();
    assert!(until(|| loads.load(SeqCst) >= expected).await);
    nap(SETTLE).await;
    gate.add_permits(CALLERS);
    let mut users = Vec::new();
    for caller in callers {
        users.push(caller.join().await.expect("returns").expect("no panic").expect("loads"));
    }
    (loads.load(SeqCst), users)
}

/// Clones and the caches `with_key_builder` makes share one registry of
/// loads; a cache connected on its own, like another process, does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_is_shared_by_clones_not_by_separate_connections() {
    let server = RedisServer::start();
    let ada = User { name: s("ada"), age: 36 };
    let cache: RedisCache<User> = connect(&server, KeyBuilder::new("u")).await;
    let sibling = cache.with_key_builder(KeyBuilder::new("u"));
    let (loads, users) = gated_loads(vec![cache.clone(), cache.clone(), sibling], "u:1", 1).await;
    assert_eq!(loads, 1, "one load in this process");
    assert!(users.iter().all(|u| *u == ada), "waiters decode the stored text: {users:?}");

    let other: RedisCache<User> = connect(&server, KeyBuilder::new("u")).await;
    let (loads, users) = gated_loads(vec![cache, other], "u:2", 2).await;
    assert_eq!(loads, 2, "each connection runs its own load");
    assert!(users.iter().all(|u| *u == ada));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_a_load_that_found_nothing_get_none_from_load() -> Result<(), Error> {
    let server = RedisServer::start();
    let cache: RedisCache<String> = connect(&server, KeyBuilder::new("l")).await;
    let gate = Arc::new(Semaphore::new(0));
    let loads = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (cache, gate, loads) = (cache.clone(), gate.clone(), loads.clone());
            spawn(async move {
                cache
                    .load("l:gone", async move {
                        loads.fetch_add(1, SeqCst);
                        drop(gate.acquire().await);
                        Ok::<_, Error>(Loaded::Absent)
                    })
                    .await
            })
        })
        .collect();
    assert!(until(|| loads.load(SeqCst) > 0).await);
    nap(SETTLE).await;
    gate.add_permits(3);
    for caller in callers {
        assert_eq!(caller.join().await.expect("returns").expect("no panic"), Ok(None));
    }
    assert_eq!(loads.load(SeqCst), 1);
    assert_eq!(cache.get_item("l:gone").await?, Lookup::Negative);
    Ok(())
}

// ---- trait objects ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trait_objects_over_redis() {
    let server = RedisServer::start();
    let redis: RedisCache<String> = connect(&server, KeyBuilder::new("ref")).await;
    every_method(&redis).await.unwrap_or_else(|e| panic!("&dyn: {e}"));

    let boxed: Box<dyn wheelcache::DynKvCache<String>> =
        Box::new(connect::<String>(&server, KeyBuilder::new("boxed")).await);
    every_method(boxed.as_ref()).await.unwrap_or_else(|e| panic!("Box<dyn>: {e}"));

    // One collection, both backends, picked at run time; spawned, so the
    // trait object's futures are `Send`.
    let both: Vec<Arc<dyn wheelcache::DynKvCache<String>>> = vec![
        Arc::new(AsyncCache::new(Cache::new(), KeyBuilder::new("mixed-memory"))),
        Arc::new(connect::<String>(&server, KeyBuilder::new("mixed-redis")).await),
        Arc::new(AnyCache::redis(connect::<String>(&server, KeyBuilder::new("mixed-any")).await)),
    ];
    for cache in both {
        let prefix = cache.key_builder().prefix().to_string();
        tokio::spawn(async move { every_method(&*cache).await })
            .await
            .expect("no panic")
            .unwrap_or_else(|e| panic!("{prefix}: {e}"));
    }
}
