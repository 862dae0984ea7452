//! An address space copied for `fork` (Linux `dup_mmap` in
//! `kernel/fork.c` and `copy_page_range` in `mm/memory.c`): the VMAs, and
//! every mapped page shared by parent and child, write-protected where a
//! write must copy.

use alloc::vec::Vec;

use crate::mm::addr::UserAddr;
use crate::mm::memory::fork_write_protect;
use crate::mm::mm_types::MmStruct;
use crate::mm::uvm::{account_map, page_add_map, Rss, TlbGather, UserMem, UserPageTables};
use crate::mm::vma::{VmFile, VM_DONTCOPY, VM_MAYWRITE, VM_SHARED, VM_WIPEONFORK};

/// Fork's copy of `[start, end)` from the parent's tables into the child's
/// (Linux `copy_page_range`): every page the parent maps is mapped in the
/// child too, with one more reference and map count; with `cow` (a
/// private writable VMA, [`fork_write_protect`]) the PTE is write-protected
/// in both, so that the first write copies; `tlb` gathers the parent's
/// translations that lost their write permission. False when out of
/// memory for the child's tables.
pub fn copy_page_range<M: UserMem>(
    child: &mut UserPageTables<M>,
    child_rss: &mut Rss,
    parent: &mut UserPageTables<M>,
    tlb: &mut TlbGather,
    start: UserAddr,
    end: UserAddr,
    cow: bool,
) -> bool {
    let mem = parent.mem();
    // Huge pages wholly inside the VMA are shared as they are; one that
    // straddles its edge (a VMA split by madvise) is split first.
    parent.split_huge_range(start, end, true);
    if !child.copy_huge_pmds_from(parent, start, end, cow, child_rss, tlb) {
        return false;
    }
    child.copy_ptes_from(parent, start, end, |va, e, slot| {
        let pte = e.get();
        if pte.is_swap() {
            // Both processes name the slot (Linux `swap_duplicate`).
            mem.swap_dup(pte.swap_entry());
            slot.set(&mem, pte);
            child_rss.swap += 1;
            return;
        }
        page_add_map(mem.page(pte.pfn()));
        account_map(&mem, pte.pfn(), child_rss);
        if cow && pte.writable() {
            let ro = pte.wrprotect();
            e.set(&mem, ro);
            tlb.add(va);
            slot.set(&mem, ro);
        } else {
            slot.set(&mem, pte);
        }
    })
}

impl<F: VmFile, M: UserMem> MmStruct<F, M> {
    /// A copy for a child process (Linux `dup_mmap`): the same VMAs
    /// (less `MADV_DONTFORK` ones; `MADV_WIPEONFORK` ones empty), every
    /// mapped page mapped in both by `copy_page_range`. The parent's TLB is
    /// flushed once at the end. `None` when out of memory (nothing of the
    /// child is left).
    pub fn dup_mmap(&mut self) -> Option<Self> {
        let mut child = Self::new(self.pt.mem())?;
        child.vm = self.vm.dup_for_fork();
        child.flags = self.flags;
        // The pages about to be shared are found through the family.
        child.anon_family = self.anon_family;
        child.saved_auxv = self.saved_auxv.clone();
        // PR_MDWE_NO_INHERIT: the child starts without it.
        if self.flags.mdwe & 2 != 0 {
            child.flags.mdwe = 0;
        }
        let ranges: Vec<(UserAddr, UserAddr, bool)> = self
            .vm
            .iter()
            .filter(|v| v.flags & (VM_DONTCOPY | VM_WIPEONFORK) == 0)
            .map(|v| (v.start, v.end, fork_write_protect(v.flags & VM_SHARED != 0, v.flags & VM_MAYWRITE != 0)))
            .collect();
        let mut ok = true;
        let mut tlb = TlbGather::new();
        for (start, end, cow) in ranges {
            if !copy_page_range(&mut child.pt, &mut child.rss, &mut self.pt, &mut tlb, start, end, cow) {
                ok = false;
                break;
            }
        }
        // One flush for the write protection.
        tlb.finish(&self.pt.mem());
        if !ok {
            // Dropping the child frees what was copied.
            return None;
        }
        child.hiwater_rss = child.rss.total();
        Some(child)
    }
}
