//! The expiry handshake, modelled.
//!
//! Writers arm deadlines: under the shard lock they lower the shard's
//! published bound, then (after the lock) the cache's `next_due`, and wake
//! the thread if it sleeps past the deadline (`Inner::arm`,
//! `Registration::schedule`). A caller reaps on its own thread in a loop
//! (`run_pending_tasks`), republishing each shard's bound. The expiry
//! thread marks itself awake, reads `next_due`, stores its sleep time,
//! reads `next_due` again, and sleeps: with no timeout if nothing is due
//! ever, else until the deadline (the model stops it there: a timed sleep
//! always ends).
//!
//! The property: once every deadline is armed, the thread never sleeps
//! without a timeout. If it did, shuttle finds every thread blocked (the
//! final join waits for the thread) and fails the run.
//!
//! A caller that reset `next_due` to `NEVER` and re-folded the shards (as
//! the thread itself does) loses deadlines: the thread can read the
//! transient `NEVER` mid-rescan. `a_caller_that_resets_the_bound_loses_a_wake_up`
//! shows that the model finds it; the current protocol leaves the reset to
//! the thread alone.

use std::sync::Arc;

use shuttle::sync::atomic::{AtomicU64, Ordering::SeqCst};
use shuttle::sync::mpsc::{sync_channel, Receiver, SyncSender};
use shuttle::sync::Mutex;
use shuttle::thread;

const NEVER: u64 = u64::MAX;

struct Shard {
    /// The earliest deadline in the shard's wheel (what the lock guards).
    wheel: Mutex<u64>,
    /// Its published bound (`Shard::next_due`).
    next_due: AtomicU64,
}

struct World {
    shards: Vec<Shard>,
    /// The cache's `next_due`.
    next_due: AtomicU64,
    /// The driver's `sleep_until` (`0`: awake).
    sleep_until: AtomicU64,
    wake: SyncSender<()>,
}

impl World {
    /// A writer arms `deadline` in shard `s` and commits.
    fn arm(&self, s: usize, deadline: u64) {
        {
            let mut wheel = self.shards[s].wheel.lock().unwrap();
            *wheel = (*wheel).min(deadline);
            // Published under the lock (`Shard::publish` in the commit).
            self.shards[s].next_due.store(*wheel, SeqCst);
        }
        // After the lock (`Inner::arm`).
        if deadline < self.next_due.load(SeqCst) {
            self.next_due.fetch_min(deadline, SeqCst);
            // `Registration::schedule`.
            if deadline < self.sleep_until.load(SeqCst)
                && self.sleep_until.fetch_min(deadline, SeqCst) > deadline
            {
                let _ = self.wake.try_send(());
            }
        }
    }

    /// A caller's `run_pending_tasks` with nothing due yet: it takes each
    /// shard's lock and republishes its bound; with `resets`, it also
    /// recomputes the cache's bound the way the thread does.
    fn pump(&self, resets: bool) {
        if resets {
            self.next_due.store(NEVER, SeqCst);
        }
        for shard in &self.shards {
            let wheel = shard.wheel.lock().unwrap();
            shard.next_due.store(*wheel, SeqCst);
            drop(wheel);
            if resets {
                self.next_due.fetch_min(shard.next_due.load(SeqCst), SeqCst);
            }
        }
    }

    /// The expiry thread's loop (`expiry::run`) until it settles into a
    /// timed sleep. Nothing is due yet in the model (time stands still), so
    /// no round serves a cache.
    fn thread(&self, wake: &Receiver<()>) {
        loop {
            self.sleep_until.store(0, SeqCst);
            let next = self.next_due.load(SeqCst);
            self.sleep_until.store(next, SeqCst);
            let again = self.next_due.load(SeqCst);
            if again < next {
                continue;
            }
            if next != NEVER {
                // A timed sleep: it ends by itself, at the deadline.
                return;
            }
            // Asleep with no timeout: only a wake token ends it.
            wake.recv().unwrap();
        }
    }
}

fn world() -> (Arc<World>, Receiver<()>) {
    let (wake, rx) = sync_channel(1);
    let shard = || Shard { wheel: Mutex::new(NEVER), next_due: AtomicU64::new(NEVER) };
    let world = World {
        shards: vec![shard(), shard()],
        next_due: AtomicU64::new(NEVER),
        sleep_until: AtomicU64::new(NEVER),
        wake,
    };
    (Arc::new(world), rx)
}

/// Two writers arm a deadline each (in different shards) while a caller
/// pumps `run_pending_tasks`; the thread must end up in a timed sleep.
fn scenario(resets: bool) {
    let (world, wake) = world();
    let expiry = {
        let world = world.clone();
        thread::spawn(move || world.thread(&wake))
    };
    let writers: Vec<_> = [(0, 50), (1, 30)]
        .into_iter()
        .map(|(s, d)| {
            let world = world.clone();
            thread::spawn(move || world.arm(s, d))
        })
        .collect();
    let pump = {
        let world = world.clone();
        thread::spawn(move || {
            for _ in 0..3 {
                world.pump(resets);
            }
        })
    };
    writers.into_iter().for_each(|w| w.join().unwrap());
    pump.join().unwrap();
    // Blocks forever (a deadlock, reported by shuttle) if the thread
    // sleeps with no timeout while deadlines are armed.
    expiry.join().unwrap();
}

#[test]
fn no_wake_up_is_lost_while_a_caller_reaps() {
    shuttle::check_random(|| scenario(false), super::iterations());
    shuttle::check_pct(|| scenario(false), super::iterations(), 3);
}

#[test]
#[should_panic(expected = "deadlock")]
fn a_caller_that_resets_the_bound_loses_a_wake_up() {
    shuttle::check_pct(|| scenario(true), super::iterations(), 3);
}
