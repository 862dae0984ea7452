//! The kernel's slab allocator instance: the `#[global_allocator]` (so
//! `Box`, `Vec` and `BTreeMap` in the kernel are kmalloc), its boot-time
//! setup and the report hook that prints slab bugs. Each subsystem creates
//! its own caches (the process layer's in `proc::proc_caches_init`).

use crate::cmdline::Cmdline;
use crate::mm::buddy::page_alloc;
use crate::mm::physmem::KernelPhysMem;
use crate::mm::slab::{KmemCache, SlabAllocator, SlabConfig, SLAB_HWCACHE_ALIGN, SLAB_PANIC};
use crate::mm::slab_debug::SlabBug;
use crate::printk::{with_console_level, KERN_ERR};
use crate::sync::Once;

#[global_allocator]
pub static SLAB: SlabAllocator<'static, KernelPhysMem> = SlabAllocator::new();

/// The `vm_area_struct` cache, where [`VmaBox`](crate::mm::vma_box::VmaBox)
/// keeps VMAs: created by the layer that knows what VMAs map (its size
/// depends on the file type), `proc::proc_caches_init`.
pub static VM_AREA_CACHEP: Once<&'static KmemCache> = Once::new();

fn report(bug: &SlabBug) {
    with_console_level(KERN_ERR, |w| {
        let _ = writeln!(w, "{bug}");
    });
}

/// Linux `kmem_cache_init`: the kmalloc caches. `slub_debug=1` turns on
/// red zones and poisoning for all caches, later ones included.
pub fn kmem_cache_init(cmdline: &Cmdline) {
    let slub_debug = cmdline.get("slub_debug") == Some("1");
    SLAB.set_report_hook(report);
    if let Err(e) = SLAB.init(page_alloc(), SlabConfig { slub_debug }) {
        panic!("kmem_cache_init: {e}");
    }
    if slub_debug {
        printk!("slub: debugging (red zones, poisoning) on for all caches");
    }
}

/// Free pages (with the per-CPU lists and slab arrays drained first) and
/// live slab objects over all caches: the baseline leak checks compare.
/// Lazily freed vmalloc areas are purged first, and the kernel's own
/// page-table pages (which only grow) count as free. So do the pages of
/// slab caches: slab memory is checked by its objects, and the same
/// objects can sit in more slabs after a run (objects freed in one slab,
/// allocated again in another), which is fragmentation, not a leak.
pub fn usage_counts() -> (u64, u64) {
    let u = usage();
    (u.free_pages, u.objects())
}

/// Slab caches [`Usage`] tells apart (more are added up in the last).
const USAGE_CACHES: usize = 64;

/// What [`usage_counts`] adds up: free pages and live objects per cache.
/// A fixed array, not a `Vec`: a measurement must not allocate what the
/// next one counts.
pub struct Usage {
    pub free_pages: u64,
    objects: [(&'static str, u64); USAGE_CACHES],
    nr: usize,
}

/// Free pages and live objects per slab cache, measured as
/// [`usage_counts`] does.
pub fn usage() -> Usage {
    crate::mm::vmalloc::vm_unmap_aliases();
    SLAB.shrink_all();
    let a = crate::mm::buddy::page_alloc();
    a.drain_all_pages();
    let mut u = Usage { free_pages: 0, objects: [("", 0); USAGE_CACHES], nr: 0 };
    let mut slab_pages = 0;
    SLAB.for_each_cache(|c| {
        slab_pages += c.stats().num_slabs << c.layout().map_or(0, |l| l.order);
        let i = u.nr.min(USAGE_CACHES - 1);
        if u.nr < USAGE_CACHES {
            u.objects[i].0 = c.name();
            u.nr += 1;
        } else {
            u.objects[i].0 = "(other caches)";
        }
        u.objects[i].1 += c.stats().active_objs;
    });
    let tables = crate::mm::vmalloc::NR_KERNEL_TABLES.load(core::sync::atomic::Ordering::Relaxed);
    u.free_pages = a.nr_free_pages_all() + tables + slab_pages;
    u
}

impl Usage {
    /// Live objects over all caches.
    pub fn objects(&self) -> u64 {
        self.objects[..self.nr].iter().map(|(_, n)| n).sum()
    }

    /// The caches whose live objects differ from `before`'s, as
    /// `name +N` / `name -N`.
    pub fn diff(&self, before: &Usage) -> alloc::string::String {
        use core::fmt::Write;
        let mut out = alloc::string::String::new();
        for &(name, n) in &self.objects[..self.nr] {
            let was = before.objects[..before.nr].iter().find(|(b, _)| *b == name).map_or(0, |&(_, n)| n);
            if n != was {
                let _ = write!(out, "{}{name} {:+}", if out.is_empty() { "" } else { ", " }, n as i64 - was as i64);
            }
        }
        out
    }
}

/// Creates a cache for `size`-byte objects that the kernel cannot run
/// without (Linux `SLAB_PANIC`).
pub fn create_cache(name: &'static str, size: usize) -> &'static KmemCache {
    match SLAB.kmem_cache_create(name, size, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, None) {
        Ok(cache) => cache,
        Err(e) => panic!("kmem_cache_create {name}: {e}"),
    }
}

/// An object in a slab cache, owned like a `Box` (Linux code allocates
/// `task_struct` and `mm_struct` from their caches the same way). The
/// address is stable for the object's life.
pub struct CacheBox<T> {
    ptr: core::ptr::NonNull<T>,
    cache: &'static KmemCache,
}

impl<T> CacheBox<T> {
    /// Moves `value` into a new object of `cache`, which must be large and
    /// aligned enough for `T` (checked); `None` when out of memory.
    pub fn new(cache: &'static KmemCache, value: T) -> Option<Self> {
        assert!(
            cache.object_size() >= core::mem::size_of::<T>() && cache.align() >= core::mem::align_of::<T>(),
            "cache {} ({} bytes, align {}) cannot hold a {}-byte object",
            cache.name(),
            cache.object_size(),
            cache.align(),
            core::mem::size_of::<T>()
        );
        let raw = SLAB.kmem_cache_alloc(cache, crate::mm::gfp::GFP_KERNEL)?.cast::<T>();
        // SAFETY: a fresh object of at least size_of::<T>() bytes, aligned for T (checked above), owned by us.
        unsafe { raw.as_ptr().write(value) };
        Some(Self { ptr: raw, cache })
    }
}

impl<T> CacheBox<T> {
    /// Like [`CacheBox::new`], but gives `value` back when the cache has no
    /// object to spare.
    pub fn new_or(cache: &'static KmemCache, value: T) -> Result<Self, T> {
        assert!(cache.object_size() >= core::mem::size_of::<T>() && cache.align() >= core::mem::align_of::<T>());
        let Some(raw) = SLAB.kmem_cache_alloc(cache, crate::mm::gfp::GFP_KERNEL) else { return Err(value) };
        let raw = raw.cast::<T>();
        // SAFETY: a fresh object of at least size_of::<T>() bytes, aligned for T (checked above), owned by us.
        unsafe { raw.as_ptr().write(value) };
        Ok(Self { ptr: raw, cache })
    }

    /// The object, no longer owned by a box (for a counted owner such as
    /// `proc::shared::Shared`, which rebuilds it with [`CacheBox::from_raw`]).
    pub fn into_raw(self) -> core::ptr::NonNull<T> {
        core::mem::ManuallyDrop::new(self).ptr
    }

    /// The box again around an object of `cache` that [`CacheBox::into_raw`]
    /// gave out.
    ///
    /// # Safety
    /// `ptr` came from `into_raw` of a box of `cache`, and nothing else
    /// owns it now.
    pub unsafe fn from_raw(ptr: core::ptr::NonNull<T>, cache: &'static KmemCache) -> Self {
        Self { ptr, cache }
    }

    /// Moves the value out and gives the object back to its cache.
    pub fn into_inner(self) -> T {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the object holds a live T that we own; it is read once and the memory freed without dropping it again.
        unsafe {
            let value = this.ptr.as_ptr().read();
            SLAB.kmem_cache_free(this.cache, this.ptr.cast());
            value
        }
    }
}

impl<T> core::ops::Deref for CacheBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in `new`, valid until drop; we own it.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> core::ops::DerefMut for CacheBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes the access unique.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for CacheBox<T> {
    fn drop(&mut self) {
        // SAFETY: the object holds a live T that nothing else references; after dropping it the memory goes back to the cache it came from.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            SLAB.kmem_cache_free(self.cache, self.ptr.cast());
        }
    }
}
