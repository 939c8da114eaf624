//! The one markdown table the run prints, and the formatting of its cells.

use std::time::Duration;

/// One row: a contender's result in a workload.
pub struct Row {
    pub workload: String,
    pub contender: String,
    pub result: String,
    /// wheelcache's figure divided by this row's (empty on wheelcache's own
    /// rows).
    pub ratio: String,
    /// The performance target this row checks, and whether it is met.
    pub target: String,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn push(&mut self, workload: &str, contender: &str, result: String) -> &mut Row {
        self.rows.push(Row {
            workload: workload.to_string(),
            contender: contender.to_string(),
            result,
            ratio: String::new(),
            target: String::new(),
        });
        self.rows.last_mut().expect("just pushed")
    }

    /// The rows pushed so far.
    #[cfg(test)]
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn print(&self) {
        let header = ["workload", "contender", "result", "wheelcache ÷ contender", "target"];
        let cells: Vec<[&str; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.workload.as_str(),
                    r.contender.as_str(),
                    r.result.as_str(),
                    r.ratio.as_str(),
                    r.target.as_str(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: &[&str; 5]| {
            let padded: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&header);
        println!("|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"));
        for row in &cells {
            line(row);
        }
    }
}

impl Row {
    pub fn ratio(&mut self, ratio: f64) -> &mut Self {
        // Two significant digits at least: a ratio of 0.0009 is not "0.00".
        let decimals =
            if ratio > 0.0 && ratio < 0.1 { (1.0 - ratio.log10().floor()) as usize } else { 2 };
        self.ratio = format!("{ratio:.decimals$}×");
        self
    }

    /// Records a difference in percentage points (wheelcache minus the row).
    pub fn points(&mut self, points: f64) -> &mut Self {
        self.ratio = format!("{points:+.2} pt");
        self
    }

    /// Records a target `what` and whether `met`; a second target of the
    /// same row is added after the first.
    pub fn target(&mut self, what: &str, met: bool) -> &mut Self {
        let cell = format!("{what}: {}", if met { "met" } else { "**missed**" });
        if self.target.is_empty() {
            self.target = cell;
        } else {
            self.target = format!("{}; {cell}", self.target);
        }
        self
    }

    /// Records targets checked once per round, each with whether each round
    /// met it. A target is met only if every round met it: a guarantee has
    /// to hold in every run, not in the best one.
    pub fn targets_every_round(&mut self, targets: &[(&str, &[bool])]) -> &mut Self {
        let cells: Vec<String> = targets
            .iter()
            .map(|(what, rounds)| {
                let met = rounds.iter().filter(|&&m| m).count();
                let n = rounds.len();
                if met == n {
                    format!("{what}: met ({met} of {n} rounds)")
                } else {
                    format!("{what}: **missed** (met in {met} of {n} rounds)")
                }
            })
            .collect();
        self.target = cells.join("; ");
        self
    }
}

/// A count with a thousands or millions suffix: `950`, `412 k`, `5.41 M`.
pub fn count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.0} k", n as f64 / 1e3),
        _ => format!("{:.2} M", n as f64 / 1e6),
    }
}

pub fn ops_per_sec(ops: f64) -> String {
    if ops >= 1e6 {
        format!("{:.2} M ops/s", ops / 1e6)
    } else {
        format!("{:.0} k ops/s", ops / 1e3)
    }
}

pub fn dur(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The `p`-quantile (0..=1) of sorted nanoseconds.
pub fn quantile(sorted: &[u64], p: f64) -> Duration {
    assert!(!sorted.is_empty());
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    Duration::from_nanos(sorted[i])
}
