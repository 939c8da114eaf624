//! Numbers for the threads alive, each unique while its thread lives and
//! handed back when it ends, lowest first, so that the numbers in use stay
//! small: per-thread stripes of the read counters (`stats`) and the
//! shards' reader slots (`table::biased`) are picked by them.

use std::cell::Cell;

use parking_lot::Mutex;

/// Slot numbers of the threads alive: the free ones, handed out lowest
/// first so that the stripes in use stay few.
static FREE_SLOTS: Mutex<FreeSlots> = Mutex::new(FreeSlots { next: 0, free: Vec::new() });

struct FreeSlots {
    /// The lowest slot never handed out.
    next: usize,
    /// Slots given back, kept sorted highest first.
    free: Vec<usize>,
}

/// A thread's hold on its slot, given back when the thread ends.
struct SlotHold(usize);

impl Drop for SlotHold {
    fn drop(&mut self) {
        // Later calls on this thread (from other destructors) get a number
        // past every slot handed out: this one may be someone else's by
        // then.
        SLOT.set(usize::MAX - 1);
        let mut slots = FREE_SLOTS.lock();
        let at = slots.free.partition_point(|&s| s > self.0);
        slots.free.insert(at, self.0);
    }
}

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    static HOLD: SlotHold = {
        let mut slots = FREE_SLOTS.lock();
        let slot = slots.free.pop().unwrap_or_else(|| {
            slots.next += 1;
            slots.next - 1
        });
        SlotHold(slot)
    };
}

/// This thread's slot number as last asked for: `usize::MAX` if it never
/// was (see [`slot`]).
#[inline]
pub(crate) fn known_slot() -> usize {
    SLOT.get()
}

/// This thread's slot number: unique among the threads alive.
#[inline]
pub(crate) fn slot() -> usize {
    let slot = SLOT.get();
    if slot != usize::MAX {
        return slot;
    }
    // Once a thread's destructors have run, `HOLD` is gone: a number past
    // every slot handed out stands in from then on.
    let slot = HOLD.try_with(|hold| hold.0).unwrap_or(usize::MAX - 1);
    SLOT.set(slot);
    slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_alive_at_once_hold_distinct_slots_and_give_them_back() {
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let slots: Vec<usize> = (0..4)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let s = slot();
                    barrier.wait();
                    s
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "slots {slots:?}");
        // The slots came back: a new thread gets one of them (or lower).
        let again = std::thread::spawn(slot).join().unwrap();
        assert!(again <= *sorted.last().unwrap(), "{again} after {sorted:?}");
    }
}
