//! Reliability checks: every sync call against a plain model
//! under proptest, many threads with checkable invariants, and the table of
//! bad inputs.
//!
//! - `op`, `reference`, `weights` and `runner`: the calls as data, the
//!   reference model (a map of values, deadlines and idle renewals on a
//!   mock clock), the capacity checks in weight, and the runner that
//!   compares a cache with the model after every call. The fuzz target
//!   `ops` (fuzz/) includes these files by path and drives the same runner
//!   from the fuzzer's bytes.
//! - `sequence`: proptest over random call sequences: unbounded, bounded
//!   in entries or in weight, with and without a time to idle.
//! - `found`: what the sequences found, replayed as direct calls.
//! - `stress`: threads of mixed calls with invariants that need no model.
//! - `bad_input`: the rows of the crate docs' "Bad input" table that no
//!   other module tests.

mod bad_input;
mod found;
mod op;
mod reference;
mod runner;
mod sequence;
mod stress;
mod weights;
