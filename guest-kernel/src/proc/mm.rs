//! What the process layer adds to the address space (`mm::mm_types`):
//! what its file mappings refer to (files of the in-memory filesystem and
//! shmem objects), and the operations that reach every process's mappings
//! of one file.

use alloc::sync::Arc;

use crate::fs::ramfs::Inode;
use crate::mm::addr::{Pfn, UserAddr};
use crate::mm::memory::VmObject;
use crate::mm::mm_types::MmStruct;
use crate::mm::shmem::Shmem;
use crate::mm::user_mem::KernelUserMem;

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
    pub fn page(&self, index: u64) -> Option<Pfn> {
        match self {
            FileRef::File(inode) => inode.find_or_create_page(usize::try_from(index).ok()?),
            FileRef::Shmem(shm) => shm.page(index),
        }
    }

    /// Whether page `index` is in the object's page cache (for `mincore`),
    /// without allocating it.
    pub fn cached(&self, index: u64) -> bool {
        self.find_page(index).is_some()
    }

    /// Page `index` if it is in the object's page cache, without
    /// allocating (Linux `find_get_page`).
    pub fn find_page(&self, index: u64) -> Option<Pfn> {
        match self {
            FileRef::File(inode) => inode.page(usize::try_from(index).ok()?),
            FileRef::Shmem(shm) => shm.find_page(index),
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

impl VmObject for FileRef {
    fn page(&self, index: u64) -> Option<Pfn> {
        FileRef::page(self, index)
    }
    fn contains_page(&self, index: u64) -> bool {
        match self {
            FileRef::File(inode) => index < inode.size().div_ceil(crate::mm::addr::PAGE_SIZE),
            FileRef::Shmem(shm) => index < shm.size_pages(),
        }
    }
    fn find_page(&self, index: u64) -> Option<Pfn> {
        FileRef::find_page(self, index)
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

/// A process's address space in the guest.
pub type Mm = MmStruct<FileRef, KernelUserMem>;

/// A new, empty address space (`None`: no memory for its PGD).
pub fn mm_alloc() -> Option<Mm> {
    Mm::new(KernelUserMem)
}

/// Every address space in the system, each once (threads share theirs):
/// what the reverse map of anonymous memory looks through.
pub fn address_spaces() -> alloc::vec::Vec<&'static mut Mm> {
    let mut seen = alloc::vec::Vec::new();
    let mut mms = alloc::vec::Vec::new();
    for pid in super::sched::pids() {
        let Some(mm) = super::sched::task(pid).and_then(|t| t.mm.as_mut()) else { continue };
        if !seen.contains(&mm.id()) {
            seen.push(mm.id());
            mms.push(&mut **mm);
        }
    }
    mms
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
        let ranges: alloc::vec::Vec<(UserAddr, UserAddr, bool)> = mm
            .vm
            .iter()
            .filter(|v| v.file.as_ref().is_some_and(ours))
            .filter_map(|v| {
                let skip = from.saturating_sub(v.pgoff).checked_mul(PAGE_SIZE)?;
                let start = v.start.checked_add(skip)?;
                let stop = UserAddr::new(to.saturating_sub(v.pgoff).saturating_mul(PAGE_SIZE).saturating_add(v.start.as_u64())).min(v.end);
                (start < stop).then_some((start, stop, v.flags & VM_SHARED == 0))
            })
            .collect();
        for (start, end, private) in ranges {
            if private && !even_cows {
                // Only the PTEs still mapping the object's pages.
                let mut file_pages = alloc::vec::Vec::new();
                mm.pt.for_each_present(start, end, |va, e| {
                    if !crate::mm::uvm::is_anon(crate::mm::buddy::pfn_to_page(e.get().pfn())) {
                        file_pages.push(va);
                    }
                });
                for va in file_pages {
                    mm.pt.zap_page_range(va, va + PAGE_SIZE, &mut mm.rss);
                }
            } else {
                mm.pt.zap_page_range(start, end, &mut mm.rss);
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

/// Whether `pages` more of charged memory fit (Linux
/// `__vm_enough_memory` under `vm.overcommit_memory`): 1 always; 0 unless
/// one request exceeds all of RAM and swap (the heuristic); 2 while
/// everything charged stays under `CommitLimit`.
pub fn vm_enough_memory(pages: u64) -> Result<(), i32> {
    let totalram = crate::mm::buddy::page_alloc().totalram_pages();
    let total_swap = crate::mm::swapfile::totals().0;
    if crate::mm::util::vm_enough_memory(pages, totalram, total_swap, committed_pages) {
        Ok(())
    } else {
        Err(crate::fs::errno::ENOMEM)
    }
}

/// Charges a new mapping to the overcommit accounting if Linux would
/// (`accountable_mapping`: private, writable, not `MAP_NORESERVE`):
/// `ENOMEM` when the policy refuses it. `mmap` and `execve`'s segments
/// both come here.
pub fn charge_mapping(len: u64, prot: u32, flags: u32) -> Result<(), crate::fs::errno::Errno> {
    use crate::mm::mmap::{MAP_NORESERVE, MAP_PRIVATE, MAP_TYPE, PROT_WRITE};
    if flags & MAP_TYPE == MAP_PRIVATE && prot & PROT_WRITE != 0 && flags & MAP_NORESERVE == 0 && len > 0 {
        vm_enough_memory(crate::mm::mmap::page_align(len) / crate::mm::addr::PAGE_SIZE)?;
    }
    Ok(())
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
