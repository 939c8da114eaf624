//! # wheelcache
//!
//! An embedded, concurrent key-value cache for latency-sensitive programs:
//! per-key TTL expired precisely by a timing wheel, atomic counters,
//! negative caching, and one API in sync and async form.
//!
//! ```
//! use std::time::Duration;
//! use wheelcache::{Cache, Lookup, Ttl};
//!
//! let cache: Cache<String, u64> = Cache::builder()
//!     .default_ttl(Duration::from_secs(60))
//!     .build()?;
//!
//! cache.set("answer".to_string(), 42);
//! assert_eq!(cache.get("answer"), Some(42));
//!
//! // Per-key TTL, kept exactly.
//! cache.setx("token".to_string(), 7, Some(Duration::from_millis(1500)));
//! assert!(matches!(cache.ttl("token"), Ttl::Remaining(_)));
//!
//! // Counters keep their deadline.
//! assert_eq!(cache.incr("visits".to_string(), 1)?, 1);
//!
//! // Negative caching: "known to be absent".
//! cache.set_negative("user:404".to_string());
//! assert_eq!(cache.get_item("user:404"), Lookup::Negative);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Striping
//!
//! The table is split into a power-of-two number of shards (by default four
//! per core), each a `parking_lot::RwLock` around a `hashbrown::HashTable`
//! index over a dense vector of entries. A key is hashed once with `ahash`;
//! the shard comes from hash bits the index does not use. Reads take the
//! shard's lock shared; writes take it exclusive; no call holds two.
//!
//! ## Expiry and its thread
//!
//! An entry is expired from its deadline on: a read at or after the deadline
//! never returns it, whatever the background work has done. Removal is
//! active: each shard keeps a hierarchical timing wheel (six levels of 64
//! slots, 1 ms ticks by default) whose timers live inside the entries, so a
//! re-timed key moves its one timer and timer memory stays proportional to
//! the entries with a deadline. One background thread serves every cache in
//! the process: it sleeps until the earliest deadline (not at all when there
//! is none), removes what is due in short batches that release the shard
//! lock in between, and calls the removal listener outside any lock. It
//! stops, and is joined, when the last cache is dropped. Expired entries of
//! an idle cache are reclaimed within about a tick of their deadline, with
//! no call from the user.
//!
//! The clock is injectable: with the `test-util` feature, [`MockClock`]
//! moves only when told, and `run_pending_tasks` reaps on the caller's
//! thread, so expiry tests need no sleeping.
//!
//! ## The async facade
//!
//! [`KvCache`] is the cache interface as an async trait, shaped so that
//! other backends (a Redis server) can implement it: `&str` keys, every
//! method returning `Result<_, Error>`, `Send` futures. [`AsyncCache`]
//! implements it over a `Cache<String, V>` and the [`KeyBuilder`] of its
//! namespace. It is thin: the core never waits, so each future completes on
//! its first poll, needs no runtime and runs on any executor. A key outside
//! the namespace is [`Error::InvalidKey`]; after `close` every call is
//! [`Error::Closed`]. `iter_keys` is a `futures_core::Stream`.
//!
//! ```
//! # futures::executor::block_on(async {
//! use std::time::Duration;
//! use wheelcache::{AsyncCache, Cache, Error, KeyBuilder, KvCache, Ttl};
//!
//! let cache: AsyncCache<String> = AsyncCache::new(Cache::new(), KeyBuilder::new("app"));
//! let key = cache.key_builder().build(["session", "42"]); // "app:session:42"
//! cache.setx(&key, "ada".to_string(), Some(Duration::from_secs(900))).await?;
//! assert_eq!(cache.get(&key).await?.as_deref(), Some("ada"));
//! assert!(matches!(cache.ttl(&key).await?, Ttl::Remaining(_)));
//! assert_eq!(cache.get("session:42").await, Err(Error::InvalidKey));
//!
//! cache.close().await?;
//! assert_eq!(cache.get(&key).await, Err(Error::Closed));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Bounded capacity and eviction
//!
//! [`CacheBuilder::max_capacity`] bounds the number of entries (negative
//! markers count) for the whole cache, not per shard: a cache under its
//! capacity never evicts. A new key that finds the cache full first makes
//! room from expired entries, then evicts by S3-FIFO: new keys enter a small
//! probation queue, keys read while there are promoted to the main queue
//! (a CLOCK with up to three credits), and keys evicted from probation are
//! remembered by fingerprint so that they come back straight to main. A hit
//! only bumps a 2-bit counter under the shard's shared lock. A scan of
//! one-time keys passes through probation without flushing the entries that
//! are read again.
//!
//! ## Single-flight loading
//!
//! [`Cache::get_or_insert_with`] and [`AsyncCache::get_or_load`] run one
//! loader for concurrent callers of the same missing key; the others wait
//! for its value (the async ones through their `Waker`). A loader that
//! fails, panics or is cancelled leaves nothing behind, and a waiter takes
//! over. Plain reads never wait for a load.
//!
//! ## Memory per entry
//!
//! An entry is its key, its value (or a negative marker, told apart by a
//! flag), a deadline (`u64` nanoseconds), its timer's intrusive links
//! (10 bytes) and two bytes of eviction state, in a dense vector: 40 bytes
//! for `u64` keys and values. The index adds 5 bytes a bucket. Measured with
//! a counting allocator, a million `u64 -> u64` entries cost 36 bytes each
//! beyond their key and value, with or without a TTL; timers need no memory
//! of their own.
//!
//! ## Beyond one process
//!
//! [`KvCache`] is the seam between backends. With the `redis` feature,
//! `RedisCache` implements it on a Redis server (6.2 or later), with the
//! same semantics as [`AsyncCache`]: negative markers kept out of every
//! value-returning call, `incr` keeping deadlines exactly, atomic
//! `setdefault`/`pop`/`popitem`/`incr` (Lua scripts), whole-namespace calls
//! confined to the key prefix and walked with `SCAN`, typed
//! [`Error::Backend`] errors and reconnection after a server restart. Each
//! call is a network round trip, so use [`AsyncCache`] for data one process
//! owns and `RedisCache` for data several processes share. With the
//! `config` feature, `make_cache` builds either one from a
//! serde-deserialisable `CacheConfig`, as an `AnyCache`.
//!
//! ## Bad input
//!
//! A call given an input it cannot honour returns a typed error and changes
//! nothing; an input at the edge of a range is handled, never a panic or
//! an overflow. Each row names the tests that hold it to this (by their
//! path in the integration test binary: `cargo test NAME`); the model
//! tests of `tests/model` (the `sequence` module) also reach the call rows
//! at random.
//!
//! | input | what happens | tests |
//! |---|---|---|
//! | a key outside the namespace ([`AsyncCache`], any method taking a key) | [`Error::InvalidKey`]; nothing changes | `conformance::invalid_keys_change_nothing` (in every `conformance::memory::suite_*`), `capacity::async_loading::loading_checks_the_namespace_and_closing` |
//! | `incr`/`decr` on a value that holds no integer (`"abc"`, `"01"`, `" 1"`) | [`Error::NotAnInteger`]; value and deadline untouched | `sync_core::counters::incr_on_a_non_integer_is_not_an_integer_and_changes_nothing` |
//! | `incr`/`decr` past `i64::MAX` or below `i64::MIN` | [`Error::Overflow`]; value untouched | `sync_core::counters::incr_past_i64_max_is_overflow_and_changes_nothing` |
//! | `decr(k, i64::MIN)` (its negation does not exist) | [`Error::Overflow`], not a panic; nothing created | `sync_core::counters::decr_by_i64_min_is_overflow_not_a_panic` |
//! | a counter leaving its type (`u8` past 255 or below 0) | [`Error::Overflow`]; value untouched, nothing created | `sync_core::counters::counters_that_leave_the_value_type_are_overflow` |
//! | a zero TTL: `setx(k, v, Some(ZERO))`, `expire(k, Some(ZERO))` | the key is stored already expired: removed (`expire` answers whether it was there) | `sync_core::api::setx_zero_removes_the_key`, `sync_core::api::expire_zero_deletes_and_none_persists` |
//! | `Duration::MAX` as a TTL (`setx`, `expire`, `default_ttl`, `negative_ttl`) | the deadline saturates at about 584 years; no overflow, no panic | `sync_core::expiry::duration_max_neither_panics_nor_overflows`, `model::bad_input::the_largest_settings_are_accepted` |
//! | `max_capacity(0)` | [`BuildError::ZeroCapacity`] | `capacity::zero_capacity_is_an_error` |
//! | `shards(0)` | [`BuildError::ZeroShards`] | `sync_core::builder::zero_shards_is_an_error` |
//! | `shards(n)`, `n` > [`CacheBuilder::MAX_SHARDS`] | [`BuildError::TooManyShards`] | `sync_core::builder::too_many_shards_is_an_error` |
//! | `tick(ZERO)` | [`BuildError::ZeroTick`] | `sync_core::builder::zero_tick_is_an_error` |
//! | a tick longer than [`CacheBuilder::MAX_TICK`] | [`BuildError::TickTooLong`] | `sync_core::builder::tick_longer_than_max_is_an_error` |
//! | `default_ttl(ZERO)` | [`BuildError::ZeroDefaultTtl`] (leave it unset for no expiry) | `sync_core::builder::zero_default_ttl_is_an_error` |
//! | `negative_ttl(ZERO)` | [`BuildError::ZeroNegativeTtl`] | `sync_core::builder::zero_negative_ttl_is_an_error` |
//! | every setting at its largest (`max_capacity(u64::MAX)`, `MAX_SHARDS`, `MAX_TICK`, `Duration::MAX` TTLs) | accepted; nothing overflows | `model::bad_input::the_largest_settings_are_accepted` |
//! | a loader that panics (`get_or_insert_with`, `get_or_load`) | the panic reaches the caller that ran it; nothing is stored, an entry or marker already there is left as it was, and a waiting caller loads instead | `capacity::a_panicking_loader_leaves_nothing_and_the_next_caller_loads`, `capacity::waiters_take_over_from_a_panicking_loader`, `model::bad_input::a_panicking_or_failing_loader_changes_nothing`, `model::bad_input::a_panicking_async_loader_leaves_nothing_and_the_next_caller_loads` |
//! | a loader that fails (`try_get_or_insert_with`, `try_get_or_load`) or an async loader dropped before it ends | its error to the caller that ran it; nothing is stored, and a waiting caller loads instead | `capacity::a_failing_loader_returns_its_error_and_stores_nothing`, `capacity::async_loading::a_failing_loader_stores_nothing`, `capacity::async_loading::a_cancelled_loader_hands_the_load_to_a_waiter`, `model::bad_input::a_panicking_or_failing_loader_changes_nothing` |
//! | a removal listener that panics | caught and counted in [`Stats::listener_panics`]; the other notices are delivered, the cache and the expiry thread go on | `sync_core::listener::a_panicking_listener_leaves_the_cache_working`, `model::bad_input::a_panicking_listener_does_not_stop_the_expiry_thread` |
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `test-util` | [`MockClock`], a clock that only moves when told |
//! | `config` | `CacheConfig`, `make_cache`, `AnyCache`: the backend picked by configuration (serde) |
//! | `redis` | `RedisCache`, `RedisOptions`: the [`KvCache`] on a Redis server (redis-rs, tokio); implies `config` |
//! | `fuzzing` | `__fuzz`: internals for the fuzz targets under `fuzz/` (hidden, not part of the API) |

#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(feature = "config")]
mod any;
mod builder;
mod cache;
#[cfg(feature = "config")]
mod config;
mod counter;
#[cfg(feature = "config")]
mod duration;
mod dynamic;
mod error;
mod expiry;
mod flight;
mod inner;
mod iter;
mod keys;
mod kv;
mod list;
mod listener;
mod lookup;
mod memory;
#[cfg(feature = "redis")]
mod redis_cache;
mod stats;
mod table;
mod time;
mod ttls;
mod unwind;
mod wheel;

/// Internals for the fuzz targets (built with `--cfg fuzzing`); not part
/// of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz;

pub use crate::{
    builder::CacheBuilder,
    cache::Cache,
    counter::Counter,
    dynamic::{BoxFuture, BoxStream, DynKvCache},
    error::{BackendError, BuildError, Error, Outcome},
    iter::{Iter, IterKeys},
    keys::KeyBuilder,
    kv::KvCache,
    listener::RemovalCause,
    lookup::{Loaded, Lookup, Ttl},
    memory::AsyncCache,
    stats::Stats,
    time::Clock,
};

#[cfg(feature = "test-util")]
pub use crate::time::MockClock;

#[cfg(feature = "config")]
pub use crate::{
    any::AnyCache,
    config::{make_cache, BackendConfig, CacheConfig, ConfigError, ConfigValue},
};

#[cfg(feature = "redis")]
pub use crate::redis_cache::{RedisCache, RedisOptions};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The default hasher of keys: `ahash`, randomly seeded per cache.
pub type DefaultHashBuilder = ahash::RandomState;
