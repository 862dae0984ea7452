//! The LRU lists of anonymous memory (Linux `struct lruvec`,
//! `mm/swap.c`, `include/linux/mm_inline.h`): every anonymous page that a
//! process maps is on the inactive or the active list of its node until
//! it is freed, newest at the head. Reclaim takes its candidates from the
//! tail of the inactive list and refills that list from the tail of the
//! active one ([`vmscan`](crate::mm::vmscan)).
//!
//! A page on a list has `pg::LRU`, and `pg::ACTIVE` says which list. New
//! pages start inactive, as in Linux since 5.9, so a page must be used
//! again before it is promoted; a page that refaults within the working
//! set (`workingset_refault`) starts active. Pages of the page cache and
//! of shmem are not here: they live in RAM (ramfs), with no backing store
//! to write them to, like Linux's tmpfs without swap.
//!
//! There is one CPU, so pages go onto the lists at once instead of through
//! Linux's per-CPU `folio_batch`es, which exist to spare the lock.

use core::sync::atomic::Ordering::Relaxed;

use crate::mm::addr::Pfn;
use crate::mm::page::{pg, Page, PageDescs, PageList, NIL};
use crate::mm::uvm::UserMem;

/// Which list (Linux `enum lru_list`, the anonymous half).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LruList {
    InactiveAnon,
    ActiveAnon,
}

impl LruList {
    /// The list a page with these flags belongs on (Linux
    /// `folio_lru_list`).
    fn of(page: &Page) -> Self {
        if page.test(pg::ACTIVE) {
            Self::ActiveAnon
        } else {
            Self::InactiveAnon
        }
    }
}

/// The LRU lists of a node (Linux `struct lruvec`).
#[derive(Default)]
pub struct Lruvec {
    inactive_anon: PageList,
    active_anon: PageList,
}

/// A user memory's page descriptors, for the lists' links.
struct Descs<'a, M: UserMem>(&'a M);

impl<M: UserMem> PageDescs for Descs<'_, M> {
    #[inline(always)]
    fn desc(&self, pfn: Pfn) -> &Page {
        self.0.page(pfn)
    }
}

impl Lruvec {
    pub const fn new() -> Self {
        Self { inactive_anon: PageList::new(), active_anon: PageList::new() }
    }

    fn list(&mut self, lru: LruList) -> &mut PageList {
        match lru {
            LruList::InactiveAnon => &mut self.inactive_anon,
            LruList::ActiveAnon => &mut self.active_anon,
        }
    }

    /// Pages on a list.
    pub fn len(&self, lru: LruList) -> u64 {
        match lru {
            LruList::InactiveAnon => self.inactive_anon.len,
            LruList::ActiveAnon => self.active_anon.len,
        }
    }

    /// Puts a page that is on no list at the head of the one its flags
    /// name (Linux `lruvec_add_folio`).
    pub fn add<M: UserMem>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.page(pfn);
        debug_assert!(!page.test(pg::LRU), "pfn {pfn:?} is on an LRU list already");
        page.set(pg::LRU);
        self.list(LruList::of(page)).push_front(&Descs(mem), pfn);
    }

    /// Takes a page off its list (Linux `lruvec_del_folio`).
    pub fn del<M: UserMem>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.page(pfn);
        debug_assert!(page.test(pg::LRU), "pfn {pfn:?} is on no LRU list");
        self.list(LruList::of(page)).remove(&Descs(mem), pfn);
        page.clear(pg::LRU);
    }

    /// Takes the page at the tail of a list off it (Linux
    /// `isolate_lru_folios`, one at a time): the oldest.
    pub fn isolate_tail<M: UserMem>(&mut self, mem: &M, lru: LruList) -> Option<Pfn> {
        let pfn = self.list(lru).pop_back(&Descs(mem))?;
        mem.page(pfn).clear(pg::LRU);
        Some(pfn)
    }

    /// The pages of a list from the head, for a look that changes nothing.
    pub fn iter<'a, M: UserMem + 'a>(&self, mem: &'a M, lru: LruList) -> impl Iterator<Item = Pfn> + 'a {
        let mut at = match lru {
            LruList::InactiveAnon => self.inactive_anon.head,
            LruList::ActiveAnon => self.active_anon.head,
        };
        core::iter::from_fn(move || {
            let pfn = (at != NIL).then(|| Pfn::new(at.into()))?;
            at = mem.page(pfn).lru_next.load(Relaxed);
            Some(pfn)
        })
    }
}

/// Puts a newly mapped anonymous page on its list (Linux
/// `folio_add_lru`): inactive, or active if a refault activated it. A
/// page on a list already stays where it is.
pub fn lru_cache_add<M: UserMem>(mem: &M, pfn: Pfn) {
    if mem.page(pfn).test(pg::LRU) {
        return;
    }
    if let Some(lruvec) = mem.lruvec() {
        lruvec.lock().add(mem, pfn);
    }
}

/// Puts a page split off a huge page on the list of the huge page's
/// first page (Linux `lru_add_split_folio`), as old as it: at the tail.
/// With the first page off the lists (isolated by reclaim), on the tail
/// of the inactive one, to be looked at soon.
pub fn add_split_tail<M: UserMem>(mem: &M, head: Pfn, tail: Pfn) {
    let Some(lruvec) = mem.lruvec() else { return };
    let (first, page) = (mem.page(head), mem.page(tail));
    if first.test(pg::LRU) && first.test(pg::ACTIVE) {
        page.set(pg::ACTIVE);
    }
    let mut lruvec = lruvec.lock();
    page.set(pg::LRU);
    lruvec.list(LruList::of(page)).push_back(&Descs(mem), tail);
}

/// Moves a page to the head of the inactive list, so that it is
/// reclaimed after the pages already there (Linux `folio_deactivate`, for
/// `MADV_COLD`). A page off the lists (isolated by reclaim) only loses
/// its activation.
pub fn deactivate<M: UserMem>(mem: &M, pfn: Pfn) {
    let page = mem.page(pfn);
    let Some(lruvec) = mem.lruvec() else { return };
    let mut lruvec = lruvec.lock();
    if page.test(pg::LRU) {
        lruvec.del(mem, pfn);
        page.clear(pg::ACTIVE);
        lruvec.add(mem, pfn);
    } else {
        page.clear(pg::ACTIVE);
    }
}

/// Before the last reference to a page goes: off its list (Linux
/// `page_cache_release` from `__folio_put`), and no longer active.
#[inline]
pub fn release_if_last<M: UserMem>(mem: &M, pfn: Pfn) {
    let page = mem.page(pfn);
    if page.refcount() != 1 {
        return;
    }
    if page.test(pg::LRU) {
        if let Some(lruvec) = mem.lruvec() {
            lruvec.lock().del(mem, pfn);
        }
    }
    page.clear(pg::ACTIVE | pg::REFERENCED);
}
