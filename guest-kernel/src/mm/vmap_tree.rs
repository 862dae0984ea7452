//! The free tree of the vmap area allocator (Linux's
//! `free_vmap_area_root`): maximal free ranges in a treap (a binary search
//! tree by start address, a heap by random priority) kept in a `Vec` arena,
//! each node augmented with the largest free range in its subtree (Linux
//! `subtree_max_size`), so that the lowest-fit search prunes whole
//! subtrees. See [`crate::mm::vmap_area`] for how the allocator uses it.

use alloc::vec::Vec;
use core::ops::Range;

use crate::mm::addr::PAGE_SIZE;

/// Rounds `start` up to `align` (a power of two) and returns it if `size`
/// bytes from there fit below `end` (Linux `is_within_this_va`).
pub(crate) fn fit_in(start: u64, end: u64, size: u64, align: u64) -> Option<u64> {
    let addr = start.checked_add(align - 1)? & !(align - 1);
    (addr.checked_add(size)? <= end).then_some(addr)
}

pub(crate) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Largest `end - start` in this node's subtree (Linux
    /// `subtree_max_size`).
    pub(crate) subtree_max_size: u64,
    pub(crate) prio: u32,
    pub(crate) left: u32,
    pub(crate) right: u32,
}

/// The free ranges: a treap keyed by start address, augmented with the
/// largest range size per subtree, its nodes in a `Vec` (indices as links,
/// freed slots reused).
pub(crate) struct FreeTree {
    pub(crate) nodes: Vec<Node>,
    pub(crate) spare: Vec<u32>,
    pub(crate) root: u32,
    pub(crate) len: usize,
    pub(crate) bytes: u64,
    pub(crate) rng: u64,
}

impl FreeTree {
    pub(crate) const fn new() -> Self {
        FreeTree { nodes: Vec::new(), spare: Vec::new(), root: NIL, len: 0, bytes: 0, rng: 0x9e37_79b9_7f4a_7c15 }
    }

    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    pub(crate) fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    pub(crate) fn max_size(&self, i: u32) -> u64 {
        if i == NIL {
            0
        } else {
            self.node(i).subtree_max_size
        }
    }

    /// Recomputes `i`'s subtree maximum from its children.
    pub(crate) fn pull(&mut self, i: u32) {
        let n = *self.node(i);
        let max = (n.end - n.start).max(self.max_size(n.left)).max(self.max_size(n.right));
        self.node_mut(i).subtree_max_size = max;
    }

    /// xorshift64*: priorities independent of the keys keep the treap
    /// balanced in expectation whatever the allocation pattern.
    pub(crate) fn next_prio(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    pub(crate) fn new_node(&mut self, start: u64, end: u64) -> u32 {
        let node = Node { start, end, subtree_max_size: end - start, prio: self.next_prio(), left: NIL, right: NIL };
        match self.spare.pop() {
            Some(i) => {
                *self.node_mut(i) = node;
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len()).ok().filter(|&i| i != NIL).expect("free tree full");
                self.nodes.push(node);
                i
            }
        }
    }

    /// Splits subtree `t` into starts `< key` and starts `>= key`.
    pub(crate) fn split(&mut self, t: u32, key: u64) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let n = *self.node(t);
        if n.start < key {
            let (l, r) = self.split(n.right, key);
            self.node_mut(t).right = l;
            self.pull(t);
            (t, r)
        } else {
            let (l, r) = self.split(n.left, key);
            self.node_mut(t).left = r;
            self.pull(t);
            (l, t)
        }
    }

    /// Joins two subtrees, every start in `a` below every start in `b`.
    pub(crate) fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.node(a).prio >= self.node(b).prio {
            let r = self.merge(self.node(a).right, b);
            self.node_mut(a).right = r;
            self.pull(a);
            a
        } else {
            let l = self.merge(a, self.node(b).left);
            self.node_mut(b).left = l;
            self.pull(b);
            b
        }
    }

    pub(crate) fn insert_at(&mut self, t: u32, n: u32) -> u32 {
        if t == NIL {
            return n;
        }
        let (key, prio) = (self.node(n).start, self.node(n).prio);
        if prio > self.node(t).prio {
            let (l, r) = self.split(t, key);
            let node = self.node_mut(n);
            node.left = l;
            node.right = r;
            self.pull(n);
            return n;
        }
        if key < self.node(t).start {
            let l = self.insert_at(self.node(t).left, n);
            self.node_mut(t).left = l;
        } else {
            let r = self.insert_at(self.node(t).right, n);
            self.node_mut(t).right = r;
        }
        self.pull(t);
        t
    }

    /// Adds `[start, end)`, which overlaps no range already in the tree.
    pub(crate) fn insert(&mut self, start: u64, end: u64) {
        debug_assert!(start < end);
        let n = self.new_node(start, end);
        self.root = self.insert_at(self.root, n);
        self.len += 1;
        self.bytes += end - start;
    }

    pub(crate) fn remove_at(&mut self, t: u32, start: u64, removed: &mut Option<Range<u64>>) -> u32 {
        if t == NIL {
            return NIL;
        }
        let n = *self.node(t);
        if n.start == start {
            *removed = Some(n.start..n.end);
            self.spare.push(t);
            return self.merge(n.left, n.right);
        }
        if start < n.start {
            let l = self.remove_at(n.left, start, removed);
            self.node_mut(t).left = l;
        } else {
            let r = self.remove_at(n.right, start, removed);
            self.node_mut(t).right = r;
        }
        self.pull(t);
        t
    }

    /// Removes and returns the range starting at `start`.
    pub(crate) fn remove(&mut self, start: u64) -> Option<Range<u64>> {
        let mut removed = None;
        self.root = self.remove_at(self.root, start, &mut removed);
        if let Some(r) = &removed {
            self.len -= 1;
            self.bytes -= r.end - r.start;
        }
        removed
    }

    /// The range with the greatest start `<= addr`.
    pub(crate) fn floor(&self, addr: u64) -> Option<Range<u64>> {
        let (mut t, mut best) = (self.root, None);
        while t != NIL {
            let n = self.node(t);
            if n.start <= addr {
                best = Some(n.start..n.end);
                t = n.right;
            } else {
                t = n.left;
            }
        }
        best
    }

    /// Linux `find_vmap_lowest_match`: the lowest range of at least
    /// `length` bytes, or one met on the way down where `size` bytes fit
    /// at `align`. O(height). `length` must guarantee a fit.
    pub(crate) fn lowest_match_fast(&self, size: u64, align: u64, length: u64) -> Option<(Range<u64>, u64)> {
        let mut t = self.root;
        while t != NIL {
            let n = self.node(t);
            if self.max_size(n.left) >= length {
                t = n.left;
                continue;
            }
            if let Some(addr) = fit_in(n.start, n.end, size, align) {
                return Some((n.start..n.end, addr));
            }
            if self.max_size(n.right) >= length {
                t = n.right;
                continue;
            }
            break;
        }
        None
    }

    /// The lowest range where `size` bytes fit at `align`, exactly:
    /// in-order walk skipping subtrees with no range of `size` bytes.
    pub(crate) fn lowest_match_exact(&self, t: u32, size: u64, align: u64) -> Option<(Range<u64>, u64)> {
        if self.max_size(t) < size {
            return None;
        }
        let n = *self.node(t);
        if let Some(found) = self.lowest_match_exact(n.left, size, align) {
            return Some(found);
        }
        if let Some(addr) = fit_in(n.start, n.end, size, align) {
            return Some((n.start..n.end, addr));
        }
        self.lowest_match_exact(n.right, size, align)
    }

    /// Where `size` bytes at `align` go: the free range and the address.
    pub(crate) fn find_lowest_match(&self, size: u64, align: u64) -> Option<(Range<u64>, u64)> {
        // Block boundaries are page aligned, so aligning wastes at most
        // `align - PAGE_SIZE` bytes of a block.
        if let Some(length) = size.checked_add(align - PAGE_SIZE) {
            if let Some(found) = self.lowest_match_fast(size, align, length) {
                return Some(found);
            }
        }
        if align > PAGE_SIZE {
            self.lowest_match_exact(self.root, size, align)
        } else {
            None
        }
    }

    pub(crate) fn iter(&self) -> FreeIter<'_> {
        FreeIter { tree: self, stack: Vec::new(), cur: self.root }
    }
}

/// In-order walk of the free tree.
pub(crate) struct FreeIter<'a> {
    pub(crate) tree: &'a FreeTree,
    pub(crate) stack: Vec<u32>,
    pub(crate) cur: u32,
}

impl Iterator for FreeIter<'_> {
    type Item = Range<u64>;

    fn next(&mut self) -> Option<Range<u64>> {
        while self.cur != NIL {
            self.stack.push(self.cur);
            self.cur = self.tree.node(self.cur).left;
        }
        let t = self.stack.pop()?;
        let n = self.tree.node(t);
        self.cur = n.right;
        Some(n.start..n.end)
    }
}
