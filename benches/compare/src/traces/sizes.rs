//! The cache sizes (in entries, one per block) each trace is replayed at.
//!
//! - OLTP: the five sizes the ARC paper lists.
//! - P12: the ten sizes the ARC paper lists with `--long`; by default only
//!   the smallest and the largest of those where it also gives LRU's hit
//!   ratio (so that the default run still checks the parsing against the
//!   paper, in a few minutes: a P12 replay is 13.2M requests per contender).
//! - The LIRS traces: fixed fractions of the trace's distinct blocks,
//!   [`LIRS_PERCENT`], from a cache that holds a small part of the blocks
//!   to one that holds a large part of them.

use super::files::{Format, TraceFile};
use super::published;

/// The LIRS traces' sizes, in percent of their distinct blocks.
pub const LIRS_PERCENT: [u64; 5] = [2, 5, 10, 20, 40];

/// One size to replay at, and how the table names it.
#[derive(Debug, PartialEq)]
pub struct Size {
    pub entries: u64,
    pub label: String,
}

/// The sizes for `trace`, which has `distinct` distinct blocks; `all`
/// (the `--long` run) adds the sizes the default run leaves out.
pub fn of(trace: &TraceFile, distinct: u64, all: bool) -> Vec<Size> {
    let plain = |entries: u64| Size { entries, label: entries.to_string() };
    match trace.format {
        Format::Lis if all => published::sizes(trace.name).into_iter().map(plain).collect(),
        Format::Lis if trace.name == "P12" => {
            let with_lru: Vec<u64> = published::sizes(trace.name)
                .into_iter()
                .filter(|&s| published::at(trace.name, s).lru.is_some())
                .collect();
            let (first, last) = (with_lru[0], with_lru[with_lru.len() - 1]);
            vec![plain(first), plain(last)]
        }
        Format::Lis => published::sizes(trace.name).into_iter().map(plain).collect(),
        Format::Lirs => LIRS_PERCENT
            .iter()
            .map(|&percent| {
                let entries = ((distinct * percent + 50) / 100).max(1);
                Size { entries, label: format!("{entries} ({percent}%)") }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::{of, Size};
    use crate::traces::files::ALL;

    fn entries(name: &str, distinct: u64, all: bool) -> Vec<u64> {
        let file = ALL.iter().find(|f| f.name == name).unwrap();
        of(file, distinct, all).iter().map(|s| s.entries).collect()
    }

    #[test]
    fn arc_paper_sizes() {
        assert_eq!(entries("OLTP", 0, false), [1000, 2000, 5000, 10000, 15000]);
        assert_eq!(entries("OLTP", 0, true), entries("OLTP", 0, false));
        assert_eq!(entries("P12", 0, false), [8192, 524288]);
        assert_eq!(entries("P12", 0, true).len(), 10);
    }

    #[test]
    fn lirs_sizes_are_fractions_of_the_distinct_blocks() {
        assert_eq!(entries("lirs-cpp", 1223, false), [24, 61, 122, 245, 489]);
        assert_eq!(entries("lirs-cpp", 1223, true), entries("lirs-cpp", 1223, false));
        assert_eq!(entries("lirs-ps", 10, false), [1, 1, 1, 2, 4]);
        let file = ALL.iter().find(|f| f.name == "lirs-ps").unwrap();
        assert_eq!(of(file, 3083, false)[0], Size { entries: 62, label: "62 (2%)".into() });
    }
}
