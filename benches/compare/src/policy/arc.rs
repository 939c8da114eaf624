//! ARC, the Adaptive Replacement Cache of N. Megiddo and D. S. Modha
//! ("ARC: A Self-Tuning, Low Overhead Replacement Cache", USENIX FAST 2003),
//! as the paper's pseudocode gives it (its Figure 4).
//!
//! The cache holds `c` keys in two lists: T1, keys seen once recently, and
//! T2, keys seen at least twice. Two ghost lists remember keys only: B1
//! those evicted from T1, B2 those evicted from T2. The target size `p` of
//! T1 grows on a hit in B1 and shrinks on a hit in B2. Replayed cache-aside,
//! every miss inserts the key.

use std::collections::HashMap;

use super::list::Lists;
use super::Policy;

const T1: usize = 0;
const T2: usize = 1;
const B1: usize = 2;
const B2: usize = 3;

/// ARC over `c` cached keys (and up to `c` ghost keys).
pub struct Arc {
    c: usize,
    /// The adaptive target size of T1, in `[0, c]`. A real number, as in
    /// the paper: the steps `|B2|/|B1|` and `|B1|/|B2|` are not rounded.
    p: f64,
    /// Key to its node in `lists`, for the keys of all four lists.
    map: HashMap<u64, usize, ahash::RandomState>,
    /// T1, T2, B1 and B2, most recent first.
    lists: Lists<4>,
}

impl Arc {
    /// An empty ARC of `c` keys; `c` must be at least 1.
    pub fn new(c: usize) -> Self {
        assert!(c > 0, "ARC needs room for one key");
        Arc { c, p: 0.0, map: HashMap::default(), lists: Lists::new() }
    }

    fn len(&self, list: usize) -> usize {
        self.lists.len(list)
    }

    /// Drops the least recent key of `list` altogether.
    fn delete_lru(&mut self, list: usize) {
        let i = self.lists.back(list).expect("the list is not empty");
        let key = self.lists.remove(i);
        self.map.remove(&key);
    }

    /// REPLACE: evicts the least recent key of T1 into B1, or of T2 into
    /// B2, whichever side is over its target. `in_b2` says whether the
    /// requested key is in B2.
    fn replace(&mut self, in_b2: bool) {
        let t1 = self.len(T1);
        let from_t1 = t1 >= 1 && (t1 as f64 > self.p || (in_b2 && t1 as f64 == self.p));
        let (from, to) = if from_t1 { (T1, B1) } else { (T2, B2) };
        let i = self.lists.back(from).expect("REPLACE runs on a full cache");
        self.lists.move_to_front(i, to);
    }
}

impl Policy for Arc {
    fn access(&mut self, key: u64) -> bool {
        let c = self.c as f64;
        if let Some(&i) = self.map.get(&key) {
            match self.lists.list_of(i) {
                // Case I: a hit.
                T1 | T2 => {
                    self.lists.move_to_front(i, T2);
                    return true;
                }
                // Case II: a miss remembered in B1; T1 should have been larger.
                B1 => {
                    let (b1, b2) = (self.len(B1), self.len(B2));
                    let delta = if b1 >= b2 { 1.0 } else { b2 as f64 / b1 as f64 };
                    self.p = (self.p + delta).min(c);
                    self.replace(false);
                }
                // Case III: a miss remembered in B2; T2 should have been larger.
                _ => {
                    let (b1, b2) = (self.len(B1), self.len(B2));
                    let delta = if b2 >= b1 { 1.0 } else { b1 as f64 / b2 as f64 };
                    self.p = (self.p - delta).max(0.0);
                    self.replace(true);
                }
            }
            self.lists.move_to_front(i, T2);
            return false;
        }
        // Case IV: a key in none of the lists.
        let (t1, t2, b1, b2) = (self.len(T1), self.len(T2), self.len(B1), self.len(B2));
        if t1 + b1 == self.c {
            // A: L1 = T1 ∪ B1 is full.
            if t1 < self.c {
                self.delete_lru(B1);
                self.replace(false);
            } else {
                // B1 is empty: the least recent key of T1 leaves without a ghost.
                self.delete_lru(T1);
            }
        } else if t1 + t2 + b1 + b2 >= self.c {
            // B: L1 has room, the whole directory does not.
            if t1 + t2 + b1 + b2 == 2 * self.c {
                self.delete_lru(B2);
            }
            self.replace(false);
        }
        let i = self.lists.push_front(T1, key);
        self.map.insert(key, i);
        false
    }
}

#[cfg(test)]
mod tests;
