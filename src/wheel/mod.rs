//! A hierarchical timing wheel on integer ticks.
//!
//! The wheel is a pure structure: it knows no clock and no thread. Its
//! nodes are ids (`u32`) of timers that live in the caller's storage, which
//! the wheel reads and links through the [`Timers`] trait: each timer has a
//! deadline tick (`when`) and an intrusive [`Link`]. The table stores the
//! link inside each entry, so a timer costs no allocation and no memory
//! beyond its entry, and re-timing a key moves its one node: timer memory is
//! O(entries with a deadline), not O(writes).
//!
//! Layout (after tokio's `runtime/time/wheel`): six levels of 64 slots; a
//! slot of level `n` spans `64^n` ticks, so the wheel sees `2^36` ticks ahead
//! (795 days at 1 ms); farther deadlines sit in the top level and are
//! re-filed each time it turns. Each level keeps a bitmap of occupied slots,
//! so finding the next deadline is a few bit operations, never a scan.
//!
//! Besides the slots there are two lists:
//! - *pending*: nodes whose tick has come (`when <= elapsed`), popped by
//!   [`Wheel::poll`] one at a time, so the caller can stop after a batch.
//! - *deferred*: nodes the caller polled but found not yet due (a deadline
//!   later in the current tick, since ticks round deadlines down); the
//!   caller returns them to *pending* at the start of its next pass.
//!
//! Invariant: a node in level `n` shares every digit above `n` with
//! `elapsed` and is due after it; `elapsed` never passes the start of an
//! occupied slot without that slot being taken apart (cascaded).

mod level;

use level::{Level, BITS, SLOTS};

/// The id of no node.
pub(crate) const NIL: u32 = u32::MAX;

const LEVELS: usize = 6;
/// The farthest ahead a node is filed exactly; farther ones are clamped.
const MAX_AHEAD: u64 = (1 << (BITS as usize * LEVELS)) - 1;
const TAG_PENDING: u16 = (LEVELS * SLOTS) as u16;
const TAG_DEFERRED: u16 = TAG_PENDING + 1;
const TAG_UNLINKED: u16 = u16::MAX;

/// A timer's place in the wheel: its neighbours and the list it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    prev: u32,
    next: u32,
    tag: u16,
}

impl Link {
    /// The link of a timer that is in no list.
    pub(crate) const UNLINKED: Link = Link { prev: NIL, next: NIL, tag: TAG_UNLINKED };

    /// Whether the timer is in the wheel.
    pub(crate) fn is_linked(&self) -> bool {
        self.tag != TAG_UNLINKED
    }
}

impl Default for Link {
    fn default() -> Link {
        Link::UNLINKED
    }
}

/// The storage of the timers the wheel links.
pub(crate) trait Timers {
    /// The deadline tick of timer `id`. While the timer is in the wheel it
    /// may grow (the wheel files it again when its old slot comes round, and
    /// `poll` may then hand it back early: the caller checks and re-inserts),
    /// but must not shrink: remove it, change it, insert it again.
    fn when(&self, id: u32) -> u64;
    /// The link of timer `id`.
    fn link_mut(&mut self, id: u32) -> &mut Link;
}

/// Pushes `id` on the front of the list at `head`.
fn list_push<T: Timers>(timers: &mut T, head: &mut u32, id: u32, tag: u16) {
    if *head != NIL {
        timers.link_mut(*head).prev = id;
    }
    *timers.link_mut(id) = Link { prev: NIL, next: *head, tag };
    *head = id;
}

/// Unlinks `id` from the list at `head`.
fn list_unlink<T: Timers>(timers: &mut T, head: &mut u32, id: u32) {
    let Link { prev, next, .. } = *timers.link_mut(id);
    if prev == NIL {
        debug_assert_eq!(*head, id);
        *head = next;
    } else {
        timers.link_mut(prev).next = next;
    }
    if next != NIL {
        timers.link_mut(next).prev = prev;
    }
    *timers.link_mut(id) = Link::UNLINKED;
}

/// The hierarchical timing wheel. See the module docs.
pub(crate) struct Wheel {
    levels: [Level; LEVELS],
    /// The tick up to which the wheel has been advanced.
    elapsed: u64,
    /// Nodes due (`when <= elapsed`), handed out by `poll`.
    pending: u32,
    /// Nodes found not yet due at tick `deferred_tick`.
    deferred: u32,
    deferred_tick: u64,
    /// Nodes in the wheel, in every list.
    len: usize,
    /// The slot being taken apart, a few timers per `poll_step`.
    cascading: Option<(usize, usize)>,
}

/// What one [`Wheel::poll_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Polled {
    /// A timer whose tick has come, now out of the wheel.
    Due(u32),
    /// Some timers of a slot filed again; call again.
    Busy,
    /// Nothing is due.
    Idle,
}

/// Timers re-filed per `poll_step` while a slot is taken apart.
const CASCADE_STEP: usize = 4;

impl Default for Wheel {
    fn default() -> Wheel {
        Wheel::new()
    }
}

impl Wheel {
    /// An empty wheel at tick zero.
    pub(crate) fn new() -> Wheel {
        Wheel {
            levels: std::array::from_fn(|n| Level::new(n as u32)),
            elapsed: 0,
            pending: NIL,
            deferred: NIL,
            deferred_tick: 0,
            len: 0,
            cascading: None,
        }
    }

    /// An empty wheel standing at tick `now`, so that the first timers are
    /// filed by their distance from now, not from tick zero.
    pub(crate) fn starting_at(now: u64) -> Wheel {
        Wheel { elapsed: now, ..Wheel::new() }
    }

    /// The number of timers in the wheel.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tick the wheel has been advanced to.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// The level that files `when` (which must be after `elapsed`): the
    /// highest 6-bit digit in which the two differ, capped at the top level.
    fn level_for(elapsed: u64, when: u64) -> usize {
        let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        (significant / BITS as usize).min(LEVELS - 1)
    }

    /// Files timer `id` by its tick. It must not be in the wheel already.
    pub(crate) fn insert<T: Timers>(&mut self, timers: &mut T, id: u32) {
        debug_assert!(!timers.link_mut(id).is_linked());
        self.file(timers, id);
        self.len += 1;
    }

    fn file<T: Timers>(&mut self, timers: &mut T, id: u32) {
        let when = timers.when(id);
        if when <= self.elapsed {
            list_push(timers, &mut self.pending, id, TAG_PENDING);
            return;
        }
        // Far-future nodes are filed at most one top-level rotation ahead and
        // re-filed when their slot comes round (`poll` checks `when` again).
        let filed = when.min(self.elapsed.saturating_add(MAX_AHEAD));
        let level = Self::level_for(self.elapsed, filed);
        let slot = self.levels[level].slot_for(filed);
        let tag = (level * SLOTS + slot) as u16;
        self.levels[level].push(timers, slot, id, tag);
    }

    /// Takes timer `id` out of the wheel; nothing happens if it is not in it.
    pub(crate) fn remove<T: Timers>(&mut self, timers: &mut T, id: u32) {
        let tag = timers.link_mut(id).tag;
        match tag {
            TAG_UNLINKED => return,
            TAG_PENDING => list_unlink(timers, &mut self.pending, id),
            TAG_DEFERRED => list_unlink(timers, &mut self.deferred, id),
            _ => {
                let (level, slot) = (tag as usize / SLOTS, tag as usize % SLOTS);
                self.levels[level].unlink(timers, slot, id);
            }
        }
        self.len -= 1;
    }

    /// Repairs the lists after the caller moved timer `from` to id `to`
    /// (its link moved with it, `to`'s old timer already removed).
    pub(crate) fn relocate<T: Timers>(&mut self, timers: &mut T, from: u32, to: u32) {
        let link = *timers.link_mut(to);
        if !link.is_linked() {
            return;
        }
        if link.next != NIL {
            timers.link_mut(link.next).prev = to;
        }
        if link.prev != NIL {
            timers.link_mut(link.prev).next = to;
            return;
        }
        let head = match link.tag {
            TAG_PENDING => &mut self.pending,
            TAG_DEFERRED => &mut self.deferred,
            tag => self.levels[tag as usize / SLOTS].head_mut(tag as usize % SLOTS),
        };
        debug_assert_eq!(*head, from);
        *head = to;
    }

    /// Hands back (and removes) one timer whose tick is at or before `now`,
    /// advancing the wheel as far as needed; `None` once nothing is due.
    ///
    /// Ticks round deadlines down, so a timer handed back may still have
    /// some of its tick to run: give it to [`Wheel::defer`].
    #[cfg(test)]
    pub(crate) fn poll<T: Timers>(&mut self, timers: &mut T, now: u64) -> Option<u32> {
        loop {
            match self.poll_step(timers, now) {
                Polled::Due(id) => return Some(id),
                Polled::Busy => {}
                Polled::Idle => return None,
            }
        }
    }

    /// One bounded step of [`poll`](Wheel::poll): a due timer, or up to
    /// `CASCADE_STEP` timers of a slot being taken apart filed again
    /// (`Busy`: call again), or `Idle` when nothing is due at `now`. A slot
    /// of a high level can hold many timers; taking it apart a few at a
    /// time lets the caller release its lock in between.
    pub(crate) fn poll_step<T: Timers>(&mut self, timers: &mut T, now: u64) -> Polled {
        if self.pending != NIL {
            let id = self.pending;
            list_unlink(timers, &mut self.pending, id);
            self.len -= 1;
            return Polled::Due(id);
        }
        if let Some((level, slot)) = self.cascading.filter(|&(l, s)| self.levels[l].head(s) != NIL)
        {
            for _ in 0..CASCADE_STEP {
                let id = self.levels[level].head(slot);
                if id == NIL {
                    self.cascading = None;
                    break;
                }
                self.levels[level].unlink(timers, slot, id);
                self.file(timers, id);
            }
            if self.levels[level].head(slot) == NIL {
                self.cascading = None;
            }
            return Polled::Busy;
        }
        // (A cascade whose remaining timers were all removed is over.)
        self.cascading = None;
        match self.next_slot() {
            Some((level, slot, start)) if start <= now => {
                // Until this slot is empty the wheel stands at its start:
                // nothing new is filed into it, and nothing later is polled.
                self.elapsed = start;
                self.cascading = Some((level, slot));
                Polled::Busy
            }
            _ => {
                self.elapsed = self.elapsed.max(now);
                Polled::Idle
            }
        }
    }

    /// Puts a polled timer aside: `poll` skips it until [`Wheel::undefer`].
    pub(crate) fn defer<T: Timers>(&mut self, timers: &mut T, id: u32) {
        debug_assert!(!timers.link_mut(id).is_linked());
        list_push(timers, &mut self.deferred, id, TAG_DEFERRED);
        self.deferred_tick = self.elapsed;
        self.len += 1;
    }

    /// Makes the deferred timers pollable again: call it once at the start of
    /// each pass of polling, so that no pass sees a timer twice.
    pub(crate) fn undefer<T: Timers>(&mut self, timers: &mut T) {
        while self.deferred != NIL {
            let id = self.deferred;
            list_unlink(timers, &mut self.deferred, id);
            list_push(timers, &mut self.pending, id, TAG_PENDING);
        }
    }

    /// The earliest occupied slot: level, slot and start tick.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        // Every node of a lower level is due before any of a higher one.
        self.levels.iter().enumerate().find_map(|(n, level)| {
            level.next_expiration(self.elapsed).map(|(slot, start)| (n, slot, start))
        })
    }

    /// A tick `t` such that nothing in the wheel is due before the end of
    /// tick `t`: polling at any tick after `t` makes progress. `None` when
    /// the wheel is empty.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        let cascading = self.cascading.is_some_and(|(l, s)| self.levels[l].head(s) != NIL);
        if self.pending != NIL || cascading {
            return Some(self.elapsed);
        }
        let deferred = (self.deferred != NIL).then_some(self.deferred_tick);
        let slot = self.next_slot().map(|(_, _, start)| start);
        match (deferred, slot) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Wheel {
    /// Walks every list, checking back links, tags, the occupancy bitmaps,
    /// that every filed timer is due no earlier than its slot, and the
    /// count. Panics on a broken invariant.
    pub(crate) fn validate<T: Timers>(&self, timers: &mut T) {
        let mut seen = 0;
        let mut walk = |head: u32, tag: u16, timers: &mut T| {
            let mut prev = NIL;
            let mut id = head;
            while id != NIL {
                let link = *timers.link_mut(id);
                assert_eq!(link.prev, prev, "broken back link at timer {id}");
                assert_eq!(link.tag, tag, "timer {id} has the wrong tag");
                if (tag as usize) < LEVELS * SLOTS {
                    let slot = (tag as usize / SLOTS, tag as usize % SLOTS);
                    if self.cascading == Some(slot) {
                        assert!(timers.when(id) >= self.elapsed, "overdue timer {id} in a cascade");
                    } else {
                        assert!(
                            timers.when(id) > self.elapsed,
                            "overdue timer {id} left in a slot"
                        );
                    }
                }
                seen += 1;
                prev = id;
                id = link.next;
            }
        };
        walk(self.pending, TAG_PENDING, timers);
        walk(self.deferred, TAG_DEFERRED, timers);
        for (n, level) in self.levels.iter().enumerate() {
            for slot in 0..SLOTS {
                let head = level.head(slot);
                assert_eq!(head != NIL, level.is_occupied(slot), "bitmap of level {n}");
                walk(head, (n * SLOTS + slot) as u16, timers);
            }
        }
        assert_eq!(seen, self.len, "timer count");
    }
}

/// Timers in a plain vector, the way the table keeps them in its entries:
/// the store of the wheel's own tests and of the fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Default)]
pub(crate) struct VecTimers {
    pub(crate) when: Vec<u64>,
    pub(crate) links: Vec<Link>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl Timers for VecTimers {
    fn when(&self, id: u32) -> u64 {
        self.when[id as usize]
    }
    fn link_mut(&mut self, id: u32) -> &mut Link {
        &mut self.links[id as usize]
    }
}

#[cfg(test)]
mod tests;
