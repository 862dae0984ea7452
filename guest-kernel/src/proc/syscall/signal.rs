//! Signal system calls: rt_sigaction and rt_sigprocmask (the state is
//! in `proc::signal`).

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
