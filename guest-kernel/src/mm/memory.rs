//! What a user page fault does (Linux `mm/memory.c`): [`handle_mm_fault`]
//! finds the VMA (growing the stack), [`decide_pte_fault`] decides from
//! the VMA and the PTE, and the branch runs: [`do_anonymous_page`],
//! [`do_read_fault`], [`do_cow_fault`], [`do_shared_fault`] or
//! [`do_wp_page`]. Also the PTE rules of `mprotect` and `fork` that go with
//! them; fork's copy of the page tables is in [`fork`](super::fork).
//!
//! The decisions are plain functions of a few booleans, so the host tests
//! check them against a model of processes, pages and their contents, and
//! the whole path runs on the host over `FakeRam` (`memory_proptest`),
//! including the rule the design rests on: the shared zero page is never
//! mapped writable, so a write can never land in it.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::{Pfn, UserAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::mm::gfp::{__GFP_NOWARN, __GFP_ZERO, GFP_HIGHUSER};
use crate::mm::huge_memory::{thp_vma_allowable, thp_vma_allowable_range, HugePmd, HPAGE_PMD_SIZE, THP_FAULT_FALLBACK};
use crate::mm::lru;
use crate::mm::mm_types::{MmStats, MmStruct};
use crate::mm::page::{pg, AnonRmap};
use crate::mm::swap_state;
use crate::mm::uvm::{
    account_map, account_unmap, flush_tlb_page, page_add_map, page_kind, page_remove_map, OwnedPage, Pte, PteSlot, Rss, UserMem, UserPageTables,
};
pub use crate::mm::uvm::{protect_writable, PageKind};
use crate::mm::vma::{FaultVma, VmFile, VM_EXEC, VM_GROWSDOWN, VM_READ, VM_SHARED, VM_WRITE};

/// A PTE, as the fault path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteState {
    /// Nothing mapped (`pte_none`).
    None,
    /// A page kept but made inaccessible by `PROT_NONE` (Linux
    /// `_PAGE_PROTNONE`).
    ProtNone,
    /// A page mapped, read-only or writable.
    Present { writable: bool, page: PageKind },
}

/// The parts of a VMA the fault path looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmaAccess {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// `VM_SHARED`: writes go to the object, every mapping sees them.
    pub shared: bool,
    /// Backed by an object (a file or, for shared anonymous memory, a
    /// shmem object); private anonymous memory has none.
    pub object: bool,
}

/// What the fault handler must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The VMA forbids the access: `SIGSEGV` with `SEGV_ACCERR`.
    AccessError,
    /// A `PROT_NONE` PTE left in a VMA that allows access again: restore
    /// the access (read-only; a write faults once more).
    RestoreAccess,
    /// The PTE already allows the access: a stale TLB entry, flush it.
    Spurious,
    /// `do_wp_page` reusing an exclusive anonymous page: make the PTE
    /// writable in place.
    ReuseAnon,
    /// `wp_page_shared`: an object's page in a shared writable mapping
    /// becomes writable in place (the write goes to the object).
    MakeWritable,
    /// `wp_page_copy`: map a new anonymous page instead, a copy of the old
    /// one, or zeroed when the old one is the zero page (no copy needed).
    Copy { from_zero: bool },
    /// `do_anonymous_page`, read: map the zero page read-only.
    MapZeroPage,
    /// `do_anonymous_page`, write: map a new zeroed anonymous page.
    NewAnonPage,
    /// `do_read_fault` / `do_shared_fault`: map the object's page, writable
    /// only in a shared writable mapping. Whatever the PTE held (the zero
    /// page, never written) is dropped first.
    MapObjectPage { writable: bool },
    /// `do_cow_fault`: a write to a private mapping of an object maps a
    /// private copy of the object's page.
    CopyObjectPage,
    /// A shared mapping with no object behind it. The kernel never makes
    /// one (shared anonymous memory always gets a shmem object); if one
    /// existed, a fault in it is `SIGBUS`, never a write to a page that is
    /// not the mapping's own.
    NoObject,
}

/// Decides a user fault: an access (`write`, `exec`; a read otherwise) at
/// a PTE in a VMA (Linux `handle_pte_fault`, after `access_error`).
#[inline]
pub fn decide_pte_fault(vma: VmaAccess, pte: PteState, write: bool, exec: bool) -> Fault {
    if (write && !vma.write) || (exec && !vma.exec) || !(vma.read || vma.write || vma.exec) {
        return Fault::AccessError;
    }
    match pte {
        PteState::ProtNone => Fault::RestoreAccess,
        PteState::Present { writable, .. } if !write || writable => Fault::Spurious,
        PteState::Present { page, .. } => decide_wp_page(vma, page),
        PteState::None if vma.object => decide_fault(vma, write),
        PteState::None if vma.shared => Fault::NoObject,
        PteState::None if write => Fault::NewAnonPage,
        PteState::None => Fault::MapZeroPage,
    }
}

/// A write to a present, read-only PTE in a writable VMA.
#[inline]
fn decide_wp_page(vma: VmaAccess, page: PageKind) -> Fault {
    match page {
        // The zero page is never written: a shared mapping goes to its
        // object, a private one gets its own zeroed page.
        PageKind::Zero if vma.shared => {
            if vma.object {
                Fault::MapObjectPage { writable: true }
            } else {
                Fault::NoObject
            }
        }
        PageKind::Zero => Fault::Copy { from_zero: true },
        PageKind::Anon { exclusive: true } => Fault::ReuseAnon,
        // A shared mapping writes the object's page itself.
        PageKind::Object if vma.shared => Fault::MakeWritable,
        // Anonymous pages in a shared VMA cannot exist (no object to share
        // them through); copy rather than write a page others map.
        PageKind::Anon { exclusive: false } | PageKind::Object => Fault::Copy { from_zero: false },
    }
}

/// A fault on an empty PTE of a VMA backed by an object.
#[inline]
fn decide_fault(vma: VmaAccess, write: bool) -> Fault {
    if write && !vma.shared {
        Fault::CopyObjectPage
    } else {
        Fault::MapObjectPage { writable: vma.shared && vma.write }
    }
}

/// Whether `fork` write-protects a VMA's PTEs in both processes so that the
/// first write copies (Linux `copy_present_pte` for a COW mapping: private
/// and may be written).
pub fn fork_write_protect(shared: bool, may_write: bool) -> bool {
    !shared && may_write
}

/// What a file or shmem mapping refers to, as the fault path uses it.
pub trait VmObject: VmFile {
    /// The page holding bytes `index * 4096..`, allocated (zeroed) for a
    /// hole inside the object; `None` at or beyond the end (SIGBUS) or out
    /// of memory. The object keeps its own reference.
    fn page(&self, index: u64) -> Option<Pfn>;
    /// Whether page `index` lies inside the object (so that a `page` that
    /// failed there ran out of memory, where past the end it is SIGBUS).
    fn contains_page(&self, index: u64) -> bool;
    /// Page `index` if the object already has it (in its page cache),
    /// without allocating: what fault-around maps.
    fn find_page(&self, index: u64) -> Option<Pfn>;
}

/// Linux's `fault_around_bytes`: a read fault on a file or shmem mapping
/// also maps the pages the object already has in the naturally aligned
/// window of this size around the address (within the VMA and the PTE
/// table). 64 KiB by default; `fault_around_bytes=` on the command line
/// changes it (one page turns it off).
static FAULT_AROUND_PAGES: AtomicU64 = AtomicU64::new(16);

/// Sets `fault_around_bytes` as Linux's debugfs file does: rounded down
/// to a power of two pages, at most one PTE table (2 MiB), at least a page.
pub fn set_fault_around_bytes(bytes: u64) {
    let pages = (bytes / PAGE_SIZE).clamp(1, 512);
    FAULT_AROUND_PAGES.store(1 << pages.ilog2(), Relaxed);
}

/// The `fault_around_bytes` in force.
pub fn fault_around_bytes() -> u64 {
    FAULT_AROUND_PAGES.load(Relaxed) * PAGE_SIZE
}

/// x86 page-fault error code bits.
pub const PF_PROT: u64 = 1 << 0;
pub const PF_WRITE: u64 = 1 << 1;
pub const PF_USER: u64 = 1 << 2;
pub const PF_INSTR: u64 = 1 << 4;

/// Page faults handled (`/proc/vmstat` `pgfault`), and copy-on-write
/// faults among them.
pub static PGFAULT: AtomicU64 = AtomicU64::new(0);
pub static COW_FAULT: AtomicU64 = AtomicU64::new(0);
/// Read faults answered with the shared zero page.
pub static ZERO_PAGE_FAULT: AtomicU64 = AtomicU64::new(0);

/// Why a fault could not be resolved, as the signal it becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// SIGSEGV, `SEGV_MAPERR` (no mapping).
    MapErr,
    /// SIGSEGV, `SEGV_ACCERR` (mapping forbids the access).
    AccErr,
    /// SIGBUS: a file mapping beyond the end of the file.
    Bus,
    /// Out of memory (the OOM path).
    Oom,
}

/// What a resolved fault did (for counting and statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A new zeroed anonymous page (`do_anonymous_page`, write).
    Anonymous,
    /// The shared zero page mapped (`do_anonymous_page`, read).
    ZeroPage,
    /// A private copy (`do_wp_page`, `do_cow_fault`).
    Cow,
    /// An object's page mapped read-only (`do_read_fault`).
    FileRead,
    /// An object's page mapped writable (`do_shared_fault`, or a shared
    /// page made writable in place).
    SharedWrite,
    /// A page read back from swap (`do_swap_page`; a major fault).
    SwapIn,
    /// The stack VMA grew to the address (then one of the above).
    StackGrowth,
    /// Nothing to map: a stale TLB entry, an exclusive page made writable
    /// in place, or a `PROT_NONE` PTE restored.
    Other,
}

/// One fault in progress (Linux `struct vm_fault`): the PTE slot, borrowed
/// from the tables, and the counters a branch updates.
struct VmFault<'a, M: UserMem> {
    mem: M,
    exec: bool,
    /// Where a new anonymous page for the faulting address belongs.
    anon: AnonRmap,
    pte: PteSlot<'a>,
    rss: &'a mut Rss,
    stats: &'a mut MmStats,
}

impl<M: UserMem> VmFault<'_, M> {
    /// Installs a new anonymous page the fault allocated, writable.
    fn map_new_anon(&mut self, page: OwnedPage<M>) {
        let pfn = page_add_new_anon_rmap(&self.mem, page, self.anon);
        self.pte.set(&self.mem, Pte::new(pfn, true, self.exec).mksoft_dirty());
        self.rss.anon += 1;
    }

    fn count_cow(&mut self) {
        self.stats.cow_faults += 1;
        COW_FAULT.fetch_add(1, Relaxed);
    }
}

/// Resolves a fault at `addr` with x86 error code `err` in `mm` (Linux
/// `handle_mm_fault`): finds the VMA, growing a stack VMA down to `addr`
/// within `stack_rlimit`, decides with [`decide_pte_fault`] and runs the
/// branch.
pub fn handle_mm_fault<F: VmObject, M: UserMem>(mm: &mut MmStruct<F, M>, addr: UserAddr, err: u64, stack_rlimit: u64) -> Result<FaultKind, FaultError> {
    let write = err & PF_WRITE != 0;
    let exec = err & PF_INSTR != 0;
    // Only what the fault needs is copied out of the VMA (its file only
    // when it has one): the fault path is hot and a whole VMA is not small.
    let mut grew = false;
    let (start, vma_end, f, pgoff, file) = match mm.vm.cached_fault_vma(addr) {
        Some(v) => (v.start, v.end, v.flags, v.pgoff, None),
        None => match mm.vm.find_vma_for_fault(addr) {
            Some(v) if v.start <= addr => {
                if v.file.is_none() {
                    mm.vm.cache_fault_vma(FaultVma { start: v.start, end: v.end, flags: v.flags, pgoff: v.pgoff });
                }
                (v.start, v.end, v.flags, v.pgoff, v.file.clone())
            }
            Some(v) if v.flags & VM_GROWSDOWN != 0 => {
                mm.vm.expand_stack(addr, stack_rlimit).map_err(|_| FaultError::MapErr)?;
                grew = true;
                let v = mm.vm.vma_at(addr).ok_or(FaultError::MapErr)?;
                (v.start, v.end, v.flags, v.pgoff, v.file.clone())
            }
            _ => return Err(FaultError::MapErr),
        },
    };
    let access = VmaAccess { read: f & VM_READ != 0, write: f & VM_WRITE != 0, exec: f & VM_EXEC != 0, shared: f & VM_SHARED != 0, object: file.is_some() };
    let va = addr.page_align_down();
    let mem = mm.pt.mem();
    let anon = AnonRmap { family: mm.anon_family, index: pgoff + ((va - start) >> PAGE_SHIFT) };
    let MmStruct { pt, rss, stats, .. } = mm;
    let huge_fault = file.is_none() && write && access.write && thp_vma_allowable(f, start, vma_end, va);
    if huge_fault || (file.is_none() && pt.has_huge()) {
        match pt.huge_pmd_state(va) {
            HugePmd::None if huge_fault => {
                let haddr = va.align_down(HPAGE_PMD_SIZE);
                if pt.do_huge_pmd_anonymous_page(va, access.exec, rss, AnonRmap { index: anon.index - ((va - haddr) >> PAGE_SHIFT), ..anon }) {
                    stats.faults += 1;
                    PGFAULT.fetch_add(1, Relaxed);
                    return Ok(if grew { FaultKind::StackGrowth } else { FaultKind::Anonymous });
                }
                // No block or no table: 4 KiB pages, as Linux falls back.
                THP_FAULT_FALLBACK.fetch_add(1, Relaxed);
            }
            HugePmd::Huge(_) if write && access.write && thp_vma_allowable_range(start, vma_end, va) && pt.huge_pmd_reuse(va) => {
                stats.faults += 1;
                PGFAULT.fetch_add(1, Relaxed);
                return Ok(FaultKind::Other);
            }
            // An access the VMA forbids: refused, the huge page left whole.
            HugePmd::Huge(pmd)
                if decide_pte_fault(access, PteState::Present { writable: pmd.writable(), page: PageKind::Anon { exclusive: false } }, write, exec)
                    == Fault::AccessError =>
            {
                return Err(FaultError::AccErr)
            }
            // A read the PMD allows: a stale translation, nothing to do.
            HugePmd::Huge(pmd) if !write && !exec && access.read && pmd.present() => {
                stats.faults += 1;
                PGFAULT.fetch_add(1, Relaxed);
                flush_tlb_page(&mem, va);
                return Ok(FaultKind::Other);
            }
            // Anything else on a huge page goes the 4 KiB way: a shared one
            // is split, and the write copies one page (Linux since 5.8).
            HugePmd::Huge(_) => pt.split_huge_pmd(va),
            _ => {}
        }
    }
    let slot = pt.pte_slot(va, true).ok_or(FaultError::Oom)?;
    let orig = slot.get();
    if orig.is_swap() {
        // The VMA decides as for an empty PTE whether the access is allowed.
        if decide_pte_fault(access, PteState::None, write, exec) == Fault::AccessError {
            return Err(FaultError::AccErr);
        }
        stats.faults += 1;
        PGFAULT.fetch_add(1, Relaxed);
        let mut vmf = VmFault { mem, exec: access.exec, anon, pte: slot, rss: &mut *rss, stats };
        do_swap_page(&mut vmf, orig, access.write)?;
        // A write to a page others still share: copied now, as Linux's
        // do_swap_page goes on to do_wp_page.
        if write && access.write && !vmf.pte.get().writable() {
            do_wp_page(&mut vmf, false)?;
        }
        return Ok(if grew { FaultKind::StackGrowth } else { FaultKind::SwapIn });
    }
    let pte = if orig.present() {
        PteState::Present { writable: orig.writable(), page: page_kind(&mem, orig.pfn()) }
    } else if orig.mapped() {
        PteState::ProtNone
    } else {
        PteState::None
    };
    let action = decide_pte_fault(access, pte, write, exec);
    if action == Fault::AccessError {
        return Err(FaultError::AccErr);
    }
    stats.faults += 1;
    PGFAULT.fetch_add(1, Relaxed);
    // No page inside the object is out of memory (Linux's filemap_fault
    // VM_FAULT_OOM); past its end, SIGBUS.
    let object_page = || {
        let (file, index) = (file.as_ref().ok_or(FaultError::Bus)?, pgoff + (va - start) / PAGE_SIZE);
        file.page(index).ok_or(if file.contains_page(index) { FaultError::Oom } else { FaultError::Bus })
    };
    let mut vmf = VmFault { mem, exec: access.exec, anon, pte: slot, rss: &mut *rss, stats };
    let kind = match action {
        Fault::AccessError => unreachable!("handled above"),
        Fault::NoObject => return Err(FaultError::Bus),
        Fault::RestoreAccess => {
            vmf.pte.set(&mem, orig.modify(true, false, access.exec));
            FaultKind::Other
        }
        Fault::Spurious => FaultKind::Other,
        Fault::ReuseAnon => {
            wp_page_reuse(&mut vmf);
            FaultKind::Other
        }
        Fault::MakeWritable => {
            wp_page_reuse(&mut vmf);
            FaultKind::SharedWrite
        }
        Fault::Copy { from_zero } => {
            do_wp_page(&mut vmf, from_zero)?;
            FaultKind::Cow
        }
        Fault::MapZeroPage => {
            do_anonymous_page(&mut vmf, false)?;
            FaultKind::ZeroPage
        }
        Fault::NewAnonPage => {
            do_anonymous_page(&mut vmf, true)?;
            FaultKind::Anonymous
        }
        Fault::MapObjectPage { writable: false } => {
            do_read_fault(&mut vmf, object_page()?);
            FaultKind::FileRead
        }
        Fault::MapObjectPage { writable: true } => {
            do_shared_fault(&mut vmf, object_page()?);
            FaultKind::SharedWrite
        }
        Fault::CopyObjectPage => {
            do_cow_fault(&mut vmf, object_page()?)?;
            FaultKind::Cow
        }
    };
    // The PTE changed or was stale in the TLB (a PTE that was empty cannot
    // be cached: nothing to flush).
    if pte != PteState::None {
        flush_tlb_page(&mem, va);
    }
    if let (Some(file), false, PteState::None) = (&file, write, pte) {
        do_fault_around(pt, rss, file, Window { vma_start: start, vma_end, pgoff, va, exec: access.exec });
    }
    Ok(if grew { FaultKind::StackGrowth } else { kind })
}

/// Where a fault-around happens: the faulting page and its VMA.
struct Window {
    vma_start: UserAddr,
    vma_end: UserAddr,
    pgoff: u64,
    va: UserAddr,
    exec: bool,
}

/// After a read fault on an object's mapping: the pages the object
/// already has around the address are mapped too, read-only, in empty
/// PTEs (Linux `do_fault_around` and `filemap_map_pages`), so reading a
/// file through a mapping takes a fault per window instead of per page.
/// The window is `fault_around_bytes`, naturally aligned, clipped to the
/// VMA and to the PTE table of the fault. Nothing is allocated: a page
/// the object does not have is left to its own fault.
fn do_fault_around<F: VmObject, M: UserMem>(pt: &mut UserPageTables<M>, rss: &mut Rss, file: &F, w: Window) {
    const PMD_SIZE: u64 = 1 << 21;
    let span = FAULT_AROUND_PAGES.load(Relaxed) * PAGE_SIZE;
    if span <= PAGE_SIZE {
        return;
    }
    let table = w.va.align_down(PMD_SIZE);
    let start = w.va.align_down(span).max(w.vma_start).max(table);
    let end = (w.va.align_down(span) + span).min(w.vma_end).min(table + PMD_SIZE);
    let mem = pt.mem();
    pt.for_each_pte(start, end, |a, slot| {
        if a == w.va || !slot.get().is_none() {
            return;
        }
        let Some(pfn) = file.find_page(w.pgoff + (a - w.vma_start) / PAGE_SIZE) else { return };
        page_add_map(mem.page(pfn));
        slot.set(&mem, Pte::new(pfn, false, w.exec));
        account_map(&mem, pfn, rss);
    });
}

/// A fault on an empty PTE of private anonymous memory: a read maps the
/// shared zero page read-only, a write a new zeroed page.
fn do_anonymous_page<M: UserMem>(vmf: &mut VmFault<'_, M>, write: bool) -> Result<(), FaultError> {
    if write {
        let page = new_anon_page(&vmf.mem, true)?;
        vmf.map_new_anon(page);
    } else {
        let zero = vmf.mem.zero_pfn();
        page_add_map(vmf.mem.page(zero));
        vmf.pte.set(&vmf.mem, Pte::new(zero, false, vmf.exec));
        vmf.stats.zero_page_faults += 1;
        ZERO_PAGE_FAULT.fetch_add(1, Relaxed);
    }
    Ok(())
}

/// Major faults: pages that had to be read back (Linux `PGMAJFAULT`).
pub static PGMAJFAULT: AtomicU64 = AtomicU64::new(0);

/// A fault on a swap entry (Linux `do_swap_page`): the page from the swap
/// cache if it is still there (a minor fault), else a new page read back
/// from the slot (put into the swap cache when other PTEs still name the
/// slot, so that it is read once). The PTE's reference to the slot goes,
/// and the slot with it once only the cache names it. Mapped writable
/// when the VMA is and no one else maps the page; otherwise a write
/// copies. A read error is `SIGBUS`, as Linux's `VM_FAULT_SIGBUS` for a
/// failed swap-in; the entry stays.
fn do_swap_page<M: UserMem>(vmf: &mut VmFault<'_, M>, orig: Pte, writable: bool) -> Result<(), FaultError> {
    let entry = orig.swap_entry();
    let mem = vmf.mem;
    let pfn = match mem.swap_cache_find(entry) {
        Some(pfn) => {
            swap_state::readahead_hit(&mem, pfn);
            // A page read ahead gets its place now; one another mapping
            // of the family brought back has it already (the same).
            vmf.anon.set(mem.page(pfn));
            page_add_map(mem.page(pfn));
            lru::lru_cache_add(&mem, pfn);
            pfn
        }
        None => {
            let page = new_anon_page(&mem, false)?;
            if !swap_state::swap_in_cluster(&mem, entry, page.pfn()) {
                // The new page goes back as it came.
                return Err(FaultError::Bus);
            }
            let pfn = page_add_new_anon_rmap(&mem, page, vmf.anon);
            if mem.swap_count(entry) > 1 {
                swap_state::add_to_swap_cache(&mem, pfn, entry);
            }
            PGMAJFAULT.fetch_add(1, Relaxed);
            pfn
        }
    };
    mem.swap_free(entry);
    swap_state::try_to_free_swap(&mem, pfn);
    vmf.rss.swap = vmf.rss.swap.saturating_sub(1);
    vmf.rss.anon += 1;
    let pte = Pte::new(pfn, false, vmf.exec);
    let exclusive = page_kind(&mem, pfn) == (PageKind::Anon { exclusive: true });
    vmf.pte.set(&mem, if writable && exclusive { pte.mkwrite() } else { pte.mksoft_dirty() });
    Ok(())
}

/// A write to a read-only PTE whose page may be written in place: an
/// exclusive anonymous page, or an object's page in a shared mapping.
fn wp_page_reuse<M: UserMem>(vmf: &mut VmFault<'_, M>) {
    let pte = vmf.pte.get().mkwrite();
    vmf.pte.set(&vmf.mem, pte);
}

/// A write to a read-only PTE that must not write its page (Linux
/// `do_wp_page` -> `wp_page_copy`): a private copy replaces it, zeroed
/// when the old page is the zero page.
fn do_wp_page<M: UserMem>(vmf: &mut VmFault<'_, M>, from_zero: bool) -> Result<(), FaultError> {
    let old = vmf.pte.get().pfn();
    let new = new_anon_page(&vmf.mem, from_zero)?;
    if !from_zero {
        vmf.mem.copy_page(new.pfn(), old);
    }
    vmf.count_cow();
    account_unmap(&vmf.mem, old, vmf.rss);
    vmf.map_new_anon(new);
    page_remove_map(&vmf.mem, old);
    Ok(())
}

/// A read of a file or shmem mapping, or any access to a read-only one:
/// the object's page, read-only.
fn do_read_fault<M: UserMem>(vmf: &mut VmFault<'_, M>, page: Pfn) {
    finish_fault(vmf, page, false);
}

/// Any access to a shared writable mapping of an object: the object's
/// page, writable (the write goes to the object).
fn do_shared_fault<M: UserMem>(vmf: &mut VmFault<'_, M>, page: Pfn) {
    finish_fault(vmf, page, true);
}

/// Maps an object's page (Linux `finish_fault`); a zero page that was there
/// (a read of a shared mapping before the object had the page) goes first.
fn finish_fault<M: UserMem>(vmf: &mut VmFault<'_, M>, pfn: Pfn, writable: bool) {
    let mem = vmf.mem;
    if vmf.pte.get().mapped() {
        let old = vmf.pte.get().pfn();
        account_unmap(&mem, old, vmf.rss);
        vmf.pte.clear();
        page_remove_map(&mem, old);
    }
    let page = mem.page(pfn);
    page_add_map(page);
    let pte = Pte::new(pfn, writable, vmf.exec);
    vmf.pte.set(&mem, if writable { pte.mksoft_dirty() } else { pte });
    if page.test(pg::SHMEM) {
        vmf.rss.shmem += 1;
    } else {
        vmf.rss.file += 1;
    }
}

/// A write to a private mapping of an object where nothing is mapped yet:
/// a private copy of the object's page.
fn do_cow_fault<M: UserMem>(vmf: &mut VmFault<'_, M>, page: Pfn) -> Result<(), FaultError> {
    let new = new_anon_page(&vmf.mem, false)?;
    vmf.mem.copy_page(new.pfn(), page);
    vmf.map_new_anon(new);
    vmf.count_cow();
    Ok(())
}

/// A page for anonymous memory (`GFP_HIGHUSER`: HighMem when there is
/// some), zeroed when `zero` unless known to be zero.
fn new_anon_page<M: UserMem>(mem: &M, zero: bool) -> Result<OwnedPage<M>, FaultError> {
    // No allocation-failure report: running out is the OOM killer's
    // business, which prints its own.
    let gfp = if zero { GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN } else { GFP_HIGHUSER | __GFP_NOWARN };
    OwnedPage::alloc(*mem, gfp).ok_or(FaultError::Oom)
}

/// Makes a new page anonymous memory about to be mapped by one PTE (Linux
/// `folio_add_new_anon_rmap`): its allocation reference becomes the
/// mapping's.
fn page_add_new_anon_rmap<M: UserMem>(mem: &M, page: OwnedPage<M>, rmap: AnonRmap) -> Pfn {
    let pfn = page.into_pfn();
    let page = mem.page(pfn);
    page.set(pg::ANON);
    rmap.set(page);
    lru::lru_cache_add(mem, pfn);
    page._mapcount.store(0, Relaxed);
    pfn
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
