//! Page reclaim (Linux `mm/vmscan.c`): anonymous pages go to swap when
//! memory runs short, so that a process is killed only when nothing can be
//! reclaimed.
//!
//! Candidates come from the LRU lists ([`lru`]), oldest first, and their
//! mappings from the reverse map ([`rmap`](crate::mm::rmap)), as in Linux
//! since 2.6: a page on the inactive list whose PTEs were not used since
//! the last look goes to swap; one used once gets a second chance, and one
//! used again goes to the active list, which refills the inactive list
//! from its own tail when that runs short. A page that several processes
//! share after `fork` goes through the swap cache ([`swap_state`]): each
//! of its PTEs is replaced by the same entry, and the page is written and
//! freed once. File and shmem pages stay (ramfs pages are unevictable in
//! Linux too).
//!
//! Which address spaces there are is the caller's business (`proc`, which
//! knows them): it hands over all of them, and what happens to each page
//! is here and host-tested.

use core::ops::ControlFlow;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::{Pfn, UserAddr, PAGE_SHIFT};
use crate::mm::huge_memory::{HugePmd, HugeReclaim};
use crate::mm::lru::{self, LruList, Lruvec};
use crate::mm::mm_types::MmStruct;
use crate::mm::page::pg;
use crate::mm::rmap::rmap_walk_anon;
use crate::mm::swap_state;
use crate::mm::uvm::{account_unmap, flush_tlb_page, page_kind, page_remove_map, PageKind, Pte, PteSlot, Rss, SwapEntry, TlbGather, UserMem};
use crate::mm::vma::{VmFile, VmaTree, VM_LOCKED, VM_SHARED};
use crate::sync::SpinLock;

/// Direct reclaim, as `/proc/vmstat` counts it: pages looked at
/// (`pgscan_direct`: pages taken from the inactive list, and pages read
/// ahead in the swap cache) and pages freed (`pgsteal_direct`: sent to swap, or read ahead and never
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

/// What became of one page.
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

/// `MADV_PAGEOUT` for one PTE: a page only this PTE maps goes to swap,
/// used lately or not. One in no other mapping and not in the swap cache
/// is written to a slot of its own and freed at once; one in the swap
/// cache is written from there and leaves it.
fn pageout_pte<M: UserMem>(mem: &M, slot: &mut PteSlot<'_>, rss: &mut Rss, tlb: &mut TlbGather, va: UserAddr) -> Outcome {
    let pte = slot.get();
    if !pte.present() {
        return Outcome::Kept;
    }
    let pfn = pte.pfn();
    let PageKind::Anon { exclusive } = page_kind(mem, pfn) else { return Outcome::Kept };
    let page = mem.page(pfn);
    if page.mapcount() != 1 {
        return Outcome::Kept;
    }
    if exclusive {
        let Some(entry) = mem.get_swap_page() else { return Outcome::SwapFull };
        if !mem.swap_writepage(entry, pfn) {
            // The page stays, in memory and mapped.
            mem.swap_free(entry);
            return Outcome::SwapFull;
        }
        slot.set(mem, Pte::swap(entry));
        tlb.add(va);
        account_unmap(mem, pfn, rss);
        page_remove_map(mem, pfn);
        rss.swap += 1;
        swap_state::workingset_eviction(mem, entry);
        return Outcome::Freed;
    }
    // In the swap cache: a reference besides the PTE and the cache (held
    // by the kernel for I/O) keeps it.
    if page.refcount() != 2 {
        return Outcome::Kept;
    }
    let Some(entry) = swap_state::page_swap_entry(page) else { return Outcome::Kept };
    mem.swap_dup(entry);
    slot.set(mem, Pte::swap(entry));
    tlb.add(va);
    account_unmap(mem, pfn, rss);
    rss.swap += 1;
    page_remove_map(mem, pfn);
    if mem.swap_writepage(entry, pfn) {
        swap_state::delete_from_swap_cache(mem, pfn);
        swap_state::workingset_eviction(mem, entry);
        return Outcome::Freed;
    }
    Outcome::Kept
}

/// The private, unlocked parts of `[start, end)`: where `madvise` may
/// page out or deactivate anonymous pages.
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
                if pageout_pte(&mem, slot, rss, &mut tlb, va) == Outcome::Freed {
                    out += 1;
                }
            });
        }
        tlb.finish(&mem);
        out
    }

    /// `MADV_COLD` (Linux `madvise_cold`): the anonymous pages in
    /// `[start, end)` that only this mapping maps lose their accessed bit
    /// and their activation and go to the head of the inactive list, so
    /// that reclaim, when it reaches them, takes them without a second
    /// chance. Returns how many were marked.
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
                if pte.young() || page.test(pg::ACTIVE | pg::REFERENCED) {
                    page.clear(pg::REFERENCED);
                    lru::deactivate(&mem, pte.pfn());
                    slot.set(&mem, pte.mkold());
                    tlb.add(va);
                    cold += 1;
                }
            });
        }
        tlb.finish(&mem);
        cold
    }

    /// After `munlock` of `[start, end)`: the anonymous pages there that
    /// reclaim had put on the unevictable list go back to the inactive
    /// one (Linux `munlock_vma_pages_range`).
    pub fn putback_unlocked(&mut self, start: UserAddr, end: UserAddr) {
        let mem = self.pt.mem();
        let mut heads = alloc::vec::Vec::new();
        self.pt.for_each_huge(start, end, |_, pmd| heads.push(pmd.pfn()));
        self.pt.for_each_present(start, end, |_, slot| heads.push(slot.get().pfn()));
        for pfn in heads {
            if matches!(page_kind(&mem, pfn), PageKind::Anon { .. }) {
                lru::putback_evictable(&mem, crate::mm::huge_memory::page_folio(&mem, pfn));
            }
        }
    }
}

/// Whether a huge page or PTE at `addr` of `mm` was used since the last
/// look; the look takes the accessed bit.
fn test_and_clear_young<F: VmFile, M: UserMem>(mm: &mut MmStruct<F, M>, addr: UserAddr) -> bool {
    let mem = mm.pt.mem();
    if mm.pt.has_huge() && matches!(mm.pt.huge_pmd_state(addr), HugePmd::Huge(_)) {
        return mm.pt.pmd_test_and_clear_young(addr);
    }
    let Some(mut slot) = mm.pt.pte_slot(addr, false) else { return false };
    let pte = slot.get();
    if !pte.young() {
        return false;
    }
    slot.set(&mem, pte.mkold());
    flush_tlb_page(&mem, addr);
    true
}

/// What reclaim does with a page from the inactive list (Linux `enum
/// folio_references`, and `folio_evictable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum References {
    /// Mapped in a locked VMA: to the unevictable list, out of reclaim's
    /// way until `munlock`.
    Cull,
    /// Used twice: to the active list.
    Activate,
    /// Used once since it came: back to the head of the inactive list.
    Keep,
    /// Not used: to swap.
    Reclaim,
}

/// Looks at every mapping of an inactive page and takes their accessed
/// bits (Linux `folio_check_references` with `folio_referenced`). Every
/// mapped page starts with the accessed bit of the fault that mapped it,
/// so one use is a second chance (`pg::REFERENCED`) and only a second
/// activates.
fn check_references<F: VmFile, M: UserMem>(mem: &M, pfn: Pfn, mms: &mut [&mut MmStruct<F, M>]) -> References {
    let (mut referenced, mut locked) = (0, false);
    rmap_walk_anon(mem, pfn, mms, |mm, addr| {
        locked |= mm.vm.locked_vm > 0 && mm.vm.vma_at(addr).is_some_and(|v| v.flags & VM_LOCKED != 0);
        referenced += u32::from(test_and_clear_young(mm, addr));
        ControlFlow::Continue(())
    });
    let page = mem.page(pfn);
    let was_referenced = page.test(pg::REFERENCED);
    page.clear(pg::REFERENCED);
    if locked {
        References::Cull
    } else if referenced == 0 {
        References::Reclaim
    } else if was_referenced || referenced > 1 {
        References::Activate
    } else {
        page.set(pg::REFERENCED);
        References::Keep
    }
}

/// Replaces the PTE at `addr` of `mm`, which maps `pfn`, with `entry`
/// (a step of Linux `try_to_unmap_one`).
fn unmap_to_swap<F: VmFile, M: UserMem>(mm: &mut MmStruct<F, M>, addr: UserAddr, pfn: Pfn, entry: SwapEntry) {
    let mem = mm.pt.mem();
    let MmStruct { pt, rss, .. } = mm;
    let Some(mut slot) = pt.pte_slot(addr, false) else { return };
    slot.set(&mem, Pte::swap(entry));
    flush_tlb_page(&mem, addr);
    account_unmap(&mem, pfn, rss);
    rss.swap += 1;
    page_remove_map(&mem, pfn);
}

/// Sends an isolated, unused anonymous page to swap (Linux
/// `shrink_folio_list` for one folio: `add_to_swap`, `try_to_unmap`,
/// `pageout`, `__remove_mapping`). A huge page is split first, in every
/// address space that maps it. A page only one PTE maps is written to a
/// slot of its own before its PTE goes; a shared one goes through the
/// swap cache, each PTE naming the same slot, and is written once the
/// last is gone. A page held by anyone besides its PTEs and the swap
/// cache stays.
fn reclaim_page<F: VmFile, M: UserMem>(mem: &M, pfn: Pfn, mms: &mut [&mut MmStruct<F, M>]) -> Outcome {
    let page = mem.page(pfn);
    if page.test(pg::LARGE) {
        rmap_walk_anon(mem, pfn, mms, |mm, addr| {
            mm.pt.split_huge_pmd(addr);
            ControlFlow::Continue(())
        });
        if page.test(pg::LARGE) {
            return Outcome::Kept;
        }
    }
    let in_cache = page.test(pg::SWAPCACHE);
    let mapped = page.mapcount();
    if page.refcount() != mapped + i32::from(in_cache) {
        return Outcome::Kept;
    }
    if mapped == 1 && !in_cache {
        // Written once its one mapping is found, then unmapped.
        let mut outcome = Outcome::Kept;
        rmap_walk_anon(mem, pfn, mms, |mm, addr| {
            let Some(entry) = mem.get_swap_page() else {
                outcome = Outcome::SwapFull;
                return ControlFlow::Break(());
            };
            if !mem.swap_writepage(entry, pfn) {
                mem.swap_free(entry);
                outcome = Outcome::SwapFull;
                return ControlFlow::Break(());
            }
            unmap_to_swap(mm, addr, pfn, entry);
            swap_state::workingset_eviction(mem, entry);
            outcome = Outcome::Freed;
            ControlFlow::Break(())
        });
        return outcome;
    }
    let entry = match swap_state::page_swap_entry(page) {
        Some(e) => e,
        None => match swap_state::add_to_swap(mem, pfn) {
            Some(e) => e,
            None => return Outcome::SwapFull,
        },
    };
    let unmapped = rmap_walk_anon(mem, pfn, mms, |mm, addr| {
        mem.swap_dup(entry);
        unmap_to_swap(mm, addr, pfn, entry);
        ControlFlow::Continue(())
    });
    if unmapped == 0 && mapped > 0 && !in_cache {
        // No mapping found after all: the slot is not kept for nothing.
        swap_state::delete_from_swap_cache(mem, pfn);
        return Outcome::Kept;
    }
    // The swap cache holds the page now; written, it can go. (Should the
    // write fail, it stays in the cache, where a fault finds it.)
    if page.mapcount() > 0 {
        return Outcome::Kept;
    }
    if !mem.swap_writepage(entry, pfn) {
        return Outcome::SwapFull;
    }
    swap_state::delete_from_swap_cache(mem, pfn);
    swap_state::workingset_eviction(mem, entry);
    Outcome::Freed
}

/// Pages moved from the inactive to the active list (`pgactivate`), from
/// the active to the inactive (`pgdeactivate`), and looked at on the
/// active list (`pgrefill`).
pub static PGACTIVATE: AtomicU64 = AtomicU64::new(0);
pub static PGDEACTIVATE: AtomicU64 = AtomicU64::new(0);
pub static PGREFILL: AtomicU64 = AtomicU64::new(0);
/// Pages reclaim found locked and moved to the unevictable list
/// (`unevictable_pgs_culled`).
pub static UNEVICTABLE_PGCULLED: AtomicU64 = AtomicU64::new(0);

/// Whether the inactive list is too short beside the active one (Linux
/// `inactive_is_low`): the active list may be `sqrt(10 * GiB)` times as
/// long, or as long under 1 GiB.
fn inactive_is_low(lruvec: &Lruvec) -> bool {
    let (inactive, active) = (lruvec.len(LruList::InactiveAnon), lruvec.len(LruList::ActiveAnon));
    let gb = (inactive + active) >> (30 - PAGE_SHIFT);
    let ratio = if gb == 0 { 1 } else { (10 * gb).isqrt() };
    inactive * ratio < active
}

/// Moves up to `nr` pages from the tail of the active list to the head of
/// the inactive one (Linux `shrink_active_list`), taking their accessed
/// bits on the way, so that the inactive list sees only the uses that
/// come after.
fn shrink_active_list<F: VmFile, M: UserMem>(mem: &M, lruvec: &SpinLock<Lruvec>, mms: &mut [&mut MmStruct<F, M>], nr: u64) {
    for _ in 0..nr {
        let Some(pfn) = lruvec.lock().isolate_tail(mem, LruList::ActiveAnon) else { return };
        PGREFILL.fetch_add(1, Relaxed);
        rmap_walk_anon(mem, pfn, mms, |mm, addr| {
            test_and_clear_young(mm, addr);
            ControlFlow::Continue(())
        });
        let page = mem.page(pfn);
        page.clear(pg::ACTIVE | pg::REFERENCED);
        PGDEACTIVATE.fetch_add(1, Relaxed);
        lruvec.lock().add(mem, pfn);
    }
}

/// Puts an isolated page back on a list (`References::Keep` for the
/// inactive one), unless it is gone.
fn putback<M: UserMem>(mem: &M, lruvec: &SpinLock<Lruvec>, pfn: Pfn, to: References) {
    let page = mem.page(pfn);
    if page.refcount() == 0 || page.test(pg::LRU) {
        return;
    }
    match to {
        References::Activate if !page.test(pg::ACTIVE) => {
            page.set(pg::ACTIVE);
            PGACTIVATE.fetch_add(1, Relaxed);
        }
        References::Cull => {
            page.set(pg::UNEVICTABLE);
            UNEVICTABLE_PGCULLED.fetch_add(1, Relaxed);
        }
        _ => {}
    }
    lruvec.lock().add(mem, pfn);
}

/// One reclaim pass over the anonymous LRU lists (Linux `shrink_lruvec`
/// for the anonymous lists): pages from the tail of the inactive list,
/// oldest first, are looked at through the reverse map, `mms` being every
/// address space there is; used ones get their second chance or go
/// active, unused ones go to swap. The active list refills the inactive
/// one whenever that is short. Stops when `sc` has enough, has looked at
/// enough, or swap is full.
pub fn shrink_lruvec<F: VmFile, M: UserMem>(mem: &M, mms: &mut [&mut MmStruct<F, M>], sc: &mut ScanControl) {
    let Some(lruvec) = mem.lruvec() else { return };
    while !sc.done() {
        if inactive_is_low(&lruvec.lock()) {
            shrink_active_list(mem, lruvec, mms, SWAP_CLUSTER_MAX);
        }
        let Some(pfn) = lruvec.lock().isolate_tail(mem, LruList::InactiveAnon) else { return };
        sc.nr_scanned += 1;
        match check_references(mem, pfn, mms) {
            References::Reclaim => match reclaim_page(mem, pfn, mms) {
                Outcome::Freed => sc.nr_reclaimed += 1,
                Outcome::SwapFull => {
                    sc.swap_full = true;
                    putback(mem, lruvec, pfn, References::Keep);
                }
                Outcome::Kept => putback(mem, lruvec, pfn, References::Keep),
            },
            to => putback(mem, lruvec, pfn, to),
        }
    }
}
