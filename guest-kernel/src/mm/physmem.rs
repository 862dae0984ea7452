//! The kernel's [`PhysMem`]: page descriptors from the vmemmap, frames
//! through the direct map or, for HighMem, a `kmap_local` mapping. The
//! allocators are generic over `PhysMem`; this is the one they run on in
//! the guest (`fake::FakeRam` is the host tests').

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::arch::cpu;
use crate::mm::addr::{__va, Pfn, PAGE_SHIFT};
use crate::mm::highmem::KmapLocal;
use crate::mm::memmap::{is_lowmem, pfn_to_page};
use crate::mm::page::{Page, PhysMem, PAGE_POISON};

/// The kernel's physical memory: vmemmap descriptors, frames through the
/// direct map or (HighMem) the fixmap.
pub struct KernelPhysMem;

/// Clearing and copying page frames by the VMM (a paravirtual doorbell a
/// driver registers): each returns false when the VMM did not do it.
pub struct HostPageOps {
    pub zero: fn(u64) -> bool,
    /// Zeroes the `n` frames from the first given, as few doorbells as
    /// the request holds; returns how many it did, in order.
    pub zero_range: fn(u64, u64) -> u64,
    pub copy: fn(u64, u64) -> bool,
}

static HOST_PAGE_OPS: crate::sync::Once<HostPageOps> = crate::sync::Once::new();
/// Whether `clear_page` and `copy_page` go to the VMM (chosen at boot by
/// measuring both ways).
static CLEAR_BY_HOST: AtomicBool = AtomicBool::new(false);
static COPY_BY_HOST: AtomicBool = AtomicBool::new(false);

/// Registers the VMM's page operations and which of them to use.
pub fn set_host_page_ops(ops: HostPageOps, clear: bool, copy: bool) {
    let _ = HOST_PAGE_OPS.set(ops);
    CLEAR_BY_HOST.store(clear, Relaxed);
    COPY_BY_HOST.store(copy, Relaxed);
}

/// Zeroes a frame in the guest (`rep stosq`, through kmap for HighMem).
pub fn clear_frame_in_guest(pfn: Pfn) {
    // SAFETY: the frame is mapped for the duration of the closure and belongs to the caller (an allocation being prepared).
    with_frame(pfn, |p| unsafe { cpu::clear_page(p) });
}

/// Copies frame `src` to frame `dst` in the guest, either of which may be
/// HighMem.
pub fn copy_frame_in_guest(dst: Pfn, src: Pfn) {
    let d = KmapLocal::new(pfn_to_page(dst));
    let s = KmapLocal::new(pfn_to_page(src));
    // SAFETY: both pages are mapped for the copy and distinct; `dst` is the caller's (a fresh page nobody else sees yet).
    unsafe { core::ptr::copy_nonoverlapping(s.as_mut_ptr() as *const u64, d.as_mut_ptr() as *mut u64, 512) };
}

/// Copies a frame the cheapest way this machine offers (`copy_page` for
/// COW and private copies of file pages).
pub fn copy_frame(dst: Pfn, src: Pfn) {
    if COPY_BY_HOST.load(Relaxed) && HOST_PAGE_OPS.get().is_some_and(|ops| (ops.copy)(dst.as_u64(), src.as_u64())) {
        return;
    }
    copy_frame_in_guest(dst, src);
}

/// Runs `f` on the frame: through the direct map, or (HighMem) a
/// `kmap_local` mapping, so every write to a page the kernel did not map
/// itself goes through kmap.
fn with_frame<R>(pfn: Pfn, f: impl FnOnce(*mut u8) -> R) -> R {
    if is_lowmem(pfn) {
        f(__va(pfn.phys()).as_mut_ptr())
    } else {
        let map = KmapLocal::new(KernelPhysMem.page(pfn));
        f(map.as_mut_ptr())
    }
}

impl PhysMem for KernelPhysMem {
    #[inline]
    fn page(&self, pfn: Pfn) -> &Page {
        // Callers only ask for PFNs in max-order blocks with RAM.
        pfn_to_page(pfn)
    }

    fn clear_page(&self, pfn: Pfn) {
        if CLEAR_BY_HOST.load(Relaxed) && HOST_PAGE_OPS.get().is_some_and(|ops| (ops.zero)(pfn.as_u64())) {
            return;
        }
        clear_frame_in_guest(pfn);
    }

    fn clear_pages(&self, pfn: Pfn, n: u64) {
        let done = match HOST_PAGE_OPS.get() {
            Some(ops) if CLEAR_BY_HOST.load(Relaxed) => (ops.zero_range)(pfn.as_u64(), n),
            _ => 0,
        };
        (done..n).for_each(|i| clear_frame_in_guest(pfn + i));
    }

    fn poison_page(&self, pfn: Pfn) {
        // SAFETY: the frame is being freed; nobody else uses it.
        with_frame(pfn, |p| unsafe { cpu::fill_page(p, u64::from_ne_bytes([PAGE_POISON; 8])) });
    }

    fn frame_ptr(&self, pfn: Pfn) -> Option<*mut u8> {
        is_lowmem(pfn).then(|| __va(pfn.phys()).as_mut_ptr())
    }

    fn ptr_to_pfn(&self, ptr: *const u8) -> Option<Pfn> {
        let offset = (ptr as u64).checked_sub(crate::mm::addr::PAGE_OFFSET)?;
        let pfn = Pfn::new(offset >> PAGE_SHIFT);
        is_lowmem(pfn).then_some(pfn)
    }

    fn check_poison(&self, pfn: Pfn) -> Option<usize> {
        let poison = u64::from_ne_bytes([PAGE_POISON; 8]);
        with_frame(pfn, |p| {
            let words = p as *const u64;
            // SAFETY: the frame is mapped (4 KiB, 8-byte aligned) for the closure; reading it has no side effects.
            (0..512).find(|&i| unsafe { words.add(i).read_volatile() } != poison).map(|i| i * 8)
        })
    }
}
