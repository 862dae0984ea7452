//! The VMA-flag operations on a [`VmaTree`]: `mlock`, `munlock`,
//! `mlockall`, `munlockall` (Linux `mm/mlock.c`), `mseal` and the seal
//! checks (`mm/mseal.c`), the flag-setting kinds of `madvise`
//! (`mm/madvise.c`), and what `fork` copies (`dup_mmap`). Faulting the
//! pages in and dropping them is the caller's part: these change VMAs and
//! their counters only.

use super::addr::{UserAddr, PAGE_SIZE};
use super::mmap::page_align;
use super::vma::*;

/// `mlock2` flag: lock pages as they are faulted in, not now.
pub const MLOCK_ONFAULT: u32 = 1;
/// `mlockall` flags.
pub const MCL_CURRENT: u32 = 1;
pub const MCL_FUTURE: u32 = 2;
pub const MCL_ONFAULT: u32 = 4;

/// `madvise` advice values (Linux `include/uapi/asm-generic/mman-common.h`).
pub mod advice {
    pub const MADV_NORMAL: i32 = 0;
    pub const MADV_RANDOM: i32 = 1;
    pub const MADV_SEQUENTIAL: i32 = 2;
    pub const MADV_WILLNEED: i32 = 3;
    pub const MADV_DONTNEED: i32 = 4;
    pub const MADV_FREE: i32 = 8;
    pub const MADV_REMOVE: i32 = 9;
    pub const MADV_DONTFORK: i32 = 10;
    pub const MADV_DOFORK: i32 = 11;
    pub const MADV_MERGEABLE: i32 = 12;
    pub const MADV_UNMERGEABLE: i32 = 13;
    pub const MADV_HUGEPAGE: i32 = 14;
    pub const MADV_NOHUGEPAGE: i32 = 15;
    pub const MADV_DONTDUMP: i32 = 16;
    pub const MADV_DODUMP: i32 = 17;
    pub const MADV_WIPEONFORK: i32 = 18;
    pub const MADV_KEEPONFORK: i32 = 19;
    pub const MADV_COLD: i32 = 20;
    pub const MADV_PAGEOUT: i32 = 21;
    pub const MADV_POPULATE_READ: i32 = 22;
    pub const MADV_POPULATE_WRITE: i32 = 23;
    pub const MADV_DONTNEED_LOCKED: i32 = 24;
}
use advice::*;

/// Whether the kernel knows `advice` (Linux `madvise_behavior_valid` for a
/// kernel without KSM, khugepaged collapse, memory-failure injection or
/// guard regions: those are `EINVAL`).
pub fn madvise_behavior_valid(advice: i32) -> bool {
    matches!(advice, MADV_NORMAL..=MADV_DONTNEED | MADV_FREE..=MADV_DOFORK | MADV_HUGEPAGE..=MADV_DONTNEED_LOCKED)
}

/// Advice that throws data away, refused on sealed read-only anonymous
/// memory (Linux `is_discard`).
fn is_discard(advice: i32) -> bool {
    matches!(advice, MADV_FREE | MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_REMOVE | MADV_DONTFORK | MADV_WIPEONFORK)
}

impl<F: VmFile> VmaTree<F> {
    /// Pages of `[start, end)` that are `VM_LOCKED` already (Linux
    /// `count_mm_mlocked_page_nr`).
    pub fn count_mlocked(&self, start: UserAddr, end: UserAddr) -> u64 {
        self.iter().filter(|v| v.flags & VM_LOCKED != 0 && v.start < end && start < v.end).map(|v| (v.end.min(end) - v.start.max(start)) / PAGE_SIZE).sum()
    }

    /// Sets the lock flags of `[start, end)` (page aligned) to `lock`
    /// (`VM_LOCKED`, plus `VM_LOCKONFAULT` for `MLOCK_ONFAULT`, or nothing
    /// to unlock), as Linux `apply_vma_lock_flags`: `ENOMEM` if `start`
    /// is not mapped, or at the first hole, with the VMAs before it
    /// changed. `locked_vm` follows.
    pub fn mlock_range(&mut self, start: UserAddr, end: UserAddr, lock: VmFlags) -> Result<(), Errno> {
        let mut at = start;
        while at < end {
            let v = self.vma_at(at).ok_or(Errno::ENOMEM)?;
            let newflags = (v.flags & !VM_LOCKED_MASK) | lock;
            let stop = v.end.min(end);
            if newflags != v.flags {
                self.vma_modify_flags(at, stop, newflags)?;
            }
            at = stop;
        }
        Ok(())
    }

    /// `mlockall(flags)` / `munlockall()` (`flags == 0`) after the flag
    /// checks (Linux `apply_mlockall_flags`): `MCL_FUTURE` locks every
    /// later mapping (`def_flags`), `MCL_CURRENT` every VMA now.
    pub fn mlockall(&mut self, flags: u32) -> Result<(), Errno> {
        let onfault = if flags & MCL_ONFAULT != 0 { VM_LOCKONFAULT } else { 0 };
        self.def_flags &= !VM_LOCKED_MASK;
        if flags & MCL_FUTURE != 0 {
            self.def_flags |= VM_LOCKED | onfault;
        }
        if flags & MCL_FUTURE != 0 && flags & MCL_CURRENT == 0 {
            return Ok(());
        }
        let lock = if flags & MCL_CURRENT != 0 { VM_LOCKED | onfault } else { 0 };
        let ranges: alloc::vec::Vec<(UserAddr, UserAddr)> = self.iter().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            // Merging may have joined this range to the one before.
            let Some(v) = self.vma_at(start) else { continue };
            let newflags = (v.flags & !VM_LOCKED_MASK) | lock;
            if newflags != v.flags {
                self.vma_modify_flags(start, end.min(v.end), newflags)?;
            }
        }
        Ok(())
    }

    /// Seals `[start, start + len)` (Linux `mseal`): `EINVAL` for flags,
    /// an unaligned start or a wrapping range; `ENOMEM` if any page of it
    /// is unmapped (then nothing is sealed). Sealing twice is fine.
    pub fn mseal(&mut self, start: UserAddr, len: u64, flags: u64) -> Result<(), Errno> {
        if flags != 0 || !start.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        let aligned = page_align(len);
        if aligned < len {
            return Err(Errno::ENOMEM);
        }
        let end = start.checked_add(aligned).ok_or(Errno::EINVAL)?;
        if end == start {
            return Ok(());
        }
        let mut at = start;
        while at < end {
            at = self.vma_at(at).ok_or(Errno::ENOMEM)?.end;
        }
        let mut at = start;
        while at < end {
            let v = self.vma_at(at).expect("checked above");
            let (flags, stop) = (v.flags | VM_SEALED, v.end.min(end));
            if flags != v.flags {
                self.vma_modify_flags(at, stop, flags)?;
            }
            at = stop;
        }
        Ok(())
    }

    /// `EPERM` if a sealed VMA meets `[start, end)`: it may not be
    /// unmapped, moved or reprotected (Linux `can_modify_vma`).
    pub fn check_unsealed(&self, start: UserAddr, end: UserAddr) -> Result<(), Errno> {
        let sealed = self.iter().any(|v| v.flags & VM_SEALED != 0 && v.start < end && start < v.end);
        if sealed {
            Err(Errno::EPERM)
        } else {
            Ok(())
        }
    }

    /// Whether `advice` may act on the VMA at `addr`: not a discard of
    /// sealed, read-only anonymous memory (Linux `can_madvise_modify`).
    pub fn can_madvise_modify(&self, addr: UserAddr, advice: i32) -> bool {
        let Some(v) = self.vma_at(addr) else { return true };
        let ro_anon = v.file.is_none() && v.flags & VM_SHARED == 0 && v.flags & VM_WRITE == 0;
        v.flags & VM_SEALED == 0 || !is_discard(advice) || !ro_anon
    }

    /// Calls `visit(self, s, e)` for each mapped piece `[s, e)` of
    /// `[start, end)`, one VMA at a time (Linux `madvise_walk_vmas`): an
    /// error from `visit` stops the walk; a hole anywhere is `ENOMEM` at
    /// the end, after the mapped parts were visited.
    pub fn madvise_walk(
        &mut self,
        start: UserAddr,
        end: UserAddr,
        mut visit: impl FnMut(&mut Self, UserAddr, UserAddr) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let mut unmapped = false;
        let mut at = start;
        while at < end {
            let Some(v) = self.find_vma(at) else { return Err(Errno::ENOMEM) };
            if v.start > at {
                unmapped = true;
                at = v.start;
                if at >= end {
                    break;
                }
            }
            let stop = v.end.min(end);
            visit(self, at, stop)?;
            at = stop;
        }
        if unmapped {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// The flag-setting advice on `[start, end)`, inside one VMA (Linux
    /// `madvise_vma_behavior` for `NORMAL`/`SEQUENTIAL`/`RANDOM`,
    /// `DONTFORK`/`DOFORK`,
    /// `WIPEONFORK`/`KEEPONFORK`, `DONTDUMP`/`DODUMP`,
    /// `HUGEPAGE`/`NOHUGEPAGE`). `EINVAL` for `WIPEONFORK` on anything but
    /// private anonymous memory; other advice is not this function's and
    /// changes nothing.
    pub fn madvise_update_flags(&mut self, start: UserAddr, end: UserAddr, advice: i32) -> Result<(), Errno> {
        let v = self.vma_at(start).ok_or(Errno::ENOMEM)?;
        let old = v.flags;
        let new = match advice {
            MADV_NORMAL => old & !(VM_SEQ_READ | VM_RAND_READ),
            MADV_SEQUENTIAL => (old & !VM_RAND_READ) | VM_SEQ_READ,
            MADV_RANDOM => (old & !VM_SEQ_READ) | VM_RAND_READ,
            MADV_DONTFORK => old | VM_DONTCOPY,
            MADV_DOFORK => old & !VM_DONTCOPY,
            MADV_WIPEONFORK if v.file.is_some() || old & VM_SHARED != 0 => return Err(Errno::EINVAL),
            MADV_WIPEONFORK => old | VM_WIPEONFORK,
            MADV_KEEPONFORK => old & !VM_WIPEONFORK,
            MADV_DONTDUMP => old | VM_DONTDUMP,
            MADV_DODUMP => old & !VM_DONTDUMP,
            MADV_HUGEPAGE => (old & !VM_NOHUGEPAGE) | VM_HUGEPAGE,
            MADV_NOHUGEPAGE => (old & !VM_HUGEPAGE) | VM_NOHUGEPAGE,
            _ => old,
        };
        if new != old {
            self.vma_modify_flags(start, end, new)?;
        }
        Ok(())
    }

    /// Marks every VMA clean for soft-dirty tracking (`clear_refs` 4;
    /// Linux clears `VM_SOFTDIRTY`).
    pub fn clear_soft_dirty(&mut self) {
        self.for_each_vma_mut(|v| v.soft_dirty = false);
    }

    /// The child's VMAs at `fork` (Linux `dup_mmap`): no `VM_DONTCOPY`
    /// VMA, no lock (locks are not inherited, nor is `MCL_FUTURE`).
    /// Where clearing a lock leaves two neighbours alike they are merged
    /// (Linux keeps them apart until the next change nearby).
    pub fn dup_for_fork(&self) -> Self {
        let mut child = self.clone();
        child.def_flags &= VM_NOHUGEPAGE;
        // Only VMAs that fork changes are touched (the common child is a
        // plain copy, and walking the tree per VMA is not free).
        let changed: alloc::vec::Vec<(UserAddr, VmFlags)> =
            child.iter().filter(|v| v.flags & (VM_DONTCOPY | VM_LOCKED_MASK) != 0).map(|v| (v.end, v.flags)).collect();
        for &(end, flags) in &changed {
            if flags & VM_DONTCOPY != 0 {
                child.remove_vma(end);
            } else {
                let mut v = child.remove_vma(end);
                v.flags &= !VM_LOCKED_MASK;
                child.insert_vma(v);
            }
        }
        if !changed.is_empty() {
            child.merge_range(UserAddr::new(0), UserAddr::new(u64::MAX));
        }
        child.hiwater_vm = self.hiwater_vm.max(child.total_vm);
        child
    }
}
