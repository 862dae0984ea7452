//! What a VM run ended with, and how the VMM tells the user.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::count::InstructionCounts;
use crate::stats::StatsReport;

/// Exit codes of the `vmm` process besides the guest's own.
pub mod exit_code {
    /// The VMM itself failed (no KVM, bad kernel file, ...).
    pub const VMM_ERROR: i32 = 1;
    /// Bad command line (clap's convention).
    pub const USAGE: i32 = 2;
    /// The guest kernel panicked or took a fatal exception.
    pub const GUEST_PANIC: i32 = 112;
    /// The guest triple-faulted (`KVM_EXIT_SHUTDOWN`).
    pub const TRIPLE_FAULT: i32 = 113;
    /// KVM could not emulate a guest instruction (`KVM_EXIT_INTERNAL_ERROR`).
    pub const EMULATION_FAILURE: i32 = 114;
    /// The guest kernel could not execute init (the console says why), as a
    /// shell reports a command it cannot execute.
    pub const INIT_NOT_EXECUTABLE: i32 = shared::ports::EXIT_INIT_NOT_EXECUTABLE as i32;
    /// `--timeout` expired (as `timeout(1)`).
    pub const TIMEOUT: i32 = 124;
    /// gdb killed the guest (`kill`): 128 + SIGKILL, as a shell reports it.
    pub const KILLED: i32 = 137;
}

/// How many console lines a crash dump repeats.
const DUMP_CONSOLE_LINES: usize = 20;

/// The vCPU's registers at the moment the VMM looked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuState {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    /// rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15.
    pub gprs: [u64; 15],
    pub cs: u16,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

impl fmt::Display for CpuState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 15] = ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"];
        writeln!(f, "  RIP: {:#018x}  RSP: {:#018x}  RFLAGS: {:#010x}  CS: {:#06x}", self.rip, self.rsp, self.rflags, self.cs)?;
        writeln!(f, "  CR0: {:#018x}  CR2: {:#018x}  CR3: {:#018x}", self.cr0, self.cr2, self.cr3)?;
        writeln!(f, "  CR4: {:#018x}  EFER: {:#018x}", self.cr4, self.efer)?;
        for (i, (name, value)) in NAMES.iter().zip(self.gprs).enumerate() {
            write!(f, "  {name:>3}: {value:#018x}")?;
            if i % 3 == 2 {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// A panic the guest kernel reported through the panic port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestPanic {
    pub message: String,
    /// `Some(vector, error code)` when an exception caused it.
    pub exception: Option<(u32, u64)>,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub cr2: u64,
    pub cr3: u64,
}

/// How the guest's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest wrote this code to the exit port.
    Exited(u32),
    /// The kernel panicked and said why.
    Panicked(GuestPanic),
    /// Triple fault: the CPU shut down.
    TripleFault(Option<CpuState>),
    /// KVM failed to emulate an instruction.
    EmulationFailure { suberror: u32, cpu: Option<CpuState> },
    /// `--timeout` expired.
    TimedOut(Option<CpuState>),
    /// gdb's `kill` ended the guest.
    Killed(Option<CpuState>),
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub outcome: Outcome,
    /// VMM start to the kernel's "mm ready" boot-timer write.
    pub boot_time: Option<Duration>,
    /// VMM start to the end of the run.
    pub run_time: Duration,
    /// Everything the guest wrote to its serial console.
    pub console: Vec<u8>,
    /// What a user program wrote to its stdout and stderr through the host
    /// I/O port (`shared::ports::PORT_HOSTIO`); bounded like `console`.
    pub program_stdout: Vec<u8>,
    pub program_stderr: Vec<u8>,
    /// Host I/O requests the VMM refused as invalid (each kind is also
    /// reported once on stderr while the guest runs).
    pub hostio_rejected: u64,
    /// With `--count-instructions` ([`VmConfig::count_instructions`]):
    /// the instructions of each region the guest marked; `None` without.
    ///
    /// [`VmConfig::count_instructions`]: crate::vm::VmConfig::count_instructions
    pub counts: Option<InstructionCounts>,
    /// What the stats channel carried: counts, the last snapshot and the
    /// most recent messages.
    pub stats: StatsReport,
    /// With `--balloon`: what free page reporting gave back.
    pub balloon: Option<BalloonReport>,
    /// Huge pages the host put behind guest RAM.
    pub host_hugepages: HostHugePages,
}

/// Transparent huge pages behind guest RAM on the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostHugePages {
    /// `MADV_HUGEPAGE` was asked for (not `--no-host-hugepages`) and the
    /// host took it.
    pub advised: bool,
    /// Guest RAM backed by host huge pages at the end of the run (bytes).
    pub bytes: u64,
}

/// What the balloon did: free page reporting, inflating and deflating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BalloonReport {
    /// Reports served, and the pages they gave back to the host.
    pub reports: u64,
    pub reported_pages: u64,
    /// Guest RAM resident on the host (bytes): the most seen when a report
    /// arrived, and what was left after the last report.
    pub resident_before: u64,
    pub resident_after: u64,
    /// Chains refused as malformed.
    pub rejected: u64,
    /// Pages the guest gave up by inflating, and took back by deflating.
    pub inflated_pages: u64,
    pub deflated_pages: u64,
    /// The balloon's size at the end, in 4 KiB pages: what the host asked
    /// for, and what the driver said it held.
    pub target_pages: u32,
    pub actual_pages: u32,
}

impl RunReport {
    pub fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.console).into_owned()
    }

    /// The `vmm` process exit code for this outcome.
    pub fn exit_code(&self) -> i32 {
        match self.outcome {
            Outcome::Exited(code) => (code & 0xff) as i32,
            Outcome::Panicked(_) => exit_code::GUEST_PANIC,
            Outcome::TripleFault(_) => exit_code::TRIPLE_FAULT,
            Outcome::EmulationFailure { .. } => exit_code::EMULATION_FAILURE,
            Outcome::TimedOut(_) => exit_code::TIMEOUT,
            Outcome::Killed(_) => exit_code::KILLED,
        }
    }

    /// A readable account of an abnormal end for stderr; `None` after a
    /// normal exit.
    pub fn dump(&self) -> Option<String> {
        let mut out = String::new();
        match &self.outcome {
            Outcome::Exited(_) => return None,
            Outcome::Panicked(p) => {
                let _ = writeln!(out, "vmm: guest kernel panic: {}", p.message);
                if let Some((vector, error_code)) = p.exception {
                    let _ = writeln!(out, "  exception {} ({}), error code {error_code:#x}", vector, exception_name(vector));
                }
                let _ = writeln!(out, "  RIP: {:#018x}  RSP: {:#018x}  RFLAGS: {:#010x}", p.rip, p.rsp, p.rflags);
                let _ = writeln!(out, "  CR2: {:#018x}  CR3: {:#018x}", p.cr2, p.cr3);
            }
            Outcome::TripleFault(cpu) => {
                let _ = writeln!(out, "vmm: guest triple fault (KVM_EXIT_SHUTDOWN): the CPU reset itself");
                write_cpu(&mut out, cpu);
            }
            Outcome::EmulationFailure { suberror, cpu } => {
                let _ = writeln!(
                    out,
                    "vmm: KVM could not emulate a guest instruction (KVM_EXIT_INTERNAL_ERROR, suberror {suberror}); an int3 or int n at ring 0 does this on kvm_pvm"
                );
                write_cpu(&mut out, cpu);
            }
            Outcome::TimedOut(cpu) => {
                let _ = writeln!(out, "vmm: guest timed out after {:.1} s", self.run_time.as_secs_f64());
                write_cpu(&mut out, cpu);
            }
            Outcome::Killed(cpu) => {
                let _ = writeln!(out, "vmm: gdb killed the guest");
                write_cpu(&mut out, cpu);
            }
        }
        let text = self.console_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(DUMP_CONSOLE_LINES)..];
        let _ = writeln!(out, "--- last {} console lines ---", tail.len());
        for line in tail {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "---");
        Some(out)
    }
}

fn write_cpu(out: &mut String, cpu: &Option<CpuState>) {
    match cpu {
        Some(cpu) => {
            let _ = write!(out, "{cpu}");
        }
        None => out.push_str("  (registers unavailable)\n"),
    }
}

/// Mnemonic of an x86 exception vector.
pub fn exception_name(vector: u32) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "reserved", "#MF", "#AC", "#MC", "#XM", "#VE",
        "#CP", "reserved", "reserved", "reserved", "reserved", "reserved", "reserved", "#HV", "#VC", "#SX", "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}
