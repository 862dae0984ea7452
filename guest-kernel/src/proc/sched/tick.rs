//! The timer tick, deadlines and preemption: the one-shot LAPIC timer is
//! armed for the next tick boundary or the earliest sleep or timer
//! deadline, sleepers are woken when their time comes, and a task whose
//! turn is over gives up the CPU at the next safe point.

#![deny(unsafe_code)]

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::{current, sched, schedule, wake, TaskState};

/// Timer ticks (interrupts of the LAPIC timer) seen.
pub static TICKS: AtomicU64 = AtomicU64::new(0);
/// Whether a periodic timer runs (x2APIC available).
pub static TIMER: AtomicBool = AtomicBool::new(false);

/// The earliest time (uptime ns) a sleeper or a timer may be due: the
/// scheduler looks at the tasks only from then on (`u64::MAX`: nothing).
static NEXT_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Something is due at uptime `at` (a sleep's end, an `alarm`): the
/// timer fires for it if it would otherwise fire later.
pub fn note_deadline(at: u64) {
    NEXT_DEADLINE.fetch_min(at, Relaxed);
    if TIMER.load(Relaxed) && at < ARMED_AT.load(Relaxed) {
        arm_timer(crate::time::uptime_ns());
    }
}

/// Wakes sleepers whose time has come, and sends SIGALRM where a timer
/// is due; nothing to look at before [`NEXT_DEADLINE`].
pub(super) fn wake_sleepers() {
    let now = crate::time::uptime_ns();
    if now < NEXT_DEADLINE.load(Relaxed) {
        return;
    }
    // Looked at now; the next deadline is found on the way.
    NEXT_DEADLINE.store(u64::MAX, Relaxed);
    for t in sched().tasks.values_mut() {
        let until = match t.state {
            TaskState::SleepUntil(u) | TaskState::WaitEvent(u) | TaskState::Futex(u) => u,
            _ => u64::MAX,
        };
        if until > now {
            note_deadline(until);
        }
    }
    let due: Vec<u32> = sched()
        .tasks
        .values()
        .filter(|t| matches!(t.state, TaskState::SleepUntil(until) | TaskState::WaitEvent(until) | TaskState::Futex(until) if until <= now))
        .map(|t| t.pid)
        .collect();
    for pid in due {
        wake(pid);
    }
    // Real-time timers (`alarm`, `setitimer`), one per process: SIGALRM
    // when due, then again every period.
    let mut alarms: Vec<u32> = Vec::new();
    let mut fired = Vec::new();
    for t in sched().tasks.values_mut().filter(|t| t.state != TaskState::Zombie) {
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
        if group.alarm_at != 0 && group.alarm_at <= now {
            group.alarm_at = if group.alarm_every == 0 { 0 } else { now.max(group.alarm_at.saturating_add(group.alarm_every)) };
            alarms.push(tgid);
        }
        if group.alarm_at != 0 {
            note_deadline(group.alarm_at);
        }
    }
    for tgid in alarms {
        let info = super::super::signal::SigInfo { code: super::super::signal::SI_KERNEL, ..Default::default() };
        super::super::signal::send_to_process(tgid, SIGALRM as i32, info);
    }
    for (tgid, f) in fired {
        super::super::timer::deliver(tgid, f);
    }
}

const SIGALRM: usize = 14;

/// An external interrupt (from user mode or the idle halt); whether it
/// was the timer's tick.
///
/// The timer is one-shot: it fires at the next tick boundary (every
/// `SLICE_NS`) or at the earliest sleep or timer deadline, whichever is
/// first, so sleeps end at their deadline rather than at the next tick.
/// Only the boundaries count as ticks (`TICKS`, CPU time, preemption).
pub fn interrupt(vector: u64) -> bool {
    if vector != crate::arch::apic::TIMER_VECTOR {
        crate::arch::apic::eoi();
        return false;
    }
    crate::arch::apic::eoi();
    let now = crate::time::uptime_ns();
    // An interrupt a little early for the boundary still is the tick.
    let tick = now + TICK_SLACK_NS >= NEXT_TICK_AT.load(Relaxed);
    if tick {
        TICKS.fetch_add(1, Relaxed);
        NEED_RESCHED.store(true, Relaxed);
        let next = NEXT_TICK_AT.load(Relaxed) + SLICE_NS;
        NEXT_TICK_AT.store(if next <= now { now + SLICE_NS } else { next }, Relaxed);
        // Stats channel: only flags due work (periodic snapshot, host
        // command); it is done at the next safe point, never here.
        super::super::notify::tick();
    }
    wake_sleepers();
    arm_timer(now);
    tick
}

/// For the kernel's interrupt hook (the idle halt), which has no use for
/// the result.
pub fn kernel_interrupt(vector: u64) {
    interrupt(vector);
}

/// The next tick boundary (uptime ns).
static NEXT_TICK_AT: AtomicU64 = AtomicU64::new(0);
/// When the one-shot timer fires next (uptime ns).
static ARMED_AT: AtomicU64 = AtomicU64::new(u64::MAX);
/// How early an interrupt may come and still count as the tick.
const TICK_SLACK_NS: u64 = 100_000;
/// The shortest wait the timer is armed for (a deadline already past
/// fires this soon).
const MIN_ARM_NS: u64 = 20_000;

/// Starts the tick (and with it preemption and timed sleeps); whether
/// the platform has the timer.
pub fn start_timer() -> bool {
    let now = crate::time::uptime_ns();
    NEXT_TICK_AT.store(now + SLICE_NS, Relaxed);
    ARMED_AT.store(now + SLICE_NS, Relaxed);
    if crate::arch::apic::start_timer(SLICE_NS) {
        TIMER.store(true, Relaxed);
        true
    } else {
        false
    }
}

/// Arms the timer for the next tick boundary or deadline after `now`.
fn arm_timer(now: u64) {
    let at = NEXT_TICK_AT.load(Relaxed).min(NEXT_DEADLINE.load(Relaxed)).max(now + MIN_ARM_NS);
    ARMED_AT.store(at, Relaxed);
    crate::arch::apic::arm_timer(at - now);
}

/// Set by the timer tick: the running task's turn is over.
pub(super) static NEED_RESCHED: AtomicBool = AtomicBool::new(false);
/// When the running task's turn began (uptime, ns).
pub(super) static SLICE_START: AtomicU64 = AtomicU64::new(0);

/// A task's turn: one tick.
const SLICE_NS: u64 = 1_000_000_000 / super::super::HZ;

/// How long the running task has had the CPU.
fn slice_used() -> u64 {
    crate::time::uptime_ns().saturating_sub(SLICE_START.load(Relaxed))
}

/// The tick arrived while the task ran in user mode: its turn is over,
/// unless the turn began less than half a tick ago (the tick was left
/// pending while the kernel ran with interrupts off, and belongs to the
/// task before). Without this, a task switched to from a long system call
/// would lose its turn to that stale tick the moment it entered user mode.
pub fn preempt_tick() {
    if slice_used() >= SLICE_NS / 2 {
        schedule();
    }
}

/// A preemption point for kernel loops whose length the user chooses
/// (Linux `cond_resched`): lets a pending tick in and, if the task's turn
/// is over, gives the CPU to the next task. The caller holds no lock.
/// Returns whether a fatal signal now waits for the task (Linux
/// `fatal_signal_pending`): the loop should stop early.
pub fn cond_resched() -> bool {
    if !TIMER.load(Relaxed) {
        return false;
    }
    // A tick that is due is taken here where the platform delivers it in
    // so short a window; the clock decides either way (kvm_pvm's emulated
    // ring 0 may not deliver it there).
    crate::arch::cpu::irq_window();
    if (NEED_RESCHED.load(Relaxed) || slice_used() >= SLICE_NS) && current().is_some() {
        schedule();
    }
    current().is_some_and(|t| t.pending_kill.is_some())
}
