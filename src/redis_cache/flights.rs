//! Single-flight loading for [`RedisCache`](crate::RedisCache), within one
//! process: the loads in flight, by key.
//!
//! A load in flight is a [`Flight`] in a map shared by the clones of a
//! cache (and by the caches `with_key_builder` makes from it). It carries
//! the value as stored bytes, so a waiter decodes it as `get` would, and
//! the flight needs no `V: Clone`.
//!
//! Finding a miss on the server and registering a load are two steps with
//! a network round trip between them, so a load can land (be stored and
//! unregistered) after a caller's `GET` missed and before the caller looks
//! at the map. The map counts the landings of each of a fixed number of
//! key stripes: a caller reads its key's count before its `GET`, and if
//! the count has moved by the time it finds no flight, it looks again
//! instead of loading. A landing that may have happened during the `GET`
//! is thus never missed; only a caller that has looked again several times
//! in a row (the stripe's keys keep landing) registers without a further
//! look.
//!
//! Nothing here coordinates with other processes: each process runs its
//! own loads.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::flight::{Flight, Landing, Loader};

/// How many stripes the landing counts are kept in.
const STRIPES: usize = 64;

/// How many times in a row a caller looks again before it registers
/// anyway.
pub(super) const LOOKS: u32 = 3;

/// The loads in flight of the caches sharing one map.
pub(super) struct Flights {
    state: Mutex<State>,
    hasher: ahash::RandomState,
}

struct State {
    running: HashMap<String, Arc<Flight<Vec<u8>>>>,
    /// Landings so far, by key stripe.
    landed: [u64; STRIPES],
}

/// What a caller that missed finds.
pub(super) enum Begin {
    /// A load of its key's stripe landed since the caller read
    /// [`Flights::landings`]: look at the server again.
    Look,
    /// Another caller is loading the key: wait for it.
    Wait(Arc<Flight<Vec<u8>>>),
    /// This caller loads; the guard ends the flight.
    Load(LoadGuard),
}

impl Flights {
    pub(super) fn new() -> Arc<Self> {
        let state = State { running: HashMap::new(), landed: [0; STRIPES] };
        Arc::new(Flights { state: Mutex::new(state), hasher: ahash::RandomState::new() })
    }

    fn stripe(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) % STRIPES as u64) as usize
    }

    /// The landings of `key`'s stripe so far: read before looking at the
    /// server, handed to [`begin`](Flights::begin) after a miss.
    pub(super) fn landings(&self, key: &str) -> u64 {
        self.state.lock().landed[self.stripe(key)]
    }

    /// After a miss: the load in flight for `key`, or a new one that `me`
    /// runs (registered), or `Look` if a load of the stripe landed since
    /// `seen` was read (unless `patient` is false: then the caller loads).
    ///
    /// A caller that finds its own load in flight (a loader asking for its
    /// own key in the same task) does not wait for itself: it loads again,
    /// unregistered.
    pub(super) fn begin(
        self: &Arc<Self>,
        key: &str,
        me: &Loader,
        seen: u64,
        patient: bool,
    ) -> Begin {
        let stripe = self.stripe(key);
        let mut state = self.state.lock();
        if let Some(flight) = state.running.get(key) {
            if flight.loader().is(me) {
                return Begin::Load(LoadGuard { flights: self.clone(), stripe, flight: None });
            }
            return Begin::Wait(flight.clone());
        }
        if patient && state.landed[stripe] != seen {
            return Begin::Look;
        }
        let flight = Flight::new(me.clone());
        state.running.insert(key.to_owned(), flight.clone());
        let flight = Some((key.to_owned(), flight));
        Begin::Load(LoadGuard { flights: self.clone(), stripe, flight })
    }

    /// How many loads are in flight (for tests).
    #[cfg(test)]
    fn running(&self) -> usize {
        self.state.lock().running.len()
    }
}

/// The loader's duty: [`land`](LoadGuard::land) once the result is
/// stored; dropped without landing (the loader failed, panicked or was
/// cancelled, or storing failed), it unregisters the flight and tells the
/// waiters to look again, one of them becoming the next loader.
pub(super) struct LoadGuard {
    flights: Arc<Flights>,
    stripe: usize,
    /// The registered key and flight; `None` for a load that shares no
    /// flight, or once ended.
    flight: Option<(String, Arc<Flight<Vec<u8>>>)>,
}

impl LoadGuard {
    /// Ends the load: counts the landing, unregisters the flight and hands
    /// `landing` (the stored bytes, or `Absent`) to the waiters.
    pub(super) fn land(mut self, landing: Landing<Vec<u8>>) {
        let flight = self.end(true);
        if let Some(flight) = flight {
            flight.complete(landing);
        }
    }

    /// Unregisters the flight (if it is still the key's) and, if `landed`,
    /// counts a landing in the stripe; the flight, to complete outside the
    /// lock.
    fn end(&mut self, landed: bool) -> Option<Arc<Flight<Vec<u8>>>> {
        let mut state = self.flights.state.lock();
        if landed {
            state.landed[self.stripe] += 1;
        }
        let (key, flight) = self.flight.take()?;
        if state.running.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            state.running.remove(&key);
        }
        Some(flight)
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if self.flight.is_some() {
            if let Some(flight) = self.end(false) {
                flight.complete(Landing::Retry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn task(waker: &Waker) -> Loader {
        Loader::Task(waker.clone())
    }

    #[test]
    fn a_second_caller_waits_and_the_landing_reaches_it() {
        let flights = Flights::new();
        let (a, b) = (task(Waker::noop()), Loader::this_thread());
        let seen = flights.landings("k");
        let Begin::Load(guard) = flights.begin("k", &a, seen, true) else { panic!("loads") };
        let Begin::Wait(flight) = flights.begin("k", &b, seen, true) else { panic!("waits") };
        guard.land(Landing::Value(b"v".to_vec()));
        assert!(matches!(flight.wait(), Landing::Value(v) if v == b"v"));
        assert_eq!(flights.running(), 0);
        assert_eq!(flights.landings("k"), seen + 1);
    }

    #[test]
    fn a_landing_after_a_miss_sends_the_caller_back_to_the_server() {
        let flights = Flights::new();
        let (a, b) = (task(Waker::noop()), Loader::this_thread());
        let seen = flights.landings("k");
        let Begin::Load(guard) = flights.begin("k", &a, seen, true) else { panic!("loads") };
        guard.land(Landing::Absent);
        assert!(matches!(flights.begin("k", &b, seen, true), Begin::Look));
        // An impatient caller loads anyway; a fresh count lets it load.
        assert!(matches!(flights.begin("k", &b, seen, false), Begin::Load(_)));
        let fresh = flights.landings("k");
        assert!(matches!(flights.begin("k", &b, fresh, true), Begin::Load(_)));
    }

    #[test]
    fn a_dropped_guard_unregisters_and_tells_waiters_to_retry() {
        let flights = Flights::new();
        let (a, b) = (task(Waker::noop()), Loader::this_thread());
        let seen = flights.landings("k");
        let Begin::Load(guard) = flights.begin("k", &a, seen, true) else { panic!("loads") };
        let Begin::Wait(flight) = flights.begin("k", &b, seen, true) else { panic!("waits") };
        drop(guard);
        assert!(matches!(flight.wait(), Landing::Retry));
        assert_eq!(flights.running(), 0);
        assert_eq!(flights.landings("k"), seen, "nothing landed");
        assert!(matches!(flights.begin("k", &b, seen, true), Begin::Load(_)));
    }

    #[test]
    fn a_loader_asking_for_its_own_key_loads_unregistered() {
        let flights = Flights::new();
        let me = task(Waker::noop());
        let seen = flights.landings("k");
        let Begin::Load(outer) = flights.begin("k", &me, seen, true) else { panic!("loads") };
        let Begin::Load(inner) = flights.begin("k", &me, seen, true) else {
            panic!("does not wait for itself")
        };
        assert!(inner.flight.is_none());
        inner.land(Landing::Value(b"inner".to_vec()));
        assert_eq!(flights.running(), 1, "the outer load is still in flight");
        drop(outer);
        assert_eq!(flights.running(), 0);
    }
}
