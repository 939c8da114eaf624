//! Criterion benches of the crate's single-thread paths, with a bare
//! `hashbrown::HashMap` lookup in the same group as the limit.
//!
//! `cargo bench --bench core` (add `-- --quick` for a short run).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wheelcache::Cache;

/// Keys in the table for the hit benches.
const KEYS: u64 = 100_000;
/// Lookups per iteration (a fixed pseudo-random walk over the keys).
const BATCH: u64 = 1024;

fn keys() -> Vec<u64> {
    // A seeded xorshift walk: the same sequence in every run and for every
    // contender.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..BATCH)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % KEYS
        })
        .collect()
}

fn get_hit(c: &mut Criterion) {
    let walk = keys();
    let mut group = c.benchmark_group("get_hit");
    group.throughput(Throughput::Elements(BATCH));

    let mut map: hashbrown::HashMap<u64, u64, ahash::RandomState> = Default::default();
    for k in 0..KEYS {
        map.insert(k, k);
    }
    group.bench_function("hashbrown", |b| {
        b.iter(|| walk.iter().map(|k| *map.get(black_box(k)).unwrap()).sum::<u64>())
    });

    let cache: Cache<u64, u64> = Cache::new();
    for k in 0..KEYS {
        cache.set(k, k);
    }
    group.bench_function("wheelcache", |b| {
        b.iter(|| walk.iter().map(|k| cache.get(black_box(k)).unwrap()).sum::<u64>())
    });

    // The same reads, each followed by a clock reading: what an entry's
    // deadline adds to a read, without the deadline.
    group.bench_function("wheelcache_then_instant_now", |b| {
        b.iter(|| {
            walk.iter()
                .map(|k| {
                    let v = cache.get(black_box(k)).unwrap();
                    black_box(std::time::Instant::now());
                    v
                })
                .sum::<u64>()
        })
    });

    let ttl_cache: Cache<u64, u64> = Cache::new();
    for k in 0..KEYS {
        ttl_cache.setx(k, k, Some(Duration::from_secs(3600)));
    }
    group.bench_function("wheelcache_ttl", |b| {
        b.iter(|| walk.iter().map(|k| ttl_cache.get(black_box(k)).unwrap()).sum::<u64>())
    });

    // The same keys in batches of 64: `get_many` reads the clock once a
    // shard, not once a key.
    let batches: Vec<Vec<&u64>> = walk.chunks(64).map(|c| c.iter().collect()).collect();
    let many = |cache: &Cache<u64, u64>| {
        batches
            .iter()
            .map(|keys| {
                cache.get_many(black_box(keys)).into_iter().map(Option::unwrap).sum::<u64>()
            })
            .sum::<u64>()
    };
    group.bench_function("wheelcache_get_many", |b| b.iter(|| many(&cache)));
    group.bench_function("wheelcache_ttl_get_many", |b| b.iter(|| many(&ttl_cache)));
    group.finish();
}

fn get_miss(c: &mut Criterion) {
    let walk: Vec<u64> = keys().into_iter().map(|k| k + KEYS).collect();
    let mut group = c.benchmark_group("get_miss");
    group.throughput(Throughput::Elements(BATCH));
    let cache: Cache<u64, u64> = Cache::new();
    for k in 0..KEYS {
        cache.set(k, k);
    }
    group.bench_function("wheelcache", |b| {
        b.iter(|| walk.iter().filter(|k| cache.get(black_box(*k)).is_some()).count())
    });
    group.finish();
}

fn writes(c: &mut Criterion) {
    let walk = keys();
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(BATCH));

    let mut map: hashbrown::HashMap<u64, u64, ahash::RandomState> = Default::default();
    group.bench_function("hashbrown_insert", |b| {
        b.iter(|| {
            for &k in &walk {
                map.insert(black_box(k), k);
            }
        })
    });

    let cache: Cache<u64, u64> = Cache::new();
    group.bench_function("set", |b| {
        b.iter(|| {
            for &k in &walk {
                cache.set(black_box(k), k);
            }
        })
    });

    let cache: Cache<u64, u64> = Cache::new();
    group.bench_function("setx", |b| {
        let mut n = 0u64;
        b.iter(|| {
            for &k in &walk {
                n += 1;
                // TTLs vary so that every write moves the key's timer.
                cache.setx(black_box(k), k, Some(Duration::from_secs(60 + n % 64)));
            }
        })
    });

    let cache: Cache<u64, u64> = Cache::new();
    group.bench_function("incr", |b| {
        b.iter(|| {
            for &k in &walk {
                let _ = black_box(cache.incr(black_box(k), 1));
            }
        })
    });

    let cache: Cache<u64, u64> = Cache::new();
    for &k in &walk {
        cache.set(k, k);
    }
    group.bench_function("expire", |b| {
        let mut n = 0u64;
        b.iter(|| {
            for &k in &walk {
                n += 1;
                cache.expire(black_box(&k), Some(Duration::from_secs(60 + n % 64)));
            }
        })
    });

    group.bench_function("setx_fresh_cache", |b| {
        b.iter_batched(
            Cache::<u64, u64>::new,
            |cache| {
                for &k in &walk {
                    cache.setx(k, k, Some(Duration::from_secs(60)));
                }
                cache
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The async facade's `get` next to the sync one: the facade's futures
/// complete on their first poll, so one poll with a no-op waker runs it.
fn async_get_hit(c: &mut Criterion) {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use wheelcache::{AsyncCache, KeyBuilder, KvCache};

    let keys: Vec<String> = keys().into_iter().map(|k| format!("app:{k}")).collect();
    let mut group = c.benchmark_group("async_get_hit");
    group.throughput(Throughput::Elements(BATCH));
    let cache: Cache<String, u64> = Cache::new();
    for k in 0..KEYS {
        cache.set(format!("app:{k}"), k);
    }
    group.bench_function("sync", |b| {
        b.iter(|| keys.iter().map(|k| cache.get(black_box(k.as_str())).unwrap()).sum::<u64>())
    });
    let facade = AsyncCache::new(cache.clone(), KeyBuilder::new("app"));
    let mut cx = Context::from_waker(Waker::noop());
    group.bench_function("async", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| {
                    let fut = std::pin::pin!(facade.get(black_box(k.as_str())));
                    match fut.poll(&mut cx) {
                        Poll::Ready(v) => v.unwrap().unwrap(),
                        Poll::Pending => unreachable!("the facade never waits"),
                    }
                })
                .sum::<u64>()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = get_hit, get_miss, writes, async_get_hit
}
criterion_main!(benches);
