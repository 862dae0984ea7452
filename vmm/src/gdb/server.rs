//! The gdb thread: accepts one gdb at a time on the `--gdb` address and
//! runs `gdbstub`'s protocol state machine for it, over a [`GdbTarget`]
//! that forwards everything to the stopped vCPU (see the module doc of
//! [`crate::gdb`]).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gdbstub::common::Signal;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};

pub use super::log::Log;
use super::packet::{BufferedConn, PacketFilter, MAX_PACKET};
use super::target::GdbTarget;
use super::{DebugSettings, GuestEnd, Request, ServerEvent, ServerLink, StopEvent};
use crate::error::{Error, Result};
use crate::stats::Hub;

/// How often the idle gdb thread looks at its listener and shutdown flag,
/// and how often a pause request re-kicks the vCPU.
const POLL: Duration = Duration::from_millis(20);

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
