//! User page faults (Linux `do_user_addr_fault` -> `handle_mm_fault`):
//! find the VMA, check the access, then fill the PTE: the shared zero page
//! for a read of anonymous memory, a fresh page for a write, the file's page
//! for a file mapping (copied on the first write to a private one).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::arch::pgtable::{flags, ADDR_MASK};
use crate::mm::addr::{Pfn, PAGE_SIZE};
use crate::mm::buddy::{alloc_page, page_to_pfn, pfn_to_page};
use crate::mm::gfp::{GFP_HIGHUSER, __GFP_NOWARN, __GFP_ZERO};
use crate::mm::page::pg;
use crate::mm::uvm::{self, copy_user_page, page_add_map, page_remove_map, user_pte_flags, zero_pfn};
use crate::mm::vma::{VM_EXEC, VM_GROWSDOWN, VM_READ, VM_WRITE};

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

/// Resolves a fault at `addr` with x86 error code `err` in `mm`.
pub fn handle_mm_fault(mm: &mut Mm, addr: u64, err: u64, stack_rlimit: u64) -> Result<(), FaultError> {
    let write = err & PF_WRITE != 0;
    let exec = err & PF_INSTR != 0;
    let vma = match mm.vm.find_vma(addr) {
        Some(v) if v.start <= addr => v.clone(),
        Some(v) if v.flags & VM_GROWSDOWN != 0 => {
            mm.vm.expand_stack(addr, stack_rlimit).map_err(|_| FaultError::MapErr)?;
            mm.vm.find_vma(addr).filter(|v| v.start <= addr).ok_or(FaultError::MapErr)?.clone()
        }
        _ => return Err(FaultError::MapErr),
    };
    let f = vma.flags;
    if (write && f & VM_WRITE == 0) || (exec && f & VM_EXEC == 0) || f & (VM_READ | VM_WRITE | VM_EXEC) == 0 {
        return Err(FaultError::AccErr);
    }
    let va = addr & !(PAGE_SIZE - 1);
    let vm_exec = f & VM_EXEC != 0;
    let vm_write = f & VM_WRITE != 0;
    let slot = mm.pt.pte_slot(va, true).ok_or(FaultError::Oom)?;
    mm.stats.faults += 1;
    PGFAULT.fetch_add(1, Relaxed);

    if uvm::pte_mapped(*slot) && *slot & flags::PRESENT == 0 {
        // PROT_NONE left over in an accessible VMA cannot happen (mprotect
        // rewrites the PTEs); be safe and restore access.
        *slot = (*slot & ADDR_MASK) | user_pte_flags(false, vm_exec);
        crate::arch::cpu::invlpg(va);
        return Ok(());
    }
    if *slot & flags::PRESENT != 0 {
        if !write || *slot & flags::RW != 0 {
            // Spurious (another path mapped it); the TLB entry was stale.
            crate::arch::cpu::invlpg(va);
            return Ok(());
        }
        // do_wp_page: a write to a present read-only page of a writable VMA.
        let old = pfn_to_page(Pfn((*slot & ADDR_MASK) >> 12));
        if uvm::is_anon(old) && old.mapcount() == 1 && old.refcount() == 1 {
            *slot |= flags::RW | flags::DIRTY;
            crate::arch::cpu::invlpg(va);
            return Ok(());
        }
        if f & crate::mm::vma::VM_SHARED != 0 {
            // wp_page_shared: a shared mapping writes the page itself.
            *slot |= flags::RW | flags::DIRTY;
            crate::arch::cpu::invlpg(va);
            return Ok(());
        }
        let new = new_anon_page(page_to_pfn(old).0 == zero_pfn())?;
        if page_to_pfn(old).0 != zero_pfn() {
            copy_user_page(new, old);
        }
        mm.stats.cow_faults += 1;
        COW_FAULT.fetch_add(1, Relaxed);
        uvm::account_unmap(old, &mut mm.rss);
        *slot = page_to_pfn(new).phys().0 | user_pte_flags(true, vm_exec);
        crate::arch::cpu::invlpg(va);
        page_remove_map(old);
        mm.rss.anon += 1;
        return Ok(());
    }

    if let Some(file) = &vma.file {
        let index = vma.pgoff + (va - vma.start) / PAGE_SIZE;
        let pfn = file.page(index).ok_or(FaultError::Bus)?;
        let page = pfn_to_page(Pfn(pfn));
        if write && f & crate::mm::vma::VM_SHARED == 0 {
            // do_cow_fault: a private copy of the file's page.
            let new = new_anon_page(false)?;
            copy_user_page(new, page);
            *slot = page_to_pfn(new).phys().0 | user_pte_flags(true, vm_exec);
            mm.rss.anon += 1;
            mm.stats.cow_faults += 1;
        COW_FAULT.fetch_add(1, Relaxed);
        } else {
            // do_read_fault / do_shared_fault: the object's page (page
            // cache or shmem), writable only in a shared writable mapping.
            page_add_map(page);
            let shared_write = f & crate::mm::vma::VM_SHARED != 0 && vm_write;
            *slot = Pfn(pfn).phys().0 | user_pte_flags(shared_write, vm_exec);
            if file.is_shmem() {
                mm.rss.shmem += 1;
            } else {
                mm.rss.file += 1;
            }
        }
        return Ok(());
    }

    // do_anonymous_page.
    if !write {
        page_add_map(pfn_to_page(Pfn(zero_pfn())));
        *slot = Pfn(zero_pfn()).phys().0 | user_pte_flags(false, vm_exec);
        mm.stats.zero_page_faults += 1;
        ZERO_PAGE_FAULT.fetch_add(1, Relaxed);
        return Ok(());
    }
    let new = new_anon_page(true)?;
    *slot = page_to_pfn(new).phys().0 | user_pte_flags(vm_write, vm_exec);
    mm.rss.anon += 1;
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
