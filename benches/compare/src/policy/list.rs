//! Several doubly linked lists of keys over one slab of nodes: O(1) push to
//! the front, removal of any node, and moves between lists. The reference
//! policies keep their recency orders here (front = most recent).

/// The end of a list.
const NIL: usize = usize::MAX;

/// One key in one of the lists.
struct Node {
    key: u64,
    list: usize,
    prev: usize,
    next: usize,
}

/// `N` lists sharing one slab; a node is named by its index in the slab,
/// which stays valid until the node is removed.
pub struct Lists<const N: usize> {
    nodes: Vec<Node>,
    /// Slab slots of removed nodes, reused first.
    free: Vec<usize>,
    heads: [usize; N],
    tails: [usize; N],
    lens: [usize; N],
}

impl<const N: usize> Lists<N> {
    /// Empty lists.
    pub fn new() -> Self {
        Lists {
            nodes: Vec::new(),
            free: Vec::new(),
            heads: [NIL; N],
            tails: [NIL; N],
            lens: [0; N],
        }
    }

    /// The number of keys in `list`.
    pub fn len(&self, list: usize) -> usize {
        self.lens[list]
    }

    /// The list node `i` is in.
    pub fn list_of(&self, i: usize) -> usize {
        self.nodes[i].list
    }

    /// The node at the back (least recent end) of `list`, if any.
    pub fn back(&self, list: usize) -> Option<usize> {
        let i = self.tails[list];
        (i != NIL).then_some(i)
    }

    /// Puts `key` at the front of `list`; returns its node.
    pub fn push_front(&mut self, list: usize, key: u64) -> usize {
        let node = Node { key, list, prev: NIL, next: NIL };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.link_front(list, i);
        i
    }

    /// Removes node `i` from its list and frees it; returns its key.
    pub fn remove(&mut self, i: usize) -> u64 {
        self.unlink(i);
        self.free.push(i);
        self.nodes[i].key
    }

    /// Moves node `i` to the front of `list` (its own or another); the node
    /// keeps its index.
    pub fn move_to_front(&mut self, i: usize, list: usize) {
        self.unlink(i);
        self.link_front(list, i);
    }

    /// The keys of `list`, front to back.
    #[cfg(test)]
    pub fn keys(&self, list: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut i = self.heads[list];
        while i != NIL {
            out.push(self.nodes[i].key);
            i = self.nodes[i].next;
        }
        out
    }

    fn link_front(&mut self, list: usize, i: usize) {
        let head = self.heads[list];
        let node = &mut self.nodes[i];
        node.list = list;
        node.prev = NIL;
        node.next = head;
        if head == NIL {
            self.tails[list] = i;
        } else {
            self.nodes[head].prev = i;
        }
        self.heads[list] = i;
        self.lens[list] += 1;
    }

    fn unlink(&mut self, i: usize) {
        let Node { list, prev, next, .. } = self.nodes[i];
        if prev == NIL {
            self.heads[list] = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tails[list] = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.lens[list] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Lists;

    #[test]
    fn push_move_remove() {
        let mut l: Lists<2> = Lists::new();
        let a = l.push_front(0, 1);
        let b = l.push_front(0, 2);
        let c = l.push_front(0, 3);
        assert_eq!(l.keys(0), [3, 2, 1]);
        assert_eq!(l.back(0), Some(a));
        l.move_to_front(a, 0);
        assert_eq!(l.keys(0), [1, 3, 2]);
        l.move_to_front(b, 1);
        assert_eq!((l.keys(0), l.keys(1)), (vec![1, 3], vec![2]));
        assert_eq!((l.len(0), l.len(1), l.list_of(b)), (2, 1, 1));
        assert_eq!(l.remove(c), 3);
        assert_eq!(l.keys(0), [1]);
        assert_eq!(l.remove(b), 2);
        assert_eq!((l.back(1), l.len(1)), (None, 0));
        // A freed slot is reused.
        assert_eq!(l.push_front(1, 4), b);
        assert_eq!(l.keys(1), [4]);
    }
}
