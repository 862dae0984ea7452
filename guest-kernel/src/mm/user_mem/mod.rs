//! What a user address space is built from: [`UserMem`], the physical
//! memory and the MMU under the page tables, the fault path and reclaim.
//! The kernel's implementation is [`kernel`] (the buddy allocator, the
//! direct map, kmap, CR3); the host tests run the same code over
//! `FakeRam`.

use crate::mm::addr::{Pfn, PhysAddr};
use crate::mm::gfp::Gfp;
use crate::mm::page::Page;
use crate::mm::pgtable::Table;
use crate::mm::swapfile::SwapEntry;

#[cfg(target_os = "none")]
pub mod kernel;
#[cfg(target_os = "none")]
pub use kernel::{activate_kernel_tables, init, zero_pfn, KernelUserMem, LRUVEC};

/// The physical memory a user address space is built from, and the MMU it
/// is loaded into: pages for data and page tables, their descriptors, the
/// shared zero page and the TLB. The kernel's implementation
/// (`user_mem::kernel::KernelUserMem`) is the buddy allocator, the direct map and
/// kmap; the host tests' runs over `FakeRam`, so that faults, fork, COW,
/// mprotect, munmap, mremap and exit are tested with `cargo test`.
///
/// A value is a cheap handle (`Copy`): the fault path holds one while it
/// holds a PTE slot borrowed from the tables.
pub trait UserMem: Copy {
    /// A page; its allocation reference becomes the caller's. `None` when
    /// out of memory.
    fn alloc_page(&self, gfp: Gfp) -> Option<Pfn>;
    /// A naturally aligned block of 512 pages for a transparent huge page,
    /// whose first page alone is set up ([`prep_large_folio`]): anonymous
    /// memory about to be mapped once, holding the allocation reference
    /// for all 512. `None` when no such block is free; memory that never
    /// has huge blocks keeps this default.
    ///
    /// [`prep_large_folio`]: crate::mm::huge_memory::prep_large_folio
    fn alloc_huge_page(&self, gfp: Gfp) -> Option<Pfn> {
        let _ = gfp;
        None
    }
    /// Drops one reference to the huge page at `head` while its first page
    /// holds the counts of all 512, freeing the whole block with the last
    /// (Linux `folio_put` of a large folio), after taking it off its LRU
    /// list.
    #[inline]
    fn put_huge_page(&self, head: Pfn) {
        crate::mm::lru::release_if_last(self, head);
        self.free_huge_page_ref(head);
    }
    /// Drops one reference to the page, freeing it with the last (Linux
    /// `put_page` for an order-0 page), after taking it off its LRU list.
    #[inline]
    fn put_page(&self, pfn: Pfn) {
        crate::mm::lru::release_if_last(self, pfn);
        self.free_page_ref(pfn);
    }
    /// The allocator's half of [`put_huge_page`](Self::put_huge_page).
    fn free_huge_page_ref(&self, head: Pfn);
    /// The allocator's half of [`put_page`](Self::put_page).
    fn free_page_ref(&self, pfn: Pfn);
    /// The LRU lists of this memory's node; `None` where pages are not
    /// reclaimed.
    fn lruvec(&self) -> Option<&crate::sync::SpinLock<crate::mm::lru::Lruvec>> {
        None
    }
    /// The page's descriptor.
    fn page(&self, pfn: Pfn) -> &Page;
    /// The page-table page at `pa` (allocated here, zeroed, never HighMem).
    fn table(&mut self, pa: PhysAddr) -> &mut Table;
    /// Copies the contents of `src` into `dst` (either may be HighMem).
    fn copy_page(&self, dst: Pfn, src: Pfn);
    /// Copies bytes `offset..offset + buf.len()` of the page into `buf`.
    fn read_page(&self, pfn: Pfn, offset: usize, buf: &mut [u8]);
    /// The shared zero page (Linux `ZERO_PAGE(0)`).
    fn zero_pfn(&self) -> Pfn;
    /// Fills what every address space shares into a new, zeroed PGD (the
    /// kernel half) and returns the page to map read-only and executable at
    /// a fixed user address, outside any VMA (the system-call trampoline).
    fn init_pgd(&mut self, pgd: PhysAddr) -> Option<Option<(u64, Pfn)>>;
    /// Forgets any cached translation of `va` (Linux `flush_tlb_page`).
    fn flush_tlb_page(&self, va: u64);
    /// Forgets every cached user translation (Linux `flush_tlb_mm`).
    fn flush_tlb_mm(&self);
    /// Loads the tables rooted at `pgd` (Linux `switch_mm`).
    fn activate(&self, pgd: PhysAddr);
    /// Before the tables rooted at `pgd` are freed: if they are loaded,
    /// load the kernel's own instead.
    fn deactivate(&self, pgd: PhysAddr);
    /// A free swap slot, held by one reference (Linux `get_swap_page`);
    /// `None` without swap space.
    fn get_swap_page(&self) -> Option<SwapEntry> {
        None
    }
    /// Writes the page to slot `e`; false on an I/O error.
    fn swap_writepage(&self, e: SwapEntry, pfn: Pfn) -> bool {
        let _ = (e, pfn);
        false
    }
    /// Writes the page to a free swap slot and returns the slot, held by
    /// one reference; `None` without swap space or on an I/O error.
    fn swap_out(&self, pfn: Pfn) -> Option<SwapEntry> {
        let e = self.get_swap_page()?;
        if self.swap_writepage(e, pfn) {
            Some(e)
        } else {
            self.swap_free(e);
            None
        }
    }
    /// How many references slot `e` has: its PTEs, and one for the swap
    /// cache when a page is there (Linux `__swap_count`).
    fn swap_count(&self, e: SwapEntry) -> u64 {
        let _ = e;
        0
    }
    /// The swap cache's index: the page holding slot `e`'s data, if one
    /// does (Linux `swap_cache_get_folio`).
    fn swap_cache_find(&self, e: SwapEntry) -> Option<Pfn> {
        let _ = e;
        None
    }
    /// Records that `pfn` holds slot `e`'s data.
    fn swap_cache_insert(&self, e: SwapEntry, pfn: Pfn) {
        let _ = (e, pfn);
    }
    /// Forgets the page of slot `e`.
    fn swap_cache_remove(&self, e: SwapEntry) {
        let _ = e;
    }
    /// Reads slot `e` into the page; false on an I/O error.
    fn swap_in(&self, e: SwapEntry, pfn: Pfn) -> bool {
        let _ = (e, pfn);
        false
    }
    /// Reads the consecutive slots from `first` on into the pages, in as
    /// few device requests as it can; false on an I/O error.
    fn swap_in_pages(&self, first: SwapEntry, pfns: &[Pfn]) -> bool {
        pfns.iter().enumerate().all(|(i, &pfn)| self.swap_in(SwapEntry { typ: first.typ, offset: first.offset + i as u64 }, pfn))
    }
    /// Remembers that readahead put slot `e`'s page into the swap cache,
    /// so that reclaim can find it while no fault has used it; returns a
    /// slot it forgot to make room (its page is then dropped if unused).
    /// This default remembers nothing: `e` comes straight back.
    fn swap_ra_note(&self, e: SwapEntry) -> Option<SwapEntry> {
        Some(e)
    }
    /// The oldest slot [`swap_ra_note`](Self::swap_ra_note) remembers,
    /// forgotten.
    fn swap_ra_pop(&self) -> Option<SwapEntry> {
        None
    }
    /// The workingset clock and the shadows of evicted pages: `None` (this
    /// default) detects no refaults.
    fn workingset(&self) -> Option<&crate::mm::swapfile::Workingset> {
        None
    }
    /// Records the shadow of slot `e`'s evicted page, taken at clock `age`.
    fn swap_shadow_store(&self, e: SwapEntry, age: u64) {
        let _ = (e, age);
    }
    /// Takes slot `e`'s shadow, if its page was evicted.
    fn swap_shadow_take(&self, e: SwapEntry) -> Option<u64> {
        let _ = e;
        None
    }
    /// What decides the readahead window; `None` (this default): no
    /// readahead.
    fn swap_ra_state(&self) -> Option<&crate::mm::swapfile::SwapRaState> {
        None
    }
    /// One more PTE names slot `e` (fork).
    fn swap_dup(&self, e: SwapEntry) {
        let _ = e;
    }
    /// One PTE less names slot `e`, which is free after the last.
    fn swap_free(&self, e: SwapEntry) {
        let _ = e;
    }
}

impl<M: UserMem> crate::mm::lru::LruMem for M {
    #[inline(always)]
    fn lru_page(&self, pfn: Pfn) -> &Page {
        self.page(pfn)
    }
    #[inline(always)]
    fn lru_lists(&self) -> Option<&crate::sync::SpinLock<crate::mm::lru::Lruvec>> {
        self.lruvec()
    }
}
