//! A hierarchical timing wheel on integer ticks.
//!
//! The wheel is a pure structure: it knows no clock and no thread. Its
//! timers are ids (`u32`) that live in the caller's storage, which the
//! wheel reads and links through the [`Timers`] trait: each timer has a
//! deadline tick (`when`) and an intrusive [`Link`]. The table keeps one
//! link per entry, in a vector beside its entries, so a timer costs no
//! allocation, and re-timing a key moves its one timer: timer memory is
//! O(entries), not O(writes).
//!
//! Layout (after tokio's `runtime/time/wheel`): six levels of 64 slots; a
//! slot of level `n` spans `64^n` ticks, so the wheel sees `2^36` ticks ahead
//! (795 days at 1 ms); farther deadlines sit in the top level and are
//! filed again each time it turns. Each level keeps a bitmap of occupied
//! slots, so finding the next deadline is a few bit operations, never a
//! scan. Every slot is a circular list (see [`crate::list`]) whose sentinel
//! the wheel keeps, so taking a timer out needs no record of where it is.
//!
//! Besides the slots there are two lists:
//! - *pending*: timers whose tick has come (`when <= elapsed`), handed out
//!   by [`Wheel::poll_step`] one at a time, so the caller can stop after a
//!   batch and release its lock.
//! - *deferred*: timers the caller polled but found not yet due (a
//!   deadline later in the current tick, since ticks round deadlines
//!   down); the caller returns them to *pending* at the start of its next
//!   pass ([`Wheel::undefer`]).
//!
//! A timer may also be filed *early* ([`Wheel::insert_early`]): in the
//! slot after the wheel's at its level, rather than its own. Its deadline
//! may then come as early as that slot's start without the timer moving
//! ([`Wheel::reaches_early_by`]); when the slot comes round the timer is
//! filed again by its tick. The table files a timer early when it has to
//! move it anyway, so that a key whose deadline keeps coming earlier moves
//! its timer at most once a slot's span, and, once a shard has had to move
//! one, files its new timers early too.
//!
//! Invariant: a timer in level `n` shares every digit above `n` with
//! `elapsed` and is due after it, and one filed early waits in the slot
//! after the wheel's; `elapsed` never passes the start of an occupied slot
//! without that slot being taken apart (cascaded).

mod level;

use level::{Level, BITS, SLOTS};

pub(crate) use crate::list::Link;
use crate::list::{self, is_sentinel, Links, Nodes, SENTINEL_BASE};

const LEVELS: usize = 6;
/// The farthest ahead a timer is filed exactly; farther ones are clamped.
const MAX_AHEAD: u64 = (1 << (BITS as usize * LEVELS)) - 1;
/// The lists: a slot of each level, then pending and deferred.
const SLOT_LISTS: usize = LEVELS * SLOTS;
const PENDING: u32 = SENTINEL_BASE + SLOT_LISTS as u32;
const DEFERRED: u32 = PENDING + 1;
const LISTS: usize = SLOT_LISTS + 2;

/// The timers the wheel links, as it reads them.
pub(crate) trait TimerView {
    /// The deadline tick of timer `id`. While the timer is in the wheel it
    /// may grow (the wheel files it again when its old slot comes round, and
    /// `poll_step` may then hand it back early: the caller checks and
    /// inserts it again), but must not shrink below the start of the slot
    /// that holds it ([`Wheel::reaches_by`] says when it may shrink in
    /// place); otherwise remove it, change it, insert it again.
    fn when(&self, id: u32) -> u64;
    /// The link of timer `id`.
    fn link(&self, id: u32) -> &Link;
    /// Whether timer `id` was last filed early (see
    /// [`Wheel::insert_early`]); only the wheel's checks ask (the shard
    /// judges its own timers' reach).
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    fn is_early(&self, id: u32) -> bool;
}

/// The storage of the timers the wheel links.
pub(crate) trait Timers: TimerView {
    /// The link of timer `id`, to change.
    fn link_mut(&mut self, id: u32) -> &mut Link;
    /// Records whether timer `id` is filed early.
    fn set_early(&mut self, id: u32, early: bool);
}

/// The sentinel of slot `slot` of level `level`.
fn slot_list(level: usize, slot: usize) -> u32 {
    SENTINEL_BASE + (level * SLOTS + slot) as u32
}

/// The timers' links and the wheel's sentinels, as one set of list nodes.
struct WheelNodes<'a, T> {
    sentinels: &'a mut [Link],
    timers: &'a mut T,
}

impl<T: Timers> WheelNodes<'_, T> {
    #[inline]
    fn get(&self, id: u32) -> &Link {
        if is_sentinel(id) {
            &self.sentinels[(id - SENTINEL_BASE) as usize]
        } else {
            self.timers.link(id)
        }
    }
    #[inline]
    fn get_mut(&mut self, id: u32) -> &mut Link {
        if is_sentinel(id) {
            &mut self.sentinels[(id - SENTINEL_BASE) as usize]
        } else {
            self.timers.link_mut(id)
        }
    }
}

impl<T: Timers> Links for WheelNodes<'_, T> {
    #[inline]
    fn prev(&self, id: u32) -> u32 {
        self.get(id).prev
    }
    #[inline]
    fn next(&self, id: u32) -> u32 {
        self.get(id).next
    }
}

impl<T: Timers> Nodes for WheelNodes<'_, T> {
    #[inline]
    fn set_prev(&mut self, id: u32, prev: u32) {
        self.get_mut(id).prev = prev;
    }
    #[inline]
    fn set_next(&mut self, id: u32, next: u32) {
        self.get_mut(id).next = next;
    }
}

#[cfg(any(test, fuzzing, feature = "test-util"))]
/// The same, read only (for the checks).
struct WheelView<'a, T> {
    sentinels: &'a [Link],
    timers: &'a T,
}

#[cfg(any(test, fuzzing, feature = "test-util"))]
impl<T: TimerView> Links for WheelView<'_, T> {
    fn prev(&self, id: u32) -> u32 {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].prev
        } else {
            self.timers.link(id).prev
        }
    }
    fn next(&self, id: u32) -> u32 {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].next
        } else {
            self.timers.link(id).next
        }
    }
}

/// The hierarchical timing wheel. See the module docs.
pub(crate) struct Wheel {
    levels: [Level; LEVELS],
    /// The lists' sentinels, allocated with the first timer (a cache
    /// without deadlines never pays for them).
    sentinels: Box<[Link]>,
    /// The tick up to which the wheel has been advanced.
    elapsed: u64,
    /// The tick at which the deferred timers were put aside.
    deferred_tick: u64,
    /// Timers in the wheel, in every list.
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

/// Timers filed again per `poll_step` while a slot is taken apart.
const CASCADE_STEP: usize = 4;

impl Default for Wheel {
    fn default() -> Wheel {
        Wheel::starting_at(0)
    }
}

impl Wheel {
    /// An empty wheel standing at tick `now`, so that the first timers are
    /// filed by their distance from now, not from tick zero.
    pub(crate) fn starting_at(now: u64) -> Wheel {
        Wheel {
            levels: std::array::from_fn(|n| Level::new(n as u32)),
            sentinels: Box::new([]),
            elapsed: now,
            deferred_tick: now,
            len: 0,
            cascading: None,
        }
    }

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    /// The number of timers in the wheel.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tick the wheel has been advanced to.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    fn nodes<'a, T: Timers>(sentinels: &'a mut [Link], timers: &'a mut T) -> WheelNodes<'a, T> {
        WheelNodes { sentinels, timers }
    }

    /// The level that files `when` (which must be after `elapsed`): the
    /// highest 6-bit digit in which the two differ, capped at the top level.
    fn level_for(elapsed: u64, when: u64) -> usize {
        let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        (significant / BITS as usize).min(LEVELS - 1)
    }

    /// Whether a timer in the wheel, due at tick `old`, may become due at
    /// `new`, earlier, where it is: whether the wheel takes up the timer's
    /// slot by `new`. Then the timer needs no moving: when its slot is taken
    /// up, it is filed again by `new`, or handed out and checked.
    ///
    /// The timer's slot starts no later than `old`: it was filed by a
    /// deadline no later than `old` (deadlines grow in place), and timers
    /// only move down the levels as the wheel advances. Let `l` be the level
    /// `old` would be filed at now. A slot of level `l` or above that starts
    /// by `old` starts by the level-`l` slot holding `old`; a slot below `l`
    /// shares its digit `l` with `elapsed`, and so starts before it. So
    /// `new` at or after the start of that slot is safe. Deadlines for the
    /// top level (days ahead), whose slots can be a turn ahead, and ones
    /// due already, are not judged: they move.
    #[inline]
    pub(crate) fn reaches_by(&self, old: u64, new: u64) -> bool {
        if old <= self.elapsed {
            return false;
        }
        let level = Self::level_for(self.elapsed, old);
        level < LEVELS - 1 && new >= Level::start_of(level, old)
    }

    /// [`reaches_by`](Wheel::reaches_by) for a timer filed early
    /// ([`insert_early`](Wheel::insert_early)): it waits in the slot after
    /// the wheel's at the level `old` is filed at now, so `new` at or after
    /// that slot's start is safe.
    ///
    /// The timer was filed early at the level of its deadline then, in
    /// the slot after the wheel's. Until the wheel reaches that slot, which
    /// files it again (by its tick, not early), the wheel stays in the
    /// slot before it, at that level and all above; its deadline has grown
    /// in place since, or shrunk in place to no earlier than the slot's
    /// start: so it is still filed at that level now, and the slot after
    /// the wheel's is still the one that holds it.
    #[inline]
    pub(crate) fn reaches_early_by(&self, old: u64, new: u64) -> bool {
        if old <= self.elapsed {
            return false;
        }
        let level = Self::level_for(self.elapsed, old);
        level < LEVELS - 1 && new >= Self::next_start(level, self.elapsed)
    }

    /// The start of the slot of level `level` after the one holding tick
    /// `at`.
    fn next_start(level: usize, at: u64) -> u64 {
        Level::start_of(level, at).saturating_add(1 << (BITS as usize * level))
    }

    /// Makes timer `id`, in the wheel and due at tick `old`, due at `to`,
    /// earlier, as a shard re-times an entry: in place when the wheel
    /// reaches it by then, moved otherwise, and filed early. Returns
    /// whether it stayed, and what `insert_early` returned if it moved
    /// (`u64::MAX` if not).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn shrink(&mut self, timers: &mut VecTimers, id: u32, to: u64) -> (bool, u64) {
        let old = timers.when[id as usize];
        let stays = if timers.is_early(id) {
            self.reaches_early_by(old, to)
        } else {
            self.reaches_by(old, to)
        };
        if stays {
            timers.when[id as usize] = to;
            return (true, u64::MAX);
        }
        self.remove(timers, id);
        timers.when[id as usize] = to;
        (false, self.insert_early(timers, id))
    }

    /// Files timer `id` by its tick. It must not be in the wheel already.
    /// Returns the tick at which the timer's list is taken up: the start of
    /// its slot, or the wheel's tick if it is due already. Until timers are
    /// polled, [`next_expiration`](Wheel::next_expiration) is the least of
    /// what the inserts returned (removals can only make it later).
    pub(crate) fn insert<T: Timers>(&mut self, timers: &mut T, id: u32) -> u64 {
        self.add(timers, id, false)
    }

    /// Files timer `id` (not in the wheel) early: below the top level, in
    /// the first slot its level takes up, the one after the wheel's,
    /// rather than in the slot of its tick. When that slot is taken up the
    /// timer is filed again by its tick; until then its deadline may come
    /// as early as that slot's start and the timer stay where it is
    /// ([`reaches_early_by`](Wheel::reaches_early_by)). A shard files a
    /// timer early when it must move it anyway: a key whose deadline keeps
    /// coming earlier then moves its timer at most once a slot's span, and
    /// pays for it with one more filing when the slot comes round. A shard
    /// that has had to also files its new timers early. Returns when the
    /// timer's list is taken up.
    pub(crate) fn insert_early<T: Timers>(&mut self, timers: &mut T, id: u32) -> u64 {
        self.add(timers, id, true)
    }

    /// [`insert`](Wheel::insert), or [`insert_early`](Wheel::insert_early)
    /// if `early`.
    fn add<T: Timers>(&mut self, timers: &mut T, id: u32, early: bool) -> u64 {
        debug_assert!(!timers.link(id).is_linked(), "timer {id} is in the wheel already");
        if self.sentinels.is_empty() {
            self.sentinels = (0..LISTS).map(|k| Link::empty(SENTINEL_BASE + k as u32)).collect();
        }
        self.len += 1;
        self.file(timers, id, early)
    }

    /// Links timer `id` into the list of its tick, or early (below the top
    /// level) if `early`, and records which; returns when that list is
    /// taken up (see [`insert`](Wheel::insert)).
    fn file<T: Timers>(&mut self, timers: &mut T, id: u32, early: bool) -> u64 {
        let when = timers.when(id);
        let (head, from, early) = if when <= self.elapsed {
            (PENDING, self.elapsed, false)
        } else {
            // Far-future timers are filed at most one top-level rotation
            // ahead and filed again when their slot comes round (the caller
            // checks `when` again).
            let filed = when.min(self.elapsed.saturating_add(MAX_AHEAD));
            let level = Self::level_for(self.elapsed, filed);
            let early = early && level < LEVELS - 1;
            let from = if early {
                Self::next_start(level, self.elapsed)
            } else {
                Level::start_of(level, filed)
            };
            let slot = self.levels[level].slot_for(from);
            self.levels[level].set_occupied(slot);
            (slot_list(level, slot), from, early)
        };
        list::push_back(&mut Self::nodes(&mut self.sentinels, timers), head, id);
        timers.set_early(id, early);
        from
    }

    /// Takes timer `id` out of its list (of the `len` timers, or deferred),
    /// clearing its slot's bit when the slot is left empty.
    fn unlink<T: Timers>(&mut self, timers: &mut T, id: u32) {
        let (prev, next) = list::unlink(&mut Self::nodes(&mut self.sentinels, timers), id);
        if prev == next && is_sentinel(prev) {
            let list = (prev - SENTINEL_BASE) as usize;
            if list < SLOT_LISTS {
                let (level, slot) = (list / SLOTS, list % SLOTS);
                self.levels[level].set_empty(slot);
                if self.cascading == Some((level, slot)) {
                    self.cascading = None;
                }
            }
        }
    }

    /// Takes timer `id` out of the wheel; nothing happens if it is not in it.
    pub(crate) fn remove<T: Timers>(&mut self, timers: &mut T, id: u32) {
        if timers.link(id).is_linked() {
            self.unlink(timers, id);
            self.len -= 1;
        }
    }

    /// Repairs the lists after the caller moved timer links, with their
    /// timer, to id `to` (the old id no longer in use).
    pub(crate) fn relink<T: Timers>(&mut self, timers: &mut T, to: u32) {
        list::relink(&mut Self::nodes(&mut self.sentinels, timers), to);
    }

    /// Hands back (and removes) one timer whose tick is at or before `now`,
    /// advancing the wheel as far as needed; `None` once nothing is due.
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

    /// One bounded step of polling: a due timer, or up to `CASCADE_STEP`
    /// timers of a slot being taken apart filed again (`Busy`: call again),
    /// or `Idle` when nothing is due at `now`. A slot of a high level can
    /// hold many timers; taking it apart a few at a time lets the caller
    /// release its lock in between.
    ///
    /// Ticks round deadlines down, so a timer handed back may still have
    /// some of its tick to run: give it to [`Wheel::defer`].
    pub(crate) fn poll_step<T: Timers>(&mut self, timers: &mut T, now: u64) -> Polled {
        if self.len == 0 {
            self.elapsed = self.elapsed.max(now);
            return Polled::Idle;
        }
        let pending = list::front(&Self::nodes(&mut self.sentinels, timers), PENDING);
        if let Some(id) = pending {
            self.unlink(timers, id);
            self.len -= 1;
            return Polled::Due(id);
        }
        if let Some((level, slot)) = self.cascading {
            for _ in 0..CASCADE_STEP {
                let head = slot_list(level, slot);
                let Some(id) = list::front(&Self::nodes(&mut self.sentinels, timers), head) else {
                    break;
                };
                self.unlink(timers, id);
                self.file(timers, id, false);
            }
            return Polled::Busy;
        }
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

    /// Puts a polled timer aside: `poll_step` skips it until
    /// [`Wheel::undefer`].
    pub(crate) fn defer<T: Timers>(&mut self, timers: &mut T, id: u32) {
        debug_assert!(!timers.link(id).is_linked(), "timer {id} is in the wheel already");
        list::push_back(&mut Self::nodes(&mut self.sentinels, timers), DEFERRED, id);
        timers.set_early(id, false);
        self.deferred_tick = self.elapsed;
        self.len += 1;
    }

    /// Makes the deferred timers pollable again: call it once at the start
    /// of each pass of polling, so that no pass sees a timer twice.
    pub(crate) fn undefer<T: Timers>(&mut self, timers: &mut T) {
        if !self.sentinels.is_empty() {
            list::splice_back(&mut Self::nodes(&mut self.sentinels, timers), PENDING, DEFERRED);
        }
    }

    /// The earliest occupied slot: level, slot and start tick.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        // Every timer of a lower level is due before any of a higher one.
        self.levels.iter().enumerate().find_map(|(n, level)| {
            level.next_expiration(self.elapsed).map(|(slot, start)| (n, slot, start))
        })
    }

    fn is_empty_list(&self, head: u32) -> bool {
        self.sentinels.get((head - SENTINEL_BASE) as usize).is_none_or(|l| l.next == head)
    }

    /// A tick `t` such that nothing in the wheel is due before the end of
    /// tick `t`: polling at any tick after `t` makes progress. `None` when
    /// the wheel is empty.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if !self.is_empty_list(PENDING) || self.cascading.is_some() {
            return Some(self.elapsed);
        }
        let deferred = (!self.is_empty_list(DEFERRED)).then_some(self.deferred_tick);
        let slot = self.next_slot().map(|(_, _, start)| start);
        match (deferred, slot) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    /// Walks every list, checking back links, the occupancy bitmaps, that
    /// every filed timer is due after `elapsed` and no earlier than its
    /// slot starts, and the count.
    /// Panics on a broken invariant.
    pub(crate) fn assert_invariants<T: TimerView>(&self, timers: &T) {
        if self.sentinels.is_empty() {
            assert_eq!(self.len, 0, "timers without lists");
            return;
        }
        let view = WheelView { sentinels: &self.sentinels, timers };
        let mut seen = 0;
        for (n, level) in self.levels.iter().enumerate() {
            for slot in 0..SLOTS {
                let head = slot_list(n, slot);
                if !level.is_occupied(slot) {
                    assert_eq!(
                        view.next(head),
                        head,
                        "bitmap of level {n}: slot {slot} holds timers"
                    );
                    continue;
                }
                let cascading = self.cascading == Some((n, slot));
                let start = level.slot_start(self.elapsed, slot);
                let count = list::walk(&view, head, |id| {
                    let when = timers.when(id);
                    assert!(when >= start, "timer {id} due before its slot (level {n}) starts");
                    if timers.is_early(id) {
                        assert!(
                            start <= Self::next_start(n, self.elapsed),
                            "early timer {id} past the slot after the wheel's (level {n})"
                        );
                    }
                    if cascading {
                        assert!(when >= self.elapsed, "overdue timer {id} in a cascade");
                    } else {
                        assert!(when > self.elapsed, "overdue timer {id} left in a slot");
                    }
                });
                assert!(count > 0, "bitmap of level {n}: slot {slot} is empty");
                seen += count;
            }
        }
        seen += list::walk(&view, PENDING, |_| {});
        seen += list::walk(&view, DEFERRED, |_| {});
        assert_eq!(seen, self.len, "timer count");
        if let Some((level, slot)) = self.cascading {
            assert!(self.levels[level].is_occupied(slot), "cascading an empty slot");
        }
    }
}

/// Timers in a plain vector, the way the table keeps them in its entries:
/// the store of the wheel's own tests and of the fuzz target.
#[cfg(any(test, fuzzing))]
#[derive(Default)]
pub(crate) struct VecTimers {
    pub(crate) when: Vec<u64>,
    pub(crate) links: Vec<Link>,
    pub(crate) early: Vec<bool>,
}

#[cfg(any(test, fuzzing))]
impl TimerView for VecTimers {
    fn when(&self, id: u32) -> u64 {
        self.when[id as usize]
    }
    fn link(&self, id: u32) -> &Link {
        &self.links[id as usize]
    }
    fn is_early(&self, id: u32) -> bool {
        self.early.get(id as usize).copied().unwrap_or(false)
    }
}

#[cfg(any(test, fuzzing))]
impl Timers for VecTimers {
    fn link_mut(&mut self, id: u32) -> &mut Link {
        &mut self.links[id as usize]
    }
    fn set_early(&mut self, id: u32, early: bool) {
        let i = id as usize;
        if i >= self.early.len() {
            self.early.resize(i + 1, false);
        }
        self.early[i] = early;
    }
}

#[cfg(test)]
mod tests;
