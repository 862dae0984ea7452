//! Ring 3: entering user mode, coming back, system call entry, user memory
//! access with fault fixups, FPU state and the kernel context switch.
//!
//! The kernel runs a user thread as a function call: [`enter_user`] loads
//! the thread's registers from a [`UserRegs`] and `iretq`s to ring 3; the
//! next exception, interrupt or system call from ring 3 stores the user
//! registers back into that same structure and returns from `enter_user`
//! with the reason. The CPU writes the hardware part of the frame straight
//! into it (TSS.RSP0 points at its end, as Linux's `pt_regs` sits at the top
//! of the kernel stack), so nothing is copied on the way in or out.
//!
//! System calls arrive one of two ways, chosen at boot by [`probe_syscall`]:
//! on a VMX/SVM host `syscall` enters ring 0 at LSTAR ([`SyscallPath::Native`]);
//! on kvm_pvm it stays at ring 3 and the first privileged instruction at
//! LSTAR raises #GP, so LSTAR points at a user-executable trampoline page
//! and "#GP from ring 3 at the trampoline" is the system call
//! ([`SyscallPath::GpTrampoline`]).

use core::arch::{asm, global_asm};
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};

use super::gdt::{KERNEL_CS, USER_CS, USER_DS};
use super::traps::TrapFrame;

/// A user thread's registers: the same layout the trap stubs build.
pub type UserRegs = TrapFrame;

/// `vector` of a frame built by the native `syscall` entry (not a real
/// vector).
pub const SYSCALL_VECTOR: u64 = 0x100;
pub use super::traps::{FIRST_EXTERNAL_VECTOR, X86_TRAP_GP, X86_TRAP_PF, X86_TRAP_UD};

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const EFER_SCE: u64 = 1 << 0;

/// RFLAGS bits.
pub const X86_EFLAGS_CF: u64 = 1 << 0;
pub const X86_EFLAGS_FIXED: u64 = 1 << 1;
pub const X86_EFLAGS_TF: u64 = 1 << 8;
pub const X86_EFLAGS_IF: u64 = 1 << 9;
pub const X86_EFLAGS_DF: u64 = 1 << 10;
pub const X86_EFLAGS_NT: u64 = 1 << 14;
pub const X86_EFLAGS_AC: u64 = 1 << 18;
/// What user code may set (Linux `FLAG_MASK` less IOPL, plus the arithmetic
/// flags): CF PF AF ZF SF TF DF OF AC ID.
const USER_CHANGEABLE_FLAGS: u64 = 0x0025_0fd5;

/// The page at the top of the user half that Linux leaves unmapped
/// (`TASK_SIZE_MAX` ends below it): on the trampoline path, LSTAR points
/// here, mapped user-executable in every address space.
pub const SYSCALL_TRAMPOLINE: u64 = super::uaccess::TASK_SIZE_MAX;
/// The trampoline page's bytes: `swapgs` (privileged: #GP at ring 3), then
/// `ud2` should anything execute past it.
pub const TRAMPOLINE_CODE: [u8; 5] = [0x0f, 0x01, 0xf8, 0x0f, 0x0b];

/// How system calls reach the kernel on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallPath {
    /// `syscall` enters ring 0 at LSTAR (VMX/SVM hosts).
    Native,
    /// `syscall` stays at ring 3; the #GP at the trampoline is the call.
    GpTrampoline,
}

static SYSCALL_PATH: AtomicU8 = AtomicU8::new(0);

pub fn syscall_path() -> SyscallPath {
    if SYSCALL_PATH.load(Relaxed) == 1 {
        SyscallPath::Native
    } else {
        SyscallPath::GpTrampoline
    }
}

// Per-CPU entry state (one CPU): the kernel stack pointer to return to, the
// end of the `UserRegs` being filled, a scratch slot for the user RSP on
// native `syscall`, and the probe's flag.
#[no_mangle]
static mut USER_RETURN_RSP: u64 = 0;
#[no_mangle]
static mut USER_REGS_END: u64 = 0;
#[no_mangle]
static mut USER_SCRATCH_RSP: u64 = 0;
#[no_mangle]
static mut SYSCALL_PROBE_HIT: u8 = 0;

global_asm!(
    ".pushsection .text",
    // fn enter_user(regs: *mut UserRegs)   (rdi)
    ".global enter_user_asm",
    "enter_user_asm:",
    "    push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
    "    mov [rip + USER_RETURN_RSP], rsp",
    "    mov rsp, rdi",
    "    pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
    "    pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
    "    add rsp, 16",
    "    iretq",
    // Reached from the trap stubs with rsp at a complete frame from ring 3
    // (inside the UserRegs): back into enter_user's caller.
    ".global user_exit",
    "user_exit:",
    "    mov rsp, [rip + USER_RETURN_RSP]",
    "    pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
    "    ret",
    // Native `syscall`: ring 0, IF clear (SFMASK), rsp still the user's,
    // rcx = user rip, r11 = user rflags. Build the frame an exception would.
    ".global syscall_entry_native",
    "syscall_entry_native:",
    "    mov [rip + USER_SCRATCH_RSP], rsp",
    "    mov rsp, [rip + USER_REGS_END]",
    "    push {user_ds}",
    "    push [rip + USER_SCRATCH_RSP]",
    "    push r11",
    "    push {user_cs}",
    "    push rcx",
    "    push 0",
    "    push {sysvec}",
    "    push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi", "push rbp",
    "    push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14", "push r15",
    "    jmp user_exit",
    // The probe's LSTAR: reached only if `syscall` really entered ring 0.
    ".global syscall_probe_native",
    "syscall_probe_native:",
    "    mov byte ptr [rip + SYSCALL_PROBE_HIT], 1",
    "    sysretq",
    ".popsection",
    user_ds = const USER_DS as u64,
    user_cs = const USER_CS as u64,
    sysvec = const SYSCALL_VECTOR,
);

extern "C" {
    fn enter_user_asm(regs: *mut UserRegs);
    fn syscall_entry_native();
    fn syscall_probe_native();
}

/// Why [`enter_user`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserExit {
    /// A system call: number in `rax`, arguments in rdi rsi rdx r10 r8 r9.
    /// `rip`/`rflags` already hold the return address and user flags.
    Syscall,
    /// An exception (`cr2` for page faults).
    Exception { vector: u64, error_code: u64, cr2: u64 },
    /// An external interrupt.
    Interrupt(u64),
}

/// Runs user code with `regs` until it traps; returns why. Interrupts must
/// be disabled (the kernel runs with IF clear); user mode runs with IF set.
pub fn enter_user(regs: &mut UserRegs) -> UserExit {
    regs.cs = USER_CS as u64 | 3;
    regs.ss = USER_DS as u64 | 3;
    regs.rflags = (regs.rflags & USER_CHANGEABLE_FLAGS) | X86_EFLAGS_FIXED | X86_EFLAGS_IF;
    let end = regs as *mut UserRegs as u64 + core::mem::size_of::<UserRegs>() as u64;
    // One CPU with interrupts off: nothing else reads these while we write them. The CPU stores the next ring-3 frame just below `end`, that is, into
    // `*regs`, which we borrow mutably for the whole call; `UserRegs` is 16-byte aligned so the CPU's own alignment of RSP0 does not move the frame.
    // SAFETY: the reasons just above.
    unsafe {
        *addr_of_mut!(USER_REGS_END) = end;
        super::gdt::set_rsp0(end);
        enter_user_asm(regs);
    }
    match regs.vector {
        SYSCALL_VECTOR => UserExit::Syscall,
        X86_TRAP_GP if syscall_path() == SyscallPath::GpTrampoline && regs.rip == SYSCALL_TRAMPOLINE => {
            // The kvm_pvm system call: RCX/R11 are what `syscall` saved,
            // but user code could also have jumped here with any values.
            regs.rip = regs.rcx;
            regs.rflags = regs.r11;
            UserExit::Syscall
        }
        v if v < FIRST_EXTERNAL_VECTOR => UserExit::Exception { vector: v, error_code: regs.error_code, cr2: super::cpu::read_cr2() },
        v => UserExit::Interrupt(v),
    }
}

/// After a system call: whether `regs.rip` may be returned to (canonical
/// user address); if not the thread must get SIGSEGV, as Linux's
/// `sysret`-safety check would send it down the slow path.
pub fn user_rip_ok(regs: &UserRegs) -> bool {
    regs.rip < SYSCALL_TRAMPOLINE
}

/// Enables `syscall` (EFER.SCE) with the kernel/user selectors in STAR and
/// IF/TF/DF/AC/NT masked on entry, LSTAR pointing at `entry`.
fn program_syscall_msrs(entry: u64) {
    // SAFETY: STAR's selectors are this GDT's (sysret: CS = base+16 = 0x33, SS = base+8 = 0x2b); LSTAR points at kernel code that handles whatever
    // `syscall` leaves; SCE only enables the instruction.
    unsafe {
        super::cpu::wrmsr(super::cpu::MSR_EFER, super::cpu::rdmsr(super::cpu::MSR_EFER) | EFER_SCE);
        super::cpu::wrmsr(MSR_STAR, ((USER_DS as u64 - 8) << 48) | ((KERNEL_CS as u64) << 32));
        super::cpu::wrmsr(MSR_SYSCALL_MASK, X86_EFLAGS_TF | X86_EFLAGS_DF | X86_EFLAGS_IF | X86_EFLAGS_AC | X86_EFLAGS_NT);
        super::cpu::wrmsr(MSR_LSTAR, entry);
    }
}

/// Finds out how `syscall` behaves here. `run_probe` must run `regs` (set
/// up by the caller to execute `syscall; ud2` at ring 3 in an address
/// space it prepared) and return the exit. On a VMX/SVM host `syscall`
/// enters ring 0 at the probe entry, which notes it and `sysretq`s to the
/// `ud2`; on kvm_pvm the fetch at LSTAR (a supervisor page) faults from
/// ring 3. Either way the thread ends in an exception at ring 3 and we
/// learn which happened. Programs LSTAR for the path found.
pub fn probe_syscall(mut run_probe: impl FnMut() -> UserExit) -> Result<SyscallPath, UserExit> {
    program_syscall_msrs(syscall_probe_native as *const () as u64);
    // SAFETY: single CPU, interrupts off; only the probe entry writes it.
    unsafe { *addr_of_mut!(SYSCALL_PROBE_HIT) = 0 };
    let mut exit = run_probe();
    // An interrupt that happened to arrive first is not the answer.
    for _ in 0..8 {
        match exit {
            UserExit::Interrupt(_) => {
                super::apic::eoi();
                exit = run_probe();
            }
            _ => break,
        }
    }
    // SAFETY: as above.
    let hit = unsafe { *addr_of!(SYSCALL_PROBE_HIT) } != 0;
    let path = match exit {
        UserExit::Exception { vector: X86_TRAP_UD, .. } if hit => SyscallPath::Native,
        UserExit::Exception { vector: X86_TRAP_PF | X86_TRAP_GP, .. } if !hit => SyscallPath::GpTrampoline,
        other => return Err(other),
    };
    SYSCALL_PATH.store(if path == SyscallPath::Native { 1 } else { 2 }, Relaxed);
    program_syscall_msrs(match path {
        SyscallPath::Native => syscall_entry_native as *const () as u64,
        SyscallPath::GpTrampoline => SYSCALL_TRAMPOLINE,
    });
    Ok(path)
}

/// The user TLS base (`arch_prctl(ARCH_SET_FS)`).
pub fn write_fs_base(base: u64) {
    // SAFETY: FS.base only affects user code's %fs accesses; the kernel
    // never uses %fs.
    unsafe { super::cpu::wrmsr(MSR_FS_BASE, base) };
}

// --- FPU/SSE state and the kernel context switch ---

/// The MXCSR bits this CPU supports (`fxsave`'s MXCSR_MASK, read once).
fn mxcsr_mask() -> u32 {
    static MASK: AtomicU32 = AtomicU32::new(0);
    match MASK.load(Relaxed) {
        0 => {
            let mut probe = FpuState::new();
            probe.save();
            let mask = match u32::from_le_bytes([probe.0[28], probe.0[29], probe.0[30], probe.0[31]]) {
                0 => 0xffbf, // the architectural default MXCSR_MASK
                m => m,
            };
            MASK.store(mask, Relaxed);
            mask
        }
        m => m,
    }
}

/// The FPU/SSE state of a thread (`fxsave` area; the kernel itself never
/// uses these registers, so it is switched only between threads).
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState(pub [u8; 512]);

impl FpuState {
    /// The state `execve` starts with: MXCSR 0x1f80, x87 control word 0x37f.
    pub fn new() -> Self {
        let mut s = [0u8; 512];
        s[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
        s[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        s[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
        FpuState(s)
    }
    /// A state user code supplied (a signal frame's): `fxrstor` faults on
    /// MXCSR bits the CPU does not support, so those are cleared (Linux
    /// sanitizes with `mxcsr_feature_mask` the same way).
    pub fn from_user(mut bytes: [u8; 512]) -> Self {
        let mask = mxcsr_mask();
        let mxcsr = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]) & mask;
        bytes[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        FpuState(bytes)
    }

    pub fn save(&mut self) {
        // SAFETY: fxsave64 writes 512 bytes to a 16-byte aligned area we own.
        unsafe { asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack, preserves_flags)) };
    }
    pub fn restore(&self) {
        // SAFETY: the area holds a state produced by `new`, `fxsave64` or
        // `from_user` (MXCSR within the CPU's mask), which fxrstor accepts.
        unsafe { asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, preserves_flags)) };
    }
}

impl Default for FpuState {
    fn default() -> Self {
        Self::new()
    }
}

global_asm!(
    ".pushsection .text",
    // fn switch_stack(save_rsp: *mut u64, new_rsp: u64)
    ".global switch_stack_asm",
    "switch_stack_asm:",
    "    push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "    mov [rdi], rsp",
    "    mov rsp, rsi",
    "    pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "    ret",
    // A new thread's first return lands here: r12 = entry, r13 = argument.
    ".global thread_trampoline",
    "thread_trampoline:",
    "    mov rdi, r13",
    "    call r12",
    "    ud2",
    ".popsection",
);

extern "C" {
    fn switch_stack_asm(save_rsp: *mut u64, new_rsp: u64);
    fn thread_trampoline();
}

/// Prepares a fresh kernel stack (`top`, 16-byte aligned) so that the
/// first [`switch_stack`] to the returned RSP calls `entry(arg)`, which
/// must never return.
///
/// # Safety
/// `top` must be the end of a writable stack of at least a page, unused.
pub unsafe fn init_thread_stack(top: u64, entry: extern "C" fn(u64) -> !, arg: u64) -> u64 {
    // Layout popped by switch_stack_asm: r15 r14 r13 r12 rbp rbx, then ret
    // (leaving RSP at `top`, so `entry` starts with the ABI's alignment).
    let frame: [u64; 7] = [0, 0, arg, entry as *const () as u64, 0, 0, thread_trampoline as *const () as u64];
    let rsp = top - 8 * frame.len() as u64;
    // SAFETY: the caller gives us the top of an unused writable stack.
    unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), rsp as *mut u64, frame.len()) };
    rsp
}

/// Saves the current kernel context's stack pointer in `*save_rsp` and
/// continues on `new_rsp` (from [`init_thread_stack`] or an earlier save).
///
/// # Safety
/// `new_rsp` must be a context saved by this function or prepared by
/// `init_thread_stack`, whose stack is still alive; interrupts are off.
pub unsafe fn switch_stack(save_rsp: *mut u64, new_rsp: u64) {
    // SAFETY: the caller's contract; callee-saved registers are preserved
    // by the assembly, the rest are clobbered as for any call.
    unsafe { switch_stack_asm(save_rsp, new_rsp) };
}

/// Waits for an interrupt with interrupts enabled, then disables them
/// again (the idle loop's `sti; hlt`).
pub fn wait_for_interrupt() {
    // SAFETY: `sti; hlt` is atomic with respect to interrupts (the STI
    // shadow), so a wakeup between them is not lost.
    unsafe { asm!("sti; hlt; cli", options(nomem, nostack)) };
}
