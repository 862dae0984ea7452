//! Shared anonymous memory (Linux `shmem_zero_setup`: a `MAP_SHARED |
//! MAP_ANONYMOUS` mapping is backed by an unnamed shmem file, so every
//! process that inherits the mapping sees the same pages). Pages are
//! allocated zeroed on first fault and owned by the object (one reference
//! each); every PTE that maps one holds another.

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::mm::buddy::{__free_pages, alloc_page, page_to_pfn, pfn_to_page};
use crate::mm::gfp::{__GFP_NOWARN, __GFP_ZERO, GFP_HIGHUSER};
use crate::mm::page::pg;
use crate::sync::SpinLock;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);
/// Pages held by shmem objects (`/proc/meminfo` `Shmem`).
pub static NR_SHMEM: AtomicU64 = AtomicU64::new(0);

pub struct Shmem {
    ino: u64,
    /// Pages of the object.
    size_pages: u64,
    pages: SpinLock<BTreeMap<u64, Pfn>>,
}

impl Shmem {
    pub fn new(size_bytes: u64) -> Self {
        Self { ino: NEXT_INO.fetch_add(1, Relaxed), size_pages: size_bytes.div_ceil(4096), pages: SpinLock::new(BTreeMap::new()) }
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The object's size in pages.
    pub fn size_pages(&self) -> u64 {
        self.size_pages
    }

    /// The page at `index`, allocated (zeroed) on first use; `None` past
    /// the end or when out of memory.
    pub fn page(&self, index: u64) -> Option<Pfn> {
        if index >= self.size_pages {
            return None;
        }
        let mut pages = self.pages.lock();
        if let Some(&pfn) = pages.get(&index) {
            return Some(pfn);
        }
        let page = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN)?;
        page.set(pg::SHMEM);
        let pfn = page_to_pfn(page);
        pages.insert(index, pfn);
        NR_SHMEM.fetch_add(1, Relaxed);
        Some(pfn)
    }
}

impl Drop for Shmem {
    fn drop(&mut self) {
        for (_, pfn) in core::mem::take(&mut *self.pages.lock()) {
            let page = pfn_to_page(pfn);
            if page.refcount() == 1 {
                page.clear(pg::SHMEM);
            }
            __free_pages(page, 0);
            NR_SHMEM.fetch_sub(1, Relaxed);
        }
    }
}

impl Shmem {
    /// Whether page `index` has been allocated.
    pub fn cached(&self, index: u64) -> bool {
        self.find_page(index).is_some()
    }

    /// Page `index` if the object has it, without allocating (Linux
    /// `find_get_page` on the shmem mapping).
    pub fn find_page(&self, index: u64) -> Option<Pfn> {
        self.pages.lock().get(&index).copied()
    }

    /// Frees pages `[first, end)`, which read as zeroes after (`MADV_REMOVE`
    /// on shared anonymous memory). The caller unmaps them first; a page
    /// still mapped somewhere lives on until its last mapping goes.
    pub fn punch_hole(&self, first: u64, end: u64) {
        let gone: alloc::vec::Vec<Pfn> = {
            let mut pages = self.pages.lock();
            let keys: alloc::vec::Vec<u64> = pages.range(first..end).map(|(&k, _)| k).collect();
            keys.iter().filter_map(|k| pages.remove(k)).collect()
        };
        for pfn in gone {
            let page = pfn_to_page(pfn);
            if page.refcount() == 1 {
                page.clear(pg::SHMEM);
            }
            __free_pages(page, 0);
            NR_SHMEM.fetch_sub(1, Relaxed);
        }
    }
}
