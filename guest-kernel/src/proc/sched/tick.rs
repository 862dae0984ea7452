//! The clock side of the scheduler: tick boundaries, the earliest
//! deadline, the one-shot LAPIC timer armed for whichever comes first, and
//! the flags that say a task's turn is over. It knows nothing of tasks;
//! the scheduler ([`super`]) wakes sleepers and preempts on what it says.

#![deny(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

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
pub(super) fn arm_timer(now: u64) {
    let at = NEXT_TICK_AT.load(Relaxed).min(NEXT_DEADLINE.load(Relaxed)).max(now + MIN_ARM_NS);
    ARMED_AT.store(at, Relaxed);
    crate::arch::apic::arm_timer(at - now);
}

/// Set by the timer tick: the running task's turn is over.
pub(super) static NEED_RESCHED: AtomicBool = AtomicBool::new(false);
/// When the running task's turn began (uptime, ns).
pub(super) static SLICE_START: AtomicU64 = AtomicU64::new(0);

/// A task's turn: one tick.
pub(super) const SLICE_NS: u64 = 1_000_000_000 / super::super::HZ;

/// How long the running task has had the CPU.
pub(super) fn slice_used() -> u64 {
    crate::time::uptime_ns().saturating_sub(SLICE_START.load(Relaxed))
}

/// Whether the earliest deadline has come by `now`. If it has, it is
/// cleared: the caller looks at every sleeper and timer and notes the
/// next one ([`note_deadline`]).
pub(super) fn deadline_due(now: u64) -> bool {
    if now < NEXT_DEADLINE.load(Relaxed) {
        return false;
    }
    NEXT_DEADLINE.store(u64::MAX, Relaxed);
    true
}

/// The timer fired at `now`: whether it is the tick (a boundary; an
/// interrupt a little early for it still counts). A tick is counted, ends
/// the running task's turn and moves the boundary on.
pub(super) fn account_tick(now: u64) -> bool {
    let tick = now + TICK_SLACK_NS >= NEXT_TICK_AT.load(Relaxed);
    if tick {
        TICKS.fetch_add(1, Relaxed);
        NEED_RESCHED.store(true, Relaxed);
        let next = NEXT_TICK_AT.load(Relaxed) + SLICE_NS;
        NEXT_TICK_AT.store(if next <= now { now + SLICE_NS } else { next }, Relaxed);
    }
    tick
}
