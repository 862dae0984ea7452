//! A process's page tables: its own PGD with the kernel half shared, the
//! user half filled in by page faults, and the page reference counts and
//! RSS counters that go with every PTE (Linux `mm/memory.c`'s PTE layer).
//!
//! Pages mapped in user space are of three kinds, told apart by their
//! `struct page`: anonymous pages (`pg::ANON`, owned by the mappings that
//! map them), the shared zero page (reserved, never freed), and file pages
//! (owned by the file; a mapping holds a reference). Every PTE holds one
//! reference (`_refcount`) and one map count (`_mapcount`) on its page.

use crate::arch::pgtable::{flags, table_index, ADDR_MASK};
use crate::mm::addr::{Pfn, PhysAddr, UserAddr, VirtAddr, PAGE_SIZE};
use crate::mm::gfp::Gfp;
use crate::mm::page::{pg, Page};
use crate::mm::pgtable::{populate_pte_table, PageTableMemory, Table};
pub use crate::mm::pte::{user_pte_flags, Pte, PteSlot, PTE_PROTNONE};
pub use crate::mm::swapfile::SwapEntry;
pub use crate::mm::tlb::{flush_tlb_mm, flush_tlb_page, TlbGather, NR_TLB_LOCAL_FLUSH_ALL, NR_TLB_LOCAL_FLUSH_ONE, TLB_SINGLE_PAGE_FLUSH_CEILING};
pub use crate::mm::user_mem::UserMem;

/// A page the caller owns by its allocation reference: dropped, it is
/// freed; handed to a mapping ([`into_pfn`](Self::into_pfn)), the
/// reference becomes the mapping's. So a path that allocates a page and
/// then fails (a swap-in that cannot read its slot) cannot leak it.
#[must_use]
pub struct OwnedPage<M: UserMem> {
    mem: M,
    pfn: Pfn,
}

impl<M: UserMem> OwnedPage<M> {
    /// A new page (`None`: out of memory).
    #[inline]
    pub fn alloc(mem: M, gfp: Gfp) -> Option<Self> {
        Some(Self { pfn: mem.alloc_page(gfp)?, mem })
    }

    #[inline]
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }

    /// Gives the reference away (to the PTE about to map the page).
    #[inline]
    pub fn into_pfn(self) -> Pfn {
        let pfn = self.pfn;
        core::mem::forget(self);
        pfn
    }
}

impl<M: UserMem> Drop for OwnedPage<M> {
    fn drop(&mut self) {
        self.mem.put_page(self.pfn);
    }
}

/// RSS counters (Linux `MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SHMEMPAGES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rss {
    pub file: u64,
    pub anon: u64,
    pub shmem: u64,
    /// Swap entries in the tables (Linux `MM_SWAPENTS`, `VmSwap`): not
    /// resident, so not in [`Rss::total`].
    pub swap: u64,
}

impl Rss {
    pub fn total(&self) -> u64 {
        self.file + self.anon + self.shmem
    }
}

/// Whether a mapped page is anonymous (owned by the mappings that map it).
pub fn is_anon(page: &Page) -> bool {
    page.test(pg::ANON)
}

/// What a present PTE maps, for `mm::memory`'s decisions.
pub fn page_kind<M: UserMem>(mem: &M, pfn: Pfn) -> PageKind {
    let page = mem.page(pfn);
    if pfn == mem.zero_pfn() {
        PageKind::Zero
    } else if is_anon(page) {
        PageKind::Anon { exclusive: page.mapcount() == 1 && page.refcount() == 1 }
    } else {
        PageKind::Object
    }
}

/// Takes a reference and a map count for a new PTE.
pub fn page_add_map(page: &Page) {
    page._refcount.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    page._mapcount.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}

/// Drops what [`page_add_map`] took (and frees a page that was only
/// referenced by this mapping).
pub fn page_remove_map<M: UserMem>(mem: &M, pfn: Pfn) {
    let page = mem.page(pfn);
    page._mapcount.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
    if page.refcount() == 1 && is_anon(page) {
        // The last user of an anonymous page: no longer anonymous once free.
        page.clear(pg::ANON);
    }
    mem.put_page(pfn);
    // A page in the swap cache that nothing maps and no swap entry names
    // any more is of no use to anyone (Linux `free_swap_cache`).
    if page.test(pg::SWAPCACHE) && page.mapcount() == 0 {
        crate::mm::swap_state::try_to_free_swap(mem, pfn);
    }
}

/// RSS bookkeeping when a PTE for `pfn` goes away.
pub fn account_unmap<M: UserMem>(mem: &M, pfn: Pfn, rss: &mut Rss) {
    let page = mem.page(pfn);
    if is_anon(page) {
        rss.anon = rss.anon.saturating_sub(1);
    } else if page.test(pg::SHMEM) {
        rss.shmem = rss.shmem.saturating_sub(1);
    } else if pfn != mem.zero_pfn() {
        rss.file = rss.file.saturating_sub(1);
    }
}

/// Counts a newly mapped page in `rss` (the inverse of [`account_unmap`]).
pub fn account_map<M: UserMem>(mem: &M, pfn: Pfn, rss: &mut Rss) {
    let page = mem.page(pfn);
    if is_anon(page) {
        rss.anon += 1;
    } else if page.test(pg::SHMEM) {
        rss.shmem += 1;
    } else if pfn != mem.zero_pfn() {
        rss.file += 1;
    }
}

/// A user address space's page tables.
pub struct UserPageTables<M: UserMem> {
    pub(super) mem: M,
    pub(super) pgd: PhysAddr,
    /// Page-table pages below the PGD (for `VmPTE`).
    pub nr_tables: u64,
    /// Every table page below the PGD, so that teardown frees them without
    /// scanning tables (each scanned entry costs microseconds where ring 0
    /// is emulated).
    pub(super) tables: alloc::vec::Vec<PhysAddr>,
    /// The PTE table [`pte_slot`](Self::pte_slot) found last, by the 2 MiB
    /// it maps (`va >> 21`; `u64::MAX`: none): faults come in runs inside
    /// one table, and then skip the walk from the PGD. Tables are freed
    /// only with the address space; one that moves (`move_pte_table`)
    /// clears this.
    pub(super) last_pte_table: (u64, PhysAddr),
    /// Huge PMDs mapped ([`crate::mm::huge_memory`]): with none, the walks
    /// that split them skip the look.
    pub(super) nr_huge: u64,
    /// The PTE table set aside for each huge PMD, by its address, so that
    /// splitting it cannot fail (Linux `pgtable_trans_huge_deposit`). Also
    /// in `tables`.
    pub(super) deposited: alloc::vec::Vec<(u64, PhysAddr)>,
}

impl<M: UserMem> UserPageTables<M> {
    /// A PGD sharing what `mem` says every address space shares (Linux
    /// `pgd_alloc`: the kernel half), with the system-call trampoline
    /// mapped at the top of the user half.
    pub fn new(mut mem: M) -> Option<Self> {
        let pgd = mem.alloc_page(crate::mm::gfp::GFP_KERNEL | crate::mm::gfp::__GFP_ZERO)?.phys();
        let special = match mem.init_pgd(pgd) {
            Some(special) => special,
            None => {
                mem.put_page(pgd.pfn());
                return None;
            }
        };
        let mut pt = Self {
            mem,
            pgd,
            nr_tables: 0,
            tables: alloc::vec::Vec::new(),
            last_pte_table: (u64::MAX, PhysAddr::new(0)),
            nr_huge: 0,
            deposited: alloc::vec::Vec::new(),
        };
        if let Some((va, pfn)) = special {
            let mut slot = pt.pte_slot(UserAddr::new(va), true)?;
            // Executable, read-only, user: not part of any VMA and never freed.
            slot.set(&mem, Pte::new(pfn, false, true));
        }
        Some(pt)
    }

    pub fn pgd(&self) -> PhysAddr {
        self.pgd
    }

    /// The memory these tables live in (a copy of the handle).
    #[inline]
    pub fn mem(&self) -> M {
        self.mem
    }

    /// The PTE for `va`, creating the tables above it when `create`
    /// (`None`: no table, or out of memory while creating one).
    /// The slot is borrowed from the tables: nothing else can change them
    /// (or free them) while it is held.
    pub fn pte_slot(&mut self, va: UserAddr, create: bool) -> Option<PteSlot<'_>> {
        let va = va.as_u64();
        let key = va >> 21;
        let table = if self.last_pte_table.0 == key {
            self.last_pte_table.1
        } else {
            if self.nr_huge > 0 {
                // A 4 KiB look inside a huge page splits it.
                self.split_huge_pmd(UserAddr::new(va));
            }
            let table = if create {
                let mut counting = CountingTables { mem: &mut self.mem, tables: &mut self.tables };
                let t = populate_pte_table(&mut counting, self.pgd, VirtAddr::new(va)).ok()?;
                self.nr_tables = self.tables.len() as u64;
                t
            } else {
                self.walk(va)?
            };
            self.last_pte_table = (key, table);
            table
        };
        Some(PteSlot(&mut self.mem.table(table)[table_index(va, 1)]))
    }

    /// The PTE table covering `va`, if there is one.
    fn walk(&mut self, va: u64) -> Option<PhysAddr> {
        self.walk_level(va, 1).ok()
    }

    /// The PTE for `va` if it holds a page ([`Pte::mapped`]); inside a
    /// huge page, the PTE its 4 KiB page there would have.
    pub fn lookup(&self, va: UserAddr) -> Option<Pte> {
        let va = va.as_u64();
        let mut mem = self.mem;
        let Ok(table) = Self::walk_from(&mut mem, self.pgd, va, 1) else {
            return if self.nr_huge > 0 { Self::huge_subpage(&mut mem, self.pgd, va) } else { None };
        };
        let pte = mem.table(table)[table_index(va, 1)];
        let pte = Pte(pte);
        pte.mapped().then_some(pte)
    }

    /// The swap entry at `va`, if the page there is in swap.
    pub fn lookup_swap(&self, va: UserAddr) -> Option<SwapEntry> {
        let va = va.as_u64();
        let mut mem = self.mem;
        let table = Self::walk_from(&mut mem, self.pgd, va, 1).ok()?;
        let pte = Pte(mem.table(table)[table_index(va, 1)]);
        pte.is_swap().then(|| pte.swap_entry())
    }

    /// Calls `f(va, table)` for each PTE table under `[start, end)`, in
    /// address order: `va` is where the range enters the 2 MiB the table
    /// maps. Missing entries are skipped at every level (Linux's
    /// `p?d_none_or_clear_bad` loops), so the cost follows the populated
    /// tables, not the size of the range.
    fn for_each_pte_table(&self, start: u64, end: u64, f: &mut impl FnMut(u64, PhysAddr)) {
        let end = end.min(1 << 47);
        if start < end {
            let mut mem = self.mem;
            Self::walk_range(&mut mem, self.pgd, 4, start, end, f, &mut |_, _| {});
        }
    }

    /// The entries of `table` (at `level`) under `[start, end)`, which lies
    /// inside the span the table maps: a tight scan over the slice, since
    /// where ring 0 is emulated each instruction of it is paid per entry.
    /// `huge(va, entry)` is called for each huge PMD (`va`: the 2 MiB it
    /// maps).
    pub(super) fn walk_range(
        mem: &mut M,
        table: PhysAddr,
        level: u32,
        start: u64,
        end: u64,
        f: &mut impl FnMut(u64, PhysAddr),
        huge: &mut impl FnMut(u64, u64),
    ) {
        let shift = crate::arch::pgtable::level_shift(level);
        let base = start & !((1u64 << (shift + 9)) - 1);
        let (first, last) = (table_index(start, level), table_index(end - 1, level));
        // A second handle for the entries, so that the walk below can use
        // `mem` while they are borrowed.
        let mut entries_mem = *mem;
        let entries: &Table = entries_mem.table(table);
        // An index loop: `skip(first)` on this iterator steps through the
        // entries before `first` one at a time.
        for (i, &entry) in entries[first..=last].iter().enumerate().map(|(k, e)| (first + k, e)) {
            if entry & flags::PRESENT == 0 {
                continue;
            }
            if entry & flags::PSE != 0 {
                if level == 2 {
                    huge(base + ((i as u64) << shift), entry);
                }
                continue;
            }
            let lo = start.max(base + ((i as u64) << shift));
            let hi = end.min(base + ((i as u64 + 1) << shift));
            let below = PhysAddr::new(entry & ADDR_MASK);
            if level == 2 {
                f(lo, below);
            } else {
                Self::walk_range(mem, below, level - 1, lo, hi, f, huge);
            }
        }
    }

    /// Calls `f(va, pte)` for each PTE in `[start, end)` that holds a page
    /// (present or `PROT_NONE`), visiting only populated tables.
    pub fn for_each_present(&mut self, start: UserAddr, end: UserAddr, mut f: impl FnMut(UserAddr, &mut PteSlot<'_>)) {
        self.walk_ptes(start, end, true, &mut f);
    }

    /// Calls `f(va, pte)` for every PTE slot in `[start, end)` that has a
    /// table, empty ones included (fault-around fills those).
    pub fn for_each_pte(&mut self, start: UserAddr, end: UserAddr, mut f: impl FnMut(UserAddr, &mut PteSlot<'_>)) {
        self.walk_ptes(start, end, false, &mut f);
    }

    fn walk_ptes(&mut self, start: UserAddr, end: UserAddr, mapped_only: bool, f: &mut impl FnMut(UserAddr, &mut PteSlot<'_>)) {
        let (start, end) = (start.as_u64(), end.as_u64());
        let mut mem = self.mem;
        self.for_each_pte_table(start, end, &mut |va, table| {
            let t = mem.table(table);
            let stop = end.min((va | ((1 << 21) - 1)) + 1);
            let mut va = va;
            while va < stop {
                let mut e = PteSlot(&mut t[table_index(va, 1)]);
                if !mapped_only || e.get().mapped() {
                    f(UserAddr::new(va), &mut e);
                }
                va += PAGE_SIZE;
            }
        });
    }

    /// Calls `f(va, src, dst)` for each PTE of `src` in `[start, end)`
    /// that is not empty, with `dst` the slot for the same address in
    /// these tables (Linux `copy_pte_range`'s walk). The walk goes a PTE
    /// table at a time: each populated table of `src` is visited once, and
    /// its counterpart here is found (or made) once, not per entry. False
    /// when out of memory for a table (what was copied so far stays).
    pub fn copy_ptes_from(&mut self, src: &mut Self, start: UserAddr, end: UserAddr, mut f: impl FnMut(UserAddr, &mut PteSlot<'_>, &mut PteSlot<'_>)) -> bool {
        let (start, end) = (start.as_u64(), end.as_u64());
        // The populated tables first, then the copy: the per-entry loop
        // stays in this function, whatever the walker's code looks like.
        // (On the stack for the common range of up to 16 MiB.)
        const INLINE: usize = 8;
        let mut inline = [(0u64, PhysAddr::new(0)); INLINE];
        let mut n = 0;
        let mut more = alloc::vec::Vec::new();
        src.for_each_pte_table(start, end, &mut |va, table| {
            if n < INLINE {
                inline[n] = (va, table);
                n += 1;
            } else {
                more.push((va, table));
            }
        });
        let mut src_mem = src.mem;
        for (va, src_table) in inline[..n].iter().copied().chain(more) {
            let dst_table = {
                let mut counting = CountingTables { mem: &mut self.mem, tables: &mut self.tables };
                match populate_pte_table(&mut counting, self.pgd, VirtAddr::new(va)) {
                    Ok(t) => t,
                    Err(_) => return false,
                }
            };
            self.nr_tables = self.tables.len() as u64;
            // Two handles, so that both tables can be borrowed at once
            // (they are different pages: two address spaces).
            let mut dst_mem = self.mem;
            let (from, to) = (src_mem.table(src_table), dst_mem.table(dst_table));
            let stop = end.min((va | ((1 << 21) - 1)) + 1);
            let (first, last) = (table_index(va, 1), table_index(stop - 1, 1));
            let base = va & !((1 << 21) - 1);
            for i in first..=last {
                if from[i] != 0 {
                    f(UserAddr::new(base + ((i as u64) << 12)), &mut PteSlot(&mut from[i]), &mut PteSlot(&mut to[i]));
                }
            }
        }
        true
    }

    /// Frees the PTE tables over the unmapped `[start, end)` that map only
    /// addresses in `[floor, ceiling)`, where nothing is mapped any more
    /// (Linux `free_pgtables`, at the PTE level): each 2 MiB the range
    /// touches that lies wholly inside the gap and whose table holds no
    /// entry. Only the range's tables are looked at, so the cost follows
    /// what was unmapped, not the size of the gap. Besides the memory,
    /// this keeps the buddy allocator's blocks whole: a table left behind
    /// pins 4 KiB in every 2 MiB a program once used.
    pub fn free_pgtables(&mut self, start: UserAddr, end: UserAddr, floor: UserAddr, ceiling: UserAddr) {
        const PMD_SIZE: u64 = 1 << 21;
        let Some(floor) = floor.as_u64().checked_next_multiple_of(PMD_SIZE) else { return };
        let Some(range_end) = end.as_u64().checked_next_multiple_of(PMD_SIZE) else { return };
        let lo = (start.as_u64() & !(PMD_SIZE - 1)).max(floor);
        let hi = range_end.min(ceiling.as_u64() & !(PMD_SIZE - 1));
        if lo >= hi {
            return;
        }
        let mut empty = alloc::vec::Vec::new();
        let mut mem = self.mem;
        self.for_each_pte_table(lo, hi, &mut |va, table| {
            if mem.table(table).iter().all(|&e| e == 0) {
                empty.push((va, table));
            }
        });
        if empty.is_empty() {
            return;
        }
        self.last_pte_table = (u64::MAX, PhysAddr::new(0));
        for (va, table) in empty {
            let Ok(pmd) = self.walk_level(va, 2) else { continue };
            self.mem.table(pmd)[table_index(va, 2)] = 0;
            // Out of the paging-structure caches before the page is reused
            // (`invlpg` drops those entries too).
            flush_tlb_page(&self.mem, UserAddr::new(va));
            if let Some(i) = self.tables.iter().position(|&t| t == table) {
                self.tables.swap_remove(i);
            }
            self.mem.put_page(table.pfn());
        }
        self.nr_tables = self.tables.len() as u64;
    }

    /// Unmaps `[start, end)`: every page loses its map count and reference
    /// and leaves the RSS (Linux `zap_page_range`).
    pub fn zap_page_range(&mut self, start: UserAddr, end: UserAddr, rss: &mut Rss) {
        let mut tlb = TlbGather::new();
        self.unmap_range(start, end, rss, &mut tlb);
        tlb.finish(&self.mem);
    }

    /// [`zap_page_range`](Self::zap_page_range) as part of a larger
    /// operation, whose `tlb` the caller flushes.
    pub fn unmap_range(&mut self, start: UserAddr, end: UserAddr, rss: &mut Rss, tlb: &mut TlbGather) {
        for haddr in self.split_huge_range(start, end, true) {
            self.zap_huge_pmd(haddr, rss, tlb);
        }
        let mem = self.mem;
        self.for_each_pte(start, end, |va, e| {
            let pte = e.get();
            if pte.is_swap() {
                // A page in swap: its slot goes, and the page in the swap
                // cache with the last reference (Linux `free_swap_and_cache`).
                crate::mm::swap_state::free_swap_and_cache(&mem, pte.swap_entry());
                e.clear();
                rss.swap = rss.swap.saturating_sub(1);
                return;
            }
            if !pte.mapped() {
                return;
            }
            let pfn = pte.pfn();
            e.clear();
            tlb.add(va);
            account_unmap(&mem, pfn, rss);
            page_remove_map(&mem, pfn);
        });
    }

    /// Changes the protection of what is mapped in `[start, end)`. Write
    /// permission is only given to anonymous pages this mapping owns alone,
    /// and only to pages written since the last soft-dirty reset;
    /// anything else stays read-only and faults on the first write (a
    /// copy, or the soft-dirty bit: Linux's write-notify). With no access
    /// at all the pages stay but become not-present. The soft-dirty bit
    /// stays as it was.
    pub fn protect(&mut self, start: UserAddr, end: UserAddr, access: bool, writable: bool, exec: bool) {
        let mut tlb = TlbGather::new();
        // Huge pages wholly inside keep their PMD; others split.
        for haddr in self.split_huge_range(start, end, true) {
            self.change_huge_pmd(haddr, access, writable, exec, &mut tlb);
        }
        let mem = self.mem;
        self.for_each_present(start, end, |va, e| {
            let pte = e.get();
            let w = protect_writable(writable, page_kind(&mem, pte.pfn())) && pte.soft_dirty();
            let new = pte.modify(access, w, exec);
            if new != pte {
                e.set(&mem, new);
                tlb.add(va);
            }
        });
        tlb.finish(&mem);
    }

    /// Moves the PTEs of `[old, old + len)` to `[new, new + len)` (mremap,
    /// Linux `move_page_tables`). The destination must be unmapped. The
    /// walk visits only populated tables, so the cost follows what is
    /// mapped, not the size of the range: missing upper-level entries are
    /// skipped whole, and where source and destination are both 2 MiB
    /// aligned over a whole PTE table the table itself moves, as one PMD
    /// entry (Linux `move_normal_pmd`). Returns false when out of memory
    /// for page tables (what moved so far stays moved, as Linux does).
    pub fn move_range(&mut self, old: UserAddr, new: UserAddr, len: u64) -> bool {
        const PMD_SIZE: u64 = 1 << 21;
        self.split_huge_range(old, old + len, false);
        let (old, new) = (old.as_u64(), new.as_u64());
        let end = old + len;
        let mem = self.mem;
        // The populated tables first: moving creates tables on the way.
        let mut tables = alloc::vec::Vec::new();
        self.for_each_pte_table(old, end, &mut |va, table| tables.push((va, table)));
        let mut tlb = TlbGather::new();
        for (start, src_table) in tables {
            let dst_va = new + (start - old);
            let whole = start % PMD_SIZE == 0 && dst_va.is_multiple_of(PMD_SIZE) && end - start >= PMD_SIZE;
            if whole && self.move_pte_table(start, dst_va, src_table) {
                // The old addresses of a whole table's pages.
                tlb.add_all();
                continue;
            }
            let stop = end.min((start | (PMD_SIZE - 1)) + 1);
            let mut va = start;
            while va < stop {
                let pte = Pte(self.mem.table(src_table)[table_index(va, 1)]);
                // Pages and swap entries alike move.
                if !pte.is_none() {
                    let Some(mut dst) = self.pte_slot(UserAddr::new(new + (va - old)), true) else {
                        tlb.finish(&mem);
                        return false;
                    };
                    dst.set(&mem, pte);
                    self.mem.table(src_table)[table_index(va, 1)] = 0;
                    tlb.add(UserAddr::new(va));
                }
                va += PAGE_SIZE;
            }
        }
        tlb.finish(&mem);
        true
    }

    /// Moves the PTE table `table` (mapping the 2 MiB at `old`) to map the
    /// 2 MiB at `new`, if no table is there yet. Returns whether it moved.
    fn move_pte_table(&mut self, old: u64, new: u64, table: PhysAddr) -> bool {
        let mut counting = CountingTables { mem: &mut self.mem, tables: &mut self.tables };
        let Ok(dst_pmd) = crate::mm::pgtable::populate_table(&mut counting, self.pgd, VirtAddr::new(new), 2) else { return false };
        self.nr_tables = self.tables.len() as u64;
        let Ok(src_pmd) = self.walk_level(old, 2) else { return false };
        if self.mem.table(dst_pmd)[table_index(new, 2)] & flags::PRESENT != 0 {
            return false;
        }
        let entry = self.mem.table(src_pmd)[table_index(old, 2)];
        debug_assert_eq!(entry & ADDR_MASK, table.as_u64());
        // The table no longer maps the old 2 MiB.
        self.last_pte_table = (u64::MAX, PhysAddr::new(0));
        self.mem.table(dst_pmd)[table_index(new, 2)] = entry;
        self.mem.table(src_pmd)[table_index(old, 2)] = 0;
        true
    }

    /// The table at `level` (1: PTE, 2: PMD, 3: PUD) covering `va`, or
    /// where the next one could start.
    pub(super) fn walk_level(&mut self, va: u64, level: u32) -> Result<PhysAddr, u64> {
        Self::walk_from(&mut self.mem, self.pgd, va, level)
    }

    pub(super) fn walk_from(mem: &mut M, pgd: PhysAddr, va: u64, level: u32) -> Result<PhysAddr, u64> {
        let mut table = pgd;
        for l in (level + 1..=4).rev() {
            let entry = mem.table(table)[table_index(va, l)];
            if entry & flags::PRESENT == 0 || entry & flags::PSE != 0 {
                let span = 1u64 << crate::arch::pgtable::level_shift(l);
                return Err((va | (span - 1)).saturating_add(1));
            }
            table = PhysAddr::new(entry & ADDR_MASK);
        }
        Ok(table)
    }

    /// Loads these tables (Linux `switch_mm`).
    pub fn activate(&self) {
        self.mem.activate(self.pgd);
    }
}

/// Frees the page tables (Linux `free_pgtables`); the address space has
/// unmapped every page first (VMA by VMA, as `exit_mmap` does). The
/// trampoline and the kernel half are not ours. Tables still loaded are
/// left for the kernel's own first.
impl<M: UserMem> Drop for UserPageTables<M> {
    fn drop(&mut self) {
        self.mem.deactivate(self.pgd);
        for &t in &self.tables {
            self.mem.put_page(t.pfn());
        }
        self.mem.put_page(self.pgd.pfn());
    }
}

/// Page-table pages for a user address space, recorded as they are
/// created.
pub(super) struct CountingTables<'a, M: UserMem> {
    pub(super) mem: &'a mut M,
    pub(super) tables: &'a mut alloc::vec::Vec<PhysAddr>,
}

impl<M: UserMem> PageTableMemory for CountingTables<'_, M> {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        let pa = self.mem.alloc_page(crate::mm::gfp::GFP_KERNEL | crate::mm::gfp::__GFP_ZERO)?.phys();
        self.tables.push(pa);
        Some(pa)
    }
    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        self.mem.table(pa)
    }
}

/// What a present PTE maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// The shared zero page (Linux `ZERO_PAGE(0)`), mapped read-only by
    /// every anonymous read fault of every process.
    Zero,
    /// An anonymous page. `exclusive`: this PTE holds its only mapping and
    /// its only reference (Linux `PageAnonExclusive` plus a refcount of 1),
    /// so it may be written in place.
    Anon { exclusive: bool },
    /// A page owned by an object: a file's page cache or a shmem object.
    Object,
}

/// Whether `mprotect` may leave a present PTE writable when its VMA
/// becomes writable (`vma_write`): only an exclusive anonymous page;
/// everything else (the zero page first of all, shared and object pages)
/// stays read-only and takes the write fault, which decides as above.
pub fn protect_writable(vma_write: bool, page: PageKind) -> bool {
    vma_write && page == PageKind::Anon { exclusive: true }
}
