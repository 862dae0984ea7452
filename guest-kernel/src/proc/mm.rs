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
}

impl Mm {
    pub fn new() -> Option<Self> {
        Some(Self { vm: MmStruct::new(), pt: UserPageTables::new()?, rss: Rss::default(), hiwater_rss: 0, stats: MmStats::default() })
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
        use crate::mm::vma::{VM_MAYWRITE, VM_SHARED};
        let mut child = Mm::new()?;
        child.vm = self.vm.clone();
        let mut ok = true;
        let ranges: alloc::vec::Vec<(u64, u64, bool)> =
            self.vm.iter().map(|v| (v.start, v.end, fork_write_protect(v.flags & VM_SHARED != 0, v.flags & VM_MAYWRITE != 0))).collect();
        for (start, end, cow) in ranges {
            let child_pt = &mut child.pt;
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
        child.rss = self.rss;
        child.hiwater_rss = self.rss.total();
        Some(child)
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

/// Linux `unmap_mapping_range(mapping, from, 0, even_cows = 1)`, for a
/// file being truncated: every PTE, in every process, that maps page
/// `from` or later of `inode` through a mapping of it goes (shared pages
/// and private copies alike).
pub fn unmap_mapping_range(inode: &Inode, from: u64) {
    use crate::mm::addr::PAGE_SIZE;
    for pid in super::sched::pids() {
        let Some(task) = super::sched::task(pid) else { continue };
        let Some(mm) = task.mm.as_deref_mut() else { continue };
        let ranges: alloc::vec::Vec<(u64, u64)> = mm
            .vm
            .iter()
            .filter(|v| matches!(&v.file, Some(FileRef::File(i)) if core::ptr::eq(Arc::as_ptr(i), inode)))
            .filter_map(|v| {
                let skip = from.saturating_sub(v.pgoff).checked_mul(PAGE_SIZE)?;
                let start = v.start.checked_add(skip)?;
                (start < v.end).then_some((start, v.end))
            })
            .collect();
        for (start, end) in ranges {
            mm.pt.unmap(start, end, &mut mm.rss);
        }
    }
}
