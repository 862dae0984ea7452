//! Job control (Linux `do_signal_stop`): a stop signal whose action is
//! the default stops every thread of the process and tells the parent
//! (SIGCHLD with `CLD_STOPPED`, a `WUNTRACED` report for `wait`). What
//! SIGCONT and the stop signals do as they are sent (continuing a stopped
//! process, discarding each other) is in [`super::send`], where they are
//! queued. SIGKILL wakes a stopped task.

use super::send::notify_parent;
use super::siginfo::CLD_STOPPED;
use crate::proc::sched::{self, TaskState};
use crate::proc::Task;

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

/// A stop signal's default action, taken by `task` on its way to user
/// mode (Linux `do_signal_stop`): every thread of the process stops, the
/// parent is told, and this thread sleeps until SIGCONT or SIGKILL.
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
