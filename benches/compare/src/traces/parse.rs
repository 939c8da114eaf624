//! The two text formats of the block traces, parsed into request streams
//! (one block number per request).
//!
//! - `.lis` (the ARC paper's traces): each line is `start count x y`, four
//!   unsigned integers; it stands for `count` requests, of blocks `start`,
//!   `start + 1`, …, `start + count − 1`. `x` and `y` are not used.
//! - LIRS `.trace`: one block number per line. Blank lines and lines that
//!   hold a lone `*` carry no block number and are skipped (and counted).
//!
//! Anything else is an error naming the line, rather than a guess.

use std::fmt;

/// A line that fits neither format.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub what: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for ParseError {}

/// A parsed trace: its requests, and the lines that held none.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub requests: Vec<u64>,
    /// Blank lines (LIRS format).
    pub blank: usize,
    /// `*` lines (LIRS format).
    pub markers: usize,
}

fn number(field: &str, line: usize, name: &str) -> Result<u64, ParseError> {
    field
        .parse()
        .map_err(|_| ParseError { line, what: format!("{name} {field:?} is not a number") })
}

/// Parses a `.lis` trace: `start count x y` per line, expanded to `count`
/// requests of consecutive blocks from `start`.
pub fn lis(text: &str) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let fields: Vec<&str> = raw.split_ascii_whitespace().collect();
        let [start, count, x, y] = fields[..] else {
            return Err(ParseError {
                line,
                what: format!("{} fields, not 4 (start count x y)", fields.len()),
            });
        };
        let start = number(start, line, "start")?;
        let count = number(count, line, "count")?;
        number(x, line, "x")?;
        number(y, line, "y")?;
        if count == 0 {
            return Err(ParseError { line, what: "count 0".into() });
        }
        let end = start
            .checked_add(count)
            .ok_or_else(|| ParseError { line, what: "start + count overflows".into() })?;
        out.requests.extend(start..end);
    }
    Ok(out)
}

/// Parses a LIRS trace: one block number per line; blank and `*` lines
/// are skipped and counted.
pub fn lirs(text: &str) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    for (n, raw) in text.lines().enumerate() {
        match raw.trim() {
            "" => out.blank += 1,
            "*" => out.markers += 1,
            block => out.requests.push(number(block, n + 1, "block")?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{lirs, lis, ParseError, Parsed};

    #[test]
    fn lis_expands_runs_of_blocks() {
        let parsed = lis("1 1 0 0\n100 3 0 1\n7 2 94 547146\n").unwrap();
        assert_eq!(parsed.requests, [1, 100, 101, 102, 7, 8]);
        assert_eq!((parsed.blank, parsed.markers), (0, 0));
    }

    #[test]
    fn lis_without_a_final_newline_and_with_extra_spaces() {
        assert_eq!(lis("5 2 0 0\n  9\t1 0 0").unwrap().requests, [5, 6, 9]);
    }

    #[test]
    fn lis_rejects_what_it_cannot_read() {
        let err = |text: &str| lis(text).unwrap_err();
        assert_eq!(err("1 1 0 0\n2 1 0\n").line, 2);
        assert_eq!(err("1 1 0 0\n\n").line, 2);
        assert_eq!(err("1 -1 0 0\n").what, "count \"-1\" is not a number");
        assert_eq!(err("1 1 0 z\n").what, "y \"z\" is not a number");
        assert_eq!(err("1 0 0 0\n"), ParseError { line: 1, what: "count 0".into() });
        assert_eq!(err(&format!("{} 2 0 0", u64::MAX)).what, "start + count overflows");
    }

    #[test]
    fn lirs_one_block_per_line() {
        let parsed = lirs("0\n1\n2\n1\n").unwrap();
        assert_eq!(parsed, Parsed { requests: vec![0, 1, 2, 1], blank: 0, markers: 0 });
    }

    #[test]
    fn lirs_skips_and_counts_blank_and_star_lines() {
        let parsed = lirs("2819\n*\n85\n\n  \n*\n560").unwrap();
        assert_eq!(parsed, Parsed { requests: vec![2819, 85, 560], blank: 2, markers: 2 });
    }

    #[test]
    fn lirs_rejects_other_lines() {
        assert_eq!(
            lirs("1\n2 3\n").unwrap_err(),
            ParseError { line: 2, what: "block \"2 3\" is not a number".into() }
        );
        assert_eq!(lirs("1\n**\n").unwrap_err().line, 2);
        assert_eq!(lirs("-4\n").unwrap_err().line, 1);
    }
}
