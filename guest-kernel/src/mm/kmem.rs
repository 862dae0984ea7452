//! The kernel's slab allocator instance: the `#[global_allocator]` (so
//! `Box`, `Vec` and `BTreeMap` in the kernel are kmalloc), its boot-time
//! setup, the report hook that prints slab bugs, and the caches the process
//! layer will use (as Linux's `fork_init` and `proc_caches_init` create).

use crate::cmdline::Cmdline;
use crate::mm::buddy::page_alloc;
use crate::mm::memmap::KernelPhysMem;
use crate::mm::slab::{KmemCache, SlabAllocator, SlabConfig, SLAB_HWCACHE_ALIGN, SLAB_PANIC};
use crate::mm::slab_debug::SlabBug;
use crate::printk::with_console;
use crate::sync::Once;

#[global_allocator]
pub static SLAB: SlabAllocator<'static, KernelPhysMem> = SlabAllocator::new();

/// `task_struct`, `mm_struct`, `vm_area_struct` caches.
pub static TASK_STRUCT_CACHEP: Once<&'static KmemCache> = Once::new();
pub static MM_CACHEP: Once<&'static KmemCache> = Once::new();
pub static VM_AREA_CACHEP: Once<&'static KmemCache> = Once::new();

/// Object sizes reserved for the process layer's structures (they grow
/// into them; the caches exist from boot as in Linux).
const TASK_STRUCT_SIZE: usize = 1024;
const MM_STRUCT_SIZE: usize = 256;
const VM_AREA_STRUCT_SIZE: usize = 160;

fn report(bug: &SlabBug) {
    with_console(|w| {
        let _ = writeln!(w, "{bug}");
    });
}

/// Linux `kmem_cache_init` + `fork_init`: the kmalloc caches, then the
/// process layer's. `slub_debug=1` turns on red zones and poisoning for all.
pub fn kmem_cache_init(cmdline: &Cmdline) {
    let slub_debug = cmdline.get("slub_debug") == Some("1");
    SLAB.set_report_hook(report);
    if let Err(e) = SLAB.init(page_alloc(), SlabConfig { slub_debug }) {
        panic!("kmem_cache_init: {e}");
    }
    let create = |name, size| match SLAB.kmem_cache_create(name, size, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, None) {
        Ok(cache) => cache,
        Err(e) => panic!("kmem_cache_create {name}: {e}"),
    };
    let _ = TASK_STRUCT_CACHEP.set(create("task_struct", TASK_STRUCT_SIZE));
    let _ = MM_CACHEP.set(create("mm_struct", MM_STRUCT_SIZE));
    let _ = VM_AREA_CACHEP.set(create("vm_area_struct", VM_AREA_STRUCT_SIZE));
    if slub_debug {
        printk!("slub: debugging (red zones, poisoning) on for all caches");
    }
}

/// Free pages (with the per-CPU lists and slab arrays drained first) and
/// live slab objects over all caches: the baseline leak checks compare.
/// Lazily freed vmalloc areas are purged first, and the kernel's own
/// page-table pages (which only grow) count as free.
pub fn usage_counts() -> (u64, u64) {
    crate::mm::vmalloc::vm_unmap_aliases();
    SLAB.shrink_all();
    let a = crate::mm::buddy::page_alloc();
    a.drain_all_pages();
    let mut objects = 0;
    SLAB.for_each_cache(|c| objects += c.stats().active_objs);
    let tables = crate::mm::vmalloc::NR_KERNEL_TABLES.load(core::sync::atomic::Ordering::Relaxed);
    (a.nr_free_pages_all() + tables, objects)
}
