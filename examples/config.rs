//! A cache built from a TOML file: the backend, namespace and TTLs are
//! configuration; the code knows only the `KvCache` trait.
//!
//! ```text
//! cargo run --example config --features config
//! cargo run --example config --features redis -- examples/cache-redis.toml
//! ```
//!
//! The first reads `examples/cache.toml` (in memory); the second needs a
//! Redis server at the URL in the file.

use std::time::Duration;

use wheelcache::{make_cache, AnyCache, CacheConfig, Error, KvCache, Lookup};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The Redis backend needs a tokio runtime; the memory backend runs on any.
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cache.toml").into());
    let config: CacheConfig = toml::from_str(&std::fs::read_to_string(&path)?)?;
    println!("{path}:\n  {config:?}\n");

    let cache: AnyCache<String> = make_cache(&config).await?;
    println!("backend: {}", cache.backend());
    tour(&cache).await?;
    cache.close().await?;
    Ok(())
}

/// Works the same on any backend.
async fn tour<C: KvCache<String>>(cache: &C) -> Result<(), Error> {
    let keys = cache.key_builder();
    let (session, visits, missing) =
        (keys.build(["session", "ada"]), keys.build(["visits"]), keys.build(["user", "404"]));

    cache.setx(&session, "logged-in".to_string(), Some(Duration::from_secs(900))).await?;
    println!("get {session:<24} -> {:?}", cache.get(&session).await?);
    println!("ttl {session:<24} -> {:?}", cache.ttl(&session).await?);

    cache.del_item(&visits).await?;
    cache.incr(&visits, 1).await?;
    println!("incr {visits:<23} -> {}", cache.incr(&visits, 1).await?);
    println!("ttl {visits:<24} -> {:?} (the default TTL)", cache.ttl(&visits).await?);

    cache.set_negative(&missing).await?;
    let negative = cache.get_item(&missing).await? == Lookup::Negative;
    println!("get_item {missing:<19} -> negative: {negative}");
    println!("len                          -> {}", cache.len().await?);
    println!("get \"outside:key\"            -> {:?}", cache.get("outside:key").await);
    Ok(())
}
