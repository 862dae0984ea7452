//! Signal dispositions and the blocked mask (Linux's `sighand_struct` and
//! `task_struct::blocked`): what `rt_sigaction` and `rt_sigprocmask` set
//! and report back, inherited by `fork`, reset by `execve` as Linux's
//! `flush_signal_handlers` does. `kill` discards a signal its target
//! ignores. Handlers are recorded but not yet run: a signal whose target
//! has a handler still takes its default action.

use zerocopy::{FromBytes, Immutable, IntoBytes};

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

/// A task's signal state.
#[derive(Clone)]
pub struct SignalState {
    action: [KSigaction; NSIG],
    /// Blocked signals (bit `sig - 1`).
    pub blocked: u64,
}

/// Signals whose default action is to do nothing (SIGCHLD, SIGCONT,
/// SIGURG, SIGWINCH).
const DEFAULT_IGNORED: u64 = sigmask(17) | sigmask(18) | sigmask(23) | sigmask(28);

impl SignalState {
    pub const fn new() -> Self {
        Self { action: [KSigaction { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 }; NSIG], blocked: 0 }
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
    /// ignored; the mask stays (Linux `flush_signal_handlers`).
    pub fn exec(&mut self) {
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
