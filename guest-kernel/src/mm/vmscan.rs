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
//! swap. A page that several processes share after `fork` goes through
//! the swap cache ([`swap_state`]): each PTE is replaced by the same
//! entry as the scan meets it, and the page is written and freed once the
//! last one is gone. File and shmem pages stay (ramfs pages are
//! unevictable in Linux too).
//!
//! The loop over the processes is the caller's (`proc`, which knows them);
//! what happens inside one address space is here and host-tested.

use core::sync::atomic::AtomicU64;

use crate::mm::addr::{UserAddr, PAGE_SIZE};
use crate::mm::huge_memory::HugeReclaim;
use crate::mm::mm_types::MmStruct;
use crate::mm::page::pg;
use crate::mm::swap_state;
use crate::mm::uvm::{account_unmap, page_kind, page_remove_map, PageKind, Pte, PteSlot, Rss, TlbGather, UserMem};
use crate::mm::vma::{VmFile, VmaTree, VM_LOCKED, VM_SHARED};

/// Direct reclaim, as `/proc/vmstat` counts it: pages looked at
/// (`pgscan_direct`: PTEs, and pages read ahead in the swap cache) and
/// pages freed (`pgsteal_direct`: sent to swap, or read ahead and never
/// used).
pub static PGSCAN_DIRECT: AtomicU64 = AtomicU64::new(0);
pub static PGSTEAL_DIRECT: AtomicU64 = AtomicU64::new(0);
/// The same for kswapd's background reclaim (`pgscan_kswapd`,
/// `pgsteal_kswapd`).
pub static PGSCAN_KSWAPD: AtomicU64 = AtomicU64::new(0);
pub static PGSTEAL_KSWAPD: AtomicU64 = AtomicU64::new(0);

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
    /// No swap slot was left, or the swap device failed a write: the
    /// pass stops, as nothing more can go (and a failing device is not
    /// hammered with every page).
    pub swap_full: bool,
}

impl ScanControl {
    pub fn new(nr_to_reclaim: u64, nr_to_scan: u64) -> Self {
        Self { nr_to_reclaim, nr_to_scan, ..Self::default() }
    }

    /// Whether the pass has done enough or looked far enough.
    pub fn done(&self) -> bool {
        self.nr_reclaimed >= self.nr_to_reclaim || self.nr_scanned >= self.nr_to_scan || self.swap_full
    }
}

/// A pass over the page tables goes a PTE table at a time, so that it can
/// stop soon after its budget is spent.
const SCAN_CHUNK: u64 = 1 << 21;

/// Which pages a pass may take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// `MADV_PAGEOUT`: pages only this PTE maps, used lately or not.
    Unshared,
    /// Reclaim: any anonymous page not used since the last look; a page
    /// other processes map too goes through the swap cache.
    Unused,
}

/// What became of one PTE's page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Still in memory (used lately, shared and not yet written, or not
    /// reclaimable).
    Kept,
    /// Written to swap and freed.
    Freed,
    /// No swap slot is left, or the device failed the write.
    SwapFull,
}

/// What reclaim does with one PTE: a page used since the last look loses
/// its accessed bit and stays; otherwise the PTE is replaced by the swap
/// entry of the page's slot. A page only this PTE maps is written and
/// freed at once; a shared one goes into the swap cache and is written and
/// freed when the last of its PTEs goes.
fn reclaim_pte<M: UserMem>(mem: &M, slot: &mut PteSlot<'_>, rss: &mut Rss, tlb: &mut TlbGather, va: UserAddr, take: Take) -> Outcome {
    let pte = slot.get();
    if !pte.present() {
        return Outcome::Kept;
    }
    let pfn = pte.pfn();
    let PageKind::Anon { exclusive } = page_kind(mem, pfn) else { return Outcome::Kept };
    let page = mem.page(pfn);
    if take == Take::Unshared && page.mapcount() != 1 {
        return Outcome::Kept;
    }
    // The clock's second chance: a page used since the last look loses its
    // accessed bit; one activated by a refault loses that first.
    if take == Take::Unused && pte.young() {
        slot.set(mem, pte.mkold());
        tlb.add(va);
        return Outcome::Kept;
    }
    if take == Take::Unused && page.test(pg::ACTIVE) {
        page.clear(pg::ACTIVE);
        return Outcome::Kept;
    }
    if exclusive {
        // Alone and not in the swap cache: straight to a slot of its own.
        let Some(entry) = mem.get_swap_page() else { return Outcome::SwapFull };
        if !mem.swap_writepage(entry, pfn) {
            // The page stays, in memory and mapped.
            mem.swap_free(entry);
            return Outcome::SwapFull;
        }
        slot.set(mem, Pte::swap(entry));
        tlb.add(va);
        account_unmap(mem, pfn, rss);
        page.clear(pg::ACTIVE);
        page_remove_map(mem, pfn);
        rss.swap += 1;
        swap_state::workingset_eviction(mem, entry);
        return Outcome::Freed;
    }
    // A page with references besides its PTEs and the swap cache (held by
    // the kernel for I/O) stays where it is.
    let in_cache = page.test(pg::SWAPCACHE);
    if page.refcount() != page.mapcount() + i32::from(in_cache) {
        return Outcome::Kept;
    }
    let entry = match swap_state::page_swap_entry(page) {
        Some(e) => e,
        None => match swap_state::add_to_swap(mem, pfn) {
            Some(e) => e,
            None => return Outcome::SwapFull,
        },
    };
    mem.swap_dup(entry);
    slot.set(mem, Pte::swap(entry));
    tlb.add(va);
    account_unmap(mem, pfn, rss);
    rss.swap += 1;
    // The swap cache keeps the page while other PTEs map it.
    page_remove_map(mem, pfn);
    if page.mapcount() == 0 && mem.swap_writepage(entry, pfn) {
        // The last PTE went: written once, and let go. (Should the write
        // fail, the page stays in the cache, where a fault finds it.)
        page.clear(pg::ACTIVE);
        swap_state::delete_from_swap_cache(mem, pfn);
        swap_state::workingset_eviction(mem, entry);
        return Outcome::Freed;
    }
    Outcome::Kept
}

/// The private, unlocked parts of `[start, end)`: where anonymous pages
/// may be reclaimed. (An iterator: reclaim allocates nothing of its own.)
fn reclaimable_ranges<F: VmFile>(vm: &VmaTree<F>, start: UserAddr, end: UserAddr) -> impl Iterator<Item = (UserAddr, UserAddr)> + '_ {
    vm.iter().filter(move |v| v.end > start && v.start < end && v.flags & (VM_SHARED | VM_LOCKED) == 0).map(move |v| (v.start.max(start), v.end.min(end)))
}

impl<F: VmFile, M: UserMem> MmStruct<F, M> {
    /// `MADV_PAGEOUT` (Linux `madvise_pageout`, reclaiming at once): every
    /// anonymous page in `[start, end)` that only this mapping maps goes
    /// to swap, its PTE replaced by the slot's entry, used recently or
    /// not. Pages mapped by another process too (after fork), file and
    /// shmem pages, the zero page and pages of locked VMAs stay. Returns
    /// how many went.
    pub fn pageout(&mut self, start: UserAddr, end: UserAddr) -> u64 {
        let mem = self.pt.mem();
        let MmStruct { vm, pt, rss, .. } = self;
        let mut tlb = TlbGather::new();
        let mut out = 0;
        for (s, e) in reclaimable_ranges(vm, start, end) {
            // A huge page goes to swap a page at a time (Linux splits it
            // too), when only this mapping has it.
            pt.reclaim_huge_range(s, e, HugeReclaim::Unshared);
            pt.for_each_present(s, e, |va, slot| {
                if reclaim_pte(&mem, slot, rss, &mut tlb, va, Take::Unshared) == Outcome::Freed {
                    out += 1;
                }
            });
        }
        tlb.finish(&mem);
        out
    }

    /// `MADV_COLD` (Linux `madvise_cold`): the anonymous pages in
    /// `[start, end)` that only this mapping maps lose their accessed bit
    /// and their activation, so that the next reclaim pass takes them
    /// without a second chance.
    /// Returns how many were marked.
    pub fn deactivate(&mut self, start: UserAddr, end: UserAddr) -> u64 {
        let mem = self.pt.mem();
        let MmStruct { vm, pt, .. } = self;
        let mut tlb = TlbGather::new();
        let mut cold = 0;
        for (s, e) in reclaimable_ranges(vm, start, end) {
            pt.reclaim_huge_range(s, e, HugeReclaim::Cold);
            pt.for_each_present(s, e, |va, slot| {
                let pte = slot.get();
                if !pte.present() || !matches!(page_kind(&mem, pte.pfn()), PageKind::Anon { .. }) || mem.page(pte.pfn()).mapcount() != 1 {
                    return;
                }
                let page = mem.page(pte.pfn());
                if pte.young() || page.test(pg::ACTIVE) {
                    page.clear(pg::ACTIVE);
                    slot.set(&mem, pte.mkold());
                    tlb.add(va);
                    cold += 1;
                }
            });
        }
        tlb.finish(&mem);
        cold
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
        let MmStruct { vm, pt, rss, reclaim_cursor, .. } = self;
        let ranges = reclaimable_ranges(vm, *reclaim_cursor, UserAddr::new(u64::MAX));
        let mut tlb = TlbGather::new();
        // Where the scan stops: past the last PTE looked at, or back at the
        // start when it reached the end.
        let mut next = UserAddr::new(0);
        'ranges: for (s, e) in ranges {
            let mut chunk = s;
            while chunk < e {
                let stop = (chunk.align_down(SCAN_CHUNK) + SCAN_CHUNK).min(e);
                if sc.done() {
                    break 'ranges;
                }
                pt.reclaim_huge_range(chunk, stop, HugeReclaim::Age);
                pt.for_each_present(chunk, stop, |va, slot| {
                    if sc.done() {
                        return;
                    }
                    sc.nr_scanned += 1;
                    next = va + PAGE_SIZE;
                    match reclaim_pte(&mem, slot, rss, &mut tlb, va, Take::Unused) {
                        Outcome::Freed => sc.nr_reclaimed += 1,
                        Outcome::SwapFull => sc.swap_full = true,
                        Outcome::Kept => {}
                    }
                });
                if sc.done() {
                    break 'ranges;
                }
                chunk = stop;
            }
            next = UserAddr::new(0);
        }
        *reclaim_cursor = next;
        tlb.finish(&mem);
    }
}
