//! `selftest=vmalloc`: vmalloc/vzalloc/vfree and vmap/vunmap on the real
//! page tables: contiguous virtual memory over scattered (HighMem first)
//! pages, guard pages unmapped, lazy purge, every page given back.

extern crate alloc;

use alloc::vec::Vec;

use crate::mm::addr::{Pfn, VirtAddr, PAGE_SIZE};
use crate::mm::buddy::*;
use crate::mm::gfp::*;
use crate::mm::highmem::KmapLocal;
use crate::mm::memmap::is_lowmem;
use crate::mm::vmalloc::*;

pub fn run() {
    match check() {
        Ok(()) => printk!("selftest vmalloc: ok"),
        Err(msg) => pr_err!("selftest vmalloc: FAILED: {msg}"),
    }
}

fn free_pages_now() -> u64 {
    crate::mm::kmem::SLAB.shrink_all();
    let a = page_alloc();
    a.drain_all_pages();
    a.nr_free_pages_all()
}

fn check() -> Result<(), &'static str> {
    // vmalloc keeps the page tables it creates (as Linux does), and its
    // bookkeeping keeps the capacity it grew: a first round warms both up,
    // the second must give back every page it took.
    round(None)?;
    round(Some(free_pages_now()))
}

fn round(start: Option<u64>) -> Result<(), &'static str> {
    let areas = area_counts().0;
    let highmem = page_alloc().zones[crate::mm::zone::ZONE_HIGHMEM].populated();

    let mut held = Vec::new();
    for size in [1u64, 4096, 16 * 1024, 100_000, 1 << 20] {
        let addr = vmalloc(size).ok_or("vmalloc failed")?;
        let pages = size.div_ceil(PAGE_SIZE);
        // Write every page, read it back.
        for i in 0..pages {
            let p = addr.add(i * PAGE_SIZE).as_mut_ptr::<u64>();
            // SAFETY: inside the area just allocated.
            unsafe { p.write_volatile(size ^ i) };
        }
        for i in 0..pages {
            // SAFETY: as above.
            if unsafe { addr.add(i * PAGE_SIZE).as_ptr::<u64>().read_volatile() } != size ^ i {
                return Err("vmalloc memory did not keep its contents");
            }
            let pfn = vmalloc_to_pfn(addr.add(i * PAGE_SIZE)).ok_or("vmalloc page not mapped")?;
            if highmem && is_lowmem(Pfn::new(pfn)) {
                return Err("vmalloc took lowmem while HighMem was free");
            }
        }
        if vmalloc_to_pfn(addr.add(pages * PAGE_SIZE)).is_some() {
            return Err("the guard page after an area is mapped");
        }
        held.push(addr);
    }
    let z = vzalloc(64 * 1024).ok_or("vzalloc failed")?;
    for i in 0..64 * 1024 / 8 {
        // SAFETY: inside the vzalloc area.
        if unsafe { z.as_ptr::<u64>().add(i).read_volatile() } != 0 {
            return Err("vzalloc memory not zero");
        }
    }
    held.push(z);

    // vmap: four pages, written through the vmap, read through kmap.
    let pages: Vec<_> = (0..4).map(|_| alloc_page(GFP_HIGHUSER)).collect::<Option<_>>().ok_or("GFP_HIGHUSER failed")?;
    let v = vmap(&pages).ok_or("vmap failed")?;
    for i in 0..4u64 {
        // SAFETY: inside the vmap area.
        unsafe { v.add(i * PAGE_SIZE + 8).as_mut_ptr::<u64>().write_volatile(0xfeed + i) };
    }
    for (i, page) in pages.iter().enumerate() {
        let map = KmapLocal::new(page);
        // SAFETY: the kmap covers the page.
        if unsafe { map.addr().add(8).as_ptr::<u64>().read_volatile() } != 0xfeed + i as u64 {
            return Err("vmap and kmap disagree about a page");
        }
    }
    vunmap(v);
    for page in pages {
        __free_pages(page, 0);
    }

    if area_counts().0 != areas + held.len() {
        return Err("busy area count is wrong");
    }
    if start.is_some() {
        printk!("selftest vmalloc: /proc/vmallocinfo while the test holds its areas:");
        crate::printk::with_console(|w| {
            let _ = vmallocinfo(w);
        });
    }
    for addr in held.drain(..) {
        vfree(addr);
    }
    drop(held);
    vfree(VirtAddr::new(0));
    vm_unmap_aliases();
    if area_counts() != (areas, 0) {
        return Err("areas left busy or unpurged after vfree and purge");
    }
    let end = free_pages_now();
    let Some(start) = start else { return Ok(()) };
    if end != start {
        printk!("selftest vmalloc: free pages {start} -> {end}");
        return Err("free pages did not return to their start");
    }
    Ok(())
}
