//! The slow paths under the cache lock (Linux `cache_alloc_refill`,
//! `cache_flusharray`, `cache_grow`): refilling an empty per-CPU array
//! from the slabs, flushing a full one back, growing the cache by a slab
//! and giving empty slabs back to the page allocator.

use crate::mm::addr::Pfn;
use core::sync::atomic::Ordering::Relaxed;

use super::cache::{CacheNode, KmemCache, SLOT_ACTIVE};
use super::layout::{CacheParams, ARRAY_CACHE_MAX, MAX_EMPTY_SLABS, SLAB_CACHE_DMA};
use super::page::{fp_valid, read_word, relist, set_slab_counters, slab_counters, write_word};
use super::SlabAllocator;
use crate::mm::gfp::{Gfp, __GFP_COMP, __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, __GFP_ZERO};
use crate::mm::page::{pg, PhysMem, NIL};
use crate::mm::page_alloc::PageAlloc;
use crate::mm::slab_debug::{check_alloc, check_free, describe, fill, poison_object, Pending, SlabBug, SlabBugKind, SlabFix, SLUB_RED_INACTIVE};

impl<'a, M: PhysMem> SlabAllocator<'a, M> {
    /// Empty array: take a batch from the slabs and pop one (Linux
    /// `cache_alloc_refill`); debug caches and callers without this CPU's
    /// array take one object under the lock.
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_slow(&self, cache: &KmemCache, gfp: Gfp) -> Option<usize> {
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
                    if !p.debug || check_alloc(pa, p, one[0], &mut bugs) {
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

    #[cold]
    #[inline(never)]
    pub(super) fn report_bad_free(&self, cache: &KmemCache, addr: usize) {
        let mut bug = SlabBug::new(cache.name(), SlabBugKind::InvalidPointer, addr, SlabFix::NotFreed);
        if let Some((_, head)) = self.slab_head(addr) {
            bug.kind = SlabBugKind::WrongCache;
            bug.other_cache = self.cache_of_slab(head).map_or("?", |c| c.name());
        }
        self.report(bug);
    }

    /// Full array: give the oldest `batchcount` back to the slabs (Linux
    /// `cache_flusharray`) and push. Debug caches and callers without this
    /// CPU's array free under the lock, checked for a debug cache.
    #[cold]
    #[inline(never)]
    pub(super) fn free_slow(&self, cache: &KmemCache, addr: usize, pfn: Pfn) {
        let (Some(pa), Some(p)) = (self.page_alloc(), cache.p()) else { return };
        let mut bugs = Pending::new();
        let mut g = if p.debug { None } else { self.get_cpu() };
        match &mut g {
            Some(g) => {
                let ac = Self::cpu_array(cache, g);
                if ac.top() == addr {
                    let _node = cache.node.lock();
                    bugs.push(describe(pa, p, SlabBugKind::DoubleFree, addr, pfn, SlabFix::NotFreed));
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
                if !p.debug || check_free(pa, p, addr, pfn, &mut bugs) {
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
    pub(super) fn take_objects(
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
                (match self.grow(pa, cache, p, node, gfp) {
                    Some(pfn) => pfn,
                    None => break,
                })
                .as_u64()
            };
            let page = pa.mem.page(Pfn::new(pfn));
            let Some(base) = pa.mem.frame_ptr(Pfn::new(pfn)) else { break };
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
                    let mut bug = describe(pa, p, SlabBugKind::FreepointerCorrupt, obj, Pfn::new(pfn), SlabFix::FreelistTruncated);
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
                bugs.push(describe(pa, p, SlabBugKind::FreepointerCorrupt, base + s_mem, Pfn::new(pfn), SlabFix::FreelistTruncated));
                let lost = (l.objects - inuse) as u64;
                node.free_objects -= lost;
                node.leaked += lost;
                inuse = l.objects;
            }
            page.page_type.store(free, Relaxed);
            set_slab_counters(page, inuse, s_mem);
            relist(pa, node, Pfn::new(pfn), before, inuse, l.objects);
        }
        n
    }

    /// Links objects back into their slabs (Linux `free_block`), giving
    /// empty slabs beyond [`MAX_EMPTY_SLABS`] back.
    pub(super) fn put_objects(&self, pa: &PageAlloc<M>, cache: &KmemCache, p: &CacheParams, node: &mut CacheNode, objs: &[usize], bugs: &mut Pending) {
        let l = &p.layout;
        for &obj in objs {
            let Some((pfn, page)) = self.slab_head(obj) else {
                bugs.push(SlabBug::new(p.name, SlabBugKind::InvalidPointer, obj, SlabFix::NotFreed));
                continue;
            };
            if page.private() != cache as *const KmemCache as u64 {
                let mut bug = describe(pa, p, SlabBugKind::WrongCache, obj, pfn, SlabFix::NotFreed);
                bug.other_cache = self.cache_at(page.private()).map_or("?", |c| c.name());
                bugs.push(bug);
                continue;
            }
            let Some(base) = pa.mem.frame_ptr(pfn) else { continue };
            let base = base as usize;
            let (before, s_mem) = slab_counters(page);
            let head = page.page_type.load(Relaxed);
            if before == 0 || (head != NIL && base + head as usize == obj) {
                bugs.push(describe(pa, p, SlabBugKind::DoubleFree, obj, pfn, SlabFix::NotFreed));
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
    pub(super) fn grow(&self, pa: &PageAlloc<M>, cache: &KmemCache, p: &CacheParams, node: &mut CacheNode, gfp: Gfp) -> Option<Pfn> {
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
    pub(super) fn free_slab(&self, pa: &PageAlloc<M>, p: &CacheParams, node: &mut CacheNode, pfn: Pfn) {
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
