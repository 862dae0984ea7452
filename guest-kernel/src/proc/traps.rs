//! Exceptions taken in user mode (Linux `arch/x86/mm/fault.c`
//! `do_user_addr_fault`, `arch/x86/kernel/traps.c`): a page fault goes to
//! the mm's `handle_mm_fault`; what cannot be handled becomes the signal
//! Linux sends (`SIGSEGV`, `SIGBUS`, `SIGFPE`, ...). Also the fault a
//! kernel access to user memory takes (`copy_from_user` and friends).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::*;
use crate::mm::addr::UserAddr;

/// Resolves a kernel-mode fault on a user address (a system call touching
/// user memory that is not mapped yet, or copy-on-write): true when the
/// access may be retried. A resolved fault leaves a PTE that allows the
/// access, except that a write to a `PROT_NONE` page restored read-only
/// needs a second fault; a fault that still does not allow it after a few
/// rounds is one the handler cannot resolve, and the access gets EFAULT.
/// (Counting repeats across calls, as this once did, failed the third
/// legitimate COW fault at one address in a row.)
pub(super) fn kernel_user_fault(addr: u64, err: u64) -> bool {
    let Some(limit) = current().map(|t| t.stack_limit()) else { return false };
    let write = err & fault::PF_WRITE != 0;
    let mut ok = false;
    for _ in 0..3 {
        let Some(mm) = current().and_then(|t| t.mm.as_mut()) else { return false };
        match fault::handle_mm_fault(mm, UserAddr::new(addr), err, limit) {
            Ok(_) => {}
            // Memory was reclaimed (this address space's too, perhaps: it
            // is not borrowed across the reclaim): try again.
            Err(FaultError::Oom) if oom::out_of_memory() => continue,
            Err(_) => break,
        }
        if mm.pt.lookup(UserAddr::new(addr)).is_some_and(|e| e.present() && (!write || e.writable())) {
            ok = true;
            break;
        }
    }
    if let Some(mm) = current().and_then(|t| t.mm.as_mut()) {
        mm.update_hiwater();
    }
    ok
}

/// `count=fault`: the VMM counts the instructions of one anonymous write
/// fault, the 16th write fault of the run (past the first-touch faults
/// that also build page tables).
pub static COUNT_FAULT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

static WRITE_FAULTS: AtomicU64 = AtomicU64::new(0);

const COUNTED_WRITE_FAULT: u64 = 16;

pub(super) fn user_exception(vector: u64, error_code: u64, cr2: u64) {
    let marked = vector == user::X86_TRAP_PF
        && error_code & fault::PF_WRITE != 0
        && COUNT_FAULT.load(Relaxed)
        && WRITE_FAULTS.fetch_add(1, Relaxed) + 1 == COUNTED_WRITE_FAULT;
    if marked {
        crate::arch::mark_begin(::shared::ports::MARK_ANON_WRITE_FAULT);
    }
    handle_user_exception(vector, error_code, cr2);
    if marked {
        crate::arch::mark_end(::shared::ports::MARK_ANON_WRITE_FAULT);
    }
}

fn handle_user_exception(vector: u64, error_code: u64, cr2: u64) {
    use signal::{SigInfo, BUS_ADRERR, FPE_INTDIV, ILL_ILLOPN, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL};
    let task = current().expect("a task is running");
    let fault = |code: i32, addr: u64| SigInfo { code, addr, trapno: vector, err: error_code, ..SigInfo::default() };
    if vector == user::X86_TRAP_PF {
        let limit = task.stack_limit();
        let r = match task.mm.as_mut() {
            Some(mm) => {
                count::fault_begin();
                let r = fault::handle_mm_fault(mm, UserAddr::new(cr2), error_code, limit);
                count::fault_end(&r);
                mm.update_hiwater();
                if r.is_ok() {
                    task.signals.group().usage.own.minflt += 1;
                }
                r
            }
            None => Err(FaultError::MapErr),
        };
        match r {
            Ok(_) => {}
            Err(FaultError::Oom) => {
                // Memory was reclaimed (to swap, or from a process the OOM
                // killer chose): retry the fault. Otherwise this one was
                // chosen (or nothing else could be).
                if !oom::out_of_memory() {
                    do_exit(SIGKILL);
                }
            }
            Err(FaultError::Bus) => force_sig_fault(SIGBUS, fault(BUS_ADRERR, cr2)),
            Err(FaultError::AccErr) => force_sig_fault(SIGSEGV, fault(SEGV_ACCERR, cr2)),
            Err(FaultError::MapErr) => force_sig_fault(SIGSEGV, fault(SEGV_MAPERR, cr2)),
        }
        return;
    }
    // #GP, #UD, #DE, #BP and the rest, as Linux's traps.c sends them.
    let rip = task.regs.rip;
    let (sig, info) = match vector {
        0 => (8, fault(FPE_INTDIV, rip)),    // SIGFPE
        16 | 19 => (8, fault(0, rip)),       // SIGFPE (x87, SIMD)
        3 | 1 => (5, fault(SI_KERNEL, 0)),   // SIGTRAP
        6 => (4, fault(ILL_ILLOPN, rip)),    // SIGILL
        17 => (SIGBUS, fault(SI_KERNEL, 0)), // alignment check
        _ => (SIGSEGV, fault(SI_KERNEL, 0)), // #GP and the rest
    };
    force_sig_fault(sig, info);
}

/// A fault's signal (Linux `force_sig_fault`): to the handler if the task
/// has one (a blocked or ignored one is unblocked and reset, so the fault
/// kills); otherwise Linux's `show_signal_msg` line for SIGSEGV, then the
/// default action.
fn force_sig_fault(sig: i32, info: signal::SigInfo) {
    let task = current().expect("a task is running");
    if task.signals.force(sig as usize, info) {
        return;
    }
    if sig == SIGSEGV {
        let r = &task.regs;
        with_console(|w| {
            let _ = writeln!(w, "{}[{}]: segfault at {:x} ip {:016x} sp {:016x} error {:x}", task.comm, task.pid, info.addr, r.rip, r.rsp, info.err);
        });
    }
    do_exit(sig);
}
