//! The user-memory core on the host: the kernel's own fault, COW, fork,
//! mprotect, munmap, mremap and exit code (`mm::memory`, `mm::mm_types`,
//! `mm::uvm`, the `VmaTree` operations) run over `FakeRam` with the real
//! page allocator, and random sequences over several address spaces are
//! checked against a model that knows only Linux's semantics:
//!
//! - every word a process reads is what it, a process sharing the page, or
//!   the object behind the mapping last wrote there (zero when nothing
//!   did), and private copies stay private across fork;
//! - an access the protection forbids is refused, one it allows succeeds;
//! - after every step every mapped page's map count is its number of PTEs
//!   and its reference count that plus the owner's (rmapcheck), the RSS
//!   counters agree with the PTEs, no PTE maps the zero page writable and
//!   the zero page reads zero, and no freed page was written (poison);
//! - at the end, with every process gone and the objects freed, every page
//!   is back in the allocator.
//!
//! The hardware's part (a PTE that allows the access needs no fault) is
//! played by the test: it looks at the PTE, calls `handle_mm_fault` when
//! the access would fault, and then reads or writes the frame itself.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use proptest::prelude::*;

use crate::mm::addr::{Pfn, PhysAddr, UserAddr, PAGE_SIZE};
use crate::mm::fake::FakeRam;
use crate::mm::gfp::{Gfp, __GFP_ZERO, GFP_HIGHUSER, GFP_KERNEL};
use crate::mm::memory::{handle_mm_fault, FaultError, VmObject, PF_USER, PF_WRITE};
use crate::mm::mm_types::MmStruct;
use crate::mm::mmap::{MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE};
use crate::mm::mremap::MREMAP_MAYMOVE;
use crate::mm::page::{pg, Page, PhysMem};
use crate::mm::page_alloc::{AllocConfig, PageAlloc};
use crate::mm::pgtable::Table;
use crate::mm::uvm::{is_anon, SwapEntry, UserMem};

/// 32 MiB: enough for a few processes of a few dozen pages and their
/// tables, and a few huge pages of 512.
const PAGES: u64 = 8192;
/// Pages of a mapping advised `MADV_HUGEPAGE`: 4 MiB holds at least one
/// aligned 2 MiB, wherever it lands.
const HUGE_MAPPING_PAGES: u64 = 1024;

fn ua(addr: u64) -> UserAddr {
    UserAddr::new(addr)
}
const STACK_RLIMIT: u64 = 8 << 20;

/// The physical memory of one test: the page allocator over `FakeRam`
/// (with `page_debug` and poisoning, so that a write into a freed page is
/// caught) and a zero page.
struct Host {
    pa: PageAlloc<FakeRam>,
    zero: Pfn,
    /// TLB flushes asked for: of one page, of everything.
    flushes: std::cell::Cell<(u64, u64)>,
    /// A swap device in memory: per slot, how many PTEs name it and the
    /// page's first word (what the model tracks).
    swap: std::cell::RefCell<Vec<(u32, u64)>>,
    /// Every swap-in fails, as on a device I/O error.
    swap_in_fails: std::cell::Cell<bool>,
    /// Reads of this one slot fail.
    swap_in_fails_at: std::cell::Cell<Option<u64>>,
    /// The swap cache's index: slot offset to page.
    swap_cache: std::cell::RefCell<BTreeMap<u64, Pfn>>,
    /// Pages written to and read from swap, and the read requests.
    swap_writes: std::cell::Cell<u64>,
    swap_reads: std::cell::Cell<u64>,
    swap_read_requests: std::cell::Cell<u64>,
    /// The slots readahead cached, oldest first (a small ring, so that
    /// forgetting is tested too).
    readahead: RefCell<std::collections::VecDeque<SwapEntry>>,
    readahead_state: crate::mm::swapfile::SwapRaState,
    /// The workingset clock, and the shadows evicted pages left per slot.
    workingset: crate::mm::swapfile::Workingset,
    shadows: RefCell<BTreeMap<u64, u64>>,
    lruvec: crate::sync::SpinLock<crate::mm::lru::Lruvec>,
}

/// The host's readahead ring holds this many slots.
const HOST_READAHEAD_RING: usize = 12;

impl Host {
    fn new() -> Self {
        Self::with_config(AllocConfig { page_debug: true, page_poison: true })
    }

    fn with_config(config: AllocConfig) -> Self {
        let mut pa = PageAlloc::new(FakeRam::new(PAGES, true), [(0, PAGES / 4), (PAGES / 4, PAGES), (0, 0), (0, 0)], config);
        pa.add_present(Pfn::new(0), Pfn::new(PAGES));
        pa.free_boot_range(Pfn::new(1), Pfn::new(PAGES), true);
        pa.setup_watermarks();
        let zero = pa.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0).expect("a zero page");
        pa.page(zero).set(pg::RESERVED);
        Self {
            pa,
            zero,
            flushes: std::cell::Cell::new((0, 0)),
            swap: std::cell::RefCell::new(Vec::new()),
            swap_in_fails: std::cell::Cell::new(false),
            swap_in_fails_at: std::cell::Cell::new(None),
            swap_cache: std::cell::RefCell::new(BTreeMap::new()),
            swap_writes: std::cell::Cell::new(0),
            swap_reads: std::cell::Cell::new(0),
            swap_read_requests: std::cell::Cell::new(0),
            readahead: RefCell::new(std::collections::VecDeque::new()),
            readahead_state: crate::mm::swapfile::SwapRaState::new(),
            workingset: crate::mm::swapfile::Workingset::new(|| PAGES / 2),
            shadows: RefCell::new(BTreeMap::new()),
            lruvec: crate::sync::SpinLock::new(crate::mm::lru::Lruvec::new()),
        }
    }

    fn frame(&self, pfn: Pfn) -> *mut u64 {
        self.pa.mem.frame_ptr(pfn).expect("FakeRam frames are all mapped") as *mut u64
    }

    /// The first word of a page: what the model tracks.
    fn word(&self, pfn: Pfn) -> u64 {
        // SAFETY: a FakeRam frame (atomics inside), 4 KiB and aligned.
        unsafe { self.frame(pfn).read_volatile() }
    }

    fn set_word(&self, pfn: Pfn, v: u64) {
        // SAFETY: as in `word`; the test is the only thread.
        unsafe { self.frame(pfn).write_volatile(v) }
    }

    /// Pages on the inactive, active and unevictable lists.
    fn lru_lens(&self) -> [u64; 3] {
        use crate::mm::lru::LruList;
        let l = self.lruvec.lock();
        [LruList::InactiveAnon, LruList::ActiveAnon, LruList::Unevictable].map(|lru| l.len(lru))
    }

    fn free_pages(&self) -> u64 {
        self.pa.drain_all_pages();
        self.pa.nr_free_pages()
    }
}

#[derive(Clone, Copy)]
struct HostMem<'a>(&'a Host);

impl UserMem for HostMem<'_> {
    fn alloc_page(&self, gfp: Gfp) -> Option<Pfn> {
        self.0.pa.alloc_pages(gfp, 0)
    }
    fn alloc_huge_page(&self, gfp: Gfp) -> Option<Pfn> {
        let head = self.0.pa.alloc_pages(gfp, crate::mm::huge_memory::HPAGE_PMD_ORDER)?;
        crate::mm::huge_memory::prep_large_folio(self.0.pa.page(head));
        Some(head)
    }
    fn free_huge_page_ref(&self, head: Pfn) {
        if let Err(bad) = self.0.pa.free_pages(head, crate::mm::huge_memory::HPAGE_PMD_ORDER) {
            panic!("bad huge page freed: {bad:?}");
        }
    }
    fn free_page_ref(&self, pfn: Pfn) {
        if let Err(bad) = self.0.pa.free_pages(pfn, 0) {
            panic!("bad page freed: {bad:?}");
        }
    }
    fn lruvec(&self) -> Option<&crate::sync::SpinLock<crate::mm::lru::Lruvec>> {
        Some(&self.0.lruvec)
    }
    fn page(&self, pfn: Pfn) -> &Page {
        self.0.pa.page(pfn)
    }
    fn table(&mut self, pa: PhysAddr) -> &mut Table {
        // SAFETY: page-table pages are whole FakeRam frames (page aligned, 4 KiB); the borrow of the handle keeps one table borrowed once.
        unsafe { &mut *(self.0.frame(pa.pfn()) as *mut Table) }
    }
    fn copy_page(&self, dst: Pfn, src: Pfn) {
        // SAFETY: two distinct FakeRam frames of 512 words.
        unsafe { core::ptr::copy_nonoverlapping(self.0.frame(src), self.0.frame(dst), 512) };
    }
    fn read_page(&self, pfn: Pfn, offset: usize, buf: &mut [u8]) {
        // SAFETY: `offset + buf.len()` stays inside the 4 KiB frame.
        unsafe { core::ptr::copy_nonoverlapping((self.0.frame(pfn) as *const u8).add(offset), buf.as_mut_ptr(), buf.len()) };
    }
    fn zero_pfn(&self) -> Pfn {
        self.0.zero
    }
    fn init_pgd(&mut self, _pgd: PhysAddr) -> Option<Option<(u64, Pfn)>> {
        Some(None)
    }
    fn flush_tlb_page(&self, _va: u64) {
        let (one, all) = self.0.flushes.get();
        self.0.flushes.set((one + 1, all));
    }
    fn flush_tlb_mm(&self) {
        let (one, all) = self.0.flushes.get();
        self.0.flushes.set((one, all + 1));
    }
    fn activate(&self, _pgd: PhysAddr) {}
    fn deactivate(&self, _pgd: PhysAddr) {}
    fn get_swap_page(&self) -> Option<SwapEntry> {
        let mut swap = self.0.swap.borrow_mut();
        let offset = match swap.iter().position(|&(refs, _)| refs == 0) {
            Some(free) => free,
            None => {
                swap.push((0, 0));
                swap.len() - 1
            }
        };
        swap[offset] = (1, 0);
        Some(SwapEntry { typ: 0, offset: offset as u64 })
    }
    fn swap_writepage(&self, e: SwapEntry, pfn: Pfn) -> bool {
        let word = self.0.word(pfn);
        let mut swap = self.0.swap.borrow_mut();
        assert!(swap[e.offset as usize].0 > 0, "a write to a free slot {e:?}");
        swap[e.offset as usize].1 = word;
        self.0.swap_writes.set(self.0.swap_writes.get() + 1);
        true
    }
    fn swap_count(&self, e: SwapEntry) -> u64 {
        self.0.swap.borrow().get(e.offset as usize).map_or(0, |&(refs, _)| u64::from(refs))
    }
    fn swap_cache_find(&self, e: SwapEntry) -> Option<Pfn> {
        self.0.swap_cache.borrow().get(&e.offset).copied()
    }
    fn swap_cache_insert(&self, e: SwapEntry, pfn: Pfn) {
        assert!(self.0.swap_cache.borrow_mut().insert(e.offset, pfn).is_none(), "slot {e:?} cached twice");
    }
    fn swap_cache_remove(&self, e: SwapEntry) {
        assert!(self.0.swap_cache.borrow_mut().remove(&e.offset).is_some(), "slot {e:?} was not cached");
    }
    fn swap_in(&self, e: SwapEntry, pfn: Pfn) -> bool {
        if self.0.swap_in_fails.get() || self.0.swap_in_fails_at.get() == Some(e.offset) {
            return false;
        }
        let swap = self.0.swap.borrow();
        let (refs, word) = swap[e.offset as usize];
        assert!(refs > 0, "swap-in of a free slot {e:?}");
        // The page's other words stay as allocated; the model reads the first.
        self.0.set_word(pfn, word);
        self.0.swap_reads.set(self.0.swap_reads.get() + 1);
        true
    }
    fn swap_in_pages(&self, first: SwapEntry, pfns: &[Pfn]) -> bool {
        self.0.swap_read_requests.set(self.0.swap_read_requests.get() + 1);
        pfns.iter().enumerate().all(|(i, &pfn)| self.swap_in(SwapEntry { typ: first.typ, offset: first.offset + i as u64 }, pfn))
    }
    fn swap_ra_note(&self, e: SwapEntry) -> Option<SwapEntry> {
        let mut ring = self.0.readahead.borrow_mut();
        ring.push_back(e);
        (ring.len() > HOST_READAHEAD_RING).then(|| ring.pop_front()).flatten()
    }
    fn swap_ra_pop(&self) -> Option<SwapEntry> {
        self.0.readahead.borrow_mut().pop_front()
    }
    fn swap_ra_state(&self) -> Option<&crate::mm::swapfile::SwapRaState> {
        Some(&self.0.readahead_state)
    }
    fn workingset(&self) -> Option<&crate::mm::swapfile::Workingset> {
        Some(&self.0.workingset)
    }
    fn swap_shadow_store(&self, e: SwapEntry, age: u64) {
        self.0.shadows.borrow_mut().insert(e.offset, age);
    }
    fn swap_shadow_take(&self, e: SwapEntry) -> Option<u64> {
        self.0.shadows.borrow_mut().remove(&e.offset)
    }
    fn swap_dup(&self, e: SwapEntry) {
        self.0.swap.borrow_mut()[e.offset as usize].0 += 1;
    }
    fn swap_free(&self, e: SwapEntry) {
        let mut swap = self.0.swap.borrow_mut();
        let slot = &mut swap[e.offset as usize].0;
        assert!(*slot > 0, "swap slot {e:?} freed once too often");
        *slot -= 1;
        if *slot == 0 {
            self.0.shadows.borrow_mut().remove(&e.offset);
        }
    }
}

/// A file or shmem object: pages allocated on first use, each holding one
/// reference of the object's.
struct ObjInner<'a> {
    id: usize,
    host: &'a Host,
    shmem: bool,
    pages: RefCell<BTreeMap<u64, Pfn>>,
}

#[derive(Clone)]
struct Obj<'a>(Rc<ObjInner<'a>>);

impl PartialEq for Obj<'_> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl core::fmt::Debug for Obj<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "obj {}", self.0.id)
    }
}

impl VmObject for Obj<'_> {
    fn contains_page(&self, index: u64) -> bool {
        index < OBJ_PAGES
    }
    fn page(&self, index: u64) -> Option<Pfn> {
        if index >= OBJ_PAGES {
            return None;
        }
        let mut pages = self.0.pages.borrow_mut();
        if let Some(&pfn) = pages.get(&index) {
            return Some(pfn);
        }
        let pfn = self.0.host.pa.alloc_pages(GFP_HIGHUSER | __GFP_ZERO, 0)?;
        if self.0.shmem {
            self.0.host.pa.page(pfn).set(pg::SHMEM);
        }
        pages.insert(index, pfn);
        Some(pfn)
    }
    fn find_page(&self, index: u64) -> Option<Pfn> {
        self.0.pages.borrow().get(&index).copied()
    }
}

impl Obj<'_> {
    fn release(&self) {
        for (_, pfn) in std::mem::take(&mut *self.0.pages.borrow_mut()) {
            let page = self.0.host.pa.page(pfn);
            page.clear(pg::SHMEM);
            assert_eq!(page.mapcount(), 0, "an object page still mapped when its object went");
            self.0.host.pa.free_pages(pfn, 0).expect("object page");
        }
    }
}

/// Pages in each object: mappings past it fault with SIGBUS.
const OBJ_PAGES: u64 = 12;
/// Objects: 0 and 1 files, 2 a shmem object.
const OBJS: usize = 3;

type Mm<'a> = MmStruct<Obj<'a>, HostMem<'a>>;

/// What the model knows of one mapped page.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Backing {
    /// Private anonymous memory.
    Anon,
    /// A private mapping of page `index` of object `obj`.
    Private { obj: usize, index: u64 },
    /// A shared mapping of page `index` of object `obj`.
    Shared { obj: usize, index: u64 },
}

#[derive(Clone, Copy, Debug)]
struct ModelPage {
    backing: Backing,
    read: bool,
    write: bool,
    /// A private page's own contents once written (a COW copy).
    own: Option<u64>,
}

#[derive(Clone, Default)]
struct ModelMm {
    pages: BTreeMap<UserAddr, ModelPage>,
}

#[derive(Clone, Debug)]
enum Op {
    Mmap {
        proc: usize,
        kind: u8,
        obj: usize,
        pgoff: u64,
        npages: u64,
    },
    Touch {
        proc: usize,
        page: usize,
        write: bool,
    },
    Fork {
        proc: usize,
    },
    Mprotect {
        proc: usize,
        page: usize,
        npages: u64,
        prot: u8,
    },
    Munmap {
        proc: usize,
        page: usize,
        npages: u64,
    },
    Mremap {
        proc: usize,
        page: usize,
        grow: u64,
    },
    Pageout {
        proc: usize,
        page: usize,
        npages: u64,
    },
    /// A reclaim pass over the LRU lists (`vmscan::shrink_lruvec`).
    Reclaim {
        pages: u64,
    },
    Exit {
        proc: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let proc = 0..4usize;
    prop_oneof![
        2 => (proc.clone(), 0..4u8, 0..OBJS, 0..6u64, 1..6u64).prop_map(|(proc, kind, obj, pgoff, npages)| Op::Mmap { proc, kind, obj, pgoff, npages }),
        8 => (proc.clone(), any::<usize>(), any::<bool>()).prop_map(|(proc, page, write)| Op::Touch { proc, page, write }),
        1 => proc.clone().prop_map(|proc| Op::Fork { proc }),
        1 => (proc.clone(), any::<usize>(), 1..4u64, 0..3u8).prop_map(|(proc, page, npages, prot)| Op::Mprotect { proc, page, npages, prot }),
        1 => (proc.clone(), any::<usize>(), 1..4u64).prop_map(|(proc, page, npages)| Op::Munmap { proc, page, npages }),
        1 => (proc.clone(), any::<usize>(), 0..3u64).prop_map(|(proc, page, grow)| Op::Mremap { proc, page, grow }),
        2 => (proc.clone(), any::<usize>(), 1..6u64).prop_map(|(proc, page, npages)| Op::Pageout { proc, page, npages }),
        2 => (1..12u64).prop_map(|pages| Op::Reclaim { pages }),
        1 => proc.prop_map(|proc| Op::Exit { proc }),
    ]
}

struct World<'a> {
    host: &'a Host,
    objs: Vec<Obj<'a>>,
    /// What each object's pages hold (first word; absent: zero).
    obj_words: Vec<BTreeMap<u64, u64>>,
    procs: Vec<(Mm<'a>, ModelMm)>,
    next_value: u64,
}

impl<'a> World<'a> {
    fn new(host: &'a Host) -> Self {
        let objs = (0..OBJS).map(|id| Obj(Rc::new(ObjInner { id, host, shmem: id == 2, pages: RefCell::new(BTreeMap::new()) }))).collect();
        let mm = Mm::new(HostMem(host)).expect("memory for a PGD");
        Self { host, objs, obj_words: vec![BTreeMap::new(); OBJS], procs: vec![(mm, ModelMm::default())], next_value: 1 }
    }

    fn proc(&self, i: usize) -> usize {
        i % self.procs.len()
    }

    /// The `i`-th mapped page of process `p` (by address), if any.
    fn pick_page(&self, p: usize, i: usize) -> Option<UserAddr> {
        let pages = &self.procs[p].1.pages;
        (!pages.is_empty()).then(|| *pages.keys().nth(i % pages.len()).expect("in range"))
    }

    /// What the model says the page at `va` of process `p` holds.
    fn expected(&self, page: &ModelPage) -> u64 {
        match (page.backing, page.own) {
            (_, Some(v)) => v,
            (Backing::Anon, None) => 0,
            (Backing::Private { obj, index } | Backing::Shared { obj, index }, None) => self.obj_words[obj].get(&index).copied().unwrap_or(0),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Mmap { proc, kind, obj, pgoff, npages } => {
                let p = self.proc(proc);
                // Kind 3: anonymous memory advised MADV_HUGEPAGE, which
                // the default `madvise` mode maps with huge pages.
                let (flags, file) = match kind {
                    0 | 3 => (MAP_PRIVATE | MAP_ANONYMOUS, None),
                    1 => (MAP_PRIVATE, Some(self.objs[obj].clone())),
                    _ => (MAP_SHARED, Some(self.objs[obj].clone())),
                };
                let npages = if kind == 3 { HUGE_MAPPING_PAGES } else { npages };
                let (mm, model) = &mut self.procs[p];
                let (vm, mut ptes) = mm.split();
                let addr = vm
                    .mmap(ua(0), npages * PAGE_SIZE, PROT_READ | PROT_WRITE, flags, file, pgoff, true, &mut ptes)
                    .map_err(|e| TestCaseError::fail(format!("mmap: {e:?}")))?;
                if kind == 3 {
                    vm.madvise_update_flags(addr, addr + npages * PAGE_SIZE, crate::mm::mlock::advice::MADV_HUGEPAGE)
                        .map_err(|e| TestCaseError::fail(format!("madvise: {e:?}")))?;
                }
                for i in 0..npages {
                    let index = pgoff + i;
                    let backing = match kind {
                        0 | 3 => Backing::Anon,
                        1 => Backing::Private { obj, index },
                        _ => Backing::Shared { obj, index },
                    };
                    model.pages.insert(addr + i * PAGE_SIZE, ModelPage { backing, read: true, write: true, own: None });
                }
            }
            Op::Touch { proc, page, write } => {
                let p = self.proc(proc);
                let Some(va) = self.pick_page(p, page) else { return Ok(()) };
                self.touch(p, va, write)?;
            }
            Op::Fork { proc } => {
                if self.procs.len() >= 4 {
                    return Ok(());
                }
                let p = self.proc(proc);
                let child = self.procs[p].0.dup_mmap().ok_or_else(|| TestCaseError::fail("fork: out of memory"))?;
                let model = self.procs[p].1.clone();
                self.procs.push((child, model));
            }
            Op::Mprotect { proc, page, npages, prot } => {
                let p = self.proc(proc);
                let Some(va) = self.pick_page(p, page) else { return Ok(()) };
                let end = va + npages * PAGE_SIZE;
                let (mm, model) = &mut self.procs[p];
                // Only whole mapped ranges: a hole is ENOMEM, tested elsewhere.
                if (0..npages).any(|i| !model.pages.contains_key(&(va + i * PAGE_SIZE))) {
                    return Ok(());
                }
                let prot = [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE][prot as usize];
                let (vm, mut ptes) = mm.split();
                vm.mprotect(va, end - va, prot, &mut ptes).map_err(|e| TestCaseError::fail(format!("mprotect: {e:?}")))?;
                for a in (0..npages).map(|i| va + i * PAGE_SIZE) {
                    let m = model.pages.get_mut(&a).expect("checked above");
                    m.read = prot & PROT_READ != 0;
                    m.write = prot & PROT_WRITE != 0;
                }
            }
            Op::Munmap { proc, page, npages } => {
                let p = self.proc(proc);
                let Some(va) = self.pick_page(p, page) else { return Ok(()) };
                let end = va + npages * PAGE_SIZE;
                let (mm, model) = &mut self.procs[p];
                let (vm, mut ptes) = mm.split();
                vm.munmap(va, end - va, &mut ptes).map_err(|e| TestCaseError::fail(format!("munmap: {e:?}")))?;
                model.pages.retain(|&a, _| a < va || a >= end);
            }
            Op::Reclaim { pages } => {
                // Pages go to swap (shared ones through the swap cache);
                // what every address reads stays.
                // Pages read ahead and never used go first.
                let dropped = crate::mm::swap_state::shrink_readahead(&HostMem(self.host), pages);
                let mut sc = crate::mm::vmscan::ScanControl::new(pages - dropped, 4 * pages);
                self.shrink(&mut sc);
            }
            Op::Pageout { proc, page, npages } => {
                // The pages go to swap; what every address reads stays.
                let p = self.proc(proc);
                let Some(va) = self.pick_page(p, page) else { return Ok(()) };
                self.procs[p].0.pageout(va, va + npages * PAGE_SIZE);
            }
            Op::Mremap { proc, page, grow } => {
                let p = self.proc(proc);
                let Some(va) = self.pick_page(p, page) else { return Ok(()) };
                let (mm, model) = &mut self.procs[p];
                // The rest of the VMA from `va`, as mremap takes one VMA.
                let vma_end = mm.vm.vma_at(va).expect("a mapped page is in a VMA").end;
                let old_len = vma_end - va;
                let new_len = old_len + grow * PAGE_SIZE;
                let (vm, mut ptes) = mm.split();
                let new = match vm.mremap(va, old_len, new_len, MREMAP_MAYMOVE, ua(0), &mut ptes) {
                    Ok(new) => new,
                    // Growing an object mapping past what the model allows
                    // is fine to refuse; anything else is not.
                    Err(e) => return Err(TestCaseError::fail(format!("mremap: {e:?}"))),
                };
                let moved: Vec<(UserAddr, ModelPage)> = model.pages.range(va..vma_end).map(|(&a, &m)| (a, m)).collect();
                let last = moved.last().map(|&(_, m)| m).expect("at least the picked page");
                for &(a, _) in &moved {
                    model.pages.remove(&a);
                }
                for (a, m) in moved {
                    model.pages.insert(new + (a - va), m);
                }
                for i in 0..grow {
                    let backing = match last.backing {
                        Backing::Anon => Backing::Anon,
                        Backing::Private { obj, index } => Backing::Private { obj, index: index + 1 + i },
                        Backing::Shared { obj, index } => Backing::Shared { obj, index: index + 1 + i },
                    };
                    model.pages.insert(new + old_len + i * PAGE_SIZE, ModelPage { backing, read: last.read, write: last.write, own: None });
                }
            }
            Op::Exit { proc } => {
                if self.procs.len() == 1 {
                    return Ok(());
                }
                let p = self.proc(proc);
                // Exit: the address space goes when it is dropped.
                drop(self.procs.swap_remove(p));
            }
        }
        self.check()
    }

    /// One access by process `p` at `va`, as the CPU and the kernel make it.
    fn touch(&mut self, p: usize, va: UserAddr, write: bool) -> Result<(), TestCaseError> {
        let m = self.procs[p].1.pages[&va];
        let allowed = if write { m.write } else { m.read };
        let beyond = matches!(m.backing, Backing::Private { index, .. } | Backing::Shared { index, .. } if index >= OBJ_PAGES);
        let mm = &mut self.procs[p].0;
        let pte_allows = |mm: &Mm<'_>| mm.pt.lookup(va).is_some_and(|e| e.present() && (!write || e.writable()));
        if !pte_allows(mm) {
            let err = PF_USER | if write { PF_WRITE } else { 0 };
            match handle_mm_fault(mm, va, err, STACK_RLIMIT) {
                Ok(_) => prop_assert!(allowed && !beyond, "{va:#x}: fault resolved, but the access is not allowed ({m:?})"),
                Err(FaultError::AccErr) => {
                    prop_assert!(!allowed, "{va:#x}: access refused ({m:?})");
                    return Ok(());
                }
                Err(FaultError::Bus) => {
                    prop_assert!(beyond && allowed, "{va:#x}: SIGBUS ({m:?})");
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(format!("{va:#x}: {e:?} ({m:?})"))),
            }
            prop_assert!(pte_allows(mm), "{va:#x}: the fault left a PTE that faults again");
        } else {
            prop_assert!(allowed, "{va:#x}: the PTE allows what the protection forbids ({m:?})");
        }
        let pfn = mm.pt.lookup(va).expect("present").pfn();
        let want = self.expected(&m);
        let got = self.host.word(pfn);
        prop_assert_eq!(got, want, "{:#x} in process {} read {:#x}, want {:#x} ({:?})", va, p, got, want, m);
        if write {
            let v = self.next_value;
            self.next_value += 1;
            self.host.set_word(pfn, v);
            let model = &mut self.procs[p].1;
            match m.backing {
                Backing::Shared { obj, index } => {
                    self.obj_words[obj].insert(index, v);
                }
                _ => model.pages.get_mut(&va).expect("mapped").own = Some(v),
            }
        }
        Ok(())
    }

    /// Process 0 maps `npages` of private anonymous memory and writes each
    /// page; the first address.
    fn written_anon(&mut self, npages: u64) -> UserAddr {
        self.step(&Op::Mmap { proc: 0, kind: 0, obj: 0, pgoff: 0, npages }).unwrap();
        let base = *self.procs[0].1.pages.keys().next().unwrap();
        for i in 0..npages {
            self.touch(0, base + i * PAGE_SIZE, true).unwrap();
        }
        base
    }

    /// A reclaim pass over the LRU lists, every address space's mappings
    /// found through the reverse map.
    fn shrink(&mut self, sc: &mut crate::mm::vmscan::ScanControl) {
        let mut mms: Vec<&mut Mm<'_>> = self.procs.iter_mut().map(|(mm, _)| mm).collect();
        crate::mm::vmscan::shrink_lruvec(&HostMem(self.host), &mut mms, sc);
    }

    /// The rmapcheck, the reverse map, the RSS counters, the zero page and
    /// the poison.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let mem = HostMem(self.host);
        let mut maps: BTreeMap<u64, i32> = BTreeMap::new();
        let mut pmd_maps: BTreeMap<u64, u64> = BTreeMap::new();
        for (mm, _) in &self.procs {
            let (mut anon, mut file, mut shmem) = (0, 0, 0);
            for v in mm.vm.iter() {
                let mut va = v.start;
                while va < v.end {
                    if let Some(e) = mm.pt.lookup(va) {
                        let pfn = e.pfn();
                        *maps.entry(pfn.as_u64()).or_insert(0) += 1;
                        prop_assert!(!(pfn == self.host.zero && e.writable()), "a writable zero-page PTE at {va:#x}");
                        prop_assert!(pfn.as_u64() < PAGES, "{:?} outside RAM", e);
                        let page = mem.page(crate::mm::huge_memory::page_folio(&mem, pfn));
                        if is_anon(page) {
                            anon += 1;
                        } else if page.test(pg::SHMEM) {
                            shmem += 1;
                        } else if pfn != self.host.zero {
                            file += 1;
                        }
                    }
                    va += PAGE_SIZE;
                }
            }
            prop_assert_eq!((mm.rss.anon, mm.rss.file, mm.rss.shmem), (anon, file, shmem), "RSS counters");
            for v in mm.vm.iter() {
                mm.pt.for_each_huge(v.start, v.end, |va, pmd| {
                    if va >= v.start {
                        *pmd_maps.entry(pmd.pfn().as_u64()).or_insert(0) += 1;
                    }
                });
            }
        }
        // A huge page's first page counts the PMDs that map it.
        for (&head, &count) in &pmd_maps {
            let page = mem.page(Pfn::new(head));
            let counted = crate::mm::huge_memory::pmd_mapcount(&mem, Pfn::new(head));
            prop_assert!(page.test(pg::PMD_MAPPED) && u64::from(counted) == count, "huge page {:#x}: {} PMDs, counted {}", head, count, counted);
        }
        for (&pfn, &count) in &maps {
            let page = mem.page(crate::mm::huge_memory::page_folio(&mem, Pfn::new(pfn)));
            let owner = i32::from(!is_anon(page)) + i32::from(page.test(pg::SWAPCACHE));
            prop_assert_eq!((page.mapcount(), page.refcount()), (count, count + owner), "pfn {:#x}: {} PTEs", pfn, count);
        }
        // Every page on a list is in use and has that list's flags, and the
        // counts add up; every mapped anonymous page is on a list.
        let lists = self.host.lruvec.lock().check(&mem);
        prop_assert!(lists.is_ok(), "{:?}", lists);
        for &pfn in maps.keys() {
            let folio = mem.page(crate::mm::huge_memory::page_folio(&mem, Pfn::new(pfn)));
            prop_assert!(!is_anon(folio) || folio.test(pg::LRU), "anonymous pfn {:#x} on no LRU list", pfn);
        }
        // The reverse map finds every mapping of every anonymous page, and
        // only those.
        let mut mms: Vec<&mut Mm<'_>> = self.procs.iter_mut().map(|(mm, _)| mm).collect();
        for (&pfn, &count) in &maps {
            let pfn = Pfn::new(pfn);
            if crate::mm::huge_memory::page_folio(&mem, pfn) != pfn || !is_anon(mem.page(pfn)) {
                continue;
            }
            let mut seen = Vec::new();
            let found = crate::mm::rmap::rmap_walk_anon(&mem, pfn, &mut mms, |mm, va| {
                seen.push((mm.anon_family, va, mm.pt.lookup(va).map(|e| e.pfn())));
                core::ops::ControlFlow::Continue(())
            });
            prop_assert!(seen.iter().all(|&(_, _, p)| p == Some(pfn)), "the reverse map of pfn {:#x} visited {:x?}", pfn, seen);
            prop_assert_eq!(found, count as u64, "pfn {:#x}: {} PTEs, the reverse map found {:x?}", pfn, count, seen);
        }
        let zero_clean = (0..512).all(|i| {
            // SAFETY: the zero page's frame, 512 words.
            unsafe { self.host.frame(self.host.zero).add(i).read_volatile() == 0 }
        });
        prop_assert!(zero_clean, "the zero page was written");
        prop_assert_eq!(self.host.pa.events.bad_pages.load(core::sync::atomic::Ordering::Relaxed), 0, "a bad page (or a write into a freed one)");
        Ok(())
    }

    fn finish(self) {
        drop(self.procs);
        for o in &self.objs {
            o.release();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn address_spaces_follow_linux_semantics(ops in proptest::collection::vec(op(), 1..120)) {
        let host = Host::new();
        let before = host.free_pages();
        let mut world = World::new(&host);
        for op in &ops {
            world.step(op)?;
        }
        world.finish();
        prop_assert_eq!(host.free_pages(), before, "pages not returned after every process exited");
        prop_assert!(host.swap.borrow().iter().all(|&(refs, _)| refs == 0), "swap slots not freed after every process exited: {:?}", host.swap.borrow());
        prop_assert!(host.swap_cache.borrow().is_empty(), "pages left in the swap cache: {:?}", host.swap_cache.borrow());
        prop_assert!(!host.pa.poison_corrupted.load(core::sync::atomic::Ordering::Relaxed), "a freed page was written");
    }
}

/// The sequence of issue 13's first bug on the real fault path: a shared
/// anonymous mapping read (zero page), then written, then a fresh private
/// page elsewhere must still read zero. Shared anonymous memory has a
/// shmem object here, as in the kernel; the write goes to it.
#[test]
fn a_write_after_a_read_of_shared_memory_never_reaches_the_zero_page() {
    let host = Host::new();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 2, obj: 2, pgoff: 0, npages: 1 }).unwrap();
    world.step(&Op::Touch { proc: 0, page: 0, write: false }).unwrap();
    world.step(&Op::Touch { proc: 0, page: 0, write: true }).unwrap();
    world.step(&Op::Fork { proc: 0 }).unwrap();
    world.step(&Op::Mmap { proc: 1, kind: 0, obj: 0, pgoff: 0, npages: 1 }).unwrap();
    // The new private page is the lower address in the child.
    let va = *world.procs[1].1.pages.keys().next().unwrap();
    assert_eq!(world.procs[1].1.pages[&va].backing, Backing::Anon);
    world.touch(1, va, false).unwrap();
    world.check().unwrap();
    world.finish();
}

/// Fork, COW in both, exit of the parent first: the pages follow their
/// last mapping, and everything comes back.
#[test]
fn cow_after_fork_keeps_both_copies_and_frees_everything() {
    let host = Host::new();
    let before = host.free_pages();
    let mut world = World::new(&host);
    let steps = [
        Op::Mmap { proc: 0, kind: 0, obj: 0, pgoff: 0, npages: 4 },
        Op::Touch { proc: 0, page: 1, write: true },
        Op::Touch { proc: 0, page: 2, write: false },
        Op::Fork { proc: 0 },
        Op::Touch { proc: 0, page: 1, write: true },
        Op::Touch { proc: 1, page: 1, write: false },
        Op::Touch { proc: 1, page: 2, write: true },
        Op::Exit { proc: 0 },
        Op::Touch { proc: 0, page: 1, write: true },
    ];
    for s in &steps {
        world.step(s).unwrap();
    }
    world.finish();
    assert_eq!(host.free_pages(), before);
}

/// The huge PMDs of a process: their addresses.
fn huge_pmds(mm: &Mm<'_>) -> Vec<UserAddr> {
    let mut found = Vec::new();
    for v in mm.vm.iter() {
        mm.pt.for_each_huge(v.start, v.end, |va, _| found.push(va));
    }
    found.dedup();
    found
}

/// The first 2 MiB-aligned address of process `p`'s mapping that starts
/// at its lowest mapped page.
fn first_huge_addr(world: &World<'_>, p: usize) -> UserAddr {
    let start = *world.procs[p].1.pages.keys().next().expect("a mapping");
    (start + (HPAGE_PMD_SIZE - 1)).align_down(HPAGE_PMD_SIZE)
}

use crate::mm::huge_memory::HPAGE_PMD_SIZE;

/// A write fault in an `MADV_HUGEPAGE` mapping maps 512 pages with one
/// PMD; fork shares it write-protected; a write in the child splits the
/// child's PMD and copies one page; a write in the parent, whose pages
/// the child still maps, does the same; a part unmapped or protected
/// splits; and everything comes back at exit. The model checks every
/// page's contents and counts after each step.
#[test]
fn a_huge_page_is_mapped_shared_split_and_freed() {
    let host = Host::new();
    let before = host.free_pages();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let haddr = first_huge_addr(&world, 0);
    world.touch(0, haddr + 5 * PAGE_SIZE, true).unwrap();
    world.check().unwrap();
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "one huge PMD");
    assert_eq!(world.procs[0].0.rss.anon, 512);
    let far = world.procs[0].0.pt.lookup(haddr + 300 * PAGE_SIZE).expect("mapped by the same fault");
    assert!(far.writable());
    world.touch(0, haddr + 300 * PAGE_SIZE, false).unwrap();

    world.step(&Op::Fork { proc: 0 }).unwrap();
    assert_eq!(huge_pmds(&world.procs[1].0), [haddr], "the child shares the huge page");
    assert!(!world.procs[0].0.pt.lookup(haddr).unwrap().writable(), "write-protected in the parent");
    world.touch(1, haddr + 7 * PAGE_SIZE, true).unwrap();
    world.check().unwrap();
    assert!(huge_pmds(&world.procs[1].0).is_empty(), "the child's write split its PMD");
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "the parent's stays");
    world.touch(0, haddr + 9 * PAGE_SIZE, true).unwrap();
    assert!(huge_pmds(&world.procs[0].0).is_empty(), "pages the child maps: the parent splits and copies too");
    world.touch(1, haddr + 5 * PAGE_SIZE, false).unwrap();
    world.step(&Op::Exit { proc: 1 }).unwrap();

    // Another huge page: unmapping a page inside it splits it and frees
    // that page; protecting a part splits it too.
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let second = {
        let addrs: Vec<UserAddr> = world.procs[0].1.pages.keys().copied().filter(|&a| a.align_down(HPAGE_PMD_SIZE) == a && a != haddr).collect();
        *addrs.iter().find(|&&a| world.procs[0].1.pages.contains_key(&(a + (HPAGE_PMD_SIZE - PAGE_SIZE)))).expect("a whole aligned 2 MiB")
    };
    world.touch(0, second, true).unwrap();
    assert!(huge_pmds(&world.procs[0].0).contains(&second));
    let free = host.free_pages();
    let (mm, model) = &mut world.procs[0];
    let (vm, mut ptes) = mm.split();
    vm.munmap(second + 10 * PAGE_SIZE, PAGE_SIZE, &mut ptes).unwrap();
    model.pages.remove(&(second + 10 * PAGE_SIZE));
    assert!(huge_pmds(&world.procs[0].0).is_empty(), "split by the munmap");
    assert!(host.free_pages() > free, "the unmapped page went back");
    world.check().unwrap();
    world.step(&Op::Mprotect { proc: 0, page: 0, npages: 2, prot: 1 }).unwrap();
    world.finish();
    assert_eq!(host.free_pages(), before, "every page of the huge pages came back");
}

/// A huge page is one descriptor until a PTE maps part of it, as Linux's
/// large folio: the fault, fork and exit touch the first page only, and
/// unmapping it whole gives the whole block back; a split gives each of
/// its pages the first page's counts. Without page_debug, so the tails
/// are not set up when the block is allocated.
#[test]
fn a_huge_page_is_one_descriptor_until_it_is_split() {
    let host = Host::with_config(AllocConfig { page_debug: false, page_poison: false });
    let before = host.free_pages();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let haddr = first_huge_addr(&world, 0);
    world.touch(0, haddr + 3 * PAGE_SIZE, true).unwrap();
    let head = world.procs[0].0.pt.lookup(haddr).expect("mapped").pfn();
    let (first, tail) = (host.pa.page(head), host.pa.page(head + 77));
    assert!(first.test(pg::LARGE) && first.test(pg::ANON));
    assert_eq!((first.refcount(), first.mapcount()), (1, 1));
    assert_eq!(tail.refcount(), 0, "the tails are not touched");
    assert!(!tail.test(pg::ANON));
    assert_eq!(crate::mm::huge_memory::page_folio(&HostMem(&host), head + 77), head);
    world.check().unwrap();

    world.step(&Op::Fork { proc: 0 }).unwrap();
    assert_eq!((first.refcount(), first.mapcount()), (2, 2), "fork counts on the first page");
    assert_eq!(tail.refcount(), 0);
    world.check().unwrap();
    world.step(&Op::Exit { proc: 1 }).unwrap();
    assert_eq!((first.refcount(), first.mapcount()), (1, 1));

    // Unmapped whole: the block goes back at once.
    let free = host.free_pages();
    let (mm, model) = &mut world.procs[0];
    let (vm, mut ptes) = mm.split();
    vm.munmap(haddr, HPAGE_PMD_SIZE, &mut ptes).unwrap();
    model.pages.retain(|&va, _| va < haddr || va >= haddr + HPAGE_PMD_SIZE);
    assert!(host.free_pages() >= free + 512, "the 512 pages went back");
    assert!(!first.test(pg::LARGE | pg::ANON));
    world.check().unwrap();

    // Another one, split by a partial munmap: every page has counts of
    // its own, and the one unmapped is freed alone.
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let second = {
        let addrs: Vec<UserAddr> = world.procs[0].1.pages.keys().copied().filter(|&a| a.align_down(HPAGE_PMD_SIZE) == a).collect();
        *addrs.iter().find(|&&a| world.procs[0].1.pages.contains_key(&(a + (HPAGE_PMD_SIZE - PAGE_SIZE)))).expect("a whole aligned 2 MiB")
    };
    world.touch(0, second, true).unwrap();
    let head = world.procs[0].0.pt.lookup(second).expect("mapped").pfn();
    assert!(host.pa.page(head).test(pg::LARGE));
    world.step(&Op::Fork { proc: 0 }).unwrap();
    let (mm, model) = &mut world.procs[0];
    let (vm, mut ptes) = mm.split();
    vm.munmap(second + 10 * PAGE_SIZE, PAGE_SIZE, &mut ptes).unwrap();
    model.pages.remove(&(second + 10 * PAGE_SIZE));
    assert!(!host.pa.page(head).test(pg::LARGE), "split");
    for i in [0, 1, 10, 300, 511] {
        let page = host.pa.page(head + i);
        let want = if i == 10 { (1, 1) } else { (2, 2) };
        assert_eq!((page.refcount(), page.mapcount()), want, "page {i} of the split huge page");
        assert!(page.test(pg::ANON));
    }
    world.check().unwrap();
    world.finish();
    assert_eq!(host.free_pages(), before, "every page came back");
}

/// A huge page written after fork, once the child is gone: the parent
/// holds every page alone again and the PMD becomes writable in place
/// (Linux `do_huge_pmd_wp_page` reuse), still huge. `MADV_NOHUGEPAGE`
/// and non-advised memory get 4 KiB pages in the default `madvise` mode.
#[test]
fn a_huge_page_held_alone_is_reused_and_advice_decides() {
    let host = Host::new();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let haddr = first_huge_addr(&world, 0);
    world.touch(0, haddr, true).unwrap();
    world.step(&Op::Fork { proc: 0 }).unwrap();
    world.step(&Op::Exit { proc: 1 }).unwrap();
    world.touch(0, haddr + PAGE_SIZE, true).unwrap();
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "reused, not split");
    assert!(world.procs[0].0.pt.lookup(haddr + 2 * PAGE_SIZE).unwrap().writable());
    // Not advised: 4 KiB pages.
    world.step(&Op::Mmap { proc: 0, kind: 0, obj: 0, pgoff: 0, npages: 5 }).unwrap();
    let plain = *world.procs[0].1.pages.keys().next().unwrap();
    world.touch(0, plain, true).unwrap();
    // Advised, then refused with MADV_NOHUGEPAGE.
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let (mm, model) = &mut world.procs[0];
    let v = mm
        .vm
        .iter()
        .find(|v| v.end - v.start == HUGE_MAPPING_PAGES * PAGE_SIZE && !(v.start..v.end).contains(&haddr))
        .map(|v| (v.start, v.end))
        .expect("the new mapping");
    mm.vm.madvise_update_flags(v.0, v.1, crate::mm::mlock::advice::MADV_NOHUGEPAGE).unwrap();
    let inside = (v.0 + (HPAGE_PMD_SIZE - 1)).align_down(HPAGE_PMD_SIZE);
    assert!(model.pages.contains_key(&inside));
    world.touch(0, inside, true).unwrap();
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "neither the plain nor the refused mapping got a huge page");
    world.check().unwrap();
    world.finish();
}

/// `mprotect` of a whole huge page keeps its PMD, as Linux's
/// `change_huge_pmd`: read-only, a write is refused; writable again, the
/// write goes in place, still huge. `PROT_NONE` splits it, and access
/// comes back page by page with the data.
#[test]
fn mprotect_of_a_whole_huge_page_keeps_it() {
    let host = Host::new();
    let before = host.free_pages();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let haddr = first_huge_addr(&world, 0);
    world.touch(0, haddr + 3 * PAGE_SIZE, true).unwrap();
    let protect = |world: &mut World<'_>, prot: u32, r: bool, w: bool| {
        let (mm, model) = &mut world.procs[0];
        let (vm, mut ptes) = mm.split();
        vm.mprotect(haddr, HPAGE_PMD_SIZE, prot, &mut ptes).unwrap();
        for i in 0..512 {
            let m = model.pages.get_mut(&(haddr + i * PAGE_SIZE)).expect("mapped");
            (m.read, m.write) = (r, w);
        }
    };
    protect(&mut world, PROT_READ, true, false);
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "read-only, still huge");
    assert!(!world.procs[0].0.pt.lookup(haddr).unwrap().writable());
    world.touch(0, haddr + 3 * PAGE_SIZE, false).unwrap();
    world.touch(0, haddr + 9 * PAGE_SIZE, true).unwrap();
    protect(&mut world, PROT_READ | PROT_WRITE, true, true);
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "writable again, still huge");
    world.touch(0, haddr + 9 * PAGE_SIZE, true).unwrap();
    assert_eq!(huge_pmds(&world.procs[0].0), [haddr], "written in place");
    protect(&mut world, PROT_NONE, false, false);
    assert!(huge_pmds(&world.procs[0].0).is_empty(), "PROT_NONE splits it");
    world.touch(0, haddr + 3 * PAGE_SIZE, false).unwrap();
    protect(&mut world, PROT_READ | PROT_WRITE, true, true);
    world.touch(0, haddr + 3 * PAGE_SIZE, false).unwrap();
    world.touch(0, haddr + 9 * PAGE_SIZE, false).unwrap();
    world.check().unwrap();
    world.finish();
    assert_eq!(host.free_pages(), before);
}

/// A huge page shared after fork goes to swap from both sides at once:
/// reclaim finds both PMDs through the reverse map, splits them, and puts
/// the pages in the swap cache (whose entry lives in each page's
/// `private`), each written once. The child's read, its exit, the
/// parent's reads and the end leave every count, slot and page right.
#[test]
fn a_shared_huge_page_is_reclaimed_from_every_side() {
    let host = Host::new();
    let before = host.free_pages();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 3, obj: 0, pgoff: 0, npages: 0 }).unwrap();
    let haddr = first_huge_addr(&world, 0);
    world.touch(0, haddr, true).unwrap();
    world.touch(0, haddr + 7 * PAGE_SIZE, true).unwrap();
    world.step(&Op::Fork { proc: 0 }).unwrap();
    // The first pass takes the accessed bits (second chance), the next
    // ones take the pages.
    for _ in 0..3 {
        world.step(&Op::Reclaim { pages: 600 }).unwrap();
    }
    assert!(huge_pmds(&world.procs[0].0).is_empty() && huge_pmds(&world.procs[1].0).is_empty(), "reclaim split both PMDs");
    assert_eq!(world.procs[0].0.rss.swap, world.procs[1].0.rss.swap, "the same pages went from both");
    assert_eq!(host.swap_writes.get(), 512, "each page written once");
    world.touch(1, haddr + 7 * PAGE_SIZE, false).unwrap();
    world.step(&Op::Exit { proc: 1 }).unwrap();
    world.touch(0, haddr, false).unwrap();
    world.touch(0, haddr + 7 * PAGE_SIZE, true).unwrap();
    world.finish();
    assert_eq!(host.free_pages(), before, "every page came back");
    assert!(host.swap.borrow().iter().all(|&(refs, _)| refs == 0), "swap slots left: {:?}", host.swap.borrow());
    assert!(host.swap_cache.borrow().is_empty(), "pages left in the swap cache");
}

/// A swap-in that cannot read its slot is SIGBUS, as Linux's: the page
/// allocated for it goes back (nothing leaks), the swap entry stays, and
/// once the device reads again the same access brings the data back.
#[test]
fn a_failed_swap_in_is_sigbus_and_frees_its_page() {
    let host = Host::new();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 0, obj: 0, pgoff: 0, npages: 2 }).unwrap();
    let va = *world.procs[0].1.pages.keys().next().unwrap();
    world.touch(0, va, true).unwrap();
    assert_eq!(world.procs[0].0.pageout(va, va + PAGE_SIZE), 1);
    let free = host.free_pages();
    host.swap_in_fails.set(true);
    let mm = &mut world.procs[0].0;
    assert_eq!(handle_mm_fault(mm, va, PF_USER, STACK_RLIMIT).unwrap_err(), FaultError::Bus);
    assert_eq!(host.free_pages(), free, "the page allocated for the swap-in leaked");
    assert!(mm.pt.lookup_swap(va).is_some(), "the swap entry must stay");
    host.swap_in_fails.set(false);
    world.touch(0, va, false).unwrap();
    world.check().unwrap();
    world.finish();
}

/// A process whose 16 pages are all in swap, page `i` in slot `i`.
fn all_in_swap(host: &Host) -> (World<'_>, UserAddr) {
    use crate::mm::vmscan::ScanControl;
    let mut world = World::new(host);
    let base = world.written_anon(16);
    // The first look at each page takes the accessed bit of the fault
    // that made it; the second sends it to swap, oldest first.
    world.shrink(&mut ScanControl::new(16, 100));
    assert_eq!(world.procs[0].0.rss.swap, 16);
    (world, base)
}

/// Every page of [`all_in_swap`]'s process reads what it should, and
/// after the process is gone every page is free again.
fn read_back_and_finish(mut world: World<'_>, base: UserAddr, host: &Host, before: u64) {
    for i in 0..16 {
        world.touch(0, base + i * PAGE_SIZE, false).unwrap();
    }
    world.check().unwrap();
    world.finish();
    assert_eq!(host.free_pages(), before);
}

/// Swap readahead: faults in slot order find the pages read ahead, and
/// the window grows as they do, so each page is read once and in few
/// requests; reclaim drops the pages read ahead that no fault used, and
/// their data stays in swap.
#[test]
fn swap_readahead_follows_a_sequential_reader_and_reclaim_drops_what_was_not_used() {
    let host = Host::new();
    let before = host.free_pages();
    let (mut world, base) = all_in_swap(&host);
    let io = |h: &Host| (h.swap_reads.get(), h.swap_read_requests.get());
    let start = io(&host);
    for i in 3..=12 {
        world.touch(0, base + i * PAGE_SIZE, false).unwrap();
    }
    let (reads, requests) = (io(&host).0 - start.0, io(&host).1 - start.1);
    let unused = host.swap_cache.borrow().len() as u64;
    assert!(unused > 0 && host.swap_cache.borrow().keys().all(|&slot| slot > 12), "only pages past the reader wait: {:?}", host.swap_cache.borrow());
    assert_eq!(reads, 10 + unused, "each page read once");
    assert!(requests <= 5, "{requests} requests for {reads} pages");
    world.check().unwrap();
    let free = host.free_pages();
    assert_eq!(crate::mm::swap_state::shrink_readahead(&HostMem(&host), 100), unused);
    assert_eq!(host.free_pages(), free + unused);
    assert!(host.swap_cache.borrow().is_empty());
    read_back_and_finish(world, base, &host, before);
}

/// A read error on a slot that was only being read ahead does not fail
/// the fault: the faulting slot is read alone, and the pages read ahead
/// are given back.
#[test]
fn a_read_error_ahead_of_the_fault_costs_only_the_readahead() {
    let host = Host::new();
    let before = host.free_pages();
    let (mut world, base) = all_in_swap(&host);
    for i in 3..=5 {
        world.touch(0, base + i * PAGE_SIZE, false).unwrap();
    }
    host.swap_in_fails_at.set(Some(9));
    world.touch(0, base + 8 * PAGE_SIZE, false).expect("slot 8 reads; only slot 9 fails");
    assert!(!host.swap_cache.borrow().contains_key(&9));
    let reads = host.swap_read_requests.get();
    assert_eq!(handle_mm_fault(&mut world.procs[0].0, base + 9 * PAGE_SIZE, PF_USER, STACK_RLIMIT).unwrap_err(), FaultError::Bus, "slot 9 itself");
    assert!(host.swap_read_requests.get() > reads);
    host.swap_in_fails_at.set(None);
    read_back_and_finish(world, base, &host, before);
}

/// Workingset refault detection: a page read back soon after reclaim
/// evicted it (fewer evictions since than the workingset holds) starts on
/// the active list, out of reclaim's reach for a while, where a page that
/// comes back after a long absence starts inactive.
#[test]
fn a_page_that_refaults_soon_is_activated_and_kept_longer() {
    use crate::mm::vmscan::ScanControl;
    let host = Host::new();
    let (mut world, base) = all_in_swap(&host);
    let (near, far) = (base + 3 * PAGE_SIZE, base + 12 * PAGE_SIZE);
    world.touch(0, near, false).unwrap();
    let page_of = |w: &World<'_>, va: UserAddr| host.pa.page(w.procs[0].0.pt.lookup(va).expect("resident").pfn());
    assert!(page_of(&world, near).test(pg::ACTIVE), "16 evictions ago: within the workingset");
    // As many evictions as there are pages: slot 12's page comes back from
    // farther than the workingset reaches.
    (0..PAGES).for_each(|_| {
        host.workingset.tick();
    });
    world.touch(0, far, false).unwrap();
    assert!(!page_of(&world, far).test(pg::ACTIVE), "not activated");
    // Reclaim takes the far page from the inactive list; the near one,
    // active, is still there.
    let mut sc = ScanControl::new(1, 100);
    world.shrink(&mut sc);
    assert_eq!(sc.nr_reclaimed, 1);
    assert!(world.procs[0].0.pt.lookup_swap(far).is_some(), "the far page went");
    assert!(world.procs[0].0.pt.lookup(near).is_some(), "the activated page went first");
    world.check().unwrap();
    world.finish();
}

/// Faults that are neither next to each other nor hits read one page
/// each: random access reads nothing ahead.
#[test]
fn swap_readahead_stays_out_of_random_access() {
    let host = Host::new();
    let (mut world, base) = all_in_swap(&host);
    let start = (host.swap_reads.get(), host.swap_read_requests.get());
    for i in [12, 3, 8, 14, 1] {
        world.touch(0, base + i * PAGE_SIZE, false).unwrap();
    }
    assert_eq!((host.swap_reads.get() - start.0, host.swap_read_requests.get() - start.1), (5, 5));
    assert!(host.swap_cache.borrow().is_empty());
    world.check().unwrap();
    world.finish();
}

/// Reclaim over the inactive list: a first look at each page only takes
/// the accessed bit of the fault that made it (a second chance), the next
/// sends the oldest unused pages to swap, up to what was asked, and stops
/// there; the next pass goes on with the pages after them. A page shared
/// after fork leaves both processes at once, found through the reverse
/// map, and is written once. Every page still reads what was written,
/// and nothing is left in swap at the end.
#[test]
fn reclaim_gives_used_pages_a_second_chance_and_goes_round() {
    use crate::mm::vmscan::ScanControl;
    let host = Host::new();
    let mut world = World::new(&host);
    let base = world.written_anon(8);
    assert_eq!(host.lru_lens(), [8, 0, 0], "new pages start inactive");
    let swapped = |w: &World<'_>, p: usize| -> Vec<u64> { (0..8).filter(|&i| w.procs[p].0.pt.lookup_swap(base + i * PAGE_SIZE).is_some()).collect() };
    let mut sc = ScanControl::new(4, 8);
    world.shrink(&mut sc);
    assert_eq!((sc.nr_scanned, sc.nr_reclaimed), (8, 0), "a first look only takes the accessed bits");
    let mut sc = ScanControl::new(4, 100);
    world.shrink(&mut sc);
    assert_eq!((sc.nr_scanned, sc.nr_reclaimed), (4, 4));
    assert_eq!(swapped(&world, 0), [0, 1, 2, 3], "the oldest went");
    assert_eq!((world.procs[0].0.rss.swap, host.lru_lens()), (4, [4, 0, 0]));
    // Page 4 is used again: found used at a second look (the first took the
    // fault's accessed bit), it is promoted to the active list. (The
    // model's accesses through a present PTE do not set the accessed bit;
    // the MMU would.)
    let page4 = world.procs[0].0.pt.lookup(base + 4 * PAGE_SIZE).unwrap().pfn();
    assert!(host.pa.page(page4).test(pg::REFERENCED), "the first look left its mark");
    let mut slot = world.procs[0].0.pt.pte_slot(base + 4 * PAGE_SIZE, false).unwrap();
    let pte = slot.get();
    slot.set(&HostMem(&host), crate::mm::uvm::Pte(pte.0 | crate::arch::pgtable::flags::ACCESSED));
    let mut sc = ScanControl::new(2, 100);
    world.shrink(&mut sc);
    assert!(host.pa.page(page4).test(pg::ACTIVE), "used again: promoted");
    assert_eq!(swapped(&world, 0), [0, 1, 2, 3, 5, 6], "the next oldest went instead");
    assert_eq!(host.lru_lens(), [1, 1, 0]);
    // Shared with a child after fork, pages 4 and 7 leave both processes
    // in one pass, each written once; the active page is moved back to the
    // inactive list first, as that list is short.
    world.step(&Op::Fork { proc: 0 }).unwrap();
    let writes = host.swap_writes.get();
    let mut sc = ScanControl::new(2, 100);
    world.shrink(&mut sc);
    assert_eq!((swapped(&world, 0), swapped(&world, 1)), ((0..8).collect(), (0..8).collect()));
    assert_eq!((sc.nr_reclaimed, host.swap_writes.get() - writes), (2, 2), "written once each");
    assert!(host.swap_cache.borrow().is_empty());
    assert_eq!(host.lru_lens(), [0, 0, 0]);
    world.check().unwrap();
    // Read once: the first touch reads the slot (alone: a first fault has
    // no readahead) and keeps the page in the swap cache; the other
    // process finds it there.
    let reads = host.swap_reads.get();
    world.touch(0, base + 6 * PAGE_SIZE, false).unwrap();
    world.touch(1, base + 6 * PAGE_SIZE, false).unwrap();
    assert_eq!(host.swap_reads.get() - reads, 1, "a shared page read back twice");
    world.check().unwrap();
    // Writes copy; everything reads what it should, in both.
    for p in 0..2 {
        for i in 0..8 {
            world.touch(p, base + i * PAGE_SIZE, i % 2 == 0).unwrap();
        }
    }
    world.check().unwrap();
    world.finish();
    assert!(host.swap_cache.borrow().is_empty(), "pages left in the swap cache");
    assert!(host.swap.borrow().iter().all(|&(refs, _)| refs == 0), "swap slots left in use");
}

/// Pages of a locked VMA that reclaim meets go to the unevictable list at
/// once, and are not looked at again; `munlock` puts them back on the
/// inactive list, from where they go to swap like any other.
#[test]
fn locked_pages_are_culled_until_munlock() {
    use crate::mm::vma::VM_LOCKED;
    use crate::mm::vmscan::ScanControl;
    let host = Host::new();
    let mut world = World::new(&host);
    let base = world.written_anon(4);
    let end = base + 4 * PAGE_SIZE;
    world.procs[0].0.vm.mlock_range(base, end, VM_LOCKED).unwrap();
    let mut sc = ScanControl::new(4, 100);
    world.shrink(&mut sc);
    assert_eq!((sc.nr_scanned, sc.nr_reclaimed, host.lru_lens()), (4, 0, [0, 0, 4]), "culled at the first look");
    let mut sc = ScanControl::new(4, 100);
    world.shrink(&mut sc);
    assert_eq!(sc.nr_scanned, 0, "the unevictable list is not scanned");
    world.check().unwrap();
    world.procs[0].0.vm.mlock_range(base, end, 0).unwrap();
    world.procs[0].0.putback_unlocked(base, end);
    assert_eq!(host.lru_lens(), [4, 0, 0]);
    let mut sc = ScanControl::new(4, 100);
    world.shrink(&mut sc);
    assert_eq!((sc.nr_reclaimed, world.procs[0].0.rss.swap), (4, 4), "unlocked, they go to swap");
    for i in 0..4 {
        world.touch(0, base + i * PAGE_SIZE, false).unwrap();
    }
    world.check().unwrap();
    world.finish();
}

/// `MADV_COLD` takes the accessed bit of the pages only this process maps:
/// the next reclaim pass takes them at once, where the others get their
/// second chance.
#[test]
fn cold_pages_are_the_first_to_go() {
    use crate::mm::vmscan::ScanControl;
    let host = Host::new();
    let mut world = World::new(&host);
    let base = world.written_anon(4);
    assert_eq!(world.procs[0].0.deactivate(base, base + 2 * PAGE_SIZE), 2);
    let mut sc = ScanControl::new(4, 4);
    world.shrink(&mut sc);
    let swapped: Vec<u64> = (0..4).filter(|&i| world.procs[0].0.pt.lookup_swap(base + i * PAGE_SIZE).is_some()).collect();
    assert_eq!(swapped, [0, 1]);
    for i in 0..4 {
        world.touch(0, base + i * PAGE_SIZE, false).unwrap();
    }
    world.check().unwrap();
    world.finish();
}

/// A read fault on a file mapping maps the pages the file already has in
/// the 64 KiB window around it (clipped to the VMA), read-only, and only
/// those, with their map counts and RSS.
#[test]
fn a_read_fault_maps_the_cached_pages_around_it() {
    let host = Host::new();
    let mut world = World::new(&host);
    let obj = world.objs[0].clone();
    for i in [0, 1, 3, 5, 9] {
        obj.page(i).expect("an object page");
    }
    world.step(&Op::Mmap { proc: 0, kind: 1, obj: 0, pgoff: 0, npages: 12 }).unwrap();
    let base = *world.procs[0].1.pages.keys().next().unwrap();
    let mapped = |w: &World<'_>| -> Vec<u64> { (0..12).filter(|&i| w.procs[0].0.pt.lookup(base + i * PAGE_SIZE).is_some()).collect() };
    // The mapping starts 64 KiB aligned only by chance; the window is the
    // aligned 16 pages around the fault, clipped to the VMA.
    let window = |i: u64| {
        let va = base + i * PAGE_SIZE;
        let span = crate::mm::memory::fault_around_bytes();
        let lo = va.align_down(span).max(base);
        let hi = (va.align_down(span) + span).min(base + 12 * PAGE_SIZE);
        (lo - base) / PAGE_SIZE..(hi - base) / PAGE_SIZE
    };
    world.touch(0, base + 3 * PAGE_SIZE, false).unwrap();
    let want: Vec<u64> = [0, 1, 3, 5, 9].into_iter().filter(|i| window(3).contains(i)).collect();
    assert_eq!(mapped(&world), want);
    assert!(world.procs[0].0.pt.lookup(base).is_none_or(|e| !e.writable()), "fault-around maps read-only");
    world.check().unwrap();
    assert_eq!(world.procs[0].0.rss.file, want.len() as u64);
    world.finish();
}

/// munmap, mprotect and fork flush the TLB once per operation: page by
/// page up to Linux's ceiling of 33 changed translations, the whole TLB
/// past it, and not at all for translations that did not change.
#[test]
fn tlb_flushes_are_gathered_per_operation() {
    let host = Host::new();
    let mut world = World::new(&host);
    let flushes = |h: &Host| {
        let f = h.flushes.get();
        h.flushes.set((0, 0));
        f
    };
    for npages in [10u64, 100] {
        let base = world.written_anon(npages);
        flushes(&host);
        // Fork write-protects every page once; a second fork finds them
        // read-only already.
        world.step(&Op::Fork { proc: 0 }).unwrap();
        let want = if npages <= 33 { (npages, 0) } else { (0, 1) };
        assert_eq!(flushes(&host), want, "fork of {npages} written pages");
        world.step(&Op::Fork { proc: 0 }).unwrap();
        assert_eq!(flushes(&host), (0, 0), "a second fork changes nothing");
        world.step(&Op::Exit { proc: 1 }).unwrap();
        world.step(&Op::Exit { proc: 1 }).unwrap();
        flushes(&host);
        let (mm, model) = &mut world.procs[0];
        let tables = mm.pt.nr_tables;
        let (vm, mut ptes) = mm.split();
        vm.munmap(base, npages * PAGE_SIZE, &mut ptes).unwrap();
        model.pages.clear();
        // Plus one page flush per PTE table freed with the mapping.
        let freed = tables - world.procs[0].0.pt.nr_tables;
        assert!(freed >= 1, "the emptied PTE table was freed");
        assert_eq!(flushes(&host), (want.0 + freed, want.1), "munmap of {npages} mapped pages");
    }
    world.finish();
}

/// The fault path keeps a copy of the last anonymous VMA it used; a
/// change to the VMA set makes it stale. Here a fault leaves the copy,
/// mprotect makes the range read-only, and the next write must be refused
/// (it would be let through if the copy were used after the change).
#[test]
fn a_vma_changed_after_a_fault_is_not_taken_from_the_fault_cache() {
    let host = Host::new();
    let mut world = World::new(&host);
    world.step(&Op::Mmap { proc: 0, kind: 0, obj: 0, pgoff: 0, npages: 4 }).unwrap();
    let base = *world.procs[0].1.pages.keys().next().unwrap();
    world.touch(0, base, true).unwrap();
    assert!(world.procs[0].0.vm.cached_fault_vma(base + PAGE_SIZE).is_some(), "the fault left its copy");
    // prot 1: PROT_READ.
    world.step(&Op::Mprotect { proc: 0, page: 0, npages: 4, prot: 1 }).unwrap();
    assert!(world.procs[0].0.vm.cached_fault_vma(base + PAGE_SIZE).is_none(), "the change made it stale");
    // The model says refused; touch checks that the kernel says so too.
    world.touch(0, base + PAGE_SIZE, true).unwrap();
    world.touch(0, base + PAGE_SIZE, false).unwrap();
    world.check().unwrap();
    world.finish();
}
