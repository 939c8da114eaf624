//! Seeded randomness and the operation traces every contender replays.
//!
//! A trace is generated once per workload, before any timing, and replayed
//! unchanged by each contender: the same keys, the same operations, in the
//! same order. Generating keys is kept out of the timed loop.

/// SplitMix64: a tiny seeded generator, good enough for workloads.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Zipf over ranks `1..=n` with exponent `s`: P(k) ∝ k^-s.
///
/// Rejection-inversion (Hörmann & Derflinger, 1996), as in Apache Commons
/// RNG's `RejectionInversionZipfSampler`: O(1) time and memory per sample.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    squeeze: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Self {
        assert!(n > 0 && s > 0.0);
        let mut z = Zipf { n: n as f64, s, h_integral_x1: 0.0, h_integral_n: 0.0, squeeze: 0.0 };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.squeeze = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

/// One operation of a trace, packed in a `u64`: the key in the low 32 bits,
/// a TTL in milliseconds in bits 32..62 (writes of the TTL workloads), and
/// the write flag in bit 63.
#[derive(Debug, Clone, Copy)]
pub struct Op(u64);

const WRITE: u64 = 1 << 63;

impl Op {
    pub fn read(key: u32) -> Self {
        Op(key as u64)
    }

    pub fn write(key: u32, ttl_ms: u32) -> Self {
        Op(WRITE | (ttl_ms as u64) << 32 | key as u64)
    }

    #[inline(always)]
    pub fn key(self) -> u64 {
        self.0 & 0xFFFF_FFFF
    }

    #[inline(always)]
    pub fn is_write(self) -> bool {
        self.0 & WRITE != 0
    }

    #[inline(always)]
    pub fn ttl_ms(self) -> u64 {
        (self.0 >> 32) & 0x3FFF_FFFF
    }
}

/// How a trace is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Keys are Zipf ranks `1..=keys`.
    pub keys: u64,
    pub zipf_s: f64,
    /// Fraction of writes.
    pub write_fraction: f64,
    /// Writes carry a TTL drawn uniformly from this range (milliseconds),
    /// or none.
    pub ttl_ms: Option<(u32, u32)>,
}

/// One trace per thread: `threads` traces of `total / threads` operations,
/// each from its own seed.
pub fn traces(mix: Mix, total: u64, threads: usize, seed: u64) -> Vec<Vec<Op>> {
    let zipf = Zipf::new(mix.keys, mix.zipf_s);
    let per_thread = total / threads as u64;
    (0..threads)
        .map(|t| {
            let mut rng = Rng::new(seed ^ (t as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
            (0..per_thread)
                .map(|_| {
                    let key = zipf.sample(&mut rng) as u32;
                    if rng.next_f64() < mix.write_fraction {
                        let ttl = match mix.ttl_ms {
                            Some((lo, hi)) => lo + rng.below((hi - lo + 1) as u64) as u32,
                            None => 0,
                        };
                        Op::write(key, ttl)
                    } else {
                        Op::read(key)
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_matches_its_pmf() {
        let (n, s) = (1000u64, 0.99);
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        let zipf = Zipf::new(n, s);
        let mut rng = Rng::new(7);
        let draws = 2_000_000;
        let mut counts = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            let k = zipf.sample(&mut rng);
            assert!((1..=n).contains(&k));
            counts[k as usize] += 1;
        }
        for k in [1u64, 2, 3, 10, 100, 1000] {
            let expected = (k as f64).powf(-s) / norm;
            let got = counts[k as usize] as f64 / draws as f64;
            let tolerance = 5.0 * (expected / draws as f64).sqrt() + 1e-5;
            assert!((got - expected).abs() < tolerance, "rank {k}: got {got}, expected {expected}");
        }
    }

    #[test]
    fn ops_round_trip() {
        let op = Op::write(999_999, 60_000);
        assert!(op.is_write());
        assert_eq!((op.key(), op.ttl_ms()), (999_999, 60_000));
        let op = Op::read(5);
        assert!(!op.is_write());
        assert_eq!(op.key(), 5);
    }
}
