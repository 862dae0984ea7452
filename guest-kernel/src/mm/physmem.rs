//! The kernel's [`PhysMem`]: page descriptors from the vmemmap, frames
//! through the direct map or, for HighMem, a `kmap_local` mapping. The
//! allocators are generic over `PhysMem`; this is the one they run on in
//! the guest (`fake::FakeRam` is the host tests').

use crate::arch::cpu;
use crate::mm::addr::{__va, Pfn, PhysAddr, PAGE_SHIFT};
use crate::mm::highmem::KmapLocal;
use crate::mm::memmap::{is_lowmem, pfn_to_page};
use crate::mm::page::{Page, PhysMem, PAGE_POISON};

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
    #[inline]
    fn page(&self, pfn: u64) -> &Page {
        // Callers only ask for PFNs in max-order blocks with RAM.
        pfn_to_page(Pfn(pfn))
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
