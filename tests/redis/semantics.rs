//! What the conformance suite cannot check on a real server: expiry in real
//! time (short TTLs, polled with a generous bound), the stored format, value
//! types, namespaces, `SCAN` paging and concurrency.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::time::{Duration, Instant};

use ::redis::AsyncCommands;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use wheelcache::{
    BuildError, Error, KeyBuilder, KvCache, Loaded, Lookup, RedisCache, RedisOptions, Ttl,
};

use super::{connect, connect_with, eventually, free_port, RedisServer};

/// How long a check waits for a short TTL to pass before it fails.
const BOUND: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn s(v: &str) -> String {
    v.to_string()
}

fn sorted<T: Ord>(v: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = v.into_iter().collect();
    v.sort();
    v
}

/// Waits until `key` is gone from `cache` and returns how long that took.
async fn until_gone<V>(cache: &RedisCache<V>, key: &str) -> Duration
where
    V: Serialize + serde::de::DeserializeOwned + Send,
{
    let start = Instant::now();
    let gone =
        eventually(BOUND, || async move { cache.get_item(key).await.expect("get_item").is_miss() })
            .await;
    assert!(gone, "{key} still there after {BOUND:?}");
    start.elapsed()
}

// ---- real-time expiry -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_absent_everywhere() -> Result<(), Error> {
    let server = RedisServer::start();
    let c: RedisCache<String> = connect(&server, KeyBuilder::new("t")).await;
    let (gone, kept) = ("t:gone", "t:kept");
    let written = Instant::now();
    c.setx(gone, s("1"), Some(ms(100))).await?;
    c.set(kept, s("2")).await?;
    let left = c.ttl(gone).await?.remaining().expect("a deadline");
    assert!(left > Duration::ZERO && left <= ms(100), "{left:?}");
    assert_eq!(c.get(gone).await?, Some(s("1")));

    until_gone(&c, gone).await;
    assert!(written.elapsed() >= ms(100), "gone before its deadline");
    assert_eq!(c.ttl(gone).await?, Ttl::Missing);
    assert!(!c.contains(gone).await?);
    assert_eq!(c.len().await?, 1);
    assert_eq!(c.keys().await?, vec![s(kept)]);
    assert_eq!(c.values().await?, vec![s("2")]);
    assert_eq!(c.items().await?, vec![(s(kept), s("2"))]);
    let streamed: Vec<_> = c.iter_keys().collect().await;
    assert_eq!(streamed, vec![Ok(s(kept))]);
    assert!(!c.expire(gone, None).await?, "too late to persist");
    assert_eq!(c.pop(gone).await?, None);
    assert!(!c.del_item(gone).await?);
    assert_eq!(c.popitem().await?, Some((s(kept), s("2"))));
    assert_eq!(c.popitem().await?, None);
    // An expired key is absent for setdefault too.
    c.setx(gone, s("3"), Some(ms(50))).await?;
    until_gone(&c, gone).await;
    assert_eq!(c.setdefault(gone, s("fresh")).await?, "fresh");
    Ok(())
}

/// `incr` keeps a fractional remaining TTL: flooring it to whole seconds
/// would expire an entry with 0.3 s left at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incr_keeps_a_fractional_deadline() -> Result<(), Error> {
    let server = RedisServer::start();
    let c: RedisCache<String> = connect(&server, KeyBuilder::new("t")).await;
    let k = "t:counter";
    let written = Instant::now();
    c.setx(k, s("5"), Some(ms(300))).await?;
    let before = c.ttl(k).await?.remaining().expect("a deadline");
    assert_eq!(c.incr(k, 1).await?, 6);
    let after = c.ttl(k).await?.remaining().expect("still a deadline");
    assert!(after <= before, "incr moved the deadline: {before:?} -> {after:?}");
    assert_eq!(c.get(k).await?, Some(s("6")), "not expired by the increment");

    until_gone(&c, k).await;
    assert!(written.elapsed() >= ms(300), "expired before its deadline");
    // Counting again starts over, with the (absent) default TTL.
    assert_eq!(c.incr(k, 1).await?, 1);
    assert_eq!(c.ttl(k).await?, Ttl::Persistent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_expire_with_the_negative_ttl() -> Result<(), Error> {
    let server = RedisServer::start();
    let options = RedisOptions::new().negative_ttl(ms(100));
    let c: RedisCache<String> = connect_with(&server, KeyBuilder::new("t"), options).await;
    let n = "t:n";
    let written = Instant::now();
    c.set_negative(n).await?;
    assert_eq!(c.get_item(n).await?, Lookup::Negative);
    let left = c.ttl(n).await?.remaining().expect("a marker has a TTL");
    assert!(left <= ms(100), "{left:?}");
    until_gone(&c, n).await;
    assert!(written.elapsed() >= ms(100));
    assert!(!c.del_item(n).await?);
    Ok(())
}

/// `expire`, `expire(None)` and `set` move deadlines: checked against a
/// sentinel key with the original TTL, so no fixed sleep is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_and_set_move_deadlines() -> Result<(), Error> {
    let server = RedisServer::start();
    let c: RedisCache<String> = connect(&server, KeyBuilder::new("t")).await;
    let short = Some(ms(80));
    for k in ["t:later", "t:persisted", "t:reset", "t:sentinel"] {
        c.setx(k, s(k), short).await?;
    }
    assert!(c.expire("t:later", Some(Duration::from_secs(30))).await?);
    assert!(c.expire("t:persisted", None).await?);
    c.set("t:reset", s("again")).await?;

    until_gone(&c, "t:sentinel").await;
    assert_eq!(c.get("t:later").await?, Some(s("t:later")), "the old deadline is gone");
    assert!(c.ttl("t:later").await?.remaining().is_some_and(|d| d > ms(29_000)));
    assert_eq!(c.get("t:persisted").await?, Some(s("t:persisted")));
    assert_eq!(c.ttl("t:persisted").await?, Ttl::Persistent);
    assert_eq!(c.get("t:reset").await?, Some(s("again")), "set dropped the TTL");
    assert_eq!(c.ttl("t:reset").await?, Ttl::Persistent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_ttl_applies_where_memory_applies_it() -> Result<(), Error> {
    let server = RedisServer::start();
    let options = RedisOptions::new().default_ttl(ms(150));
    let c: RedisCache<String> = connect_with(&server, KeyBuilder::new("t"), options).await;
    c.set("t:a", s("v")).await?;
    c.set_item("t:b", s("v")).await?;
    c.setdefault("t:c", s("v")).await?;
    c.incr("t:d", 1).await?;
    c.set_many(vec![("t:e", s("v"))]).await?;
    c.get_or_load("t:f", async { s("v") }).await?;
    c.load("t:g", async { Ok::<_, Error>(Loaded::Value(s("v"))) }).await?;
    for k in ["t:a", "t:b", "t:c", "t:d", "t:e", "t:f", "t:g"] {
        let left = c.ttl(k).await?.remaining().expect("the default TTL");
        assert!(left <= ms(150), "{k}: {left:?}");
    }
    // Not capped by the default.
    c.setx("t:long", s("v"), Some(Duration::from_secs(3600))).await?;
    c.setx("t:forever", s("v"), None).await?;
    assert!(c.ttl("t:long").await?.remaining().is_some_and(|d| d > Duration::from_secs(3590)));
    assert_eq!(c.ttl("t:forever").await?, Ttl::Persistent);

    let c = &c;
    let only_two_left = eventually(BOUND, || async move { c.len().await.expect("len") == 2 });
    assert!(only_two_left.await, "the seven defaulted keys expire");
    assert_eq!(sorted(c.keys().await?), vec![s("t:forever"), s("t:long")]);
    Ok(())
}

// ---- what is stored -----------------------------------------------------

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct User {
    name: String,
    logins: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_stored_as_text_other_clients_read() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let raw_get = |raw: &mut ::redis::aio::MultiplexedConnection, key: &'static str| {
        let mut raw = raw.clone();
        async move { raw.get::<_, Option<Vec<u8>>>(key).await.expect("raw GET") }
    };

    // Strings as their text: another client's INCRBY counts them.
    let strings: RedisCache<String> = connect(&server, KeyBuilder::new("s")).await;
    strings.set("s:hits", s("41")).await?;
    strings.set("s:name", s("ada \"the\" {first}")).await?;
    assert_eq!(raw_get(&mut raw, "s:hits").await.as_deref(), Some(&b"41"[..]));
    assert_eq!(raw_get(&mut raw, "s:name").await.as_deref(), Some(&b"ada \"the\" {first}"[..]));
    let _: i64 = raw.incr("s:hits", 1).await.expect("raw INCRBY");
    assert_eq!(strings.get("s:hits").await?, Some(s("42")));
    assert_eq!(strings.incr("s:hits", 1).await?, 43);

    // Integers as decimal text.
    let numbers: RedisCache<u64> = connect(&server, KeyBuilder::new("n")).await;
    numbers.set("n:a", 7).await?;
    assert_eq!(raw_get(&mut raw, "n:a").await.as_deref(), Some(&b"7"[..]));
    let _: () = raw.set("n:b", "12").await.expect("raw SET");
    assert_eq!(numbers.get("n:b").await?, Some(12));

    // Anything else as JSON.
    let users: RedisCache<User> = connect(&server, KeyBuilder::new("u")).await;
    let ada = User { name: s("ada"), logins: 3 };
    users.set("u:1", ada.clone()).await?;
    assert_eq!(
        raw_get(&mut raw, "u:1").await.as_deref(),
        Some(&br#"{"name":"ada","logins":3}"#[..])
    );
    assert_eq!(users.get("u:1").await?, Some(ada.clone()));
    assert_eq!(users.setdefault("u:1", User { name: s("bob"), logins: 0 }).await?, ada);
    assert_eq!(users.values().await?, vec![ada.clone()]);
    assert_eq!(users.pop("u:1").await?, Some(ada));

    // A marker is no text at all.
    strings.set_negative("s:missing").await?;
    let marker = raw_get(&mut raw, "s:missing").await.expect("stored");
    assert!(String::from_utf8(marker).is_err(), "the marker is not UTF-8");

    // A value that is not a `V` is a typed error, and stays where it is.
    let _: () = raw.set("n:text", "abc").await.expect("raw SET");
    let err = numbers.get("n:text").await.expect_err("abc is no u64");
    assert!(matches!(&err, Error::Backend(e) if e.message().contains("decode")), "{err}");
    assert!(err.source().is_some(), "the decoding error is the cause");
    assert_eq!(numbers.incr("n:text", 1).await, Err(Error::NotAnInteger));
    assert_eq!(raw_get(&mut raw, "n:text").await.as_deref(), Some(&b"abc"[..]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_stay_in_the_value_type() -> Result<(), Error> {
    let server = RedisServer::start();
    let c: RedisCache<u8> = connect(&server, KeyBuilder::new("c")).await;
    c.setx("c:n", 250, Some(Duration::from_secs(30))).await?;
    assert_eq!(c.incr("c:n", 5).await?, 255);
    assert_eq!(c.incr("c:n", 1).await, Err(Error::Overflow), "past u8::MAX");
    assert_eq!(c.decr("c:n", 256).await, Err(Error::Overflow), "below zero");
    assert_eq!(c.get_item("c:n").await?, Lookup::Hit(255), "untouched");
    assert!(c.ttl("c:n").await?.remaining().is_some_and(|d| d > Duration::from_secs(29)));
    assert_eq!(c.decr("c:n", 255).await?, 0);
    assert_eq!(c.decr("c:n", 1).await, Err(Error::Overflow));
    assert_eq!(c.incr("c:new", 256).await, Err(Error::Overflow), "too big to create");
    assert_eq!(c.get_item("c:new").await?, Lookup::Miss, "nothing created");
    assert_eq!(c.incr("c:new", 255).await?, 255);

    let wide: RedisCache<i64> = connect(&server, KeyBuilder::new("w")).await;
    wide.set("w:big", i64::MAX).await?;
    assert_eq!(wide.incr("w:big", 1).await, Err(Error::Overflow));
    assert_eq!(wide.decr("w:m", i64::MIN).await, Err(Error::Overflow));
    assert_eq!(wide.get_item("w:m").await?, Lookup::Miss);
    assert_eq!(wide.incr("w:min", i64::MIN).await?, i64::MIN);
    assert_eq!(wide.incr("w:min", -1).await, Err(Error::Overflow));
    Ok(())
}

// ---- namespaces, paging, concurrency ------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_namespace_calls_stay_in_the_namespace() -> Result<(), Error> {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    let a: RedisCache<String> = connect(&server, KeyBuilder::new("a")).await;
    let ab = a.with_key_builder(KeyBuilder::new("ab"));
    a.set("a:1", s("one")).await?;
    a.set("a:2", s("two")).await?;
    a.set_negative("a:n").await?;
    ab.set("ab:1", s("other namespace")).await?;
    for foreign in ["a", "ax:1", "other:1"] {
        let _: () = raw.set(foreign, "foreign").await.expect("raw SET");
    }
    let _: () = raw.hset("a:hash", "f", "v").await.expect("raw HSET");

    assert_eq!(a.len().await?, 2, "markers, other types and other namespaces do not count");
    assert_eq!(sorted(a.keys().await?), vec![s("a:1"), s("a:2")]);
    let streamed: Vec<String> = a.iter_keys().map(|k| k.expect("key")).collect().await;
    assert_eq!(sorted(streamed), vec![s("a:1"), s("a:2")]);
    assert_eq!(sorted(a.values().await?), vec![s("one"), s("two")]);
    let first = a.popitem().await?.expect("an item");
    let second = a.popitem().await?.expect("another item");
    assert_eq!(sorted([first.0, second.0]), vec![s("a:1"), s("a:2")]);
    assert_eq!(a.popitem().await?, None, "the hash and the marker are not items");
    assert_eq!(a.get_item("a:n").await?, Lookup::Negative);

    a.clear().await?;
    let left: Vec<String> = raw.keys("*").await.expect("raw KEYS");
    assert_eq!(sorted(left), vec![s("a"), s("ab:1"), s("ax:1"), s("other:1")]);
    assert_eq!(ab.len().await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_keys_span_scan_pages() -> Result<(), Error> {
    let server = RedisServer::start();
    let c: RedisCache<u32> = connect(&server, KeyBuilder::new("p")).await;
    for i in 0..1000 {
        c.set(&format!("p:{i}"), i).await?;
    }
    for i in 0..300 {
        c.set_negative(&format!("p:n{i}")).await?;
    }
    let all: BTreeSet<String> = (0..1000).map(|i| format!("p:{i}")).collect();
    assert_eq!(c.len().await?, 1000);
    assert_eq!(c.keys().await?.into_iter().collect::<BTreeSet<_>>(), all);
    assert_eq!(c.values().await?.len(), 1000);
    let mut streamed = BTreeSet::new();
    let mut keys = std::pin::pin!(c.iter_keys());
    while let Some(k) = keys.next().await {
        assert!(streamed.insert(k?), "a key yielded twice");
    }
    assert_eq!(streamed, all);
    let mut popped = 0;
    while let Some((k, v)) = c.popitem().await? {
        assert_eq!(k, format!("p:{v}"));
        popped += 1;
    }
    assert_eq!(popped, 1000);
    assert_eq!(c.get_item("p:n299").await?, Lookup::Negative);
    c.clear().await?;
    let mut raw = server.raw().await;
    let size: u64 = ::redis::cmd("DBSIZE").query_async(&mut raw).await.expect("DBSIZE");
    assert_eq!(size, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_incr_loses_no_update() -> Result<(), Error> {
    let server = RedisServer::start();
    let c: RedisCache<u64> = connect(&server, KeyBuilder::new("c")).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    c.incr("c:hits", 1).await?;
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no panic")?;
    }
    assert_eq!(c.get("c:hits").await?, Some(800));
    Ok(())
}

// ---- connecting and closing ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refuses_with_typed_errors() {
    let keys = KeyBuilder::new("k");
    let bad_url = RedisCache::<String>::connect("nope://x", keys.clone(), RedisOptions::new());
    assert!(matches!(bad_url.await, Err(Error::Backend(_))));

    let zero = RedisOptions::new().default_ttl(Duration::ZERO);
    let err = RedisCache::<String>::connect("redis://127.0.0.1/", keys.clone(), zero)
        .await
        .expect_err("a zero default TTL");
    let cause = err.source().and_then(|e| e.downcast_ref::<BuildError>());
    assert_eq!(cause, Some(&BuildError::ZeroDefaultTtl));

    let nobody = format!("redis://127.0.0.1:{}/", free_port());
    let fast = RedisOptions::new().reconnect_attempts(0).connection_timeout(ms(200));
    let refused = RedisCache::<String>::connect(&nobody, keys, fast).await;
    assert!(matches!(refused, Err(Error::Backend(_))), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_namespace_leaves_the_others_open() -> Result<(), Error> {
    let server = RedisServer::start();
    let a: RedisCache<String> = connect(&server, KeyBuilder::new("a")).await;
    let b = a.with_key_builder(KeyBuilder::new("b"));
    let a2 = a.clone();
    a.close().await?;
    assert!(a.is_closed() && a2.is_closed(), "clones share the closed state");
    assert_eq!(a2.get("a:k").await, Err(Error::Closed));
    assert!(a.with_key_builder(KeyBuilder::new("c")).is_closed());
    b.set("b:k", s("v")).await?;
    assert_eq!(b.get("b:k").await?, Some(s("v")));
    assert!(format!("{a:?}").contains("closed: true"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outside_tokio_are_errors_not_panics() {
    let server = RedisServer::start();
    let c: RedisCache<String> = connect(&server, KeyBuilder::new("t")).await;
    let outside = std::thread::spawn(move || {
        let get = futures::executor::block_on(c.get("t:k"));
        let connect = futures::executor::block_on(RedisCache::<String>::connect(
            "redis://127.0.0.1/",
            KeyBuilder::new("t"),
            RedisOptions::new(),
        ));
        (get, connect.map(drop))
    })
    .join()
    .expect("no panic");
    for result in [outside.0.map(drop), outside.1] {
        let Err(Error::Backend(e)) = result else { panic!("expected Error::Backend: {result:?}") };
        assert!(e.message().contains("tokio runtime"), "{e}");
    }
}
