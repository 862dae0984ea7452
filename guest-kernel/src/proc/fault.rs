//! User page faults (Linux `do_user_addr_fault` -> `handle_mm_fault`):
//! find the VMA, then do what `mm::memory::handle_pte_fault` decides: the
//! shared zero page for a read of anonymous memory, a fresh page for a
//! write, the object's page for a file or shmem mapping (copied on the
//! first write to a private one).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::arch::pgtable::{flags, ADDR_MASK};
use crate::mm::addr::{Pfn, PAGE_SIZE};
use crate::mm::buddy::{alloc_page, page_to_pfn, pfn_to_page};
use crate::mm::gfp::{__GFP_NOWARN, __GFP_ZERO, GFP_HIGHUSER};
use crate::mm::memory::{handle_pte_fault, Fault, Pte, VmaAccess};
use crate::mm::page::{pg, Page};
use crate::mm::uvm::{self, copy_user_page, page_add_map, page_remove_map, set_pte, user_pte_flags, zero_pfn};
use crate::mm::vma::{VM_EXEC, VM_GROWSDOWN, VM_READ, VM_SHARED, VM_WRITE};

use super::mm::Mm;

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

/// Resolves a fault at `addr` with x86 error code `err` in `mm`: finds the
/// VMA (growing the stack), asks [`handle_pte_fault`] what to do, does it.
pub fn handle_mm_fault(mm: &mut Mm, addr: u64, err: u64, stack_rlimit: u64) -> Result<(), FaultError> {
    let write = err & PF_WRITE != 0;
    let exec = err & PF_INSTR != 0;
    // Only what the fault needs is copied out of the VMA (its file only
    // when it has one): the fault path is hot and a whole VMA is not small.
    let (start, f, pgoff, file) = match mm.vm.find_vma(addr) {
        Some(v) if v.start <= addr => (v.start, v.flags, v.pgoff, v.file.clone()),
        Some(v) if v.flags & VM_GROWSDOWN != 0 => {
            mm.vm.expand_stack(addr, stack_rlimit).map_err(|_| FaultError::MapErr)?;
            let v = mm.vm.vma_at(addr).ok_or(FaultError::MapErr)?;
            (v.start, v.flags, v.pgoff, v.file.clone())
        }
        _ => return Err(FaultError::MapErr),
    };
    let access = VmaAccess { read: f & VM_READ != 0, write: f & VM_WRITE != 0, exec: f & VM_EXEC != 0, shared: f & VM_SHARED != 0, object: file.is_some() };
    let va = addr & !(PAGE_SIZE - 1);
    let slot = mm.pt.pte_slot(va, true).ok_or(FaultError::Oom)?;
    let pte = if *slot & flags::PRESENT != 0 {
        let page = pfn_to_page(Pfn((*slot & ADDR_MASK) >> 12));
        Pte::Present { writable: *slot & flags::RW != 0, page: uvm::page_kind(page) }
    } else if uvm::pte_mapped(*slot) {
        Pte::ProtNone
    } else {
        Pte::None
    };
    let action = handle_pte_fault(access, pte, write, exec);
    if action == Fault::AccessError {
        return Err(FaultError::AccErr);
    }
    mm.stats.faults += 1;
    PGFAULT.fetch_add(1, Relaxed);
    let old = (*slot & ADDR_MASK) >> 12;
    let file_page = || -> Result<&'static Page, FaultError> {
        let file = file.as_ref().ok_or(FaultError::Bus)?;
        let pfn = file.page(pgoff + (va - start) / PAGE_SIZE).ok_or(FaultError::Bus)?;
        Ok(pfn_to_page(Pfn(pfn)))
    };
    match action {
        Fault::AccessError => unreachable!("handled above"),
        Fault::NoObject => return Err(FaultError::Bus),
        Fault::RestoreAccess => set_pte(slot, (*slot & (ADDR_MASK | flags::SOFT_DIRTY)) | user_pte_flags(false, access.exec)),
        Fault::Spurious => {}
        Fault::ReuseAnon | Fault::MakeWritable => set_pte(slot, *slot | flags::RW | flags::DIRTY | flags::SOFT_DIRTY),
        Fault::Copy { from_zero } => {
            // wp_page_copy: a private copy replaces the shared page.
            let old = pfn_to_page(Pfn(old));
            let new = new_anon_page(from_zero)?;
            if !from_zero {
                copy_user_page(new, old);
            }
            mm.stats.cow_faults += 1;
            COW_FAULT.fetch_add(1, Relaxed);
            uvm::account_unmap(old, &mut mm.rss);
            set_pte(slot, page_to_pfn(new).phys().0 | user_pte_flags(true, access.exec) | flags::SOFT_DIRTY);
            page_remove_map(old);
            mm.rss.anon += 1;
        }
        Fault::MapZeroPage => {
            page_add_map(pfn_to_page(Pfn(zero_pfn())));
            set_pte(slot, Pfn(zero_pfn()).phys().0 | user_pte_flags(false, access.exec));
            mm.stats.zero_page_faults += 1;
            ZERO_PAGE_FAULT.fetch_add(1, Relaxed);
        }
        Fault::NewAnonPage => {
            let new = new_anon_page(true)?;
            set_pte(slot, page_to_pfn(new).phys().0 | user_pte_flags(true, access.exec) | flags::SOFT_DIRTY);
            mm.rss.anon += 1;
        }
        Fault::MapObjectPage { writable } => {
            // do_read_fault / do_shared_fault: the object's page (page cache
            // or shmem); a zero page that was there goes first.
            let page = file_page()?;
            if pte != Pte::None {
                let old = pfn_to_page(Pfn(old));
                uvm::account_unmap(old, &mut mm.rss);
                *slot = 0;
                page_remove_map(old);
            }
            page_add_map(page);
            let dirty = if writable { flags::SOFT_DIRTY } else { 0 };
            set_pte(slot, page_to_pfn(page).phys().0 | user_pte_flags(writable, access.exec) | dirty);
            if page.test(pg::SHMEM) {
                mm.rss.shmem += 1;
            } else {
                mm.rss.file += 1;
            }
        }
        Fault::CopyObjectPage => {
            // do_cow_fault: a private copy of the object's page.
            let page = file_page()?;
            let new = new_anon_page(false)?;
            copy_user_page(new, page);
            set_pte(slot, page_to_pfn(new).phys().0 | user_pte_flags(true, access.exec) | flags::SOFT_DIRTY);
            mm.rss.anon += 1;
            mm.stats.cow_faults += 1;
            COW_FAULT.fetch_add(1, Relaxed);
        }
    }
    // The PTE changed or was stale in the TLB (a PTE that was empty cannot
    // be cached: nothing to flush).
    if pte != Pte::None {
        crate::arch::cpu::invlpg(va);
    }
    Ok(())
}

/// A page for anonymous memory (`GFP_HIGHUSER`: HighMem when there is
/// some), zeroed through kmap unless known to be zero when `zero`; its
/// allocation reference becomes the mapping's.
fn new_anon_page(zero: bool) -> Result<&'static crate::mm::page::Page, FaultError> {
    // No allocation-failure report: running out is the OOM killer's
    // business, which prints its own.
    let gfp = if zero { GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN } else { GFP_HIGHUSER | __GFP_NOWARN };
    let page = alloc_page(gfp).ok_or(FaultError::Oom)?;
    page.set(pg::ANON);
    page._mapcount.store(0, Relaxed);
    Ok(page)
}
