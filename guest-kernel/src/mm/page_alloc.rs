//! The buddy page allocator (Linux `mm/page_alloc.c`) over a [`PhysMem`].
//!
//! Each zone keeps `free_area[MAX_ORDER]` lists of free blocks of 2^order
//! pages. Allocation takes the smallest block that fits and splits it,
//! putting the halves back (`expand`); freeing merges a block with its buddy
//! (the block at `pfn ^ (1 << order)`) for as long as the buddy is free, so
//! memory always returns to the largest blocks it can form. Order-0 pages go
//! through per-CPU lists first.
//!
//! Boot hands memory over in max-order blocks and defers even that:
//! whole max-order ranges are only recorded, and a block's head page is
//! written when an allocation first takes it, so boot time does not grow
//! with RAM.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::mm::gfp::{
    Gfp, __GFP_COLD, __GFP_COMP, __GFP_DMA, __GFP_DMA32, __GFP_HIGH, __GFP_HIGHMEM, __GFP_NOFAIL, __GFP_NORETRY, __GFP_RETRY_MAYFAIL, __GFP_ZERO,
};
use crate::mm::page::{pg, Page, PhysMem};
use crate::mm::zone::*;

/// Allocation context derived from the GFP mask (Linux `ALLOC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AllocFlags {
    wmark: usize,
    /// `__GFP_HIGH`: may take half of the min reserve.
    high: bool,
    /// Atomic (cannot reclaim) and `__GFP_HIGH`: a further quarter.
    harder: bool,
    no_watermarks: bool,
}

/// Why a page could not be freed (Linux "Bad page state").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPage {
    pub pfn: Pfn,
    pub reason: &'static str,
    pub flags: u32,
    pub refcount: i32,
    pub mapcount: i32,
}

/// Switches set at boot (`page_debug=1`, `page_poison=1`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocConfig {
    pub page_debug: bool,
    pub page_poison: bool,
}

/// Node-wide event counters (Linux `vm_event_states`).
#[derive(Default)]
pub struct VmEvents {
    pub pgfree: AtomicU64,
    pub allocstall: AtomicU64,
    /// `__GFP_ZERO` pages that were known to be zero and not cleared.
    pub pgzero_skipped: AtomicU64,
    /// `__GFP_ZERO` pages that had to be cleared.
    pub pgzero_cleared: AtomicU64,
    /// Max-order blocks whose head was initialised on demand.
    pub deferred_init_blocks: AtomicU64,
    pub bad_pages: AtomicU64,
    pub alloc_failures: AtomicU64,
}

pub struct PageAlloc<M: PhysMem> {
    pub mem: M,
    pub zones: [Zone; MAX_NR_ZONES],
    pub config: AllocConfig,
    pub events: VmEvents,
    pub min_free_kbytes: AtomicU64,
    /// `vm.watermark_scale_factor`: the gap between watermarks, in
    /// 1/10000 of a zone (default 10).
    pub watermark_scale_factor: AtomicU64,
    /// Set by the poison check when it finds a corrupted free page; the
    /// kernel reports it.
    pub poison_corrupted: AtomicBool,
    /// Reclaim is running (Linux's `PF_MEMALLOC`, one CPU): what it
    /// allocates on the way (its lists, the swap I/O) may take the
    /// reserves below the min watermark, so that freeing memory never
    /// fails for want of memory.
    pub memalloc: AtomicBool,
    /// `fail_page_alloc=`: allocations failed on purpose.
    pub fail: crate::mm::fault_inject::FaultAttr,
    /// A block of at least `PAGE_REPORTING_ORDER` that was in use became
    /// free: free page reporting has something to give the host
    /// ([`crate::mm::page_reporting`]).
    pub report_requested: AtomicBool,
    /// An allocation found free memory below the low watermark (Linux
    /// `wakeup_kswapd`): background reclaim is wanted
    /// ([`take_kswapd_wakeup`](Self::take_kswapd_wakeup)).
    kswapd_wakeup: AtomicBool,
}

/// Linux `gfp_zone`: the highest zone a mask may use.
pub fn gfp_zone(gfp: Gfp) -> usize {
    if gfp.contains(__GFP_DMA) {
        ZONE_DMA
    } else if gfp.contains(__GFP_DMA32) {
        ZONE_DMA32
    } else if gfp.contains(__GFP_HIGHMEM) {
        ZONE_HIGHMEM
    } else {
        ZONE_NORMAL
    }
}

/// The CPU we run on; one today, read through the per-CPU base later.
fn this_cpu() -> usize {
    0
}

impl<M: PhysMem> PageAlloc<M> {
    /// A node whose zones span `spans[i] = (start_pfn, end_pfn)`, with no
    /// memory yet.
    pub fn new(mem: M, spans: [(u64, u64); MAX_NR_ZONES], config: AllocConfig) -> Self {
        Self {
            mem,
            zones: core::array::from_fn(|i| Zone::new(i, spans[i].0, spans[i].1)),
            config,
            fail: crate::mm::fault_inject::FaultAttr::new(),
            events: VmEvents::default(),
            min_free_kbytes: AtomicU64::new(0),
            watermark_scale_factor: AtomicU64::new(10),
            poison_corrupted: AtomicBool::new(false),
            memalloc: AtomicBool::new(false),
            report_requested: AtomicBool::new(false),
            kswapd_wakeup: AtomicBool::new(false),
        }
    }

    pub fn zone_of(&self, pfn: Pfn) -> Option<&Zone> {
        self.zones.iter().find(|z| z.contains(pfn))
    }

    /// Counts page `pfn` in or out of its zone's managed pages (Linux
    /// `adjust_managed_page_count`): a balloon takes pages out of
    /// `MemTotal` while the host has them. Watermarks stay as set at boot,
    /// as in Linux.
    pub fn adjust_managed_page_count(&self, pfn: Pfn, delta: i64) {
        if let Some(z) = self.zone_of(pfn) {
            z.managed_pages.fetch_add(delta as u64, Relaxed);
        }
    }

    /// Counts `[start, end)` as RAM present in the zones (memblock memory).
    pub fn add_present(&mut self, start: Pfn, end: Pfn) {
        for z in self.zones.iter_mut() {
            let (s, e) = (start.as_u64().max(z.zone_start_pfn), end.as_u64().min(z.end_pfn()));
            if s < e {
                z.present_pages += e - s;
            }
        }
    }

    /// Hands the free RAM `[start, end)` to the buddy allocator at boot
    /// (Linux `memblock_free_all`). `zeroed`: the memory is known to read
    /// as zero. Whole max-order blocks are deferred; the ragged edges are
    /// freed as the largest aligned blocks that fit.
    pub fn free_boot_range(&mut self, start: Pfn, end: Pfn, zeroed: bool) {
        for zi in 0..MAX_NR_ZONES {
            let z = &self.zones[zi];
            let (s, e) = (start.as_u64().max(z.zone_start_pfn), end.as_u64().min(z.end_pfn()));
            if s >= e {
                continue;
            }
            z.managed_pages.fetch_add(e - s, Relaxed);
            let a = s.next_multiple_of(MAX_ORDER_NR_PAGES).min(e);
            let b = (e / MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES).max(a);
            self.free_boot_blocks(zi, Pfn::new(s), Pfn::new(a), zeroed);
            if a < b {
                let mut area = self.zones[zi].free_area.lock();
                if area.nr_deferred < MAX_DEFERRED_RANGES && zeroed {
                    let n = area.nr_deferred;
                    area.deferred[n] = (a, b);
                    area.nr_deferred += 1;
                    area.deferred_blocks += (b - a) / MAX_ORDER_NR_PAGES;
                    self.zones[zi].nr_free.fetch_add(b - a, Relaxed);
                    self.zones[zi].nr_free_order[MAX_ORDER - 1].fetch_add((b - a) / MAX_ORDER_NR_PAGES, Relaxed);
                } else {
                    drop(area);
                    self.free_boot_blocks(zi, Pfn::new(a), Pfn::new(b), zeroed);
                }
            }
            self.free_boot_blocks(zi, Pfn::new(b), Pfn::new(e), zeroed);
        }
    }

    fn free_boot_blocks(&self, zi: usize, mut pfn: Pfn, end: Pfn, zeroed: bool) {
        let zone = &self.zones[zi];
        while pfn < end {
            let mut order = (MAX_ORDER - 1).min(pfn.alignment_order());
            while pfn + (1 << order) > end {
                order -= 1;
            }
            let mut area = zone.free_area.lock();
            self.free_one_page(zone, &mut area, pfn, order, zeroed);
            pfn += 1 << order;
        }
    }

    /// Computes watermarks, lowmem reserves and per-CPU batch sizes from the
    /// managed pages (Linux `init_per_zone_wmark_min`). Call after boot
    /// freeing.
    pub fn setup_watermarks(&self) {
        let lowmem_pages: u64 = self.zones.iter().filter(|z| !z.is_highmem()).map(|z| z.managed()).sum();
        self.min_free_kbytes.store(min_free_kbytes(lowmem_pages * 4), Relaxed);
        self.setup_per_zone_wmarks();
        for (i, &ratio) in LOWMEM_RESERVE_RATIO.iter().enumerate() {
            let clear = ratio == 0 || self.zones[i].managed() == 0;
            let mut upper = 0;
            for j in i + 1..MAX_NR_ZONES {
                upper += self.zones[j].managed();
                self.zones[i].lowmem_reserve[j].store(if clear { 0 } else { upper / ratio }, Relaxed);
            }
        }
    }

    /// `vm.min_free_kbytes` written: the watermarks follow (Linux
    /// `min_free_kbytes_sysctl_handler`).
    pub fn set_min_free_kbytes(&self, kbytes: u64) {
        self.min_free_kbytes.store(kbytes, Relaxed);
        self.setup_per_zone_wmarks();
    }

    /// `vm.watermark_scale_factor` written (1..=3000).
    pub fn set_watermark_scale_factor(&self, factor: u64) {
        self.watermark_scale_factor.store(factor, Relaxed);
        self.setup_per_zone_wmarks();
    }

    /// Each zone's min, low and high watermarks from `min_free_kbytes`
    /// (shared out by size among the lowmem zones) and the scale factor,
    /// and the per-CPU batch sizes (Linux `__setup_per_zone_wmarks`).
    fn setup_per_zone_wmarks(&self) {
        let lowmem_pages: u64 = self.zones.iter().filter(|z| !z.is_highmem()).map(|z| z.managed()).sum();
        let pages_min = self.min_free_kbytes.load(Relaxed) / 4;
        let scale = self.watermark_scale_factor.load(Relaxed);
        for z in &self.zones {
            let managed = z.managed();
            let tmp = (pages_min * managed).checked_div(lowmem_pages).unwrap_or(0);
            let min = if z.is_highmem() { (managed / 1024).clamp(32, 128) } else { tmp };
            let delta = (tmp / 4).max(managed * scale / 10_000);
            let min = if managed == 0 { 0 } else { min };
            z.watermark[WMARK_MIN].store(min, Relaxed);
            z.watermark[WMARK_LOW].store(min + delta, Relaxed);
            z.watermark[WMARK_HIGH].store(min + 2 * delta, Relaxed);
            let batch = zone_batchsize(managed);
            for pcp in &z.pcp {
                let mut pcp = pcp.lock();
                pcp.batch = batch;
                pcp.high = 6 * batch;
            }
        }
    }

    /// Linux `__zone_watermark_ok`.
    fn watermark_ok(&self, z: &Zone, order: usize, highest: usize, flags: AllocFlags) -> bool {
        let free = z.free_pages() as i64 - ((1i64 << order) - 1);
        let mut min = z.wmark(flags.wmark) as i64;
        if flags.high {
            min -= min / 2;
        }
        if flags.harder {
            min -= min / 4;
        }
        if free <= min + z.reserve(highest) as i64 {
            return false;
        }
        order == 0 || (order..MAX_ORDER).any(|o| z.nr_free_order[o].load(Relaxed) > 0)
    }

    /// Allocates 2^`order` contiguous pages; returns the first PFN.
    /// `None` when the request cannot be met (the caller reports it).
    pub fn alloc_pages(&self, gfp: Gfp, order: usize) -> Option<Pfn> {
        if order >= MAX_ORDER {
            return None;
        }
        if self.fail.should_fail() && !gfp.contains(__GFP_NOFAIL) && !gfp.contains(crate::mm::gfp::__GFP_NO_INJECT) {
            self.events.alloc_failures.fetch_add(1, Relaxed);
            return None;
        }
        let highest = gfp_zone(gfp);
        // Fast path: above the low watermark.
        let fast = AllocFlags { wmark: WMARK_LOW, high: false, harder: false, no_watermarks: false };
        if let Some(pfn) = self.get_page_from_freelist(gfp, order, highest, fast) {
            return Some(pfn);
        }
        // Slow path: kswapd is woken (it reclaims up to the high watermark
        // in the background), and this allocation may go down to min, less
        // for __GFP_HIGH, less again for atomic.
        self.wakeup_kswapd();
        let high = gfp.contains(__GFP_HIGH);
        let slow = AllocFlags { wmark: WMARK_MIN, high, harder: high && !gfp.can_direct_reclaim(), no_watermarks: false };
        if let Some(pfn) = self.get_page_from_freelist(gfp, order, highest, slow) {
            return Some(pfn);
        }
        if gfp.can_direct_reclaim() {
            let attempts = if gfp.contains(__GFP_NORETRY) {
                1
            } else if gfp.contains(__GFP_RETRY_MAYFAIL) || gfp.contains(__GFP_NOFAIL) {
                4
            } else {
                2
            };
            for _ in 0..attempts {
                self.events.allocstall.fetch_add(1, Relaxed);
                let progress = self.reclaim();
                if let Some(pfn) = self.get_page_from_freelist(gfp, order, highest, slow) {
                    return Some(pfn);
                }
                if progress == 0 {
                    break;
                }
            }
        }
        if gfp.contains(__GFP_NOFAIL) || self.memalloc.load(Relaxed) {
            let reserves = AllocFlags { no_watermarks: true, ..slow };
            if let Some(pfn) = self.get_page_from_freelist(gfp, order, highest, reserves) {
                return Some(pfn);
            }
        }
        self.events.alloc_failures.fetch_add(1, Relaxed);
        None
    }

    /// What direct reclaim can do today: give the per-CPU lists back to the
    /// buddy lists, where they can merge. Returns the pages recovered.
    fn reclaim(&self) -> u64 {
        self.drain_all_pages()
    }

    fn get_page_from_freelist(&self, gfp: Gfp, order: usize, highest: usize, flags: AllocFlags) -> Option<Pfn> {
        for z in self.zones[..=highest].iter().rev().filter(|z| z.populated()) {
            if !flags.no_watermarks && !self.watermark_ok(z, order, highest, flags) {
                continue;
            }
            if let Some((pfn, zero)) = self.rmqueue(z, order, gfp) {
                self.prep_new_page(z, pfn, order, gfp, zero);
                z.pgalloc.fetch_add(1 << order, Relaxed);
                return Some(pfn);
            }
        }
        None
    }

    /// Takes a block from `z`: order 0 through this CPU's list.
    fn rmqueue(&self, z: &Zone, order: usize, gfp: Gfp) -> Option<(Pfn, bool)> {
        if order > 0 {
            let mut area = z.free_area.lock();
            return self.rmqueue_smallest(z, &mut area, order);
        }
        let mut pcp = z.pcp[this_cpu()].lock();
        if pcp.list.is_empty() {
            let mut area = z.free_area.lock();
            for _ in 0..pcp.batch {
                let Some((pfn, zero)) = self.rmqueue_smallest(z, &mut area, 0) else { break };
                let page = self.mem.page(pfn);
                // Keep POISONED: prep_new_page checks the poison by it.
                let poisoned = page.flags() & pg::POISONED;
                page.flags.store(pg::INIT | pg::PCP | zone_bits(z.idx) | poisoned | if zero { pg::ZERO } else { 0 }, Relaxed);
                pcp.list.push_back(&self.mem, pfn);
            }
        }
        let pfn = if gfp.contains(__GFP_COLD) { pcp.list.pop_back(&self.mem) } else { pcp.list.pop_front(&self.mem) }?;
        Some((pfn, self.mem.page(pfn).test(pg::ZERO)))
    }

    /// Linux `__rmqueue_smallest`: the smallest free block of at least
    /// `order`, split down to `order`. Returns its PFN and whether it is
    /// known zero.
    fn rmqueue_smallest(&self, z: &Zone, area: &mut FreeArea, order: usize) -> Option<(Pfn, bool)> {
        for current in order..MAX_ORDER {
            let (pfn, zero, reported) = if let Some(pfn) = area.lists[current].pop_front(&self.mem) {
                let page = self.mem.page(pfn);
                let (zero, reported) = (page.test(pg::ZERO), page.test(pg::REPORTED));
                page.clear(pg::BUDDY | pg::ZERO | pg::REPORTED);
                (pfn, zero, reported)
            } else if current == MAX_ORDER - 1 {
                let pfn = area.take_deferred()?;
                self.events.deferred_init_blocks.fetch_add(1, Relaxed);
                (pfn, true, false)
            } else {
                continue;
            };
            z.nr_free_order[current].fetch_sub(1, Relaxed);
            z.nr_free.fetch_sub(1 << order, Relaxed);
            // expand(): hand back the upper halves (a reported block's
            // halves stay reported, as Linux's do).
            let mut high = current;
            while high > order {
                high -= 1;
                let buddy = pfn + (1 << high);
                self.set_buddy(z.idx, buddy, high, zero, reported);
                area.lists[high].push_front(&self.mem, buddy);
                z.nr_free_order[high].fetch_add(1, Relaxed);
            }
            return Some((pfn, zero));
        }
        None
    }

    fn set_buddy(&self, zone: usize, pfn: Pfn, order: usize, zero: bool, reported: bool) {
        let page = self.mem.page(pfn);
        // Keep POISONED (freed and filled with PAGE_POISON): the check on
        // allocation goes by it, whatever head this page becomes meanwhile.
        let poisoned = page.flags() & pg::POISONED;
        let known = if reported {
            pg::ZERO | pg::REPORTED
        } else if zero {
            pg::ZERO
        } else {
            0
        };
        page.flags.store(pg::INIT | pg::BUDDY | zone_bits(zone) | poisoned | known, Relaxed);
        page._refcount.store(0, Relaxed);
        page._mapcount.store(-1, Relaxed);
        page.private.store(order as u64, Relaxed);
    }

    /// Linux `__free_one_page`: puts the block back and merges it with its
    /// free buddies. A merged block is known zero, or reported, only if
    /// all its parts were.
    fn free_one_page(&self, z: &Zone, area: &mut FreeArea, pfn: Pfn, order: usize, zero: bool) {
        self.free_one_page_reported(z, area, pfn, order, zero, false);
    }

    /// [`free_one_page`](Self::free_one_page) for a block that may have
    /// been reported (page reporting puts its blocks back through here).
    pub(super) fn free_one_page_reported(&self, z: &Zone, area: &mut FreeArea, mut pfn: Pfn, mut order: usize, mut zero: bool, mut reported: bool) {
        let freed = 1u64 << order;
        while order < MAX_ORDER - 1 {
            let buddy_pfn = pfn.buddy(order);
            if !z.contains(buddy_pfn) {
                break;
            }
            let buddy = self.mem.page(buddy_pfn);
            if !(buddy.test(pg::BUDDY) && buddy.buddy_order() as usize == order && buddy.zone_idx() == z.idx) {
                break;
            }
            area.lists[order].remove(&self.mem, buddy_pfn);
            z.nr_free_order[order].fetch_sub(1, Relaxed);
            zero &= buddy.test(pg::ZERO);
            reported &= buddy.test(pg::REPORTED);
            buddy.clear(pg::BUDDY | pg::ZERO | pg::REPORTED);
            pfn = pfn.align_down(order + 1);
            order += 1;
        }
        self.set_buddy(z.idx, pfn, order, zero, reported);
        // A block one short of reporting size counts too: what it lacks is
        // often a page on a per-CPU list, which the pass drains first.
        // Reporting takes blocks of pageblock order and up
        // (`page_reporting::PAGE_REPORTING_ORDER`).
        if !reported && !zero && order + 1 >= PAGEBLOCK_ORDER {
            self.report_requested.store(true, Relaxed);
        }
        area.lists[order].push_front(&self.mem, pfn);
        z.nr_free_order[order].fetch_add(1, Relaxed);
        z.nr_free.fetch_add(freed, Relaxed);
    }

    /// Initialises the allocated block's descriptors, checks poison, zeroes
    /// it for `__GFP_ZERO` unless it is known zero (Linux `prep_new_page`).
    fn prep_new_page(&self, z: &Zone, pfn: Pfn, order: usize, gfp: Gfp, zero: bool) {
        let n = 1u64 << order;
        let compound = gfp.contains(__GFP_COMP) && order > 0;
        // The head page, then the tails (none for order 0, the common
        // case: a straight path with no loop to set up).
        self.prep_one(z, pfn, 1, if compound { pg::HEAD } else { 0 }, if compound { order as u64 } else { 0 });
        let (extra, private) = if compound { (pg::TAIL, pfn.as_u64()) } else { (0, 0) };
        // The tails of a block that is not compound are left as they are,
        // as Linux leaves them: whoever splits the block sets them up (a
        // huge page has 511, and each costs where ring 0 is emulated).
        // Under page_debug they are checked for poison and set up, so that
        // the checks when the block is freed find them clean.
        if self.config.page_debug {
            for i in 1..n {
                self.prep_one(z, pfn + i, 0, extra, private);
            }
        } else if compound {
            for i in 1..n {
                let page = self.mem.page(pfn + i);
                page.init_allocated(z.idx, 0, extra);
                page.private.store(private, Relaxed);
            }
        }
        if gfp.contains(__GFP_ZERO) {
            if zero {
                self.events.pgzero_skipped.fetch_add(n, Relaxed);
            } else {
                self.mem.clear_pages(pfn, n);
                self.events.pgzero_cleared.fetch_add(n, Relaxed);
            }
        }
    }

    /// One page of a new block: its poison checked (`page_debug`), its
    /// descriptor initialised as allocated.
    #[inline(always)]
    fn prep_one(&self, z: &Zone, pfn: Pfn, refcount: i32, extra: u32, private: u64) {
        let page = self.mem.page(pfn);
        if self.config.page_debug && page.test(pg::POISONED) && self.mem.check_poison(pfn).is_some() {
            self.poison_corrupted.store(true, Relaxed);
            self.events.bad_pages.fetch_add(1, Relaxed);
        }
        page.init_allocated(z.idx, refcount, extra);
        page.private.store(private, Relaxed);
    }

    /// Drops a reference to the block at `pfn` and frees it when that was
    /// the last (Linux `__free_pages`). A page that is already free, or
    /// (with `page_debug`) still mapped or flagged, is reported and leaked
    /// rather than corrupting the free lists.
    pub fn free_pages(&self, pfn: Pfn, order: usize) -> Result<(), BadPage> {
        let Some(z) = self.zone_of(pfn) else {
            return Err(self.bad(pfn, "not in any zone"));
        };
        if order >= MAX_ORDER {
            return Err(self.bad(pfn, "order too large"));
        }
        let page = self.mem.page(pfn);
        let old = page._refcount.fetch_sub(1, Relaxed);
        if old <= 0 {
            page._refcount.fetch_add(1, Relaxed);
            return Err(self.bad(pfn, if page.test(pg::BUDDY | pg::PCP) { "double free" } else { "refcount already zero" }));
        }
        if old > 1 {
            return Ok(());
        }
        if self.config.page_debug {
            for i in 0..1u64 << order {
                let p = self.mem.page(pfn + i);
                let reason = if p.mapcount() != 0 {
                    Some("nonzero mapcount")
                } else if p.flags() & pg::CHECK_AT_FREE != 0 {
                    Some("PAGE_FLAGS_CHECK_AT_FREE flag(s) set")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(self.bad(pfn + i, reason));
                }
            }
            if self.config.page_poison {
                for i in 0..1u64 << order {
                    self.mem.poison_page(pfn + i);
                    self.mem.page(pfn + i).set(pg::POISONED);
                }
            }
        }
        self.events.pgfree.fetch_add(1 << order, Relaxed);
        page.clear(pg::ZERO | pg::HEAD);
        if order == 0 {
            let mut pcp = z.pcp[this_cpu()].lock();
            page.set(pg::PCP);
            pcp.list.push_front(&self.mem, pfn);
            if pcp.list.len >= pcp.high {
                let batch = pcp.batch;
                self.free_pcppages_bulk(z, &mut pcp, batch);
            }
        } else {
            let mut area = z.free_area.lock();
            self.free_one_page(z, &mut area, pfn, order, false);
        }
        Ok(())
    }

    fn free_pcppages_bulk(&self, z: &Zone, pcp: &mut PerCpuPages, count: u64) -> u64 {
        let mut area = z.free_area.lock();
        let mut freed = 0;
        while freed < count {
            let Some(pfn) = pcp.list.pop_back(&self.mem) else { break };
            let page = self.mem.page(pfn);
            let zero = page.test(pg::ZERO);
            page.clear(pg::PCP | pg::ZERO);
            self.free_one_page(z, &mut area, pfn, 0, zero);
            freed += 1;
        }
        freed
    }

    /// Returns every per-CPU list to the buddy lists (Linux
    /// `drain_all_pages`); the pages drained.
    pub fn drain_all_pages(&self) -> u64 {
        let mut drained = 0;
        for z in &self.zones {
            for pcp in &z.pcp {
                let mut pcp = pcp.lock();
                let n = pcp.list.len;
                drained += self.free_pcppages_bulk(z, &mut pcp, n);
            }
        }
        drained
    }

    fn bad(&self, pfn: Pfn, reason: &'static str) -> BadPage {
        self.events.bad_pages.fetch_add(1, Relaxed);
        let (flags, refcount, mapcount) = match self.zone_of(pfn) {
            Some(_) => {
                let p = self.mem.page(pfn);
                (p.flags(), p.refcount(), p.mapcount())
            }
            None => (0, 0, 0),
        };
        BadPage { pfn, reason, flags, refcount, mapcount }
    }

    /// The descriptor of an allocated PFN.
    pub fn page(&self, pfn: Pfn) -> &Page {
        self.mem.page(pfn)
    }

    /// Wakes kswapd: background reclaim is wanted (Linux `wakeup_kswapd`).
    pub fn wakeup_kswapd(&self) {
        self.kswapd_wakeup.store(true, Relaxed);
    }

    /// Whether kswapd has been woken and not yet run.
    pub fn kswapd_woken(&self) -> bool {
        self.kswapd_wakeup.load(Relaxed)
    }

    /// Takes the wake-up left for kswapd: whether one was.
    pub fn take_kswapd_wakeup(&self) -> bool {
        self.kswapd_wakeup.swap(false, Relaxed)
    }

    /// Whether memory is short: free pages (per-CPU lists included) at or
    /// below the high watermarks plus `margin` pages. Best-effort work
    /// (statistics snapshots) waits while it is, rather than take memory
    /// reclaim is trying to free; kswapd reclaims while it is.
    pub fn memory_is_low(&self, margin: u64) -> bool {
        let free: u64 = self.zones.iter().map(|z| z.free_pages() + z.pcp_pages()).sum();
        let high: u64 = self.zones.iter().filter(|z| z.populated()).map(|z| z.wmark(WMARK_HIGH)).sum();
        free <= high + margin
    }

    // --- Totals, as /proc/meminfo sees them. ---

    pub fn totalram_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.managed()).sum()
    }
    /// Free pages in the buddy lists (`NR_FREE_PAGES`).
    pub fn nr_free_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.free_pages()).sum()
    }
    /// Free pages including the per-CPU lists.
    pub fn nr_free_pages_all(&self) -> u64 {
        self.zones.iter().map(|z| z.free_pages() + z.pcp_pages()).sum()
    }
}

fn zone_bits(zone: usize) -> u32 {
    (zone as u32) << pg::ZONE_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::fake::FakeRam;
    use crate::mm::gfp::*;

    const M: u64 = 256; // pages per MiB

    /// 64 MiB of RAM: DMA [0, 16M), DMA32 [16M, 64M), RAM from 1 MiB.
    fn small(config: AllocConfig) -> PageAlloc<FakeRam> {
        let mut a = PageAlloc::new(FakeRam::new(64 * M, true), [(0, 16 * M), (16 * M, 64 * M), (0, 0), (0, 0)], config);
        a.add_present(Pfn::new(0), Pfn::new(160));
        a.add_present(Pfn::new(M), Pfn::new(64 * M));
        a.free_boot_range(Pfn::new(M), Pfn::new(64 * M), true);
        a.setup_watermarks();
        a
    }

    #[test]
    fn boot_defers_whole_blocks_and_counts_them_free() {
        let a = small(AllocConfig::default());
        let dma = &a.zones[ZONE_DMA];
        assert_eq!(dma.managed(), 15 * M);
        assert_eq!(dma.free_pages(), 15 * M);
        let area = dma.free_area.lock();
        // [1M, 4M): an order-8 and an order-9 block; [4M, 16M): 3 deferred.
        assert_eq!(area.nr_free(8), 1);
        assert_eq!(area.nr_free(9), 1);
        assert_eq!(area.nr_free(10), 3);
        assert_eq!(area.deferred_blocks, 3);
    }

    #[test]
    fn split_and_merge_restore_the_free_lists() {
        let a = small(AllocConfig::default());
        let before: Vec<u64> = (0..MAX_ORDER).map(|o| a.zones[ZONE_DMA32].free_area.lock().nr_free(o)).collect();
        let pfns: Vec<(Pfn, usize)> = (0..MAX_ORDER).map(|o| (a.alloc_pages(GFP_DMA32_KERNEL, o).unwrap(), o)).collect();
        for &(pfn, o) in &pfns {
            assert!(a.zones[ZONE_DMA32].contains(pfn));
            assert_eq!(pfn.align_down(o), pfn, "block not aligned to its order");
        }
        for (pfn, o) in pfns {
            a.free_pages(pfn, o).unwrap();
        }
        a.drain_all_pages();
        let after: Vec<u64> = (0..MAX_ORDER).map(|o| a.zones[ZONE_DMA32].free_area.lock().nr_free(o)).collect();
        assert_eq!(before, after);
    }

    const GFP_DMA32_KERNEL: Gfp = Gfp(GFP_KERNEL.0 | __GFP_DMA32.0);

    #[test]
    fn zone_modifiers_pick_zones_and_fall_back_downwards() {
        let a = small(AllocConfig::default());
        let dma = a.alloc_pages(GFP_DMA, 0).unwrap();
        assert!(dma < Pfn::new(16 * M));
        // No Normal or HighMem zone: GFP_KERNEL and GFP_HIGHUSER fall back to DMA32.
        for gfp in [GFP_KERNEL, GFP_HIGHUSER, GFP_DMA32_KERNEL] {
            let pfn = a.alloc_pages(gfp, 3).unwrap();
            assert!((16 * M..64 * M).contains(&pfn.as_u64()), "{gfp:?} got {pfn:#x}");
        }
        assert_eq!(a.zones[ZONE_DMA].pgalloc.load(Relaxed), 1);
        assert_eq!(a.zones[ZONE_DMA32].pgalloc.load(Relaxed), 24);
    }

    #[test]
    fn known_zero_pages_are_not_cleared_and_used_pages_are() {
        let a = small(AllocConfig::default());
        let pfn = a.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0).unwrap();
        assert_eq!(a.events.pgzero_skipped.load(Relaxed), 1);
        a.mem.scribble(pfn, 0xdead);
        a.free_pages(pfn, 0).unwrap();
        // The pcp list hands the same (hot) page back: it must be cleared.
        let again = a.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0).unwrap();
        assert_eq!(again, pfn);
        assert!(a.mem.is_zero(again));
        assert_eq!(a.events.pgzero_cleared.load(Relaxed), 1);
    }

    /// kswapd is woken by the first allocation that finds free memory
    /// below the low watermark, not before, and once per wake-up.
    #[test]
    fn an_allocation_below_the_low_watermark_wakes_kswapd() {
        let a = small(AllocConfig::default());
        let dma = &a.zones[ZONE_DMA];
        let low = dma.wmark(WMARK_LOW);
        assert!(!a.take_kswapd_wakeup());
        let mut held = Vec::new();
        loop {
            let free = dma.free_pages();
            held.push(a.alloc_pages(GFP_DMA | GFP_KERNEL | __GFP_NOWARN, 0).expect("memory down to min"));
            if a.take_kswapd_wakeup() {
                assert!(free <= low, "woken with {free} free, above the low watermark {low}");
                break;
            }
            assert!(free > low, "not woken with {free} free, at or below the low watermark {low}");
        }
        assert!(!a.take_kswapd_wakeup(), "one wake-up, taken once");
        for p in held {
            a.free_pages(p, 0).unwrap();
        }
    }

    #[test]
    fn atomic_may_dip_below_min_where_kernel_and_nowait_may_not() {
        let a = small(AllocConfig::default());
        let dma = &a.zones[ZONE_DMA];
        let min = dma.wmark(WMARK_MIN);
        assert!(min > 8, "watermarks too small to test: {min}");
        let mut held = Vec::new();
        while let Some(p) = a.alloc_pages(GFP_DMA | GFP_KERNEL | __GFP_NOWARN, 0) {
            held.push(p);
        }
        let after_kernel = dma.free_pages() + dma.pcp_pages();
        assert!(after_kernel >= min, "GFP_KERNEL went below min: {after_kernel} < {min}");
        assert!(a.alloc_pages(GFP_DMA | GFP_NOWAIT, 0).is_none());
        assert!(a.events.allocstall.load(Relaxed) > 0);
        while let Some(p) = a.alloc_pages(GFP_DMA | GFP_ATOMIC, 0) {
            held.push(p);
        }
        let after_atomic = dma.free_pages();
        assert!(after_atomic < min, "GFP_ATOMIC did not use the reserve");
        assert!(after_atomic >= min - min / 2 - min / 8 - 1, "GFP_ATOMIC took too much: {after_atomic}");
        // __GFP_NOFAIL gets the rest of the reserves.
        held.push(a.alloc_pages(GFP_DMA | GFP_KERNEL | __GFP_NOFAIL, 0).unwrap());
        for p in held {
            a.free_pages(p, 0).unwrap();
        }
        a.drain_all_pages();
        assert_eq!(dma.free_pages(), dma.managed());
    }

    /// Reclaim's own allocations (`memalloc`, Linux `PF_MEMALLOC`) take the
    /// reserves that a plain GFP_KERNEL allocation may not touch.
    #[test]
    fn reclaim_may_take_the_reserves() {
        let a = small(AllocConfig::default());
        let mut held = Vec::new();
        while let Some(p) = a.alloc_pages(GFP_DMA | GFP_KERNEL | __GFP_NOWARN, 0) {
            held.push(p);
        }
        a.memalloc.store(true, Relaxed);
        let reserve = a.alloc_pages(GFP_DMA | GFP_KERNEL | __GFP_NOWARN, 0);
        a.memalloc.store(false, Relaxed);
        assert!(reserve.is_some(), "reclaim could not allocate below min");
        assert!(a.alloc_pages(GFP_DMA | GFP_KERNEL | __GFP_NOWARN, 0).is_none(), "the reserves stay closed to others");
        held.extend(reserve);
        for p in held {
            a.free_pages(p, 0).unwrap();
        }
    }

    #[test]
    fn double_free_and_mapped_pages_are_bad_page_state() {
        let a = small(AllocConfig { page_debug: true, page_poison: true });
        let pfn = a.alloc_pages(GFP_KERNEL, 0).unwrap();
        a.free_pages(pfn, 0).unwrap();
        assert_eq!(a.free_pages(pfn, 0).unwrap_err().reason, "double free");
        let mapped = a.alloc_pages(GFP_KERNEL, 0).unwrap();
        a.page(mapped)._mapcount.store(0, Relaxed);
        assert_eq!(a.free_pages(mapped, 0).unwrap_err().reason, "nonzero mapcount");
        assert_eq!(a.events.bad_pages.load(Relaxed), 2);
    }

    #[test]
    fn poison_catches_a_write_after_free() {
        let a = small(AllocConfig { page_debug: true, page_poison: true });
        let pfn = a.alloc_pages(GFP_KERNEL, 1).unwrap();
        a.free_pages(pfn, 1).unwrap();
        assert_eq!(a.mem.check_poison(pfn), None);
        a.mem.page(pfn); // the freed block is poisoned; scribble on it
        a.mem.scribble(pfn + 1, 7);
        let mut got = Vec::new();
        while !a.poison_corrupted.load(Relaxed) {
            got.push(a.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 1).expect("corruption never noticed"));
        }
    }

    #[test]
    fn compound_pages_know_their_head() {
        let a = small(AllocConfig::default());
        let pfn = a.alloc_pages(GFP_KERNEL | __GFP_COMP, 2).unwrap();
        assert!(a.page(pfn).test(pg::HEAD));
        assert_eq!(a.page(pfn).private(), 2);
        for i in 1..4 {
            assert!(a.page(pfn + i).test(pg::TAIL));
            assert_eq!(a.page(pfn + i).private(), pfn.as_u64());
        }
    }
}
