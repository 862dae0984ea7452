//! Unit tests of the VMA operations (`vma`, `mmap`, `mprotect`, `mremap`,
//! `task_mmu`): each operation, each errno case, the page-table calls.

use super::addr::{UserAddr, PAGE_SIZE};
use super::mmap::*;
use super::mremap::*;
use super::vma::*;

const P: u64 = PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const ANON: u32 = MAP_PRIVATE | MAP_ANONYMOUS;
/// Private anonymous read-write: rd wr mr mw me ac.
const ANON_RW: VmFlags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT;
const MAY: VmFlags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

type Mm = VmaTree<u32>;

fn ua(addr: u64) -> UserAddr {
    UserAddr::new(addr)
}

#[derive(Clone, Debug, PartialEq)]
enum Call {
    Unmap(UserAddr, UserAddr),
    Protect(UserAddr, UserAddr, VmFlags),
    Move(UserAddr, UserAddr, u64),
}

/// A `PageTables` that records the calls.
#[derive(Default)]
struct Log(Vec<Call>);

impl Log {
    fn take(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.0)
    }
}

impl PageTables for Log {
    fn unmap(&mut self, start: UserAddr, end: UserAddr) {
        self.0.push(Call::Unmap(start, end));
    }
    fn protect(&mut self, start: UserAddr, end: UserAddr, flags: VmFlags) {
        self.0.push(Call::Protect(start, end, flags));
    }
    fn move_range(&mut self, old_start: UserAddr, new_start: UserAddr, len: u64) {
        self.0.push(Call::Move(old_start, new_start, len));
    }
}

fn spans(mm: &Mm) -> Vec<(UserAddr, UserAddr, VmFlags)> {
    mm.check_invariants().unwrap();
    mm.iter().map(|v| (v.start, v.end, v.flags)).collect()
}

fn anon(mm: &mut Mm, addr: UserAddr, len: u64, prot: u32, extra: u32, log: &mut Log) -> Result<UserAddr, Errno> {
    mm.mmap(addr, len, prot, ANON | extra, None, 0, false, log)
}

/// The ELF loader's part of seed 001's picture: text and data from file 7,
/// a page of bss, the break right after it.
fn program(mm: &mut Mm, log: &mut Log) {
    mm.mmap(ua(0x40_0000), 2 * P, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, Some(7), 0, false, log).unwrap();
    mm.mmap(ua(0x40_2000), P, RW, MAP_PRIVATE | MAP_FIXED, Some(7), 2, false, log).unwrap();
    anon(mm, ua(0x40_3000), P, RW, MAP_FIXED, log).unwrap();
    mm.start_code = ua(0x40_0000);
    mm.end_code = ua(0x40_1800);
    mm.start_brk = ua(0x40_4000);
    mm.brk = ua(0x40_4000);
}

#[test]
fn seed_malloc_pattern_brk_then_mmap_below_mmap_base() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    assert_eq!(mm.mmap_base, ua(0x7fff_f7ff_f000), "TASK_SIZE - 128 MiB");
    program(&mut mm, &mut log);
    // A = malloc(30K), B = malloc(40K): the heap grows in place.
    assert_eq!(mm.brk(ua(0x40_4000 + (30 << 10)), &mut log), ua(0x40_4000 + (30 << 10)));
    assert_eq!(mm.brk(ua(0x40_4000 + (70 << 10)), &mut log), ua(0x40_4000 + (70 << 10)));
    // C = malloc(200K): mmap, top down from mmap_base.
    let c = mm.mmap(ua(0), 200 << 10, RW, ANON, None, 0, false, &mut log).unwrap();
    assert_eq!(c, mm.mmap_base - (200 << 10));
    // D = malloc(100K): brk again.
    assert_eq!(mm.brk(ua(0x40_4000 + (170 << 10)), &mut log), ua(0x40_4000 + (170 << 10)));
    let heap: Vec<_> = mm.iter().filter(|v| v.name == VmaName::Heap).map(|v| (v.start, v.end)).collect();
    assert_eq!(heap, [(ua(0x40_4000), ua(0x42_f000))], "one heap VMA, extended in place");
    assert_eq!(
        spans(&mm),
        [
            (ua(0x40_0000), ua(0x40_2000), VM_READ | VM_EXEC | MAY),
            (ua(0x40_2000), ua(0x40_3000), VM_READ | VM_WRITE | MAY | VM_ACCOUNT),
            (ua(0x40_3000), ua(0x40_4000), ANON_RW),
            (ua(0x40_4000), ua(0x42_f000), ANON_RW),
            (c, mm.mmap_base, ANON_RW),
        ]
    );
    assert_eq!((mm.total_vm, mm.exec_vm, mm.data_vm, mm.stack_vm, mm.map_count), (2 + 1 + 1 + 43 + 50, 2, 1 + 1 + 43 + 50, 0, 5));
    assert!(log.take().is_empty(), "nothing was unmapped");
}

#[test]
fn munmap_of_a_middle_page_leaves_two_vmas() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    mm.munmap(a + P, P, &mut log).unwrap();
    assert_eq!(spans(&mm), [(a, a + P, ANON_RW), (a + 2 * P, a + 3 * P, ANON_RW)]);
    assert_eq!(log.take(), [Call::Unmap(a + P, a + 2 * P)]);
    assert_eq!(mm.find_vma(a + P).unwrap().pgoff, a.page_number() + 2);
    assert_eq!(mm.total_vm, 2);
    // Nothing there: success, no call. Bad arguments: EINVAL.
    assert_eq!(mm.munmap(a + P, P, &mut log), Ok(()));
    assert_eq!(mm.munmap(a + 1, P, &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(a, 0, &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(ua(TASK_SIZE), P, &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(a, TASK_SIZE, &mut log), Err(Errno::EINVAL));
    assert!(log.take().is_empty());
    // Across both pieces and the hole, with a length that is not whole pages.
    mm.munmap(a, 3 * P - 100, &mut log).unwrap();
    assert_eq!(log.take(), [Call::Unmap(a, a + P), Call::Unmap(a + 2 * P, a + 3 * P)]);
    assert_eq!((spans(&mm).len(), mm.total_vm, mm.data_vm, mm.map_count), (0, 0, 0, 0));
}

#[test]
fn map_fixed_replaces_part_of_a_mapping_and_merges_back() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 4 * P, RW, 0, &mut log).unwrap();
    let f = mm.mmap(a + P, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, Some(3), 5, false, &mut log).unwrap();
    assert_eq!(f, a + P);
    assert_eq!(log.take(), [Call::Unmap(a + P, a + 3 * P)]);
    assert_eq!(spans(&mm), [(a, a + P, ANON_RW), (a + P, a + 3 * P, VM_READ | MAY), (a + 3 * P, a + 4 * P, ANON_RW)]);
    let v = mm.vma_at(a + 2 * P).unwrap();
    assert_eq!((v.file, v.pgoff, v.pgoff_at(a + 2 * P)), (Some(3), 5, 6));
    // The same anonymous memory again: one VMA as before.
    anon(&mut mm, a + P, 2 * P, RW, MAP_FIXED, &mut log).unwrap();
    assert_eq!(log.take(), [Call::Unmap(a + P, a + 3 * P)]);
    assert_eq!(spans(&mm), [(a, a + 4 * P, ANON_RW)]);
}

#[test]
fn map_fixed_noreplace_refuses_to_overlap() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 2 * P, RW, 0, &mut log).unwrap();
    assert_eq!(anon(&mut mm, a + P, 2 * P, RW, MAP_FIXED_NOREPLACE, &mut log), Err(Errno::EEXIST));
    assert_eq!(anon(&mut mm, a - P, 2 * P, RW, MAP_FIXED_NOREPLACE, &mut log), Err(Errno::EEXIST));
    assert!(log.take().is_empty());
    assert_eq!(spans(&mm), [(a, a + 2 * P, ANON_RW)]);
    assert_eq!(anon(&mut mm, a - P, P, RW, MAP_FIXED_NOREPLACE, &mut log), Ok(a - P));
    assert_eq!(anon(&mut mm, a + 3 * P, P, RW, MAP_FIXED_NOREPLACE | MAP_FIXED, &mut log), Ok(a + 3 * P));
    assert_eq!(spans(&mm), [(a - P, a + 2 * P, ANON_RW), (a + 3 * P, a + 4 * P, ANON_RW)]);
    // An unaligned address is EINVAL, as with MAP_FIXED.
    assert_eq!(anon(&mut mm, a + 1, P, RW, MAP_FIXED_NOREPLACE, &mut log), Err(Errno::EINVAL));
}

#[test]
fn mmap_merges_with_compatible_neighbours_only() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), P, RW, 0, &mut log).unwrap();
    let b = anon(&mut mm, ua(0), P, RW, 0, &mut log).unwrap();
    assert_eq!(b, a - P);
    assert_eq!(spans(&mm), [(b, a + P, ANON_RW)], "adjacent anonymous memory is one VMA");
    let c = anon(&mut mm, ua(0), P, PROT_READ, 0, &mut log).unwrap();
    assert_eq!(spans(&mm).len(), 2, "other flags: two VMAs");
    // File pages merge when the offsets are contiguous.
    let x = ua(0x1000_0000);
    mm.mmap(x, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, Some(1), 4, false, &mut log).unwrap();
    mm.mmap(x + P, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, Some(1), 5, false, &mut log).unwrap();
    mm.mmap(x + 2 * P, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, Some(1), 9, false, &mut log).unwrap();
    mm.mmap(x + 3 * P, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, Some(2), 10, false, &mut log).unwrap();
    let files: Vec<_> = mm.iter().filter(|v| v.file.is_some()).map(|v| (v.start, v.end, v.pgoff)).collect();
    assert_eq!(files, [(x, x + 2 * P, 4), (x + 2 * P, x + 3 * P, 9), (x + 3 * P, x + 4 * P, 10)]);
    assert_eq!(c, b - P);
    assert!(log.take().is_empty());
}

#[test]
fn mmap_errors_are_linuxs() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let e = |r: Result<UserAddr, Errno>| r.unwrap_err();
    assert_eq!(e(anon(&mut mm, ua(0), 0, RW, 0, &mut log)), Errno::EINVAL, "len 0");
    assert_eq!(e(anon(&mut mm, ua(0x1000_0001), P, RW, MAP_FIXED, &mut log)), Errno::EINVAL, "unaligned MAP_FIXED");
    assert_eq!(e(mm.mmap(ua(0), P, RW, MAP_ANONYMOUS, None, 0, false, &mut log)), Errno::EINVAL, "no type");
    assert_eq!(e(mm.mmap(ua(0), P, RW, MAP_ANONYMOUS | 0x4, None, 0, false, &mut log)), Errno::EINVAL, "bad type");
    assert_eq!(e(anon(&mut mm, ua(0), u64::MAX - 100, RW, 0, &mut log)), Errno::ENOMEM, "len overflows");
    assert_eq!(e(anon(&mut mm, ua(0), 1 << 50, RW, 0, &mut log)), Errno::ENOMEM, "len > TASK_SIZE");
    assert_eq!(e(anon(&mut mm, ua(TASK_SIZE - P), 2 * P, RW, MAP_FIXED, &mut log)), Errno::ENOMEM, "beyond TASK_SIZE");
    assert_eq!(e(mm.mmap(ua(0), P, PROT_READ, MAP_PRIVATE, None, 0, false, &mut log)), Errno::EBADF, "no file");
    assert_eq!(e(mm.mmap(ua(0), P, PROT_READ, MAP_PRIVATE, Some(1), u64::MAX, false, &mut log)), Errno::EOVERFLOW);
    assert_eq!(e(mm.mmap(ua(0), P, PROT_READ, MAP_PRIVATE, Some(1), 1 << 52, false, &mut log)), Errno::EOVERFLOW, "past MAX_LFS_FILESIZE");
    assert_eq!(e(mm.mmap(ua(0), P, RW, MAP_PRIVATE | MAP_GROWSDOWN, Some(1), 0, false, &mut log)), Errno::EINVAL, "file stack");
    assert_eq!(e(mm.mmap(ua(0), P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, None, 0, false, &mut log)), Errno::EINVAL);
    assert_eq!(e(mm.mmap(ua(0), P, RW, MAP_SHARED, Some(1), 0, false, &mut log)), Errno::EACCES, "shared writable, read-only file");
    assert_eq!(e(mm.mmap(ua(0), P, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, Some(1), 0, true, &mut log)), Errno::EOPNOTSUPP);
    assert_eq!(e(mm.mmap(ua(0), P, RW, ANON | MAP_HUGETLB, None, 0, false, &mut log)), Errno::ENOMEM, "no huge pages");
    assert!(spans(&mm).is_empty() && log.take().is_empty());
    // MAP_SHARED silently ignores flags it does not know.
    assert!(mm.mmap(ua(0), P, PROT_READ, MAP_SHARED | MAP_SYNC, Some(1), 0, true, &mut log).is_ok());
    // The file handle is ignored with MAP_ANONYMOUS.
    let a = mm.mmap(ua(0), P, RW, ANON, Some(9), 3, false, &mut log).unwrap();
    assert_eq!((mm.vma_at(a).unwrap().file, mm.vma_at(a).unwrap().pgoff), (None, a.page_number()));
}

#[test]
fn mmap_flags_follow_linux() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let mut flags_of = |prot, flags, file, writable| {
        let a = mm.mmap(ua(0), P, prot, flags, file, 0, writable, &mut log).unwrap();
        mm.vma_at(a).unwrap().flags
    };
    assert_eq!(flags_of(RW, ANON, None, false), ANON_RW);
    assert_eq!(flags_of(PROT_NONE, ANON, None, false), MAY, "nothing to charge");
    assert_eq!(flags_of(RW, ANON | MAP_NORESERVE, None, false), VM_READ | VM_WRITE | MAY | VM_NORESERVE);
    assert_eq!(flags_of(RW, MAP_SHARED | MAP_ANONYMOUS, None, false), VM_READ | VM_WRITE | MAY | VM_SHARED | VM_MAYSHARE);
    assert_eq!(flags_of(RW, ANON | MAP_GROWSDOWN, None, false), VM_STACK_FLAGS);
    assert_eq!(flags_of(RW, ANON | MAP_LOCKED, None, false), ANON_RW | VM_LOCKED);
    // A private file mapping may be written whatever the file's mode.
    assert_eq!(flags_of(RW, MAP_PRIVATE, Some(1), false), ANON_RW);
    // Shared, writable file: VM_SHARED, not charged.
    assert_eq!(flags_of(RW, MAP_SHARED, Some(1), true), VM_READ | VM_WRITE | MAY | VM_SHARED | VM_MAYSHARE);
    // Shared, read-only file: may never write, so not VM_SHARED.
    assert_eq!(flags_of(PROT_READ, MAP_SHARED, Some(1), false), VM_READ | VM_MAYREAD | VM_MAYEXEC | VM_MAYSHARE);
    assert_eq!(mm.locked_vm, 1);
    assert!(mmap_populates(MAP_POPULATE) && !mmap_populates(MAP_POPULATE | MAP_NONBLOCK) && mmap_populates(MAP_LOCKED));
    mm.check_invariants().unwrap();
}

#[test]
fn get_unmapped_area_hints_top_down_and_guard_gap() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let base = mm.mmap_base;
    assert_eq!(anon(&mut mm, ua(0x1000_0000), P, RW, 0, &mut log), Ok(ua(0x1000_0000)), "free hint is taken");
    assert_eq!(anon(&mut mm, ua(0x1000_0000), P, RW, 0, &mut log), Ok(base - P), "busy hint: top down");
    assert_eq!(anon(&mut mm, ua(0x1000_0fff), 2 * P, RW, 0, &mut log), Ok(base - 3 * P), "hint overlapping the end");
    assert_eq!(anon(&mut mm, ua(0x1000), P, RW, 0, &mut log), Ok(ua(MMAP_MIN_ADDR)), "hint raised to mmap_min_addr");
    // A stack and its guard gap.
    let stack = ua(TASK_SIZE - 32 * P);
    anon(&mut mm, stack, 32 * P, RW, MAP_FIXED | MAP_GROWSDOWN, &mut log).unwrap();
    assert_eq!(mm.get_unmapped_area(stack - P, P, 0), Ok(base - 4 * P), "inside the gap: refused");
    assert_eq!(mm.get_unmapped_area(stack - STACK_GUARD_GAP - P, P, 0), Ok(stack - STACK_GUARD_GAP - P));
    assert_eq!(mm.get_unmapped_area(stack - P, P, MAP_FIXED), Ok(stack - P), "MAP_FIXED may");
    assert_eq!(mm.get_unmapped_area(ua(0), P, MAP_32BIT), Ok(ua(0x4000_0000)));
    // A small address space fills up: bottom-up fallback, then ENOMEM.
    let mut small = Mm::with_layout(0x10_0000, ua(0x8_0000));
    assert_eq!(small.mmap_legacy_base, ua(0x5_6000));
    assert_eq!(anon(&mut small, ua(0), 0x7_0000, RW, 0, &mut log), Ok(ua(0x1_0000)), "fills [64K, 512K) from the top");
    assert_eq!(anon(&mut small, ua(0), 0x2_0000, RW, 0, &mut log), Ok(ua(0x8_0000)), "bottom up above the legacy base");
    assert_eq!(anon(&mut small, ua(0), 0x8_0000, RW, 0, &mut log), Err(Errno::ENOMEM), "only 384K left");
    assert_eq!(anon(&mut small, ua(0), 0x6_0000, RW, 0, &mut log), Ok(ua(0xa_0000)));
    assert_eq!(anon(&mut small, ua(0), P, RW, 0, &mut log), Err(Errno::ENOMEM));
    assert_eq!(small.get_unmapped_area(ua(0), 0x10_1000, 0), Err(Errno::ENOMEM));
    small.check_invariants().unwrap();
}

#[test]
fn mprotect_splits_into_three_and_merges_back() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    mm.mprotect(a + P, P, PROT_READ, &mut log).unwrap();
    let ro = VM_READ | MAY | VM_ACCOUNT;
    assert_eq!(spans(&mm), [(a, a + P, ANON_RW), (a + P, a + 2 * P, ro), (a + 2 * P, a + 3 * P, ANON_RW)]);
    assert_eq!(log.take(), [Call::Protect(a + P, a + 2 * P, ro)]);
    assert_eq!((mm.data_vm, mm.total_vm), (2, 3));
    mm.mprotect(a + P, 1, RW, &mut log).unwrap();
    assert_eq!(spans(&mm), [(a, a + 3 * P, ANON_RW)]);
    assert_eq!(log.take(), [Call::Protect(a + P, a + 2 * P, ANON_RW)]);
    // The same protection again: nothing to do.
    mm.mprotect(a, 3 * P, RW, &mut log).unwrap();
    assert!(log.take().is_empty());
    // PROT_NONE memory is not charged; making it writable charges it, so it
    // merges with its charged neighbour.
    anon(&mut mm, a - P, P, PROT_NONE, MAP_FIXED, &mut log).unwrap();
    assert_eq!(spans(&mm)[0], (a - P, a, MAY));
    mm.mprotect(a - P, P, RW, &mut log).unwrap();
    assert_eq!(spans(&mm), [(a - P, a + 3 * P, ANON_RW)]);
    assert_eq!(log.take(), [Call::Protect(a - P, a, ANON_RW)]);
}

#[test]
fn mprotect_errors_and_partial_application() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    assert_eq!(mm.mprotect(a + 1, P, PROT_READ, &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(a, P, 0x10, &mut log), Err(Errno::EINVAL), "unknown prot bit");
    assert_eq!(mm.mprotect(a, P, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP, &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(a, P, PROT_READ | PROT_GROWSDOWN, &mut log), Err(Errno::EINVAL), "not a stack");
    assert_eq!(mm.mprotect(a, P, PROT_READ | PROT_GROWSUP, &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(a, 0, PROT_READ, &mut log), Ok(()));
    assert_eq!(mm.mprotect(a, u64::MAX - P, PROT_READ, &mut log), Err(Errno::ENOMEM), "wraps");
    assert_eq!(mm.mprotect(a - P, 2 * P, PROT_READ, &mut log), Err(Errno::ENOMEM), "starts in a hole");
    assert!(log.take().is_empty());
    // Runs past the end: the mapped part is changed anyway, as in Linux.
    assert_eq!(mm.mprotect(a + P, 3 * P, PROT_READ, &mut log), Err(Errno::ENOMEM));
    assert_eq!(log.take(), [Call::Protect(a + P, a + 3 * P, VM_READ | MAY | VM_ACCOUNT)]);
    assert_eq!(spans(&mm).len(), 2);
    // A shared mapping of a read-only file can never be writable.
    let f = mm.mmap(ua(0), 2 * P, PROT_READ, MAP_SHARED, Some(1), 0, false, &mut log).unwrap();
    assert_eq!(mm.mprotect(f, P, RW, &mut log), Err(Errno::EACCES));
    assert_eq!(mm.mprotect(f, P, PROT_READ | PROT_EXEC, &mut log), Ok(()));
    assert_eq!(mm.exec_vm, 1);
    // PROT_GROWSDOWN extends the change to the start of the stack.
    let s = anon(&mut mm, ua(0x2000_0000), 8 * P, RW, MAP_GROWSDOWN | MAP_FIXED, &mut log).unwrap();
    log.take();
    mm.mprotect(s + 4 * P, P, PROT_READ | PROT_GROWSDOWN, &mut log).unwrap();
    assert_eq!(log.take(), [Call::Protect(s, s + 5 * P, VM_READ | MAY | VM_GROWSDOWN | VM_ACCOUNT)]);
}

#[test]
fn max_map_count_is_enforced_where_linux_does() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    mm.max_map_count = 1;
    assert_eq!(mm.munmap(a + P, P, &mut log), Err(Errno::ENOMEM), "would punch a hole");
    assert_eq!(mm.mprotect(a + P, P, PROT_READ, &mut log), Err(Errno::ENOMEM), "would split");
    assert!(log.take().is_empty());
    assert_eq!(mm.munmap(a, P, &mut log), Ok(()), "trimming an end adds no VMA");
    // mmap allows one above the limit, as Linux's check is `>`.
    assert!(anon(&mut mm, ua(0), P, PROT_READ, 0, &mut log).is_ok());
    assert_eq!(anon(&mut mm, ua(0), P, PROT_EXEC, 0, &mut log), Err(Errno::ENOMEM));
    mm.check_invariants().unwrap();
}

#[test]
fn brk_grows_shrinks_and_refuses_like_sys_brk() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let start = ua(0x50_0000);
    mm.start_brk = start;
    mm.brk = start;
    assert_eq!(mm.brk(ua(0), &mut log), start, "brk(0) reads the break");
    assert_eq!(mm.brk(start + 10, &mut log), start + 10);
    assert_eq!(spans(&mm), [(start, start + P, ANON_RW)]);
    assert_eq!(mm.brk(start + 100, &mut log), start + 100, "same page: no VMA change");
    assert_eq!(mm.brk(start + 3 * P, &mut log), start + 3 * P);
    assert_eq!(spans(&mm), [(start, start + 3 * P, ANON_RW)]);
    assert_eq!(mm.iter().next().unwrap().name, VmaName::Heap);
    // Shrinking unmaps the whole pages given back.
    assert_eq!(mm.brk(start + P + 0x800, &mut log), start + P + 0x800);
    assert_eq!(log.take(), [Call::Unmap(start + 2 * P, start + 3 * P)]);
    assert_eq!(spans(&mm), [(start, start + 2 * P, ANON_RW)]);
    assert_eq!(mm.brk(start - P, &mut log), start + P + 0x800, "below start_brk: unchanged");
    // Up to one page below the next VMA, not closer.
    anon(&mut mm, start + 5 * P, P, PROT_READ, MAP_FIXED, &mut log).unwrap();
    assert_eq!(mm.brk(start + 4 * P, &mut log), start + 4 * P);
    assert_eq!(mm.brk(start + 4 * P + 1, &mut log), start + 4 * P, "would touch the next VMA");
    assert_eq!(mm.brk(start + 6 * P, &mut log), start + 4 * P);
    // Nor into a stack's guard gap.
    anon(&mut mm, start + 5 * P, P, RW, MAP_FIXED | MAP_GROWSDOWN, &mut log).unwrap();
    assert_eq!(mm.brk(start + 4 * P, &mut log), start + 4 * P, "unchanged page");
    assert_eq!(mm.brk(start + 3 * P, &mut log), start + 3 * P, "shrinking is always allowed");
    assert_eq!(mm.brk(start + 4 * P, &mut log), start + 3 * P, "inside the guard gap");
    assert_eq!(mm.brk(ua(u64::MAX), &mut log), start + 3 * P, "wraps");
    // The heap unmapped behind brk's back: shrinking finds nothing and fails.
    log.take();
    mm.munmap(start, 6 * P, &mut log).unwrap();
    assert_eq!(mm.brk(start, &mut log), start + 3 * P);
    // Growing again makes a new heap VMA.
    assert_eq!(mm.brk(start + 4 * P, &mut log), start + 4 * P);
    assert_eq!(spans(&mm)[0], (start + 3 * P, start + 4 * P, ANON_RW));
}

#[test]
fn heap_stays_apart_from_the_bss() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    program(&mut mm, &mut log);
    mm.brk(ua(0x40_4000 + P), &mut log);
    let names: Vec<_> = mm.iter().map(|v| v.name.clone()).collect();
    assert_eq!(names, [VmaName::Plain, VmaName::Plain, VmaName::Plain, VmaName::Heap]);
}

#[test]
fn mremap_shrinks_grows_in_place_and_moves() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 4 * P, RW, 0, &mut log).unwrap();
    // Shrink in place.
    assert_eq!(mm.mremap(a, 4 * P, 2 * P, 0, ua(0), &mut log), Ok(a));
    assert_eq!(log.take(), [Call::Unmap(a + 2 * P, a + 4 * P)]);
    assert_eq!(mm.mremap(a, 2 * P, 2 * P, 0, ua(0), &mut log), Ok(a), "same size");
    // Grow in place into the free space after it.
    assert_eq!(mm.mremap(a, 2 * P, 3 * P - 5, 0, ua(0), &mut log), Ok(a));
    assert_eq!(spans(&mm), [(a, a + 3 * P, ANON_RW)]);
    assert!(log.take().is_empty());
    // Blocked: ENOMEM unless it may move.
    anon(&mut mm, a + 3 * P, P, PROT_READ, MAP_FIXED, &mut log).unwrap();
    assert_eq!(mm.mremap(a, 3 * P, 4 * P, 0, ua(0), &mut log), Err(Errno::ENOMEM));
    let n = mm.mremap(a, 3 * P, 4 * P, MREMAP_MAYMOVE, ua(0), &mut log).unwrap();
    assert_eq!(n, a - 4 * P, "top down, right below");
    assert_eq!(log.take(), [Call::Move(a, n, 3 * P), Call::Unmap(a, a + 3 * P)]);
    assert_eq!(spans(&mm), [(n, n + 4 * P, ANON_RW), (a + 3 * P, a + 4 * P, VM_READ | MAY)]);
    assert_eq!(mm.vma_at(n).unwrap().pgoff, a.page_number(), "the pages keep their offset");
    assert_eq!(mm.total_vm, 5);
    // Growing in place may merge with the next VMA.
    let (mut mm2, b) = (Mm::new(), ua(0x1000_0000));
    anon(&mut mm2, b, P, RW, MAP_FIXED, &mut log).unwrap();
    anon(&mut mm2, b + 2 * P, P, RW, MAP_FIXED, &mut log).unwrap();
    assert_eq!(mm2.mremap(b, P, 2 * P, 0, ua(0), &mut log), Ok(b));
    assert_eq!(spans(&mm2), [(b, b + 3 * P, ANON_RW)]);
}

#[test]
fn mremap_fixed_dontunmap_and_duplicate() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let x = anon(&mut mm, ua(0x1000_0000), 2 * P, RW, MAP_FIXED, &mut log).unwrap();
    let y = anon(&mut mm, ua(0x2000_0000), 4 * P, PROT_READ, MAP_FIXED, &mut log).unwrap();
    // MREMAP_FIXED over part of another mapping, shrinking on the way.
    assert_eq!(mm.mremap(x, 2 * P, P, MREMAP_MAYMOVE | MREMAP_FIXED, y + P, &mut log), Ok(y + P));
    assert_eq!(log.take(), [Call::Unmap(y + P, y + 2 * P), Call::Unmap(x + P, x + 2 * P), Call::Move(x, y + P, P), Call::Unmap(x, x + P)]);
    assert_eq!(spans(&mm), [(y, y + P, VM_READ | MAY), (y + P, y + 2 * P, ANON_RW), (y + 2 * P, y + 4 * P, VM_READ | MAY)]);
    // MREMAP_DONTUNMAP: the pages move, the old VMA stays, uncharged.
    let z = mm.mremap(y + P, P, P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, ua(0), &mut log).unwrap();
    assert_eq!(log.take(), [Call::Move(y + P, z, P)]);
    assert_eq!(mm.vma_at(y + P).unwrap().flags, VM_READ | VM_WRITE | MAY);
    assert_eq!(mm.vma_at(z).unwrap().flags, ANON_RW);
    // old_len 0 duplicates a shared mapping, and only a shared one.
    let s = mm.mmap(ua(0), 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, None, 0, false, &mut log).unwrap();
    let d = mm.mremap(s, 0, 2 * P, MREMAP_MAYMOVE, ua(0), &mut log).unwrap();
    assert_ne!(d, s);
    assert!(log.take().is_empty());
    assert_eq!((mm.vma_at(s).unwrap().pgoff, mm.vma_at(d).unwrap().pgoff), (0, 0));
    assert_eq!(mm.mremap(y, 0, P, MREMAP_MAYMOVE, ua(0), &mut log), Err(Errno::EINVAL));
    assert_eq!(mm.mremap(s, 0, 2 * P, 0, ua(0), &mut log), Err(Errno::ENOMEM), "must move");
    mm.check_invariants().unwrap();
}

#[test]
fn mremap_errors_are_linuxs() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0x1000_0000), 4 * P, RW, MAP_FIXED, &mut log).unwrap();
    let m = MREMAP_MAYMOVE;
    assert_eq!(mm.mremap(a, P, P, 8, ua(0), &mut log), Err(Errno::EINVAL), "unknown flag");
    assert_eq!(mm.mremap(a + 1, P, P, 0, ua(0), &mut log), Err(Errno::EINVAL), "unaligned");
    assert_eq!(mm.mremap(a, P, 0, 0, ua(0), &mut log), Err(Errno::EINVAL), "new_len 0");
    assert_eq!(mm.mremap(a, P, P, MREMAP_FIXED, ua(0x3000_0000), &mut log), Err(Errno::EINVAL), "FIXED without MAYMOVE");
    assert_eq!(mm.mremap(a, P, P, MREMAP_DONTUNMAP, ua(0), &mut log), Err(Errno::EINVAL), "DONTUNMAP without MAYMOVE");
    assert_eq!(mm.mremap(a, P, 2 * P, m | MREMAP_DONTUNMAP, ua(0), &mut log), Err(Errno::EINVAL), "DONTUNMAP resizing");
    assert_eq!(mm.mremap(a, P, P, m | MREMAP_FIXED, ua(0x3000_0001), &mut log), Err(Errno::EINVAL), "unaligned new_addr");
    assert_eq!(mm.mremap(a, 2 * P, 2 * P, m | MREMAP_FIXED, a + P, &mut log), Err(Errno::EINVAL), "overlap");
    assert_eq!(mm.mremap(a, P, P, m | MREMAP_FIXED, ua(TASK_SIZE), &mut log), Err(Errno::EINVAL), "beyond TASK_SIZE");
    assert_eq!(mm.mremap(a - P, P, 2 * P, m, ua(0), &mut log), Err(Errno::EFAULT), "nothing mapped");
    assert_eq!(mm.mremap(a, 5 * P, 6 * P, m, ua(0), &mut log), Err(Errno::EFAULT), "crosses the VMA's end");
    assert_eq!(mm.mremap(a, 5 * P, 5 * P, m | MREMAP_FIXED, ua(0x3000_0000), &mut log), Err(Errno::EFAULT));
    assert!(log.take().is_empty());
    // Shrinking may cross VMA ends and holes: it is an munmap.
    assert_eq!(mm.mremap(a, 8 * P, P, 0, ua(0), &mut log), Ok(a));
    assert_eq!(log.take(), [Call::Unmap(a + P, a + 4 * P)]);
}

#[test]
fn expand_stack_grows_within_rlimit_and_guard_gap() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let rlimit = 8 << 20;
    let stack = ua(TASK_SIZE - 32 * P);
    anon(&mut mm, stack, 32 * P, RW, MAP_FIXED | MAP_GROWSDOWN, &mut log).unwrap();
    assert!(mm.mark_stack(stack));
    assert_eq!(mm.vma_at(stack).unwrap().flags, VM_STACK_FLAGS);
    assert_eq!(mm.stack_vm, 32);
    assert_eq!(mm.expand_stack(stack + 8, rlimit), Ok(()), "already mapped");
    assert_eq!(mm.expand_stack(stack - 10, rlimit), Ok(()));
    let v = mm.vma_at(stack - 10).unwrap();
    assert_eq!((v.start, v.pgoff, v.name.clone()), (stack - P, stack.page_number() - 1, VmaName::Stack));
    assert_eq!((mm.stack_vm, mm.total_vm, mm.data_vm), (33, 33, 0));
    assert_eq!(mm.expand_stack(ua(TASK_SIZE - rlimit - 1), rlimit), Err(Errno::ENOMEM), "over RLIMIT_STACK");
    assert_eq!(mm.expand_stack(ua(TASK_SIZE - rlimit), rlimit), Ok(()));
    // Another mapping below: the gap must stay.
    let low = ua(TASK_SIZE - rlimit - 2 * STACK_GUARD_GAP);
    anon(&mut mm, low, P, PROT_READ, MAP_FIXED, &mut log).unwrap();
    let mut mm2 = mm.clone();
    assert_eq!(mm.expand_stack(low + P + STACK_GUARD_GAP - 1, 16 << 20), Err(Errno::ENOMEM));
    assert_eq!(mm.expand_stack(low + P + STACK_GUARD_GAP, 16 << 20), Ok(()));
    // ... unless it is inaccessible.
    mm2.mprotect(low, P, PROT_NONE, &mut log).unwrap();
    assert_eq!(mm2.expand_stack(low + P, 16 << 20), Ok(()));
    assert_eq!(mm2.vma_at(low + P).unwrap().start, low + P);
    // Not a stack, nothing above, below mmap_min_addr.
    assert_eq!(mm.expand_stack(low - P, 16 << 20), Err(Errno::EFAULT));
    let mut mm3 = Mm::new();
    assert_eq!(mm3.expand_stack(ua(0x1000_0000), rlimit), Err(Errno::EFAULT));
    anon(&mut mm3, ua(0x2_0000), P, RW, MAP_FIXED | MAP_GROWSDOWN, &mut log).unwrap();
    assert_eq!(mm3.expand_stack(ua(0x8000), rlimit), Err(Errno::EPERM));
    for m in [&mm, &mm2, &mm3] {
        m.check_invariants().unwrap();
    }
}

#[test]
fn exit_mmap_unmaps_everything() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    program(&mut mm, &mut log);
    mm.exit_mmap(&mut log);
    assert_eq!(log.take(), [Call::Unmap(ua(0x40_0000), ua(0x40_2000)), Call::Unmap(ua(0x40_2000), ua(0x40_3000)), Call::Unmap(ua(0x40_3000), ua(0x40_4000))]);
    assert_eq!((mm.total_vm, mm.exec_vm, mm.data_vm, mm.map_count, mm.hiwater_vm), (0, 0, 0, 0, 4));
}

#[test]
fn access_ok_is_the_user_half() {
    let mm = Mm::new();
    assert!(mm.access_ok(ua(0), TASK_SIZE));
    assert!(mm.access_ok(ua(TASK_SIZE), 0));
    assert!(!mm.access_ok(ua(TASK_SIZE - 1), 2));
    assert!(!mm.access_ok(ua(u64::MAX), 2));
}

#[test]
fn proc_maps_lines_are_linuxs() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    program(&mut mm, &mut log);
    mm.brk(ua(0x40_4000 + (170 << 10)), &mut log);
    let stack = ua(TASK_SIZE - 33 * P);
    anon(&mut mm, stack, 33 * P, RW, MAP_FIXED | MAP_GROWSDOWN, &mut log).unwrap();
    mm.mark_stack(stack);
    mm.mmap(ua(0x7fff_f7ff_d000), P, PROT_READ, MAP_SHARED | MAP_FIXED, Some(3), 0, false, &mut log).unwrap();
    let mut out = String::new();
    mm.show_maps(&mut out, |f: &u32| (8, 1, 1000 + u64::from(*f), if *f == 3 { "/etc/a\nb" } else { "/bin/prog" })).unwrap();
    let want = "\
00400000-00402000 r-xp 00000000 08:01 1007                               /bin/prog
00402000-00403000 rw-p 00002000 08:01 1007                               /bin/prog
00403000-00404000 rw-p 00000000 00:00 0 \n\
00404000-0042f000 rw-p 00000000 00:00 0                                  [heap]
7ffff7ffd000-7ffff7ffe000 r--s 00000000 08:01 1003                       /etc/a\\012b
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]
";
    assert_eq!(out, want);
}

#[test]
fn proc_status_lines_are_linuxs() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    program(&mut mm, &mut log);
    mm.brk(ua(0x40_4000 + (170 << 10)), &mut log);
    anon(&mut mm, ua(0), 50 * P, RW, MAP_LOCKED, &mut log).unwrap();
    // A library's text: executable, beyond end_code.
    mm.mmap(ua(0x7000_0000), 3 * P, PROT_READ | PROT_EXEC, MAP_PRIVATE, Some(4), 0, false, &mut log).unwrap();
    let b = anon(&mut mm, ua(0), 10 * P, RW, 0, &mut log).unwrap();
    mm.munmap(b, 10 * P, &mut log).unwrap();
    let mut out = String::new();
    mm.show_status(&mut out, crate::mm::uvm::Rss { anon: 30, file: 7, shmem: 1, swap: 0 }, 50, 5 * P).unwrap();
    let want = "\
VmPeak:\t     440 kB
VmSize:\t     400 kB
VmLck:\t     200 kB
VmPin:\t       0 kB
VmHWM:\t     200 kB
VmRSS:\t     152 kB
RssAnon:\t     120 kB
RssFile:\t      28 kB
RssShmem:\t       4 kB
VmData:\t     380 kB
VmStk:\t       0 kB
VmExe:\t       8 kB
VmLib:\t      12 kB
VmPTE:\t      20 kB
VmSwap:\t       0 kB
HugetlbPages:\t       0 kB
";
    assert_eq!(out, want);
}

#[test]
fn errno_values_and_names() {
    assert_eq!((Errno::EINVAL.0, Errno::ENOMEM.0, Errno::EEXIST.0, Errno::EFAULT.0, Errno::EACCES.0), (22, 12, 17, 14, 13));
    assert_eq!(format!("{:?} {}", Errno::EEXIST, Errno::ENOMEM), "EEXIST(17) ENOMEM");
}

// --- mlock, mseal, madvise flags, fork (mm/mlock.rs). ---

use super::mlock::advice::*;
use super::mlock::*;

#[test]
fn mlock_splits_counts_and_stops_at_a_hole() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 4 * P, RW, 0, &mut log).unwrap();
    mm.mlock_range(a + P, a + 3 * P, VM_LOCKED).unwrap();
    assert_eq!(spans(&mm), [(a, a + P, ANON_RW), (a + P, a + 3 * P, ANON_RW | VM_LOCKED), (a + 3 * P, a + 4 * P, ANON_RW)]);
    assert_eq!((mm.locked_vm, mm.count_mlocked(a, a + 2 * P)), (2, 1));
    // Locking again on fault changes the flags, not the count.
    mm.mlock_range(a + P, a + 3 * P, VM_LOCKED | VM_LOCKONFAULT).unwrap();
    assert_eq!(mm.locked_vm, 2);
    mm.mlock_range(a, a + 4 * P, 0).unwrap();
    assert_eq!((spans(&mm), mm.locked_vm), (vec![(a, a + 4 * P, ANON_RW)], 0));
    // A hole: the part before it is locked, then ENOMEM.
    mm.munmap(a + 2 * P, P, &mut log).unwrap();
    assert_eq!(mm.mlock_range(a, a + 4 * P, VM_LOCKED), Err(Errno::ENOMEM));
    assert_eq!(mm.locked_vm, 2);
    // Nothing at the start: nothing changes.
    assert_eq!(mm.mlock_range(a + 2 * P, a + 4 * P, 0), Err(Errno::ENOMEM));
    assert_eq!(mm.locked_vm, 2);
    assert!(log.take().iter().all(|c| matches!(c, Call::Unmap(..))), "mlock never touches the page tables");
}

#[test]
fn mlockall_future_locks_later_mappings_and_munlockall_undoes_it() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 2 * P, RW, 0, &mut log).unwrap();
    mm.mlockall(MCL_FUTURE).unwrap();
    assert_eq!(mm.locked_vm, 0, "MCL_FUTURE alone leaves what exists");
    let b = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    assert_eq!((mm.vma_at(b).unwrap().flags & VM_LOCKED, mm.locked_vm), (VM_LOCKED, 3));
    mm.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT).unwrap();
    assert_eq!(mm.locked_vm, 5);
    assert_eq!(mm.vma_at(a).unwrap().flags & VM_LOCKED_MASK, VM_LOCKED_MASK);
    mm.mlockall(0).unwrap();
    assert_eq!((mm.locked_vm, mm.def_flags), (0, 0));
    let c = anon(&mut mm, ua(0), P, RW, 0, &mut log).unwrap();
    assert_eq!(mm.vma_at(c).unwrap().flags & VM_LOCKED, 0);
    mm.check_invariants().unwrap();
}

#[test]
fn sealed_memory_cannot_be_unmapped_moved_or_reprotected() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    assert_eq!(mm.mseal(a + 1, P, 0), Err(Errno::EINVAL));
    assert_eq!(mm.mseal(a, P, 1), Err(Errno::EINVAL));
    assert_eq!(mm.mseal(a, 4 * P, 0), Err(Errno::ENOMEM), "a page past the end is unmapped");
    assert_eq!(mm.vma_at(a).unwrap().flags & VM_SEALED, 0, "a failed mseal seals nothing");
    mm.mseal(a + P, P, 0).unwrap();
    mm.mseal(a + P, P, 0).unwrap();
    assert_eq!(mm.map_count, 3);
    assert_eq!(mm.munmap(a, 3 * P, &mut log), Err(Errno::EPERM));
    assert_eq!(mm.map_count, 3, "nothing was unmapped");
    assert_eq!(mm.mprotect(a + P, P, PROT_READ, &mut log), Err(Errno::EPERM));
    assert_eq!(mm.mremap(a + P, P, 2 * P, MREMAP_MAYMOVE, ua(0), &mut log), Err(Errno::EPERM));
    assert_eq!(anon(&mut mm, a, 3 * P, RW, MAP_FIXED, &mut log), Err(Errno::EPERM));
    // The unsealed neighbours still change; flags other than access do too.
    mm.munmap(a, P, &mut log).unwrap();
    mm.mlock_range(a + P, a + 2 * P, VM_LOCKED).unwrap();
    mm.madvise_update_flags(a + P, a + 2 * P, MADV_DONTDUMP).unwrap();
    // Discarding read-only sealed anonymous memory is refused; writable is not.
    assert!(mm.can_madvise_modify(a + P, MADV_DONTNEED));
    let r = anon(&mut mm, ua(0), P, PROT_READ, 0, &mut log).unwrap();
    mm.mseal(r, P, 0).unwrap();
    assert!(!mm.can_madvise_modify(r, MADV_DONTNEED));
    assert!(!mm.can_madvise_modify(r, MADV_WIPEONFORK));
    assert!(mm.can_madvise_modify(r, MADV_WILLNEED));
    mm.check_invariants().unwrap();
}

#[test]
fn madvise_flags_and_what_fork_copies() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 4 * P, RW, 0, &mut log).unwrap();
    let f = mm.mmap(ua(0), P, RW, MAP_PRIVATE, Some(3), 0, true, &mut log).unwrap();
    assert!(!madvise_behavior_valid(MADV_MERGEABLE) && !madvise_behavior_valid(25) && !madvise_behavior_valid(100));
    assert!(madvise_behavior_valid(MADV_DONTNEED_LOCKED) && madvise_behavior_valid(MADV_FREE));
    assert_eq!(mm.madvise_update_flags(f, f + P, MADV_WIPEONFORK), Err(Errno::EINVAL));
    mm.madvise_update_flags(a, a + P, MADV_DONTFORK).unwrap();
    mm.madvise_update_flags(a + P, a + 2 * P, MADV_WIPEONFORK).unwrap();
    mm.madvise_update_flags(a + 2 * P, a + 3 * P, MADV_HUGEPAGE).unwrap();
    mm.madvise_update_flags(a + 2 * P, a + 3 * P, MADV_NOHUGEPAGE).unwrap();
    assert_eq!(mm.vma_at(a + 2 * P).unwrap().flags & (VM_HUGEPAGE | VM_NOHUGEPAGE), VM_NOHUGEPAGE);
    mm.mlock_range(a + 3 * P, a + 4 * P, VM_LOCKED).unwrap();
    mm.mlockall(MCL_FUTURE).unwrap();
    let child = mm.dup_for_fork();
    child.check_invariants().unwrap();
    assert!(child.vma_at(a).is_none(), "MADV_DONTFORK memory is not in the child");
    assert_eq!(child.vma_at(a + P).unwrap().flags & VM_WIPEONFORK, VM_WIPEONFORK);
    assert_eq!((child.locked_vm, child.def_flags, child.total_vm), (0, 0, mm.total_vm - 1));
    // Unlocked, the last page is like its neighbour again: one VMA.
    assert_eq!(child.vma_at(a + 3 * P).unwrap().flags, ANON_RW);
    mm.madvise_update_flags(a, a + P, MADV_DOFORK).unwrap();
    mm.madvise_update_flags(a + P, a + 2 * P, MADV_KEEPONFORK).unwrap();
    let v = mm.vma_at(a).unwrap();
    assert_eq!((v.start, v.end, v.flags), (a, a + 2 * P, ANON_RW));
}

#[test]
fn madvise_walk_visits_mapped_parts_and_reports_holes() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    let a = anon(&mut mm, ua(0), 3 * P, RW, 0, &mut log).unwrap();
    mm.munmap(a + P, P, &mut log).unwrap();
    let mut seen = Vec::new();
    let r = mm.madvise_walk(a, a + 3 * P, |_, s, e| {
        seen.push((s, e));
        Ok(())
    });
    assert_eq!((r, seen), (Err(Errno::ENOMEM), vec![(a, a + P), (a + 2 * P, a + 3 * P)]));
    assert_eq!(mm.madvise_walk(a + 3 * P, a + 4 * P, |_, _, _| Ok(())), Err(Errno::ENOMEM));
    assert_eq!(mm.madvise_walk(a, a + P, |_, _, _| Err(Errno::EINVAL)), Err(Errno::EINVAL));
}

#[test]
fn rlimit_as_and_data_bound_mmap_brk_mremap_and_the_stack() {
    let (mut mm, mut log) = (Mm::new(), Log::default());
    program(&mut mm, &mut log);
    let total = mm.total_vm;
    mm.rlimit_as = (total + 4) * P;
    assert_eq!(anon(&mut mm, ua(0), 5 * P, PROT_READ, 0, &mut log), Err(Errno::ENOMEM));
    let a = anon(&mut mm, ua(0), 2 * P, PROT_READ, 0, &mut log).unwrap();
    assert_eq!(mm.mremap(a, 2 * P, 8 * P, MREMAP_MAYMOVE, ua(0), &mut log), Err(Errno::ENOMEM));
    // Replacing what is there with MAP_FIXED adds nothing.
    anon(&mut mm, a, 2 * P, RW, MAP_FIXED, &mut log).unwrap();
    let brk = mm.brk;
    assert_eq!(mm.brk(brk + 8 * P, &mut log), brk);
    mm.rlimit_as = u64::MAX;
    // Data: private writable memory only.
    mm.rlimit_data = [(mm.data_vm + 1) * P, u64::MAX];
    assert_eq!(anon(&mut mm, ua(0), 2 * P, RW, 0, &mut log), Err(Errno::ENOMEM));
    anon(&mut mm, ua(0), 2 * P, PROT_READ, 0, &mut log).unwrap();
    // A zero soft limit under a larger hard one lets it through (Linux's
    // allowance for Valgrind).
    mm.rlimit_data = [0, u64::MAX];
    anon(&mut mm, ua(0), 2 * P, RW, 0, &mut log).unwrap();
    mm.check_invariants().unwrap();
}
