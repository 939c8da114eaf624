//! The eviction policy of a bounded cache: W-TinyLFU (Einziger et al.,
//! Caffeine) on CLOCK lists, with a window sized by shadow queues.
//!
//! Three queues, intrusive lists through the entries (see `entry`):
//! - the *window*, where new keys start: a small FIFO with second chances,
//!   which gives every newcomer a short life of its own;
//! - *probation* and *protected*, the main space: an entry read while on
//!   probation is promoted to protected, which holds at most 80 % of main;
//!   protected's overflow goes back to probation.
//!
//! When the cache is full and the window overflows, its oldest unread entry
//! (the candidate) meets main's victim (probation's oldest unread entry)
//! in a duel: the one a frequency sketch says is asked for more often
//! stays (TinyLFU admission, `sketch`). A hit only bumps the entry's 3-bit
//! read counter under the shard's shared lock: nothing moves, nothing
//! shared is written. Whenever a queue's hand passes an entry, the reads it
//! gathered are added to the sketch and the counter cleared, so the sketch
//! learns of hits without the read path touching it; misses count there
//! directly.
//!
//! The window's size adapts, as ARC's lists do, to marginal evidence: two
//! shadows remember the keys lately evicted from the window and from main.
//! A miss on a key the window let go grows the window by that key's
//! weight; a miss on a key main let go shrinks it. A key the window
//! rejected and that is asked for again soon goes straight to probation.
//!
//! With weights, one key can displace many, and a per-request hit ratio
//! is won by keeping many light keys rather than a few heavy ones. A key
//! heavier than main's victim, whether the window's candidate or a new
//! key that needs more room than the victim frees, takes the place of as
//! many of probation's oldest entries as its weight needs, and must be
//! asked for more often than all of them together (size-aware TinyLFU's
//! "aggregated victims", Einziger et al. 2021, as moka admits). A new key
//! is judged before anything is evicted for it (`refuses`), and one that
//! loses is left out. A key that fits in the victim's room goes through
//! the window as in a cache without weights, where every key weighs the
//! same and none of this applies. On the `weighted` workload this took
//! the hit ratio at 1% and 10% of the bytes from 57.1% and 76.2% to
//! 67.2% and 83.0% (three fixed hash seeds), and over 32 rows of the
//! recorded traces with the same weights (OLTP and the LIRS traces at 5%
//! to 40% of their bytes) by 3.23 points on average, from +11.2 to −5.5
//! (lirs-sprite at 10%: recency pays there). Judging every new key at the
//! door instead, light ones too: 66.5% and 81.4%, +0.19 on the traces,
//! −9.2 at worst; with one victim's count instead of the sum: −2.0.
//!
//! The sketch and the shadows grow with the entries a shard holds, up to
//! the most it can hold (`most`). With weights that is its share of the
//! capacity's weight, not the share in entries, which is only a guess at
//! the weights: a cache of light keys holds many more entries than the
//! guess, and a memory of keys sized for the guess ages its counts so
//! often that they tell little. Against stopping at the guess: on the
//! `weighted` workload 69.0% and 83.0% (from 67.2% and 83.0%), with its
//! weights divided by 256 (plus one) 61.9% and 79.6% (from 57.4% and
//! 77.8%), and on the weighted traces −0.12 on average (−2.35 at worst,
//! lirs-sprite at 5%).
//!
//! Other ways to size the window, or to admit to main, lost hit ratio
//! against these over the 40 trace/size rows of the OLTP and LIRS traces
//! (one shard, fixed hash seeds, so the figures are exact; mean change in
//! points, worst row):
//! - Caffeine's hill climber on the exact hit rate instead of the shadows
//!   (a sample of ten capacities, steps of 6.25 % decaying by 0.98,
//!   restarted on a 5-point change): −0.46, worst −2.3. With a sample of
//!   three capacities it adapts fast enough for lirs-sprite at 40 % (+0.5
//!   there) and −1.3 on average, −8.8 at worst. Added to the shadows:
//!   −0.11, and −0.75 with the short sample.
//! - ARC's sizing of the shadows (the window's as deep as main, main's as
//!   deep as the window, in the same memory): −0.78, worst −5.0.
//! - Shadows that age together (by every eviction, from either side):
//!   −0.52, worst −7.5.
//! - Unequal steps: a window growing twice as fast −0.62, shrinking twice
//!   as fast −0.12. A fixed window of 1 %: −0.59, worst −5.1.
//! - Faster steps: 1/1024, 1/256 or 1/64 of the shard a shadow hit:
//!   −0.01, −0.14, −0.88 (worst −7.8); a step that doubles while batches
//!   of 32 (128) shadow hits lean the same way, and halves when they do
//!   not: −0.37 (−0.15). They pay only where a trace is short for its
//!   cache: on lirs-sprite at 40 % (47 capacities long) the unit steps
//!   are still growing the window, from 1 % to about 20 %, when it ends.
//! - A first window of 5 %, 20 % or 50 %, instead of 1 %: −0.14, −0.83,
//!   −2.53.
//! - Protected at 50 %, 67 % or 90 % of main, instead of 80 %: −0.05,
//!   −0.03, −0.17.
//! - Shadows remembering 30 % of the entries: −0.28; 5 %: the same as 10 %
//!   on average, rows moving by up to 0.7.
//! - Admitting the window's candidate on a tie with main's victim: −1.78.
//!   Only while the window is over a twentieth, a tenth, a fifth or a
//!   third of the shard (the shadows' sign that recency pays): −0.03 to
//!   +0.02 (worst −0.84 to −0.39), and lirs-sprite's rows within 0.1 of
//!   as they are (over these rows and P12's two, one shard, two fixed
//!   hash seeds). Only when both were asked for once so far (the victim
//!   a key let in while the cache filled, say): −0.73 (worst −7.0,
//!   lirs-multi3 at 20 %), lirs-sprite at 40 % 0.08 further below LRU.
//! - Steps that grow with the window (a shadow hit moves it by the key's
//!   weight or by an eighth, a 32nd or a 128th of the window, whichever is
//!   more): −0.44, −0.14, −0.07 (worst −3.6, −1.5, −1.4). They take
//!   lirs-sprite at 40 % 0.55, 0.54 and 0.17 nearer LRU, and at 10 %
//!   +0.08, −0.22 and −0.10 (over these rows and P12's two, one shard,
//!   two fixed hash seeds).
//! - Steps that start large and shrink (a shadow hit moves the window by
//!   the key's weight or by a boost, whichever is more; the boost starts
//!   at a share of the shard and loses a fraction of itself at every
//!   shadow hit), over the same rows: starting at 1 % and losing a
//!   thousandth, −0.35 (worst −5.5, lirs-multi3 at 20 %), with lirs-sprite
//!   at 10 %, 20 % and 40 % within half a point of LRU (−0.16, −0.45,
//!   −0.35, from −0.60, −0.43, −0.94) and P12 at 524,288 at 62.96 %; 3 %
//!   and a 300th, −0.80, lirs-sprite within half a point too; 0.5 % and a
//!   thousandth, −0.12 (worst −1.7), lirs-sprite still 0.53 to 0.54 below
//!   LRU; 1 % and a hundredth, −0.25; boosting growth alone, −0.29 to
//!   −0.65. The loops of the lirs-multi traces pay for the early steps.
//!   With the window held at 80 % of the shard, lirs-sprite at 40 % hits
//!   93.97 % (LRU 94.08 %) and at 10 % 86.22 % (LRU 86.51 %): what those
//!   rows lack is how fast the window grows. P12 at 524,288 peaks at
//!   63.02 % with a window held at 30 % (six held sizes from 1 % to
//!   95 %), below ARC's 63.56 %: not the window there.
//!
//! Where this policy stays below ARC (P12 with 524,288 entries, 62.49 %
//! against ARC's published 63.56 %) and below LRU (lirs-sprite at 10 % and
//! 40 % of its keys), it is the admission duel that costs, not the queues:
//! admitting every candidate moves those rows by +0.82, −0.50 and +0.43
//! points, and with the window held at 1 % and protected at 70 % of main
//! by +1.25, +0.26 and +0.52 (P12 to 63.74 %, above ARC, and both
//! lirs-sprite rows within half a point of LRU), but either loses about 8
//! points on average (8.0 and 7.9) over the 42 rows of the OLTP, P12 and
//! LIRS traces (one shard, two fixed hash seeds), up to 36 on the
//! frequency-driven ones. None of these ways to let in more of the
//! candidates only where it pays was kept:
//! - A fixed allowance (admitting a candidate counted 1 or 2 less than the
//!   victim): −1.58 and −2.80 (P12 at 524,288 +0.05 and +0.39).
//! - An allowance moved by the shadows' evidence (up one on a hit in the
//!   window's shadow, down one on a hit in main's, scaled down by 1, 16 or
//!   256): −2.38, −0.36 and −0.03 (P12 at 524,288 +0.33 to +0.45).
//! - Admitting every candidate while the window is over 10 % to 30 % of
//!   the shard (the shadows' sign that recency pays): −0.30 to −0.04, and
//!   P12 at 8192 −0.77 to −1.01 at every threshold.
//! - Trials: admitting the rejected candidates of a fixed share of the
//!   keys (by hash), and opening admission (window 1 %, protected 70 %)
//!   while more of those trials are read on probation than main's victims
//!   come back (as its shadow tells, weighed by 1 to 10 for its shorter
//!   memory). Trials for one key in 16 cost −1.89 on their own, with the
//!   switch −1.90 to −2.23 (P12 at 524,288 +0.41 to +0.56); for one in
//!   256, −0.05 on their own and −0.07 and −0.24 with the switch (P12 at
//!   524,288 +0.51 and +0.52, lirs-sprite within 0.1 of as it is: its
//!   trace is too short for enough trials).
//! - A victim worn down by the duels it wins (counted one less for each 1,
//!   2, 4, 8 or 16 candidates it kept out, so that a key counted often
//!   long ago cannot hold probation's front for ever): −4.42 to −1.13,
//!   up to −20.7 on lirs-ps, where the victim is rightly kept against a
//!   scan; P12 at 524,288 +0.42 at most.
//! - A longer memory for the returning rule alone (the candidates the duel
//!   rejected, remembered over 15 % to 200 % of the shard's entries, the
//!   window's sizing left to the shadows): +0.05 to +0.09 on average for
//!   15 % to 50 % (+0.03 to +0.06 under four other seeds), P12 at 524,288
//!   +0.04 to +0.33; but lirs-sprite at 40 % 0.04 to 0.11 further below
//!   LRU at every span (at 10 %: +0.09 to −0.23), and at each span some
//!   row 0.34 to 1.14 lower; 100 % and 200 %: −0.12 and −0.64.
//!
//! Nor does it pay to choose between the duel and open admission by
//! measuring both on the same requests. Picking the better of the two for
//! each row, knowing the outcome, gains only 0.05 on average. A cache
//! switching to whichever of two full-size simulations of the two hit more
//! over the last 8 or 32 capacities' worth of requests lost 0.52 (−7.4 on
//! lirs-multi1 at 521 entries: a switch leaves the cache in a state
//! neither simulation had), and lost 0.04 with a 5 % margin, which no
//! longer opened on P12; with sampled simulations of 512 to 8192 entries
//! it lost 0.02 to 0.24.
//!
//! Nor does the read path lose hit ratio by writing nothing shared:
//! - Counting a hit in the sketch when it happens, rather than when a hand
//!   passes the entry: −0.01, rows within −0.25 and +0.37.
//! - LRU order in every queue (a hit moves its entry to the back of its
//!   queue, promoting it from probation at once, and counts in the sketch
//!   at once): −0.05, worst −2.2.
//!
//! The queues are lists, so their order survives removals anywhere: an
//! entry removed by a call or by expiry just leaves its queue (and no
//! shadow: it was not the policy's choice).

use super::entry::Entry;
use super::sketch::{mix, Left, Shadows, Sketch};
use crate::list::{self, is_sentinel, Link, Links, Nodes, NIL, SENTINEL_BASE};

/// Where new keys start.
const WINDOW: u8 = 0;
/// Main, waiting to prove itself.
const PROBATION: u8 = 1;
/// Main, read since it was last on probation.
const PROTECTED: u8 = 2;
const QUEUES: usize = 3;

/// The window's share of a shard at first: one in a hundred.
const WINDOW_START: u64 = 100;
/// Protected's most of main: all but a fifth.
const PROTECTED_SHARE_DIVISOR: u64 = 5;
/// What each shadow remembers: a tenth of the shard's entries.
const SHADOW_SHARE: f64 = 0.1;
/// The most probation entries that a key heavier than main's victim is
/// weighed against, past the victim.
const DISPLACED_LOOKS: usize = 32;

fn head(queue: u8) -> u32 {
    SENTINEL_BASE + u32::from(queue)
}

/// The entries' policy links and the queues' sentinels, as list nodes.
struct Order<'a, K, V> {
    sentinels: &'a mut [Link; QUEUES],
    entries: &'a mut [Entry<K, V>],
}

impl<K, V> Links for Order<'_, K, V> {
    #[inline]
    fn prev(&self, id: u32) -> u32 {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].prev
        } else {
            self.entries[id as usize].order_prev()
        }
    }
    #[inline]
    fn next(&self, id: u32) -> u32 {
        if is_sentinel(id) {
            self.sentinels[(id - SENTINEL_BASE) as usize].next
        } else {
            self.entries[id as usize].order_next()
        }
    }
}

/// An id past the entries is a sentinel's (the entries stop short of
/// `SENTINEL_BASE`), so one bounds check tells the two apart.
impl<K, V> Nodes for Order<'_, K, V> {
    #[inline]
    fn set_prev(&mut self, id: u32, prev: u32) {
        match self.entries.get_mut(id as usize) {
            Some(entry) => entry.set_order_prev(prev),
            None => self.sentinels[(id - SENTINEL_BASE) as usize].prev = prev,
        }
    }
    #[inline]
    fn set_next(&mut self, id: u32, next: u32) {
        match self.entries.get_mut(id as usize) {
            Some(entry) => entry.set_order_next(next),
            None => self.sentinels[(id - SENTINEL_BASE) as usize].next = next,
        }
    }
}

/// What the policy needs to know of the entries beyond their links: their
/// weight and their key's hash (`None` if the key's `Hash` panicked).
pub(crate) trait Weighed<K, V> {
    /// Whether entries have weights of their own (else each weighs 1).
    fn is_weighted(&self) -> bool;
    fn weight(&self, id: u32) -> u64;
    fn hash(&self, entry: &Entry<K, V>) -> Option<u64>;
}

/// An evicted entry: its id, its key's hash (`None` if the key's `Hash`
/// panicked) and its weight.
pub(crate) type Evicted = (u32, Option<u64>, u64);

/// A shard's policy state (under the shard's lock).
pub(crate) struct Policy {
    sentinels: [Link; QUEUES],
    /// The weight on each queue.
    weight: [u64; QUEUES],
    /// The shard's share of the capacity when the cache was built.
    share: u64,
    /// The entries the sketch and the shadows are sized for: they grow
    /// with the shard, up to `most`.
    sized_for: usize,
    /// The most entries the shard can hold (see `Layout::most`).
    most: usize,
    /// The window's target weight, adapted by the shadows.
    window: u64,
    sketch: Sketch,
    /// Keys lately evicted from the window, and from main.
    shadows: Shadows,
    /// A key the window lately rejected, asked for again: it joins
    /// probation when inserted.
    returning: Option<u64>,
    /// The new key whose miss was already counted (by the eviction that
    /// made room for it, before it is admitted), and whether the window's
    /// shadow remembered it then.
    counted: Option<(u64, bool)>,
    /// The duel's coin.
    coin: u64,
}

impl Policy {
    /// The policy of a shard whose share of the capacity is about `share`
    /// entries, and at most `most`, in a cache of `shards`.
    pub(crate) fn new(share: usize, most: usize, shards: usize) -> Self {
        let sized_for = share.clamp(1, Self::FIRST_SIZE);
        Policy {
            sentinels: [
                Link::empty(head(WINDOW)),
                Link::empty(head(PROBATION)),
                Link::empty(head(PROTECTED)),
            ],
            weight: [0; QUEUES],
            share: share.max(2) as u64,
            sized_for,
            most: most.max(share.max(2)),
            window: Self::first_window(share as u64),
            sketch: Sketch::new(sized_for, shards),
            shadows: Shadows::new(Self::shadow_keys(sized_for)),
            returning: None,
            counted: None,
            coin: 0x853C_49E6_748F_EA9B,
        }
    }

    /// The window's first target for a share of `share`: a hundredth of it
    /// (rounded), at least 1.
    fn first_window(share: u64) -> u64 {
        (share.saturating_add(WINDOW_START / 2) / WINDOW_START).clamp(1, u64::from(u32::MAX))
    }

    /// The entries the sketch and shadows are first sized for.
    const FIRST_SIZE: usize = 1024;

    /// Keys a shadow generation holds for `entries` entries.
    fn shadow_keys(entries: usize) -> usize {
        ((entries as f64 * SHADOW_SHARE * 2.0 / 3.0).ceil() as usize).max(1)
    }

    /// Sizes the sketch and the shadows for a shard that holds `entries`
    /// entries, doubling them as it grows, up to `most`; they keep
    /// what they counted and remembered (see `Sketch::grow`).
    #[inline]
    fn grow(&mut self, entries: usize) {
        // Checked on every insert, needed on a few: the check goes inline.
        if entries > self.sized_for && self.sized_for < self.most {
            self.regrow(entries);
        }
    }

    /// [`grow`](Policy::grow)'s work, once the shard outgrew its sizing.
    #[inline(never)]
    fn regrow(&mut self, entries: usize) {
        self.sized_for = entries.max(self.sized_for.saturating_mul(2)).min(self.most);
        self.sketch.grow(self.sized_for);
        self.shadows.grow(Self::shadow_keys(self.sized_for));
    }

    fn order<'a, K, V>(
        sentinels: &'a mut [Link; QUEUES],
        entries: &'a mut [Entry<K, V>],
    ) -> Order<'a, K, V> {
        Order { sentinels, entries }
    }

    /// The first entry of `queue`: its sentinel's next link, read without
    /// going through the entries.
    #[inline]
    fn front(&self, queue: u8) -> Option<u32> {
        let first = self.sentinels[queue as usize].next;
        (first != head(queue)).then_some(first)
    }

    /// Links entry `id` (on no queue's list) in at the back of `queue`'s.
    /// The entry and the sentinel are known for what they are: only the
    /// old last node, an entry or the sentinel itself, needs telling
    /// apart.
    #[inline(always)]
    fn link_back<K, V>(&mut self, entries: &mut [Entry<K, V>], queue: u8, id: u32) {
        let sentinel = &mut self.sentinels[queue as usize];
        let last = sentinel.prev;
        sentinel.prev = id;
        let entry = &mut entries[id as usize];
        entry.set_order_prev(last);
        entry.set_order_next(head(queue));
        Self::order(&mut self.sentinels, entries).set_next(last, id);
    }

    /// Joins entry `id`'s neighbours to each other, leaving its own links
    /// stale: the caller links it in again, or marks it unlinked.
    #[inline(always)]
    fn unlink<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32) {
        let entry = &entries[id as usize];
        let (prev, next) = (entry.order_prev(), entry.order_next());
        let mut order = Self::order(&mut self.sentinels, entries);
        order.set_next(prev, next);
        order.set_prev(next, prev);
    }

    #[inline(always)]
    fn push<K, V>(&mut self, entries: &mut [Entry<K, V>], queue: u8, id: u32, weight: u64) {
        entries[id as usize].set_queue(queue);
        self.weight[queue as usize] += weight;
        self.link_back(entries, queue, id);
    }

    #[inline(always)]
    fn pop<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32, weight: u64) -> u8 {
        let queue = entries[id as usize].queue();
        self.weight[queue as usize] -= weight;
        self.unlink(entries, id);
        let entry = &mut entries[id as usize];
        entry.set_order_prev(NIL);
        entry.set_order_next(NIL);
        queue
    }

    /// Moves entry `id` from the queue it is on to the back of `to`.
    #[inline(always)]
    fn relist<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32, to: u8, weight: u64) {
        let from = entries[id as usize].queue();
        self.weight[from as usize] -= weight;
        self.unlink(entries, id);
        self.push(entries, to, id, weight);
    }

    /// Moves entry `id`, on `queue`, to its back: no weight changes queue.
    #[inline(always)]
    fn requeue<K, V>(&mut self, entries: &mut [Entry<K, V>], queue: u8, id: u32) {
        self.unlink(entries, id);
        self.link_back(entries, queue, id);
    }

    /// The shard's size now: its share, or the weight on the queues if a
    /// write went over it.
    #[inline]
    fn size(&self) -> u64 {
        let [window, probation, protected] = self.weight;
        self.share.max(window + probation + protected)
    }

    /// The window's and protected's most at the shard's size now. Moving
    /// entries between queues changes neither, so an eviction or an
    /// admission works them out once, when the window's target and the
    /// weight on the queues are settled.
    #[inline]
    fn limits(&self) -> (u64, u64) {
        let size = self.size();
        let window = self.window.clamp(1, size - 1);
        // ⌊main · 4/5⌋ without overflow: main − ⌈main / 5⌉.
        let main = size - window;
        let protected = main - main.div_ceil(PROTECTED_SHARE_DIVISOR);
        (window, protected)
    }

    /// Adds the reads entry `id` gathered since a hand last passed it to
    /// the sketch, and clears them.
    fn fold<K, V>(&mut self, entries: &mut [Entry<K, V>], of: &impl Weighed<K, V>, id: u32) {
        let reads = entries[id as usize].freq();
        if reads > 0 {
            entries[id as usize].set_freq(0);
            if let Some(hash) = of.hash(&entries[id as usize]) {
                self.sketch.add(hash, u64::from(reads));
            }
        }
    }

    /// The window's oldest entry not read since the hand last passed it.
    #[inline]
    fn window_candidate<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
    ) -> Option<u32> {
        // Most often the oldest entry itself, found without a call.
        let id = self.front(WINDOW)?;
        if entries[id as usize].freq() == 0 {
            return Some(id);
        }
        self.window_hand(entries, of)
    }

    /// The window's hand, from its oldest entry: passes the read ones on to
    /// the back (their reads to the sketch) up to the first one not read.
    #[inline(never)]
    fn window_hand<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
    ) -> Option<u32> {
        for _ in 0..=entries.len() {
            let id = self.front(WINDOW)?;
            if entries[id as usize].freq() == 0 {
                return Some(id);
            }
            self.fold(entries, of, id);
            self.requeue(entries, WINDOW, id);
        }
        self.front(WINDOW)
    }

    /// Main's victim: probation's oldest entry not read since the hand
    /// last passed it (read ones are promoted on the way, protected kept
    /// to `protected_most`).
    #[inline]
    fn main_victim<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        protected_most: u64,
    ) -> Option<u32> {
        // Most often probation's oldest entry itself, found without a call.
        if let Some(id) = self.front(PROBATION) {
            if entries[id as usize].freq() == 0 {
                return Some(id);
            }
        }
        self.main_hand(entries, of, protected_most)
    }

    /// Main's hand, from probation's oldest entry (or, probation empty,
    /// protected's): promotes the read ones up to the first one not read.
    #[inline(never)]
    fn main_hand<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        protected_most: u64,
    ) -> Option<u32> {
        for _ in 0..=2 * entries.len() {
            let id = match self.front(PROBATION) {
                Some(id) => id,
                None => {
                    let oldest = self.front(PROTECTED)?;
                    self.relist(entries, oldest, PROBATION, of.weight(oldest));
                    oldest
                }
            };
            if entries[id as usize].freq() == 0 {
                return Some(id);
            }
            self.fold(entries, of, id);
            self.relist(entries, id, PROTECTED, of.weight(id));
            self.balance_protected(entries, of, protected_most);
        }
        self.front(PROBATION)
    }

    /// Sends protected's overflow over `most` back to probation (read
    /// entries get a second chance first).
    #[inline]
    fn balance_protected<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        most: u64,
    ) {
        // Most often there is none, seen without a call.
        if self.weight[PROTECTED as usize] > most {
            self.demote(entries, of, most);
        }
    }

    /// [`balance_protected`](Policy::balance_protected)'s work, once
    /// protected is over `most`.
    #[inline(never)]
    fn demote<K, V>(&mut self, entries: &mut [Entry<K, V>], of: &impl Weighed<K, V>, most: u64) {
        let mut looks = entries.len();
        while self.weight[PROTECTED as usize] > most && looks > 0 {
            looks -= 1;
            let Some(id) = self.front(PROTECTED) else {
                return;
            };
            if entries[id as usize].freq() > 0 {
                self.fold(entries, of, id);
                self.requeue(entries, PROTECTED, id);
            } else {
                self.relist(entries, id, PROBATION, of.weight(id));
            }
        }
    }

    /// Whether a key asked for `c` times (the sketch's estimate) should
    /// take the place of main's victim, asked for `v` times: it is asked
    /// for more often (Caffeine's rule, with a rare random admission of a
    /// popular key against hash flooding).
    #[inline]
    fn admits(&mut self, c: u64, v: u64) -> bool {
        if c > v {
            return true;
        }
        if c < 6 {
            return false;
        }
        self.coin = mix(self.coin.wrapping_add(0x9E37_79B9_7F4A_7C15));
        self.coin & 127 == 0
    }

    /// [`admits`](Policy::admits) for a key of a weighted cache that needs
    /// `needed` of room: one heavier than the victim takes the place of as
    /// many of probation's oldest entries as its weight needs, so it must
    /// be asked for more often than all of them together (see
    /// `displaced`).
    #[inline(never)]
    fn outweighs<K, V>(
        &mut self,
        entries: &[Entry<K, V>],
        of: &impl Weighed<K, V>,
        (c, needed): (u64, u64),
        (victim, v): (u32, u64),
    ) -> bool {
        let freed = of.weight(victim);
        let mut v = v;
        if needed > freed {
            match self.displaced(entries, of, victim, needed - freed, c.saturating_sub(v)) {
                Some(more) => v += more,
                None => return false,
            }
        }
        self.admits(c, v)
    }

    /// How often the probation entries after `victim` that a key `more`
    /// heavier than it would also displace, oldest first, were asked for
    /// together (each its estimate plus the reads it gathered since a hand
    /// passed it). `None` once that sum reaches `beaten` (the key loses
    /// anyway), or when the next `DISPLACED_LOOKS` entries do not weigh
    /// `more`: the key loses then too.
    #[inline(never)]
    fn displaced<K, V>(
        &self,
        entries: &[Entry<K, V>],
        of: &impl Weighed<K, V>,
        victim: u32,
        mut more: u64,
        beaten: u64,
    ) -> Option<u64> {
        let mut sum = 0;
        let mut id = entries[victim as usize].order_next();
        for _ in 0..DISPLACED_LOOKS {
            // Past probation's last entry comes its sentinel, past the
            // entries: `get` ends the walk there.
            let entry = entries.get(id as usize)?;
            sum += of.hash(entry).map_or(0, |h| self.sketch.estimate(h)) + u64::from(entry.freq());
            if sum >= beaten {
                return None;
            }
            let weight = of.weight(id);
            if weight >= more {
                return Some(sum);
            }
            more -= weight;
            id = entry.order_next();
        }
        None
    }

    /// Whether a new key of a weighted cache, whose hash is `hash` and
    /// weight `weight`, should be left out rather than make the `missing`
    /// part of its room by evicting: asked before anything is evicted for
    /// it. A key that would displace more than main's victim must be asked
    /// for more often than all the entries it displaces together
    /// (`outweighs`), or it is refused (and its next miss counts again). A
    /// key that fits in the victim's room goes in as every key of a cache
    /// without weights does: through the window, to meet main's victims as
    /// its candidate later.
    pub(crate) fn refuses<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        hash: u64,
        weight: u64,
        missing: u64,
    ) -> bool {
        self.count_once(hash, weight);
        let (_, protected_most) = self.limits();
        let Some(victim) = self.main_victim(entries, of, protected_most) else {
            return false;
        };
        if missing <= of.weight(victim) {
            return false;
        }
        let c = self.sketch.estimate(hash);
        let v = of.hash(&entries[victim as usize]).map_or(0, |h| self.sketch.estimate(h));
        if self.outweighs(entries, of, (c, missing), (victim, v)) {
            return false;
        }
        self.counted = None;
        true
    }

    /// Counts the miss of a new key whose hash is `hash`, of `weight`,
    /// unless it was counted already (an earlier eviction for the same
    /// key); returns whether the window's shadow remembered it.
    #[inline]
    fn count_once(&mut self, hash: u64, weight: u64) -> bool {
        match self.counted {
            Some((counted, from_window)) if counted == hash => from_window,
            _ => {
                let from_window = self.count_miss(hash, weight);
                self.counted = Some((hash, from_window));
                from_window
            }
        }
    }

    /// Takes an evicted entry off its queue and remembers its key in the
    /// shadow of where it left from; returns it with its key's hash (`None`
    /// if its `Hash` panicked) and its weight, so that the shard need not
    /// work them out again.
    #[inline]
    fn evict<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        id: u32,
        hash: Option<u64>,
    ) -> Evicted {
        let weight = of.weight(id);
        let queue = self.pop(entries, id, weight);
        if let Some(hash) = hash {
            self.shadows.insert(if queue == WINDOW { Left::Window } else { Left::Main }, hash);
        }
        (id, hash, weight)
    }

    /// Picks the entry to evict to make room for a new key whose hash is
    /// `incoming` (`None`: room for a heavier value of an entry already
    /// there), never `protect`; takes it off its queue. `None` when there
    /// is nothing else to evict. The victim comes with its key's hash and
    /// its weight.
    pub(crate) fn victim<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        protect: Option<u32>,
        incoming: Option<(u64, u64)>,
    ) -> Option<Evicted> {
        let spared = protect.map(|id| {
            let weight = of.weight(id);
            (id, self.pop(entries, id, weight), weight)
        });
        let victim =
            self.choose(entries, of, incoming).map(|(id, hash)| self.evict(entries, of, id, hash));
        if let Some((id, queue, weight)) = spared {
            self.push(entries, queue, id, weight);
        }
        self.prefetch_fronts(entries);
        victim
    }

    /// Starts fetching the second entry of the window and of probation.
    /// The next eviction takes the first off its queue, which writes the
    /// second's link; the first is in the cache already (this eviction
    /// wrote its link), the second, added long ago, seldom is.
    #[inline]
    fn prefetch_fronts<K, V>(&self, entries: &[Entry<K, V>]) {
        // A sentinel's id is past the entries: `get` skips it.
        for queue in [WINDOW, PROBATION] {
            let first = self.sentinels[queue as usize].next;
            if let Some(first) = entries.get(first as usize) {
                if let Some(second) = entries.get(first.order_next() as usize) {
                    super::entry::prefetch(second);
                }
            }
        }
    }

    /// The entry to evict (see [`victim`](Policy::victim)), with its key's
    /// hash; still on its queue.
    fn choose<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        incoming: Option<(u64, u64)>,
    ) -> Option<(u32, Option<u64>)> {
        let from_window = incoming.is_some_and(|(hash, weight)| self.count_once(hash, weight));
        // Only the miss just counted moves the window's target, and no
        // entry leaves the queues before the victim: the limits hold for
        // the whole choice.
        let (window_most, protected_most) = self.limits();
        if let Some((hash, _)) = incoming {
            if self.returning != Some(hash) && from_window {
                // Asked for again soon after the window let it go: it goes
                // to probation, in the place of main's victim.
                if let Some(victim) = self.main_victim(entries, of, protected_most) {
                    self.returning = Some(hash);
                    return Some((victim, of.hash(&entries[victim as usize])));
                }
            }
        }
        let coming = if self.returning.is_some() { 0 } else { incoming.map_or(0, |(_, w)| w) };
        if self.weight[WINDOW as usize] + coming > window_most {
            if let Some(candidate) = self.window_candidate(entries, of) {
                let candidate_hash = of.hash(&entries[candidate as usize]);
                let Some(victim) = self.main_victim(entries, of, protected_most) else {
                    return Some((candidate, candidate_hash));
                };
                let victim_hash = of.hash(&entries[victim as usize]);
                let estimate = |h: Option<u64>, s: &Sketch| h.map_or(0, |h| s.estimate(h));
                let (c, v) =
                    (estimate(candidate_hash, &self.sketch), estimate(victim_hash, &self.sketch));
                let admitted = if of.is_weighted() {
                    self.outweighs(entries, of, (c, of.weight(candidate)), (victim, v))
                } else {
                    self.admits(c, v)
                };
                if !admitted {
                    return Some((candidate, candidate_hash));
                }
                self.relist(entries, candidate, PROBATION, of.weight(candidate));
                self.balance_protected(entries, of, protected_most);
                return Some((victim, victim_hash));
            }
        }
        if let Some(victim) = self.main_victim(entries, of, protected_most) {
            return Some((victim, of.hash(&entries[victim as usize])));
        }
        let candidate = self.window_candidate(entries, of)?;
        Some((candidate, of.hash(&entries[candidate as usize])))
    }

    /// Places a new entry whose key hashes to `hash`: counted in the
    /// sketch (a miss), the window adapted by the shadows, then into the
    /// window (or probation, for a key the window lately let go); a window
    /// left over its size passes its oldest entries to probation (room was
    /// made before, so nothing is evicted here).
    #[inline]
    pub(crate) fn admit<K, V>(
        &mut self,
        entries: &mut [Entry<K, V>],
        of: &impl Weighed<K, V>,
        id: u32,
        hash: u64,
        occupied: usize,
    ) {
        self.grow(occupied);
        let weight = of.weight(id);
        if self.counted.take().map(|(counted, _)| counted) != Some(hash) {
            self.count_miss(hash, weight);
        }
        entries[id as usize].set_freq(0);
        let queue = if self.returning.take() == Some(hash) { PROBATION } else { WINDOW };
        self.push(entries, queue, id, weight);
        let (window_most, protected_most) = self.limits();
        let mut looks = entries.len();
        while self.weight[WINDOW as usize] > window_most && looks > 0 {
            looks -= 1;
            let Some(candidate) = self.window_candidate(entries, of) else {
                break;
            };
            self.relist(entries, candidate, PROBATION, of.weight(candidate));
        }
        self.balance_protected(entries, of, protected_most);
    }

    /// Counts a miss of `hash`'s key (a new key of `weight` coming in) in
    /// the sketch, and moves the window's target by the shadows' evidence;
    /// returns whether the window's shadow remembers the key.
    #[inline]
    fn count_miss(&mut self, hash: u64, weight: u64) -> bool {
        self.sketch.add(hash, 1);
        let size = self.size();
        match self.shadows.recall(hash) {
            [true, _] => {
                self.window = self.window.saturating_add(weight).min(size - 1);
                true
            }
            [false, from_main] => {
                if from_main {
                    self.window = self.window.saturating_sub(weight).max(1);
                }
                false
            }
        }
    }

    /// Starts fetching what counting a miss of `hash`'s key reads: its
    /// blocks of the sketch and of the shadows.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        self.sketch.prefetch(hash);
        self.shadows.prefetch(hash);
    }

    /// Takes an entry that is leaving the cache (not by eviction) off its
    /// queue.
    pub(crate) fn forget<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32, weight: u64) {
        self.pop(entries, id, weight);
    }

    /// An entry's weight changed from `old` to `new`.
    pub(crate) fn reweigh<K, V>(&mut self, entries: &[Entry<K, V>], id: u32, old: u64, new: u64) {
        let queue = entries[id as usize].queue() as usize;
        self.weight[queue] = self.weight[queue] - old + new;
    }

    /// Forgets every entry, count and shadow (the shard was emptied).
    pub(crate) fn clear(&mut self) {
        self.sentinels =
            [Link::empty(head(WINDOW)), Link::empty(head(PROBATION)), Link::empty(head(PROTECTED))];
        self.weight = [0; QUEUES];
        self.window = Self::first_window(self.share);
        self.sketch.clear();
        self.shadows.clear();
        self.returning = None;
        self.counted = None;
    }

    /// Relinks an entry moved to id `to` by a compaction.
    pub(crate) fn relink<K, V>(&mut self, entries: &mut [Entry<K, V>], to: u32) {
        list::relink(&mut Self::order(&mut self.sentinels, entries), to);
    }

    /// Checks the queues: every occupied entry on exactly the queue it
    /// names, the weights right. Panics on a broken invariant.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn assert_invariants<K, V>(&self, entries: &[Entry<K, V>], of: &impl Weighed<K, V>) {
        struct View<'a, K, V>(&'a [Link; QUEUES], &'a [Entry<K, V>]);
        impl<K, V> Links for View<'_, K, V> {
            fn prev(&self, id: u32) -> u32 {
                if is_sentinel(id) {
                    self.0[(id - SENTINEL_BASE) as usize].prev
                } else {
                    self.1[id as usize].order_prev()
                }
            }
            fn next(&self, id: u32) -> u32 {
                if is_sentinel(id) {
                    self.0[(id - SENTINEL_BASE) as usize].next
                } else {
                    self.1[id as usize].order_next()
                }
            }
        }
        let view = View(&self.sentinels, entries);
        let mut seen = 0;
        for queue in [WINDOW, PROBATION, PROTECTED] {
            let mut weight = 0;
            seen += list::walk(&view, head(queue), |id| {
                let entry = &entries[id as usize];
                assert!(entry.is_occupied(), "vacant entry {id} on queue {queue}");
                assert_eq!(entry.queue(), queue, "entry {id} names the wrong queue");
                weight += of.weight(id);
            });
            assert_eq!(weight, self.weight[queue as usize], "weight of queue {queue}");
        }
        let occupied = entries.iter().filter(|e| e.is_occupied()).count();
        assert_eq!(seen, occupied, "entries on no queue");
    }
}
