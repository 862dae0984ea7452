//! Page reclaim (Linux `mm/vmscan.c`): anonymous pages go to swap when
//! memory runs short, so that a process is killed only when nothing can be
//! reclaimed.
//!
//! There is no reverse map from a page to the PTEs that map it, so reclaim
//! finds its pages the way Linux 2.4 did (`swap_out`, `swap_out_mm`): it
//! walks the page tables of the address spaces, each from where its last
//! scan stopped ([`MmStruct::reclaim_cursor`]), and uses the accessed bit
//! as a clock: a page used since the last pass loses the bit and stays (a
//! second chance, Linux's `page_referenced`), one that was not goes to
//! swap. Only anonymous pages one mapping holds alone are taken: a page
//! shared after `fork` would need the swap cache to be written once for
//! all its mappings. File and shmem pages stay (ramfs pages are
//! unevictable in Linux too).
//!
//! The loop over the processes is the caller's (`proc`, which knows them);
//! what happens inside one address space is here and host-tested.

use alloc::vec::Vec;
use core::sync::atomic::AtomicU64;

use crate::mm::addr::PAGE_SIZE;
use crate::mm::mm_types::MmStruct;
use crate::mm::uvm::{account_unmap, page_kind, page_remove_map, PageKind, Pte, PteSlot, Rss, TlbGather, UserMem};
use crate::mm::vma::{VmFile, VM_LOCKED, VM_SHARED};

/// Direct reclaim, as `/proc/vmstat` counts it: PTEs of pages looked at
/// (`pgscan_direct`) and pages sent to swap (`pgsteal_direct`).
pub static PGSCAN_DIRECT: AtomicU64 = AtomicU64::new(0);
pub static PGSTEAL_DIRECT: AtomicU64 = AtomicU64::new(0);

/// How many pages one direct reclaim tries to free (Linux
/// `SWAP_CLUSTER_MAX`).
pub const SWAP_CLUSTER_MAX: u64 = 32;

/// One reclaim pass (Linux `struct scan_control`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanControl {
    /// Stop once this many pages went to swap.
    pub nr_to_reclaim: u64,
    /// Stop once this many pages were looked at.
    pub nr_to_scan: u64,
    pub nr_scanned: u64,
    pub nr_reclaimed: u64,
}

impl ScanControl {
    pub fn new(nr_to_reclaim: u64, nr_to_scan: u64) -> Self {
        Self { nr_to_reclaim, nr_to_scan, ..Self::default() }
    }

    /// Whether the pass has done enough or looked far enough.
    pub fn done(&self) -> bool {
        self.nr_reclaimed >= self.nr_to_reclaim || self.nr_scanned >= self.nr_to_scan
    }
}

/// A pass over the page tables goes a PTE table at a time, so that it can
/// stop soon after its budget is spent.
const SCAN_CHUNK: u64 = 1 << 21;

/// What reclaim does with one PTE: a page used since the last look loses
/// its accessed bit and stays; an unused anonymous page this mapping holds
/// alone goes to swap. Whether the page left.
fn reclaim_pte<M: UserMem>(mem: &M, slot: &mut PteSlot<'_>, rss: &mut Rss, tlb: &mut TlbGather, va: u64, second_chance: bool) -> bool {
    let pte = slot.get();
    if !pte.present() || page_kind(mem, pte.pfn()) != (PageKind::Anon { exclusive: true }) {
        return false;
    }
    if second_chance && pte.young() {
        slot.set(mem, pte.mkold());
        tlb.add(va);
        return false;
    }
    let Some(entry) = mem.swap_out(pte.pfn()) else { return false };
    slot.set(mem, Pte::swap(entry));
    tlb.add(va);
    account_unmap(mem, pte.pfn(), rss);
    page_remove_map(mem, pte.pfn());
    rss.swap += 1;
    true
}

impl<F: VmFile, M: UserMem> MmStruct<F, M> {
    /// The private, unlocked parts of `[start, end)`: where anonymous pages
    /// may be reclaimed.
    fn reclaimable_ranges(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.vm
            .iter()
            .filter(|v| v.end > start && v.start < end && v.flags & (VM_SHARED | VM_LOCKED) == 0)
            .map(|v| (v.start.max(start), v.end.min(end)))
            .collect()
    }

    /// `MADV_PAGEOUT` (Linux `madvise_pageout`, reclaiming at once): every
    /// anonymous page in `[start, end)` that this mapping holds alone goes
    /// to swap, its PTE replaced by the slot's entry, used recently or
    /// not. Pages shared with another process (after fork), file and shmem
    /// pages, the zero page and pages of locked VMAs stay. Returns how many
    /// went.
    pub fn pageout(&mut self, start: u64, end: u64) -> u64 {
        let mem = self.pt.mem();
        let ranges = self.reclaimable_ranges(start, end);
        let MmStruct { pt, rss, .. } = self;
        let mut tlb = TlbGather::new();
        let mut out = 0;
        for (s, e) in ranges {
            pt.for_each_present(s, e, |va, slot| {
                if reclaim_pte(&mem, slot, rss, &mut tlb, va, false) {
                    out += 1;
                }
            });
        }
        tlb.finish(&mem);
        out
    }

    /// One step of the reclaim clock over this address space (Linux 2.4
    /// `swap_out_mm`): from [`reclaim_cursor`](Self::reclaim_cursor) on,
    /// each present PTE of a private unlocked VMA is looked at once, until
    /// `sc` has enough or has looked far enough; the cursor then stays
    /// where the scan stopped, and goes back to the start at the end of
    /// the address space.
    pub fn swap_out_mm(&mut self, sc: &mut ScanControl) {
        if sc.done() {
            return;
        }
        let mem = self.pt.mem();
        let ranges = self.reclaimable_ranges(self.reclaim_cursor, u64::MAX);
        let MmStruct { pt, rss, reclaim_cursor, .. } = self;
        let mut tlb = TlbGather::new();
        // Where the scan stops: past the last PTE looked at, or back at the
        // start when it reached the end.
        let mut next = 0;
        'ranges: for (s, e) in ranges {
            let mut chunk = s;
            while chunk < e {
                let stop = ((chunk | (SCAN_CHUNK - 1)) + 1).min(e);
                pt.for_each_present(chunk, stop, |va, slot| {
                    if sc.done() {
                        return;
                    }
                    sc.nr_scanned += 1;
                    next = va + PAGE_SIZE;
                    if reclaim_pte(&mem, slot, rss, &mut tlb, va, true) {
                        sc.nr_reclaimed += 1;
                    }
                });
                if sc.done() {
                    break 'ranges;
                }
                chunk = stop;
            }
            next = 0;
        }
        *reclaim_cursor = next;
        tlb.finish(&mem);
    }
}
