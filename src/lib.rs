//! # wheelcache
//!
//! An embedded, concurrent key-value cache for latency-sensitive programs:
//! per-key TTL expired precisely by a timing wheel (even while the program
//! is idle), atomic counters, negative caching, single-flight loading,
//! bounded capacity by entries or weight, and one async interface
//! ([`KvCache`]) that also runs on Redis.
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
//! The names are those of a dict-style key-value cache interface
//! (`get_item`, `set_item`, `del_item`, `setdefault`, `popitem`, `setx`,
//! `incr`…), the same in the sync [`Cache`] and the async [`KvCache`].
//! Values are returned by clone: wrap large values in an `Arc`, so that a
//! read clones a pointer.
//!
//! ## Striping
//!
//! The table is split into a power-of-two number of shards (by default
//! sixteen per core), each a `parking_lot::RwLock` around its entries (by
//! id, in a vector), a `hashbrown::HashTable` index of their ids, the
//! shard's timing wheel and its eviction policy. A key is hashed once
//! with `ahash`; the shard comes from hash bits the index does not use.
//! Reads take the shard's lock shared; writes take it exclusive; no call
//! holds two. A shard only read from for a while (64 reads with no write
//! between) lets its readers in through slots of their own instead of
//! the lock's word, so that threads reading on several cores write no
//! cache line in common; the next write waits for those readers to leave
//! and ends that until the next streak of reads.
//!
//! The index never re-hashes all its keys in one call: once it is full, a
//! table of twice the buckets takes the new ids and the old one is moved
//! into it sixteen buckets per insert or removal, lookups looking in both
//! meanwhile (a table whose room went to tombstones is rebuilt the same
//! way, at its own size). A shard of a million entries thus grows without
//! holding its lock for the tens of milliseconds a one-step re-hash takes.
//!
//! ## Expiry and its thread
//!
//! An entry is expired from its deadline on: a read at or after the
//! deadline never returns it, whatever the background work has done.
//! Removal is active: each shard keeps a hierarchical timing wheel (six
//! levels of 64 slots, 1 ms ticks by default) with one timer an entry, so
//! a re-timed key moves its one timer, if it moves it at all, and timer
//! memory stays proportional to the entries with a deadline.
//!
//! A read of an entry with a deadline must know the clock is before it; a
//! read of an entry without one never asks (with a time to idle, every
//! entry has a deadline, which each read renews from a precise reading).
//! A precise reading reads the processor's time-stamp counter, which keeps
//! the reads around it from overlapping their cache misses; on some
//! virtual machines it waits for all the memory traffic in flight. So on
//! Linux a read first asks the kernel's coarse clock (its time as of its
//! last tick, read from memory), tied to the precise clock by an anchor
//! renewed about once a second: a deadline more than about 105 ms past
//! the bound it gives is proven ahead without a precise reading. That
//! holds while the kernel's coarse clock trails its precise one by less
//! than 100 ms; the kernel keeps it within a tick (1 to 10 ms) while it
//! keeps time. In the README's runs a loop of hits on random keys took
//! about 1.5 times as long for entries with a 1 h TTL as for entries
//! without, and 3 times before the coarse clock. A key that needs no deadline is
//! best stored without one.
//!
//! One background thread serves every cache in the process. It sleeps until
//! the earliest deadline (not at all when there is none), then serves the
//! due caches in rounds, each for at most a 200 µs slice, so a cache with a
//! million due entries delays another cache's expiry by about one slice. It
//! removes entries two steps of the wheel per hold of a shard's lock (two
//! removals, well under a microsecond; the first hold of a pass also moves
//! the timers that writes bringing deadlines earlier left to move, at most
//! 31 a shard), taking each due shard once in turn, then four at a time, so
//! that a shard it lets go of stays free while it works on the others and,
//! in a mass expiry, the rest see no lock traffic; it drops or reports what
//! it removed outside the lock. Nothing it does under
//! a lock allocates. A caller that finds a lock taken spins, then yields,
//! and sleeps only after tens of µs. It stops, and is joined, when
//! the last cache is dropped; the last handle of a cache frees its entries
//! on its own thread, never on the expiry thread.
//!
//! The clock is injectable: with the `test-util` feature, [`MockClock`]
//! moves only when told, and `run_pending_tasks` reaps on the caller's
//! thread, so expiry tests need no sleeping.
//!
//! ## Removal listener
//!
//! [`CacheBuilder::removal_listener`] hears of every value that leaves, with
//! its [`RemovalCause`], after the shard lock is released. Removals a call
//! causes are reported on the calling thread before the call returns.
//! Expirations found in the background are reported by a small pool of
//! notification threads, or, once the listener has proven fast (256 calls
//! in a row under 20 µs), by the expiry thread itself; a call over 200 µs
//! takes that trust away. A slow listener thus delays only its own cache's
//! notices, with one exception: a listener that has earned the trust and
//! then blocks holds up the expiry thread, and so every cache's expiry, for
//! that one call (the next ones go to the pool). A listener that may block
//! for long after a run of fast calls should hand its work to a channel. Removals caused inside a listener are reported after it
//! returns, not in a nested call.
//!
//! ## Bounded capacity and eviction
//!
//! [`CacheBuilder::max_capacity`] bounds the number of entries (negative
//! markers count), or with a [`weigher`](CacheBuilder::weigher) their total
//! weight, for the whole cache, not per shard: the capacity is a pool the
//! shards draw from, so a cache under its capacity never evicts, however
//! its keys fall over shards. A new key that finds the cache full first
//! makes room from expired entries, then evicts by W-TinyLFU on CLOCK
//! lists: new keys start in a small window; when it overflows, its oldest
//! unread entry meets main's victim, and the one a frequency sketch says is
//! asked for more often stays. The window's size adapts to the workload
//! (two shadow filters of recently evicted keys tell which side a bigger
//! share would have served). A hit only bumps a 3-bit counter under the
//! shard's shared lock: nothing moves, nothing shared is written. A scan of
//! one-time keys passes through the window without flushing the entries
//! that are read again. A bounded cache uses at most one shard per 1024
//! entries of capacity, so that each shard's policy sees enough entries.
//!
//! [`CacheBuilder::time_to_idle`] expires entries nobody read or wrote for a
//! while, as well as (whichever comes first) their TTL.
//!
//! ## Single-flight loading
//!
//! [`Cache::get_or_insert_with`], [`Cache::load`] and
//! [`KvCache::get_or_load`] / [`KvCache::load`] run one loader for
//! concurrent callers of the same missing key; the others wait for its
//! value (the async ones through their `Waker`, no thread blocked). A
//! loader can give its value a TTL of its own, or answer
//! [`Loaded::Absent`], stored as a negative entry. A loader that fails,
//! panics or is cancelled leaves nothing behind, and a waiter takes over.
//! Plain reads never wait for a load.
//!
//! ## The async interface
//!
//! [`KvCache`] is the cache interface as an async trait, shaped so that
//! other backends (a Redis server) can implement it: `&str` keys, every
//! method returning `Result<_, Error>`, `Send` futures. [`AsyncCache`]
//! implements it over a `Cache<String, V>` and the [`KeyBuilder`] of its
//! namespace. It is thin: the core never waits, so each future completes on
//! its first poll (loads aside), needs no runtime and runs on any executor.
//! A key outside the namespace is [`Error::InvalidKey`]; after `close`
//! every call is [`Error::Closed`]. [`DynKvCache`] is the same interface
//! with boxed futures, for `dyn` use.
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
//! ## Beyond one process
//!
//! With the `redis` feature, `RedisCache` implements [`KvCache`] on a Redis
//! server (6.2 or later), with the same semantics as [`AsyncCache`]:
//! negative markers kept out of every value-returning call, `incr` keeping
//! deadlines exactly, atomic `setdefault`/`pop`/`popitem`/`incr` (Lua
//! scripts), whole-namespace calls confined to the key prefix and walked
//! with `SCAN`, batches in one round trip, single-flight loading within the
//! process, and typed [`Error::Backend`] errors that say whether the call
//! may have been applied ([`Outcome`]). Each call is a network round trip,
//! so use [`AsyncCache`] for data one process owns and `RedisCache` for
//! data several processes share. With the `config` feature, `make_cache`
//! builds either one from a serde-deserialisable `CacheConfig`, as an
//! `AnyCache`.
//!
//! ## Memory per entry
//!
//! An entry is its key, its value (or a negative marker, told apart by a
//! flag), a deadline (`u64` nanoseconds) and its place in the eviction
//! policy (two `u32` links, with the flags and the read counter in their
//! spare bits): 32 bytes for `u64` keys and values. Its timer's two `u32`
//! links, which no lookup reads, sit in a vector beside the entries: 40
//! bytes in all. The index adds 5 bytes a bucket. A bounded cache's policy
//! adds about 3.8 bytes per entry of capacity (its frequency sketch and
//! shadow filters), grown with the shards. The sketch takes at least 128 KiB a cache, split
//! evenly over its shards: a small cache in front of many keys needs the
//! counters to tell them apart, and the same counters whatever the number
//! of shards keep the hit ratio from depending on it. The entries
//! of a bounded shard grow to its share of the capacity and a small margin
//! rather than to the next power of two. A shard's per-entry vectors start
//! with at least 1,040 bytes of room each (2 KiB for `u64` keys and
//! values), taken at its first insert: with glibc's allocator a smaller
//! first room can be a chunk another thread freed, in that thread's
//! arena, whose lock each growth of the vector would then take, and wait
//! for while another thread consolidates it. A shard that lost three
//! quarters of its entries is compacted and gives the memory back.
//!
//! ## Guarantees
//!
//! - A read at or after an entry's deadline never returns it.
//! - A timer never removes an entry that was rewritten or re-timed after it
//!   was armed: the remover re-checks under the shard lock.
//! - Timer memory is proportional to the entries with a deadline.
//! - No cache call blocks on another cache; the expiry thread runs no user
//!   code that can block for long (see the listener section).
//! - Read counters are exact, with any number of threads.
//!
//! ## Bad input and hostile user code
//!
//! A call given an input it cannot honour returns a typed error and changes
//! nothing; an input at the edge of a range is handled, never a panic or an
//! overflow. User code that panics or re-enters the cache does not corrupt
//! it, lose an expiry, or affect another cache. Each row names the tests
//! that hold it to this (by their path in the integration test binary:
//! `cargo test NAME`); the model tests of `tests/model` also reach the call
//! rows at random.
//!
//! | input | what happens | tests |
//! |---|---|---|
//! | a key outside the namespace ([`AsyncCache`], any method taking a key) | [`Error::InvalidKey`]; nothing changes (a batch with one such key changes nothing) | `conformance::invalid_keys_change_nothing` (in every `conformance::memory::suite_*`) |
//! | `incr`/`decr` on a value that holds no integer (`"abc"`, `"01"`, `" 1"`) | [`Error::NotAnInteger`]; value and deadline untouched | `sync_core::counters::incr_on_a_non_integer_is_not_an_integer_and_changes_nothing` |
//! | `incr`/`decr` past `i64::MAX` or below `i64::MIN` | [`Error::Overflow`]; value untouched | `sync_core::counters::incr_past_i64_max_is_overflow_and_changes_nothing` |
//! | `decr(k, i64::MIN)` (its negation does not exist) | [`Error::Overflow`], not a panic; nothing created | `sync_core::counters::decr_by_i64_min_is_overflow_not_a_panic` |
//! | a counter leaving its type (`u8` past 255 or below 0) | [`Error::Overflow`]; value untouched, nothing created | `sync_core::counters::counters_that_leave_the_value_type_are_overflow` |
//! | a zero TTL: `setx(k, v, Some(ZERO))`, `expire(k, Some(ZERO))` | the key is stored already expired: removed (`expire` answers whether it was there) | `sync_core::api::setx_zero_removes_the_key`, `sync_core::api::expire_zero_deletes_and_none_persists` |
//! | `Duration::MAX` as a TTL (`setx`, `expire`, `default_ttl`, `negative_ttl`, `time_to_idle`) | the deadline saturates at about 584 years; no overflow, no panic | `sync_core::expiry::duration_max_neither_panics_nor_overflows`, `model::bad_input::the_largest_settings_are_accepted` |
//! | `max_capacity(0)`, `shards(0)`, too many shards, `tick(ZERO)`, a tick over [`CacheBuilder::MAX_TICK`], a zero default TTL, negative TTL or time to idle, a weigher without a capacity | a [`BuildError`] naming the setting | `capacity::zero_capacity_is_an_error`, `sync_core::builder::*` |
//! | every setting at its largest (`max_capacity(u64::MAX)`, `MAX_SHARDS`, `MAX_TICK`, `Duration::MAX` TTLs) | accepted; nothing overflows, nothing is allocated for capacity not used | `model::bad_input::the_largest_settings_are_accepted` |
//! | a value heavier than the whole capacity (with a weigher) | not stored: the key's old entry is removed (`Replaced`), the value reported `Evicted` | `model::sequence::weighted_*` |
//! | a loader that panics, fails, or (async) is dropped | the panic or error reaches the caller that ran it; nothing is stored, and a waiting caller loads instead | `capacity::a_panicking_loader_leaves_nothing_and_the_next_caller_loads`, `capacity::waiters_take_over_from_a_panicking_loader`, `capacity::async_loading::a_cancelled_loader_hands_the_load_to_a_waiter`, `model::bad_input::a_panicking_or_failing_loader_changes_nothing` |
//! | a value whose `Clone` panics in a load | the load is abandoned as if the loader had panicked; the key is never left waiting | `robustness::loading::a_value_whose_clone_panics_does_not_wedge_its_key`, `robustness::loading::waiters_wake_when_the_loaders_clone_panics` |
//! | a value whose `Clone` panics in a read | the panic reaches the reader; nothing changes | `robustness::hostile::a_clone_that_panics_in_a_read_changes_nothing` |
//! | a key whose `Eq` panics | the panic reaches the caller; nothing changes (keys are compared before anything is written) | `robustness::hostile::an_eq_that_panics_in_a_write_changes_nothing` |
//! | a key whose `Hash` panics when the cache re-hashes it (the index growing, an eviction, the expiry thread) | caught: the entry is found by a scan instead and removed as it should be; one that cannot be placed while the index grows is dropped and reported `Evicted`; other keys, the shard and the expiry thread are unaffected | `robustness::hostile::a_hash_that_panics_while_the_expiry_thread_reaps_harms_nothing`, `robustness::hostile::a_hash_that_panics_while_the_index_grows_drops_only_that_entry`, `robustness::hostile::a_hash_that_panics_while_the_cache_evicts_or_reaps_harms_nothing` |
//! | a loader that loads its own key (same thread, or same async task) | it does not wait for itself: the inner call loads on its own | `robustness::loading::a_loader_that_loads_its_own_key_does_not_wait_for_itself`, `robustness::loading::an_async_loader_that_loads_its_own_key_does_not_wait_for_itself` |
//! | a blocking loading call while an async load of the same key is in flight | it runs its own loader instead of blocking a thread the async load may need | `robustness::loading::a_blocking_caller_does_not_wait_for_an_async_load_on_its_own_thread` |
//! | a removal listener that panics (even with a payload whose `Drop` panics) | caught and counted in [`Stats::listener_panics`]; the other notices are delivered, the cache and the expiry thread go on | `sync_core::listener::a_panicking_listener_leaves_the_cache_working`, `robustness::background::a_listener_whose_panic_payload_panics_too_stops_nothing` |
//! | a removal listener that blocks | holds up only its own cache's notices | `robustness::background::a_blocked_listener_holds_up_only_its_own_cache` |
//! | a removal listener that writes back into the cache (even one that re-inserts every evicted key into a full cache) | no recursion: the removals it causes are reported after it returns, the first few batches on its thread, the rest in the background | `sync_core::listener::the_listener_may_call_the_cache`, `robustness::reentrancy::a_listener_that_reinserts_every_eviction_does_not_recurse` |
//! | the system refuses a new thread for the delivery pool while none of its threads runs | the notices wait in order, and starting a thread is tried again by the next notices any cache queues and, while a cache on the real clock is alive, by the expiry thread at least every 100 ms | `expiry::deliver::tests::a_line_no_worker_could_take_is_served_once_one_starts`, `expiry::deliver::tests::a_failed_start_beside_a_busy_worker_strands_nothing` (unit tests) |
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `test-util` | [`MockClock`], a clock that only moves when told, and `Cache::assert_invariants`, `Cache::timers`, `Cache::entry_slots` for tests |
//! | `config` | `CacheConfig`, `make_cache`, `AnyCache`: the backend picked by configuration (serde) |
//! | `redis` | `RedisCache`, `RedisOptions`: the [`KvCache`] on a Redis server (redis-rs, tokio); implies `config` |

#![cfg_attr(docsrs, feature(doc_cfg))]
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
mod threads;
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

/// A global allocator for the unit tests that counts, per thread, the
/// allocations made: the tests that check a path allocates nothing read it.
#[cfg(test)]
pub(crate) mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: every call is forwarded to `System` unchanged; the count is
    // a const-initialised thread-local, which allocates nothing itself.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            // SAFETY: the caller's contract is `System`'s.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Allocations (and reallocations) made on this thread so far.
    pub(crate) fn allocations() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }
}
