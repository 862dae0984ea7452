//! Sending signals (Linux `kernel/signal.c`: `send_signal`,
//! `group_send_sig_info`, `prepare_signal`, `do_notify_parent_cldstop`):
//! a signal becomes pending for a thread or a process, the job-control
//! side effects of SIGCONT and the stop signals happen as it is queued,
//! and the threads that can take it are woken.

use super::siginfo::{is_stop_signal, sigmask, SigInfo, CLD_CONTINUED, SA_NOCLDSTOP, SIGCHLD, SIGCONT, SIGKILL, STOP_SIGNALS};
use crate::proc::sched::{self, TaskState};

/// Sends `sig` (1..=64; 0 only checks) to thread `tid` (Linux
/// `send_sig_info` to one task: `tgkill`, SIGPIPE): SIGKILL ends the whole
/// process; anything else becomes pending for that thread (or is
/// discarded, ignored) and wakes it if it sleeps in a blocking call.
pub fn send_to_thread(tid: u32, sig: i32, info: SigInfo) {
    let Some(t) = sched::task(tid) else { return };
    if sig == 0 || t.state == sched::TaskState::Zombie {
        return;
    }
    prepare_signal(t.tgid, sig as usize);
    let Some(t) = sched::task(tid) else { return };
    if sig as usize == SIGKILL {
        kill_process(t.tgid, SIGKILL as i32);
    } else if t.signals.send(sig as usize, info) {
        sched::wake(tid);
    }
}

/// Sends `sig` to process `tgid` (Linux `group_send_sig_info`: `kill`,
/// SIGCHLD, SIGALRM): pending for the process, taken by whichever of its
/// threads does not block it; those threads are woken. SIGKILL ends every
/// thread.
pub fn send_to_process(tgid: u32, sig: i32, info: SigInfo) {
    let threads = sched::threads(tgid);
    let Some(&first) = threads.first() else { return };
    if sig == 0 {
        return;
    }
    if sig as usize == SIGKILL {
        kill_process(tgid, sig);
        return;
    }
    prepare_signal(tgid, sig as usize);
    let Some(t) = sched::task(first) else { return };
    if !t.signals.send_shared(sig as usize, info) {
        return;
    }
    for tid in threads {
        if sched::task(tid).is_some_and(|t| !t.signals.blocks(sig as usize)) {
            sched::wake(tid);
        }
    }
}

/// Ends every thread of process `tgid` with the fatal signal `sig`
/// (Linux `complete_signal` for a fatal one, `zap_other_threads`): the
/// process's wait status becomes `sig`; each thread dies before it next
/// returns to user mode.
pub fn kill_process(tgid: u32, sig: i32) {
    for tid in sched::threads(tgid) {
        let Some(t) = sched::task(tid) else { continue };
        t.signals.group().group_exit.get_or_insert(sig);
        t.pending_kill = Some(sig);
        sched::wake(tid);
    }
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

/// Tells process `tgid`'s parent that it stopped or continued (Linux
/// `do_notify_parent_cldstop`): SIGCHLD unless the parent asked not to
/// (`SA_NOCLDSTOP`); its waiters are woken either way.
pub(super) fn notify_parent(tgid: u32, code: i32, status: i32) {
    let Some(ppid) = sched::task(tgid).map(|t| t.ppid) else { return };
    let wants = sched::task(ppid).is_some_and(|p| p.signals.action(SIGCHLD).flags & SA_NOCLDSTOP == 0);
    if wants {
        send_to_process(ppid, SIGCHLD as i32, SigInfo { code, pid: tgid, status, ..SigInfo::default() });
    }
    sched::wake_child_waiters(ppid);
}
