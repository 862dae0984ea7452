//! Zones of the one memory node (Linux `pg_data_t`): their free areas,
//! per-CPU page lists, watermarks and the lowmem reserve.
//!
//! ```text
//!  ZONE_DMA      [0, 16 MiB)             ISA DMA
//!  ZONE_DMA32    [16 MiB, 4 GiB)         32-bit DMA (up to lowmem)
//!  ZONE_NORMAL   [4 GiB, lowmem end)     lowmem above 4 GiB
//!  ZONE_HIGHMEM  [lowmem end, max_pfn)   outside the direct map (`lowmem=`)
//! ```
//! Allocation falls back from the requested zone downwards: HighMem ->
//! Normal -> DMA32 -> DMA.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::mm::page::PageList;
use crate::sync::SpinLock;

/// `free_area[MAX_ORDER]`: block orders 0..=10, the largest 4 MiB.
pub const MAX_ORDER: usize = 11;
pub const MAX_ORDER_NR_PAGES: u64 = 1 << (MAX_ORDER - 1);
/// x86-64's `pageblock_order`: 2 MiB, the size of a PMD mapping (free page
/// reporting's smallest block, a transparent huge page).
pub const PAGEBLOCK_ORDER: usize = 9;
pub const MAX_NR_ZONES: usize = 4;
/// CPUs the per-CPU structures are sized for.
pub const NR_CPUS: usize = 1;

pub const ZONE_DMA: usize = 0;
pub const ZONE_DMA32: usize = 1;
pub const ZONE_NORMAL: usize = 2;
pub const ZONE_HIGHMEM: usize = 3;
pub const ZONE_NAMES: [&str; MAX_NR_ZONES] = ["DMA", "DMA32", "Normal", "HighMem"];

pub const WMARK_MIN: usize = 0;
pub const WMARK_LOW: usize = 1;
pub const WMARK_HIGH: usize = 2;

/// Linux `sysctl_lowmem_reserve_ratio`.
pub const LOWMEM_RESERVE_RATIO: [u64; MAX_NR_ZONES] = [256, 256, 32, 0];

/// Max-order ranges kept for deferred initialisation per zone; beyond this
/// the blocks are freed at boot.
pub const MAX_DEFERRED_RANGES: usize = 16;

/// The buddy lists of a zone.
pub struct FreeArea {
    pub lists: [PageList; MAX_ORDER],
    /// Max-order blocks that are free but whose head page has not been
    /// initialised yet: `[start, end)` PFN ranges, max-order aligned, known
    /// zero. They count as free max-order blocks and are materialised one at
    /// a time when an allocation needs one.
    pub deferred: [(u64, u64); MAX_DEFERRED_RANGES],
    pub nr_deferred: usize,
    pub deferred_blocks: u64,
}

impl FreeArea {
    #[inline]
    pub const fn new() -> Self {
        Self { lists: [PageList::new(); MAX_ORDER], deferred: [(0, 0); MAX_DEFERRED_RANGES], nr_deferred: 0, deferred_blocks: 0 }
    }

    /// Free blocks of `order`, deferred ones included.
    #[inline]
    pub fn nr_free(&self, order: usize) -> u64 {
        self.lists[order].len + if order == MAX_ORDER - 1 { self.deferred_blocks } else { 0 }
    }

    /// Takes the next deferred max-order block.
    #[inline]
    pub fn take_deferred(&mut self) -> Option<Pfn> {
        let range = self.deferred[..self.nr_deferred].iter_mut().find(|(s, e)| s < e)?;
        let pfn = Pfn::new(range.0);
        range.0 += MAX_ORDER_NR_PAGES;
        self.deferred_blocks -= 1;
        Some(pfn)
    }
}

impl Default for FreeArea {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-CPU order-0 page list (Linux `per_cpu_pages`): the allocation fast
/// path. Refilled from and drained to the buddy lists `batch` pages at a
/// time; never holds more than `high`.
pub struct PerCpuPages {
    pub list: PageList,
    pub high: u64,
    pub batch: u64,
}

impl PerCpuPages {
    #[inline]
    pub const fn new() -> Self {
        Self { list: PageList::new(), high: 0, batch: 1 }
    }
}

impl Default for PerCpuPages {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Zone {
    pub idx: usize,
    pub name: &'static str,
    pub zone_start_pfn: u64,
    /// PFNs the zone covers, holes included.
    pub spanned_pages: u64,
    /// RAM pages in the span.
    pub present_pages: u64,
    /// Pages handed to the buddy allocator.
    pub managed_pages: AtomicU64,
    pub watermark: [AtomicU64; 3],
    /// Pages this zone keeps back from allocations that could have used a
    /// higher zone, indexed by that request's highest zone.
    pub lowmem_reserve: [AtomicU64; MAX_NR_ZONES],
    /// Free pages in the buddy lists (Linux `NR_FREE_PAGES`; per-CPU lists
    /// not included).
    pub nr_free: AtomicU64,
    /// Lock-free copy of the per-order counts for the watermark check.
    pub nr_free_order: [AtomicU64; MAX_ORDER],
    pub free_area: SpinLock<FreeArea>,
    pub pcp: [SpinLock<PerCpuPages>; NR_CPUS],
    /// Pages allocated from this zone (`pgalloc_<zone>`).
    pub pgalloc: AtomicU64,
}

impl Zone {
    #[inline]
    pub fn new(idx: usize, start_pfn: u64, end_pfn: u64) -> Self {
        Self {
            idx,
            name: ZONE_NAMES[idx],
            zone_start_pfn: start_pfn,
            spanned_pages: end_pfn.saturating_sub(start_pfn),
            present_pages: 0,
            managed_pages: AtomicU64::new(0),
            watermark: Default::default(),
            lowmem_reserve: Default::default(),
            nr_free: AtomicU64::new(0),
            nr_free_order: Default::default(),
            free_area: SpinLock::new(FreeArea::new()),
            pcp: core::array::from_fn(|_| SpinLock::new(PerCpuPages::new())),
            pgalloc: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }
    #[inline]
    pub fn contains(&self, pfn: Pfn) -> bool {
        (self.zone_start_pfn..self.end_pfn()).contains(&pfn.as_u64())
    }
    #[inline]
    pub fn populated(&self) -> bool {
        self.present_pages > 0
    }
    #[inline]
    pub fn is_highmem(&self) -> bool {
        self.idx == ZONE_HIGHMEM
    }
    #[inline]
    pub fn managed(&self) -> u64 {
        self.managed_pages.load(Relaxed)
    }
    #[inline]
    pub fn free_pages(&self) -> u64 {
        self.nr_free.load(Relaxed)
    }
    #[inline]
    pub fn wmark(&self, which: usize) -> u64 {
        self.watermark[which].load(Relaxed)
    }
    #[inline]
    pub fn reserve(&self, highest_zoneidx: usize) -> u64 {
        self.lowmem_reserve[highest_zoneidx].load(Relaxed)
    }
    /// Pages on the per-CPU lists of all CPUs.
    #[inline]
    pub fn pcp_pages(&self) -> u64 {
        self.pcp.iter().map(|p| p.lock().list.len).sum()
    }
}

/// Integer square root (Linux `int_sqrt`).
pub fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's iteration from above: x_{n+1} = (x_n + x / x_n) / 2.
    let mut r = x;
    let mut next = (r + x / r) / 2;
    while next < r {
        r = next;
        next = (r + x / r) / 2;
    }
    r
}

/// Linux `min_free_kbytes` for `lowmem_kbytes` of lowmem:
/// `sqrt(lowmem_kbytes * 16)`, clamped to [128, 262144].
pub fn min_free_kbytes(lowmem_kbytes: u64) -> u64 {
    int_sqrt(lowmem_kbytes * 16).clamp(128, 262_144)
}

/// Linux `zone_batchsize`: about a quarter of a megabyte per 1 GiB of zone,
/// rounded to `2^n - 1` to avoid cache-colouring pathologies.
pub fn zone_batchsize(managed: u64) -> u64 {
    let mut batch = (managed >> 10).min((1 << 20) / 4096) / 4;
    if batch < 1 {
        batch = 1;
    }
    let x = batch + batch / 2;
    let pow = 1u64 << (63 - x.leading_zeros());
    (pow - 1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_formulas() {
        assert_eq!(int_sqrt(0), 0);
        assert_eq!(int_sqrt(15), 3);
        assert_eq!(int_sqrt(16), 4);
        assert_eq!(int_sqrt(u32::MAX as u64 * 7), 173_391);
        // 64 MiB of lowmem: sqrt(65536 * 16) = 1024.
        assert_eq!(min_free_kbytes(65_536), 1024);
        assert_eq!(min_free_kbytes(100), 128);
        assert_eq!(min_free_kbytes(u64::MAX / 32), 262_144);
        // A 4 GiB zone gets Linux's usual batch of 63.
        assert_eq!(zone_batchsize(1 << 20), 63);
        assert_eq!(zone_batchsize(4000), 1);
    }
}
