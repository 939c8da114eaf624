//! The conformance suite of the [`KvCache`] trait: checks written against the
//! trait alone, so every backend runs the same ones with one call,
//! [`run_all`]. A backend describes itself with [`Backend`].
//!
//! Values are `String`s, which every backend can store and count with.
//! Checks that need time to pass run only on a backend whose time can be
//! moved ([`Backend::advance`]); nothing here sleeps.

mod memory;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use wheelcache::{Error, KvCache, Lookup, Ttl};

/// A backend under test, as the suite needs it.
pub(crate) trait Backend: Send + Sync {
    /// The cache type of the backend.
    type Cache: KvCache<String>;

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
    ];
    if time.mock {
        run![
            entries_expire_at_their_deadline,
            incr_keeps_a_fractional_deadline,
            markers_expire,
            expire_and_set_move_deadlines,
            expired_entries_are_absent_everywhere,
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

/// The seed floored the remaining TTL to whole seconds in `incr`, so an
/// entry with 0.5 s left expired at once.
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
