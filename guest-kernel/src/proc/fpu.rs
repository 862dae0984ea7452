//! Lazy FPU switching (Linux `arch/x86/kernel/fpu/core.c`: the state is
//! saved when a task is switched out, `switch_fpu_prepare`, and loaded
//! again only on the way back to user mode of a task whose state the
//! registers do not hold, `TIF_NEED_FPU_LOAD`).
//!
//! The kernel itself never uses the FPU/SSE registers, so from a task's
//! return to user mode until it is switched out they hold its state: a
//! system call, fault or interrupt that comes back to the same task saves
//! and restores nothing (each was an `fxsave` and an `fxrstor` of 512
//! bytes, emulated instruction by instruction where ring 0 is). The copy
//! in `Task::fpu` is therefore stale while its task owns the registers:
//! read it with [`snapshot`], replace it with [`set`].

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::arch::user::FpuState;

use super::Task;

/// The thread whose user FPU state the registers hold (0: none). Per CPU
/// once there are several (Linux `fpu_fpregs_owner_ctx`).
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Before `task` enters user mode: its state into the registers, unless
/// they hold it already.
#[inline]
pub fn load_for_user(task: &Task) {
    if OWNER.load(Relaxed) != task.pid {
        task.fpu.restore();
        OWNER.store(task.pid, Relaxed);
    }
}

/// `task` is being switched out: its state goes to memory. The registers
/// still hold it, so if it is the next to run in user mode nothing is
/// loaded.
#[inline]
pub fn switch_out(task: &mut Task) {
    if OWNER.load(Relaxed) == task.pid {
        task.fpu.save();
    }
}

/// `task`'s current user FPU state (a signal frame, fork, a core dump).
pub fn snapshot(task: &Task) -> FpuState {
    if OWNER.load(Relaxed) == task.pid {
        let mut s = FpuState::new();
        s.save();
        s
    } else {
        task.fpu.clone()
    }
}

/// Replaces `task`'s user FPU state (`execve`, a signal handler's clean
/// state, `rt_sigreturn`); it is loaded on the way back to user mode.
pub fn set(task: &mut Task, state: FpuState) {
    task.fpu = state;
    forget(task.pid);
}

/// The thread is gone: the registers belong to nobody.
pub fn forget(pid: u32) {
    let _ = OWNER.compare_exchange(pid, 0, Relaxed, Relaxed);
}
