//! The vCPU thread: runs the guest and serves its exits (port I/O for the
//! serial console, the host I/O and exit ports and the instruction marks;
//! MMIO for the stats device; debug exits for gdb and the counter), until
//! the guest powers off, panics, faults or is stopped.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};
use shared::boot::{PanicReport, PANIC_KIND_EXCEPTION, PANIC_REPORT_MAGIC};
use shared::ports::{BOOT_TIMER_MM_READY, PORT_BOOT_TIMER, PORT_CONSOLE, PORT_EXIT, PORT_HOSTIO, PORT_MARK, PORT_PAGEOP, PORT_PANIC, SERIAL_COM1};
use shared::stats::{STATS_MMIO_BASE, STATS_MMIO_SIZE};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use zerocopy::FromBytes;

use crate::count::{Counter, InstructionCounts, Step};
use crate::devices::console::VcpuEvent;
use crate::devices::hostio::HostIoOutput;
use crate::devices::stats::StatsDevice;
use crate::devices::{HostIo, SerialDevice};
use crate::error::{Error, Result};
use crate::gdb::{DebugSettings, GuestEnd, KvmVcpu, Resumed, StopEvent, VcpuLink};
use crate::report::{GuestPanic, Outcome};
use crate::stats::Hub;

/// The stats device and what its messages and commands go through.
pub(crate) struct StatsChannel {
    pub(crate) device: StatsDevice,
    /// Commands from [`Control`]: (id, encoded command).
    pub(crate) commands: Receiver<(u64, Vec<u8>)>,
    pub(crate) hub: Arc<Hub>,
    /// Where messages are forwarded for the streams' `stats` hook, if any.
    pub(crate) events: Option<SyncSender<VcpuEvent>>,
}

impl StatsChannel {
    /// Moves the commands [`Control`] sent into the device.
    fn take_commands(&mut self, mem: &GuestMemoryMmap) {
        let mut any = false;
        while let Ok((id, bytes)) = self.commands.try_recv() {
            self.device.push_command(id, bytes, mem);
            self.hub.taken(id);
            any = true;
        }
        if any {
            self.dispatch();
        }
    }

    /// Hands what the device produced to the hub and the streams.
    fn dispatch(&mut self) {
        for event in self.device.take_events() {
            self.hub.command_event(event);
        }
        for message in self.device.take_messages() {
            let message = Arc::new(message);
            self.hub.record(message.clone());
            if let Some(tx) = &self.events {
                // Only fails once the streams' thread stopped listening.
                let _ = tx.send(VcpuEvent::Stats(message));
            }
        }
    }
}

/// The vCPU thread: runs the guest and serves its exits.
pub(crate) struct VcpuRunner {
    pub(crate) vcpu: VcpuFd,
    pub(crate) mem: GuestMemoryMmap,
    pub(crate) serial: SerialDevice,
    /// The CMOS clock the guest reads the time of day from.
    pub(crate) rtc: crate::devices::Rtc,
    pub(crate) hostio: HostIo,
    /// Pages zeroed and copied for the guest (`PORT_PAGEOP`).
    pub(crate) pageops: crate::devices::PageOps,
    pub(crate) stats: StatsChannel,
    /// The block devices of `--swap`, at `VIRTIO_MMIO_BASE` upwards.
    pub(crate) blocks: Vec<crate::devices::block::BlockDevice>,
    /// The balloon of `--balloon`, in the window after the block devices'.
    pub(crate) balloon: Option<crate::devices::balloon::BalloonDevice>,
    pub(crate) start: Instant,
    pub(crate) boot_time: Option<Duration>,
    pub(crate) stop: Arc<AtomicBool>,
    /// With `--count-instructions`.
    pub(crate) counter: Option<Counter>,
    /// With `--gdb`.
    pub(crate) gdb: Option<VcpuLink>,
    /// `KVM_GUESTDBG_BLOCKIRQ` where KVM has it, else 0.
    pub(crate) block_irq: u32,
    /// gdb asked for one step and no debug exit ended it yet.
    pub(crate) gdb_step_pending: bool,
}

/// Which of `n` block devices' register windows holds `addr`, and the
/// offset in it.
fn block_index(addr: u64, n: usize) -> Option<(usize, u64)> {
    use shared::layout::{VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE};
    let i = usize::try_from(addr.checked_sub(VIRTIO_MMIO_BASE)? / VIRTIO_MMIO_SIZE).ok()?;
    (i < n).then(|| (i, (addr - VIRTIO_MMIO_BASE) % VIRTIO_MMIO_SIZE))
}

/// The offset of `addr` in the balloon's register window, the one after
/// the `blocks` block devices' (`None` outside it, or with no balloon).
fn balloon_offset(addr: u64, blocks: usize, balloon: bool) -> Option<u64> {
    use shared::layout::{VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE};
    let offset = addr.checked_sub(VIRTIO_MMIO_BASE + blocks as u64 * VIRTIO_MMIO_SIZE)?;
    (balloon && offset < VIRTIO_MMIO_SIZE).then_some(offset)
}

/// `KVM_GUESTDBG_BLOCKIRQ` if KVM offers it: interrupts are held off while
/// single-stepping, so that a step (or an instruction count) is the code's
/// own and not an interrupt handler's.
pub(crate) fn block_irq_control(kvm: &Kvm) -> u32 {
    use kvm_bindings::{KVM_CAP_SET_GUEST_DEBUG2, KVM_GUESTDBG_BLOCKIRQ};
    let supported = kvm.check_extension_raw(KVM_CAP_SET_GUEST_DEBUG2.into()).max(0) as u32;
    supported & KVM_GUESTDBG_BLOCKIRQ
}

/// What the vCPU thread hands back.
pub(crate) struct Finished {
    pub(crate) outcome: Outcome,
    pub(crate) boot_time: Option<Duration>,
    pub(crate) console: Vec<u8>,
    pub(crate) hostio: HostIoOutput,
    pub(crate) counts: Option<InstructionCounts>,
    pub(crate) stats_rejected: u64,
    pub(crate) stats_driver_errors: u64,
    pub(crate) balloon: Option<crate::report::BalloonReport>,
    /// Guest RAM the host backed with huge pages at the end.
    pub(crate) host_huge_bytes: u64,
}

impl VcpuRunner {
    pub(crate) fn run(mut self) -> Result<Finished> {
        let outcome = self.run_loop();
        if outcome.is_ok() {
            // Whatever the guest posted without notifying still counts.
            self.stats.device.poll(&self.mem);
            self.stats.dispatch();
        }
        let (reason, clean) = match &outcome {
            Ok(Outcome::Exited(code)) => (format!("the guest powered off with exit code {code}"), true),
            Ok(Outcome::Panicked(p)) => (format!("the guest kernel panicked: {}", p.message), false),
            Ok(Outcome::TripleFault(_)) => ("the guest triple-faulted".to_string(), false),
            Ok(Outcome::EmulationFailure { .. }) => ("KVM could not emulate a guest instruction".to_string(), false),
            Ok(Outcome::TimedOut(_)) => ("the guest was stopped (timeout, or the control closure failed)".to_string(), false),
            Ok(Outcome::Killed(_)) => ("gdb killed the guest".to_string(), false),
            Err(e) => (format!("the VMM failed: {e}"), false),
        };
        self.stats.hub.finish(reason, clean);
        if let Some(link) = &self.gdb {
            // gdb hears how the guest ended before the VMM exits.
            link.ended(match &outcome {
                Ok(Outcome::Exited(code)) => GuestEnd::Exited(*code as u8),
                Ok(Outcome::Panicked(_)) => GuestEnd::Signal(6),                               // SIGABRT
                Ok(Outcome::TripleFault(_)) => GuestEnd::Signal(11),                           // SIGSEGV
                Ok(Outcome::EmulationFailure { .. }) => GuestEnd::Signal(4),                   // SIGILL
                Ok(Outcome::TimedOut(_) | Outcome::Killed(_)) | Err(_) => GuestEnd::Signal(9), // SIGKILL
            });
        }
        let (stats_rejected, stats_driver_errors) = (self.stats.device.rejected(), self.stats.device.driver_errors());
        // Send the last unfinished lines while the output thread listens.
        let mut console = self.serial.into_console();
        let _ = console.flush();
        let hostio = self.hostio.finish();
        let counts = self.counter.map(Counter::finish);
        let host_huge_bytes = crate::memory::host_hugepage_bytes(&self.mem);
        let balloon = self.balloon.as_ref().map(|b| crate::report::BalloonReport {
            reports: b.device.reports,
            reported_pages: b.device.reported_pages,
            resident_before: b.device.resident_before,
            resident_after: b.device.resident_after,
            rejected: b.rejected(),
            inflated_pages: b.device.inflated_pages,
            deflated_pages: b.device.deflated_pages,
            target_pages: b.device.config.target(),
            actual_pages: b.device.config.actual(),
        });
        Ok(Finished {
            outcome: outcome?,
            boot_time: self.boot_time,
            console: console.into_captured(),
            hostio,
            counts,
            stats_rejected,
            stats_driver_errors,
            balloon,
            host_huge_bytes,
        })
    }

    fn run_loop(&mut self) -> Result<Outcome> {
        let serial_ports = SERIAL_COM1..SERIAL_COM1 + SerialDevice::PORTS;
        let stats_mmio = STATS_MMIO_BASE..STATS_MMIO_BASE + STATS_MMIO_SIZE;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(Outcome::TimedOut(crate::arch::cpu_state(&self.vcpu)));
            }
            if self.gdb.as_ref().is_some_and(VcpuLink::take_pause) {
                if let Some(end) = self.debug_stop(StopEvent::Paused)? {
                    return Ok(end);
                }
            }
            self.stats.take_commands(&self.mem);
            let exit = match self.vcpu.run() {
                Ok(exit) => exit,
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(source) => return Err(Error::Kvm { what: "KVM_RUN", source }),
            };
            if let Some(counter) = &mut self.counter {
                if counter.counting() && !matches!(exit, VcpuExit::Debug(_) | VcpuExit::IoOut(PORT_MARK, _)) {
                    counter.other_exit();
                }
            }
            // An exit to the VMM ends a gdb step over the instruction that
            // caused it (kvm_pvm gives no debug exit for it).
            let mut device_exit = true;
            match exit {
                VcpuExit::Debug(arch) => {
                    device_exit = false;
                    if let Some(end) = self.debug_exit(arch)? {
                        return Ok(end);
                    }
                }
                VcpuExit::IoOut(PORT_MARK, data) => {
                    let value = le_value(data);
                    let step = self.counter.as_mut().map(|c| c.mark(value));
                    if matches!(step, Some(Step::Enable | Step::Disable)) {
                        self.apply_guest_debug()?;
                    }
                }
                VcpuExit::IoOut(port, data) if serial_ports.contains(&port) => {
                    self.serial.write(port - SERIAL_COM1, data.first().copied().unwrap_or(0));
                }
                VcpuExit::IoOut(port, data) if crate::devices::Rtc::owns(port) => {
                    self.rtc.write(port, data.first().copied().unwrap_or(0));
                }
                VcpuExit::IoOut(PORT_EXIT, data) => return Ok(Outcome::Exited(le_value(data))),
                VcpuExit::IoOut(PORT_BOOT_TIMER, data) => {
                    if le_value(data) == BOOT_TIMER_MM_READY && self.boot_time.is_none() {
                        self.boot_time = Some(self.start.elapsed());
                    }
                }
                VcpuExit::IoOut(PORT_HOSTIO, data) => self.hostio.request(&self.mem, le_value(data) as u64),
                VcpuExit::IoOut(PORT_CONSOLE, data) => self.hostio.console_request(&self.mem, le_value(data) as u64, self.serial.console_mut()),
                VcpuExit::IoOut(PORT_PAGEOP, data) => self.pageops.request(&self.mem, le_value(data) as u64),
                VcpuExit::IoOut(PORT_PANIC, data) => {
                    let addr = le_value(data) as u64;
                    return Ok(Outcome::Panicked(read_panic_report(&self.mem, addr)));
                }
                // Nothing else is on the I/O bus: writes vanish, reads float high.
                VcpuExit::IoOut(..) => {}
                VcpuExit::IoIn(port, data) if serial_ports.contains(&port) => {
                    let value = self.serial.read(port - SERIAL_COM1);
                    data.fill(0);
                    if let Some(b) = data.first_mut() {
                        *b = value;
                    }
                }
                VcpuExit::IoIn(port, data) if crate::devices::Rtc::owns(port) => {
                    data.fill(0);
                    if let Some(b) = data.first_mut() {
                        *b = self.rtc.read(port);
                    }
                }
                VcpuExit::MmioRead(addr, data) if block_index(addr, self.blocks.len()).is_some() => {
                    let (i, offset) = block_index(addr, self.blocks.len()).unwrap_or_default();
                    self.blocks[i].read(offset, data);
                }
                VcpuExit::MmioWrite(addr, data) if block_index(addr, self.blocks.len()).is_some() => {
                    let (i, offset) = block_index(addr, self.blocks.len()).unwrap_or_default();
                    self.blocks[i].write(offset, data, &self.mem);
                }
                VcpuExit::MmioRead(addr, data) if balloon_offset(addr, self.blocks.len(), self.balloon.is_some()).is_some() => {
                    let offset = balloon_offset(addr, self.blocks.len(), self.balloon.is_some()).unwrap_or_default();
                    if let Some(b) = self.balloon.as_mut() {
                        b.read(offset, data);
                    }
                }
                VcpuExit::MmioWrite(addr, data) if balloon_offset(addr, self.blocks.len(), self.balloon.is_some()).is_some() => {
                    let offset = balloon_offset(addr, self.blocks.len(), self.balloon.is_some()).unwrap_or_default();
                    if let Some(b) = self.balloon.as_mut() {
                        b.write(offset, data, &self.mem);
                    }
                }
                VcpuExit::MmioRead(addr, data) if stats_mmio.contains(&addr) => {
                    self.stats.device.read(addr - STATS_MMIO_BASE, data);
                }
                VcpuExit::MmioWrite(addr, data) if stats_mmio.contains(&addr) => {
                    self.stats.device.write(addr - STATS_MMIO_BASE, data, &self.mem);
                    self.stats.dispatch();
                }
                VcpuExit::IoIn(_, data) | VcpuExit::MmioRead(_, data) => data.fill(0xff),
                VcpuExit::MmioWrite(..) => {}
                VcpuExit::Shutdown => return Ok(Outcome::TripleFault(crate::arch::cpu_state(&self.vcpu))),
                VcpuExit::InternalError => {
                    // SAFETY: KVM filled the `internal` member of the exit union for KVM_EXIT_INTERNAL_ERROR.
                    let suberror = unsafe { self.vcpu.get_kvm_run().__bindgen_anon_1.internal.suberror };
                    let rip = self.vcpu.get_regs().map(|r| r.rip).ok();
                    // kvm_pvm cannot emulate `int3` at ring 0: at one the
                    // stub inserted, this is the breakpoint.
                    if let (Some(rip), Some(link)) = (rip, &self.gdb) {
                        if link.is_sw_breakpoint(rip) {
                            if let Some(end) = self.debug_stop(StopEvent::SwBreakpoint { rip })? {
                                return Ok(end);
                            }
                            continue;
                        }
                    }
                    return Ok(Outcome::EmulationFailure { suberror, cpu: crate::arch::cpu_state(&self.vcpu) });
                }
                VcpuExit::FailEntry(reason, _) => return Err(Error::UnexpectedExit(format!("VM entry failed, hardware reason {reason:#x}"))),
                VcpuExit::Hlt => return Err(Error::UnexpectedExit("the guest halted with nothing to wake it".into())),
                VcpuExit::SystemEvent(kind, _) => return Err(Error::UnexpectedExit(format!("system event {kind} (reset or shutdown request)"))),
                other => return Err(Error::UnexpectedExit(format!("{other:?}"))),
            }
            if device_exit {
                if let Some(end) = self.after_device_exit()? {
                    return Ok(end);
                }
            }
        }
    }

    /// `KVM_EXIT_DEBUG`: a step of the instruction counter, of gdb, or of a
    /// step over a breakpoint; or a breakpoint or watchpoint.
    fn debug_exit(&mut self, arch: kvm_bindings::kvm_debug_exit_arch) -> Result<Option<Outcome>> {
        let for_gdb = self.gdb.as_ref().is_some_and(|l| l.stepping_over || l.wants(arch.exception, arch.dr6, arch.pc));
        if let Some(counter) = &mut self.counter {
            // gdb's own stops are not the counter's business unless a
            // region is open (then each is an instruction of it).
            if counter.counting() || !for_gdb {
                counter.debug_exit(arch.dr6, arch.pc);
            }
        }
        if self.end_step_over()? {
            // The instruction under the breakpoint ran; it is armed again.
            return Ok(None);
        }
        if self.gdb.as_ref().is_some_and(|l| l.wants(arch.exception, arch.dr6, arch.pc)) {
            self.gdb_step_pending = false;
            return self.debug_stop(StopEvent::Debug { exception: arch.exception, dr6: arch.dr6, pc: arch.pc });
        }
        Ok(None)
    }

    /// After an exit the VMM served (port I/O, MMIO): that instruction is
    /// done, which ends a gdb step or a step over a breakpoint.
    fn after_device_exit(&mut self) -> Result<Option<Outcome>> {
        self.end_step_over()?;
        if self.gdb_step_pending {
            self.gdb_step_pending = false;
            return self.debug_stop(StopEvent::Stepped);
        }
        Ok(None)
    }

    /// Ends a step over a breakpoint, arming it again; false if none was
    /// under way.
    fn end_step_over(&mut self) -> Result<bool> {
        match &mut self.gdb {
            Some(link) if link.stepping_over => {
                link.stepping_over = false;
                self.apply_guest_debug()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Stops for gdb until it resumes the guest; `Some` if the guest must
    /// end instead (gdb `kill`, or the VMM's stop flag).
    fn debug_stop(&mut self, event: StopEvent) -> Result<Option<Outcome>> {
        let Some(link) = &mut self.gdb else { return Ok(None) };
        let mut target = KvmVcpu { vcpu: &self.vcpu, mem: &self.mem };
        match link.stopped(event, &mut target, &self.stop) {
            Resumed::Kill => return Ok(Some(Outcome::Killed(crate::arch::cpu_state(&self.vcpu)))),
            Resumed::Stop => return Ok(Some(Outcome::TimedOut(crate::arch::cpu_state(&self.vcpu)))),
            Resumed::Run => {}
        }
        self.gdb_step_pending = link.settings.single_step;
        // Resuming on an armed execution breakpoint would hit it again at
        // once (on kvm_pvm even with RFLAGS.RF): step past it unarmed first.
        if !link.settings.single_step {
            let rip = self.vcpu.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?.rip;
            link.stepping_over = link.settings.without_execute_at(rip).is_some();
        }
        self.apply_guest_debug()?;
        Ok(None)
    }

    /// `KVM_SET_GUEST_DEBUG` for what gdb armed and the instruction counter
    /// needs.
    fn apply_guest_debug(&self) -> Result<()> {
        let counting = self.counter.as_ref().is_some_and(Counter::counting);
        let debug = match &self.gdb {
            Some(link) if link.stepping_over => {
                let rip = self.vcpu.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?.rip;
                let less = link.settings.without_execute_at(rip).unwrap_or_else(|| link.settings.clone());
                less.to_kvm(true, self.block_irq)
            }
            Some(link) => link.settings.to_kvm(counting, self.block_irq),
            None => DebugSettings::default().to_kvm(counting, self.block_irq),
        };
        self.vcpu.set_guest_debug(&debug).map_err(Error::kvm("KVM_SET_GUEST_DEBUG"))
    }
}

/// An I/O port value of 1, 2 or 4 bytes, little-endian.
fn le_value(data: &[u8]) -> u32 {
    data.iter().take(4).rev().fold(0, |acc, &b| (acc << 8) | b as u32)
}

/// Reads the guest's panic report; a report that cannot be read still ends
/// the run as a panic, with the reason in the message.
fn read_panic_report(mem: &GuestMemoryMmap, addr: u64) -> GuestPanic {
    let mut buf = vec![0u8; std::mem::size_of::<PanicReport>()];
    let unreadable = |why: String| GuestPanic {
        message: format!("(panic report at {addr:#x} unreadable: {why})"),
        exception: None,
        rip: 0,
        rsp: 0,
        rflags: 0,
        cr2: 0,
        cr3: 0,
    };
    if let Err(e) = mem.read_slice(&mut buf, GuestAddress(addr)) {
        return unreadable(e.to_string());
    }
    let Ok(report) = PanicReport::read_from_bytes(&buf) else {
        return unreadable("size mismatch".into());
    };
    if report.magic != PANIC_REPORT_MAGIC {
        return unreadable(format!("bad magic {:#x}", report.magic));
    }
    GuestPanic {
        message: String::from_utf8_lossy(report.message()).into_owned(),
        exception: (report.kind == PANIC_KIND_EXCEPTION).then_some((report.vector, report.error_code)),
        rip: report.rip,
        rsp: report.rsp,
        rflags: report.rflags,
        cr2: report.cr2,
        cr3: report.cr3,
    }
}
