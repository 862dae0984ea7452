//! Flushing user translations (Linux `mm/mmu_gather.c` and the
//! `flush_tlb_*` helpers), counted as Linux's `vmstat` counts them.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::UserAddr;
use crate::mm::user_mem::UserMem;

/// Linux's `tlb_single_page_flush_ceiling`: an operation that changed more
/// translations than this flushes the whole TLB instead of page by page.
pub const TLB_SINGLE_PAGE_FLUSH_CEILING: usize = 33;

/// TLB flushes of user translations, as Linux's `vmstat` counts them
/// (`nr_tlb_local_flush_one`: one page; `nr_tlb_local_flush_all`: the
/// whole TLB).
pub static NR_TLB_LOCAL_FLUSH_ONE: AtomicU64 = AtomicU64::new(0);
pub static NR_TLB_LOCAL_FLUSH_ALL: AtomicU64 = AtomicU64::new(0);

/// Flushes one page's translation, counted.
#[inline]
pub fn flush_tlb_page<M: UserMem>(mem: &M, va: UserAddr) {
    NR_TLB_LOCAL_FLUSH_ONE.fetch_add(1, Relaxed);
    mem.flush_tlb_page(va.as_u64());
}

/// Flushes every user translation, counted.
pub fn flush_tlb_mm<M: UserMem>(mem: &M) {
    NR_TLB_LOCAL_FLUSH_ALL.fetch_add(1, Relaxed);
    mem.flush_tlb_mm();
}

/// The TLB side of one operation on an address space (Linux `struct
/// mmu_gather`): the addresses whose translations changed are gathered,
/// and [`finish`](Self::finish) flushes them once, page by page up to
/// [`TLB_SINGLE_PAGE_FLUSH_CEILING`], the whole TLB past it, instead of
/// an `invlpg` per page as the operation goes. (With one CPU a page may be
/// freed before the flush: nothing runs in user mode in between. Several
/// CPUs will need the frees deferred past it, as Linux batches them.)
pub struct TlbGather {
    pages: [UserAddr; TLB_SINGLE_PAGE_FLUSH_CEILING],
    n: usize,
    full: bool,
}

impl Default for TlbGather {
    fn default() -> Self {
        Self::new()
    }
}

impl TlbGather {
    pub const fn new() -> Self {
        Self { pages: [UserAddr::new(0); TLB_SINGLE_PAGE_FLUSH_CEILING], n: 0, full: false }
    }

    /// The translation of `va` changed.
    #[inline]
    pub fn add(&mut self, va: UserAddr) {
        if self.n < TLB_SINGLE_PAGE_FLUSH_CEILING {
            self.pages[self.n] = va;
            self.n += 1;
        } else {
            self.full = true;
        }
    }

    /// Translations changed wholesale (a page table moved).
    pub fn add_all(&mut self) {
        self.full = true;
    }

    /// Flushes what was gathered.
    pub fn finish<M: UserMem>(self, mem: &M) {
        if self.full {
            flush_tlb_mm(mem);
        } else {
            self.pages[..self.n].iter().for_each(|&va| flush_tlb_page(mem, va));
        }
    }
}
