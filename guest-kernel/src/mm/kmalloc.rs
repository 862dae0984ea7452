//! kmalloc (Linux `mm/slab_common.c`): general-purpose allocations from
//! size-class caches `kmalloc-8` ... `kmalloc-8k` (and `dma-kmalloc-*` for
//! `__GFP_DMA`), larger ones straight from the page allocator as compound
//! pages.
//!
//! Alignment: at least 8 bytes; power-of-two sizes are naturally aligned
//! (in physical and direct-map addresses; the caches are created with
//! `align = size` and slabs are naturally aligned buddy blocks).
//! `kfree` finds what it frees from the page: a `PG_slab` head gives the
//! cache, a compound head marked [`PAGE_TYPE_LARGE_KMALLOC`] a large
//! allocation; anything else is reported.

use crate::mm::addr::Pfn;
use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::Ordering::{Relaxed, Release};

use crate::mm::gfp::{Gfp, __GFP_COMP, __GFP_DMA, __GFP_HIGHMEM, __GFP_NO_INJECT, __GFP_ZERO, GFP_KERNEL};
use crate::mm::page::{pg, Page, PhysMem};
use crate::mm::page_alloc::PageAlloc;
use crate::mm::slab::{get_order, KmemCache, SlabAllocator, SlabError, NO_CACHE, PAGE_SIZE, SLAB_CACHE_DMA};
use crate::mm::slab_debug::{SlabBug, SlabBugKind, SlabFix};
use crate::mm::zone::MAX_ORDER;

pub use crate::mm::slab::layout::{KMALLOC_SMALL_GRANULES, NR_KMALLOC_CACHES};
/// The size classes, in index order.
pub const KMALLOC_SIZES: [usize; NR_KMALLOC_CACHES] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
pub const KMALLOC_NAMES: [&str; NR_KMALLOC_CACHES] = [
    "kmalloc-8",
    "kmalloc-16",
    "kmalloc-32",
    "kmalloc-64",
    "kmalloc-96",
    "kmalloc-128",
    "kmalloc-192",
    "kmalloc-256",
    "kmalloc-512",
    "kmalloc-1k",
    "kmalloc-2k",
    "kmalloc-4k",
    "kmalloc-8k",
];
pub const DMA_KMALLOC_NAMES: [&str; NR_KMALLOC_CACHES] = [
    "dma-kmalloc-8",
    "dma-kmalloc-16",
    "dma-kmalloc-32",
    "dma-kmalloc-64",
    "dma-kmalloc-96",
    "dma-kmalloc-128",
    "dma-kmalloc-192",
    "dma-kmalloc-256",
    "dma-kmalloc-512",
    "dma-kmalloc-1k",
    "dma-kmalloc-2k",
    "dma-kmalloc-4k",
    "dma-kmalloc-8k",
];
/// Linux `ARCH_KMALLOC_MINALIGN`.
pub const ARCH_KMALLOC_MINALIGN: usize = 8;
/// Largest size served by a cache (Linux `KMALLOC_MAX_CACHE_SIZE`).
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;
/// Largest kmalloc: the largest buddy block (Linux `KMALLOC_MAX_SIZE`).
pub const KMALLOC_MAX_SIZE: usize = PAGE_SIZE << (MAX_ORDER - 1);
/// What `kmalloc(0)` returns; `kfree` ignores it (Linux `ZERO_SIZE_PTR`).
pub const ZERO_SIZE_PTR: usize = 16;
/// `page_type` of a large kmalloc's head page (Linux `PGTY_large_kmalloc`).
pub const PAGE_TYPE_LARGE_KMALLOC: u32 = 0xf600_0000;

/// Size classes for 1..=192 bytes by `(size - 1) / 8` (Linux
/// `kmalloc_size_index`): 96 and 192 sit between the powers of two.
const SIZE_INDEX: [u8; KMALLOC_SMALL_GRANULES] = [0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6];

/// The size class of a `size`-byte request (Linux `kmalloc_index`), an
/// index into [`KMALLOC_SIZES`]; `None` for 0 and above 8 KiB.
#[inline]
pub const fn kmalloc_index(size: usize) -> Option<usize> {
    if size == 0 || size > KMALLOC_MAX_CACHE_SIZE {
        None
    } else if size <= 192 {
        Some(SIZE_INDEX[(size - 1) / 8] as usize)
    } else {
        // 193..=256 -> 7 (256), ..., 4097..=8192 -> 12 (8k).
        Some((usize::BITS - (size - 1).leading_zeros()) as usize - 1)
    }
}

fn zero_size_ptr() -> NonNull<u8> {
    NonNull::new(core::ptr::without_provenance_mut(ZERO_SIZE_PTR)).expect("nonzero")
}

impl<'a, M: PhysMem> SlabAllocator<'a, M> {
    /// Creates `kmalloc-*` and `dma-kmalloc-*` (Linux
    /// `create_kmalloc_caches`).
    pub(crate) fn create_kmalloc_caches(&self) -> Result<(), SlabError> {
        for (dma, names) in [(0, &KMALLOC_NAMES), (1, &DMA_KMALLOC_NAMES)] {
            for (i, (&size, &name)) in KMALLOC_SIZES.iter().zip(names.iter()).enumerate() {
                let align = if size.is_power_of_two() { size } else { ARCH_KMALLOC_MINALIGN };
                let flags = if dma == 1 { SLAB_CACHE_DMA } else { 0 };
                let c = self.kmem_cache_create(name, size, align, flags, None)?;
                let off = self.offset_of_cache(c).ok_or(SlabError::NotActive)?;
                self.kmalloc[dma][i].store(off, Release);
                for (g, &class) in SIZE_INDEX.iter().enumerate() {
                    if class as usize == i {
                        self.kmalloc_small[dma][g].store(off, Release);
                    }
                }
            }
        }
        Ok(())
    }

    /// The cache `kmalloc(size, gfp)` uses (`None` above 8 KiB).
    #[inline(always)]
    pub fn kmalloc_cache(&self, size: usize, gfp: Gfp) -> Option<&KmemCache> {
        let dma = gfp.contains(__GFP_DMA) as usize;
        let off = if size == 0 || size > KMALLOC_MAX_CACHE_SIZE {
            return None;
        } else if size <= 8 * KMALLOC_SMALL_GRANULES {
            self.kmalloc_small[dma][(size - 1) / 8].load(Relaxed)
        } else {
            self.kmalloc[dma][kmalloc_index(size)?].load(Relaxed)
        };
        self.kmalloc_at(off)
    }

    /// The cache at an offset from kmalloc's tables.
    #[inline(always)]
    fn kmalloc_at(&self, off: u32) -> Option<&KmemCache> {
        if off == NO_CACHE {
            return None;
        }
        // SAFETY: the tables hold only offsets of kmalloc's caches, written by `create_kmalloc_caches` from `offset_of_cache`.
        Some(unsafe { &*self.caches_ptr().byte_add(off as usize) })
    }

    /// Allocates `size` bytes (Linux `kmalloc`). `kmalloc(0)` is
    /// [`ZERO_SIZE_PTR`]; above 8 KiB the pages come straight from the page
    /// allocator; `__GFP_DMA` uses `dma-kmalloc-*` / ZONE_DMA; `__GFP_ZERO`
    /// zeroes.
    #[inline(always)]
    pub fn kmalloc(&self, size: usize, gfp: Gfp) -> Option<NonNull<u8>> {
        // One comparison for the common case: 0 wraps to the top.
        let granule = size.wrapping_sub(1) / 8;
        if granule < KMALLOC_SMALL_GRANULES {
            let off = self.kmalloc_small[gfp.contains(__GFP_DMA) as usize][granule].load(Relaxed);
            return self.alloc_in(self.kmalloc_at(off)?, gfp);
        }
        if size == 0 {
            return Some(zero_size_ptr());
        }
        if size > KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc_large(size, gfp);
        }
        self.alloc_in(self.kmalloc_cache(size, gfp)?, gfp)
    }

    /// `kmalloc` with `__GFP_ZERO`.
    #[inline]
    pub fn kzalloc(&self, size: usize, gfp: Gfp) -> Option<NonNull<u8>> {
        self.kmalloc(size, gfp | __GFP_ZERO)
    }

    /// `size` bytes aligned to `align` (a power of two up to `PAGE_SIZE`;
    /// `None` otherwise): a power-of-two class at least `align` large, whose
    /// objects are naturally aligned, or whole pages.
    pub fn kmalloc_align(&self, size: usize, align: usize, gfp: Gfp) -> Option<NonNull<u8>> {
        if align <= ARCH_KMALLOC_MINALIGN {
            return self.kmalloc(size, gfp);
        }
        if !align.is_power_of_two() || align > PAGE_SIZE {
            return None;
        }
        let size = size.max(align);
        if size <= KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc(size.next_power_of_two(), gfp);
        }
        self.kmalloc_large(size, gfp)
    }

    /// Above 8 KiB: a compound block (Linux `kmalloc_large`).
    #[cold]
    fn kmalloc_large(&self, size: usize, gfp: Gfp) -> Option<NonNull<u8>> {
        if size > KMALLOC_MAX_SIZE {
            return None;
        }
        let pa = self.page_alloc()?;
        let order = get_order(size);
        let pfn = pa.alloc_pages(gfp.without(__GFP_HIGHMEM) | __GFP_COMP, order)?;
        let Some(ptr) = pa.mem.frame_ptr(pfn) else {
            let _ = pa.free_pages(pfn, order);
            return None;
        };
        pa.mem.page(pfn).page_type.store(PAGE_TYPE_LARGE_KMALLOC, Relaxed);
        NonNull::new(ptr)
    }

    /// Frees what `kmalloc` returned (Linux `kfree`); null and
    /// [`ZERO_SIZE_PTR`] are ignored. A pointer that is neither a slab
    /// object nor a large kmalloc is reported and left alone.
    ///
    /// # Safety
    /// `ptr` must come from this allocator's kmalloc family (or
    /// `kmem_cache_alloc`) and not be used afterwards. Debug caches
    /// (`slub_debug`) detect and report violations instead of corrupting
    /// memory.
    #[inline(always)]
    pub unsafe fn kfree(&self, ptr: *const u8) {
        let addr = ptr as usize;
        if addr <= ZERO_SIZE_PTR {
            return;
        }
        let Some(pa) = self.page_alloc() else { return };
        let Some((pfn, head)) = crate::mm::slab::page::head_page(pa, addr) else {
            return self.report(SlabBug::new("kfree", SlabBugKind::InvalidPointer, addr, SlabFix::NotFreed));
        };
        if head.flags.load(Relaxed) & pg::SLAB != 0 {
            if let Some(cache) = self.cache_of_slab(head) {
                // SAFETY: the caller's contract; `addr` lies in a slab of `cache`.
                return unsafe { self.free_obj(cache, addr, pfn) };
            }
        }
        self.kfree_large(pa, addr, pfn, head);
    }

    #[cold]
    fn kfree_large(&self, pa: &PageAlloc<M>, addr: usize, pfn: Pfn, head: &Page) {
        if Self::is_large_kmalloc(pa, addr, pfn, head) {
            head.page_type.store(0, Relaxed);
            // A bad page state is the page allocator's to count.
            let _ = pa.free_pages(pfn, head.private() as usize);
        } else {
            self.report(SlabBug::new("kfree", SlabBugKind::InvalidPointer, addr, SlabFix::NotFreed));
        }
    }

    fn is_large_kmalloc(pa: &PageAlloc<M>, addr: usize, pfn: Pfn, head: &Page) -> bool {
        head.test(pg::HEAD)
            && !head.test(pg::SLAB)
            && head.page_type.load(Relaxed) == PAGE_TYPE_LARGE_KMALLOC
            && pa.mem.frame_ptr(pfn).is_some_and(|p| p as usize == addr)
    }

    /// The usable size of a kmalloc'd block (Linux `ksize`): the object size
    /// of its cache, or the whole pages of a large one; 0 for
    /// [`ZERO_SIZE_PTR`], null, and pointers that are neither.
    ///
    /// # Safety
    /// `ptr` must be null, [`ZERO_SIZE_PTR`], or point into this allocator's
    /// memory (a slab or a large kmalloc).
    pub unsafe fn ksize(&self, ptr: *const u8) -> usize {
        let addr = ptr as usize;
        if addr <= ZERO_SIZE_PTR {
            return 0;
        }
        let Some(pa) = self.page_alloc() else { return 0 };
        let Some((pfn, head)) = crate::mm::slab::page::head_page(pa, addr) else { return 0 };
        if head.test(pg::SLAB) {
            return self.cache_of_slab(head).map_or(0, |c| c.object_size());
        }
        if Self::is_large_kmalloc(pa, addr, pfn, head) {
            return PAGE_SIZE << head.private();
        }
        0
    }

    /// Resizes a kmalloc'd block (Linux `krealloc`): the same block when it
    /// is large enough, else a new one with the contents copied and the old
    /// one freed. Null or [`ZERO_SIZE_PTR`]: `kmalloc`. `new_size` 0: frees
    /// and returns [`ZERO_SIZE_PTR`]. `None`: no memory (the old block is
    /// untouched) or `ptr` is not a kmalloc block.
    ///
    /// # Safety
    /// As for [`kfree`](Self::kfree); on success `ptr` must not be used
    /// afterwards (unless returned again).
    pub unsafe fn krealloc(&self, ptr: *mut u8, new_size: usize, gfp: Gfp) -> Option<NonNull<u8>> {
        if ptr as usize <= ZERO_SIZE_PTR {
            return self.kmalloc(new_size, gfp);
        }
        if new_size == 0 {
            // SAFETY: the caller's contract.
            unsafe { self.kfree(ptr) };
            return Some(zero_size_ptr());
        }
        // SAFETY: the caller's contract.
        let ks = unsafe { self.ksize(ptr) };
        if ks == 0 {
            self.report(SlabBug::new("krealloc", SlabBugKind::InvalidPointer, ptr as usize, SlabFix::NotFreed));
            return None;
        }
        if new_size <= ks {
            return NonNull::new(ptr);
        }
        let new = self.kmalloc(new_size, gfp)?;
        // Two live blocks never overlap; the old one is freed after (caller's contract).
        // SAFETY: the old block has `ks` usable bytes, the new one more.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr, new.as_ptr(), ks);
            self.kfree(ptr);
        }
        Some(new)
    }

    /// Linux's `/proc/slabinfo` (version 2.1).
    pub fn slabinfo(&self, w: &mut impl fmt::Write) -> fmt::Result {
        writeln!(w, "slabinfo - version: 2.1")?;
        writeln!(
            w,
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
        )?;
        let mut r = Ok(());
        self.for_each_cache(|c| {
            let (Some(l), true) = (c.layout(), r.is_ok()) else { return };
            let s = c.stats();
            r = writeln!(
                w,
                "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
                c.name(),
                s.active_objs,
                s.num_objs,
                l.size,
                l.objects,
                1 << l.order,
                l.limit,
                l.batchcount,
                0,
                s.active_slabs,
                s.num_slabs,
                0
            );
        });
        r
    }
}

/// The kernel's heap (`#[global_allocator]`), with `GFP_KERNEL`: sizes up
/// to 8 KiB from kmalloc's caches, larger from whole pages; alignments up to
/// `PAGE_SIZE`.
// SAFETY: `alloc` returns null or a block of at least `layout.size()` bytes aligned to `layout.align()` (kmalloc_align: power-of-two classes are naturally aligned within page-aligned slabs; pages are page aligned; larger alignments fail) that overlaps no other live block; `dealloc` and `realloc` take blocks back by address through kfree/krealloc, which find their cache or pages from the page descriptors. Nothing here unwinds.
unsafe impl<M: PhysMem> GlobalAlloc for SlabAllocator<'_, M> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.kmalloc_align(layout.size(), layout.align(), GFP_KERNEL | __GFP_NO_INJECT).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.kmalloc_align(layout.size(), layout.align(), GFP_KERNEL | __GFP_ZERO | __GFP_NO_INJECT).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` here.
        unsafe { self.kfree(ptr) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= ARCH_KMALLOC_MINALIGN {
            // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` here; new_size > 0.
            return unsafe { self.krealloc(ptr, new_size, GFP_KERNEL | __GFP_NO_INJECT) }.map_or(core::ptr::null_mut(), NonNull::as_ptr);
        }
        let Some(new) = self.kmalloc_align(new_size, layout.align(), GFP_KERNEL | __GFP_NO_INJECT) else { return core::ptr::null_mut() };
        // The old block is freed after the copy (GlobalAlloc's contract).
        // SAFETY: both blocks are live, distinct, and as large as the copy.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr, new.as_ptr(), layout.size().min(new_size));
            self.kfree(ptr);
        }
        new.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::fake::FakeRam;
    use crate::mm::slab::tests::{free_all, phys, ram, slab};
    use proptest::prelude::*;

    fn cache_name(s: &SlabAllocator<'_, FakeRam>, p: NonNull<u8>) -> &'static str {
        let (_, head) = s.slab_head(p.as_ptr() as usize).expect("not a slab object");
        s.cache_of_slab(head).unwrap().name()
    }

    #[test]
    fn size_classes_match_linux_at_every_size() {
        for size in 1..=KMALLOC_MAX_CACHE_SIZE {
            let want = KMALLOC_SIZES.iter().position(|&c| c >= size).unwrap();
            assert_eq!(kmalloc_index(size), Some(want), "size {size}");
        }
        assert_eq!(kmalloc_index(0), None);
        assert_eq!(kmalloc_index(8193), None);
    }

    #[test]
    fn boundary_sizes_land_in_their_caches() {
        let pa = ram(16);
        let s = slab(&pa, false);
        let cases = [
            (1, "kmalloc-8"),
            (8, "kmalloc-8"),
            (9, "kmalloc-16"),
            (16, "kmalloc-16"),
            (17, "kmalloc-32"),
            (32, "kmalloc-32"),
            (33, "kmalloc-64"),
            (64, "kmalloc-64"),
            (65, "kmalloc-96"),
            (96, "kmalloc-96"),
            (97, "kmalloc-128"),
            (128, "kmalloc-128"),
            (129, "kmalloc-192"),
            (192, "kmalloc-192"),
            (193, "kmalloc-256"),
            (256, "kmalloc-256"),
            (257, "kmalloc-512"),
            (512, "kmalloc-512"),
            (513, "kmalloc-1k"),
            (1024, "kmalloc-1k"),
            (1025, "kmalloc-2k"),
            (2048, "kmalloc-2k"),
            (2049, "kmalloc-4k"),
            (4096, "kmalloc-4k"),
            (4097, "kmalloc-8k"),
            (8192, "kmalloc-8k"),
        ];
        for (size, name) in cases {
            let p = s.kmalloc(size, GFP_KERNEL).unwrap();
            assert_eq!(cache_name(&s, p), name, "size {size}");
            let class = KMALLOC_SIZES[kmalloc_index(size).unwrap()];
            // SAFETY: just allocated.
            assert_eq!(unsafe { s.ksize(p.as_ptr()) }, class);
            let align = if class.is_power_of_two() { class } else { 8 };
            assert_eq!(phys(&pa, p.as_ptr()) % align as u64, 0, "size {size} not naturally aligned");
            // SAFETY: just allocated, freed once.
            unsafe { s.kfree(p.as_ptr()) };
        }
        // 8193: two... four pages from the page allocator.
        let p = s.kmalloc(8193, GFP_KERNEL).unwrap();
        assert!(s.slab_head(p.as_ptr() as usize).is_none());
        // SAFETY: just allocated.
        assert_eq!(unsafe { s.ksize(p.as_ptr()) }, 16384);
        // SAFETY: just allocated, freed once.
        unsafe { s.kfree(p.as_ptr()) };
        assert_eq!(s.kmalloc(0, GFP_KERNEL).unwrap().as_ptr() as usize, ZERO_SIZE_PTR);
        assert!(s.kmalloc(KMALLOC_MAX_SIZE + 1, GFP_KERNEL).is_none());
        // SAFETY: null and ZERO_SIZE_PTR are no-ops.
        unsafe {
            s.kfree(core::ptr::null());
            s.kfree(ZERO_SIZE_PTR as *const u8);
        }
        assert_eq!(s.bug_count(), 0);
    }

    #[test]
    fn dma_variants_come_from_zone_dma() {
        let pa = ram(16);
        let s = slab(&pa, false);
        let dma_end = pa.zones[crate::mm::zone::ZONE_DMA].end_pfn();
        for size in [8, 64, 96, 4096, 8192, 20000] {
            let p = s.kmalloc(size, GFP_KERNEL | __GFP_DMA).unwrap();
            let pfn = pa.mem.ptr_to_pfn(p.as_ptr()).unwrap();
            assert!(pfn < Pfn::new(dma_end), "size {size}: pfn {pfn:#x} outside ZONE_DMA");
            if size <= KMALLOC_MAX_CACHE_SIZE {
                assert!(cache_name(&s, p).starts_with("dma-kmalloc-"));
            }
            let q = s.kmalloc(size, GFP_KERNEL).unwrap();
            assert!(pa.mem.ptr_to_pfn(q.as_ptr()).unwrap() >= Pfn::new(dma_end));
            // SAFETY: both just allocated, freed once.
            unsafe {
                s.kfree(p.as_ptr());
                s.kfree(q.as_ptr());
            }
        }
    }

    #[test]
    fn large_kmalloc_round_trip() {
        let pa = ram(16);
        let start = free_all(&pa);
        let s = slab(&pa, false);
        for size in [8193, 12288, 16384, 65536, 100_000, KMALLOC_MAX_SIZE] {
            let p = s.kzalloc(size, GFP_KERNEL).unwrap();
            assert_eq!(phys(&pa, p.as_ptr()) % 4096, 0);
            // SAFETY: `size` bytes just allocated.
            let bytes = unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), size) };
            assert!(bytes.iter().all(|&b| b == 0));
            bytes.fill(0x5a);
            // SAFETY: `p` is a large kmalloc.
            assert!(unsafe { s.ksize(p.as_ptr()) } >= size);
            // An interior pointer is not a kmalloc block.
            // SAFETY: points into a live large block; kfree refuses it.
            unsafe { s.kfree(p.as_ptr().add(4096)) };
            assert_eq!(s.last_bug().unwrap().kind, SlabBugKind::InvalidPointer);
            // SAFETY: just allocated, freed once.
            unsafe { s.kfree(p.as_ptr()) };
            assert_eq!(free_all(&pa), start);
        }
    }

    #[test]
    fn kzalloc_zeroes_reused_objects() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let p = s.kmalloc(100, GFP_KERNEL).unwrap();
        // SAFETY: 100 bytes just allocated (kmalloc-128).
        unsafe { core::ptr::write_bytes(p.as_ptr(), 0xee, 128) };
        // SAFETY: freed once.
        unsafe { s.kfree(p.as_ptr()) };
        let q = s.kzalloc(100, GFP_KERNEL).unwrap();
        assert_eq!(p, q, "the per-CPU array hands back the hot object");
        // SAFETY: 128 usable bytes.
        assert!(unsafe { core::slice::from_raw_parts(q.as_ptr(), 128) }.iter().all(|&b| b == 0));
        // SAFETY: freed once.
        unsafe { s.kfree(q.as_ptr()) };
    }

    #[test]
    fn krealloc_keeps_contents() {
        let pa = ram(16);
        let start = free_all(&pa);
        let s = slab(&pa, false);
        let mut p = s.kmalloc(5, GFP_KERNEL).unwrap();
        let mut len = 5;
        // SAFETY: 5 bytes.
        unsafe { core::ptr::copy_nonoverlapping(b"hello".as_ptr(), p.as_ptr(), 5) };
        for new in [6, 8, 60, 100, 3000, 8192, 9000, 50_000, 20, 70_000] {
            // SAFETY: `p` is live and from kmalloc; replaced by the result.
            let q = unsafe { s.krealloc(p.as_ptr(), new, GFP_KERNEL) }.unwrap();
            // SAFETY: `q` has at least `new` >= 5 bytes.
            assert!(unsafe { s.ksize(q.as_ptr()) } >= new);
            // SAFETY: the first 5 bytes were carried over.
            assert_eq!(unsafe { core::slice::from_raw_parts(q.as_ptr(), 5) }, b"hello");
            if new <= len {
                assert_eq!(p, q, "shrinking keeps the block");
            }
            len = len.max(new);
            p = q;
        }
        // SAFETY: krealloc to 0 frees.
        let z = unsafe { s.krealloc(p.as_ptr(), 0, GFP_KERNEL) }.unwrap();
        assert_eq!(z.as_ptr() as usize, ZERO_SIZE_PTR);
        // SAFETY: null: plain kmalloc.
        let n = unsafe { s.krealloc(core::ptr::null_mut(), 40, GFP_KERNEL) }.unwrap();
        assert_eq!(cache_name(&s, n), "kmalloc-64");
        // SAFETY: freed once.
        unsafe { s.kfree(n.as_ptr()) };
        s.shrink_all();
        assert_eq!(free_all(&pa), start);
        assert_eq!(s.bug_count(), 0);
    }

    #[test]
    fn kfree_reports_what_is_not_kmalloc() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let pfn = pa.alloc_pages(GFP_KERNEL, 0).unwrap();
        let page = pa.mem.frame_ptr(pfn).unwrap();
        // SAFETY: a page of our own that is not a kmalloc block: refused.
        unsafe { s.kfree(page) };
        let bug = s.last_bug().unwrap();
        assert_eq!((bug.cache, bug.kind, bug.object), ("kfree", SlabBugKind::InvalidPointer, page as usize));
        assert!(bug.to_string().contains("BUG kfree (Not tainted): Invalid object pointer"));
        pa.free_pages(pfn, 0).unwrap();
        // kmem_cache_free with the wrong cache.
        let p = s.kmalloc(64, GFP_KERNEL).unwrap();
        let other = s.kmalloc_cache(32, GFP_KERNEL).unwrap();
        // SAFETY: refused: `p` is from kmalloc-64.
        unsafe { s.kmem_cache_free(other, p) };
        let bug = s.last_bug().unwrap();
        assert_eq!((bug.kind, bug.cache, bug.other_cache), (SlabBugKind::WrongCache, "kmalloc-32", "kmalloc-64"));
        // Non-debug caches still catch an immediate double free.
        // SAFETY: the first free is right, the second is caught.
        unsafe {
            s.kfree(p.as_ptr());
            s.kfree(p.as_ptr());
        }
        assert_eq!(s.last_bug().unwrap().kind, SlabBugKind::DoubleFree);
        let a = s.kmalloc(64, GFP_KERNEL).unwrap();
        let b = s.kmalloc(64, GFP_KERNEL).unwrap();
        assert_ne!(a, b, "a double free handed one object out twice");
        assert_eq!(s.bug_count(), 3);
    }

    #[test]
    fn global_alloc_honours_layouts() {
        let pa = ram(16);
        let start = free_all(&pa);
        let s = slab(&pa, false);
        let mut held = Vec::new();
        for (size, align) in [(1, 1), (24, 8), (24, 16), (100, 64), (96, 128), (3000, 4096), (5000, 8), (20000, 4096), (1, 8192)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: nonzero sizes.
            let p = unsafe { s.alloc_zeroed(layout) };
            if align > PAGE_SIZE {
                assert!(p.is_null());
                continue;
            }
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "{layout:?}");
            // SAFETY: `size` bytes, zeroed.
            assert!(unsafe { core::slice::from_raw_parts(p, size) }.iter().all(|&b| b == 0));
            // SAFETY: grows a live block with the same layout.
            let q = unsafe { s.realloc(p, layout, size * 3) };
            assert_eq!(q as usize % align, 0);
            held.push((q, Layout::from_size_align(size * 3, align).unwrap()));
        }
        for (p, l) in held {
            // SAFETY: allocated above with `l`.
            unsafe { s.dealloc(p, l) };
        }
        s.shrink_all();
        assert_eq!(free_all(&pa), start);
    }

    #[test]
    fn slabinfo_reads_like_proc() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let p = s.kmalloc(64, GFP_KERNEL).unwrap();
        let mut out = String::new();
        s.slabinfo(&mut out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "slabinfo - version: 2.1");
        assert!(lines[1].starts_with("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables"));
        // One object out; the refill moved a batch of 60 to this CPU's array.
        let line = lines.iter().find(|l| l.starts_with("kmalloc-64 ")).unwrap();
        assert_eq!(*line, "kmalloc-64            60     64     64   64    1 : tunables  120   60    0 : slabdata      1      1      0");
        let line = lines.iter().find(|l| l.starts_with("kmalloc-8k ")).unwrap();
        assert_eq!(*line, "kmalloc-8k             0      0   8192    4    8 : tunables    8    4    0 : slabdata      0      0      0");
        assert_eq!(lines.len(), 2 + 2 * NR_KMALLOC_CACHES);
        // Newest first: dma-kmalloc-8k, ..., kmalloc-8.
        assert!(lines[2].starts_with("dma-kmalloc-8k"));
        assert!(lines.last().unwrap().starts_with("kmalloc-8 "));
        // SAFETY: freed once.
        unsafe { s.kfree(p.as_ptr()) };
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random kmalloc/krealloc/kfree: ksize >= size, contents kept,
        /// all memory back at the end.
        #[test]
        fn kmalloc_model(ops in prop::collection::vec((0usize..20_000, any::<u8>(), 0u8..4), 1..120), debug in any::<bool>()) {
            let pa = ram(16);
            let start = free_all(&pa);
            let s = slab(&pa, debug);
            let mut live: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
            for (size, pat, op) in ops {
                let size = if op == 3 { size % 300 } else { size };
                match op {
                    0 | 3 => {
                        let p = s.kmalloc(size, GFP_KERNEL).unwrap();
                        // SAFETY: just allocated.
                        let ks = unsafe { s.ksize(p.as_ptr()) };
                        prop_assert!(ks >= size);
                        if size > 0 {
                            // SAFETY: `size` bytes.
                            unsafe { core::ptr::write_bytes(p.as_ptr(), pat, size) };
                            live.push((p, size, pat));
                        }
                    }
                    1 if !live.is_empty() => {
                        let i = pat as usize % live.len();
                        let (p, len, old) = live[i];
                        // SAFETY: live, replaced by the result.
                        let q = unsafe { s.krealloc(p.as_ptr(), size.max(1), GFP_KERNEL) }.unwrap();
                        let keep = len.min(size.max(1));
                        // SAFETY: `keep` bytes carried over.
                        let kept = unsafe { core::slice::from_raw_parts(q.as_ptr(), keep) };
                        prop_assert!(kept.iter().all(|&b| b == old));
                        // SAFETY: `size.max(1)` bytes.
                        unsafe { core::ptr::write_bytes(q.as_ptr(), pat, size.max(1)) };
                        live[i] = (q, size.max(1), pat);
                    }
                    _ if !live.is_empty() => {
                        let (p, len, old) = live.swap_remove(pat as usize % live.len());
                        // SAFETY: live block of `len` bytes.
                        let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), len) };
                        prop_assert!(bytes.iter().all(|&b| b == old));
                        // SAFETY: freed once.
                        unsafe { s.kfree(p.as_ptr()) };
                    }
                    _ => {}
                }
            }
            for (p, _, _) in live {
                // SAFETY: freed once.
                unsafe { s.kfree(p.as_ptr()) };
            }
            s.shrink_all();
            prop_assert_eq!(s.bug_count(), 0);
            prop_assert_eq!(free_all(&pa), start);
        }
    }
}
