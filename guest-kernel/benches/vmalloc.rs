//! `vmalloc(16 KiB)` + `vfree` on the host: the same composition as the
//! kernel's `mm/vmalloc.rs` (area from the vmap area allocator, one buddy
//! page per 4 KiB, a PTE per page; on free: unmap, free pages, lazy area
//! free, purge when due), over `FakeRam` and Vec-backed page tables. The
//! guest adds the TLB flush: `invlpg` per page or one full flush per purge.

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use kernel::arch::pgtable::PAGE_KERNEL;
use kernel::mm::addr::{Pfn, PhysAddr, VirtAddr};
use kernel::mm::fake::FakeRam;
use kernel::mm::gfp::{__GFP_HIGHMEM, GFP_KERNEL};
use kernel::mm::page_alloc::{AllocConfig, PageAlloc};
use kernel::mm::pgtable::{map_range, unmap_range, PageSizes, PageTableMemory, Table};
use kernel::mm::vmap_area::{VmKind, VmapAreaAllocator};

mod common;
use common::{config, rdtsc, time};

/// 64 MiB: DMA [0, 16 MiB), HighMem above (as with `lowmem=16M`).
const NPAGES: u64 = 16_384;
const SIZE: u64 = 16 * 1024;
const PAGES: usize = (SIZE / 4096) as usize;
const SMALL: PageSizes = PageSizes { gbpages: false, mbpages: false };

/// Page-table pages in a Vec; "physical" addresses are indices.
struct Tables(Vec<Box<Table>>);

impl PageTableMemory for Tables {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        self.0.push(Box::new([0; 512]));
        Some(PhysAddr::new((self.0.len() as u64 - 1) << 12))
    }
    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        &mut self.0[pa.pfn().as_u64() as usize]
    }
}

struct Vm {
    pa: PageAlloc<FakeRam>,
    space: VmapAreaAllocator,
    tables: Tables,
    pgd: PhysAddr,
}

fn setup() -> Vm {
    let mut pa = PageAlloc::new(FakeRam::new(NPAGES, false), [(0, 4096), (0, 0), (0, 0), (4096, NPAGES)], AllocConfig::default());
    pa.add_present(Pfn::new(0), Pfn::new(NPAGES));
    pa.free_boot_range(Pfn::new(256), Pfn::new(NPAGES), true);
    pa.setup_watermarks();
    let mut tables = Tables(Vec::new());
    let pgd = tables.alloc_table().unwrap();
    Vm { pa, space: VmapAreaAllocator::vmalloc_space(), tables, pgd }
}

fn vmalloc(vm: &mut Vm) -> (u64, [Pfn; PAGES]) {
    let area = vm.space.alloc(SIZE, 4096, "bench", VmKind::Vmalloc, |p| {
        let _ = black_box(p);
    });
    let area = area.unwrap();
    let mut pfns = [Pfn::new(0); PAGES];
    for (i, pfn) in pfns.iter_mut().enumerate() {
        *pfn = vm.pa.alloc_pages(GFP_KERNEL | __GFP_HIGHMEM, 0).unwrap();
        let va = VirtAddr::new(area.va_start + i as u64 * 4096);
        map_range(&mut vm.tables, vm.pgd, va, pfn.phys(), 4096, PAGE_KERNEL, SMALL).unwrap();
    }
    (area.va_start, pfns)
}

fn vfree(vm: &mut Vm, start: u64, pfns: &[Pfn; PAGES]) {
    unmap_range(&mut vm.tables, vm.pgd, VirtAddr::new(start), SIZE, |_, _| {}).unwrap();
    for &pfn in pfns {
        vm.pa.free_pages(pfn, 0).unwrap();
    }
    vm.space.free(start).unwrap();
    if vm.space.needs_purge() {
        let _ = black_box(vm.space.purge());
    }
}

fn area_only(vm: &mut Vm) {
    let area = vm.space.alloc(SIZE, 4096, "bench", VmKind::Vmalloc, |p| {
        let _ = black_box(p);
    });
    vm.space.free(area.unwrap().va_start).unwrap();
    if vm.space.needs_purge() {
        let _ = black_box(vm.space.purge());
    }
}

fn pages_only(vm: &mut Vm) {
    let pfns: [Pfn; PAGES] = std::array::from_fn(|_| vm.pa.alloc_pages(GFP_KERNEL | __GFP_HIGHMEM, 0).unwrap());
    for pfn in pfns {
        vm.pa.free_pages(pfn, 0).unwrap();
    }
}

fn map_only(vm: &mut Vm, va: u64) {
    for i in 0..PAGES as u64 {
        map_range(&mut vm.tables, vm.pgd, VirtAddr::new(va + i * 4096), PhysAddr::new((4096 + i) << 12), 4096, PAGE_KERNEL, SMALL).unwrap();
    }
    unmap_range(&mut vm.tables, vm.pgd, VirtAddr::new(va), SIZE, |_, _| {}).unwrap();
}

fn pair(vm: &mut Vm) {
    let (start, pfns) = vmalloc(vm);
    vfree(vm, black_box(start), &pfns);
}

fn bench(c: &mut Criterion) {
    let mut vm = setup();
    let mut g = c.benchmark_group("vmalloc16k");
    g.bench_function("vmalloc+vfree", |b| b.iter(|| pair(&mut vm)));
    g.bench_function("area_alloc+free", |b| b.iter(|| area_only(&mut vm)));
    g.bench_function("4_pages_alloc+free", |b| b.iter(|| pages_only(&mut vm)));
    let va = kernel::mm::vmap_area::VMALLOC_START + (1 << 30);
    g.bench_function("map+unmap_4_pages", |b| b.iter(|| map_only(&mut vm, va)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}

fn main() {
    benches();
    let mut vm = setup();
    let (ns, ticks) = time(200_000, || pair(&mut vm));
    let t0 = rdtsc();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mhz = (rdtsc() - t0) as f64 / 200_000.0;
    println!("vmalloc(16K)+vfree fixed loop: {ns:.1} ns, {ticks:.0} TSC ticks per pair (TSC {mhz:.1} MHz)");
}
