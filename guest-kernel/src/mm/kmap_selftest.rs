//! `selftest=kmap`: kmap, the PKMAP window wrapping around (and its lazy
//! flush), kmap_local nesting, on HighMem when `lowmem=` made some.

use core::sync::atomic::Ordering::Relaxed;

use crate::mm::buddy::*;
use crate::mm::gfp::*;
use crate::mm::highmem::*;
use crate::mm::memmap::is_lowmem;
use crate::mm::page::Page;
use crate::mm::zone::*;

/// More pages than PKMAP slots, so the window must wrap and flush.
const NR_PAGES: usize = LAST_PKMAP + 64;

pub fn run() {
    match check() {
        Ok(()) => printk!("selftest kmap: ok"),
        Err(msg) => pr_err!("selftest kmap: FAILED: {msg}"),
    }
}

fn words(addr: crate::mm::addr::VirtAddr) -> *mut u64 {
    addr.as_mut_ptr()
}

fn check() -> Result<(), &'static str> {
    let a = page_alloc();
    a.drain_all_pages();
    let free_before = a.nr_free_pages_all();

    // Lowmem: kmap and kmap_local are the direct map, no slot used.
    let low = alloc_page(GFP_KERNEL).ok_or("GFP_KERNEL failed")?;
    if kmap(low) != page_address(low).ok_or("lowmem page without address")? {
        return Err("kmap of a lowmem page is not its direct-map address");
    }
    kunmap(low);
    let depth = kmap_local_depth();
    let local = kmap_local_page(low);
    if Some(local) != page_address(low) || kmap_local_depth() != depth {
        return Err("kmap_local of a lowmem page used a slot");
    }
    kunmap_local(local);
    __free_pages(low, 0);

    if !a.zones[ZONE_HIGHMEM].populated() {
        printk!("selftest kmap: no HighMem (boot with lowmem=) - lowmem paths only");
        return Ok(());
    }
    let flushes = KMAP_STATS.pkmap_flushes.load(Relaxed);
    let mut pages: [Option<&'static Page>; NR_PAGES] = [None; NR_PAGES];
    for (i, slot) in pages.iter_mut().enumerate() {
        let page = alloc_page(GFP_HIGHUSER).ok_or("GFP_HIGHUSER failed")?;
        if is_lowmem(page_to_pfn(page)) {
            return Err("GFP_HIGHUSER returned lowmem with HighMem free");
        }
        let addr = kmap(page);
        if !(PKMAP_BASE..PKMAP_BASE + (LAST_PKMAP as u64) * 4096).contains(&addr.as_u64()) {
            return Err("kmap of a HighMem page is outside the PKMAP window");
        }
        // A second kmap of a mapped page shares its slot.
        if kmap(page) != addr {
            return Err("two kmaps of one page got different addresses");
        }
        // SAFETY: `addr` maps the whole page we just allocated.
        unsafe {
            words(addr).write_volatile(i as u64);
            words(addr).add(511).write_volatile(!(i as u64));
        }
        kunmap(page);
        kunmap(page);
        *slot = Some(page);
    }
    if KMAP_STATS.pkmap_flushes.load(Relaxed) == flushes {
        return Err("the PKMAP window never wrapped and flushed");
    }
    if pkmap_usage().1 != 0 {
        return Err("PKMAP slots still in use after every kunmap");
    }

    // Read everything back through nested kmap_local mappings.
    for (i, chunk) in pages.chunks(3).enumerate() {
        let depth = kmap_local_depth();
        let maps: [Option<KmapLocal>; 3] = core::array::from_fn(|j| chunk.get(j).map(|p| KmapLocal::new(p.unwrap())));
        if kmap_local_depth() != depth + chunk.len() {
            return Err("kmap_local did not nest");
        }
        for (j, map) in maps.iter().enumerate().filter_map(|(j, m)| m.as_ref().map(|m| (j, m))) {
            let n = (i * 3 + j) as u64;
            // SAFETY: the mapping covers the whole page while `map` lives.
            let (first, last) = unsafe { (words(map.addr()).read_volatile(), words(map.addr()).add(511).read_volatile()) };
            if (first, last) != (n, !n) {
                return Err("a HighMem page lost its contents");
            }
        }
        // Array elements drop first to last; kmap_local needs the reverse.
        maps.into_iter().rev().for_each(drop);
        if kmap_local_depth() != depth {
            return Err("kmap_local mappings leaked");
        }
    }

    for page in pages.into_iter().flatten() {
        __free_pages(page, 0);
    }
    a.drain_all_pages();
    if a.nr_free_pages_all() != free_before {
        return Err("free page count did not return to its start");
    }
    printk!(
        "selftest kmap: {} HighMem kmaps, {} PKMAP flushes, {} HighMem kmap_local",
        KMAP_STATS.kmap_high.load(Relaxed),
        KMAP_STATS.pkmap_flushes.load(Relaxed),
        KMAP_STATS.kmap_atomic_high.load(Relaxed),
    );
    Ok(())
}
