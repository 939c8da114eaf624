//! Keys whose `Hash` or `Eq` panics, and values whose `Clone` panics,
//! while the cache works on them under a shard lock.

use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use wheelcache::{Cache, MockClock, RemovalCause};

use super::{Brittle, Touchy};
use crate::common::{eventually, ms};

type Reports = Arc<Mutex<Vec<(u32, RemovalCause)>>>;

fn touchy_cache(shards: usize, capacity: Option<u64>) -> (Cache<Touchy, u64>, MockClock, Reports) {
    let clock = MockClock::new();
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let mut builder = Cache::builder()
        .shards(shards)
        .clock(clock.clone())
        .removal_listener(move |k: Touchy, _, cause| sink.lock().unwrap().push((k.id, cause)));
    if let Some(cap) = capacity {
        builder = builder.max_capacity(cap);
    }
    (builder.build().unwrap(), clock, reports)
}

#[test]
fn a_hash_that_panics_while_the_expiry_thread_reaps_harms_nothing() {
    let expired = Arc::new(AtomicUsize::new(0));
    let count = expired.clone();
    let cache: Cache<Touchy, u64> = Cache::builder()
        .removal_listener(move |_, _, cause| {
            if cause == RemovalCause::Expired {
                count.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    let keys: Vec<Touchy> = (0..100).map(Touchy::new).collect();
    for (n, key) in keys.iter().enumerate() {
        cache.setx(key.clone(), n as u64, Some(ms(20 + n as u64 % 30)));
    }
    // From now on every hash of these keys panics: the expiry thread has
    // to remove them without one.
    keys.iter().for_each(Touchy::light);
    assert!(eventually(|| expired.load(SeqCst) == 100), "{} of 100 expired", expired.load(SeqCst));
    keys.iter().for_each(Touchy::put_out);
    assert_eq!(cache.len(), 0);
    cache.assert_invariants();

    // The thread lives on, for this cache and for others.
    let other: Cache<u32, u32> = Cache::new();
    other.setx(1, 1, Some(ms(10)));
    cache.setx(Touchy::new(7), 7, Some(ms(10)));
    assert!(eventually(|| other.timers() == 0 && cache.timers() == 0), "expiry stopped");
}

#[test]
fn a_hash_that_panics_while_the_index_grows_drops_only_that_entry() {
    let (cache, _clock, reports) = touchy_cache(1, None);
    let victim = Touchy::new(0);
    cache.set(victim.clone(), 0);
    victim.light();
    // Enough new keys to make the index grow, re-hashing the victim.
    for id in 1..2000 {
        cache.set(Touchy::new(id), u64::from(id));
    }
    victim.put_out();
    cache.assert_invariants();
    assert_eq!(cache.get(&victim), None, "the entry that could not be re-hashed is gone");
    assert_eq!(cache.len(), 1999);
    assert_eq!(*reports.lock().unwrap(), [(0, RemovalCause::Evicted)]);
    for id in 1..2000 {
        assert_eq!(cache.get(&Touchy::new(id)), Some(u64::from(id)));
    }
    assert!(cache.del_item(&Touchy::new(1)));
    cache.set(victim.clone(), 5);
    assert_eq!(cache.get(&victim), Some(5));
    cache.assert_invariants();
}

#[test]
fn a_hash_that_panics_while_the_cache_evicts_or_reaps_harms_nothing() {
    let (cache, clock, reports) = touchy_cache(1, Some(20));
    let keys: Vec<Touchy> = (0..20).map(Touchy::new).collect();
    for key in &keys {
        cache.setx(key.clone(), u64::from(key.id), Some(ms(10 + u64::from(key.id))));
    }
    keys.iter().for_each(Touchy::light);
    // New keys into the full cache: the policy evicts lit keys.
    for id in 100..110 {
        cache.set(Touchy::new(id), 0);
    }
    // Time passes: the lit keys left expire, and are reaped.
    clock.advance(ms(100));
    cache.run_pending_tasks();
    keys.iter().for_each(Touchy::put_out);
    cache.assert_invariants();
    assert_eq!(cache.len(), 10, "only the new keys are left");
    let reports = reports.lock().unwrap();
    let evicted = reports.iter().filter(|(_, c)| *c == RemovalCause::Evicted).count();
    let expired = reports.iter().filter(|(_, c)| *c == RemovalCause::Expired).count();
    assert_eq!((evicted, expired), (10, 10), "{reports:?}");
}

/// Every key hashes alike, so every lookup compares keys with `Eq`, which
/// panics while `PANICKY_EQ` is set.
#[derive(Clone, Debug)]
struct Colliding(u32);

static PANICKY_EQ: AtomicBool = AtomicBool::new(false);

impl PartialEq for Colliding {
    fn eq(&self, other: &Self) -> bool {
        assert!(!PANICKY_EQ.load(SeqCst), "eq panics");
        self.0 == other.0
    }
}

impl Eq for Colliding {}

impl Hash for Colliding {
    fn hash<H: Hasher>(&self, state: &mut H) {
        0u8.hash(state);
    }
}

#[test]
fn an_eq_that_panics_in_a_write_changes_nothing() {
    let cache: Cache<Colliding, u32, BuildHasherDefault<DefaultHasher>> = Cache::builder()
        .clock(MockClock::new())
        .max_capacity(5000)
        .hasher(BuildHasherDefault::default())
        .build()
        .unwrap();
    for n in 0..10 {
        cache.set(Colliding(n), n);
    }
    PANICKY_EQ.store(true, SeqCst);
    let write = catch_unwind(AssertUnwindSafe(|| cache.set(Colliding(10), 10)));
    let delete = catch_unwind(AssertUnwindSafe(|| cache.del_item(&Colliding(3))));
    PANICKY_EQ.store(false, SeqCst);
    assert!(write.is_err() && delete.is_err());
    cache.assert_invariants();
    assert_eq!(cache.len(), 10);
    assert_eq!(cache.get(&Colliding(3)), Some(3));
    assert_eq!(cache.get(&Colliding(10)), None);
    assert_eq!(cache.stats().weight, 10, "the capacity's books are straight");
}

#[test]
fn a_clone_that_panics_in_a_read_changes_nothing() {
    let fuse = Arc::new(AtomicUsize::new(0));
    let cache: Cache<u32, Brittle> = Cache::builder().clock(MockClock::new()).build().unwrap();
    cache.set(1, Brittle::new(1, &fuse));
    fuse.store(1, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| cache.get(&1))).is_err());
    assert_eq!(cache.get(&1).map(|b| b.n), Some(1));
    cache.assert_invariants();
}
