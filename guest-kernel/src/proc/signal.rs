//! Signals (Linux `kernel/signal.c`): dispositions and the blocked mask
//! (`sighand_struct`, `task_struct::blocked`), inherited by `fork` and
//! reset by `execve` as `flush_signal_handlers` does; the pending set with
//! what each signal carries; the alternate stack. Delivery, on the way
//! back to user mode, and `rt_sigreturn` are in [`frame`].
//!
//! A signal sent to a task that ignores it and does not block it is
//! discarded (Linux `sig_ignored`). Standard signals do not queue: one
//! pending instance of each. Stop signals have no job control to act on:
//! their default action does nothing here (a handler still runs).

use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::shared::Shared;

pub mod frame;
pub mod jobctl;
pub mod send;
pub mod siginfo;

pub use send::{kill_process, send_to_process, send_to_thread};
pub use siginfo::*;

/// The x86-64 `struct sigaction` of `rt_sigaction` (kernel layout).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct KSigaction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `sigaltstack` flags.
pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
pub const SS_AUTODISARM: i32 = 1 << 31;
/// Linux's `MINSIGSTKSZ` on x86-64.
pub const MINSIGSTKSZ: u64 = 2048;

/// The alternate signal stack (`stack_t`, kernel layout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct StackT {
    pub ss_sp: u64,
    pub ss_flags: i32,
    pub pad: u32,
    pub ss_size: u64,
}

/// Pending signals, with what each carries (Linux `struct sigpending`).
/// Standard signals do not queue: one pending instance of each. What they
/// carry is kept only while they are pending (Linux allocates a
/// `sigqueue` each), so an idle queue is two words and a task or process
/// is small to create; should that allocation fail, the signal is still
/// pending and arrives with an empty `siginfo`, as Linux delivers a
/// standard signal whose `sigqueue` could not be allocated.
#[derive(Clone)]
struct SigQueue {
    set: u64,
    info: alloc::vec::Vec<(u8, SigInfo)>,
}

impl SigQueue {
    const fn new() -> Self {
        Self { set: 0, info: alloc::vec::Vec::new() }
    }

    fn add(&mut self, sig: usize, info: SigInfo) {
        if self.set & sigmask(sig) == 0 {
            self.set |= sigmask(sig);
            self.keep(sig, info);
        }
    }

    /// Makes `sig` pending with `info`, replacing what it carried.
    fn force(&mut self, sig: usize, info: SigInfo) {
        self.set |= sigmask(sig);
        self.info.retain(|&(s, _)| usize::from(s) != sig);
        self.keep(sig, info);
    }

    fn keep(&mut self, sig: usize, info: SigInfo) {
        if self.info.try_reserve(1).is_ok() {
            self.info.push((sig as u8, info));
        }
    }

    /// Takes the lowest signal of `ready` that is pending here.
    fn take(&mut self, ready: u64) -> Option<(usize, SigInfo)> {
        let here = self.set & ready;
        if here == 0 {
            return None;
        }
        let sig = here.trailing_zeros() as usize + 1;
        self.set &= !sigmask(sig);
        let info = match self.info.iter().position(|&(s, _)| usize::from(s) == sig) {
            Some(i) => self.info.swap_remove(i).1,
            None => SigInfo::default(),
        };
        Some((sig, info))
    }

    /// Marks `sig` stale if what it carries is `matches`'s (a deleted
    /// POSIX timer's pending signal).
    fn mark_stale(&mut self, sig: usize, matches: impl Fn(&SigInfo) -> bool) {
        if self.set & sigmask(sig) == 0 {
            return;
        }
        if let Some((_, info)) = self.info.iter_mut().find(|(s, info)| usize::from(*s) == sig && matches(info)) {
            info.stale = true;
        }
    }

    /// Discards the pending signals of `mask`.
    fn clear(&mut self, mask: u64) {
        self.set &= !mask;
        if !self.info.is_empty() {
            self.info.retain(|&(s, _)| sigmask(usize::from(s)) & mask == 0);
        }
    }
}

/// The dispositions (Linux `sighand_struct`): shared by `CLONE_SIGHAND`,
/// so by every thread of a process.
#[derive(Clone)]
pub struct SigHand {
    action: [KSigaction; NSIG],
}

impl SigHand {
    pub const fn new() -> Self {
        Self { action: [KSigaction { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 }; NSIG] }
    }
}

impl Default for SigHand {
    fn default() -> Self {
        Self::new()
    }
}

/// What the threads of a process share besides the dispositions (Linux
/// `signal_struct`): signals sent to the process rather than to one of
/// its threads, the real-time interval timer, how the group is ending,
/// and the resource limits. A fork child gets a fresh one: nothing
/// pending, no timer, the parent's limits.
pub struct SignalStruct {
    pub rlim: super::rlimit::RLimits,
    shared_pending: SigQueue,
    /// `alarm`/`setitimer(ITIMER_REAL)`: when SIGALRM is due (uptime ns;
    /// 0: none) and its period (0: once).
    pub alarm_at: u64,
    pub alarm_every: u64,
    /// `timer_create`'s timers.
    pub timers: alloc::vec::Vec<super::timer::PosixTimer>,
    /// Set by `exit_group` or a fatal signal: the wait status of the whole
    /// process (Linux `group_exit_code` with `SIGNAL_GROUP_EXIT`).
    pub group_exit: Option<i32>,
    /// Job control: the process is stopped; a stop (its signal) or a
    /// continue not yet reported to a `wait` with `WUNTRACED` or
    /// `WCONTINUED`.
    pub stopped: bool,
    pub stop_report: Option<i32>,
    pub continued_report: bool,
    /// A thread in `execve` that is ending the others (Linux
    /// `group_exec_task`; 0: none): they die without ending the process.
    pub group_exec_task: u32,
    /// Resource usage (Linux `signal_struct`'s `utime`, `min_flt`,
    /// `maxrss` and the `c*` sums of reaped children): see [`Usage`].
    pub usage: Usage,
}

/// What `getrusage` and `times` report: CPU time in ticks, minor faults,
/// the largest RSS in pages. In [`SignalStruct`]: `own` holds the
/// process's exited threads (time) and all its faults and RSS peaks;
/// `children` the sums of its reaped children.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub own: Counts,
    pub children: Counts,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub utime: u64,
    pub stime: u64,
    pub minflt: u64,
    pub maxrss: u64,
}
impl SignalStruct {
    pub const fn new(rlim: super::rlimit::RLimits) -> Self {
        Self {
            rlim,
            shared_pending: SigQueue::new(),
            alarm_at: 0,
            alarm_every: 0,
            timers: alloc::vec::Vec::new(),
            stopped: false,
            stop_report: None,
            continued_report: false,
            group_exit: None,
            group_exec_task: 0,
            usage: Usage { own: Counts { utime: 0, stime: 0, minflt: 0, maxrss: 0 }, children: Counts { utime: 0, stime: 0, minflt: 0, maxrss: 0 } },
        }
    }
}

/// A thread's signal state: its own mask, pending set and alternate
/// stack, and handles of what it shares with its process.
pub struct SignalState {
    hand: Shared<SigHand>,
    group: Shared<SignalStruct>,
    /// Blocked signals (bit `sig - 1`).
    pub blocked: u64,
    /// Signals sent to this thread (`tgkill`, faults).
    pending: SigQueue,
    /// `sigaltstack`: where handlers with `SA_ONSTACK` run (`ss_size` 0:
    /// none).
    pub altstack: StackT,
    /// `rt_sigsuspend`: the mask to put back once a handler has run (in
    /// its frame) or, with none run, at once (Linux `saved_sigmask`).
    pub saved_mask: Option<u64>,
}

/// Signals whose default action is to do nothing (SIGCHLD, SIGCONT,
/// SIGURG, SIGWINCH).
const DEFAULT_IGNORED: u64 = sigmask(17) | sigmask(18) | sigmask(23) | sigmask(28);

/// The slab caches of the shared parts (`proc_caches_init` creates them).
pub static SIGHAND_CACHEP: crate::sync::Once<&'static crate::mm::slab::KmemCache> = crate::sync::Once::new();
pub static SIGNAL_CACHEP: crate::sync::Once<&'static crate::mm::slab::KmemCache> = crate::sync::Once::new();

impl SignalState {
    /// A first process's state: default dispositions, nothing blocked or
    /// pending. `None` when out of memory.
    pub fn new() -> Option<Self> {
        let hand = Shared::new(*SIGHAND_CACHEP.get()?, SigHand::new())?;
        let group = Shared::new(*SIGNAL_CACHEP.get()?, SignalStruct::new(super::rlimit::defaults()))?;
        Some(Self::with(hand, group, 0, StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 }))
    }

    fn with(hand: Shared<SigHand>, group: Shared<SignalStruct>, blocked: u64, altstack: StackT) -> Self {
        Self { hand, group, blocked, pending: SigQueue::new(), altstack, saved_mask: None }
    }

    /// A new task's state (Linux `copy_sighand`, `copy_signal`): the
    /// dispositions shared with `share_handlers` (`CLONE_SIGHAND`), else
    /// copied; the process's part shared with `same_process`
    /// (`CLONE_THREAD`), else fresh; the mask inherited; nothing pending.
    /// The alternate stack is inherited unless the child shares the memory
    /// without being a vfork child, whose stack it would be on.
    pub fn clone_for(&self, share_handlers: bool, same_process: bool, new_stack: bool) -> Option<Self> {
        let hand = if share_handlers { self.hand.clone() } else { self.hand.copy()? };
        let group = if same_process { self.group.clone() } else { Shared::new(*SIGNAL_CACHEP.get()?, SignalStruct::new(self.group.rlim))? };
        let altstack = if new_stack { StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 } } else { self.altstack };
        Some(Self::with(hand, group, self.blocked, altstack))
    }

    /// The process's shared part.
    pub fn group(&mut self) -> &mut SignalStruct {
        &mut self.group
    }

    /// The process's shared part, to read.
    pub fn group_ref(&self) -> &SignalStruct {
        &self.group
    }

    /// Whether `other` belongs to the same process (shares the shared
    /// part).
    pub fn same_group(&self, other: &SignalState) -> bool {
        Shared::ptr_eq(&self.group, &other.group)
    }

    /// Pending signals, the thread's and the process's (`rt_sigpending`
    /// reports those also blocked).
    /// The thread's own pending signals (`SigPnd`); [`Self::pending`] adds
    /// the process's.
    pub fn thread_pending(&self) -> u64 {
        self.pending.set
    }

    /// The process's shared pending signals (`ShdPnd`).
    pub fn shared_pending(&self) -> u64 {
        self.group_ref().shared_pending.set
    }

    /// A POSIX timer is deleted: its signal, if pending, stays pending but
    /// will be dropped rather than delivered (Linux 6.13+
    /// `posixtimer_deliver_signal`).
    pub fn discard_timer_signal(&mut self, sig: usize, timer: i32) {
        let ours = |info: &SigInfo| info.code == SI_TIMER && info.pid == timer as u32;
        self.pending.mark_stale(sig, ours);
        self.group().shared_pending.mark_stale(sig, ours);
    }

    /// The signals ignored and those with a handler (`SigIgn`, `SigCgt`).
    pub fn ignored_and_caught(&self) -> (u64, u64) {
        (1..=NSIG).fold((0, 0), |(ign, cgt), sig| match self.action(sig).handler {
            SIG_IGN => (ign | sigmask(sig), cgt),
            SIG_DFL => (ign, cgt),
            _ => (ign, cgt | sigmask(sig)),
        })
    }

    pub fn pending(&self) -> u64 {
        self.pending.set | self.group.shared_pending.set
    }

    /// Pending and not blocked: what a return to user mode delivers, and
    /// what interrupts a blocking call.
    pub fn deliverable(&self) -> u64 {
        self.pending() & !self.blocked
    }

    /// Whether `sig` is blocked.
    pub fn blocks(&self, sig: usize) -> bool {
        self.blocked & sigmask(sig) != 0
    }

    /// Makes `sig` pending for this thread unless it would be discarded
    /// (ignored and not blocked). A standard signal already pending stays
    /// as it was. Returns whether it is now pending and not blocked (the
    /// thread should be woken).
    pub fn send(&mut self, sig: usize, info: SigInfo) -> bool {
        if !self.blocks(sig) && self.ignores(sig) {
            return false;
        }
        self.pending.add(sig, info);
        !self.blocks(sig)
    }

    /// Makes `sig` pending for the whole process (Linux's
    /// `shared_pending`), which any thread that does not block it takes.
    /// Returns whether it was kept (not discarded as ignored).
    pub fn send_shared(&mut self, sig: usize, info: SigInfo) -> bool {
        if self.ignores(sig) && !self.blocks(sig) {
            return false;
        }
        self.group.shared_pending.add(sig, info);
        true
    }

    /// A fault's signal, which the task cannot decline (Linux
    /// `force_sig_info`): if it is blocked or ignored, it is unblocked and
    /// its action reset to the default, so that it kills. Returns whether
    /// a handler will run.
    pub fn force(&mut self, sig: usize, info: SigInfo) -> bool {
        let bit = sigmask(sig);
        let blocked = self.blocked & bit != 0;
        let act = &mut self.hand.action[sig - 1];
        if act.handler == SIG_IGN || blocked {
            act.handler = SIG_DFL;
            self.blocked &= !bit;
        }
        let handled = act.handler != SIG_DFL;
        self.pending.force(sig, info);
        handled
    }

    /// Takes the lowest deliverable signal, the thread's own before the
    /// process's (Linux `dequeue_signal`).
    pub fn dequeue(&mut self) -> Option<(usize, SigInfo)> {
        self.dequeue_from(!self.blocked)
    }

    /// Takes the lowest pending signal of `set`, blocked or not (what
    /// `rt_sigtimedwait` waits for).
    pub fn dequeue_from(&mut self, set: u64) -> Option<(usize, SigInfo)> {
        loop {
            let taken = self.pending.take(set).or_else(|| self.group.shared_pending.take(set));
            match taken {
                Some((_, info)) if info.stale => continue,
                other => return other,
            }
        }
    }

    /// Whether the default action of `sig` is to do nothing (stop
    /// signals stop: `jobctl`).
    pub fn default_is_nothing(sig: usize) -> bool {
        DEFAULT_IGNORED & sigmask(sig) != 0
    }

    /// Drops the pending signals of `mask`, the thread's and the
    /// process's.
    pub fn discard(&mut self, mask: u64) {
        self.pending.clear(mask);
        self.group.shared_pending.clear(mask);
    }

    /// Resets `sig` to the default action (`SA_RESETHAND`).
    pub fn reset_action(&mut self, sig: usize) {
        self.hand.action[sig - 1] = KSigaction::default();
    }

    /// The disposition of `sig` (1..=64).
    pub fn action(&self, sig: usize) -> KSigaction {
        self.hand.action[sig - 1]
    }

    /// Sets the disposition of `sig` (the caller refused SIGKILL and
    /// SIGSTOP); the handler's mask never blocks those two. A signal now
    /// ignored is discarded where pending (Linux `do_sigaction`).
    pub fn set_action(&mut self, sig: usize, mut act: KSigaction) {
        act.mask &= !UNBLOCKABLE;
        self.hand.action[sig - 1] = act;
        if self.ignores(sig) {
            self.pending.clear(sigmask(sig));
            self.group.shared_pending.clear(sigmask(sig));
        }
    }

    /// Whether a signal sent now is discarded: ignored explicitly, or by
    /// default (Linux `sig_ignored`, for an unblocked signal).
    pub fn ignores(&self, sig: usize) -> bool {
        match self.hand.action[sig - 1].handler {
            SIG_IGN => true,
            SIG_DFL => DEFAULT_IGNORED & sigmask(sig) != 0,
            _ => false,
        }
    }

    /// `execve`, before the point of no return: the dispositions become
    /// this process's own if another process shares them (Linux
    /// `unshare_sighand`). False when out of memory.
    pub fn unshare_handlers(&mut self) -> bool {
        self.hand.unshare()
    }

    /// `execve`: handlers go back to the default; ignored signals stay
    /// ignored; the mask and pending signals stay (Linux
    /// `flush_signal_handlers`); the alternate stack goes.
    pub fn exec(&mut self) {
        self.altstack = StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 };
        self.clear_handlers();
    }

    /// Every handler back to the default; ignored signals stay ignored
    /// (`execve`, `clone3`'s `CLONE_CLEAR_SIGHAND`).
    pub fn clear_handlers(&mut self) {
        for a in &mut self.hand.action {
            if a.handler != SIG_IGN {
                *a = KSigaction::default();
            } else {
                a.flags = 0;
                a.restorer = 0;
                a.mask = 0;
            }
        }
    }
}
