//! The vmap area allocator: kernel virtual address space for `vmalloc`,
//! `vmap` and friends, between [`VMALLOC_START`] and [`VMALLOC_END`]
//! (Linux mm/vmalloc.c: `alloc_vmap_area`, `free_vmap_area_noflush`,
//! `purge_vmap_area_lazy`, `find_vmap_area`, `/proc/vmallocinfo`).
//! Mapping pages into the areas is done elsewhere; this module only hands
//! out and takes back address ranges.
//!
//! ```text
//! kernel virtual                                   what
//! 0xffff_c900_0000_0000 .. 0xffff_e8ff_ffff_ffff   vmalloc space (32 TiB, VMALLOC_SIZE_TB)
//! ```
//!
//! Every address in `[start, end)` is in exactly one of three states:
//!
//! - **busy**: part of an allocated [`VmapArea`], which is the mapped size
//!   rounded up to pages plus one unmapped guard page (Linux's
//!   `vm_struct.size`), kept in a `BTreeMap` keyed by `va_start`
//!   (Linux's `vmap_area_root`);
//! - **lazily freed**: returned by [`VmapAreaAllocator::free`] but maybe
//!   still in some CPU's TLB, so not reusable until
//!   [`VmapAreaAllocator::purge`] (Linux `free_vmap_area_noflush` puts the
//!   area on the purge list, `purge_vmap_area_lazy` flushes the TLB once
//!   for the whole batch and only then gives the space back);
//! - **free**: in the free tree (Linux's `free_vmap_area_root`), maximal
//!   ranges (neighbours always coalesced), searched first-fit from the
//!   lowest address.
//!
//! The free tree is, like Linux's, augmented: each node knows the largest
//! free range in its subtree (Linux `subtree_max_size`). It is a treap
//! (a binary search tree by start address, a heap by random priority) kept
//! in a `Vec` arena, so no unsafe code; insert, remove, neighbour lookup
//! and the lowest-fit search are all O(log n) expected in the number of
//! free ranges. The lowest-fit search is Linux's `find_vmap_lowest_match`:
//! descend to the lowest free range whose size is at least `size +
//! align - PAGE_SIZE` (which fits whatever its alignment), taking a range
//! on the way down if it fits exactly. With page alignment (vmalloc's
//! normal case) that is exactly the lowest range that fits; with a larger
//! alignment, where Linux gives up, an exact lowest-fit search follows
//! (pruned by the subtree maxima) so that an allocation fails only when no
//! aligned hole exists.

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::mm::addr::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use crate::mm::vmap_tree::FreeTree;
#[cfg(test)]
use crate::mm::vmap_tree::NIL;

/// Size of the vmalloc space in TiB (Linux x86-64, 4-level paging).
pub const VMALLOC_SIZE_TB: u64 = 32;
/// First address of the vmalloc space (Linux `VMALLOC_START`).
pub const VMALLOC_START: u64 = 0xffff_c900_0000_0000;
/// Last address of the vmalloc space, inclusive (Linux `VMALLOC_END`).
pub const VMALLOC_END: u64 = VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1;

/// Lazily freed pages (guard pages included) above which a purge is due
/// (Linux `lazy_max_pages`: 32 MiB worth times `fls(num_online_cpus())`,
/// one CPU here).
pub const LAZY_MAX_PAGES: u64 = (32 << 20) >> PAGE_SHIFT;

/// Whether `addr` lies in the vmalloc space (Linux `is_vmalloc_addr`).
pub const fn is_vmalloc_addr(addr: u64) -> bool {
    addr >= VMALLOC_START && addr <= VMALLOC_END
}

/// What an area is for; printed at the end of its `/proc/vmallocinfo`
/// line (Linux's `VM_ALLOC` / `VM_MAP` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmKind {
    /// Pages allocated for the area by vmalloc, which owns them.
    Vmalloc,
    /// Caller-supplied pages mapped by vmap.
    Vmap,
    /// Device memory mapped by ioremap (uncached).
    Ioremap,
}

impl VmKind {
    /// The word `/proc/vmallocinfo` prints for this kind.
    pub const fn name(self) -> &'static str {
        match self {
            VmKind::Vmalloc => "vmalloc",
            VmKind::Vmap => "vmap",
            VmKind::Ioremap => "ioremap",
        }
    }
}

impl fmt::Display for VmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An allocated range of vmalloc space (Linux `vmap_area` + `vm_struct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmapArea {
    /// First address; aligned as requested.
    pub va_start: u64,
    /// End, exclusive, after the guard page: `va_end - va_start` is
    /// Linux's `vm_struct.size`.
    pub va_end: u64,
    /// Pages to be mapped: the requested size in pages, guard excluded.
    pub nr_pages: u64,
    /// Who allocated it, for `/proc/vmallocinfo` (Linux prints the caller's
    /// symbol with `%pS`).
    pub caller: &'static str,
    pub kind: VmKind,
}

impl VmapArea {
    /// Size including the guard page (Linux `get_vm_area_size` + guard).
    pub const fn size(&self) -> u64 {
        self.va_end - self.va_start
    }

    /// End of the part to be mapped, where the guard page starts.
    pub const fn mapped_end(&self) -> u64 {
        self.va_end - PAGE_SIZE
    }

    /// Whether `addr` lies in the area, guard page included.
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.va_start && addr < self.va_end
    }
}

/// Why an allocation or a free failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapError {
    /// Zero, or so large that rounding it up overflows.
    BadSize { size: u64 },
    /// Not a power of two.
    BadAlign { align: u64 },
    /// No free range fits, even after purging the lazily freed areas.
    NoSpace { size: u64, align: u64 },
    /// No busy area contains the address (never allocated, or already
    /// freed).
    NotFound { addr: u64 },
    /// The address is inside a busy area but not its start.
    NotAreaStart { addr: u64, va_start: u64 },
}

impl fmt::Display for VmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VmapError::BadSize { size } => write!(f, "invalid vmap size {size:#x}"),
            VmapError::BadAlign { align } => write!(f, "invalid vmap alignment {align:#x}: not a power of two"),
            VmapError::NoSpace { size, align } => write!(f, "vmap allocation for size {size} (align {align:#x}) failed: use vmalloc=<size> to increase size"),
            VmapError::NotFound { addr } => write!(f, "Trying to vfree() nonexistent vm area ({addr:#x})"),
            VmapError::NotAreaStart { addr, va_start } => {
                write!(f, "Trying to vfree() bad address ({addr:#x}) inside the vm area at {va_start:#x}")
            }
        }
    }
}

/// What a purge gave back to free space: the ranges whose kernel TLB
/// entries the caller must flush before anybody uses them again (Linux's
/// `__purge_vmap_area_lazy` flushes `span()` with one
/// `flush_tlb_kernel_range`).
#[must_use = "the purged ranges must be flushed from the TLB"]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// The lazily freed ranges, adjacent ones merged, in address order.
    pub ranges: Vec<Range<u64>>,
    /// How many areas were purged.
    pub nr_areas: usize,
    /// Their total size, guard pages included.
    pub bytes: u64,
}

impl Purged {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// One range covering all purged ranges, or `None` if nothing was
    /// purged.
    pub fn span(&self) -> Option<Range<u64>> {
        Some(self.ranges.first()?.start..self.ranges.last()?.end)
    }
}

/// The allocator of one range of kernel virtual address space.
pub struct VmapAreaAllocator {
    start: u64,
    end: u64,
    /// Busy areas by `va_start` (Linux `vmap_area_root`).
    busy: BTreeMap<u64, VmapArea>,
    busy_bytes: u64,
    /// Lazily freed areas, `va_start -> va_end`, one entry per area
    /// (Linux's purge list).
    lazy: BTreeMap<u64, u64>,
    lazy_bytes: u64,
    free: FreeTree,
    lazy_max_pages: u64,
}

impl VmapAreaAllocator {
    /// An allocator over `[start, end)`, all free. Panics unless both are
    /// page aligned and `start < end`.
    pub fn new(start: u64, end: u64) -> Self {
        assert!(start < end && start & !PAGE_MASK == 0 && end & !PAGE_MASK == 0, "bad vmap range {start:#x}-{end:#x}");
        let mut free = FreeTree::new();
        free.insert(start, end);
        VmapAreaAllocator { start, end, busy: BTreeMap::new(), busy_bytes: 0, lazy: BTreeMap::new(), lazy_bytes: 0, free, lazy_max_pages: LAZY_MAX_PAGES }
    }

    /// The allocator of the whole vmalloc space.
    pub fn vmalloc_space() -> Self {
        Self::new(VMALLOC_START, VMALLOC_END + 1)
    }

    /// The managed range.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// Lazily freed pages above which [`needs_purge`](Self::needs_purge)
    /// says so.
    pub fn lazy_max_pages(&self) -> u64 {
        self.lazy_max_pages
    }

    pub fn set_lazy_max_pages(&mut self, pages: u64) {
        self.lazy_max_pages = pages;
    }

    /// Allocates an area for `size` bytes (rounded up to pages) plus a
    /// guard page, starting at a multiple of `align` (a power of two;
    /// below `PAGE_SIZE` means `PAGE_SIZE`, as areas are page aligned
    /// anyway): the lowest-addressed one that fits (Linux
    /// `alloc_vmap_area`).
    ///
    /// When nothing fits and some areas are lazily freed, purges them and
    /// tries once more, as Linux does; `flush` then receives the purged
    /// ranges, exactly once, before this returns (also when the retry
    /// fails), and must flush them from the TLB. It is not called when no
    /// purge happens.
    pub fn alloc(&mut self, size: u64, align: u64, caller: &'static str, kind: VmKind, flush: impl FnOnce(Purged)) -> Result<VmapArea, VmapError> {
        if !align.is_power_of_two() {
            return Err(VmapError::BadAlign { align });
        }
        let align = align.max(PAGE_SIZE);
        let mapped = match size.checked_add(PAGE_SIZE - 1) {
            Some(s) if size != 0 => s & PAGE_MASK,
            _ => return Err(VmapError::BadSize { size }),
        };
        let va_size = mapped.checked_add(PAGE_SIZE).ok_or(VmapError::BadSize { size })?;

        let found = match self.free.find_lowest_match(va_size, align) {
            None if !self.lazy.is_empty() => {
                flush(self.purge());
                self.free.find_lowest_match(va_size, align)
            }
            found => found,
        };
        let (block, addr) = found.ok_or(VmapError::NoSpace { size, align })?;

        // Linux `adjust_va_to_fit_va`: what is left on either side stays free.
        self.free.remove(block.start);
        if block.start < addr {
            self.free.insert(block.start, addr);
        }
        if addr + va_size < block.end {
            self.free.insert(addr + va_size, block.end);
        }
        let area = VmapArea { va_start: addr, va_end: addr + va_size, nr_pages: mapped >> PAGE_SHIFT, caller, kind };
        self.busy.insert(addr, area);
        self.busy_bytes += va_size;
        Ok(area)
    }

    /// Frees the area starting at `va_start` lazily (Linux
    /// `free_vmap_area_noflush`): its range becomes reusable only after
    /// the next [`purge`](Self::purge). The caller unmaps the pages first
    /// and purges when [`needs_purge`](Self::needs_purge).
    pub fn free(&mut self, va_start: u64) -> Result<VmapArea, VmapError> {
        let Some(area) = self.busy.remove(&va_start) else {
            return Err(match self.find(va_start) {
                Some(a) => VmapError::NotAreaStart { addr: va_start, va_start: a.va_start },
                None => VmapError::NotFound { addr: va_start },
            });
        };
        self.busy_bytes -= area.size();
        self.lazy.insert(area.va_start, area.va_end);
        self.lazy_bytes += area.size();
        Ok(area)
    }

    /// Whether more than [`lazy_max_pages`](Self::lazy_max_pages) pages
    /// wait for a purge (when Linux schedules `drain_vmap_area_work`).
    pub fn needs_purge(&self) -> bool {
        self.lazy_pages() > self.lazy_max_pages
    }

    /// Gives every lazily freed range back to free space, coalescing it
    /// with its free neighbours (Linux `purge_vmap_area_lazy` +
    /// `merge_or_add_vmap_area`), and returns what the caller must flush
    /// from the TLB before the space is used again.
    pub fn purge(&mut self) -> Purged {
        let lazy = core::mem::take(&mut self.lazy);
        let bytes = core::mem::take(&mut self.lazy_bytes);
        let nr_areas = lazy.len();
        let mut ranges: Vec<Range<u64>> = Vec::new();
        for (start, end) in lazy {
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => ranges.push(start..end),
            }
        }
        for r in &ranges {
            self.merge_free(r.start, r.end);
        }
        Purged { ranges, nr_areas, bytes }
    }

    /// Puts `[start, end)` in the free tree, merged with the free ranges
    /// that touch it.
    fn merge_free(&mut self, mut start: u64, mut end: u64) {
        if let Some(prev) = self.free.floor(start) {
            debug_assert!(prev.end <= start, "free range {prev:x?} overlaps {start:#x}");
            if prev.end == start {
                self.free.remove(prev.start);
                start = prev.start;
            }
        }
        if let Some(next) = self.free.remove(end) {
            end = next.end;
        }
        self.free.insert(start, end);
    }

    /// The busy area containing `addr`, guard page included (Linux
    /// `find_vmap_area`).
    pub fn find(&self, addr: u64) -> Option<&VmapArea> {
        self.busy.range(..=addr).next_back().map(|(_, a)| a).filter(|a| a.contains(addr))
    }

    /// The busy areas in address order.
    pub fn areas(&self) -> impl Iterator<Item = &VmapArea> + '_ {
        self.busy.values()
    }

    /// The lazily freed areas (whole areas, guard included), in address
    /// order.
    pub fn lazy_areas(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.lazy.iter().map(|(&s, &e)| s..e)
    }

    /// The free ranges, maximal, in address order.
    pub fn free_ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.free.iter()
    }

    /// Number of busy areas.
    pub fn nr_busy(&self) -> usize {
        self.busy.len()
    }

    /// Bytes in busy areas, guard pages included.
    pub fn busy_bytes(&self) -> u64 {
        self.busy_bytes
    }

    /// Number of lazily freed areas waiting for a purge.
    pub fn nr_lazy(&self) -> usize {
        self.lazy.len()
    }

    /// Bytes lazily freed, guard pages included.
    pub fn lazy_bytes(&self) -> u64 {
        self.lazy_bytes
    }

    /// Pages lazily freed, guard pages included (Linux `vmap_lazy_nr`).
    pub fn lazy_pages(&self) -> u64 {
        self.lazy_bytes >> PAGE_SHIFT
    }

    /// Bytes free for allocation now (lazily freed ones not counted).
    pub fn free_bytes(&self) -> u64 {
        self.free.bytes
    }

    /// Number of free ranges.
    pub fn nr_free_ranges(&self) -> usize {
        self.free.len
    }

    /// The largest free range, in bytes (the tree root's
    /// `subtree_max_size`); an area of up to this minus a guard page fits
    /// at page alignment.
    pub fn largest_free(&self) -> u64 {
        self.free.max_size(self.free.root)
    }

    /// Linux's `/proc/vmallocinfo`: one line per busy area in address
    /// order, then the lazily freed ("unpurged") ones. Addresses print raw
    /// (Linux's `%pK` as root). `pages=` is printed for vmalloc areas
    /// only: plain vmap leaves Linux's `vm_struct.nr_pages` at 0.
    pub fn vmallocinfo(&self, w: &mut (impl fmt::Write + ?Sized)) -> fmt::Result {
        for a in self.busy.values() {
            write!(w, "0x{:016x}-0x{:016x} {:7}", a.va_start, a.va_end, a.size())?;
            if !a.caller.is_empty() {
                write!(w, " {}", a.caller)?;
            }
            if a.kind == VmKind::Vmalloc && a.nr_pages != 0 {
                write!(w, " pages={}", a.nr_pages)?;
            }
            writeln!(w, " {}", a.kind)?;
        }
        for (&s, &e) in &self.lazy {
            writeln!(w, "0x{s:016x}-0x{e:016x} {:7} unpurged vm_area", e - s)?;
        }
        Ok(())
    }
}

impl fmt::Debug for VmapAreaAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VmapAreaAllocator")
            .field("range", &format_args!("{:#x}-{:#x}", self.start, self.end))
            .field("busy", &self.busy.len())
            .field("lazy", &self.lazy.len())
            .field("free_ranges", &self.free.len)
            .finish()
    }
}

#[cfg(test)]
impl VmapAreaAllocator {
    /// Checks every structural invariant; panics with a description.
    fn check_invariants(&self) {
        // The free tree: search order, heap order, augmentation, counts.
        fn walk(t: &FreeTree, i: u32, lo: u64, hi: u64, prio: u32, depth: usize, out: &mut (usize, u64, usize)) -> u64 {
            if i == NIL {
                return 0;
            }
            let n = *t.node(i);
            assert!(n.start < n.end, "empty free node");
            assert!(n.start >= lo && n.end <= hi, "free tree out of order");
            assert!(n.prio <= prio, "treap heap order broken");
            out.0 += 1;
            out.1 += n.end - n.start;
            out.2 = out.2.max(depth);
            let l = walk(t, n.left, lo, n.start, n.prio, depth + 1, out);
            let r = walk(t, n.right, n.end, hi, n.prio, depth + 1, out);
            let max = (n.end - n.start).max(l).max(r);
            assert_eq!(n.subtree_max_size, max, "subtree_max_size wrong at {:#x}", n.start);
            max
        }
        let mut counts = (0, 0, 0);
        walk(&self.free, self.free.root, self.start, self.end, u32::MAX, 1, &mut counts);
        assert_eq!(counts.0, self.free.len, "free range count");
        assert_eq!(counts.1, self.free.bytes, "free byte count");
        assert_eq!(self.free.nodes.len(), self.free.len + self.free.spare.len(), "arena leak");

        // Busy, lazy and free ranges tile [start, end) exactly; free
        // ranges are maximal.
        let mut all: Vec<(u64, u64, u8)> = Vec::new();
        let mut busy_bytes = 0;
        for (&k, a) in &self.busy {
            assert_eq!(k, a.va_start);
            assert!(a.va_start < a.va_end && a.va_start & !PAGE_MASK == 0 && a.va_end & !PAGE_MASK == 0);
            assert_eq!(a.size(), (a.nr_pages + 1) * PAGE_SIZE, "area size is pages plus guard");
            busy_bytes += a.size();
            all.push((a.va_start, a.va_end, 0));
        }
        let mut lazy_bytes = 0;
        for (&s, &e) in &self.lazy {
            lazy_bytes += e - s;
            all.push((s, e, 1));
        }
        for r in self.free.iter() {
            all.push((r.start, r.end, 2));
        }
        assert_eq!(busy_bytes, self.busy_bytes, "busy byte count");
        assert_eq!(lazy_bytes, self.lazy_bytes, "lazy byte count");
        all.sort_unstable();
        let mut at = self.start;
        let mut prev_free = false;
        for &(s, e, what) in &all {
            assert_eq!(s, at, "hole or overlap at {at:#x}: {all:x?}");
            assert!(!(prev_free && what == 2), "adjacent free ranges not coalesced at {s:#x}");
            prev_free = what == 2;
            at = e;
        }
        assert_eq!(at, self.end, "ranges do not reach the end");
    }

    fn free_tree_height(&self) -> usize {
        fn h(t: &FreeTree, i: u32) -> usize {
            if i == NIL {
                0
            } else {
                1 + h(t, t.node(i).left).max(h(t, t.node(i).right))
            }
        }
        h(&self.free, self.free.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;

    const P: u64 = PAGE_SIZE;

    fn no_flush(p: Purged) {
        panic!("unexpected purge of {p:x?}");
    }

    #[test]
    fn layout_constants() {
        assert_eq!(VMALLOC_END, 0xffff_e8ff_ffff_ffff);
        assert_eq!(LAZY_MAX_PAGES, 8192);
        assert!(is_vmalloc_addr(VMALLOC_START) && is_vmalloc_addr(VMALLOC_END));
        assert!(!is_vmalloc_addr(VMALLOC_START - 1) && !is_vmalloc_addr(VMALLOC_END + 1));
        let v = VmapAreaAllocator::vmalloc_space();
        assert_eq!(v.range(), VMALLOC_START..VMALLOC_END + 1);
        assert_eq!(v.free_bytes(), 32 << 40);
        assert_eq!(v.largest_free(), 32 << 40);
        v.check_invariants();
    }

    #[test]
    fn alloc_is_lowest_fit_with_guard_page() {
        let mut v = VmapAreaAllocator::vmalloc_space();
        let a = v.alloc(4 * P, 1, "a", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(a, VmapArea { va_start: VMALLOC_START, va_end: VMALLOC_START + 5 * P, nr_pages: 4, caller: "a", kind: VmKind::Vmalloc });
        assert_eq!(a.mapped_end(), VMALLOC_START + 4 * P);
        // Sizes round up to pages; the next area starts after the guard.
        let b = v.alloc(1, P, "b", VmKind::Vmap, no_flush).unwrap();
        assert_eq!((b.va_start, b.va_end, b.nr_pages), (VMALLOC_START + 5 * P, VMALLOC_START + 7 * P, 1));
        let c = v.alloc(P + 1, 1 << 20, "c", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!((c.va_start, c.size()), (VMALLOC_START + (1 << 20), 3 * P));
        // The hole left by alignment is used by the next small request.
        let d = v.alloc(P, P, "d", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(d.va_start, VMALLOC_START + 7 * P);
        assert_eq!(v.nr_busy(), 4);
        assert_eq!(v.busy_bytes(), (5 + 2 + 3 + 2) * P);
        assert_eq!(v.free_bytes(), (32 << 40) - 12 * P);
        assert_eq!(v.nr_free_ranges(), 2);
        v.check_invariants();
    }

    #[test]
    fn bad_arguments() {
        let mut v = VmapAreaAllocator::new(VMALLOC_START, VMALLOC_START + (1 << 20));
        assert_eq!(v.alloc(0, P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::BadSize { size: 0 }));
        assert_eq!(v.alloc(u64::MAX, P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::BadSize { size: u64::MAX }));
        assert_eq!(v.alloc(u64::MAX - P + 1, P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::BadSize { size: u64::MAX - P + 1 }));
        assert_eq!(v.alloc(P, 0, "x", VmKind::Vmalloc, no_flush), Err(VmapError::BadAlign { align: 0 }));
        assert_eq!(v.alloc(P, 3 * P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::BadAlign { align: 3 * P }));
        assert_eq!(v.alloc(1 << 20, P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::NoSpace { size: 1 << 20, align: P }));
        assert_eq!(v.alloc(P, 1 << 63, "x", VmKind::Vmalloc, no_flush), Err(VmapError::NoSpace { size: P, align: 1 << 63 }));
        // The whole range minus the guard page fits, exactly.
        let a = v.alloc((1 << 20) - P, P, "x", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(a.va_end, VMALLOC_START + (1 << 20));
        assert_eq!((v.free_bytes(), v.nr_free_ranges(), v.largest_free()), (0, 0, 0));
        assert_eq!(v.free(a.va_start + P), Err(VmapError::NotAreaStart { addr: a.va_start + P, va_start: a.va_start }));
        assert_eq!(v.free(VMALLOC_START - P), Err(VmapError::NotFound { addr: VMALLOC_START - P }));
        assert_eq!(v.free(a.va_start), Ok(a));
        assert_eq!(v.free(a.va_start), Err(VmapError::NotFound { addr: a.va_start }));
        v.check_invariants();
    }

    #[test]
    fn whole_vmalloc_space() {
        let mut v = VmapAreaAllocator::vmalloc_space();
        let tb = 1u64 << 40;
        assert!(matches!(v.alloc(32 * tb, P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::NoSpace { .. })));
        let a = v.alloc(31 * tb, 1 << 30, "x", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(a.va_start, VMALLOC_START);
        let b = v.alloc(tb - 2 * P, P, "y", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!((b.va_start, b.va_end), (VMALLOC_START + 31 * tb + P, VMALLOC_END + 1));
        assert_eq!(v.free_bytes(), 0);
        assert_eq!(v.find(VMALLOC_END).map(|a| a.caller), Some("y"));
        assert_eq!(v.find(VMALLOC_START + 31 * tb).map(|a| a.caller), Some("x"), "guard page belongs to its area");
        v.check_invariants();
    }

    #[test]
    fn errors_display() {
        let s = std::format!("{}", VmapError::NoSpace { size: 8192, align: 4096 });
        assert!(s.starts_with("vmap allocation for size 8192"), "{s}");
        let s = std::format!("{}", VmapError::NotFound { addr: VMALLOC_START });
        assert_eq!(s, "Trying to vfree() nonexistent vm area (0xffffc90000000000)");
        assert!(std::format!("{}", VmapError::BadAlign { align: 3 }).contains("0x3"));
        assert!(std::format!("{}", VmapError::BadSize { size: 0 }).contains("size"));
        assert!(std::format!("{}", VmapError::NotAreaStart { addr: 5, va_start: 4 }).contains("0x4"));
    }

    #[test]
    fn freed_range_not_reused_until_purge() {
        let mut v = VmapAreaAllocator::new(VMALLOC_START, VMALLOC_START + 64 * P);
        let a = v.alloc(3 * P, P, "a", VmKind::Vmalloc, no_flush).unwrap();
        let b = v.alloc(3 * P, P, "b", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(v.free(a.va_start), Ok(a));
        assert_eq!((v.nr_lazy(), v.lazy_bytes(), v.lazy_pages()), (1, 4 * P, 4));
        assert_eq!(v.find(a.va_start), None);
        let c = v.alloc(3 * P, P, "c", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(c.va_start, b.va_end, "lazily freed space must not be reused");
        v.check_invariants();

        let p = v.purge();
        assert_eq!(p, Purged { ranges: std::vec![a.va_start..a.va_end], nr_areas: 1, bytes: 4 * P });
        assert_eq!(p.span(), Some(a.va_start..a.va_end));
        assert_eq!((v.nr_lazy(), v.lazy_bytes()), (0, 0));
        let d = v.alloc(3 * P, P, "d", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(d.va_start, a.va_start, "purged space is reused");
        assert!(v.purge().is_empty());
        assert_eq!(Purged::default().span(), None);
        v.check_invariants();
    }

    #[test]
    fn alloc_purges_and_retries_once_when_full() {
        let mut v = VmapAreaAllocator::new(VMALLOC_START, VMALLOC_START + 16 * P);
        let areas: Vec<_> = (0..8).map(|_| v.alloc(P, P, "x", VmKind::Vmalloc, no_flush).unwrap()).collect();
        assert_eq!(v.free_bytes(), 0);
        // Nothing lazily freed: fails without calling flush.
        assert_eq!(v.alloc(P, P, "x", VmKind::Vmalloc, no_flush), Err(VmapError::NoSpace { size: P, align: P }));
        for i in [1, 2, 5] {
            v.free(areas[i].va_start).unwrap();
        }
        assert!(!v.needs_purge());
        // Needs 6 pages: after the purge, 1..3 is 4 pages, 5 is 2: still
        // no space, but the purge happened and was reported.
        let mut flushed = None;
        assert!(v.alloc(5 * P, P, "x", VmKind::Vmalloc, |p| flushed = Some(p)).is_err());
        let p = flushed.take().expect("alloc must purge before failing");
        assert_eq!(p.ranges, std::vec![areas[1].va_start..areas[2].va_end, areas[5].va_start..areas[5].va_end]);
        assert_eq!((p.nr_areas, p.bytes), (3, 6 * P));
        assert_eq!(v.nr_free_ranges(), 2);
        v.check_invariants();
        // Now 3 pages fit without a purge.
        let a = v.alloc(3 * P, P, "x", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(a.va_start, areas[1].va_start);
        // Free the last two neighbours of area 5: exhausted again, the
        // purge merges 4..7 into one range and the retry succeeds.
        v.free(areas[4].va_start).unwrap();
        v.free(areas[6].va_start).unwrap();
        let b = v.alloc(5 * P, P, "y", VmKind::Vmap, |p| flushed = Some(p)).unwrap();
        assert_eq!(b.va_start, areas[4].va_start);
        assert_eq!(flushed.unwrap().ranges, std::vec![areas[4].va_start..areas[4].va_end, areas[6].va_start..areas[6].va_end]);
        assert_eq!(v.free_bytes(), 0);
        v.check_invariants();
    }

    #[test]
    fn purge_coalesces_with_free_neighbours() {
        let mut v = VmapAreaAllocator::new(VMALLOC_START, VMALLOC_START + 256 * P);
        let a: Vec<_> = (0..10).map(|_| v.alloc(P, P, "x", VmKind::Vmalloc, no_flush).unwrap()).collect();
        // Free from the end inwards and the middle; purge in stages.
        for &i in &[9, 3, 5] {
            v.free(a[i].va_start).unwrap();
        }
        let _ = v.purge();
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), std::vec![a[3].va_start..a[3].va_end, a[5].va_start..a[5].va_end, a[9].va_start..v.range().end]);
        v.free(a[4].va_start).unwrap();
        v.free(a[8].va_start).unwrap();
        let _ = v.purge();
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), std::vec![a[3].va_start..a[5].va_end, a[8].va_start..v.range().end]);
        for &i in &[0, 1, 2, 6, 7] {
            v.free(a[i].va_start).unwrap();
        }
        let p = v.purge();
        assert_eq!(p.ranges, std::vec![a[0].va_start..a[2].va_end, a[6].va_start..a[7].va_end]);
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), std::vec![v.range()]);
        assert_eq!((v.nr_busy(), v.busy_bytes(), v.free_bytes()), (0, 0, 256 * P));
        v.check_invariants();
    }

    #[test]
    fn needs_purge_above_lazy_max_pages() {
        let mut v = VmapAreaAllocator::vmalloc_space();
        // 8191 pages + guard = exactly LAZY_MAX_PAGES: not above.
        let a = v.alloc((LAZY_MAX_PAGES - 1) * P, P, "a", VmKind::Vmalloc, no_flush).unwrap();
        let b = v.alloc(P, P, "b", VmKind::Vmalloc, no_flush).unwrap();
        v.free(a.va_start).unwrap();
        assert_eq!(v.lazy_pages(), LAZY_MAX_PAGES);
        assert!(!v.needs_purge());
        v.free(b.va_start).unwrap();
        assert!(v.needs_purge());
        let p = v.purge();
        assert_eq!(p.ranges, std::vec![a.va_start..b.va_end]);
        assert_eq!(p.nr_areas, 2);
        assert!(!v.needs_purge());
        v.set_lazy_max_pages(0);
        assert_eq!(v.lazy_max_pages(), 0);
        let c = v.alloc(P, P, "c", VmKind::Vmalloc, no_flush).unwrap();
        v.free(c.va_start).unwrap();
        assert!(v.needs_purge());
    }

    #[test]
    fn aligned_fit_in_a_tight_hole() {
        // The only hole is exactly the aligned size: Linux's adjusted
        // search (size + align - 1) misses it; the exact search finds it.
        let mut v = VmapAreaAllocator::new(VMALLOC_START, VMALLOC_START + 128 * 1024);
        let a = v.alloc(60 * 1024, 64 * 1024, "a", VmKind::Vmalloc, no_flush).unwrap();
        let _b = v.alloc(60 * 1024, 64 * 1024, "b", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(v.free_bytes(), 0);
        v.free(a.va_start).unwrap();
        let _ = v.purge();
        let c = v.alloc(60 * 1024, 64 * 1024, "c", VmKind::Vmalloc, no_flush).unwrap();
        assert_eq!(c.va_start, VMALLOC_START);
        // And a hole big enough in size but never aligned is refused.
        let mut v = VmapAreaAllocator::new(VMALLOC_START + P, VMALLOC_START + 64 * 1024 + P);
        assert!(matches!(v.alloc(P, 64 * 1024, "x", VmKind::Vmalloc, no_flush), Err(VmapError::NoSpace { .. })));
        assert_eq!(v.alloc(P, 32 * 1024, "x", VmKind::Vmalloc, no_flush).unwrap().va_start, VMALLOC_START + 32 * 1024);
        v.check_invariants();
    }

    #[test]
    fn find_and_iterate() {
        let mut v = VmapAreaAllocator::vmalloc_space();
        let a = v.alloc(2 * P, P, "a", VmKind::Vmalloc, no_flush).unwrap();
        let b = v.alloc(P, P, "b", VmKind::Vmap, no_flush).unwrap();
        assert_eq!(v.find(VMALLOC_START - 1), None);
        assert_eq!(v.find(a.va_start), Some(&a));
        assert_eq!(v.find(a.va_start + 2 * P + 123), Some(&a), "guard page");
        assert_eq!(v.find(b.va_start + P - 1), Some(&b));
        assert_eq!(v.find(b.va_end), None);
        assert_eq!(v.areas().map(|a| a.caller).collect::<Vec<_>>(), ["a", "b"]);
        v.free(a.va_start).unwrap();
        assert_eq!(v.find(a.va_start), None);
        assert_eq!(v.lazy_areas().collect::<Vec<_>>(), std::vec![a.va_start..a.va_end]);
        assert_eq!(std::format!("{v:?}"), "VmapAreaAllocator { range: 0xffffc90000000000-0xffffe90000000000, busy: 1, lazy: 1, free_ranges: 1 }");
    }

    #[test]
    fn vmallocinfo_format() {
        let mut v = VmapAreaAllocator::vmalloc_space();
        let a = v.alloc(4 * P, P, "alloc_large_system_hash+0x127/0x246", VmKind::Vmalloc, no_flush).unwrap();
        v.alloc(2048 * P, P, "caller", VmKind::Vmalloc, no_flush).unwrap();
        v.alloc(2 * P, P, "vmap_caller", VmKind::Vmap, no_flush).unwrap();
        v.alloc(P, P, "", VmKind::Vmalloc, no_flush).unwrap();
        v.free(a.va_start).unwrap();
        let b = v.alloc(P, P, "x", VmKind::Vmalloc, no_flush).unwrap();
        let mut s = String::new();
        v.vmallocinfo(&mut s).unwrap();
        assert_eq!(
            s,
            "0xffffc90000005000-0xffffc90000806000 8392704 caller pages=2048 vmalloc\n\
             0xffffc90000806000-0xffffc90000809000   12288 vmap_caller vmap\n\
             0xffffc90000809000-0xffffc9000080b000    8192 pages=1 vmalloc\n\
             0xffffc9000080b000-0xffffc9000080d000    8192 x pages=1 vmalloc\n\
             0xffffc90000000000-0xffffc90000005000   20480 unpurged vm_area\n"
        );
        assert_eq!(b.va_start, 0xffff_c900_0080_b000);
        let _ = v.purge();
        let mut s = String::new();
        v.vmallocinfo(&mut s as &mut dyn fmt::Write).unwrap();
        assert_eq!(s.lines().count(), 4);
    }

    /// Many areas over the whole space: the treap stays shallow and the
    /// invariants hold; everything freed and purged leaves one range.
    #[test]
    fn many_areas_stay_balanced() {
        let mut v = VmapAreaAllocator::vmalloc_space();
        let mut rng = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut live = Vec::new();
        for round in 0..20_000 {
            if live.is_empty() || next() % 3 != 0 {
                let size = (next() % 64 + 1) * P;
                let align = P << (next() % 4);
                live.push(v.alloc(size, align, "x", VmKind::Vmalloc, no_flush).unwrap().va_start);
            } else {
                let i = (next() % live.len() as u64) as usize;
                v.free(live.swap_remove(i)).unwrap();
            }
            if round % 1000 == 999 {
                let _ = v.purge();
            }
        }
        v.check_invariants();
        let n = v.nr_free_ranges();
        assert!(n > 1000, "{n} free ranges");
        let h = v.free_tree_height();
        assert!(h < 4 * (usize::BITS - n.leading_zeros()) as usize, "height {h} for {n} ranges");
        for a in live {
            v.free(a).unwrap();
        }
        let p = v.purge();
        assert!(!p.is_empty());
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), std::vec![VMALLOC_START..VMALLOC_END + 1]);
        assert_eq!((v.nr_busy(), v.nr_lazy(), v.busy_bytes(), v.lazy_bytes()), (0, 0, 0, 0));
        v.check_invariants();
    }

    // ---- Property test against a page-granular model ----

    const NPAGES: u64 = 256; // 1 MiB
    const BASE: u64 = VMALLOC_START + (1 << 30);

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum PageState {
        Free,
        Busy,
        Lazy,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Alloc { pages: u64, align_shift: u32, vmap: bool },
        Free { pick: usize },
        FreeBad { page: u64, offset: u64 },
        Purge,
        PurgeIfNeeded,
        Find { page: i64, offset: u64 },
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1u64..=48, 0u32..=5, any::<bool>()).prop_map(|(pages, align_shift, vmap)| Op::Alloc { pages, align_shift, vmap }),
            4 => any::<usize>().prop_map(|pick| Op::Free { pick }),
            1 => (0u64..NPAGES + 4, 0u64..P).prop_map(|(page, offset)| Op::FreeBad { page, offset }),
            1 => Just(Op::Purge),
            1 => Just(Op::PurgeIfNeeded),
            2 => (-2i64..NPAGES as i64 + 2, 0u64..P).prop_map(|(page, offset)| Op::Find { page, offset }),
        ]
    }

    struct Model {
        pages: Vec<PageState>,
        /// Live areas by start page: (end page, mapped pages, kind).
        areas: BTreeMap<u64, (u64, u64, VmKind)>,
    }

    impl Model {
        fn addr(page: u64) -> u64 {
            BASE + page * P
        }

        /// Lowest start page, aligned, with `n` free pages from it.
        fn lowest_fit(&self, n: u64, align_pages: u64) -> Option<u64> {
            (0..NPAGES).step_by(align_pages as usize).find(|&s| s + n <= NPAGES && (s..s + n).all(|p| self.pages[p as usize] == PageState::Free))
        }

        fn runs(&self, state: PageState) -> Vec<Range<u64>> {
            let mut runs: Vec<Range<u64>> = Vec::new();
            for (p, &s) in self.pages.iter().enumerate() {
                if s != state {
                    continue;
                }
                let a = Self::addr(p as u64);
                match runs.last_mut() {
                    Some(r) if r.end == a => r.end = a + P,
                    _ => runs.push(a..a + P),
                }
            }
            runs
        }

        fn count(&self, state: PageState) -> u64 {
            self.pages.iter().filter(|&&s| s == state).count() as u64
        }

        fn purge(&mut self) {
            for s in &mut self.pages {
                if *s == PageState::Lazy {
                    *s = PageState::Free;
                }
            }
        }

        /// Checks a purge report against the lazy pages, then purges.
        fn expect_purge(&mut self, p: &Purged) {
            assert_eq!(p.ranges, self.runs(PageState::Lazy), "purged ranges");
            assert_eq!(p.bytes, self.count(PageState::Lazy) * P, "purged bytes");
            self.purge();
        }
    }

    fn compare(v: &VmapAreaAllocator, m: &Model) {
        v.check_invariants();
        assert_eq!(v.nr_busy(), m.areas.len());
        assert_eq!(v.busy_bytes(), m.count(PageState::Busy) * P);
        assert_eq!(v.lazy_bytes(), m.count(PageState::Lazy) * P);
        assert_eq!(v.free_bytes(), m.count(PageState::Free) * P);
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), m.runs(PageState::Free));
        assert_eq!(v.nr_free_ranges(), m.runs(PageState::Free).len());
        assert_eq!(v.largest_free(), m.runs(PageState::Free).iter().map(|r| r.end - r.start).max().unwrap_or(0));
        let lazy: Vec<Range<u64>> = v.lazy_areas().collect();
        assert_eq!(lazy.len(), v.nr_lazy());
        let mut lazy_pages: Vec<u64> = lazy.iter().flat_map(|r| (r.start..r.end).step_by(P as usize)).collect();
        lazy_pages.sort_unstable();
        let model_lazy: Vec<u64> = (0..NPAGES).filter(|&p| m.pages[p as usize] == PageState::Lazy).map(Model::addr).collect();
        assert_eq!(lazy_pages, model_lazy, "lazily freed pages");
        let areas: Vec<(u64, u64, u64, VmKind)> = v.areas().map(|a| (a.va_start, a.va_end, a.nr_pages, a.kind)).collect();
        let model_areas: Vec<(u64, u64, u64, VmKind)> = m.areas.iter().map(|(&s, &(e, n, k))| (Model::addr(s), Model::addr(e), n, k)).collect();
        assert_eq!(areas, model_areas);
        assert_eq!(v.needs_purge(), v.lazy_pages() > v.lazy_max_pages());
    }

    fn run_ops(ops: &[Op], lazy_max: u64) {
        let mut v = VmapAreaAllocator::new(BASE, BASE + NPAGES * P);
        v.set_lazy_max_pages(lazy_max);
        let mut m = Model { pages: std::vec![PageState::Free; NPAGES as usize], areas: BTreeMap::new() };
        for op in ops {
            match *op {
                Op::Alloc { pages, align_shift, vmap } => {
                    let align_pages = 1u64 << align_shift;
                    let kind = if vmap { VmKind::Vmap } else { VmKind::Vmalloc };
                    // Ask for a byte size that rounds up to `pages`.
                    let size = pages * P - (pages * 7) % P;
                    let before = m.lowest_fit(pages + 1, align_pages);
                    let had_lazy = m.count(PageState::Lazy) > 0;
                    let mut flushed = None;
                    let r = v.alloc(size, align_pages * P, "prop", kind, |p| flushed = Some(p));
                    let expect = match before {
                        Some(s) => {
                            assert!(flushed.is_none(), "purged although space was free");
                            Some(s)
                        }
                        None if had_lazy => {
                            m.expect_purge(flushed.as_ref().expect("exhausted alloc must purge"));
                            m.lowest_fit(pages + 1, align_pages)
                        }
                        None => {
                            assert!(flushed.is_none(), "purged with nothing lazily freed");
                            None
                        }
                    };
                    match (expect, r) {
                        (None, r) => assert_eq!(r, Err(VmapError::NoSpace { size, align: align_pages * P })),
                        (Some(lowest), Ok(a)) => {
                            let s = (a.va_start - BASE) / P;
                            assert_eq!(a.va_start % (align_pages * P), 0, "misaligned");
                            assert_eq!((a.va_end - a.va_start, a.nr_pages, a.kind, a.caller), ((pages + 1) * P, pages, kind, "prop"));
                            assert!(a.va_start >= BASE && a.va_end <= BASE + NPAGES * P);
                            for p in s..s + pages + 1 {
                                assert_eq!(m.pages[p as usize], PageState::Free, "area overlaps a non-free page {p}");
                                m.pages[p as usize] = PageState::Busy;
                            }
                            if align_pages == 1 {
                                assert_eq!(s, lowest, "page-aligned allocation is lowest fit");
                            }
                            m.areas.insert(s, (s + pages + 1, pages, kind));
                        }
                        (Some(_), Err(e)) => panic!("alloc failed with space available: {e}"),
                    }
                }
                Op::Free { pick } => {
                    if m.areas.is_empty() {
                        assert!(v.areas().next().is_none());
                        continue;
                    }
                    let (&s, &(e, n, kind)) = m.areas.iter().nth(pick % m.areas.len()).unwrap();
                    let a = v.free(Model::addr(s)).unwrap();
                    assert_eq!((a.va_start, a.va_end, a.nr_pages, a.kind), (Model::addr(s), Model::addr(e), n, kind));
                    for p in s..e {
                        m.pages[p as usize] = PageState::Lazy;
                    }
                    m.areas.remove(&s);
                }
                Op::FreeBad { page, offset } => {
                    let addr = Model::addr(page) + offset;
                    if offset == 0 && m.areas.contains_key(&page) {
                        continue;
                    }
                    let owner = m.areas.range(..=page).next_back().filter(|(_, &(e, _, _))| page < e).map(|(&s, _)| s);
                    let expect = match owner {
                        Some(s) => VmapError::NotAreaStart { addr, va_start: Model::addr(s) },
                        None => VmapError::NotFound { addr },
                    };
                    assert_eq!(v.free(addr), Err(expect));
                }
                Op::Purge => {
                    let p = v.purge();
                    m.expect_purge(&p);
                }
                Op::PurgeIfNeeded => {
                    if v.needs_purge() {
                        assert!(m.count(PageState::Lazy) > lazy_max);
                        let p = v.purge();
                        m.expect_purge(&p);
                    }
                }
                Op::Find { page, offset } => {
                    let addr = (BASE as i64 + page * P as i64) as u64 + offset;
                    let expect = if (0..NPAGES as i64).contains(&page) {
                        let p = page as u64;
                        m.areas.range(..=p).next_back().filter(|(_, &(e, _, _))| p < e).map(|(&s, _)| Model::addr(s))
                    } else {
                        None
                    };
                    assert_eq!(v.find(addr).map(|a| a.va_start), expect);
                }
            }
            compare(&v, &m);
        }
        // Free everything and purge: one range, the whole range.
        let starts: Vec<u64> = v.areas().map(|a| a.va_start).collect();
        for s in starts {
            v.free(s).unwrap();
        }
        assert_eq!((v.nr_busy(), v.busy_bytes()), (0, 0));
        let p = v.purge();
        assert_eq!(p.bytes, p.ranges.iter().map(|r| r.end - r.start).sum::<u64>());
        assert_eq!(v.free_ranges().collect::<Vec<_>>(), std::vec![BASE..BASE + NPAGES * P]);
        assert_eq!((v.free_bytes(), v.lazy_bytes(), v.nr_lazy()), (NPAGES * P, 0, 0));
        v.check_invariants();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random alloc/free/purge/find sequences over 1 MiB (so that the
        /// space runs out) against a page-by-page model.
        #[test]
        fn matches_page_model(ops in proptest::collection::vec(op_strategy(), 1..200), lazy_max in 0u64..128) {
            run_ops(&ops, lazy_max);
        }
    }
}
