//! Exceptions: the IDT, the entry stubs and the oops report.
//!
//! Every vector 0..32 gets a stub that pushes a uniform [`TrapFrame`] and
//! calls [`do_exception`]. For now every exception in the kernel is fatal:
//! it is reported in Linux's oops style and as a panic to the VMM. (#BP is
//! listed for completeness; `int3` at ring 0 never gets here on kvm_pvm,
//! the hypervisor stops the VM instead.)

use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::ptr::addr_of;

use super::gdt::{DescriptorTablePointer, IST_DOUBLE_FAULT, KERNEL_CS};

/// Exceptions (0..32) and the 16 legacy IRQ vectors (32..48).
const NR_STUBS: usize = 48;

/// Registers as the entry stub leaves them on the stack, lowest address
/// first. Also a user thread's saved registers (`user::UserRegs`), which the
/// CPU fills directly: 16-byte aligned, 22 words.
#[repr(C, align(16))]
#[derive(Clone, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub const X86_TRAP_DF: u64 = 8;
pub const X86_TRAP_PF: u64 = 14;
pub const X86_TRAP_UD: u64 = 6;
pub const X86_TRAP_GP: u64 = 13;
/// The first vector of external interrupts.
pub const FIRST_EXTERNAL_VECTOR: u64 = 32;

// One stub per vector. Vectors where the CPU pushes an error code skip the
// dummy push so the frame is the same for all.
global_asm!(
    ".macro isr_noerr vec",
    "isr_\\vec:",
    "    push 0",
    "    push \\vec",
    "    jmp isr_common",
    ".endm",
    ".macro isr_err vec",
    "isr_\\vec:",
    "    push \\vec",
    "    jmp isr_common",
    ".endm",
    ".pushsection .text",
    "isr_noerr 0", "isr_noerr 1", "isr_noerr 2", "isr_noerr 3", "isr_noerr 4", "isr_noerr 5", "isr_noerr 6", "isr_noerr 7",
    "isr_err 8", "isr_noerr 9", "isr_err 10", "isr_err 11", "isr_err 12", "isr_err 13", "isr_err 14", "isr_noerr 15",
    "isr_noerr 16", "isr_err 17", "isr_noerr 18", "isr_noerr 19", "isr_noerr 20", "isr_err 21", "isr_noerr 22",
    "isr_noerr 23", "isr_noerr 24", "isr_noerr 25", "isr_noerr 26", "isr_noerr 27", "isr_noerr 28", "isr_err 29",
    "isr_err 30", "isr_noerr 31",
    ".irp v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47",
    "isr_noerr \\v",
    ".endr",
    "isr_common:",
    "    push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi", "push rbp",
    "    push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14", "push r15",
    // From ring 3 the frame is the thread's UserRegs: back to enter_user's caller.
    "    test qword ptr [rsp + 18*8], 3",
    "    jnz user_exit",
    "    mov rdi, rsp",
    "    cld",
    "    call {handler}",
    "    pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
    "    pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
    "    add rsp, 16",
    "    iretq",
    ".popsection",
    ".pushsection .rodata",
    ".balign 8",
    ".global isr_table",
    "isr_table:",
    ".irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47",
    "    .quad isr_\\v",
    ".endr",
    ".popsection",
    handler = sym do_exception,
);

extern "C" {
    static isr_table: [u64; NR_STUBS];
}

#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct IdtEntry {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    _zero: u32,
}

const IDT_SIZE: usize = 256;
static mut IDT: [IdtEntry; IDT_SIZE] = [IdtEntry { offset_low: 0, selector: 0, ist: 0, type_attr: 0, offset_mid: 0, offset_high: 0, _zero: 0 }; IDT_SIZE];

/// Installs interrupt gates for the 32 exception vectors and loads the IDT.
pub fn init() {
    // SAFETY: runs once on the boot CPU before interrupts are enabled; no
    // one else touches IDT. `isr_table` is the static table defined above.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        let table = &*addr_of!(isr_table);
        for (vector, &handler) in table.iter().enumerate() {
            idt[vector] = IdtEntry {
                offset_low: handler as u16,
                selector: KERNEL_CS,
                ist: if vector as u64 == X86_TRAP_DF { IST_DOUBLE_FAULT } else { 0 },
                type_attr: 0x8e, // present, DPL 0, 64-bit interrupt gate
                offset_mid: (handler >> 16) as u16,
                offset_high: (handler >> 32) as u32,
                _zero: 0,
            };
        }
        let ptr = DescriptorTablePointer { limit: (core::mem::size_of::<[IdtEntry; IDT_SIZE]>() - 1) as u16, base: idt.as_ptr() as u64 };
        asm!("lidt [{}]", in(reg) &ptr, options(nostack, preserves_flags));
    }
}

/// Handles an external interrupt taken in the kernel (the idle loop).
pub static KERNEL_IRQ: crate::sync::Once<fn(u64)> = crate::sync::Once::new();

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "int3",
    "overflow",
    "bounds",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack segment",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 FPU error",
    "alignment check",
    "machine check",
    "SIMD exception",
    "virtualization exception",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security exception",
    "reserved",
];

/// Resolves a page fault the kernel took on a user address inside a
/// user-access routine (demand paging on behalf of a system call). Set by
/// the process layer; returns whether the access may be retried.
pub static KERNEL_USER_FAULT: crate::sync::Once<fn(u64, u64) -> bool> = crate::sync::Once::new();

extern "C" fn do_exception(frame: &mut TrapFrame) {
    let cr2 = super::cpu::read_cr2();
    let cr3 = super::cpu::read_cr3();
    if let Some(fixup) = super::uaccess::uaccess_fixup_for(frame.rip) {
        // Linux's exception table: a user access that faulted. Page faults
        // on user addresses first get a chance to be resolved.
        if frame.vector == X86_TRAP_PF && cr2 < super::uaccess::TASK_SIZE_MAX && KERNEL_USER_FAULT.get().is_some_and(|f| f(cr2, frame.error_code)) {
            return;
        }
        if frame.vector == X86_TRAP_PF || frame.vector == X86_TRAP_GP {
            frame.rip = fixup;
            return;
        }
    }
    if frame.vector >= FIRST_EXTERNAL_VECTOR {
        // Interrupts are only enabled while idle (the interrupt itself was
        // the wakeup) and at the preemption points of long loops. The
        // process layer acknowledges it.
        if let Some(f) = KERNEL_IRQ.get() {
            f(frame.vector);
        }
        return;
    }
    let mut out = crate::printk::emergency_console();
    let _ = oops_report(&mut out, frame, cr2, cr3);
    let name = NAMES.get(frame.vector as usize).copied().unwrap_or("unknown exception");
    crate::panic::exception_panic(
        format_args!("Fatal exception: {name}"),
        crate::panic::ExceptionInfo {
            vector: frame.vector as u32,
            error_code: frame.error_code,
            rip: frame.rip,
            rsp: frame.rsp,
            rflags: frame.rflags,
            cr2,
            cr3,
        },
    )
}

/// Linux's oops layout (`show_regs`, `__die`), trimmed to what we have.
fn oops_report(w: &mut impl Write, f: &TrapFrame, cr2: u64, cr3: u64) -> core::fmt::Result {
    let name = NAMES.get(f.vector as usize).copied().unwrap_or("unknown exception");
    if f.vector == X86_TRAP_PF {
        let e = f.error_code;
        writeln!(w, "BUG: unable to handle page fault for address: {cr2:016x}")?;
        writeln!(
            w,
            "#PF: {} {} access in {} mode",
            if e & 4 != 0 { "user" } else { "supervisor" },
            if e & 16 != 0 {
                "instruction fetch"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if f.cs & 3 == 3 { "user" } else { "kernel" },
        )?;
        writeln!(w, "#PF: error_code({e:#06x}) - {}", if e & 1 != 0 { "permissions violation" } else { "not-present page" })?;
    }
    writeln!(w, "Oops: {name}: {:04x} [#1]", f.error_code)?;
    writeln!(w, "RIP: {:04x}:{:#018x}", f.cs, f.rip)?;
    writeln!(w, "RSP: {:04x}:{:016x} EFLAGS: {:08x}", f.ss, f.rsp, f.rflags)?;
    writeln!(w, "RAX: {:016x} RBX: {:016x} RCX: {:016x}", f.rax, f.rbx, f.rcx)?;
    writeln!(w, "RDX: {:016x} RSI: {:016x} RDI: {:016x}", f.rdx, f.rsi, f.rdi)?;
    writeln!(w, "RBP: {:016x} R08: {:016x} R09: {:016x}", f.rbp, f.r8, f.r9)?;
    writeln!(w, "R10: {:016x} R11: {:016x} R12: {:016x}", f.r10, f.r11, f.r12)?;
    writeln!(w, "R13: {:016x} R14: {:016x} R15: {:016x}", f.r13, f.r14, f.r15)?;
    writeln!(w, "CR2: {cr2:016x} CR3: {cr3:016x} CR0: {:016x} CR4: {:016x}", super::cpu::read_cr0(), super::cpu::read_cr4())
}
