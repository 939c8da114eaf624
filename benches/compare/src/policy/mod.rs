//! Reference replacement policies, simulated on one thread for their hit
//! ratio only: the yardsticks of the hit-ratio workloads.

mod arc;
mod list;
mod lru;
pub mod opt;

pub use arc::Arc;
pub use lru::Lru;

/// A cache simulated key by key.
pub trait Policy {
    /// Requests `key`: true on a hit; on a miss the key is inserted,
    /// evicting as the policy decides.
    fn access(&mut self, key: u64) -> bool;
}
