//! Signal system calls: kill, tgkill, pidfd_send_signal (and who may send
//! what to whom), rt_sigaction, rt_sigprocmask, rt_sigpending,
//! rt_sigsuspend, pause, sigaltstack, rt_sigtimedwait, rt_sigqueueinfo (the
//! state is in `proc::signal`, delivery and rt_sigreturn in
//! `proc::signal::frame`).

use super::*;
use crate::proc::signal::{SigInfo, SI_TKILL, SI_USER};

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

/// `rt_sigtimedwait(set, info, timeout, sigsetsize)` (`sigwaitinfo`,
/// `sigtimedwait`, `sigwait`): takes a pending signal of `set` (blocked,
/// as callers keep them) without running its handler, and returns its
/// number with its `siginfo` in `info`; sleeps until one comes, the
/// relative `timeout` passes (EAGAIN), or another signal interrupts
/// (EINTR). SIGKILL and SIGSTOP cannot be waited for.
pub(super) fn sys_rt_sigtimedwait(set: u64, info: u64, timeout: u64, sigsetsize: u64) -> SysResult {
    use crate::proc::sched::{self, TaskState};
    use crate::proc::signal::UNBLOCKABLE;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let set = get_user::<u64>(set)? & !UNBLOCKABLE;
    let deadline = if timeout == 0 { None } else { Some(crate::time::uptime_ns().saturating_add(crate::proc::uaccess::get_timespec(timeout)?)) };
    // While it sleeps the set is unblocked, so that a signal of it wakes
    // the task (Linux does the same); the mask comes back before return.
    let blocked = task().signals.blocked;
    let r = loop {
        let t = task();
        if let Some((sig, si)) = t.signals.dequeue_from(set) {
            break Ok((sig, si));
        }
        if t.pending_kill.is_some() || t.signals.deliverable() & !set != 0 {
            break Err(EINTR);
        }
        let now = crate::time::uptime_ns();
        if deadline.is_some_and(|d| now >= d) {
            break Err(EAGAIN);
        }
        t.signals.blocked = blocked & !set;
        t.state = TaskState::SleepUntil(deadline.unwrap_or(u64::MAX));
        sched::schedule();
        task().signals.blocked = blocked;
    };
    task().signals.blocked = blocked;
    let (sig, si) = r?;
    if info != 0 {
        copy_to_user(info, &si.to_user(sig))?;
    }
    Ok(sig as u64)
}

/// `rt_sigqueueinfo(tgid, sig, info)` and `rt_tgsigqueueinfo(tgid, tid,
/// sig, info)` (`sigqueue`, `pthread_sigqueue`): a signal with the
/// caller's `siginfo` (its code and `si_value`) to a process or one of its
/// threads. A code that would pose as the kernel or as `kill` (≥ 0, or
/// `SI_TKILL`) is EPERM for another process, as in Linux.
pub(super) fn sys_rt_sigqueueinfo(tgid: i32, tid: Option<i32>, sig: i32, uinfo: u64) -> SysResult {
    use crate::proc::sched;
    use crate::proc::signal::{self as sigs, SigInfo, SI_TKILL};
    if !(0..=64).contains(&sig) {
        return Err(EINVAL);
    }
    let raw: [u8; 128] = get_user(uinfo)?;
    let code = i32::from_ne_bytes([raw[8], raw[9], raw[10], raw[11]]);
    let value = u64::from_ne_bytes(raw[24..32].try_into().unwrap_or([0; 8]));
    let pid = u32::from_ne_bytes([raw[16], raw[17], raw[18], raw[19]]);
    if tgid <= 0 || tid.is_some_and(|t| t <= 0) {
        return Err(EINVAL);
    }
    let target = sched::task(tid.unwrap_or(tgid) as u32).ok_or(ESRCH)?;
    if target.tgid != tgid as u32 {
        return Err(ESRCH);
    }
    if (code >= 0 || code == SI_TKILL) && target.tgid != task().tgid {
        return Err(EPERM);
    }
    super::signal::may_kill(target, sig)?;
    let info = SigInfo { code, pid, value, ..SigInfo::default() };
    match tid {
        Some(t) => sigs::send_to_thread(t as u32, sig, info),
        None => sigs::send_to_process(tgid as u32, sig, info),
    }
    Ok(0)
}

/// `kill`: `pid` > 0 is a process (or any thread of one: its process),
/// 0 the caller's process group, -1 every process the caller may signal
/// but init and itself, < -1 process group -pid.
pub(super) fn sys_kill(pid: i32, sig: i32) -> SysResult {
    use crate::proc::sched;
    if !(0..=64).contains(&sig) {
        return Err(EINVAL);
    }
    // -INT_MIN does not exist (Linux: ESRCH).
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let me = task().tgid;
    // A group's zombies still count as members (Linux: the call succeeds;
    // a zombie ignores the signal).
    let group = |pgid: u32| -> Vec<u32> { sched::processes().into_iter().filter(|&p| sched::task(p).is_some_and(|t| t.pgid == pgid)).collect() };
    let targets: Vec<u32> = match pid {
        p if p > 0 => alloc::vec![sched::task(p as u32).ok_or(ESRCH)?.tgid],
        // The caller's process group.
        0 => group(task().pgid),
        // Everyone the caller may signal but init and itself.
        -1 => sched::processes().into_iter().filter(|&p| p > 1 && p != me && !sched::threads(p).is_empty()).collect(),
        // Process group -pid.
        p => group(p.unsigned_abs()),
    };
    if targets.is_empty() {
        return Err(ESRCH);
    }
    let info = SigInfo { code: SI_USER, pid: me, ..SigInfo::default() };
    // Linux: one target's error is the call's; for a group, success if any
    // member was signalled, else the last error; for -1, EPERM is not an
    // error at all.
    let mut result = if pid == -1 { Ok(0) } else { Err(ESRCH) };
    let mut any = false;
    for p in targets {
        match sched::task(p).map_or(Ok(()), |t| may_kill(t, sig)) {
            Ok(()) => {
                any = true;
                // A process that has exited still exists until reaped: the
                // call succeeds and the signal does nothing (Linux).
                crate::proc::signal::send_to_process(p, sig, info);
            }
            Err(e) if pid == -1 && e == EPERM => {}
            Err(e) => result = Err(e),
        }
    }
    if any {
        Ok(0)
    } else {
        result
    }
}

/// Whether the caller may send `sig` to `target` (Linux
/// `check_kill_permission`): a thread of its own process, a task of its
/// user ([`crate::cred::Cred::may_signal`]) or anyone with `CAP_KILL`,
/// and `SIGCONT` to any task of its session; `EPERM` otherwise.
pub(super) fn may_kill(target: &crate::proc::Task, sig: i32) -> Result<(), i32> {
    const SIGCONT: i32 = 18;
    let me = task();
    if target.tgid == me.tgid || me.cred.may_signal(&target.cred) || (sig == SIGCONT && target.sid == me.sid) {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// `tgkill(tgid, tid, sig)` and `tkill(tid, sig)` (`tgid` -1): a signal
/// to one thread (what `raise`, `abort` and `pthread_kill` use); ESRCH
/// when `tid` is not a thread of `tgid`.
pub(super) fn sys_tgkill(tgid: i32, tid: i32, sig: i32) -> SysResult {
    use crate::proc::sched;
    if !(0..=64).contains(&sig) || tid <= 0 || tgid == 0 || tgid < -1 {
        return Err(EINVAL);
    }
    let t = sched::task(tid as u32).ok_or(ESRCH)?;
    if tgid != -1 && t.tgid != tgid as u32 {
        return Err(ESRCH);
    }
    may_kill(t, sig)?;
    // A zombie is still there; the signal does nothing.
    if t.state != sched::TaskState::Zombie {
        crate::proc::signal::send_to_thread(tid as u32, sig, SigInfo { code: SI_TKILL, pid: task().tgid, ..SigInfo::default() });
    }
    Ok(0)
}

/// `pidfd_send_signal(pidfd, sig, info, flags)`: `kill` through a pidfd
/// (ESRCH once the process has exited). A caller-supplied `info` is not
/// supported (EINVAL); `flags` must be 0.
pub(super) fn sys_pidfd_send_signal(pidfd: i32, sig: i32, info: u64, flags: u32) -> SysResult {
    if flags != 0 || info != 0 || !(0..=64).contains(&sig) {
        return Err(EINVAL);
    }
    let pid = pidfd_target(pidfd)?;
    if crate::proc::sched::threads(pid).is_empty() {
        return Err(ESRCH);
    }
    may_kill(crate::proc::sched::task(pid).ok_or(ESRCH)?, sig)?;
    let info = SigInfo { code: SI_USER, pid: task().tgid, ..SigInfo::default() };
    crate::proc::signal::send_to_process(pid, sig, info);
    Ok(0)
}
