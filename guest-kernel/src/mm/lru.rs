//! The LRU lists of anonymous memory (Linux `struct lruvec`,
//! `mm/swap.c`, `include/linux/mm_inline.h`): an anonymous page that a
//! process maps is on one of its node's lists, newest at the head, from
//! when it is mapped until it is freed, except while reclaim holds it
//! (isolated). Reclaim takes its candidates from the tail of the inactive
//! list and refills that list from the tail of the active one
//! ([`vmscan`](crate::mm::vmscan)); pages it finds in a locked VMA go to
//! the unevictable list, which it never scans, until `munlock` puts them
//! back.
//!
//! A page on a list has `pg::LRU`, and `pg::UNEVICTABLE` or `pg::ACTIVE`
//! say which. New pages start inactive, as in Linux since 5.9, so a page
//! must be used again before it is promoted; a page that refaults within
//! the working set (`workingset_refault`) starts active. A huge page is
//! one entry and counts as its 512 pages. Pages read ahead into the swap
//! cache join when a fault maps them. Pages of the page cache and of
//! shmem are not here: they live in RAM (ramfs), with no backing store to
//! write them to, like Linux's tmpfs without swap.
//!
//! There is one CPU, so pages go onto the lists at once instead of through
//! Linux's per-CPU `folio_batch`es, which exist to spare the lock.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::mm::addr::HPAGE_PMD_NR;
use crate::mm::page::{pg, FlagNames, Page, PageDescs, PageList, NIL};
use crate::sync::SpinLock;

/// Which list (Linux `enum lru_list`: the anonymous lists and the
/// unevictable one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LruList {
    InactiveAnon,
    ActiveAnon,
    Unevictable,
}

impl LruList {
    const ALL: [Self; 3] = [Self::InactiveAnon, Self::ActiveAnon, Self::Unevictable];

    /// The list a page with these flags belongs on (Linux
    /// `folio_lru_list`).
    fn of(page: &Page) -> Self {
        if page.test(pg::UNEVICTABLE) {
            Self::Unevictable
        } else if page.test(pg::ACTIVE) {
            Self::ActiveAnon
        } else {
            Self::InactiveAnon
        }
    }
}

/// The pages a list entry stands for (Linux `folio_nr_pages`).
fn nr_pages(page: &Page) -> u64 {
    if page.test(pg::LARGE) {
        HPAGE_PMD_NR
    } else {
        1
    }
}

/// The LRU lists of a node (Linux `struct lruvec`), with the pages on
/// each (`lru_zone_size`).
#[derive(Default)]
pub struct Lruvec {
    lists: [PageList; 3],
    pages: [u64; 3],
}

/// What the lists need of the memory whose pages they hold: the
/// descriptors and the lists themselves (user memory gives both).
pub trait LruMem: Copy {
    fn lru_page(&self, pfn: Pfn) -> &Page;
    /// `None` where pages are not reclaimed.
    fn lru_lists(&self) -> Option<&SpinLock<Lruvec>>;
}

/// A user memory's page descriptors, for the lists' links.
struct Descs<'a, M: LruMem>(&'a M);

impl<M: LruMem> PageDescs for Descs<'_, M> {
    #[inline(always)]
    fn desc(&self, pfn: Pfn) -> &Page {
        self.0.lru_page(pfn)
    }
}

impl Lruvec {
    pub const fn new() -> Self {
        Self { lists: [PageList::new(), PageList::new(), PageList::new()], pages: [0; 3] }
    }

    /// Pages on a list (a huge page counting 512).
    pub fn len(&self, lru: LruList) -> u64 {
        self.pages[lru as usize]
    }

    /// Puts a page that is on no list at the head of the one its flags
    /// name (Linux `lruvec_add_folio`).
    pub fn add<M: LruMem>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.lru_page(pfn);
        debug_assert!(!page.test(pg::LRU), "pfn {pfn:?} is on an LRU list already");
        page.set(pg::LRU);
        let lru = LruList::of(page) as usize;
        self.lists[lru].push_front(&Descs(mem), pfn);
        self.pages[lru] += nr_pages(page);
    }

    /// Takes a page off its list (Linux `lruvec_del_folio`).
    pub fn del<M: LruMem>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.lru_page(pfn);
        debug_assert!(page.test(pg::LRU), "pfn {pfn:?} is on no LRU list");
        let lru = LruList::of(page) as usize;
        self.lists[lru].remove(&Descs(mem), pfn);
        self.pages[lru] -= nr_pages(page);
        page.clear(pg::LRU);
    }

    /// Takes the page at the tail of a list off it (Linux
    /// `isolate_lru_folios`, one at a time): the oldest.
    pub fn isolate_tail<M: LruMem>(&mut self, mem: &M, lru: LruList) -> Option<Pfn> {
        let pfn = self.lists[lru as usize].pop_back(&Descs(mem))?;
        let page = mem.lru_page(pfn);
        self.pages[lru as usize] -= nr_pages(page);
        page.clear(pg::LRU);
        Some(pfn)
    }

    /// The pages of a list from the head, for a look that changes nothing.
    pub fn iter<'a, M: LruMem + 'a>(&self, mem: &'a M, lru: LruList) -> impl Iterator<Item = Pfn> + 'a {
        let mut at = self.lists[lru as usize].head;
        core::iter::from_fn(move || {
            let pfn = (at != NIL).then(|| Pfn::new(at.into()))?;
            at = mem.lru_page(pfn).lru_next.load(Relaxed);
            Some(pfn)
        })
    }

    /// Checks the lists against their pages: each page has the flags of
    /// its list and a reference, and the counts add up. For the tests.
    pub fn check<M: LruMem>(&self, mem: &M) -> Result<(), alloc::string::String> {
        for lru in LruList::ALL {
            let mut pages = 0;
            for pfn in self.iter(mem, lru) {
                let page = mem.lru_page(pfn);
                if !page.test(pg::LRU) || LruList::of(page) != lru || page.refcount() <= 0 {
                    return Err(alloc::format!("pfn {:#x} on {lru:?}: {} refcount {}", pfn.as_u64(), FlagNames(page.flags()), page.refcount()));
                }
                pages += nr_pages(page);
            }
            if pages != self.len(lru) {
                return Err(alloc::format!("{lru:?}: {pages} pages on the list, {} counted", self.len(lru)));
            }
        }
        Ok(())
    }
}

/// Puts a newly mapped anonymous page on its list (Linux
/// `folio_add_lru`): inactive, or active if a refault activated it. A
/// page on a list already stays where it is.
pub fn lru_cache_add<M: LruMem>(mem: &M, pfn: Pfn) {
    if mem.lru_page(pfn).test(pg::LRU) {
        return;
    }
    if let Some(lruvec) = mem.lru_lists() {
        lruvec.lock().add(mem, pfn);
    }
}

/// A huge page on a list is about to be split: from now on its entry
/// stands for its first page alone.
pub fn split_head<M: LruMem>(mem: &M, head: Pfn) {
    let page = mem.lru_page(head);
    if !page.test(pg::LRU) || !page.test(pg::LARGE) {
        return;
    }
    if let Some(lruvec) = mem.lru_lists() {
        lruvec.lock().pages[LruList::of(page) as usize] -= HPAGE_PMD_NR - 1;
    }
}

/// Puts a page split off a huge page on the list of the huge page's first
/// page, right behind it (Linux `lru_add_split_folio`), so that it ages
/// with it. With the first page off the lists (isolated by reclaim), at
/// the tail of its list, where reclaim looks next.
pub fn add_split_tail<M: LruMem>(mem: &M, head: Pfn, tail: Pfn) {
    let Some(lruvec) = mem.lru_lists() else { return };
    let (first, page) = (mem.lru_page(head), mem.lru_page(tail));
    page.set(first.flags() & (pg::ACTIVE | pg::UNEVICTABLE));
    page.set(pg::LRU);
    let lru = LruList::of(page) as usize;
    let mut lruvec = lruvec.lock();
    if first.test(pg::LRU) {
        lruvec.lists[lru].insert_after(&Descs(mem), head, tail);
    } else {
        lruvec.lists[lru].push_back(&Descs(mem), tail);
    }
    lruvec.pages[lru] += 1;
}

/// Moves a page to the head of the inactive list, so that it is
/// reclaimed after the pages already there (Linux `folio_deactivate`, for
/// `MADV_COLD`). A page off the lists (isolated by reclaim) only loses
/// its activation.
pub fn deactivate<M: LruMem>(mem: &M, pfn: Pfn) {
    move_to(mem, pfn, pg::ACTIVE | pg::REFERENCED);
}

/// Puts a page reclaim found locked back on the evictable lists, inactive
/// (Linux `munlock_folio` -> `folio_putback_lru`): its VMA was unlocked.
/// A page another locked VMA still maps goes back to the unevictable list
/// at reclaim's next look.
pub fn putback_evictable<M: LruMem>(mem: &M, pfn: Pfn) {
    if mem.lru_page(pfn).test(pg::UNEVICTABLE) {
        move_to(mem, pfn, pg::UNEVICTABLE | pg::ACTIVE | pg::REFERENCED);
        UNEVICTABLE_PGS_RESCUED.fetch_add(1, Relaxed);
    }
}

/// Pages `munlock` put back on the evictable lists
/// (`unevictable_pgs_rescued`).
pub static UNEVICTABLE_PGS_RESCUED: AtomicU64 = AtomicU64::new(0);

/// Clears `clear` in a page's flags, moving it to the head of the list
/// they then name if it is on one.
fn move_to<M: LruMem>(mem: &M, pfn: Pfn, clear: u32) {
    let page = mem.lru_page(pfn);
    let Some(lruvec) = mem.lru_lists() else { return };
    let mut lruvec = lruvec.lock();
    let on_list = page.test(pg::LRU);
    if on_list {
        lruvec.del(mem, pfn);
    }
    page.clear(clear);
    if on_list {
        lruvec.add(mem, pfn);
    }
}

/// Before the last reference to a page goes: off its list (Linux
/// `page_cache_release` from `__folio_put`), and no longer active.
#[inline]
pub fn release_if_last<M: LruMem>(mem: &M, pfn: Pfn) {
    let page = mem.lru_page(pfn);
    if page.refcount() != 1 {
        return;
    }
    if page.test(pg::LRU) {
        if let Some(lruvec) = mem.lru_lists() {
            lruvec.lock().del(mem, pfn);
        }
    }
    page.clear(pg::ACTIVE | pg::REFERENCED | pg::UNEVICTABLE);
}
