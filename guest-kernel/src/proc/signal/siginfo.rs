//! What names and describes a signal (Linux
//! `include/uapi/asm-generic/signal.h` and `siginfo.h`): the numbers and
//! masks, the `sa_flags` and `si_code` values, and [`SigInfo`], what a
//! pending signal carries. A leaf: everything that sends, queues or
//! delivers signals builds on it.

/// Signals 1..=64 (Linux `_NSIG`).
pub const NSIG: usize = 64;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;
pub const SIGKILL: usize = 9;
pub const SIGSTOP: usize = 19;
/// SIGCHLD.
pub const SIGCHLD: usize = 17;
pub const SIGCONT: usize = 18;

/// The mask bit of signal `sig` (Linux `sigmask`).
pub const fn sigmask(sig: usize) -> u64 {
    1 << (sig - 1)
}

/// Signals that cannot be caught, ignored or blocked.
pub const UNBLOCKABLE: u64 = sigmask(SIGKILL) | sigmask(SIGSTOP);

/// `sa_flags` bits (x86-64 values).
pub const SA_NOCLDSTOP: u64 = 0x0000_0001;
pub const SA_NOCLDWAIT: u64 = 0x0000_0002;
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
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;

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
    /// `sigqueue` and timers: the value sent (`si_value`).
    pub value: u64,
    /// A deleted POSIX timer's signal: still pending (`sigpending` shows
    /// it), dropped instead of delivered, as Linux 6.13+ does.
    pub stale: bool,
}

impl SigInfo {
    /// Linux's 128-byte `siginfo_t` for signal `sig`.
    pub fn to_user(&self, sig: usize) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&(sig as i32).to_ne_bytes());
        b[8..12].copy_from_slice(&self.code.to_ne_bytes());
        match sig {
            4 | 5 | 7 | 8 | 11 => b[16..24].copy_from_slice(&self.addr.to_ne_bytes()),
            // A POSIX timer: si_timerid, si_overrun, si_value.
            _ if self.code == SI_TIMER => {
                b[16..20].copy_from_slice(&self.pid.to_ne_bytes());
                b[20..24].copy_from_slice(&self.status.to_ne_bytes());
                b[24..32].copy_from_slice(&self.value.to_ne_bytes());
            }
            _ => {
                // si_pid, si_uid (0: root), and for SIGCHLD si_status;
                // what `sigqueue` sent in si_value.
                b[16..20].copy_from_slice(&self.pid.to_ne_bytes());
                if sig == SIGCHLD {
                    b[24..28].copy_from_slice(&self.status.to_ne_bytes());
                } else if self.code == SI_QUEUE || self.code < 0 {
                    b[24..32].copy_from_slice(&self.value.to_ne_bytes());
                }
            }
        }
        b
    }
}

/// `CLD_*` codes of job control.
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
/// SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU.
pub const STOP_SIGNALS: u64 = sigmask(19) | sigmask(20) | sigmask(21) | sigmask(22);

/// Whether `sig` is one of the stop signals.
pub fn is_stop_signal(sig: usize) -> bool {
    (1..=64).contains(&sig) && STOP_SIGNALS & sigmask(sig) != 0
}
