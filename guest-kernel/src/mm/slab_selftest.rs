//! `selftest=slab`: a private cache with a constructor, every kmalloc size
//! class, kzalloc/krealloc/ksize, DMA kmalloc, large kmalloc, and Rust
//! collections through the global allocator; then free page and object
//! counts must be back where they started.

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::gfp::*;
use crate::mm::kmem::SLAB;
use crate::mm::slab::SLAB_HWCACHE_ALIGN;

static CTOR_CALLS: AtomicU64 = AtomicU64::new(0);

fn ctor(obj: *mut u8) {
    CTOR_CALLS.fetch_add(1, Relaxed);
    // SAFETY: the slab layer passes a fresh object of at least 100 bytes.
    unsafe { obj.cast::<u64>().write(0xc0ffee) };
}

pub fn run() {
    match check() {
        Ok(()) => printk!("selftest slab: ok"),
        Err(msg) => pr_err!("selftest slab: FAILED: {msg}"),
    }
}

fn counts() -> (u64, u64) {
    crate::mm::kmem::usage_counts()
}

fn check() -> Result<(), &'static str> {
    let start = counts();

    // A cache of our own: alignment, constructor once per object.
    let cache = SLAB.kmem_cache_create("selftest_obj", 100, 0, SLAB_HWCACHE_ALIGN, Some(ctor)).map_err(|_| "kmem_cache_create failed")?;
    let mut objs: Vec<NonNull<u8>> = Vec::new();
    for i in 0..300u64 {
        let obj = SLAB.kmem_cache_alloc(cache, GFP_KERNEL).ok_or("kmem_cache_alloc failed")?;
        if !(obj.as_ptr() as usize).is_multiple_of(64) {
            return Err("SLAB_HWCACHE_ALIGN object not cache-line aligned");
        }
        // SAFETY: a live 100-byte object of this cache.
        unsafe {
            if i < 10 && obj.cast::<u64>().read() != 0xc0ffee {
                return Err("constructor did not run before first use");
            }
            obj.cast::<u64>().add(1).write(i);
        }
        objs.push(obj);
    }
    let total = cache.stats().num_objs;
    if CTOR_CALLS.load(Relaxed) != total {
        return Err("constructor calls differ from objects created");
    }
    objs.sort();
    if objs.windows(2).any(|w| (w[1].as_ptr() as usize) - (w[0].as_ptr() as usize) < 100) {
        return Err("objects overlap");
    }
    for obj in objs.drain(..) {
        // SAFETY: allocated above from `cache`, freed once.
        unsafe { SLAB.kmem_cache_free(cache, obj) };
    }
    drop(objs);
    SLAB.kmem_cache_shrink(cache);
    SLAB.kmem_cache_destroy(cache).map_err(|_| "kmem_cache_destroy refused an empty cache")?;

    // Every kmalloc size class, and beyond.
    for size in [1usize, 8, 9, 64, 65, 96, 97, 192, 193, 1000, 4096, 8192, 8193, 65536] {
        let p = SLAB.kmalloc(size, GFP_KERNEL).ok_or("kmalloc failed")?;
        // SAFETY: `p` holds at least `size` bytes.
        unsafe {
            if SLAB.ksize(p.as_ptr()) < size {
                return Err("ksize below the requested size");
            }
            p.as_ptr().write_bytes(0x5a, size);
            SLAB.kfree(p.as_ptr());
        }
    }
    let z = SLAB.kzalloc(500, GFP_KERNEL).ok_or("kzalloc failed")?;
    // SAFETY: 500 bytes from kzalloc.
    unsafe {
        if core::slice::from_raw_parts(z.as_ptr(), 500).iter().any(|&b| b != 0) {
            return Err("kzalloc memory not zero");
        }
        z.as_ptr().write_bytes(7, 500);
        let r = SLAB.krealloc(z.as_ptr(), 3000, GFP_KERNEL).ok_or("krealloc failed")?;
        if core::slice::from_raw_parts(r.as_ptr(), 500).iter().any(|&b| b != 7) {
            return Err("krealloc lost the contents");
        }
        SLAB.kfree(r.as_ptr());
    }
    let dma = SLAB.kmalloc(128, GFP_KERNEL | GFP_DMA).ok_or("DMA kmalloc failed")?;
    if (dma.as_ptr() as u64) - crate::mm::addr::PAGE_OFFSET >= 16 << 20 {
        return Err("GFP_DMA kmalloc above 16 MiB");
    }
    // SAFETY: from kmalloc above.
    unsafe { SLAB.kfree(dma.as_ptr()) };

    // Box, Vec and BTreeMap are kmalloc.
    let mut v: Vec<u64> = (0..20_000).collect();
    v.retain(|x| x % 3 == 0);
    let map: BTreeMap<u64, alloc::boxed::Box<[u8; 40]>> = v.iter().take(500).map(|&k| (k, alloc::boxed::Box::new([k as u8; 40]))).collect();
    if map.get(&300).map(|b| b[0]) != Some(300u64 as u8) || v.len() != 6667 {
        return Err("collections over kmalloc misbehaved");
    }
    drop(map);
    drop(v);

    let end = counts();
    if end != start {
        printk!("selftest slab: free pages {} -> {}, live objects {} -> {}", start.0, end.0, start.1, end.1);

        return Err("free pages or live objects did not return to their start");
    }
    Ok(())
}
