//! The hit ratios (percent) that the ARC paper published for its traces
//! OLTP and P12 (N. Megiddo and D. S. Modha, "ARC: A Self-Tuning, Low
//! Overhead Replacement Cache", USENIX FAST 2003), at the cache sizes (in
//! blocks) it lists. `None` where the paper gives no figure for a policy.

/// The paper's LRU and ARC hit ratios at one size.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Published {
    pub lru: Option<f64>,
    pub arc: Option<f64>,
}

/// `(size, LRU, ARC)` rows.
type Rows = &'static [(u64, Option<f64>, Option<f64>)];

const OLTP: Rows = &[
    (1000, Some(32.83), Some(38.93)),
    (2000, None, Some(46.08)),
    (5000, Some(53.65), Some(55.25)),
    (10000, None, Some(61.87)),
    (15000, Some(64.63), Some(65.40)),
];

const P12: Rows = &[
    (1024, None, Some(4.16)),
    (2048, None, Some(4.89)),
    (4096, None, Some(5.76)),
    (8192, Some(6.22), Some(7.14)),
    (16384, None, Some(10.12)),
    (32768, Some(8.93), Some(15.94)),
    (65536, None, Some(26.09)),
    (131072, None, Some(38.68)),
    (262144, Some(49.11), Some(53.47)),
    (524288, Some(60.91), Some(63.56)),
];

fn rows(trace: &str) -> Rows {
    match trace {
        "OLTP" => OLTP,
        "P12" => P12,
        _ => &[],
    }
}

/// The sizes the paper lists for `trace` (none for a trace it did not use).
pub fn sizes(trace: &str) -> Vec<u64> {
    rows(trace).iter().map(|r| r.0).collect()
}

/// The paper's figures for `trace` at `size` (all `None` where it has none).
pub fn at(trace: &str, size: u64) -> Published {
    rows(trace)
        .iter()
        .find(|r| r.0 == size)
        .map_or(Published::default(), |&(_, lru, arc)| Published { lru, arc })
}

#[cfg(test)]
mod tests {
    use super::{at, sizes, Published};

    #[test]
    fn lookups() {
        assert_eq!(sizes("OLTP"), [1000, 2000, 5000, 10000, 15000]);
        assert_eq!(sizes("P12").len(), 10);
        assert!(sizes("lirs-cpp").is_empty());
        assert_eq!(at("OLTP", 2000), Published { lru: None, arc: Some(46.08) });
        assert_eq!(at("P12", 524288), Published { lru: Some(60.91), arc: Some(63.56) });
        assert_eq!(at("P12", 1000), Published::default());
    }
}
