//! Property tests of the buddy page allocator (`mm::page_alloc`) against a
//! model, over a `FakeRam` with a random but realistic memory map.
//!
//! Each case builds zones as the kernel lays them out (DMA below 16 MiB,
//! DMA32 above, optionally Normal and HighMem; at most 128 MiB of RAM),
//! with holes and reservations, hands the free RAM to the allocator the way
//! `mem_init` does (some ranges not known zero, some split in adjacent
//! pieces), then runs random allocations (orders 0..=10, biased to small;
//! the usual GFP masks with `__GFP_ZERO`, `__GFP_COLD`, `__GFP_COMP`, ...
//! added at random), frees, bulk fills that run zones into their
//! watermarks, and pcp drains. After boot, the watermarks, lowmem reserves
//! and pcp sizes must be Linux's formulas of the managed pages. After every
//! step:
//!
//! * the free lists, the deferred max-order ranges, the per-CPU lists and
//!   the blocks held by the model are disjoint and together are exactly the
//!   free RAM given at boot;
//! * every free block is a well-formed list entry (links, `pg::BUDDY`, its
//!   order in `private`, its zone in the flags), aligned, inside its zone,
//!   not mergeable with its buddy (the lists stay fully coalesced), and
//!   flagged known-zero only if none of its pages was ever handed out;
//! * the counters tell the truth: per order, per zone, and
//!   `free + pcp + held == managed`.
//!
//! On every allocation an oracle written from Linux's
//! `get_page_from_freelist` / `__alloc_pages_slowpath` /
//! `__zone_watermark_ok` predicts, from the zone counters just before the
//! call, whether it succeeds, from which zone, and whether it enters direct
//! reclaim; the block must be aligned, inside free RAM and a zone the mask
//! allows, taken from the hot (or, for `__GFP_COLD`, cold) end of the pcp
//! list, zeroed for `__GFP_ZERO`, and shaped as a compound page for
//! `__GFP_COMP`. Order-0 frees go to the hot end of the pcp list.
//!
//! At the end everything is freed and drained, and each zone must hold
//! exactly the free blocks of a freshly built allocator.
//!
//! A second property frees a block, writes to one of its pages, and with
//! `page_poison=1` the allocation that next hands that page out must report
//! it.
//!
//! `PROPTEST_CASES=n` overrides the case counts (48 and 32).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;

use kernel::mm::addr::Pfn;
use kernel::mm::fake::FakeRam;
use kernel::mm::gfp::*;
use kernel::mm::page::{pg, PhysMem, NIL};
use kernel::mm::page_alloc::{AllocConfig, PageAlloc};
use kernel::mm::zone::*;
use proptest::prelude::*;
use proptest::sample::Index;

type Alloc = PageAlloc<FakeRam>;

/// 16 MiB in pages: the end of ZONE_DMA.
const DMA_END: u64 = 4096;

fn config(cases: u32) -> ProptestConfig {
    // PROPTEST_CASES overrides the modest default for longer soak runs.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// --- The memory map. ---

#[derive(Clone, Debug)]
struct MemMap {
    max_pfn: u64,
    spans: [(u64, u64); MAX_NR_ZONES],
    present: Vec<(u64, u64)>,
    /// Free RAM as handed to `free_boot_range`, in that order, with `zeroed`.
    free: Vec<(u64, u64, bool)>,
    config: AllocConfig,
}

impl MemMap {
    /// The free RAM as sorted, merged ranges.
    fn free_merged(&self) -> Vec<(u64, u64)> {
        let mut r: Vec<(u64, u64)> = self.free.iter().map(|&(s, e, _)| (s, e)).collect();
        r.sort_unstable();
        merge(r)
    }
}

fn merge(sorted: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
    for (s, e) in sorted {
        match out.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
    out
}

fn subtract(ranges: &[(u64, u64)], (cs, ce): (u64, u64)) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(s, e) in ranges {
        if ce <= s || cs >= e {
            out.push((s, e));
            continue;
        }
        if s < cs {
            out.push((s, cs));
        }
        if ce < e {
            out.push((ce, e));
        }
    }
    out
}

prop_compose! {
    fn memmap()(
        max_pfn in prop_oneof![5 => 1024u64..8192, 3 => 8192u64..20480, 1 => 20480u64..=32768],
        // Some: a `lowmem=` below the end of RAM, HighMem above it.
        highmem in prop::option::weighted(0.3, 0u64..1000),
        // Some: a Normal zone (DMA32 ends early, as if at 4 GiB).
        normal in prop::option::weighted(0.3, 0u64..1000),
        holes in prop::collection::vec((0u64..1000, 1u64..2048), 0..4),
        reserved in prop::collection::vec((0u64..1000, 1u64..600), 0..8),
        // Points where a free range is handed over in two adjacent pieces
        // (which may differ in being known zero).
        splits in prop::collection::vec(0u64..1000, 0..4),
        bios_hole in prop::bool::weighted(0.7),
        reserve_low_1m in prop::bool::weighted(0.7),
        dirty in (any::<u32>(), any::<u32>()),
        freeing_order in 0u8..3,
        config in prop_oneof![
            3 => Just(AllocConfig::default()),
            1 => Just(AllocConfig { page_debug: true, page_poison: false }),
            1 => Just(AllocConfig { page_debug: true, page_poison: true }),
        ],
    ) -> MemMap {
        let lowmem_end = highmem.map_or(max_pfn, |f| max_pfn / 4 + f * (max_pfn - max_pfn / 4) / 1000);
        let dma_end = DMA_END.min(lowmem_end);
        let dma32_end = match normal {
            Some(f) if lowmem_end > DMA_END => DMA_END + f * (lowmem_end - DMA_END) / 1000,
            _ => lowmem_end,
        };
        let clip = |s: u64, e: u64| if s < e { (s, e) } else { (0, 0) };
        let spans = [clip(0, dma_end), clip(DMA_END, dma32_end), clip(dma32_end.max(DMA_END), lowmem_end), clip(lowmem_end, max_pfn)];
        // E820: RAM below 640 KiB and from 1 MiB, less the random holes.
        let mut present = if bios_hole { vec![(0, 159), (256, max_pfn)] } else { vec![(0, max_pfn)] };
        for (f, len) in holes {
            let s = f * max_pfn / 1000;
            present = subtract(&present, (s, s + len));
        }
        // memblock reservations: the first MiB, the kernel image, ...
        let mut free_ranges = present.clone();
        if reserve_low_1m {
            free_ranges = subtract(&free_ranges, (0, 256));
        }
        for (f, len) in reserved {
            let s = f * max_pfn / 1000;
            free_ranges = subtract(&free_ranges, (s, s + len));
        }
        for f in splits {
            let p = f * max_pfn / 1000;
            if let Some(i) = free_ranges.iter().position(|&(s, e)| s < p && p < e) {
                let (s, e) = free_ranges[i];
                free_ranges[i] = (s, p);
                free_ranges.insert(i + 1, (p, e));
            }
        }
        let dirty = dirty.0 & dirty.1;
        let mut free: Vec<(u64, u64, bool)> =
            free_ranges.iter().enumerate().map(|(i, &(s, e))| (s, e, dirty >> (i % 32) & 1 == 0)).collect();
        match freeing_order {
            0 => {}
            1 => free.reverse(),
            _ => {
                let (even, odd): (Vec<_>, Vec<_>) = free.iter().enumerate().partition(|(i, _)| i % 2 == 0);
                free = even.into_iter().chain(odd).map(|(_, r)| *r).collect();
            }
        }
        MemMap { max_pfn, spans, present, free, config }
    }
}

/// Boots an allocator over `map` as `mem_init` does. Ranges not known to
/// be zero are dirtied first when frames are kept.
fn build(map: &MemMap, frames: bool) -> Alloc {
    let mem = FakeRam::new(map.max_pfn, frames);
    if frames {
        for &(s, e, zeroed) in &map.free {
            if !zeroed {
                (s..e).for_each(|pfn| mem.scribble(Pfn::new(pfn), 0xb007_0000_0000_0000 | pfn));
            }
        }
    }
    let mut a = PageAlloc::new(mem, map.spans, map.config);
    for &(s, e) in &map.present {
        a.add_present(Pfn::new(s), Pfn::new(e));
    }
    for &(s, e, zeroed) in &map.free {
        a.free_boot_range(Pfn::new(s), Pfn::new(e), zeroed);
    }
    a.setup_watermarks();
    a
}

// --- GFP masks and operations. ---

fn gfp() -> impl Strategy<Value = Gfp> {
    let base = prop::sample::select(vec![
        GFP_KERNEL,
        GFP_ATOMIC,
        GFP_NOWAIT,
        GFP_USER,
        GFP_HIGHUSER,
        GFP_DMA | GFP_KERNEL,
        __GFP_DMA32 | GFP_KERNEL,
        GFP_DMA | GFP_ATOMIC,
        __GFP_DMA32 | GFP_NOWAIT,
        // __GFP_HIGH that may reclaim: half the min reserve, not the
        // further quarter.
        GFP_KERNEL | __GFP_HIGH,
    ]);
    (base, any::<u16>()).prop_map(|(base, m)| {
        let mut g = base;
        for (bit, flag) in [(0, __GFP_ZERO), (1, __GFP_NOWARN), (2, __GFP_COLD), (3, __GFP_COMP)] {
            if m >> bit & 1 != 0 {
                g = g | flag;
            }
        }
        // Rarer: __GFP_NOFAIL (only where it may reclaim, as Linux demands)
        // and __GFP_NORETRY.
        if base.can_direct_reclaim() && m >> 4 & 0xf == 0 {
            g = g | __GFP_NOFAIL;
        }
        if m >> 8 & 0x7 == 0 {
            g = g | __GFP_NORETRY;
        }
        g
    })
}

fn order() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(0usize), 3 => 1usize..=3, 1 => 4usize..=10]
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        order: usize,
        gfp: Gfp,
    },
    Free(Index),
    /// Allocates until the allocator says no (at most `FILL_MAX` times).
    Fill {
        order: usize,
        gfp: Gfp,
    },
    /// Frees about `percent` % of the held blocks, from a random one on.
    FreeSome(Index, u8),
    Drain,
}

const FILL_MAX: usize = 2048;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (order(), gfp()).prop_map(|(order, gfp)| Op::Alloc { order, gfp }),
        7 => any::<Index>().prop_map(Op::Free),
        1 => (0usize..=10, gfp()).prop_map(|(order, gfp)| Op::Fill { order, gfp }),
        1 => (any::<Index>(), 10u8..=100).prop_map(|(i, p)| Op::FreeSome(i, p)),
        1 => Just(Op::Drain),
    ]
}

// --- The oracle: Linux's zone choice and watermark check. ---

/// What the allocator's decisions depend on, per zone.
#[derive(Clone, Copy, Debug)]
struct ZSnap {
    managed: u64,
    free: u64,
    pcp: u64,
    /// The hot and the cold end of this CPU's list.
    pcp_ends: (u32, u32),
    /// A free block of at least this order exists.
    has_block: [bool; MAX_ORDER],
    wmark: [u64; 3],
    reserve: [u64; MAX_NR_ZONES],
}

fn snap(a: &Alloc) -> [ZSnap; MAX_NR_ZONES] {
    core::array::from_fn(|i| {
        let z = &a.zones[i];
        let mut has_block = [false; MAX_ORDER];
        {
            let area = z.free_area.lock();
            let mut any = false;
            for o in (0..MAX_ORDER).rev() {
                any |= area.nr_free(o) > 0;
                has_block[o] = any;
            }
        }
        let (pcp, pcp_ends) = {
            let pcp = z.pcp[0].lock();
            (pcp.list.len, (pcp.list.head, pcp.list.tail))
        };
        ZSnap {
            managed: z.managed(),
            free: z.free_pages(),
            pcp,
            pcp_ends,
            has_block,
            wmark: [z.wmark(WMARK_MIN), z.wmark(WMARK_LOW), z.wmark(WMARK_HIGH)],
            reserve: core::array::from_fn(|j| z.reserve(j)),
        }
    })
}

/// Linux `gfp_zone` (GFP_ZONE_TABLE for the masks we use).
fn highest_zone(gfp: Gfp) -> usize {
    if gfp.0 & __GFP_DMA.0 != 0 {
        ZONE_DMA
    } else if gfp.0 & __GFP_DMA32.0 != 0 {
        ZONE_DMA32
    } else if gfp.0 & __GFP_HIGHMEM.0 != 0 {
        ZONE_HIGHMEM
    } else {
        ZONE_NORMAL
    }
}

/// An attempt of `get_page_from_freelist`: the watermark and the reserve
/// flags (`ALLOC_MIN_RESERVE` = `__GFP_HIGH`, `ALLOC_NON_BLOCK` = cannot
/// reclaim); `None` for `ALLOC_NO_WATERMARKS`.
#[derive(Clone, Copy, Debug)]
struct Pass {
    wmark: usize,
    min_reserve: bool,
    non_block: bool,
}

fn fast_pass() -> Pass {
    Pass { wmark: WMARK_LOW, min_reserve: false, non_block: false }
}

/// The slow path's `gfp_to_alloc_flags`.
fn slow_pass(gfp: Gfp) -> Pass {
    let high = gfp.0 & __GFP_HIGH.0 != 0;
    Pass { wmark: WMARK_MIN, min_reserve: high, non_block: high && !gfp.can_direct_reclaim() }
}

/// The level `free - ((1 << order) - 1)` must stay above: Linux
/// `__zone_watermark_ok`'s `min + z->lowmem_reserve[highest_zoneidx]`.
fn watermark_floor(z: &ZSnap, highest: usize, pass: Pass) -> i64 {
    let mut min = z.wmark[pass.wmark] as i64;
    if pass.min_reserve {
        min -= min / 2;
        if pass.non_block {
            min -= min / 4;
        }
    }
    min + z.reserve[highest] as i64
}

/// Linux `__zone_watermark_ok`.
fn zone_watermark_ok(z: &ZSnap, order: usize, highest: usize, pass: Pass) -> bool {
    let free = z.free as i64 - ((1i64 << order) - 1);
    if free <= watermark_floor(z, highest, pass) {
        return false;
    }
    order == 0 || z.has_block[order]
}

/// The zone one attempt takes the block from: the first, from the highest
/// allowed downwards, that passes the check and has a block to give.
fn pick(zs: &[ZSnap; MAX_NR_ZONES], order: usize, highest: usize, pass: Option<Pass>) -> Option<usize> {
    (0..=highest).rev().filter(|&i| zs[i].managed > 0).find(|&i| match pass {
        Some(pass) => zone_watermark_ok(&zs[i], order, highest, pass),
        None if order == 0 => zs[i].pcp > 0 || zs[i].free > 0,
        None => zs[i].has_block[order],
    })
}

// --- The model and its checks. ---

#[derive(Clone, Copy, Debug)]
struct Held {
    order: usize,
    zone: usize,
}

struct Model {
    free_ram: Vec<(u64, u64)>,
    held: BTreeMap<u64, Held>,
    frames: bool,
    /// `page_debug`: every descriptor of a block is set up when allocated.
    page_debug: bool,
    /// Pages that may not read as zero: handed out at least once (the test
    /// writes every page it holds), or not known zero at boot.
    dirty: Vec<u64>,
}

impl Model {
    fn new(map: &MemMap, frames: bool) -> Self {
        let mut m = Model {
            free_ram: map.free_merged(),
            held: BTreeMap::new(),
            frames,
            page_debug: map.config.page_debug,
            dirty: vec![0; map.max_pfn.div_ceil(64) as usize],
        };
        for &(s, e, zeroed) in &map.free {
            if !zeroed {
                m.set_dirty(s, e - s);
            }
        }
        m
    }

    fn set_dirty(&mut self, pfn: u64, n: u64) {
        (pfn..pfn + n).for_each(|p| self.dirty[(p / 64) as usize] |= 1 << (p % 64));
    }

    /// No page of the aligned block `pfn`, `2^order` is dirty.
    fn clean(&self, pfn: u64, order: usize) -> bool {
        if order >= 6 {
            let w = (pfn / 64) as usize;
            self.dirty[w..w + (1 << (order - 6))].iter().all(|&d| d == 0)
        } else {
            let mask = ((1u64 << (1 << order)) - 1) << (pfn % 64);
            self.dirty[(pfn / 64) as usize] & mask == 0
        }
    }

    fn held_in(&self, zone: usize) -> u64 {
        self.held.values().filter(|h| h.zone == zone).map(|h| 1u64 << h.order).sum()
    }
}

fn zone_of(a: &Alloc, pfn: u64) -> Option<usize> {
    a.zones.iter().position(|z| z.contains(Pfn::new(pfn)))
}

/// One allocation, checked against the oracle and the model.
fn alloc(a: &Alloc, m: &mut Model, gfp: Gfp, order: usize) -> Result<Option<u64>, TestCaseError> {
    let before = snap(a);
    let stalls = a.events.allocstall.load(Relaxed);
    let pgalloc: [u64; MAX_NR_ZONES] = core::array::from_fn(|i| a.zones[i].pgalloc.load(Relaxed));
    let got = a.alloc_pages(gfp, order).map(Pfn::as_u64);
    let stalled = a.events.allocstall.load(Relaxed) > stalls;
    let after = snap(a);
    let zone = got.map(|pfn| zone_of(a, pfn));
    prop_assert!(zone != Some(None), "{gfp:?} order {order}: pfn {got:?} outside every zone");
    let zone = zone.flatten();

    // What Linux would have done, and the state its deciding attempt saw.
    let highest = highest_zone(gfp);
    let nofail = gfp.0 & __GFP_NOFAIL.0 != 0;
    let slow = slow_pass(gfp);
    let (expected, seen, pass) = if let Some(z) = pick(&before, order, highest, Some(fast_pass())) {
        prop_assert!(!stalled, "{gfp:?} order {order}: reclaim although zone {z} passed the low watermark");
        (Some(z), before, Some(fast_pass()))
    } else if let Some(z) = pick(&before, order, highest, Some(slow)) {
        prop_assert!(!stalled, "{gfp:?} order {order}: reclaim although zone {z} passed the min watermark");
        (Some(z), before, Some(slow))
    } else if gfp.can_direct_reclaim() {
        // Direct reclaim drains the per-CPU lists into the buddy lists.
        // Zones the allocation did not come from are left as the drain
        // left them; the one it came from is the drain's result less what
        // the allocation took (for order 0, a pcp refill of which one page
        // was handed out).
        prop_assert!(stalled, "{gfp:?} order {order}: no direct reclaim before failing the watermarks");
        let mut drained = after;
        for (i, zs) in drained.iter_mut().enumerate() {
            if Some(i) == zone {
                zs.free += if order == 0 { zs.pcp + 1 } else { 1 << order };
                (0..=order).for_each(|o| zs.has_block[o] = true);
            } else {
                prop_assert_eq!(zs.pcp, 0, "zone {} kept pcp pages through direct reclaim", i);
            }
            zs.pcp = 0;
        }
        match pick(&drained, order, highest, Some(slow)) {
            Some(z) => (Some(z), drained, Some(slow)),
            None if nofail => (pick(&drained, order, highest, None), drained, None),
            None => (None, drained, None),
        }
    } else {
        prop_assert!(!stalled, "{gfp:?}: direct reclaim without __GFP_DIRECT_RECLAIM");
        (if nofail { pick(&before, order, highest, None) } else { None }, before, None)
    };
    prop_assert_eq!(zone, expected, "{:?} order {}: got pfn {:?}; zones before {:#?}; after {:#?}", gfp, order, got, before, after);
    let Some(pfn) = got else {
        return Ok(None);
    };
    let z = zone.unwrap();

    // Order 0 comes through the per-CPU list: the hot end (the page freed
    // last), or the cold end for __GFP_COLD, when it had pages.
    if order == 0 && seen[z].pcp > 0 {
        let (hot, cold) = seen[z].pcp_ends;
        let want = if gfp.0 & __GFP_COLD.0 != 0 { cold } else { hot };
        prop_assert_eq!(pfn, want as u64, "{:?}: not the {} end of zone {}'s pcp list", gfp, if want == hot { "hot" } else { "cold" }, z);
    }

    // Watermarks, as __zone_watermark_ok states them: unless __GFP_NOFAIL
    // took the reserves, the zone had more than the floor the mask allows
    // before the allocation (GFP_KERNEL/NOWAIT: min; __GFP_HIGH: min - min/2;
    // __GFP_HIGH that cannot reclaim: a quarter less again), plus the
    // lowmem reserve against the mask's highest zone.
    if !nofail || pass.is_some() {
        let floor = watermark_floor(&seen[z], highest, slow);
        let free = seen[z].free as i64 - ((1i64 << order) - 1);
        prop_assert!(free > floor, "{gfp:?} order {order} from zone {z}: {free} free (order-adjusted) <= floor {floor}");
    }

    // The block: aligned, inside RAM and one allowed zone, overlapping
    // nothing held.
    let n = 1u64 << order;
    prop_assert!(z <= highest, "{gfp:?}: zone {z} above gfp_zone {highest}");
    prop_assert_eq!(pfn % n, 0, "pfn {:#x} not aligned to order {}", pfn, order);
    prop_assert!(a.zones[z].contains(Pfn::new(pfn + n - 1)), "block {pfn:#x}+{n} crosses the end of zone {z}");
    prop_assert!(m.free_ram.iter().any(|&(s, e)| s <= pfn && pfn + n <= e), "block {pfn:#x}+{n} not inside the free RAM given at boot");
    if let Some((&p, h)) = m.held.range(..pfn + n).next_back() {
        prop_assert!(p + (1 << h.order) <= pfn, "block {pfn:#x}+{n} overlaps held {p:#x} order {}", h.order);
    }
    for (i, zs) in pgalloc.iter().enumerate() {
        let want = zs + if i == z { n } else { 0 };
        prop_assert_eq!(a.zones[i].pgalloc.load(Relaxed), want, "pgalloc of zone {}", i);
    }

    // Its descriptors (the tails of a block that is not compound are left
    // to whoever splits it, except under page_debug), and its contents for
    // __GFP_ZERO.
    let compound = gfp.0 & __GFP_COMP.0 != 0 && order > 0;
    let set_up = if compound || m.page_debug { n } else { 1 };
    for i in 0..n {
        if m.frames && gfp.0 & __GFP_ZERO.0 != 0 {
            prop_assert!(a.mem.is_zero(Pfn::new(pfn + i)), "{gfp:?} order {order}: page {:#x} of {pfn:#x} not zero", pfn + i);
        }
        if i >= set_up {
            continue;
        }
        let page = a.page(Pfn::new(pfn + i));
        let flags = page.flags();
        prop_assert!(flags & pg::INIT != 0 && page.zone_idx() == z, "pfn {:#x}: flags {flags:#x}", pfn + i);
        prop_assert_eq!(flags & (pg::BUDDY | pg::PCP | pg::ZERO | pg::POISONED), 0, "pfn {:#x}: flags {:#x}", pfn + i, flags);
        prop_assert_eq!(page.refcount(), if i == 0 { 1 } else { 0 });
        if compound {
            let (flag, private) = if i == 0 { (pg::HEAD, order as u64) } else { (pg::TAIL, pfn) };
            prop_assert!(flags & flag != 0 && page.private() == private, "compound pfn {:#x}: flags {flags:#x}", pfn + i);
        } else {
            prop_assert_eq!(flags & (pg::HEAD | pg::TAIL), 0);
        }
    }
    prop_assert!(!a.poison_corrupted.load(Relaxed), "poison check reported corruption nobody caused");
    // In use: dirty it, so that reusing it as zero would be noticed.
    if m.frames {
        (0..n).for_each(|i| a.mem.scribble(Pfn::new(pfn + i), 0x5a5a_0000_0000_0000 | (pfn + i)));
    }
    m.set_dirty(pfn, n);
    m.held.insert(pfn, Held { order, zone: z });
    Ok(Some(pfn))
}

fn free(a: &Alloc, m: &mut Model, pfn: u64) -> Result<(), TestCaseError> {
    let h = m.held.remove(&pfn).expect("freeing a block the model does not hold");
    let (len, high, batch) = {
        let pcp = a.zones[h.zone].pcp[0].lock();
        (pcp.list.len, pcp.high, pcp.batch)
    };
    let r = a.free_pages(Pfn::new(pfn), h.order);
    prop_assert!(r.is_ok(), "free_pages({pfn:#x}, {}) failed: {r:?}", h.order);
    if h.order == 0 {
        // Onto the hot end of the per-CPU list; when that reaches `high`,
        // `batch` pages go back to the buddy lists from the cold end.
        let pcp = a.zones[h.zone].pcp[0].lock();
        let want = if len + 1 >= high { len + 1 - batch.min(len + 1) } else { len + 1 };
        prop_assert_eq!(pcp.list.len, want, "pcp length after freeing {:#x}", pfn);
        if want > 0 {
            prop_assert_eq!(pcp.list.head as u64, pfn, "freed page not at the hot end of the pcp list");
        }
    }
    Ok(())
}

/// Free blocks of each zone: `(pfn, order, known zero)` from the lists and
/// the deferred ranges.
type FreeBlocks = Vec<Vec<(u64, usize, bool)>>;

/// Walks every list and checks the allocator's structures and counters
/// against each other and the model. Returns the free blocks per zone.
fn check(a: &Alloc, m: &Model) -> Result<FreeBlocks, TestCaseError> {
    let mut all: Vec<(u64, u64)> = m.held.iter().map(|(&p, h)| (p, p + (1 << h.order))).collect();
    let mut per_zone = Vec::new();
    for z in &a.zones {
        let mut blocks = Vec::new();
        let counts: Vec<u64>;
        {
            let area = z.free_area.lock();
            for o in 0..MAX_ORDER {
                let list = &area.lists[o];
                let (mut prev, mut cur, mut n) = (NIL, list.head, 0u64);
                while cur != NIL {
                    n += 1;
                    prop_assert!(n <= list.len, "zone {} order {o}: list longer than its len {}", z.name, list.len);
                    let pfn = cur as u64;
                    let page = a.mem.page(Pfn::new(pfn));
                    let flags = page.flags();
                    prop_assert_eq!(page.lru_prev.load(Relaxed), prev, "zone {} order {}: broken back link at {:#x}", z.name, o, pfn);
                    prop_assert!(
                        flags & (pg::INIT | pg::BUDDY) == pg::INIT | pg::BUDDY && flags & pg::PCP == 0,
                        "zone {} order {o}: listed {pfn:#x} has flags {flags:#x}",
                        z.name
                    );
                    prop_assert_eq!(page.buddy_order() as usize, o, "zone {} pfn {:#x}: buddy_order", z.name, pfn);
                    prop_assert_eq!(page.zone_idx(), z.idx, "pfn {:#x}: zone in flags", pfn);
                    prop_assert_eq!(page.refcount(), 0);
                    blocks.push((pfn, o, flags & pg::ZERO != 0));
                    prev = cur;
                    cur = page.lru_next.load(Relaxed);
                }
                prop_assert_eq!(n, list.len, "zone {} order {}: len", z.name, o);
                prop_assert_eq!(list.tail, prev, "zone {} order {}: tail", z.name, o);
            }
            let mut deferred = 0;
            for &(s, e) in &area.deferred[..area.nr_deferred] {
                if s < e {
                    prop_assert!(s % MAX_ORDER_NR_PAGES == 0 && e % MAX_ORDER_NR_PAGES == 0, "deferred [{s:#x}, {e:#x})");
                    (s..e).step_by(MAX_ORDER_NR_PAGES as usize).for_each(|p| blocks.push((p, MAX_ORDER - 1, true)));
                    deferred += (e - s) / MAX_ORDER_NR_PAGES;
                }
            }
            prop_assert_eq!(deferred, area.deferred_blocks, "zone {}: deferred_blocks", z.name);
            counts = (0..MAX_ORDER).map(|o| area.nr_free(o)).collect();
        }
        for (o, &c) in counts.iter().enumerate() {
            prop_assert_eq!(z.nr_free_order[o].load(Relaxed), c, "zone {} nr_free_order[{}]", z.name, o);
            prop_assert_eq!(c, blocks.iter().filter(|b| b.1 == o).count() as u64, "zone {} order {} count", z.name, o);
        }
        let in_lists: u64 = counts.iter().enumerate().map(|(o, c)| c << o).sum();
        prop_assert_eq!(in_lists, z.free_pages(), "zone {}: free lists vs NR_FREE_PAGES", z.name);

        // Aligned, inside the zone, fully coalesced; known zero only where
        // no page was ever handed out.
        let set: HashSet<(u64, usize)> = blocks.iter().map(|&(p, o, _)| (p, o)).collect();
        for &(p, o, zero) in &blocks {
            prop_assert!(!zero || m.clean(p, o), "free {p:#x} order {o} flagged zero but pages of it were used");
            prop_assert_eq!(p % (1 << o), 0, "free {:#x} not aligned to order {}", p, o);
            prop_assert!(z.contains(Pfn::new(p)) && z.contains(Pfn::new(p + (1 << o) - 1)), "free {p:#x} order {o} outside zone {}", z.name);
            prop_assert!(o == MAX_ORDER - 1 || !set.contains(&(p ^ (1 << o), o)), "free {p:#x} and its buddy, order {o}, not merged");
            all.push((p, p + (1 << o)));
        }

        // The per-CPU lists.
        let pcp_len = {
            let pcp = z.pcp[0].lock();
            let (mut prev, mut cur, mut n) = (NIL, pcp.list.head, 0u64);
            while cur != NIL {
                n += 1;
                prop_assert!(n <= pcp.list.len, "zone {}: pcp list longer than its len", z.name);
                let page = a.mem.page(Pfn::new(cur.into()));
                let flags = page.flags();
                prop_assert_eq!(page.lru_prev.load(Relaxed), prev);
                prop_assert!(flags & pg::PCP != 0 && flags & pg::BUDDY == 0 && page.zone_idx() == z.idx, "pcp {cur:#x}: flags {flags:#x}");
                prop_assert!(z.contains(Pfn::new(cur.into())));
                prop_assert!(flags & pg::ZERO == 0 || m.clean(cur as u64, 0), "pcp {cur:#x} flagged zero but was used");
                all.push((cur as u64, cur as u64 + 1));
                prev = cur;
                cur = page.lru_next.load(Relaxed);
            }
            prop_assert_eq!(n, pcp.list.len);
            prop_assert!(pcp.list.len < pcp.high.max(1), "zone {}: pcp holds {} >= high {}", z.name, pcp.list.len, pcp.high);
            n
        };
        prop_assert_eq!(
            z.free_pages() + pcp_len + m.held_in(z.idx),
            z.managed(),
            "zone {}: free {} + pcp {} + held {} != managed",
            z.name,
            z.free_pages(),
            pcp_len,
            m.held_in(z.idx)
        );
        per_zone.push(blocks);
    }

    // Free, per-CPU and held blocks are disjoint and are the free RAM.
    all.sort_unstable();
    for w in all.windows(2) {
        prop_assert!(w[0].1 <= w[1].0, "blocks {:#x?} and {:#x?} overlap", w[0], w[1]);
    }
    let covered = merge(all);
    prop_assert_eq!(&covered, &m.free_ram, "free + pcp + held blocks are not the free RAM");
    Ok(per_zone)
}

/// The watermarks, lowmem reserves and pcp sizes `setup_watermarks` must
/// derive from the managed pages (Linux `init_per_zone_wmark_min`,
/// `__setup_per_zone_wmarks`, `setup_per_zone_lowmem_reserve`,
/// `zone_batchsize`; `watermark_scale_factor` 10).
fn check_setup(a: &Alloc) -> Result<(), TestCaseError> {
    let managed: Vec<u64> = a.zones.iter().map(|z| z.managed()).collect();
    let lowmem_pages: u64 = managed[..ZONE_HIGHMEM].iter().sum();
    let isqrt = |x: u64| {
        let (mut lo, mut hi) = (0u64, 1 << 32);
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if mid * mid <= x {
                lo = mid
            } else {
                hi = mid
            }
        }
        lo
    };
    let min_free_kbytes = isqrt(lowmem_pages * 4 * 16).clamp(128, 262_144);
    prop_assert_eq!(a.min_free_kbytes.load(Relaxed), min_free_kbytes);
    let pages_min = min_free_kbytes / 4;
    let ratio = [256u64, 256, 32, 0];
    for (i, z) in a.zones.iter().enumerate() {
        if managed[i] > 0 {
            let tmp = (pages_min * managed[i]).checked_div(lowmem_pages).unwrap_or(0);
            let min = if i == ZONE_HIGHMEM { (managed[i] / 1024).clamp(32, 128) } else { tmp };
            let delta = (tmp >> 2).max(managed[i] * 10 / 10_000);
            let want = [min, min + delta, min + 2 * delta];
            prop_assert_eq!([z.wmark(WMARK_MIN), z.wmark(WMARK_LOW), z.wmark(WMARK_HIGH)], want, "zone {} watermarks", z.name);
        }
        for j in 0..MAX_NR_ZONES {
            let upper: u64 = managed.get(i + 1..=j).map_or(0, |u| u.iter().sum());
            let want = if j <= i || ratio[i] == 0 || managed[i] == 0 { 0 } else { upper / ratio[i] };
            prop_assert_eq!(z.reserve(j), want, "zone {} lowmem_reserve[{}]", z.name, j);
        }
        // Linux rounds a batch of 1 down to 0 (pcp high 0: no caching);
        // ours keeps at least 1.
        let mut batch = (managed[i] >> 10).min(256) / 4;
        batch = batch.max(1);
        let x = batch + batch / 2;
        let batch = ((1u64 << (63 - x.leading_zeros())) - 1).max(1);
        let pcp = z.pcp[0].lock();
        prop_assert_eq!((pcp.batch, pcp.high), (batch, 6 * batch), "zone {} pcp batch/high", z.name);
    }
    Ok(())
}

fn nth_held(m: &Model, i: Index) -> Option<u64> {
    (!m.held.is_empty()).then(|| *m.held.keys().nth(i.index(m.held.len())).unwrap())
}

fn run(map: &MemMap, ops: &[Op], free_seed: u64) -> Result<(), TestCaseError> {
    let a = build(map, true);
    let mut m = Model::new(map, true);
    check_setup(&a)?;
    let fresh = check(&a, &m)?;
    for z in &a.zones {
        prop_assert_eq!(z.free_pages(), z.managed(), "zone {}: not all managed pages free after boot", z.name);
    }
    for op in ops {
        match *op {
            Op::Alloc { order, gfp } => {
                alloc(&a, &mut m, gfp, order)?;
            }
            Op::Free(i) => {
                if let Some(pfn) = nth_held(&m, i) {
                    free(&a, &mut m, pfn)?;
                }
            }
            Op::Fill { order, gfp } => {
                for _ in 0..FILL_MAX {
                    if alloc(&a, &mut m, gfp, order)?.is_none() {
                        break;
                    }
                }
            }
            Op::FreeSome(i, percent) => {
                let n = m.held.len() * percent as usize / 100;
                for _ in 0..n {
                    let pfn = nth_held(&m, i).unwrap();
                    free(&a, &mut m, pfn)?;
                }
            }
            Op::Drain => {
                let pcp: u64 = a.zones.iter().map(|z| z.pcp_pages()).sum();
                prop_assert_eq!(a.drain_all_pages(), pcp);
            }
        }
        check(&a, &m)?;
    }

    // Give everything back, in a scrambled order.
    let mut held: Vec<u64> = m.held.keys().copied().collect();
    let mut x = free_seed | 1;
    for i in (1..held.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        held.swap(i, (x % (i as u64 + 1)) as usize);
    }
    for pfn in held {
        free(&a, &mut m, pfn)?;
    }
    a.drain_all_pages();
    let blocks = check(&a, &m)?;
    prop_assert!(!a.poison_corrupted.load(Relaxed));
    prop_assert_eq!(a.events.bad_pages.load(Relaxed), 0);

    // Every page is back and fully coalesced: the same blocks as a fresh
    // allocator's (deferred ranges counted as order-10 blocks).
    let reference = build(map, false);
    let ref_blocks = check(&reference, &Model::new(map, false))?;
    for (zi, z) in a.zones.iter().enumerate() {
        prop_assert_eq!(z.free_pages(), z.managed(), "zone {}: pages missing", z.name);
        prop_assert_eq!(z.pcp_pages(), 0);
        let (ours, theirs): (Vec<u64>, Vec<u64>) = {
            let (x, y) = (z.free_area.lock(), reference.zones[zi].free_area.lock());
            ((0..MAX_ORDER).map(|o| x.nr_free(o)).collect(), (0..MAX_ORDER).map(|o| y.nr_free(o)).collect())
        };
        prop_assert_eq!(&ours, &theirs, "zone {}: nr_free per order differs from a fresh allocator", z.name);
        let set = |b: &Vec<(u64, usize, bool)>| {
            let mut v: Vec<(u64, usize)> = b.iter().map(|&(p, o, _)| (p, o)).collect();
            v.sort_unstable();
            v
        };
        prop_assert_eq!(set(&blocks[zi]), set(&ref_blocks[zi]), "zone {}: free blocks differ from a fresh allocator", z.name);
        prop_assert_eq!(set(&fresh[zi]), set(&ref_blocks[zi]));
        // A block flagged known-zero reads as zero.
        for &(p, o, zero) in &blocks[zi] {
            if zero {
                prop_assert!((p..p + (1 << o)).all(|q| a.mem.is_zero(Pfn::new(q))), "free block {p:#x} order {o} flagged zero is dirty");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    /// Random alloc/free/fill/drain sequences against the model, with the
    /// oracle on every allocation and the full structural check after every
    /// step; at the end, everything comes back fully coalesced.
    #[test]
    fn buddy_allocator_matches_the_model(
        map in memmap(),
        ops in prop::collection::vec(op(), 1..120),
        free_seed in any::<u64>(),
    ) {
        run(&map, &ops, free_seed)?;
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// With `page_debug=1 page_poison=1`, a write to a freed page is
    /// reported when the page is next handed out, wherever the page went in
    /// between (per-CPU list, buddy list head, merged block).
    #[test]
    fn write_after_free_is_reported_with_page_poison(
        map in memmap().prop_filter("small", |m| m.max_pfn <= 8192),
        ops in prop::collection::vec((order(), gfp(), any::<bool>()), 1..40),
        victim in any::<Index>(),
        victim_page in any::<Index>(),
    ) {
        let map = MemMap { config: AllocConfig { page_debug: true, page_poison: true }, ..map };
        let a = build(&map, true);
        let mut m = Model::new(&map, true);
        for &(order, gfp, keep) in &ops {
            if let Some(pfn) = alloc(&a, &mut m, gfp, order)? {
                if !keep {
                    free(&a, &mut m, pfn)?;
                }
            }
        }
        let Some(pfn) = nth_held(&m, victim) else { return Ok(()) };
        let order = m.held[&pfn].order;
        free(&a, &mut m, pfn)?;
        check(&a, &m)?;
        // The write after free.
        let page = pfn + victim_page.index(1 << order) as u64;
        a.mem.scribble(Pfn::new(page), 0x0bad_0bad_0bad_0bad);
        // Take every page there is; the corrupted one among them.
        let mut got = Vec::new();
        while let Some(p) = a.alloc_pages(GFP_HIGHUSER | __GFP_NOFAIL, 0).map(Pfn::as_u64) {
            got.push(p);
            if a.poison_corrupted.load(Relaxed) {
                break;
            }
        }
        prop_assert!(
            a.poison_corrupted.load(Relaxed),
            "page {page:#x} (of freed block {pfn:#x} order {order}, flags {:#x}) written after free; not reported after {} allocations",
            a.page(Pfn::new(page)).flags(),
            got.len()
        );
        prop_assert_eq!(got.last().copied(), Some(page), "reported on the wrong page");
    }
}
