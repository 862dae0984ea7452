//! The kernel's page allocator: the one [`PageAlloc`] instance over the
//! real memory map, its boot-time setup (Linux `mem_init`), and Linux's API
//! on top (`alloc_pages`, `__get_free_pages`, `free_pages`, ...), which
//! prints Linux's reports when something goes wrong.

use crate::cmdline::Cmdline;
use crate::mm::addr::{page_align_down, page_align_up, Pfn, VirtAddr, PAGE_SHIFT};
use crate::mm::gfp::*;
use crate::mm::memblock::Memblock;
pub use crate::mm::memmap::{page_address, page_to_pfn, pfn_to_page, virt_to_page};
use crate::mm::memmap::{STRUCT_PAGE_SIZE, VMEMMAP_START};
use crate::mm::page::{FlagNames, Page};
use crate::mm::page_alloc::{AllocConfig, BadPage, PageAlloc};
use crate::mm::physmem::KernelPhysMem;
use crate::mm::sections::sections;
use crate::mm::zone::*;
use crate::printk::with_console;
use crate::sync::Once;

static PAGE_ALLOC: Once<PageAlloc<KernelPhysMem>> = Once::new();

/// The page allocator. Panics before `mem_init`.
pub fn page_alloc() -> &'static PageAlloc<KernelPhysMem> {
    PAGE_ALLOC.get().expect("page allocator used before mem_init")
}

/// While this lives, allocations may take the reserves below the min
/// watermark (Linux `memalloc_noreclaim_save`, setting `PF_MEMALLOC`):
/// for reclaim, which must not fail for want of the memory it is freeing.
pub struct MemallocScope {
    was: bool,
}

impl MemallocScope {
    pub fn enter() -> Self {
        Self { was: page_alloc().memalloc.swap(true, core::sync::atomic::Ordering::Relaxed) }
    }
}

impl Drop for MemallocScope {
    fn drop(&mut self) {
        page_alloc().memalloc.store(self.was, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Zone spans for `max_pfn` pages of RAM with the direct map ending at
/// `lowmem_end`: DMA below 16 MiB, DMA32 below 4 GiB, Normal above, all
/// within lowmem; HighMem from lowmem's end.
pub fn zone_spans(max_pfn: u64, lowmem_end: u64) -> [(u64, u64); MAX_NR_ZONES] {
    const DMA_END: u64 = (16 << 20) >> PAGE_SHIFT;
    const DMA32_END: u64 = (4u64 << 30) >> PAGE_SHIFT;
    let clip = |s: u64, e: u64| if s < e { (s, e) } else { (0, 0) };
    [clip(0, DMA_END.min(lowmem_end)), clip(DMA_END, DMA32_END.min(lowmem_end)), clip(DMA32_END, lowmem_end), clip(lowmem_end, max_pfn)]
}

/// What boot memory setup found, as the page allocator needs it.
pub struct MemoryLayout {
    pub max_pfn: u64,
    /// End of the direct map; HighMem above.
    pub lowmem_end_pfn: u64,
    /// Bytes of RAM backing the memory map (for the boot report).
    pub memmap_bytes: u64,
}

/// Builds the zones and hands all free memblock memory to the buddy
/// allocator (Linux `free_area_init` + `memblock_free_all`), after which
/// memblock allocates nothing.
pub fn mem_init(memblock: &mut Memblock, layout: &MemoryLayout, cmdline: &Cmdline) {
    let spans = zone_spans(layout.max_pfn, layout.lowmem_end_pfn);
    let config = AllocConfig { page_debug: cmdline.get("page_debug") == Some("1"), page_poison: cmdline.get("page_poison") == Some("1") };
    let mut alloc = PageAlloc::new(KernelPhysMem, spans, config);
    with_console(|w| {
        let _ = writeln!(w, "Zone ranges:");
        for (name, &(s, e)) in ZONE_NAMES.iter().zip(&spans) {
            if s == e {
                let _ = writeln!(w, "  {name:<8} empty");
            } else {
                let _ = writeln!(w, "  {name:<8} [mem {:#018x}-{:#018x}]", s << PAGE_SHIFT, (e << PAGE_SHIFT) - 1);
            }
        }
        let _ = writeln!(w, "Early memory node ranges");
        for r in memblock.memory.regions() {
            let _ = writeln!(w, "  node   0: [mem {:#018x}-{:#018x}]", r.base, r.end() - 1);
        }
    });
    for r in memblock.memory.regions() {
        alloc.add_present(Pfn::new(page_align_up(r.base) >> PAGE_SHIFT), Pfn::new(page_align_down(r.end()) >> PAGE_SHIFT));
    }
    // All free memory is known to be zero: the host never handed it out and
    // the kernel has not written it (the boot protocol's guarantee).
    for (start, end) in memblock.free_ranges() {
        let (s, e) = (page_align_up(start) >> PAGE_SHIFT, page_align_down(end) >> PAGE_SHIFT);
        if s < e {
            alloc.free_boot_range(Pfn::new(s), Pfn::new(e), true);
        }
    }
    memblock.set_current_limit(0);
    alloc.setup_watermarks();
    let alloc = match PAGE_ALLOC.set(alloc) {
        Ok(alloc) => alloc,
        Err(_) => panic!("mem_init called twice"),
    };

    let present: u64 = alloc.zones.iter().map(|z| z.present_pages).sum();
    let total = alloc.totalram_pages();
    let highmem = alloc.zones[ZONE_HIGHMEM].managed();
    let s = sections();
    printk!("Built 1 zonelists, mobility grouping off.  Total pages: {total}");
    printk!(
        "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, 0K init, {}K bss, {}K reserved, 0K cma-reserved, {}K highmem)",
        alloc.nr_free_pages() << 2,
        present << 2,
        (s.etext - s.text) >> 10,
        (s.edata - s.sdata) >> 10,
        (s.erodata - s.etext) >> 10,
        (s.bss_stop - s.bss_start) >> 10,
        (present - total) << 2,
        highmem << 2,
    );
    printk!(
        "mm: memory map: {}K for {} struct pages of {} bytes (lazily initialised); min_free_kbytes {}",
        layout.memmap_bytes >> 10,
        layout.memmap_bytes / STRUCT_PAGE_SIZE,
        STRUCT_PAGE_SIZE,
        alloc.min_free_kbytes.load(core::sync::atomic::Ordering::Relaxed),
    );
    if config.page_debug {
        printk!("mm: page_debug on{}", if config.page_poison { ", freed pages poisoned" } else { "" });
    }
}

// --- struct page <-> PFN <-> address (Linux `pfn_to_page` and friends). ---

// --- The allocation API. ---

/// Allocates 2^`order` contiguous pages (Linux `alloc_pages`). One real
/// function, never inlined: a debugger's breakpoint on it (and a
/// profile) sees every allocation at one address.
#[inline(never)]
pub fn alloc_pages(gfp: Gfp, order: usize) -> Option<&'static Page> {
    let alloc = page_alloc();
    let result = alloc.alloc_pages(gfp, order);
    if alloc.poison_corrupted.swap(false, core::sync::atomic::Ordering::Relaxed) {
        printk!("pagealloc: memory corruption: a freed page was written after it was poisoned");
    }
    match result {
        Some(pfn) => Some(pfn_to_page(pfn)),
        None if gfp.contains(__GFP_NOFAIL) => panic!("__GFP_NOFAIL allocation of order {order} failed: out of memory"),
        None => {
            if !gfp.contains(__GFP_NOWARN) {
                warn_alloc(gfp, order);
            }
            None
        }
    }
}

pub fn alloc_page(gfp: Gfp) -> Option<&'static Page> {
    alloc_pages(gfp, 0)
}

/// Allocates lowmem pages and returns their direct-map address (Linux
/// `__get_free_pages`; `__GFP_HIGHMEM` is ignored, as there).
pub fn __get_free_pages(gfp: Gfp, order: usize) -> Option<VirtAddr> {
    alloc_pages(gfp.without(__GFP_HIGHMEM), order).and_then(page_address)
}

pub fn __get_free_page(gfp: Gfp) -> Option<VirtAddr> {
    __get_free_pages(gfp, 0)
}

pub fn get_zeroed_page(gfp: Gfp) -> Option<VirtAddr> {
    __get_free_pages(gfp | __GFP_ZERO, 0)
}

pub fn __get_dma_pages(gfp: Gfp, order: usize) -> Option<VirtAddr> {
    __get_free_pages(gfp | GFP_DMA, order)
}

/// Drops a reference to a block from `alloc_pages` (Linux `__free_pages`).
pub fn __free_pages(page: &Page, order: usize) {
    if let Err(bad) = page_alloc().free_pages(page_to_pfn(page), order) {
        bad_page(&bad);
    }
}

/// Frees pages by their direct-map address (Linux `free_pages`; 0 is
/// ignored).
pub fn free_pages(addr: VirtAddr, order: usize) {
    if addr.as_u64() != 0 {
        __free_pages(virt_to_page(addr), order);
    }
}

pub fn free_page(addr: VirtAddr) {
    free_pages(addr, 0)
}

/// Linux `bad_page`: the report, then the page is left alone (leaked).
fn bad_page(bad: &BadPage) {
    crate::printk::with_console_level(crate::printk::KERN_ERR, |w| {
        let _ = writeln!(w, "BUG: Bad page state in process swapper/0  pfn:{:05x}", bad.pfn);
        let _ = writeln!(
            w,
            "page:{:#018x} refcount:{} mapcount:{} mapping:0000000000000000 index:0x0 pfn:{:#x}",
            VMEMMAP_START + bad.pfn.as_u64() * STRUCT_PAGE_SIZE,
            bad.refcount,
            bad.mapcount,
            bad.pfn
        );
        let _ = writeln!(w, "flags: {}", FlagNames(bad.flags));
        let _ = writeln!(w, "page dumped because: {}", bad.reason);
    });
}

/// Linux `warn_alloc`: the failure line and a short memory report.
fn warn_alloc(gfp: Gfp, order: usize) {
    crate::printk::with_console_level(crate::printk::KERN_WARNING, |w| {
        let _ = writeln!(w, "swapper/0: page allocation failure: order:{order}, mode:{:#x}({gfp:?}), nodemask=(null)", gfp.0);
        let _ = writeln!(w, "Mem-Info:");
        let _ = crate::mm::vmstat::show_free_areas(page_alloc(), &mut { w });
    });
}
