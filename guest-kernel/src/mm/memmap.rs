//! The memory map in the kernel: `struct page`s in a virtually contiguous
//! array at `VMEMMAP_START` (Linux's vmemmap), and the conversions between
//! a page, its PFN and its direct-map address (Linux's memory model).
//!
//! ```text
//! VMEMMAP_START 0xffff_ea00_0000_0000 + pfn * 32  ->  struct page of pfn
//! ```
//! Only max-order blocks that contain RAM have backing (sparse: holes cost
//! nothing); within such a block every descriptor exists, so the buddy
//! allocator may look at any buddy it computes. The backing comes from
//! memblock at boot and is never written there: guest RAM reads as zero at
//! entry, and an all-zero `struct page` means "not initialised yet".

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::{__pa, __va, Pfn, VirtAddr};
use crate::mm::page::Page;
use crate::mm::zone::MAX_ORDER_NR_PAGES;

pub const VMEMMAP_START: u64 = 0xffff_ea00_0000_0000;
pub const STRUCT_PAGE_SIZE: u64 = core::mem::size_of::<Page>() as u64;

/// First PFN outside the direct map (HighMem starts here).
static LOWMEM_END_PFN: AtomicU64 = AtomicU64::new(0);

pub fn set_lowmem_end_pfn(pfn: Pfn) {
    LOWMEM_END_PFN.store(pfn.as_u64(), Relaxed);
}

#[inline]
pub fn lowmem_end_pfn() -> u64 {
    LOWMEM_END_PFN.load(Relaxed)
}

#[inline]
pub fn is_lowmem(pfn: Pfn) -> bool {
    pfn < Pfn::new(lowmem_end_pfn())
}

/// The virtual range `[start, end)` of the memory map for the RAM PFNs
/// `[start_pfn, end_pfn)`, widened to whole max-order blocks.
pub fn memmap_range(start_pfn: u64, end_pfn: u64) -> (u64, u64) {
    let s = start_pfn / MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES;
    let e = end_pfn.next_multiple_of(MAX_ORDER_NR_PAGES);
    (VMEMMAP_START + s * STRUCT_PAGE_SIZE, VMEMMAP_START + e * STRUCT_PAGE_SIZE)
}

/// The descriptor of `pfn` (Linux `pfn_to_page`). Only PFNs in max-order
/// blocks with RAM have one (module doc).
#[inline]
pub fn pfn_to_page(pfn: Pfn) -> &'static Page {
    // SAFETY: those descriptors are backed and the vmemmap is never
    // unmapped; `Page` is atomics, any bits are valid.
    unsafe { &*((VMEMMAP_START + pfn.as_u64() * STRUCT_PAGE_SIZE) as *const Page) }
}

/// The PFN a descriptor stands for (Linux `page_to_pfn`).
#[inline]
pub fn page_to_pfn(page: &Page) -> Pfn {
    Pfn::new((page as *const Page as u64 - VMEMMAP_START) / STRUCT_PAGE_SIZE)
}

/// The direct-map address of a lowmem page; `None` for HighMem (use kmap).
#[inline]
pub fn page_address(page: &Page) -> Option<VirtAddr> {
    let pfn = page_to_pfn(page);
    is_lowmem(pfn).then(|| __va(pfn.phys()))
}

/// The page behind a direct-map or kernel-image address.
#[inline]
pub fn virt_to_page(addr: VirtAddr) -> &'static Page {
    pfn_to_page(__pa(addr).pfn())
}
