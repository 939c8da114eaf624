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
pub(crate) struct Sketch {
    words: Box<[u64]>,
    counters: u64,
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

    /// A sketch for a capacity of `entries`.
    pub(crate) fn new(entries: usize) -> Self {
        let entries = entries.max(1) as u64;
        let counters = (entries * Self::PER_ENTRY).div_ceil(2).max(64);
        let words = counters.div_ceil(16);
        Sketch {
            words: vec![0; words as usize].into_boxed_slice(),
            counters: words * 16,
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

    #[inline]
    fn counter(&self, h: u64, row: u64) -> u64 {
        reduce(mix(h.wrapping_add(row.wrapping_mul(0x9E37_79B9_7F4A_7C15))), self.counters)
    }

    #[inline]
    fn get(&self, c: u64) -> u64 {
        (self.words[(c >> 4) as usize] >> ((c & 15) * 4)) & 15
    }

    /// How often `hash`'s key was counted (recently), at most 15.
    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        let h = mix(hash ^ 0x5851_F42D_4C95_7F2D);
        let here = (0..4).map(|row| self.get(self.counter(h, row))).min().unwrap_or(0);
        self.previous.as_ref().map_or(here, |old| here.max(old.estimate(hash)))
    }

    /// Counts `n` requests of `hash`'s key.
    pub(crate) fn add(&mut self, hash: u64, n: u64) {
        if n == 0 {
            return;
        }
        let h = mix(hash ^ 0x5851_F42D_4C95_7F2D);
        let mut changed = false;
        for row in 0..4 {
            let c = self.counter(h, row);
            let word = &mut self.words[(c >> 4) as usize];
            let shift = (c & 15) * 4;
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
                for word in self.words.iter_mut() {
                    *word = (*word >> 1) & 0x7777_7777_7777_7777;
                }
                self.additions /= 2;
            }
        }
    }

    /// Forgets every count.
    pub(crate) fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.additions = 0;
        self.previous = None;
    }
}

/// Remembers the last keys put in, approximately and cheaply: two Bloom
/// filters of 16 bits a key; the current one fills, and when it holds its
/// share the older one is cleared and becomes current. A key is remembered
/// for the next `keys`..`2 * keys` insertions; a removal is impossible (a
/// key just ages out).
pub(crate) struct Shadow {
    generations: [Box<[u64]>; 2],
    bits: u64,
    current: usize,
    count: usize,
    keys: usize,
    /// The shadow from before the last growth, still consulted until this
    /// one has filled a generation.
    previous: Option<Box<Shadow>>,
}

impl Shadow {
    /// Bits per remembered key, and probes per key (about 0.69 per bit).
    const BITS_PER_KEY: u64 = 16;
    const PROBES: u64 = 11;

    /// A shadow remembering about `keys` to `2 * keys` keys.
    pub(crate) fn new(keys: usize) -> Self {
        let keys = keys.max(1);
        let bits = (keys as u64 * Self::BITS_PER_KEY).max(64).next_multiple_of(64);
        let words = (bits / 64) as usize;
        Shadow {
            generations: [vec![0; words].into_boxed_slice(), vec![0; words].into_boxed_slice()],
            bits,
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

    #[inline]
    fn position(&self, h: u64, probe: u64) -> u64 {
        reduce(mix(h.wrapping_add((probe + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))), self.bits)
    }

    /// Remembers `hash`'s key.
    pub(crate) fn insert(&mut self, hash: u64) {
        if self.count >= self.keys {
            self.previous = None;
            self.current ^= 1;
            self.generations[self.current].iter_mut().for_each(|w| *w = 0);
            self.count = 0;
        }
        let h = mix(hash ^ 0x2545_F491_4F6C_DD1D);
        for probe in 0..Self::PROBES {
            let p = self.position(h, probe);
            self.generations[self.current][(p >> 6) as usize] |= 1 << (p & 63);
        }
        self.count += 1;
    }

    /// Whether `hash`'s key is remembered (false positives possible).
    pub(crate) fn contains(&self, hash: u64) -> bool {
        let h = mix(hash ^ 0x2545_F491_4F6C_DD1D);
        let here = self.generations.iter().any(|bits| {
            (0..Self::PROBES).all(|probe| {
                let p = self.position(h, probe);
                bits[(p >> 6) as usize] & (1 << (p & 63)) != 0
            })
        });
        here || self.previous.as_ref().is_some_and(|old| old.contains(hash))
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        for generation in &mut self.generations {
            generation.iter_mut().for_each(|w| *w = 0);
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
