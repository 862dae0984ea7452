//! The target `gdbstub` drives: registers, memory, breakpoints and the
//! monitor commands, each forwarded to the stopped vCPU as a [`Request`].

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use gdbstub::common::Signal;
use gdbstub::stub::SingleThreadStopReason;
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
use super::log::Log;
use super::{monitor, DebugError, DebugSettings, Debuggable, GuestEnd, HwKind, HwSlot, Request, StopEvent};
use crate::stats::Hub;

/// Where the kernel half of the address space starts: software
/// breakpoints go only there (see the module doc of [`crate::gdb`]).
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// What gdbstub drives: forwards to the stopped vCPU and keeps the
/// breakpoint bookkeeping.
pub(crate) struct GdbTarget {
    requests: Sender<Request>,
    hub: Arc<Hub>,
    log: Log,
    /// The four debug registers.
    hw: [Option<HwSlot>; 4],
    /// Inserted `int3`s: address -> (physical address, original byte).
    sw: BTreeMap<u64, (u64, u8)>,
    /// The vCPU was resumed and has not reported a stop yet.
    pub(super) running: bool,
}

impl GdbTarget {
    pub(crate) fn new(requests: Sender<Request>, hub: Arc<Hub>, log: Log) -> Self {
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

    pub(super) fn remove_all_sw_breakpoints(&mut self) {
        for (addr, (phys, orig)) in std::mem::take(&mut self.sw) {
            if let Err(e) = self.call(move |d| d.write_phys(phys, &[orig])) {
                self.log.say(format!("cannot remove the breakpoint at {addr:#x}: {e}"));
            }
        }
        self.hw = [None; 4];
    }

    /// What gdb is told about a stop.
    pub(super) fn stop_reason(&self, event: &StopEvent) -> SingleThreadStopReason<u64> {
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
