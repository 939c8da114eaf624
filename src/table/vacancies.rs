//! The list of a shard's vacant entries, threaded through the entries.
//!
//! A vacant entry has no deadline, so it lends that word to a doubly
//! linked list of vacancies: its low half is the previous link, its high
//! half the next one. Nothing is allocated to remember a vacancy,
//! so no removal under the shard's lock ever waits on the allocator or on
//! a page fault (a `Vec` of ids would now and then copy itself to a fresh
//! allocation, hundreds of kilobytes after a mass expiry). Links both ways
//! let compaction take any vacancy off the list in constant time.

use crate::list::{self, Link, Links, Nodes, SENTINEL_BASE};

use super::entry::Entry;

/// The list's sentinel.
const HEAD: u32 = SENTINEL_BASE;

/// The vacancies: the list's sentinel and its length.
pub(crate) struct Vacancies {
    head: Link,
    len: usize,
}

impl Default for Vacancies {
    fn default() -> Self {
        Vacancies { head: Link::empty(HEAD), len: 0 }
    }
}

/// The links of the vacancies as the list module sees them.
struct Linked<'a, K, V> {
    head: &'a mut Link,
    entries: &'a mut [Entry<K, V>],
}

/// The same links, read only.
struct Read<'a, K, V>(&'a Link, &'a [Entry<K, V>]);

impl<K, V> Links for Read<'_, K, V> {
    #[inline]
    fn prev(&self, id: u32) -> u32 {
        if id == HEAD {
            self.0.prev
        } else {
            self.1[id as usize].vacancy_prev()
        }
    }
    #[inline]
    fn next(&self, id: u32) -> u32 {
        if id == HEAD {
            self.0.next
        } else {
            self.1[id as usize].vacancy_next()
        }
    }
}

impl<K, V> Links for Linked<'_, K, V> {
    #[inline]
    fn prev(&self, id: u32) -> u32 {
        Read(self.head, self.entries).prev(id)
    }
    #[inline]
    fn next(&self, id: u32) -> u32 {
        Read(self.head, self.entries).next(id)
    }
}

impl<K, V> Nodes for Linked<'_, K, V> {
    #[inline]
    fn set_prev(&mut self, id: u32, prev: u32) {
        if id == HEAD {
            self.head.prev = prev;
        } else {
            self.entries[id as usize].set_vacancy_prev(prev);
        }
    }
    #[inline]
    fn set_next(&mut self, id: u32, next: u32) {
        if id == HEAD {
            self.head.next = next;
        } else {
            self.entries[id as usize].set_vacancy_next(next);
        }
    }
}

impl Vacancies {
    fn linked<'a, K, V>(&'a mut self, entries: &'a mut [Entry<K, V>]) -> Linked<'a, K, V> {
        Linked { head: &mut self.head, entries }
    }

    /// Lists the vacant entry `id`.
    #[inline]
    pub(crate) fn push<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32) {
        debug_assert!(!entries[id as usize].is_occupied());
        list::push_back(&mut self.linked(entries), HEAD, id);
        self.len += 1;
    }

    /// Takes the latest listed vacancy off the list.
    #[inline]
    pub(crate) fn pop<K, V>(&mut self, entries: &mut [Entry<K, V>]) -> Option<u32> {
        let last = self.head.prev;
        if last == HEAD {
            return None;
        }
        list::unlink(&mut self.linked(entries), last);
        self.len -= 1;
        Some(last)
    }

    /// Takes the listed vacancy `id` off the list.
    #[inline]
    pub(crate) fn remove<K, V>(&mut self, entries: &mut [Entry<K, V>], id: u32) {
        list::unlink(&mut self.linked(entries), id);
        self.len -= 1;
    }

    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Calls `each` with every listed id, checking the links.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn walk<K, V>(&self, entries: &[Entry<K, V>], each: impl FnMut(u32)) -> usize {
        list::walk(&Read(&self.head, entries), HEAD, each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vacant(n: usize) -> Vec<Entry<u64, u64>> {
        (0..n).map(|_| Entry::vacant()).collect()
    }

    fn listed(v: &Vacancies, entries: &[Entry<u64, u64>]) -> Vec<u32> {
        let mut ids = Vec::new();
        let n = v.walk(entries, |id| ids.push(id));
        assert_eq!(n, v.len());
        ids
    }

    #[test]
    fn pops_the_latest_first() {
        let mut entries = vacant(8);
        let mut v = Vacancies::default();
        for id in [3, 1, 7] {
            v.push(&mut entries, id);
        }
        assert_eq!(listed(&v, &entries), [3, 1, 7]);
        assert_eq!(v.pop(&mut entries), Some(7));
        assert_eq!(v.pop(&mut entries), Some(1));
        assert_eq!(v.pop(&mut entries), Some(3));
        assert_eq!(v.pop(&mut entries), None);
        assert_eq!(v.len(), 0);
    }

    #[test]
    fn removes_any_listed_vacancy() {
        let mut entries = vacant(8);
        let mut v = Vacancies::default();
        for id in 0..8 {
            v.push(&mut entries, id);
        }
        for id in [0, 7, 4] {
            v.remove(&mut entries, id);
        }
        assert_eq!(listed(&v, &entries), [1, 2, 3, 5, 6]);
        v.push(&mut entries, 4);
        assert_eq!(v.pop(&mut entries), Some(4));
        assert_eq!(listed(&v, &entries), [1, 2, 3, 5, 6]);
    }
}
