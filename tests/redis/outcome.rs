//! What a failed call did to the cache (`BackendError::outcome`): a write
//! the server never answered may have been applied; a call that never
//! reached the server, or that the server refused, changed nothing.

use std::error::Error as _;
use std::time::{Duration, Instant};

use ::redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use wheelcache::{Counter, Error, KeyBuilder, KvCache, Outcome, RedisCache, RedisOptions};

use super::{connect, connect_with, eventually, free_port, RedisServer};

/// The outcome of a backend error; any other result fails the test.
fn outcome<T: std::fmt::Debug>(result: Result<T, Error>) -> Outcome {
    match result {
        Err(Error::Backend(e)) => e.outcome(),
        other => panic!("expected Error::Backend, got {other:?}"),
    }
}

/// The redis-rs error behind a backend error.
fn redis_cause(err: &Error) -> &::redis::RedisError {
    err.source()
        .and_then(|cause| cause.downcast_ref::<::redis::RedisError>())
        .unwrap_or_else(|| panic!("no redis-rs cause in {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_times_out_is_unknown_and_the_server_applies_it_later() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(200);
    let options = RedisOptions::new().response_timeout(timeout);
    let cache: RedisCache<i64> = connect_with(&server, KeyBuilder::new("t"), options).await;
    // Also loads the INCR script: the stopped server will not answer
    // NOSCRIPT to the call below, it will run it.
    assert_eq!(cache.incr("t:n", 1).await, Ok(1));

    server.pause();
    let start = Instant::now();
    let err = cache.incr("t:n", 5).await.expect_err("a stopped server answers nothing");
    let waited = start.elapsed();
    assert_eq!(outcome(Err::<(), _>(err.clone())), Outcome::Unknown, "{err}");
    assert!(err.to_string().contains("may have been applied"), "{err}");
    assert!(redis_cause(&err).is_timeout(), "{err}");
    assert!(waited >= timeout && waited < Duration::from_secs(5), "{waited:?}");
    // A read that times out changed nothing, whatever the server does next.
    assert_eq!(outcome(cache.get("t:n").await), Outcome::NotApplied);
    server.resume();

    // The request was in the server's socket all along: once running, the
    // server applies the increment the caller was told had failed. (The
    // connection is the same and answers in order; polled all the same, so
    // the check does not rest on that.)
    let applied =
        eventually(Duration::from_secs(2), || async { cache.get("t:n").await == Ok(Some(6)) })
            .await;
    assert!(applied, "the timed-out incr was applied: {:?}", cache.get("t:n").await);
    assert_eq!(cache.incr("t:n", 1).await, Ok(7), "the connection still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_server_that_is_down_are_not_applied() {
    let fast = RedisOptions::new()
        .reconnect_attempts(0)
        .connection_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(500));

    // Nobody listens: the connection is refused, nothing is sent.
    let nobody = format!("redis://127.0.0.1:{}/", free_port());
    let refused = RedisCache::<i64>::connect(&nobody, KeyBuilder::new("d"), fast.clone()).await;
    assert_eq!(outcome(refused), Outcome::NotApplied);

    // A server that dies under a connected cache.
    let mut server = RedisServer::start();
    let cache: RedisCache<i64> = connect_with(&server, KeyBuilder::new("d"), fast).await;
    assert_eq!(cache.incr("d:n", 1).await, Ok(1));
    server.kill();
    // The first call may still meet the dead connection (a write there
    // would be unknown); a read changed nothing either way. Its failure
    // makes the next call connect afresh.
    assert_eq!(outcome(cache.get("d:n").await), Outcome::NotApplied);

    // Every write now waits for a connection that is refused: never sent.
    let results = [
        ("incr", cache.incr("d:n", 1).await.map(drop)),
        ("set", cache.set("d:n", 5).await),
        ("setdefault", cache.setdefault("d:m", 5).await.map(drop)),
        ("pop", cache.pop("d:n").await.map(drop)),
        ("expire", cache.expire("d:n", None).await.map(drop)),
        ("clear", cache.clear().await),
    ];
    for (call, result) in results {
        let err = result.expect_err("the server is down");
        assert_eq!(outcome(Err::<(), _>(err.clone())), Outcome::NotApplied, "{call}: {err}");
        assert!(redis_cause(&err).is_connection_refusal(), "{call}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_server_refuses_are_not_applied() {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let cache: RedisCache<String> = connect(&server, KeyBuilder::new("r")).await;
    cache.set("r:kept", "7".to_string()).await.expect("set");

    // WRONGTYPE: a list another program wrote in the namespace, met by a
    // command (GETDEL) and by scripts (INCR, SETDEFAULT).
    let _: i64 = raw.rpush("r:list", "x").await.expect("raw RPUSH");
    let results = [
        ("pop", cache.pop("r:list").await.map(drop)),
        ("incr", cache.incr("r:list", 1).await.map(drop)),
        ("setdefault", cache.setdefault("r:list", "v".to_string()).await.map(drop)),
    ];
    for (call, result) in results {
        let err = result.expect_err("a list is no entry");
        assert_eq!(outcome(Err::<(), _>(err.clone())), Outcome::NotApplied, "{call}: {err}");
        assert!(redis_cause(&err).to_string().contains("WRONGTYPE"), "{call}: {err}");
    }
    let list: Vec<String> = raw.lrange("r:list", 0, -1).await.expect("raw LRANGE");
    assert_eq!(list, ["x"], "untouched");

    // OOM: every write is refused past `maxmemory` (no eviction).
    let config = |limit: &'static str| {
        let mut raw = raw.clone();
        async move {
            let mut set = ::redis::cmd("CONFIG");
            set.arg("SET").arg("maxmemory").arg(limit);
            set.query_async::<()>(&mut raw).await.expect("raw CONFIG SET");
        }
    };
    config("1").await;
    let results = [
        ("set", cache.set("r:kept", "8".to_string()).await),
        ("set_negative", cache.set_negative("r:kept").await),
        ("incr", cache.incr("r:kept", 1).await.map(drop)),
        ("setdefault", cache.setdefault("r:new", "v".to_string()).await.map(drop)),
    ];
    config("0").await;
    for (call, result) in results {
        let err = result.expect_err("out of memory");
        assert_eq!(outcome(Err::<(), _>(err.clone())), Outcome::NotApplied, "{call}: {err}");
        assert!(redis_cause(&err).to_string().contains("OOM"), "{call}: {err}");
    }
    assert_eq!(cache.get("r:kept").await, Ok(Some("7".to_string())), "untouched");
    assert_eq!(cache.get("r:new").await, Ok(None), "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_whose_value_does_not_decode_is_applied() {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let numbers: RedisCache<u64> = connect(&server, KeyBuilder::new("n")).await;
    let _: () = raw.set("n:text", "abc").await.expect("raw SET");

    assert_eq!(outcome(numbers.get("n:text").await), Outcome::NotApplied, "a read");
    assert_eq!(outcome(numbers.pop("n:text").await), Outcome::Applied);
    let left: Option<String> = raw.get("n:text").await.expect("raw GET");
    assert_eq!(left, None, "pop removed it before it failed");

    let _: () = raw.set("n:other", "xyz").await.expect("raw SET");
    assert_eq!(outcome(numbers.popitem().await), Outcome::Applied);
    assert_eq!(numbers.len().await, Ok(0));
}

/// A counter that holds every `i64` but 3: its range is not an interval.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct NotThree(i64);

impl Counter for NotThree {
    fn to_counter(&self) -> Option<i64> {
        Some(self.0)
    }
    fn from_counter(n: i64) -> Option<Self> {
        (n != 3).then_some(NotThree(n))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incr_stored_outside_a_custom_counter_is_applied_not_overflow() {
    let server = RedisServer::start();
    let cache: RedisCache<NotThree> = connect(&server, KeyBuilder::new("e")).await;
    assert_eq!(cache.incr("e:n", 2).await, Ok(2));
    // Redis counts to 3, which `NotThree` cannot hold: it is stored, so the
    // error is no `Overflow` (an `Overflow` changes nothing).
    assert_eq!(outcome(cache.incr("e:n", 1).await), Outcome::Applied);
    assert_eq!(cache.incr("e:n", 1).await, Ok(4), "the 3 was stored");
}
