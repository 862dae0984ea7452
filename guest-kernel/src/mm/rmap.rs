//! The reverse map of anonymous memory (Linux `mm/rmap.c`): from a page to
//! every PTE that maps it, so that reclaim can look at a page's accessed
//! bits and replace all its PTEs with a swap entry without walking every
//! page table in the system.
//!
//! Linux finds an anonymous page's mappings through its `anon_vma`: the
//! page records which one and its linear index, and each VMA on that
//! `anon_vma`'s list has the page, if at all, at `vm_start + (index -
//! vm_pgoff) * PAGE_SIZE`. Here the group is coarser, as in Linux 2.6.0's
//! first object-based reverse map: one *family* per exec'd image, shared
//! by every address space forked from it ([`MmStruct::anon_family`]).
//! A page records its family (`mapping`) and its linear index (`index`);
//! `mremap` and VMA splits keep a VMA's `pgoff` for exactly this reason.
//!
//! So an address space of the family may map the page only where one of
//! its private VMAs covers the index. For anonymous memory that was never
//! moved it is `index << PAGE_SHIFT` itself (an anonymous VMA's `pgoff` is
//! the page number of its first address), which the walk tries first; only
//! mappings not found there (moved by `mremap`, or private copies of file
//! pages, whose `pgoff` is the file's) cost a look through the VMAs.

use core::ops::ControlFlow;

use crate::mm::addr::{Pfn, UserAddr, PAGE_SHIFT};
use crate::mm::mm_types::MmStruct;
use crate::mm::page::Page;
pub use crate::mm::page::{page_anon_rmap, AnonRmap};
use crate::mm::uvm::UserMem;
use crate::mm::vma::{VmFile, VmaTree, VM_SHARED};

/// How many mappings the reverse map should find for a mapped anonymous
/// page: its map count (for a huge page whose counts stand for all its
/// pages, the PMDs that map it).
pub fn page_mappings(page: &Page) -> u64 {
    page.mapcount().max(0) as u64
}

/// Where page `index` lies in a private VMA of `vm` that covers it, other
/// than `except`.
fn vma_addresses<F: VmFile>(vm: &VmaTree<F>, index: u64, except: Option<UserAddr>) -> impl Iterator<Item = UserAddr> + '_ {
    vm.iter()
        .filter(move |v| v.flags & VM_SHARED == 0 && v.pgoff <= index && index - v.pgoff < v.pages())
        .map(move |v| v.start + ((index - v.pgoff) << PAGE_SHIFT))
        .filter(move |&a| Some(a) != except)
}

/// The address the first look tries: where the page is if its VMA was
/// never moved.
fn home_address<F: VmFile>(vm: &VmaTree<F>, index: u64) -> Option<UserAddr> {
    let addr = UserAddr::new(index.checked_mul(1 << PAGE_SHIFT)?);
    let v = vm.vma_at(addr)?;
    (v.flags & VM_SHARED == 0 && v.pgoff_at(addr) == index).then_some(addr)
}

/// Whether `mm` maps `pfn` at `addr` (a huge page at its first address).
/// The PTE is reached through the tables' last-table cache: reclaim's
/// pages come from the LRU in fault order, so mostly from one table.
fn maps<F: VmFile, M: UserMem>(mm: &mut MmStruct<F, M>, addr: UserAddr, pfn: Pfn) -> bool {
    mm.pt.mapped_pfn_at(addr) == Some(pfn)
}

/// Visits every mapping of the anonymous page `pfn` in the address spaces
/// `mms` (Linux `rmap_walk_anon`): `visit(mm, addr)` for each PTE that
/// maps it (for a huge page, each PMD, at its first address), until it
/// breaks or the walk found as many as [`page_mappings`] counted when it
/// began. `visit` may change the mapping it is given. Returns how many it
/// visited. Address spaces of other families are passed over at once, so
/// the caller may hand it every address space there is.
pub fn rmap_walk_anon<F: VmFile, M: UserMem>(
    mem: &M,
    pfn: Pfn,
    mms: &mut [&mut MmStruct<F, M>],
    mut visit: impl FnMut(&mut MmStruct<F, M>, UserAddr) -> ControlFlow<()>,
) -> u64 {
    let page = mem.page(pfn);
    let Some(AnonRmap { family, index }) = page_anon_rmap(page) else { return 0 };
    let want = page_mappings(page);
    let mut found = 0;
    if want == 0 {
        return 0;
    }
    // First the home address in each address space, then the rest.
    for pass in 0..2 {
        for mm in mms.iter_mut().filter(|mm| mm.anon_family == family) {
            let home = home_address(&mm.vm, index);
            let mut visit_at = |mm: &mut MmStruct<F, M>, addr: UserAddr| {
                if !maps(mm, addr, pfn) {
                    return ControlFlow::Continue(());
                }
                found += 1;
                visit(mm, addr)?;
                if found == want {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            };
            let flow = if pass == 0 {
                home.map_or(ControlFlow::Continue(()), |a| visit_at(mm, a))
            } else {
                // Collected first: `visit` may change the VMAs' page tables
                // (never the VMAs), and borrows the address space whole.
                let others: alloc::vec::Vec<UserAddr> = vma_addresses(&mm.vm, index, home).collect();
                others.into_iter().try_for_each(|a| visit_at(mm, a))
            };
            if flow.is_break() {
                return found;
            }
        }
    }
    found
}
