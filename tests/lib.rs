//! The integration tests: one binary, a module per area.

mod capacity;
mod common;
mod conformance;
#[cfg(feature = "redis")]
mod redis;
mod sync_core;
