//! Host benchmarks of the slab allocator (`mm::slab`, `mm::kmalloc`) over a
//! 64 MiB `FakeRam`, with the host's malloc (glibc, through
//! `std::alloc::System`) and mimalloc as peers. Each pattern is one 64-byte
//! allocation followed by its free:
//!
//! * `kmalloc64`: `kmalloc(64, GFP_KERNEL)` + `kfree` (size class lookup,
//!   page lookup on free);
//! * `kmem_cache64`: `kmem_cache_alloc` + `kmem_cache_free` on a 64-byte
//!   cache (the free still checks the object's slab belongs to the cache);
//! * `system_malloc64`, `mimalloc64`: the peers.
//!
//! All of them run their fast paths: ours the per-CPU array, which on the
//! host is guarded by an owner-thread check instead of the kernel's
//! interrupt disabling.
//!
//! After criterion's runs (unless a filter or `--profile-time` is given), a
//! fixed-count loop per pattern timed with both `Instant` and `rdtsc` prints
//! ns and TSC ticks per pair, and the core clock is estimated from a chain
//! of dependent adds (one cycle each), giving cycles per pair.
//!
//! `cargo bench -p guest-kernel --bench slab`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};

mod common;
use common::{config, rdtsc, time};

fn core_mhz() -> f64 {
    common::core_mhz().unwrap_or(f64::NAN)
}
use kernel::mm::addr::Pfn;
use kernel::mm::fake::FakeRam;
use kernel::mm::gfp::GFP_KERNEL;
use kernel::mm::page_alloc::{AllocConfig, PageAlloc};
use kernel::mm::slab::{KmemCache, SlabAllocator, SlabConfig};
use mimalloc::MiMalloc;

/// 64 MiB of 4 KiB pages.
const NPAGES: u64 = 16_384;
/// 16 MiB: the end of ZONE_DMA.
const DMA_END: u64 = 4096;

fn page_alloc() -> &'static PageAlloc<FakeRam> {
    let spans = [(0, DMA_END), (DMA_END, NPAGES), (0, 0), (0, 0)];
    let mut a = PageAlloc::new(FakeRam::new(NPAGES, true), spans, AllocConfig::default());
    a.add_present(Pfn::new(0), Pfn::new(NPAGES));
    a.free_boot_range(Pfn::new(256), Pfn::new(NPAGES), true);
    a.setup_watermarks();
    Box::leak(Box::new(a))
}

/// The slab allocator and a 64-byte cache, warmed (per-CPU arrays filled).
fn ours() -> (&'static SlabAllocator<'static, FakeRam>, &'static KmemCache) {
    let s: &'static SlabAllocator<'static, FakeRam> = Box::leak(Box::new(SlabAllocator::new()));
    s.init(page_alloc(), SlabConfig::default()).unwrap();
    let c = s.kmem_cache_create("bench-64", 64, 0, 0, None).unwrap();
    kmalloc_pair(s);
    cache_pair(s, c);
    (s, c)
}

#[inline(always)]
fn kmalloc_pair(s: &SlabAllocator<'_, FakeRam>) {
    let p = s.kmalloc(black_box(64), black_box(GFP_KERNEL)).unwrap();
    // SAFETY: just allocated, freed once.
    unsafe { s.kfree(black_box(p.as_ptr())) };
}

#[inline(always)]
fn cache_pair(s: &SlabAllocator<'_, FakeRam>, c: &KmemCache) {
    let p = s.kmem_cache_alloc(black_box(c), black_box(GFP_KERNEL)).unwrap();
    // SAFETY: just allocated from `c`, freed once.
    unsafe { s.kmem_cache_free(c, black_box(p)) };
}

const LAYOUT64: Layout = match Layout::from_size_align(64, 8) {
    Ok(l) => l,
    Err(_) => panic!("bad layout"),
};

#[inline(always)]
fn global_pair(a: &impl GlobalAlloc) {
    // SAFETY: a nonzero-size layout; the block is freed once with it.
    unsafe {
        let p = NonNull::new(a.alloc(black_box(LAYOUT64))).unwrap();
        a.dealloc(black_box(p.as_ptr()), LAYOUT64);
    }
}

fn bench(c: &mut Criterion) {
    let (s, cache) = ours();
    let mut g = c.benchmark_group("alloc_free_64");
    g.bench_function("kmalloc64", |b| b.iter(|| kmalloc_pair(s)));
    g.bench_function("kmem_cache64", |b| b.iter(|| cache_pair(s, cache)));
    g.bench_function("system_malloc64", |b| b.iter(|| global_pair(&System)));
    g.bench_function("mimalloc64", |b| b.iter(|| global_pair(&MiMalloc)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}

/// A named pattern to time.
type Row<'r> = (&'static str, Box<dyn FnMut() + 'r>);

/// Fixed-count loops timed with `Instant` and `rdtsc`, converted to core
/// cycles with the measured clock.
fn cycle_report() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a != "--bench") {
        // A filter, --profile-time, or `cargo test --benches` (no --bench).
        return;
    }
    let (t0, c0) = (Instant::now(), rdtsc());
    std::thread::sleep(Duration::from_millis(200));
    let (c1, t1) = (rdtsc(), Instant::now());
    let tsc_mhz = (c1 - c0) as f64 / t1.duration_since(t0).as_nanos() as f64 * 1000.0;
    let core = core_mhz();
    println!("\nTSC: {tsc_mhz:.1} MHz (rdtsc over a 200 ms sleep)");
    println!("core clock: ~{core:.0} MHz (a chain of dependent adds, 1 cycle each)");
    const N: u64 = 20_000_000;
    let (s, cache) = ours();
    let rows: [Row<'_>; 4] = [
        ("kmalloc64 (kmalloc + kfree)", Box::new(|| kmalloc_pair(s))),
        ("kmem_cache64 (alloc + free)", Box::new(|| cache_pair(s, cache))),
        ("system_malloc64 (glibc)", Box::new(|| global_pair(&System))),
        ("mimalloc64", Box::new(|| global_pair(&MiMalloc))),
    ];
    println!("{:<32} {:>9} {:>10} {:>12}", "pattern", "ns/pair", "TSC/pair", "cycles/pair");
    for (name, mut run) in rows {
        let (ns, ticks) = time(N, &mut run);
        println!("{name:<32} {ns:>9.2} {ticks:>10.1} {:>12.1}", ns * core / 1000.0);
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    cycle_report();
}
