//! Histogram counting for the VMM's instruction counter
//! (`vmm run --count-instructions --cmdline count=syscalls,faults,switches,irqs,reclaim`):
//! every system call by number, every user page fault by kind, every
//! context switch, every timer interrupt from user mode and every reclaim
//! pass is marked as a region, and the VMM sums them by id (calls, total,
//! mean, max).
//!
//! One region is open at a time. A system call that blocks is counted up
//! to the switch away (what it cost before sleeping); the switch itself is
//! a region of its own when `switches` is on, ending when the next task is
//! back on its feet (`finish_switch`). Interrupts that arrive in kernel
//! mode are not marked.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use shared::ports::{
    MARK_CONTEXT_SWITCH, MARK_FAULT_ANON, MARK_FAULT_COW, MARK_FAULT_FAILED, MARK_FAULT_FILE_READ, MARK_FAULT_OTHER, MARK_FAULT_SHARED_WRITE, MARK_FAULT_STACK,
    MARK_FAULT_SWAP_IN, MARK_FAULT_ZERO, MARK_INTERRUPT, MARK_RECLAIM, MARK_SYSCALL_BASE, MARK_SYSCALL_END,
};

use crate::arch;
use crate::mm::memory::{FaultError, FaultKind};

static SYSCALLS: AtomicBool = AtomicBool::new(false);
static FAULTS: AtomicBool = AtomicBool::new(false);
static SWITCHES: AtomicBool = AtomicBool::new(false);
static IRQS: AtomicBool = AtomicBool::new(false);
static RECLAIM: AtomicBool = AtomicBool::new(false);
/// The open region's id (0: none).
static OPEN: AtomicU32 = AtomicU32::new(0);

/// Turns on one kind of histogram region (`count=` on the command line).
pub fn enable(what: &str) {
    match what {
        "syscalls" => SYSCALLS.store(true, Relaxed),
        "faults" => FAULTS.store(true, Relaxed),
        "switches" => SWITCHES.store(true, Relaxed),
        "irqs" => IRQS.store(true, Relaxed),
        "reclaim" => RECLAIM.store(true, Relaxed),
        _ => {}
    }
}

fn begin(id: u32) {
    if OPEN.load(Relaxed) == 0 {
        OPEN.store(id, Relaxed);
        arch::mark_begin(id);
    }
}

fn end() {
    let id = OPEN.swap(0, Relaxed);
    if id != 0 {
        arch::mark_end(id);
    }
}

/// Entering system call `nr`.
#[inline]
pub fn syscall_begin(nr: u64) {
    if SYSCALLS.load(Relaxed) {
        if let Some(id) = u32::try_from(nr).ok().and_then(|n| n.checked_add(MARK_SYSCALL_BASE)).filter(|&id| id < MARK_SYSCALL_END) {
            begin(id);
        }
    }
}

/// Back from a system call (if it is still the open region).
#[inline]
pub fn syscall_end() {
    if SYSCALLS.load(Relaxed) && (MARK_SYSCALL_BASE..MARK_SYSCALL_END).contains(&OPEN.load(Relaxed)) {
        end();
    }
}

/// A user page fault begins (its kind is known at the end).
#[inline]
pub fn fault_begin() {
    if FAULTS.load(Relaxed) {
        begin(MARK_FAULT_OTHER);
    }
}

/// The fault ended as `result` said.
#[inline]
pub fn fault_end(result: &Result<FaultKind, FaultError>) {
    if !FAULTS.load(Relaxed) || OPEN.load(Relaxed) != MARK_FAULT_OTHER {
        return;
    }
    let id = match result {
        Ok(FaultKind::Anonymous) => MARK_FAULT_ANON,
        Ok(FaultKind::ZeroPage) => MARK_FAULT_ZERO,
        Ok(FaultKind::Cow) => MARK_FAULT_COW,
        Ok(FaultKind::FileRead) => MARK_FAULT_FILE_READ,
        Ok(FaultKind::SharedWrite) => MARK_FAULT_SHARED_WRITE,
        Ok(FaultKind::StackGrowth) => MARK_FAULT_STACK,
        Ok(FaultKind::SwapIn) => MARK_FAULT_SWAP_IN,
        Ok(FaultKind::Other) => MARK_FAULT_OTHER,
        Err(_) => MARK_FAULT_FAILED,
    };
    if id != MARK_FAULT_OTHER {
        OPEN.store(id, Relaxed);
        arch::mark_relabel(id);
    }
    end();
}

/// A timer interrupt from user mode begins and ends.
#[inline]
pub fn irq_begin() {
    if IRQS.load(Relaxed) {
        begin(MARK_INTERRUPT);
    }
}

#[inline]
pub fn irq_end() {
    if OPEN.load(Relaxed) == MARK_INTERRUPT {
        end();
    }
}

/// A reclaim pass begins and ends (`count=reclaim`): counted when no other
/// region is open (a pass inside a fault counts as part of the fault).
#[inline]
pub fn reclaim_begin() {
    if RECLAIM.load(Relaxed) {
        begin(MARK_RECLAIM);
    }
}

#[inline]
pub fn reclaim_end() {
    if OPEN.load(Relaxed) == MARK_RECLAIM {
        end();
    }
}

/// The running task is about to be switched away from: what it had open
/// ends here, and the switch begins.
#[inline]
pub fn switch_begin() {
    if OPEN.load(Relaxed) != 0 {
        end();
    }
    if SWITCHES.load(Relaxed) {
        begin(MARK_CONTEXT_SWITCH);
    }
}

/// The next task runs (`finish_switch`).
#[inline]
pub fn switch_end() {
    if OPEN.load(Relaxed) == MARK_CONTEXT_SWITCH {
        end();
    }
}

/// `count=thread`: the VMM counts the instructions of the second thread
/// creation (`kernel_clone` with `CLONE_THREAD`) and of the second exit
/// of a thread other than a leader, from `exit` until the next task runs
/// with the thread freed (its joiner woken on the way).
pub static COUNT_THREAD: AtomicBool = AtomicBool::new(false);
static THREAD_CREATES: AtomicU64 = AtomicU64::new(0);
static THREAD_EXITS: AtomicU64 = AtomicU64::new(0);
/// The thread whose exit is being counted (0: none).
static COUNTED_EXIT: AtomicU64 = AtomicU64::new(0);

/// Whether this thread creation is the one `count=thread` counts.
pub fn count_thread_create() -> bool {
    COUNT_THREAD.load(Relaxed) && THREAD_CREATES.fetch_add(1, Relaxed) + 1 == 2
}

/// Marks the start of a thread's exit for `count=thread` (the end is
/// marked by [`thread_freed`] once the thread is freed).
pub fn count_thread_exit(tid: u32) {
    if COUNT_THREAD.load(Relaxed) && THREAD_EXITS.fetch_add(1, Relaxed) + 1 == 2 {
        COUNTED_EXIT.store(u64::from(tid), Relaxed);
        crate::arch::mark_begin(::shared::ports::MARK_THREAD_EXIT);
    }
}

/// The scheduler freed `pid` (after a switch away from it): the end of a
/// counted thread exit.
pub fn thread_freed(pid: u32) {
    if COUNTED_EXIT.load(Relaxed) == u64::from(pid) {
        COUNTED_EXIT.store(0, Relaxed);
        crate::arch::mark_end(::shared::ports::MARK_THREAD_EXIT);
    }
}
