//! `selftest=buddy`: exercises every populated zone and GFP path of the
//! page allocator on the real memory map, and checks that the free counts
//! return to where they started.

// A failure carries its message inline (no heap yet); the self-test is not
// a hot path.
#![allow(clippy::result_large_err)]

use crate::mm::addr::Pfn;
use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;

use crate::mm::addr::PAGE_SHIFT;
use crate::mm::buddy::*;
use crate::mm::gfp::*;
use crate::mm::highmem::KmapLocal;
use crate::mm::memmap::is_lowmem;
use crate::mm::page::{pg, Page};
use crate::mm::zone::*;
use crate::printk::StackString;

type Failure = StackString<160>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            let mut msg = Failure::new();
            let _ = write!(msg, $($arg)*);
            return Err(msg);
        }
    };
}

/// The mask that targets zone `idx`.
fn gfp_for_zone(idx: usize) -> Gfp {
    match idx {
        ZONE_DMA => GFP_KERNEL | __GFP_DMA,
        ZONE_DMA32 => GFP_KERNEL | __GFP_DMA32,
        ZONE_NORMAL => GFP_KERNEL,
        _ => GFP_HIGHUSER,
    }
}

/// Reads or writes the first and last word of a page frame, HighMem
/// through the fixmap.
fn frame_words(page: &Page, write: Option<u64>) -> (u64, u64) {
    let pfn = page_to_pfn(page).as_u64();
    let access = |p: *mut u64| {
        // SAFETY: `p` maps the whole 4 KiB frame of a page this test owns.
        unsafe {
            if let Some(v) = write {
                p.write_volatile(v);
                p.add(511).write_volatile(v);
            }
            (p.read_volatile(), p.add(511).read_volatile())
        }
    };
    if is_lowmem(Pfn::new(pfn)) {
        access(page_address(page).expect("lowmem").as_mut_ptr())
    } else {
        let map = KmapLocal::new(page);
        access(map.as_mut_ptr() as *mut u64)
    }
}

fn free_counts() -> [u64; MAX_NR_ZONES] {
    let a = page_alloc();
    a.drain_all_pages();
    core::array::from_fn(|i| a.zones[i].free_pages())
}

pub fn run() {
    match check() {
        Ok(()) => printk!("selftest buddy: ok"),
        Err(msg) => pr_err!("selftest buddy: FAILED: {}", core::str::from_utf8(msg.as_bytes()).unwrap_or("?")),
    }
}

fn check() -> Result<(), Failure> {
    let a = page_alloc();
    let start = free_counts();
    let zero_skipped = a.events.pgzero_skipped.load(Relaxed);

    // Every populated zone, every order, through the mask that targets it.
    for z in a.zones.iter().filter(|z| z.populated()) {
        let gfp = gfp_for_zone(z.idx);
        let mut held: [Option<&Page>; MAX_ORDER] = [None; MAX_ORDER];
        for (order, slot) in held.iter_mut().enumerate() {
            let gfp = if order <= 2 { gfp | __GFP_ZERO } else { gfp };
            let page = alloc_pages(gfp | __GFP_NOWARN, order);
            ensure!(page.is_some(), "{} order {order} allocation failed", z.name);
            let page = page.unwrap();
            let pfn = page_to_pfn(page).as_u64();
            ensure!(z.contains(Pfn::new(pfn)), "{:?} order {order} came from pfn {pfn:#x}, outside {}", gfp, z.name);
            ensure!(pfn.is_multiple_of(1 << order), "order {order} block at {pfn:#x} is misaligned");
            ensure!(page.refcount() == 1 && page.mapcount() == 0, "fresh page {pfn:#x} has refcount {}", page.refcount());
            if order <= 2 {
                ensure!(frame_words(page, None) == (0, 0), "__GFP_ZERO page {pfn:#x} is not zero");
            }
            ensure!(frame_words(page, Some(0x5a5a_5a5a)) == (0x5a5a_5a5a, 0x5a5a_5a5a), "page {pfn:#x} does not hold data");
            *slot = Some(page);
        }
        for (order, page) in held.iter().enumerate() {
            __free_pages(page.expect("allocated above"), order);
        }
        printk!("selftest buddy: zone {:>7}: orders 0-10 ok", z.name);
    }
    ensure!(a.events.pgzero_skipped.load(Relaxed) > zero_skipped, "no known-zero page was recognised");

    // A page used and freed is no longer known zero: __GFP_ZERO clears it.
    let page = alloc_page(GFP_KERNEL).expect("GFP_KERNEL");
    frame_words(page, Some(0xdead_beef));
    __free_pages(page, 0);
    let again = alloc_page(GFP_KERNEL | __GFP_ZERO).expect("GFP_KERNEL|__GFP_ZERO");
    ensure!(frame_words(again, None) == (0, 0), "reused page not cleared for __GFP_ZERO");
    __free_pages(again, 0);

    // The address-based API, compound and cold pages.
    let addr = get_zeroed_page(GFP_KERNEL).expect("get_zeroed_page");
    // SAFETY: a page this test just allocated, mapped in the direct map.
    ensure!(unsafe { addr.as_ptr::<u64>().read_volatile() } == 0, "get_zeroed_page not zero");
    free_page(addr);
    let dma = __get_dma_pages(GFP_KERNEL, 1).expect("__get_dma_pages");
    ensure!(page_to_pfn(virt_to_page(dma)).as_u64() < (16 << 20) >> PAGE_SHIFT, "__get_dma_pages above 16 MiB");
    free_pages(dma, 1);
    let any = __get_free_pages(GFP_HIGHUSER, 0).expect("__get_free_pages");
    free_pages(any, 0);
    let comp = alloc_pages(GFP_KERNEL | __GFP_COMP, 2).expect("__GFP_COMP");
    let head = page_to_pfn(comp).as_u64();
    ensure!(comp.test(pg::HEAD) && pfn_to_page(crate::mm::addr::Pfn::new(head + 3)).private() == head, "compound tails lost their head");
    __free_pages(comp, 2);
    let cold = alloc_page(GFP_KERNEL | __GFP_COLD).expect("__GFP_COLD");
    __free_pages(cold, 0);
    for gfp in [GFP_ATOMIC, GFP_NOWAIT, GFP_NOIO, GFP_NOFS, GFP_USER, GFP_KERNEL | __GFP_NORETRY, GFP_KERNEL | __GFP_NOFAIL] {
        let page = alloc_page(gfp);
        ensure!(page.is_some(), "{gfp:?} failed with memory free");
        __free_pages(page.unwrap(), 0);
    }

    // Watermarks, on ZONE_DMA: GFP_KERNEL stops at min, GFP_ATOMIC goes on
    // into the reserve, and the failure is reported once without NOWARN.
    let dma = &a.zones[ZONE_DMA];
    if dma.populated() {
        let mut held = Held::new();
        let min = dma.wmark(WMARK_MIN);
        while let Some(p) = alloc_pages(GFP_KERNEL | __GFP_DMA | __GFP_NOWARN, 3) {
            held.push(p, 3)?;
        }
        while let Some(p) = alloc_pages(GFP_KERNEL | __GFP_DMA | __GFP_NOWARN, 0) {
            held.push(p, 0)?;
        }
        let kernel_floor = dma.free_pages();
        ensure!(kernel_floor >= min, "GFP_KERNEL took ZONE_DMA below min: {kernel_floor} < {min}");
        ensure!(alloc_page(GFP_NOWAIT | __GFP_DMA | __GFP_NOWARN).is_none(), "GFP_NOWAIT went below min");
        while let Some(p) = alloc_pages(GFP_ATOMIC | __GFP_DMA | __GFP_NOWARN, 0) {
            held.push(p, 0)?;
        }
        let atomic_floor = dma.free_pages();
        ensure!(atomic_floor < kernel_floor, "GFP_ATOMIC could not use the reserve ({atomic_floor} free, min {min})");
        printk!("selftest buddy: ZONE_DMA min {min}: GFP_KERNEL stopped at {kernel_floor} free, GFP_ATOMIC at {atomic_floor}");
        printk!("selftest buddy: expect one allocation failure report:");
        ensure!(alloc_pages(GFP_KERNEL | __GFP_DMA, 3).is_none(), "order-3 DMA allocation succeeded in an exhausted zone");
        held.free_all();
    }

    if a.config.page_debug {
        let bad = a.events.bad_pages.load(Relaxed);
        let page = alloc_page(GFP_KERNEL).expect("GFP_KERNEL");
        __free_pages(page, 0);
        printk!("selftest buddy: expect one Bad page state report (double free):");
        __free_pages(page, 0);
        ensure!(a.events.bad_pages.load(Relaxed) == bad + 1, "double free not detected");
    }

    let end = free_counts();
    for (i, (s, e)) in start.iter().zip(&end).enumerate() {
        ensure!(s == e, "zone {} free pages {s} -> {e}: pages leaked or double counted", ZONE_NAMES[i]);
    }
    Ok(())
}

/// Blocks held by the watermark test, threaded through the blocks
/// themselves (ZONE_DMA is always lowmem, so each block's first words are
/// reachable through the direct map): no memory needed to hold memory.
struct Held {
    head: Option<&'static Page>,
}

impl Held {
    fn new() -> Self {
        Self { head: None }
    }
    fn push(&mut self, page: &'static Page, order: u8) -> Result<(), Failure> {
        let Some(addr) = page_address(page) else {
            let mut msg = Failure::new();
            let _ = write!(msg, "held page {:#x} is not in lowmem", page_to_pfn(page).as_u64());
            return Err(msg);
        };
        let next = self.head.map_or(0, |p| page_to_pfn(p).as_u64() + 1);
        // SAFETY: the block was just allocated to this test and is mapped in the direct map; its first two words are ours.
        unsafe {
            addr.as_mut_ptr::<u64>().write_volatile(next);
            addr.as_mut_ptr::<u64>().add(1).write_volatile(order as u64);
        }
        self.head = Some(page);
        Ok(())
    }
    fn free_all(&mut self) {
        while let Some(page) = self.head.take() {
            let addr = page_address(page).expect("checked in push");
            // SAFETY: written by `push` while the block was held.
            let (next, order) = unsafe { (addr.as_ptr::<u64>().read_volatile(), addr.as_ptr::<u64>().add(1).read_volatile()) };
            self.head = (next != 0).then(|| pfn_to_page(crate::mm::addr::Pfn::new(next - 1)));
            __free_pages(page, order as usize);
        }
    }
}
