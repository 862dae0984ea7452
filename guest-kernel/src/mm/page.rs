//! `struct page`: one 32-byte descriptor per physical page frame, and the
//! memory they describe, behind the [`PhysMem`] trait.
//!
//! The descriptors form one virtually contiguous array indexed by PFN (Linux
//! `vmemmap`), backed only where RAM exists. A descriptor of all zeroes is
//! valid and means "not initialised yet": the memory map is initialised
//! lazily, a block at a time, when the buddy allocator first puts a block on
//! a free list or hands it out (Linux `DEFERRED_STRUCT_PAGE_INIT`).
//!
//! Fields use relaxed atomics: on x86-64 they compile to plain moves, and
//! they let every CPU work through shared references.

use crate::mm::addr::Pfn;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};

/// "No page" in the PFN-linked lists.
pub const NIL: u32 = u32::MAX;

/// Page flags (Linux `PG_*`), with the zone in the top bits as Linux keeps
/// it in `page->flags`.
pub mod pg {
    /// The descriptor has been initialised (lazy memory map).
    pub const INIT: u32 = 1 << 0;
    /// Head of a free block in the buddy allocator (`PageBuddy`).
    pub const BUDDY: u32 = 1 << 1;
    /// Free and known to read as zero (FreeBSD's `PG_ZERO`): memory the host
    /// never handed out, not yet used. On a free block it holds for the
    /// whole block.
    pub const ZERO: u32 = 1 << 2;
    pub const RESERVED: u32 = 1 << 3;
    pub const LRU: u32 = 1 << 4;
    pub const SLAB: u32 = 1 << 5;
    /// First page of a compound allocation (`__GFP_COMP`).
    pub const HEAD: u32 = 1 << 6;
    /// Other pages of a compound allocation; `private` holds the head PFN.
    pub const TAIL: u32 = 1 << 7;
    /// Filled with `PAGE_POISON` when freed (`page_debug=1 page_poison=1`).
    pub const POISONED: u32 = 1 << 8;
    /// On a per-CPU free list.
    pub const PCP: u32 = 1 << 9;
    /// Mapped anonymous memory of a process (Linux `PageAnon`).
    pub const ANON: u32 = 1 << 10;
    /// A page of a shared anonymous (shmem) object.
    pub const SHMEM: u32 = 1 << 11;
    /// In the swap cache (Linux `PG_swapcache`): `private` holds its swap
    /// entry, and the cache holds a reference.
    pub const SWAPCACHE: u32 = 1 << 12;
    /// On a free block: given to the host by free page reporting (Linux
    /// `PageReported`) and not allocated or merged since; its memory reads
    /// as zero, so [`ZERO`] is set too.
    pub const REPORTED: u32 = 1 << 13;

    /// The first page of a transparent huge page while PMDs map it; its
    /// `page_type` word counts them (Linux's `_entire_mapcount`).
    pub const PMD_MAPPED: u32 = 1 << 14;
    /// The first page of a transparent huge page whose other 511
    /// descriptors are not set up: its counts stand for all 512 pages
    /// (Linux's large folio, whose refcount lives in the head). Cleared
    /// when the huge page is split into pages with counts of their own.
    pub const LARGE: u32 = 1 << 15;
    /// A page of the swap cache read ahead of any fault (Linux
    /// `PG_readahead` on a swap cache folio): cleared by the first fault
    /// that finds it (`swap_ra_hit`).
    pub const READAHEAD: u32 = 1 << 16;
    /// On the active LRU list rather than the inactive one, or bound for it
    /// (Linux `PG_active`): a page used again while inactive, or one that
    /// refaulted within the workingset.
    pub const ACTIVE: u32 = 1 << 17;
    /// Found used once by reclaim while inactive (Linux `PG_referenced`):
    /// found used again, it is activated.
    pub const REFERENCED: u32 = 1 << 18;
    /// On the unevictable LRU list (Linux `PG_unevictable`): reclaim found
    /// it mapped by a locked VMA; `munlock` puts it back.
    pub const UNEVICTABLE: u32 = 1 << 19;
    pub const ZONE_SHIFT: u32 = 28;
    pub const ZONE_MASK: u32 = 0x3 << ZONE_SHIFT;

    /// Flags that must be clear on a page being freed (Linux
    /// `PAGE_FLAGS_CHECK_AT_FREE`).
    pub const CHECK_AT_FREE: u32 = BUDDY | PCP | SLAB | LRU | RESERVED | SWAPCACHE | PMD_MAPPED | LARGE;

    /// Names for dumps, in bit order.
    pub const NAMES: [(u32, &str); 20] = [
        (INIT, "init"),
        (BUDDY, "buddy"),
        (ZERO, "zero"),
        (RESERVED, "reserved"),
        (LRU, "lru"),
        (SLAB, "slab"),
        (HEAD, "head"),
        (TAIL, "tail"),
        (POISONED, "poisoned"),
        (PCP, "pcp"),
        (ANON, "anon"),
        (SHMEM, "shmem"),
        (SWAPCACHE, "swapcache"),
        (REPORTED, "reported"),
        (PMD_MAPPED, "pmd_mapped"),
        (LARGE, "large"),
        (READAHEAD, "readahead"),
        (ACTIVE, "active"),
        (REFERENCED, "referenced"),
        (UNEVICTABLE, "unevictable"),
    ];
}

/// The byte freed pages are filled with under `page_poison=1` (Linux
/// `PAGE_POISON`).
pub const PAGE_POISON: u8 = 0xaa;

#[repr(C)]
#[derive(Default)]
pub struct Page {
    pub flags: AtomicU32,
    /// References; 0 while free.
    pub _refcount: AtomicI32,
    /// Page-table mappings minus one (Linux's encoding: -1 = unmapped).
    pub _mapcount: AtomicI32,
    /// Reserved for a page type (slab, page table, ...).
    pub page_type: AtomicU32,
    /// List links by PFN ([`NIL`] for none): the buddy free lists, the
    /// per-CPU lists, later the LRU.
    pub lru_prev: AtomicU32,
    pub lru_next: AtomicU32,
    /// Owner's word: the order of a free buddy block, the head PFN of a
    /// compound tail.
    pub private: AtomicU64,
    /// For an anonymous page (`pg::ANON`): the family of address spaces
    /// whose mappings may map it (Linux's `mapping` pointing at an
    /// `anon_vma`; see [`rmap`](crate::mm::rmap)).
    pub mapping: AtomicU64,
    /// For an anonymous page: its linear index in the VMA that made it
    /// (Linux `index`, `linear_page_index`), from which the reverse map
    /// finds its address in each address space of the family.
    pub index: AtomicU64,
}

// Linux's struct page is 64 bytes; ours takes three quarters of that.
const _: () = assert!(core::mem::size_of::<Page>() == 48);

impl Page {
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags.load(Relaxed)
    }
    #[inline]
    pub fn test(&self, flag: u32) -> bool {
        self.flags() & flag != 0
    }
    #[inline]
    pub fn set(&self, flag: u32) {
        self.flags.fetch_or(flag, Relaxed);
    }
    #[inline]
    pub fn clear(&self, flag: u32) {
        self.flags.fetch_and(!flag, Relaxed);
    }
    #[inline]
    pub fn is_initialised(&self) -> bool {
        self.test(pg::INIT)
    }
    #[inline]
    pub fn zone_idx(&self) -> usize {
        ((self.flags() & pg::ZONE_MASK) >> pg::ZONE_SHIFT) as usize
    }
    #[inline]
    pub fn refcount(&self) -> i32 {
        self._refcount.load(Relaxed)
    }
    /// Number of page-table mappings (Linux `page_mapcount`).
    #[inline]
    pub fn mapcount(&self) -> i32 {
        self._mapcount.load(Relaxed) + 1
    }
    #[inline]
    pub fn private(&self) -> u64 {
        self.private.load(Relaxed)
    }
    /// Order of the free block this page heads (valid with `pg::BUDDY`).
    #[inline]
    pub fn buddy_order(&self) -> u32 {
        self.private() as u32
    }

    /// Initialises the descriptor of an in-use page of zone `zone` (Linux
    /// `__init_single_page` plus `prep_new_page` for one page).
    #[inline]
    pub fn init_allocated(&self, zone: usize, refcount: i32, extra_flags: u32) {
        self.flags.store(pg::INIT | ((zone as u32) << pg::ZONE_SHIFT) | extra_flags, Relaxed);
        self._refcount.store(refcount, Relaxed);
        self._mapcount.store(-1, Relaxed);
        self.page_type.store(0, Relaxed);
        self.lru_prev.store(NIL, Relaxed);
        self.lru_next.store(NIL, Relaxed);
        self.private.store(0, Relaxed);
        self.mapping.store(0, Relaxed);
        self.index.store(0, Relaxed);
    }
}

/// Where an anonymous page belongs: its family and its linear index
/// (Linux's `anon_vma` and `linear_page_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnonRmap {
    pub family: u64,
    pub index: u64,
}

impl AnonRmap {
    /// Records it in `page`, anonymous memory (Linux `__folio_set_anon`).
    #[inline]
    pub fn set(self, page: &Page) {
        page.mapping.store(self.family, Relaxed);
        page.index.store(self.index, Relaxed);
    }

    /// The same family `n` pages further on.
    #[inline]
    pub fn offset(self, n: u64) -> Self {
        Self { index: self.index + n, ..self }
    }
}

/// The family and linear index of an anonymous page (`None` for any other).
#[inline]
pub fn page_anon_rmap(page: &Page) -> Option<AnonRmap> {
    let family = page.mapping.load(Relaxed);
    (page.test(pg::ANON) && family != 0).then(|| AnonRmap { family, index: page.index.load(Relaxed) })
}

/// Physical memory as the page allocator sees it: the memory map and the
/// page frames. The kernel implements it over the vmemmap and the direct
/// map (with a temporary mapping for HighMem); tests over a `Vec`.
pub trait PhysMem: Sync {
    /// The descriptor of `pfn`. Only called for PFNs inside a max-order
    /// block that contains RAM, whose memory map must be backed.
    fn page(&self, pfn: Pfn) -> &Page;
    /// Zeroes the page frame.
    fn clear_page(&self, pfn: Pfn);
    /// Zeroes `n` consecutive frames (a block of a higher order: the VMM
    /// may take them in batches).
    fn clear_pages(&self, pfn: Pfn, n: u64) {
        (0..n).for_each(|i| self.clear_page(pfn + i));
    }
    /// Fills the page frame with [`PAGE_POISON`].
    fn poison_page(&self, pfn: Pfn);
    /// Offset of the first byte of the page frame that is not
    /// [`PAGE_POISON`], if any.
    fn check_poison(&self, pfn: Pfn) -> Option<usize>;
    /// Where the frame is permanently mapped (the direct map); `None` for
    /// frames outside it (HighMem), which need a temporary mapping.
    fn frame_ptr(&self, pfn: Pfn) -> Option<*mut u8>;
    /// The PFN behind a pointer into a permanently mapped frame (inverse of
    /// `frame_ptr`); `None` for pointers outside the direct map.
    fn ptr_to_pfn(&self, ptr: *const u8) -> Option<Pfn>;
    /// The PFN and page behind a direct-map pointer (Linux `virt_to_page`).
    #[inline(always)]
    fn virt_to_page(&self, ptr: *const u8) -> Option<(Pfn, &Page)> {
        let pfn = self.ptr_to_pfn(ptr)?;
        Some((pfn, self.page(pfn)))
    }
}

/// What a [`PageList`] needs of memory: the descriptors. Physical memory
/// has them; so has user memory, whose pages sit on the LRU lists.
pub trait PageDescs {
    fn desc(&self, pfn: Pfn) -> &Page;
}

impl<T: PhysMem + ?Sized> PageDescs for T {
    #[inline(always)]
    fn desc(&self, pfn: Pfn) -> &Page {
        self.page(pfn)
    }
}

/// A doubly linked list of pages threaded through `lru_prev`/`lru_next`.
#[derive(Clone, Copy, Debug)]
pub struct PageList {
    pub head: u32,
    pub tail: u32,
    pub len: u64,
}

impl PageList {
    #[inline]
    pub const fn new() -> Self {
        Self { head: NIL, tail: NIL, len: 0 }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }

    #[inline]
    pub fn push_front<M: PageDescs + ?Sized>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.desc(pfn);
        page.lru_prev.store(NIL, Relaxed);
        page.lru_next.store(self.head, Relaxed);
        if self.head == NIL {
            self.tail = link(pfn);
        } else {
            mem.desc(Pfn::new(self.head.into())).lru_prev.store(link(pfn), Relaxed);
        }
        self.head = link(pfn);
        self.len += 1;
    }

    #[inline]
    pub fn push_back<M: PageDescs + ?Sized>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.desc(pfn);
        page.lru_next.store(NIL, Relaxed);
        page.lru_prev.store(self.tail, Relaxed);
        if self.tail == NIL {
            self.head = link(pfn);
        } else {
            mem.desc(Pfn::new(self.tail.into())).lru_next.store(link(pfn), Relaxed);
        }
        self.tail = link(pfn);
        self.len += 1;
    }

    /// Unlinks `pfn`, which must be on this list.
    #[inline]
    pub fn remove<M: PageDescs + ?Sized>(&mut self, mem: &M, pfn: Pfn) {
        let page = mem.desc(pfn);
        let (prev, next) = (page.lru_prev.load(Relaxed), page.lru_next.load(Relaxed));
        if prev == NIL {
            self.head = next;
        } else {
            mem.desc(Pfn::new(prev.into())).lru_next.store(next, Relaxed);
        }
        if next == NIL {
            self.tail = prev;
        } else {
            mem.desc(Pfn::new(next.into())).lru_prev.store(prev, Relaxed);
        }
        self.len -= 1;
    }

    /// Links `pfn` in right after `at`, which is on this list (towards the
    /// back).
    #[inline]
    pub fn insert_after<M: PageDescs + ?Sized>(&mut self, mem: &M, at: Pfn, pfn: Pfn) {
        let next = mem.desc(at).lru_next.load(Relaxed);
        let page = mem.desc(pfn);
        page.lru_prev.store(link(at), Relaxed);
        page.lru_next.store(next, Relaxed);
        mem.desc(at).lru_next.store(link(pfn), Relaxed);
        if next == NIL {
            self.tail = link(pfn);
        } else {
            mem.desc(Pfn::new(next.into())).lru_prev.store(link(pfn), Relaxed);
        }
        self.len += 1;
    }

    #[inline]
    /// The list's pages from the front, for a look that changes nothing.
    pub fn iter<'a, M: PageDescs + ?Sized>(&self, mem: &'a M) -> impl Iterator<Item = Pfn> + 'a {
        let mut at = self.head;
        core::iter::from_fn(move || {
            let pfn = (at != NIL).then(|| Pfn::new(at.into()))?;
            at = mem.desc(pfn).lru_next.load(Relaxed);
            Some(pfn)
        })
    }

    pub fn pop_front<M: PageDescs + ?Sized>(&mut self, mem: &M) -> Option<Pfn> {
        let pfn = (self.head != NIL).then(|| Pfn::new(self.head.into()))?;
        self.remove(mem, pfn);
        Some(pfn)
    }

    #[inline]
    pub fn pop_back<M: PageDescs + ?Sized>(&mut self, mem: &M) -> Option<Pfn> {
        let pfn = (self.tail != NIL).then(|| Pfn::new(self.tail.into()))?;
        self.remove(mem, pfn);
        Some(pfn)
    }
}

/// A PFN as the list links store it (32 bits cover 16 TiB of RAM).
#[inline(always)]
fn link(pfn: Pfn) -> u32 {
    pfn.as_u64() as u32
}

impl Default for PageList {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `flags` as Linux's `%pGp` does: `0x...(name|name)`.
pub struct FlagNames(pub u32);

impl core::fmt::Display for FlagNames {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}(", self.0)?;
        let mut first = true;
        for (bit, name) in pg::NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        write!(f, "|zone={})", (self.0 & pg::ZONE_MASK) >> pg::ZONE_SHIFT)
    }
}
