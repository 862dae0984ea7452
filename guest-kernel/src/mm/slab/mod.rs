//! The slab allocator: SLAB's per-CPU array caches (Linux `mm/slab.c`) as
//! the fast path, SLUB's slab sizing and debugging (`mm/slub.c`); kmalloc
//! and `/proc/slabinfo` (`mm/slab_common.c`) are in [`crate::mm::kmalloc`].
//!
//! A cache hands out objects of one size. It takes memory from the page
//! allocator a slab at a time (2^order pages, compound when order > 0) and
//! cuts each slab into objects. Three lists per cache (partial, full,
//! empty) hold its slabs; each CPU keeps a small array of free objects
//! (`limit` entries) that allocation pops and freeing pushes without
//! touching the lists; the array is refilled from and flushed to the slabs
//! `batchcount` objects at a time under the cache lock. More than
//! [`MAX_EMPTY_SLABS`] empty slabs go back to the page allocator at once;
//! the rest on `kmem_cache_shrink`.
//!
//! Everything lives in fixed storage, with no allocator behind it (this is
//! what backs the kernel's heap): the caches are slots of a
//! [`MAX_CACHES`]-entry registry inside [`SlabAllocator`], and a slab's
//! state lives in its head `struct page`:
//!
//! | `Page` field  | slab use (Linux `struct slab` overlays `struct page` the same way) |
//! | ------------- | ------------------------------------------------------------------ |
//! | `flags`       | `pg::SLAB` (+ `pg::HEAD` for order > 0)                            |
//! | `private`     | the `KmemCache`'s address (`slab->slab_cache`)                     |
//! | `page_type`   | offset of the first free object in the slab, [`NIL`] for none (`slab->freelist`) |
//! | `_mapcount`   | bits 0..16: objects in use; bits 16..31: offset of the first object, the colour (`slab->counters`, `slab->s_mem`) |
//! | `lru_prev/next` | the partial/full/empty list links (`slab->slab_list`)            |
//!
//! Free objects are linked through a word holding the next free object's
//! offset in the slab ([`NIL`] ends the list): the object's first word, or
//! a word after the object when a constructor's state or the poison must
//! survive (SLUB's `s->offset`). Tail pages keep their head PFN in
//! `private`, so any pointer into a slab finds its cache. The fields are
//! restored (`_mapcount` = -1, `page_type` = 0) before the pages go back.
//!
//! The per-CPU arrays are touched only by their CPU with interrupts off; on
//! the host (tests, benchmarks) "CPU 0" is the first thread that allocates
//! through the allocator, and other threads take the locked path.
//! `kmem_cache_shrink` and `kmem_cache_destroy` drain the calling CPU's
//! array only (Linux sends IPIs for the others; with `NR_CPUS` = 1 there
//! are none); objects cached in another CPU's array count as in use.
//! See [`crate::mm::slab_debug`] for `slub_debug`.
//!
//! The parts: [`layout`] (flags and the sizing rules), [`cache`] (a
//! cache, its lists and per-CPU arrays), [`page`] (a slab's state in its
//! head page), `lists` (the slow paths under the cache lock), and here the
//! allocator: the registry, the API and the fast paths.

pub mod cache;
pub mod layout;
mod lists;
pub mod page;
#[cfg(test)]
pub(crate) mod tests;

pub use cache::{KmemCache, SlabStats};
pub use layout::*;

use crate::mm::addr::Pfn;
use cache::{this_cpu, ArrayCache, CpuGuard, SLOT_ACTIVE, SLOT_DEAD, SLOT_FREE};

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::Release};

use crate::mm::gfp::{Gfp, __GFP_ZERO};
use crate::mm::page::{pg, Page, PhysMem};
use crate::mm::page_alloc::PageAlloc;
use crate::mm::slab_debug::{BugLog, Pending, SlabBug};
use crate::mm::zone::NR_CPUS;
use crate::sync::{Once, SpinLock};

/// Why a cache operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// `init` has not run (no page allocator yet).
    NotInitialised,
    /// `init` ran before.
    AlreadyInitialised,
    /// All [`MAX_CACHES`] slots are taken.
    TooManyCaches,
    /// Size 0, or too large for an order-3 slab.
    InvalidSize(usize),
    /// Not a power of two, or larger than an order-3 slab.
    InvalidAlign(usize),
    InvalidFlags(u32),
    /// `kmem_cache_destroy` of a cache with objects still allocated.
    Busy {
        name: &'static str,
        live: u64,
    },
    /// The cache was destroyed, or is not one of this allocator's.
    NotActive,
    /// kmalloc's caches are permanent.
    KmallocCache(&'static str),
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotInitialised => write!(f, "slab allocator not initialised"),
            Self::AlreadyInitialised => write!(f, "slab allocator initialised twice"),
            Self::TooManyCaches => write!(f, "all {MAX_CACHES} cache slots in use"),
            Self::InvalidSize(s) => write!(f, "invalid object size {s} (1..={MAX_OBJECT_SIZE})"),
            Self::InvalidAlign(a) => write!(f, "invalid alignment {a}"),
            Self::InvalidFlags(fl) => write!(f, "invalid flags {fl:#x}"),
            Self::Busy { name, live } => {
                write!(f, "kmem_cache_destroy {name}: Slab cache still has objects ({live} in use)")
            }
            Self::NotActive => write!(f, "not a live cache of this allocator"),
            Self::KmallocCache(name) => write!(f, "kmem_cache_destroy {name}: kmalloc caches are permanent"),
        }
    }
}

/// The slab allocator over a page allocator: the cache registry, kmalloc's
/// size classes, the debug switch and the report hook. The kernel keeps one
/// in a `static` (`SlabAllocator::new()` is `const`) and calls [`init`]
/// once the page allocator is up. Must not move after `init` (slab pages
/// record their cache's address).
///
/// [`init`]: SlabAllocator::init
pub struct SlabAllocator<'a, M: PhysMem> {
    pa: Once<&'a PageAlloc<M>>,
    caches: [KmemCache; MAX_CACHES],
    registry: SpinLock<()>,
    debug_flags: AtomicU32,
    /// kmalloc's caches as byte offsets into `caches` ([`NO_CACHE`]: none),
    /// normal and DMA: by size class, and for sizes up to 192 bytes by
    /// 8-byte granule (one load from size to cache).
    pub(crate) kmalloc: [[AtomicU32; NR_KMALLOC_CACHES]; 2],
    pub(crate) kmalloc_small: [[AtomicU32; KMALLOC_SMALL_GRANULES]; 2],
    /// Per CPU: `owner << 1 | busy` (see [`CpuGuard`]).
    cpu_state: [AtomicU64; NR_CPUS],
    hook: SpinLock<Option<fn(&SlabBug)>>,
    bug_log: SpinLock<BugLog>,
    nr_bugs: AtomicU64,
    /// `failslab=`: allocations failed on purpose.
    pub fail: crate::mm::fault_inject::FaultAttr,
}

pub(crate) const NO_CACHE: u32 = u32::MAX;

impl<'a, M: PhysMem> Default for SlabAllocator<'a, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, M: PhysMem> SlabAllocator<'a, M> {
    pub const fn new() -> Self {
        Self {
            pa: Once::new(),
            caches: [const { KmemCache::new() }; MAX_CACHES],
            registry: SpinLock::new(()),
            debug_flags: AtomicU32::new(0),
            kmalloc: [const { [const { AtomicU32::new(NO_CACHE) }; NR_KMALLOC_CACHES] }; 2],
            kmalloc_small: [const { [const { AtomicU32::new(NO_CACHE) }; KMALLOC_SMALL_GRANULES] }; 2],
            cpu_state: [const { AtomicU64::new(0) }; NR_CPUS],
            hook: SpinLock::new(None),
            bug_log: SpinLock::new(BugLog::new()),
            nr_bugs: AtomicU64::new(0),
            fail: crate::mm::fault_inject::FaultAttr::new(),
        }
    }

    /// Connects the page allocator, applies `config`, and creates kmalloc's
    /// caches (Linux `kmem_cache_init`).
    pub fn init(&self, pa: &'a PageAlloc<M>, config: SlabConfig) -> Result<(), SlabError> {
        self.pa.set(pa).map_err(|_| SlabError::AlreadyInitialised)?;
        if config.slub_debug {
            self.debug_flags.store(SLAB_DEBUG_FLAGS, Relaxed);
        }
        self.create_kmalloc_caches()
    }

    #[inline(always)]
    pub(crate) fn page_alloc(&self) -> Option<&'a PageAlloc<M>> {
        self.pa.get().copied()
    }

    /// Sets the function every [`SlabBug`] is passed to (the kernel prints
    /// it). Reports are also counted and the last few kept.
    pub fn set_report_hook(&self, hook: fn(&SlabBug)) {
        *self.hook.lock() = Some(hook);
    }
    /// Problems detected so far.
    pub fn bug_count(&self) -> u64 {
        self.nr_bugs.load(Relaxed)
    }
    /// The latest report.
    pub fn last_bug(&self) -> Option<SlabBug> {
        self.bug_log.lock().last()
    }
    /// The last few reports, oldest first.
    pub fn recent_bugs(&self, mut f: impl FnMut(&SlabBug)) {
        let log = *self.bug_log.lock();
        let n = log.next.min(log.recent.len());
        for i in log.next - n..log.next {
            if let Some(b) = &log.recent[i % log.recent.len()] {
                f(b);
            }
        }
    }

    pub(crate) fn deliver(&self, bugs: &Pending) {
        if bugs.is_empty() {
            return;
        }
        self.nr_bugs.fetch_add(bugs.dropped, Relaxed);
        let hook = *self.hook.lock();
        for bug in bugs.iter() {
            self.nr_bugs.fetch_add(1, Relaxed);
            self.bug_log.lock().push(*bug);
            if let Some(hook) = hook {
                hook(bug);
            }
        }
    }

    /// Reports one problem found outside any lock.
    pub(crate) fn report(&self, bug: SlabBug) {
        let mut p = Pending::new();
        p.push(bug);
        self.deliver(&p);
    }

    // --- The registry. ---

    /// Creates a cache of `size`-byte objects (Linux `kmem_cache_create`).
    /// `align` 0 or a power of two; `ctor` runs once per object when its
    /// slab is created (objects must be freed in their constructed state),
    /// under the cache lock: it must not allocate from the same cache.
    /// With `SLAB_PANIC`, failure panics.
    pub fn kmem_cache_create(&self, name: &'static str, size: usize, align: usize, flags: u32, ctor: Option<fn(*mut u8)>) -> Result<&KmemCache, SlabError> {
        let r = self.create(name, size, align, flags, ctor);
        if let Err(e) = r {
            if flags & SLAB_PANIC != 0 {
                panic!("kmem_cache_create: Failed to create slab '{name}'. Error {e}");
            }
        }
        r
    }

    fn create(&self, name: &'static str, size: usize, align: usize, flags: u32, ctor: Option<fn(*mut u8)>) -> Result<&KmemCache, SlabError> {
        if self.page_alloc().is_none() {
            return Err(SlabError::NotInitialised);
        }
        if flags & !SLAB_VALID_FLAGS != 0 {
            return Err(SlabError::InvalidFlags(flags & !SLAB_VALID_FLAGS));
        }
        if align != 0 && (!align.is_power_of_two() || align > MAX_OBJECT_SIZE) {
            return Err(SlabError::InvalidAlign(align));
        }
        let flags = (flags | self.debug_flags.load(Relaxed)) & !SLAB_PANIC;
        let layout = calculate_layout(size, align, flags, ctor.is_some()).ok_or(SlabError::InvalidSize(size))?;
        let params = CacheParams { name, flags, ctor, layout, debug: flags & SLAB_DEBUG_FLAGS != 0 };
        let _registry = self.registry.lock();
        // A destroyed cache comes back if made again the same way (a module
        // reloaded); slots are otherwise never reused, so a stale reference
        // to a destroyed cache never sees another cache's parameters.
        let revive = self.caches.iter().find(|c| c.state.load(Relaxed) == SLOT_DEAD && c.p().is_some_and(|p| p.same_as(&params)));
        if let Some(c) = revive {
            let _node = c.node.lock();
            c.state.store(SLOT_ACTIVE, Release);
            return Ok(c);
        }
        let c = self.caches.iter().find(|c| c.state.load(Relaxed) == SLOT_FREE).ok_or(SlabError::TooManyCaches)?;
        if c.params.set(params).is_err() {
            return Err(SlabError::TooManyCaches);
        }
        for cpu in &c.cpu {
            // SAFETY: the slot has never been published (it was FREE, and we hold the registry lock): nothing else can reach its arrays.
            unsafe { (*cpu.get()).limit = layout.limit.min(ARRAY_CACHE_MAX) };
        }
        c.state.store(SLOT_ACTIVE, Release);
        Ok(c)
    }

    /// The registry slot of a cache of this allocator.
    #[inline(always)]
    pub(crate) fn slot_of(&self, cache: &KmemCache) -> Option<usize> {
        let base = self.caches.as_ptr() as usize;
        let off = (cache as *const KmemCache as usize).wrapping_sub(base);
        let i = off / size_of::<KmemCache>();
        (i < MAX_CACHES && off.is_multiple_of(size_of::<KmemCache>())).then_some(i)
    }

    /// The start of the cache registry (kmalloc's table holds offsets).
    #[inline(always)]
    pub(crate) fn caches_ptr(&self) -> *const KmemCache {
        self.caches.as_ptr()
    }

    /// The cache whose address a slab page records.
    #[inline(always)]
    fn cache_at(&self, addr: u64) -> Option<&KmemCache> {
        self.cache_at_offset((addr as usize).wrapping_sub(self.caches.as_ptr() as usize))
    }

    /// The cache `off` bytes into the registry.
    #[inline(always)]
    pub(crate) fn cache_at_offset(&self, off: usize) -> Option<&KmemCache> {
        // The check only decides a branch; the reference comes from the
        // offset, off the critical path (no division feeds it).
        if off >= size_of_val(&self.caches) || !off.is_multiple_of(size_of::<KmemCache>()) {
            return None;
        }
        // SAFETY: `off` is in `self.caches` and on an element boundary: the address of one of its elements, which live as long as `self`.
        Some(unsafe { &*self.caches.as_ptr().byte_add(off) })
    }

    /// A cache's byte offset in the registry.
    pub(crate) fn offset_of_cache(&self, cache: &KmemCache) -> Option<u32> {
        self.slot_of(cache).map(|i| (i * size_of::<KmemCache>()) as u32)
    }

    /// Destroys an empty cache (Linux `kmem_cache_destroy`): drains this
    /// CPU's array, gives every slab back and retires the slot. Refuses,
    /// changing nothing, while objects are allocated. Objects found damaged
    /// and taken out of use do not count; their slabs stay allocated.
    pub fn kmem_cache_destroy(&self, cache: &KmemCache) -> Result<(), SlabError> {
        let (pa, p) = self.checked(cache).ok_or(SlabError::NotActive)?;
        let off = self.offset_of_cache(cache);
        if self.kmalloc.iter().flatten().any(|o| Some(o.load(Relaxed)) == off) {
            return Err(SlabError::KmallocCache(p.name));
        }
        let _registry = self.registry.lock();
        if cache.state.load(Relaxed) != SLOT_ACTIVE {
            return Err(SlabError::NotActive);
        }
        self.drain_local(pa, cache, p);
        let mut node = cache.node.lock();
        let active = node.total_slabs * p.layout.objects as u64 - node.free_objects;
        let live = active - node.leaked;
        if live > 0 {
            return Err(SlabError::Busy { name: p.name, live });
        }
        while let Some(pfn) = node.empty.pop_back(&pa.mem) {
            self.free_slab(pa, p, &mut node, pfn);
        }
        cache.state.store(SLOT_DEAD, Release);
        Ok(())
    }

    /// Drains this CPU's array and gives all empty slabs back (Linux
    /// `kmem_cache_shrink`). Returns the pages freed.
    pub fn kmem_cache_shrink(&self, cache: &KmemCache) -> u64 {
        let Some((pa, p)) = self.checked(cache) else { return 0 };
        self.drain_local(pa, cache, p);
        let mut node = cache.node.lock();
        let mut freed = 0;
        while let Some(pfn) = node.empty.pop_back(&pa.mem) {
            self.free_slab(pa, p, &mut node, pfn);
            freed += 1 << p.layout.order;
        }
        freed
    }

    /// Shrinks every cache (memory pressure, `drop_caches`). Returns the
    /// pages freed.
    pub fn shrink_all(&self) -> u64 {
        self.caches.iter().filter(|c| c.is_active()).map(|c| self.kmem_cache_shrink(c)).sum()
    }

    /// Every live cache, newest first (the order of `/proc/slabinfo`).
    pub fn for_each_cache(&self, mut f: impl FnMut(&KmemCache)) {
        self.caches.iter().rev().filter(|c| c.is_active()).for_each(&mut f);
    }

    #[inline]
    fn checked<'c>(&self, cache: &'c KmemCache) -> Option<(&'a PageAlloc<M>, &'c CacheParams)> {
        let pa = self.page_alloc()?;
        self.slot_of(cache)?;
        Some((pa, cache.p()?))
    }

    // --- This CPU's arrays. ---

    #[inline(always)]
    pub(crate) fn get_cpu(&self) -> Option<CpuGuard<'_>> {
        #[cfg(target_os = "none")]
        {
            // Interrupts off: nothing else runs on this CPU; its state word
            // only says whether a guard is already held (nesting).
            let irq = crate::arch::cpu::local_irq_save();
            let cpu = this_cpu();
            let state = &self.cpu_state[cpu];
            if state.load(Relaxed) != 0 {
                crate::arch::cpu::local_irq_restore(irq);
                return None;
            }
            state.store(1, Relaxed);
            Some(CpuGuard { cpu, state, idle: 0, irq })
        }
        #[cfg(not(target_os = "none"))]
        {
            // The first thread to get here owns the CPU for good; only it
            // ever writes the word afterwards, so plain loads and stores do.
            let cpu = this_cpu();
            let me = cache::host_cpu::thread_id() << 1;
            let state = &self.cpu_state[cpu];
            let cur = state.load(Relaxed);
            if cur == me {
                state.store(me | 1, Relaxed);
            } else if cur != 0 || state.compare_exchange(0, me | 1, Relaxed, Relaxed).is_err() {
                return None;
            }
            Some(CpuGuard { cpu, state, idle: me })
        }
    }

    #[inline(always)]
    fn cpu_array<'g>(cache: &'g KmemCache, guard: &'g mut CpuGuard<'_>) -> &'g mut ArrayCache {
        // A CpuGuard is unique for its CPU: irqs off (or the host owner
        // thread), and the busy bit forbids nesting.
        // SAFETY: the array is reached only through the guard, borrowed mutably.
        unsafe { &mut *cache.cpu[guard.cpu].get() }
    }

    /// Objects of `cache` really in use: its active objects less those
    /// waiting in this CPU's array (which `/proc/slabinfo`, like Linux's,
    /// counts as active).
    pub fn objects_in_use(&self, cache: &KmemCache) -> u64 {
        let active = cache.stats().active_objs;
        let cached = match self.get_cpu() {
            Some(mut g) => Self::cpu_array(cache, &mut g).avail as u64,
            None => 0,
        };
        active.saturating_sub(cached)
    }

    /// Gives this CPU's cached objects of `cache` back to the slabs.
    fn drain_local(&self, pa: &PageAlloc<M>, cache: &KmemCache, p: &CacheParams) {
        let Some(mut g) = self.get_cpu() else { return };
        let ac = Self::cpu_array(cache, &mut g);
        if ac.avail > 0 {
            let mut bugs = Pending::new();
            let mut node = cache.node.lock();
            self.put_objects(pa, cache, p, &mut node, ac.objects(), &mut bugs);
            ac.avail = 0;
            drop(node);
            drop(g);
            self.deliver(&bugs);
        }
    }

    // --- Allocation and freeing. ---

    /// Allocates an object (Linux `kmem_cache_alloc`); `__GFP_ZERO` zeroes
    /// it. The zone modifiers in `gfp` are the cache's business (DMA caches
    /// use ZONE_DMA); the rest goes to the page allocator when the cache
    /// grows.
    #[inline]
    pub fn kmem_cache_alloc(&self, cache: &KmemCache, gfp: Gfp) -> Option<NonNull<u8>> {
        self.slot_of(cache)?;
        self.alloc_in(cache, gfp)
    }

    /// `kmem_cache_alloc` for a cache known to be this allocator's. The
    /// fast path is a pop from this CPU's array; everything else (refill,
    /// debug caches, no array) is out of line.
    #[inline(always)]
    pub(crate) fn alloc_in(&self, cache: &KmemCache, gfp: Gfp) -> Option<NonNull<u8>> {
        if self.fail.should_fail() && !gfp.contains(crate::mm::gfp::__GFP_NOFAIL) && !gfp.contains(crate::mm::gfp::__GFP_NO_INJECT) {
            return None;
        }
        let mut obj = None;
        if let Some(mut g) = self.get_cpu() {
            obj = Self::cpu_array(cache, &mut g).pop().and_then(|o| NonNull::new(o as *mut u8));
        }
        let obj = match obj {
            Some(o) => o,
            None => NonNull::new(self.alloc_slow(cache, gfp)? as *mut u8)?,
        };
        if gfp.contains(__GFP_ZERO) {
            self.zero_object(cache, obj.as_ptr() as usize);
        }
        Some(obj)
    }

    #[cold]
    #[inline(never)]
    fn zero_object(&self, cache: &KmemCache, obj: usize) {
        let size = cache.object_size();
        // SAFETY: `obj` is a fresh object of `object_size` bytes, ours.
        unsafe { core::ptr::write_bytes(obj as *mut u8, 0, size) };
    }

    /// Frees an object of `cache` (Linux `kmem_cache_free`).
    ///
    /// # Safety
    /// `ptr` must come from `kmem_cache_alloc(cache, ..)` of this allocator
    /// and not be used afterwards. (A debug cache detects and reports a
    /// violation instead of corrupting memory; a normal cache catches a
    /// pointer from another cache and an immediate double free.)
    #[inline(always)]
    pub unsafe fn kmem_cache_free(&self, cache: &KmemCache, ptr: NonNull<u8>) {
        let addr = ptr.as_ptr() as usize;
        match self.slab_head(addr) {
            Some((pfn, head)) if head.private.load(Relaxed) == cache as *const KmemCache as u64 => {
                // SAFETY: the caller's contract; the object is in a slab of `cache`.
                unsafe { self.free_obj(cache, addr, pfn) }
            }
            _ => self.report_bad_free(cache, addr),
        }
    }

    /// The head PFN and page of the slab holding `addr`, if any.
    #[inline(always)]
    pub(crate) fn slab_head(&self, addr: usize) -> Option<(Pfn, &'a Page)> {
        let pa = self.page_alloc()?;
        let (pfn, page) = page::head_page(pa, addr)?;
        (page.flags.load(Relaxed) & pg::SLAB != 0).then_some((pfn, page))
    }

    /// The cache a slab page belongs to.
    #[inline(always)]
    pub(crate) fn cache_of_slab(&self, head: &Page) -> Option<&KmemCache> {
        let off = (head.private.load(Relaxed) as usize).wrapping_sub(self.caches.as_ptr() as usize);
        // `grow` wrote the address of one of our caches into every slab
        // page it marked PG_slab; only the range is checked on this path.
        if off >= size_of_val(&self.caches) {
            return None;
        }
        // SAFETY: `off` is an element boundary in `self.caches` (see above).
        Some(unsafe { &*self.caches.as_ptr().byte_add(off) })
    }

    /// Frees `addr`, an object in the slab at `pfn` of `cache`: a push on
    /// this CPU's array; everything else out of line.
    ///
    /// # Safety
    /// `addr` is an object of `cache` that is no longer used (debug caches
    /// check instead of trusting).
    #[inline(always)]
    pub(crate) unsafe fn free_obj(&self, cache: &KmemCache, addr: usize, pfn: Pfn) {
        if let Some(mut g) = self.get_cpu() {
            // Debug caches have limit 0: never pushed.
            if Self::cpu_array(cache, &mut g).try_push(addr) {
                return;
            }
        }
        self.free_slow(cache, addr, pfn);
    }
}
