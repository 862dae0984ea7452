//! vmalloc: virtually contiguous kernel memory from physically scattered
//! pages (Linux `mm/vmalloc.c`).
//!
//! ```text
//! VMALLOC_START 0xffff_c900_0000_0000 .. VMALLOC_END (+32 TiB)
//!   [area: mapped pages][guard page, never mapped][next area ...]
//! ```
//! Address space comes from the [`VmapAreaAllocator`]; pages from the buddy
//! allocator, HighMem first (`GFP_KERNEL | __GFP_HIGHMEM`); the PTEs go into
//! the kernel's page tables, whose PUD level for the whole range is
//! allocated at boot, so the PGD entries never change and every address
//! space that copies the kernel half of the PGD sees every vmalloc area.
//! `vfree` unmaps at once but flushes the TLB lazily: freed ranges are not
//! reused until a purge, which flushes once for all of them.

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::arch::cpu::{flush_tlb_all, invlpg};
use crate::arch::pgtable::PAGE_KERNEL;
use crate::mm::addr::{__va, Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use crate::mm::buddy::{__free_pages, alloc_page, page_to_pfn, pfn_to_page};
use crate::mm::gfp::*;
use crate::mm::page::Page;
use crate::mm::pgtable::{map_range, populate_table, translate, unmap_range, PageSizes, PageTableMemory, Table};
use crate::mm::vmap_area::{Purged, VmKind, VmapAreaAllocator, VMALLOC_END, VMALLOC_START};
use crate::sync::SpinLock;

/// The kernel's page tables (`init_mm.pgd`), set by [`vmalloc_init`].
static KERNEL_PGD: AtomicU64 = AtomicU64::new(0);

/// Page-table pages after boot: zeroed lowmem pages from the buddy
/// allocator, reached through the direct map.
pub struct KernelPageTables;

/// Page-table pages allocated for kernel mappings after boot (vmalloc's
/// page tables, never freed, as in Linux).
pub static NR_KERNEL_TABLES: AtomicU64 = AtomicU64::new(0);

impl PageTableMemory for KernelPageTables {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        let pa = alloc_page(GFP_KERNEL | __GFP_ZERO).map(|page| page_to_pfn(page).phys())?;
        NR_KERNEL_TABLES.fetch_add(1, Relaxed);
        Some(pa)
    }
    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        // Callers hold the vmalloc lock, the only writer of these tables.
        // SAFETY: `pa` is a kernel page-table page in lowmem (direct-mapped).
        unsafe { &mut *__va(pa).as_mut_ptr::<Table>() }
    }
}

const SMALL: PageSizes = PageSizes { gbpages: false, mbpages: false };

/// One mapped area (Linux `vm_struct`).
struct VmStruct {
    nr_pages: usize,
    /// The pages vmalloc owns (empty for `vmap`, whose caller owns them).
    pages: Vec<u64>,
}

struct Vmalloc {
    space: VmapAreaAllocator,
    areas: BTreeMap<u64, VmStruct>,
}

static VMALLOC: SpinLock<Option<Vmalloc>> = SpinLock::new(None);

/// Counters for dumps and tests.
pub static NR_VMALLOC_PAGES: AtomicU64 = AtomicU64::new(0);
pub static NR_PURGES: AtomicU64 = AtomicU64::new(0);

/// Sets up the vmalloc space and allocates its PUD tables (Linux
/// `vmalloc_init` + `preallocate_vmalloc_pages`).
pub fn vmalloc_init(pgd: PhysAddr) {
    KERNEL_PGD.store(pgd.as_u64(), Relaxed);
    let mut va = VMALLOC_START;
    while va < VMALLOC_END {
        populate_table(&mut KernelPageTables, pgd, VirtAddr::new(va), 3).expect("no memory for the vmalloc page tables");
        va += 1 << 39;
    }
    *VMALLOC.lock() = Some(Vmalloc { space: VmapAreaAllocator::vmalloc_space(), areas: BTreeMap::new() });
}

fn pgd() -> PhysAddr {
    PhysAddr::new(KERNEL_PGD.load(Relaxed))
}

/// The kernel's page tables (`init_mm.pgd`); every process PGD copies its
/// kernel half.
pub fn kernel_pgd() -> PhysAddr {
    pgd()
}

/// Flushes the TLB for purged ranges: per page when few, else all of it.
fn flush_purged(purged: Purged) {
    if purged.is_empty() {
        return;
    }
    NR_PURGES.fetch_add(1, Relaxed);
    if purged.bytes / PAGE_SIZE <= 32 {
        for range in &purged.ranges {
            (range.start..range.end).step_by(PAGE_SIZE as usize).for_each(invlpg);
        }
    } else {
        flush_tlb_all();
    }
}

/// Maps `pfns` at `start` in the kernel's tables.
fn map_pages(start: u64, pfns: &[u64]) -> bool {
    pfns.iter().enumerate().all(|(i, &pfn)| {
        map_range(&mut KernelPageTables, pgd(), VirtAddr::new(start + i as u64 * PAGE_SIZE), Pfn::new(pfn).phys(), PAGE_SIZE, PAGE_KERNEL, SMALL).is_ok()
    })
}

fn unmap_pages(start: u64, nr_pages: usize) {
    let _ = unmap_range(&mut KernelPageTables, pgd(), VirtAddr::new(start), nr_pages as u64 * PAGE_SIZE, |_, _| {});
}

/// Allocates `size` bytes of virtually contiguous memory (Linux
/// `__vmalloc_node` with the caller named for /proc/vmallocinfo).
pub fn __vmalloc(size: u64, gfp: Gfp, caller: &'static str) -> Option<VirtAddr> {
    let nr_pages = size.div_ceil(PAGE_SIZE) as usize;
    if nr_pages == 0 {
        return None;
    }
    let mut pfns = Vec::new();
    if pfns.try_reserve_exact(nr_pages).is_err() {
        return None;
    }
    for _ in 0..nr_pages {
        match alloc_page(gfp | __GFP_NOWARN) {
            Some(page) => pfns.push(page_to_pfn(page).as_u64()),
            None => {
                printk!("vmalloc error: size {size}, page order 0, failed to allocate pages, mode:{:#x}({gfp:?})", gfp.0);
                free_pfns(&pfns);
                return None;
            }
        }
    }
    let mut guard = VMALLOC.lock();
    let vm = guard.as_mut().expect("vmalloc used before vmalloc_init");
    let area = match vm.space.alloc(size, PAGE_SIZE, caller, VmKind::Vmalloc, flush_purged) {
        Ok(area) => area,
        Err(e) => {
            drop(guard);
            printk!("vmalloc error: size {size}, vm_struct allocation failed: {e}");
            free_pfns(&pfns);
            return None;
        }
    };
    if !map_pages(area.va_start, &pfns) {
        unmap_pages(area.va_start, nr_pages);
        let _ = vm.space.free(area.va_start);
        drop(guard);
        free_pfns(&pfns);
        return None;
    }
    NR_VMALLOC_PAGES.fetch_add(nr_pages as u64, Relaxed);
    vm.areas.insert(area.va_start, VmStruct { nr_pages, pages: pfns });
    Some(VirtAddr::new(area.va_start))
}

fn free_pfns(pfns: &[u64]) {
    for &pfn in pfns {
        __free_pages(pfn_to_page(Pfn::new(pfn)), 0);
    }
}

/// Linux `vmalloc`: pages from any zone, HighMem first.
pub fn vmalloc(size: u64) -> Option<VirtAddr> {
    __vmalloc(size, GFP_KERNEL | __GFP_HIGHMEM, "vmalloc")
}

/// Linux `vzalloc`: `vmalloc`, zeroed.
pub fn vzalloc(size: u64) -> Option<VirtAddr> {
    __vmalloc(size, GFP_KERNEL | __GFP_HIGHMEM | __GFP_ZERO, "vzalloc")
}

/// Frees a `vmalloc` area (Linux `vfree`); a null address is ignored, an
/// address that is not an area's start is reported and ignored.
pub fn vfree(addr: VirtAddr) {
    if addr.as_u64() != 0 {
        release(addr, true, "vfree");
    }
}

/// Maps existing pages contiguously (Linux `vmap`); the caller keeps
/// ownership of the pages.
pub fn vmap(pages: &[&Page]) -> Option<VirtAddr> {
    let pfns: Vec<u64> = pages.iter().map(|p| page_to_pfn(p).as_u64()).collect();
    let mut guard = VMALLOC.lock();
    let vm = guard.as_mut().expect("vmap used before vmalloc_init");
    let area = vm.space.alloc(pfns.len() as u64 * PAGE_SIZE, PAGE_SIZE, "vmap", VmKind::Vmap, flush_purged).ok()?;
    if !map_pages(area.va_start, &pfns) {
        unmap_pages(area.va_start, pfns.len());
        let _ = vm.space.free(area.va_start);
        return None;
    }
    vm.areas.insert(area.va_start, VmStruct { nr_pages: pfns.len(), pages: Vec::new() });
    Some(VirtAddr::new(area.va_start))
}

/// Maps `size` bytes of device memory at physical `phys` (page aligned;
/// outside RAM, e.g. the MMIO hole) into the vmalloc space, uncached
/// (Linux `ioremap`: PCD|PWT, which the power-on PAT makes UC). The area is
/// named `caller` in /proc/vmallocinfo; `vunmap` removes it.
pub fn ioremap(phys: PhysAddr, size: u64, caller: &'static str) -> Option<VirtAddr> {
    use crate::arch::pgtable::flags::{PCD, PWT};
    if !phys.is_aligned(PAGE_SIZE) || size == 0 {
        return None;
    }
    let size = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut guard = VMALLOC.lock();
    let vm = guard.as_mut()?;
    let area = vm.space.alloc(size, PAGE_SIZE, caller, VmKind::Ioremap, flush_purged).ok()?;
    let nr_pages = (size / PAGE_SIZE) as usize;
    if map_range(&mut KernelPageTables, pgd(), VirtAddr::new(area.va_start), phys, size, PAGE_KERNEL | PCD | PWT, SMALL).is_err() {
        unmap_pages(area.va_start, nr_pages);
        let _ = vm.space.free(area.va_start);
        return None;
    }
    vm.areas.insert(area.va_start, VmStruct { nr_pages, pages: Vec::new() });
    Some(VirtAddr::new(area.va_start))
}

/// The busy vmalloc/vmap/ioremap areas, in address order (a copy, for
/// statistics).
pub fn busy_areas() -> Vec<crate::mm::vmap_area::VmapArea> {
    match VMALLOC.lock().as_ref() {
        Some(vm) => vm.space.areas().copied().collect(),
        None => Vec::new(),
    }
}

/// Unmaps a `vmap` area (Linux `vunmap`).
pub fn vunmap(addr: VirtAddr) {
    release(addr, false, "vunmap");
}

fn release(addr: VirtAddr, owns_pages: bool, what: &str) {
    let mut guard = VMALLOC.lock();
    let vm = guard.as_mut().expect("vmalloc used before vmalloc_init");
    let Some(area) = vm.areas.remove(&addr.as_u64()) else {
        drop(guard);
        printk!("{what}: Trying to {what} nonexistent vm area ({:#x})", addr.as_u64());
        return;
    };
    unmap_pages(addr.as_u64(), area.nr_pages);
    let _ = vm.space.free(addr.as_u64());
    if vm.space.needs_purge() {
        let purged = vm.space.purge();
        flush_purged(purged);
    }
    drop(guard);
    if owns_pages {
        NR_VMALLOC_PAGES.fetch_sub(area.nr_pages as u64, Relaxed);
        free_pfns(&area.pages);
    }
}

/// Purges every lazily freed area now (Linux `vm_unmap_aliases`).
pub fn vm_unmap_aliases() {
    if let Some(vm) = VMALLOC.lock().as_mut() {
        let purged = vm.space.purge();
        flush_purged(purged);
    }
}

/// The physical page behind a vmalloc address (Linux `vmalloc_to_page`).
pub fn vmalloc_to_pfn(addr: VirtAddr) -> Option<u64> {
    let _guard = VMALLOC.lock();
    translate(&mut KernelPageTables, pgd(), addr).map(|t| t.pa.pfn().as_u64())
}

/// /proc/vmallocinfo.
pub fn vmallocinfo(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    match VMALLOC.lock().as_ref() {
        Some(vm) => vm.space.vmallocinfo(w),
        None => Ok(()),
    }
}

/// (busy areas, lazily freed areas) for tests.
pub fn area_counts() -> (usize, usize) {
    VMALLOC.lock().as_ref().map_or((0, 0), |vm| (vm.space.nr_busy(), vm.space.nr_lazy()))
}
