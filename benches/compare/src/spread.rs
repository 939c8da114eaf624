//! One figure measured once per round, shown as its median and its range
//! across the rounds: `1.20 ms (0.85–1.40)`.
//!
//! Latency on a shared machine is noisy from one run to the next; the median
//! says what is typical and the range says how far the rounds strayed.

use std::time::Duration;

/// The values of one figure, one per round, sorted.
#[derive(Debug, Clone)]
pub struct Spread {
    sorted: Vec<f64>,
}

impl Spread {
    /// # Panics
    ///
    /// If there are no values, or one is NaN.
    pub fn new(values: impl IntoIterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        assert!(!sorted.is_empty(), "a figure needs at least one round");
        sorted.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        Spread { sorted }
    }

    /// Seconds of each duration.
    pub fn of_durations(values: impl IntoIterator<Item = Duration>) -> Self {
        Spread::new(values.into_iter().map(|d| d.as_secs_f64()))
    }

    /// The middle value (the mean of the two middle ones for an even count).
    pub fn median(&self) -> f64 {
        let n = self.sorted.len();
        if n % 2 == 1 {
            self.sorted[n / 2]
        } else {
            (self.sorted[n / 2 - 1] + self.sorted[n / 2]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted[0]
    }

    pub fn max(&self) -> f64 {
        self.sorted[self.sorted.len() - 1]
    }

    /// The median with `unit`, then the range in the same unit; the range
    /// is left out for a single round.
    fn show(&self, scale: f64, unit: &str) -> String {
        self.show_with(|x| digits(x * scale), unit)
    }

    fn show_with(&self, number: impl Fn(f64) -> String, unit: &str) -> String {
        let median = format!("{}{unit}", number(self.median()));
        if self.sorted.len() == 1 {
            median
        } else {
            format!("{median} ({}–{})", number(self.min()), number(self.max()))
        }
    }

    /// Seconds, shown in the unit that suits the median (ns, µs, ms or s).
    pub fn duration(&self) -> String {
        let m = self.median();
        let (scale, unit) = if m < 1e-6 {
            (1e9, " ns")
        } else if m < 1e-3 {
            (1e6, " µs")
        } else if m < 1.0 {
            (1e3, " ms")
        } else {
            (1.0, " s")
        };
        self.show(scale, unit)
    }

    /// A ratio: `1.23× (1.10–1.41)`.
    pub fn ratio(&self) -> String {
        self.show(1.0, "×")
    }

    /// A rate of `what` per second: `18.2 M gets/s (17.9–18.4)`.
    pub fn per_sec(&self, what: &str) -> String {
        if self.median() >= 1e6 {
            self.show(1e-6, &format!(" M {what}/s"))
        } else {
            self.show(1e-3, &format!(" k {what}/s"))
        }
    }

    /// A count: `5.41 M (5.38–5.44)`, `98 (94–100)`.
    pub fn count(&self) -> String {
        if self.median() >= 1e6 {
            self.show(1e-6, " M")
        } else if self.median() >= 1e3 {
            self.show(1e-3, " k")
        } else {
            self.show_with(|x| format!("{x:.0}"), "")
        }
    }
}

/// Three significant digits or so, without trailing noise.
fn digits(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let s = Spread::new([3.0, 1.0, 2.0]);
        assert_eq!((s.median(), s.min(), s.max()), (2.0, 1.0, 3.0));
        assert_eq!(Spread::new([1.0, 2.0, 3.0, 10.0]).median(), 2.5);
        assert_eq!(s.ratio(), "2.00× (1.00–3.00)");
        assert_eq!(Spread::new([1.5]).ratio(), "1.50×");
        assert_eq!(Spread::new([98.0, 94.0, 100.0]).count(), "98 (94–100)");
        assert_eq!(Spread::new([2e6, 1.9e6, 2.1e6]).per_sec("gets"), "2.00 M gets/s (1.90–2.10)");
    }

    #[test]
    fn durations_share_the_median_unit() {
        let s = Spread::new([0.00092, 0.00085, 0.0014]);
        assert_eq!(s.duration(), "920 µs (850–1400)");
        let s = Spread::new([0.0012, 0.00085, 0.0014]);
        assert_eq!(s.duration(), "1.20 ms (0.85–1.40)");
        let s = Spread::new([650e-9, 700e-9, 1.2e-6]);
        assert_eq!(s.duration(), "700 ns (650–1200)");
    }
}
