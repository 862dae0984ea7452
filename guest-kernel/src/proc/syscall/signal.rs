//! Signal system calls: rt_sigaction, rt_sigprocmask, rt_sigpending,
//! rt_sigsuspend, pause, sigaltstack (the state is in `proc::signal`,
//! delivery and rt_sigreturn in `proc::signal::frame`).

use super::*;
pub(super) fn sys_rt_sigaction(sig: i32, act: u64, oldact: u64, sigsetsize: u64) -> SysResult {
    use crate::proc::signal::{KSigaction, NSIG};
    if sigsetsize != 8 || !(1..=NSIG as i32).contains(&sig) || ((sig == 9 || sig == 19) && act != 0) {
        return Err(EINVAL);
    }
    let sig = sig as usize;
    // As Linux: the new action is read first, the old one written after.
    let new: Option<KSigaction> = if act != 0 { Some(get_user(act)?) } else { None };
    let old = task().signals.action(sig);
    if let Some(new) = new {
        task().signals.set_action(sig, new);
    }
    if oldact != 0 {
        put_user(oldact, &old)?;
    }
    Ok(0)
}

pub(super) const SIG_BLOCK: i32 = 0;
pub(super) const SIG_UNBLOCK: i32 = 1;
pub(super) const SIG_SETMASK: i32 = 2;

pub(super) fn sys_rt_sigprocmask(how: i32, set: u64, oldset: u64, sigsetsize: u64) -> SysResult {
    use crate::proc::signal::UNBLOCKABLE;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let old = task().signals.blocked;
    if set != 0 {
        let new = get_user::<u64>(set)? & !UNBLOCKABLE;
        let blocked = &mut task().signals.blocked;
        *blocked = match how {
            SIG_BLOCK => old | new,
            SIG_UNBLOCK => old & !new,
            SIG_SETMASK => new,
            _ => return Err(EINVAL),
        };
    }
    if oldset != 0 {
        put_user(oldset, &old)?;
    }
    Ok(0)
}

pub(super) fn sys_rt_sigpending(set: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize > 8 {
        return Err(EINVAL);
    }
    let t = task();
    let pending = t.signals.pending() & t.signals.blocked;
    put_user(set, &pending)?;
    Ok(0)
}

/// Sleeps until a signal is deliverable (or a kill comes).
fn sleep_for_signal() {
    use crate::proc::signal::frame::signal_pending;
    while !signal_pending() {
        task().state = crate::proc::sched::TaskState::SleepUntil(u64::MAX);
        crate::proc::sched::schedule();
    }
}

/// `pause`: until a handler has run (then EINTR); a signal that is
/// ignored when it comes is discarded and the pause goes on.
pub(super) fn sys_pause() -> SysResult {
    sleep_for_signal();
    Err(crate::proc::signal::frame::ERESTARTNOHAND)
}

/// `rt_sigsuspend`: waits with `mask` in force; the old mask comes back
/// when the handler returns (it is the one its frame saves).
pub(super) fn sys_rt_sigsuspend(mask: u64, sigsetsize: u64) -> SysResult {
    use crate::proc::signal::UNBLOCKABLE;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let new: u64 = get_user(mask)?;
    let t = task();
    t.signals.saved_mask = Some(t.signals.blocked);
    t.signals.blocked = new & !UNBLOCKABLE;
    sleep_for_signal();
    Err(crate::proc::signal::frame::ERESTARTNOHAND)
}

pub(super) fn sys_sigaltstack(ss: u64, old: u64) -> SysResult {
    use crate::proc::signal::frame::{altstack_report, set_altstack};
    use crate::proc::signal::StackT;
    let t = task();
    let report = altstack_report(&t.signals.altstack, t.regs.rsp);
    if ss != 0 {
        let new: StackT = get_user(ss)?;
        set_altstack(t, &new)?;
    }
    if old != 0 {
        put_user(old, &report)?;
    }
    Ok(0)
}
