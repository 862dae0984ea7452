//! Memory system calls (Linux `mm/mmap.c`, `mm/mprotect.c`,
//! `mm/mremap.c`, `mm/madvise.c`): brk, mmap, munmap, mprotect, mremap,
//! madvise.

use super::*;

pub(super) fn mm() -> Result<&'static mut crate::proc::mm::Mm, i32> {
    task().mm.as_deref_mut().ok_or(EFAULT)
}

pub(super) fn sys_brk(brk: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    Ok(vm.brk(brk, &mut ptes))
}

pub(super) fn sys_mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: i32, off: u64) -> SysResult {
    use crate::mm::mmap::{MAP_ANONYMOUS, MAP_POPULATE};
    use crate::mm::mmap::{MAP_SHARED, MAP_TYPE};
    let mut flags = flags as u32;
    let (file, writable) = if flags & MAP_ANONYMOUS == 0 {
        let f = fd_file(fd)?;
        let inode = f.inode().ok_or(ENODEV)?;
        if !f.readable() {
            // Every file mapping needs read access (Linux do_mmap).
            return Err(EACCES);
        }
        (Some(crate::proc::mm::FileRef::File(inode)), f.writable())
    } else if flags & MAP_TYPE == MAP_SHARED && len > 0 && len <= crate::proc::uaccess::TASK_SIZE {
        // Shared anonymous memory is a shmem object shared across fork
        // (Linux shmem_zero_setup): never anonymous pages in a shared VMA,
        // which the fault path cannot share. (MAP_SHARED_VALIDATE is
        // EINVAL for anonymous memory, as in Linux.)
        flags &= !MAP_ANONYMOUS;
        let shm = alloc::sync::Arc::new(crate::mm::shmem::Shmem::new(crate::mm::addr::page_align_up(len)));
        (Some(crate::proc::mm::FileRef::Shmem(shm)), true)
    } else {
        (None, false)
    };
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    let start = vm.mmap(addr, len, prot as u32, flags, file, off / PAGE_SIZE, writable, &mut ptes).map_err(|e| e.0)?;
    if flags & MAP_POPULATE != 0 {
        populate(start, len);
    }
    Ok(start)
}

/// MAP_POPULATE: fault every page in now (errors are ignored, as Linux).
pub(super) fn populate(start: u64, len: u64) {
    let Ok(first) = mm() else { return };
    let write = first.vm.vma_at(start).is_some_and(|v| v.flags & crate::mm::vma::VM_WRITE != 0);
    let err = if write { crate::proc::fault::PF_WRITE } else { 0 } | crate::proc::fault::PF_USER;
    let mut va = start;
    while va < start + len {
        // Other tasks may run here (and the OOM killer take this one's
        // memory): the address space is looked up again after.
        if va > start && crate::proc::sched::cond_resched() {
            break;
        }
        let limit = task().stack_limit();
        let Ok(mm) = mm() else { return };
        if crate::proc::fault::handle_mm_fault(mm, va, err, limit).is_err() {
            break;
        }
        mm.update_hiwater();
        va += PAGE_SIZE;
    }
}

pub(super) fn sys_munmap(addr: u64, len: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.munmap(addr, len, &mut ptes).map_err(|e| e.0)?;
    Ok(0)
}

pub(super) fn sys_mprotect(addr: u64, len: u64, prot: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.mprotect(addr, len, prot as u32, &mut ptes).map_err(|e| e.0)?;
    Ok(0)
}

pub(super) fn sys_mremap(old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.mremap(old, old_len, new_len, flags as u32, new_addr, &mut ptes).map_err(|e| e.0)
}

pub(super) const MADV_DONTNEED: i32 = 4;

/// `madvise` (Linux `mm/madvise.c`). Unknown advice and an unaligned start
/// are `EINVAL`; a length that wraps when rounded up is `EINVAL`, an empty
/// range is success. The advice applies to every mapped part of the range;
/// if part of it (or all of it) is not mapped the result is `ENOMEM`, after
/// the mapped parts were advised, as Linux does.
pub(super) fn sys_madvise(addr: u64, len: u64, advice: i32) -> SysResult {
    const ADVISORY: [i32; 16] = [
        0, 1, 2, 3, // normal, random, sequential, willneed
        8, // free: the pages may go or stay; keeping them is allowed
        10, 11, 12, 13, 14, 15, 16, 17, // dontfork .. dodump: no effect here
        19, 20, 21, // keeponfork, cold, pageout: hints
    ];
    if !addr.is_multiple_of(PAGE_SIZE) || !(advice == MADV_DONTNEED || ADVISORY.contains(&advice)) {
        return Err(EINVAL);
    }
    let aligned = len.checked_add(PAGE_SIZE - 1).ok_or(EINVAL)? & !(PAGE_SIZE - 1);
    let end = addr.checked_add(aligned).ok_or(EINVAL)?;
    if end == addr {
        return Ok(0);
    }
    let mm = mm()?;
    let mut unmapped = false;
    let mut va = addr;
    while va < end {
        let Some((start, stop)) = mm.vm.find_vma(va).map(|v| (v.start, v.end)) else {
            unmapped = true;
            break;
        };
        if start >= end {
            unmapped = true;
            break;
        }
        if start > va {
            unmapped = true;
        }
        let (s, e) = (start.max(va), stop.min(end));
        if advice == MADV_DONTNEED {
            // Drop the pages; the next touch faults in zero (anonymous) or
            // the object's contents (file and shmem mappings).
            mm.pt.unmap(s, e, &mut mm.rss);
        }
        va = e;
    }
    if unmapped {
        Err(ENOMEM)
    } else {
        Ok(0)
    }
}
