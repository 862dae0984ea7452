//! Memory system calls (Linux `mm/mmap.c`, `mm/mprotect.c`,
//! `mm/mremap.c`, `mm/madvise.c`, `mm/mlock.c`, `mm/mincore.c`,
//! `mm/msync.c`, `mm/mseal.c`): brk, mmap, munmap, mprotect, mremap,
//! madvise, process_madvise, mlock and its kin, mincore, msync, mseal,
//! process_mrelease.

use super::*;
use crate::mm::mlock::advice::*;
use crate::mm::mlock::{madvise_behavior_valid, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT};
use crate::mm::vma::{VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT};
use crate::proc::mm::vm_enough_memory;

pub(super) fn mm() -> Result<&'static mut crate::proc::mm::Mm, i32> {
    task().mm.as_deref_mut().ok_or(EFAULT)
}

/// Strict overcommit (`vm.overcommit_memory` 2) charges `MAP_NORESERVE`
/// mappings too.
fn overcommit_never() -> bool {
    crate::mm::util::OVERCOMMIT_MEMORY.load(core::sync::atomic::Ordering::Relaxed) == crate::mm::util::OVERCOMMIT_NEVER
}

pub(super) fn sys_brk(brk: UserAddr) -> SysResult {
    let page_align = |a: UserAddr| UserAddr::new(crate::mm::mmap::page_align(a.as_u64()));
    let mm = mm()?;
    let old = page_align(mm.vm.brk);
    if brk > old && brk >= mm.vm.start_brk && vm_enough_memory((page_align(brk) - old) / PAGE_SIZE).is_err() {
        return Ok(mm.vm.brk.as_u64());
    }
    let (vm, mut ptes) = mm.split();
    let new = vm.brk(brk, &mut ptes);
    // mlockall(MCL_FUTURE): the new heap is locked, so faulted in now.
    if mm.vm.def_flags & VM_LOCKED_MASK == VM_LOCKED && new > old {
        populate(old, page_align(new));
    }
    Ok(new.as_u64())
}

/// The soft `RLIMIT_MEMLOCK` in pages, or `None` when the caller may lock
/// without limit (`CAP_IPC_LOCK`).
fn lock_limit() -> Option<u64> {
    let t = task();
    if t.cred.capable(crate::cred::CAP_IPC_LOCK) {
        return None;
    }
    Some(t.signals.group_ref().rlim[crate::proc::rlimit::RLIMIT_MEMLOCK][0] >> crate::mm::addr::PAGE_SHIFT)
}

/// Linux `can_do_mlock`: a non-zero `RLIMIT_MEMLOCK`, or `CAP_IPC_LOCK`.
fn can_do_mlock() -> bool {
    lock_limit() != Some(0)
}

pub(super) fn sys_mmap(addr: UserAddr, len: u64, prot: u64, flags: u64, fd: i32, off: u64) -> SysResult {
    use crate::mm::mmap::{MAP_ANONYMOUS, MAP_LOCKED, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_EXEC, PROT_WRITE};
    let mut flags = flags as u32;
    let (file, writable) = if flags & MAP_ANONYMOUS == 0 {
        let f = fd_file(fd)?;
        let inode = f.inode().ok_or(ENODEV)?;
        if !f.readable() {
            // Every file mapping needs read access (Linux do_mmap).
            return Err(EACCES);
        }
        let mut writable = f.writable();
        if inode.write_sealed() && matches!(flags & MAP_TYPE, MAP_SHARED | MAP_SHARED_VALIDATE) {
            // A write-sealed memfd (Linux memfd_check_seals_mmap): no
            // shared writable mapping, now or by mprotect later.
            if prot as u32 & PROT_WRITE != 0 {
                return Err(EPERM);
            }
            writable = false;
        }
        (Some(crate::proc::mm::FileRef::File(inode)), writable)
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
    let prot = prot as u32;
    if mm.flags.mdwe & 1 != 0 && prot & (PROT_WRITE | PROT_EXEC) == PROT_WRITE | PROT_EXEC {
        return Err(EACCES);
    }
    if flags & MAP_LOCKED != 0 || mm.vm.def_flags & VM_LOCKED != 0 {
        // Linux do_mmap: can_do_mlock, then mlock_future_ok.
        if flags & MAP_LOCKED != 0 && !can_do_mlock() {
            return Err(EPERM);
        }
        if lock_limit().is_some_and(|limit| mm.vm.locked_vm + crate::mm::mmap::page_align(len) / PAGE_SIZE > limit) {
            return Err(EAGAIN);
        }
    }
    if overcommit_never() {
        flags &= !crate::mm::mmap::MAP_NORESERVE;
    }
    crate::proc::mm::charge_mapping(len, prot, flags)?;
    let (vm, mut ptes) = mm.split();
    let start = vm.mmap(addr, len, prot, flags, file, off / PAGE_SIZE, writable, &mut ptes).map_err(|e| e.0)?;
    let locked = mm.vm.vma_at(start).is_some_and(|v| v.flags & VM_LOCKED_MASK == VM_LOCKED);
    if crate::mm::mmap::mmap_populates(flags) || locked {
        populate(start, start.checked_add(len).unwrap_or(UserAddr::new(u64::MAX)));
    }
    Ok(start.as_u64())
}

/// Faults in `[start, end)` (Linux `__mm_populate`, for `MAP_POPULATE`,
/// `MAP_LOCKED`, `mlock` and `mlockall`): each accessible VMA, writable
/// private memory by write faults (so no copy-on-write is left to do),
/// the rest by read faults; `VM_LOCKONFAULT` VMAs wait for their faults.
/// Failures stop it quietly, as Linux ignores them here.
pub(super) fn populate(start: UserAddr, end: UserAddr) {
    use crate::mm::vma::{VM_LOCKONFAULT, VM_SHARED, VM_WRITE};
    let _ = populate_with(start, end, true, |flags| {
        Ok(if flags & VM_LOCKONFAULT != 0 || flags & crate::mm::vma::VM_ACCESS_FLAGS == 0 { None } else { Some(flags & (VM_WRITE | VM_SHARED) == VM_WRITE) })
    });
}

/// Faults in each page of `[start, end)` with the access `how(vm_flags)`
/// says (`Some(write)`; `None` skips the VMA; `Err` stops). A hole is
/// skipped with `skip_holes`, else `ENOMEM`; so is running out of memory;
/// `EFAULT` for a fault that would be SIGSEGV or SIGBUS. Other tasks may
/// run between pages (and change the mm).
fn populate_with(start: UserAddr, end: UserAddr, skip_holes: bool, how: impl Fn(u64) -> Result<Option<bool>, i32>) -> Result<(), i32> {
    use crate::mm::memory::{FaultError, PF_USER, PF_WRITE};
    let mut va = start;
    while va < end {
        if va > start && crate::proc::sched::cond_resched() && task().pending_kill.is_some() {
            return Err(EINTR);
        }
        let limit = task().stack_limit();
        let mm = mm()?;
        let v = match mm.vm.find_vma(va) {
            Some(v) if v.start <= va => v,
            Some(v) if skip_holes => {
                va = v.start;
                continue;
            }
            _ if skip_holes => return Ok(()),
            _ => return Err(ENOMEM),
        };
        let Some(write) = how(v.flags)? else {
            va = v.end;
            continue;
        };
        let err = if write { PF_WRITE } else { 0 } | PF_USER;
        match crate::mm::memory::handle_mm_fault(mm, va, err, limit) {
            Ok(_) => {}
            // Direct reclaim, then the same page again (the address space
            // is not borrowed across it: reclaim may take its pages too).
            Err(FaultError::Oom) if crate::proc::oom::try_to_free_pages() > 0 => continue,
            Err(FaultError::Oom) => return Err(ENOMEM),
            Err(_) => return Err(EFAULT),
        }
        mm.update_hiwater();
        va += PAGE_SIZE;
    }
    Ok(())
}

pub(super) fn sys_munmap(addr: UserAddr, len: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.munmap(addr, len, &mut ptes).map_err(|e| e.0)?;
    Ok(0)
}

pub(super) fn sys_mprotect(addr: UserAddr, len: u64, prot: u64) -> SysResult {
    let mm = mm()?;
    let mut len = len;
    let mut denied = false;
    if mm.flags.mdwe != 0 && addr.is_page_aligned() {
        // Memory-deny-write-execute: the change stops (EACCES) at the
        // first VMA it would make writable and executable, or newly
        // executable, as Linux's per-VMA check does.
        let end = addr.checked_add(crate::mm::mmap::page_align(len)).unwrap_or(UserAddr::new(u64::MAX));
        let want = crate::mm::mmap::calc_vm_prot_bits(prot as u32);
        let first_denied = mm.vm.iter().filter(|v| v.start < end && addr < v.end).find_map(|v| {
            let new = want | (v.flags & !crate::mm::vma::VM_ACCESS_FLAGS);
            mm.flags.deny_write_exec(v.flags, new).then_some(v.start.max(addr))
        });
        if let Some(at) = first_denied {
            len = at - addr;
            denied = true;
        }
    }
    let (vm, mut ptes) = mm.split();
    if !denied || len > 0 {
        vm.mprotect(addr, len, prot as u32, &mut ptes).map_err(|e| e.0)?;
    }
    if denied {
        return Err(EACCES);
    }
    Ok(0)
}

pub(super) fn sys_mremap(old: UserAddr, old_len: u64, new_len: u64, flags: u64, new_addr: UserAddr) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.mremap(old, old_len, new_len, flags as u32, new_addr, &mut ptes).map(UserAddr::as_u64).map_err(|e| e.0)
}

/// `mlock(start, len)` and `mlock2(start, len, flags)` (Linux
/// `do_mlock`): the range is widened to whole pages; without
/// `CAP_IPC_LOCK` the pages locked afterwards may not exceed
/// `RLIMIT_MEMLOCK` (`ENOMEM`; a zero limit is `EPERM`). Locked pages are
/// faulted in now, unless `MLOCK_ONFAULT`.
pub(super) fn sys_mlock(start: UserAddr, len: u64, flags: u32) -> SysResult {
    if flags & !MLOCK_ONFAULT != 0 {
        return Err(EINVAL);
    }
    if !can_do_mlock() {
        return Err(EPERM);
    }
    let lock = VM_LOCKED | if flags & MLOCK_ONFAULT != 0 { VM_LOCKONFAULT } else { 0 };
    let (start, end) = lock_range(start, len)?;
    let mm = mm()?;
    if let Some(limit) = lock_limit() {
        let locked = mm.vm.locked_vm + (end - start) / PAGE_SIZE - mm.vm.count_mlocked(start, end);
        if locked > limit {
            return Err(ENOMEM);
        }
    }
    mm.vm.mlock_range(start, end, lock).map_err(|e| e.0)?;
    if lock == VM_LOCKED {
        populate(start, end);
    }
    Ok(0)
}

/// `munlock(start, len)`.
pub(super) fn sys_munlock(start: UserAddr, len: u64) -> SysResult {
    let (start, end) = lock_range(start, len)?;
    let mm = mm()?;
    mm.vm.mlock_range(start, end, 0).map_err(|e| e.0)?;
    mm.putback_unlocked(start, end);
    Ok(0)
}

/// The whole pages `mlock`/`munlock` act on (`EINVAL` if they wrap).
fn lock_range(start: UserAddr, len: u64) -> Result<(UserAddr, UserAddr), i32> {
    let offset = start.page_offset();
    let len = len.checked_add(offset + PAGE_SIZE - 1).ok_or(EINVAL)? & !(PAGE_SIZE - 1);
    let start = start.page_align_down();
    Ok((start, start.checked_add(len).ok_or(EINVAL)?))
}

/// `mlockall(flags)`: `MCL_CURRENT` locks (and faults in) every mapping
/// now; `MCL_FUTURE` every later one; `MCL_ONFAULT` defers the faults.
/// `ENOMEM` without `CAP_IPC_LOCK` when the address space is larger than
/// `RLIMIT_MEMLOCK`.
pub(super) fn sys_mlockall(flags: u32) -> SysResult {
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT {
        return Err(EINVAL);
    }
    if !can_do_mlock() {
        return Err(EPERM);
    }
    let mm = mm()?;
    if flags & MCL_CURRENT != 0 && lock_limit().is_some_and(|limit| mm.vm.total_vm > limit) {
        return Err(ENOMEM);
    }
    mm.vm.mlockall(flags).map_err(|e| e.0)?;
    if flags & MCL_CURRENT != 0 && flags & MCL_ONFAULT == 0 {
        populate(UserAddr::new(0), UserAddr::new(crate::proc::uaccess::TASK_SIZE));
    }
    Ok(0)
}

pub(super) fn sys_munlockall() -> SysResult {
    let mm = mm()?;
    mm.vm.mlockall(0).map_err(|e| e.0)?;
    mm.putback_unlocked(UserAddr::new(0), UserAddr::new(crate::proc::uaccess::TASK_SIZE));
    Ok(0)
}

/// `mincore(start, len, vec)`: one byte per page, bit 0 set when the page
/// is in memory: mapped in this process, or (for a file or shared
/// mapping) in the object's page cache. `EINVAL` for an unaligned start,
/// `ENOMEM` for a range beyond user space or with an unmapped page (the
/// bytes before it are written), `EFAULT` for a bad vector.
pub(super) fn sys_mincore(start: UserAddr, len: u64, vec: u64) -> SysResult {
    use crate::proc::uaccess::TASK_SIZE;
    if !start.is_page_aligned() {
        return Err(EINVAL);
    }
    if start.as_u64() > TASK_SIZE || len > TASK_SIZE - start.as_u64() {
        return Err(ENOMEM);
    }
    let pages = len.div_ceil(PAGE_SIZE);
    if !crate::proc::uaccess::access_ok(vec, pages as usize) {
        return Err(EFAULT);
    }
    let mut done = 0;
    let mut buf = [0u8; 64];
    while done < pages {
        let n = (pages - done).min(buf.len() as u64);
        let mm = mm()?;
        let mut hole = false;
        for i in 0..n {
            let va = start + (done + i) * PAGE_SIZE;
            let Some(v) = mm.vm.vma_at(va) else {
                hole = true;
                break;
            };
            let present = mm.pt.lookup(va).is_some_and(|e| e.present()) || v.file.as_ref().is_some_and(|f| f.cached(v.pgoff_at(va)));
            buf[i as usize] = u8::from(present);
        }
        if hole {
            // What was found so far is reported, as Linux copies each batch.
            return Err(ENOMEM);
        }
        copy_to_user(vec + done, &buf[..n as usize])?;
        done += n;
    }
    Ok(0)
}

/// `msync(start, len, flags)` (Linux `mm/msync.c`): the in-memory files
/// have nothing to write back, so `MS_SYNC` is the fsync of each shared
/// file mapping and `MS_ASYNC` nothing; the errors are Linux's: `EINVAL`
/// for unknown flags, `MS_SYNC | MS_ASYNC` or an unaligned start,
/// `ENOMEM` for unmapped parts, `EBUSY` for `MS_INVALIDATE` of locked
/// memory.
pub(super) fn sys_msync(start: UserAddr, len: u64, flags: i32) -> SysResult {
    const MS_ASYNC: i32 = 1;
    const MS_INVALIDATE: i32 = 2;
    const MS_SYNC: i32 = 4;
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !start.is_page_aligned() || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC {
        return Err(EINVAL);
    }
    let len = len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let end = start.wrapping_add(len);
    if end < start {
        return Err(ENOMEM);
    }
    let mm = mm()?;
    let mut at = start;
    let mut unmapped = false;
    while at < end {
        let Some(v) = mm.vm.find_vma(at) else { return Err(ENOMEM) };
        if at < v.start {
            if flags == MS_ASYNC {
                return Err(ENOMEM);
            }
            at = v.start;
            if at >= end {
                return Err(ENOMEM);
            }
            unmapped = true;
        }
        if flags & MS_INVALIDATE != 0 && v.flags & VM_LOCKED != 0 {
            return Err(EBUSY);
        }
        at = v.end;
    }
    if unmapped {
        Err(ENOMEM)
    } else {
        Ok(0)
    }
}

/// `madvise(start, len, advice)` on this process.
pub(super) fn sys_madvise(start: UserAddr, len: u64, advice: i32) -> SysResult {
    do_madvise(start, len, advice)
}

/// The end of the range `madvise` and its kin act on (Linux
/// `do_madvise`'s checks): `EINVAL` for an unaligned start or a length
/// that wraps when rounded up to pages; `None` for an empty range, which
/// is success at once.
fn madvise_end(start: UserAddr, len_in: u64) -> Result<Option<UserAddr>, i32> {
    if !start.is_page_aligned() {
        return Err(EINVAL);
    }
    let len = len_in.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    if len_in != 0 && len == 0 {
        return Err(EINVAL);
    }
    let end = start.checked_add(len).ok_or(EINVAL)?;
    Ok((end != start).then_some(end))
}

/// `madvise` (Linux `do_madvise`). Unknown advice (and advice for features
/// this kernel lacks: KSM, khugepaged collapse, memory-failure injection,
/// guard regions) and an unaligned start are `EINVAL`; a length that wraps
/// when rounded up is `EINVAL`, an empty range is success. The advice
/// applies to every mapped part of the range; a hole in it is `ENOMEM`
/// after the mapped parts were advised.
fn do_madvise(start: UserAddr, len_in: u64, advice: i32) -> SysResult {
    use crate::mm::vma::{VM_HUGETLB, VM_READ, VM_SHARED, VM_WRITE};
    if !madvise_behavior_valid(advice) {
        return Err(EINVAL);
    }
    let Some(end) = madvise_end(start, len_in)? else { return Ok(0) };
    if matches!(advice, MADV_POPULATE_READ | MADV_POPULATE_WRITE) {
        let write = advice == MADV_POPULATE_WRITE;
        // Linux madvise_populate: the access must be allowed (EINVAL).
        populate_with(start, end, false, |flags| {
            let ok = if write { flags & VM_WRITE != 0 } else { flags & VM_READ != 0 };
            if ok {
                Ok(Some(write))
            } else {
                Err(EINVAL)
            }
        })?;
        return Ok(0);
    }
    let mm = mm()?;
    let mut holes: alloc::vec::Vec<(crate::proc::mm::FileRef, u64, u64)> = alloc::vec::Vec::new();
    let (pt, rss) = (&mut mm.pt, &mut mm.rss);
    let walked = mm
        .vm
        .madvise_walk(start, end, |vm, s, e| {
            if !vm.can_madvise_modify(s, advice) {
                return Err(crate::mm::vma::Errno::EPERM);
            }
            let v = vm.vma_at(s).expect("the walk visits mapped ranges");
            let (flags, anon) = (v.flags, v.file.is_none() && v.flags & VM_SHARED == 0);
            let einval = Err(crate::mm::vma::Errno::EINVAL);
            match advice {
                MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE => {
                    let locked = if advice == MADV_DONTNEED_LOCKED { 0 } else { VM_LOCKED };
                    if flags & (locked | VM_HUGETLB) != 0 || (advice == MADV_FREE && !anon) {
                        return einval;
                    }
                    // The pages go; the next touch faults in zeroes
                    // (anonymous) or the object's contents. MADV_FREE may
                    // keep them until memory is short: dropping them now
                    // is one of the outcomes it allows.
                    pt.zap_page_range(s, e, rss);
                }
                MADV_REMOVE => {
                    if flags & VM_LOCKED != 0 {
                        return einval;
                    }
                    let Some(file) = v.file.clone() else { return einval };
                    if flags & (VM_SHARED | crate::mm::vma::VM_MAYSHARE) == 0 || flags & crate::mm::vma::VM_MAYWRITE == 0 {
                        return Err(crate::mm::vma::Errno::EACCES);
                    }
                    let first = v.pgoff_at(s);
                    holes.push((file, first, first + (e - s) / PAGE_SIZE));
                }
                MADV_COLD | MADV_PAGEOUT if flags & (VM_LOCKED | VM_HUGETLB) != 0 => return einval,
                MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK | MADV_DONTDUMP | MADV_DODUMP
                | MADV_HUGEPAGE | MADV_NOHUGEPAGE => vm.madvise_update_flags(s, e, advice)?,
                // WILLNEED: everything is in memory already. COLD and
                // PAGEOUT below.
                _ => {}
            }
            Ok(())
        })
        .map_err(|e| e.0);
    // MADV_PAGEOUT: the anonymous pages this process holds alone go to
    // swap now; MADV_COLD: they are the next reclaim's first choice (the
    // mapped parts of the range, as far as the walk went).
    if matches!(walked, Ok(()) | Err(ENOMEM)) {
        reclaim_hint(mm, start, end, advice);
    }
    walked.inspect_err(|_| punch_holes(&holes))?;
    punch_holes(&holes);
    Ok(0)
}

/// MADV_REMOVE's work, done once the VMA walk is over (it unmaps pages
/// in every process, this one included).
fn punch_holes(holes: &[(crate::proc::mm::FileRef, u64, u64)]) {
    for (file, first, end) in holes {
        file.punch_hole(*first, *end);
    }
}

/// `process_madvise(pidfd, iovec, vlen, advice, flags)` (Linux 5.10+):
/// `madvise` over each range of the vector in the process the pidfd
/// names. Another process takes only the non-destructive hints
/// (`WILLNEED`, `COLD`, `PAGEOUT`), and only from a caller with
/// `CAP_SYS_NICE`. The result is the bytes advised; a failing range ends
/// the call, with its error if it was the first.
pub(super) fn sys_process_madvise(pidfd: i32, iov: u64, vlen: u64, advice: i32, flags: u32) -> SysResult {
    const UIO_MAXIOV: u64 = 1024;
    if flags != 0 || vlen > UIO_MAXIOV {
        return Err(EINVAL);
    }
    let mut vec = alloc::vec![[0u64; 2]; vlen as usize];
    for (i, v) in vec.iter_mut().enumerate() {
        *v = get_user(iov + 16 * i as u64)?;
    }
    let pid = super::process::pidfd_target(pidfd)?;
    let target = crate::proc::sched::task(pid).filter(|t| t.mm.is_some()).ok_or(ESRCH)?;
    let me = task();
    let same = match (&target.mm, &me.mm) {
        (Some(a), Some(b)) => core::ptr::eq(&**a, &**b),
        _ => false,
    };
    if !same {
        if !matches!(advice, MADV_WILLNEED | MADV_COLD | MADV_PAGEOUT) {
            return Err(EINVAL);
        }
        // Another process's memory: what ptrace would allow (Linux
        // `mm_access`), then CAP_SYS_NICE to influence its performance.
        let dumpable = target.mm.as_ref().is_some_and(|mm| mm.flags.dumpable != 0);
        if !me.cred.may_ptrace_read(&target.cred, dumpable) {
            return Err(EACCES);
        }
        if !me.cred.capable(crate::cred::CAP_SYS_NICE) {
            return Err(EPERM);
        }
    }
    let mut total = 0u64;
    for [base, len] in vec {
        let r = if same {
            do_madvise(UserAddr::new(base), len, advice)
        } else {
            // The range must be mapped and well formed, as for madvise.
            remote_hint(target.mm.as_deref_mut().ok_or(ESRCH)?, UserAddr::new(base), len, advice)
        };
        match r {
            Ok(_) => total += len,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

/// A hint for another process's memory: checked as `madvise` checks it,
/// and `MADV_COLD`/`MADV_PAGEOUT` applied as for the caller's own.
fn remote_hint(mm: &mut crate::proc::mm::Mm, start: UserAddr, len_in: u64, advice: i32) -> SysResult {
    let Some(end) = madvise_end(start, len_in)? else { return Ok(0) };
    mm.vm.madvise_walk(start, end, |_, _, _| Ok(())).map_err(|e| e.0)?;
    reclaim_hint(mm, start, end, advice);
    Ok(0)
}

/// The reclaim hints' work on `[start, end)`: `MADV_PAGEOUT` sends pages to
/// swap, `MADV_COLD` makes them the next to go.
fn reclaim_hint(mm: &mut crate::proc::mm::Mm, start: UserAddr, end: UserAddr, advice: i32) {
    match advice {
        MADV_PAGEOUT => {
            mm.pageout(start, end);
        }
        MADV_COLD => {
            mm.deactivate(start, end);
        }
        _ => {}
    }
}

/// `process_mrelease(pidfd, flags)`: frees a dying process's memory early.
/// Processes here free their memory as they exit, so there is never
/// anything left to do: `ESRCH` once it is gone (a zombie, or reaped),
/// `EINVAL` while it still runs, as Linux for a process not exiting.
pub(super) fn sys_process_mrelease(pidfd: i32, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let pid = super::process::pidfd_target(pidfd)?;
    match crate::proc::sched::task(pid) {
        Some(t) if t.mm.is_some() && t.state != crate::proc::sched::TaskState::Zombie => Err(EINVAL),
        _ => Err(ESRCH),
    }
}

/// `mseal(start, len, flags)` (Linux 6.10+).
pub(super) fn sys_mseal(start: UserAddr, len: u64, flags: u64) -> SysResult {
    mm()?.vm.mseal(start, len, flags).map_err(|e| e.0)?;
    Ok(0)
}

/// `prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, start, len, name)` (Linux
/// `prctl_set_vma` + `madvise_set_anon_name`): names anonymous memory,
/// shown as `[anon:NAME]` in `/proc/PID/maps`; a NULL name clears it.
/// Names are at most 79 printable characters without `[]\\$` and
/// backquote (`EINVAL`); file mappings are `EBADF`; holes `ENOMEM`.
pub(super) fn set_vma_anon_name(attr: u64, start: UserAddr, len_in: u64, name: u64) -> SysResult {
    use crate::mm::vma::VmaName;
    const PR_SET_VMA_ANON_NAME: u64 = 0;
    const ANON_VMA_NAME_MAX_LEN: usize = 80;
    if attr != PR_SET_VMA_ANON_NAME {
        return Err(EINVAL);
    }
    let name = if name == 0 {
        VmaName::Plain
    } else {
        let bytes = match crate::proc::uaccess::strncpy_from_user(name, ANON_VMA_NAME_MAX_LEN - 1) {
            Err(ENAMETOOLONG) => return Err(EINVAL),
            r => r?,
        };
        if bytes.iter().any(|&c| !(b' '..=b'~').contains(&c) || b"[]\\$`".contains(&c)) {
            return Err(EINVAL);
        }
        VmaName::Anon(alloc::sync::Arc::from(core::str::from_utf8(&bytes).map_err(|_| EINVAL)?))
    };
    let Some(end) = madvise_end(start, len_in)? else { return Ok(0) };
    mm()?
        .vm
        .madvise_walk(start, end, |vm, s, e| {
            let v = vm.vma_at(s).expect("the walk visits mapped ranges");
            if v.file.as_ref().is_some_and(|f| !f.is_shmem()) {
                return Err(crate::mm::vma::Errno(EBADF));
            }
            // The heap and the stack keep their names (Linux shows them
            // as such whatever anonymous name they carry).
            if matches!(v.name, VmaName::Heap | VmaName::Stack) {
                return Ok(());
            }
            vm.vma_set_name(s, e, name.clone())
        })
        .map_err(|e| e.0)?;
    Ok(0)
}
