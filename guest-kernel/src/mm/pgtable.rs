//! Building and walking 4-level page tables, over any memory that can hand
//! out and address page-table pages ([`PageTableMemory`]).
//!
//! The kernel uses this at boot for its own tables (direct map, kernel
//! image); the unit tests run it over a `Vec` of fake pages.

use crate::arch::pgtable::{flags, level_shift, table_index, ADDR_MASK, ENTRIES_PER_TABLE, PAGE_TABLE};
use crate::mm::addr::{PhysAddr, VirtAddr, PAGE_SIZE};

/// One page-table page.
pub type Table = [u64; 512];

/// Memory that holds page tables.
pub trait PageTableMemory {
    /// A zeroed page for a new table, or `None` when out of memory.
    fn alloc_table(&mut self) -> Option<PhysAddr>;
    /// The table at `pa` (which `alloc_table` returned, or the root).
    fn table(&mut self, pa: PhysAddr) -> &mut Table;
}

/// Which large pages the CPU supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSizes {
    pub gbpages: bool,
    pub mbpages: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No memory for a page table.
    OutOfMemory,
    /// Something is already mapped at this address.
    AlreadyMapped(VirtAddr),
    /// Addresses or size are not page aligned.
    Misaligned,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::OutOfMemory => write!(f, "out of memory for page tables"),
            Self::AlreadyMapped(va) => write!(f, "{:#x} is already mapped", va.as_u64()),
            Self::Misaligned => write!(f, "range is not page aligned"),
        }
    }
}

/// What a mapping operation created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapStats {
    pub pages_4k: u64,
    pub pages_2m: u64,
    pub pages_1g: u64,
    pub tables: u64,
}

impl MapStats {
    pub fn add(&mut self, other: MapStats) {
        self.pages_4k += other.pages_4k;
        self.pages_2m += other.pages_2m;
        self.pages_1g += other.pages_1g;
        self.tables += other.tables;
    }
}

/// Maps `[va, va + size)` to `[pa, pa + size)` with leaf protection `prot`
/// in the tables rooted at `pgd`, using the largest pages that alignment,
/// the remaining size and `sizes` allow. Refuses to overwrite anything
/// already mapped; on error, what was mapped before the failing page stays.
pub fn map_range<M: PageTableMemory>(
    mem: &mut M,
    pgd: PhysAddr,
    va: VirtAddr,
    pa: PhysAddr,
    size: u64,
    prot: u64,
    sizes: PageSizes,
) -> Result<MapStats, MapError> {
    if !va.is_aligned(PAGE_SIZE) || !pa.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    let mut stats = MapStats::default();
    let mut off = 0;
    while off < size {
        let level = leaf_level(va.as_u64().wrapping_add(off), pa.as_u64() + off, size - off, sizes);
        let table = walk_create(mem, pgd, va.as_u64().wrapping_add(off), level, &mut stats)?;
        // Fill the run of entries of this table in one tight loop: within
        // one table the page size cannot grow (the next larger alignment is
        // the table's own boundary), so only the size left can end the run.
        // This loop is most of the cost of mapping large memory.
        let page = 1u64 << level_shift(level);
        let first = table_index(va.as_u64().wrapping_add(off), level);
        let run = ((ENTRIES_PER_TABLE - first) as u64).min((size - off) / page) as usize;
        let leaf = if level > 1 { prot | flags::PSE } else { prot };
        let entries = &mut mem.table(table)[first..first + run];
        let mut value = (pa.as_u64() + off) | leaf;
        for (i, entry) in entries.iter_mut().enumerate() {
            if *entry & flags::PRESENT != 0 {
                return Err(MapError::AlreadyMapped(VirtAddr::new(va.as_u64().wrapping_add(off + i as u64 * page))));
            }
            *entry = value;
            value += page;
        }
        match level {
            3 => stats.pages_1g += run as u64,
            2 => stats.pages_2m += run as u64,
            _ => stats.pages_4k += run as u64,
        }
        off += run as u64 * page;
    }
    Ok(stats)
}

/// The level of the largest page that maps `v` -> `p` with `left` bytes to
/// go: 3 (1 GiB), 2 (2 MiB) or 1 (4 KiB).
fn leaf_level(v: u64, p: u64, left: u64, sizes: PageSizes) -> u32 {
    let fits = |level: u32| {
        let page = 1u64 << level_shift(level);
        (v | p) & (page - 1) == 0 && left >= page
    };
    if sizes.gbpages && fits(3) {
        3
    } else if sizes.mbpages && fits(2) {
        2
    } else {
        1
    }
}

/// The page table (level 1) that holds the PTE for `va`, created with the
/// tables above it if needed: for slots the kernel remaps itself (fixmap).
pub fn populate_pte_table<M: PageTableMemory>(mem: &mut M, pgd: PhysAddr, va: VirtAddr) -> Result<PhysAddr, MapError> {
    populate_table(mem, pgd, va, 1)
}

/// The table at `level` (1 = PTE .. 3 = PUD) covering `va`, created with
/// the tables above it if needed. Populating the PUD level of a kernel
/// range fixes its PGD entries for good, so every address space that
/// copies the kernel half of the PGD sees later mappings there.
pub fn populate_table<M: PageTableMemory>(mem: &mut M, pgd: PhysAddr, va: VirtAddr, level: u32) -> Result<PhysAddr, MapError> {
    walk_create(mem, pgd, va.as_u64(), level, &mut MapStats::default())
}

/// Returns the table at `target_level` covering `va`, creating the tables
/// above it as needed.
fn walk_create<M: PageTableMemory>(mem: &mut M, pgd: PhysAddr, va: u64, target_level: u32, stats: &mut MapStats) -> Result<PhysAddr, MapError> {
    let mut table = pgd;
    // An exclusive range: `RangeInclusive` iterates with an extra flag, and
    // this loop runs on every page fault.
    for level in (target_level + 1..5).rev() {
        let index = table_index(va, level);
        let entry = mem.table(table)[index];
        table = if entry & flags::PRESENT == 0 {
            let new = mem.alloc_table().ok_or(MapError::OutOfMemory)?;
            stats.tables += 1;
            mem.table(table)[index] = new.as_u64() | PAGE_TABLE;
            new
        } else if entry & flags::PSE != 0 {
            return Err(MapError::AlreadyMapped(VirtAddr::new(va)));
        } else {
            PhysAddr::new(entry & ADDR_MASK)
        };
    }
    Ok(table)
}

/// Clears the 4 KiB leaf entries of `[va, va + size)` in the tables rooted
/// at `pgd` and calls `unmapped(va, pa)` for each page that was mapped.
/// Table pages stay (the kernel ranges that use this keep their tables).
/// Large pages inside the range are refused: they belong to the direct
/// map, which is never unmapped this way.
pub fn unmap_range<M: PageTableMemory>(
    mem: &mut M,
    pgd: PhysAddr,
    va: VirtAddr,
    size: u64,
    mut unmapped: impl FnMut(VirtAddr, PhysAddr),
) -> Result<u64, MapError> {
    if !va.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    let mut count = 0;
    let mut off = 0;
    'pages: while off < size {
        let v = va.as_u64().wrapping_add(off);
        let mut table = pgd;
        for level in (2..=4).rev() {
            let entry = mem.table(table)[table_index(v, level)];
            if entry & flags::PRESENT == 0 {
                // Nothing mapped below this entry: skip to its end.
                let span = 1u64 << level_shift(level);
                off += span - (v & (span - 1));
                continue 'pages;
            }
            if entry & flags::PSE != 0 {
                return Err(MapError::AlreadyMapped(VirtAddr::new(v)));
            }
            table = PhysAddr::new(entry & ADDR_MASK);
        }
        let entry = &mut mem.table(table)[table_index(v, 1)];
        if *entry & flags::PRESENT != 0 {
            let pa = PhysAddr::new(*entry & ADDR_MASK);
            *entry = 0;
            count += 1;
            unmapped(VirtAddr::new(v), pa);
        }
        off += PAGE_SIZE;
    }
    Ok(count)
}

/// A translation found by [`translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub pa: PhysAddr,
    /// The leaf entry's flag bits.
    pub flags: u64,
    pub page_size: u64,
}

/// Walks the tables rooted at `pgd` for `va`.
pub fn translate<M: PageTableMemory>(mem: &mut M, pgd: PhysAddr, va: VirtAddr) -> Option<Translation> {
    let mut table = pgd;
    for level in (1..=4).rev() {
        let entry = mem.table(table)[table_index(va.as_u64(), level)];
        if entry & flags::PRESENT == 0 {
            return None;
        }
        if level == 1 || (level <= 3 && entry & flags::PSE != 0) {
            let page_size = 1u64 << level_shift(level);
            let base = entry & ADDR_MASK & !(page_size - 1);
            return Some(Translation { pa: PhysAddr::new(base + (va.as_u64() & (page_size - 1))), flags: entry & !ADDR_MASK, page_size });
        }
        table = PhysAddr::new(entry & ADDR_MASK);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::pgtable::PAGE_KERNEL;
    use proptest::prelude::*;

    /// Fake RAM: page-table pages live in a Vec, "physical" addresses are
    /// `BASE + index * 4096`.
    struct FakeRam {
        pages: Vec<Box<Table>>,
        limit: usize,
    }

    const BASE: u64 = 0x4000_0000;

    impl FakeRam {
        fn new(limit: usize) -> (Self, PhysAddr) {
            let mut ram = FakeRam { pages: Vec::new(), limit };
            let root = ram.alloc_table().unwrap();
            (ram, root)
        }
    }

    impl PageTableMemory for FakeRam {
        fn alloc_table(&mut self) -> Option<PhysAddr> {
            if self.pages.len() >= self.limit {
                return None;
            }
            self.pages.push(Box::new([0; 512]));
            Some(PhysAddr::new(BASE + (self.pages.len() as u64 - 1) * PAGE_SIZE))
        }
        fn table(&mut self, pa: PhysAddr) -> &mut Table {
            &mut self.pages[((pa.as_u64() - BASE) / PAGE_SIZE) as usize]
        }
    }

    const ALL: PageSizes = PageSizes { gbpages: true, mbpages: true };
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    const DIRECT: u64 = 0xffff_8880_0000_0000;

    #[test]
    fn picks_the_largest_pages_alignment_allows() {
        let (mut ram, root) = FakeRam::new(64);
        // [1M, 6G): 4K up to 2M, 2M up to 1G, then 1G pages.
        let stats = map_range(&mut ram, root, VirtAddr::new(DIRECT + M), PhysAddr::new(M), 6 * G - M, PAGE_KERNEL, ALL).unwrap();
        assert_eq!(stats.pages_4k, 256);
        assert_eq!(stats.pages_2m, 511);
        assert_eq!(stats.pages_1g, 5);
        // PDPT, one PD, one PT.
        assert_eq!(stats.tables, 3);
        let t = translate(&mut ram, root, VirtAddr::new(DIRECT + 5 * G + 123)).unwrap();
        assert_eq!((t.pa, t.page_size), (PhysAddr::new(5 * G + 123), G));
        assert!(t.flags & flags::NX != 0 && t.flags & flags::PSE != 0);
        assert_eq!(translate(&mut ram, root, VirtAddr::new(DIRECT + 0x1000)), None);
    }

    #[test]
    fn without_large_pages_everything_is_4k() {
        let (mut ram, root) = FakeRam::new(64);
        let none = PageSizes { gbpages: false, mbpages: false };
        let stats = map_range(&mut ram, root, VirtAddr::new(DIRECT), PhysAddr::new(0), 4 * M, PAGE_KERNEL, none).unwrap();
        assert_eq!((stats.pages_4k, stats.pages_2m, stats.tables), (1024, 0, 4));
    }

    #[test]
    fn refuses_overlap_misalignment_and_reports_oom() {
        let (mut ram, root) = FakeRam::new(64);
        map_range(&mut ram, root, VirtAddr::new(DIRECT), PhysAddr::new(0), 2 * M, PAGE_KERNEL, ALL).unwrap();
        assert_eq!(
            map_range(&mut ram, root, VirtAddr::new(DIRECT + 4096), PhysAddr::new(0), 4096, PAGE_KERNEL, ALL),
            Err(MapError::AlreadyMapped(VirtAddr::new(DIRECT + 4096)))
        );
        assert_eq!(map_range(&mut ram, root, VirtAddr::new(DIRECT + 1), PhysAddr::new(0), 4096, PAGE_KERNEL, ALL), Err(MapError::Misaligned));
        let (mut tiny, root) = FakeRam::new(2);
        assert_eq!(map_range(&mut tiny, root, VirtAddr::new(DIRECT), PhysAddr::new(0), 4096, PAGE_KERNEL, ALL), Err(MapError::OutOfMemory));
    }

    #[test]
    fn unmap_clears_leaves_and_reports_them() {
        let (mut ram, root) = FakeRam::new(64);
        let none = PageSizes { gbpages: false, mbpages: false };
        let base = 0xffff_c900_0000_0000;
        map_range(&mut ram, root, VirtAddr::new(base), PhysAddr::new(0x1000_0000), 8 * 4096, PAGE_KERNEL, none).unwrap();
        let mut seen = Vec::new();
        // Unmap pages 2..8 and 4 GiB of unmapped space after them.
        let n = unmap_range(&mut ram, root, VirtAddr::new(base + 2 * 4096), 6 * 4096 + 4 * G, |v, p| seen.push((v.as_u64(), p.as_u64()))).unwrap();
        assert_eq!(n, 6);
        assert_eq!(seen[0], (base + 2 * 4096, 0x1000_0000 + 2 * 4096));
        assert!(translate(&mut ram, root, VirtAddr::new(base + 2 * 4096)).is_none());
        assert!(translate(&mut ram, root, VirtAddr::new(base + 7 * 4096)).is_none());
        assert!(translate(&mut ram, root, VirtAddr::new(base + 4096)).is_some());
        assert_eq!(unmap_range(&mut ram, root, VirtAddr::new(base + 1), 4096, |_, _| {}), Err(MapError::Misaligned));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Disjoint random ranges map exactly: every probe inside a range
        /// translates to its physical counterpart, every probe outside
        /// translates to nothing.
        #[test]
        fn disjoint_ranges_translate_exactly(
            spans in proptest::collection::vec((0u64..64, 1u64..2048), 1..6),
            probes in proptest::collection::vec(0u64..(1u64 << 34), 64),
            gb in any::<bool>(), mb in any::<bool>(),
        ) {
            let (mut ram, root) = FakeRam::new(4096);
            let sizes = PageSizes { gbpages: gb, mbpages: mb };
            // Range i lives in its own 256 MiB-aligned slot; lengths in 4K pages
            // (up to 8 MiB), starts in 2 MiB steps plus 4K jitter.
            let mut ranges = Vec::new();
            for (i, &(start, pages)) in spans.iter().enumerate() {
                let va = (i as u64) * (256 * M) + start * 2 * M + (start % 3) * 4096;
                let pa = 0x10_0000_0000 + va;
                map_range(&mut ram, root, VirtAddr::new(DIRECT + va), PhysAddr::new(pa), pages * 4096, PAGE_KERNEL, sizes).unwrap();
                ranges.push((va, va + pages * 4096, pa));
            }
            for p in probes.iter().map(|p| p % (ranges.len() as u64 * 256 * M)) {
                let expect = ranges.iter().find(|r| r.0 <= p && p < r.1).map(|r| PhysAddr::new(r.2 + (p - r.0)));
                prop_assert_eq!(translate(&mut ram, root, VirtAddr::new(DIRECT + p)).map(|t| t.pa), expect);
            }
            for r in &ranges {
                prop_assert_eq!(translate(&mut ram, root, VirtAddr::new(DIRECT + r.1 - 1)).map(|t| t.pa), Some(PhysAddr::new(r.2 + r.1 - 1 - r.0)));
            }
        }
    }
}
