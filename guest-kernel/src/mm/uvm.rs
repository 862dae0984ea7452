//! A process's page tables: its own PGD with the kernel half shared, the
//! user half filled in by page faults, and the page reference counts and
//! RSS counters that go with every PTE (Linux `mm/memory.c`'s PTE layer).
//!
//! Pages mapped in user space are of three kinds, told apart by their
//! `struct page`: anonymous pages (`pg::ANON`, owned by the mappings that
//! map them), the shared zero page (reserved, never freed), and file pages
//! (owned by the file; a mapping holds a reference). Every PTE holds one
//! reference (`_refcount`) and one map count (`_mapcount`) on its page.

use core::sync::atomic::Ordering::Relaxed;

use crate::arch::cpu::invlpg;
use crate::arch::pgtable::{flags, table_index, ADDR_MASK, ENTRIES_PER_TABLE};
use crate::arch::user::{SYSCALL_TRAMPOLINE, TRAMPOLINE_CODE};
use crate::mm::addr::{Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::mm::buddy::{__free_pages, alloc_page, page_to_pfn, pfn_to_page};
use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
use crate::mm::highmem::KmapLocal;
use crate::mm::memory::{protect_writable, PageKind};
use crate::mm::page::{pg, Page};
use crate::mm::pgtable::{populate_pte_table, PageTableMemory, Table};
use crate::mm::vmalloc::{kernel_pgd, KernelPageTables};
use crate::sync::Once;

/// A software PTE bit (ignored by the CPU): a page kept but made
/// inaccessible by `PROT_NONE`, with PRESENT clear (Linux `_PAGE_PROTNONE`).
pub const PTE_PROTNONE: u64 = 1 << 9;

/// Whether a PTE holds a page (accessible or `PROT_NONE`).
pub fn pte_mapped(pte: u64) -> bool {
    pte & (flags::PRESENT | PTE_PROTNONE) != 0
}

/// First PGD slot of the kernel half.
const KERNEL_PGD_FIRST: usize = ENTRIES_PER_TABLE / 2;

/// RSS counters (Linux `MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SHMEMPAGES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rss {
    pub file: u64,
    pub anon: u64,
    pub shmem: u64,
}

impl Rss {
    pub fn total(&self) -> u64 {
        self.file + self.anon + self.shmem
    }
}

struct Special {
    trampoline_pfn: u64,
}

static SPECIAL: Once<Special> = Once::new();

/// Allocates the shared zero page and the system-call trampoline page.
pub fn init() {
    let zero = alloc_page(GFP_KERNEL | __GFP_ZERO).expect("no memory for the zero page");
    let tramp = alloc_page(GFP_KERNEL | __GFP_ZERO).expect("no memory for the syscall trampoline");
    zero.set(pg::RESERVED);
    tramp.set(pg::RESERVED);
    {
        let map = KmapLocal::new(tramp);
        // SAFETY: a fresh page, mapped for the copy; the code is 5 bytes.
        unsafe { core::ptr::copy_nonoverlapping(TRAMPOLINE_CODE.as_ptr(), map.as_mut_ptr(), TRAMPOLINE_CODE.len()) };
    }
    ZERO_PFN.store(page_to_pfn(zero).0, Relaxed);
    let _ = SPECIAL.set(Special { trampoline_pfn: page_to_pfn(tramp).0 });
}

/// The zero page's PFN once [`init`] ran (0 before: no user PTE exists
/// yet). A plain load: [`set_pte`] checks against it on every PTE write.
static ZERO_PFN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The shared zero page (Linux `ZERO_PAGE(0)`).
#[inline]
pub fn zero_pfn() -> u64 {
    ZERO_PFN.load(Relaxed)
}

/// Leaf protection for a user page.
pub fn user_pte_flags(writable: bool, exec: bool) -> u64 {
    let mut f = flags::PRESENT | flags::USER | flags::ACCESSED;
    if writable {
        f |= flags::RW | flags::DIRTY;
    }
    if !exec {
        f |= flags::NX;
    }
    f
}

/// Whether a mapped page is anonymous (owned by the mappings that map it).
pub fn is_anon(page: &Page) -> bool {
    page.test(pg::ANON)
}

/// What a present PTE maps, for `mm::memory`'s decisions.
pub fn page_kind(page: &Page) -> PageKind {
    if page_to_pfn(page).0 == zero_pfn() {
        PageKind::Zero
    } else if is_anon(page) {
        PageKind::Anon { exclusive: page.mapcount() == 1 && page.refcount() == 1 }
    } else {
        PageKind::Object
    }
}

/// Writes a user PTE. Every path that makes or changes a user PTE comes
/// here, so this is where the rule the isolation of processes rests on is
/// enforced: the shared zero page is never mapped writable (a write
/// through such a PTE would show up in every process's fresh anonymous
/// memory). Breaking it is a kernel bug, and the kernel stops rather than
/// let the write through.
#[inline]
pub fn set_pte(slot: &mut u64, pte: u64) {
    if pte & (flags::RW | flags::PRESENT) == flags::RW | flags::PRESENT && (pte & ADDR_MASK) >> 12 == zero_pfn() {
        writable_zero_page_pte(pte);
    }
    *slot = pte;
}

/// Out of line, so that the check in [`set_pte`] stays a few instructions
/// on the fault path.
#[cold]
#[inline(never)]
fn writable_zero_page_pte(pte: u64) -> ! {
    panic!("BUG: a writable PTE for the zero page ({pte:#x})");
}

/// Takes a reference and a map count for a new PTE.
pub fn page_add_map(page: &Page) {
    page._refcount.fetch_add(1, Relaxed);
    page._mapcount.fetch_add(1, Relaxed);
}

/// Drops what [`page_add_map`] took (and frees a page that was only
/// referenced by this mapping).
pub fn page_remove_map(page: &Page) {
    page._mapcount.fetch_sub(1, Relaxed);
    if page.refcount() == 1 && is_anon(page) {
        // The last user of an anonymous page: no longer anonymous once free.
        page.clear(pg::ANON);
    }
    __free_pages(page, 0);
}

/// A user address space's page tables.
pub struct UserPageTables {
    pgd: PhysAddr,
    /// Page-table pages below the PGD (for `VmPTE`).
    pub nr_tables: u64,
    /// Every table page below the PGD, so that teardown frees them without
    /// scanning tables (each scanned entry costs microseconds where ring 0
    /// is emulated).
    tables: alloc::vec::Vec<PhysAddr>,
}

impl UserPageTables {
    /// A PGD sharing the kernel half of the kernel's (Linux `pgd_alloc`),
    /// with the system-call trampoline mapped at the top of the user half.
    pub fn new() -> Option<Self> {
        let pgd_page = alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        let pgd = page_to_pfn(pgd_page).phys();
        {
            let kernel = kernel_pgd();
            let mut mem = KernelPageTables;
            let src: [u64; ENTRIES_PER_TABLE / 2] = mem.table(kernel)[KERNEL_PGD_FIRST..].try_into().ok()?;
            mem.table(pgd)[KERNEL_PGD_FIRST..].copy_from_slice(&src);
        }
        let mut pt = Self { pgd, nr_tables: 0, tables: alloc::vec::Vec::new() };
        let tramp = SPECIAL.get()?.trampoline_pfn;
        let slot = pt.pte_slot(SYSCALL_TRAMPOLINE, true)?;
        // Executable, read-only, user: not part of any VMA and never freed.
        set_pte(slot, Pfn(tramp).phys().0 | user_pte_flags(false, true));
        Some(pt)
    }

    pub fn pgd(&self) -> PhysAddr {
        self.pgd
    }

    /// The PTE for `va`, creating the tables above it when `create`
    /// (`None`: no table, or out of memory while creating one).
    /// The slot is borrowed from the tables: nothing else can change them
    /// (or free them) while it is held.
    pub fn pte_slot(&mut self, va: u64, create: bool) -> Option<&mut u64> {
        let table = if create {
            let mut counting = CountingTables { tables: &mut self.tables };
            let t = populate_pte_table(&mut counting, self.pgd, VirtAddr(va)).ok()?;
            self.nr_tables = self.tables.len() as u64;
            t
        } else {
            self.walk(va)?
        };
        // SAFETY: `table` is one of this address space's lowmem page-table pages, reached through the direct map; one CPU with interrupts off is the
        // only writer.
        Some(unsafe { &mut (*crate::mm::addr::__va(table).as_mut_ptr::<Table>())[table_index(va, 1)] })
    }

    /// The PTE table covering `va`, if there is one.
    fn walk(&self, va: u64) -> Option<PhysAddr> {
        self.walk_or_skip(va).ok()
    }

    /// The PTE table covering `va`, or where the next one could start: the
    /// end of the region the missing upper-level entry covers.
    fn walk_or_skip(&self, va: u64) -> Result<PhysAddr, u64> {
        self.walk_level(va, 1)
    }

    /// The PTE for `va` if it holds a page (see [`pte_mapped`]).
    pub fn lookup(&self, va: u64) -> Option<u64> {
        let table = self.walk(va)?;
        let pte = KernelPageTables.table(table)[table_index(va, 1)];
        pte_mapped(pte).then_some(pte)
    }

    /// Calls `f(va, table)` for each PTE table under `[start, end)`, in
    /// address order: `va` is where the range enters the 2 MiB the table
    /// maps. Missing entries are skipped at every level (Linux's
    /// `p?d_none_or_clear_bad` loops), so the cost follows the populated
    /// tables, not the size of the range.
    fn for_each_pte_table(&self, start: u64, end: u64, f: &mut impl FnMut(u64, PhysAddr)) {
        let end = end.min(1 << 47);
        if start < end {
            Self::walk_range(self.pgd, 4, start, end, f);
        }
    }

    /// The entries of `table` (at `level`) under `[start, end)`, which lies
    /// inside the span the table maps: a tight scan over the slice, since
    /// where ring 0 is emulated each instruction of it is paid per entry.
    fn walk_range(table: PhysAddr, level: u32, start: u64, end: u64, f: &mut impl FnMut(u64, PhysAddr)) {
        let shift = crate::arch::pgtable::level_shift(level);
        let base = start & !((1u64 << (shift + 9)) - 1);
        let (first, last) = (table_index(start, level), table_index(end - 1, level));
        let mut mem = KernelPageTables;
        let entries: &Table = mem.table(table);
        for (i, &entry) in entries.iter().enumerate().take(last + 1).skip(first) {
            if entry & flags::PRESENT == 0 || entry & flags::PSE != 0 {
                continue;
            }
            let lo = start.max(base + ((i as u64) << shift));
            let hi = end.min(base + ((i as u64 + 1) << shift));
            let below = PhysAddr(entry & ADDR_MASK);
            if level == 2 {
                f(lo, below);
            } else {
                Self::walk_range(below, level - 1, lo, hi, f);
            }
        }
    }

    /// Calls `f(va, pte)` for each PTE in `[start, end)` that holds a page
    /// (present or `PROT_NONE`), visiting only populated tables.
    pub fn for_each_present(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, &mut u64)) {
        self.for_each_pte_table(start, end, &mut |va, table| {
            let mut mem = KernelPageTables;
            let t = mem.table(table);
            let stop = end.min((va | ((1 << 21) - 1)) + 1);
            let mut va = va;
            while va < stop {
                let e = &mut t[table_index(va, 1)];
                if pte_mapped(*e) {
                    f(va, e);
                }
                va += PAGE_SIZE;
            }
        });
    }

    /// Unmaps `[start, end)`: every page loses its map count and reference
    /// and leaves the RSS (Linux `zap_page_range`).
    pub fn unmap(&mut self, start: u64, end: u64, rss: &mut Rss) {
        self.for_each_present(start, end, |va, e| {
            let page = pfn_to_page(Pfn((*e & ADDR_MASK) >> 12));
            *e = 0;
            invlpg(va);
            account_unmap(page, rss);
            page_remove_map(page);
        });
    }

    /// Changes the protection of what is mapped in `[start, end)`. Write
    /// permission is only given to anonymous pages this mapping owns alone,
    /// and only to pages written since the last soft-dirty reset;
    /// anything else stays read-only and faults on the first write (a
    /// copy, or the soft-dirty bit: Linux's write-notify). With no access
    /// at all the pages stay but become not-present. The soft-dirty bit
    /// stays as it was.
    pub fn protect(&mut self, start: u64, end: u64, access: bool, writable: bool, exec: bool) {
        self.for_each_present(start, end, |va, e| {
            let page = pfn_to_page(Pfn((*e & ADDR_MASK) >> 12));
            let dirty = *e & flags::SOFT_DIRTY;
            let w = protect_writable(writable, page_kind(page)) && dirty != 0;
            set_pte(e, (*e & ADDR_MASK) | dirty | if access { user_pte_flags(w, exec) } else { PTE_PROTNONE });
            invlpg(va);
        });
    }

    /// Moves the PTEs of `[old, old + len)` to `[new, new + len)` (mremap,
    /// Linux `move_page_tables`). The destination must be unmapped. The
    /// walk visits only populated tables, so the cost follows what is
    /// mapped, not the size of the range: missing upper-level entries are
    /// skipped whole, and where source and destination are both 2 MiB
    /// aligned over a whole PTE table the table itself moves, as one PMD
    /// entry (Linux `move_normal_pmd`). Returns false when out of memory
    /// for page tables (what moved so far stays moved, as Linux does).
    pub fn move_range(&mut self, old: u64, new: u64, len: u64) -> bool {
        const PMD_SIZE: u64 = 1 << 21;
        let end = old + len;
        // The populated tables first: moving creates tables on the way.
        let mut tables = alloc::vec::Vec::new();
        self.for_each_pte_table(old, end, &mut |va, table| tables.push((va, table)));
        let mut moved_tables = false;
        for (start, src_table) in tables {
            let dst_va = new + (start - old);
            let whole = start % PMD_SIZE == 0 && dst_va.is_multiple_of(PMD_SIZE) && end - start >= PMD_SIZE;
            if whole && self.move_pte_table(start, dst_va, src_table) {
                moved_tables = true;
                continue;
            }
            let stop = end.min((start | (PMD_SIZE - 1)) + 1);
            let mut va = start;
            while va < stop {
                let pte = KernelPageTables.table(src_table)[table_index(va, 1)];
                if pte_mapped(pte) {
                    let Some(dst) = self.pte_slot(new + (va - old), true) else { return false };
                    set_pte(dst, pte);
                    KernelPageTables.table(src_table)[table_index(va, 1)] = 0;
                    invlpg(va);
                }
                va += PAGE_SIZE;
            }
        }
        if moved_tables {
            // The old addresses of a whole table's pages: one flush.
            crate::arch::cpu::write_cr3_reload();
        }
        true
    }

    /// Moves the PTE table `table` (mapping the 2 MiB at `old`) to map the
    /// 2 MiB at `new`, if no table is there yet. Returns whether it moved.
    fn move_pte_table(&mut self, old: u64, new: u64, table: PhysAddr) -> bool {
        let mut counting = CountingTables { tables: &mut self.tables };
        let Ok(dst_pmd) = crate::mm::pgtable::populate_table(&mut counting, self.pgd, VirtAddr(new), 2) else { return false };
        self.nr_tables = self.tables.len() as u64;
        let Ok(src_pmd) = self.walk_level(old, 2) else { return false };
        let mut mem = KernelPageTables;
        if mem.table(dst_pmd)[table_index(new, 2)] & flags::PRESENT != 0 {
            return false;
        }
        let entry = mem.table(src_pmd)[table_index(old, 2)];
        debug_assert_eq!(entry & ADDR_MASK, table.0);
        mem.table(dst_pmd)[table_index(new, 2)] = entry;
        mem.table(src_pmd)[table_index(old, 2)] = 0;
        true
    }

    /// The table at `level` (2: PMD, 3: PUD) covering `va`, or where the
    /// next one could start.
    fn walk_level(&self, va: u64, level: u32) -> Result<PhysAddr, u64> {
        let mut table = self.pgd;
        for l in (level + 1..=4).rev() {
            let entry = KernelPageTables.table(table)[table_index(va, l)];
            if entry & flags::PRESENT == 0 || entry & flags::PSE != 0 {
                let span = 1u64 << crate::arch::pgtable::level_shift(l);
                return Err((va | (span - 1)).saturating_add(1));
            }
            table = PhysAddr(entry & ADDR_MASK);
        }
        Ok(table)
    }

    /// Loads these tables into CR3 (Linux `switch_mm`).
    pub fn activate(&self) {
        // SAFETY: every user PGD shares the kernel half (see `new`), so the kernel keeps running; the tables cannot be freed while loaded (`destroy` switches first).
        unsafe { crate::arch::cpu::write_cr3(self.pgd.as_u64()) };
    }

    /// Frees the page tables (Linux `free_pgtables`); the caller has
    /// unmapped every page (VMA by VMA, as `exit_mmap` does). The
    /// trampoline and the kernel half are not ours. Tables still loaded are
    /// left for the kernel's own first.
    pub fn destroy(self) {
        if crate::arch::cpu::read_cr3() & ADDR_MASK == self.pgd.as_u64() {
            activate_kernel_tables();
        }
        for &t in &self.tables {
            free_table(t);
        }
        free_table(self.pgd);
    }
}

fn free_table(pa: PhysAddr) {
    __free_pages(pfn_to_page(pa.pfn()), 0);
}

/// Loads the kernel's own page tables (before an address space is torn
/// down, or when no task's is wanted).
pub fn activate_kernel_tables() {
    // SAFETY: the kernel's tables map everything the kernel uses and are
    // never freed.
    unsafe { crate::arch::cpu::write_cr3(kernel_pgd().as_u64()) };
}

/// RSS bookkeeping when a PTE for `page` goes away.
pub fn account_unmap(page: &Page, rss: &mut Rss) {
    if is_anon(page) {
        rss.anon = rss.anon.saturating_sub(1);
    } else if page.test(pg::SHMEM) {
        rss.shmem = rss.shmem.saturating_sub(1);
    } else if page_to_pfn(page).0 != zero_pfn() {
        rss.file = rss.file.saturating_sub(1);
    }
}

/// Counts a newly mapped page in `rss` (the inverse of [`account_unmap`]).
pub fn account_map(page: &Page, rss: &mut Rss) {
    if is_anon(page) {
        rss.anon += 1;
    } else if page.test(pg::SHMEM) {
        rss.shmem += 1;
    } else if page_to_pfn(page).0 != zero_pfn() {
        rss.file += 1;
    }
}

/// Copies one page's contents to another, either of which may be HighMem.
pub fn copy_user_page(dst: &Page, src: &Page) {
    let d = KmapLocal::new(dst);
    let s = KmapLocal::new(src);
    // SAFETY: both pages are mapped for the copy and distinct; `dst` is a
    // fresh page nobody else sees yet.
    unsafe { core::ptr::copy_nonoverlapping(s.as_mut_ptr() as *const u64, d.as_mut_ptr() as *mut u64, 512) };
}

/// Page-table pages for a user address space, recorded as they are
/// created.
struct CountingTables<'a> {
    tables: &'a mut alloc::vec::Vec<PhysAddr>,
}

impl PageTableMemory for CountingTables<'_> {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        // Not KernelPageTables::alloc_table: that counts kernel tables,
        // which are never freed; these are.
        let pa = page_to_pfn(alloc_page(GFP_KERNEL | __GFP_ZERO)?).phys();
        self.tables.push(pa);
        Some(pa)
    }
    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        // SAFETY: `pa` is a page-table page in lowmem (direct-mapped) that
        // this address space's walk reached or just allocated.
        unsafe { &mut *crate::mm::addr::__va(pa).as_mut_ptr::<Table>() }
    }
}
