//! Firing the process timers (Linux `kernel/time/itimer.c` and the expiry
//! side of `posix-timers.c`): when the scheduler's clock check finds a
//! deadline has come, the real-time timer of each process (`alarm`,
//! `setitimer(ITIMER_REAL)`) sends SIGALRM and the POSIX timers that are
//! due send their signals, to the process or to one thread. Each timer
//! notes its next expiry as a deadline, so the clock wakes for it.
//!
//! Above both the scheduler and signals: [`super::sched`] calls
//! [`run_timers`] through the hook it is registered with
//! (`sched::on_timer_expiry`).

#![deny(unsafe_code)]

use alloc::vec::Vec;

use super::sched::{self, note_deadline, TaskState};
use super::signal::{self, SigInfo, SI_KERNEL};

const SIGALRM: i32 = 14;

/// Fires every process timer due by `now` (uptime ns) and notes the next
/// expiry of each that stays armed.
pub fn run_timers(now: u64) {
    // A look that changes nothing first: it runs at every sleep's end, in
    // the timer interrupt, and most of the time no timer is due; then the
    // armed ones only need their expiry noted.
    let mut due = false;
    for t in sched::tasks().filter(|t| t.state != TaskState::Zombie) {
        let group = t.signals.group_ref();
        for at in group.timers.iter().map(|timer| timer.expires).chain([group.alarm_at]).filter(|&at| at != 0) {
            due |= at <= now;
            note_deadline(at);
        }
    }
    if !due {
        return;
    }
    let mut alarms: Vec<u32> = Vec::new();
    let mut fired = Vec::new();
    for pid in sched::pids() {
        let Some(t) = sched::task(pid).filter(|t| t.state != TaskState::Zombie) else { continue };
        let tgid = t.tgid;
        let group = t.signals.group();
        // POSIX timers, one set per process (its first live thread here
        // moves them on, so the others see them not due).
        for timer in &mut group.timers {
            if let Some(f) = timer.fire(now) {
                fired.push((tgid, f));
            }
            if timer.expires != 0 {
                note_deadline(timer.expires);
            }
        }
        // The real-time timer: SIGALRM when due, then again every period.
        if group.alarm_at != 0 && group.alarm_at <= now {
            group.alarm_at = if group.alarm_every == 0 { 0 } else { now.max(group.alarm_at.saturating_add(group.alarm_every)) };
            alarms.push(tgid);
        }
        if group.alarm_at != 0 {
            note_deadline(group.alarm_at);
        }
    }
    for tgid in alarms {
        signal::send_to_process(tgid, SIGALRM, SigInfo { code: SI_KERNEL, ..Default::default() });
    }
    for (tgid, (sig, tid, info)) in fired {
        match tid {
            Some(t) => signal::send_to_thread(t, sig, info),
            None => signal::send_to_process(tgid, sig, info),
        }
    }
}
