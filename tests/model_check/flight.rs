//! Single-flight loading, modelled (`src/inner/load.rs` over
//! `src/flight.rs`).
//!
//! Callers of one missing key: under the shard lock each finds the value
//! (a hit), or a flight in progress (it waits on the flight's condition
//! variable until the flight lands), or nothing (it registers a flight and
//! loads). A loader that succeeds stores the value and unregisters the
//! flight in one critical section, then lands it with the value; one that
//! fails (or panics: its guard's drop) unregisters and lands it with
//! "retry", and its waiters look again.
//!
//! The properties: every caller returns (no waiter is left asleep: shuttle
//! reports a deadlock otherwise), no flight is left registered, every
//! caller that got a value got the stored one or the one it loaded itself,
//! and a key has at most one load running at a time.

use std::sync::Arc;

use shuttle::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use shuttle::sync::{Condvar, Mutex};
use shuttle::thread;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Landing {
    Value(u32),
    Retry,
}

struct Flight {
    state: Mutex<Option<Landing>>,
    done: Condvar,
}

impl Flight {
    fn land(&self, landing: Landing) {
        *self.state.lock().unwrap() = Some(landing);
        self.done.notify_all();
    }

    fn wait(&self) -> Landing {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(landing) = *state {
                return landing;
            }
            state = self.done.wait(state).unwrap();
        }
    }
}

/// The shard's part: the stored value and the registered flight.
#[derive(Default)]
struct Shard {
    value: Option<u32>,
    flight: Option<Arc<Flight>>,
}

enum Begin {
    Hit(u32),
    Wait(Arc<Flight>),
    Load(Arc<Flight>),
}

struct World {
    shard: Mutex<Shard>,
    /// Loads running now, and the most at once.
    running: AtomicUsize,
    most: AtomicUsize,
}

impl World {
    fn begin(&self) -> Begin {
        let mut shard = self.shard.lock().unwrap();
        if let Some(v) = shard.value {
            return Begin::Hit(v);
        }
        if let Some(flight) = &shard.flight {
            return Begin::Wait(flight.clone());
        }
        let flight = Arc::new(Flight { state: Mutex::new(None), done: Condvar::new() });
        shard.flight = Some(flight.clone());
        Begin::Load(flight)
    }

    /// A caller that loads `mine`, or fails its load if `fails`.
    fn get_or_load(&self, mine: u32, fails: bool) -> Option<u32> {
        loop {
            match self.begin() {
                Begin::Hit(v) => return Some(v),
                Begin::Wait(flight) => match flight.wait() {
                    Landing::Value(v) => return Some(v),
                    Landing::Retry => {}
                },
                Begin::Load(flight) => {
                    let now = self.running.fetch_add(1, SeqCst) + 1;
                    self.most.fetch_max(now, SeqCst);
                    thread::yield_now();
                    self.running.fetch_sub(1, SeqCst);
                    let mut shard = self.shard.lock().unwrap();
                    shard.flight = None;
                    if fails {
                        drop(shard);
                        flight.land(Landing::Retry);
                        return None;
                    }
                    shard.value = Some(mine);
                    drop(shard);
                    flight.land(Landing::Value(mine));
                    return Some(mine);
                }
            }
        }
    }
}

fn scenario() {
    let world = Arc::new(World {
        shard: Mutex::new(Shard::default()),
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    // Caller 0's loader fails; the others would load their own number.
    let callers: Vec<_> = (0..4u32)
        .map(|n| {
            let world = world.clone();
            thread::spawn(move || (n, world.get_or_load(n, n == 0)))
        })
        .collect();
    let results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    let shard = world.shard.lock().unwrap();
    assert!(shard.flight.is_none(), "a flight was left registered");
    assert_eq!(world.most.load(SeqCst), 1, "two loads of one key ran at once");
    for (n, got) in results {
        match got {
            None => assert_eq!(n, 0, "only the failing loader answers nothing"),
            Some(v) => assert_eq!(Some(v), shard.value, "caller {n} got {v}, not the stored value"),
        }
    }
}

#[test]
fn every_caller_returns_and_one_load_runs_at_a_time() {
    shuttle::check_random(scenario, super::iterations());
    shuttle::check_pct(scenario, super::iterations(), 3);
}
