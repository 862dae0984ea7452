//! The kernel's first instructions: a stack, then Rust.
//!
//! The VMM enters here in 64-bit mode on its boot page tables with
//! `rdi` = the physical address of the `BootInfo`.

use core::arch::global_asm;

const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Stack([u8; BOOT_STACK_SIZE]);

/// The boot CPU's stack (in .bss; mapped RW, NX once the kernel runs on its
/// own page tables).
static mut BOOT_STACK: Stack = Stack([0; BOOT_STACK_SIZE]);

global_asm!(
    ".section .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    "    cli",
    "    cld",
    "    lea rsp, [rip + {stack} + {size}]",
    "    xor ebp, ebp",
    "    call {main}",
    "    ud2",
    stack = sym BOOT_STACK,
    size = const BOOT_STACK_SIZE,
    main = sym crate::init::start_kernel,
);
