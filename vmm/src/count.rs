//! Guest instruction counting (`vmm run --count-instructions`).
//!
//! The kernel brackets a region of its code with two writes to
//! [`PORT_MARK`](shared::ports::PORT_MARK): `MARK_BEGIN | id` before it and `MARK_END | id` after
//! it. On the BEGIN the VMM turns on KVM single-stepping for the vCPU
//! (`KVM_SET_GUEST_DEBUG`, `KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP`),
//! counts each single-step `KVM_EXIT_DEBUG` until the matching END, and
//! turns it off again. On a host whose guest ring 0 is emulated (kvm_pvm)
//! wall time measures the emulator; the instruction count measures the
//! kernel path.
//!
//! What a count includes, as measured on kvm_pvm (the test
//! `a_guest_that_breaks_the_mark_protocol` pins it down with known code):
//! every guest instruction retired at ring 0 after the BEGIN `out` and
//! before the END `out`. Neither `out` is in it (the BEGIN one has
//! completed when stepping goes on, the END one turns it off), but the
//! END's setup is: the kernel's `mark_end` is `mov dx, PORT_MARK; mov eax,
//! value; out`, so its two loads are counted and the BEGIN's are not.
//! An instruction that exits to the VMM inside the region (port I/O, such
//! as the serial console under a printk) gets no single-step exit of its
//! own on kvm_pvm: it is counted in [`RegionCount::exits`] instead, so the
//! instructions executed are `instructions + exits`. (On a VMX/SVM host
//! KVM may also step such an instruction, and the BEGIN `out`, when it
//! completes it; counts there can be higher by those.) Instructions the
//! vCPU runs at ring 3 are not counted: single-step does not fire there on
//! kvm_pvm. Interrupts are held off while stepping where KVM offers it
//! (`KVM_GUESTDBG_BLOCKIRQ`, which kvm_pvm does), so a count is the
//! region's own path and repeats exactly from boot to boot. A `rep`
//! string instruction is stepped a few chunks at a time on kvm_pvm, not
//! per iteration (`rep stosq` over 4 KiB: 2 steps), so bulk clearing and
//! copying hardly show in a count (see BENCHMARKS.md).
//!
//! The protocol is strict and the guest cannot break the VMM with it:
//!
//! - a BEGIN while a region is open is ignored (the open region goes on
//!   counting, the nested one is not counted): one protocol error;
//! - an END with no region open, or for another id than the open one, is
//!   ignored: one protocol error;
//! - a value with neither or both of `MARK_BEGIN` and `MARK_END`: ignored,
//!   one protocol error;
//! - a region still open when the guest stops is reported as unfinished,
//!   with what it counted so far: one protocol error;
//! - a `KVM_EXIT_DEBUG` that is not a single step (DR6.BS clear), or one
//!   while no region is open, is not counted (see
//!   [`InstructionCounts::stray_debug_exits`]).

use std::fmt;

use std::collections::BTreeMap;

use shared::ports::{mark_is_histogram, mark_name, MARK_BEGIN, MARK_END, MARK_RELABEL, MARK_SYSCALL_BASE, MARK_SYSCALL_END};

/// Most regions one run keeps; a guest that marks more loses the rest
/// (each one over is a protocol error), so its memory stays bounded.
pub const MAX_REGIONS: usize = 4096;

/// Most protocol-error messages one run keeps (all are counted).
pub const MAX_ERROR_MESSAGES: usize = 16;

/// Most instruction addresses a traced run keeps (16 MiB of them); the
/// rest are counted but not traced ([`InstructionCounts::trace_dropped`]).
pub const MAX_TRACE: usize = 1 << 20;

/// DR6.BS: the debug exception was a single step.
const DR6_BS: u64 = 1 << 14;

/// Sums of the histogram regions of one id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    pub calls: u64,
    pub total: u64,
    pub max: u64,
}

/// The name of a histogram id: `syscall 39 getpid`, or the region's name.
pub fn histogram_name(id: u32) -> String {
    if (MARK_SYSCALL_BASE..MARK_SYSCALL_END).contains(&id) {
        let nr = u64::from(id - MARK_SYSCALL_BASE);
        format!("syscall {nr} {}", shared::syscalls::name(nr).unwrap_or("(unknown)"))
    } else {
        mark_name(id).to_string()
    }
}

/// The ids the mark port carries below the BEGIN/END flags.
const MARK_ID_MASK: u32 = MARK_BEGIN - 1;

/// One counted region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionCount {
    /// The region id (`shared::ports::MARK_*`).
    pub id: u32,
    /// Guest instructions single-stepped inside the region.
    pub instructions: u64,
    /// VM exits inside the region other than the single steps (port I/O,
    /// MMIO, marks that were ignored), each served as usual. On kvm_pvm
    /// the instruction that caused one is not in `instructions` (see the
    /// module doc).
    pub exits: u64,
    /// `false` when the guest stopped before the region's END.
    pub finished: bool,
}

impl RegionCount {
    /// The name of the region (`shared::ports::mark_name`).
    pub fn name(&self) -> &'static str {
        mark_name(self.id)
    }
}

impl fmt::Display for RegionCount {
    /// `counted 1234 guest instructions (2 other VM exits): NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "counted {} guest instructions", self.instructions)?;
        match self.exits {
            0 => {}
            1 => write!(f, " (1 other VM exit: port I/O)")?,
            n => write!(f, " ({n} other VM exits: port I/O)")?,
        }
        write!(f, ": {}", self.name())?;
        if !self.finished {
            write!(f, " [unfinished: the guest stopped inside the region]")?;
        }
        Ok(())
    }
}

/// What the counter saw in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstructionCounts {
    /// Each region the guest marked, in order (at most [`MAX_REGIONS`]),
    /// except the histogram ones (`shared::ports::mark_is_histogram`).
    pub regions: Vec<RegionCount>,
    /// The histogram regions, summed by id (every one, no limit).
    pub histogram: BTreeMap<u32, Histogram>,
    /// Mark writes that broke the protocol (see the module doc).
    pub protocol_errors: u64,
    /// What the first [`MAX_ERROR_MESSAGES`] protocol errors were.
    pub error_messages: Vec<String>,
    /// `KVM_EXIT_DEBUG`s that were not single steps inside a region.
    pub stray_debug_exits: u64,
    /// With tracing on ([`Counter::with_trace`]): the address of every
    /// counted instruction, in order, with the index of its region in
    /// [`InstructionCounts::regions`] (at most [`MAX_TRACE`]).
    pub trace: Vec<TracedStep>,
    /// Counted instructions left out of `trace` once it was full.
    pub trace_dropped: u64,
}

/// One counted instruction of a traced run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracedStep {
    /// Index of the region in [`InstructionCounts::regions`].
    pub region: usize,
    /// The guest RIP of the instruction.
    pub pc: u64,
}

impl InstructionCounts {
    /// The instruction counts of the finished regions with `id`, in order.
    pub fn of(&self, id: u32) -> Vec<u64> {
        self.regions.iter().filter(|r| r.id == id && r.finished).map(|r| r.instructions).collect()
    }

    /// The trace as text, one counted instruction per line: its guest
    /// address and the index of its region among the `counted` lines
    /// (`0xffffffff8012abcd 3`), so that `cut -d' ' -f1 | addr2line -f -e
    /// KERNEL` names the functions.
    pub fn trace_text(&self) -> String {
        let mut out = String::with_capacity(self.trace.len() * 24);
        for step in &self.trace {
            out.push_str(&format!("{:#x} {}\n", step.pc, step.region));
        }
        out
    }

    /// The lines `vmm` prints on stderr at exit, without the `vmm: `
    /// prefix.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.regions.iter().map(|r| r.to_string()).collect();
        if !self.histogram.is_empty() {
            lines.push("instruction histogram: calls, total, mean and max guest instructions per region".into());
            for (&id, h) in &self.histogram {
                lines.push(format!(
                    "  {:>7} calls {:>12} total {:>8} mean {:>8} max  {}",
                    h.calls,
                    h.total,
                    h.total / h.calls.max(1),
                    h.max,
                    histogram_name(id)
                ));
            }
        }
        if self.regions.is_empty() && self.histogram.is_empty() && self.protocol_errors == 0 {
            lines.push("--count-instructions: the guest marked no region (the kernel marks them for count=alloc_page,kmalloc64,fault on --cmdline)".into());
        }
        if self.protocol_errors > 0 {
            lines.push(format!("instruction counting: {} protocol errors in the guest's marks:", self.protocol_errors));
            lines.extend(self.error_messages.iter().map(|m| format!("  {m}")));
            if self.protocol_errors > self.error_messages.len() as u64 {
                lines.push(format!("  ... and {} more", self.protocol_errors - self.error_messages.len() as u64));
            }
        }
        if self.stray_debug_exits > 0 {
            lines.push(format!(
                "instruction counting: {} KVM_EXIT_DEBUG exits that were not single steps inside a region (not counted)",
                self.stray_debug_exits
            ));
        }
        lines
    }
}

/// What the run loop must do with single-stepping after a mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Turn it on: a region began.
    Enable,
    /// Turn it off: the region ended.
    Disable,
    /// Leave it as it is.
    Keep,
}

/// The counter's state machine, fed by the vCPU's run loop. It knows
/// nothing of KVM: the run loop turns [`Step`]s into `KVM_SET_GUEST_DEBUG`.
#[derive(Debug, Default)]
pub struct Counter {
    counts: InstructionCounts,
    open: Option<RegionCount>,
    tracing: bool,
}

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter that also records the address of every counted
    /// instruction ([`InstructionCounts::trace`]).
    pub fn with_trace() -> Self {
        Self { tracing: true, ..Self::default() }
    }

    /// Whether a region is open (single-stepping is on).
    pub fn counting(&self) -> bool {
        self.open.is_some()
    }

    /// A write of `value` to the mark port. One that is ignored while a
    /// region is open counts as one of its exits.
    pub fn mark(&mut self, value: u32) -> Step {
        let step = self.mark_step(value);
        if let (Step::Keep, Some(open)) = (step, &mut self.open) {
            open.exits += 1;
        }
        step
    }

    fn mark_step(&mut self, value: u32) -> Step {
        let id = value & MARK_ID_MASK;
        let flags = value & !MARK_ID_MASK;
        match (flags, &mut self.open) {
            (MARK_BEGIN, None) => {
                if self.counts.regions.len() >= MAX_REGIONS && !mark_is_histogram(id) {
                    self.error(format!("BEGIN of region {id} past the limit of {MAX_REGIONS} regions: not counted"));
                    return Step::Keep;
                }
                self.open = Some(RegionCount { id, instructions: 0, exits: 0, finished: false });
                Step::Enable
            }
            (MARK_BEGIN, Some(open)) => {
                let open_id = open.id;
                self.error(format!("BEGIN of region {id} while region {open_id} is open: ignored (nested regions are not counted apart)"));
                Step::Keep
            }
            (MARK_END, Some(open)) if open.id == id => {
                let mut region = *open;
                region.finished = true;
                self.open = None;
                if mark_is_histogram(id) {
                    let h = self.counts.histogram.entry(id).or_default();
                    h.calls += 1;
                    h.total += region.instructions;
                    h.max = h.max.max(region.instructions);
                } else {
                    self.counts.regions.push(region);
                }
                Step::Disable
            }
            (MARK_RELABEL, Some(open)) => {
                open.id = id;
                Step::Keep
            }
            (MARK_RELABEL, None) => {
                self.error(format!("RELABEL to region {id} without a region open: ignored"));
                Step::Keep
            }
            (MARK_END, Some(open)) => {
                let open_id = open.id;
                self.error(format!("END of region {id} while region {open_id} is open: ignored"));
                Step::Keep
            }
            (MARK_END, None) => {
                self.error(format!("END of region {id} without a BEGIN: ignored"));
                Step::Keep
            }
            _ => {
                self.error(format!("mark value {value:#x} is neither BEGIN ({MARK_BEGIN:#x}) nor END ({MARK_END:#x}) | id: ignored"));
                Step::Keep
            }
        }
    }

    /// A `KVM_EXIT_DEBUG` with this DR6 at guest address `pc`.
    pub fn debug_exit(&mut self, dr6: u64, pc: u64) {
        match &mut self.open {
            Some(open) if dr6 & DR6_BS != 0 => {
                open.instructions += 1;
                if self.tracing {
                    // The open region is pushed next, at this index.
                    let region = self.counts.regions.len();
                    if self.counts.trace.len() < MAX_TRACE {
                        self.counts.trace.push(TracedStep { region, pc });
                    } else {
                        self.counts.trace_dropped += 1;
                    }
                }
            }
            _ => self.counts.stray_debug_exits += 1,
        }
    }

    /// Any other VM exit (not a step, not a mark).
    pub fn other_exit(&mut self) {
        if let Some(open) = &mut self.open {
            open.exits += 1;
        }
    }

    /// The counts, once the guest has stopped; a region still open is
    /// kept as unfinished.
    pub fn finish(mut self) -> InstructionCounts {
        if let Some(open) = self.open.take() {
            self.error(format!("region {} was still open when the guest stopped", open.id));
            self.counts.regions.push(open);
        }
        self.counts
    }

    fn error(&mut self, message: String) {
        self.counts.protocol_errors += 1;
        if self.counts.error_messages.len() < MAX_ERROR_MESSAGES {
            self.counts.error_messages.push(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: u64 = DR6_BS | 0xffff_0ff0;

    #[test]
    fn one_region() {
        let mut c = Counter::new();
        assert_eq!(c.mark(MARK_BEGIN | 3), Step::Enable);
        assert!(c.counting());
        for _ in 0..10 {
            c.debug_exit(STEP, 0);
        }
        c.other_exit();
        assert_eq!(c.mark(MARK_END | 3), Step::Disable);
        assert!(!c.counting());
        c.other_exit();
        c.debug_exit(STEP, 0);
        let counts = c.finish();
        assert_eq!(counts.regions, [RegionCount { id: 3, instructions: 10, exits: 1, finished: true }]);
        assert_eq!(counts.of(3), [10]);
        assert_eq!(counts.protocol_errors, 0);
        assert_eq!(counts.stray_debug_exits, 1);
        assert_eq!(counts.lines()[0], "counted 10 guest instructions (1 other VM exit: port I/O): kmalloc(64, GFP_KERNEL) + kfree");
    }

    #[test]
    fn protocol_errors_are_ignored_and_reported() {
        let mut c = Counter::new();
        assert_eq!(c.mark(MARK_END | 2), Step::Keep);
        assert_eq!(c.mark(MARK_BEGIN | 2), Step::Enable);
        c.debug_exit(STEP, 0);
        assert_eq!(c.mark(MARK_BEGIN | 3), Step::Keep);
        c.debug_exit(STEP, 0);
        assert_eq!(c.mark(MARK_END | 3), Step::Keep);
        c.debug_exit(0, 0); // not a single step
        assert_eq!(c.mark(0x1234), Step::Keep);
        assert_eq!(c.mark(MARK_BEGIN | MARK_END | 2), Step::Keep);
        assert_eq!(c.mark(MARK_END | 2), Step::Disable);
        assert_eq!(c.mark(MARK_BEGIN | 1), Step::Enable);
        c.debug_exit(STEP, 0);
        let counts = c.finish();
        assert_eq!(
            counts.regions,
            [RegionCount { id: 2, instructions: 2, exits: 4, finished: true }, RegionCount { id: 1, instructions: 1, exits: 0, finished: false },]
        );
        assert_eq!(counts.of(1), Vec::<u64>::new());
        assert_eq!(counts.protocol_errors, 6);
        assert_eq!(counts.stray_debug_exits, 1);
        let text = counts.lines().join("\n");
        assert!(text.contains("END of region 2 without a BEGIN: ignored"), "{text}");
        assert!(text.contains("BEGIN of region 3 while region 2 is open"), "{text}");
        assert!(text.contains("END of region 3 while region 2 is open"), "{text}");
        assert!(text.contains("mark value 0x1234 is neither"), "{text}");
        assert!(text.contains("region 1 was still open"), "{text}");
        assert!(text.contains("[unfinished"), "{text}");
        assert!(text.contains("1 KVM_EXIT_DEBUG exits that were not single steps"), "{text}");
    }

    /// Histogram regions are summed by id, without limit, and a relabel
    /// moves the open region to another id.
    #[test]
    fn histogram_regions_are_summed_and_relabelled() {
        use shared::ports::{MARK_FAULT_ANON, MARK_FAULT_OTHER};
        let mut c = Counter::new();
        for n in [3u64, 5, 10] {
            assert_eq!(c.mark(MARK_BEGIN | (MARK_SYSCALL_BASE + 39)), Step::Enable);
            for _ in 0..n {
                c.debug_exit(STEP, 0);
            }
            assert_eq!(c.mark(MARK_END | (MARK_SYSCALL_BASE + 39)), Step::Disable);
        }
        for _ in 0..MAX_REGIONS + 5 {
            c.mark(MARK_BEGIN | MARK_FAULT_OTHER);
            c.debug_exit(STEP, 0);
            assert_eq!(c.mark(MARK_RELABEL | MARK_FAULT_ANON), Step::Keep);
            c.debug_exit(STEP, 0);
            c.mark(MARK_END | MARK_FAULT_ANON);
        }
        assert_eq!(c.mark(MARK_RELABEL | 3), Step::Keep);
        let counts = c.finish();
        assert!(counts.regions.is_empty());
        assert_eq!(counts.histogram[&(MARK_SYSCALL_BASE + 39)], Histogram { calls: 3, total: 18, max: 10 });
        let anon = counts.histogram[&MARK_FAULT_ANON];
        assert_eq!((anon.calls, anon.total, anon.max), (MAX_REGIONS as u64 + 5, 2 * (MAX_REGIONS as u64 + 5), 2));
        assert!(!counts.histogram.contains_key(&MARK_FAULT_OTHER));
        assert_eq!(counts.protocol_errors, 1, "{:?}", counts.error_messages);
        let lines = counts.lines();
        assert!(lines.iter().any(|l| l.contains("3 calls") && l.contains("18 total") && l.contains("6 mean") && l.ends_with("syscall 39 getpid")), "{lines:?}");
    }

    #[test]
    fn bounded() {
        let mut c = Counter::new();
        for _ in 0..MAX_REGIONS + 10 {
            c.mark(MARK_BEGIN | 1);
            c.mark(MARK_END | 1);
        }
        let counts = c.finish();
        assert_eq!(counts.regions.len(), MAX_REGIONS);
        assert_eq!(counts.protocol_errors, 20);
        assert_eq!(counts.error_messages.len(), MAX_ERROR_MESSAGES);
        assert!(counts.lines().iter().any(|l| l.contains("and 4 more")));
    }

    #[test]
    fn a_trace_names_each_counted_instruction_and_its_region() {
        let mut c = Counter::with_trace();
        c.debug_exit(STEP, 0x10); // outside a region: stray, not traced
        c.mark(MARK_BEGIN | 3);
        c.debug_exit(STEP, 0xffff_ffff_8000_1000);
        c.debug_exit(0, 0x20); // not a single step
        c.debug_exit(STEP, 0xffff_ffff_8000_1003);
        c.mark(MARK_END | 3);
        c.mark(MARK_BEGIN | 1);
        c.debug_exit(STEP, 0xffff_ffff_8000_2000);
        let counts = c.finish();
        let pcs: Vec<(usize, u64)> = counts.trace.iter().map(|s| (s.region, s.pc)).collect();
        assert_eq!(pcs, [(0, 0xffff_ffff_8000_1000), (0, 0xffff_ffff_8000_1003), (1, 0xffff_ffff_8000_2000)]);
        let text = counts.trace_text();
        assert_eq!(text.lines().next(), Some("0xffffffff80001000 0"), "{text}");
        assert_eq!(text.lines().count(), 3);
        assert_eq!(Counter::new().finish().trace, [], "no trace unless asked for");
    }

    #[test]
    fn nothing_marked() {
        let lines = Counter::new().finish().lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("the guest marked no region"), "{lines:?}");
    }
}
