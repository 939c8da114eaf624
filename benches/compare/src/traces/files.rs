//! The trace files kept in `traces/` beside this package's manifest,
//! zstd-compressed, and their loading.

use std::path::PathBuf;

use super::parse::{self, Parsed};
use super::zstd;

/// How a trace file is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    /// `start count x y` lines (the ARC paper's traces).
    Lis,
    /// One block number per line (the LIRS paper's traces).
    Lirs,
}

/// One trace file: `traces/{name}.lis.zst` or `traces/{name}.trace.zst`.
#[derive(Debug, Clone, Copy)]
pub struct TraceFile {
    pub name: &'static str,
    pub format: Format,
}

/// Every trace, in the order the workload replays them.
pub const ALL: [TraceFile; 9] = [
    TraceFile { name: "OLTP", format: Format::Lis },
    TraceFile { name: "P12", format: Format::Lis },
    TraceFile { name: "lirs-2_pools", format: Format::Lirs },
    TraceFile { name: "lirs-cpp", format: Format::Lirs },
    TraceFile { name: "lirs-multi1", format: Format::Lirs },
    TraceFile { name: "lirs-multi2", format: Format::Lirs },
    TraceFile { name: "lirs-multi3", format: Format::Lirs },
    TraceFile { name: "lirs-ps", format: Format::Lirs },
    TraceFile { name: "lirs-sprite", format: Format::Lirs },
];

impl TraceFile {
    pub fn path(&self) -> PathBuf {
        let ext = match self.format {
            Format::Lis => "lis",
            Format::Lirs => "trace",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("traces")
            .join(format!("{}.{ext}.zst", self.name))
    }

    /// Reads, decompresses and parses the file.
    pub fn load(&self) -> Result<Parsed, String> {
        let path = self.path();
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let compressed = std::fs::read(&path).map_err(|e| fail(&e))?;
        let bytes = zstd::decompress(&compressed).map_err(|e| fail(&e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| fail(&e))?;
        match self.format {
            Format::Lis => parse::lis(text),
            Format::Lirs => parse::lirs(text),
        }
        .map_err(|e| fail(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::ALL;

    /// Every file is there and parses; the counts are those of the files
    /// as committed (lines, and requests after expanding `.lis` runs).
    #[test]
    fn every_trace_loads() {
        for file in ALL {
            let parsed = file.load().unwrap_or_else(|e| panic!("{e}"));
            let (requests, markers) = match file.name {
                "OLTP" => (914_145, 0),
                "P12" => (13_208_930, 0),
                "lirs-2_pools" => (100_000, 2),
                "lirs-cpp" => (9_047, 0),
                "lirs-multi1" => (15_858, 0),
                "lirs-multi2" => (26_311, 0),
                "lirs-multi3" => (30_241, 0),
                "lirs-ps" => (10_448, 0),
                "lirs-sprite" => (133_996, 0),
                other => panic!("no counts for {other}"),
            };
            assert_eq!(parsed.requests.len(), requests, "{}", file.name);
            assert_eq!((parsed.markers, parsed.blank), (markers, 0), "{}", file.name);
        }
    }
}
