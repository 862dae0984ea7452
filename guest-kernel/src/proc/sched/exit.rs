//! The end of a process: init's last act (every other task killed and
//! run to its exit), the exit notification to the parent, and the
//! `count=thread` markers around a thread's exit.

#![deny(unsafe_code)]

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::{current, sched, schedule, task, threads, wake, wake_child_waiters, wake_events, TaskState};

/// Init is exiting: every other task is killed and runs to its own exit
/// (it may be asleep in a system call holding files and buffers, which
/// only its own exit path releases), so that all of them are zombies
/// before init goes back to the boot context, which reaps them.
pub(super) fn reap_others_for_init() {
    loop {
        let alive: Vec<u32> = sched().tasks.values().filter(|t| t.pid != 1 && t.state != TaskState::Zombie).map(|t| t.pid).collect();
        if alive.is_empty() {
            return;
        }
        printk!("init: killing {} remaining task(s) as init exits", alive.len());
        for &pid in &alive {
            if let Some(t) = task(pid) {
                t.pending_kill = Some(super::super::SIGKILL);
                t.ppid = 1;
            }
            wake(pid);
            let s = sched();
            if !s.runqueue.contains(&pid) {
                s.runqueue.push_back(pid);
            }
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
pub(super) fn process_exited(tgid: u32, status: i32) {
    use super::super::signal::{self, SigInfo, SA_NOCLDWAIT, SIGCHLD, SIG_IGN};
    let s = sched();
    let mut death_signals = Vec::new();
    for child in s.tasks.values_mut().filter(|t| t.ppid == tgid) {
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
    let s = sched();
    let Some(leader) = s.tasks.get_mut(&tgid) else { return };
    // The process's status: the group's if it ended together, else the
    // last thread's (as Linux reports it).
    let status = leader.signals.group_ref().group_exit.unwrap_or(status);
    leader.exit_status = Some(status);
    let (ppid, exit_signal) = (leader.ppid, leader.exit_signal);
    // Stats channel: a ProcessExit snapshot (and the reply for a process
    // it started) at the next safe point.
    super::super::notify::task_exit(tgid, status);
    let parent_ignores = task(ppid).is_some_and(|p| {
        let act = p.signals.action(SIGCHLD);
        act.handler == SIG_IGN || act.flags & SA_NOCLDWAIT != 0
    });
    if exit_signal == SIGCHLD as u32 && parent_ignores {
        sched().dead.push(tgid);
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

/// `count=thread`: the VMM counts the instructions of the second thread
/// creation (`kernel_clone` with `CLONE_THREAD`) and of the second exit
/// of a thread other than a leader, from `exit` until the next task runs
/// with the thread freed (its joiner woken on the way).
pub static COUNT_THREAD: AtomicBool = AtomicBool::new(false);
static THREAD_CREATES: AtomicU64 = AtomicU64::new(0);
static THREAD_EXITS: AtomicU64 = AtomicU64::new(0);
/// The thread whose exit is being counted (0: none).
pub(super) static COUNTED_EXIT: AtomicU64 = AtomicU64::new(0);

/// Whether this thread creation is the one `count=thread` counts.
pub fn count_thread_create() -> bool {
    COUNT_THREAD.load(Relaxed) && THREAD_CREATES.fetch_add(1, Relaxed) + 1 == 2
}

/// Marks the start of a thread's exit for `count=thread` (the end is
/// marked by [`finish_switch`] once the thread is freed).
pub fn count_thread_exit(tid: u32) {
    if COUNT_THREAD.load(Relaxed) && THREAD_EXITS.fetch_add(1, Relaxed) + 1 == 2 {
        COUNTED_EXIT.store(u64::from(tid), Relaxed);
        crate::arch::mark_begin(::shared::ports::MARK_THREAD_EXIT);
    }
}

/// Whether process `pid` has exited (a zombie whose threads are gone) or
/// is gone altogether: what makes its pidfd readable.
pub fn process_has_exited(pid: u32) -> bool {
    threads(pid).is_empty()
}
