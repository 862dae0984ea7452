//! Host benchmarks of the buddy page allocator (`mm::page_alloc`) over a
//! 1 GiB `FakeRam`, with `buddy_system_allocator`'s frame allocator as a
//! peer:
//!
//! * `order0_pcp`: an order-0 `GFP_KERNEL` alloc + free pair through the
//!   per-CPU list (the fast path);
//! * `order0_nopcp`: the same pair with every zone's pcp `high` and `batch`
//!   set to 1, so each free drains the page to the buddy lists (where it
//!   merges) and each allocation refills one page from them (splitting);
//! * `order3`: an order-3 pair, always through the buddy lists.
//!
//! With all memory free, every pair through the buddy lists splits a
//! max-order block down to the order asked for and merges it back up (ten
//! levels each way for order 0). The `*_held_buddy` variants first take one
//! block of the order so that its free buddy serves every pair without any
//! split or merge: the cost of the lists alone.
//!
//! The peer has no per-CPU lists: its order-0 pair stands against both of
//! ours. It is measured bare (`FrameAllocator`, `&mut self`) and behind its
//! spinlock (`LockedFrameAllocator`), ours always takes its spinlocks.
//!
//! After criterion's runs (unless a filter or `--profile-time` is given), a
//! fixed-count loop per pattern timed with both `Instant` and `rdtsc` prints
//! ns and TSC cycles per pair, and the core clock is estimated from a chain
//! of dependent adds (one cycle each).
//!
//! `cargo bench -p guest-kernel --bench buddy`

use std::hint::black_box;
use std::time::{Duration, Instant};

use buddy_system_allocator::{FrameAllocator, LockedFrameAllocator};
use criterion::{criterion_group, Criterion};

mod common;
use common::{config, core_mhz, rdtsc, time};
use kernel::mm::addr::Pfn;
use kernel::mm::fake::FakeRam;
use kernel::mm::gfp::GFP_KERNEL;
use kernel::mm::page_alloc::{AllocConfig, PageAlloc};

/// 1 GiB of 4 KiB pages.
const NPAGES: u64 = 262_144;
/// 16 MiB: the end of ZONE_DMA.
const DMA_END: u64 = 4096;
/// RAM below 1 MiB stays reserved, as at boot.
const FIRST_FREE: u64 = 256;

/// The allocator as `mem_init` leaves it for 1 GiB: DMA and DMA32.
fn ours(pcp: bool) -> PageAlloc<FakeRam> {
    let spans = [(0, DMA_END), (DMA_END, NPAGES), (0, 0), (0, 0)];
    let mut a = PageAlloc::new(FakeRam::new(NPAGES, false), spans, AllocConfig::default());
    a.add_present(Pfn::new(0), Pfn::new(NPAGES));
    a.free_boot_range(Pfn::new(FIRST_FREE), Pfn::new(NPAGES), true);
    a.setup_watermarks();
    if !pcp {
        for z in &a.zones {
            let mut pcp = z.pcp[0].lock();
            pcp.high = 1;
            pcp.batch = 1;
        }
    }
    // Warm: materialise the first deferred block, fill the pcp list.
    let p = a.alloc_pages(GFP_KERNEL, 0).unwrap();
    a.free_pages(p, 0).unwrap();
    a
}

/// [`ours`] with one block of `order` held for good: its buddy stays free
/// at that order and serves every pair.
fn ours_held_buddy(pcp: bool, order: usize) -> PageAlloc<FakeRam> {
    let a = ours(pcp);
    // Splitting for it leaves its buddy free at `order` (for order 0 with
    // the pcp off, the refill takes only the one page).
    let held = a.alloc_pages(GFP_KERNEL, order).unwrap();
    let p = a.alloc_pages(GFP_KERNEL, order).unwrap();
    assert_eq!(p, held.buddy(order), "the pairs would not use the held block's buddy");
    a.free_pages(p, order).unwrap();
    a
}

/// The peer, with max order 10 like ours.
fn peer() -> FrameAllocator<11> {
    let mut f = FrameAllocator::<11>::new();
    f.add_frame(FIRST_FREE as usize, NPAGES as usize);
    f
}

fn locked_peer() -> LockedFrameAllocator<11> {
    let f = LockedFrameAllocator::<11>::new();
    f.lock().add_frame(FIRST_FREE as usize, NPAGES as usize);
    f
}

#[inline(always)]
fn ours_pair(a: &PageAlloc<FakeRam>, order: usize) {
    let pfn = a.alloc_pages(black_box(GFP_KERNEL), black_box(order)).unwrap();
    a.free_pages(black_box(pfn), order).unwrap();
}

#[inline(always)]
fn peer_pair(f: &mut FrameAllocator<11>, count: usize) {
    let frame = f.alloc(black_box(count)).unwrap();
    f.dealloc(black_box(frame), count);
}

#[inline(always)]
fn locked_peer_pair(f: &LockedFrameAllocator<11>, count: usize) {
    let frame = f.lock().alloc(black_box(count)).unwrap();
    f.lock().dealloc(black_box(frame), count);
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("order0_pcp");
    let a = ours(true);
    g.bench_function("ours", |b| b.iter(|| ours_pair(&a, 0)));
    let mut f = peer();
    g.bench_function("buddy_system_allocator", |b| b.iter(|| peer_pair(&mut f, 1)));
    let lf = locked_peer();
    g.bench_function("buddy_system_allocator_locked", |b| b.iter(|| locked_peer_pair(&lf, 1)));
    g.finish();

    let mut g = c.benchmark_group("order0_nopcp");
    let a = ours(false);
    g.bench_function("ours", |b| b.iter(|| ours_pair(&a, 0)));
    let a = ours_held_buddy(false, 0);
    g.bench_function("ours_held_buddy", |b| b.iter(|| ours_pair(&a, 0)));
    g.finish();

    let mut g = c.benchmark_group("order3");
    let a = ours(true);
    g.bench_function("ours", |b| b.iter(|| ours_pair(&a, 3)));
    let a = ours_held_buddy(true, 3);
    g.bench_function("ours_held_buddy", |b| b.iter(|| ours_pair(&a, 3)));
    let mut f = peer();
    g.bench_function("buddy_system_allocator", |b| b.iter(|| peer_pair(&mut f, 8)));
    let lf = locked_peer();
    g.bench_function("buddy_system_allocator_locked", |b| b.iter(|| locked_peer_pair(&lf, 8)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}

/// Fixed-count loops timed with `Instant` and `rdtsc`, and the TSC
/// frequency those imply.
fn tsc_report() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a != "--bench") || args.is_empty() {
        // A filter, --profile-time, or `cargo test --benches` (no --bench).
        return;
    }
    let (t0, c0) = (Instant::now(), rdtsc());
    std::thread::sleep(Duration::from_millis(200));
    let (c1, t1) = (rdtsc(), Instant::now());
    let mhz = (c1 - c0) as f64 / t1.duration_since(t0).as_nanos() as f64 * 1000.0;
    println!("\nTSC: {mhz:.1} MHz (rdtsc over a 200 ms sleep)");
    if let Some(core) = core_mhz() {
        println!("core clock: ~{core:.0} MHz (a chain of dependent adds, 1 cycle each)");
    }
    const N: u64 = 5_000_000;
    let pcp = ours(true);
    let nopcp = ours(false);
    let nopcp_held = ours_held_buddy(false, 0);
    let order3_held = ours_held_buddy(true, 3);
    let (mut f0, mut f3) = (peer(), peer());
    let lf = locked_peer();
    type Row<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let rows: [Row; 9] = [
        ("order0_pcp/ours", Box::new(|| ours_pair(&pcp, 0))),
        ("order0_nopcp/ours", Box::new(|| ours_pair(&nopcp, 0))),
        ("order0_nopcp/ours_held_buddy", Box::new(|| ours_pair(&nopcp_held, 0))),
        ("order3/ours", Box::new(|| ours_pair(&pcp, 3))),
        ("order3/ours_held_buddy", Box::new(|| ours_pair(&order3_held, 3))),
        ("order0/buddy_system_allocator", Box::new(|| peer_pair(&mut f0, 1))),
        ("order3/buddy_system_allocator", Box::new(|| peer_pair(&mut f3, 8))),
        ("order0/buddy_system_allocator_locked", Box::new(|| locked_peer_pair(&lf, 1))),
        ("order3/buddy_system_allocator_locked", Box::new(|| locked_peer_pair(&lf, 8))),
    ];
    println!("{:<40} {:>10} {:>14}", "pattern", "ns/pair", "TSC ticks/pair");
    for (name, mut run) in rows {
        let (ns, ticks) = time(N, &mut run);
        println!("{name:<40} {ns:>10.2} {ticks:>14.1}");
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    tsc_report();
}
