//! The real clock and the one background thread: idle reclaim, and one
//! thread for every cache of the process. These tests never sleep for a fixed time and then assert:
//! they poll, with a generous bound, something only the expiry thread
//! changes (a counter its listener calls bump).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wheelcache::{Cache, RemovalCause};

use crate::common::{eventually, ms, PATIENCE};

/// A listener counting expirations, how many ran on the expiry thread, and
/// how many came before the deadline stored as the value.
#[derive(Clone, Default)]
struct Tally {
    expired: Arc<AtomicUsize>,
    on_expiry_thread: Arc<AtomicUsize>,
    early: Arc<AtomicUsize>,
}

impl Tally {
    fn listener<K>(&self) -> impl Fn(K, Instant, RemovalCause) + Send + Sync + 'static {
        let tally = self.clone();
        move |_, deadline, cause| {
            if cause == RemovalCause::Expired {
                if Instant::now() < deadline {
                    tally.early.fetch_add(1, SeqCst);
                }
                // The expiry thread queues its notices for the delivery
                // pool's threads ("wheelcache-notify").
                if thread::current().name().is_some_and(|n| n.starts_with("wheelcache")) {
                    tally.on_expiry_thread.fetch_add(1, SeqCst);
                }
                tally.expired.fetch_add(1, SeqCst);
            }
        }
    }

    fn expired(&self) -> usize {
        self.expired.load(SeqCst)
    }
}

/// Stores `k` with `ttl`; its value is a deadline no later than the cache's.
fn set_for(cache: &Cache<u32, Instant>, k: u32, ttl: Duration) {
    cache.setx(k, Instant::now() + ttl, Some(ttl));
}

#[test]
fn an_idle_cache_reclaims_expired_entries_on_its_own() {
    let tally = Tally::default();
    let cache: Cache<u32, Instant> =
        Cache::builder().removal_listener(tally.listener()).build().unwrap();
    for k in 0..100 {
        set_for(&cache, k, ms(20 + u64::from(k) % 31));
    }
    cache.set(1000, Instant::now()); // persistent: stays
                                     // Only the listener's counter is read: no cache call until all expired.
    assert!(eventually(|| tally.expired() == 100), "{} of 100 expired", tally.expired());
    assert_eq!(tally.on_expiry_thread.load(SeqCst), 100, "reaped in the background");
    assert_eq!(tally.early.load(SeqCst), 0, "reaped before its deadline");
    assert_eq!(cache.timers(), 0, "the timers went with the entries");
    assert_eq!(cache.stats().expirations, 100);
    assert_eq!(cache.len(), 1);
    cache.assert_invariants();
}

#[test]
fn an_earlier_deadline_wakes_the_sleeping_thread() {
    let tally = Tally::default();
    let cache: Cache<u32, Instant> =
        Cache::builder().removal_listener(tally.listener()).build().unwrap();
    set_for(&cache, 1, Duration::from_secs(3600));
    // However far along the thread is towards its one-hour sleep, a 30 ms
    // deadline must be met long before that.
    for round in 1..=3 {
        set_for(&cache, 2, ms(30));
        assert!(eventually(|| tally.expired() == round), "round {round}");
    }
    assert_eq!(tally.early.load(SeqCst), 0);
    assert_eq!(cache.len(), 1, "the one-hour entry is still there");
}

/// A read on the real clock trusts the kernel's coarse clock while an
/// entry's deadline is far from it, and reads the precise clock near it:
/// reads spinning through an entry's whole life never see it at or after
/// its deadline, nor miss it before.
#[test]
fn reads_on_the_real_clock_meet_the_deadline_exactly() {
    let cache: Cache<u32, u32> = Cache::new();
    let ttl = ms(200);
    for k in 0..2 {
        let set_from = Instant::now();
        cache.setx(k, k, Some(ttl));
        let set_by = Instant::now();
        // The deadline is the cache's reading during `setx`, plus the TTL.
        // The cache reads the time-stamp counter as calibrated at start,
        // `Instant` the kernel's clock: over the TTL they may part by tens
        // of microseconds, far less than the millisecond allowed here,
        // while a read trusting a stale coarse clock would be off by a
        // tick or more.
        let slack = ms(1);
        let (earliest, latest) = (set_from + ttl - slack, set_by + ttl + slack);
        let check = |live: bool, from: Instant, by: Instant| {
            if live {
                assert!(from < latest, "{k}: read {:?} after the deadline", from - latest);
            } else {
                assert!(by >= earliest, "{k}: missed {:?} before the deadline", earliest - by);
            }
        };
        loop {
            let from = Instant::now();
            let got = cache.get(&k).is_some();
            let between = Instant::now();
            let there = cache.contains(&k);
            let by = Instant::now();
            check(got, from, between);
            check(there, between, by);
            if !got && !there {
                break;
            }
            assert!(by < latest + PATIENCE, "{k} is still there");
        }
    }
}

#[test]
fn the_listener_may_call_the_cache_from_the_expiry_thread() {
    const KEYS: u32 = 20;
    const ROUNDS: u32 = 4;
    let handle: Arc<Mutex<Option<Cache<u32, u32>>>> = Arc::default();
    let slot = handle.clone();
    let expired = Arc::new(AtomicUsize::new(0));
    let counted = expired.clone();
    let misread = Arc::new(AtomicUsize::new(0));
    let misreads = misread.clone();
    let cache: Cache<u32, u32> = Cache::builder()
        .removal_listener(move |k, round, cause| {
            if cause != RemovalCause::Expired {
                return;
            }
            let cache = slot.lock().unwrap().clone();
            if let Some(cache) = cache {
                // Re-arm the same key, read it, and look around.
                if round + 1 < ROUNDS {
                    cache.setx(k, round + 1, Some(ms(20)));
                    // The read finds the new value, or, on a thread held up
                    // past the TTL (as under valgrind), nothing: never
                    // another value. That the re-armed entry was stored is
                    // seen in its expiry, which the count below waits for.
                    if cache.get(&k).is_some_and(|v| v != round + 1) {
                        misreads.fetch_add(1, SeqCst);
                    }
                }
                let _ = (cache.len(), cache.keys());
            }
            counted.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    *handle.lock().unwrap() = Some(cache.clone());
    for k in 0..KEYS {
        cache.setx(k, 0, Some(ms(20)));
    }
    let total = (KEYS * ROUNDS) as usize;
    assert!(
        eventually(|| expired.load(SeqCst) == total),
        "{} of {total} expirations",
        expired.load(SeqCst)
    );
    handle.lock().unwrap().take();
    assert_eq!(misread.load(SeqCst), 0, "reads right after a re-arm that found another value");
    assert_eq!(cache.stats().listener_panics, 0);
    assert!(cache.is_empty());
    cache.assert_invariants();
}

/// The thread ids of the threads named "wheelcache" in this process.
#[cfg(target_os = "linux")]
fn expiry_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("procfs is mounted");
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == "wheelcache")
                .then(|| task.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// Builds `n` real-clock caches, each with an entry due in an hour.
#[cfg(target_os = "linux")]
fn many_caches(n: usize) -> Vec<Cache<u32, u32>> {
    (0..n)
        .map(|i| {
            let cache: Cache<u32, u32> = Cache::new();
            cache.setx(0, i as u32, Some(Duration::from_secs(3600)));
            cache
        })
        .collect()
}

/// Other tests in this binary build and drop real-clock caches at the same
/// time, so while ours are alive the one thread cannot stop, but a thread
/// stopped just before ours were built may still be on its way out: the
/// count settles at exactly one.
#[cfg(target_os = "linux")]
#[test]
fn two_hundred_caches_share_one_thread() {
    let caches = many_caches(200);
    assert!(
        eventually(|| expiry_threads().len() == 1),
        "threads named wheelcache: {:?}",
        expiry_threads()
    );
    let more = many_caches(200);
    assert!(eventually(|| expiry_threads().len() == 1), "400 caches: {:?}", expiry_threads());
    assert!(caches.iter().chain(&more).all(|c| c.len() == 1));
}

const LONE: &str = "WHEELCACHE_LONE_PROCESS";

/// Runs `lone_process_thread_lifecycle` in a child process of this test
/// binary, where no other test builds caches: there the thread count is
/// known exactly, including zero once the last cache is dropped.
#[cfg(target_os = "linux")]
#[test]
fn the_thread_starts_and_stops_with_the_caches() {
    let path = module_path!().split_once("::").map_or("", |(_, p)| p);
    let name = format!("{path}::lone_process_thread_lifecycle");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--ignored", "--test-threads=1", "--nocapture"])
        .env(LONE, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child ran no test\n{stdout}");
}

/// Voluntary context switches of thread `tid`: one per wake-up.
#[cfg(target_os = "linux")]
fn wakeups(tid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .expect("status has voluntary_ctxt_switches");
    line.trim().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
#[ignore = "run alone, in its own process, by the_thread_starts_and_stops_with_the_caches"]
fn lone_process_thread_lifecycle() {
    if std::env::var_os(LONE).is_none() {
        eprintln!("skipped: only meaningful in a process of its own");
        return;
    }
    let tasks = || std::fs::read_dir("/proc/self/task").unwrap().count();
    assert_eq!(expiry_threads().len(), 0, "no cache yet");

    // A mock-clock cache starts no thread.
    let before = tasks();
    let (mock, clock) = crate::common::mock_cache::<u32, u32>();
    mock.setx(1, 1, Some(ms(1)));
    clock.advance(ms(1));
    assert_eq!(tasks(), before, "a mock-clock cache started a thread");

    for round in 0..2 {
        let caches = many_caches(200);
        assert!(
            eventually(|| expiry_threads().len() == 1),
            "round {round}: {:?}",
            expiry_threads()
        );
        let tid = expiry_threads().pop().unwrap();

        // Idle: the only deadlines are an hour away, so the thread sleeps.
        // A thread polling every tick would wake hundreds of times here.
        thread::sleep(ms(50));
        let start = wakeups(&tid);
        thread::sleep(ms(300));
        let woke = wakeups(&tid) - start;
        assert!(woke <= 5, "round {round}: the idle thread woke {woke} times in 300 ms");
        assert_eq!(expiry_threads(), [tid.as_str()], "the same thread, round {round}");

        // Expiry still works while many caches are registered.
        let tally = Tally::default();
        let timed: Cache<u32, Instant> =
            Cache::builder().removal_listener(tally.listener()).build().unwrap();
        set_for(&timed, 1, ms(25));
        assert!(eventually(|| tally.expired() == 1), "round {round}");
        assert!(wakeups(&tid) > start, "round {round}: the wake-ups are not counted");

        // Dropping every cache stops and joins the thread.
        drop(caches);
        assert_eq!(expiry_threads().len(), 1, "round {round}: one cache is still alive");
        drop(timed);
        assert!(
            eventually(|| expiry_threads().is_empty()),
            "round {round}: the thread outlived the caches: {:?}",
            expiry_threads()
        );
    }
    drop(mock);
}
