//! Reliability checks (SPEC §6): every sync call against a plain model
//! under proptest, many threads with checkable invariants, and the table of
//! bad inputs.
//!
//! - `op` and `runner`: the calls as data, the model (a map of values and
//!   deadlines on a mock clock) and the runner that compares a cache with
//!   it after every call. The fuzz target `ops` (fuzz/) includes both files
//!   by path and drives the same runner from the fuzzer's bytes.
//! - `sequence`: proptest over random call sequences, unbounded and bounded.
//! - `stress`: threads of mixed calls with invariants that need no model.
//! - `bad_input`: the rows of the crate docs' "Bad input" table that no
//!   other module tests.

mod bad_input;
mod op;
mod runner;
mod sequence;
mod stress;
