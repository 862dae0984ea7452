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

use core::cell::UnsafeCell;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed, Ordering::Release};

use crate::mm::gfp::{Gfp, __GFP_COMP, __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, __GFP_ZERO};
use crate::mm::kmalloc::{KMALLOC_SMALL_GRANULES, NR_KMALLOC_CACHES};
use crate::mm::page::{pg, Page, PageList, PhysMem, NIL};
use crate::mm::page_alloc::PageAlloc;
use crate::mm::slab_debug::{fill, poison_object, BugLog, Pending, SlabBug, SlabBugKind, SlabFix, SLUB_RED_INACTIVE};
use crate::mm::zone::NR_CPUS;
use crate::sync::{Once, SpinLock};

// Cache flags: Linux's `SLAB_*` values.
/// Check every free (pointer, double free) and allocation.
pub const SLAB_CONSISTENCY_CHECKS: u32 = 0x0000_0100;
/// A red zone after each object, checked on free and allocation.
pub const SLAB_RED_ZONE: u32 = 0x0000_0400;
/// Free objects filled with `6b ... a5`, checked on allocation. Ignored for
/// caches with a constructor (whose free objects keep their state).
pub const SLAB_POISON: u32 = 0x0000_0800;
/// Align objects to the cache line (or to a fraction of it for small ones).
pub const SLAB_HWCACHE_ALIGN: u32 = 0x0000_2000;
/// Slabs from ZONE_DMA.
pub const SLAB_CACHE_DMA: u32 = 0x0000_4000;
/// Panic if the cache cannot be created.
pub const SLAB_PANIC: u32 = 0x0004_0000;
/// What `slub_debug=1` turns on for every cache.
pub const SLAB_DEBUG_FLAGS: u32 = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON;
const SLAB_VALID_FLAGS: u32 = SLAB_DEBUG_FLAGS | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_PANIC;

/// Caches the registry holds (kmalloc's take 26).
pub const MAX_CACHES: usize = 64;
/// Largest slab order (Linux `slub_max_order` = `PAGE_ALLOC_COSTLY_ORDER`).
pub const SLUB_MAX_ORDER: usize = 3;
pub const CACHE_LINE_SIZE: usize = 64;
/// Smallest object alignment (a free pointer must fit, aligned).
pub const ARCH_SLAB_MINALIGN: usize = 8;
/// Empty slabs a cache keeps; beyond this they go back at once.
pub const MAX_EMPTY_SLABS: u64 = 2;
/// Largest per-CPU array (SLAB's limit for objects up to 256 bytes).
pub const ARRAY_CACHE_MAX: usize = 120;
pub const PAGE_SIZE: usize = 4096;
/// Largest object a cache can hold: one per order-3 slab.
pub const MAX_OBJECT_SIZE: usize = PAGE_SIZE << SLUB_MAX_ORDER;

/// The CPU we run on; one today (as in `page_alloc`).
fn this_cpu() -> usize {
    0
}

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

/// Boot-time switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlabConfig {
    /// `slub_debug=1`: [`SLAB_DEBUG_FLAGS`] for every cache (kmalloc's
    /// included).
    pub slub_debug: bool,
}

/// Where a cache's objects sit in a slab (all sizes in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLayout {
    /// What the user asked for.
    pub object_size: usize,
    /// Object plus metadata, rounded to `align`: the stride.
    pub size: usize,
    pub align: usize,
    /// Red zone `[object_size, red_zone_end)` (empty without one).
    pub red_zone_end: usize,
    /// Where the free pointer lives in a free object.
    pub fp_offset: usize,
    /// Free objects are poisoned.
    pub poison: bool,
    pub order: usize,
    /// Objects per slab.
    pub objects: usize,
    /// Colour step and the number of colours (offsets `0, step, ...`).
    pub colour_off: usize,
    pub colours: usize,
    /// Per-CPU array size and transfer batch (0 for debug caches, which
    /// bypass the arrays).
    pub limit: usize,
    pub batchcount: usize,
}

impl CacheLayout {
    pub fn slab_bytes(&self) -> usize {
        PAGE_SIZE << self.order
    }
}

/// Linux `calculate_alignment`.
pub fn calculate_alignment(flags: u32, align: usize, size: usize) -> usize {
    let mut align = align;
    if flags & SLAB_HWCACHE_ALIGN != 0 {
        let mut ralign = CACHE_LINE_SIZE;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    align.max(ARCH_SLAB_MINALIGN).next_multiple_of(ARCH_SLAB_MINALIGN)
}

/// Smallest order whose block holds `bytes`.
pub fn get_order(bytes: usize) -> usize {
    bytes.div_ceil(PAGE_SIZE).max(1).next_power_of_two().trailing_zeros() as usize
}

/// Linux `calc_slab_order`: the first order from `min_order` whose leftover
/// is at most 1/`fract_leftover` of the slab.
fn calc_slab_order(size: usize, min_order: usize, max_order: usize, fract_leftover: usize) -> usize {
    let mut order = min_order;
    while order <= max_order {
        let slab_size = PAGE_SIZE << order;
        if slab_size % size <= slab_size / fract_leftover {
            break;
        }
        order += 1;
    }
    order
}

/// Linux SLUB's `calculate_order`: enough objects per slab (`4 * (fls(cpus)
/// + 1)`, as many as fit an order-3 slab at most), waste at most 1/16 of
/// the slab, relaxed to 1/8, 1/4, 1/2 before giving up. `None` past order 3.
pub fn calculate_order(size: usize) -> Option<usize> {
    if size == 0 || size > MAX_OBJECT_SIZE {
        return None;
    }
    let fls_cpus = usize::BITS - NR_CPUS.leading_zeros();
    let max_objects = ((PAGE_SIZE << SLUB_MAX_ORDER) / size).max(1);
    let min_objects = (4 * (fls_cpus as usize + 1)).min(max_objects);
    let min_order = get_order(min_objects * size);
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, SLUB_MAX_ORDER, fraction);
        if order <= SLUB_MAX_ORDER {
            return Some(order);
        }
        fraction /= 2;
    }
    let order = get_order(size);
    (order <= SLUB_MAX_ORDER).then_some(order)
}

/// SLAB's `enable_cpucache` limits by object size.
fn array_limit(size: usize) -> usize {
    if size > 131072 {
        1
    } else if size > PAGE_SIZE {
        8
    } else if size > 1024 {
        24
    } else if size > 256 {
        54
    } else {
        ARRAY_CACHE_MAX
    }
}

/// Linux `calculate_sizes` for a cache of `object_size`-byte objects.
pub fn calculate_layout(object_size: usize, align: usize, flags: u32, has_ctor: bool) -> Option<CacheLayout> {
    if object_size == 0 || object_size > MAX_OBJECT_SIZE {
        return None;
    }
    let align = calculate_alignment(flags, align, object_size);
    let inuse = object_size.next_multiple_of(ARCH_SLAB_MINALIGN);
    let red_zone_end = if flags & SLAB_RED_ZONE != 0 { inuse + ARCH_SLAB_MINALIGN } else { object_size };
    let poison = flags & SLAB_POISON != 0 && !has_ctor;
    // The free pointer must not overwrite a constructed object or poison.
    let fp_outside = poison || has_ctor;
    let meta_end = red_zone_end.max(inuse);
    let fp_offset = if fp_outside { meta_end } else { 0 };
    let end = if fp_outside { meta_end + 8 } else { meta_end };
    let size = end.next_multiple_of(align);
    let order = calculate_order(size)?;
    let slab_bytes = PAGE_SIZE << order;
    let objects = slab_bytes / size;
    if objects == 0 || objects > 0xffff {
        return None;
    }
    let colour_off = CACHE_LINE_SIZE.max(align);
    let colours = (slab_bytes - objects * size) / colour_off + 1;
    let debug = flags & SLAB_DEBUG_FLAGS != 0;
    let limit = if debug { 0 } else { array_limit(size) };
    Some(CacheLayout { object_size, size, align, red_zone_end, fp_offset, poison, order, objects, colour_off, colours, limit, batchcount: limit.div_ceil(2) })
}

/// What a cache is; set once when its slot is first used, never changed.
#[derive(Clone, Copy)]
pub(crate) struct CacheParams {
    pub name: &'static str,
    pub flags: u32,
    pub ctor: Option<fn(*mut u8)>,
    pub layout: CacheLayout,
    /// Checked path: no per-CPU array.
    pub debug: bool,
}

impl CacheParams {
    fn same_as(&self, other: &CacheParams) -> bool {
        self.name == other.name && self.flags == other.flags && self.layout == other.layout && self.ctor.map(|f| f as usize) == other.ctor.map(|f| f as usize)
    }
}

/// Per-node state, under the cache lock (Linux `kmem_cache_node`).
struct CacheNode {
    partial: PageList,
    full: PageList,
    empty: PageList,
    total_slabs: u64,
    /// Objects on the slabs' freelists.
    free_objects: u64,
    /// Objects taken out of use after damage was found.
    leaked: u64,
    colour_next: usize,
    grown: u64,
    reaped: u64,
}

/// A CPU's stack of free objects (SLAB's `array_cache`). The objects are
/// `slot[1..=avail]`; `slot[0]` is always 0, so the top (`slot[avail]`) can
/// be compared with a freed pointer without testing for an empty stack.
struct ArrayCache {
    avail: usize,
    /// The cache's `limit`, kept here for the fast path (0: debug cache).
    limit: usize,
    slot: [usize; ARRAY_CACHE_MAX + 1],
}

impl ArrayCache {
    const EMPTY: Self = Self { avail: 0, limit: 0, slot: [0; ARRAY_CACHE_MAX + 1] };

    fn objects(&self) -> &[usize] {
        &self.slot[1..=self.avail]
    }

    /// The most recently pushed object; 0 when empty.
    #[inline(always)]
    fn top(&self) -> usize {
        self.slot.get(self.avail).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<usize> {
        let n = self.avail.checked_sub(1)?;
        let obj = *self.slot.get(n + 1)?;
        self.avail = n;
        Some(obj)
    }

    /// Pushes `obj` unless the stack is at its limit or `obj` is already
    /// on top (an immediate double free: SLUB's freelist hardening check).
    #[inline(always)]
    fn try_push(&mut self, obj: usize) -> bool {
        let n = self.avail;
        if n >= self.limit {
            return false;
        }
        match self.slot.get_mut(n..n + 2) {
            Some([top, next]) if *top != obj => {
                *next = obj;
                self.avail = n + 1;
                true
            }
            _ => false,
        }
    }
}

const SLOT_FREE: u8 = 0;
const SLOT_ACTIVE: u8 = 1;
const SLOT_DEAD: u8 = 2;

/// A cache of same-sized objects (Linux `struct kmem_cache`). Obtained from
/// [`SlabAllocator::kmem_cache_create`]; lives as long as the allocator.
pub struct KmemCache {
    params: Once<CacheParams>,
    state: AtomicU8,
    node: SpinLock<CacheNode>,
    cpu: [UnsafeCell<ArrayCache>; NR_CPUS],
}

// SAFETY: the per-CPU arrays (the only non-Sync part) are reached only
// through `SlabAllocator::cpu_array`, which requires the CPU's `CpuGuard`:
// one holder per CPU at a time, on that CPU (host: that owner thread).
unsafe impl Sync for KmemCache {}

/// Per-cache counters, as `/proc/slabinfo` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlabStats {
    /// Objects not on a slab freelist (in use, in a per-CPU array, or leaked).
    pub active_objs: u64,
    pub num_objs: u64,
    /// Slabs with at least one object out.
    pub active_slabs: u64,
    pub num_slabs: u64,
    pub partial_slabs: u64,
    pub full_slabs: u64,
    pub empty_slabs: u64,
    pub leaked_objs: u64,
    /// Slabs allocated and given back over the cache's life.
    pub grown: u64,
    pub reaped: u64,
}

impl KmemCache {
    const fn new() -> Self {
        Self {
            params: Once::new(),
            state: AtomicU8::new(SLOT_FREE),
            node: SpinLock::new(CacheNode {
                partial: PageList::new(),
                full: PageList::new(),
                empty: PageList::new(),
                total_slabs: 0,
                free_objects: 0,
                leaked: 0,
                colour_next: 0,
                grown: 0,
                reaped: 0,
            }),
            cpu: [const { UnsafeCell::new(ArrayCache::EMPTY) }; NR_CPUS],
        }
    }

    #[inline]
    pub(crate) fn p(&self) -> Option<&CacheParams> {
        self.params.get()
    }
    pub fn name(&self) -> &'static str {
        self.p().map_or("", |p| p.name)
    }
    /// The size asked for.
    pub fn object_size(&self) -> usize {
        self.p().map_or(0, |p| p.layout.object_size)
    }
    /// The stride: object plus metadata (`objsize` in slabinfo).
    pub fn size(&self) -> usize {
        self.p().map_or(0, |p| p.layout.size)
    }
    pub fn align(&self) -> usize {
        self.p().map_or(0, |p| p.layout.align)
    }
    /// Flags, the `slub_debug` ones included.
    pub fn flags(&self) -> u32 {
        self.p().map_or(0, |p| p.flags)
    }
    pub fn layout(&self) -> Option<CacheLayout> {
        self.p().map(|p| p.layout)
    }
    pub fn is_active(&self) -> bool {
        self.state.load(Relaxed) == SLOT_ACTIVE
    }

    pub fn stats(&self) -> SlabStats {
        let objects = self.p().map_or(0, |p| p.layout.objects as u64);
        let n = self.node.lock();
        let num_objs = n.total_slabs * objects;
        SlabStats {
            active_objs: num_objs - n.free_objects,
            num_objs,
            active_slabs: n.total_slabs - n.empty.len,
            num_slabs: n.total_slabs,
            partial_slabs: n.partial.len,
            full_slabs: n.full.len,
            empty_slabs: n.empty.len,
            leaked_objs: n.leaked,
            grown: n.grown,
            reaped: n.reaped,
        }
    }
}

/// Exclusive use of this CPU's per-CPU arrays: interrupts off on the
/// kernel, the owner thread on the host; never nested. The CPU's state word
/// is `owner << 1 | busy` (owner 0 on the kernel: interrupts decide).
pub(crate) struct CpuGuard<'s> {
    cpu: usize,
    state: &'s AtomicU64,
    /// The state word to restore: the owner, not busy.
    idle: u64,
    #[cfg(target_os = "none")]
    irq: u64,
}

impl Drop for CpuGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.state.store(self.idle, Relaxed);
        #[cfg(target_os = "none")]
        crate::arch::cpu::local_irq_restore(self.irq);
    }
}

#[cfg(not(target_os = "none"))]
mod host_cpu {
    use core::cell::Cell;
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    std::thread_local! {
        static ID: Cell<u64> = const { Cell::new(0) };
    }

    /// A number unique to the calling thread (never reused).
    #[inline(always)]
    pub fn thread_id() -> u64 {
        ID.with(|id| match id.get() {
            0 => {
                let v = NEXT_ID.fetch_add(1, Relaxed);
                id.set(v);
                v
            }
            v => v,
        })
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
            // SAFETY: the slot has never been published (it was FREE, and we
            // hold the registry lock): nothing else can reach its arrays.
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
        // SAFETY: `off` is in `self.caches` and on an element boundary: the
        // address of one of its elements, which live as long as `self`.
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
            let me = host_cpu::thread_id() << 1;
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

    /// Empty array: take a batch from the slabs and pop one (Linux
    /// `cache_alloc_refill`); debug caches and callers without this CPU's
    /// array take one object under the lock.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, cache: &KmemCache, gfp: Gfp) -> Option<usize> {
        let pa = self.page_alloc()?;
        let p = cache.p()?;
        let mut bugs = Pending::new();
        let mut g = if p.debug { None } else { self.get_cpu() };
        let obj = match &mut g {
            Some(g) => {
                let ac = Self::cpu_array(cache, g);
                if let Some(obj) = ac.pop() {
                    // Refilled meanwhile (an interrupt between the fast
                    // path's guard and ours freed into the array).
                    return Some(obj);
                }
                let mut node = cache.node.lock();
                let batch = p.layout.batchcount.clamp(1, ARRAY_CACHE_MAX);
                let n = self.take_objects(pa, cache, p, &mut node, gfp, &mut ac.slot[1..=batch], &mut bugs);
                drop(node);
                ac.avail = n;
                ac.pop()
            }
            None => {
                let mut node = cache.node.lock();
                loop {
                    let mut one = [0usize];
                    if self.take_objects(pa, cache, p, &mut node, gfp, &mut one, &mut bugs) == 0 {
                        break None;
                    }
                    if !p.debug || self.check_alloc(pa, p, one[0], &mut bugs) {
                        break Some(one[0]);
                    }
                    node.leaked += 1;
                }
            }
        };
        drop(g);
        self.deliver(&bugs);
        obj
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

    #[cold]
    #[inline(never)]
    fn report_bad_free(&self, cache: &KmemCache, addr: usize) {
        let mut bug = SlabBug::new(cache.name(), SlabBugKind::InvalidPointer, addr, SlabFix::NotFreed);
        if let Some((_, head)) = self.slab_head(addr) {
            bug.kind = SlabBugKind::WrongCache;
            bug.other_cache = self.cache_of_slab(head).map_or("?", |c| c.name());
        }
        self.report(bug);
    }

    /// The head PFN and page of the slab holding `addr`, if any.
    #[inline(always)]
    pub(crate) fn slab_head(&self, addr: usize) -> Option<(u64, &'a Page)> {
        let pa = self.page_alloc()?;
        let (pfn, page) = self.head_page(pa, addr)?;
        (page.flags.load(Relaxed) & pg::SLAB != 0).then_some((pfn, page))
    }

    /// The head page of the (compound) block holding `addr`.
    #[inline(always)]
    pub(crate) fn head_page<'p>(&self, pa: &'p PageAlloc<M>, addr: usize) -> Option<(u64, &'p Page)> {
        let (pfn, page) = pa.mem.virt_to_page(addr as *const u8)?;
        if page.flags.load(Relaxed) & pg::TAIL != 0 {
            let head = page.private.load(Relaxed);
            Some((head, pa.mem.page(head)))
        } else {
            Some((pfn, page))
        }
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
    pub(crate) unsafe fn free_obj(&self, cache: &KmemCache, addr: usize, pfn: u64) {
        if let Some(mut g) = self.get_cpu() {
            // Debug caches have limit 0: never pushed.
            if Self::cpu_array(cache, &mut g).try_push(addr) {
                return;
            }
        }
        self.free_slow(cache, addr, pfn);
    }

    /// Full array: give the oldest `batchcount` back to the slabs (Linux
    /// `cache_flusharray`) and push. Debug caches and callers without this
    /// CPU's array free under the lock, checked for a debug cache.
    #[cold]
    #[inline(never)]
    fn free_slow(&self, cache: &KmemCache, addr: usize, pfn: u64) {
        let (Some(pa), Some(p)) = (self.page_alloc(), cache.p()) else { return };
        let mut bugs = Pending::new();
        let mut g = if p.debug { None } else { self.get_cpu() };
        match &mut g {
            Some(g) => {
                let ac = Self::cpu_array(cache, g);
                if ac.top() == addr {
                    let _node = cache.node.lock();
                    bugs.push(self.describe(pa, p, SlabBugKind::DoubleFree, addr, pfn, SlabFix::NotFreed));
                } else {
                    if ac.avail >= ac.limit.min(ARRAY_CACHE_MAX) {
                        let batch = p.layout.batchcount.clamp(1, ac.avail);
                        let mut node = cache.node.lock();
                        self.put_objects(pa, cache, p, &mut node, &ac.slot[1..=batch], &mut bugs);
                        drop(node);
                        ac.slot.copy_within(batch + 1..=ac.avail, 1);
                        ac.avail -= batch;
                    }
                    ac.avail += 1;
                    ac.slot[ac.avail] = addr;
                }
            }
            None => {
                let mut node = cache.node.lock();
                if !p.debug || self.check_free(pa, p, addr, pfn, &mut bugs) {
                    self.put_objects(pa, cache, p, &mut node, &[addr], &mut bugs);
                }
            }
        }
        drop(g);
        self.deliver(&bugs);
    }

    // --- Slabs (under the cache lock). ---

    /// Takes up to `out.len()` free objects, from partial slabs first, then
    /// empty ones, growing the cache when there are none (Linux
    /// `cache_alloc_refill`'s inner loop).
    #[allow(clippy::too_many_arguments)]
    fn take_objects(
        &self,
        pa: &PageAlloc<M>,
        cache: &KmemCache,
        p: &CacheParams,
        node: &mut CacheNode,
        gfp: Gfp,
        out: &mut [usize],
        bugs: &mut Pending,
    ) -> usize {
        if cache.state.load(Relaxed) != SLOT_ACTIVE {
            return 0;
        }
        let l = &p.layout;
        let mut n = 0;
        while n < out.len() {
            let pfn = if !node.partial.is_empty() {
                node.partial.head as u64
            } else if !node.empty.is_empty() {
                node.empty.head as u64
            } else {
                match self.grow(pa, cache, p, node, gfp) {
                    Some(pfn) => pfn,
                    None => break,
                }
            };
            let page = pa.mem.page(pfn);
            let Some(base) = pa.mem.frame_ptr(pfn) else { break };
            let base = base as usize;
            let (before, s_mem) = slab_counters(page);
            let mut inuse = before;
            let mut free = page.page_type.load(Relaxed);
            while n < out.len() && free != NIL {
                let obj = base + free as usize;
                // SAFETY: `free` is a checked offset of a free object of
                // this slab; its free pointer word lies inside the slot.
                let next = unsafe { read_word(obj + l.fp_offset) };
                if next != NIL as u64 && !fp_valid(l, s_mem, next, p.debug) {
                    let mut bug = self.describe(pa, p, SlabBugKind::FreepointerCorrupt, obj, pfn, SlabFix::FreelistTruncated);
                    bug.fp = next as usize;
                    bugs.push(bug);
                    let lost = (l.objects - inuse) as u64;
                    node.free_objects -= lost;
                    node.leaked += lost;
                    inuse = l.objects;
                    free = NIL;
                    break;
                }
                out[n] = obj;
                n += 1;
                inuse += 1;
                node.free_objects -= 1;
                free = next as u32;
            }
            if free == NIL && inuse < l.objects {
                // Objects the slab counts free but cannot reach: lost.
                bugs.push(self.describe(pa, p, SlabBugKind::FreepointerCorrupt, base + s_mem, pfn, SlabFix::FreelistTruncated));
                let lost = (l.objects - inuse) as u64;
                node.free_objects -= lost;
                node.leaked += lost;
                inuse = l.objects;
            }
            page.page_type.store(free, Relaxed);
            set_slab_counters(page, inuse, s_mem);
            relist(pa, node, pfn, before, inuse, l.objects);
        }
        n
    }

    /// Links objects back into their slabs (Linux `free_block`), giving
    /// empty slabs beyond [`MAX_EMPTY_SLABS`] back.
    fn put_objects(&self, pa: &PageAlloc<M>, cache: &KmemCache, p: &CacheParams, node: &mut CacheNode, objs: &[usize], bugs: &mut Pending) {
        let l = &p.layout;
        for &obj in objs {
            let Some((pfn, page)) = self.slab_head(obj) else {
                bugs.push(SlabBug::new(p.name, SlabBugKind::InvalidPointer, obj, SlabFix::NotFreed));
                continue;
            };
            if page.private() != cache as *const KmemCache as u64 {
                let mut bug = self.describe(pa, p, SlabBugKind::WrongCache, obj, pfn, SlabFix::NotFreed);
                bug.other_cache = self.cache_at(page.private()).map_or("?", |c| c.name());
                bugs.push(bug);
                continue;
            }
            let Some(base) = pa.mem.frame_ptr(pfn) else { continue };
            let base = base as usize;
            let (before, s_mem) = slab_counters(page);
            let head = page.page_type.load(Relaxed);
            if before == 0 || (head != NIL && base + head as usize == obj) {
                bugs.push(self.describe(pa, p, SlabBugKind::DoubleFree, obj, pfn, SlabFix::NotFreed));
                continue;
            }
            // SAFETY: `obj` is an object of this slab being freed; its free
            // pointer word lies inside its slot.
            unsafe { write_word(obj + l.fp_offset, if head == NIL { NIL as u64 } else { head as u64 }) };
            page.page_type.store((obj - base) as u32, Relaxed);
            set_slab_counters(page, before - 1, s_mem);
            node.free_objects += 1;
            relist(pa, node, pfn, before, before - 1, l.objects);
            if node.empty.len > MAX_EMPTY_SLABS {
                if let Some(victim) = node.empty.pop_back(&pa.mem) {
                    self.free_slab(pa, p, node, victim);
                }
            }
        }
    }

    /// Allocates and carves a new slab: next colour, constructor once per
    /// object, debug patterns, freelist in address order (Linux
    /// `cache_grow`). The slab goes on the empty list.
    fn grow(&self, pa: &PageAlloc<M>, cache: &KmemCache, p: &CacheParams, node: &mut CacheNode, gfp: Gfp) -> Option<u64> {
        let l = &p.layout;
        let mut pgfp = gfp.without(__GFP_ZERO).without(__GFP_HIGHMEM).without(__GFP_DMA32).without(__GFP_DMA).without(__GFP_COMP);
        if l.order > 0 {
            pgfp = pgfp | __GFP_COMP;
        }
        if p.flags & SLAB_CACHE_DMA != 0 {
            pgfp = pgfp | __GFP_DMA;
        }
        let pfn = pa.alloc_pages(pgfp, l.order)?;
        let Some(base) = pa.mem.frame_ptr(pfn) else {
            let _ = pa.free_pages(pfn, l.order);
            return None;
        };
        let base = base as usize;
        let colour = node.colour_next * l.colour_off;
        node.colour_next = (node.colour_next + 1) % l.colours;
        for i in 0..l.objects {
            let off = colour + i * l.size;
            let obj = base + off;
            if let Some(ctor) = p.ctor {
                ctor(obj as *mut u8);
            }
            // SAFETY: the slot `[obj, obj + size)` lies inside the fresh
            // slab (colour + objects * size <= slab bytes), which is ours.
            unsafe {
                if l.poison {
                    poison_object(obj, l.object_size);
                }
                fill(obj + l.object_size, obj + l.red_zone_end, SLUB_RED_INACTIVE);
                let next = if i + 1 < l.objects { (off + l.size) as u64 } else { NIL as u64 };
                write_word(obj + l.fp_offset, next);
            }
        }
        let page = pa.mem.page(pfn);
        page.set(pg::SLAB);
        page.private.store(cache as *const KmemCache as u64, Relaxed);
        page.page_type.store(colour as u32, Relaxed);
        set_slab_counters(page, 0, colour);
        node.empty.push_front(&pa.mem, pfn);
        node.total_slabs += 1;
        node.free_objects += l.objects as u64;
        node.grown += 1;
        Some(pfn)
    }

    /// Gives an empty slab (already off its list) back to the page
    /// allocator, restoring the page fields the slab borrowed.
    fn free_slab(&self, pa: &PageAlloc<M>, p: &CacheParams, node: &mut CacheNode, pfn: u64) {
        let l = &p.layout;
        let page = pa.mem.page(pfn);
        page.clear(pg::SLAB);
        page._mapcount.store(-1, Relaxed);
        page.page_type.store(0, Relaxed);
        page.private.store(if l.order > 0 { l.order as u64 } else { 0 }, Relaxed);
        node.total_slabs -= 1;
        node.free_objects -= l.objects as u64;
        node.reaped += 1;
        // A bad page state would be the page allocator's finding, counted
        // and kept in its own `events.bad_pages`.
        let _ = pa.free_pages(pfn, l.order);
    }
}

/// Whether a free pointer read from a free object can be followed: inside
/// the slab's objects, word aligned, and (checked for debug caches) at an
/// object boundary.
#[inline]
pub(crate) fn fp_valid(l: &CacheLayout, s_mem: usize, fp: u64, exact: bool) -> bool {
    let fp = fp as usize;
    let end = s_mem + l.objects * l.size;
    fp >= s_mem && fp < end && fp.is_multiple_of(8) && (!exact || (fp - s_mem).is_multiple_of(l.size))
}

/// Objects in use and the colour offset, packed in the head page's
/// `_mapcount`.
#[inline]
pub(crate) fn slab_counters(page: &Page) -> (usize, usize) {
    let v = page._mapcount.load(Relaxed) as u32;
    ((v & 0xffff) as usize, (v >> 16) as usize)
}

#[inline]
fn set_slab_counters(page: &Page, inuse: usize, s_mem: usize) {
    page._mapcount.store(((s_mem as u32) << 16 | inuse as u32) as i32, Relaxed);
}

/// Moves a slab between the lists as its use count goes `before` -> `after`.
#[inline]
fn relist<M: PhysMem>(pa: &PageAlloc<M>, node: &mut CacheNode, pfn: u64, before: usize, after: usize, objects: usize) {
    fn which(node: &mut CacheNode, inuse: usize, objects: usize) -> &mut PageList {
        if inuse == 0 {
            &mut node.empty
        } else if inuse >= objects {
            &mut node.full
        } else {
            &mut node.partial
        }
    }
    let kind = |n: usize| (n == 0, n >= objects);
    if kind(before) != kind(after) {
        which(node, before, objects).remove(&pa.mem, pfn);
        which(node, after, objects).push_front(&pa.mem, pfn);
    }
}

/// # Safety
/// `addr` is 8-aligned, inside slab memory this CPU may read.
#[inline]
pub(crate) unsafe fn read_word(addr: usize) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (addr as *const u64).read() }
}

/// # Safety
/// `addr` is 8-aligned, inside slab memory nothing else uses.
#[inline]
unsafe fn write_word(addr: usize, value: u64) {
    // SAFETY: the caller's contract.
    unsafe { (addr as *mut u64).write(value) }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mm::fake::FakeRam;
    use crate::mm::gfp::*;
    use crate::mm::page_alloc::AllocConfig;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const M: u64 = 256; // pages per MiB

    /// `mib` MiB of RAM with frames: ZONE_DMA the first quarter, DMA32 the rest.
    pub(crate) fn ram(mib: u64) -> PageAlloc<FakeRam> {
        let n = mib * M;
        let mut a = PageAlloc::new(FakeRam::new(n, true), [(0, n / 4), (n / 4, n), (0, 0), (0, 0)], AllocConfig { page_debug: true, page_poison: false });
        a.add_present(0, n);
        a.free_boot_range(1, n, true);
        a.setup_watermarks();
        a
    }

    pub(crate) fn slab(pa: &PageAlloc<FakeRam>, slub_debug: bool) -> Box<SlabAllocator<'_, FakeRam>> {
        let s = Box::new(SlabAllocator::new());
        s.init(pa, SlabConfig { slub_debug }).unwrap();
        s
    }

    pub(crate) fn free_all(pa: &PageAlloc<FakeRam>) -> u64 {
        pa.drain_all_pages();
        pa.nr_free_pages()
    }

    /// Physical address of a pointer into FakeRam.
    pub(crate) fn phys(pa: &PageAlloc<FakeRam>, p: *const u8) -> u64 {
        let pfn = pa.mem.ptr_to_pfn(p).unwrap();
        pfn * 4096 + (p as u64 - pa.mem.frame_ptr(pfn).unwrap() as u64)
    }

    /// The kernel keeps one in a `static` (its `#[global_allocator]`).
    static STATIC_SLAB: SlabAllocator<'static, FakeRam> = SlabAllocator::new();

    #[test]
    fn lives_in_a_static_and_serves_once_initialised() {
        assert!(STATIC_SLAB.kmalloc(8, GFP_KERNEL).is_none(), "served before init");
        let pa: &'static PageAlloc<FakeRam> = Box::leak(Box::new(ram(4)));
        STATIC_SLAB.init(pa, SlabConfig::default()).unwrap();
        assert_eq!(STATIC_SLAB.init(pa, SlabConfig::default()), Err(SlabError::AlreadyInitialised));
        let p = STATIC_SLAB.kmalloc(8, GFP_KERNEL).unwrap();
        // SAFETY: just allocated, freed once.
        unsafe { STATIC_SLAB.kfree(p.as_ptr()) };
    }

    #[test]
    fn layouts_follow_slub() {
        // (size, order, objects) as Linux shows them on a one-CPU machine.
        for (size, order, objects) in [(8, 0, 512), (64, 0, 64), (96, 0, 42), (192, 0, 21), (512, 0, 8), (1024, 1, 8), (2048, 2, 8), (4096, 3, 8), (8192, 3, 4)]
        {
            let l = calculate_layout(size, 0, 0, false).unwrap();
            assert_eq!((l.order, l.objects), (order, objects), "size {size}");
            assert_eq!(l.fp_offset, 0);
        }
        let l = calculate_layout(100, 0, SLAB_HWCACHE_ALIGN, false).unwrap();
        assert_eq!((l.align, l.size), (64, 128));
        let l = calculate_layout(20, 0, SLAB_HWCACHE_ALIGN, false).unwrap();
        assert_eq!((l.align, l.size), (32, 32));
        // Red zone: a word after the object; poison moves the free pointer out.
        let l = calculate_layout(60, 0, SLAB_RED_ZONE | SLAB_POISON, false).unwrap();
        assert_eq!((l.red_zone_end, l.fp_offset, l.size, l.limit), (72, 72, 80, 0));
        let l = calculate_layout(60, 0, 0, true).unwrap();
        assert_eq!((l.fp_offset, l.size, l.limit, l.batchcount), (64, 72, 120, 60));
        assert!(calculate_layout(0, 0, 0, false).is_none());
        assert!(calculate_layout(MAX_OBJECT_SIZE + 1, 0, 0, false).is_none());
        assert_eq!(calculate_layout(MAX_OBJECT_SIZE, 0, 0, false).unwrap().objects, 1);
        for size in (8..=MAX_OBJECT_SIZE).step_by(40) {
            let l = calculate_layout(size, 0, 0, false).unwrap();
            assert!(l.order <= SLUB_MAX_ORDER);
            let waste = l.slab_bytes() - l.objects * l.size;
            assert!(l.objects >= 4.min(MAX_OBJECT_SIZE / l.size), "size {size}: {l:?}");
            assert!(waste * 2 <= l.slab_bytes(), "size {size}: {l:?}");
        }
    }

    static CTOR_RUNS: AtomicU64 = AtomicU64::new(0);
    fn ctor(p: *mut u8) {
        CTOR_RUNS.fetch_add(1, Relaxed);
        // SAFETY: a constructor gets a whole fresh object of the cache (48 bytes).
        unsafe { (p as *mut u64).write(0xc0ffee) };
    }

    #[test]
    fn ctor_runs_once_per_object_and_state_survives_free() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let c = s.kmem_cache_create("ctor_test", 48, 0, 0, Some(ctor)).unwrap();
        let per_slab = c.layout().unwrap().objects as u64;
        let mut objs = Vec::new();
        for _ in 0..3 * per_slab {
            let o = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
            // SAFETY: a live 48-byte object of the cache.
            assert_eq!(unsafe { (o.as_ptr() as *const u64).read() }, 0xc0ffee);
            objs.push(o);
        }
        // Once per object of every slab made (refills took whole batches).
        let made = c.stats().num_objs;
        assert!(made >= 3 * per_slab);
        assert_eq!(CTOR_RUNS.load(Relaxed), made);
        for &o in &objs {
            // SAFETY: allocated above from `c`, freed once.
            unsafe { s.kmem_cache_free(c, o) };
        }
        for _ in 0..3 * per_slab {
            let o = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
            // SAFETY: a live object; the freelist link lives after the object.
            assert_eq!(unsafe { (o.as_ptr() as *const u64).read() }, 0xc0ffee);
            // SAFETY: allocated just above.
            unsafe { s.kmem_cache_free(c, o) };
        }
        assert_eq!(c.stats().num_objs, made);
        assert_eq!(CTOR_RUNS.load(Relaxed), made, "constructor ran again on reuse");
    }

    #[test]
    fn colouring_moves_the_first_object() {
        let pa = ram(8);
        let s = slab(&pa, false);
        // 4096 / 200 = 20 objects, 96 bytes left: colours 0 and 64.
        let c = s.kmem_cache_create("colour_test", 200, 0, 0, None).unwrap();
        let l = c.layout().unwrap();
        assert_eq!((l.objects, l.colours), (20, 2));
        let mut firsts = Vec::new();
        let mut held = Vec::new();
        for _ in 0..4 * l.objects {
            let o = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
            held.push(o);
            firsts.push(o.as_ptr() as usize % PAGE_SIZE);
        }
        let min_offsets: std::collections::BTreeSet<usize> = firsts.iter().map(|o| o % 200).collect();
        assert!(min_offsets.contains(&0) && min_offsets.contains(&64), "{min_offsets:?}");
        for o in held {
            // SAFETY: allocated above from `c`.
            unsafe { s.kmem_cache_free(c, o) };
        }
    }

    #[test]
    fn shrink_and_destroy_return_every_page() {
        let pa = ram(8);
        let start = free_all(&pa);
        let s = slab(&pa, false);
        let c = s.kmem_cache_create("shrink_test", 256, 0, SLAB_HWCACHE_ALIGN, None).unwrap();
        let objs: Vec<_> = (0..1000).map(|_| s.kmem_cache_alloc(c, GFP_KERNEL).unwrap()).collect();
        assert!(free_all(&pa) < start);
        let st = c.stats();
        // Refills take batches of 60; 16 objects per slab.
        assert_eq!(st.active_objs, 1000u64.div_ceil(60) * 60);
        assert_eq!(st.num_slabs, st.active_objs.div_ceil(16));
        // Destroy drains this CPU's array first: what is left is in use.
        assert_eq!(s.kmem_cache_destroy(c), Err(SlabError::Busy { name: "shrink_test", live: 1000 }));
        assert!(s.kmem_cache_destroy(c).unwrap_err().to_string().contains("still has objects"));
        for o in objs {
            // SAFETY: allocated above from `c`.
            unsafe { s.kmem_cache_free(c, o) };
        }
        // At most MAX_EMPTY_SLABS empty slabs stay, plus what the array pins.
        assert!(c.stats().empty_slabs <= MAX_EMPTY_SLABS);
        s.kmem_cache_shrink(c);
        assert_eq!(c.stats().num_slabs, 0);
        assert_eq!(free_all(&pa), start);
        s.kmem_cache_destroy(c).unwrap();
        assert!(!c.is_active());
        assert!(s.kmem_cache_alloc(c, GFP_KERNEL).is_none());
        assert_eq!(s.kmem_cache_destroy(c), Err(SlabError::NotActive));
        // Made again the same way, the slot comes back.
        let again = s.kmem_cache_create("shrink_test", 256, 0, SLAB_HWCACHE_ALIGN, None).unwrap();
        assert!(core::ptr::eq(again, c));
        let o = s.kmem_cache_alloc(again, GFP_KERNEL).unwrap();
        // SAFETY: allocated just above.
        unsafe { s.kmem_cache_free(again, o) };
        s.kmem_cache_destroy(again).unwrap();
        assert_eq!(free_all(&pa), start);
    }

    #[test]
    fn registry_is_bounded_and_errors_are_clear() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let used = 2 * NR_KMALLOC_CACHES;
        for _ in used..MAX_CACHES {
            s.kmem_cache_create("filler", 32, 0, 0, None).unwrap();
        }
        assert_eq!(s.kmem_cache_create("one_too_many", 32, 0, 0, None).err(), Some(SlabError::TooManyCaches));
        let fresh = SlabAllocator::<FakeRam>::new();
        assert_eq!(fresh.kmem_cache_create("early", 32, 0, 0, None).err(), Some(SlabError::NotInitialised));
        assert_eq!(s.kmem_cache_create("bad", 0, 0, 0, None).err(), Some(SlabError::InvalidSize(0)));
        assert_eq!(s.kmem_cache_create("bad", 8, 3, 0, None).err(), Some(SlabError::InvalidAlign(3)));
        assert_eq!(s.kmem_cache_create("bad", 8, 0, 1, None).err(), Some(SlabError::InvalidFlags(1)));
        let k = s.kmalloc_cache(64, GFP_KERNEL).unwrap();
        assert_eq!(s.kmem_cache_destroy(k), Err(SlabError::KmallocCache("kmalloc-64")));
    }

    #[test]
    #[should_panic(expected = "kmem_cache_create: Failed to create slab 'huge'")]
    fn slab_panic_panics() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let _ = s.kmem_cache_create("huge", MAX_OBJECT_SIZE + 1, 0, SLAB_PANIC, None);
    }

    #[test]
    fn other_threads_take_the_locked_path() {
        let pa = ram(8);
        let s = slab(&pa, false);
        let c = s.kmem_cache_create("threads", 64, 0, 0, None).unwrap();
        let mine = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        std::thread::scope(|t| {
            t.spawn(|| {
                let objs: Vec<_> = (0..500).map(|_| s.kmem_cache_alloc(c, GFP_KERNEL).unwrap()).collect();
                for o in objs {
                    // SAFETY: allocated above from `c`.
                    unsafe { s.kmem_cache_free(c, o) };
                }
            });
        });
        // SAFETY: allocated above from `c`.
        unsafe { s.kmem_cache_free(c, mine) };
        s.kmem_cache_shrink(c);
        assert_eq!(c.stats().num_slabs, 0);
        assert_eq!(s.bug_count(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(usize),
        Free(usize),
        Shrink,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(prop_oneof![6 => (0usize..4).prop_map(Op::Alloc), 5 => any::<usize>().prop_map(Op::Free), 1 => Just(Op::Shrink)], 1..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random alloc/free against a model: objects aligned, inside their
        /// slab's memory, disjoint, contents kept; everything comes back.
        #[test]
        fn alloc_free_matches_model(ops in ops(), sizes in prop::collection::vec((1usize..3000, 0u32..4), 4), debug in any::<bool>()) {
            let pa = ram(8);
            let start = free_all(&pa);
            let s = slab(&pa, debug);
            let caches: Vec<&KmemCache> = sizes.iter().enumerate().map(|(i, &(size, al))| {
                let align = [0, 16, 64, 512][al as usize];
                s.kmem_cache_create(["a", "b", "c", "d"][i], size, align, 0, None).unwrap()
            }).collect();
            // addr -> (cache, len, pattern)
            let mut live: BTreeMap<usize, (usize, usize, u8)> = BTreeMap::new();
            let mut stamp = 0u8;
            for op in ops {
                match op {
                    Op::Alloc(ci) => {
                        let c = caches[ci];
                        let Some(o) = s.kmem_cache_alloc(c, GFP_KERNEL) else { continue };
                        let a = o.as_ptr() as usize;
                        let len = c.object_size();
                        prop_assert_eq!(phys(&pa, o.as_ptr()) as usize % c.align(), 0);
                        let (pfn, head) = s.slab_head(a).unwrap();
                        let base = pa.mem.frame_ptr(pfn).unwrap() as usize;
                        prop_assert!(a >= base && a + len <= base + c.layout().unwrap().slab_bytes());
                        prop_assert_eq!(head.private(), c as *const KmemCache as u64);
                        if let Some((&b, &(_, blen, _))) = live.range(..=a).next_back() {
                            prop_assert!(b + blen <= a, "overlap {:#x}+{} and {:#x}", b, blen, a);
                        }
                        if let Some((&b, _)) = live.range(a..).next() {
                            prop_assert!(a + len <= b);
                        }
                        stamp = stamp.wrapping_add(1);
                        // SAFETY: a live object of `len` bytes.
                        unsafe { core::ptr::write_bytes(o.as_ptr(), stamp, len) };
                        live.insert(a, (ci, len, stamp));
                    }
                    Op::Free(k) => {
                        if live.is_empty() { continue }
                        let (&a, &(ci, len, pat)) = live.iter().nth(k % live.len()).unwrap();
                        // SAFETY: a live object of `len` bytes.
                        let bytes = unsafe { core::slice::from_raw_parts(a as *const u8, len) };
                        prop_assert!(bytes.iter().all(|&b| b == pat), "contents changed");
                        // SAFETY: allocated from caches[ci], freed once.
                        unsafe { s.kmem_cache_free(caches[ci], NonNull::new(a as *mut u8).unwrap()) };
                        live.remove(&a);
                    }
                    Op::Shrink => {
                        for c in &caches {
                            s.kmem_cache_shrink(c);
                        }
                    }
                }
            }
            for (&a, &(ci, _, _)) in &live {
                // SAFETY: still live, allocated from caches[ci].
                unsafe { s.kmem_cache_free(caches[ci], NonNull::new(a as *mut u8).unwrap()) };
            }
            for c in &caches {
                s.kmem_cache_destroy(c).unwrap();
            }
            prop_assert_eq!(s.bug_count(), 0);
            prop_assert_eq!(free_all(&pa), start);
        }
    }
}
