//! Model checks (shuttle) of the two protocols where threads hand work to
//! each other: the expiry thread's publish/sleep/wake handshake, and
//! single-flight loading. Each model follows its code step for step, with
//! shuttle's atomics, locks and channels in place of the real ones, and
//! shuttle runs it under many schedules (randomized and PCT), looking for
//! one that loses a deadline or leaves a caller waiting forever (shuttle
//! reports a deadlock: every thread blocked).
//!
//! The models are the protocols, not the crate's code: a change to
//! `src/expiry/mod.rs`, `src/inner/write.rs` (the commit order),
//! `src/inner/reap.rs` or `src/flight.rs` / `src/inner/load.rs` must be
//! mirrored here.

mod expiry;
mod flight;

/// Schedules each check explores: `MODEL_CHECK_ITERATIONS`, default 500
/// (CI runs a longer pass in release).
fn iterations() -> usize {
    std::env::var("MODEL_CHECK_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(500)
}
