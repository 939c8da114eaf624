//! One level of the wheel: the slot arithmetic of 64 slots and a bitmap of
//! the occupied ones. The slots' lists themselves are in the wheel (their
//! sentinels) and in the timers (their links).

/// Slots per level.
pub(crate) const SLOTS: usize = 64;
/// Bits of a tick consumed per level (`SLOTS == 1 << BITS`).
pub(crate) const BITS: u32 = 6;

pub(crate) struct Level {
    /// Which level this is: a slot of level `n` spans `64^n` ticks.
    level: u32,
    /// Bit `s` is set when slot `s` holds a timer.
    occupied: u64,
}

impl Level {
    pub(crate) fn new(level: u32) -> Level {
        Level { level, occupied: 0 }
    }

    /// Ticks spanned by one slot of this level.
    fn slot_range(&self) -> u64 {
        1u64 << (BITS * self.level)
    }

    /// Ticks spanned by the whole level.
    fn level_range(&self) -> u64 {
        1u64 << (BITS * (self.level + 1))
    }

    /// The first tick of the slot of level `level` that holds tick `when`.
    pub(crate) fn start_of(level: usize, when: u64) -> u64 {
        when & !((1u64 << (BITS as usize * level)) - 1)
    }

    /// The slot of this level that holds tick `when`.
    pub(crate) fn slot_for(&self, when: u64) -> usize {
        ((when >> (BITS * self.level)) as usize) & (SLOTS - 1)
    }

    /// The start tick of slot `slot` as the wheel standing at `elapsed`
    /// will reach it: in the current rotation, or the next one if that
    /// start is behind `elapsed` (a slot behind `elapsed` holds timers one
    /// rotation ahead; only the top level, where far-future timers are
    /// clamped, holds such).
    pub(crate) fn slot_start(&self, elapsed: u64, slot: usize) -> u64 {
        let start = (elapsed & !(self.level_range() - 1)) + slot as u64 * self.slot_range();
        if start < elapsed {
            start.saturating_add(self.level_range())
        } else {
            start
        }
    }

    /// The next occupied slot at or after `elapsed`, with its start tick.
    pub(crate) fn next_expiration(&self, elapsed: u64) -> Option<(usize, u64)> {
        if self.occupied == 0 {
            return None;
        }
        let now_slot = self.slot_for(elapsed);
        let now_start = (elapsed & !(self.level_range() - 1)) + now_slot as u64 * self.slot_range();
        // The current slot comes first only if the wheel stands at its very
        // start; otherwise what it holds is one rotation ahead (top level
        // only), so the search starts at the slot after it.
        let first = if now_start == elapsed { now_slot } else { (now_slot + 1) % SLOTS };
        let rotated = self.occupied.rotate_right(first as u32);
        let slot = (rotated.trailing_zeros() as usize + first) % SLOTS;
        Some((slot, self.slot_start(elapsed, slot)))
    }

    pub(crate) fn set_occupied(&mut self, slot: usize) {
        self.occupied |= 1 << slot;
    }

    pub(crate) fn set_empty(&mut self, slot: usize) {
        self.occupied &= !(1 << slot);
    }

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn is_occupied(&self, slot: usize) -> bool {
        self.occupied & (1 << slot) != 0
    }
}
