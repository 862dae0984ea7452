//! Futexes (Linux `kernel/futex/`): a user-space word to sleep on, woken
//! by another thread or process, and the robust lists that release a dead
//! thread's locks.
//!
//! A futex is named by a [`FutexKey`]: for a private futex (or any word in
//! private memory) the address space and the address, so that threads of
//! one process meet; for a word in a shared mapping the object mapped
//! (file or shmem) and the word's offset in it, so that processes meet
//! whatever address each maps it at. Waiters queue in arrival order, each
//! in its own task (no allocation to sleep or to wake).
//! Checking the word and queueing are one step because the kernel is not
//! preempted between them (one CPU, interrupts off).

use super::mm::FileRef;
use super::sched::{self, TaskState};
use super::uaccess::{get_user, put_user};
use super::Task;
use crate::fs::errno::{EAGAIN, EFAULT, EINVAL, ENOSYS, ETIMEDOUT};
use crate::mm::addr::UserAddr;
use crate::proc::signal::frame::{signal_pending, ERESTARTNOHAND, ERESTARTSYS};

pub const FUTEX_WAIT: u32 = 0;
pub const FUTEX_WAKE: u32 = 1;
pub const FUTEX_REQUEUE: u32 = 3;
pub const FUTEX_CMP_REQUEUE: u32 = 4;
pub const FUTEX_WAKE_OP: u32 = 5;
pub const FUTEX_WAIT_BITSET: u32 = 9;
pub const FUTEX_WAKE_BITSET: u32 = 10;
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
const FUTEX_CMD_MASK: u32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
pub const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// Robust futex word bits.
pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// Entries walked at most in a robust list (Linux `ROBUST_LIST_LIMIT`).
const ROBUST_LIST_LIMIT: usize = 2048;
/// `sizeof(struct robust_list_head)`.
pub const ROBUST_LIST_HEAD_SIZE: u64 = 24;

/// What names a futex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexKey {
    /// Private memory: the address space (its identity) and the address.
    Private { mm: usize, addr: u64 },
    /// A shared mapping: the object mapped (its identity), the page of it
    /// and the offset in the page.
    Shared { object: usize, index: u64, offset: u64 },
}

/// A task's place in a futex queue (Linux `futex_q`, kept in the task
/// as Linux keeps it on the waiter's stack): what it waits on, the
/// bitset it accepts, and its arrival, so that wakes go first come first.
#[derive(Clone, Copy, Debug)]
pub struct FutexWaiter {
    pub key: FutexKey,
    pub bitset: u32,
    seq: u64,
}

/// Arrivals, for first-come order.
static SEQ: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The earliest waiter on `key` whose bitset meets `bitset`.
fn first_waiter(key: FutexKey, bitset: u32) -> Option<u32> {
    sched::tasks()
        .filter_map(|t| t.futex.as_ref().filter(|w| w.key == key && w.bitset & bitset != 0).map(|w| (t.pid, w.seq)))
        .min_by_key(|&(_, seq)| seq)
        .map(|(tid, _)| tid)
}

/// Takes `tid` off its futex queue and wakes it.
fn wake_waiter(tid: u32) {
    if let Some(t) = sched::task(tid) {
        t.futex = None;
    }
    sched::wake(tid);
}

/// The key of the word at `uaddr` for the current task (Linux
/// `get_futex_key`): EINVAL unless 4-byte aligned; EFAULT when a shared
/// key is asked for an address with no mapping.
pub fn key(uaddr: u64, private: bool) -> Result<FutexKey, i32> {
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    if uaddr >= super::uaccess::TASK_SIZE {
        return Err(EFAULT);
    }
    let task = super::current().ok_or(EFAULT)?;
    let mm = task.mm.as_ref().ok_or(EFAULT)?;
    let private_key = FutexKey::Private { mm: mm.id(), addr: uaddr };
    if private {
        return Ok(private_key);
    }
    let vma = mm.vm.vma_at(UserAddr::new(uaddr)).ok_or(EFAULT)?;
    let object = match &vma.file {
        Some(FileRef::File(inode)) if vma.flags & crate::mm::vma::VM_SHARED != 0 => alloc::sync::Arc::as_ptr(inode) as usize,
        Some(FileRef::Shmem(shm)) => alloc::sync::Arc::as_ptr(shm) as usize,
        _ => return Ok(private_key),
    };
    let page = vma.pgoff_at(UserAddr::new(uaddr));
    Ok(FutexKey::Shared { object, index: page, offset: uaddr % crate::mm::addr::PAGE_SIZE })
}

/// Wakes up to `nr` waiters on `key` whose bitset meets `bitset`, first
/// come first; returns how many. As in Linux, `nr` 0 still wakes one.
pub fn wake(key: FutexKey, nr: u32, bitset: u32) -> u32 {
    let nr = nr.max(1);
    let mut woken = 0;
    while woken < nr {
        let Some(tid) = first_waiter(key, bitset) else { break };
        wake_waiter(tid);
        woken += 1;
    }
    woken
}

/// Wakes up to `nr_wake` waiters on `from`, then moves up to `nr_requeue`
/// of the rest to `to` (they wake only when `to` is woken), first come
/// first. Returns the number woken plus the number moved.
fn requeue(from: FutexKey, to: FutexKey, nr_wake: u32, nr_requeue: u32) -> u32 {
    let woken = if nr_wake > 0 { wake(from, nr_wake, FUTEX_BITSET_MATCH_ANY) } else { 0 };
    let mut moved = 0;
    while moved < nr_requeue {
        let Some(tid) = first_waiter(from, FUTEX_BITSET_MATCH_ANY) else { break };
        if let Some(w) = sched::task(tid).and_then(|t| t.futex.as_mut()) {
            w.key = to;
        }
        moved += 1;
    }
    woken + moved
}

/// Takes the current task off its futex queue; whether it was still
/// there (not woken).
fn unqueue() -> bool {
    super::current().is_some_and(|t| t.futex.take().is_some())
}

/// `count=futex`: the VMM counts the instructions of the second
/// `FUTEX_WAIT`, from its start to its return: with a waker ready, the
/// sleep, the waker's run and `FUTEX_WAKE`, and the switch back.
pub static COUNT_FUTEX: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static WAITS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// `FUTEX_WAIT`, `FUTEX_WAIT_BITSET`: sleeps while the word at `uaddr`
/// holds `val` until a wake with a bitset that meets `bitset`, the uptime
/// `deadline` (ns; `None`: no timeout) or a signal.
pub fn wait(uaddr: u64, private: bool, val: u32, deadline: Option<u64>, bitset: u32) -> Result<u64, i32> {
    use core::sync::atomic::Ordering::Relaxed;
    let marked = COUNT_FUTEX.load(Relaxed) && WAITS.fetch_add(1, Relaxed) + 1 == 2;
    if marked {
        crate::arch::mark_begin(::shared::ports::MARK_FUTEX_WAIT_WAKE);
    }
    let r = futex_wait(uaddr, private, val, deadline, bitset);
    if marked {
        crate::arch::mark_end(::shared::ports::MARK_FUTEX_WAIT_WAKE);
    }
    r
}

fn futex_wait(uaddr: u64, private: bool, val: u32, deadline: Option<u64>, bitset: u32) -> Result<u64, i32> {
    let key = key(uaddr, private)?;
    loop {
        let word: u32 = get_user(uaddr)?;
        if word != val {
            return Err(EAGAIN);
        }
        if deadline.is_some_and(|d| crate::time::uptime_ns() >= d) {
            return Err(ETIMEDOUT);
        }
        if signal_pending() {
            return Err(interrupted(deadline));
        }
        if let Some(t) = super::current() {
            let seq = SEQ.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            t.futex = Some(FutexWaiter { key, bitset, seq });
            t.state = TaskState::Futex(deadline.unwrap_or(u64::MAX));
        }
        sched::schedule();
        if !unqueue() {
            return Ok(0);
        }
        if signal_pending() {
            return Err(interrupted(deadline));
        }
        if deadline.is_some_and(|d| crate::time::uptime_ns() >= d) {
            return Err(ETIMEDOUT);
        }
        // Woken for something else: look at the word again (Linux's
        // retry after a spurious wake-up).
    }
}

/// What an interrupted wait says: restarted after a handler with
/// `SA_RESTART` when it has no timeout (Linux `-ERESTARTSYS`); with one,
/// EINTR after any handler (Linux's restart block restarts it only when
/// no handler ran).
fn interrupted(deadline: Option<u64>) -> i32 {
    match deadline {
        None => ERESTARTSYS,
        Some(_) => ERESTARTNOHAND,
    }
}

/// The `futex` system call: `op` with its flags; `utime` is a timeout
/// pointer for the waits and a count (`val2`) for the requeues and
/// `FUTEX_WAKE_OP`.
pub fn sys_futex(uaddr: u64, op: u32, val: u32, utime: u64, uaddr2: u64, val3: u32) -> Result<u64, i32> {
    let cmd = op & FUTEX_CMD_MASK;
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && !matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET) {
        return Err(ENOSYS);
    }
    let val2 = utime as u32;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { FUTEX_BITSET_MATCH_ANY } else { val3 };
            if bitset == 0 {
                return Err(EINVAL);
            }
            let deadline = if utime == 0 {
                None
            } else {
                let ns = super::uaccess::get_timespec(utime)?;
                // FUTEX_WAIT's timeout is relative; WAIT_BITSET's is an
                // absolute time of CLOCK_MONOTONIC, or of CLOCK_REALTIME
                // with FUTEX_CLOCK_REALTIME.
                Some(match cmd {
                    FUTEX_WAIT => crate::time::uptime_ns().saturating_add(ns),
                    _ if realtime => crate::time::uptime_at_realtime(ns as i64),
                    _ => ns,
                })
            };
            wait(uaddr, private, val, deadline, bitset)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { val3 };
            if bitset == 0 {
                return Err(EINVAL);
            }
            Ok(u64::from(wake(key(uaddr, private)?, val, bitset)))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if (val as i32) < 0 || (val2 as i32) < 0 {
                return Err(EINVAL);
            }
            let (from, to) = (key(uaddr, private)?, key(uaddr2, private)?);
            if cmd == FUTEX_CMP_REQUEUE {
                let word: u32 = get_user(uaddr)?;
                if word != val3 {
                    return Err(EAGAIN);
                }
            }
            Ok(u64::from(requeue(from, to, val, val2)))
        }
        FUTEX_WAKE_OP => wake_op(uaddr, uaddr2, private, val, val2, val3),
        // The priority-inheritance operations (6-8, 11-13) are not built.
        _ => Err(ENOSYS),
    }
}

/// `FUTEX_WAKE_OP`: changes the word at `uaddr2` by the operation encoded
/// in `encoded` (op, comparison, operand, comparand), wakes up to `nr` on
/// `uaddr`, and up to `nr2` on `uaddr2` if the old value of the second
/// word passed the comparison.
fn wake_op(uaddr: u64, uaddr2: u64, private: bool, nr: u32, nr2: u32, encoded: u32) -> Result<u64, i32> {
    const FUTEX_OP_OPARG_SHIFT: u32 = 8;
    let (k1, k2) = (key(uaddr, private)?, key(uaddr2, private)?);
    let sign_extend12 = |v: u32| ((v << 20) as i32) >> 20;
    let mut op = (encoded >> 28) & 0xf;
    let cmp = (encoded >> 24) & 0xf;
    let mut oparg = sign_extend12((encoded >> 12) & 0xfff);
    let cmparg = sign_extend12(encoded & 0xfff);
    if op & FUTEX_OP_OPARG_SHIFT != 0 {
        oparg = 1 << (oparg & 31);
        op &= !FUTEX_OP_OPARG_SHIFT;
    }
    let old: u32 = get_user(uaddr2)?;
    let oparg = oparg as u32;
    let new = match op {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(ENOSYS),
    };
    put_user(uaddr2, &new)?;
    let (o, c) = (old as i32, cmparg);
    let pass = match cmp {
        0 => o == c,
        1 => o != c,
        2 => o < c,
        3 => o <= c,
        4 => o > c,
        5 => o >= c,
        _ => return Err(ENOSYS),
    };
    let mut woken = wake(k1, nr, FUTEX_BITSET_MATCH_ANY);
    if pass {
        woken += wake(k2, nr2, FUTEX_BITSET_MATCH_ANY);
    }
    Ok(u64::from(woken))
}

/// Linux `mm_release`, at exit and at `execve`: the robust futexes the
/// thread holds are marked as their owner's death and one waiter of each
/// woken; then, if other tasks share the memory, the `clear_child_tid`
/// word is zeroed and a waiter woken (what `pthread_join` sleeps on).
/// Faults are ignored: the memory is the process's to break.
pub fn exit_release(task: &mut Task) {
    let Some(mm) = task.mm.as_ref() else { return };
    let shared = mm.is_shared();
    let (tid, head, ctid) = (task.pid, core::mem::take(&mut task.robust_list), core::mem::take(&mut task.clear_child_tid));
    if head != 0 {
        exit_robust_list(head, tid);
    }
    if ctid != 0 && shared && put_user(ctid, &0u32).is_ok() {
        if let Ok(k) = key(ctid, false) {
            wake(k, 1, FUTEX_BITSET_MATCH_ANY);
        }
    }
}

/// Walks the robust list at `head` (Linux `exit_robust_list`).
fn exit_robust_list(head: u64, tid: u32) {
    let Ok([first, offset, pending]) = get_user::<[u64; 3]>(head) else { return };
    let offset = offset as i64;
    let mut entry = first & !1;
    for _ in 0..ROBUST_LIST_LIMIT {
        if entry == head || entry == 0 {
            break;
        }
        let Ok(next) = get_user::<u64>(entry) else { return };
        if entry != pending & !1 {
            handle_futex_death(entry.wrapping_add_signed(offset), tid, false);
        }
        entry = next & !1;
    }
    if pending & !1 != 0 {
        handle_futex_death((pending & !1).wrapping_add_signed(offset), tid, true);
    }
}

/// One robust futex of a dying thread (Linux `handle_futex_death`): if
/// `tid` owns it, it becomes "owner died" (waiters bit kept) and a waiter
/// is woken to take it over. A lock still being taken (`pending`) with no
/// owner wakes a waiter too.
fn handle_futex_death(uaddr: u64, tid: u32, pending: bool) {
    if !uaddr.is_multiple_of(4) {
        return;
    }
    let Ok(word) = get_user::<u32>(uaddr) else { return };
    let owner = word & super::FUTEX_TID_MASK;
    if pending && owner == 0 {
        if let Ok(k) = key(uaddr, false) {
            wake(k, 1, FUTEX_BITSET_MATCH_ANY);
        }
        return;
    }
    if owner != tid {
        return;
    }
    let new = (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if put_user(uaddr, &new).is_err() {
        return;
    }
    if word & FUTEX_WAITERS != 0 {
        if let Ok(k) = key(uaddr, false) {
            wake(k, 1, FUTEX_BITSET_MATCH_ANY);
        }
    }
}

/// `set_robust_list`: `len` must be the size of the head (EINVAL).
pub fn sys_set_robust_list(head: u64, len: u64) -> Result<u64, i32> {
    if len != ROBUST_LIST_HEAD_SIZE {
        return Err(EINVAL);
    }
    super::current().ok_or(EFAULT)?.robust_list = head;
    Ok(0)
}

/// `get_robust_list`: the head of thread `tid` (0: the caller) and its
/// size.
pub fn sys_get_robust_list(tid: i32, head_ptr: u64, len_ptr: u64) -> Result<u64, i32> {
    let head = match tid {
        0 => super::current().ok_or(EFAULT)?.robust_list,
        t if t > 0 => sched::task(t as u32).ok_or(crate::fs::errno::ESRCH)?.robust_list,
        _ => return Err(crate::fs::errno::ESRCH),
    };
    put_user(len_ptr, &ROBUST_LIST_HEAD_SIZE)?;
    put_user(head_ptr, &head)?;
    Ok(0)
}
