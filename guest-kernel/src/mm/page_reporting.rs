//! Free page reporting (Linux `mm/page_reporting.c`): free blocks of at
//! least [`PAGE_REPORTING_ORDER`] are handed to a device (virtio-balloon's
//! reporting queue), which gives the host memory behind them back; they
//! then read as zero, so they stay on the free lists marked
//! [`pg::REPORTED`] and [`pg::ZERO`], and an allocation of them costs no
//! clearing.
//!
//! A pass drains the per-CPU lists first (see below), then goes zone by zone and order by order from the top, takes up to
//! [`PAGE_REPORTING_CAPACITY`] unreported blocks off a free list at a time
//! (isolated, so that nothing allocates or merges them meanwhile), hands
//! them to the device without the zone lock held, and puts them back:
//! marked reported if the device took them, as they were if not. A block
//! is not reported twice while it stays free: allocating it, or merging it
//! with a buddy that was not reported, clears the mark; splitting keeps it
//! on both halves. Free page reporting is for blocks that were in use:
//! memory never touched since boot (the deferred max-order blocks) has no
//! host pages to give back.

use core::sync::atomic::Ordering::Relaxed;

use crate::mm::addr::Pfn;
use crate::mm::page::{pg, PhysMem};
use crate::mm::page_alloc::PageAlloc;
use crate::mm::zone::{Zone, MAX_ORDER, PAGEBLOCK_ORDER};

/// The smallest block reported: 2 MiB, x86-64's `pageblock_order`, as
/// Linux's default `page_reporting_order`.
pub const PAGE_REPORTING_ORDER: usize = PAGEBLOCK_ORDER;
/// Blocks handed to the device at once.
pub const PAGE_REPORTING_CAPACITY: usize = 16;

/// A free block as a pass hands it over: its first frame and its order.
pub type FreeBlock = (Pfn, usize);

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportStats {
    /// Blocks the device took, and the pages in them.
    pub blocks: u64,
    pub pages: u64,
    /// The device refused a batch (the pass stopped there).
    pub failed: bool,
}

impl<M: PhysMem> PageAlloc<M> {
    /// Whether blocks became free that a pass could report (the flag is
    /// taken).
    pub fn take_report_request(&self) -> bool {
        self.report_requested.swap(false, Relaxed)
    }

    /// One reporting pass: every unreported free block of at least
    /// [`PAGE_REPORTING_ORDER`] goes to `report`, a batch of `(first PFN,
    /// order)` at a time, which says whether the device took them. The
    /// pass stops at the first batch the device refused.
    pub fn report_free_pages(&self, report: &mut dyn FnMut(&[FreeBlock]) -> bool) -> ReportStats {
        // Pages on the per-CPU lists do not merge: the last pages a program
        // freed (its page tables among them, one in every 2 MiB it used,
        // as nothing here keeps them apart as Linux's migrate types do)
        // would keep every such block from being whole.
        self.drain_all_pages();
        let mut stats = ReportStats::default();
        for z in self.zones.iter().filter(|z| z.populated()) {
            for order in (PAGE_REPORTING_ORDER..MAX_ORDER).rev() {
                loop {
                    let mut batch = [(Pfn::new(0), order); PAGE_REPORTING_CAPACITY];
                    let n = self.isolate_unreported(z, order, &mut batch);
                    if n == 0 {
                        break;
                    }
                    let took = report(&batch[..n]);
                    let mut area = z.free_area.lock();
                    for &(pfn, order) in &batch[..n] {
                        self.free_one_page_reported(z, &mut area, pfn, order, took, took);
                    }
                    drop(area);
                    if !took {
                        stats.failed = true;
                        return stats;
                    }
                    stats.blocks += n as u64;
                    stats.pages += (n as u64) << order;
                    if n < PAGE_REPORTING_CAPACITY {
                        break;
                    }
                }
            }
        }
        stats
    }

    /// Takes up to `batch.len()` unreported blocks of `order` off `z`'s
    /// free list (Linux `__isolate_free_page`): they are no longer free
    /// buddies, so nothing merges with them until they are put back.
    fn isolate_unreported(&self, z: &Zone, order: usize, batch: &mut [FreeBlock]) -> usize {
        let mut area = z.free_area.lock();
        let mut n = 0;
        for pfn in area.lists[order].iter(&self.mem) {
            if n == batch.len() {
                break;
            }
            if !self.mem.page(pfn).test(pg::REPORTED) {
                batch[n] = (pfn, order);
                n += 1;
            }
        }
        for &(pfn, order) in &batch[..n] {
            area.lists[order].remove(&self.mem, pfn);
            z.nr_free_order[order].fetch_sub(1, Relaxed);
            z.nr_free.fetch_sub(1 << order, Relaxed);
            self.mem.page(pfn).clear(pg::BUDDY | pg::ZERO);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::fake::FakeRam;
    use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
    use crate::mm::page_alloc::AllocConfig;
    use proptest::prelude::*;

    /// 16 MiB in one zone, all free as memory that was in use (not known
    /// zero, so not deferred): four blocks of the largest order.
    const PAGES: u64 = 4096;

    fn node() -> PageAlloc<FakeRam> {
        let mut a = PageAlloc::new(FakeRam::new(PAGES, true), [(0, 0), (0, PAGES), (0, 0), (0, 0)], AllocConfig::default());
        a.add_present(Pfn::new(0), Pfn::new(PAGES));
        a.free_boot_range(Pfn::new(0), Pfn::new(PAGES), false);
        a.setup_watermarks();
        a
    }

    /// Every reported block as (pfn, order), checked to be known zero.
    fn reported(a: &PageAlloc<FakeRam>) -> Vec<(u64, usize)> {
        let mut out = Vec::new();
        for z in a.zones.iter().filter(|z| z.populated()) {
            let area = z.free_area.lock();
            for order in 0..MAX_ORDER {
                for pfn in area.lists[order].iter(&a.mem) {
                    let page = a.mem.page(pfn);
                    if page.test(pg::REPORTED) {
                        assert!(page.test(pg::ZERO), "a reported block is known zero");
                        out.push((pfn.as_u64(), order));
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn free_blocks_are_reported_once_and_allocating_takes_the_mark() {
        let a = node();
        assert!(a.take_report_request(), "freeing used memory asks for a pass");
        let mut seen = Vec::new();
        let stats = a.report_free_pages(&mut |b| {
            seen.extend_from_slice(b);
            true
        });
        assert_eq!((stats.blocks, stats.pages, stats.failed), (4, PAGES, false));
        assert_eq!(reported(&a).len(), 4);
        assert_eq!(a.nr_free_pages_all(), PAGES, "every page is free again");
        assert!(!a.take_report_request(), "putting reported blocks back asks for nothing");
        // A second pass finds nothing new.
        let again = a.report_free_pages(&mut |_| panic!("reported twice"));
        assert_eq!(again, ReportStats::default());
        // An allocation splits a reported block: known zero, so no
        // clearing, and the rest of the block stays reported.
        let cleared = a.events.pgzero_cleared.load(Relaxed);
        let pfn = a.alloc_pages(GFP_KERNEL | __GFP_ZERO, 3).expect("memory");
        assert_eq!(a.events.pgzero_cleared.load(Relaxed), cleared, "a reported block needs no clearing");
        assert!(!a.mem.page(pfn).test(pg::REPORTED) && !a.mem.page(pfn).test(pg::BUDDY));
        let marked: u64 = reported(&a).iter().map(|&(_, o)| 1u64 << o).sum();
        assert_eq!(marked, PAGES - 8, "the split halves stay reported");
        // Written to and freed, the block merges back with its reported
        // buddies into one that was partly in use: it is reported anew.
        a.mem.scribble(pfn, 0x55);
        a.free_pages(pfn, 3).unwrap();
        assert!(a.take_report_request());
        let stats = a.report_free_pages(&mut |_| true);
        assert_eq!((stats.blocks, stats.pages), (1, 1024), "{stats:?}");
        assert_eq!(reported(&a).len(), 4);
    }

    #[test]
    fn a_refused_report_leaves_the_blocks_as_they_were() {
        let a = node();
        let stats = a.report_free_pages(&mut |_| false);
        assert!(stats.failed);
        assert_eq!(reported(&a), Vec::new(), "nothing marked");
        assert_eq!(a.nr_free_pages_all(), PAGES, "nothing lost");
        assert_eq!(a.report_free_pages(&mut |_| true).pages, PAGES);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random allocations, frees and passes (the device taking or
        /// refusing each batch): no page is lost or found, a reported
        /// block is known zero, allocated memory never carries the mark,
        /// and a pass right after one the device took all of (nothing
        /// allocated or freed between) hands over nothing.
        #[test]
        fn reporting_keeps_the_free_lists_right(ops in proptest::collection::vec((0u8..3, 0usize..11, any::<bool>()), 1..60)) {
            let a = node();
            let mut held: Vec<(Pfn, usize)> = Vec::new();
            // Whether everything free was handed over and nothing changed since.
            let mut settled = false;
            for (op, order, took) in ops {
                match op {
                    0 => {
                        if let Some(pfn) = a.alloc_pages(GFP_KERNEL, order) {
                            prop_assert!(!a.mem.page(pfn).test(pg::REPORTED));
                            held.push((pfn, order));
                            settled = false;
                        }
                    }
                    1 => {
                        if let Some((pfn, order)) = held.pop() {
                            a.free_pages(pfn, order).unwrap();
                            settled = false;
                        }
                    }
                    _ => {
                        a.drain_all_pages();
                        let mut handed = 0;
                        let stats = a.report_free_pages(&mut |b| {
                            handed += b.len();
                            took
                        });
                        prop_assert!(!settled || handed == 0, "a settled free list was reported again");
                        settled = took && !stats.failed;
                    }
                }
                reported(&a);
                let used: u64 = held.iter().map(|&(_, o)| 1u64 << o).sum();
                prop_assert_eq!(a.nr_free_pages_all() + used, PAGES, "pages lost or found");
            }
        }
    }
}
