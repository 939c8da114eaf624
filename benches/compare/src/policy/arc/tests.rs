//! ARC on short sequences traced by hand through the paper's cases, and its
//! size invariants on long random sequences.

use super::{Arc, B1, B2, T1, T2};
use crate::policy::Policy;
use crate::workload::Rng;

/// T1, T2, B1, B2 (most recent first) and p.
fn state(arc: &Arc) -> ([Vec<u64>; 4], f64) {
    ([T1, T2, B1, B2].map(|l| arc.lists.keys(l)), arc.p)
}

fn run(arc: &mut Arc, keys: &[u64]) -> Vec<bool> {
    keys.iter().map(|&k| arc.access(k)).collect()
}

fn lists(t1: &[u64], t2: &[u64], b1: &[u64], b2: &[u64]) -> [Vec<u64>; 4] {
    [t1.to_vec(), t2.to_vec(), b1.to_vec(), b2.to_vec()]
}

#[test]
fn every_case_once() {
    let mut arc = Arc::new(2);
    // 1, 2: cold misses into T1. 1: case I, to T2.
    assert_eq!(run(&mut arc, &[1, 2, 1]), [false, false, true]);
    assert_eq!(state(&arc), (lists(&[2], &[1], &[], &[]), 0.0));
    // 3: case IV.B; REPLACE with |T1| = 1 > p = 0 ghosts 2 into B1.
    assert!(!arc.access(3));
    assert_eq!(state(&arc), (lists(&[3], &[1], &[2], &[]), 0.0));
    // 2: case II, p = 0 + 1; REPLACE with |T1| = 1 = p ghosts 1 into B2.
    assert!(!arc.access(2));
    assert_eq!(state(&arc), (lists(&[3], &[2], &[], &[1]), 1.0));
    // 4: case IV.B; |T1| = 1 = p, so T2's least recent (2) goes to B2.
    assert!(!arc.access(4));
    assert_eq!(state(&arc), (lists(&[4, 3], &[], &[], &[2, 1]), 1.0));
    // 1: case III, p = 1 - 1; |T1| = 2 > 0 ghosts 3 into B1.
    assert!(!arc.access(1));
    assert_eq!(state(&arc), (lists(&[4], &[1], &[3], &[2]), 0.0));
}

#[test]
fn full_l1_drops_from_b1_or_t1() {
    // Case IV.A with |T1| < c: B1's least recent key is forgotten first.
    let mut arc = Arc::new(2);
    assert_eq!(run(&mut arc, &[1, 1, 2, 3]), [false, true, false, false]);
    assert_eq!(state(&arc), (lists(&[3], &[1], &[2], &[]), 0.0));
    assert!(!arc.access(4));
    assert_eq!(state(&arc), (lists(&[4], &[1], &[3], &[]), 0.0));

    // Case IV.A with |T1| = c: B1 is empty and T1's key leaves for good.
    let mut arc = Arc::new(2);
    assert_eq!(run(&mut arc, &[1, 2, 3, 1]), [false; 4]);
    assert_eq!(state(&arc), (lists(&[1, 3], &[], &[], &[]), 0.0));
}

#[test]
fn p_steps_by_the_ghost_ratio_and_a_b2_tie_evicts_from_t1() {
    let mut arc = Arc::new(4);
    // T2 = 4, 3, 2, 1; then 5 and 6 each push T2's least recent key into
    // B2 (|T1| = 0 is not over p = 0) and move up to T2 on their second
    // request; 7 pushes 3 into B2; 8 finds |T1| = 1 > p and ghosts 7 in B1.
    run(&mut arc, &[1, 2, 3, 4, 1, 2, 3, 4, 5, 5, 6, 6, 7, 8]);
    assert_eq!(state(&arc), (lists(&[8], &[6, 5, 4], &[7], &[3, 2, 1]), 0.0));
    // 7 in B1 with |B2| = 3 > |B1| = 1: p rises by 3 / 1; |T1| = 1 ≤ p, so
    // T2 gives 4 to B2.
    assert!(!arc.access(7));
    assert_eq!(state(&arc), (lists(&[8], &[7, 6, 5], &[], &[4, 3, 2, 1]), 3.0));
    // 1 in B2 with |B2| ≥ |B1|: p falls by 1 to 2; |T1| = 1 is under p, so
    // T2 gives 5 to B2.
    assert!(!arc.access(1));
    assert_eq!(state(&arc), (lists(&[8], &[1, 7, 6], &[], &[5, 4, 3, 2]), 2.0));
    // 2 in B2: p falls to 1 = |T1|, and on a B2 hit that tie evicts from T1.
    assert!(!arc.access(2));
    assert_eq!(state(&arc), (lists(&[], &[2, 1, 7, 6], &[8], &[5, 4, 3]), 1.0));
}

#[test]
fn holds_every_key_when_they_fit() {
    let mut arc = Arc::new(50);
    let mut rng = Rng::new(3);
    let keys: Vec<u64> = (0..10_000).map(|_| rng.below(50)).collect();
    let hits = run(&mut arc, &keys).iter().filter(|&&h| h).count();
    let distinct = keys.iter().collect::<std::collections::HashSet<_>>().len();
    assert_eq!(hits, keys.len() - distinct);
}

/// |T1| + |T2| ≤ c, |T1| + |B1| ≤ c, |T2| + |B2| ≤ 2c, all four ≤ 2c,
/// 0 ≤ p ≤ c; and once full, the cache stays full.
#[test]
fn invariants_hold_on_random_sequences() {
    for (c, keys, seed) in [(1, 5, 1), (4, 12, 2), (16, 40, 3), (64, 1000, 4)] {
        let mut arc = Arc::new(c);
        let mut rng = Rng::new(seed);
        let mut full = false;
        for step in 0..20_000 {
            // Mix a hot set with a wider range, so that all cases occur.
            let key = if rng.below(2) == 0 { rng.below(keys / 4 + 1) } else { rng.below(keys) };
            arc.access(key);
            let [t1, t2, b1, b2] = [T1, T2, B1, B2].map(|l| arc.lists.len(l));
            let at = format!("c {c}, step {step}");
            assert!(t1 + t2 <= c, "{at}: |T1| + |T2| = {}", t1 + t2);
            assert!(t1 + b1 <= c, "{at}: |T1| + |B1| = {}", t1 + b1);
            assert!(t2 + b2 <= 2 * c, "{at}: |T2| + |B2| = {}", t2 + b2);
            assert!(t1 + t2 + b1 + b2 <= 2 * c, "{at}: total {}", t1 + t2 + b1 + b2);
            assert!((0.0..=c as f64).contains(&arc.p), "{at}: p = {}", arc.p);
            assert_eq!(arc.map.len(), t1 + t2 + b1 + b2, "{at}: map and lists disagree");
            full |= t1 + t2 == c;
            assert!(!full || t1 + t2 == c, "{at}: a full cache shrank");
        }
    }
}
