//! A short tour: values, a TTL expiring live, counters, a negative entry,
//! and the stats.
//!
//! Run it with `cargo run --release --example quickstart`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wheelcache::{Cache, Lookup, RemovalCause, Ttl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Background expirations reach the listener outside any lock, on a
    // delivery thread (or on the expiry thread, once the listener has
    // proven fast).
    let (expired_tx, expired_rx) = mpsc::channel();
    let cache: Cache<String, String> = Cache::builder()
        .negative_ttl(Duration::from_secs(30))
        .removal_listener(move |key, value, cause| {
            if cause == RemovalCause::Expired {
                let _ = expired_tx.send((key, value, Instant::now()));
            }
        })
        .build()?;

    // Values.
    cache.set("user:1".into(), "Ada".into());
    println!("get user:1        -> {:?}", cache.get("user:1"));
    println!("get user:2        -> {:?}", cache.get("user:2"));

    // A TTL that expires while we watch: nobody touches the cache, the
    // timing wheel removes the entry on its own.
    let ttl = Duration::from_millis(250);
    let set_at = Instant::now();
    cache.setx("session:abc".into(), "token".into(), Some(ttl));
    println!("ttl session:abc   -> {:?}", cache.ttl("session:abc"));
    let (key, value, removed_at) = expired_rx.recv_timeout(Duration::from_secs(5))?;
    let lateness = removed_at.duration_since(set_at).saturating_sub(ttl);
    println!("expired {key}={value} {lateness:?} after its deadline, with no call to the cache");
    println!("ttl session:abc   -> {:?}", cache.ttl("session:abc"));
    assert_eq!(cache.ttl("session:abc"), Ttl::Missing);

    // Counters: created on first use; text holding an integer counts too.
    println!("incr visits       -> {}", cache.incr("visits".into(), 1)?);
    println!("incr visits by 10 -> {}", cache.incr("visits".into(), 10)?);
    println!("decr visits by 3  -> {}", cache.decr("visits".into(), 3)?);
    cache.set("name".into(), "Ada".into());
    println!("incr name         -> {:?}", cache.incr("name".into(), 1));

    // A negative entry: "looked it up, it does not exist" (for 30 s).
    cache.set_negative("user:404".into());
    assert_eq!(cache.get_item("user:404"), Lookup::Negative);
    println!("get_item user:404 -> {:?}", cache.get_item("user:404"));
    println!("get user:404      -> {:?}", cache.get("user:404"));

    println!("len               -> {} (negative entries are not counted)", cache.len());
    println!("keys              -> {:?}", {
        let mut keys = cache.keys();
        keys.sort();
        keys
    });
    println!("stats             -> {:?}", cache.stats());
    Ok(())
}
