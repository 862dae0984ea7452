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

use crate::mm::addr::Pfn;
use crate::mm::page::{pg, Page};
use crate::mm::swapfile::SwapEntry;
use crate::mm::user_mem::UserMem;

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
    page.clear(pg::SWAPCACHE);
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
