//! A plain LRU: on a miss the key is inserted and, when full, the least
//! recently used key leaves.

use std::collections::HashMap;

use super::list::Lists;
use super::Policy;

/// A plain LRU of `capacity` keys.
pub struct Lru {
    capacity: usize,
    /// Key to its node in `order`.
    map: HashMap<u64, usize, ahash::RandomState>,
    /// One list, most recent first.
    order: Lists<1>,
}

impl Lru {
    /// An empty LRU; `capacity` must be at least 1.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "an LRU needs room for one key");
        Lru { capacity, map: HashMap::default(), order: Lists::new() }
    }
}

impl Policy for Lru {
    fn access(&mut self, key: u64) -> bool {
        if let Some(&i) = self.map.get(&key) {
            self.order.move_to_front(i, 0);
            return true;
        }
        if self.map.len() == self.capacity {
            let last = self.order.back(0).expect("a full LRU has a last key");
            let evicted = self.order.remove(last);
            self.map.remove(&evicted);
        }
        let i = self.order.push_front(0, key);
        self.map.insert(key, i);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{Lru, Policy};
    use crate::workload::Rng;

    #[test]
    fn evicts_the_least_recent() {
        let mut lru = Lru::new(2);
        let hits: Vec<bool> = [1, 2, 1, 3, 2, 1, 3].iter().map(|&k| lru.access(k)).collect();
        // 3 evicts 2 (1 was used after it), 2 evicts 1, 1 evicts 3.
        assert_eq!(hits, [false, false, true, false, false, false, false]);
    }

    /// Against a vector kept in recency order, on a random sequence.
    #[test]
    fn matches_a_naive_lru() {
        let mut rng = Rng::new(7);
        for capacity in [1, 3, 16] {
            let mut lru = Lru::new(capacity);
            let mut naive: Vec<u64> = Vec::new();
            for _ in 0..5_000 {
                let key = rng.below(40);
                let hit = match naive.iter().position(|&k| k == key) {
                    Some(at) => {
                        naive.remove(at);
                        true
                    }
                    None => {
                        if naive.len() == capacity {
                            naive.pop();
                        }
                        false
                    }
                };
                naive.insert(0, key);
                assert_eq!(lru.access(key), hit);
            }
        }
    }
}
