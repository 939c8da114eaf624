//! Belady's optimal replacement, with bypass: on a miss in a full cache the
//! key is kept only if it is asked for again sooner than the resident asked
//! for again latest, which is evicted. No cache of `capacity` entries hits
//! more often on the same requests, so a contender above it holds more
//! entries than its capacity.

use std::collections::{BinaryHeap, HashMap};

/// Never asked for again.
const NEVER: usize = usize::MAX;

/// The percentage of requests in `trace` that hit under optimal
/// replacement with room for `capacity` keys.
pub fn hit_percent(trace: &[u64], capacity: usize) -> f64 {
    if trace.is_empty() {
        return 0.0;
    }
    // When each request's key is asked for next.
    let mut next = vec![NEVER; trace.len()];
    let mut seen: HashMap<u64, usize, ahash::RandomState> = HashMap::default();
    for (i, &key) in trace.iter().enumerate().rev() {
        next[i] = seen.insert(key, i).unwrap_or(NEVER);
    }
    // Residents by key, with their next request; the heap orders them by
    // it, latest first, with stale pairs skipped when they surface.
    let mut resident: HashMap<u64, usize, ahash::RandomState> = HashMap::default();
    let mut latest: BinaryHeap<(usize, u64)> = BinaryHeap::new();
    let mut hits = 0u64;
    for (i, &key) in trace.iter().enumerate() {
        let hit = resident.contains_key(&key);
        hits += u64::from(hit);
        if !hit && resident.len() >= capacity {
            while let Some(&(when, k)) = latest.peek() {
                if resident.get(&k) == Some(&when) {
                    break;
                }
                latest.pop();
            }
            match latest.peek() {
                Some(&(when, k)) if when > next[i] => {
                    latest.pop();
                    resident.remove(&k);
                }
                // Asked for again no sooner than every resident: bypassed.
                _ => continue,
            }
        }
        if capacity > 0 {
            resident.insert(key, next[i]);
            latest.push((next[i], key));
        }
    }
    hits as f64 / trace.len() as f64 * 100.0
}

#[cfg(test)]
mod tests {
    use super::hit_percent;

    #[test]
    fn a_loop_one_longer_than_the_cache() {
        // Keys 0..=3 in a loop, room for 3: key 3 is always asked for again
        // after the others, so it is never kept; all else hits after the
        // first pass (300 requests, 75 of key 3, 3 first misses).
        let trace: Vec<u64> = (0..300).map(|i| i % 4).collect();
        assert_eq!(hit_percent(&trace, 3), 222.0 / 3.0);
    }

    #[test]
    fn never_below_what_fits_and_zero_without_room() {
        let trace: Vec<u64> = (0..100).map(|i| i % 10).collect();
        assert_eq!(hit_percent(&trace, 10), 90.0);
        assert_eq!(hit_percent(&trace, 0), 0.0);
        assert_eq!(hit_percent(&[], 5), 0.0);
    }

    #[test]
    fn keeps_the_key_asked_for_soonest() {
        // a b c a b c d a b c: room for 3, d is bypassed (never asked again).
        let trace = [1, 2, 3, 1, 2, 3, 4, 1, 2, 3];
        assert_eq!(hit_percent(&trace, 3), 60.0);
    }
}
