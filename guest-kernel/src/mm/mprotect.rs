//! `mprotect` on a [`VmaTree`] (Linux `mm/mprotect.c`,
//! `do_mprotect_pkey` and `mprotect_fixup`).

use super::addr::UserAddr;
use super::mmap::{calc_vm_prot_bits, page_align, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE};
use super::vma::*;

impl<F: VmFile> VmaTree<F> {
    /// Sets the access of `[start, start + len)` to `prot` (`PROT_READ`,
    /// `PROT_WRITE`, `PROT_EXEC`; `PROT_GROWSDOWN` extends the range down
    /// to the start of the stack VMA it hits). VMAs are split at the edges
    /// and merged again with neighbours that end up alike;
    /// [`PageTables::protect`] is called for every piece whose flags
    /// changed.
    ///
    /// Errors as Linux: `EINVAL` for an unaligned `start`, unknown `prot`
    /// bits, both `PROT_GROWSDOWN` and `PROT_GROWSUP`, or `PROT_GROWSDOWN`
    /// on a VMA that is not a stack (`PROT_GROWSUP` always, x86 has no
    /// `VM_GROWSUP`); `ENOMEM` if part of the range is not mapped or the
    /// range wraps; `EACCES` when asking for an access the VMA may not
    /// gain (`VM_MAYWRITE` clear: a shared mapping of a read-only file).
    /// Like Linux's, the change is not atomic: the VMAs before the one
    /// that fails keep their new protection. `len == 0` does nothing.
    /// `EPERM` at a sealed VMA.
    pub fn mprotect(&mut self, start: UserAddr, len: u64, prot: u32, pt: &mut (impl PageTables + ?Sized)) -> Result<(), Errno> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(Errno::EINVAL);
        }
        if !start.is_page_aligned() {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_align(len);
        let end = start.wrapping_add(len);
        if end <= start {
            return Err(Errno::ENOMEM);
        }
        // arch_validate_prot.
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
            return Err(Errno::EINVAL);
        }

        let vma = self.find_vma_intersection(start, end).ok_or(Errno::ENOMEM)?;
        let mut start = start;
        if grows & PROT_GROWSDOWN != 0 {
            start = vma.start;
            if vma.flags & VM_GROWSDOWN == 0 {
                return Err(Errno::EINVAL);
            }
        } else {
            if vma.start > start {
                return Err(Errno::ENOMEM);
            }
            if grows & PROT_GROWSUP != 0 {
                // Would extend the range up to the VMA's end, but only for
                // VM_GROWSUP, which x86 does not have.
                return Err(Errno::EINVAL);
            }
        }

        let mut nstart = start;
        while nstart < end {
            // A hole ends the walk (the VMAs before it stay changed).
            let vma = self.vma_at(nstart).ok_or(Errno::ENOMEM)?;
            // Each call passes the full access; others are cleared.
            let newflags = calc_vm_prot_bits(prot) | (vma.flags & !VM_ACCESS_FLAGS);
            // newflags >> 4 puts VM_MAY* in place of VM_*.
            if newflags & !(newflags >> 4) & VM_ACCESS_FLAGS != 0 {
                return Err(Errno::EACCES);
            }
            let tmp = vma.end.min(end);
            self.mprotect_fixup(nstart, tmp, newflags, pt)?;
            nstart = tmp;
        }
        Ok(())
    }

    /// Gives `[start, end)`, inside one VMA, the flags `newflags` (Linux
    /// `mprotect_fixup`): a private mapping made writable for the first
    /// time is charged (`VM_ACCOUNT`).
    fn mprotect_fixup(&mut self, start: UserAddr, end: UserAddr, mut newflags: VmFlags, pt: &mut (impl PageTables + ?Sized)) -> Result<(), Errno> {
        let oldflags = self.vma_at(start).map_or(0, |v| v.flags);
        if oldflags & VM_SEALED != 0 {
            return Err(Errno::EPERM);
        }
        if newflags == oldflags {
            return Ok(());
        }
        if newflags & VM_WRITE != 0 && oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE) == 0 {
            newflags |= VM_ACCOUNT;
        }
        // Linux (6.6+) also drops VM_ACCOUNT from an anonymous VMA made
        // read-only before any page was faulted in (no anon_vma yet); this
        // bookkeeping does not know about faults and keeps it.
        self.vma_modify_flags(start, end, newflags)?;
        pt.protect(start, end, newflags);
        Ok(())
    }
}
