//! `mmap`, `munmap`, `brk`, `get_unmapped_area` and stack growth on an
//! [`VmaTree`] (Linux `mm/mmap.c`, `mm/vma.c`, `arch/x86/kernel/sys_x86_64.c`),
//! with Linux's flags, checks and errno values. The system-call layer
//! turns a file descriptor into the caller's file handle (`EBADF`,
//! `EACCES` for a file not open for reading, `ENODEV` without mmap
//! support) and a byte offset into pages (`EINVAL` if unaligned), and
//! faults the range in for `MAP_POPULATE` (see [`mmap_populates`]).

use super::addr::{UserAddr, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use super::vma::*;

pub const PROT_NONE: u32 = 0x0;
pub const PROT_READ: u32 = 0x1;
pub const PROT_WRITE: u32 = 0x2;
pub const PROT_EXEC: u32 = 0x4;
pub const PROT_SEM: u32 = 0x8;
/// `mprotect` only: extend the change down to the start of a stack VMA.
pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
pub const PROT_GROWSUP: u32 = 0x0200_0000;

pub const MAP_SHARED: u32 = 0x01;
pub const MAP_PRIVATE: u32 = 0x02;
/// `MAP_SHARED` that fails with `EOPNOTSUPP` on flags it does not know.
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
pub const MAP_TYPE: u32 = 0x0f;
pub const MAP_FIXED: u32 = 0x10;
pub const MAP_ANONYMOUS: u32 = 0x20;
/// x86-64: place the mapping in the first 2 GiB.
pub const MAP_32BIT: u32 = 0x40;
pub const MAP_GROWSDOWN: u32 = 0x0100;
pub const MAP_DENYWRITE: u32 = 0x0800;
pub const MAP_EXECUTABLE: u32 = 0x1000;
pub const MAP_LOCKED: u32 = 0x2000;
pub const MAP_NORESERVE: u32 = 0x4000;
pub const MAP_POPULATE: u32 = 0x8000;
pub const MAP_NONBLOCK: u32 = 0x1_0000;
pub const MAP_STACK: u32 = 0x2_0000;
pub const MAP_HUGETLB: u32 = 0x4_0000;
pub const MAP_SYNC: u32 = 0x8_0000;
pub const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;
pub const MAP_UNINITIALIZED: u32 = 0x400_0000;
const MAP_HUGE_2MB: u32 = 21 << 26;
const MAP_HUGE_1GB: u32 = 30 << 26;

/// The flags every mmap implementation accepts (Linux `LEGACY_MAP_MASK`):
/// `MAP_SHARED_VALIDATE` refuses anything else.
pub const LEGACY_MAP_MASK: u32 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_32BIT
    | MAP_HUGE_2MB
    | MAP_HUGE_1GB;

/// The window `MAP_32BIT` allocates from (x86-64 `find_start_end`).
const MAP_32BIT_RANGE: (UserAddr, UserAddr) = (UserAddr::new(0x4000_0000), UserAddr::new(0x8000_0000));

/// `PROT_*` to `VM_*` (Linux `calc_vm_prot_bits`; unknown bits ignored).
pub const fn calc_vm_prot_bits(prot: u32) -> VmFlags {
    (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) as VmFlags
}

/// `MAP_*` to `VM_*` (Linux `calc_vm_flag_bits`).
pub const fn calc_vm_flag_bits(flags: u32) -> VmFlags {
    (if flags & MAP_GROWSDOWN != 0 { VM_GROWSDOWN } else { 0 }) | (if flags & MAP_LOCKED != 0 { VM_LOCKED } else { 0 })
}

/// Whether a successful `mmap` with these flags must be faulted in now
/// (Linux's `*populate`: `MAP_POPULATE` without `MAP_NONBLOCK`, or
/// `MAP_LOCKED`).
pub const fn mmap_populates(flags: u32) -> bool {
    flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE || flags & MAP_LOCKED != 0
}

/// `PAGE_ALIGN` with C's wrap-around, so that the overflow checks read as
/// Linux's.
pub const fn page_align(x: u64) -> u64 {
    x.wrapping_add(PAGE_SIZE - 1) & PAGE_MASK
}

/// [`page_align`] for an address.
const fn page_align_addr(addr: UserAddr) -> UserAddr {
    UserAddr::new(page_align(addr.as_u64()))
}

/// Which way [`VmaTree::unmapped_area`] searches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Search {
    TopDown,
    BottomUp,
}

impl<F: VmFile> VmaTree<F> {
    /// Finds room for `len` bytes (Linux `get_unmapped_area` with x86-64's
    /// top-down layout): with `MAP_FIXED`, `addr` itself (`EINVAL`
    /// unaligned, `ENOMEM` beyond `task_size`); else `addr` as a hint if
    /// `[addr, addr + len)` is free and clear of a stack's guard gap; else
    /// the highest free range below `mmap_base`, else the lowest above
    /// `mmap_legacy_base`; `MAP_32BIT` searches the first 2 GiB bottom up.
    /// `ENOMEM` when nothing fits.
    pub fn get_unmapped_area(&self, addr: UserAddr, len: u64, flags: u32) -> Result<UserAddr, Errno> {
        if len > self.task_size {
            return Err(Errno::ENOMEM);
        }
        if flags & MAP_FIXED != 0 {
            if addr.as_u64() > self.task_size - len {
                return Err(Errno::ENOMEM);
            }
            if !addr.is_page_aligned() {
                return Err(Errno::EINVAL);
            }
            return Ok(addr);
        }
        let hint = addr.page_align_down();
        if flags & MAP_32BIT == 0 {
            // arch_get_unmapped_area_topdown.
            if !addr.is_null() && self.hint_is_free(hint, len, self.task_size) {
                return Ok(hint);
            }
            let low = UserAddr::new(mmap_min_addr().max(PAGE_SIZE));
            if let Some(a) = self.unmapped_area(len, low, self.mmap_base, Search::TopDown) {
                return Ok(a);
            }
        }
        // arch_get_unmapped_area: the legacy bottom-up layout, also the
        // fallback when the top-down area is full.
        let (begin, end) = if flags & MAP_32BIT != 0 { MAP_32BIT_RANGE } else { (self.mmap_legacy_base, UserAddr::new(self.task_size)) };
        if len > end.as_u64() {
            return Err(Errno::ENOMEM);
        }
        if !addr.is_null() && self.hint_is_free(hint, len, end.as_u64()) {
            return Ok(hint);
        }
        self.unmapped_area(len, begin, end, Search::BottomUp).ok_or(Errno::ENOMEM)
    }

    /// Whether the hint `[addr, addr + len)` (page aligned) may be used:
    /// below `end` and `task_size`, and ending below the next VMA's start
    /// gap.
    fn hint_is_free(&self, addr: UserAddr, len: u64, end: u64) -> bool {
        addr.as_u64() <= self.task_size - len && end - len >= addr.as_u64() && self.find_vma(addr).is_none_or(|next| addr + len <= next.vm_start_gap())
    }

    /// The highest (top down) or lowest (bottom up) `len` bytes inside
    /// `[low, high)` that overlap no VMA nor the guard gap below a stack
    /// (Linux `vm_unmapped_area`; a linear walk where Linux descends a tree
    /// augmented with gap sizes).
    fn unmapped_area(&self, len: u64, low: UserAddr, high: UserAddr, dir: Search) -> Option<UserAddr> {
        if high < low || high - low < len {
            return None;
        }
        // Gaps in address order are [prev.end, next.vm_start_gap()).
        let fits = |gap_start: UserAddr, gap_end: UserAddr| -> Option<UserAddr> {
            let (s, e) = (gap_start.max(low), gap_end.min(high));
            (e > s && e - s >= len).then(|| if dir == Search::TopDown { e - len } else { s })
        };
        match dir {
            Search::TopDown => {
                let mut gap_end = UserAddr::new(u64::MAX);
                for v in self.iter().rev() {
                    if let Some(a) = fits(v.end, gap_end) {
                        return Some(a);
                    }
                    gap_end = v.vm_start_gap();
                    if gap_end < low + len {
                        return None;
                    }
                }
                fits(UserAddr::new(0), gap_end)
            }
            Search::BottomUp => {
                let mut gap_start = UserAddr::new(0);
                for v in self.iter() {
                    if let Some(a) = fits(gap_start, v.vm_start_gap()) {
                        return Some(a);
                    }
                    gap_start = v.end;
                    if gap_start > high {
                        return None;
                    }
                }
                fits(gap_start, UserAddr::new(u64::MAX))
            }
        }
    }

    /// Maps `len` bytes (Linux `do_mmap` + `mmap_region`) and returns the
    /// address. `prot` and `flags` are the system call's `PROT_*` and
    /// `MAP_*`; `file` is ignored with `MAP_ANONYMOUS` and required without
    /// it (`EBADF`); `pgoff` is the file offset in pages; `file_writable`
    /// says whether the file was opened for writing (a shared mapping of a
    /// read-only file can never become writable, Linux's `FMODE_WRITE`).
    /// With `MAP_FIXED` whatever was mapped in the range is unmapped first
    /// (through `pt`). The new VMA merges with compatible neighbours.
    ///
    /// Errors as Linux: `EINVAL` for `len == 0`, a `MAP_FIXED` address not
    /// page aligned, no or two of `MAP_SHARED`/`MAP_PRIVATE`, a shared or
    /// file `MAP_GROWSDOWN`; `ENOMEM` when `len` overflows or nothing fits;
    /// `EEXIST` for `MAP_FIXED_NOREPLACE` over a mapping; `EACCES` for a
    /// shared writable mapping of a read-only file; `EOVERFLOW` when the
    /// file offset overflows; `EOPNOTSUPP` for unknown flags with
    /// `MAP_SHARED_VALIDATE`.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        addr: UserAddr,
        len: u64,
        prot: u32,
        flags: u32,
        file: Option<F>,
        pgoff: u64,
        file_writable: bool,
        pt: &mut (impl PageTables + ?Sized),
    ) -> Result<UserAddr, Errno> {
        // ksys_mmap_pgoff.
        let file = if flags & MAP_ANONYMOUS != 0 { None } else { Some(file.ok_or(Errno::EBADF)?) };
        if file.is_none() && flags & MAP_HUGETLB != 0 {
            // hugetlbfs with no huge pages reserved (vm.nr_hugepages = 0).
            return Err(Errno::ENOMEM);
        }

        // do_mmap.
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut flags = flags;
        if flags & MAP_FIXED_NOREPLACE != 0 {
            flags |= MAP_FIXED;
        }
        let addr = if flags & MAP_FIXED == 0 { round_hint_to_min(addr) } else { addr };
        let len = page_align(len);
        if len == 0 {
            return Err(Errno::ENOMEM);
        }
        if pgoff.checked_add(len >> PAGE_SHIFT).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        if self.map_count > self.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let addr = self.get_unmapped_area(addr, len, flags)?;
        if flags & MAP_FIXED_NOREPLACE != 0 && self.find_vma_intersection(addr, addr + len).is_some() {
            return Err(Errno::EEXIST);
        }

        let mut vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags) | self.def_flags | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        let mut pgoff = pgoff;
        if file.is_some() {
            // file_mmap_ok: offsets past MAX_LFS_FILESIZE.
            let max_bytes = i64::MAX as u64;
            if len > max_bytes || pgoff > (max_bytes - len) >> PAGE_SHIFT {
                return Err(Errno::EOVERFLOW);
            }
            match flags & MAP_TYPE {
                t @ (MAP_SHARED | MAP_SHARED_VALIDATE) => {
                    if t == MAP_SHARED {
                        // Unknown flags are silently ignored with MAP_SHARED.
                        flags &= LEGACY_MAP_MASK;
                    }
                    if flags & !LEGACY_MAP_MASK != 0 {
                        return Err(Errno::EOPNOTSUPP);
                    }
                    if prot & PROT_WRITE != 0 && !file_writable {
                        return Err(Errno::EACCES);
                    }
                    vm_flags |= VM_SHARED | VM_MAYSHARE;
                    if !file_writable {
                        vm_flags &= !(VM_MAYWRITE | VM_SHARED);
                    }
                    if vm_flags & VM_GROWSDOWN != 0 {
                        return Err(Errno::EINVAL);
                    }
                }
                MAP_PRIVATE => {
                    if vm_flags & VM_GROWSDOWN != 0 {
                        return Err(Errno::EINVAL);
                    }
                }
                _ => return Err(Errno::EINVAL),
            }
        } else {
            // Anonymous memory knows only MAP_SHARED and MAP_PRIVATE:
            // MAP_SHARED_VALIDATE is EINVAL, as in Linux's do_mmap.
            match flags & MAP_TYPE {
                MAP_SHARED => {
                    if vm_flags & VM_GROWSDOWN != 0 {
                        return Err(Errno::EINVAL);
                    }
                    // Linux backs it with a shmem file (/dev/zero), and so
                    // does the kernel's mmap before it gets here (it passes
                    // the object as a file); only the host tests of this
                    // bookkeeping make a shared VMA without one.
                    pgoff = 0;
                    vm_flags |= VM_SHARED | VM_MAYSHARE;
                }
                MAP_PRIVATE => pgoff = addr.page_number(),
                _ => return Err(Errno::EINVAL),
            }
        }
        if flags & MAP_NORESERVE != 0 {
            // Honoured: overcommit is not "never".
            vm_flags |= VM_NORESERVE;
        }

        let addr = self.mmap_region(file, addr, len, vm_flags, pgoff, pt)?;
        self.update_hiwater_vm();
        Ok(addr)
    }

    /// Installs a VMA over `[addr, addr + len)`, unmapping whatever was
    /// there, and merges it with its neighbours (Linux `mmap_region`).
    fn mmap_region(
        &mut self,
        file: Option<F>,
        addr: UserAddr,
        len: u64,
        mut vm_flags: VmFlags,
        pgoff: u64,
        pt: &mut (impl PageTables + ?Sized),
    ) -> Result<UserAddr, Errno> {
        let end = addr + len;
        // may_expand_vm, counting what a MAP_FIXED mapping replaces.
        if !self.may_expand_vm(vm_flags, len >> PAGE_SHIFT) {
            let replaced: u64 = self.iter().filter(|v| v.start < end && addr < v.end).map(|v| (v.end.min(end) - v.start.max(addr)) >> PAGE_SHIFT).sum();
            if !self.may_expand_vm(vm_flags, (len >> PAGE_SHIFT) - replaced) {
                return Err(Errno::ENOMEM);
            }
        }
        // A sealed VMA in the way stays (EPERM); other failures are ENOMEM.
        self.unmap_range(addr, end, pt).map_err(|e| if e == Errno::EPERM { e } else { Errno::ENOMEM })?;
        // accountable_mapping: private writable memory is charged.
        if vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE {
            vm_flags |= VM_ACCOUNT;
        }
        self.insert_vma(Vma { start: addr, end, flags: vm_flags, pgoff, file, name: VmaName::Plain, soft_dirty: true });
        self.merge_range(addr, end);
        Ok(addr)
    }

    /// Unmaps `[addr, addr + len)` (Linux `do_vmi_munmap`): VMAs cut at the
    /// edges keep their outer parts, so unmapping a middle page leaves
    /// two. `EINVAL` for an unaligned `addr`, `len == 0` or a range beyond
    /// `task_size`; `ENOMEM` when a hole would exceed `max_map_count`.
    /// Unmapping nothing is success.
    pub fn munmap(&mut self, addr: UserAddr, len: u64, pt: &mut (impl PageTables + ?Sized)) -> Result<(), Errno> {
        if !addr.is_page_aligned() || addr.as_u64() > self.task_size || len > self.task_size - addr.as_u64() {
            return Err(Errno::EINVAL);
        }
        let end = addr + page_align(len);
        if end == addr {
            return Err(Errno::EINVAL);
        }
        self.unmap_range(addr, end, pt)
    }

    /// Sets the program break (Linux `sys_brk`): below `start_brk` nothing
    /// changes; shrinking unmaps the freed whole pages; growing maps
    /// anonymous private read-write `[heap]` memory, extending the heap
    /// VMA in place, unless it would come within a page of the next VMA
    /// (or within the guard gap of a stack) or beyond `task_size`. Returns
    /// the new break on success and the old one on failure, as the system
    /// call does.
    pub fn brk(&mut self, brk: UserAddr, pt: &mut (impl PageTables + ?Sized)) -> UserAddr {
        let origbrk = self.brk;
        if brk < self.start_brk {
            return origbrk;
        }
        let newbrk = page_align_addr(brk);
        let oldbrk = page_align_addr(self.brk);
        if oldbrk == newbrk {
            self.brk = brk;
            return brk;
        }
        if brk <= self.brk {
            // Always allow shrinking, if anything is mapped there.
            if self.find_vma_intersection(newbrk, oldbrk).is_none() || self.unmap_range(newbrk, oldbrk, pt).is_err() {
                return origbrk;
            }
            self.brk = brk;
            return brk;
        }
        // check_data_rlimit: the heap and the data segment together.
        if self.rlimit_data[0] != u64::MAX
            && (brk - self.start_brk).saturating_add(self.end_data.as_u64().saturating_sub(self.start_data.as_u64())) > self.rlimit_data[0]
        {
            return origbrk;
        }
        // check_brk_limits: get_unmapped_area(oldbrk, len, MAP_FIXED).
        let len = newbrk.as_u64().wrapping_sub(oldbrk.as_u64());
        if len > self.task_size || oldbrk.as_u64() > self.task_size - len {
            return origbrk;
        }
        if let Some(next) = self.find_vma(oldbrk) {
            if newbrk + PAGE_SIZE > next.vm_start_gap() {
                return origbrk;
            }
        }
        // do_brk_flags.
        if self.map_count > self.max_map_count {
            return origbrk;
        }
        let flags = VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT | self.def_flags;
        if !self.may_expand_vm(flags, len >> PAGE_SHIFT) {
            return origbrk;
        }
        self.insert_vma(Vma { start: oldbrk, end: newbrk, flags, pgoff: oldbrk.page_number(), file: None, name: VmaName::Heap, soft_dirty: true });
        // Expands the heap VMA in place when it ends at the old break.
        self.merge_range(oldbrk, oldbrk);
        self.update_hiwater_vm();
        self.brk = brk;
        brk
    }

    /// Grows the stack VMA above `addr` down to cover it (Linux
    /// `expand_stack` / `expand_downwards`), for the page-fault handler.
    /// `Ok` if `addr` is mapped already. `EFAULT` when no VMA lies above
    /// `addr` or it is not `VM_GROWSDOWN`; `EPERM` below `mmap_min_addr`;
    /// `ENOMEM` when the stack would exceed `rlimit_stack` bytes or come
    /// within the guard gap of the VMA below (unless that one is a stack
    /// too or inaccessible, as Linux).
    pub fn expand_stack(&mut self, addr: UserAddr, rlimit_stack: u64) -> Result<(), Errno> {
        let vma = self.find_vma(addr).ok_or(Errno::EFAULT)?;
        if vma.start <= addr {
            return Ok(());
        }
        if vma.flags & VM_GROWSDOWN == 0 {
            return Err(Errno::EFAULT);
        }
        let address = addr.page_align_down();
        if address.as_u64() < mmap_min_addr() {
            return Err(Errno::EPERM);
        }
        let too_close = |prev: &Vma<F>| prev.flags & VM_GROWSDOWN == 0 && prev.is_accessible() && address - prev.end < STACK_GUARD_GAP;
        if self.vma_prev(vma.start).is_some_and(too_close) {
            return Err(Errno::ENOMEM);
        }
        let size = vma.end - address;
        let grow = (vma.start - address) >> PAGE_SHIFT;
        if grow > vma.pgoff || size > rlimit_stack || !self.may_expand_vm(vma.flags, grow) {
            return Err(Errno::ENOMEM);
        }
        let key = vma.end;
        let mut v = self.remove_vma(key);
        v.start = address;
        v.pgoff -= grow;
        self.insert_vma(v);
        self.merge_range(address, address);
        self.update_hiwater_vm();
        Ok(())
    }

    /// Unmaps everything (Linux `exit_mmap`, also the first step of exec).
    pub fn exit_mmap(&mut self, pt: &mut (impl PageTables + ?Sized)) {
        while let Some(key) = self.find_vma(UserAddr::new(0)).map(|v| v.end) {
            let v = self.remove_vma(key);
            pt.unmap(v.start, v.end);
        }
    }
}

/// A non-zero hint below `mmap_min_addr` is raised to it (Linux
/// `round_hint_to_min`).
fn round_hint_to_min(hint: UserAddr) -> UserAddr {
    let hint = hint.page_align_down();
    if !hint.is_null() && hint.as_u64() < mmap_min_addr() {
        UserAddr::new(page_align(mmap_min_addr()))
    } else {
        hint
    }
}
