//! The address space of a user process as bookkeeping: Linux's
//! `struct mm_struct` and its set of `vm_area_struct`s (`mm/mmap.c`,
//! `mm/vma.c`). This module owns the VMA set, the `mm_struct` layout and
//! counters, and the primitives every operation is built from (insert,
//! remove, split, merge, unmap a range, change flags on a range). The
//! operations themselves are Linux's system calls: [`mmap`](super::mmap)
//! (`mmap`, `munmap`, `brk`, stack growth), [`mprotect`](super::mprotect),
//! [`mremap`](super::mremap); `/proc/PID/maps` and the `Vm*` lines of
//! `/proc/PID/status` are in [`task_mmu`](super::task_mmu).
//!
//! No page tables here: every operation that takes addresses away or
//! changes their access tells the caller's [`PageTables`] exactly which
//! ranges, and the page-fault handler fills PTEs in from
//! [`VmaTree::find_vma`].
//!
//! ```text
//! user virtual (x86-64, 47 bits, no randomisation)
//! 0x7fff_ffff_f000  TASK_SIZE (Linux TASK_SIZE_MAX)
//!                   [stack]  VM_GROWSDOWN; faults below it grow it (expand_stack)
//!                   stack_guard_gap (1 MiB): no mapping is placed here
//! 0x7fff_f7ff_f000  mmap_base = TASK_SIZE - clamp(RLIMIT_STACK + gap, 128 MiB, 5/6 TASK_SIZE)
//!                   mmap area: get_unmapped_area hands ranges out top down
//!                   ...
//! 0x2aaa_aaaa_b000  mmap_legacy_base (TASK_SIZE / 3): bottom-up fallback
//!                   ...
//!                   [heap]   start_brk .. brk, grows up (sys_brk)
//!                   bss, data, text: the ELF loader's MAP_FIXED mappings
//! 0x0000_0001_0000  mmap_min_addr: nothing is placed below unless MAP_FIXED
//! ```
//!
//! VMAs are kept maximally merged: two neighbours with the same flags,
//! file and special name and contiguous `pgoff` are always one VMA
//! (Linux merges at the same places but does not promise it everywhere;
//! here [`VmaTree::check_invariants`] does).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::mm::addr::{UserAddr, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
pub use crate::mm::errno::Errno;
use crate::mm::vma_box::VmaBox;

/// VMA flags (Linux `vm_flags_t`, the `VM_*` values of `include/linux/mm.h`).
pub type VmFlags = u64;

pub const VM_NONE: VmFlags = 0;
pub const VM_READ: VmFlags = 0x0000_0001;
pub const VM_WRITE: VmFlags = 0x0000_0002;
pub const VM_EXEC: VmFlags = 0x0000_0004;
pub const VM_SHARED: VmFlags = 0x0000_0008;
/// `VM_MAY*`: what `mprotect` may turn on later (the `VM_*` bit << 4).
pub const VM_MAYREAD: VmFlags = 0x0000_0010;
pub const VM_MAYWRITE: VmFlags = 0x0000_0020;
pub const VM_MAYEXEC: VmFlags = 0x0000_0040;
pub const VM_MAYSHARE: VmFlags = 0x0000_0080;
/// The VMA grows down on faults below it (a stack).
pub const VM_GROWSDOWN: VmFlags = 0x0000_0100;
/// `mlock`ed (`MAP_LOCKED`): counted in `locked_vm`.
pub const VM_LOCKED: VmFlags = 0x0000_2000;
pub const VM_LOCKONFAULT: VmFlags = 0x0008_0000;
/// Charged to the overcommit accounting (private writable memory).
pub const VM_ACCOUNT: VmFlags = 0x0010_0000;
/// `MAP_NORESERVE`: not charged.
pub const VM_NORESERVE: VmFlags = 0x0020_0000;
pub const VM_HUGETLB: VmFlags = 0x0040_0000;
/// `MADV_SEQUENTIAL` / `MADV_RANDOM`: read-ahead hints, kept on the VMA.
pub const VM_SEQ_READ: VmFlags = 0x0000_8000;
pub const VM_RAND_READ: VmFlags = 0x0001_0000;
/// `MADV_DONTFORK`: a child process does not get this VMA.
pub const VM_DONTCOPY: VmFlags = 0x0002_0000;
/// `MADV_WIPEONFORK`: a child gets the VMA but none of its pages.
pub const VM_WIPEONFORK: VmFlags = 0x0200_0000;
/// `MADV_DONTDUMP`: left out of core dumps.
pub const VM_DONTDUMP: VmFlags = 0x0400_0000;
/// `MADV_HUGEPAGE` / `MADV_NOHUGEPAGE`: recorded, shown in `smaps`.
pub const VM_HUGEPAGE: VmFlags = 0x2000_0000;
pub const VM_NOHUGEPAGE: VmFlags = 0x4000_0000;
/// `mseal`ed: the VMA may not be unmapped, moved, reprotected or have its
/// pages discarded (Linux `VM_SEALED`, a high bit on 64-bit).
pub const VM_SEALED: VmFlags = 1 << 42;

/// The flags that make a stack (x86 has no `VM_GROWSUP`).
pub const VM_STACK: VmFlags = VM_GROWSDOWN;
pub const VM_ACCESS_FLAGS: VmFlags = VM_READ | VM_WRITE | VM_EXEC;
pub const VM_LOCKED_MASK: VmFlags = VM_LOCKED | VM_LOCKONFAULT;
/// Flags of the heap and of new stacks (x86-64 `VM_DATA_DEFAULT_FLAGS`).
pub const VM_DATA_DEFAULT_FLAGS: VmFlags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
/// Flags of the exec-time stack (Linux `VM_STACK_FLAGS`).
pub const VM_STACK_FLAGS: VmFlags = VM_STACK | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT;

/// The end of user addresses (Linux x86-64 `TASK_SIZE_MAX`, 4-level paging).
pub const TASK_SIZE: u64 = (1 << 47) - PAGE_SIZE;
/// Gap kept below a stack that nothing else may occupy (Linux
/// `stack_guard_gap`, 256 pages).
pub const STACK_GUARD_GAP: u64 = 256 << PAGE_SHIFT;
/// The lowest address `get_unmapped_area` hands out (Linux
/// `vm.mmap_min_addr`, default 64 KiB). `MAP_FIXED` may go lower, as for
/// root (`CAP_SYS_RAWIO`).
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// `vm.mmap_min_addr` now (root may change it, as on Linux).
pub static SYSCTL_MMAP_MIN_ADDR: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(MMAP_MIN_ADDR);

/// The lowest address `mmap` hands out or a stack grows to.
pub fn mmap_min_addr() -> u64 {
    SYSCTL_MMAP_MIN_ADDR.load(core::sync::atomic::Ordering::Relaxed)
}
/// Default limit on the number of VMAs (Linux `DEFAULT_MAX_MAP_COUNT`).
pub const DEFAULT_MAX_MAP_COUNT: usize = 65530;
/// `vm.max_map_count` now: what new address spaces start with.
pub static SYSCTL_MAX_MAP_COUNT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(DEFAULT_MAX_MAP_COUNT);
/// Default `RLIMIT_STACK` (8 MiB), used for the default `mmap_base`.
pub const DEFAULT_RLIMIT_STACK: u64 = 8 << 20;

/// What a file mapping refers to: an opaque handle the caller supplies
/// (an inode reference), compared with `==` to decide whether two VMAs map
/// the same file and may merge.
pub trait VmFile: Clone + PartialEq + fmt::Debug {}
impl<T: Clone + PartialEq + fmt::Debug> VmFile for T {}

/// The name `/proc/PID/maps` shows for an anonymous VMA. Linux derives
/// `[heap]` and `[stack]` from `start_brk`/`brk` and `start_stack`; here
/// the VMA carries it (like Linux's `anon_vma_name`, VMAs with different
/// names never merge, so the heap stays its own VMA next to the bss).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum VmaName {
    /// No special name: the file's path, or nothing for anonymous memory.
    #[default]
    Plain,
    /// `[heap]`: made by `brk`.
    Heap,
    /// `[stack]`: marked by [`VmaTree::mark_stack`].
    Stack,
    /// `prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME)`: `[anon:NAME]`
    /// (`[anon_shmem:NAME]` for shared anonymous memory).
    Anon(alloc::sync::Arc<str>),
}

/// One mapped range with uniform attributes (Linux `vm_area_struct`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma<F> {
    /// First address, page aligned (`vm_start`).
    pub start: UserAddr,
    /// First address after the VMA, page aligned (`vm_end`).
    pub end: UserAddr,
    pub flags: VmFlags,
    /// Offset of `start` in the file, in pages (`vm_pgoff`); for private
    /// anonymous memory `start >> PAGE_SHIFT` where it was first mapped.
    pub pgoff: u64,
    /// The mapped file (`vm_file`); `None` for anonymous memory.
    pub file: Option<F>,
    pub name: VmaName,
    /// Written to since the last `clear_refs` soft-dirty reset, as a
    /// whole (Linux `VM_SOFTDIRTY`: a new VMA is; `/proc/PID/pagemap`
    /// then reports each of its pages soft-dirty). Kept out of `flags`
    /// because, as in Linux, it never stops two VMAs from merging.
    pub soft_dirty: bool,
}

impl<F: VmFile> Vma<F> {
    /// Number of pages (`vma_pages`).
    pub fn pages(&self) -> u64 {
        (self.end - self.start) >> PAGE_SHIFT
    }

    pub fn contains(&self, addr: UserAddr) -> bool {
        self.start <= addr && addr < self.end
    }

    pub fn is_anonymous(&self) -> bool {
        self.file.is_none()
    }

    /// Any of read, write, execute (`vma_is_accessible`).
    pub fn is_accessible(&self) -> bool {
        self.flags & VM_ACCESS_FLAGS != 0
    }

    /// The file page (or anonymous page index) behind `addr`
    /// (`linear_page_index`).
    pub fn pgoff_at(&self, addr: UserAddr) -> u64 {
        self.pgoff + ((addr - self.start) >> PAGE_SHIFT)
    }

    /// The lowest address a new mapping below this one may end at: the
    /// start, less the guard gap for a stack (`vm_start_gap`).
    pub fn vm_start_gap(&self) -> UserAddr {
        if self.flags & VM_GROWSDOWN != 0 {
            self.start.saturating_sub(STACK_GUARD_GAP)
        } else {
            self.start
        }
    }

    /// The part `[start, end)` of this VMA, as its own VMA.
    pub(super) fn slice(&self, start: UserAddr, end: UserAddr) -> Self {
        Self { start, end, pgoff: self.pgoff_at(start), ..self.clone() }
    }
}

/// What the fault path needs of an anonymous VMA, copied out of it (see
/// [`VmaTree::cached_fault_vma`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultVma {
    pub start: UserAddr,
    pub end: UserAddr,
    pub flags: VmFlags,
    pub pgoff: u64,
}

/// Whether `b` can be appended to `a` as one VMA (Linux `is_mergeable_vma`
/// plus `can_vma_merge_after`; anonymous VMAs need contiguous `pgoff` too).
fn can_merge<F: VmFile>(a: &Vma<F>, b: &Vma<F>) -> bool {
    a.end == b.start && a.flags == b.flags && a.name == b.name && a.file == b.file && a.pgoff.checked_add(a.pages()) == Some(b.pgoff)
}

/// Keeps the caller's page tables in step with the VMA set. Each call names
/// a page-aligned range of one VMA that was mapped before the call.
pub trait PageTables {
    /// The range is no longer mapped: drop its PTEs (and the pages' map
    /// counts and RSS), free emptied page tables, flush the TLB.
    fn unmap(&mut self, start: UserAddr, end: UserAddr);
    /// The range's VMA flags changed to `flags`: rewrite its PTEs'
    /// permissions (a write permission for private memory stays off until
    /// the copy-on-write fault) and flush the TLB.
    fn protect(&mut self, start: UserAddr, end: UserAddr, flags: VmFlags);
    /// Move the PTEs of `[old_start, old_start + len)` to
    /// `[new_start, new_start + len)` (the destination has none).
    fn move_range(&mut self, old_start: UserAddr, new_start: UserAddr, len: u64);
    /// `[start, end)` was just unmapped and nothing is mapped in `[floor,
    /// ceiling)` around it (the gap between the neighbouring VMAs): page
    /// tables covering the range that map only addresses inside the gap
    /// may be freed (Linux `free_pgtables`). By default they are kept.
    fn free_pgtables(&mut self, start: UserAddr, end: UserAddr, floor: UserAddr, ceiling: UserAddr) {
        let _ = (start, end, floor, ceiling);
    }
}

/// The VMA half of a user address space (what Linux's `struct mm_struct`
/// keeps of its VMAs and layout; the whole is `mm::mm_types::MmStruct`,
/// which adds the page tables and RSS counters). All sizes are bytes, all
/// counters pages.
///
/// The VMAs are in a vector sorted by address, standing in for Linux's
/// maple tree (older kernels: the `mm_rb` rbtree plus the `mmap` list):
/// `find_vma` is a binary search over a few hundred boxes at most in
/// practice, far cheaper than an ordered map's range search (about 100
/// instructions each here); inserting and removing move the boxes after
/// the place, which is cheap for the VMA counts programs have.
#[derive(Clone, Debug)]
pub struct VmaTree<F> {
    vmas: Vec<VmaBox<Vma<F>>>,
    /// The index of the VMA the fault path found last, tried first next
    /// time (Linux's old `mm->mmap_cache`): page faults come in runs inside
    /// one VMA. Checked, never trusted, so it needs no invalidation: an
    /// index past the end or a VMA that no longer holds the address falls
    /// back to the search.
    last_found: core::cell::Cell<usize>,
    /// The anonymous VMA the fault path used last, as a copy, with the
    /// [`generation`](Self::generation) it was taken at: faults on
    /// anonymous memory skip the tree while nothing has changed.
    fault_cache: core::cell::Cell<Option<(u64, FaultVma)>>,
    /// Bumped by every change to the VMA set (the primitives below), so a
    /// copy taken before a change is never used after it.
    generation: u64,

    // Set by the ELF loader, reported in /proc; the operations read
    // `start_brk` and `brk` only.
    pub start_code: UserAddr,
    pub end_code: UserAddr,
    pub start_data: UserAddr,
    pub end_data: UserAddr,
    pub start_brk: UserAddr,
    /// The program break as the program set it (not page aligned).
    pub brk: UserAddr,
    pub start_stack: UserAddr,
    pub arg_start: UserAddr,
    pub arg_end: UserAddr,
    pub env_start: UserAddr,
    pub env_end: UserAddr,

    /// Top of the top-down mmap area.
    pub mmap_base: UserAddr,
    /// Bottom of the bottom-up fallback area (`TASK_UNMAPPED_BASE`).
    pub mmap_legacy_base: UserAddr,
    /// End of user addresses.
    pub task_size: u64,
    /// Limit on `map_count` (Linux `vm.max_map_count`).
    pub max_map_count: usize,

    // Maintained by the operations (Linux `vm_stat_account`); read them,
    // do not write them.
    /// Pages mapped (`VmSize`).
    pub total_vm: u64,
    /// Private writable non-stack pages (`VmData`).
    pub data_vm: u64,
    /// Executable non-writable non-stack pages (`VmExe` + `VmLib`).
    pub exec_vm: u64,
    /// Stack pages (`VmStk`).
    pub stack_vm: u64,
    /// `VM_LOCKED` pages (`VmLck`).
    pub locked_vm: u64,
    /// Number of VMAs.
    pub map_count: usize,
    /// `RLIMIT_AS` and `RLIMIT_DATA` (soft, hard) in bytes, as the process
    /// has them (the kernel keeps them current: exec, fork, setrlimit).
    pub rlimit_as: u64,
    pub rlimit_data: [u64; 2],
    /// Flags every new VMA gets (`mlockall(MCL_FUTURE)` puts
    /// `VM_LOCKED` here; Linux `mm->def_flags`).
    pub def_flags: VmFlags,
    /// Highest `total_vm` seen (`VmPeak`).
    pub hiwater_vm: u64,
}

impl<F: VmFile> Default for VmaTree<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Linux x86 `mmap_base` without randomisation: below the stack, leaving
/// room for `RLIMIT_STACK` plus the guard gap, at least 128 MiB and at most
/// five sixths of the address space.
pub const fn mmap_base(task_size: u64, rlimit_stack: u64) -> UserAddr {
    let mut gap = rlimit_stack;
    if let Some(g) = gap.checked_add(STACK_GUARD_GAP) {
        gap = g;
    }
    let (gap_min, gap_max) = (128 << 20, task_size / 6 * 5);
    if gap < gap_min {
        gap = gap_min;
    } else if gap > gap_max {
        gap = gap_max;
    }
    UserAddr::new((task_size - gap) & PAGE_MASK)
}

impl<F: VmFile> VmaTree<F> {
    /// An empty address space with the x86-64 default layout (8 MiB stack
    /// limit).
    pub fn new() -> Self {
        Self::with_layout(TASK_SIZE, mmap_base(TASK_SIZE, DEFAULT_RLIMIT_STACK))
    }

    /// An empty address space ending at `task_size` with the top-down mmap
    /// area below `mmap_base` (tests use small ones).
    pub fn with_layout(task_size: u64, mmap_base: UserAddr) -> Self {
        Self {
            vmas: Vec::new(),
            last_found: core::cell::Cell::new(0),
            fault_cache: core::cell::Cell::new(None),
            generation: 0,
            start_code: UserAddr::new(0),
            end_code: UserAddr::new(0),
            start_data: UserAddr::new(0),
            end_data: UserAddr::new(0),
            start_brk: UserAddr::new(0),
            brk: UserAddr::new(0),
            start_stack: UserAddr::new(0),
            arg_start: UserAddr::new(0),
            arg_end: UserAddr::new(0),
            env_start: UserAddr::new(0),
            env_end: UserAddr::new(0),
            mmap_base,
            mmap_legacy_base: UserAddr::new((task_size / 3 + PAGE_SIZE - 1) & PAGE_MASK),
            task_size,
            max_map_count: SYSCTL_MAX_MAP_COUNT.load(core::sync::atomic::Ordering::Relaxed),
            total_vm: 0,
            data_vm: 0,
            exec_vm: 0,
            stack_vm: 0,
            locked_vm: 0,
            map_count: 0,
            def_flags: 0,
            rlimit_as: u64::MAX,
            rlimit_data: [u64::MAX; 2],
            hiwater_vm: 0,
        }
    }

    /// Recomputes `mmap_base` for a stack limit (Linux
    /// `arch_pick_mmap_layout`, at exec).
    pub fn arch_pick_mmap_layout(&mut self, rlimit_stack: u64) {
        self.mmap_base = mmap_base(self.task_size, rlimit_stack);
    }

    /// The first VMA that ends above `addr` (Linux `find_vma`): the VMA
    /// containing `addr`, or else the next one above it.
    pub fn find_vma(&self, addr: UserAddr) -> Option<&Vma<F>> {
        self.vmas.get(self.index_after(addr)).map(|v| &**v)
    }

    /// The index of the first VMA that ends above `addr`.
    #[inline]
    fn index_after(&self, addr: UserAddr) -> usize {
        self.vmas.partition_point(|v| v.end <= addr)
    }

    /// The index of the VMA that ends at `end`, if one does.
    fn index_ending_at(&self, end: UserAddr) -> Option<usize> {
        let i = self.index_after(end - 1u64);
        self.vmas.get(i).is_some_and(|v| v.end == end).then_some(i)
    }

    /// [`VmaTree::find_vma`] for the page fault path, which comes in runs
    /// inside one VMA: the VMA found last is tried first.
    pub fn find_vma_for_fault(&self, addr: UserAddr) -> Option<&Vma<F>> {
        if let Some(v) = self.vmas.get(self.last_found.get()) {
            if v.start <= addr && addr < v.end {
                return Some(v);
            }
        }
        let i = self.index_after(addr);
        let found = self.vmas.get(i).map(|v| &**v);
        if found.is_some() {
            self.last_found.set(i);
        }
        found
    }

    /// The anonymous VMA holding `addr`, if it is the one the fault path
    /// used last and the VMA set has not changed since (Linux's old
    /// `mm->mmap_cache`, which held a pointer and was cleared on change).
    #[inline]
    pub fn cached_fault_vma(&self, addr: UserAddr) -> Option<FaultVma> {
        let (generation, v) = self.fault_cache.get()?;
        (generation == self.generation && v.start <= addr && addr < v.end).then_some(v)
    }

    /// Remembers `v`, an anonymous VMA as it is now, for
    /// [`cached_fault_vma`](Self::cached_fault_vma).
    #[inline]
    pub fn cache_fault_vma(&self, v: FaultVma) {
        self.fault_cache.set(Some((self.generation, v)));
    }

    /// The VMA containing `addr` (Linux `vma_lookup`).
    pub fn vma_at(&self, addr: UserAddr) -> Option<&Vma<F>> {
        self.find_vma(addr).filter(|v| v.start <= addr)
    }

    /// The first VMA overlapping `[start, end)` (Linux
    /// `find_vma_intersection`).
    pub fn find_vma_intersection(&self, start: UserAddr, end: UserAddr) -> Option<&Vma<F>> {
        self.find_vma(start).filter(|v| v.start < end)
    }

    /// The last VMA that ends at or below `addr` (Linux `vma_prev` from
    /// `addr`).
    pub fn vma_prev(&self, addr: UserAddr) -> Option<&Vma<F>> {
        let i = self.vmas.partition_point(|v| v.end <= addr);
        i.checked_sub(1).map(|i| &*self.vmas[i])
    }

    /// All VMAs in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vma<F>> + '_ {
        self.vmas.iter().map(|v| &**v)
    }

    /// Whether `[addr, addr + len)` lies in the user half (Linux
    /// `access_ok`; says nothing about what is mapped there).
    pub fn access_ok(&self, addr: UserAddr, len: u64) -> bool {
        addr.as_u64().checked_add(len).is_some_and(|end| end <= self.task_size)
    }

    /// Names the VMA containing `addr` `[stack]` (the ELF loader calls it
    /// for the stack it set up). Returns whether there was one.
    pub fn mark_stack(&mut self, addr: UserAddr) -> bool {
        let Some(key) = self.vma_at(addr).map(|v| v.end) else { return false };
        let mut v = self.remove_vma(key);
        v.name = VmaName::Stack;
        let (start, end) = (v.start, v.end);
        self.insert_vma(v);
        self.merge_range(start, end);
        true
    }

    // --- Primitives. Each keeps the counters exact; all structural
    // changes go through insert_vma and remove_vma. ---

    /// Adds `npages` (negative: removes) of a VMA with `flags` to the
    /// counters (Linux `vm_stat_account`, plus `locked_vm`).
    fn vm_stat_account(&mut self, flags: VmFlags, npages: i64) {
        self.total_vm = self.total_vm.wrapping_add_signed(npages);
        if flags & (VM_EXEC | VM_WRITE | VM_STACK) == VM_EXEC {
            self.exec_vm = self.exec_vm.wrapping_add_signed(npages);
        } else if flags & VM_STACK == VM_STACK {
            self.stack_vm = self.stack_vm.wrapping_add_signed(npages);
        } else if flags & (VM_WRITE | VM_SHARED | VM_STACK) == VM_WRITE {
            self.data_vm = self.data_vm.wrapping_add_signed(npages);
        }
        if flags & VM_LOCKED != 0 {
            self.locked_vm = self.locked_vm.wrapping_add_signed(npages);
        }
    }

    pub(super) fn insert_vma(&mut self, vma: Vma<F>) {
        debug_assert!(vma.start < vma.end && self.find_vma_intersection(vma.start, vma.end).is_none());
        self.vm_stat_account(vma.flags, vma.pages() as i64);
        self.map_count += 1;
        self.generation += 1;
        let i = self.index_after(vma.start);
        self.vmas.insert(i, VmaBox::new(vma));
    }

    /// Removes the VMA that ends at `end`, which must exist.
    pub(super) fn remove_vma(&mut self, end: UserAddr) -> Vma<F> {
        let i = self.index_ending_at(end).expect("remove_vma: no VMA ends there");
        let vma = self.vmas.remove(i).into_inner();
        self.generation += 1;
        self.vm_stat_account(vma.flags, -(vma.pages() as i64));
        self.map_count -= 1;
        vma
    }

    /// Splits the VMA containing `addr` in two at `addr`, if `addr` is
    /// strictly inside it (Linux `__split_vma`; callers check
    /// `max_map_count`).
    pub(super) fn split_vma(&mut self, addr: UserAddr) {
        let key = match self.vma_at(addr) {
            Some(v) if v.start < addr => v.end,
            _ => return,
        };
        let v = self.remove_vma(key);
        self.insert_vma(v.slice(v.start, addr));
        self.insert_vma(v.slice(addr, v.end));
    }

    /// Merges the VMA ending at `addr` with the one starting there, if they
    /// are compatible.
    fn try_merge_at(&mut self, addr: UserAddr) {
        let Some(i) = self.index_ending_at(addr) else { return };
        let next_end = match (self.vmas.get(i), self.vmas.get(i + 1)) {
            (Some(a), Some(b)) if can_merge(a, b) => b.end,
            _ => return,
        };
        let a = self.remove_vma(addr);
        let b = self.remove_vma(next_end);
        self.insert_vma(Vma { end: b.end, soft_dirty: a.soft_dirty || b.soft_dirty, ..a });
    }

    /// Merges compatible neighbours at every VMA boundary in `[lo, hi]`
    /// (Linux `vma_merge` at the edges of a changed range).
    pub(super) fn merge_range(&mut self, lo: UserAddr, hi: UserAddr) {
        let mut i = self.vmas.partition_point(|v| v.end < lo);
        while let Some(end) = self.vmas.get(i).map(|v| v.end).filter(|&end| end <= hi) {
            let before = self.vmas.len();
            self.try_merge_at(end);
            // A merge joined this VMA with the next: look at the joined one.
            if self.vmas.len() == before {
                i += 1;
            }
        }
    }

    /// Unmaps `[start, end)` (page aligned), splitting VMAs at the edges and
    /// calling [`PageTables::unmap`] for each removed piece (Linux
    /// `do_vmi_align_munmap`). Nothing mapped there is success.
    pub(super) fn unmap_range(&mut self, start: UserAddr, end: UserAddr, pt: &mut (impl PageTables + ?Sized)) -> Result<(), Errno> {
        let Some(first) = self.find_vma_intersection(start, end) else { return Ok(()) };
        // Nothing is unmapped if a sealed VMA is in the range.
        self.check_unsealed(start, end)?;
        // Punching a hole into one VMA adds one: refuse at the limit.
        if first.start < start && end < first.end && self.map_count >= self.max_map_count {
            return Err(Errno::ENOMEM);
        }
        self.split_vma(start);
        self.split_vma(end);
        while let Some(key) = self.find_vma_intersection(start, end).map(|v| v.end) {
            let v = self.remove_vma(key);
            pt.unmap(v.start, v.end);
        }
        let floor = self.vma_prev(start).map_or(UserAddr::new(0), |v| v.end);
        let ceiling = self.find_vma(end).map_or(UserAddr::new(self.task_size), |v| v.start);
        pt.free_pgtables(start, end, floor, ceiling);
        Ok(())
    }

    /// Names `[start, end)`, which lies inside one VMA, `name` (Linux
    /// `replace_anon_vma_name`), as [`VmaTree::vma_modify_flags`] does
    /// flags.
    pub fn vma_set_name(&mut self, start: UserAddr, end: UserAddr, name: VmaName) -> Result<(), Errno> {
        if self.vma_at(start).ok_or(Errno::ENOMEM)?.name == name {
            return Ok(());
        }
        self.vma_modify(start, end, |v| v.name = name)
    }

    /// Sets the flags of `[start, end)`, which lies inside one VMA, to
    /// `flags`, splitting it and re-merging around it (Linux
    /// `vma_modify_flags`). No page-table call: the caller decides.
    pub(super) fn vma_modify_flags(&mut self, start: UserAddr, end: UserAddr, flags: VmFlags) -> Result<(), Errno> {
        self.vma_modify(start, end, |v| v.flags = flags)
    }

    /// Applies `change` to `[start, end)`, which lies inside one VMA: the
    /// VMA is split at the edges (`ENOMEM` beyond `max_map_count`, as
    /// Linux's `split_vma` refuses), changed, and merged again with
    /// whatever neighbours it now matches (Linux `vma_modify`).
    fn vma_modify(&mut self, start: UserAddr, end: UserAddr, change: impl FnOnce(&mut Vma<F>)) -> Result<(), Errno> {
        let v = self.vma_at(start).expect("vma_modify: not mapped");
        debug_assert!(end <= v.end);
        let splits = usize::from(v.start < start) + usize::from(end < v.end);
        if splits > 0 && self.map_count + splits > self.max_map_count {
            return Err(Errno::ENOMEM);
        }
        self.split_vma(start);
        self.split_vma(end);
        let mut v = self.remove_vma(end);
        change(&mut v);
        self.insert_vma(v);
        self.merge_range(start, end);
        Ok(())
    }

    /// Changes each VMA in place with `f`, which must leave its range,
    /// flags and everything the counters or merging depend on as they are
    /// (for the bookkeeping-free fields such as `soft_dirty`).
    pub(super) fn for_each_vma_mut(&mut self, mut f: impl FnMut(&mut Vma<F>)) {
        self.generation += 1;
        for v in self.vmas.iter_mut() {
            f(v);
        }
    }

    /// Whether `npages` more of a VMA with `flags` stay within
    /// `RLIMIT_AS`, and for data (private writable, not stack) within
    /// `RLIMIT_DATA` (Linux `may_expand_vm`, with its allowance for a zero
    /// soft limit under a larger hard one).
    pub fn may_expand_vm(&self, flags: VmFlags, npages: u64) -> bool {
        let pages = |bytes: u64| bytes >> PAGE_SHIFT;
        if self.total_vm.saturating_add(npages) > pages(self.rlimit_as) {
            return false;
        }
        let data = self.data_vm.saturating_add(npages);
        if flags & (VM_WRITE | VM_SHARED | VM_STACK) == VM_WRITE && data > pages(self.rlimit_data[0]) {
            return self.rlimit_data[0] == 0 && data <= pages(self.rlimit_data[1]);
        }
        true
    }

    /// Raises `hiwater_vm` to `total_vm` (Linux `update_hiwater_vm`; done
    /// after every operation, so `VmPeak` never sees the transient peak of
    /// a move).
    pub(super) fn update_hiwater_vm(&mut self) {
        self.hiwater_vm = self.hiwater_vm.max(self.total_vm);
    }

    /// Checks the structure against its invariants: VMAs page aligned,
    /// non-empty, inside `task_size`, sorted and disjoint, keyed by their
    /// end, no two neighbours mergeable, and every counter equal to its
    /// value recomputed from scratch. For tests and self-tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut fresh = Self::with_layout(self.task_size, self.mmap_base);
        let mut prev: Option<&Vma<F>> = None;
        for v in self.vmas.iter().map(|v| &**v) {
            if !v.start.is_page_aligned() || !v.end.is_page_aligned() || v.start >= v.end {
                return Err(format!("VMA {:#x}-{:#x} unaligned or empty", v.start, v.end));
            }
            if v.end.as_u64() > self.task_size {
                return Err(format!("VMA {:#x}-{:#x} beyond TASK_SIZE {:#x}", v.start, v.end, self.task_size));
            }
            if let Some(p) = prev {
                if p.end > v.start {
                    return Err(format!("VMAs {:#x}-{:#x} and {:#x}-{:#x} overlap", p.start, p.end, v.start, v.end));
                }
                if can_merge(p, v) {
                    return Err(format!("VMAs {:#x}-{:#x} and {:#x}-{:#x} should be one", p.start, p.end, v.start, v.end));
                }
            }
            fresh.vm_stat_account(v.flags, v.pages() as i64);
            prev = Some(v);
        }
        let got = (self.total_vm, self.data_vm, self.exec_vm, self.stack_vm, self.locked_vm, self.map_count);
        let want = (fresh.total_vm, fresh.data_vm, fresh.exec_vm, fresh.stack_vm, fresh.locked_vm, self.vmas.len());
        if got != want {
            return Err(format!("counters (total, data, exec, stack, locked, map_count) are {got:?}, recomputed {want:?}"));
        }
        if self.hiwater_vm < self.total_vm {
            return Err(format!("hiwater_vm {} below total_vm {}", self.hiwater_vm, self.total_vm));
        }
        Ok(())
    }
}
