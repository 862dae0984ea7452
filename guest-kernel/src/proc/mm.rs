//! A process's memory: the VMA bookkeeping (`mm::vma`), its page tables
//! (`mm::uvm`) and the RSS counters, together (Linux `struct mm_struct`).

use alloc::sync::Arc;

use crate::fs::ramfs::Inode;
use crate::mm::shmem::Shmem;
use crate::mm::uvm::{Rss, UserPageTables};
use crate::mm::vma::{MmStruct, PageTables, VmFlags, VM_EXEC, VM_READ, VM_WRITE};

/// What a VMA maps, compared by identity: a file of the in-memory
/// filesystem, or the shmem object behind a shared anonymous mapping.
#[derive(Clone)]
pub enum FileRef {
    File(Arc<Inode>),
    Shmem(Arc<Shmem>),
}

impl FileRef {
    /// The page holding bytes `index * 4096..`, allocated (zeroed) for a
    /// hole inside the file (`None` at or beyond the end: SIGBUS, or out of
    /// memory).
    pub fn page(&self, index: u64) -> Option<u64> {
        match self {
            FileRef::File(inode) => inode.find_or_create_page(usize::try_from(index).ok()?),
            FileRef::Shmem(shm) => shm.page(index),
        }
    }

    /// Whether page `index` is in the object's page cache (for `mincore`),
    /// without allocating it.
    pub fn cached(&self, index: u64) -> bool {
        match self {
            FileRef::File(inode) => usize::try_from(index).is_ok_and(|i| inode.page(i).is_some()),
            FileRef::Shmem(shm) => shm.cached(index),
        }
    }

    /// Frees pages `[first, end)` of the object after unmapping them in
    /// every process (`MADV_REMOVE`).
    pub fn punch_hole(&self, first: u64, end: u64) {
        match self {
            FileRef::File(inode) => {
                let _ = inode.punch_hole(first, end);
            }
            FileRef::Shmem(shm) => {
                let ours = |f: &FileRef| matches!(f, FileRef::Shmem(s) if Arc::ptr_eq(s, shm));
                unmap_file_range(&ours, first, end, false);
                shm.punch_hole(first, end);
            }
        }
    }

    pub fn is_shmem(&self) -> bool {
        matches!(self, FileRef::Shmem(_))
    }

    /// What `/proc/PID/maps` shows: (major, minor, inode, path).
    pub fn maps_info(&self) -> (u32, u32, u64, alloc::string::String) {
        match self {
            FileRef::File(inode) => (0, 1, inode.ino(), inode.path()),
            FileRef::Shmem(shm) => (0, 1, shm.ino(), alloc::string::String::from("/dev/zero (deleted)")),
        }
    }
}

impl PartialEq for FileRef {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FileRef::File(a), FileRef::File(b)) => Arc::ptr_eq(a, b),
            (FileRef::Shmem(a), FileRef::Shmem(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl core::fmt::Debug for FileRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FileRef::File(inode) => write!(f, "inode {}", inode.ino()),
            FileRef::Shmem(shm) => write!(f, "shmem {}", shm.ino()),
        }
    }
}

/// Per-mm event counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct MmStats {
    pub faults: u64,
    pub cow_faults: u64,
    pub zero_page_faults: u64,
}

pub struct Mm {
    pub vm: MmStruct<FileRef>,
    pub pt: UserPageTables,
    pub rss: Rss,
    pub hiwater_rss: u64,
    pub stats: MmStats,
    pub flags: MmFlags,
    /// The auxiliary vector exec gave the program, `(type, value)` pairs
    /// up to and with `AT_NULL` (Linux `saved_auxv`, `/proc/PID/auxv`).
    pub saved_auxv: alloc::vec::Vec<u64>,
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

impl Mm {
    pub fn new() -> Option<Self> {
        Some(Self {
            vm: MmStruct::new(),
            pt: UserPageTables::new()?,
            rss: Rss::default(),
            hiwater_rss: 0,
            stats: MmStats::default(),
            flags: MmFlags::default(),
            saved_auxv: alloc::vec::Vec::new(),
        })
    }

    /// The page-table side of a VMA operation.
    pub fn split(&mut self) -> (&mut MmStruct<FileRef>, Ptes<'_>) {
        (&mut self.vm, Ptes { pt: &mut self.pt, rss: &mut self.rss })
    }

    pub fn update_hiwater(&mut self) {
        self.hiwater_rss = self.hiwater_rss.max(self.rss.total());
    }

    /// A copy for a child process (Linux `dup_mmap` + `copy_page_range`):
    /// the same VMAs; every mapped page mapped in both, with one more
    /// reference and map count; private writable pages write-protected in
    /// both so that the first write copies (`do_wp_page`). The parent's TLB
    /// is flushed once at the end. `None` when out of memory (nothing of
    /// the child is left).
    pub fn dup(&mut self) -> Option<Mm> {
        use crate::arch::pgtable::{flags, ADDR_MASK};
        use crate::mm::memory::fork_write_protect;
        use crate::mm::vma::{VM_DONTCOPY, VM_MAYWRITE, VM_SHARED, VM_WIPEONFORK};
        let mut child = Mm::new()?;
        child.vm = self.vm.dup_for_fork();
        child.flags = self.flags;
        child.saved_auxv = self.saved_auxv.clone();
        // PR_MDWE_NO_INHERIT: the child starts without it.
        if self.flags.mdwe & 2 != 0 {
            child.flags.mdwe = 0;
        }
        let mut ok = true;
        // MADV_DONTFORK memory is not the child's; MADV_WIPEONFORK memory is,
        // but empty.
        let ranges: alloc::vec::Vec<(u64, u64, bool)> = self
            .vm
            .iter()
            .filter(|v| v.flags & (VM_DONTCOPY | VM_WIPEONFORK) == 0)
            .map(|v| (v.start, v.end, fork_write_protect(v.flags & VM_SHARED != 0, v.flags & VM_MAYWRITE != 0)))
            .collect();
        let mut rss = Rss::default();
        for (start, end, cow) in ranges {
            let child_pt = &mut child.pt;
            let rss = &mut rss;
            self.pt.for_each_present(start, end, |va, e| {
                if !ok {
                    return;
                }
                let Some(slot) = child_pt.pte_slot(va, true) else {
                    ok = false;
                    return;
                };
                let page = crate::mm::buddy::pfn_to_page(crate::mm::addr::Pfn((*e & ADDR_MASK) >> 12));
                crate::mm::uvm::page_add_map(page);
                crate::mm::uvm::account_map(page, rss);
                if cow {
                    *e &= !flags::RW;
                }
                crate::mm::uvm::set_pte(slot, *e);
            });
        }
        // One flush for the write protection (Linux flushes once per mm).
        crate::arch::cpu::write_cr3_reload();
        if !ok {
            child.destroy();
            return None;
        }
        child.rss = rss;
        child.hiwater_rss = rss.total();
        Some(child)
    }

    /// Copies this address space's memory at `addr` into `buf`, as far as
    /// its pages are present (Linux `access_remote_vm`, without faulting
    /// anything in): the bytes copied.
    pub fn read_remote(&self, addr: u64, buf: &mut [u8]) -> usize {
        use crate::mm::addr::PAGE_SIZE;
        let mut done = 0;
        while done < buf.len() {
            let va = addr + done as u64;
            let Some(pte) = self.pt.lookup(va).filter(|e| e & crate::arch::pgtable::flags::PRESENT != 0) else { break };
            let page = crate::mm::buddy::pfn_to_page(crate::mm::addr::Pfn((pte & crate::arch::pgtable::ADDR_MASK) >> 12));
            let off = (va % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            crate::mm::highmem::KmapLocal::new(page).read(off, &mut buf[done..done + n]);
            done += n;
        }
        done
    }

    /// `clear_refs` 4 (Linux `clear_soft_dirty` and `VM_SOFTDIRTY`): every
    /// VMA and page is clean; writable PTEs become read-only so that the
    /// next write faults and marks its page again.
    pub fn clear_soft_dirty(&mut self) {
        use crate::arch::pgtable::flags;
        self.vm.clear_soft_dirty();
        let ranges: alloc::vec::Vec<(u64, u64)> = self.vm.iter().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            self.pt.for_each_present(start, end, |_, e| {
                if *e & flags::PRESENT != 0 {
                    crate::mm::uvm::set_pte(e, *e & !(flags::SOFT_DIRTY | flags::RW));
                }
            });
        }
        crate::arch::cpu::write_cr3_reload();
    }

    /// `clear_refs` 1, 2, 3: the accessed bits of the anonymous pages
    /// (`anon`) and of the others (`file`) are cleared (Linux
    /// `clear_refs_pte_range`; `Referenced` in `smaps` then counts from
    /// zero).
    pub fn clear_young(&mut self, anon: bool, file: bool) {
        use crate::arch::pgtable::{flags, ADDR_MASK};
        let ranges: alloc::vec::Vec<(u64, u64)> = self.vm.iter().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            self.pt.for_each_present(start, end, |_, e| {
                let page = crate::mm::buddy::pfn_to_page(crate::mm::addr::Pfn((*e & ADDR_MASK) >> 12));
                let is_anon = crate::mm::uvm::is_anon(page);
                if *e & flags::PRESENT != 0 && ((is_anon && anon) || (!is_anon && file)) {
                    crate::mm::uvm::set_pte(e, *e & !flags::ACCESSED);
                }
            });
        }
        crate::arch::cpu::write_cr3_reload();
    }

    /// The `/proc/PID/pagemap` entry of the page at `va` (Linux
    /// `pte_to_pagemap_entry`, `pagemap_pte_hole`): bit 63 present, 61 a
    /// file or shared page, 56 mapped only here, 55 soft-dirty, bits 0-54
    /// the PFN (only with `show_pfn`). An unmapped address is 0.
    pub fn pagemap_entry(&self, va: u64, show_pfn: bool) -> u64 {
        use crate::arch::pgtable::{flags, ADDR_MASK};
        const PM_SOFT_DIRTY: u64 = 1 << 55;
        const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
        const PM_FILE: u64 = 1 << 61;
        const PM_PRESENT: u64 = 1 << 63;
        let Some(vma) = self.vm.vma_at(va) else { return 0 };
        let vma_dirty = if vma.soft_dirty { PM_SOFT_DIRTY } else { 0 };
        let Some(pte) = self.pt.lookup(va).filter(|e| e & flags::PRESENT != 0) else { return vma_dirty };
        let pfn = (pte & ADDR_MASK) >> 12;
        let page = crate::mm::buddy::pfn_to_page(crate::mm::addr::Pfn(pfn));
        let mut entry = PM_PRESENT | vma_dirty;
        if show_pfn {
            entry |= pfn;
        }
        if pte & flags::SOFT_DIRTY != 0 {
            entry |= PM_SOFT_DIRTY;
        }
        if !crate::mm::uvm::is_anon(page) {
            entry |= PM_FILE;
        }
        if page.mapcount() == 1 {
            entry |= PM_MMAP_EXCLUSIVE;
        }
        entry
    }

    /// Frees every page and table (Linux `exit_mmap`).
    pub fn destroy(self) {
        let Mm { vm, mut pt, mut rss, .. } = self;
        for v in vm.iter() {
            pt.unmap(v.start, v.end, &mut rss);
        }
        pt.destroy();
    }
}

/// [`PageTables`] over a process's tables and RSS counters.
pub struct Ptes<'a> {
    pub pt: &'a mut UserPageTables,
    pub rss: &'a mut Rss,
}

impl PageTables for Ptes<'_> {
    fn unmap(&mut self, start: u64, end: u64) {
        self.pt.unmap(start, end, self.rss);
    }
    fn protect(&mut self, start: u64, end: u64, flags: VmFlags) {
        let access = flags & (VM_READ | VM_WRITE | VM_EXEC) != 0;
        self.pt.protect(start, end, access, flags & VM_WRITE != 0, flags & VM_EXEC != 0);
    }
    fn move_range(&mut self, old_start: u64, new_start: u64, len: u64) {
        self.pt.move_range(old_start, new_start, len);
    }
}

/// Linux `unmap_mapping_range` for a file: every PTE, in every process,
/// that maps pages `[from, to)` of `inode` through a mapping of it goes.
/// Truncation (`to == u64::MAX`) takes private copies too (`even_cows`);
/// a punched hole leaves them.
pub fn unmap_mapping_range(inode: &Inode, from: u64, to: u64) {
    let ours = |f: &FileRef| matches!(f, FileRef::File(i) if core::ptr::eq(Arc::as_ptr(i), inode));
    unmap_file_range(&ours, from, to, to == u64::MAX);
}

/// Whether any process maps `inode` shared and possibly writable (Linux
/// `i_mmap_writable > 0`: `VM_SHARED` and `VM_MAYWRITE`), which a new
/// `F_SEAL_WRITE` may not coexist with.
pub fn mapped_shared_writable(inode: &Inode) -> bool {
    use crate::mm::vma::{VM_MAYWRITE, VM_SHARED};
    super::sched::pids().into_iter().filter_map(super::sched::task).filter_map(|t| t.mm.as_deref()).any(|mm| {
        mm.vm.iter().any(|v| {
            v.flags & (VM_SHARED | VM_MAYWRITE) == VM_SHARED | VM_MAYWRITE && matches!(&v.file, Some(FileRef::File(i)) if core::ptr::eq(Arc::as_ptr(i), inode))
        })
    })
}

/// Removes every user mapping of pages `[from, to)` of the object `ours`
/// picks out, in every process; a private mapping's own copies of those
/// pages go too only with `even_cows`.
pub fn unmap_file_range(ours: &dyn Fn(&FileRef) -> bool, from: u64, to: u64, even_cows: bool) {
    use crate::mm::addr::PAGE_SIZE;
    use crate::mm::vma::VM_SHARED;
    for pid in super::sched::pids() {
        let Some(task) = super::sched::task(pid) else { continue };
        let Some(mm) = task.mm.as_deref_mut() else { continue };
        let ranges: alloc::vec::Vec<(u64, u64, bool)> = mm
            .vm
            .iter()
            .filter(|v| v.file.as_ref().is_some_and(ours))
            .filter_map(|v| {
                let skip = from.saturating_sub(v.pgoff).checked_mul(PAGE_SIZE)?;
                let start = v.start.checked_add(skip)?;
                let stop = to.saturating_sub(v.pgoff).saturating_mul(PAGE_SIZE).saturating_add(v.start).min(v.end);
                (start < stop).then_some((start, stop, v.flags & VM_SHARED == 0))
            })
            .collect();
        for (start, end, private) in ranges {
            if private && !even_cows {
                // Only the PTEs still mapping the object's pages.
                let mut file_pages = alloc::vec::Vec::new();
                mm.pt.for_each_present(start, end, |va, e| {
                    let pfn = crate::mm::addr::Pfn((*e & crate::arch::pgtable::ADDR_MASK) >> 12);
                    if !crate::mm::uvm::is_anon(crate::mm::buddy::pfn_to_page(pfn)) {
                        file_pages.push(va);
                    }
                });
                for va in file_pages {
                    mm.pt.unmap(va, va + PAGE_SIZE, &mut mm.rss);
                }
            } else {
                mm.pt.unmap(start, end, &mut mm.rss);
            }
        }
    }
}

/// `vm.max_map_count` written: every address space's limit (Linux reads
/// the sysctl at each check).
pub fn set_max_map_count(v: usize) {
    for pid in super::sched::pids() {
        if let Some(mm) = super::sched::task(pid).and_then(|t| t.mm.as_deref_mut()) {
            mm.vm.max_map_count = v;
        }
    }
}

/// Pages charged to the overcommit accounting by every process
/// (`Committed_AS`; Linux keeps `vm_committed_as` as it goes).
pub fn committed_pages() -> u64 {
    let mut seen = alloc::vec::Vec::new();
    let mut total = 0;
    for pid in super::sched::pids() {
        let Some(mm) = super::sched::task(pid).and_then(|t| t.mm.as_ref()) else { continue };
        if seen.contains(&mm.id()) {
            continue;
        }
        seen.push(mm.id());
        total += mm.vm.iter().filter(|v| v.flags & crate::mm::vma::VM_ACCOUNT != 0).map(|v| v.pages()).sum::<u64>();
    }
    total
}
