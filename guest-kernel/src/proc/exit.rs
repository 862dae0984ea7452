//! The end of a task and of a process (Linux `kernel/exit.c`): the last
//! thread out ends the process, whose children go to init and whose
//! parent is told (`exit_notify`); init's exit kills and runs down every
//! other task before the boot context takes over again.
//!
//! Above the scheduler and signals: it uses both, neither uses it.

#![deny(unsafe_code)]

use alloc::vec::Vec;

use super::sched::{self, current, schedule, task, threads, wake, wake_child_waiters, wake_events, TaskState};
use super::signal::{self, SigInfo, SA_NOCLDWAIT, SIGCHLD, SIG_IGN};

/// The current task has exited and released its memory. A thread other
/// than the leader is freed once the CPU has left it; a leader stays a
/// zombie until every thread of its process is gone (Linux
/// `delay_group_leader`). The last thread out ends the process (see
/// [`process_exited`]); for init that is the return to the boot context.
/// Never returns.
pub fn exit_current() -> ! {
    let Some(t) = current() else { unreachable!("an exiting task is running") };
    t.state = TaskState::Zombie;
    let (pid, tgid, status) = (t.pid, t.tgid, t.exit_status.unwrap_or(0));
    let last = threads(tgid).is_empty();
    if pid != tgid {
        sched::free_when_switched(pid);
    }
    if !last {
        // A thread in `execve` waits for the others to go.
        wake_child_waiters(tgid);
    }
    if last {
        if tgid == 1 {
            let status = task(1).and_then(|t| t.signals.group_ref().group_exit).unwrap_or(status);
            if let Some(leader) = task(1) {
                leader.exit_status = Some(status);
            }
            super::notify::task_exit(1, status);
            reap_others_for_init();
            sched::return_to_boot();
        }
        process_exited(tgid, status);
    }
    sched::schedule_dead()
}

/// Init is exiting: every other task is killed and runs to its own exit
/// (it may be asleep in a system call holding files and buffers, which
/// only its own exit path releases), so that all of them are zombies
/// before init goes back to the boot context, which reaps them.
fn reap_others_for_init() {
    loop {
        let alive: Vec<u32> = sched::tasks().filter(|t| t.pid != 1 && t.state != TaskState::Zombie).map(|t| t.pid).collect();
        if alive.is_empty() {
            return;
        }
        printk!("init: killing {} remaining task(s) as init exits", alive.len());
        for &pid in &alive {
            if let Some(t) = task(pid) {
                t.pending_kill = Some(super::SIGKILL);
                t.ppid = 1;
            }
            wake(pid);
            sched::enqueue(pid);
        }
        // Init waits as a parent would; each exit wakes it (whichever of
        // its threads is the last).
        if let Some(me) = current() {
            me.state = TaskState::WaitChild;
        }
        schedule();
    }
}

/// The last thread of process `tgid` has exited with `status` (Linux
/// `exit_notify`): its children go to init; its parent gets the exit
/// signal and its waiters are woken, or, when the parent ignores SIGCHLD,
/// the process is reaped at once (Linux's `SIGCHLD` `SIG_IGN`/
/// `SA_NOCLDWAIT` rule).
fn process_exited(tgid: u32, status: i32) {
    let mut death_signals = Vec::new();
    // Every task whose parent it was, threads of its children included.
    for child in sched::pids().into_iter().filter_map(task).filter(|t| t.ppid == tgid) {
        child.ppid = 1;
        // PR_SET_PDEATHSIG: told that its parent is gone.
        if child.pdeath_signal != 0 && child.state != TaskState::Zombie {
            death_signals.push((child.pid, child.pdeath_signal));
        }
    }
    for (pid, sig) in death_signals {
        let info = SigInfo { code: signal::SI_USER, pid: tgid, ..Default::default() };
        signal::send_to_thread(pid, sig as i32, info);
    }
    let Some(leader) = task(tgid) else { return };
    // The process's status: the group's if it ended together, else the
    // last thread's (as Linux reports it).
    let status = leader.signals.group_ref().group_exit.unwrap_or(status);
    leader.exit_status = Some(status);
    let (ppid, exit_signal) = (leader.ppid, leader.exit_signal);
    // Stats channel: a ProcessExit snapshot (and the reply for a process
    // it started) at the next safe point.
    super::notify::task_exit(tgid, status);
    let parent_ignores = task(ppid).is_some_and(|p| {
        let act = p.signals.action(SIGCHLD);
        act.handler == SIG_IGN || act.flags & SA_NOCLDWAIT != 0
    });
    if exit_signal == SIGCHLD as u32 && parent_ignores {
        sched::free_when_switched(tgid);
    } else if exit_signal != 0 {
        let (code, value) = if status & 0x7f == 0 { (signal::CLD_EXITED, (status >> 8) & 0xff) } else { (signal::CLD_KILLED, status & 0x7f) };
        let info = SigInfo { code, pid: tgid, status: value, ..Default::default() };
        signal::send_to_process(ppid, exit_signal as i32, info);
    }
    wake_child_waiters(ppid);
    // Orphaned zombies now belong to init, which may be waiting.
    wake_child_waiters(1);
    // Its pidfds turn readable: poll's waiters look again.
    wake_events();
}
