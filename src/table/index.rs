//! A shard's index: entry ids in a `hashbrown::HashTable`, grown a little
//! at a time.
//!
//! A hash table that grows in one step re-hashes every key it holds while
//! the shard's lock is held: at a few hundred thousand entries that is a
//! stall of tens of milliseconds for the writer and for every reader of
//! the shard. Here, once the table is full, a new one of twice the room
//! takes the new ids, and the old one is drained into it a few buckets per
//! insert or removal; a lookup looks in the new table, then, while a drain
//! lasts, in the old one. A table whose room went to tombstones (removals in a
//! churning shard) is rebuilt the same way, at its own size, where
//! `hashbrown` would re-hash it in place in one step. Small tables
//! grow in one step: that costs less than the bookkeeping.
//!
//! The drain keeps pace with the inserts: the new table has room for at
//! least half its buckets' worth of ids more than the old one holds, and
//! `MOVE_PER_WRITE` buckets move per write, so the old table is empty
//! long before the new one is full.
//! Should the new one fill first all the same, the rest of the old one is
//! moved at once before it grows (correct, and no worse than a one-step
//! growth).
//!
//! Inserts and removals both move buckets, so a drain ends once the shard
//! sees a few thousand writes; a shard only read from after its last
//! insert keeps its drain, and a lookup of a key not yet moved looks in
//! both tables, until the next write.
//!
//! A lookup reads three lines one after the other: the control bytes of
//! its probe's first group, the bucket they point to, then the entry the
//! bucket names. The first two addresses follow from the hash alone, given
//! where the table lies (`Probe`), which the shard publishes beside its
//! lock: a call starts fetching both lines before it takes the lock
//! (`prefetch_probe`), so that their misses overlap the lock's
//! acquisition, and the buckets' line arrives with the control bytes, not
//! after them. A removal, which has the lock already, starts fetching
//! them itself (`prefetch_buckets`).
//!
//! Moving an id needs its key's hash, which the caller's `hash_of` gives;
//! `None` (the key's `Hash` panicked) leaves the id out of the index when
//! an insert moves it, and the caller drops its entry.

use std::cell::RefCell;
use std::mem;

use hashbrown::HashTable;

/// Tables that hold fewer ids than this grow in one step.
const INCREMENTAL_FROM: usize = 256;
/// Buckets of the old table moved per insert or removal while it drains.
const MOVE_PER_WRITE: usize = 16;
/// The buckets a `hashbrown` lookup reads the control bytes of at once,
/// with SSE2 (other processors read eight, the first half of these).
const GROUP: usize = 16;

/// Entry ids by their keys' hashes.
#[repr(C)] // `table` first: see `ShardState`.
pub(crate) struct Index {
    /// Where new ids go.
    table: HashTable<u32>,
    /// The table being drained into `table`; empty otherwise.
    old: HashTable<u32>,
    /// The next bucket of `old` to move. A shard holds fewer than 2^29
    /// ids, so its tables fewer than 2^31 buckets; four bytes keep the
    /// shard's lookup fields on their lines (see `ShardState`).
    next: u32,
    /// Whether `old` is being drained (it is allocated).
    draining: bool,
    /// Whether the hint or the table's size changed since `take_moved`
    /// last said (the shard then publishes the new `probe`).
    moved: bool,
    /// The address where `table`'s buckets end, taken at the last insert
    /// (0: none yet): a hint for the prefetches (`prefetch_buckets`, and
    /// the published `probe`), never dereferenced.
    /// On the shard's second cache line, which a hit reads anyway.
    buckets_end: usize,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            table: HashTable::new(),
            old: HashTable::new(),
            next: 0,
            draining: false,
            buckets_end: 0,
            // A new index replaces whatever was published.
            moved: true,
        }
    }
}

impl Index {
    /// Ids indexed.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.table.len() + self.old.len()
    }

    /// The id with hash `hash` that `is_it` accepts. The caller started
    /// fetching the lines it reads first (`Shard::prefetch`).
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        if let Some(&id) = self.table.find(hash, |&j| is_it(j)) {
            return Some(id);
        }
        if !self.draining {
            return None;
        }
        self.old.find(hash, |&j| is_it(j)).copied()
    }

    /// The address of the prefetch hint, for the shard's layout test.
    #[cfg(test)]
    pub(crate) fn hint_addr(&self) -> usize {
        (&raw const self.buckets_end).addr()
    }

    /// Starts fetching the buckets that a lookup of `hash` reads first, so
    /// that their line arrives with the control bytes that name them, not
    /// after; a table that moved since the last insert makes this a wasted
    /// hint, never a wrong read.
    #[inline(always)]
    fn prefetch_buckets(&self, hash: u64) {
        if let Some((low, high)) = self.first_group(hash) {
            crate::table::entry::prefetch_addr(low);
            crate::table::entry::prefetch_addr(high);
        }
    }

    /// Where the buckets of `hash`'s first probe group lie, by the hint
    /// (see [`group_buckets`]). `None` without a hint.
    #[inline(always)]
    fn first_group(&self, hash: u64) -> Option<(usize, usize)> {
        if self.buckets_end == 0 {
            return None;
        }
        Some(group_buckets(self.probe(), hash))
    }

    /// What a lookup needs to know to start fetching its first lines
    /// before it takes the shard's lock: the hint (where the table's
    /// buckets end and its control bytes start; 0: none) and the table's
    /// bucket mask. The shard publishes it beside its lock (see
    /// `Shard::prefetch`).
    #[inline]
    pub(crate) fn probe(&self) -> Probe {
        Probe { end: self.buckets_end, mask: self.table.num_buckets().wrapping_sub(1) }
    }

    /// Whether [`probe`](Index::probe) changed since this was last asked.
    /// Every write asks; the flag shares the line every lookup reads, so it
    /// is cleared only when set.
    #[inline]
    pub(crate) fn take_moved(&mut self) -> bool {
        if !self.moved {
            return false;
        }
        self.moved = false;
        true
    }

    /// Indexes `id` (not indexed yet) under `hash`. Ids whose hash
    /// `hash_of` cannot give while they move go to `lost`, out of the
    /// index.
    #[inline]
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        id: u32,
        hash_of: impl Fn(u32) -> Option<u64>,
        lost: &mut Vec<u32>,
    ) {
        if self.table.len() == self.table.capacity() && self.table.len() >= INCREMENTAL_FROM {
            self.renew(&hash_of, lost);
        }
        let buckets_end = place(&mut self.table, hash, id, &hash_of, lost);
        // Written only when the table moved: this line is every lookup's
        // (see `ShardState`), and a store of the same value would still
        // take it from the other cores' caches.
        if self.buckets_end != buckets_end {
            self.buckets_end = buckets_end;
            self.moved = true;
        }
        // Checked here, so that the inserts between drains make no call.
        if self.draining {
            self.drain(MOVE_PER_WRITE, &hash_of, lost);
        }
    }

    /// Starts draining the full table into a new one (after finishing the
    /// last drain, should one be left): twice the buckets if more than
    /// half its room holds ids, else as many (its room went to
    /// tombstones), as `hashbrown` itself would size it.
    fn renew(&mut self, hash_of: &impl Fn(u32) -> Option<u64>, lost: &mut Vec<u32>) {
        self.drain(usize::MAX, hash_of, lost);
        if self.table.len() < self.table.capacity() {
            return;
        }
        // The ids a table of this many buckets holds at most (7/8 of them).
        let most = self.table.num_buckets() / 8 * 7;
        let room = if self.table.len() > most / 2 { most + 1 } else { most };
        self.old = mem::replace(&mut self.table, HashTable::with_capacity(room));
        self.next = 0;
        self.draining = true;
    }

    /// Moves the ids of up to `buckets` buckets of the old table.
    fn drain(
        &mut self,
        buckets: usize,
        hash_of: &impl Fn(u32) -> Option<u64>,
        lost: &mut Vec<u32>,
    ) {
        if !self.draining {
            return;
        }
        let end = self.old.num_buckets().min((self.next as usize).saturating_add(buckets));
        if !self.old.is_empty() {
            for bucket in self.next as usize..end {
                if let Ok(full) = self.old.get_bucket_entry(bucket) {
                    let (id, _) = full.remove();
                    match hash_of(id) {
                        Some(hash) => {
                            self.buckets_end = place(&mut self.table, hash, id, hash_of, lost);
                        }
                        None => lost.push(id),
                    }
                }
            }
        }
        self.next = u32::try_from(end).expect("a shard's table has fewer than 2^31 buckets");
        if self.old.is_empty() || end == self.old.num_buckets() {
            self.old = HashTable::new();
            self.next = 0;
            self.draining = false;
        }
    }

    /// Takes `id` out of the index; `hash` is its key's hash when the key
    /// could be hashed (else, or if the hash is wrong, a scan finds it).
    /// Removals move buckets of a drain too, so that one left half-way by
    /// the last insert ends all the same; here an id `hash_of` cannot hash
    /// moves under hash 0, where no lookup finds it (every lookup of its
    /// key panics anyway) and a removal's scan still does.
    #[inline]
    pub(crate) fn remove(
        &mut self,
        hash: Option<u64>,
        id: u32,
        hash_of: impl Fn(u32) -> Option<u64>,
    ) {
        self.take_out(hash, id);
        if self.draining {
            self.drain_on_removal(&hash_of);
        }
    }

    /// The drain's share of a removal.
    #[inline(never)]
    fn drain_on_removal(&mut self, hash_of: &impl Fn(u32) -> Option<u64>) {
        let mut lost = Vec::new();
        self.drain(MOVE_PER_WRITE, hash_of, &mut lost);
        for j in lost {
            self.table.insert_unique(0, j, |&x| hash_of(x).unwrap_or(0));
        }
    }

    #[inline]
    fn take_out(&mut self, hash: Option<u64>, id: u32) {
        if let Some(hash) = hash {
            self.prefetch_buckets(hash);
            for table in [&mut self.table, &mut self.old] {
                if let Ok(bucket) = table.find_entry(hash, |&j| j == id) {
                    bucket.remove();
                    return;
                }
            }
        }
        self.table.retain(|&mut j| j != id);
        self.old.retain(|&mut j| j != id);
    }

    /// Indexes as `to` the id `from` (moved by a compaction); `hash` as in
    /// [`remove`](Index::remove).
    pub(crate) fn rename(&mut self, hash: Option<u64>, from: u32, to: u32) {
        if let Some(hash) = hash {
            for table in [&mut self.table, &mut self.old] {
                if let Some(slot) = table.find_mut(hash, |&j| j == from) {
                    *slot = to;
                    return;
                }
            }
        }
        if let Some(slot) = self.table.iter_mut().chain(self.old.iter_mut()).find(|j| **j == from) {
            *slot = to;
        }
    }

    /// Rebuilds the table with room for about `len` ids (the drain, if
    /// any, finished first); a key that cannot be hashed lands in a wrong
    /// bucket, where no lookup finds it (every lookup of it panics anyway).
    pub(crate) fn shrink_to(&mut self, len: usize, hash_of: impl Fn(u32) -> Option<u64>) {
        let mut lost = Vec::new();
        self.drain(usize::MAX, &hash_of, &mut lost);
        for id in lost {
            self.table.insert_unique(0, id, |&j| hash_of(j).unwrap_or(0));
        }
        self.table.shrink_to(len, |&j| hash_of(j).unwrap_or(0));
        // The table may have moved: no hint until the next insert.
        self.buckets_end = 0;
        self.moved = true;
    }
}

/// Where a table keeps what a lookup reads first: its control bytes start
/// at `end`, where its buckets end (`Index::buckets_end`, 0 for no hint),
/// and a hash's probe starts at bucket `hash & mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) end: usize,
    pub(crate) mask: usize,
}

/// The address of the last (lowest in memory) and of the first bucket of
/// `hash`'s first probe group in the table `probe` describes.
/// `hashbrown` keeps bucket `i` just below bucket `i - 1`, ending where its
/// control bytes start, and a lookup first reads the group of buckets from
/// `hash`'s position.
#[inline(always)]
fn group_buckets(probe: Probe, hash: u64) -> (usize, usize) {
    let first = (hash as usize) & probe.mask;
    let size = mem::size_of::<u32>();
    let low = probe.end.wrapping_sub((first + GROUP) * size);
    let high = probe.end.wrapping_sub((first + 1) * size);
    (low, high)
}

/// Starts fetching the lines a lookup of `hash` reads first in the table
/// `probe` describes: the control bytes of its first group and the buckets
/// they name. `probe` may be stale (the table moved since it was taken):
/// then this is a wasted hint, never a read.
#[inline(always)]
pub(crate) fn prefetch_probe(probe: Probe, hash: u64) {
    if probe.end == 0 {
        return;
    }
    let (low, high) = group_buckets(probe, hash);
    crate::table::entry::prefetch_addr(probe.end.wrapping_add((hash as usize) & probe.mask));
    crate::table::entry::prefetch_addr(low);
    crate::table::entry::prefetch_addr(high);
}

/// Puts `id` into `table` under `hash`; if the table grows, ids that
/// `hash_of` cannot hash go to `lost`, out of the table. Returns the
/// address where the table's buckets end (see `Index::buckets_end`),
/// found from the bucket `id` took: `hashbrown` keeps bucket `i` just
/// below bucket `i - 1`, the lowest of `i + 1` buckets under that address.
#[inline]
fn place(
    table: &mut HashTable<u32>,
    hash: u64,
    id: u32,
    hash_of: &impl Fn(u32) -> Option<u64>,
    lost: &mut Vec<u32>,
) -> usize {
    let end = |slot: &u32, bucket: usize| {
        std::ptr::from_ref(slot).addr() + (bucket + 1) * mem::size_of::<u32>()
    };
    if table.len() < table.capacity() {
        // Room to spare: the table does not grow, so it hashes nothing.
        let placed = table.insert_unique(hash, id, |&j| hash_of(j).unwrap_or(0));
        return end(placed.get(), placed.bucket_index());
    }
    let unhashed = RefCell::new(Vec::new());
    let placed = table.insert_unique(hash, id, |&j| {
        hash_of(j).unwrap_or_else(|| {
            unhashed.borrow_mut().push(j);
            0
        })
    });
    let at = end(placed.get(), placed.bucket_index());
    for j in unhashed.into_inner() {
        // Removing ids moves no bucket.
        table.retain(|&mut x| x != j);
        lost.push(j);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A well-spread hash of an id (so that tables fill as with real keys).
    fn hash(id: u32) -> u64 {
        crate::table::sketch::mix(u64::from(id) ^ 0xABCD)
    }

    fn insert(index: &mut Index, id: u32) -> Vec<u32> {
        let mut lost = Vec::new();
        index.insert(hash(id), id, |j| Some(hash(j)), &mut lost);
        lost
    }

    #[test]
    #[cfg_attr(miri, ignore = "minutes under Miri; this module has no unsafe")]
    fn grows_a_little_at_a_time_and_finds_everything_meanwhile() {
        let mut index = Index::default();
        let mut drains = 0;
        let mut longest = 0;
        let mut since = 0;
        for id in 0..20_000 {
            let was = index.draining;
            assert!(insert(&mut index, id).is_empty());
            if index.draining {
                since += 1;
                if !was {
                    drains += 1;
                }
            } else {
                longest = longest.max(since);
                since = 0;
            }
            assert_eq!(index.len(), id as usize + 1);
            // A sample of the ids, old and new, is always found.
            for probe in [0, id / 2, id.saturating_sub(1), id] {
                assert_eq!(index.find(hash(probe), |j| j == probe), Some(probe));
            }
        }
        for id in 0..20_000 {
            assert_eq!(index.find(hash(id), |j| j == id), Some(id));
        }
        assert!(drains >= 5, "growths past the first buckets drain: {drains}");
        // A drain of B buckets takes about B / MOVE_PER_WRITE inserts.
        assert!(longest > 0 && longest <= 32_768 / MOVE_PER_WRITE, "longest drain {longest}");
    }

    /// Every full bucket of the new table lies where the hint says.
    fn check_hint(index: &Index) {
        let size = mem::size_of::<u32>();
        for bucket in 0..index.table.num_buckets() {
            if let Some(slot) = index.table.get_bucket(bucket) {
                let at = std::ptr::from_ref(slot).addr();
                assert_eq!(at, index.buckets_end - (bucket + 1) * size, "bucket {bucket}");
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "minutes under Miri; this module has no unsafe")]
    fn the_prefetch_hint_follows_the_table_through_growths_and_drains() {
        let mut index = Index::default();
        assert_eq!(index.buckets_end, 0, "no hint before the first insert");
        let mut checked_draining = false;
        for id in 0..6_000 {
            assert!(insert(&mut index, id).is_empty());
            if id < 300 || id % 500 == 0 || (index.draining && !checked_draining) {
                checked_draining |= index.draining;
                check_hint(&index);
            }
        }
        assert!(checked_draining, "a drain was checked");
        for id in (0..6_000).step_by(2) {
            index.remove(Some(hash(id)), id, |j| Some(hash(j)));
        }
        check_hint(&index);
        index.shrink_to(3_000, |j| Some(hash(j)));
        assert_eq!(index.buckets_end, 0, "a rebuilt table gives no hint until an insert");
        assert!(insert(&mut index, 6_001).is_empty());
        check_hint(&index);
    }

    #[test]
    #[cfg_attr(miri, ignore = "minutes under Miri; this module has no unsafe")]
    fn the_prefetched_group_holds_the_ids_placed_in_their_first_group() {
        let mut index = Index::default();
        assert_eq!(index.first_group(hash(0)), None, "no hint, no prefetch");
        for id in 0..3_000 {
            assert!(insert(&mut index, id).is_empty());
        }
        index.drain(usize::MAX, &|j| Some(hash(j)), &mut Vec::new());
        let mask = index.table.num_buckets() - 1;
        let mut in_first = 0;
        for id in 0..3_000 {
            let h = hash(id);
            let bucket = index.table.find_bucket_index(h, |&j| j == id).unwrap();
            let (low, high) = index.first_group(h).unwrap();
            assert_eq!(high - low, (GROUP - 1) * mem::size_of::<u32>());
            // Probing runs on from `h`'s position; an id within a group's
            // width of it was placed in its first group.
            if bucket.wrapping_sub(h as usize) & mask < GROUP {
                in_first += 1;
                let at = std::ptr::from_ref(index.table.get_bucket(bucket).unwrap()).addr();
                assert!((low..=high).contains(&at), "id {id} at {at}, group {low}..={high}");
            }
        }
        assert!(in_first > 2_900, "most ids sit in their first group: {in_first}");
    }

    /// An index filled with ids 0, 1, … up to the first insert that
    /// starts a drain, and how many ids it holds.
    fn draining_index() -> (Index, u32) {
        let mut index = Index::default();
        let mut id = 0;
        while !index.draining {
            assert!(insert(&mut index, id).is_empty());
            id += 1;
        }
        (index, id)
    }

    #[test]
    fn removes_and_renames_in_either_table() {
        let (mut index, id) = draining_index();
        // Id 0 is still in the old table, the last one in the new.
        let last = id - 1;
        assert!(index.old.find(hash(0), |&j| j == 0).is_some());
        index.remove(Some(hash(0)), 0, |j| Some(hash(j)));
        assert_eq!(index.find(hash(0), |j| j == 0), None);
        index.rename(Some(hash(1)), 1, 900_000);
        assert_eq!(index.find(hash(1), |j| j == 900_000), Some(900_000));
        // Without a hash (a key whose `Hash` panicked), a scan.
        index.remove(None, last, |j| Some(hash(j)));
        index.rename(None, 2, 900_001);
        assert_eq!(index.find(hash(last), |j| j == last), None);
        assert_eq!(index.find(hash(2), |j| j == 900_001), Some(900_001));
        assert_eq!(index.len(), id as usize - 2);
    }

    #[test]
    fn ids_that_cannot_be_hashed_while_moving_are_lost_not_misplaced() {
        let mut index = Index::default();
        let mut lost = Vec::new();
        let mut id = 0;
        // Ids divisible by 7 cannot be hashed again once stored.
        let hash_of = |j: u32| (j % 7 != 0).then(|| hash(j));
        while id < 1_000 {
            index.insert(hash(id), id, hash_of, &mut lost);
            id += 1;
        }
        lost.sort_unstable();
        lost.dedup();
        assert!(!lost.is_empty());
        for j in 0..id {
            let found = index.find(hash(j), |x| x == j).is_some();
            assert_eq!(found, !lost.contains(&j), "id {j}");
            assert!(!lost.contains(&j) || j % 7 == 0, "id {j} lost though it hashes");
        }
        assert_eq!(index.len() + lost.len(), id as usize);
    }

    #[test]
    fn removals_finish_a_drain_keeping_ids_that_cannot_be_hashed() {
        let (mut index, stored) = draining_index();
        // From now on ids divisible by 5 cannot be hashed; removals alone
        // (of ids not divisible by 5) end the drain.
        let hash_of = |j: u32| (j % 5 != 0).then(|| hash(j));
        let mut removed = 0;
        for j in (1..stored).filter(|j| j % 5 != 0) {
            if !index.draining {
                break;
            }
            index.remove(Some(hash(j)), j, hash_of);
            removed += 1;
        }
        assert!(!index.draining, "removals end the drain");
        assert_eq!(index.len(), stored as usize - removed);
        // An id that could not be hashed is still indexed, and a removal
        // without its hash (a scan) takes it out.
        index.remove(None, 0, hash_of);
        assert_eq!(index.len(), stored as usize - removed - 1);
    }

    /// Inserts (in bursts, so that tables fill and drain), removals,
    /// renames and shrinks in a random order, against a map: every id is
    /// found under its hash, and the count agrees, after every step.
    #[test]
    #[cfg_attr(miri, ignore = "minutes under Miri; this module has no unsafe")]
    fn agrees_with_a_map() {
        for seed in 1..=8u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut index = Index::default();
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut ids: Vec<u32> = Vec::new();
            let mut fresh = 0u32;
            for _ in 0..400 {
                match next(10) {
                    0..=5 => {
                        for _ in 0..next(100) {
                            let mut lost = Vec::new();
                            index.insert(hash(fresh), fresh, |j| model.get(&j).copied(), &mut lost);
                            assert!(lost.is_empty());
                            model.insert(fresh, hash(fresh));
                            ids.push(fresh);
                            fresh += 1;
                        }
                    }
                    6..=7 if !ids.is_empty() => {
                        for _ in 0..next(60) {
                            if ids.is_empty() {
                                break;
                            }
                            let id = ids.swap_remove(next(ids.len() as u64) as usize);
                            let h = model.remove(&id);
                            index.remove(h, id, |j| model.get(&j).copied());
                        }
                    }
                    8 if !ids.is_empty() => {
                        let at = next(ids.len() as u64) as usize;
                        let id = ids[at];
                        let h = model.remove(&id).unwrap();
                        index.rename(Some(h), id, fresh);
                        model.insert(fresh, h);
                        ids[at] = fresh;
                        fresh += 1;
                    }
                    9 => index.shrink_to(model.len(), |j| model.get(&j).copied()),
                    _ => {}
                }
                assert_eq!(index.len(), model.len(), "seed {seed}");
                for &id in ids.iter().step_by(7) {
                    assert_eq!(index.find(model[&id], |j| j == id), Some(id), "seed {seed}");
                }
            }
            for (&id, &h) in &model {
                assert_eq!(index.find(h, |j| j == id), Some(id), "seed {seed}");
            }
        }
    }
}
