//! The eviction policy's memory of how often keys are asked for: a
//! count-min sketch of 4-bit counters (TinyLFU), and small generational
//! Bloom filters that remember which keys left the cache lately.
//!
//! Both take a key's 64-bit hash (the table's), re-mixed per use, and
//! know nothing of the keys themselves.

/// Mixes a hash into another well-spread 64-bit value (murmur3's fmix64).
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// Maps a mixed hash onto `0..n` (Lemire's multiply-shift).
#[inline]
fn reduce(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// Counts requests per key, approximately: four counters of 4 bits per
/// key (the smallest is the estimate), all halved once the additions reach
/// `SAMPLE` times the capacity, so that old popularity fades (TinyLFU's
/// aging).
///
/// A key's four counters lie in one 64-byte block, each in its own pair of
/// words, so that counting or estimating costs one cache miss, not four.
pub(crate) struct Sketch {
    blocks: Box<[Block]>,
    /// `blocks.len()`.
    count: u64,
    /// The fewest blocks, whatever the capacity (see `MIN_BLOCKS`).
    floor: u64,
    additions: u64,
    /// Additions between two halvings.
    period: u64,
}

impl Sketch {
    /// Counters per entry of capacity: 3.25 bytes an entry.
    const PER_ENTRY: u64 = 13;
    /// 4-bit counters in a block.
    const PER_BLOCK: u64 = 128;
    /// The fewest blocks of a cache's sketches together (128 KiB, 262,144
    /// counters), split evenly over its shards: the same counters whatever
    /// the number of shards, so that the hit ratio does not depend on it.
    /// The sketch counts every key asked for in its sample of `SAMPLE` times
    /// the capacity, and a small cache in front of a large set of keys sees
    /// up to that many times as many distinct keys there as it holds: sized
    /// by the capacity alone, its counters are shared by so many keys that
    /// estimates turn to noise and admission into a coin toss. Over the 42
    /// trace/size rows of the OLTP, P12 and LIRS traces (24 to 524,288
    /// entries, one shard, four hash seeds, a sample of twenty times the
    /// capacity), a floor of 64 blocks gave 0.20 point of hit ratio less on
    /// average than 256, and 1024 0.04 more than 256. Over the same rows
    /// under three fixed hash seeds, this floor gave one shard 0.06 point
    /// more than 256 blocks a shard on average (0.53 more at P12 with 8192
    /// entries), and 64 shards 0.02 more.
    const MIN_BLOCKS: u64 = 2048;
    /// The sample between two halvings, in entries of capacity. TinyLFU
    /// and Caffeine take ten; this sketch learns of hits only when a hand
    /// passes the entry read (at most seven at a time), and a longer memory
    /// pays where a small cache sees keys come back in loops. Over the 42
    /// trace/size rows of the OLTP, P12 and LIRS traces (one shard, four
    /// hash seeds), 16 gave 0.18 point of hit ratio more than 10 on
    /// average, 4.4 points more at lirs-ps with 62 entries (16.0% to
    /// 20.4%), and no row lost more than 0.4 point; anything from 15 to 24
    /// did within 0.02 point of 16 on average, while against 10, 5 lost
    /// 0.64 point and 80 lost 0.03.
    ///
    /// Its counters are wide enough that collisions are not what the
    /// estimates lack: conservative update (an addition raises only the
    /// key's counters below its smallest plus the addition, to that)
    /// moved the same 42 rows by under 0.001 point on average (one shard,
    /// two fixed hash seeds), none by more than 0.15.
    const SAMPLE: u64 = 16;

    /// A sketch for a capacity of `entries`, in one of a cache's `shards`.
    pub(crate) fn new(entries: usize, shards: usize) -> Self {
        Self::with_floor(entries, Self::MIN_BLOCKS.div_ceil(shards.max(1) as u64))
    }

    fn with_floor(entries: usize, floor: u64) -> Self {
        let entries = entries.max(1) as u64;
        let count = (entries * Self::PER_ENTRY).div_ceil(2 * Self::PER_BLOCK).max(floor);
        Sketch {
            blocks: vec![Block::default(); count as usize].into_boxed_slice(),
            count,
            floor,
            additions: 0,
            period: (entries * Self::SAMPLE).max(16),
        }
    }

    /// Makes room to count for a capacity of `entries`, keeping every
    /// count: a key's counters sit at the same places in its block whatever
    /// the number of blocks, and its new block covers a part of the hash
    /// range that one or two old blocks covered, so each new block starts
    /// as the counter-wise largest of those. No estimate drops; keys that
    /// now share fewer counters part as the counts age.
    pub(crate) fn grow(&mut self, entries: usize) {
        let mut grown = Sketch::with_floor(entries, self.floor);
        spread(&self.blocks, &mut grown.blocks, |into, from| {
            for (a, b) in into.iter_mut().zip(from) {
                *a = nibble_max(*a, *b);
            }
        });
        grown.additions = self.additions;
        *self = grown;
    }

    /// `hash`'s block, and the mixed hash that places its four counters
    /// there (see `counter`). One mix: the block comes from the high bits
    /// (`reduce`), the counters from the low twenty.
    #[inline]
    fn place(&self, hash: u64) -> (usize, u64) {
        let h = mix(hash ^ 0x5851_F42D_4C95_7F2D);
        (reduce(h, self.count) as usize, h)
    }

    /// Row `row`'s counter of the mixed hash `h` in its block: (word,
    /// shift), in word `2 * row` or `2 * row + 1` by bit `5 * row` of `h`,
    /// at the nibble that the next four bits name. The word comes masked
    /// to the block, which spares its users a bounds check; the shift, those
    /// four bits times four, is them moved up by one place and masked.
    #[inline(always)]
    fn counter(h: u64, row: usize) -> (usize, u32) {
        let b = (h >> (5 * row)) as u32;
        ((2 * row + (b & 1) as usize) & 7, (b << 1) & 0x3c)
    }

    /// How often `hash`'s key was counted (recently), at most 15.
    #[inline]
    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        let (block, h) = self.place(hash);
        let words = &self.blocks[block].0;
        // Each counter's word shifted left to put the counter on top, by
        // `60 - shift`: `shift`'s four bits inverted, which `counter` takes
        // from the inverted hash. What lies below a counter cannot outweigh
        // it, so the smallest of the four words has the smallest on top.
        let up = !h;
        let top = |row: usize| {
            let (w, _) = Self::counter(h, row);
            let (_, rise) = Self::counter(up, row);
            words[w] << rise
        };
        top(0).min(top(1)).min(top(2)).min(top(3)) >> 60
    }

    /// Starts fetching `hash`'s block into the cache.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        let (block, _) = self.place(hash);
        crate::table::entry::prefetch(&self.blocks[block]);
    }

    /// Counts `n` requests of `hash`'s key (`n` = 0 changes nothing).
    #[inline]
    pub(crate) fn add(&mut self, hash: u64, n: u64) {
        let (block, h) = self.place(hash);
        let words = &mut self.blocks[block].0;
        // What the four counters took, each at its place, or'ed: zero only
        // if none changed.
        let mut added = 0;
        for row in 0..4 {
            let (w, shift) = Self::counter(h, row);
            // `min(old + n, 15) - old`, as the room left above the counter
            // (its bits inverted) capped at `n`: a saturated one takes 0.
            let step = n.min((!words[w] >> shift) & 15) << shift;
            words[w] += step;
            added |= step;
        }
        if added != 0 {
            self.additions += n;
            if self.additions >= self.period {
                for block in &mut self.blocks {
                    for word in &mut block.0 {
                        *word = (*word >> 1) & 0x7777_7777_7777_7777;
                    }
                }
                self.additions /= 2;
            }
        }
    }

    /// Forgets every count.
    pub(crate) fn clear(&mut self) {
        self.blocks.iter_mut().for_each(|b| *b = Block::default());
        self.additions = 0;
    }
}

/// Fills the blocks of a grown structure from the old ones: new block
/// `n` of `N` takes the hashes that reduce (`reduce`) into `[n/N,
/// (n+1)/N)` of the range, which old blocks `⌊n·O/N⌋ ..= ⌈(n+1)·O/N⌉ − 1`
/// of `O` held (a range never empty, and never past the last block, as
/// `(n+1)·O/N` is above `⌊n·O/N⌋` and at most `O`); `merge` folds each of
/// them in.
fn spread(old: &[Block], new: &mut [Block], mut merge: impl FnMut(&mut [u64; 8], &[u64; 8])) {
    let (o, n) = (old.len() as u128, new.len() as u128);
    for (i, block) in new.iter_mut().enumerate() {
        let i = i as u128;
        let first = (i * o / n) as usize;
        let end = ((i + 1) * o).div_ceil(n) as usize;
        for from in &old[first..end] {
            merge(&mut block.0, &from.0);
        }
    }
}

/// The larger of each pair of 4-bit counters in two words, eight lanes at
/// a time: in a lane of a byte holding `x` and `y` (both below 16),
/// `(x + 16) - y` has its bit 4 set exactly when `x >= y`, and never
/// borrows from the next lane.
fn nibble_max(a: u64, b: u64) -> u64 {
    const LOW: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const BIT4: u64 = 0x1010_1010_1010_1010;
    let max = |x: u64, y: u64| {
        let x_wins = ((((x | BIT4) - y) & BIT4) >> 4) * 0x0F;
        (x & x_wins) | (y & !x_wins)
    };
    max(a & LOW, b & LOW) | max((a >> 4) & LOW, (b >> 4) & LOW) << 4
}

/// Where an evicted key left from: the window, or the main space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    Window = 0,
    Main = 1,
}

/// Remembers which keys were evicted lately, and from where: two shadows
/// (keys that left the window, keys that left main), each of two
/// generational Bloom filters. A shadow's current filter fills, and when
/// it holds its share of keys the older one is cleared and becomes
/// current, so a key is remembered for the next `keys`..`2 * keys`
/// evictions from its side; there is no removal (a key just ages out).
///
/// The four filters share their blocks: a key's bits in all of them lie in
/// one 64-byte block (two words a filter, three bits a word, 16 bits of
/// filter a key), so that asking both shadows about a key, as every miss
/// does, costs one cache miss and one mix of its hash.
pub(crate) struct Shadows {
    blocks: Box<[Block]>,
    count: u64,
    /// Each shadow's current filter (0 or 1), and the keys put in it.
    current: [(usize, usize); 2],
    /// Keys a filter holds before the older one is cleared.
    keys: usize,
}

/// One cache line: a sketch's counters, or the shadows' filters.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

impl Shadows {
    /// Keys a filter remembers per block: 128 bits a filter, 16 bits a key.
    const KEYS_PER_BLOCK: usize = 128 / 16;

    /// Shadows each remembering about `keys` to `2 * keys` keys.
    pub(crate) fn new(keys: usize) -> Self {
        let keys = keys.max(1);
        let blocks = keys.div_ceil(Self::KEYS_PER_BLOCK);
        Shadows {
            blocks: vec![Block::default(); blocks].into_boxed_slice(),
            count: blocks as u64,
            current: [(0, 0); 2],
            keys,
        }
    }

    /// Makes room to remember about `keys` keys a shadow, forgetting none:
    /// a key's bits sit at the same places in its block whatever the
    /// number of blocks, so each new block starts as the union of the one
    /// or two old blocks that held its part of the hash range (a few more
    /// false positives until those filters are next cleared).
    pub(crate) fn grow(&mut self, keys: usize) {
        let mut grown = Shadows::new(keys);
        spread(&self.blocks, &mut grown.blocks, |into, from| {
            for (a, b) in into.iter_mut().zip(from) {
                *a |= b;
            }
        });
        grown.current = self.current;
        *self = grown;
    }

    /// `hash`'s block, and the three bits it sets in each word of a filter.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [u64; 2]) {
        let h = mix(hash ^ 0x2545_F491_4F6C_DD1D);
        let block = reduce(h, self.count) as usize;
        let bit = |n: u32| 1u64 << ((h >> (6 * n)) & 63);
        (block, [bit(0) | bit(1) | bit(2), bit(3) | bit(4) | bit(5)])
    }

    /// Starts fetching `hash`'s block into the cache.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        let (block, _) = self.place(hash);
        crate::table::entry::prefetch(&self.blocks[block]);
    }

    /// Remembers that `hash`'s key was evicted from `left`.
    pub(crate) fn insert(&mut self, left: Left, hash: u64) {
        let side = left as usize;
        if self.current[side].1 >= self.keys {
            return self.turn_and_put(side, hash);
        }
        self.put(side, hash);
    }

    /// Clears `side`'s older filter, makes it current and puts `hash`'s
    /// key in it: once in `keys` insertions, kept out of `insert` (and
    /// reached by a tail call) so that its loop costs the other calls
    /// nothing, not even saved registers.
    #[cold]
    #[inline(never)]
    fn turn_and_put(&mut self, side: usize, hash: u64) {
        let older = self.current[side].0 ^ 1;
        let word = 4 * side + 2 * older;
        for block in &mut self.blocks {
            block.0[word] = 0;
            block.0[word + 1] = 0;
        }
        self.current[side] = (older, 0);
        self.put(side, hash);
    }

    /// Puts `hash`'s key in `side`'s current filter.
    #[inline(always)]
    fn put(&mut self, side: usize, hash: u64) {
        let (block, [m0, m1]) = self.place(hash);
        let (current, count) = &mut self.current[side];
        // Below 8 by construction (`current` is 0 or 1); the mask spares
        // the bounds checks.
        let word = (4 * side + 2 * *current) & 6;
        let words = &mut self.blocks[block].0;
        words[word] |= m0;
        words[word + 1] |= m1;
        *count += 1;
    }

    /// Whether each side remembers `hash`'s key, `[window, main]` (false
    /// positives possible).
    #[inline]
    pub(crate) fn recall(&self, hash: u64) -> [bool; 2] {
        let (block, [m0, m1]) = self.place(hash);
        let w = &self.blocks[block].0;
        let has = |word: usize| w[word] & m0 == m0 && w[word + 1] & m1 == m1;
        [has(0) || has(2), has(4) || has(6)]
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.blocks.iter_mut().for_each(|b| *b = Block::default());
        self.current = [(0, 0); 2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sketch_counts_and_ages() {
        let mut sketch = Sketch::new(1000, 1);
        for _ in 0..5 {
            sketch.add(42, 1);
        }
        sketch.add(7, 1);
        assert!(sketch.estimate(42) >= 5);
        assert!(sketch.estimate(7) >= 1);
        assert!(sketch.estimate(42) > sketch.estimate(7));
        sketch.add(42, 100);
        assert_eq!(sketch.estimate(42), 15, "counters saturate");
        // A sample's worth of other additions halves everything.
        for k in 1000..1000 + Sketch::SAMPLE * 1000 {
            sketch.add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1);
        }
        assert!(sketch.estimate(42) < 15, "old counts fade");
        sketch.clear();
        assert_eq!(sketch.estimate(42), 0);
    }

    #[test]
    fn the_sketch_counts_each_counter_as_written_out() {
        // Every counter, addition and halving against the counters placed,
        // saturated and halved one at a time, with `n` from 0 to past
        // saturation and enough additions to halve several times.
        let mut sketch = Sketch::with_floor(64, 4);
        let mut model = sketch.blocks.to_vec();
        let mut additions = 0;
        for k in 0..20_000u64 {
            let (hash, n) = (mix(k % 3_000), [0, 1, 1, 2, 7, 20][k as usize % 6]);
            sketch.add(hash, n);
            let h = mix(hash ^ 0x5851_F42D_4C95_7F2D);
            let block = reduce(h, sketch.count) as usize;
            let counters: Vec<(usize, u64)> = (0..4)
                .map(|row| {
                    let b = h >> (5 * row);
                    (2 * row + (b & 1) as usize, ((b >> 1) & 15) * 4)
                })
                .collect();
            let mut changed = false;
            for &(w, shift) in &counters {
                let word = &mut model[block].0[w];
                let old = (*word >> shift) & 15;
                let new = (old + n).min(15);
                *word = *word & !(15 << shift) | new << shift;
                changed |= new != old;
            }
            if changed {
                additions += n;
                if additions >= sketch.period {
                    for word in model.iter_mut().flat_map(|b| &mut b.0) {
                        *word = (*word >> 1) & 0x7777_7777_7777_7777;
                    }
                    additions /= 2;
                }
            }
            assert_eq!(sketch.additions, additions);
            let smallest =
                counters.iter().map(|&(w, shift)| (model[block].0[w] >> shift) & 15).min();
            assert_eq!(Some(sketch.estimate(hash)), smallest);
        }
        assert!(sketch.blocks.iter().zip(&model).all(|(a, b)| a.0 == b.0));
    }

    #[test]
    fn the_floor_is_the_caches_whatever_its_shards() {
        // Small shares: the floor decides, and the shards share it evenly.
        for shards in [1usize, 2, 4, 8, 64] {
            let each = Sketch::new(8192 / shards, shards);
            assert_eq!(each.count * shards as u64, Sketch::MIN_BLOCKS, "{shards} shards");
        }
        // A large share is sized by its entries alone.
        assert_eq!(Sketch::new(1 << 20, 1).count, Sketch::new(1 << 20, 64).count);
        assert!(Sketch::new(1 << 20, 1).count > Sketch::MIN_BLOCKS);
        // Growth keeps the floor it was built with.
        let mut sketch = Sketch::new(100, 8);
        sketch.grow(200);
        assert_eq!(sketch.count, Sketch::MIN_BLOCKS / 8);
    }

    #[test]
    fn the_shadows_remember_recent_keys_by_side_and_forget_old_ones() {
        let mut shadows = Shadows::new(100);
        for k in 0..100u64 {
            shadows.insert(Left::Window, mix(k));
            shadows.insert(Left::Main, mix(k + 1_000_000));
        }
        assert!((0..100u64).all(|k| shadows.recall(mix(k))[0]), "no false negatives");
        assert!((0..100u64).all(|k| shadows.recall(mix(k + 1_000_000))[1]));
        let crossed = (0..100u64).filter(|&k| shadows.recall(mix(k))[1]).count();
        assert!(crossed < 5, "{crossed} window keys remembered as main's");
        // Main's evictions do not age the window's shadow.
        for k in 100..300u64 {
            shadows.insert(Left::Main, mix(k + 1_000_000));
        }
        assert!((0..100u64).all(|k| shadows.recall(mix(k))[0]));
        for k in 100..300u64 {
            shadows.insert(Left::Window, mix(k));
        }
        let remembered = (0..100u64).filter(|&k| shadows.recall(mix(k))[0]).count();
        assert!(remembered < 5, "{remembered} of the oldest keys still remembered");
        let false_positives =
            (10_000..20_000u64).filter(|&k| shadows.recall(mix(k)) != [false, false]).count();
        assert!(false_positives < 100, "{false_positives} false positives in 10000");
        shadows.clear();
        assert!((100..300u64).all(|k| shadows.recall(mix(k)) == [false, false]));
    }

    #[test]
    fn a_grown_sketch_keeps_every_estimate() {
        let mut sketch = Sketch::new(10_000, 16);
        let keys: Vec<u64> = (0..2_000u64).map(mix).collect();
        for (i, &k) in keys.iter().enumerate() {
            sketch.add(k, 1 + i as u64 % 7);
        }
        let before: Vec<u64> = keys.iter().map(|&k| sketch.estimate(k)).collect();
        // 508 blocks to 1,270 and then 1,473: ratios that are not whole.
        for entries in [25_000, 29_000] {
            sketch.grow(entries);
            for (&k, &was) in keys.iter().zip(&before) {
                assert!(sketch.estimate(k) >= was, "an estimate dropped in growth");
            }
        }
    }

    #[test]
    fn nibble_max_takes_the_larger_counter_in_every_lane() {
        assert_eq!(nibble_max(0x0F1E_2D3C_4B5A_6978, 0x1E2D_3C4B_5A69_7887), 0x1F2E_3D4C_5B6A_7988);
        // Every pair of counter values, in every lane.
        for (x, y) in (0..16u64).flat_map(|x| (0..16u64).map(move |y| (x, y))) {
            let (a, b) = (x * 0x1111_1111_1111_1111, y * 0x1111_1111_1111_1111);
            assert_eq!(nibble_max(a, b), x.max(y) * 0x1111_1111_1111_1111, "{x} {y}");
        }
        // Mixed lanes.
        for k in 0..1000u64 {
            let (a, b) = (mix(k), mix(k + 1000));
            let want = (0..16)
                .fold(0, |m, i| m | ((a >> (4 * i)) & 15).max((b >> (4 * i)) & 15) << (4 * i));
            assert_eq!(nibble_max(a, b), want);
        }
    }

    #[test]
    fn grown_shadows_remember_until_their_filters_are_cleared() {
        let mut shadows = Shadows::new(10);
        shadows.insert(Left::Main, mix(7));
        shadows.grow(100);
        assert!(shadows.recall(mix(7))[1], "remembered across growth");
        for k in 0..250u64 {
            shadows.insert(Left::Window, mix(k + 10));
            shadows.insert(Left::Main, mix(k + 10_000));
        }
        assert!(!shadows.recall(mix(7))[1], "forgotten once both filters were cleared");
    }
}
