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

/// A cheap bound on the real clock, from the kernel's coarse clock (Linux).
///
/// A precise reading reads the time-stamp counter, and on some virtual
/// machines that instruction waits for every load and store in flight:
/// a read of an entry with a deadline then runs at a third of the speed
/// of a read of one without. But a read only needs to know that the clock
/// is before the deadline, and for a deadline far ahead a bound proves it.
///
/// `CLOCK_MONOTONIC_COARSE` is the kernel's time as of its last timer
/// tick, read from memory (the vDSO's data page) without the counter. It
/// trails the kernel's precise `CLOCK_MONOTONIC` by at most a tick (1 to
/// 10 ms) while the kernel keeps time; [`LAG`](coarse::LAG) allows ten
/// times the slowest tick. It runs on the kernel's timeline, not on the
/// counter's as quanta scaled it, so an anchor ties the two: a coarse
/// reading `c0` and a precise reading `q0` taken just after it. Since the
/// kernel's clock had reached `c0` when `q0` was read, and has advanced
/// since by at most `c - c0 + LAG` when the coarse clock reads `c`, the
/// precise clock reads at most `q0 + (c - c0) + LAG`, up to the two
/// clocks' difference in rate over that time: NTP slews the kernel's by
/// at most 500 ppm, and quanta's calibration errs by far less. An anchor
/// serves for [`LIFE`](coarse::LIFE), so that drift stays under a
/// millisecond; [`DRIFT`](coarse::DRIFT) allows five. The first read
/// that finds the anchor missing or old reads the precise clock, as it
/// must anyway, and renews it: about one precise reading a second.
#[cfg(all(target_os = "linux", not(miri)))]
mod coarse {
    use std::sync::atomic::{AtomicU64, Ordering::*};

    /// How far the coarse clock may trail the precise one.
    pub(super) const LAG: u64 = 100_000_000;
    /// How long an anchor serves, on the coarse clock.
    pub(super) const LIFE: u64 = 1_000_000_000;
    /// The two clocks' drift allowed over an anchor's life.
    pub(super) const DRIFT: u64 = 5_000_000;

    /// The kernel's coarse monotonic time in nanoseconds, `None` if it
    /// cannot be read (it exists on every kernel since 2.6.32).
    #[inline]
    pub(super) fn read() -> Option<u64> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable `timespec`.
        let failed = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &raw mut ts) };
        let nanos = (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64);
        (failed == 0).then_some(nanos)
    }

    /// The anchor: `q0 + LAG + DRIFT - c0` (wrapping: the two clocks'
    /// origins differ), so that a coarse reading `c` plus it is the bound,
    /// and `c0`. `coarse` is stored after `offset` (release) and loaded
    /// before it (acquire), so a reader that sees an anchor's `c0` sees its
    /// offset or a later one; anchors race only when renewed at once, by
    /// readings a moment apart. On a line of its own: it is read by every
    /// read of an entry with a deadline, and written about once a second.
    #[repr(align(64))]
    pub(super) struct Anchor {
        offset: AtomicU64,
        coarse: AtomicU64,
    }

    /// `c0` before the first anchoring: every coarse reading is more than
    /// `LIFE` past it (wrapping).
    const UNSET: u64 = 1 << 63;

    /// The process's anchor.
    pub(super) static ANCHOR: Anchor =
        Anchor { offset: AtomicU64::new(0), coarse: AtomicU64::new(UNSET) };

    impl Anchor {
        /// A bound the precise reading is below now; or, if the anchor is
        /// unset or older than `LIFE`, the coarse reading just taken, to
        /// renew it with (`None` if the coarse clock cannot be read).
        #[inline]
        pub(super) fn bound(&self) -> Result<u64, Option<u64>> {
            let c = read().ok_or(None)?;
            let c0 = self.coarse.load(Acquire);
            if c.wrapping_sub(c0) > LIFE {
                return Err(Some(c));
            }
            Ok(c.wrapping_add(self.offset.load(Relaxed)))
        }

        /// Anchors the coarse clock to `precise`, a reading taken right
        /// after the coarse reading `c0`.
        pub(super) fn renew(&self, c0: u64, precise: u64) {
            let offset = precise.wrapping_add(LAG + DRIFT).wrapping_sub(c0);
            self.offset.store(offset, Relaxed);
            self.coarse.store(c0, Release);
        }
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

    /// Whether the clock reads before `deadline`: from the coarse clock
    /// alone when its bound proves it (see `coarse`), else from a precise
    /// reading.
    #[inline]
    pub(crate) fn before(&self, deadline: u64) -> bool {
        self.check(deadline).is_none_or(|now| now < deadline)
    }

    /// `None` if the coarse clock proves this clock before `deadline`,
    /// else a precise reading.
    #[inline]
    fn check(&self, deadline: u64) -> Option<u64> {
        match &self.kind {
            Kind::Real => real_check(deadline),
            #[cfg(feature = "test-util")]
            Kind::Mock(nanos) => Some(nanos.load(Ordering::Acquire)),
        }
    }

    /// Whether this is the real clock (served by the background thread).
    pub(crate) fn is_real(&self) -> bool {
        matches!(self.kind, Kind::Real)
    }
}

/// A call's time, read from the clock at most once, when first needed, or
/// given by [`set`](Now::set).
pub(crate) struct Now<'a> {
    clock: &'a Clock,
    at: Option<u64>,
}

impl<'a> Now<'a> {
    /// A time not read yet.
    #[inline]
    pub(crate) fn new(clock: &'a Clock) -> Now<'a> {
        Now { clock, at: None }
    }

    #[inline]
    pub(crate) fn get(&mut self) -> u64 {
        *self.at.get_or_insert_with(|| self.clock.now())
    }

    /// Whether the call's time is before `deadline`: by the reading taken
    /// already if there is one, else as [`Clock::before`] proves it, which
    /// takes a precise reading (kept) only when the coarse one cannot tell.
    #[inline]
    pub(crate) fn before(&mut self, deadline: u64) -> bool {
        match self.at {
            Some(at) => at < deadline,
            None if deadline == NEVER => true,
            None => match self.clock.check(deadline) {
                None => true,
                Some(now) => {
                    self.at = Some(now);
                    now < deadline
                }
            },
        }
    }

    /// Takes `at`, a reading of the clock made before the call took its
    /// lock, as the call's time.
    #[inline]
    pub(crate) fn set(&mut self, at: u64) {
        self.at = Some(at);
    }

    /// The deadline of a TTL starting now (`NEVER` for none).
    #[inline]
    pub(crate) fn deadline(&mut self, ttl: Option<Duration>) -> u64 {
        ttl.map_or(NEVER, |ttl| deadline(self.get(), ttl))
    }
}

/// Nanoseconds since the process-wide origin on the monotonic clock.
#[inline]
pub(crate) fn real_now() -> u64 {
    real().nanos().min(LATEST)
}

/// The real clock's [`Clock::check`]: on Linux, the coarse clock's bound
/// when it proves the clock before `deadline`; else a precise reading,
/// which renews the bound's anchor if that was missing or old.
#[cfg(all(target_os = "linux", not(miri)))]
#[inline]
fn real_check(deadline: u64) -> Option<u64> {
    match coarse::ANCHOR.bound() {
        Ok(bound) if bound < deadline => None,
        Ok(_) | Err(None) => Some(real_now()),
        Err(Some(c0)) => {
            let now = real_now();
            coarse::ANCHOR.renew(c0, now);
            Some(now)
        }
    }
}

/// Elsewhere, a precise reading.
#[cfg(not(all(target_os = "linux", not(miri))))]
#[inline]
fn real_check(_deadline: u64) -> Option<u64> {
    Some(real_now())
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
    use std::time::Duration;

    use super::{deadline, real_now, Clock, Now, Tick, NEVER};

    /// The coarse clock's bound is above every precise reading taken
    /// before it, whatever the phase of the kernel's tick at which it was
    /// anchored, and proves a deadline a few seconds off.
    #[test]
    #[cfg(all(target_os = "linux", not(miri)))]
    fn the_coarse_bound_is_above_the_precise_clock() {
        use super::{coarse, real_check};
        let anchor = &coarse::ANCHOR;
        let start = real_now();
        let (mut bounds, mut proven) = (0u64, 0u64);
        // 40 ms: ten ticks at 250 Hz, four at 100 Hz; anchored afresh every
        // few hundred readings, so at every phase of the tick.
        for i in 0u64.. {
            let precise = real_now();
            if precise - start > 40_000_000 {
                break;
            }
            match anchor.bound() {
                Ok(bound) if i % 512 != 0 => {
                    assert!(precise < bound, "precise {precise} at or above the bound {bound}");
                    bounds += 1;
                }
                Ok(_) | Err(_) => {
                    let c0 = coarse::read().expect("the coarse clock reads on Linux");
                    anchor.renew(c0, real_now());
                }
            }
            let far = deadline(precise, Duration::from_secs(3));
            proven += u64::from(real_check(far).is_none());
        }
        assert!(bounds > 0 && proven > 0, "{bounds} bounds, {proven} proven");
    }

    #[test]
    fn before_agrees_with_the_precise_clock() {
        let clock = Clock::real();
        let now = clock.now();
        assert!(clock.before(deadline(now, Duration::from_secs(3600))));
        assert!(clock.before(NEVER));
        // Close ahead or behind: the precise reading decides.
        let soon = deadline(clock.now(), Duration::from_millis(20));
        assert!(clock.before(soon) || clock.now() >= soon);
        assert!(!clock.before(now));
        assert!(!clock.before(0));
    }

    #[test]
    fn a_call_keeps_the_precise_reading_it_took() {
        let clock = Clock::real();
        let mut now = Now::new(&clock);
        let before = real_now();
        // Behind: only a precise reading can tell, and the call keeps it.
        assert!(!now.before(before));
        let at = now.get();
        assert!(at >= before);
        assert!(now.before(at + 1) && !now.before(at));
        assert_eq!(now.get(), at);
    }

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
