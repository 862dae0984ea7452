//! The kernel's [`UserMem`]: what user address spaces are built from in
//! the guest. Pages come from the buddy allocator, page tables are reached
//! through the direct map, HighMem data pages through `kmap_local`, and the
//! TLB and CR3 through the arch layer. This is the thin, `unsafe` layer
//! under the page-table and fault code of `mm::uvm` and `mm::memory`,
//! which are plain Rust tested on the host over `FakeRam`.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::UserMem;
use crate::arch::cpu;
use crate::arch::pgtable::{ADDR_MASK, ENTRIES_PER_TABLE};
use crate::arch::user::{SYSCALL_TRAMPOLINE, TRAMPOLINE_CODE};
use crate::mm::addr::{Pfn, PhysAddr};
use crate::mm::buddy::{__free_pages, alloc_page, page_to_pfn, pfn_to_page};
use crate::mm::gfp::{Gfp, __GFP_ZERO, GFP_KERNEL};
use crate::mm::highmem::KmapLocal;
use crate::mm::page::{pg, Page};
use crate::mm::pgtable::{PageTableMemory, Table};
use crate::mm::vmalloc::{kernel_pgd, KernelPageTables};

/// First PGD slot of the kernel half.
const KERNEL_PGD_FIRST: usize = ENTRIES_PER_TABLE / 2;

/// The zero page's PFN once [`init`] ran (0 before: no user PTE exists
/// yet). A plain load: `set_pte` checks against it on every PTE write.
static ZERO_PFN: AtomicU64 = AtomicU64::new(0);
/// The page holding the system-call trampoline (0 before [`init`]).
static TRAMPOLINE_PFN: AtomicU64 = AtomicU64::new(0);

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
    ZERO_PFN.store(page_to_pfn(zero).as_u64(), Relaxed);
    TRAMPOLINE_PFN.store(page_to_pfn(tramp).as_u64(), Relaxed);
}

/// The shared zero page (Linux `ZERO_PAGE(0)`).
#[inline]
pub fn zero_pfn() -> Pfn {
    Pfn::new(ZERO_PFN.load(Relaxed))
}

/// Loads the kernel's own page tables (before an address space is torn
/// down, or when no task's is wanted).
pub fn activate_kernel_tables() {
    // SAFETY: the kernel's tables map everything the kernel uses and are never freed.
    unsafe { cpu::write_cr3(kernel_pgd().as_u64()) };
}

/// User memory in the guest (a handle: all state is the kernel's).
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelUserMem;

/// The LRU lists of the one node.
pub static LRUVEC: crate::sync::SpinLock<crate::mm::lru::Lruvec> = crate::sync::SpinLock::new(crate::mm::lru::Lruvec::new());

impl UserMem for KernelUserMem {
    #[inline]
    fn alloc_page(&self, gfp: Gfp) -> Option<Pfn> {
        alloc_page(gfp).map(page_to_pfn)
    }

    fn alloc_huge_page(&self, gfp: Gfp) -> Option<Pfn> {
        let alloc = crate::mm::buddy::page_alloc();
        let head = alloc.alloc_pages(gfp, crate::mm::huge_memory::HPAGE_PMD_ORDER)?;
        crate::mm::huge_memory::prep_large_folio(alloc.page(head));
        Some(head)
    }

    fn free_huge_page_ref(&self, head: Pfn) {
        __free_pages(pfn_to_page(head), crate::mm::huge_memory::HPAGE_PMD_ORDER);
    }

    #[inline]
    fn free_page_ref(&self, pfn: Pfn) {
        __free_pages(pfn_to_page(pfn), 0);
    }

    #[inline]
    fn lruvec(&self) -> Option<&crate::sync::SpinLock<crate::mm::lru::Lruvec>> {
        Some(&LRUVEC)
    }

    #[inline]
    fn page(&self, pfn: Pfn) -> &Page {
        pfn_to_page(pfn)
    }

    #[inline]
    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        // SAFETY: user page-table pages are lowmem pages this address space allocated (or its PGD), reached through the direct map; one CPU with interrupts off is the only writer, and the borrow of the handle keeps the caller from holding two of the same table.
        unsafe { &mut *crate::mm::addr::__va(pa).as_mut_ptr::<Table>() }
    }

    fn copy_page(&self, dst: Pfn, src: Pfn) {
        crate::mm::physmem::copy_frame(dst, src);
    }

    fn read_page(&self, pfn: Pfn, offset: usize, buf: &mut [u8]) {
        KmapLocal::new(pfn_to_page(pfn)).read(offset, buf);
    }

    #[inline]
    fn zero_pfn(&self) -> Pfn {
        zero_pfn()
    }

    fn init_pgd(&mut self, pgd: PhysAddr) -> Option<Option<(u64, Pfn)>> {
        let mut mem = KernelPageTables;
        let src: [u64; ENTRIES_PER_TABLE / 2] = mem.table(kernel_pgd())[KERNEL_PGD_FIRST..].try_into().ok()?;
        mem.table(pgd)[KERNEL_PGD_FIRST..].copy_from_slice(&src);
        let tramp = TRAMPOLINE_PFN.load(Relaxed);
        Some((tramp != 0).then_some((SYSCALL_TRAMPOLINE, Pfn::new(tramp))))
    }

    #[inline]
    fn flush_tlb_page(&self, va: u64) {
        cpu::invlpg(va);
    }

    fn flush_tlb_mm(&self) {
        cpu::write_cr3_reload();
    }

    fn activate(&self, pgd: PhysAddr) {
        // SAFETY: every user PGD shares the kernel half (`init_pgd`), so the kernel keeps running; the tables cannot be freed while loaded (`deactivate` runs first).
        unsafe { cpu::write_cr3(pgd.as_u64()) };
    }

    fn deactivate(&self, pgd: PhysAddr) {
        if cpu::read_cr3() & ADDR_MASK == pgd.as_u64() {
            activate_kernel_tables();
        }
    }

    fn get_swap_page(&self) -> Option<crate::mm::uvm::SwapEntry> {
        crate::mm::swapfile::get_swap_page()
    }

    fn swap_writepage(&self, e: crate::mm::uvm::SwapEntry, pfn: Pfn) -> bool {
        crate::mm::swapfile::write_page(e, pfn.phys().as_u64())
    }

    fn swap_count(&self, e: crate::mm::uvm::SwapEntry) -> u64 {
        crate::mm::swapfile::swap_count(e)
    }

    fn swap_cache_find(&self, e: crate::mm::uvm::SwapEntry) -> Option<Pfn> {
        crate::mm::swapfile::swap_cache_find(e)
    }

    fn swap_cache_insert(&self, e: crate::mm::uvm::SwapEntry, pfn: Pfn) {
        crate::mm::swapfile::swap_cache_insert(e, pfn);
    }

    fn swap_cache_remove(&self, e: crate::mm::uvm::SwapEntry) {
        crate::mm::swapfile::swap_cache_remove(e);
    }

    fn swap_in(&self, e: crate::mm::uvm::SwapEntry, pfn: Pfn) -> bool {
        crate::mm::swapfile::read_pages(e, &[pfn.phys().as_u64()])
    }

    fn swap_in_pages(&self, first: crate::mm::uvm::SwapEntry, pfns: &[Pfn]) -> bool {
        let mut phys = [0u64; crate::mm::swap_state::SWAP_RA_MAX];
        pfns.chunks(phys.len()).enumerate().all(|(i, chunk)| {
            for (p, pfn) in phys.iter_mut().zip(chunk) {
                *p = pfn.phys().as_u64();
            }
            let at = crate::mm::uvm::SwapEntry { typ: first.typ, offset: first.offset + (i * phys.len()) as u64 };
            crate::mm::swapfile::read_pages(at, &phys[..chunk.len()])
        })
    }

    fn swap_ra_note(&self, e: crate::mm::uvm::SwapEntry) -> Option<crate::mm::uvm::SwapEntry> {
        crate::mm::swapfile::readahead_note(e)
    }

    fn swap_ra_pop(&self) -> Option<crate::mm::uvm::SwapEntry> {
        crate::mm::swapfile::readahead_pop()
    }

    fn workingset(&self) -> Option<&crate::mm::swapfile::Workingset> {
        /// What a refault is measured against, as Linux's
        /// `workingset_test_recent` measures an anonymous one with swap:
        /// the active list (the file lists, which Linux adds, hold nothing
        /// here: the page cache lives in RAM for good).
        fn workingset_size() -> u64 {
            LRUVEC.lock().len(crate::mm::lru::LruList::ActiveAnon)
        }
        static WORKINGSET: crate::mm::swapfile::Workingset = crate::mm::swapfile::Workingset::new(workingset_size);
        Some(&WORKINGSET)
    }

    fn swap_shadow_store(&self, e: crate::mm::uvm::SwapEntry, age: u64) {
        crate::mm::swapfile::shadow_store(e, age);
    }

    fn swap_shadow_take(&self, e: crate::mm::uvm::SwapEntry) -> Option<u64> {
        crate::mm::swapfile::shadow_take(e)
    }

    fn swap_ra_state(&self) -> Option<&crate::mm::swapfile::SwapRaState> {
        static STATE: crate::mm::swapfile::SwapRaState = crate::mm::swapfile::SwapRaState::new();
        Some(&STATE)
    }

    fn swap_dup(&self, e: crate::mm::uvm::SwapEntry) {
        crate::mm::swapfile::swap_duplicate(e);
    }

    fn swap_free(&self, e: crate::mm::uvm::SwapEntry) {
        crate::mm::swapfile::swap_free(e);
    }
}
