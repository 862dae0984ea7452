//! Transparent huge pages for private anonymous memory (Linux
//! `mm/huge_memory.c`): a write fault in a 2 MiB-aligned range that a
//! suitable VMA covers whole maps 512 pages with one PMD entry, from one
//! naturally aligned order-9 block (known-zero where the allocator has
//! it, cleared otherwise).
//!
//! **Policy.** `transparent_hugepage=always|madvise|never` on the command
//! line and `/sys/kernel/mm/transparent_hugepage/enabled`, as in Linux;
//! `MADV_HUGEPAGE`/`MADV_NOHUGEPAGE` mark VMAs. The default is `madvise`
//! (Linux's Kconfig offers either; `madvise` keeps the memory use of
//! programs that did not ask the same as with 4 KiB pages). A read fault
//! maps the 4 KiB zero page: there is no huge zero page, so a range read
//! before it is written stays in 4 KiB pages (with Linux's huge zero page
//! a write after a read also falls back to 4 KiB, since 5.8).
//!
//! **Pages.** A new huge page is one block whose first descriptor alone
//! is set up ([`pg::LARGE`], Linux's large folio): its reference and map
//! count stand for all 512 pages, each PMD holding one of each, so a
//! fault, a fork and an unmap touch one descriptor, not 512, and the
//! block goes back to the buddy allocator whole. The first time the huge
//! page is mapped by PTEs ([`split_huge_pmd`](UserPageTables::split_huge_pmd))
//! the other 511 descriptors take the first page's counts (Linux's
//! `split_huge_page`, counted as `thp_split_page`), and from then on each
//! page holds its own, as if 512 PTEs had mapped it all along: the counts
//! stay exact through every later split, and the pages are freed one by
//! one. [`page_folio`] names the descriptor that holds a page's counts.
//! The first page carries [`pg::PMD_MAPPED`] while PMDs map it, with
//! their number in its `page_type` word (Linux's `_entire_mapcount`;
//! `private` is the swap cache's, which may hold any of the pages once a
//! split left them to reclaim); `AnonHugePages` counts those first pages
//! (Linux's `NR_ANON_THPS`).
//!
//! **Splitting** (Linux `__split_huge_pmd`): the PMD becomes a PTE table
//! that maps the same 512 pages with the same bits. Each huge PMD has a
//! table deposited for this at fault time (Linux
//! `pgtable_trans_huge_deposit`), so splitting never fails for memory.
//! Every operation on part of a huge PMD splits it first: `munmap`,
//! `mprotect`, `mremap` (also of the whole range: a deviation, Linux
//! moves the PMD), `clear_refs`. Reclaim gives a young huge PMD its
//! second chance and splits an old one to swap its pages (Linux splits a
//! THP to swap it too); `MADV_COLD` ages it whole; `MADV_PAGEOUT` splits
//! one only this mapping has. Unmapping the whole 2 MiB frees it without
//! a split, and `mprotect` of the whole 2 MiB changes the PMD (to
//! `PROT_NONE` it splits); fork shares it write-protected; a write to a
//! shared one splits and copies one 4 KiB page (Linux since 5.8), and a
//! write to one this process holds alone makes it writable again.
//!
//! There is no khugepaged: ranges that were mapped in 4 KiB pages stay so.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use crate::arch::pgtable::{flags, table_index, ADDR_MASK, PAGE_TABLE};
use crate::mm::addr::{Pfn, PhysAddr, UserAddr, VirtAddr};
use crate::mm::gfp::{__GFP_NOWARN, __GFP_ZERO, GFP_HIGHUSER};
use crate::mm::page::{pg, AnonRmap, Page};
use crate::mm::pgtable::PageTableMemory;
use crate::mm::uvm::{account_unmap, page_add_map, page_remove_map, CountingTables, Pte, Rss, TlbGather, UserMem, UserPageTables};
use crate::mm::vma::{VmFlags, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_SHARED};

pub use crate::mm::addr::{HPAGE_PMD_NR, HPAGE_PMD_ORDER, HPAGE_PMD_SIZE};

/// When anonymous faults may map huge pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpMode {
    /// In every suitable VMA not marked `MADV_NOHUGEPAGE`.
    Always,
    /// Only in VMAs marked `MADV_HUGEPAGE`.
    Madvise,
    /// Never.
    Never,
}

impl ThpMode {
    const ALL: [ThpMode; 3] = [ThpMode::Always, ThpMode::Madvise, ThpMode::Never];

    pub fn name(self) -> &'static str {
        match self {
            ThpMode::Always => "always",
            ThpMode::Madvise => "madvise",
            ThpMode::Never => "never",
        }
    }

    /// The mode named `text` (surrounding white space allowed, as sysfs
    /// writes end in a newline).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == text.trim())
    }
}

static MODE: AtomicU8 = AtomicU8::new(1);

pub fn mode() -> ThpMode {
    ThpMode::ALL[usize::from(MODE.load(Relaxed)).min(2)]
}

pub fn set_mode(mode: ThpMode) {
    MODE.store(ThpMode::ALL.iter().position(|&m| m == mode).unwrap_or(1) as u8, Relaxed);
}

/// `/sys/kernel/mm/transparent_hugepage/enabled`: the modes, the one in
/// force in brackets.
pub fn enabled_text() -> alloc::string::String {
    let now = mode();
    let words: alloc::vec::Vec<alloc::string::String> =
        ThpMode::ALL.iter().map(|&m| if m == now { alloc::format!("[{}]", m.name()) } else { alloc::string::String::from(m.name()) }).collect();
    alloc::format!("{}\n", words.join(" "))
}

/// `/proc/vmstat` events (Linux's names): huge pages a fault mapped, and
/// faults that wanted one but fell back to 4 KiB; huge PMDs split.
pub static THP_FAULT_ALLOC: AtomicU64 = AtomicU64::new(0);
pub static THP_FAULT_FALLBACK: AtomicU64 = AtomicU64::new(0);
pub static THP_SPLIT_PMD: AtomicU64 = AtomicU64::new(0);
/// Huge pages whose pages were given counts of their own
/// (`thp_split_page`).
pub static THP_SPLIT_PAGE: AtomicU64 = AtomicU64::new(0);
/// Huge pages mapped by at least one PMD (`AnonHugePages`, in pages of
/// 2 MiB; Linux `NR_ANON_THPS`).
pub static NR_ANON_THPS: AtomicU64 = AtomicU64::new(0);

/// Whether an anonymous fault at `addr` of a VMA `[start, end)` with
/// `flags` may map a huge page (Linux `thp_vma_allowable_order` for
/// anonymous memory): private, not refused by `MADV_NOHUGEPAGE`, allowed
/// by the mode, and the aligned 2 MiB around `addr` inside the VMA.
pub fn thp_vma_allowable(flags: VmFlags, start: UserAddr, end: UserAddr, addr: UserAddr) -> bool {
    let wanted = match mode() {
        ThpMode::Always => flags & VM_NOHUGEPAGE == 0,
        ThpMode::Madvise => flags & VM_HUGEPAGE != 0,
        ThpMode::Never => false,
    };
    wanted && flags & VM_SHARED == 0 && thp_vma_allowable_range(start, end, addr)
}

/// `THPeligible` in `smaps`: the mode and the VMA's flags would allow a
/// huge page, and an aligned 2 MiB fits inside `[start, end)`.
pub fn thp_vma_eligible(flags: VmFlags, start: UserAddr, end: UserAddr) -> bool {
    start.checked_add(HPAGE_PMD_SIZE - 1).is_some_and(|a| thp_vma_allowable(flags, start, end, a.align_down(HPAGE_PMD_SIZE)))
}

/// Whether the aligned 2 MiB around `addr` lies inside `[start, end)`.
pub fn thp_vma_allowable_range(start: UserAddr, end: UserAddr, addr: UserAddr) -> bool {
    let haddr = addr.align_down(HPAGE_PMD_SIZE);
    haddr >= start && haddr.checked_add(HPAGE_PMD_SIZE).is_some_and(|e| e <= end)
}

/// The first page of a new huge page, as [`UserMem::alloc_huge_page`]
/// hands it over: anonymous, mapped once (by the PMD about to be set),
/// its counts standing for all 512 pages (Linux
/// `folio_add_new_anon_rmap` on a large folio).
#[inline(always)]
pub fn prep_large_folio(head: &Page) {
    head.flags.store(head.flags() | pg::ANON | pg::LARGE, Relaxed);
    head._mapcount.store(0, Relaxed);
}

/// The page whose descriptor holds `pfn`'s reference and map count: the
/// first page of a huge page whose other descriptors are not set up,
/// otherwise `pfn` itself (Linux `page_folio`). A huge page owns its
/// whole naturally aligned 2 MiB, so the first page is found by
/// alignment alone.
pub fn page_folio<M: UserMem>(mem: &M, pfn: Pfn) -> Pfn {
    let head = pfn.align_down(HPAGE_PMD_ORDER);
    if head != pfn && mem.page(head).test(pg::LARGE) {
        head
    } else {
        pfn
    }
}

/// Gives each page of the huge page at `head` counts of its own, equal to
/// the first page's (Linux `split_huge_page`, on the descriptors: the
/// PMDs stay): a PTE is about to map one of them alone. Nothing to do
/// once done.
fn split_large_folio<M: UserMem>(mem: &M, head: Pfn) {
    let first = mem.page(head);
    if !first.test(pg::LARGE) {
        return;
    }
    let (zone, refs, maps) = (first.zone_idx(), first.refcount(), first._mapcount.load(Relaxed));
    let rmap = crate::mm::page::page_anon_rmap(first);
    crate::mm::lru::split_head(mem, head);
    for i in 1..HPAGE_PMD_NR {
        let page = mem.page(head + i);
        page.init_allocated(zone, refs, pg::ANON);
        page._mapcount.store(maps, Relaxed);
        if let Some(r) = rmap {
            r.offset(i).set(page);
        }
        crate::mm::lru::add_split_tail(mem, head, head + i);
    }
    first.clear(pg::LARGE);
    THP_SPLIT_PAGE.fetch_add(1, Relaxed);
}

/// A PMD entry mapping the huge page at `head`.
fn mk_huge_pmd(head: Pfn, writable: bool, exec: bool) -> u64 {
    Pte::new(head, writable, exec).mksoft_dirty().0 | flags::PSE
}

fn is_huge(entry: u64) -> bool {
    entry & (flags::PRESENT | flags::PSE) == flags::PRESENT | flags::PSE
}

/// One more PMD maps the huge page at `head`.
fn pmd_map_inc<M: UserMem>(mem: &M, head: Pfn) {
    let page = mem.page(head);
    if page.test(pg::PMD_MAPPED) {
        page.page_type.fetch_add(1, Relaxed);
    } else {
        page.page_type.store(1, Relaxed);
        page.set(pg::PMD_MAPPED);
        NR_ANON_THPS.fetch_add(1, Relaxed);
    }
}

/// How many PMDs map the huge page at `head` (0: none).
pub fn pmd_mapcount<M: UserMem>(mem: &M, head: Pfn) -> u32 {
    let page = mem.page(head);
    if page.test(pg::PMD_MAPPED) {
        page.page_type.load(Relaxed)
    } else {
        0
    }
}

/// One PMD fewer maps the huge page at `head` (before its pages lose the
/// PMD's references).
fn pmd_map_dec<M: UserMem>(mem: &M, head: Pfn) {
    let page = mem.page(head);
    if page.page_type.fetch_sub(1, Relaxed) == 1 {
        page.page_type.store(0, Relaxed);
        page.clear(pg::PMD_MAPPED);
        NR_ANON_THPS.fetch_sub(1, Relaxed);
    }
}

/// What reclaim does with a huge PMD ([`UserPageTables::reclaim_huge_range`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HugeReclaim {
    /// `MADV_COLD`: the accessed bit goes, the PMD stays.
    Cold,
    /// `MADV_PAGEOUT`: split when this PMD is the only one.
    Unshared,
}

/// A huge PMD's state for the fault path.
pub enum HugePmd {
    /// No PTE table and no huge page: a huge page may go there.
    None,
    /// A huge page.
    Huge(Pte),
    /// A PTE table (or the tables above are missing but could not be
    /// looked at): the 4 KiB path.
    Table,
}

impl<M: UserMem> UserPageTables<M> {
    /// Calls `f(va, entry)` for each huge PMD overlapping `[start, end)`:
    /// `va` is the 2 MiB it maps.
    pub(super) fn walk_huge(&self, start: u64, end: u64, f: &mut impl FnMut(u64, u64)) {
        let end = end.min(1 << 47);
        if start < end {
            let mut mem = self.mem;
            Self::walk_range(&mut mem, self.pgd, 4, start, end, &mut |_, _| {}, f);
        }
    }

    /// A zeroed page-table page for these tables.
    pub(super) fn alloc_table(&mut self) -> Option<PhysAddr> {
        let pa = CountingTables { mem: &mut self.mem, tables: &mut self.tables }.alloc_table()?;
        self.nr_tables = self.tables.len() as u64;
        Some(pa)
    }

    /// Frees a page-table page of these tables that nothing points to.
    pub(super) fn free_table(&mut self, table: PhysAddr) {
        if let Some(i) = self.tables.iter().position(|&t| t == table) {
            self.tables.swap_remove(i);
        }
        self.nr_tables = self.tables.len() as u64;
        self.mem.put_page(table.pfn());
    }

    /// The PMD table covering `va`, created with the tables above it.
    pub(super) fn populate_pmd(&mut self, va: u64) -> Result<PhysAddr, crate::mm::pgtable::MapError> {
        let mut counting = CountingTables { mem: &mut self.mem, tables: &mut self.tables };
        let pmd = crate::mm::pgtable::populate_table(&mut counting, self.pgd, VirtAddr::new(va), 2);
        self.nr_tables = self.tables.len() as u64;
        pmd
    }

    /// The remembered PTE table may no longer map what it did.
    pub(super) fn forget_last_pte_table(&mut self) {
        self.last_pte_table = (u64::MAX, PhysAddr::new(0));
    }

    /// Whether any huge PMD is mapped.
    #[inline]
    pub fn has_huge(&self) -> bool {
        self.nr_huge > 0
    }

    /// The PMD entry covering `va` and the table it lives in, if the tables
    /// above it exist.
    fn pmd_entry(&mut self, va: u64) -> Option<(PhysAddr, u64)> {
        let pmd = self.walk_level(va, 2).ok()?;
        Some((pmd, self.mem.table(pmd)[table_index(va, 2)]))
    }

    /// What the fault path finds at the PMD level for `va`.
    pub fn huge_pmd_state(&mut self, va: UserAddr) -> HugePmd {
        match self.pmd_entry(va.as_u64()) {
            None => HugePmd::None,
            Some((_, 0)) => HugePmd::None,
            Some((_, e)) if is_huge(e) => HugePmd::Huge(Pte(e)),
            Some(_) => HugePmd::Table,
        }
    }

    /// The huge page covering `va`, as the PTE of its 4 KiB page there
    /// would read (for `lookup`).
    pub(super) fn huge_subpage(mem: &mut M, pgd: PhysAddr, va: u64) -> Option<Pte> {
        let pmd = Self::walk_from(mem, pgd, va, 2).ok()?;
        let e = mem.table(pmd)[table_index(va, 2)];
        is_huge(e).then(|| Pte(((e & !flags::PSE) & !ADDR_MASK) | (((e & ADDR_MASK) + (va & (HPAGE_PMD_SIZE - 1) & !0xfff)) & ADDR_MASK)))
    }

    /// A huge page for the 2 MiB at `va`, write fault of private anonymous
    /// memory (Linux `do_huge_pmd_anonymous_page`): `false` when no block
    /// or no table for it could be had (the caller falls back to 4 KiB).
    /// `rmap` is where its first page belongs.
    pub fn do_huge_pmd_anonymous_page(&mut self, va: UserAddr, exec: bool, rss: &mut Rss, rmap: AnonRmap) -> bool {
        let haddr = va.align_down(HPAGE_PMD_SIZE).as_u64();
        let Some(deposit) = self.alloc_table() else { return false };
        let Ok(pmd) = self.populate_pmd(haddr) else {
            self.free_table(deposit);
            return false;
        };
        if self.mem.table(pmd)[table_index(haddr, 2)] != 0 {
            self.free_table(deposit);
            return false;
        }
        let Some(head) = self.mem.alloc_huge_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN) else {
            self.free_table(deposit);
            return false;
        };
        rmap.set(self.mem.page(head));
        crate::mm::lru::lru_cache_add(&self.mem, head);
        pmd_map_inc(&self.mem, head);
        self.mem.table(pmd)[table_index(haddr, 2)] = mk_huge_pmd(head, true, exec);
        self.forget_last_pte_table();
        self.deposited.push((haddr, deposit));
        self.nr_huge += 1;
        rss.anon += HPAGE_PMD_NR;
        THP_FAULT_ALLOC.fetch_add(1, Relaxed);
        true
    }

    /// A write fault on a write-protected huge PMD (Linux
    /// `do_huge_pmd_wp_page`): when this PMD is the only user of every one
    /// of its pages, it becomes writable again and `true` comes back;
    /// otherwise the caller splits it and copies one 4 KiB page.
    pub fn huge_pmd_reuse(&mut self, va: UserAddr) -> bool {
        let va = va.as_u64();
        let Some((pmd, e)) = self.pmd_entry(va) else { return false };
        if !is_huge(e) {
            return false;
        }
        let exclusive = self.huge_exclusive(Pte(e).pfn());
        if exclusive {
            self.mem.table(pmd)[table_index(va, 2)] = e | flags::RW | flags::DIRTY | flags::SOFT_DIRTY;
            self.mem.flush_tlb_page(va & !(HPAGE_PMD_SIZE - 1));
        }
        exclusive
    }

    /// Whether this mapping is the only user of every page of the huge
    /// page at `head` (what lets it be written in place).
    fn huge_exclusive(&self, head: Pfn) -> bool {
        let first = self.mem.page(head);
        if first.test(pg::LARGE) {
            return first.mapcount() == 1 && first.refcount() == 1;
        }
        (0..HPAGE_PMD_NR).all(|i| {
            let page = self.mem.page(head + i);
            page.mapcount() == 1 && page.refcount() == 1 && page.test(pg::ANON)
        })
    }

    /// `mprotect` of a whole huge PMD (Linux `change_huge_pmd`): the PMD
    /// stays and takes the new protection, writable only where a PTE
    /// would be (every page this mapping's alone, and written since the
    /// last soft-dirty reset). `PROT_NONE` splits it: the 4 KiB entries
    /// keep what `PROT_NONE` keeps.
    pub fn change_huge_pmd(&mut self, haddr: u64, access: bool, writable: bool, exec: bool, tlb: &mut TlbGather) {
        if !access {
            self.split_huge_pmd(UserAddr::new(haddr));
            return;
        }
        let Some((pmd, e)) = self.pmd_entry(haddr) else { return };
        if !is_huge(e) {
            return;
        }
        let w = writable && e & flags::SOFT_DIRTY != 0 && self.huge_exclusive(Pte(e).pfn());
        let mut new = e & !(flags::RW | flags::NX);
        if w {
            new |= flags::RW | flags::DIRTY;
        }
        if !exec {
            new |= flags::NX;
        }
        if new != e {
            self.mem.table(pmd)[table_index(haddr, 2)] = new;
            tlb.add(UserAddr::new(haddr));
        }
    }

    /// Splits the huge PMD covering `va`, if there is one, into a PTE
    /// table mapping the same pages with the same bits (Linux
    /// `__split_huge_pmd`). The page counts do not change.
    pub fn split_huge_pmd(&mut self, va: UserAddr) {
        let haddr = va.align_down(HPAGE_PMD_SIZE).as_u64();
        let Some((pmd, e)) = self.pmd_entry(haddr) else { return };
        if !is_huge(e) {
            return;
        }
        let Some(i) = self.deposited.iter().position(|&(a, _)| a == haddr) else {
            panic!("BUG: a huge PMD at {haddr:#x} without its deposited table");
        };
        let (_, table) = self.deposited.swap_remove(i);
        let head = Pte(e).pfn();
        split_large_folio(&self.mem, head);
        let bits = (e & !flags::PSE) & !ADDR_MASK;
        let t = self.mem.table(table);
        for (k, slot) in t.iter_mut().enumerate() {
            *slot = bits | (head + k as u64).phys().as_u64();
        }
        self.mem.table(pmd)[table_index(haddr, 2)] = table.as_u64() | PAGE_TABLE;
        // The huge translation goes with one `invlpg` anywhere in it.
        self.mem.flush_tlb_page(haddr);
        self.forget_last_pte_table();
        pmd_map_dec(&self.mem, head);
        self.nr_huge -= 1;
        THP_SPLIT_PMD.fetch_add(1, Relaxed);
    }

    /// The huge PMDs overlapping `[start, end)`: the address of each.
    fn huge_pmds_in(&self, start: u64, end: u64) -> alloc::vec::Vec<u64> {
        let mut found = alloc::vec::Vec::new();
        if self.nr_huge > 0 {
            self.walk_huge(start, end, &mut |va, _| found.push(va));
        }
        found
    }

    /// Splits the huge PMDs overlapping `[start, end)`; with `keep_whole`,
    /// those wholly inside it stay, and their addresses come back.
    pub fn split_huge_range(&mut self, start: UserAddr, end: UserAddr, keep_whole: bool) -> alloc::vec::Vec<u64> {
        let (start, end) = (start.as_u64(), end.as_u64());
        let mut whole = alloc::vec::Vec::new();
        for va in self.huge_pmds_in(start, end) {
            if keep_whole && va >= start && va + HPAGE_PMD_SIZE <= end {
                whole.push(va);
            } else {
                self.split_huge_pmd(UserAddr::new(va));
            }
        }
        whole
    }

    /// A look at the huge PMDs overlapping `[start, end)`:
    /// [`HugeReclaim::Cold`] takes the accessed bit of each, and moves a
    /// huge page only this PMD maps to the inactive list;
    /// [`HugeReclaim::Unshared`] splits those only this PMD maps, whose
    /// pages then go as 4 KiB pages. Ones that cross the range's edges are
    /// split.
    pub fn reclaim_huge_range(&mut self, start: UserAddr, end: UserAddr, how: HugeReclaim) {
        let (lo, hi) = (start.as_u64(), end.as_u64());
        for haddr in self.huge_pmds_in(lo, hi) {
            let Some((pmd, e)) = self.pmd_entry(haddr) else { continue };
            let whole = haddr >= lo && haddr + HPAGE_PMD_SIZE <= hi;
            let young = e & flags::ACCESSED != 0;
            let split = !whole
                || match how {
                    HugeReclaim::Cold => false,
                    HugeReclaim::Unshared => pmd_mapcount(&self.mem, Pte(e).pfn()) == 1,
                };
            if split {
                self.split_huge_pmd(UserAddr::new(haddr));
                continue;
            }
            if how != HugeReclaim::Cold {
                continue;
            }
            if young {
                self.mem.table(pmd)[table_index(haddr, 2)] = e & !flags::ACCESSED;
                self.mem.flush_tlb_page(haddr);
            }
            let head = Pte(e).pfn();
            if self.mem.page(head).mapcount() == 1 {
                crate::mm::lru::deactivate(&self.mem, head);
            }
        }
    }

    /// The page mapped at `va` (inside a huge page, its 4 KiB page there),
    /// reaching a PTE through the last-table cache; `None` where nothing
    /// is mapped. Unlike [`pte_slot`](Self::pte_slot), it never splits a
    /// huge page.
    pub fn mapped_pfn_at(&mut self, va: UserAddr) -> Option<Pfn> {
        if self.nr_huge > 0 {
            match self.huge_pmd_state(va) {
                HugePmd::Huge(pmd) => return Some(pmd.pfn() + ((va.as_u64() & (HPAGE_PMD_SIZE - 1)) >> 12)),
                HugePmd::None => return None,
                HugePmd::Table => {}
            }
        }
        let pte = self.pte_slot(va, false)?.get();
        pte.mapped().then(|| pte.pfn())
    }

    /// Whether the huge PMD over `va` was used since the last look, which
    /// takes its accessed bit (Linux `pmdp_clear_flush_young`); `false`
    /// where no huge PMD is.
    pub fn pmd_test_and_clear_young(&mut self, va: UserAddr) -> bool {
        let haddr = va.align_down(HPAGE_PMD_SIZE).as_u64();
        let Some((pmd, e)) = self.pmd_entry(haddr) else { return false };
        if !is_huge(e) || e & flags::ACCESSED == 0 {
            return false;
        }
        self.mem.table(pmd)[table_index(haddr, 2)] = e & !flags::ACCESSED;
        self.mem.flush_tlb_page(haddr);
        true
    }

    /// Unmaps the huge PMD at `haddr` whole (Linux `zap_huge_pmd`): each
    /// page loses the PMD's map count and reference.
    pub fn zap_huge_pmd(&mut self, haddr: u64, rss: &mut Rss, tlb: &mut TlbGather) {
        let Some((pmd, e)) = self.pmd_entry(haddr) else { return };
        if !is_huge(e) {
            return;
        }
        self.mem.table(pmd)[table_index(haddr, 2)] = 0;
        tlb.add(UserAddr::new(haddr));
        if let Some(i) = self.deposited.iter().position(|&(a, _)| a == haddr) {
            let (_, table) = self.deposited.swap_remove(i);
            self.free_table(table);
        }
        self.nr_huge -= 1;
        let head = Pte(e).pfn();
        pmd_map_dec(&self.mem, head);
        let mem = self.mem;
        let first = mem.page(head);
        if first.test(pg::LARGE) {
            rss.anon = rss.anon.saturating_sub(HPAGE_PMD_NR);
            first._mapcount.fetch_sub(1, Relaxed);
            if first.refcount() == 1 {
                // Off the LRU list while it still counts as 512 pages there.
                crate::mm::lru::release_if_last(&mem, head);
                first.clear(pg::ANON | pg::LARGE);
            }
            mem.put_huge_page(head);
            return;
        }
        for i in 0..HPAGE_PMD_NR {
            account_unmap(&mem, head + i, rss);
            page_remove_map(&mem, head + i);
        }
    }

    /// Fork's copy of the huge PMDs of `src` wholly inside `[start, end)`
    /// (the caller split the others): mapped here too, each page with one
    /// more reference and map count, write-protected in both with `cow`.
    /// False when out of memory for a table.
    pub fn copy_huge_pmds_from(&mut self, src: &mut Self, start: UserAddr, end: UserAddr, cow: bool, rss: &mut Rss, tlb: &mut TlbGather) -> bool {
        for haddr in src.huge_pmds_in(start.as_u64(), end.as_u64()) {
            let Some((src_pmd, e)) = src.pmd_entry(haddr) else { continue };
            let Some(deposit) = self.alloc_table() else { return false };
            let Ok(pmd) = self.populate_pmd(haddr) else {
                self.free_table(deposit);
                return false;
            };
            let e = if cow && e & flags::RW != 0 {
                let ro = e & !flags::RW;
                src.mem.table(src_pmd)[table_index(haddr, 2)] = ro;
                tlb.add(UserAddr::new(haddr));
                ro
            } else {
                e
            };
            let head = Pte(e).pfn();
            if self.mem.page(head).test(pg::LARGE) {
                page_add_map(self.mem.page(head));
            } else {
                for i in 0..HPAGE_PMD_NR {
                    page_add_map(self.mem.page(head + i));
                }
            }
            pmd_map_inc(&self.mem, head);
            self.mem.table(pmd)[table_index(haddr, 2)] = e;
            self.deposited.push((haddr, deposit));
            self.nr_huge += 1;
            rss.anon += HPAGE_PMD_NR;
        }
        true
    }

    /// Calls `f(va, entry)` for each huge PMD overlapping `[start, end)`,
    /// changing nothing (`smaps`, the rmap check).
    pub fn for_each_huge(&self, start: UserAddr, end: UserAddr, mut f: impl FnMut(UserAddr, Pte)) {
        if self.nr_huge > 0 {
            self.walk_huge(start.as_u64(), end.as_u64(), &mut |va, e| f(UserAddr::new(va), Pte(e)));
        }
    }
}
