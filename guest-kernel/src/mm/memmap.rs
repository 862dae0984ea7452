//! The memory map in the kernel: `struct page`s in a virtually contiguous
//! array at `VMEMMAP_START` (Linux's vmemmap), and the kernel's
//! [`PhysMem`] over it.
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

use crate::arch::cpu;
use crate::mm::addr::{__va, PhysAddr, PAGE_SHIFT};
use crate::mm::highmem::KmapLocal;
use crate::mm::page::{Page, PhysMem, PAGE_POISON};
use crate::mm::zone::MAX_ORDER_NR_PAGES;

pub const VMEMMAP_START: u64 = 0xffff_ea00_0000_0000;
pub const STRUCT_PAGE_SIZE: u64 = core::mem::size_of::<Page>() as u64;

/// First PFN outside the direct map (HighMem starts here).
static LOWMEM_END_PFN: AtomicU64 = AtomicU64::new(0);

pub fn set_lowmem_end_pfn(pfn: u64) {
    LOWMEM_END_PFN.store(pfn, Relaxed);
}

pub fn lowmem_end_pfn() -> u64 {
    LOWMEM_END_PFN.load(Relaxed)
}

pub fn is_lowmem(pfn: u64) -> bool {
    pfn < lowmem_end_pfn()
}

/// The virtual range `[start, end)` of the memory map for the RAM PFNs
/// `[start_pfn, end_pfn)`, widened to whole max-order blocks.
pub fn memmap_range(start_pfn: u64, end_pfn: u64) -> (u64, u64) {
    let s = start_pfn / MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES;
    let e = end_pfn.next_multiple_of(MAX_ORDER_NR_PAGES);
    (VMEMMAP_START + s * STRUCT_PAGE_SIZE, VMEMMAP_START + e * STRUCT_PAGE_SIZE)
}

/// The kernel's physical memory: vmemmap descriptors, frames through the
/// direct map or (HighMem) the fixmap.
pub struct KernelPhysMem;

/// Runs `f` on the frame: through the direct map, or (HighMem) a
/// `kmap_local` mapping, so every write to a page the kernel did not map
/// itself goes through kmap.
fn with_frame<R>(pfn: u64, f: impl FnOnce(*mut u8) -> R) -> R {
    if is_lowmem(pfn) {
        f(__va(PhysAddr(pfn << PAGE_SHIFT)).as_mut_ptr())
    } else {
        let map = KmapLocal::new(KernelPhysMem.page(pfn));
        f(map.as_mut_ptr())
    }
}

impl PhysMem for KernelPhysMem {
    fn page(&self, pfn: u64) -> &Page {
        // Callers only ask for PFNs in max-order blocks with RAM (module doc).
        // SAFETY: those descriptors are backed; Page is atomics, any bits valid.
        unsafe { &*((VMEMMAP_START + pfn * STRUCT_PAGE_SIZE) as *const Page) }
    }

    fn clear_page(&self, pfn: u64) {
        // SAFETY: the frame is mapped for the duration of the closure and
        // belongs to the allocation being prepared.
        with_frame(pfn, |p| unsafe { cpu::clear_page(p) });
    }

    fn poison_page(&self, pfn: u64) {
        // SAFETY: the frame is being freed; nobody else uses it.
        with_frame(pfn, |p| unsafe { cpu::fill_page(p, u64::from_ne_bytes([PAGE_POISON; 8])) });
    }

    fn frame_ptr(&self, pfn: u64) -> Option<*mut u8> {
        is_lowmem(pfn).then(|| __va(PhysAddr(pfn << PAGE_SHIFT)).as_mut_ptr())
    }

    fn ptr_to_pfn(&self, ptr: *const u8) -> Option<u64> {
        let offset = (ptr as u64).checked_sub(crate::mm::addr::PAGE_OFFSET)?;
        let pfn = offset >> PAGE_SHIFT;
        is_lowmem(pfn).then_some(pfn)
    }

    fn check_poison(&self, pfn: u64) -> Option<usize> {
        let poison = u64::from_ne_bytes([PAGE_POISON; 8]);
        with_frame(pfn, |p| {
            let words = p as *const u64;
            // SAFETY: the frame is mapped (4 KiB, 8-byte aligned) for the
            // closure; reading it has no side effects.
            (0..512).find(|&i| unsafe { words.add(i).read_volatile() } != poison).map(|i| i * 8)
        })
    }
}
