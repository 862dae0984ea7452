//! `mremap` on a [`VmaTree`] (Linux `mm/mremap.c`): shrink in place,
//! grow in place, or move, with the page tables following through
//! [`PageTables::move_range`].

use super::addr::{UserAddr, PAGE_SHIFT};
use super::mmap::{page_align, MAP_FIXED, MAP_SHARED};
use super::vma::*;

/// The mapping may move if it cannot grow in place.
pub const MREMAP_MAYMOVE: u32 = 1;
/// Move to exactly `new_addr`, unmapping what is there (needs
/// `MREMAP_MAYMOVE`).
pub const MREMAP_FIXED: u32 = 2;
/// Move the pages but leave the old VMA mapped and empty (needs
/// `MREMAP_MAYMOVE` and `old_len == new_len`).
pub const MREMAP_DONTUNMAP: u32 = 4;

impl<F: VmFile> VmaTree<F> {
    /// Resizes and/or moves the mapping at `old_addr` (Linux `mremap`) and
    /// returns its address. Without `MREMAP_FIXED`/`MREMAP_DONTUNMAP`:
    /// shrinking unmaps the tail (through `pt`); growing extends the VMA
    /// in place when `[old_addr, old_addr + old_len)` ends at the VMA's end
    /// and the space after it is free, and otherwise, with
    /// `MREMAP_MAYMOVE`, moves it to a new range from
    /// [`get_unmapped_area`](VmaTree::get_unmapped_area)
    /// ([`PageTables::move_range`] for the old pages, then
    /// [`PageTables::unmap`] for the old range). `old_len == 0` on a shared
    /// mapping makes a second mapping of the same pages.
    ///
    /// Errors as Linux: `EINVAL` for unknown flags, an unaligned address,
    /// `new_len == 0`, `MREMAP_FIXED`/`MREMAP_DONTUNMAP` without
    /// `MREMAP_MAYMOVE`, overlapping old and new ranges, a new range beyond
    /// `task_size`, `old_len == 0` on a private mapping; `EFAULT` when
    /// nothing is mapped at `old_addr` or the old range crosses the end of
    /// its VMA (growing or moving); `ENOMEM` when the mapping cannot grow
    /// in place and may not move, or no room is found; `EPERM` for a
    /// sealed mapping, or a sealed one in the way at `new_addr`.
    pub fn mremap(
        &mut self,
        old_addr: UserAddr,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: UserAddr,
        pt: &mut (impl PageTables + ?Sized),
    ) -> Result<UserAddr, Errno> {
        // check_mremap_params.
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if !old_addr.is_page_aligned() || page_align(new_len) == 0 {
            return Err(Errno::EINVAL);
        }
        let implies_new_addr = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0;
        if implies_new_addr {
            if !new_addr.is_page_aligned() || flags & MREMAP_MAYMOVE == 0 {
                return Err(Errno::EINVAL);
            }
            if flags & MREMAP_DONTUNMAP != 0 && old_len != new_len {
                return Err(Errno::EINVAL);
            }
            // The worst case splits both the old and the new range in three.
            if self.map_count + 2 >= self.max_map_count.saturating_sub(3) {
                return Err(Errno::ENOMEM);
            }
        }
        let (old_len, new_len) = (page_align(old_len), page_align(new_len));
        if self.vma_at(old_addr).ok_or(Errno::EFAULT)?.flags & VM_SEALED != 0 {
            return Err(Errno::EPERM);
        }
        let r = Remap { addr: old_addr, old_len, new_len, flags, new_addr };
        let res = if implies_new_addr { self.mremap_to(r, pt) } else { self.mremap_at(r, pt) };
        self.update_hiwater_vm();
        res
    }

    /// Resize in place, or move anywhere (Linux `mremap_at`).
    fn mremap_at(&mut self, r: Remap, pt: &mut (impl PageTables + ?Sized)) -> Result<UserAddr, Errno> {
        if r.old_len == r.new_len {
            return Ok(r.addr);
        }
        if r.old_len > r.new_len {
            self.munmap(r.addr.wrapping_add(r.new_len), r.old_len - r.new_len, pt)?;
            return Ok(r.addr);
        }
        self.remap_is_valid(&r)?;
        if let Some(new_end) = self.can_expand_in_place(&r) {
            let key = self.vma_at(r.addr).map_or(UserAddr::new(0), |v| v.end);
            let mut v = self.remove_vma(key);
            v.end = new_end;
            let start = v.start;
            self.insert_vma(v);
            self.merge_range(start, new_end);
            return Ok(r.addr);
        }
        if r.flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let new_addr = self.remap_new_addr(&r, UserAddr::new(0))?;
        self.move_vma(Remap { new_addr, ..r }, pt)
    }

    /// Move to `new_addr` (`MREMAP_FIXED`) or near it (`MREMAP_DONTUNMAP`),
    /// resizing on the way (Linux `mremap_to`).
    fn mremap_to(&mut self, mut r: Remap, pt: &mut (impl PageTables + ?Sized)) -> Result<UserAddr, Errno> {
        if r.new_len > self.task_size || r.new_addr.as_u64() > self.task_size - r.new_len {
            return Err(Errno::EINVAL);
        }
        // vrm_overlaps, with C's wrap-around.
        if r.addr.wrapping_add(r.old_len) > r.new_addr && r.new_addr + r.new_len > r.addr {
            return Err(Errno::EINVAL);
        }
        if r.flags & MREMAP_FIXED != 0 {
            self.munmap(r.new_addr, r.new_len, pt)?;
            self.vma_at(r.addr).ok_or(Errno::EFAULT)?;
        }
        if r.old_len > r.new_len {
            self.munmap(r.addr.wrapping_add(r.new_len), r.old_len - r.new_len, pt)?;
            self.vma_at(r.addr).ok_or(Errno::EFAULT)?;
            r.old_len = r.new_len;
        }
        self.remap_is_valid(&r)?;
        let new_addr = self.remap_new_addr(&r, r.new_addr)?;
        self.move_vma(Remap { new_addr, ..r }, pt)
    }

    /// Whether the VMA at `r.addr` may be resized as asked (Linux
    /// `remap_is_valid`).
    fn remap_is_valid(&self, r: &Remap) -> Result<(), Errno> {
        let vma = self.vma_at(r.addr).ok_or(Errno::EFAULT)?;
        // Duplicating a private mapping would make unrelated memory.
        if r.old_len == 0 && vma.flags & (VM_SHARED | VM_MAYSHARE) == 0 {
            return Err(Errno::EINVAL);
        }
        // No remapping across VMA boundaries.
        if r.old_len > vma.end - r.addr {
            return Err(Errno::EFAULT);
        }
        if r.new_len == r.old_len {
            return Ok(());
        }
        if vma.pgoff_at(r.addr).checked_add(r.new_len >> PAGE_SHIFT).is_none() {
            return Err(Errno::EINVAL);
        }
        // vma_to_resize: growing must stay within RLIMIT_AS (and DATA).
        if r.new_len > r.old_len && !self.may_expand_vm(vma.flags, (r.new_len - r.old_len) >> PAGE_SHIFT) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// The new end if the VMA can grow in place: the old range reaches the
    /// VMA's end and the space after it is free and inside `task_size`
    /// (Linux `vma_expandable`; no stack guard gap here, as Linux).
    fn can_expand_in_place(&self, r: &Remap) -> Option<UserAddr> {
        let vma = self.vma_at(r.addr)?;
        if vma.end - r.addr != r.old_len {
            return None;
        }
        let end = vma.end.checked_add(r.new_len - r.old_len)?;
        if self.find_vma_intersection(vma.end, end).is_some() {
            return None;
        }
        self.get_unmapped_area(vma.start, end - vma.start, MAP_FIXED).ok()?;
        Some(end)
    }

    /// Where the moved mapping goes (Linux `vrm_set_new_addr`).
    fn remap_new_addr(&self, r: &Remap, hint: UserAddr) -> Result<UserAddr, Errno> {
        let vma = self.vma_at(r.addr).ok_or(Errno::EFAULT)?;
        let mut map_flags = 0;
        if r.flags & MREMAP_FIXED != 0 {
            map_flags |= MAP_FIXED;
        }
        if vma.flags & VM_MAYSHARE != 0 {
            map_flags |= MAP_SHARED;
        }
        self.get_unmapped_area(hint, r.new_len, map_flags)
    }

    /// Copies the VMA's part at `r.addr` to the free range at `r.new_addr`,
    /// moves the page tables and unmaps the old range (Linux `move_vma`).
    fn move_vma(&mut self, r: Remap, pt: &mut (impl PageTables + ?Sized)) -> Result<UserAddr, Errno> {
        if self.map_count >= self.max_map_count.saturating_sub(3) {
            return Err(Errno::ENOMEM);
        }
        let vma = self.vma_at(r.addr).ok_or(Errno::EFAULT)?;
        let new_vma = Vma {
            start: r.new_addr,
            end: r.new_addr + r.new_len,
            flags: vma.flags,
            pgoff: vma.pgoff_at(r.addr),
            file: vma.file.clone(),
            name: vma.name.clone(),
            soft_dirty: true,
        };
        self.insert_vma(new_vma);
        if r.old_len != 0 {
            pt.move_range(r.addr, r.new_addr, r.old_len);
        }
        if r.flags & MREMAP_DONTUNMAP != 0 {
            // The old VMA stays, empty, and is no longer locked or charged.
            if let Some(v) = self.vma_at(r.addr) {
                let (start, end, flags) = (v.start, v.end, v.flags & !(VM_LOCKED_MASK | VM_ACCOUNT));
                if flags != v.flags {
                    self.vma_modify_flags(start, end, flags)?;
                }
            }
        } else if r.old_len != 0 {
            // Cannot fail: map_count is well below the limit.
            self.unmap_range(r.addr, r.addr + r.old_len, pt)?;
        }
        self.merge_range(r.new_addr, r.new_addr + r.new_len);
        Ok(r.new_addr)
    }
}

/// One `mremap` request, lengths page aligned (Linux `vma_remap_struct`).
#[derive(Clone, Copy)]
struct Remap {
    addr: UserAddr,
    old_len: u64,
    new_len: u64,
    flags: u32,
    new_addr: UserAddr,
}
