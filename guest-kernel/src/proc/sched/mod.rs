//! The task table and a round-robin scheduler for the one CPU.
//!
//! Tasks switch on their own kernel stacks (`switch_stack`); the kernel
//! itself is not preemptible and runs with interrupts off, so a task gives
//! up the CPU only in [`schedule`]: when it blocks (`wait4`, `nanosleep`),
//! exits, yields, or when the timer tick arrives while it runs in user
//! mode. With nothing runnable the CPU halts with interrupts on until a tick
//! wakes a sleeper. The boot context is where init is started from and
//! where the machine returns when init exits.
//!
//! The one module of `proc` with `unsafe` code (in this file; the timer
//! tick is in [`tick`], the end of a process in [`exit`]): the task table lives in a
//! cell that only this CPU, with interrupts off, touches; `current()` hands
//! out the running task from a pointer kept beside it; and a context switch
//! moves the stack pointer to another task's kernel stack. Each block says
//! why it holds.
#![allow(unsafe_code)]

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{Task, TaskBox};
use crate::arch::user;

mod tick;

pub use tick::{note_deadline, start_timer, TICKS, TIMER};
use tick::{NEED_RESCHED, SLICE_NS, SLICE_START};

/// What a task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Runnable,
    /// In `wait4`, until a child changes state.
    WaitChild,
    /// In `nanosleep`, until the uptime in ns.
    SleepUntil(u64),
    /// Until a pipe changes (data, room, an end closed: [`wake_events`]),
    /// or the uptime in ns as a backstop.
    WaitEvent(u64),
    /// On a futex, until woken (`FUTEX_WAKE`, a signal) or the uptime in
    /// ns (`u64::MAX`: no timeout).
    Futex(u64),
    /// Stopped by a stop signal until SIGCONT (or SIGKILL).
    Stopped,
    /// Exited, waiting for its parent to reap it.
    Zombie,
}

struct Sched {
    tasks: BTreeMap<u32, TaskBox>,
    runqueue: VecDeque<u32>,
    /// The running task's pid; 0 in the boot context.
    current: u32,
    /// The running task itself (its box in `tasks`, which does not move),
    /// so that `current()` costs a load instead of a tree search on every
    /// system call and fault, as Linux's per-CPU `current` does. Kept in
    /// step with `current` and `tasks` by [`Sched::set_current`] and the
    /// removals.
    current_task: Option<NonNull<Task>>,
    boot_rsp: u64,
    /// Tasks that exited and nobody waits for (threads, children of a
    /// parent that ignores SIGCHLD): freed by the next task to run, once
    /// the CPU is off their kernel stacks (Linux `finish_task_switch`).
    dead: Vec<u32>,
}

impl Sched {
    fn set_current(&mut self, pid: u32) {
        self.current = pid;
        self.current_task = self.tasks.get_mut(&pid).map(|b| NonNull::from(&mut **b));
    }
}

struct SchedCell(UnsafeCell<Sched>);
// SAFETY: one CPU; the kernel runs with interrupts off except in the idle halt, where the interrupt handler is the only other user (see `idle`).
unsafe impl Sync for SchedCell {}

static SCHED: SchedCell =
    SchedCell(UnsafeCell::new(Sched { tasks: BTreeMap::new(), runqueue: VecDeque::new(), current: 0, current_task: None, boot_rsp: 0, dead: Vec::new() }));

/// Context switches.
pub static NR_SWITCHES: AtomicU64 = AtomicU64::new(0);

#[allow(clippy::mut_from_ref)]
fn sched() -> &'static mut Sched {
    // SAFETY: see `SchedCell`: callers do not keep this across a switch or the idle halt.
    unsafe { &mut *SCHED.0.get() }
}

/// The running task. The kernel is not preemptible and has one CPU, so the
/// reference is unique while the caller uses it; callers must not hold it
/// across a call that may reach `current()` again (the fault hook does) or
/// across `schedule`.
pub fn current() -> Option<&'static mut Task> {
    // SAFETY: `current_task` points into the box of a task in the table (cleared when that task leaves it); uniqueness as for `sched()`.
    sched().current_task.map(|mut t| unsafe { t.as_mut() })
}

/// Any task by pid.
pub fn task(pid: u32) -> Option<&'static mut Task> {
    sched().tasks.get_mut(&pid).map(|b| &mut **b)
}

/// Every task's pid.
pub fn pids() -> Vec<u32> {
    sched().tasks.keys().copied().collect()
}

/// Every task, in pid order (for a look over all of them that changes
/// nothing; [`pids`] to act on them).
pub fn tasks() -> impl Iterator<Item = &'static Task> {
    sched().tasks.values().map(|t| &**t)
}

/// Tasks in the table, threads included (what `threads-max` counts).
pub fn nr_tasks() -> usize {
    sched().tasks.len()
}

/// Tasks whose real user is `uid`, threads included (what
/// `RLIMIT_NPROC` counts).
pub fn nr_tasks_of(uid: u32) -> usize {
    sched().tasks.values().filter(|t| t.cred.uid == uid).count()
}

/// The pids of process `ppid`'s children (processes, not threads).
pub fn children(ppid: u32) -> Vec<u32> {
    sched().tasks.values().filter(|t| t.ppid == ppid && t.is_leader()).map(|t| t.pid).collect()
}

/// The live (not exited) threads of process `tgid`, leader first.
pub fn threads(tgid: u32) -> Vec<u32> {
    sched().tasks.values().filter(|t| t.tgid == tgid && t.state != TaskState::Zombie).map(|t| t.pid).collect()
}

/// Every thread of process `tgid`, exited ones included (`/proc/PID/task`).
pub fn all_threads(tgid: u32) -> Vec<u32> {
    sched().tasks.values().filter(|t| t.tgid == tgid).map(|t| t.pid).collect()
}

/// Every process (its leader's pid; `/proc`).
pub fn processes() -> Vec<u32> {
    sched().tasks.values().filter(|t| t.is_leader()).map(|t| t.pid).collect()
}

/// Makes `task` the running task before it first runs (exec needs it
/// current to fault in its stack).
pub fn install_current(task: TaskBox) {
    let s = sched();
    let pid = task.pid;
    s.tasks.insert(pid, task);
    s.set_current(pid);
}

/// Back to the boot context as the current one (init's exec failed and
/// its task is gone).
pub fn forget_current() {
    sched().set_current(0);
}

/// Adds a new runnable task (fork).
pub fn add(task: TaskBox) {
    let s = sched();
    let pid = task.pid;
    s.runqueue.push_back(pid);
    s.tasks.insert(pid, task);
    if pid == s.current {
        s.set_current(pid);
    }
}

/// Removes a task from the table (it must not be running).
pub fn take(pid: u32) -> Option<TaskBox> {
    let s = sched();
    s.runqueue.retain(|&p| p != pid);
    if pid == s.current {
        s.current_task = None;
    }
    s.tasks.remove(&pid)
}

/// Removes every task (init has exited).
pub fn take_all() -> Vec<TaskBox> {
    let s = sched();
    // Drop the queue's buffer too: the leak check's baseline had none.
    s.runqueue = VecDeque::new();
    s.dead = Vec::new();
    s.current_task = None;
    core::mem::take(&mut s.tasks).into_values().collect()
}

/// A task's kernel stack (from vmalloc, as Linux's `VMAP_STACK`, with a
/// guard page below it), freed when dropped.
pub struct KernelStack {
    base: crate::mm::addr::VirtAddr,
}

/// Freed kernel stacks kept for the next task (Linux `cached_stacks`, two
/// per CPU): creating a thread or a process then costs no vmalloc and no
/// page-table work, and an exit no `vfree`. Emptied before the leak check
/// ([`free_cached_stacks`]).
const NR_CACHED_STACKS: usize = 2;
static CACHED_STACKS: crate::sync::SpinLock<[Option<crate::mm::addr::VirtAddr>; NR_CACHED_STACKS]> = crate::sync::SpinLock::new([None; NR_CACHED_STACKS]);

/// Gives the cached kernel stacks back to vmalloc.
pub fn free_cached_stacks() {
    let stacks = core::mem::take(&mut *CACHED_STACKS.lock());
    for base in stacks.into_iter().flatten() {
        crate::mm::vmalloc::vfree(base);
    }
}

impl KernelStack {
    /// A stack (a cached one if there is one), and the saved context its
    /// task's first switch resumes: a call of `entry`, which never
    /// returns.
    pub fn new(entry: extern "C" fn(u64) -> !) -> Option<(Self, u64)> {
        let cached = CACHED_STACKS.lock().iter_mut().find_map(Option::take);
        let base = match cached {
            Some(base) => base,
            None => crate::mm::vmalloc::__vmalloc(super::THREAD_SIZE, crate::mm::gfp::GFP_KERNEL, "kernel_stack")?,
        };
        // SAFETY: a fresh stack nothing else uses, owned by the returned value (as long-lived as its task); the context is only resumed by `switch_to` or `run_first`.
        let context = unsafe { user::init_thread_stack(base.as_u64() + super::THREAD_SIZE, entry, 0) };
        Some((Self { base }, context))
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        let mut cache = CACHED_STACKS.lock();
        match cache.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(self.base),
            None => {
                drop(cache);
                crate::mm::vmalloc::vfree(self.base);
            }
        }
    }
}

/// Starts the installed current task from the boot context and returns
/// when it exits (init).
pub fn run_first(pid: u32) {
    if let Some(t) = task(pid) {
        activate(t);
        let rsp = t.kernel_rsp;
        let s = sched();
        // SAFETY: `rsp` was prepared by init_thread_stack; the boot context is saved in `boot_rsp` and resumed by `return_to_boot` for init.
        unsafe { user::switch_stack(&mut s.boot_rsp, rsp) };
    }
    sched().set_current(0);
}

/// Loads a task's address space and TLS base.
fn activate(t: &Task) {
    match &t.mm {
        Some(mm) => mm.pt.activate(),
        None => crate::mm::user_mem::activate_kernel_tables(),
    }
    user::write_fs_base(t.fs_base);
}

/// Reloads the running task's page tables (after the kernel borrowed its
/// own to free another task's).
pub fn reload_cr3() {
    if let Some(t) = current() {
        activate(t);
    }
}

/// Runs `f` with task `pid` as the current task and its address space
/// loaded, then makes the previous current task current again (with its
/// address space). For the kernel preparing a task from outside it (exec
/// of a process the stats channel starts: page faults while building its
/// stack resolve against the current task).
pub fn with_current<R>(pid: u32, f: impl FnOnce() -> R) -> R {
    let prev = sched().current;
    sched().set_current(pid);
    if let Some(t) = task(pid) {
        activate(t);
    }
    let r = f();
    sched().set_current(prev);
    match task(prev) {
        Some(t) => activate(t),
        None => crate::mm::user_mem::activate_kernel_tables(),
    }
    r
}

/// Makes a stopped task run again (SIGCONT).
pub fn resume(pid: u32) {
    let s = sched();
    if let Some(t) = s.tasks.get_mut(&pid).filter(|t| t.state == TaskState::Stopped) {
        t.state = TaskState::Runnable;
        s.runqueue.push_back(pid);
    }
}

/// Makes a sleeping task runnable; a stopped one too if it is being
/// killed.
pub fn wake(pid: u32) {
    let s = sched();
    if let Some(t) = s.tasks.get_mut(&pid) {
        let killed_while_stopped = t.state == TaskState::Stopped && t.pending_kill.is_some();
        if killed_while_stopped || matches!(t.state, TaskState::WaitChild | TaskState::SleepUntil(_) | TaskState::WaitEvent(_) | TaskState::Futex(_)) {
            t.state = TaskState::Runnable;
            s.runqueue.push_back(pid);
        }
    }
}

/// Wakes the threads of process `tgid` that wait for a child (`wait4`,
/// `waitid`, a vfork parent).
pub fn wake_child_waiters(tgid: u32) {
    for tid in threads(tgid) {
        if task(tid).is_some_and(|t| t.state == TaskState::WaitChild) {
            wake(tid);
        }
    }
}

/// Sleeps until [`wake_events`] (or the uptime `until`): the wait queue of
/// the pipes, one for all (a waker that is not the one waited for costs a
/// look, not a lost wake-up).
pub fn wait_event(until: u64) {
    if let Some(t) = current() {
        t.state = TaskState::WaitEvent(until);
    }
    schedule();
}

/// Wakes every task in [`wait_event`] (a pipe gained data or room, or lost
/// an end).
pub fn wake_events() {
    let s = sched();
    for t in s.tasks.values_mut() {
        if matches!(t.state, TaskState::WaitEvent(_)) {
            t.state = TaskState::Runnable;
            s.runqueue.push_back(t.pid);
        }
    }
}

/// What runs when a deadline has come, after the sleepers are woken: the
/// process timers (`alarm`, `setitimer`, POSIX timers), which send
/// signals, a layer above the scheduler that registers itself here.
static TIMER_EXPIRY: crate::sync::Once<fn(u64)> = crate::sync::Once::new();

/// Registers what fires the process timers (see [`TIMER_EXPIRY`]).
pub fn on_timer_expiry(run: fn(u64)) {
    let _ = TIMER_EXPIRY.set(run);
}

/// Wakes sleepers whose time has come and fires the timers that are due;
/// nothing to look at before the earliest deadline.
fn wake_sleepers() {
    let now = crate::time::uptime_ns();
    if !tick::deadline_due(now) {
        return;
    }
    // Looked at now; the next deadline is found on the way.
    let s = sched();
    for t in s.tasks.values_mut() {
        match t.state {
            TaskState::SleepUntil(until) | TaskState::WaitEvent(until) | TaskState::Futex(until) if until <= now => {
                t.state = TaskState::Runnable;
                s.runqueue.push_back(t.pid);
            }
            TaskState::SleepUntil(until) | TaskState::WaitEvent(until) | TaskState::Futex(until) => note_deadline(until),
            _ => {}
        }
    }
    if let Some(run) = TIMER_EXPIRY.get() {
        run(now);
    }
}

/// An external interrupt (from user mode or the idle halt); whether it
/// was the timer's tick.
///
/// The timer is one-shot: it fires at the next tick boundary (every
/// `SLICE_NS`) or at the earliest sleep or timer deadline, whichever is
/// first, so sleeps end at their deadline rather than at the next tick.
/// Only the boundaries count as ticks (`TICKS`, CPU time, preemption).
pub fn interrupt(vector: u64) -> bool {
    crate::arch::apic::eoi();
    if vector != crate::arch::apic::TIMER_VECTOR {
        return false;
    }
    let now = crate::time::uptime_ns();
    let tick = tick::account_tick(now);
    if tick {
        // Stats channel: only flags due work (periodic snapshot, host
        // command); it is done at the next safe point, never here.
        super::notify::tick();
    }
    wake_sleepers();
    tick::arm_timer(now);
    tick
}

/// For the kernel's interrupt hook (the idle halt), which has no use for
/// the result.
pub fn kernel_interrupt(vector: u64) {
    interrupt(vector);
}

/// The tick arrived while the task ran in user mode: its turn is over,
/// unless the turn began less than half a tick ago (the tick was left
/// pending while the kernel ran with interrupts off, and belongs to the
/// task before). Without this, a task switched to from a long system call
/// would lose its turn to that stale tick the moment it entered user mode.
pub fn preempt_tick() {
    if tick::slice_used() >= SLICE_NS / 2 {
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
    if (NEED_RESCHED.load(Relaxed) || tick::slice_used() >= SLICE_NS) && current().is_some() {
        schedule();
    }
    current().is_some_and(|t| t.pending_kill.is_some())
}

/// Gives the CPU to the next runnable task (round robin); returns when the
/// current task is chosen again. A task that is not runnable (sleeping,
/// zombie) is not queued again until woken.
pub fn schedule() {
    NEED_RESCHED.store(false, Relaxed);
    SLICE_START.store(crate::time::uptime_ns(), Relaxed);
    let s = sched();
    let prev = s.current;
    // A task going to sleep until a time: the scheduler looks again then.
    if let Some(TaskState::SleepUntil(u) | TaskState::WaitEvent(u) | TaskState::Futex(u)) = s.tasks.get(&prev).map(|t| t.state) {
        note_deadline(u);
    }
    if s.tasks.get(&prev).is_some_and(|t| t.state == TaskState::Runnable) && !s.runqueue.contains(&prev) {
        s.runqueue.push_back(prev);
    }
    let next = loop {
        wake_sleepers();
        let s = sched();
        match s.runqueue.pop_front() {
            Some(pid) if s.tasks.get(&pid).is_some_and(|t| t.state == TaskState::Runnable) => break pid,
            Some(_) => continue,
            None => idle(),
        }
    };
    if next == prev {
        return;
    }
    switch_to(prev, next);
}

/// Nothing to run: halt until an interrupt (the tick) arrives. Without a
/// timer a sleeper can only be woken by time passing, so spin instead.
fn idle() {
    // Stats channel: a safe point (not in an interrupt handler); after
    // doing its work, go round the scheduler loop again (it may have
    // started a process) instead of halting.
    if super::notify::pending() {
        super::notify::run_pending();
        return;
    }
    if TIMER.load(Relaxed) {
        user::wait_for_interrupt();
    } else {
        core::hint::spin_loop();
    }
}

fn switch_to(prev: u32, next: u32) {
    NR_SWITCHES.fetch_add(1, Relaxed);
    super::count::switch_begin();
    let s = sched();
    s.set_current(next);
    let Some(n) = s.tasks.get(&next) else { return };
    activate(n);
    let new_rsp = n.kernel_rsp;
    let save: *mut u64 = match s.tasks.get_mut(&prev) {
        Some(p) => {
            super::fpu::switch_out(p);
            &mut p.kernel_rsp
        }
        None => &mut s.boot_rsp,
    };
    // SAFETY: `new_rsp` is a context saved by switch_stack or prepared by init_thread_stack, on a kernel stack that lives as long as its task; `save` points into the previous task's (boxed, so stable) Task.
    unsafe { user::switch_stack(save, new_rsp) };
    finish_switch();
}

/// Takes the exited task off the CPU for good (after [`crate::proc::exit`]
/// has told whom it must): the next task runs; the exited one is freed
/// once the CPU has left its stack.
pub fn schedule_dead() -> ! {
    schedule();
    unreachable!("a zombie was scheduled");
}

/// Init has exited and everything else is gone: back to the boot
/// context, which powers off.
pub fn return_to_boot() -> ! {
    let s = sched();
    let mut dead = 0;
    // SAFETY: the boot context was saved by `run_first`.
    unsafe { user::switch_stack(&mut dead, s.boot_rsp) };
    unreachable!("init was resumed after exiting");
}

/// Frees `pid` (an exited task nobody waits for) once the CPU is off its
/// kernel stack (Linux `finish_task_switch`).
pub fn free_when_switched(pid: u32) {
    sched().dead.push(pid);
}

/// Puts `pid` on the run queue if it is not on it (a task that must run
/// to its exit, whatever it waits for).
pub fn enqueue(pid: u32) {
    let s = sched();
    if !s.runqueue.contains(&pid) {
        s.runqueue.push_back(pid);
    }
}

/// Whether process `pid` has exited (a zombie whose threads are gone) or
/// is gone altogether: what makes its pidfd readable.
pub fn process_has_exited(pid: u32) -> bool {
    threads(pid).is_empty()
}

/// `execve` by a thread other than the leader, once the others are gone
/// (Linux `de_thread`): the old leader (a zombie now) is freed and the
/// thread takes its pid, the process's.
/// `default_exit_signal` is what the parent is told when the old leader
/// is gone already.
pub fn exec_become_leader(tid: u32, tgid: u32, default_exit_signal: u32) {
    // The parent is told of the process's end as it asked when it made
    // the process, not as a thread would be (never).
    let mut exit_signal = default_exit_signal;
    if let Some(old) = take(tgid) {
        exit_signal = old.exit_signal;
        super::free_task(old);
    }
    let s = sched();
    let Some(mut me) = s.tasks.remove(&tid) else { return };
    me.pid = tgid;
    me.exit_signal = exit_signal;
    s.tasks.insert(tgid, me);
    for p in s.runqueue.iter_mut().filter(|p| **p == tid) {
        *p = tgid;
    }
    if s.current == tid {
        s.set_current(tgid);
    }
}

/// After a switch, on the new task's stack: frees the tasks that exited
/// with nobody to reap them (Linux `finish_task_switch` dropping a dead
/// task's stack).
pub fn finish_switch() {
    super::count::switch_end();
    let s = sched();
    if s.dead.is_empty() {
        return;
    }
    let current = s.current;
    let (gone, keep): (Vec<u32>, Vec<u32>) = core::mem::take(&mut s.dead).into_iter().partition(|&p| p != current);
    sched().dead = keep;
    for pid in gone {
        if let Some(t) = take(pid) {
            super::free_task(t);
        }
        super::count::thread_freed(pid);
    }
}
