//! What a cache is made of: the `SLAB_*` flags, the size limits, and
//! SLUB's rules for a cache's layout (alignment, slab order, objects per
//! slab, colouring, the per-CPU array's size). Plain functions of the
//! sizes asked for, tested on the host.

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
pub(super) const SLAB_VALID_FLAGS: u32 = SLAB_DEBUG_FLAGS | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_PANIC;

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

use crate::mm::zone::NR_CPUS;

/// kmalloc's size classes (see [`crate::mm::kmalloc`]): the allocator keeps
/// a cache slot per class, normal and DMA.
pub const NR_KMALLOC_CACHES: usize = 13;
/// Sizes up to `8 * KMALLOC_SMALL_GRANULES` bytes find their class by
/// 8-byte granule (one load).
pub const KMALLOC_SMALL_GRANULES: usize = 24;

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
pub(super) fn calc_slab_order(size: usize, min_order: usize, max_order: usize, fract_leftover: usize) -> usize {
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
pub(super) fn array_limit(size: usize) -> usize {
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
    pub(super) fn same_as(&self, other: &CacheParams) -> bool {
        self.name == other.name && self.flags == other.flags && self.layout == other.layout && self.ctor.map(|f| f as usize) == other.ctor.map(|f| f as usize)
    }
}
