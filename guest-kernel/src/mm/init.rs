//! Boot-time memory setup, in Linux's order (`setup_arch` ->
//! `e820__memory_setup`, `e820__memblock_setup`, `init_mem_mapping`):
//!
//! 1. sanitize and print the firmware's E820 map, find `max_pfn`;
//! 2. give its RAM to memblock and reserve what is in use (the first 1 MiB
//!    with the boot structures, the kernel image);
//! 3. build the kernel's own page tables from memblock pages: the direct map
//!    of all RAM at `PAGE_OFFSET` (1 GiB / 2 MiB pages where aligned) and the
//!    kernel image at `__START_KERNEL_map` with per-section permissions;
//! 4. switch CR3 to them and turn on the protection features (NX, WP,
//!    SMEP/SMAP when the CPU has them).

use shared::boot::BootInfo;

use crate::arch::cpu::{self, Features};
use crate::arch::pgtable::{PAGE_KERNEL, PAGE_KERNEL_RO, PAGE_KERNEL_RX};
use crate::cmdline::{memparse, Cmdline};
use crate::mm::addr::{__pa_symbol, __va, page_align_down, page_align_up, Pfn, PhysAddr, VirtAddr, PAGE_SHIFT, PAGE_SIZE, START_KERNEL_MAP};
use crate::mm::e820::{E820Table, E820_RAM, MAX_ARCH_PFN};
use crate::mm::fixmap::{self, FIXADDR_START};
use crate::mm::highmem;
use crate::mm::memblock::Memblock;
use crate::mm::memmap::{self, memmap_range};
use crate::mm::pgtable::{map_range, populate_pte_table, MapStats, PageSizes, PageTableMemory, Table};
use crate::mm::sections::sections;
use crate::mm::zone::MAX_ORDER_NR_PAGES;
use crate::printk::with_console;
use crate::sync::SpinLock;

/// The early allocator, until the page allocator takes over.
pub static MEMBLOCK: SpinLock<Memblock> = SpinLock::new(Memblock::new());

/// The boot page tables map physical `[0, 1 GiB)` at `__START_KERNEL_map`:
/// page tables built before the switch must come from there.
const BOOT_MAPPED_LIMIT: u64 = 1 << 30;
/// Linux reserves the first 1 MiB (real-mode area, BIOS data, here also the
/// VMM's boot structures).
const LOW_RESERVE: u64 = 1 << 20;
/// `lowmem=` below this is raised to it: the kernel needs room for its
/// page tables and memory map in the direct map.
const MIN_LOWMEM: u64 = 64 << 20;
const HUGE_2M: u64 = 2 << 20;

/// What memory setup found and built.
pub struct MemorySetup {
    pub max_pfn: u64,
    /// End of RAM below 4 GiB (Linux x86-64 `max_low_pfn`).
    pub max_low_pfn: u64,
    /// End of the direct map: `max_pfn`, or `lowmem=`; HighMem above.
    pub lowmem_end_pfn: u64,
    pub pgd: PhysAddr,
    pub direct_map: MapStats,
    /// Bytes of RAM backing the memory map.
    pub memmap_bytes: u64,
}

/// Page-table pages before the switch: from memblock below 1 GiB, reached
/// through the boot tables' `__START_KERNEL_map` window.
struct BootPageTables<'a> {
    memblock: &'a mut Memblock,
}

impl PageTableMemory for BootPageTables<'_> {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        let pa = self.memblock.phys_alloc(PAGE_SIZE, PAGE_SIZE)?;
        debug_assert!(pa < BOOT_MAPPED_LIMIT);
        // SAFETY: memblock just handed out this page, below the 1 GiB the boot tables map at START_KERNEL_MAP; nobody else uses it.
        unsafe { cpu::clear_page((START_KERNEL_MAP + pa) as *mut u8) };
        Some(PhysAddr::new(pa))
    }

    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        // SAFETY: `pa` is a table page from `alloc_table` (or the root), in the boot window; the builder holds the only reference meanwhile.
        unsafe { &mut *((START_KERNEL_MAP + pa.as_u64()) as *mut Table) }
    }
}

/// KiB of the direct map mapped with 4 KiB, 2 MiB and 1 GiB pages
/// (`/proc/meminfo`'s `DirectMap*`), set by [`setup_memory`].
static DIRECT_MAP_KB: crate::sync::Once<(u64, u64, u64)> = crate::sync::Once::new();

/// The direct map's page sizes, KiB each (0s before memory setup).
pub fn direct_map_kb() -> (u64, u64, u64) {
    DIRECT_MAP_KB.get().copied().unwrap_or((0, 0, 0))
}

pub fn setup_memory(info: &BootInfo, cmdline: &Cmdline) -> MemorySetup {
    // 1. The firmware map.
    let mut e820 = E820Table::from_entries(info.e820_entries());
    e820.sanitize();
    with_console(|w| {
        let _ = writeln!(w, "BIOS-provided physical RAM map:");
        let _ = e820.print("BIOS-e820", &mut { w });
    });
    let max_pfn = e820.end_of_ram_pfn();
    let max_low_pfn = e820.end_of_low_ram_pfn();
    printk!("last_pfn = {:#x} max_arch_pfn = {:#x}", max_pfn, MAX_ARCH_PFN);
    printk!("max_pfn = {:#x} max_low_pfn = {:#x}", max_pfn, max_low_pfn);
    if max_pfn == 0 {
        panic!("no usable RAM in the E820 map");
    }
    let lowmem_end_pfn = lowmem_end(cmdline, max_pfn);

    // 2. memblock.
    let s = sections();
    let mut memblock = MEMBLOCK.lock();
    for e in e820.entries().iter().filter(|e| e.typ == E820_RAM) {
        let (start, end) = (page_align_up(e.addr), page_align_down(e.end()));
        if start < end {
            memblock.add(start, end - start).unwrap_or_else(|err| panic!("memblock_add: {err}"));
        }
    }
    let kernel_start = __pa_symbol(s.text as *const u8).as_u64();
    let kernel_end = __pa_symbol(s.end as *const u8).as_u64();
    let reservations = [
        (0, LOW_RESERVE),
        (kernel_start, kernel_end - kernel_start),
        (info.boot_pgtable_start, info.boot_pgtable_end.saturating_sub(info.boot_pgtable_start)),
        (info.cmdline_addr, info.cmdline_len),
        (page_align_down(info.initramfs_addr), page_align_up(info.initramfs_addr + info.initramfs_len) - page_align_down(info.initramfs_addr)),
        (info.init_argv_addr, info.init_argv_len),
        (info.init_envp_addr, info.init_envp_len),
        (info.init_cwd_addr, info.init_cwd_len),
    ];
    for (base, size) in reservations.into_iter().filter(|&(_, size)| size > 0) {
        memblock.reserve(base, size).unwrap_or_else(|err| panic!("memblock_reserve: {err}"));
    }
    // Early page tables and the memory map must be reachable both through
    // the boot window now and through the direct map later.
    memblock.set_current_limit(BOOT_MAPPED_LIMIT.min(lowmem_end_pfn << PAGE_SHIFT));

    // 3. The kernel's page tables.
    let features = cpu::features();
    let sizes = PageSizes { gbpages: features.gbpages, mbpages: true };
    let mut tables = BootPageTables { memblock: &mut memblock };
    let pgd = tables.alloc_table().expect("no memory below 1 GiB for the kernel's page tables");
    let mut ranges = [(0u64, 0u64); crate::mm::memblock::MEMBLOCK_REGIONS];
    let nr = {
        let regions = tables.memblock.memory.regions();
        for (slot, r) in ranges.iter_mut().zip(regions) {
            *slot = (r.base, r.end());
        }
        regions.len()
    };
    let lowmem_end = lowmem_end_pfn << PAGE_SHIFT;
    let mut direct_map = MapStats::default();
    for &(start, end) in &ranges[..nr] {
        let end = end.min(lowmem_end);
        if start >= end {
            continue;
        }
        printk!("init_memory_mapping: [mem {:#010x}-{:#010x}]", start, end - 1);
        let stats = map_range(&mut tables, pgd, __va(PhysAddr::new(start)), PhysAddr::new(start), end - start, PAGE_KERNEL, sizes)
            .unwrap_or_else(|err| panic!("direct map of [{start:#x}, {end:#x}): {err}"));
        direct_map.add(stats);
    }
    let image = [(s.text, s.etext, PAGE_KERNEL_RX), (s.etext, s.erodata, PAGE_KERNEL_RO), (s.sdata, s.end, PAGE_KERNEL)];
    for (start, end, prot) in image {
        let pa = __pa_symbol(start as *const u8);
        map_range(&mut tables, pgd, VirtAddr::new(start), pa, page_align_up(end) - start, prot, sizes)
            .unwrap_or_else(|err| panic!("kernel image mapping at {start:#x}: {err}"));
    }
    let memmap_bytes = map_memmap(&mut tables, pgd, &ranges[..nr], sizes);
    let fixmap_pte = populate_pte_table(&mut tables, pgd, VirtAddr::new(FIXADDR_START)).unwrap_or_else(|err| panic!("fixmap page table: {err}"));
    fixmap::init(fixmap_pte);
    let pkmap_pte = populate_pte_table(&mut tables, pgd, VirtAddr::new(highmem::PKMAP_BASE)).unwrap_or_else(|err| panic!("PKMAP page table: {err}"));
    highmem::init(pkmap_pte);
    memmap::set_lowmem_end_pfn(Pfn::new(lowmem_end_pfn));

    // 4. Switch.
    enable_protection(&features);
    // SAFETY: `pgd` maps the kernel image (code, stack, statics) at the addresses it runs at and all RAM in the direct map.
    unsafe { cpu::write_cr3(pgd.as_u64()) };
    memblock.set_current_limit(lowmem_end);
    printk!(
        "mm: switched to kernel page tables at {:#x} (WP{}{}{})",
        pgd.as_u64(),
        if features.nx { " NX" } else { "" },
        if features.smep { " SMEP" } else { "" },
        if features.smap { " SMAP" } else { "" },
    );
    check_direct_map(&memblock, lowmem_end);

    if cmdline.get("memblock") == Some("debug") {
        with_console(|w| {
            let _ = memblock.dump(&mut { w });
        });
    }
    with_console(|w| {
        let _ = writeln!(w, "DirectMap4k: {:>8} kB", direct_map.pages_4k * 4);
        let _ = writeln!(w, "DirectMap2M: {:>8} kB", direct_map.pages_2m * 2048);
        let _ = writeln!(w, "DirectMap1G: {:>8} kB", direct_map.pages_1g * 1024 * 1024);
    });
    let _ = DIRECT_MAP_KB.set((direct_map.pages_4k * 4, direct_map.pages_2m * 2048, direct_map.pages_1g * 1024 * 1024));
    MemorySetup { max_pfn, max_low_pfn, lowmem_end_pfn, pgd, direct_map, memmap_bytes }
}

fn enable_protection(features: &Features) {
    let mut cr4 = cpu::read_cr4();
    if features.pge {
        cr4 |= cpu::CR4_PGE;
    }
    if features.smep {
        cr4 |= cpu::CR4_SMEP;
    }
    if features.smap {
        cr4 |= cpu::CR4_SMAP;
    }
    // SAFETY: only bits the CPU reports are set; none changes the paging
    // mode, and the kernel does not touch user pages.
    unsafe { cpu::write_cr4(cr4) };
    // SAFETY: WP only makes read-only pages read-only for the kernel too.
    unsafe { cpu::write_cr0(cpu::read_cr0() | cpu::CR0_WP) };
    if features.nx {
        // SAFETY: NX is supported; the new tables use the NX bit.
        unsafe { cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) | cpu::EFER_NXE) };
    }
}

/// Proves the direct map reaches every RAM range: writes and reads back a
/// word at both ends of each free range (free, so nothing is disturbed).
fn check_direct_map(memblock: &Memblock, lowmem_end: u64) {
    let mut checked = 0;
    for (start, end) in memblock.free_ranges().map(|(s, e)| (s, e.min(lowmem_end))).filter(|(s, e)| s < e) {
        for pa in [start, end - 8] {
            let p = __va(PhysAddr::new(pa)).as_mut_ptr::<u64>();
            let pattern = 0x5a5a_0000_0000_0000 | pa;
            // SAFETY: `pa` lies in free RAM that memblock owns and nobody
            // uses yet; the direct map now covers it.
            let back = unsafe {
                p.write_volatile(pattern);
                let v = p.read_volatile();
                p.write_volatile(0);
                v
            };
            if back != pattern {
                panic!("direct map broken at {pa:#x}: wrote {pattern:#x}, read {back:#x}");
            }
        }
        checked += 1;
    }
    printk!("mm: direct map verified over {} free ranges", checked);
}

/// The end of the direct map: all RAM, or `lowmem=` rounded down to a
/// max-order block (so no buddy block straddles it).
fn lowmem_end(cmdline: &Cmdline, max_pfn: u64) -> u64 {
    let Some(arg) = cmdline.get("lowmem") else {
        return max_pfn;
    };
    let Some(bytes) = memparse(arg) else {
        printk!("lowmem={arg}: not a size, ignored");
        return max_pfn;
    };
    let pfn = (bytes.max(MIN_LOWMEM) >> PAGE_SHIFT) / MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES;
    if pfn >= max_pfn {
        printk!("lowmem={arg}: covers all RAM, no HighMem");
        return max_pfn;
    }
    printk!("lowmem={arg}: {}MB LOWMEM available, {}MB HIGHMEM above {:#x}", pfn >> 8, (max_pfn - pfn) >> 8, pfn << PAGE_SHIFT);
    pfn
}

/// Backs and maps the memory map for the RAM `ranges` (see `memmap`):
/// whole max-order blocks' worth of `struct page`s, 2 MiB pages where the
/// range allows. Returns the bytes of RAM used.
fn map_memmap(tables: &mut BootPageTables, pgd: PhysAddr, ranges: &[(u64, u64)], sizes: PageSizes) -> u64 {
    let mut total = 0;
    let mut i = 0;
    while i < ranges.len() {
        // Merge the memmap ranges of neighbouring RAM regions that overlap.
        let (start, mut end) = memmap_range(ranges[i].0 >> PAGE_SHIFT, ranges[i].1 >> PAGE_SHIFT);
        i += 1;
        while i < ranges.len() {
            let (s, e) = memmap_range(ranges[i].0 >> PAGE_SHIFT, ranges[i].1 >> PAGE_SHIFT);
            if s > end {
                break;
            }
            end = end.max(e);
            i += 1;
        }
        let (start, end) = (page_align_down(start), page_align_up(end));
        let size = end - start;
        // Physical backing congruent to the virtual range modulo 2 MiB, so
        // map_range can use 2 MiB pages; the skew in front goes back.
        let pa = if size >= HUGE_2M {
            let skew = start % HUGE_2M;
            let base = tables.memblock.phys_alloc(size + skew, HUGE_2M).expect("no memory for the memory map");
            if skew > 0 {
                let _ = tables.memblock.free(base, skew);
            }
            base + skew
        } else {
            tables.memblock.phys_alloc(size, PAGE_SIZE).expect("no memory for the memory map")
        };
        map_range(tables, pgd, VirtAddr::new(start), PhysAddr::new(pa), size, PAGE_KERNEL, sizes)
            .unwrap_or_else(|err| panic!("memory map at {start:#x}: {err}"));
        total += size;
    }
    total
}
