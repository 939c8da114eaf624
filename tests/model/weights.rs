//! The capacity checks of the runner (`runner.rs`), in weight: every entry
//! weighs 1 unless the run is weighted, where a value weighs
//! [`Value::weight`](super::op::Value::weight) and a marker 1.
//!
//! The model cannot tell which key a bounded cache evicts, so the runner
//! takes every live key the cache no longer holds as evicted, and these
//! checks say whether those evictions were allowed:
//! - only a write evicts, and never the key it writes (a batch write,
//!   `set_many`, may evict any key, one of its own included), except that
//!   a weighted cache's policy may leave out a new key that would displace
//!   more than one entry's weight: then it evicts nothing else;
//! - after the call, the live entries weigh at most the capacity (expired
//!   entries go first, so nothing live is evicted while they could make
//!   room);
//! - no more was evicted than needed: had the last victim stayed, the live
//!   entries would weigh more than the capacity (for a single write only:
//!   the order of a batch's writes is the cache's own).
//!
//! And `stats().weight` is the weight the cache holds: the live entries and
//! the expired ones not yet reaped.

use super::op::Value;
use super::reference::Model;

/// The keys a call writes, which decides what it may evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writes {
    /// A call that writes no entry (or only removes): it evicts nothing.
    None,
    /// A write of one key: other keys' entries may be evicted to make room
    /// for it, exactly as many as needed.
    One(u8),
    /// A batch (`set_many`): any key may be evicted, one of the batch's
    /// own included, as long as the bound holds at the end.
    Batch,
}

/// Checks the evictions of one call in a cache of `capacity`. `model` is
/// the model after the call, still holding the `gone` entries (the live
/// entries the cache no longer holds); `last` is the victim evicted last,
/// when the reports tell; `refusable`, the key the call wrote if the
/// policy may leave it out (a new key of a weighted cache).
pub(crate) fn check_evictions<V: Value>(
    model: &Model<V>,
    capacity: u64,
    gone: &[u8],
    last: Option<u8>,
    writes: Writes,
    refusable: Option<u8>,
    what: &dyn Fn() -> String,
) {
    let total = model.live_weight();
    let evicted: u64 = gone.iter().map(|&k| model.weight_of(k)).sum();
    let kept = total - evicted;
    assert!(
        kept <= capacity,
        "{}: the live entries weigh {kept} after it, over the capacity of {capacity}",
        what()
    );
    if gone.is_empty() {
        return;
    }
    match writes {
        Writes::None => panic!("{}: evicted {gone:?} without writing", what()),
        Writes::One(k) if gone.contains(&k) => {
            // Left out by the policy, before anything was evicted for it:
            // a key weighing one unit never displaces more than one entry.
            assert!(
                refusable == Some(k) && gone == [k] && model.weight_of(k) > 1,
                "{}: evicted {k}, the key it wrote (with {gone:?})",
                what()
            );
        }
        Writes::One(_) => {
            // Had the last victim stayed, the total would have been over.
            let needed = |v: u8| kept + model.weight_of(v) > capacity;
            match last {
                Some(v) => assert!(
                    needed(v),
                    "{}: evicted {gone:?} (last {v}) when {kept} of {capacity} would have \
                     held {v} too",
                    what()
                ),
                None => assert!(
                    gone.iter().any(|&v| needed(v)),
                    "{}: evicted {gone:?} when {kept} of {capacity} would have held any one \
                     of them",
                    what()
                ),
            }
        }
        Writes::Batch => {}
    }
}

/// Checks `stats().weight` (`weight`) against what the cache may hold:
/// every live entry and every expired value the model has not seen reaped
/// (exactly), and at most the expired markers (which nobody hears of when
/// they are reaped); and, in a bounded cache, at most the capacity.
pub(crate) fn check_weight<V: Value>(
    model: &Model<V>,
    weight: u64,
    capacity: Option<u64>,
    what: &dyn Fn() -> String,
) {
    let mut known = 0;
    let mut markers = 0;
    for e in model.entries.values() {
        let w = model.weigh(e.value.as_ref());
        if model.is_live(e) || e.value.is_some() {
            known += w;
        } else {
            markers += w;
        }
    }
    assert!(
        (known..=known + markers).contains(&weight),
        "{}: stats().weight is {weight}: the entries held weigh {known}, and up to {markers} \
         more of expired markers",
        what()
    );
    if let Some(capacity) = capacity {
        assert!(weight <= capacity, "{}: stats().weight {weight} over the capacity", what());
    }
}
