//! The gdb thread: accepts one gdb at a time on the `--gdb` address and
//! runs `gdbstub`'s protocol state machine for it, over a [`GdbTarget`]
//! that forwards everything to the stopped vCPU (see the module doc of
//! [`crate::gdb`]).

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use gdbstub::common::Signal;
use gdbstub::conn::Connection;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep, SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};

use super::arch::{KernelRegs, X86_64Kernel};
use super::{monitor, DebugError, DebugSettings, Debuggable, GuestEnd, HwKind, HwSlot, Request, ServerEvent, ServerLink, StopEvent};
use crate::error::{Error, Result};
use crate::stats::Hub;

/// Where the kernel half of the address space starts: software
/// breakpoints go only there (see the module doc of [`crate::gdb`]).
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// The largest packet accepted, `$`, body, `#` and checksum included (the
/// size of `gdbstub`'s packet buffer, which it advertises to gdb).
const MAX_PACKET: usize = 4096;

/// How often the idle gdb thread looks at its listener and shutdown flag,
/// and how often a pause request re-kicks the vCPU.
const POLL: Duration = Duration::from_millis(20);

/// VMM messages from the gdb thread (to the run's stderr stream).
#[derive(Clone)]
pub struct Log(Arc<Mutex<Box<dyn Write + Send>>>);

impl Log {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Log(Arc::new(Mutex::new(out)))
    }

    pub fn say(&self, message: impl AsRef<str>) {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "vmm: gdb: {}", message.as_ref()).and_then(|()| out.flush());
    }
}

/// The running gdb thread.
pub struct GdbServer {
    shutdown: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl GdbServer {
    /// Stops serving (after the guest ended) and waits for the thread.
    pub fn stop(self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// Binds the `--gdb` address; separate from [`start`] so that a bad address
/// fails the run before the guest is built.
pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr).map_err(|source| Error::GdbListen { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| Error::GdbListen { addr, source })?;
    Ok(listener)
}

/// Starts the gdb thread on `listener`.
pub(crate) fn start(
    listener: TcpListener,
    wait: bool,
    kernel: &std::path::Path,
    link: ServerLink,
    kick: Arc<dyn Fn() + Send + Sync>,
    hub: Arc<Hub>,
    log: Log,
) -> Result<GdbServer> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let local = listener.local_addr().map_err(Error::Thread)?;
    log.say(format!(
        "listening on {local}: gdb {kernel} -ex 'target remote {local}'{waiting}",
        kernel = kernel.display(),
        waiting = if wait { " (the guest waits for it before its first instruction)" } else { "" }
    ));
    let mut server = Server { listener, wait, link, kick, hub, log, shutdown: shutdown.clone(), vcpu_stopped: false, vm_over: false, next_id: 0 };
    let thread = std::thread::Builder::new().name("vmm-gdb".into()).spawn(move || server.run()).map_err(Error::Thread)?;
    Ok(GdbServer { shutdown, thread })
}

struct Server {
    listener: TcpListener,
    wait: bool,
    link: ServerLink,
    kick: Arc<dyn Fn() + Send + Sync>,
    hub: Arc<Hub>,
    log: Log,
    shutdown: Arc<AtomicBool>,
    /// The vCPU is stopped in [`super::VcpuLink::stopped`].
    vcpu_stopped: bool,
    /// The guest ended: nothing left to debug.
    vm_over: bool,
    next_id: u64,
}

/// How a session ended.
enum SessionEnd {
    /// gdb detached, killed, or saw the guest end.
    Gdb(DisconnectReason),
    /// The connection closed or broke without a detach.
    Dropped(String),
}

impl Server {
    fn run(&mut self) {
        while !self.vm_over && !self.shutdown.load(Ordering::SeqCst) {
            match self.listener.accept() {
                Ok((stream, peer)) => self.session(stream, peer),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => match self.link.events.recv_timeout(POLL) {
                    Ok(event) => self.between_sessions(event),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                Err(e) => {
                    self.log.say(format!("accept failed: {e}"));
                    std::thread::sleep(POLL);
                }
            }
        }
    }

    /// A vCPU event with no gdb connected: the `--gdb-wait` stop, or the end.
    fn between_sessions(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Vcpu(StopEvent::Ended { ack, .. }) => {
                self.vm_over = true;
                let _ = ack.send(());
            }
            ServerEvent::Vcpu(_) => self.vcpu_stopped = true,
            // Leftovers of a closed connection.
            ServerEvent::Data(..) | ServerEvent::Eof(_) => {}
        }
    }

    /// Stops the vCPU and returns the stop it reported: a pause, another
    /// stop that came first (a breakpoint), or the end of the guest (then
    /// `vm_over` is set and the caller acknowledges it). Bytes from
    /// connection `id` that arrive meanwhile go to `pending`.
    fn pause_vcpu(&mut self, id: u64, pending: &mut Vec<u8>) -> Option<StopEvent> {
        self.link.pause.store(true, Ordering::SeqCst);
        let stopped = loop {
            (self.kick)();
            match self.link.events.recv_timeout(POLL) {
                Ok(ServerEvent::Vcpu(event)) => break Some(event),
                Ok(ServerEvent::Data(from, bytes)) if from == id => pending.extend(bytes),
                Ok(_) => {}
                // The run is over without the vCPU saying so (its thread died).
                Err(RecvTimeoutError::Timeout) if self.shutdown.load(Ordering::SeqCst) => break None,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break None,
            }
        };
        // A stop for another reason answers the pause too.
        self.link.pause.store(false, Ordering::SeqCst);
        let ended = !matches!(stopped, Some(ref e) if !matches!(e, StopEvent::Ended { .. }));
        self.vm_over |= ended;
        self.vcpu_stopped = !ended;
        stopped
    }

    /// Stops the vCPU outside the protocol (attach, end of a session):
    /// false if the guest ended instead.
    fn pause_quietly(&mut self, id: u64) -> bool {
        self.pause_quietly_into(id, &mut Vec::new())
    }

    fn pause_quietly_into(&mut self, id: u64, pending: &mut Vec<u8>) -> bool {
        match self.pause_vcpu(id, pending) {
            Some(StopEvent::Ended { ack, .. }) => {
                let _ = ack.send(());
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    fn session(&mut self, stream: TcpStream, peer: SocketAddr) {
        let id = self.next_id;
        self.next_id += 1;
        self.log.say(format!("connection from {peer}"));
        let mut pending = Vec::new();
        if !self.vcpu_stopped && !self.pause_quietly_into(id, &mut pending) {
            self.log.say("the guest ended before gdb could attach");
            return;
        }
        let reader = match stream.try_clone() {
            Ok(r) => r,
            Err(e) => return self.log.say(format!("cannot use the connection: {e}")),
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        if !spawn_reader(id, reader, self.link.events_tx.clone()) {
            self.log.say("cannot start a thread to read the connection");
            return;
        }
        self.link.attached.store(true, Ordering::SeqCst);

        let mut target = GdbTarget::new(self.link.requests.clone(), self.hub.clone(), self.log.clone());
        let end = self.serve(id, &stream, &mut target, pending);

        self.link.attached.store(false, Ordering::SeqCst);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        self.vcpu_stopped = !target.running;
        match end {
            // Said while the VMM's output still flowed (see `serve`).
            SessionEnd::Gdb(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => {}
            SessionEnd::Gdb(DisconnectReason::Kill) => {
                self.log.say("gdb killed the guest");
                self.kill(&mut target);
            }
            SessionEnd::Gdb(DisconnectReason::Disconnect) => {
                self.log.say("gdb detached; the guest runs on");
                self.release(id, &mut target, true);
            }
            SessionEnd::Dropped(why) => {
                let resume = !self.wait;
                self.log.say(format!(
                    "{why}; breakpoints removed, {}",
                    if resume { "the guest runs on" } else { "the guest stays stopped until gdb attaches again (--gdb-wait)" }
                ));
                self.release(id, &mut target, resume);
            }
        }
    }

    /// Runs the protocol until the session ends.
    fn serve(&mut self, id: u64, stream: &TcpStream, target: &mut GdbTarget, pending: Vec<u8>) -> SessionEnd {
        let conn = match stream.try_clone() {
            Ok(s) => BufferedConn { stream: s, out: Vec::new() },
            Err(e) => return SessionEnd::Dropped(format!("cannot use the connection: {e}")),
        };
        let stub = match GdbStub::builder(conn).packet_buffer_size(MAX_PACKET).build() {
            Ok(stub) => stub,
            Err(e) => return SessionEnd::Dropped(format!("cannot start the protocol: {e}")),
        };
        let mut sm = match stub.run_state_machine(target) {
            Ok(sm) => sm,
            Err(e) => return SessionEnd::Dropped(format!("cannot start the protocol: {e}")),
        };
        let mut filter = PacketFilter::default();
        let mut bytes: VecDeque<u8> = VecDeque::new();
        let mut nacks = filter.push_all(&pending, &mut bytes);
        loop {
            if nacks > 0 {
                let mut s = stream;
                if s.write_all(&vec![b'-'; nacks]).is_err() {
                    return SessionEnd::Dropped("the connection broke".into());
                }
                nacks = 0;
            }
            let result = match sm {
                GdbStubStateMachine::Disconnected(gdb) => return SessionEnd::Gdb(gdb.get_reason()),
                GdbStubStateMachine::CtrlCInterrupt(gdb) => {
                    let mut more = Vec::new();
                    let mut ended = None;
                    let reason = if target.running {
                        target.running = false;
                        match self.pause_vcpu(id, &mut more) {
                            Some(event) => {
                                let reason = target.stop_reason(&event);
                                if let StopEvent::Ended { ack, .. } = event {
                                    ended = Some(ack);
                                }
                                Some(reason)
                            }
                            None => Some(SingleThreadStopReason::Terminated(Signal::SIGKILL)),
                        }
                    } else {
                        None
                    };
                    nacks += filter.push_all(&more, &mut bytes);
                    let result = gdb.interrupt_handled(target, reason);
                    if let Some(ack) = ended {
                        let _ = ack.send(());
                    }
                    result
                }
                GdbStubStateMachine::Idle(gdb) => match bytes.pop_front() {
                    Some(b) => gdb.incoming_data(target, b),
                    None => {
                        sm = GdbStubStateMachine::Idle(gdb);
                        match self.next_event(id) {
                            Incoming::Bytes(data) => nacks += filter.push_all(&data, &mut bytes),
                            Incoming::Closed => return SessionEnd::Dropped("the connection closed without a detach".into()),
                            Incoming::Stop(StopEvent::Ended { ack, .. }) => {
                                // The VMM stopped the stopped guest (--timeout).
                                self.vm_over = true;
                                let _ = ack.send(());
                                return SessionEnd::Gdb(DisconnectReason::TargetTerminated(Signal::SIGKILL));
                            }
                            Incoming::Stop(_) => {}
                        }
                        continue;
                    }
                },
                GdbStubStateMachine::Running(gdb) => match bytes.pop_front() {
                    Some(b) => gdb.incoming_data(target, b),
                    None => match self.next_event(id) {
                        Incoming::Bytes(data) => {
                            nacks += filter.push_all(&data, &mut bytes);
                            sm = GdbStubStateMachine::Running(gdb);
                            continue;
                        }
                        Incoming::Closed => return SessionEnd::Dropped("the connection closed while the guest ran".into()),
                        Incoming::Stop(StopEvent::Ended { end, ack }) => {
                            // Before the acknowledgement: after it the VMM
                            // finishes and its output stops.
                            self.log.say(format!("the guest ended ({end:?}); telling gdb"));
                            self.vm_over = true;
                            target.running = false;
                            let reason = match end {
                                GuestEnd::Exited(code) => SingleThreadStopReason::Exited(code),
                                GuestEnd::Signal(sig) => SingleThreadStopReason::Terminated(Signal(sig)),
                            };
                            let result = gdb.report_stop(target, reason);
                            let _ = ack.send(());
                            result
                        }
                        Incoming::Stop(event) => {
                            target.running = false;
                            self.vcpu_stopped = true;
                            let reason = target.stop_reason(&event);
                            gdb.report_stop(target, reason)
                        }
                    },
                },
            };
            sm = match result {
                Ok(next) => next,
                Err(e) => return SessionEnd::Dropped(format!("closing the connection: {e}")),
            };
        }
    }

    /// The next thing that happens for session `id`.
    fn next_event(&mut self, id: u64) -> Incoming {
        loop {
            match self.link.events.recv_timeout(POLL) {
                Ok(ServerEvent::Data(from, data)) if from == id => return Incoming::Bytes(data),
                Ok(ServerEvent::Eof(from)) if from == id => return Incoming::Closed,
                Ok(ServerEvent::Vcpu(event)) => return Incoming::Stop(event),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if self.shutdown.load(Ordering::SeqCst) => {
                    self.vm_over = true;
                    return Incoming::Closed;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Incoming::Closed,
            }
        }
    }

    /// Ends a session without killing the guest: the vCPU is stopped if it
    /// ran, the `int3`s go, nothing stays armed, and the guest resumes if
    /// `resume`.
    fn release(&mut self, id: u64, target: &mut GdbTarget, resume: bool) {
        if self.vm_over {
            return;
        }
        if target.running {
            target.running = false;
            if !self.pause_quietly(id) {
                return;
            }
        }
        target.remove_all_sw_breakpoints();
        if resume && self.link.requests.send(Request::Resume(DebugSettings::default())).is_ok() {
            self.vcpu_stopped = false;
        }
    }

    /// gdb `kill`: the guest ends and the run reports it.
    fn kill(&mut self, target: &mut GdbTarget) {
        if self.vm_over {
            return;
        }
        if target.running && !self.pause_quietly(u64::MAX) {
            return;
        }
        target.remove_all_sw_breakpoints();
        let _ = self.link.requests.send(Request::Kill);
        // The vCPU answers with its end.
        while let Ok(event) = self.link.events.recv_timeout(Duration::from_secs(5)) {
            if let ServerEvent::Vcpu(StopEvent::Ended { ack, .. }) = event {
                self.vm_over = true;
                let _ = ack.send(());
                break;
            }
        }
    }
}

enum Incoming {
    Bytes(Vec<u8>),
    Closed,
    Stop(StopEvent),
}

/// Starts the thread that reads connection `id` into the gdb thread's
/// events; false if it could not start.
fn spawn_reader(id: u64, mut stream: TcpStream, tx: Sender<ServerEvent>) -> bool {
    std::thread::Builder::new()
        .name("vmm-gdb-read".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(ServerEvent::Eof(id));
                        return;
                    }
                    Ok(n) => {
                        if tx.send(ServerEvent::Data(id, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .is_ok()
}

/// The connection as `gdbstub` writes it: bytes gather until a flush (one
/// per packet), instead of one system call (and TCP segment) per byte.
struct BufferedConn {
    stream: TcpStream,
    out: Vec<u8>,
}

impl Connection for BufferedConn {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> std::io::Result<()> {
        self.out.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let out = std::mem::take(&mut self.out);
        Write::write_all(&mut self.stream, &out)?;
        Write::flush(&mut self.stream)
    }
}

/// Checks the framing of what gdb sends before `gdbstub` sees it, so that
/// line noise costs a retransmission instead of the connection: outside a
/// packet only `+` (ack) and `^C` (interrupt) pass; a packet must be
/// `$body#xx` with the right checksum and fit the packet buffer. A bad
/// checksum is answered with `-` (gdb sends it again); anything else
/// malformed is dropped. (`gdbstub` treats all of these as fatal errors.)
#[derive(Default)]
pub struct PacketFilter {
    state: FilterState,
    packet: Vec<u8>,
    /// Bytes and packets dropped so far.
    pub dropped: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum FilterState {
    #[default]
    Outside,
    Body,
    Checksum1,
    Checksum2,
}

impl PacketFilter {
    /// Feeds `data`; what may pass goes to `out`. Returns how many `-`
    /// (retransmit) replies are due.
    pub fn push_all(&mut self, data: &[u8], out: &mut VecDeque<u8>) -> usize {
        data.iter().map(|&b| self.push(b, out) as usize).sum()
    }

    fn push(&mut self, byte: u8, out: &mut VecDeque<u8>) -> bool {
        match self.state {
            FilterState::Outside => match byte {
                b'$' => {
                    self.packet.clear();
                    self.packet.push(byte);
                    self.state = FilterState::Body;
                }
                b'+' | 0x03 => out.push_back(byte),
                _ => self.dropped += 1,
            },
            FilterState::Body => match byte {
                // A new start abandons a truncated packet.
                b'$' => {
                    self.dropped += 1;
                    self.packet.clear();
                    self.packet.push(byte);
                }
                b'#' => {
                    self.packet.push(byte);
                    self.state = FilterState::Checksum1;
                }
                _ => {
                    self.packet.push(byte);
                    if self.packet.len() + 3 > MAX_PACKET {
                        self.dropped += 1;
                        self.state = FilterState::Outside;
                        return true;
                    }
                }
            },
            FilterState::Checksum1 | FilterState::Checksum2 => {
                if !byte.is_ascii_hexdigit() {
                    self.dropped += 1;
                    self.state = FilterState::Outside;
                    return false;
                }
                self.packet.push(byte);
                if self.state == FilterState::Checksum1 {
                    self.state = FilterState::Checksum2;
                    return false;
                }
                self.state = FilterState::Outside;
                let n = self.packet.len();
                let body = &self.packet[1..n - 3];
                let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
                let given = std::str::from_utf8(&self.packet[n - 2..]).ok().and_then(|s| u8::from_str_radix(s, 16).ok());
                if given != Some(sum) {
                    self.dropped += 1;
                    return true;
                }
                out.extend(self.packet.iter().copied());
            }
        }
        false
    }
}

/// What gdbstub drives: forwards to the stopped vCPU and keeps the
/// breakpoint bookkeeping.
struct GdbTarget {
    requests: Sender<Request>,
    hub: Arc<Hub>,
    log: Log,
    /// The four debug registers.
    hw: [Option<HwSlot>; 4],
    /// Inserted `int3`s: address -> (physical address, original byte).
    sw: BTreeMap<u64, (u64, u8)>,
    /// The vCPU was resumed and has not reported a stop yet.
    running: bool,
}

impl GdbTarget {
    fn new(requests: Sender<Request>, hub: Arc<Hub>, log: Log) -> Self {
        Self { requests, hub, log, hw: [None; 4], sw: BTreeMap::new(), running: false }
    }

    /// Runs `f` on the stopped vCPU and waits for its answer.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Debuggable) -> std::result::Result<R, DebugError> + Send + 'static,
    ) -> std::result::Result<R, DebugError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let job = Box::new(move |d: &mut dyn Debuggable| {
            let _ = tx.send(f(d));
        });
        self.requests.send(Request::Call(job)).map_err(|_| DebugError::Gone)?;
        rx.recv().map_err(|_| DebugError::Gone)?
    }

    /// A failed request: fatal only when the vCPU is gone.
    fn fail<T>(&self, what: &str, e: DebugError) -> TargetResult<T, Self> {
        match e {
            DebugError::Gone => Err(TargetError::Fatal(e.to_string())),
            e => {
                self.log.say(format!("{what}: {e}"));
                Err(TargetError::NonFatal)
            }
        }
    }

    fn resume_vcpu(&mut self, single_step: bool) -> std::result::Result<(), String> {
        let settings = DebugSettings { hw: self.hw, sw_breakpoints: self.sw.keys().copied().collect(), single_step };
        self.requests.send(Request::Resume(settings)).map_err(|_| DebugError::Gone.to_string())?;
        self.running = true;
        Ok(())
    }

    fn remove_all_sw_breakpoints(&mut self) {
        for (addr, (phys, orig)) in std::mem::take(&mut self.sw) {
            if let Err(e) = self.call(move |d| d.write_phys(phys, &[orig])) {
                self.log.say(format!("cannot remove the breakpoint at {addr:#x}: {e}"));
            }
        }
        self.hw = [None; 4];
    }

    /// What gdb is told about a stop.
    fn stop_reason(&self, event: &StopEvent) -> SingleThreadStopReason<u64> {
        const BP_VECTOR: u32 = 3;
        const DR6_BS: u64 = 1 << 14;
        match event {
            StopEvent::Paused => SingleThreadStopReason::Signal(Signal::SIGINT),
            StopEvent::SwBreakpoint { .. } => SingleThreadStopReason::SwBreak(()),
            StopEvent::Stepped => SingleThreadStopReason::DoneStep,
            StopEvent::Ended { end: GuestEnd::Exited(code), .. } => SingleThreadStopReason::Exited(*code),
            StopEvent::Ended { end: GuestEnd::Signal(sig), .. } => SingleThreadStopReason::Terminated(Signal(*sig)),
            &StopEvent::Debug { exception, dr6, pc } => {
                if exception == BP_VECTOR || self.sw.contains_key(&pc) && dr6 & DR6_BS == 0 {
                    return SingleThreadStopReason::SwBreak(());
                }
                for (i, slot) in self.hw.iter().enumerate() {
                    let Some(slot) = slot else { continue };
                    if dr6 & (1 << i) == 0 {
                        continue;
                    }
                    return match slot.kind {
                        HwKind::Execute => SingleThreadStopReason::HwBreak(()),
                        HwKind::Write => SingleThreadStopReason::Watch { tid: (), kind: WatchKind::Write, addr: slot.addr },
                        HwKind::ReadWrite => SingleThreadStopReason::Watch { tid: (), kind: WatchKind::ReadWrite, addr: slot.addr },
                    };
                }
                if dr6 & DR6_BS != 0 {
                    SingleThreadStopReason::DoneStep
                } else {
                    SingleThreadStopReason::Signal(Signal::SIGTRAP)
                }
            }
        }
    }

    fn free_slot(&self, what: &str, addr: u64) -> Option<usize> {
        let slot = self.hw.iter().position(Option::is_none);
        if slot.is_none() {
            self.log.say(format!("cannot arm a {what} at {addr:#x}: all four debug registers are in use"));
        }
        slot
    }

    fn monitor(&mut self, line: &str, out: &mut ConsoleOutput<'_>) {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("help");
        let args: Vec<&str> = words.collect();
        let text = match command {
            "phys" => self.monitor_phys(&args),
            "translate" | "xlate" => self.monitor_translate(&args),
            _ => monitor::stats_command(command, &args, &self.hub),
        };
        for line in text.lines() {
            outputln!(out, "{line}");
        }
    }

    fn monitor_phys(&self, args: &[&str]) -> String {
        let (Some(addr), len) = (args.first().and_then(|a| monitor::parse_number(a)), args.get(1)) else {
            return "usage: monitor phys ADDRESS [LENGTH]   (hex with 0x, or decimal; LENGTH defaults to 64, at most 4096)".into();
        };
        let len = match len.map(|l| monitor::parse_number(l)) {
            None => 64,
            Some(Some(l)) if (1..=4096).contains(&l) => l as usize,
            Some(_) => return "LENGTH must be 1..=4096".into(),
        };
        match self.call(move |d| {
            let mut buf = vec![0u8; len];
            d.read_phys(addr, &mut buf).map(|()| buf)
        }) {
            Ok(bytes) => monitor::hexdump(addr, &bytes),
            Err(e) => format!("cannot read {len} bytes at physical {addr:#x}: {e}"),
        }
    }

    fn monitor_translate(&self, args: &[&str]) -> String {
        let Some(vaddr) = args.first().and_then(|a| monitor::parse_number(a)) else {
            return "usage: monitor translate VIRTUAL_ADDRESS".into();
        };
        match self.call(move |d| Ok((d.paging_mode()?, d.translate(vaddr)))) {
            Ok((mode, Ok(t))) => format!(
                "{vaddr:#x} -> physical {:#x} (cr3 {:#x}, {}{}, {} KiB left in the page)",
                t.phys,
                mode.cr3,
                if t.writable { "writable" } else { "read-only" },
                if t.user { ", user" } else { ", kernel only" },
                t.bytes_left_in_page / 1024
            ),
            Ok((mode, Err(e))) => format!("{e} (cr3 {:#x})", mode.cr3),
            Err(e) => e.to_string(),
        }
    }
}

impl Target for GdbTarget {
    type Arch = X86_64Kernel;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    // Software breakpoints are real (`SwBreakpoint`), so gdb must never
    // plant an `int3` through a plain memory write.
    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }
}

impl SingleThreadBase for GdbTarget {
    fn read_registers(&mut self, regs: &mut KernelRegs) -> TargetResult<(), Self> {
        match self.call(|d| d.read_regs()) {
            Ok(r) => {
                *regs = r;
                Ok(())
            }
            Err(e) => self.fail("reading the registers", e),
        }
    }

    fn write_registers(&mut self, regs: &KernelRegs) -> TargetResult<(), Self> {
        let regs = regs.clone();
        self.call(move |d| d.write_regs(&regs)).or_else(|e| self.fail("writing the registers", e))
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let len = data.len();
        let read = self.call(move |d| {
            let mut buf = vec![0u8; len];
            d.read_virt(start, &mut buf).map(|n| {
                buf.truncate(n);
                buf
            })
        });
        let bytes = match read {
            Ok(b) => b,
            // gdb probes unmapped addresses all the time (`bt` at the end
            // of a stack, say): no log line for those.
            Err(DebugError::Walk(_)) | Err(DebugError::NotRam(_)) => return Err(TargetError::Errno(14)),
            Err(e) => return self.fail("reading memory", e),
        };
        data[..bytes.len()].copy_from_slice(&bytes);
        // gdb sees the original bytes under its breakpoints.
        for (&addr, &(_, orig)) in self.sw.range(start..start.saturating_add(bytes.len() as u64)) {
            data[(addr - start) as usize] = orig;
        }
        Ok(bytes.len())
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        let mut bytes = data.to_vec();
        let end = start.saturating_add(data.len() as u64);
        // A write over a breakpoint changes what it restores, not the int3.
        for (&addr, (_, orig)) in self.sw.range_mut(start..end) {
            let i = (addr - start) as usize;
            *orig = bytes[i];
            bytes[i] = 0xcc;
        }
        match self.call(move |d| d.write_virt(start, &bytes)) {
            Ok(()) => Ok(()),
            Err(DebugError::Walk(_)) | Err(DebugError::NotRam(_)) => Err(TargetError::Errno(14)),
            Err(e) => self.fail("writing memory", e),
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for GdbTarget {
    fn resume(&mut self, _signal: Option<Signal>) -> std::result::Result<(), String> {
        self.resume_vcpu(false)
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for GdbTarget {
    fn step(&mut self, _signal: Option<Signal>) -> std::result::Result<(), String> {
        self.resume_vcpu(true)
    }
}

impl Breakpoints for GdbTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for GdbTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        if addr < KERNEL_HALF {
            self.log.say(format!(
                "no software breakpoint at user address {addr:#x}: user text is page cache shared by every process mapping the file, so an int3 there would change the file for all of them (use hbreak; on kvm_pvm nothing fires at ring 3)"
            ));
            return Ok(false);
        }
        if self.sw.contains_key(&addr) {
            return Ok(true);
        }
        let inserted = self.call(move |d| {
            let phys = d.translate(addr)?.phys;
            let mut orig = [0u8];
            d.read_phys(phys, &mut orig)?;
            d.write_phys(phys, &[0xcc])?;
            Ok((phys, orig[0]))
        });
        match inserted {
            Ok(saved) => {
                self.sw.insert(addr, saved);
                Ok(true)
            }
            Err(DebugError::Gone) => Err(TargetError::Fatal(DebugError::Gone.to_string())),
            Err(e) => {
                self.log.say(format!("cannot insert a breakpoint at {addr:#x}: {e}"));
                Ok(false)
            }
        }
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let Some(&(phys, orig)) = self.sw.get(&addr) else { return Ok(false) };
        match self.call(move |d| d.write_phys(phys, &[orig])) {
            Ok(()) => {
                self.sw.remove(&addr);
                Ok(true)
            }
            Err(e) => self.fail("removing a breakpoint", e),
        }
    }
}

impl HwBreakpoint for GdbTarget {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let Some(i) = self.free_slot("hardware breakpoint", addr) else { return Ok(false) };
        self.hw[i] = Some(HwSlot { addr, kind: HwKind::Execute, len: 1 });
        Ok(true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let found = self.hw.iter().position(|s| s.is_some_and(|s| s.kind == HwKind::Execute && s.addr == addr));
        Ok(found.map(|i| self.hw[i] = None).is_some())
    }
}

impl HwWatchpoint for GdbTarget {
    fn add_hw_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> TargetResult<bool, Self> {
        let kind = match kind {
            WatchKind::Write => HwKind::Write,
            WatchKind::ReadWrite => HwKind::ReadWrite,
            WatchKind::Read => {
                self.log.say("x86 debug registers have no read-only watchpoint: use awatch (reads and writes)");
                return Ok(false);
            }
        };
        if !matches!(len, 1 | 2 | 4 | 8) || !addr.is_multiple_of(len) {
            self.log.say(format!("a watchpoint covers 1, 2, 4 or 8 bytes at an address aligned to its size, not {len} at {addr:#x}"));
            return Ok(false);
        }
        let Some(i) = self.free_slot("watchpoint", addr) else { return Ok(false) };
        self.hw[i] = Some(HwSlot { addr, kind, len: len as u8 });
        Ok(true)
    }

    fn remove_hw_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> TargetResult<bool, Self> {
        let kind = match kind {
            WatchKind::Write => HwKind::Write,
            WatchKind::ReadWrite => HwKind::ReadWrite,
            WatchKind::Read => return Ok(false),
        };
        let found = self.hw.iter().position(|s| s.is_some_and(|s| s.kind == kind && s.addr == addr && u64::from(s.len) == len));
        Ok(found.map(|i| self.hw[i] = None).is_some())
    }
}

impl MonitorCmd for GdbTarget {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> std::result::Result<(), String> {
        let line = String::from_utf8_lossy(cmd).into_owned();
        self.monitor(&line, &mut out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(body: &str) -> Vec<u8> {
        let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        format!("${body}#{sum:02x}").into_bytes()
    }

    #[test]
    fn good_packets_and_acks_pass_whole() {
        let mut f = PacketFilter::default();
        let mut out = VecDeque::new();
        let mut input = b"+".to_vec();
        input.extend(packet("qSupported:multiprocess+"));
        input.push(0x03);
        assert_eq!(f.push_all(&input, &mut out), 0);
        assert_eq!(out.into_iter().collect::<Vec<u8>>(), input);
        assert_eq!(f.dropped, 0);
    }

    #[test]
    fn noise_is_dropped_and_bad_checksums_nacked() {
        let mut f = PacketFilter::default();
        let mut out = VecDeque::new();
        let good = packet("g");
        let mut input = b"garbage\xff-".to_vec();
        input.extend(b"$m0,4#00"); // wrong checksum
        input.extend(b"$m0,"); // truncated, then a new packet starts
        input.extend(&good);
        input.extend(b"$g#zz"); // not hex
        assert_eq!(f.push_all(&input, &mut out), 1, "one retransmission asked for");
        assert_eq!(out.into_iter().collect::<Vec<u8>>(), good);
        // 9 bytes of noise, the bad checksum, the truncated packet, and
        // `$g#z` plus the second `z`.
        assert_eq!(f.dropped, 9 + 1 + 1 + 2);
    }

    #[test]
    fn oversized_packets_are_refused() {
        let mut f = PacketFilter::default();
        let mut out = VecDeque::new();
        let big = packet(&"x".repeat(MAX_PACKET));
        assert_eq!(f.push_all(&big, &mut out), 1);
        assert!(out.is_empty());
        let fits = packet(&"x".repeat(MAX_PACKET - 4));
        assert_eq!(f.push_all(&fits, &mut out), 0);
        assert_eq!(out.len(), MAX_PACKET);
    }
}
