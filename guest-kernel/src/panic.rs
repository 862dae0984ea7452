//! Kernel panics: say what happened on the console, hand the VMM a
//! [`PanicReport`] through the panic port, stop.

use core::fmt::{self, Write};
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use shared::boot::{PanicReport, PANIC_KIND_EXCEPTION, PANIC_KIND_PANIC, PANIC_MSG_MAX};
use shared::ports::PORT_PANIC;

use crate::arch::cpu;
use crate::mm::addr::__pa_symbol;
use crate::printk::{emergency_console, StackString};

/// Lives in the kernel image, so its physical address is below 4 GiB and
/// fits the 32-bit port write.
static mut PANIC_REPORT: PanicReport = PanicReport::empty();
static PANICKING: AtomicBool = AtomicBool::new(false);

/// Registers and cause of a fatal exception.
pub struct ExceptionInfo {
    pub vector: u32,
    pub error_code: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub cr2: u64,
    pub cr3: u64,
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let (rip, rsp) = cpu::current_rip_rsp();
    let msg = PanicMessage(info);
    let regs = ExceptionInfo { vector: 0, error_code: 0, rip, rsp, rflags: cpu::read_rflags(), cr2: cpu::read_cr2(), cr3: cpu::read_cr3() };
    die(PANIC_KIND_PANIC, format_args!("{msg}"), &regs)
}

/// Called by the exception entry for exceptions the kernel cannot handle.
pub fn exception_panic(args: fmt::Arguments, info: ExceptionInfo) -> ! {
    die(PANIC_KIND_EXCEPTION, args, &info)
}

struct PanicMessage<'a>(&'a core::panic::PanicInfo<'a>);

impl fmt::Display for PanicMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.message())?;
        if let Some(loc) = self.0.location() {
            write!(f, " at {}:{}", loc.file(), loc.line())?;
        }
        Ok(())
    }
}

fn die(kind: u32, args: fmt::Arguments, regs: &ExceptionInfo) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while panicking: the first report is on its way or lost;
        // stop rather than recurse.
        cpu::halt_forever();
    }
    let _ = writeln!(emergency_console(), "Kernel panic - not syncing: {args}");

    let mut msg = StackString::<PANIC_MSG_MAX>::new();
    let _ = write!(msg, "{args}");
    // SAFETY: PANICKING guarantees a single writer, and nothing else reads
    // the report; the VMM reads it after the port write below.
    let report = unsafe { &mut *addr_of_mut!(PANIC_REPORT) };
    report.kind = kind;
    report.vector = regs.vector;
    report.error_code = regs.error_code;
    report.rip = regs.rip;
    report.rsp = regs.rsp;
    report.rflags = regs.rflags;
    report.cr2 = regs.cr2;
    report.cr3 = regs.cr3;
    report.msg_len = msg.as_bytes().len() as u32;
    report.msg[..msg.as_bytes().len()].copy_from_slice(msg.as_bytes());

    cpu::outl(PORT_PANIC, __pa_symbol(addr_of_mut!(PANIC_REPORT)).as_u64() as u32);
    cpu::halt_forever()
}
