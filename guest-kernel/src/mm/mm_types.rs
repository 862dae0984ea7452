//! A process's address space (Linux `struct mm_struct`,
//! `include/linux/mm_types.h`): the VMAs and layout ([`VmaTree`]), the page
//! tables ([`UserPageTables`]), the RSS counters and the per-mm flags,
//! together. Faults are in `mm::memory`, fork's copy is [`MmStruct::dup_mmap`]
//! with `MmStruct::dup_mmap` (in `mm::memory`, beside `copy_page_range`), teardown is dropping it.
//!
//! Generic over what a file mapping refers to (`F`, the kernel's file and
//! shmem references) and over the memory it is built from (`M`: the
//! kernel's buddy allocator and MMU in the guest, `FakeRam` in the host
//! tests).

use alloc::vec::Vec;

use crate::mm::addr::{UserAddr, PAGE_SIZE};
use crate::mm::uvm::{is_anon, Rss, TlbGather, UserMem, UserPageTables};
use crate::mm::vma::{PageTables, VmFile, VmFlags, VmaTree, VM_EXEC, VM_READ, VM_WRITE};

/// The next family of address spaces for the reverse map; 0 means none.
static NEXT_FAMILY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// A family for a new image's address space (Linux `anon_vma_alloc`).
fn new_family() -> u64 {
    NEXT_FAMILY.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

/// Per-mm event counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct MmStats {
    pub faults: u64,
    pub cow_faults: u64,
    pub zero_page_faults: u64,
}

/// What Linux keeps in `mm->flags` and a `prctl` sets: inherited by
/// `fork`; `execve` keeps all but `dumpable` (Linux `MMF_INIT_MASK`).
#[derive(Clone, Copy, Debug)]
pub struct MmFlags {
    /// `PR_SET_DUMPABLE`: 0 or 1 (`SUID_DUMP_USER`, set again by exec).
    pub dumpable: u8,
    /// `PR_SET_MDWE` bits: `PR_MDWE_REFUSE_EXEC_GAIN` (1),
    /// `PR_MDWE_NO_INHERIT` (2). Never cleared once set.
    pub mdwe: u32,
    /// `PR_SET_THP_DISABLE`.
    pub thp_disable: bool,
}

impl Default for MmFlags {
    fn default() -> Self {
        Self { dumpable: 1, mdwe: 0, thp_disable: false }
    }
}

impl MmFlags {
    /// What a new image inherits (Linux `mm_init` from `MMF_INIT_MASK`,
    /// then `SUID_DUMP_USER`).
    pub fn for_exec(self) -> Self {
        let mdwe = if self.mdwe & 2 != 0 { 0 } else { self.mdwe };
        Self { dumpable: 1, mdwe, ..self }
    }

    /// Whether memory-deny-write-execute refuses VMA flags going from
    /// `old` to `new` (Linux `map_deny_write_exec`): writable and
    /// executable at once, or gaining execute.
    pub fn deny_write_exec(&self, old: VmFlags, new: VmFlags) -> bool {
        self.mdwe & 1 != 0 && new & VM_EXEC != 0 && (new & VM_WRITE != 0 || old & VM_EXEC == 0)
    }
}

/// A user address space.
pub struct MmStruct<F: VmFile, M: UserMem> {
    pub vm: VmaTree<F>,
    pub pt: UserPageTables<M>,
    pub rss: Rss,
    pub hiwater_rss: u64,
    pub stats: MmStats,
    pub flags: MmFlags,
    /// The auxiliary vector exec gave the program, `(type, value)` pairs
    /// up to and with `AT_NULL` (Linux `saved_auxv`, `/proc/PID/auxv`).
    pub saved_auxv: Vec<u64>,
    /// The family of address spaces whose anonymous pages this one may
    /// map: its own since exec, its parent's after fork (see
    /// [`rmap`](crate::mm::rmap)).
    pub anon_family: u64,
}

impl<F: VmFile, M: UserMem> MmStruct<F, M> {
    /// An empty address space (Linux `mm_alloc`); `None` when out of
    /// memory for its PGD.
    pub fn new(mem: M) -> Option<Self> {
        Some(Self {
            vm: VmaTree::new(),
            pt: UserPageTables::new(mem)?,
            rss: Rss::default(),
            hiwater_rss: 0,
            stats: MmStats::default(),
            flags: MmFlags::default(),
            saved_auxv: Vec::new(),
            anon_family: new_family(),
        })
    }

    /// The VMAs, and the page-table side a VMA operation drives.
    pub fn split(&mut self) -> (&mut VmaTree<F>, Ptes<'_, M>) {
        (&mut self.vm, Ptes { pt: &mut self.pt, rss: &mut self.rss })
    }

    pub fn update_hiwater(&mut self) {
        self.hiwater_rss = self.hiwater_rss.max(self.rss.total());
    }

    /// Copies this address space's memory at `addr` into `buf`, as far as
    /// its pages are present (Linux `access_remote_vm`, without faulting
    /// anything in): the bytes copied.
    pub fn access_remote_vm(&self, addr: UserAddr, buf: &mut [u8]) -> usize {
        let mem = self.pt.mem();
        let mut done = 0;
        while done < buf.len() {
            let va = addr + done as u64;
            let Some(pte) = self.pt.lookup(va).filter(|e| e.present()) else { break };
            let off = va.page_offset() as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            mem.read_page(pte.pfn(), off, &mut buf[done..done + n]);
            done += n;
        }
        done
    }

    /// `clear_refs` 4 (Linux `clear_soft_dirty` and `VM_SOFTDIRTY`): every
    /// VMA and page is clean; writable PTEs become read-only so that the
    /// next write faults and marks its page again.
    pub fn clear_soft_dirty(&mut self) {
        let mem = self.pt.mem();
        self.vm.clear_soft_dirty();
        let ranges: Vec<(UserAddr, UserAddr)> = self.vm.iter().map(|v| (v.start, v.end)).collect();
        let mut tlb = TlbGather::new();
        for (start, end) in ranges {
            self.pt.split_huge_range(start, end, false);
            self.pt.for_each_present(start, end, |va, e| {
                let pte = e.get();
                if pte.present() && pte != pte.clear_soft_dirty() {
                    e.set(&mem, pte.clear_soft_dirty());
                    tlb.add(va);
                }
            });
        }
        tlb.finish(&mem);
    }

    /// `clear_refs` 1, 2, 3: the accessed bits of the anonymous pages
    /// (`anon`) and of the others (`file`) are cleared (Linux
    /// `clear_refs_pte_range`; `Referenced` in `smaps` then counts from
    /// zero).
    pub fn clear_young(&mut self, anon: bool, file: bool) {
        let mem = self.pt.mem();
        let ranges: Vec<(UserAddr, UserAddr)> = self.vm.iter().map(|v| (v.start, v.end)).collect();
        let mut tlb = TlbGather::new();
        for (start, end) in ranges {
            self.pt.split_huge_range(start, end, false);
            self.pt.for_each_present(start, end, |va, e| {
                let pte = e.get();
                let is_anon = is_anon(mem.page(pte.pfn()));
                if pte.present() && pte.young() && ((is_anon && anon) || (!is_anon && file)) {
                    e.set(&mem, pte.mkold());
                    tlb.add(va);
                }
            });
        }
        tlb.finish(&mem);
    }

    /// The `/proc/PID/pagemap` entry of the page at `va` (Linux
    /// `pte_to_pagemap_entry`, `pagemap_pte_hole`): bit 63 present, 62 in
    /// swap (then the swap type and offset in bits 0-54, only with
    /// `show_pfn`), 61 a
    /// file or shared page, 56 mapped only here, 55 soft-dirty, bits 0-54
    /// the PFN (only with `show_pfn`). An unmapped address is 0.
    pub fn pagemap_entry(&self, va: UserAddr, show_pfn: bool) -> u64 {
        const PM_SOFT_DIRTY: u64 = 1 << 55;
        const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
        const PM_FILE: u64 = 1 << 61;
        const PM_SWAP: u64 = 1 << 62;
        const PM_PRESENT: u64 = 1 << 63;
        /// Linux `MAX_SWAPFILES_SHIFT`: the swap type's bits below the offset.
        const SWAP_TYPE_SHIFT: u32 = 5;
        let Some(vma) = self.vm.vma_at(va) else { return 0 };
        let vma_dirty = if vma.soft_dirty { PM_SOFT_DIRTY } else { 0 };
        if let Some(e) = self.pt.lookup_swap(va) {
            // A page in swap: its type and offset where the PFN would be.
            let frame = if show_pfn { u64::from(e.typ) | e.offset << SWAP_TYPE_SHIFT } else { 0 };
            return PM_SWAP | vma_dirty | frame;
        }
        let Some(pte) = self.pt.lookup(va).filter(|e| e.present()) else { return vma_dirty };
        let pfn = pte.pfn();
        let mem = self.pt.mem();
        let page = mem.page(crate::mm::huge_memory::page_folio(&mem, pfn));
        let mut entry = PM_PRESENT | vma_dirty;
        if show_pfn {
            entry |= pfn.as_u64();
        }
        if pte.soft_dirty() {
            entry |= PM_SOFT_DIRTY;
        }
        if !is_anon(page) {
            entry |= PM_FILE;
        }
        if page.mapcount() == 1 {
            entry |= PM_MMAP_EXCLUSIVE;
        }
        entry
    }
}

/// Tearing an address space down is dropping it (Linux `exit_mmap`, run
/// by the last `mmput`): every VMA's pages are unmapped (`unmap_vmas`)
/// under one TLB flush of the whole address space (Linux's "full mm"
/// gather), then the page tables go with [`UserPageTables`]' own drop
/// (`free_pgtables`).
impl<F: VmFile, M: UserMem> Drop for MmStruct<F, M> {
    fn drop(&mut self) {
        let (vm, pt, rss) = (&self.vm, &mut self.pt, &mut self.rss);
        let mut tlb = TlbGather::new();
        tlb.add_all();
        for v in vm.iter() {
            pt.unmap_range(v.start, v.end, rss, &mut tlb);
        }
        tlb.finish(&pt.mem());
    }
}

/// [`PageTables`] over a process's tables and RSS counters.
pub struct Ptes<'a, M: UserMem> {
    pub pt: &'a mut UserPageTables<M>,
    pub rss: &'a mut Rss,
}

impl<M: UserMem> PageTables for Ptes<'_, M> {
    fn unmap(&mut self, start: UserAddr, end: UserAddr) {
        self.pt.zap_page_range(start, end, self.rss);
    }
    fn protect(&mut self, start: UserAddr, end: UserAddr, flags: VmFlags) {
        let access = flags & (VM_READ | VM_WRITE | VM_EXEC) != 0;
        self.pt.protect(start, end, access, flags & VM_WRITE != 0, flags & VM_EXEC != 0);
    }
    fn move_range(&mut self, old_start: UserAddr, new_start: UserAddr, len: u64) {
        self.pt.move_range(old_start, new_start, len);
    }
    fn free_pgtables(&mut self, start: UserAddr, end: UserAddr, floor: UserAddr, ceiling: UserAddr) {
        self.pt.free_pgtables(start, end, floor, ceiling);
    }
}
