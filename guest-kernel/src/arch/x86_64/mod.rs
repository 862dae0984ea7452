//! x86-64.
//!
//! - `pgtable`: the 4-level page-table entry format (plain data, host-testable).
//! - `cpu`: the privileged instructions (control registers, MSRs, TLB, port
//!   I/O, CPUID, TSC), one small function each.
//! - `entry`, `gdt`, `traps`: boot entry, segments and TSS, exceptions.
//! - `uaccess`: the kernel's copies to and from user memory.
//! - `user`: user mode (entry and return, the system-call trampoline, FPU
//!   state, the kernel context switch).

pub mod pgtable;

#[cfg(target_os = "none")]
pub mod apic;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
pub mod gdt;
#[cfg(target_os = "none")]
pub mod traps;
#[cfg(target_os = "none")]
pub mod uaccess;
#[cfg(target_os = "none")]
pub mod user;

/// Sets up the CPU's own tables (GDT with TSS, IDT): after this an
/// exception is reported instead of resetting the machine.
#[cfg(target_os = "none")]
pub fn cpu_init() {
    gdt::init();
    traps::init();
}

/// Powers the machine off with `code` as the VMM's exit status.
#[cfg(target_os = "none")]
pub fn machine_power_off(code: u32) -> ! {
    cpu::outl(shared::ports::PORT_EXIT, code);
    cpu::halt_forever()
}

/// Tells the VMM's boot timer that memory management is up.
#[cfg(target_os = "none")]
pub fn boot_timer_mm_ready() {
    cpu::outl(shared::ports::PORT_BOOT_TIMER, shared::ports::BOOT_TIMER_MM_READY);
}

/// Marks the start of a region the VMM counts instructions of
/// (`shared::ports::PORT_MARK`).
#[cfg(target_os = "none")]
pub fn mark_begin(id: u32) {
    cpu::outl(shared::ports::PORT_MARK, shared::ports::MARK_BEGIN | id);
}

/// Marks the end of a counted region.
#[cfg(target_os = "none")]
pub fn mark_end(id: u32) {
    cpu::outl(shared::ports::PORT_MARK, shared::ports::MARK_END | id);
}

/// Turns the open counted region into region `id`.
#[cfg(target_os = "none")]
pub fn mark_relabel(id: u32) {
    cpu::outl(shared::ports::PORT_MARK, shared::ports::MARK_RELABEL | id);
}
