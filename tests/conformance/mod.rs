//! The conformance suite of the [`KvCache`] trait: checks written against the
//! trait alone, so every backend runs the same ones with one call,
//! [`run_all`]. A backend describes itself with [`Backend`].
//!
//! Values are `String`s, which every backend can store and count with.
//! Checks that need time to pass run only on a backend whose time can be
//! moved ([`Backend::advance`]); nothing sleeps to wait for a deadline. The
//! loading checks run callers at once on tasks of their own (`tasks`).

#[cfg(feature = "config")]
mod any;
pub(crate) mod dynamic;
mod memory;
pub(crate) mod tasks;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::pending;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Semaphore;
use wheelcache::{Error, KvCache, Loaded, Lookup, Ttl};

use self::tasks::{nap, poll_once, spawn, until, SETTLE};

/// A backend under test, as the suite needs it.
pub(crate) trait Backend: Send + Sync {
    /// The cache type of the backend: a handle that clones cheaply and can
    /// be moved into a task.
    type Cache: KvCache<String> + Clone + 'static;

    /// A new, empty cache, with no default TTL, a positive negative TTL and
    /// a key builder with a non-empty prefix.
    fn cache(&self) -> Self::Cache;

    /// Moves the time of every cache this backend made forward by `by` and
    /// returns true; or does nothing and returns false when the backend's
    /// time cannot be moved (a real clock). A backend that returns true
    /// keeps its time still between calls, so TTLs are compared exactly.
    /// The suite asks with `advance(Duration::ZERO)`.
    fn advance(&self, by: Duration) -> bool;
}

/// How far a real clock may move during one check.
const SLACK: Duration = Duration::from_secs(1);

/// What a check knows about time.
#[derive(Clone, Copy)]
struct Time {
    /// Time stands still unless moved by `Backend::advance`.
    mock: bool,
}

/// Runs every check on `backend`, panicking with the check's name on the
/// first failure.
pub(crate) async fn run_all<B: Backend>(backend: &B) {
    let time = Time { mock: backend.advance(Duration::ZERO) };
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            if let Err(e) = $check(backend, time).await {
                panic!("conformance check `{}` failed: unexpected {e:?}", stringify!($check));
            }
        )*};
    }
    run![
        get_item_tells_hit_miss_negative,
        set_and_set_item_store_and_replace,
        del_item_removes_entries_and_markers,
        contains_only_live_values,
        get_hides_markers,
        setdefault_keeps_live_values,
        pop_returns_live_values,
        popitem_never_returns_markers,
        clear_removes_everything,
        len_and_snapshots_skip_markers,
        setx_ttls,
        set_negative_markers,
        ttl_tells_missing_persistent_remaining,
        expire_retimes,
        incr_and_decr_count,
        incr_errors_change_nothing,
        incr_keeps_the_deadline,
        invalid_keys_change_nothing,
        iter_keys_lets_the_body_call_the_cache,
        close_refuses_every_call,
        get_many_answers_in_order,
        set_many_stores_and_replaces,
        batches_with_an_invalid_key_change_nothing,
        loading_a_hit_runs_no_loader,
        try_get_or_load_and_get_or_load_treat_a_marker_as_absent,
        load_answers_a_live_marker_without_loading,
        load_stores_what_the_loader_found,
        a_failing_loader_stores_nothing_and_its_error_reaches_its_caller,
        concurrent_callers_share_one_load,
        a_waiter_takes_over_from_a_failing_loader,
        a_waiter_takes_over_from_a_cancelled_loader,
        a_panicking_loader_leaves_nothing_behind,
        a_loader_asking_for_its_own_key_does_not_wait_for_itself,
    ];
    if time.mock {
        run![
            entries_expire_at_their_deadline,
            incr_keeps_a_fractional_deadline,
            markers_expire,
            expire_and_set_move_deadlines,
            expired_entries_are_absent_everywhere,
            loaded_entries_expire_at_their_own_deadline,
        ];
    }
}

// ---- helpers ----------------------------------------------------------

fn s(v: &str) -> String {
    v.to_string()
}

/// The key `prefix:name` of `cache`'s namespace.
fn key<C: KvCache<String>>(cache: &C, name: &str) -> String {
    cache.key_builder().build([name])
}

/// Asserts `ttl` is `Remaining(want)`: exactly on a mock clock, else within
/// `SLACK` below it.
#[track_caller]
fn assert_remaining(ttl: Ttl, want: Duration, time: Time) {
    let Ttl::Remaining(got) = ttl else { panic!("expected Remaining({want:?}), got {ttl:?}") };
    if time.mock {
        assert_eq!(got, want);
    } else {
        assert!(got <= want && got + SLACK >= want, "expected about {want:?}, got {got:?}");
    }
}

fn sorted<T: Ord + Debug>(v: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = v.into_iter().collect();
    v.sort();
    v
}

/// Everything observable about the whole cache, for "nothing changed".
async fn snapshot<C: KvCache<String>>(cache: &C) -> Result<(usize, Vec<(String, String)>), Error> {
    Ok((cache.len().await?, sorted(cache.items().await?)))
}

// ---- one method at a time ---------------------------------------------

async fn get_item_tells_hit_miss_negative<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n) = (key(&c, "a"), key(&c, "n"));
    assert_eq!(c.get_item(&a).await?, Lookup::Miss);
    c.set(&a, s("1")).await?;
    assert_eq!(c.get_item(&a).await?, Lookup::Hit(s("1")));
    c.set_negative(&n).await?;
    assert_eq!(c.get_item(&n).await?, Lookup::Negative);
    c.del_item(&a).await?;
    assert_eq!(c.get_item(&a).await?, Lookup::Miss);
    Ok(())
}

async fn set_and_set_item_store_and_replace<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, i) = (key(&c, "a"), key(&c, "i"));
    c.set(&a, s("1")).await?;
    c.set_item(&i, s("2")).await?;
    assert_eq!(c.get(&a).await?, Some(s("1")));
    assert_eq!(c.get(&i).await?, Some(s("2")));
    c.set(&a, s("3")).await?;
    assert_eq!(c.get(&a).await?, Some(s("3")));
    assert_eq!(c.len().await?, 2);
    // `set` replaces the TTL the key had (this backend has no default TTL).
    for (k, method) in [(&a, "set"), (&i, "set_item")] {
        c.setx(k, s("x"), Some(Duration::from_secs(10))).await?;
        assert_remaining(c.ttl(k).await?, Duration::from_secs(10), time);
        if method == "set" {
            c.set(k, s("y")).await?;
        } else {
            c.set_item(k, s("y")).await?;
        }
        assert_eq!(c.ttl(k).await?, Ttl::Persistent, "{method}");
        assert_eq!(c.get(k).await?, Some(s("y")), "{method}");
    }
    // And it replaces a negative marker.
    c.set_negative(&a).await?;
    c.set(&a, s("4")).await?;
    assert_eq!(c.get_item(&a).await?, Lookup::Hit(s("4")));
    Ok(())
}

async fn del_item_removes_entries_and_markers<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n, m) = (key(&c, "a"), key(&c, "n"), key(&c, "missing"));
    c.set(&a, s("1")).await?;
    c.set_negative(&n).await?;
    assert!(c.del_item(&a).await?);
    assert!(!c.del_item(&a).await?);
    assert!(c.del_item(&n).await?);
    assert_eq!(c.get_item(&n).await?, Lookup::Miss);
    assert_eq!(c.ttl(&n).await?, Ttl::Missing);
    assert!(!c.del_item(&m).await?);
    assert_eq!(c.len().await?, 0);
    Ok(())
}

async fn contains_only_live_values<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n) = (key(&c, "a"), key(&c, "n"));
    c.set(&a, s("")).await?;
    c.set_negative(&n).await?;
    assert!(c.contains(&a).await?, "an empty string is a value");
    assert!(!c.contains(&n).await?, "a marker is not a value");
    assert!(!c.contains(&key(&c, "missing")).await?);
    Ok(())
}

async fn get_hides_markers<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n) = (key(&c, "a"), key(&c, "n"));
    c.set(&a, s("1")).await?;
    c.set_negative(&n).await?;
    assert_eq!(c.get(&a).await?, Some(s("1")));
    assert_eq!(c.get(&n).await?, None);
    assert_eq!(c.get(&key(&c, "missing")).await?, None);
    Ok(())
}

async fn setdefault_keeps_live_values<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n) = (key(&c, "a"), key(&c, "n"));
    assert_eq!(c.setdefault(&a, s("first")).await?, "first");
    assert_eq!(c.setdefault(&a, s("second")).await?, "first");
    assert_eq!(c.get(&a).await?, Some(s("first")));
    assert_eq!(c.ttl(&a).await?, Ttl::Persistent, "stored with the (absent) default TTL");
    c.set_negative(&n).await?;
    assert_eq!(c.setdefault(&n, s("loaded")).await?, "loaded", "a marker counts as absent");
    assert_eq!(c.get_item(&n).await?, Lookup::Hit(s("loaded")));
    assert_eq!(c.len().await?, 2);
    Ok(())
}

async fn pop_returns_live_values<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n) = (key(&c, "a"), key(&c, "n"));
    c.set(&a, s("1")).await?;
    c.set_negative(&n).await?;
    assert_eq!(c.pop(&a).await?, Some(s("1")));
    assert_eq!(c.get_item(&a).await?, Lookup::Miss);
    assert_eq!(c.pop(&a).await?, None);
    assert_eq!(c.pop(&n).await?, None, "a marker has no value");
    assert_eq!(c.get_item(&n).await?, Lookup::Miss, "but it is removed");
    Ok(())
}

async fn popitem_never_returns_markers<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, z, n) = (key(&c, "a"), key(&c, "z"), key(&c, "n"));
    assert_eq!(c.popitem().await?, None);
    c.set_negative(&n).await?;
    assert_eq!(c.popitem().await?, None, "only a marker: no item");
    c.set(&a, s("1")).await?;
    c.set(&z, s("2")).await?;
    let first = c.popitem().await?.expect("an item");
    let second = c.popitem().await?.expect("another item");
    assert_eq!(sorted([first, second]), vec![(a.clone(), s("1")), (z.clone(), s("2"))]);
    assert_eq!(c.popitem().await?, None);
    assert_eq!(c.get_item(&n).await?, Lookup::Negative, "popitem leaves markers alone");
    assert_eq!(c.len().await?, 0);
    Ok(())
}

async fn clear_removes_everything<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, x, n) = (key(&c, "a"), key(&c, "x"), key(&c, "n"));
    c.set(&a, s("1")).await?;
    c.setx(&x, s("2"), Some(Duration::from_secs(60))).await?;
    c.set_negative(&n).await?;
    c.clear().await?;
    assert_eq!(c.len().await?, 0);
    assert!(c.keys().await?.is_empty());
    for k in [&a, &x, &n] {
        assert_eq!(c.get_item(k).await?, Lookup::Miss, "{k}");
        assert_eq!(c.ttl(k).await?, Ttl::Missing, "{k}");
    }
    c.clear().await?; // clearing an empty cache is fine
    Ok(())
}

async fn len_and_snapshots_skip_markers<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    assert_eq!(c.len().await?, 0);
    assert!(c.is_empty().await?);
    assert!(c.keys().await?.is_empty() && c.values().await?.is_empty());
    assert!(c.items().await?.is_empty());
    let live: Vec<String> = ["a", "b", "c"].map(|n| key(&c, n)).into();
    for (i, k) in live.iter().enumerate() {
        c.set(k, i.to_string()).await?;
    }
    c.set_negative(&key(&c, "n1")).await?;
    // A marker written over a live value hides it.
    c.set(&key(&c, "n2"), s("hidden")).await?;
    c.set_negative(&key(&c, "n2")).await?;

    assert_eq!(c.len().await?, 3);
    assert!(!c.is_empty().await?);
    assert_eq!(sorted(c.keys().await?), live);
    assert_eq!(sorted(c.values().await?), vec![s("0"), s("1"), s("2")]);
    let items = live.iter().cloned().zip(["0", "1", "2"].map(s)).collect::<Vec<_>>();
    assert_eq!(sorted(c.items().await?), items);

    c.set(&live[0], s("9")).await?;
    c.del_item(&live[1]).await?;
    assert_eq!(c.len().await?, 2);
    assert_eq!(sorted(c.values().await?), vec![s("2"), s("9")]);
    Ok(())
}

async fn setx_ttls<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, p, z, n, max) =
        (key(&c, "a"), key(&c, "p"), key(&c, "z"), key(&c, "n"), key(&c, "max"));
    c.setx(&a, s("1"), Some(Duration::from_secs(10))).await?;
    assert_remaining(c.ttl(&a).await?, Duration::from_secs(10), time);
    c.setx(&a, s("2"), Some(Duration::from_millis(1500))).await?;
    assert_remaining(c.ttl(&a).await?, Duration::from_millis(1500), time);
    assert_eq!(c.get(&a).await?, Some(s("2")));
    c.setx(&p, s("3"), None).await?;
    assert_eq!(c.ttl(&p).await?, Ttl::Persistent);
    // A zero TTL stores the value already expired: the key is gone.
    c.setx(&a, s("4"), Some(Duration::ZERO)).await?;
    assert_eq!(c.get_item(&a).await?, Lookup::Miss);
    assert_eq!(c.ttl(&a).await?, Ttl::Missing);
    c.setx(&z, s("5"), Some(Duration::ZERO)).await?;
    assert_eq!(c.get_item(&z).await?, Lookup::Miss);
    // A huge TTL neither overflows nor panics.
    c.setx(&max, s("6"), Some(Duration::MAX)).await?;
    assert_eq!(c.get(&max).await?, Some(s("6")));
    assert_ne!(c.ttl(&max).await?, Ttl::Missing);
    // `setx` replaces a marker.
    c.set_negative(&n).await?;
    c.setx(&n, s("7"), None).await?;
    assert_eq!(c.get_item(&n).await?, Lookup::Hit(s("7")));
    assert_eq!(c.ttl(&n).await?, Ttl::Persistent);
    assert_eq!(c.len().await?, 3);
    Ok(())
}

async fn set_negative_markers<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (n, a) = (key(&c, "n"), key(&c, "a"));
    c.set_negative(&n).await?;
    assert_eq!(c.get_item(&n).await?, Lookup::Negative);
    assert!(matches!(c.ttl(&n).await?, Ttl::Remaining(d) if d > Duration::ZERO));
    // A marker written over a value replaces it everywhere.
    c.set(&a, s("1")).await?;
    c.set_negative(&a).await?;
    assert_eq!(c.get_item(&a).await?, Lookup::Negative);
    assert_eq!(c.get(&a).await?, None);
    assert!(!c.contains(&a).await?);
    assert!(c.is_empty().await?, "a marker is not a value");
    assert!(c.keys().await?.is_empty());
    assert!(c.values().await?.is_empty());
    assert!(c.items().await?.is_empty());
    assert_eq!(c.popitem().await?, None);
    assert!(pin!(c.iter_keys()).next().await.is_none());
    Ok(())
}

async fn ttl_tells_missing_persistent_remaining<B: Backend>(
    b: &B,
    time: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let (p, r, m) = (key(&c, "persistent"), key(&c, "remaining"), key(&c, "missing"));
    c.set(&p, s("1")).await?;
    c.setx(&r, s("2"), Some(Duration::from_millis(2500))).await?;
    assert_eq!(c.ttl(&m).await?, Ttl::Missing);
    assert_eq!(c.ttl(&p).await?, Ttl::Persistent);
    // Exact, not rounded to seconds.
    assert_remaining(c.ttl(&r).await?, Duration::from_millis(2500), time);
    c.del_item(&p).await?;
    assert_eq!(c.ttl(&p).await?, Ttl::Missing);
    Ok(())
}

async fn expire_retimes<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n, m) = (key(&c, "a"), key(&c, "n"), key(&c, "missing"));
    assert!(!c.expire(&m, Some(Duration::from_secs(1))).await?);
    assert_eq!(c.ttl(&m).await?, Ttl::Missing, "expire creates nothing");
    c.set(&a, s("1")).await?;
    assert!(c.expire(&a, Some(Duration::from_secs(10))).await?);
    assert_remaining(c.ttl(&a).await?, Duration::from_secs(10), time);
    assert!(c.expire(&a, None).await?);
    assert_eq!(c.ttl(&a).await?, Ttl::Persistent);
    assert_eq!(c.get(&a).await?, Some(s("1")), "the value is untouched");
    assert!(c.expire(&a, Some(Duration::ZERO)).await?);
    assert_eq!(c.get_item(&a).await?, Lookup::Miss);
    assert!(!c.expire(&a, None).await?);
    // Markers count as entries.
    c.set_negative(&n).await?;
    assert!(c.expire(&n, Some(Duration::from_secs(20))).await?);
    assert_remaining(c.ttl(&n).await?, Duration::from_secs(20), time);
    assert_eq!(c.get_item(&n).await?, Lookup::Negative);
    Ok(())
}

async fn incr_and_decr_count<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (new, hits, n, d) = (key(&c, "new"), key(&c, "hits"), key(&c, "n"), key(&c, "d"));
    assert_eq!(c.incr(&new, 5).await?, 5);
    assert_eq!(c.get(&new).await?, Some(s("5")));
    assert_eq!(c.ttl(&new).await?, Ttl::Persistent, "created with the (absent) default TTL");
    c.set(&hits, s("41")).await?;
    assert_eq!(c.incr(&hits, 1).await?, 42);
    assert_eq!(c.get(&hits).await?, Some(s("42")));
    assert_eq!(c.incr(&hits, -50).await?, -8);
    assert_eq!(c.decr(&hits, 2).await?, -10);
    assert_eq!(c.decr(&hits, -10).await?, 0);
    assert_eq!(c.get(&hits).await?, Some(s("0")));
    assert_eq!(c.decr(&d, 3).await?, -3);
    // A marker counts as absent.
    c.set_negative(&n).await?;
    assert_eq!(c.incr(&n, 2).await?, 2);
    assert_eq!(c.get_item(&n).await?, Lookup::Hit(s("2")));
    Ok(())
}

async fn incr_errors_change_nothing<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let (text, big, small, m) = (key(&c, "text"), key(&c, "big"), key(&c, "small"), key(&c, "m"));
    for bad in ["abc", "", " 1", "1.5", "+1", "01"] {
        c.setx(&text, s(bad), Some(Duration::from_secs(30))).await?;
        assert_eq!(c.incr(&text, 1).await, Err(Error::NotAnInteger), "{bad:?}");
        assert_eq!(c.decr(&text, 1).await, Err(Error::NotAnInteger), "{bad:?}");
        assert_eq!(c.get(&text).await?, Some(s(bad)), "{bad:?} left untouched");
        assert_remaining(c.ttl(&text).await?, Duration::from_secs(30), time);
    }
    c.set(&big, i64::MAX.to_string()).await?;
    assert_eq!(c.incr(&big, 1).await, Err(Error::Overflow));
    assert_eq!(c.get(&big).await?, Some(i64::MAX.to_string()));
    c.set(&small, i64::MIN.to_string()).await?;
    assert_eq!(c.decr(&small, 1).await, Err(Error::Overflow));
    assert_eq!(c.get(&small).await?, Some(i64::MIN.to_string()));
    assert_eq!(c.decr(&m, i64::MIN).await, Err(Error::Overflow), "-i64::MIN does not exist");
    assert_eq!(c.get_item(&m).await?, Lookup::Miss, "nothing created");
    assert_eq!(c.len().await?, 3);
    Ok(())
}

async fn incr_keeps_the_deadline<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    c.setx(&k, s("5"), Some(Duration::from_millis(1500))).await?;
    let before = c.ttl(&k).await?;
    assert_eq!(c.incr(&k, 1).await?, 6);
    let after = c.ttl(&k).await?;
    assert_remaining(after, Duration::from_millis(1500), time);
    if time.mock {
        assert_eq!(after, before, "the deadline is kept exactly");
    }
    c.expire(&k, None).await?;
    assert_eq!(c.decr(&k, 1).await?, 5);
    assert_eq!(c.ttl(&k).await?, Ttl::Persistent);
    Ok(())
}

/// Every method taking a key refuses one outside the namespace, and nothing
/// changes.
async fn invalid_keys_change_nothing<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (prefix, split) = (c.key_builder().prefix(), c.key_builder().split_char());
    let outside = [
        String::new(),
        prefix.to_string(),
        format!("{prefix}x{split}k"),
        format!("{split}{prefix}{split}k"),
        format!("other{split}k"),
    ];
    let a = key(&c, "a");
    c.set(&a, s("1")).await?;
    c.set_negative(&key(&c, "n")).await?;
    let before = snapshot(&c).await?;
    let invalid = Err::<(), _>(Error::InvalidKey);
    for k in &outside {
        assert!(!c.key_builder().validate(k), "{k:?} should be outside the namespace");
        let k = k.as_str();
        assert_eq!(c.get_item(k).await.map(drop), invalid, "get_item {k:?}");
        assert_eq!(c.set_item(k, s("x")).await, invalid, "set_item {k:?}");
        assert_eq!(c.del_item(k).await.map(drop), invalid, "del_item {k:?}");
        assert_eq!(c.contains(k).await.map(drop), invalid, "contains {k:?}");
        assert_eq!(c.get(k).await.map(drop), invalid, "get {k:?}");
        assert_eq!(c.setdefault(k, s("x")).await.map(drop), invalid, "setdefault {k:?}");
        assert_eq!(c.pop(k).await.map(drop), invalid, "pop {k:?}");
        assert_eq!(c.set(k, s("x")).await, invalid, "set {k:?}");
        assert_eq!(c.setx(k, s("x"), None).await, invalid, "setx {k:?}");
        assert_eq!(c.setx(k, s("x"), Some(Duration::ZERO)).await, invalid, "setx 0 {k:?}");
        assert_eq!(c.set_negative(k).await, invalid, "set_negative {k:?}");
        assert_eq!(c.ttl(k).await.map(drop), invalid, "ttl {k:?}");
        assert_eq!(c.expire(k, None).await.map(drop), invalid, "expire {k:?}");
        assert_eq!(c.incr(k, 1).await.map(drop), invalid, "incr {k:?}");
        assert_eq!(c.decr(k, 1).await.map(drop), invalid, "decr {k:?}");
        assert_eq!(c.get_many(&[k]).await.map(drop), invalid, "get_many {k:?}");
        assert_eq!(c.set_many(vec![(k, s("x"))]).await, invalid, "set_many {k:?}");
        let ran = Ran::new();
        assert_eq!(c.get_or_load(k, ran.value()).await.map(drop), invalid, "get_or_load {k:?}");
        let tried = c.try_get_or_load(k, ran.ok_value::<Upstream>()).await;
        assert_eq!(tried.map(drop), Err(Upstream::Cache(Error::InvalidKey)), "{k:?}");
        assert_eq!(c.load(k, ran.loaded::<Error>()).await.map(drop), invalid, "load {k:?}");
        assert!(!ran.ran(), "no loader runs for {k:?}");
    }
    assert_eq!(snapshot(&c).await?, before);
    assert_eq!(c.get_item(&key(&c, "n")).await?, Lookup::Negative);
    Ok(())
}

async fn iter_keys_lets_the_body_call_the_cache<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    assert!(pin!(c.iter_keys()).next().await.is_none(), "an empty cache yields nothing");
    let live: BTreeSet<String> = (0..40).map(|i| key(&c, &format!("k{i}"))).collect();
    for k in &live {
        c.set(k, s("v")).await?;
    }
    for i in 0..3 {
        c.set_negative(&key(&c, &format!("n{i}"))).await?;
    }
    // The body reads, rewrites, writes elsewhere and deletes: no deadlock.
    let extra = key(&c, "extra-");
    let mut seen = BTreeSet::new();
    let mut keys = pin!(c.iter_keys());
    while let Some(k) = keys.next().await {
        let k = k?;
        assert!(seen.insert(k.clone()), "{k:?} yielded twice");
        if !live.contains(&k) {
            // Written during the loop: it may or may not be seen.
            assert!(k.starts_with(&extra), "unexpected key {k:?} (markers are not keys)");
            continue;
        }
        assert_eq!(c.get(&k).await?, Some(s("v")));
        c.set(&k, s("w")).await?;
        c.set(&format!("{extra}{}", seen.len()), s("x")).await?;
        assert!(c.del_item(&k).await?);
        c.len().await?;
    }
    assert!(live.is_subset(&seen), "every key live before the loop is seen");
    let rest = c.keys().await?;
    assert_eq!(rest.len(), live.len(), "{rest:?}");
    assert!(rest.iter().all(|k| k.starts_with(&extra)), "{rest:?}");
    Ok(())
}

async fn close_refuses_every_call<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let a = key(&c, "a");
    c.set(&a, s("1")).await?;
    c.set(&key(&c, "b"), s("2")).await?;
    let mut early = Box::pin(c.iter_keys());
    assert!(matches!(early.next().await, Some(Ok(_))));

    c.close().await?;
    let closed = Err::<(), _>(Error::Closed);
    assert_eq!(c.get_item(&a).await.map(drop), closed, "get_item");
    assert_eq!(c.set_item(&a, s("x")).await, closed, "set_item");
    assert_eq!(c.del_item(&a).await.map(drop), closed, "del_item");
    assert_eq!(c.len().await.map(drop), closed, "len");
    assert_eq!(c.is_empty().await.map(drop), closed, "is_empty");
    assert_eq!(c.contains(&a).await.map(drop), closed, "contains");
    assert_eq!(c.get(&a).await.map(drop), closed, "get");
    assert_eq!(c.setdefault(&a, s("x")).await.map(drop), closed, "setdefault");
    assert_eq!(c.clear().await, closed, "clear");
    assert_eq!(c.pop(&a).await.map(drop), closed, "pop");
    assert_eq!(c.popitem().await.map(drop), closed, "popitem");
    assert_eq!(c.set(&a, s("x")).await, closed, "set");
    assert_eq!(c.setx(&a, s("x"), None).await, closed, "setx");
    assert_eq!(c.set_negative(&a).await, closed, "set_negative");
    assert_eq!(c.ttl(&a).await.map(drop), closed, "ttl");
    assert_eq!(c.expire(&a, None).await.map(drop), closed, "expire");
    assert_eq!(c.incr(&a, 1).await.map(drop), closed, "incr");
    assert_eq!(c.decr(&a, 1).await.map(drop), closed, "decr");
    assert_eq!(c.keys().await.map(drop), closed, "keys");
    assert_eq!(c.values().await.map(drop), closed, "values");
    assert_eq!(c.items().await.map(drop), closed, "items");
    assert_eq!(c.get_many(&[&a]).await.map(drop), closed, "get_many");
    assert_eq!(c.get_many(&[]).await.map(drop), closed, "get_many of nothing");
    assert_eq!(c.set_many(vec![(&a, s("x"))]).await, closed, "set_many");
    assert_eq!(c.set_many(vec![]).await, closed, "set_many of nothing");
    let ran = Ran::new();
    assert_eq!(c.get_or_load(&a, ran.value()).await.map(drop), closed, "get_or_load");
    let tried = c.try_get_or_load(&a, ran.ok_value::<Upstream>()).await;
    assert_eq!(tried.map(drop), Err(Upstream::Cache(Error::Closed)), "try_get_or_load");
    assert_eq!(c.load(&a, ran.loaded::<Error>()).await.map(drop), closed, "load");
    assert!(!ran.ran(), "no loader runs on a closed cache");
    // A stream yields `Closed` once and ends, whenever it was made.
    for mut stream in [early, Box::pin(c.iter_keys())] {
        assert_eq!(stream.next().await, Some(Err(Error::Closed)));
        assert_eq!(stream.next().await, None);
    }
    // Closing again is fine; the key builder still answers.
    c.close().await?;
    assert!(c.key_builder().validate(&a));
    Ok(())
}

// ---- with time that moves ---------------------------------------------

async fn entries_expire_at_their_deadline<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    c.setx(&k, s("v"), Some(Duration::from_millis(1500))).await?;
    b.advance(Duration::from_millis(1000));
    assert_remaining(c.ttl(&k).await?, Duration::from_millis(500), time);
    b.advance(Duration::from_millis(499));
    assert_eq!(c.get(&k).await?, Some(s("v")));
    b.advance(Duration::from_millis(1));
    assert_eq!(c.get_item(&k).await?, Lookup::Miss, "expired at the deadline exactly");
    assert_eq!(c.ttl(&k).await?, Ttl::Missing);
    Ok(())
}

/// `incr` keeps a deadline that is not a whole number of seconds away.
async fn incr_keeps_a_fractional_deadline<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "counter");
    c.setx(&k, s("5"), Some(Duration::from_millis(1500))).await?;
    b.advance(Duration::from_millis(1000));
    assert_eq!(c.incr(&k, 1).await?, 6);
    assert_remaining(c.ttl(&k).await?, Duration::from_millis(500), time);
    b.advance(Duration::from_millis(499));
    assert_eq!(c.get(&k).await?, Some(s("6")));
    b.advance(Duration::from_millis(1));
    assert_eq!(c.get_item(&k).await?, Lookup::Miss);
    // Counting again starts over, with the (absent) default TTL.
    assert_eq!(c.incr(&k, 1).await?, 1);
    assert_eq!(c.ttl(&k).await?, Ttl::Persistent);
    Ok(())
}

async fn markers_expire<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let n = key(&c, "n");
    c.set_negative(&n).await?;
    let Ttl::Remaining(left) = c.ttl(&n).await? else { panic!("a marker has a TTL") };
    b.advance(left - Duration::from_nanos(1));
    assert_eq!(c.get_item(&n).await?, Lookup::Negative);
    b.advance(Duration::from_nanos(1));
    assert_eq!(c.get_item(&n).await?, Lookup::Miss);
    assert!(!c.del_item(&n).await?);
    Ok(())
}

async fn expire_and_set_move_deadlines<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, p) = (key(&c, "a"), key(&c, "p"));
    c.setx(&a, s("1"), Some(Duration::from_secs(1))).await?;
    assert!(c.expire(&a, Some(Duration::from_secs(10))).await?);
    b.advance(Duration::from_secs(5));
    assert_eq!(c.get(&a).await?, Some(s("1")), "the old deadline is gone");
    assert_remaining(c.ttl(&a).await?, Duration::from_secs(5), time);
    assert!(c.expire(&a, None).await?);
    c.setx(&p, s("2"), Some(Duration::from_secs(1))).await?;
    c.set(&p, s("3")).await?;
    b.advance(Duration::from_secs(3600));
    assert_eq!(c.get(&a).await?, Some(s("1")), "persisted");
    assert_eq!(c.get(&p).await?, Some(s("3")), "set dropped the TTL");
    Ok(())
}

async fn expired_entries_are_absent_everywhere<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (gone, kept) = (key(&c, "gone"), key(&c, "kept"));
    c.setx(&gone, s("1"), Some(Duration::from_millis(10))).await?;
    c.set(&kept, s("2")).await?;
    b.advance(Duration::from_millis(10));
    assert!(!c.contains(&gone).await?);
    assert_eq!(c.len().await?, 1);
    assert_eq!(c.keys().await?, vec![kept.clone()]);
    assert_eq!(c.values().await?, vec![s("2")]);
    assert_eq!(c.items().await?, vec![(kept.clone(), s("2"))]);
    let streamed: Vec<_> = c.iter_keys().collect().await;
    assert_eq!(streamed, vec![Ok(kept.clone())]);
    assert!(!c.expire(&gone, None).await?, "too late to persist");
    assert_eq!(c.pop(&gone).await?, None);
    assert_eq!(c.popitem().await?, Some((kept, s("2"))));
    assert_eq!(c.popitem().await?, None);
    c.setx(&gone, s("3"), Some(Duration::from_millis(10))).await?;
    b.advance(Duration::from_millis(10));
    assert_eq!(c.setdefault(&gone, s("fresh")).await?, "fresh");
    assert!(!c.del_item(&key(&c, "never")).await?);
    Ok(())
}

async fn loaded_entries_expire_at_their_own_deadline<B: Backend>(
    b: &B,
    time: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    let ttl = Some(Duration::from_millis(1500));
    let found = c.load(&k, async { Ok::<_, Error>(Loaded::ValueWithTtl(s("v"), ttl)) }).await?;
    assert_eq!(found, Some(s("v")));
    b.advance(Duration::from_millis(1000));
    assert_remaining(c.ttl(&k).await?, Duration::from_millis(500), time);
    b.advance(Duration::from_millis(499));
    assert_eq!(c.get(&k).await?, Some(s("v")));
    b.advance(Duration::from_millis(1));
    assert_eq!(c.get_item(&k).await?, Lookup::Miss, "expired at its own deadline");
    // Expired, it is loaded again.
    let reloaded = c.get_or_load(&k, async { s("w") }).await?;
    assert_eq!(reloaded, "w");
    Ok(())
}

// ---- batches ----------------------------------------------------------

async fn get_many_answers_in_order<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, z, n, m) = (key(&c, "a"), key(&c, "z"), key(&c, "n"), key(&c, "missing"));
    c.set(&a, s("1")).await?;
    c.set(&z, s("")).await?;
    c.set_negative(&n).await?;
    let got = c.get_many(&[&z, &m, &a, &n, &a]).await?;
    assert_eq!(got, [Some(s("")), None, Some(s("1")), None, Some(s("1"))]);
    assert_eq!(c.get_many(&[]).await?, Vec::<Option<String>>::new());
    // Reading changes nothing.
    assert_eq!(c.get_item(&n).await?, Lookup::Negative);
    assert_eq!(c.len().await?, 2);
    Ok(())
}

async fn set_many_stores_and_replaces<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (a, n, x, y) = (key(&c, "a"), key(&c, "n"), key(&c, "x"), key(&c, "y"));
    c.setx(&a, s("old"), Some(Duration::from_secs(10))).await?;
    c.set_negative(&n).await?;
    c.set_many(vec![(&a, s("1")), (&n, s("2")), (&x, s("3")), (&x, s("4"))]).await?;
    assert_eq!(
        c.get_many(&[&a, &n, &x, &y]).await?,
        [Some(s("1")), Some(s("2")), Some(s("4")), None]
    );
    // The (absent) default TTL replaces the TTL a key had; a marker is
    // replaced by the value.
    assert_eq!(c.ttl(&a).await?, Ttl::Persistent);
    assert_eq!(c.ttl(&x).await?, Ttl::Persistent);
    assert_eq!(c.get_item(&n).await?, Lookup::Hit(s("2")));
    assert_eq!(c.len().await?, 3);
    c.set_many(vec![]).await?;
    assert_eq!(c.len().await?, 3);
    Ok(())
}

/// One key outside the namespace fails the whole batch before anything is
/// read or written.
async fn batches_with_an_invalid_key_change_nothing<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let (a, fresh) = (key(&c, "a"), key(&c, "fresh"));
    c.set(&a, s("1")).await?;
    c.set_negative(&key(&c, "n")).await?;
    let before = snapshot(&c).await?;
    let outside = format!("other{}k", c.key_builder().split_char());
    for at in 0..3 {
        let mut items = vec![(a.as_str(), s("changed")), (fresh.as_str(), s("new"))];
        items.insert(at, (outside.as_str(), s("x")));
        assert_eq!(c.set_many(items).await, Err(Error::InvalidKey), "invalid key at {at}");
        let mut keys = vec![a.as_str(), fresh.as_str()];
        keys.insert(at, outside.as_str());
        assert_eq!(c.get_many(&keys).await, Err(Error::InvalidKey), "invalid key at {at}");
    }
    assert_eq!(snapshot(&c).await?, before);
    assert_eq!(c.get_item(&fresh).await?, Lookup::Miss);
    assert_eq!(c.get_item(&key(&c, "n")).await?, Lookup::Negative);
    Ok(())
}

// ---- loading ----------------------------------------------------------

/// A loader's own error type: loaders fail with it, and the cache's errors
/// convert into it.
#[derive(Debug, PartialEq)]
enum Upstream {
    Failed(u32),
    Cache(Error),
}

impl From<Error> for Upstream {
    fn from(e: Error) -> Self {
        Upstream::Cache(e)
    }
}

/// Loaders that record whether any of them ran.
#[derive(Clone, Default)]
struct Ran(Arc<AtomicBool>);

impl Ran {
    fn new() -> Self {
        Ran::default()
    }

    fn ran(&self) -> bool {
        self.0.load(SeqCst)
    }

    fn value(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let ran = self.0.clone();
        async move {
            ran.store(true, SeqCst);
            s("loaded")
        }
    }

    fn ok_value<E: Send>(&self) -> impl std::future::Future<Output = Result<String, E>> + Send {
        let value = self.value();
        async move { Ok(value.await) }
    }

    fn loaded<E: Send>(
        &self,
    ) -> impl std::future::Future<Output = Result<Loaded<String>, E>> + Send {
        let value = self.value();
        async move { Ok(Loaded::Value(value.await)) }
    }
}

async fn loading_a_hit_runs_no_loader<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    c.setx(&k, s("cached"), Some(Duration::from_secs(60))).await?;
    let ran = Ran::new();
    assert_eq!(c.get_or_load(&k, ran.value()).await?, "cached");
    assert_eq!(c.try_get_or_load(&k, ran.ok_value::<Error>()).await?, "cached");
    assert_eq!(c.load(&k, ran.loaded::<Error>()).await?, Some(s("cached")));
    let tried = c.try_get_or_load(&k, ran.ok_value::<Upstream>()).await;
    assert_eq!(tried, Ok(s("cached")));
    assert!(!ran.ran(), "a hit runs no loader");
    assert!(matches!(c.ttl(&k).await?, Ttl::Remaining(_)), "and changes nothing");
    Ok(())
}

async fn try_get_or_load_and_get_or_load_treat_a_marker_as_absent<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let (n, m) = (key(&c, "n"), key(&c, "m"));
    c.set_negative(&n).await?;
    c.set_negative(&m).await?;
    let ran = Ran::new();
    assert_eq!(c.try_get_or_load(&n, ran.ok_value::<Error>()).await?, "loaded");
    assert!(ran.ran());
    assert_eq!(c.get_item(&n).await?, Lookup::Hit(s("loaded")));
    assert_eq!(c.ttl(&n).await?, Ttl::Persistent, "stored with the (absent) default TTL");
    assert_eq!(c.get_or_load(&m, async { s("plain") }).await?, "plain");
    assert_eq!(c.get_item(&m).await?, Lookup::Hit(s("plain")));
    // A miss loads too, once.
    let fresh = key(&c, "fresh");
    assert_eq!(c.get_or_load(&fresh, async { s("1") }).await?, "1");
    assert_eq!(c.get_or_load(&fresh, async { s("2") }).await?, "1");
    Ok(())
}

async fn load_answers_a_live_marker_without_loading<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let n = key(&c, "n");
    c.set_negative(&n).await?;
    let ran = Ran::new();
    assert_eq!(c.load(&n, ran.loaded::<Error>()).await?, None);
    assert_eq!(c.load(&n, ran.loaded::<Upstream>()).await, Ok(None));
    assert!(!ran.ran(), "a live marker runs no loader");
    assert_eq!(c.get_item(&n).await?, Lookup::Negative, "and stays");
    Ok(())
}

async fn load_stores_what_the_loader_found<B: Backend>(b: &B, time: Time) -> Result<(), Error> {
    let c = b.cache();
    let [plain, timed, forever, zero, absent] =
        ["plain", "timed", "forever", "zero", "absent"].map(|n| key(&c, n));
    let load = |loaded: Loaded<String>| async move { Ok::<_, Error>(loaded) };

    assert_eq!(c.load(&plain, load(Loaded::Value(s("p")))).await?, Some(s("p")));
    assert_eq!(c.get_item(&plain).await?, Lookup::Hit(s("p")));
    assert_eq!(c.ttl(&plain).await?, Ttl::Persistent, "the (absent) default TTL");

    let ten = Duration::from_secs(10);
    assert_eq!(c.load(&timed, load(Loaded::ValueWithTtl(s("t"), Some(ten)))).await?, Some(s("t")));
    assert_eq!(c.get(&timed).await?, Some(s("t")));
    assert_remaining(c.ttl(&timed).await?, ten, time);

    assert_eq!(c.load(&forever, load(Loaded::ValueWithTtl(s("f"), None))).await?, Some(s("f")));
    assert_eq!(c.ttl(&forever).await?, Ttl::Persistent);

    // A zero TTL answers the value and stores it already expired.
    let found = c.load(&zero, load(Loaded::ValueWithTtl(s("z"), Some(Duration::ZERO)))).await?;
    assert_eq!(found, Some(s("z")));
    assert_eq!(c.get_item(&zero).await?, Lookup::Miss);

    // Absent: a negative marker, with the negative TTL, answers `None`.
    assert_eq!(c.load(&absent, load(Loaded::Absent)).await?, None);
    assert_eq!(c.get_item(&absent).await?, Lookup::Negative);
    assert!(matches!(c.ttl(&absent).await?, Ttl::Remaining(d) if d > Duration::ZERO));
    let ran = Ran::new();
    assert_eq!(c.load(&absent, ran.loaded::<Error>()).await?, None);
    assert!(!ran.ran(), "the marker answers the next load");
    assert_eq!(c.len().await?, 3, "markers are not values");
    Ok(())
}

async fn a_failing_loader_stores_nothing_and_its_error_reaches_its_caller<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let (m, n) = (key(&c, "m"), key(&c, "n"));
    c.set_negative(&n).await?;
    let failed = c.try_get_or_load(&m, async { Err::<String, _>(Upstream::Failed(1)) }).await;
    assert_eq!(failed, Err(Upstream::Failed(1)));
    assert_eq!(c.get_item(&m).await?, Lookup::Miss);
    assert_eq!(c.ttl(&m).await?, Ttl::Missing);
    let failed = c.try_get_or_load(&n, async { Err::<String, _>(Upstream::Failed(2)) }).await;
    assert_eq!(failed, Err(Upstream::Failed(2)));
    assert_eq!(c.get_item(&n).await?, Lookup::Negative, "the marker is left as it was");
    let failed = c.load(&m, async { Err::<Loaded<String>, _>(Upstream::Failed(3)) }).await;
    assert_eq!(failed, Err(Upstream::Failed(3)));
    assert_eq!(c.get_item(&m).await?, Lookup::Miss);
    // A loader failing with the cache's own error type.
    let backend = wheelcache::BackendError::msg("upstream down");
    let failed = c.load(&m, async { Err::<Loaded<String>, _>(Error::Backend(backend)) }).await;
    assert_eq!(failed, Err(Error::Backend(wheelcache::BackendError::msg("upstream down"))));
    assert_eq!(c.get_item(&m).await?, Lookup::Miss);
    // Nothing is left behind: the next caller loads.
    assert_eq!(c.try_get_or_load(&m, async { Ok::<_, Upstream>(s("ok")) }).await, Ok(s("ok")));
    assert_eq!(c.len().await?, 1);
    Ok(())
}

/// Callers of one missing key, on tasks of their own and through all three
/// loading calls, run one loader between them and all get its value.
async fn concurrent_callers_share_one_load<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    const CALLERS: usize = 6;
    let c = b.cache();
    let k = key(&c, "shared");
    let loads = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let (c, k) = (c.clone(), k.clone());
            let (loads, started, gate) = (loads.clone(), started.clone(), gate.clone());
            spawn(async move {
                let loader = async move {
                    loads.fetch_add(1, SeqCst);
                    drop(gate.acquire().await);
                    s("loaded")
                };
                started.fetch_add(1, SeqCst);
                match i % 3 {
                    0 => c.get_or_load(&k, loader).await,
                    1 => c.try_get_or_load(&k, async { Ok::<_, Error>(loader.await) }).await,
                    _ => c
                        .load(&k, async { Ok::<_, Error>(Loaded::Value(loader.await)) })
                        .await
                        .map(|v| v.unwrap_or_default()),
                }
            })
        })
        .collect();
    assert!(until(|| started.load(SeqCst) == CALLERS && loads.load(SeqCst) > 0).await);
    nap(SETTLE).await;
    assert_eq!(loads.load(SeqCst), 1, "the others wait for the one load");
    gate.add_permits(CALLERS);
    for caller in callers {
        let answer = caller.join().await.expect("returns").expect("no panic");
        assert_eq!(answer?, "loaded");
    }
    assert_eq!(loads.load(SeqCst), 1, "one load for every caller");
    assert_eq!(c.get(&k).await?, Some(s("loaded")));
    Ok(())
}

/// A record of what the loaders did, in order.
type Log = Arc<Mutex<Vec<&'static str>>>;

fn log(log: &Log, what: &'static str) {
    log.lock().expect("no panic while held").push(what);
}

fn logged(log: &Log) -> Vec<&'static str> {
    log.lock().expect("no panic while held").clone()
}

async fn a_waiter_takes_over_from_a_failing_loader<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    let events: Log = Log::default();
    let gate = Arc::new(Semaphore::new(0));
    let first = {
        let (c, k, events, gate) = (c.clone(), k.clone(), events.clone(), gate.clone());
        spawn(async move {
            c.try_get_or_load(&k, async {
                log(&events, "first loads");
                drop(gate.acquire().await);
                log(&events, "first fails");
                Err::<String, _>(Upstream::Failed(7))
            })
            .await
        })
    };
    assert!(until(|| logged(&events) == ["first loads"]).await);
    let second = {
        let (c, k, events) = (c.clone(), k.clone(), events.clone());
        spawn(async move {
            c.try_get_or_load(&k, async {
                log(&events, "second loads");
                Ok::<_, Upstream>(s("second"))
            })
            .await
        })
    };
    nap(SETTLE).await;
    assert_eq!(logged(&events), ["first loads"], "the second caller waits");
    assert!(!second.is_finished());
    gate.add_permits(1);
    let first = first.join().await.expect("returns").expect("no panic");
    assert_eq!(first, Err(Upstream::Failed(7)), "the failure goes to the caller that loaded");
    let second = second.join().await.expect("returns").expect("no panic");
    assert_eq!(second, Ok(s("second")));
    assert_eq!(logged(&events), ["first loads", "first fails", "second loads"]);
    assert_eq!(c.get(&k).await?, Some(s("second")));
    Ok(())
}

async fn a_waiter_takes_over_from_a_cancelled_loader<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    let started = Arc::new(AtomicBool::new(false));
    // A caller whose loader never ends, driven by hand until it loads.
    let mut first = Box::pin(c.get_or_load(&k, {
        let started = started.clone();
        async move {
            started.store(true, SeqCst);
            pending::<String>().await
        }
    }));
    assert!(until(|| poll_once(first.as_mut()).is_pending() && started.load(SeqCst)).await);
    let second = {
        let (c, k) = (c.clone(), k.clone());
        spawn(async move { c.get_or_load(&k, async { s("second") }).await })
    };
    nap(SETTLE).await;
    assert!(!second.is_finished(), "the second caller waits for the first");
    drop(first);
    let second = second.join().await.expect("returns").expect("no panic");
    assert_eq!(second?, "second");
    assert_eq!(c.get(&k).await?, Some(s("second")));
    Ok(())
}

async fn a_panicking_loader_leaves_nothing_behind<B: Backend>(b: &B, _: Time) -> Result<(), Error> {
    let c = b.cache();
    let (k, n) = (key(&c, "k"), key(&c, "n"));
    c.set_negative(&n).await?;
    for k in [&k, &n] {
        let caller = {
            let (c, k) = (c.clone(), k.clone());
            spawn(async move {
                c.get_or_load(&k, async { panic!("a loader panics (expected by the test)") }).await
            })
        };
        let outcome = caller.join().await.expect("returns");
        assert!(outcome.is_err(), "the panic reaches the caller that ran the loader");
    }
    assert_eq!(c.get_item(&k).await?, Lookup::Miss);
    assert_eq!(c.get_item(&n).await?, Lookup::Negative, "the marker is left as it was");
    assert_eq!(c.get_or_load(&k, async { s("next") }).await?, "next", "the next caller loads");
    Ok(())
}

/// A loader that asks for its own key (the same task) loads again instead
/// of waiting for itself; the outer load's value is stored last.
async fn a_loader_asking_for_its_own_key_does_not_wait_for_itself<B: Backend>(
    b: &B,
    _: Time,
) -> Result<(), Error> {
    let c = b.cache();
    let k = key(&c, "k");
    let caller = {
        let (c, k) = (c.clone(), k.clone());
        spawn(async move {
            let inner = c.clone();
            let outer = c
                .try_get_or_load(&k, async {
                    let nested = inner.get_or_load(&k, async { s("inner") }).await?;
                    Ok::<_, Error>(format!("outer after {nested}"))
                })
                .await?;
            Ok::<_, Error>((outer, c.get(&k).await?))
        })
    };
    let (outer, stored) = caller.join().await.expect("no deadlock").expect("no panic")?;
    assert_eq!(outer, "outer after inner");
    assert_eq!(stored, Some(outer));
    Ok(())
}
