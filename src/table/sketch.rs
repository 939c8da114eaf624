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

    /// A sketch for a capacity of `entries`.
    pub(crate) fn new(entries: usize) -> Self {
        let entries = entries.max(1) as u64;
        let count = (entries * Self::PER_ENTRY).div_ceil(2 * Self::PER_BLOCK).max(1);
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
    /// row `r` in word `2r` or `2r + 1`.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [(usize, u64); 4]) {
        let h = mix(hash ^ 0x5851_F42D_4C95_7F2D);
        let block = reduce(h, self.count) as usize;
        let bits = mix(h);
        let counters = std::array::from_fn(|row| {
            let b = bits >> (row * 5);
            (2 * row + (b & 1) as usize, ((b >> 1) & 15) * 4)
        });
        (block, counters)
    }

    /// How often `hash`'s key was counted (recently), at most 15.
    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        let (block, counters) = self.place(hash);
        let words = &self.blocks[block].0;
        let here = counters.iter().map(|&(w, shift)| (words[w] >> shift) & 15).min().unwrap_or(0);
        self.previous.as_ref().map_or(here, |old| here.max(old.estimate(hash)))
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
            let new = (old + n).min(15);
            if new != old {
                *word = (*word & !(15 << shift)) | (new << shift);
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

/// Remembers the last keys put in, approximately and cheaply: two Bloom
/// filters of 16 bits a key; the current one fills, and when it holds its
/// share the older one is cleared and becomes current. A key is remembered
/// for the next `keys`..`2 * keys` insertions; a removal is impossible (a
/// key just ages out).
///
/// The filters are blocked: a key's bits all lie in one 64-byte block, one
/// bit in each of its eight words, so that a lookup costs one cache miss a
/// generation, not one a probe (a policy asks on every miss of the cache).
pub(crate) struct Shadow {
    generations: [Box<[Block]>; 2],
    blocks: u64,
    current: usize,
    count: usize,
    keys: usize,
    /// The shadow from before the last growth, still consulted until this
    /// one has filled a generation.
    previous: Option<Box<Shadow>>,
}

/// One cache line of a filter: a key sets one bit in each word.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

impl Shadow {
    /// Keys per block: 16 bits a key.
    const KEYS_PER_BLOCK: usize = 512 / 16;

    /// A shadow remembering about `keys` to `2 * keys` keys.
    pub(crate) fn new(keys: usize) -> Self {
        let keys = keys.max(1);
        let blocks = keys.div_ceil(Self::KEYS_PER_BLOCK);
        Shadow {
            generations: [
                vec![Block::default(); blocks].into_boxed_slice(),
                vec![Block::default(); blocks].into_boxed_slice(),
            ],
            blocks: blocks as u64,
            current: 0,
            count: 0,
            keys,
            previous: None,
        }
    }

    /// Makes room to remember about `keys` keys, still answering from the
    /// old filters until the new ones have filled a generation.
    pub(crate) fn grow(&mut self, keys: usize) {
        let mut old = std::mem::replace(self, Shadow::new(keys));
        old.previous = None;
        self.previous = Some(Box::new(old));
    }

    /// `hash`'s block, and the bit it sets in each word of the block.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [u64; 8]) {
        let h = mix(hash ^ 0x2545_F491_4F6C_DD1D);
        let block = reduce(h, self.blocks) as usize;
        // The low 48 bits of another mix: six a word.
        let bits = mix(h);
        (block, std::array::from_fn(|word| 1 << ((bits >> (6 * word)) & 63)))
    }

    /// Remembers `hash`'s key.
    pub(crate) fn insert(&mut self, hash: u64) {
        if self.count >= self.keys {
            self.previous = None;
            self.current ^= 1;
            self.generations[self.current].iter_mut().for_each(|b| *b = Block::default());
            self.count = 0;
        }
        let (block, bits) = self.place(hash);
        let words = &mut self.generations[self.current][block].0;
        for (word, bit) in words.iter_mut().zip(bits) {
            *word |= bit;
        }
        self.count += 1;
    }

    /// Whether `hash`'s key is remembered (false positives possible).
    pub(crate) fn contains(&self, hash: u64) -> bool {
        let (block, bits) = self.place(hash);
        let here = self.generations.iter().any(|generation| {
            let words = &generation[block].0;
            words.iter().zip(bits).all(|(word, bit)| word & bit != 0)
        });
        here || self.previous.as_ref().is_some_and(|old| old.contains(hash))
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        for generation in &mut self.generations {
            generation.iter_mut().for_each(|b| *b = Block::default());
        }
        self.count = 0;
        self.previous = None;
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
    fn the_shadow_remembers_recent_keys_and_forgets_old_ones() {
        let mut shadow = Shadow::new(100);
        for k in 0..100u64 {
            shadow.insert(mix(k));
        }
        assert!((0..100u64).all(|k| shadow.contains(mix(k))), "no false negatives");
        for k in 100..300u64 {
            shadow.insert(mix(k));
        }
        let remembered = (0..100u64).filter(|&k| shadow.contains(mix(k))).count();
        assert!(remembered < 5, "{remembered} of the oldest keys still remembered");
        let false_positives = (10_000..20_000u64).filter(|&k| shadow.contains(mix(k))).count();
        assert!(false_positives < 100, "{false_positives} false positives in 10000");
    }
}
