//! The swap cache (Linux `mm/swap_state.c`): anonymous pages indexed by
//! the swap slot that holds (or will hold) their data, so that a page
//! several processes share after `fork` is written to swap once, when the
//! last of their PTEs is replaced by the slot's entry, and read back once,
//! by the first of them to touch it; the others find it here.
//!
//! A page in the cache has `pg::SWAPCACHE`, its entry in `private`, and
//! one reference held by the cache; its slot has one reference for the
//! cache besides one per PTE that names it. The cache lets a page go as
//! soon as only the cache names its slot ([`try_to_free_swap`]).
//!
//! **Readahead** (Linux `swap_cluster_readahead`): a fault that must read
//! a slot also reads, in the same device request, the slots beside it in
//! an aligned window that PTEs still name, into pages of the cache
//! ([`pg::READAHEAD`]): reclaim writes neighbouring pages of an address
//! space to neighbouring slots, so the next faults find them here. The
//! window follows Linux's `swapin_nr_pages`: it grows (up to
//! 2^`vm.page-cluster`) while faults find the pages read ahead, falls
//! back by halves when they stop, and is one page for faults that are
//! neither hits nor next to the last one, so random or thrashing access
//! does not read what it will not use. Readahead takes only memory that
//! is free without reclaim, and reclaim drops the pages no fault has
//! used, oldest first ([`shrink_readahead`]).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::mm::gfp::{Gfp, __GFP_HIGHMEM, __GFP_NOWARN};
use crate::mm::page::{pg, Page};
use crate::mm::swapfile::SwapEntry;
use crate::mm::user_mem::UserMem;

/// `vm.page-cluster` (Linux's default, 3): a swap-in reads up to
/// 2^this slots; 0 reads only the one faulted.
pub static PAGE_CLUSTER: AtomicU64 = AtomicU64::new(3);
/// The largest window, in slots: `page-cluster` above 5 reads 32.
pub const SWAP_RA_MAX: usize = 32;
/// Pages read ahead (`swap_ra`), and those a fault then found
/// (`swap_ra_hit`).
pub static SWAP_RA: AtomicU64 = AtomicU64::new(0);
pub static SWAP_RA_HIT: AtomicU64 = AtomicU64::new(0);
/// Pages read back from swap whose eviction left a shadow
/// (`workingset_refault_anon`), and those of them that came back within
/// the workingset and were activated (`workingset_activate_anon`).
pub static WORKINGSET_REFAULT_ANON: AtomicU64 = AtomicU64::new(0);
pub static WORKINGSET_ACTIVATE_ANON: AtomicU64 = AtomicU64::new(0);

/// Reclaim evicted the page that held slot `e`'s data (Linux
/// `workingset_eviction`): the slot keeps the workingset clock's value as
/// the page's shadow, and the clock ticks.
pub fn workingset_eviction<M: UserMem>(mem: &M, e: SwapEntry) {
    if let Some(ws) = mem.workingset() {
        mem.swap_shadow_store(e, ws.tick());
    }
}

/// Page `pfn` was just read back from slot `e` (Linux
/// `workingset_refault`): if its eviction left a shadow, that is a
/// refault, and one whose distance (pages evicted or promoted since) the
/// workingset could have held is activated ([`pg::ACTIVE`]): a working
/// set that thrashes is protected from the next pass of reclaim.
fn workingset_refault<M: UserMem>(mem: &M, e: SwapEntry, pfn: Pfn) {
    let Some(ws) = mem.workingset() else { return };
    let Some(evicted) = mem.swap_shadow_take(e) else { return };
    WORKINGSET_REFAULT_ANON.fetch_add(1, Relaxed);
    if ws.within(evicted) {
        mem.page(pfn).set(pg::ACTIVE);
        ws.tick();
        WORKINGSET_ACTIVATE_ANON.fetch_add(1, Relaxed);
    }
}

/// Readahead's pages: free memory only, never reclaim, no warning.
const GFP_READAHEAD: Gfp = Gfp(__GFP_HIGHMEM.0 | __GFP_NOWARN.0);

/// How an entry is kept in `page.private`: the type above the offset.
const TYPE_SHIFT: u32 = 58;

/// The swap entry of a page in the swap cache.
pub fn page_swap_entry(page: &Page) -> Option<SwapEntry> {
    page.test(pg::SWAPCACHE).then(|| {
        let v = page.private();
        SwapEntry { typ: (v >> TYPE_SHIFT) as u32, offset: v & ((1 << TYPE_SHIFT) - 1) }
    })
}

/// Puts the page into the swap cache as the holder of slot `e`, whose
/// reference for the cache the caller has taken (Linux
/// `add_to_swap_cache`). The cache takes a page reference.
fn insert<M: UserMem>(mem: &M, pfn: Pfn, e: SwapEntry) {
    let page = mem.page(pfn);
    page.private.store((u64::from(e.typ) << TYPE_SHIFT) | e.offset, core::sync::atomic::Ordering::Relaxed);
    page.set(pg::SWAPCACHE);
    page._refcount.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    mem.swap_cache_insert(e, pfn);
}

/// Gives an anonymous page a new swap slot and puts it into the swap cache
/// (Linux `add_to_swap`); `None` without swap space. Nothing is written
/// yet.
pub fn add_to_swap<M: UserMem>(mem: &M, pfn: Pfn) -> Option<SwapEntry> {
    let e = mem.get_swap_page()?;
    insert(mem, pfn, e);
    Some(e)
}

/// Puts a page just read from slot `e`, which other PTEs still name, into
/// the swap cache, so that they find it instead of reading the slot again.
pub fn add_to_swap_cache<M: UserMem>(mem: &M, pfn: Pfn, e: SwapEntry) {
    mem.swap_dup(e);
    insert(mem, pfn, e);
}

/// Takes the page out of the swap cache (Linux `delete_from_swap_cache`):
/// the cache's slot reference and page reference go, so the slot is free
/// if no PTE names it, and the page if no PTE maps it.
pub fn delete_from_swap_cache<M: UserMem>(mem: &M, pfn: Pfn) {
    let page = mem.page(pfn);
    let Some(e) = page_swap_entry(page) else { return };
    mem.swap_cache_remove(e);
    page.clear(pg::SWAPCACHE | pg::READAHEAD);
    page.private.store(0, core::sync::atomic::Ordering::Relaxed);
    mem.swap_free(e);
    if page.refcount() == 1 && page.test(pg::ANON) {
        page.clear(pg::ANON);
    }
    mem.put_page(pfn);
}

/// Lets the swap cache's hold on a page go when only the cache names its
/// slot (Linux `folio_free_swap`): no PTE will ever read the slot again.
/// Whether it went.
pub fn try_to_free_swap<M: UserMem>(mem: &M, pfn: Pfn) -> bool {
    match page_swap_entry(mem.page(pfn)) {
        Some(e) if mem.swap_count(e) == 1 => {
            delete_from_swap_cache(mem, pfn);
            true
        }
        _ => false,
    }
}

/// A PTE that named slot `e` goes (unmap, exit): its reference goes, and
/// the cached page with the slot once only the cache names it (Linux
/// `free_swap_and_cache`).
pub fn free_swap_and_cache<M: UserMem>(mem: &M, e: SwapEntry) {
    mem.swap_free(e);
    if mem.swap_count(e) == 1 {
        if let Some(pfn) = mem.swap_cache_find(e) {
            delete_from_swap_cache(mem, pfn);
        }
    }
}

/// Reads slot `e` into `target` (the page a fault waits for) and, in the
/// same request, the run of slots around it in its aligned window that
/// PTEs still name and the cache does not hold, each into a new page of
/// the cache. Without free memory for the others, or when their request
/// fails, only `e` is read. False on an I/O error reading `e`, with
/// nothing read ahead kept.
pub fn swap_in_cluster<M: UserMem>(mem: &M, e: SwapEntry, target: Pfn) -> bool {
    let Some(state) = mem.swap_ra_state() else { return swap_in_one(mem, e, target) };
    let max = 1u64 << PAGE_CLUSTER.load(Relaxed).min(SWAP_RA_MAX.trailing_zeros().into());
    let window = state.window(e.offset, max).next_power_of_two();
    let start = e.offset & !(window - 1);
    let slot = |offset: u64| SwapEntry { typ: e.typ, offset };
    // Slot 0 is the header.
    let wanted = |offset: u64| offset != 0 && mem.swap_count(slot(offset)) > 0 && mem.swap_cache_find(slot(offset)).is_none();
    let mut lo = e.offset;
    while lo > start && wanted(lo - 1) {
        lo -= 1;
    }
    let mut hi = e.offset + 1;
    while hi < start + window && wanted(hi) {
        hi += 1;
    }
    let (n, t) = ((hi - lo) as usize, (e.offset - lo) as usize);
    let mut pfns = [target; SWAP_RA_MAX];
    // Frees the pages taken for the others among the first `upto`.
    let release = |pfns: &[Pfn], upto: usize| (0..upto).filter(|&i| i != t).for_each(|i| mem.put_page(pfns[i]));
    for i in (0..n).filter(|&i| i != t) {
        match mem.alloc_page(GFP_READAHEAD) {
            Some(pfn) => pfns[i] = pfn,
            None => {
                release(&pfns, i);
                return swap_in_one(mem, e, target);
            }
        }
    }
    if !mem.swap_in_pages(slot(lo), &pfns[..n]) {
        // The error may be a neighbour's: the faulting slot alone decides
        // the fault, as in Linux, where readahead's reads are its own.
        release(&pfns, n);
        return swap_in_one(mem, e, target);
    }
    workingset_refault(mem, e, target);
    for (i, &pfn) in pfns[..n].iter().enumerate().filter(|&(i, _)| i != t) {
        let s = slot(lo + i as u64);
        workingset_refault(mem, s, pfn);
        mem.page(pfn).set(pg::ANON | pg::READAHEAD);
        add_to_swap_cache(mem, pfn, s);
        // The allocation's reference: the cache's is the one left.
        mem.put_page(pfn);
        SWAP_RA.fetch_add(1, Relaxed);
        if let Some(forgotten) = mem.swap_ra_note(s) {
            drop_readahead(mem, forgotten);
        }
    }
    true
}

/// Reads slot `e` alone into `target`.
fn swap_in_one<M: UserMem>(mem: &M, e: SwapEntry, target: Pfn) -> bool {
    let ok = mem.swap_in(e, target);
    if ok {
        workingset_refault(mem, e, target);
    }
    ok
}

/// A fault found the cached page `pfn`: if readahead brought it, that
/// was a hit.
pub fn readahead_hit<M: UserMem>(mem: &M, pfn: Pfn) {
    let page = mem.page(pfn);
    if page.test(pg::READAHEAD) {
        page.clear(pg::READAHEAD);
        SWAP_RA_HIT.fetch_add(1, Relaxed);
        if let Some(state) = mem.swap_ra_state() {
            state.hit();
        }
    }
}

/// Drops slot `e`'s page from the cache if readahead brought it and no
/// fault has used it (nothing maps it and only the cache holds it); its
/// data stays in the slot. Whether it went.
fn drop_readahead<M: UserMem>(mem: &M, e: SwapEntry) -> bool {
    let Some(pfn) = mem.swap_cache_find(e) else { return false };
    let page = mem.page(pfn);
    if page.test(pg::READAHEAD) && page.mapcount() == 0 && page.refcount() == 1 {
        delete_from_swap_cache(mem, pfn);
        workingset_eviction(mem, e);
        true
    } else {
        false
    }
}

/// Reclaim's first look (Linux's inactive list, where readahead puts its
/// pages): up to `nr` pages read ahead and never used are dropped, oldest
/// first. The pages dropped.
pub fn shrink_readahead<M: UserMem>(mem: &M, nr: u64) -> u64 {
    let mut dropped = 0;
    while dropped < nr {
        let Some(e) = mem.swap_ra_pop() else { break };
        dropped += u64::from(drop_readahead(mem, e));
    }
    dropped
}
