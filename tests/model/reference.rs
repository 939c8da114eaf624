//! The reference model the runner (`runner.rs`) compares a cache with: a
//! plain map from key to value (`None`: a negative marker), TTL deadline
//! (`None`: persistent) and last renewal of the time to idle, in
//! nanoseconds on the mock clock; and the rules of time that decide when an
//! entry expires.
//!
//! It keeps expired entries until it knows they are gone: every removed
//! value is reported to the removal listener, so the model knows exactly
//! which expired values the cache still holds; expired markers are
//! reported to nobody, so for them it keeps an upper bound (that is all
//! `timers()` and `stats().weight` are checked against).
//!
//! Time to idle: an entry expires at the earlier of its deadline and its
//! last renewal plus the time to idle. Every write of a key renews it; a
//! read that finds the entry live (a value or a marker) renews it only if
//! at least one tick has passed since the last renewal.

use std::collections::BTreeMap;
use std::time::Duration;

use wheelcache::{Lookup, Ttl};

use super::op::Value;

/// The latest deadline: TTLs up to `Duration::MAX` saturate here, at
/// `u64::MAX - 1` nanoseconds (about 584 years) on the cache's clock.
/// Idle deadlines are taken to saturate at the same instant.
pub(crate) const LATEST: u128 = u64::MAX as u128 - 1;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry<V> {
    pub(crate) value: Option<V>,
    /// The TTL deadline; `None`: none.
    pub(crate) deadline: Option<u128>,
    /// The last renewal of the idle deadline (the entry's last write, or a
    /// read at least a tick after the previous renewal).
    pub(crate) touched: u128,
}

/// The settings of a cache that its model follows.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    /// The wheel's tick in nanoseconds: reads within a tick of the last
    /// renewal leave the idle deadline as it was.
    pub(crate) tick: u128,
    /// The time to idle in nanoseconds.
    pub(crate) idle: Option<u128>,
    /// Whether values weigh [`Value::weight`] units (else every entry
    /// weighs 1).
    pub(crate) weighted: bool,
    /// What one unit weighs.
    pub(crate) unit: u64,
    /// The bound on the total weight.
    pub(crate) capacity: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct Model<V> {
    /// Every entry the cache may hold: all the live ones, and the expired
    /// ones not known to be reaped.
    pub(crate) entries: BTreeMap<u8, Entry<V>>,
    /// The mock clock, in nanoseconds.
    pub(crate) now: u128,
    pub(crate) rules: Rules,
}

impl<V: Value> Model<V> {
    pub(crate) fn new(rules: Rules) -> Self {
        Model { entries: BTreeMap::new(), now: 0, rules }
    }

    /// When `e` expires, the earlier of its deadline and its idle
    /// deadline; `None`: never.
    pub(crate) fn expiry(&self, e: &Entry<V>) -> Option<u128> {
        let idle = self.rules.idle.map(|idle| (e.touched + idle).min(LATEST));
        match (e.deadline, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `e` is live now: expired from its expiry on.
    pub(crate) fn is_live(&self, e: &Entry<V>) -> bool {
        self.expiry(e).is_none_or(|at| at > self.now)
    }

    pub(crate) fn live(&self, k: u8) -> Option<&Entry<V>> {
        self.entries.get(&k).filter(|e| self.is_live(e))
    }

    pub(crate) fn expired(&self, k: u8) -> Option<&Entry<V>> {
        self.entries.get(&k).filter(|e| !self.is_live(e))
    }

    pub(crate) fn live_value(&self, k: u8) -> Option<V> {
        self.live(k).and_then(|e| e.value.clone())
    }

    /// The deadline of a TTL given now.
    pub(crate) fn deadline(&self, ttl: Option<Duration>) -> Option<u128> {
        ttl.map(|t| (self.now + t.as_nanos()).min(LATEST))
    }

    /// A fresh entry written now.
    pub(crate) fn entry(&self, value: Option<V>, ttl: Option<Duration>) -> Entry<V> {
        Entry { value, deadline: self.deadline(ttl), touched: self.now }
    }

    pub(crate) fn lookup(&self, k: u8) -> Lookup<V> {
        match self.live(k) {
            None => Lookup::Miss,
            Some(Entry { value: None, .. }) => Lookup::Negative,
            Some(Entry { value: Some(v), .. }) => Lookup::Hit(v.clone()),
        }
    }

    /// The exact time left to the entry's expiry.
    pub(crate) fn ttl(&self, k: u8) -> Ttl {
        match self.live(k).map(|e| self.expiry(e)) {
            None => Ttl::Missing,
            Some(None) => Ttl::Persistent,
            Some(Some(at)) => Ttl::Remaining(Duration::from_nanos((at - self.now) as u64)),
        }
    }

    /// A read of `k` (`get_item`, `get`, `get_many`, a loading call or
    /// `setdefault` finding it): if it finds the entry live, it renews the
    /// idle deadline once a tick has passed since the last renewal.
    pub(crate) fn read(&mut self, k: u8) {
        let now = self.now;
        let tick = self.rules.tick;
        if self.live(k).is_some() {
            let e = self.entries.get_mut(&k).expect("live");
            if now >= e.touched + tick {
                e.touched = now;
            }
        }
    }

    /// Live values (no markers), by key.
    pub(crate) fn items(&self) -> Vec<(u8, V)> {
        self.entries
            .iter()
            .filter(|(_, e)| self.is_live(e))
            .filter_map(|(&k, e)| Some((k, e.value.clone()?)))
            .collect()
    }

    /// What a value (`None`: a marker) weighs in the cache.
    pub(crate) fn weigh(&self, value: Option<&V>) -> u64 {
        match value {
            Some(v) if self.rules.weighted => u64::from(v.weight()) * self.rules.unit,
            _ => 1,
        }
    }

    /// What key `k`'s entry weighs (0 without one).
    pub(crate) fn weight_of(&self, k: u8) -> u64 {
        self.entries.get(&k).map_or(0, |e| self.weigh(e.value.as_ref()))
    }

    /// The total weight of the live entries, markers included: what must
    /// stay within a capacity once expired entries have made room.
    pub(crate) fn live_weight(&self) -> u64 {
        let live = self.entries.values().filter(|e| self.is_live(e));
        live.map(|e| self.weigh(e.value.as_ref())).sum()
    }

    /// Whether a value can never be stored: it alone weighs more than the
    /// capacity.
    pub(crate) fn refuses(&self, value: Option<&V>) -> bool {
        self.rules.weighted && self.rules.capacity.is_some_and(|c| self.weigh(value) > c)
    }

    /// The most one entry weighs.
    pub(crate) fn heaviest(&self) -> u64 {
        if self.rules.weighted {
            u64::from(V::HEAVIEST) * self.rules.unit
        } else {
            1
        }
    }

    /// The expiries a run may move the clock onto, after now and before the
    /// saturated deadline of a `Duration::MAX` TTL.
    pub(crate) fn expiries(&self) -> Vec<u128> {
        let at = self.entries.values().filter_map(|e| self.expiry(e));
        at.filter(|&at| at > self.now && at < LATEST).collect()
    }
}
