//! Time: the injectable [`Clock`], the test-only `MockClock`, and the
//! conversion between clock readings and wheel ticks.
//!
//! A clock reading is a `u64` count of nanoseconds since the clock's origin.
//! The real clock is monotonic (quanta's calibrated TSC, or the OS
//! monotonic clock) and its origin is one process-wide instant, so every
//! real-clock cache shares one timeline with the expiry thread. A jump of
//! the wall clock changes nothing.
//!
//! Deadlines are kept in nanoseconds, so `ttl()` is exact; only the wheel
//! rounds them to ticks (`deadline / tick`, rounded down) to pick a slot.

use std::sync::OnceLock;
use std::time::Duration;

#[cfg(feature = "test-util")]
use std::sync::{atomic::AtomicU64, atomic::Ordering, Arc};

/// The deadline of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// The latest deadline a TTL can reach: about 584 years after the origin.
/// Longer TTLs (up to `Duration::MAX`) are clamped to it.
pub(crate) const LATEST: u64 = u64::MAX - 1;

/// Where the caches' time comes from.
///
/// [`Clock::real`] (the default) reads the monotonic clock. With the
/// `test-util` feature, a `MockClock` converts into a `Clock` that moves only
/// when told, which makes every expiry test deterministic.
///
/// A cache on a mock clock is never visited by the background expiry
/// thread: its expired entries are invisible to every read at once, and are
/// reaped by [`Cache::run_pending_tasks`](crate::Cache::run_pending_tasks)
/// (and by the writes that meet them).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    kind: Kind,
}

#[derive(Clone, Debug, Default)]
enum Kind {
    #[default]
    Real,
    #[cfg(feature = "test-util")]
    Mock(Arc<AtomicU64>),
}

/// The process-wide real clock: quanta's calibrated TSC reading where the
/// processor's TSC is invariant (a read costs about half what
/// `Instant::now` costs), the OS monotonic clock otherwise.
#[cfg(not(miri))]
struct Real {
    clock: quanta::Clock,
    origin: u64,
}

#[cfg(not(miri))]
impl Real {
    fn new() -> Real {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Real { clock, origin }
    }

    #[inline]
    fn nanos(&self) -> u64 {
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }
}

/// Under Miri, which cannot run the TSC probe's inline assembly, the
/// standard library's monotonic clock.
#[cfg(miri)]
struct Real {
    origin: std::time::Instant,
}

#[cfg(miri)]
impl Real {
    fn new() -> Real {
        Real { origin: std::time::Instant::now() }
    }

    fn nanos(&self) -> u64 {
        nanos(self.origin.elapsed())
    }
}

fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(Real::new)
}

impl Clock {
    /// The monotonic clock of the operating system.
    pub fn real() -> Clock {
        // Calibrate and fix the origin now, so that readings start near zero.
        real();
        Clock { kind: Kind::Real }
    }

    /// Nanoseconds since the origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.kind {
            Kind::Real => real_now(),
            #[cfg(feature = "test-util")]
            Kind::Mock(nanos) => nanos.load(Ordering::Acquire),
        }
    }

    /// Whether this is the real clock (served by the background thread).
    pub(crate) fn is_real(&self) -> bool {
        matches!(self.kind, Kind::Real)
    }
}

/// Nanoseconds since the process-wide origin on the monotonic clock.
#[inline]
pub(crate) fn real_now() -> u64 {
    real().nanos().min(LATEST)
}

/// A duration in nanoseconds, saturating.
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A wheel tick's length in nanoseconds, with its reciprocal, so that
/// turning a reading into ticks is two multiplications and a comparison
/// instead of a 64-bit `div` (tens of cycles): a write with a TTL does it
/// up to four times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tick {
    nanos: u64,
    /// `⌊(2^64 − 1) / nanos⌋`.
    inverse: u64,
}

impl Tick {
    /// A tick of `nanos` nanoseconds (at least 1).
    pub(crate) fn new(nanos: u64) -> Tick {
        let nanos = nanos.max(1);
        Tick { nanos, inverse: u64::MAX / nanos }
    }

    /// The tick's length in nanoseconds.
    #[inline]
    pub(crate) fn nanos(self) -> u64 {
        self.nanos
    }

    /// The tick that holds `t` (nanoseconds): `⌊t / nanos⌋`. With
    /// `I = ⌊(2^64 − 1) / d⌋`, `I·d > 2^64 − 1 − d`, so `t·I / 2^64` lies in
    /// `(t/d − 1, t/d]`: its floor is the quotient or one less, and one
    /// comparison of the remainder tells which.
    #[inline]
    pub(crate) fn of(self, t: u64) -> u64 {
        let q = ((u128::from(t) * u128::from(self.inverse)) >> 64) as u64;
        q + u64::from(t - q * self.nanos >= self.nanos)
    }
}

/// The deadline of a TTL starting at `now`: saturating, never `NEVER`.
#[inline]
pub(crate) fn deadline(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(nanos(ttl)).min(LATEST)
}

/// A clock that moves only when told, for tests (feature `test-util`).
///
/// Clones share one time. It starts at zero.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use wheelcache::{Cache, MockClock};
///
/// let clock = MockClock::new();
/// let cache: Cache<u64, u64> = Cache::builder().clock(clock.clone()).build()?;
/// cache.setx(1, 10, Some(Duration::from_secs(1)));
/// clock.advance(Duration::from_millis(999));
/// assert_eq!(cache.get(&1), Some(10));
/// clock.advance(Duration::from_millis(1));
/// assert_eq!(cache.get(&1), None);
/// # Ok::<(), wheelcache::BuildError>(())
/// ```
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, Default)]
pub struct MockClock {
    nanos: Arc<AtomicU64>,
}

#[cfg(feature = "test-util")]
impl MockClock {
    /// A mock clock at time zero.
    pub fn new() -> MockClock {
        MockClock::default()
    }

    /// Moves the clock forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let step = nanos(d);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self.nanos.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
            Some(t.saturating_add(step).min(LATEST))
        });
    }

    /// How far the clock has been moved since it was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

#[cfg(feature = "test-util")]
impl From<MockClock> for Clock {
    fn from(mock: MockClock) -> Clock {
        Clock { kind: Kind::Mock(mock.nanos) }
    }
}

#[cfg(feature = "test-util")]
impl From<&MockClock> for Clock {
    fn from(mock: &MockClock) -> Clock {
        Clock { kind: Kind::Mock(mock.nanos.clone()) }
    }
}

#[cfg(test)]
mod tests {
    use super::Tick;

    #[test]
    fn a_tick_divides_as_div_does() {
        // Divisors: the smallest, powers of ten (the usual ticks), their
        // neighbours, and odd and huge ones; readings: the edges of every
        // quotient and a spread of others up to u64::MAX.
        let mut divisors = vec![1, 2, 3, 7, 1_000, 999_999, 1_000_000, 1_000_001, 10_000_000];
        divisors.extend([u64::MAX / 3, u64::MAX - 1, u64::MAX, 1 << 63, (1 << 32) + 1]);
        let mut z = 0u64;
        for d in divisors {
            let tick = Tick::new(d);
            let mut readings = vec![0, 1, d - 1, d, d.saturating_add(1), u64::MAX - 1, u64::MAX];
            for _ in 0..if cfg!(miri) { 50 } else { 2_000 } {
                // SplitMix64's step.
                z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut x = z;
                x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let z = x ^ (x >> 31);
                readings.extend([z, z >> 20, (z >> 40).saturating_mul(d), (z >> 40) * (d % 1024)]);
            }
            for t in readings {
                assert_eq!(tick.of(t), t / d, "{t} / {d}");
            }
        }
        assert_eq!(Tick::new(0).nanos(), 1, "a zero tick is one nanosecond");
    }
}
