//! Measures expiry lateness: how long after its deadline each entry is
//! removed (and reported to the listener) by the background thread, while
//! the program makes no cache calls at all.
//!
//! `cargo run --release --example lateness -- [entries] [spread_ms]`
//! (defaults: 100000 entries, deadlines spread over 1000 ms).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wheelcache::{Cache, RemovalCause};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let spread_ms: u64 = args.next().map_or(Ok(1000), |a| a.parse())?;

    let base = Instant::now();
    let late: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::with_capacity(entries as usize)));
    let sink = late.clone();
    // The value is the entry's deadline in nanoseconds after `base`.
    let cache: Cache<u64, u64> = Cache::builder()
        .removal_listener(move |_key, deadline, cause| {
            if cause == RemovalCause::Expired {
                let now = base.elapsed().as_nanos() as u64;
                sink.lock().unwrap().push(now.saturating_sub(deadline));
            }
        })
        .build()?;

    // Deadlines spread evenly over `spread_ms`, starting 50 ms from now.
    // An entry whose deadline passed before the fill reached it (the
    // program was held up longer than that) is not stored: a zero TTL
    // stores nothing, so it would never be reported. It is counted apart.
    let start = Duration::from_millis(50);
    let step = Duration::from_millis(spread_ms).as_nanos() as u64 / entries.max(1);
    let mut last_deadline = 0;
    let mut stored = 0u64;
    for key in 0..entries {
        let deadline = (start.as_nanos() as u64) + key * step;
        let ttl = Duration::from_nanos(deadline).saturating_sub(base.elapsed());
        if ttl.is_zero() {
            continue;
        }
        let deadline = base.elapsed().as_nanos() as u64 + ttl.as_nanos() as u64;
        cache.setx(key, deadline, Some(ttl));
        stored += 1;
        last_deadline = last_deadline.max(deadline);
    }
    if stored < entries {
        println!(
            "not stored:        {} entries whose deadline passed during the fill",
            entries - stored
        );
    }

    // Idle: no cache calls, just watch the listener's record.
    let give_up = Instant::now() + Duration::from_millis(spread_ms) + Duration::from_secs(10);
    while late.lock().unwrap().len() < stored as usize && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(1));
    }
    let all_gone = base.elapsed().as_nanos() as u64;

    let mut late = late.lock().unwrap().clone();
    late.sort_unstable();
    println!("entries expired:   {} of {}", late.len(), stored);
    if late.is_empty() {
        return Ok(());
    }
    let pct = |p: f64| late[((late.len() as f64 * p) as usize).min(late.len() - 1)];
    let us = |ns: u64| ns as f64 / 1e3;
    println!("lateness p50:      {:.1} us", us(pct(0.50)));
    println!("lateness p99:      {:.1} us", us(pct(0.99)));
    println!("lateness p99.9:    {:.1} us", us(pct(0.999)));
    println!("lateness max:      {:.1} us", us(*late.last().unwrap()));
    println!(
        "idle reclaim:      all gone {:.2} ms after the last deadline (observed at 1 ms polling)",
        all_gone.saturating_sub(last_deadline) as f64 / 1e6
    );
    Ok(())
}
