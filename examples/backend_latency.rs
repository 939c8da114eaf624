//! The latency of one call through each backend, measured in one process:
//! `get` hits (and `set`s) through `AsyncCache` and through `RedisCache` on
//! a local Redis server, each call timed alone, p50/p99/p99.9 printed.
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &
//! cargo run --release --example backend_latency --features redis -- redis://127.0.0.1:6379/
//! ```
//!
//! Each call is awaited before the next starts (no pipelining), as one
//! request handler would. The timer's own cost is measured and printed too:
//! it is in every number.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use wheelcache::{AsyncCache, Cache, KeyBuilder, KvCache, RedisCache, RedisOptions};

const KEYS: usize = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "redis://127.0.0.1:6379/".to_string());
    let keys = KeyBuilder::new("latency");
    let names: Vec<String> = (0..KEYS).map(|i| keys.build(["k", &i.to_string()])).collect();
    let value = "a sixteen-byte v".to_string();

    let memory: AsyncCache<String> = AsyncCache::new(Cache::new(), keys.clone());
    let redis: RedisCache<String> = RedisCache::connect(&url, keys, RedisOptions::new()).await?;

    println!(
        "{:<8} {:<4} {:>9} {:>10} {:>10} {:>10}",
        "backend", "op", "calls", "p50", "p99", "p99.9"
    );
    let overhead = timer_overhead();
    println!("{:<8} {:<4} {:>9} {}", "timer", "-", overhead.len(), row(overhead));

    for (name, calls) in [("memory", 1_000_000), ("redis", 20_000)] {
        let set = |i: usize| {
            let (key, value) = (&names[i % KEYS], value.clone());
            let (memory, redis) = (&memory, &redis);
            async move {
                match name {
                    "memory" => memory.set(key, value).await,
                    _ => redis.set(key, value).await,
                }
                .expect("set");
            }
        };
        let get = |i: usize| {
            let key = &names[i % KEYS];
            let (memory, redis) = (&memory, &redis);
            async move {
                let hit = match name {
                    "memory" => memory.get(key).await,
                    _ => redis.get(key).await,
                };
                black_box(hit.expect("get").expect("a hit"));
            }
        };
        let sets = time_each(calls, set).await;
        println!("{name:<8} {:<4} {calls:>9} {}", "set", row(sets));
        let gets = time_each(calls, get).await;
        println!("{name:<8} {:<4} {calls:>9} {}", "get", row(gets));
    }
    redis.clear().await?;
    Ok(())
}

/// Runs `call(i)` for `i` in `0..calls` after a warm-up, timing each one.
async fn time_each<F, Fut>(calls: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..calls / 10 {
        call(i).await;
    }
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let start = Instant::now();
        call(i).await;
        times.push(start.elapsed());
    }
    times
}

/// Two `Instant::now()` calls with nothing between.
fn timer_overhead() -> Vec<Duration> {
    (0..1_000_000)
        .map(|_| {
            let start = Instant::now();
            start.elapsed()
        })
        .collect()
}

fn row(mut times: Vec<Duration>) -> String {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    format!("{:>10.1?} {:>10.1?} {:>10.1?}", at(0.50), at(0.99), at(0.999))
}
