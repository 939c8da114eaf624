//! The integration tests: one binary, a module per area.

mod architecture;
mod capacity;
mod common;
mod conformance;
mod model;
mod model_check;
#[cfg(feature = "redis")]
mod redis;
mod robustness;
mod sync_core;
