//! Job control (Linux `do_signal_stop`, `prepare_signal`,
//! `do_notify_parent_cldstop`): a stop signal whose action is the default
//! stops every thread of the process and tells the parent (SIGCHLD with
//! `CLD_STOPPED`, a `WUNTRACED` report for `wait`); SIGCONT, whatever its
//! action, makes a stopped process run again (`CLD_CONTINUED`, a
//! `WCONTINUED` report) and discards pending stop signals, as a stop
//! signal discards a pending SIGCONT. SIGKILL wakes a stopped task.

use super::{sigmask, SigInfo, SA_NOCLDSTOP, SIGCHLD};
use crate::proc::sched::{self, TaskState};
use crate::proc::Task;

pub const SIGCONT: usize = 18;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
/// SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU.
pub const STOP_SIGNALS: u64 = sigmask(19) | sigmask(20) | sigmask(21) | sigmask(22);

pub fn is_stop_signal(sig: usize) -> bool {
    (1..=64).contains(&sig) && STOP_SIGNALS & sigmask(sig) != 0
}

/// Before `sig` is queued for process `tgid` (Linux `prepare_signal`):
/// SIGCONT continues a stopped process and drops its pending stop
/// signals; a stop signal drops a pending SIGCONT.
pub fn prepare_signal(tgid: u32, sig: usize) {
    if sig == SIGCONT {
        let mut was_stopped = false;
        for tid in sched::threads(tgid) {
            let Some(t) = sched::task(tid) else { continue };
            t.signals.discard(STOP_SIGNALS);
            let group = t.signals.group();
            if group.stopped {
                group.stopped = false;
                group.stop_report = None;
                group.continued_report = true;
                was_stopped = true;
            }
            if t.state == TaskState::Stopped {
                sched::resume(tid);
            }
        }
        if was_stopped {
            notify_parent(tgid, CLD_CONTINUED, SIGCONT as i32);
        }
    } else if is_stop_signal(sig) {
        for tid in sched::threads(tgid) {
            if let Some(t) = sched::task(tid) {
                t.signals.discard(sigmask(SIGCONT));
            }
        }
    }
}

/// A stop signal's default action, taken by `task` on its way to user
/// mode (Linux `do_signal_stop`): every thread of the process stops, the
/// parent is told, and this thread sleeps until SIGCONT or SIGKILL.
/// Whether process group `pgid` is orphaned (POSIX; Linux
/// `will_become_orphaned_pgrp`): no member has a parent outside the group
/// but in the same session, init not counting as such a parent. The
/// terminal stop signals are discarded for an orphaned group, which no
/// one would ever continue.
pub fn is_orphaned_pgrp(pgid: u32) -> bool {
    !sched::processes()
        .into_iter()
        .filter_map(sched::task)
        .filter(|p| p.pgid == pgid && p.state != TaskState::Zombie)
        .any(|p| sched::task(p.ppid).is_some_and(|parent| parent.tgid != 1 && parent.pgid != pgid && parent.sid == p.sid))
}

pub fn do_signal_stop(task: &mut Task, sig: usize) {
    let (me, tgid) = (task.pid, task.tgid);
    {
        let group = task.signals.group();
        group.stopped = true;
        group.stop_report = Some(sig as i32);
        group.continued_report = false;
    }
    for tid in sched::threads(tgid).into_iter().filter(|&t| t != me) {
        if let Some(t) = sched::task(tid) {
            t.state = TaskState::Stopped;
        }
    }
    notify_parent(tgid, CLD_STOPPED, sig as i32);
    while let Some(t) = crate::proc::current() {
        if t.pending_kill.is_some() || !t.signals.group_ref().stopped {
            break;
        }
        t.state = TaskState::Stopped;
        sched::schedule();
    }
}

/// Tells process `tgid`'s parent that it stopped or continued (Linux
/// `do_notify_parent_cldstop`): SIGCHLD unless the parent asked not to
/// (`SA_NOCLDSTOP`); its waiters are woken either way.
fn notify_parent(tgid: u32, code: i32, status: i32) {
    let Some(ppid) = sched::task(tgid).map(|t| t.ppid) else { return };
    let wants = sched::task(ppid).is_some_and(|p| p.signals.action(SIGCHLD).flags & SA_NOCLDSTOP == 0);
    if wants {
        super::send_to_process(ppid, SIGCHLD as i32, SigInfo { code, pid: tgid, status, ..SigInfo::default() });
    }
    sched::wake_child_waiters(ppid);
}
