//! The boot-time physical memory allocator, after Linux's `mm/memblock.c`.
//!
//! This module owns two region lists: `memory` (the RAM the kernel may
//! use, filled from the E820 map) and `reserved` (the parts of it already
//! taken: kernel image, boot data, early allocations). Each list is sorted,
//! non-overlapping, with touching regions merged, and has a fixed capacity
//! of [`MEMBLOCK_REGIONS`] since nothing can be allocated before memblock
//! exists. Allocation searches memory minus reserved top-down, below
//! [`Memblock::current_limit`], and records the result as reserved.
//!
//! Unlike Linux, regions carry no NUMA node or flags, and a list that is
//! full fails the operation (atomically) instead of doubling itself.

use core::fmt;

use shared::layout::PAGE_SIZE;

/// Capacity of each region list (Linux `INIT_MEMBLOCK_REGIONS`).
pub const MEMBLOCK_REGIONS: usize = 128;
/// "No limit" for [`Memblock::set_current_limit`].
pub const MEMBLOCK_ALLOC_ANYWHERE: u64 = u64::MAX;
/// The highest physical address; region ends are capped here.
pub const PHYS_ADDR_MAX: u64 = u64::MAX;

/// A range of physical memory `[base, base + size)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemblockRegion {
    pub base: u64,
    pub size: u64,
}

impl MemblockRegion {
    /// One past the last byte (saturating, though lists never hold a region
    /// that overflows).
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Why a memblock operation failed; the lists are then unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// The operation would need more than [`MEMBLOCK_REGIONS`] regions.
    TooManyRegions,
}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyRegions => write!(f, "memblock: more than {MEMBLOCK_REGIONS} regions needed"),
        }
    }
}

/// Linux `memblock_cap_size`: shrinks `size` so that `base + size` fits.
fn cap_size(base: u64, size: u64) -> u64 {
    size.min(PHYS_ADDR_MAX - base)
}

/// One region list: sorted by base, non-overlapping, touching regions merged.
#[derive(Clone)]
pub struct MemblockType {
    regions: [MemblockRegion; MEMBLOCK_REGIONS],
    cnt: usize,
    total_size: u64,
    name: &'static str,
}

impl MemblockType {
    const fn new(name: &'static str) -> Self {
        Self { regions: [MemblockRegion { base: 0, size: 0 }; MEMBLOCK_REGIONS], cnt: 0, total_size: 0, name }
    }

    /// The regions, in ascending address order.
    pub fn regions(&self) -> &[MemblockRegion] {
        &self.regions[..self.cnt]
    }

    /// Number of regions.
    pub fn cnt(&self) -> usize {
        self.cnt
    }

    /// Sum of the region sizes.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// "memory" or "reserved".
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Adds `[base, base + size)`, merging it with every region it overlaps
    /// or touches (Linux `memblock_add_range` + `memblock_merge_regions`).
    fn add_range(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(());
        }
        let end = base + size;
        // regions[first..last] overlap or touch [base, end]; since the list
        // is sorted and disjoint they are contiguous and become one region.
        let first = self.regions().partition_point(|r| r.end() < base);
        let last = self.regions().partition_point(|r| r.base <= end);
        if first == last {
            if self.cnt == MEMBLOCK_REGIONS {
                return Err(MemblockError::TooManyRegions);
            }
            self.regions.copy_within(first..self.cnt, first + 1);
            self.regions[first] = MemblockRegion { base, size };
            self.cnt += 1;
            self.total_size += size;
            return Ok(());
        }
        let old: u64 = self.regions[first..last].iter().map(|r| r.size).sum();
        let new_base = base.min(self.regions[first].base);
        let new_end = end.max(self.regions[last - 1].end());
        self.regions[first] = MemblockRegion { base: new_base, size: new_end - new_base };
        self.regions.copy_within(last..self.cnt, first + 1);
        self.cnt -= last - first - 1;
        self.total_size = self.total_size - old + (new_end - new_base);
        Ok(())
    }

    /// Removes `[base, base + size)`, trimming or splitting the regions it
    /// overlaps (Linux `memblock_isolate_range` + `memblock_remove_region`).
    fn remove_range(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(());
        }
        let end = base + size;
        // regions[first..last] overlap [base, end).
        let first = self.regions().partition_point(|r| r.end() <= base);
        let last = self.regions().partition_point(|r| r.base < end);
        if first >= last {
            return Ok(());
        }
        // What survives at either side of the hole.
        let head = (self.regions[first].base < base).then(|| MemblockRegion { base: self.regions[first].base, size: base - self.regions[first].base });
        let tail = (self.regions[last - 1].end() > end).then(|| MemblockRegion { base: end, size: self.regions[last - 1].end() - end });
        let kept = usize::from(head.is_some()) + usize::from(tail.is_some());
        // Only punching a hole inside one region grows the list.
        let new_cnt = self.cnt - (last - first) + kept;
        if new_cnt > MEMBLOCK_REGIONS {
            return Err(MemblockError::TooManyRegions);
        }
        let removed: u64 = self.regions[first..last].iter().map(|r| r.end().min(end) - r.base.max(base)).sum();
        self.regions.copy_within(last..self.cnt, first + kept);
        for (at, r) in (first..).zip([head, tail].into_iter().flatten()) {
            self.regions[at] = r;
        }
        self.cnt = new_cnt;
        self.total_size -= removed;
        Ok(())
    }

    /// Whether any region overlaps `[base, base + size)` (Linux
    /// `memblock_overlaps_region`, with its `memblock_addrs_overlap` test).
    fn overlaps(&self, base: u64, size: u64) -> bool {
        let size = cap_size(base, size);
        self.regions().iter().any(|r| base < r.end() && r.base < base + size)
    }

    /// Index of the region containing `addr` (Linux `memblock_search`).
    fn search(&self, addr: u64) -> Option<usize> {
        let i = self.regions().partition_point(|r| r.end() <= addr);
        (i < self.cnt && self.regions[i].base <= addr).then_some(i)
    }

    /// Linux `memblock_dump`.
    fn dump(&self, w: &mut impl fmt::Write) -> fmt::Result {
        writeln!(w, " {}.cnt  = {:#x}", self.name, self.cnt)?;
        for (i, r) in self.regions().iter().enumerate() {
            // Flags are always 0 here: no hotplug, mirror or nomap regions.
            writeln!(w, " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes flags: {:#x}", self.name, i, r.base, r.end() - 1, r.size, 0)?;
        }
        Ok(())
    }
}

impl PartialEq for MemblockType {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.total_size == other.total_size && self.regions() == other.regions()
    }
}

impl Eq for MemblockType {}

impl fmt::Debug for MemblockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemblockType").field("name", &self.name).field("total_size", &self.total_size).field("regions", &self.regions()).finish()
    }
}

/// The allocator: what memory exists and which of it is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memblock {
    pub memory: MemblockType,
    pub reserved: MemblockType,
    current_limit: u64,
}

impl Memblock {
    /// No memory, nothing reserved, no allocation limit.
    pub const fn new() -> Self {
        Self { memory: MemblockType::new("memory"), reserved: MemblockType::new("reserved"), current_limit: MEMBLOCK_ALLOC_ANYWHERE }
    }

    /// Registers `[base, base + size)` as memory (Linux `memblock_add`).
    pub fn add(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.memory.add_range(base, size)
    }

    /// Forgets `[base, base + size)` as memory (Linux `memblock_remove`).
    pub fn remove(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.memory.remove_range(base, size)
    }

    /// Marks `[base, base + size)` as taken (Linux `memblock_reserve`). The
    /// range need not be memory.
    pub fn reserve(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.reserved.add_range(base, size)
    }

    /// Gives `[base, base + size)` back (Linux `memblock_phys_free`).
    pub fn free(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.reserved.remove_range(base, size)
    }

    /// Allocations end at or below `limit` from now on (Linux
    /// `memblock_set_current_limit`), e.g. while only part of memory is mapped.
    pub fn set_current_limit(&mut self, limit: u64) {
        self.current_limit = limit;
    }

    pub fn current_limit(&self) -> u64 {
        self.current_limit
    }

    /// Finds the highest `size` bytes aligned to `align` that are free and
    /// lie within `[start, min(end, current_limit))`, reserves them and
    /// returns their base (Linux `memblock_phys_alloc_range`, top-down).
    ///
    /// As in Linux the first page is never handed out, so that 0 can mean
    /// failure to callers that want it to. `None` when nothing fits, when
    /// `size` is 0, when `align` is not a power of two, or when the
    /// reserved list is full.
    pub fn phys_alloc_range(&mut self, size: u64, align: u64, start: u64, end: u64) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        let start = start.max(PAGE_SIZE);
        let end = end.min(self.current_limit);
        // Free ranges come in ascending order; the last one that fits holds
        // the highest candidate. (Linux walks them in reverse and stops at
        // the first fit; the answer is the same.)
        let mut found = None;
        for (free_start, free_end) in self.free_ranges() {
            if free_start >= end {
                break;
            }
            let lo = free_start.max(start);
            let hi = free_end.min(end);
            if hi <= lo || hi - lo < size {
                continue;
            }
            let candidate = (hi - size) & !(align - 1);
            if candidate >= lo {
                found = Some(candidate);
            }
        }
        let base = found?;
        self.reserve(base, size).ok()?;
        Some(base)
    }

    /// [`Self::phys_alloc_range`] anywhere below the current limit (Linux
    /// `memblock_phys_alloc`).
    pub fn phys_alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        self.phys_alloc_range(size, align, 0, MEMBLOCK_ALLOC_ANYWHERE)
    }

    /// The free ranges `[start, end)`: memory minus reserved, ascending and
    /// maximal (Linux `for_each_free_mem_range`).
    pub fn free_ranges(&self) -> FreeRanges<'_> {
        FreeRanges { memory: self.memory.regions(), reserved: self.reserved.regions(), mem_idx: 0, gap_idx: 0 }
    }

    /// Bytes of memory (Linux `memblock_phys_mem_size`).
    pub fn phys_mem_size(&self) -> u64 {
        self.memory.total_size()
    }

    /// Bytes reserved (Linux `memblock_reserved_size`).
    pub fn reserved_size(&self) -> u64 {
        self.reserved.total_size()
    }

    /// Whether `[base, base + size)` overlaps anything reserved (Linux
    /// `memblock_is_region_reserved`).
    pub fn is_reserved(&self, base: u64, size: u64) -> bool {
        self.reserved.overlaps(base, size)
    }

    /// Whether `addr` is memory (Linux `memblock_is_memory`).
    pub fn is_memory(&self, addr: u64) -> bool {
        self.memory.search(addr).is_some()
    }

    /// Writes both lists in Linux's `__memblock_dump_all` format.
    pub fn dump(&self, w: &mut impl fmt::Write) -> fmt::Result {
        writeln!(w, "MEMBLOCK configuration:")?;
        writeln!(w, " memory size = {:#018x} reserved size = {:#018x}", self.memory.total_size(), self.reserved.total_size())?;
        self.memory.dump(w)?;
        self.reserved.dump(w)
    }
}

impl Default for Memblock {
    fn default() -> Self {
        Self::new()
    }
}

/// Iterator over memory minus reserved; see [`Memblock::free_ranges`].
///
/// Walks the memory regions against the gaps between reserved regions
/// (gap `i` is `[end of reserved[i-1], base of reserved[i])`, the first
/// starting at 0 and the last ending at the top), the way Linux's
/// `__next_mem_range` does, yielding each non-empty intersection.
#[derive(Clone, Debug)]
pub struct FreeRanges<'a> {
    memory: &'a [MemblockRegion],
    reserved: &'a [MemblockRegion],
    mem_idx: usize,
    gap_idx: usize,
}

impl Iterator for FreeRanges<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        while let Some(m) = self.memory.get(self.mem_idx) {
            while self.gap_idx <= self.reserved.len() {
                let gap_start = match self.gap_idx {
                    0 => 0,
                    i => self.reserved[i - 1].end(),
                };
                let gap_end = self.reserved.get(self.gap_idx).map_or(PHYS_ADDR_MAX, |r| r.base);
                if gap_start >= m.end() {
                    // This gap and all later ones lie past the region.
                    break;
                }
                if m.base < gap_end {
                    let range = (m.base.max(gap_start), m.end().min(gap_end));
                    // Advance whichever ends first; the other may still
                    // intersect the next one.
                    if m.end() <= gap_end {
                        self.mem_idx += 1;
                    } else {
                        self.gap_idx += 1;
                    }
                    return Some(range);
                }
                self.gap_idx += 1;
            }
            self.mem_idx += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn regions(t: &MemblockType) -> Vec<(u64, u64)> {
        t.regions().iter().map(|r| (r.base, r.end())).collect()
    }

    #[test]
    fn add_merges_touching_and_overlapping() {
        let mut mb = Memblock::new();
        mb.add(0x1000, 0x1000).unwrap();
        mb.add(0x3000, 0x1000).unwrap();
        mb.add(0x2000, 0x1000).unwrap(); // bridges both neighbours
        assert_eq!(regions(&mb.memory), [(0x1000, 0x4000)]);
        mb.add(0x3800, 0x1000).unwrap(); // overlaps the end
        mb.add(0, 0x1800).unwrap(); // overlaps the start
        mb.add(0x10000, 0x1000).unwrap();
        mb.add(0x2000, 0x100).unwrap(); // already covered
        assert_eq!(regions(&mb.memory), [(0, 0x4800), (0x10000, 0x11000)]);
        assert_eq!(mb.phys_mem_size(), 0x5800);
        assert_eq!(mb.memory.cnt(), 2);
        assert_eq!(mb.memory.name(), "memory");
        mb.add(0x20000, 0).unwrap();
        assert_eq!(mb.memory.cnt(), 2);
    }

    #[test]
    fn remove_splits_trims_and_spans() {
        let mut mb = Memblock::new();
        mb.add(0, 0x10000).unwrap();
        mb.remove(0x4000, 0x1000).unwrap();
        assert_eq!(regions(&mb.memory), [(0, 0x4000), (0x5000, 0x10000)]);
        mb.remove(0x3000, 0x3000).unwrap(); // trims both sides of the hole
        assert_eq!(regions(&mb.memory), [(0, 0x3000), (0x6000, 0x10000)]);
        mb.remove(0x20000, 0x1000).unwrap(); // nothing there
        mb.remove(0x1000, 0xe000).unwrap(); // spans both
        assert_eq!(regions(&mb.memory), [(0, 0x1000), (0xf000, 0x10000)]);
        assert_eq!(mb.phys_mem_size(), 0x2000);
        mb.remove(0, u64::MAX).unwrap();
        assert_eq!(mb.memory.cnt(), 0);
        assert_eq!(mb.phys_mem_size(), 0);
    }

    #[test]
    fn sizes_overflowing_are_capped() {
        let mut mb = Memblock::new();
        mb.add(u64::MAX - 0xfff, u64::MAX).unwrap();
        assert_eq!(regions(&mb.memory), [(u64::MAX - 0xfff, u64::MAX)]);
        assert_eq!(mb.phys_mem_size(), 0xfff);
        assert!(mb.is_memory(u64::MAX - 1));
        assert!(!mb.is_memory(u64::MAX));
        mb.reserve(u64::MAX, 10).unwrap(); // capped to nothing
        assert_eq!(mb.reserved.cnt(), 0);
        mb.reserve(u64::MAX - 0x10, u64::MAX).unwrap();
        assert_eq!(mb.free_ranges().collect::<Vec<_>>(), [(u64::MAX - 0xfff, u64::MAX - 0x10)]);
        mb.free(u64::MAX - 0x20, u64::MAX).unwrap();
        assert_eq!(mb.reserved_size(), 0);
    }

    #[test]
    fn full_list_fails_atomically() {
        let mut mb = Memblock::new();
        for i in 0..MEMBLOCK_REGIONS as u64 {
            mb.add(i * 0x2000, 0x1000).unwrap();
        }
        let before = mb.clone();
        assert_eq!(mb.add(1 << 30, 0x1000), Err(MemblockError::TooManyRegions));
        assert_eq!(mb.remove(0x100, 0x100), Err(MemblockError::TooManyRegions)); // a split
        assert_eq!(mb, before);
        assert!(!MemblockError::TooManyRegions.to_string().is_empty());
        // Operations that do not grow the list still work when full.
        mb.add(0x1000, 0x1000).unwrap(); // bridges regions 0 and 1
        assert_eq!(mb.memory.cnt(), MEMBLOCK_REGIONS - 1);
        mb.remove(0, 0x800).unwrap(); // trims
        assert_eq!(mb.memory.regions()[0], MemblockRegion { base: 0x800, size: 0x2800 });

        // An allocation that cannot be recorded fails too.
        let mut mb = Memblock::new();
        mb.add(0, 1 << 20).unwrap();
        for i in 0..MEMBLOCK_REGIONS as u64 {
            mb.reserve(i * 0x2000, 0x1000).unwrap();
        }
        let before = mb.clone();
        assert_eq!(mb.phys_alloc(0x10, 0x10), None);
        assert_eq!(mb, before);
    }

    #[test]
    fn alloc_is_top_down_and_aligned() {
        let mut mb = Memblock::new();
        mb.add(0, 0x100000).unwrap();
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Some(0xff000));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Some(0xfe000));
        assert_eq!(mb.phys_alloc(0x100, 0x10000), Some(0xf0000));
        assert_eq!(mb.phys_alloc(0x10, 0x10), Some(0xfdff0));
        assert_eq!(mb.phys_alloc(0x3, 1), Some(0xfdfed));
        assert_eq!(mb.phys_alloc(0x8, 8), Some(0xfdfe0));
        assert_eq!(regions(&mb.reserved), [(0xf0000, 0xf0100), (0xfdfe0, 0xfdfe8), (0xfdfed, 0x100000)]);
        assert!(mb.is_reserved(0xf00ff, 1));
        assert!(!mb.is_reserved(0xf0100, 0xdee0));
        assert!(mb.is_reserved(0xf0100, 0xdee1));
    }

    #[test]
    fn alloc_respects_limit_range_and_reserved() {
        let mut mb = Memblock::new();
        mb.add(0, 0x100000).unwrap();
        mb.reserve(0x70000, 0x10000).unwrap();
        mb.set_current_limit(0x80000);
        assert_eq!(mb.current_limit(), 0x80000);
        assert_eq!(mb.phys_alloc(0x8000, 0x1000), Some(0x68000));
        assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, 0, 0x20000), Some(0x1f000));
        assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, 0x90000, 0xa0000), None); // above the limit
        mb.set_current_limit(MEMBLOCK_ALLOC_ANYWHERE);
        assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, 0x90000, 0xa0000), Some(0x9f000));
    }

    #[test]
    fn alloc_failures_return_none_and_change_nothing() {
        let mut mb = Memblock::new();
        mb.add(0, 0x2000).unwrap();
        let before = mb.clone();
        assert_eq!(mb.phys_alloc(0x2000, 0x1000), None); // page 0 is never handed out
        assert_eq!(mb.phys_alloc(0, 0x1000), None);
        assert_eq!(mb.phys_alloc(0x10, 0), None);
        assert_eq!(mb.phys_alloc(0x10, 0x30), None);
        assert_eq!(mb.phys_alloc_range(0x10, 0x10, 0x1800, 0x1800), None);
        assert_eq!(mb, before);
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Some(0x1000));
        assert_eq!(mb.phys_alloc(0x10, 0x10), None);
        assert_eq!(Memblock::new().phys_alloc(1, 1), None);
    }

    #[test]
    fn free_ranges_and_queries() {
        let mut mb = Memblock::new();
        mb.add(0, 0x9fc00).unwrap();
        mb.add(0x100000, 0x100000).unwrap();
        mb.reserve(0, 0x1000).unwrap();
        mb.reserve(0x9f000, 0x62000).unwrap(); // spans the hole
        mb.reserve(0x180000, 0x1000).unwrap();
        let free: Vec<_> = mb.free_ranges().collect();
        assert_eq!(free, [(0x1000, 0x9f000), (0x101000, 0x180000), (0x181000, 0x200000)]);
        assert!(mb.is_memory(0) && mb.is_memory(0x9fbff) && mb.is_memory(0x1fffff));
        assert!(!mb.is_memory(0x9fc00) && !mb.is_memory(0x200000));
        assert!(mb.is_reserved(0xa0000, 0x10) && !mb.is_reserved(0x1000, 0x9e000));
        mb.free(0, 0x200000).unwrap();
        assert_eq!(mb.free_ranges().collect::<Vec<_>>(), [(0, 0x9fc00), (0x100000, 0x200000)]);
    }

    #[test]
    fn dump_uses_linux_format() {
        let mut mb = Memblock::new();
        mb.add(0, 0x9fc00).unwrap();
        mb.add(0x100000, 0x3f00000).unwrap();
        mb.reserve(0, 0x1000).unwrap();
        mb.reserve(0x9f000, 0x61000).unwrap();
        mb.reserve(0x1000000, 0x2000).unwrap();
        let mut out = String::new();
        mb.dump(&mut out).unwrap();
        assert_eq!(
            out,
            "MEMBLOCK configuration:\n \
             memory size = 0x0000000003f9fc00 reserved size = 0x0000000000064000\n \
             memory.cnt  = 0x2\n \
             memory[0x0]\t[0x0000000000000000-0x000000000009fbff], 0x000000000009fc00 bytes flags: 0x0\n \
             memory[0x1]\t[0x0000000000100000-0x0000000003ffffff], 0x0000000003f00000 bytes flags: 0x0\n \
             reserved.cnt  = 0x3\n \
             reserved[0x0]\t[0x0000000000000000-0x0000000000000fff], 0x0000000000001000 bytes flags: 0x0\n \
             reserved[0x1]\t[0x000000000009f000-0x00000000000fffff], 0x0000000000061000 bytes flags: 0x0\n \
             reserved[0x2]\t[0x0000000001000000-0x0000000001001fff], 0x0000000000002000 bytes flags: 0x0\n"
        );
        let mut out = String::new();
        Memblock::new().dump(&mut out).unwrap();
        assert!(out.ends_with(" memory.cnt  = 0x0\n reserved.cnt  = 0x0\n"));
    }

    // ---- property tests -------------------------------------------------

    /// Generated addresses are multiples of `UNIT` below `SPACE`, sizes
    /// below `MAX_SIZE`; the model covers everything they can reach.
    const UNIT: u64 = 16;
    const SPACE: u64 = 1 << 16;
    const MAX_SIZE: u64 = 512 * UNIT;
    const UNITS: usize = ((SPACE + MAX_SIZE) / UNIT) as usize;

    #[derive(Clone, Debug)]
    enum Op {
        Add(u64, u64),
        Remove(u64, u64),
        Reserve(u64, u64),
        Free(u64, u64),
        Alloc(u64, u64),
        AllocRange(u64, u64, u64, u64),
        SetLimit(u64),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        let addr = (0..SPACE / UNIT).prop_map(|u| u * UNIT);
        let size = (0..MAX_SIZE / UNIT).prop_map(|u| u * UNIT);
        // At least UNIT, so that allocations stay on the model's grid.
        let align = (4u32..13).prop_map(|s| 1u64 << s);
        prop_oneof![
            3 => (addr.clone(), size.clone()).prop_map(|(a, s)| Op::Add(a, s)),
            1 => (addr.clone(), size.clone()).prop_map(|(a, s)| Op::Remove(a, s)),
            2 => (addr.clone(), size.clone()).prop_map(|(a, s)| Op::Reserve(a, s)),
            1 => (addr.clone(), size.clone()).prop_map(|(a, s)| Op::Free(a, s)),
            3 => (size.clone(), align.clone()).prop_map(|(s, al)| Op::Alloc(s, al)),
            1 => (size, align, addr.clone(), addr.clone()).prop_map(|(s, al, a, b)| Op::AllocRange(s, al, a, b)),
            1 => prop_oneof![addr.prop_map(Some), Just(None)]
                .prop_map(|l| Op::SetLimit(l.unwrap_or(MEMBLOCK_ALLOC_ANYWHERE))),
        ]
    }

    /// One bit per `UNIT` bytes.
    struct Model {
        memory: Vec<bool>,
        reserved: Vec<bool>,
    }

    impl Model {
        fn set(map: &mut [bool], base: u64, size: u64, v: bool) {
            for u in base / UNIT..(base + size) / UNIT {
                map[u as usize] = v;
            }
        }

        fn is_free(&self, u: usize) -> bool {
            self.memory[u] && !self.reserved[u]
        }

        /// Maximal runs of free units, as byte ranges.
        fn free_ranges(&self) -> Vec<(u64, u64)> {
            let mut out: Vec<(u64, u64)> = Vec::new();
            for u in 0..UNITS {
                if !self.is_free(u) {
                    continue;
                }
                let a = u as u64 * UNIT;
                match out.last_mut() {
                    Some(last) if last.1 == a => last.1 += UNIT,
                    _ => out.push((a, a + UNIT)),
                }
            }
            out
        }

        /// The highest aligned base at which `size` free bytes fit in `[lo, hi)`.
        fn best_fit(&self, size: u64, align: u64, lo: u64, hi: u64) -> Option<u64> {
            let hi = hi.min(UNITS as u64 * UNIT);
            let mut cand = hi.checked_sub(size)? & !(align - 1);
            while cand >= lo {
                let (a, b) = (cand / UNIT, (cand + size) / UNIT);
                if (a..b).all(|u| self.is_free(u as usize)) {
                    return Some(cand);
                }
                cand = cand.checked_sub(align)?;
            }
            None
        }
    }

    fn check_list(t: &MemblockType) -> Result<(), TestCaseError> {
        let rs = t.regions();
        prop_assert_eq!(rs.len(), t.cnt());
        prop_assert!(rs.iter().all(|r| r.size > 0));
        // Strictly less: touching regions must have been merged.
        prop_assert!(rs.windows(2).all(|w| w[0].end() < w[1].base), "{:?}", rs);
        prop_assert_eq!(t.total_size(), rs.iter().map(|r| r.size).sum::<u64>());
        Ok(())
    }

    proptest! {
        // No regression files: they would land outside this module's source.
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn operations_match_bitmap_model(ops in prop::collection::vec(arb_op(), 1..48)) {
            let mut mb = Memblock::new();
            let mut model = Model { memory: vec![false; UNITS], reserved: vec![false; UNITS] };
            for op in ops {
                match op {
                    Op::Add(a, s) => { mb.add(a, s).unwrap(); Model::set(&mut model.memory, a, s, true) }
                    Op::Remove(a, s) => { mb.remove(a, s).unwrap(); Model::set(&mut model.memory, a, s, false) }
                    Op::Reserve(a, s) => { mb.reserve(a, s).unwrap(); Model::set(&mut model.reserved, a, s, true) }
                    Op::Free(a, s) => { mb.free(a, s).unwrap(); Model::set(&mut model.reserved, a, s, false) }
                    Op::SetLimit(l) => mb.set_current_limit(l),
                    Op::Alloc(..) | Op::AllocRange(..) => {
                        let (size, align, start, end) = match op {
                            Op::Alloc(s, al) => (s, al, 0, MEMBLOCK_ALLOC_ANYWHERE),
                            Op::AllocRange(s, al, a, b) => (s, al, a, b),
                            _ => unreachable!(),
                        };
                        let lo = start.max(PAGE_SIZE);
                        let hi = end.min(mb.current_limit());
                        let expect = if size == 0 { None } else { model.best_fit(size, align, lo, hi) };
                        let got = mb.phys_alloc_range(size, align, start, end);
                        prop_assert_eq!(got, expect, "alloc({:#x}, {:#x}, {:#x}, {:#x})", size, align, start, end);
                        if let Some(base) = got {
                            // best_fit already implies these; say them plainly.
                            prop_assert_eq!(base % align, 0);
                            prop_assert!(base >= lo && base + size <= hi);
                            prop_assert!((base / UNIT..(base + size) / UNIT).all(|u| model.is_free(u as usize)));
                            Model::set(&mut model.reserved, base, size, true);
                        }
                    }
                }
                check_list(&mb.memory)?;
                check_list(&mb.reserved)?;
                prop_assert_eq!(mb.free_ranges().collect::<Vec<_>>(), model.free_ranges());
                let count = |m: &[bool]| m.iter().filter(|&&b| b).count() as u64 * UNIT;
                prop_assert_eq!(mb.phys_mem_size(), count(&model.memory));
                prop_assert_eq!(mb.reserved_size(), count(&model.reserved));
            }
            for u in (0..UNITS).step_by(7) {
                let a = u as u64 * UNIT;
                prop_assert_eq!(mb.is_memory(a), model.memory[u]);
                prop_assert_eq!(mb.is_reserved(a, UNIT), model.reserved[u]);
            }
        }
    }
}
