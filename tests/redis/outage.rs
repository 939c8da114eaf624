//! The server goes away mid-run and comes back on the same port: calls fail
//! with a typed `Error::Backend` (no panic, no hang past the timeouts), then
//! succeed again once it answers.

use std::error::Error as _;
use std::time::Duration;

use futures::StreamExt;
use wheelcache::{Error, KeyBuilder, KvCache, Outcome, RedisCache, RedisOptions};

use super::{connect_with, eventually, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_typed_while_the_server_is_down_and_recover_after() {
    let mut server = RedisServer::start();
    let port = server.port();
    let options = RedisOptions::new()
        .connection_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(500))
        .reconnect_attempts(1);
    let cache: RedisCache<String> = connect_with(&server, KeyBuilder::new("o"), options).await;
    cache.set("o:k", "before".to_string()).await.expect("server up");
    assert_eq!(cache.incr("o:n", 1).await, Ok(1));

    server.kill();

    // Every kind of call fails with a typed backend error, its cause kept.
    // The first call (a read) may meet the dead connection; the calls
    // after it wait for a connection that is refused, so none was sent.
    let backend = |result: Result<(), Error>, what: &str| match result {
        Err(Error::Backend(e)) => {
            assert!(Error::Backend(e.clone()).source().is_some(), "{what}: no cause in {e}");
            assert_eq!(e.outcome(), Outcome::NotApplied, "{what}: {e}");
        }
        other => panic!("{what}: expected Error::Backend, got {other:?}"),
    };
    backend(cache.get("o:k").await.map(drop), "get");
    backend(cache.set("o:k", "during".to_string()).await, "set");
    backend(cache.incr("o:n", 1).await.map(drop), "incr (a script)");
    backend(cache.setdefault("o:d", "x".to_string()).await.map(drop), "setdefault");
    backend(cache.ttl("o:k").await.map(drop), "ttl");
    backend(cache.expire("o:k", None).await.map(drop), "expire (a transaction)");
    backend(cache.len().await.map(drop), "len (SCAN)");
    backend(cache.popitem().await.map(drop), "popitem");
    backend(cache.clear().await, "clear");
    let mut keys = std::pin::pin!(cache.iter_keys());
    let first = keys.next().await.expect("the stream reports the failure");
    backend(first.map(drop), "iter_keys");
    assert_eq!(keys.next().await, None, "and then ends");

    // Back on the same port (empty: the test server keeps nothing).
    let _server = RedisServer::start_on(port);
    let cache = &cache;
    let recovered = eventually(Duration::from_secs(20), || async move {
        cache.set("o:k", "after".to_string()).await.is_ok()
    })
    .await;
    assert!(recovered, "calls succeed again once the server is back");
    assert_eq!(cache.get("o:k").await, Ok(Some("after".to_string())));
    // The scripts were forgotten with the server; they are loaded again.
    assert_eq!(cache.incr("o:n", 5).await, Ok(5));
    assert_eq!(cache.setdefault("o:d", "x".to_string()).await, Ok("x".to_string()));
    assert_eq!(cache.len().await, Ok(3));
    assert!(!cache.is_closed());
}
