//! Delivering a signal to a handler and coming back (Linux
//! `arch/x86/kernel/signal.c` and `signal_64.c`): on the way back to user
//! mode the lowest deliverable signal is taken; a handler gets an
//! `rt_sigframe` on the user stack (or the alternate stack), laid out as
//! Linux x86-64 lays it out, so that libc's restorer, debuggers and
//! `ucontext_t` readers find what they expect:
//!
//! ```text
//!   higher addresses
//!   (red zone: 128 bytes below the interrupted rsp, unless on the altstack)
//!   fpstate      512-byte fxsave area, 64-byte aligned   <- uc_mcontext.fpstate
//!   rt_sigframe  { pretcode = sa_restorer, ucontext uc, siginfo info }
//!   rsp at handler entry = &pretcode, so (rsp + 8) % 16 == 0 as after a call
//! ```
//!
//! `rt_sigreturn` (the restorer's system call) reads the frame back:
//! general registers, flags (user-changeable ones only), the blocked mask,
//! the FPU state (MXCSR cleaned so `fxrstor` cannot fault) and the
//! alternate stack; a frame whose `rip` is not a user address kills with
//! SIGSEGV, as Linux's bad-frame path does.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use shared::ports::{MARK_SIGNAL_DELIVERY, MARK_SIGRETURN};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::{
    KSigaction, SigInfo, SignalState, StackT, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER, SIG_DFL, SIG_IGN, SS_AUTODISARM, SS_DISABLE,
    SS_ONSTACK, UNBLOCKABLE,
};
use crate::arch::user::{FpuState, UserRegs, SYSCALL_TRAMPOLINE};
use crate::proc::uaccess::{copy_to_user, get_user};
use crate::proc::{current, do_exit, Task};

/// x86-64 `struct sigcontext` (256 bytes).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    pub fpstate: u64,
    pub reserved1: [u64; 8],
}

/// The kernel's `struct ucontext` (uc_sigmask is the kernel's 8 bytes).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
pub struct UContext {
    pub uc_flags: u64,
    pub uc_link: u64,
    pub uc_stack: StackT,
    pub uc_mcontext: SigContext,
    pub uc_sigmask: u64,
}

/// `struct rt_sigframe` without the siginfo (written apart, as bytes).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable)]
#[repr(C)]
struct FrameHead {
    pretcode: u64,
    uc: UContext,
}

const FRAME_SIZE: u64 = core::mem::size_of::<FrameHead>() as u64 + 128;
const _: () = assert!(core::mem::size_of::<SigContext>() == 256 && core::mem::size_of::<UContext>() == 304 && FRAME_SIZE == 440);

/// `uc_flags`: the frame saves SS and must restore it as saved.
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
const FPSTATE_SIZE: u64 = 512;
const REDZONE: u64 = 128;
const X86_EFLAGS_TF: u64 = 1 << 8;
const X86_EFLAGS_DF: u64 = 1 << 10;
const X86_EFLAGS_RF: u64 = 1 << 16;
const USER_CS: u16 = 0x33;
const USER_DS: u16 = 0x2b;
const SIGSEGV: usize = 11;

/// Linux's internal "restart this call" results: restarted when no
/// handler runs (and, for `ERESTARTSYS`, when the handler has
/// `SA_RESTART`), otherwise `EINTR`. Never seen by user code.
pub const ERESTARTSYS: i32 = 512;
pub const ERESTARTNOHAND: i32 = 514;
const EINTR: u64 = 4;

/// `count=signal`: the VMM counts the instructions of the second signal
/// delivered to a handler and of the second `rt_sigreturn` (past the
/// first, whose frame may fault in a stack page).
pub static COUNT_SIGNAL: AtomicBool = AtomicBool::new(false);
static DELIVERIES: AtomicU64 = AtomicU64::new(0);
static SIGRETURNS: AtomicU64 = AtomicU64::new(0);
const COUNTED: u64 = 2;

fn counted(n: &AtomicU64) -> bool {
    COUNT_SIGNAL.load(Relaxed) && n.fetch_add(1, Relaxed) + 1 == COUNTED
}

/// Whether the current task has a signal that should interrupt a
/// blocking call: a kill, or a deliverable signal.
pub fn signal_pending() -> bool {
    current().is_some_and(|t| t.pending_kill.is_some() || t.signals.deliverable() != 0)
}

/// Whether `sp` lies on the task's alternate stack.
fn on_altstack(ss: &StackT, sp: u64) -> bool {
    ss.ss_size != 0 && ss.ss_flags & SS_DISABLE == 0 && sp > ss.ss_sp && sp - ss.ss_sp <= ss.ss_size
}

/// The `stack_t` a frame records (and `sigaltstack` reports) for `sp`.
pub fn altstack_report(ss: &StackT, sp: u64) -> StackT {
    let mut r = *ss;
    if ss.ss_size == 0 || ss.ss_flags & SS_DISABLE != 0 {
        r = StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 };
    } else if on_altstack(ss, sp) {
        r.ss_flags = SS_ONSTACK | (ss.ss_flags & SS_AUTODISARM);
    }
    r
}

/// On the way back to user mode: delivers what is deliverable (Linux
/// `arch_do_signal_or_restart`), settling an interrupted system call
/// (`restart`: its number, if it asked to be restarted). The task may end
/// here (a default action, or a frame that cannot be written).
pub fn do_signal(task: &mut Task, restart: Option<(u64, i32)>) {
    let mut restart = restart;
    while task.exit_status.is_none() {
        let Some((sig, info)) = task.signals.dequeue() else { break };
        let act = task.signals.action(sig);
        match act.handler {
            SIG_IGN => continue,
            SIG_DFL if SignalState::default_is_nothing(sig) => continue,
            SIG_DFL if super::siginfo::is_stop_signal(sig) => {
                // SIGTSTP, SIGTTIN, SIGTTOU do nothing to an orphaned
                // process group (Linux get_signal); SIGSTOP always stops.
                if sig == super::SIGSTOP || !super::jobctl::is_orphaned_pgrp(task.pgid) {
                    super::jobctl::do_signal_stop(task, sig);
                }
                continue;
            }
            SIG_DFL => {
                // Terminate, after a core file for the signals that dump
                // one (when RLIMIT_CORE allows): the status says so.
                let core = super::super::coredump::dumps_core(sig) && super::super::coredump::do_coredump(task, sig, &info);
                do_exit(sig as i32 | if core { 0x80 } else { 0 });
                return;
            }
            _ => {
                let marked = counted(&DELIVERIES);
                if marked {
                    crate::arch::mark_begin(MARK_SIGNAL_DELIVERY);
                }
                if let Some((nr, why)) = restart.take() {
                    if why == ERESTARTSYS && act.flags & SA_RESTART != 0 {
                        rewind_syscall(&mut task.regs, nr);
                    } else {
                        task.regs.rax = (-(EINTR as i64)) as u64;
                    }
                }
                let set_up = setup_rt_frame(task, sig, &act, &info);
                if marked {
                    crate::arch::mark_end(MARK_SIGNAL_DELIVERY);
                }
                if set_up.is_err() {
                    // Linux `force_sigsegv`: a frame that cannot be written
                    // kills.
                    do_exit(SIGSEGV as i32);
                    return;
                }
            }
        }
    }
    if let Some((nr, _)) = restart {
        // No handler ran: the call goes on as if nothing happened.
        rewind_syscall(&mut task.regs, nr);
    }
    if let Some(mask) = task.signals.saved_mask.take() {
        // rt_sigsuspend with no handler run: its mask ends now.
        task.signals.blocked = mask;
    }
}

/// Makes the task execute its `syscall` instruction (2 bytes, just before
/// `rip`) again, with the call's number.
fn rewind_syscall(regs: &mut UserRegs, nr: u64) {
    regs.rax = nr;
    regs.rip = regs.rip.wrapping_sub(2);
}

/// Builds the frame and points the task at the handler (Linux
/// `setup_rt_frame` + `signal_setup_done`).
fn setup_rt_frame(task: &mut Task, sig: usize, act: &KSigaction, info: &SigInfo) -> Result<(), ()> {
    // x86-64 returns through the restorer libc gives; without one there
    // is nowhere to return to.
    if act.flags & SA_RESTORER == 0 {
        return Err(());
    }
    let regs = &task.regs;
    let ss = task.signals.altstack;
    let mut sp = regs.rsp;
    if act.flags & SA_ONSTACK != 0 && ss.ss_size != 0 && ss.ss_flags & SS_DISABLE == 0 && !on_altstack(&ss, sp) {
        sp = ss.ss_sp.wrapping_add(ss.ss_size);
    } else {
        sp = sp.wrapping_sub(REDZONE);
    }
    let fpstate = (sp.wrapping_sub(FPSTATE_SIZE)) & !63;
    let frame = ((fpstate.wrapping_sub(FRAME_SIZE)) & !15).wrapping_sub(8);
    let old_mask = task.signals.saved_mask.take().unwrap_or(task.signals.blocked);
    let sc = SigContext {
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rdi: regs.rdi,
        rsi: regs.rsi,
        rbp: regs.rbp,
        rbx: regs.rbx,
        rdx: regs.rdx,
        rax: regs.rax,
        rcx: regs.rcx,
        rsp: regs.rsp,
        rip: regs.rip,
        eflags: regs.rflags,
        cs: USER_CS,
        gs: 0,
        fs: 0,
        ss: USER_DS,
        err: info.err,
        trapno: info.trapno,
        oldmask: old_mask,
        cr2: if info.trapno == 14 { info.addr } else { 0 },
        fpstate,
        reserved1: [0; 8],
    };
    let head = FrameHead {
        pretcode: act.restorer,
        uc: UContext {
            uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
            uc_link: 0,
            uc_stack: altstack_report(&ss, regs.rsp),
            uc_mcontext: sc,
            uc_sigmask: old_mask,
        },
    };
    copy_to_user(fpstate, &crate::proc::fpu::snapshot(task).0).map_err(|_| ())?;
    copy_to_user(frame, head.as_bytes()).map_err(|_| ())?;
    copy_to_user(frame + core::mem::size_of::<FrameHead>() as u64, &info.to_user(sig)).map_err(|_| ())?;

    let regs = &mut task.regs;
    regs.rdi = sig as u64;
    regs.rsi = frame + core::mem::size_of::<FrameHead>() as u64;
    regs.rdx = frame + 8;
    regs.rax = 0;
    regs.rsp = frame;
    regs.rip = act.handler;
    regs.rflags &= !(X86_EFLAGS_DF | X86_EFLAGS_TF | X86_EFLAGS_RF);
    // The handler starts with a clean FPU (Linux `fpu__clear_user_states`).
    crate::proc::fpu::set(task, FpuState::new());
    let signals = &mut task.signals;
    signals.blocked |= act.mask;
    if act.flags & SA_NODEFER == 0 {
        signals.blocked |= super::sigmask(sig);
    }
    signals.blocked &= !UNBLOCKABLE;
    if act.flags & SA_RESETHAND != 0 {
        signals.reset_action(sig);
    }
    if ss.ss_flags & SS_AUTODISARM != 0 && act.flags & SA_ONSTACK != 0 {
        signals.altstack = StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 };
    }
    Ok(())
}

/// `rt_sigreturn`: restores what the frame at the stack pointer saved.
/// Everything the frame holds is the user's to forge: only user
/// addresses, user-changeable flags and a clean MXCSR get through.
pub fn sys_rt_sigreturn() {
    let marked = counted(&SIGRETURNS);
    if marked {
        crate::arch::mark_begin(MARK_SIGRETURN);
    }
    rt_sigreturn();
    if marked {
        crate::arch::mark_end(MARK_SIGRETURN);
    }
}

fn rt_sigreturn() {
    let Some(task) = current() else { return };
    let frame = task.regs.rsp.wrapping_sub(8);
    let uc: UContext = match get_user(frame.wrapping_add(8)) {
        Ok(uc) => uc,
        Err(_) => return do_exit(SIGSEGV as i32),
    };
    let sc = uc.uc_mcontext;
    if sc.rip >= SYSCALL_TRAMPOLINE {
        return do_exit(SIGSEGV as i32);
    }
    let fpu = if sc.fpstate != 0 {
        match get_user::<[u8; 512]>(sc.fpstate) {
            Ok(bytes) => FpuState::from_user(bytes),
            Err(_) => return do_exit(SIGSEGV as i32),
        }
    } else {
        FpuState::new()
    };
    let r = &mut task.regs;
    r.r8 = sc.r8;
    r.r9 = sc.r9;
    r.r10 = sc.r10;
    r.r11 = sc.r11;
    r.r12 = sc.r12;
    r.r13 = sc.r13;
    r.r14 = sc.r14;
    r.r15 = sc.r15;
    r.rdi = sc.rdi;
    r.rsi = sc.rsi;
    r.rbp = sc.rbp;
    r.rbx = sc.rbx;
    r.rdx = sc.rdx;
    r.rax = sc.rax;
    r.rcx = sc.rcx;
    r.rsp = sc.rsp;
    r.rip = sc.rip;
    // enter_user keeps only the flags user code may change.
    r.rflags = sc.eflags;
    crate::proc::fpu::set(task, fpu);
    task.signals.blocked = uc.uc_sigmask & !UNBLOCKABLE;
    // The alternate stack as the frame had it (Linux `restore_altstack`;
    // refused quietly, as there, when it makes no sense).
    let _ = set_altstack(task, &uc.uc_stack);
}

/// `sigaltstack`'s change (also `rt_sigreturn`'s): `EPERM` while running
/// on the current alternate stack, `EINVAL` for unknown flags, `ENOMEM`
/// below `MINSIGSTKSZ`.
pub fn set_altstack(task: &mut Task, ss: &StackT) -> Result<(), i32> {
    const EPERM: i32 = 1;
    const EINVAL: i32 = 22;
    const ENOMEM: i32 = 12;
    if on_altstack(&task.signals.altstack, task.regs.rsp) {
        return Err(EPERM);
    }
    let mode = ss.ss_flags & !SS_AUTODISARM;
    if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
        return Err(EINVAL);
    }
    task.signals.altstack = if mode == SS_DISABLE {
        StackT { ss_sp: 0, ss_flags: SS_DISABLE, pad: 0, ss_size: 0 }
    } else {
        if ss.ss_size < super::MINSIGSTKSZ {
            return Err(ENOMEM);
        }
        StackT { ss_sp: ss.ss_sp, ss_flags: ss.ss_flags & SS_AUTODISARM, pad: 0, ss_size: ss.ss_size }
    };
    Ok(())
}
