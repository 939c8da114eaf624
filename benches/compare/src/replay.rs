//! Cache-aside replay of a request trace on one thread, for hit ratios:
//! each request is a `get`, and a miss inserts the key.

use crate::contenders::Contender;
use crate::policy::Policy;

/// The percentage of requests in `trace` for which `access` says hit.
pub fn percent_hits(trace: &[u64], mut access: impl FnMut(u64) -> bool) -> f64 {
    let hits = trace.iter().filter(|&&k| access(k)).count();
    hits as f64 / trace.len() as f64 * 100.0
}

/// The hit ratio (percent) of `cache`, replayed cache-aside: `get`, and
/// `set` on a miss.
pub fn cache(cache: &impl Contender, trace: &[u64]) -> f64 {
    percent_hits(trace, |k| {
        cache.get(k).is_some() || {
            cache.set(k, k);
            false
        }
    })
}

/// The hit ratio (percent) of a simulated `policy`.
pub fn policy(mut policy: impl Policy, trace: &[u64]) -> f64 {
    percent_hits(trace, |k| policy.access(k))
}
