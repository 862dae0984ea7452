//! A cache (Linux `struct kmem_cache`): its parameters, its per-node slab
//! lists under a lock, and a per-CPU array of free objects reached only
//! through this CPU's [`CpuGuard`].

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use super::layout::{CacheLayout, CacheParams, ARRAY_CACHE_MAX};
use crate::mm::page::PageList;
use crate::mm::zone::NR_CPUS;
use crate::sync::{Once, SpinLock};

/// The CPU we run on; one today (as in `page_alloc`).
pub(super) fn this_cpu() -> usize {
    0
}

/// Per-node state, under the cache lock (Linux `kmem_cache_node`).
pub(super) struct CacheNode {
    pub(super) partial: PageList,
    pub(super) full: PageList,
    pub(super) empty: PageList,
    pub(super) total_slabs: u64,
    /// Objects on the slabs' freelists.
    pub(super) free_objects: u64,
    /// Objects taken out of use after damage was found.
    pub(super) leaked: u64,
    pub(super) colour_next: usize,
    pub(super) grown: u64,
    pub(super) reaped: u64,
}

/// A CPU's stack of free objects (SLAB's `array_cache`). The objects are
/// `slot[1..=avail]`; `slot[0]` is always 0, so the top (`slot[avail]`) can
/// be compared with a freed pointer without testing for an empty stack.
pub(super) struct ArrayCache {
    pub(super) avail: usize,
    /// The cache's `limit`, kept here for the fast path (0: debug cache).
    pub(super) limit: usize,
    pub(super) slot: [usize; ARRAY_CACHE_MAX + 1],
}

impl ArrayCache {
    const EMPTY: Self = Self { avail: 0, limit: 0, slot: [0; ARRAY_CACHE_MAX + 1] };

    pub(super) fn objects(&self) -> &[usize] {
        &self.slot[1..=self.avail]
    }

    /// The most recently pushed object; 0 when empty.
    #[inline(always)]
    pub(super) fn top(&self) -> usize {
        self.slot.get(self.avail).copied().unwrap_or(0)
    }

    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<usize> {
        let n = self.avail.checked_sub(1)?;
        let obj = *self.slot.get(n + 1)?;
        self.avail = n;
        Some(obj)
    }

    /// Pushes `obj` unless the stack is at its limit or `obj` is already
    /// on top (an immediate double free: SLUB's freelist hardening check).
    #[inline(always)]
    pub(super) fn try_push(&mut self, obj: usize) -> bool {
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

pub(super) const SLOT_FREE: u8 = 0;
pub(super) const SLOT_ACTIVE: u8 = 1;
pub(super) const SLOT_DEAD: u8 = 2;

/// A cache of same-sized objects (Linux `struct kmem_cache`). Obtained from
/// [`SlabAllocator::kmem_cache_create`]; lives as long as the allocator.
pub struct KmemCache {
    pub(super) params: Once<CacheParams>,
    pub(super) state: AtomicU8,
    pub(super) node: SpinLock<CacheNode>,
    pub(super) cpu: [UnsafeCell<ArrayCache>; NR_CPUS],
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
    pub(super) const fn new() -> Self {
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
    pub(super) cpu: usize,
    pub(super) state: &'s AtomicU64,
    /// The state word to restore: the owner, not busy.
    pub(super) idle: u64,
    #[cfg(target_os = "none")]
    pub(super) irq: u64,
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
pub(super) mod host_cpu {
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
