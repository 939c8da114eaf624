//! Intrusive circular doubly linked lists of `u32` ids.
//!
//! A list is named by its *sentinel*: an id that belongs to no element and
//! whose links the list's owner keeps apart from the elements'. An empty
//! list is a sentinel linked to itself. Because every element has a
//! neighbour on both sides, unlinking needs no knowledge of which list an
//! element is on, and an element's neighbours tell when its list became
//! empty.
//!
//! The links themselves live wherever the owner keeps them (inside the
//! table's entries, for the timing wheel and the eviction policy), reached
//! through [`Nodes`].

/// Bits of an id: the table packs flags into the bits above them.
pub(crate) const ID_BITS: u32 = 29;
/// The mask of an id's bits.
pub(crate) const ID_MASK: u32 = (1 << ID_BITS) - 1;
/// The id of no element: the link of an element that is on no list.
pub(crate) const NIL: u32 = ID_MASK;
/// The first sentinel id; every id below it can be an element.
pub(crate) const SENTINEL_BASE: u32 = NIL - 1024;
/// The most elements a list owner (a shard) can hold.
pub(crate) const MAX_ELEMENTS: u32 = SENTINEL_BASE;

/// The id of the element at `index` in its owner's vector. An owner holds
/// fewer than `MAX_ELEMENTS` elements (a shard checks it when it adds
/// one), so every index of its vector fits: the one place an index
/// becomes an id.
#[inline]
pub(crate) fn id_at(index: usize) -> u32 {
    debug_assert!(index < MAX_ELEMENTS as usize, "index {index} past the ids");
    #[allow(clippy::cast_possible_truncation, reason = "an index is below MAX_ELEMENTS")]
    let id = index as u32;
    id
}

/// The links of every id of one kind of list, to change them.
pub(crate) trait Nodes: Links {
    fn set_prev(&mut self, id: u32, prev: u32);
    fn set_next(&mut self, id: u32, next: u32);
}

/// The links of every id of one kind of list, read only: enough to walk
/// the lists (`walk`).
pub(crate) trait Links {
    fn prev(&self, id: u32) -> u32;
    fn next(&self, id: u32) -> u32;
}

/// A pair of links, as stored for sentinels (and by the wheel for entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

impl Link {
    /// The links of an element on no list.
    pub(crate) const UNLINKED: Link = Link { prev: NIL, next: NIL };

    /// The links of an empty list's sentinel `id`.
    pub(crate) const fn empty(id: u32) -> Link {
        Link { prev: id, next: id }
    }

    pub(crate) fn is_linked(&self) -> bool {
        self.prev != NIL
    }
}

/// Whether `id` is a sentinel.
#[inline]
pub(crate) fn is_sentinel(id: u32) -> bool {
    (SENTINEL_BASE..NIL).contains(&id)
}

/// Appends `id` (on no list) at the back of the list of `head`.
#[inline]
pub(crate) fn push_back<N: Nodes>(nodes: &mut N, head: u32, id: u32) {
    let last = nodes.prev(head);
    nodes.set_next(last, id);
    nodes.set_prev(id, last);
    nodes.set_next(id, head);
    nodes.set_prev(head, id);
}

/// Takes `id` off its list, leaving it unlinked (`prev == NIL`); returns
/// the neighbours it had. When they are one sentinel, that list is empty.
#[inline]
pub(crate) fn unlink<N: Nodes>(nodes: &mut N, id: u32) -> (u32, u32) {
    let (prev, next) = (nodes.prev(id), nodes.next(id));
    debug_assert!(prev != NIL && next != NIL, "unlinking {id}, which is on no list");
    nodes.set_next(prev, next);
    nodes.set_prev(next, prev);
    nodes.set_prev(id, NIL);
    nodes.set_next(id, NIL);
    (prev, next)
}

/// The first element of the list of `head`.
#[inline]
pub(crate) fn front<N: Nodes>(nodes: &N, head: u32) -> Option<u32> {
    let first = nodes.next(head);
    (first != head).then_some(first)
}

/// Moves every element of the list of `from` to the back of the list of
/// `to`, in order, in constant time.
#[inline]
pub(crate) fn splice_back<N: Nodes>(nodes: &mut N, to: u32, from: u32) {
    let Some(first) = front(nodes, from) else {
        return;
    };
    let last = nodes.prev(from);
    let tail = nodes.prev(to);
    nodes.set_next(tail, first);
    nodes.set_prev(first, tail);
    nodes.set_next(last, to);
    nodes.set_prev(to, last);
    nodes.set_prev(from, from);
    nodes.set_next(from, from);
}

/// Repairs the neighbours of an element whose links were moved, with it,
/// to id `to` (the table compacting its entries).
#[inline]
pub(crate) fn relink<N: Nodes>(nodes: &mut N, to: u32) {
    let (prev, next) = (nodes.prev(to), nodes.next(to));
    if prev == NIL {
        return;
    }
    nodes.set_next(prev, to);
    nodes.set_prev(next, to);
}

#[cfg(any(test, fuzzing, feature = "test-util"))]
/// Walks the list of `head`, checking every back link; returns its
/// elements in order. Panics on a broken list.
pub(crate) fn walk<N: Links>(nodes: &N, head: u32, mut each: impl FnMut(u32)) -> usize {
    let mut count = 0;
    let mut prev = head;
    let mut id = nodes.next(head);
    while id != head {
        assert!(id != NIL && !is_sentinel(id), "list {head} runs into {id}");
        assert_eq!(nodes.prev(id), prev, "broken back link at {id} in list {head}");
        each(id);
        count += 1;
        prev = id;
        id = nodes.next(id);
    }
    assert_eq!(nodes.prev(head), prev, "list {head}: the sentinel's back link");
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Elements in a vector, sentinels in another.
    struct Vecs {
        links: Vec<Link>,
        sentinels: Vec<Link>,
    }

    impl Vecs {
        fn link(&self, id: u32) -> &Link {
            if is_sentinel(id) {
                &self.sentinels[(id - SENTINEL_BASE) as usize]
            } else {
                &self.links[id as usize]
            }
        }
        fn link_mut(&mut self, id: u32) -> &mut Link {
            if is_sentinel(id) {
                &mut self.sentinels[(id - SENTINEL_BASE) as usize]
            } else {
                &mut self.links[id as usize]
            }
        }
        fn list(&self, head: u32) -> Vec<u32> {
            let mut out = Vec::new();
            walk(self, head, |id| out.push(id));
            out
        }
    }

    impl Links for Vecs {
        fn prev(&self, id: u32) -> u32 {
            self.link(id).prev
        }
        fn next(&self, id: u32) -> u32 {
            self.link(id).next
        }
    }

    impl Nodes for Vecs {
        fn set_prev(&mut self, id: u32, prev: u32) {
            self.link_mut(id).prev = prev;
        }
        fn set_next(&mut self, id: u32, next: u32) {
            self.link_mut(id).next = next;
        }
    }

    #[test]
    fn push_unlink_front_and_relink() {
        let (a, b) = (SENTINEL_BASE, SENTINEL_BASE + 1);
        let mut v = Vecs {
            links: vec![Link::UNLINKED; 6],
            sentinels: vec![Link::empty(a), Link::empty(b)],
        };
        assert_eq!(front(&v, a), None);
        for id in 0..4 {
            push_back(&mut v, a, id);
        }
        push_back(&mut v, b, 4);
        assert_eq!(v.list(a), [0, 1, 2, 3]);
        assert_eq!(v.list(b), [4]);
        assert_eq!(unlink(&mut v, 2), (1, 3));
        assert!(!v.link(2).is_linked());
        assert_eq!(v.list(a), [0, 1, 3]);
        // The last element of a list: both neighbours are its sentinel.
        assert_eq!(unlink(&mut v, 4), (b, b));
        assert_eq!(front(&v, b), None);
        // Move element 3 to id 5, as a compaction does.
        v.links[5] = v.links[3];
        v.links[3] = Link::UNLINKED;
        relink(&mut v, 5);
        assert_eq!(v.list(a), [0, 1, 5]);
        assert_eq!(front(&v, a), Some(0));
        push_back(&mut v, b, 2);
        splice_back(&mut v, b, a);
        assert_eq!(v.list(b), [2, 0, 1, 5]);
        assert!(v.list(a).is_empty());
        splice_back(&mut v, b, a);
        assert_eq!(v.list(b), [2, 0, 1, 5]);
    }
}
