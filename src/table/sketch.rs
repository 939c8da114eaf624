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
/// ten times the capacity, so that old popularity fades (TinyLFU's aging).
///
/// A key's four counters lie in one 64-byte block, each in its own pair of
/// words, so that counting or estimating costs one cache miss, not four.
pub(crate) struct Sketch {
    blocks: Box<[Block]>,
    /// `blocks.len()`.
    count: u64,
    additions: u64,
    /// Additions between two halvings.
    period: u64,
    /// The counts from before the last growth, still consulted until the
    /// new counters have seen a period of additions.
    previous: Option<Box<Sketch>>,
    /// Additions since the last growth.
    since_growth: u64,
}

impl Sketch {
    /// Counters per entry of capacity: 3.25 bytes an entry.
    const PER_ENTRY: u64 = 13;
    /// 4-bit counters in a block.
    const PER_BLOCK: u64 = 128;
    /// The fewest blocks (4 KiB): below about 1,300 entries a sketch sized
    /// by the capacity has so few blocks that most keys share counters,
    /// and admission turns into a coin toss (over 40 cache sizes of the
    /// OLTP and LIRS traces, 24 to 15,000 entries, the least of 1 block
    /// cost 0.35 point of hit ratio on average against 64).
    const MIN_BLOCKS: u64 = 64;

    /// A sketch for a capacity of `entries`.
    pub(crate) fn new(entries: usize) -> Self {
        let entries = entries.max(1) as u64;
        let count = (entries * Self::PER_ENTRY).div_ceil(2 * Self::PER_BLOCK).max(Self::MIN_BLOCKS);
        Sketch {
            blocks: vec![Block::default(); count as usize].into_boxed_slice(),
            count,
            additions: 0,
            period: (entries * 10).max(16),
            previous: None,
            since_growth: 0,
        }
    }

    /// Makes room to count for a capacity of `entries`: new, larger
    /// counters start empty, and the old ones keep answering (the larger
    /// of the two estimates) until the new ones have seen a period of
    /// additions, so that growing forgets nothing at once.
    pub(crate) fn grow(&mut self, entries: usize) {
        let mut old = std::mem::replace(self, Sketch::new(entries));
        old.previous = None;
        self.previous = Some(Box::new(old));
    }

    /// `hash`'s block, and its four counters there: (word, shift) each,
    /// row `r` in word `2r` or `2r + 1`. One mix: the block comes from the
    /// high bits (`reduce`), the counters from the low twenty.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [(usize, u32); 4]) {
        let h = mix(hash ^ 0x5851_F42D_4C95_7F2D);
        let block = reduce(h, self.count) as usize;
        let counters = std::array::from_fn(|row| {
            let b = (h >> (row * 5)) as u32;
            (2 * row + (b & 1) as usize, ((b >> 1) & 15) * 4)
        });
        (block, counters)
    }

    /// How often `hash`'s key was counted (recently), at most 15.
    #[inline]
    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        let (block, [a, b, c, d]) = self.place(hash);
        let words = &self.blocks[block].0;
        let at = |(w, shift): (usize, u32)| (words[w] >> shift) & 15;
        let here = at(a).min(at(b)).min(at(c)).min(at(d));
        match &self.previous {
            None => here,
            Some(old) => here.max(old.estimate(hash)),
        }
    }

    /// Counts `n` requests of `hash`'s key.
    pub(crate) fn add(&mut self, hash: u64, n: u64) {
        if n == 0 {
            return;
        }
        let (block, counters) = self.place(hash);
        let words = &mut self.blocks[block].0;
        let mut changed = false;
        for (w, shift) in counters {
            let word = &mut words[w];
            let old = (*word >> shift) & 15;
            if old < 15 {
                let new = (old + n).min(15);
                *word += (new - old) << shift;
                changed = true;
            }
        }
        if self.previous.is_some() {
            self.since_growth += n;
            if self.since_growth >= self.period {
                self.previous = None;
            }
        }
        if changed {
            self.additions += n;
            if self.additions >= self.period {
                for word in self.blocks.iter_mut().flat_map(|b| b.0.iter_mut()) {
                    *word = (*word >> 1) & 0x7777_7777_7777_7777;
                }
                self.additions /= 2;
            }
        }
    }

    /// Forgets every count.
    pub(crate) fn clear(&mut self) {
        self.blocks.iter_mut().for_each(|b| *b = Block::default());
        self.additions = 0;
        self.previous = None;
    }
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
    /// The shadows from before the last growth, still consulted for each
    /// side (`stale`) until that side has filled a filter here.
    previous: Option<Box<Shadows>>,
    stale: [bool; 2],
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
            previous: None,
            stale: [false; 2],
        }
    }

    /// Makes room to remember about `keys` keys a shadow, still answering
    /// from the old filters until the new ones have filled one each.
    pub(crate) fn grow(&mut self, keys: usize) {
        let mut old = std::mem::replace(self, Shadows::new(keys));
        old.previous = None;
        self.previous = Some(Box::new(old));
        self.stale = [true; 2];
    }

    /// `hash`'s block, and the three bits it sets in each word of a filter.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [u64; 2]) {
        let h = mix(hash ^ 0x2545_F491_4F6C_DD1D);
        let block = reduce(h, self.count) as usize;
        let bit = |n: u32| 1u64 << ((h >> (6 * n)) & 63);
        (block, [bit(0) | bit(1) | bit(2), bit(3) | bit(4) | bit(5)])
    }

    /// Remembers that `hash`'s key was evicted from `left`.
    pub(crate) fn insert(&mut self, left: Left, hash: u64) {
        let side = left as usize;
        let (current, count) = self.current[side];
        let current = if count >= self.keys {
            // The older filter is cleared and becomes current.
            let older = current ^ 1;
            let word = 4 * side + 2 * older;
            for block in &mut self.blocks {
                block.0[word] = 0;
                block.0[word + 1] = 0;
            }
            self.stale[side] = false;
            if self.stale == [false; 2] {
                self.previous = None;
            }
            self.current[side] = (older, 0);
            older
        } else {
            current
        };
        let (block, [m0, m1]) = self.place(hash);
        let word = 4 * side + 2 * current;
        let words = &mut self.blocks[block].0;
        words[word] |= m0;
        words[word + 1] |= m1;
        self.current[side].1 += 1;
    }

    /// Whether each side remembers `hash`'s key, `[window, main]` (false
    /// positives possible).
    #[inline]
    pub(crate) fn recall(&self, hash: u64) -> [bool; 2] {
        let (block, [m0, m1]) = self.place(hash);
        let w = &self.blocks[block].0;
        let has = |word: usize| w[word] & m0 == m0 && w[word + 1] & m1 == m1;
        let here = [has(0) || has(2), has(4) || has(6)];
        match &self.previous {
            None => here,
            Some(old) => {
                let there = old.recall(hash);
                [here[0] || (self.stale[0] && there[0]), here[1] || (self.stale[1] && there[1])]
            }
        }
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.blocks.iter_mut().for_each(|b| *b = Block::default());
        self.current = [(0, 0); 2];
        self.previous = None;
        self.stale = [false; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sketch_counts_and_ages() {
        let mut sketch = Sketch::new(1000);
        for _ in 0..5 {
            sketch.add(42, 1);
        }
        sketch.add(7, 1);
        assert!(sketch.estimate(42) >= 5);
        assert!(sketch.estimate(7) >= 1);
        assert!(sketch.estimate(42) > sketch.estimate(7));
        sketch.add(42, 100);
        assert_eq!(sketch.estimate(42), 15, "counters saturate");
        // Ten thousand other additions halve everything.
        for k in 1000..11_000u64 {
            sketch.add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1);
        }
        assert!(sketch.estimate(42) < 15, "old counts fade");
        sketch.clear();
        assert_eq!(sketch.estimate(42), 0);
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
    fn grown_shadows_answer_from_the_old_filters_until_they_fill() {
        let mut shadows = Shadows::new(10);
        shadows.insert(Left::Main, mix(7));
        shadows.grow(100);
        assert!(shadows.recall(mix(7))[1], "remembered across growth");
        for k in 0..250u64 {
            shadows.insert(Left::Window, mix(k + 10));
            shadows.insert(Left::Main, mix(k + 10_000));
        }
        assert!(!shadows.recall(mix(7))[1], "the old filters are dropped in time");
    }
}
