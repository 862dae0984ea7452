//! Debugging the guest with gdb: `vmm run --gdb ADDR [--gdb-wait]`.
//!
//! Two threads share the work. The gdb thread ([`server`]) owns the TCP
//! connection and runs `gdbstub`'s protocol state machine; the vCPU thread
//! owns KVM. They talk over channels ([`VcpuLink`] on the vCPU side): the
//! gdb thread asks the vCPU to pause (a flag and a signal that kicks it out
//! of `KVM_RUN`), sends it closures over [`Debuggable`] to run while it is
//! stopped (registers, memory, page walks), and finally a `Resume` with
//! the debug registers, software breakpoints and single-step to arm; the
//! vCPU reports each stop (breakpoint, step, pause, end of the guest) back.
//!
//! What works where (see also the README and `../shared/COSTS.md`):
//!
//! - Hardware breakpoints (`hbreak`, four debug registers through
//!   `KVM_GUESTDBG_USE_HW_BP`) and single-step (`stepi`) work on kernel
//!   code everywhere, kvm_pvm included.
//! - `break` inserts an `int3` into kernel text (`KVM_GUESTDBG_USE_SW_BP`).
//!   On VMX/SVM hosts KVM reports it as a debug exit; on kvm_pvm an `int3`
//!   at ring 0 cannot be emulated and stops the vCPU with an emulation
//!   error instead, which the VMM recognises (RIP at an `int3` it
//!   inserted) and reports as the breakpoint. Either way `break` works.
//!   Software breakpoints in user code are refused: user text is page
//!   cache shared by every process mapping the file, and writing `int3`
//!   there would change the file for all of them.
//! - Watchpoints (`watch`, `awatch`) are armed in the debug registers; they
//!   fire on VMX/SVM hosts, never on kvm_pvm. `rwatch` is refused: x86 has
//!   no read-only data breakpoint.
//! - On kvm_pvm nothing fires at ring 3: hardware breakpoints and
//!   single-steps pass user code by, so `stepi` from user mode stops at the
//!   next kernel instruction (an interrupt or system call entry).
//! - A step over port I/O ends with the I/O exit (kvm_pvm gives no
//!   single-step exit for an instruction that exited to the VMM).
//!
//! A malformed packet or a dropped connection ends only that connection:
//! the breakpoints are removed and the guest runs on, or, with
//! `--gdb-wait`, stays stopped until the next gdb attaches.

pub mod arch;
pub mod debuggable;
pub mod log;
pub mod monitor;
pub mod packet;
pub mod paging;
pub mod server;
pub mod target;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

pub use debuggable::{DebugError, DebugSettings, Debuggable, HwKind, HwSlot, KvmVcpu};

/// `--gdb ADDR` and `--gdb-wait`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GdbConfig {
    pub addr: SocketAddr,
    /// Stop before the first guest instruction until gdb attaches (and
    /// again whenever a gdb drops its connection without detaching).
    pub wait: bool,
}

/// Work for the stopped vCPU.
pub type Job = Box<dyn FnOnce(&mut dyn Debuggable) + Send>;

/// From the gdb thread to the vCPU thread.
pub enum Request {
    /// Run this while stopped.
    Call(Job),
    /// Arm these settings and run.
    Resume(DebugSettings),
    /// End the guest (gdb `kill`).
    Kill,
}

/// Why the vCPU stopped, from the vCPU thread to the gdb thread.
#[derive(Debug)]
pub enum StopEvent {
    /// The gdb thread asked for it (attach, Ctrl-C, `--gdb-wait`).
    Paused,
    /// `KVM_EXIT_DEBUG`: a breakpoint, watchpoint or single step.
    Debug { exception: u32, dr6: u64, pc: u64 },
    /// An `int3` the stub inserted stopped the vCPU with an emulation
    /// error (kvm_pvm: `int3` at ring 0 is not emulated).
    SwBreakpoint { rip: u64 },
    /// A single step ended with a VM exit to the VMM (port I/O) instead of
    /// a debug exit.
    Stepped,
    /// The guest is over; the gdb thread acknowledges once gdb was told.
    Ended { end: GuestEnd, ack: Sender<()> },
}

/// How the guest ended, as gdb is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestEnd {
    /// Powered off with this exit code (`W` packet).
    Exited(u8),
    /// Stopped abnormally: this (gdb) signal number (`X` packet).
    Signal(u8),
}

/// Messages into the gdb thread.
#[derive(Debug)]
pub enum ServerEvent {
    /// Bytes from connection `id`.
    Data(u64, Vec<u8>),
    /// Connection `id` closed (or failed).
    Eof(u64),
    Vcpu(StopEvent),
}

/// How long the vCPU thread waits for the gdb thread to tell gdb that the
/// guest ended before it finishes the run anyway.
const END_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a stopped vCPU looks at the VMM's stop flag (`--timeout`).
const STOPPED_TICK: Duration = Duration::from_millis(50);

/// The vCPU thread's end of the debugger link.
pub struct VcpuLink {
    requests: Receiver<Request>,
    events: Sender<ServerEvent>,
    /// Set by the gdb thread to stop the vCPU at its next loop.
    pause: Arc<AtomicBool>,
    /// A gdb is connected (the end of the guest waits for it to be told).
    attached: Arc<AtomicBool>,
    /// What gdb armed.
    pub settings: DebugSettings,
    /// Resuming on top of an armed execution breakpoint: the vCPU steps one
    /// instruction without it, then re-arms `settings`.
    pub stepping_over: bool,
}

/// What a stop of the vCPU ended with.
pub enum Resumed {
    /// Run on with [`VcpuLink::settings`].
    Run,
    /// gdb killed the guest.
    Kill,
    /// The VMM is stopping (timeout) while the vCPU was stopped.
    Stop,
}

impl VcpuLink {
    /// Whether the gdb thread asked for a pause (and clears the request).
    pub fn take_pause(&self) -> bool {
        self.pause.swap(false, Ordering::SeqCst)
    }

    /// Tells the gdb thread the vCPU stopped, then serves its requests on
    /// `target` until it resumes or kills the guest, or `stop` is set. A
    /// gdb thread that went away resumes the guest with nothing armed.
    pub fn stopped(&mut self, event: StopEvent, target: &mut dyn Debuggable, stop: &AtomicBool) -> Resumed {
        self.stepping_over = false;
        if self.events.send(ServerEvent::Vcpu(event)).is_err() {
            self.settings = DebugSettings::default();
            return Resumed::Run;
        }
        loop {
            match self.requests.recv_timeout(STOPPED_TICK) {
                Ok(Request::Call(job)) => job(target),
                Ok(Request::Resume(settings)) => {
                    self.settings = settings;
                    return Resumed::Run;
                }
                Ok(Request::Kill) => return Resumed::Kill,
                Err(RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::SeqCst) {
                        return Resumed::Stop;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.settings = DebugSettings::default();
                    return Resumed::Run;
                }
            }
        }
    }

    /// Whether gdb wants to hear about this debug exit (the instruction
    /// counter's own single steps are not its business).
    pub fn wants(&self, exception: u32, dr6: u64, pc: u64) -> bool {
        const BP_VECTOR: u32 = 3;
        const DR6_BS: u64 = 1 << 14;
        if exception == BP_VECTOR {
            return true;
        }
        let armed_hit = (0..4).any(|i| dr6 & (1 << i) != 0 && self.settings.hw[i].is_some());
        armed_hit || (dr6 & DR6_BS != 0 && self.settings.single_step) || self.settings.sw_breakpoints.contains(&pc)
    }

    /// Whether `rip` holds an `int3` the stub inserted.
    pub fn is_sw_breakpoint(&self, rip: u64) -> bool {
        self.settings.sw_breakpoints.contains(&rip)
    }

    /// The guest is over: tell the gdb thread and, if a gdb is connected,
    /// wait (a little) until it was told.
    pub fn ended(&self, end: GuestEnd) {
        let (ack, acked) = std::sync::mpsc::channel();
        if self.events.send(ServerEvent::Vcpu(StopEvent::Ended { end, ack })).is_ok() && self.attached.load(Ordering::SeqCst) {
            let _ = acked.recv_timeout(END_ACK_TIMEOUT);
        }
    }
}

/// The gdb thread's end of the link.
pub struct ServerLink {
    pub requests: Sender<Request>,
    pub events: Receiver<ServerEvent>,
    /// For the connection reader threads.
    pub events_tx: Sender<ServerEvent>,
    pub pause: Arc<AtomicBool>,
    pub attached: Arc<AtomicBool>,
}

/// A connected pair of link ends. With `wait`, the vCPU stops before its
/// first instruction.
pub fn link(wait: bool) -> (VcpuLink, ServerLink) {
    let (req_tx, req_rx) = std::sync::mpsc::channel();
    let (ev_tx, ev_rx) = std::sync::mpsc::channel();
    let pause = Arc::new(AtomicBool::new(wait));
    let attached = Arc::new(AtomicBool::new(false));
    let vcpu = VcpuLink {
        requests: req_rx,
        events: ev_tx.clone(),
        pause: pause.clone(),
        attached: attached.clone(),
        settings: DebugSettings::default(),
        stepping_over: false,
    };
    let server = ServerLink { requests: req_tx, events: ev_rx, events_tx: ev_tx, pause, attached };
    (vcpu, server)
}
