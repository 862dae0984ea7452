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

pub mod frame;

/// Signals 1..=64 (Linux `_NSIG`).
pub const NSIG: usize = 64;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;
const SIGKILL: usize = 9;
const SIGSTOP: usize = 19;

/// The mask bit of signal `sig` (Linux `sigmask`).
pub const fn sigmask(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// Signals that cannot be caught, ignored or blocked.
pub const UNBLOCKABLE: u64 = sigmask(SIGKILL) | sigmask(SIGSTOP);

/// The x86-64 `struct sigaction` of `rt_sigaction` (kernel layout).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct KSigaction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `sa_flags` bits (x86-64 values).
pub const SA_SIGINFO: u64 = 0x0000_0004;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// `si_code` values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;

/// `sigaltstack` flags.
pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
pub const SS_AUTODISARM: i32 = 1 << 31;
/// Linux's `MINSIGSTKSZ` on x86-64.
pub const MINSIGSTKSZ: u64 = 2048;

/// What a pending signal carries (the parts of Linux's `kernel_siginfo`
/// that the senders here fill in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub code: i32,
    /// Sender (kill, tkill) or child (SIGCHLD).
    pub pid: u32,
    /// SIGCHLD: the child's exit code or signal.
    pub status: i32,
    /// Faults: the address (`si_addr`).
    pub addr: u64,
    /// Faults: the trap number and error code, for the frame's sigcontext.
    pub trapno: u64,
    pub err: u64,
}

impl SigInfo {
    /// Linux's 128-byte `siginfo_t` for signal `sig`.
    pub fn to_user(&self, sig: usize) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&(sig as i32).to_ne_bytes());
        b[8..12].copy_from_slice(&self.code.to_ne_bytes());
        match sig {
            4 | 5 | 7 | 8 | 11 => b[16..24].copy_from_slice(&self.addr.to_ne_bytes()),
            _ => {
                // si_pid, si_uid (0: root), and for SIGCHLD si_status.
                b[16..20].copy_from_slice(&self.pid.to_ne_bytes());
                if sig == SIGCHLD {
                    b[24..28].copy_from_slice(&self.status.to_ne_bytes());
                }
            }
        }
        b
    }
}

/// The alternate signal stack (`stack_t`, kernel layout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct StackT {
    pub ss_sp: u64,
    pub ss_flags: i32,
    pub pad: u32,
    pub ss_size: u64,
}

/// A task's signal state.
#[derive(Clone)]
pub struct SignalState {
    action: [KSigaction; NSIG],
    /// Blocked signals (bit `sig - 1`).
    pub blocked: u64,
    /// Pending signals (bit `sig - 1`), with what each carries.
    pending: u64,
    info: [SigInfo; NSIG],
    /// `sigaltstack`: where handlers with `SA_ONSTACK` run (`ss_size` 0:
    /// none).
    pub altstack: StackT,
    /// `rt_sigsuspend`: the mask to put back once a handler has run (in
    /// its frame) or, with none run, at once (Linux `saved_sigmask`).
    pub saved_mask: Option<u64>,
}

/// SIGCHLD.
pub const SIGCHLD: usize = 17;
/// Signals whose default action stops the process (SIGSTOP, SIGTSTP,
/// SIGTTIN, SIGTTOU): nothing to stop here without job control.
const DEFAULT_STOP: u64 = sigmask(19) | sigmask(20) | sigmask(21) | sigmask(22);

/// Signals whose default action is to do nothing (SIGCHLD, SIGCONT,
/// SIGURG, SIGWINCH).
const DEFAULT_IGNORED: u64 = sigmask(17) | sigmask(18) | sigmask(23) | sigmask(28);

impl SignalState {
    pub const fn new() -> Self {
        const NONE: SigInfo = SigInfo { code: 0, pid: 0, status: 0, addr: 0, trapno: 0, err: 0 };
        Self {
            action: [KSigaction { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 }; NSIG],
            blocked: 0,
            pending: 0,
            info: [NONE; NSIG],
            altstack: StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 },
            saved_mask: None,
        }
    }

    /// `fork`: the child has the dispositions, the mask and the
    /// alternate stack, and nothing pending (Linux `copy_process`).
    pub fn fork(&self) -> Self {
        let mut s = self.clone();
        s.pending = 0;
        s.saved_mask = None;
        s
    }

    /// Pending signals (`rt_sigpending` reports those also blocked).
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Pending and not blocked: what a return to user mode delivers, and
    /// what interrupts a blocking call.
    pub fn deliverable(&self) -> u64 {
        self.pending & !self.blocked
    }

    /// Makes `sig` pending unless it would be discarded (ignored and not
    /// blocked). A standard signal already pending stays as it was.
    /// Returns whether it is now pending and not blocked (the target
    /// should be woken).
    pub fn send(&mut self, sig: usize, info: SigInfo) -> bool {
        let bit = sigmask(sig);
        if self.blocked & bit == 0 && self.ignores(sig) {
            return false;
        }
        if self.pending & bit == 0 {
            self.pending |= bit;
            self.info[sig - 1] = info;
        }
        self.blocked & bit == 0
    }

    /// A fault's signal, which the task cannot decline (Linux
    /// `force_sig_info`): if it is blocked or ignored, it is unblocked and
    /// its action reset to the default, so that it kills. Returns whether
    /// a handler will run.
    pub fn force(&mut self, sig: usize, info: SigInfo) -> bool {
        let bit = sigmask(sig);
        let act = &mut self.action[sig - 1];
        if act.handler == SIG_IGN || self.blocked & bit != 0 {
            act.handler = SIG_DFL;
            self.blocked &= !bit;
        }
        let handled = act.handler != SIG_DFL;
        self.pending |= bit;
        self.info[sig - 1] = info;
        handled
    }

    /// Takes the lowest deliverable signal off the pending set.
    pub fn dequeue(&mut self) -> Option<(usize, SigInfo)> {
        let ready = self.deliverable();
        if ready == 0 {
            return None;
        }
        let sig = ready.trailing_zeros() as usize + 1;
        self.pending &= !sigmask(sig);
        Some((sig, self.info[sig - 1]))
    }

    /// Whether the default action of `sig` does nothing here.
    pub fn default_is_nothing(sig: usize) -> bool {
        (DEFAULT_IGNORED | DEFAULT_STOP) & sigmask(sig) != 0
    }

    /// Resets `sig` to the default action (`SA_RESETHAND`).
    pub fn reset_action(&mut self, sig: usize) {
        self.action[sig - 1] = KSigaction::default();
    }

    /// The disposition of `sig` (1..=64).
    pub fn action(&self, sig: usize) -> KSigaction {
        self.action[sig - 1]
    }

    /// Sets the disposition of `sig` (the caller refused SIGKILL and
    /// SIGSTOP); the handler's mask never blocks those two.
    pub fn set_action(&mut self, sig: usize, mut act: KSigaction) {
        act.mask &= !UNBLOCKABLE;
        self.action[sig - 1] = act;
    }

    /// Whether a signal sent now is discarded: ignored explicitly, or by
    /// default (Linux `sig_ignored`, for an unblocked signal).
    pub fn ignores(&self, sig: usize) -> bool {
        match self.action[sig - 1].handler {
            SIG_IGN => true,
            SIG_DFL => DEFAULT_IGNORED & sigmask(sig) != 0,
            _ => false,
        }
    }

    /// `execve`: handlers go back to the default; ignored signals stay
    /// ignored; the mask and pending signals stay (Linux
    /// `flush_signal_handlers`); the alternate stack goes.
    pub fn exec(&mut self) {
        self.altstack = StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 };
        for a in &mut self.action {
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

impl Default for SignalState {
    fn default() -> Self {
        Self::new()
    }
}
