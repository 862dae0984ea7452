//! I/O ports of the VMM's devices.

/// 16550 UART, COM1 (8 registers).
pub const SERIAL_COM1: u16 = 0x3f8;
pub const SERIAL_COM1_IRQ: u32 = 4;

/// `outl` the guest's exit code here: the VMM stops and exits with it.
pub const PORT_EXIT: u16 = 0x500;

/// `outl` [`BOOT_TIMER_MM_READY`] here once memory management is up: the VMM
/// records the time since it started.
pub const PORT_BOOT_TIMER: u16 = 0x504;
pub const BOOT_TIMER_MM_READY: u32 = 0x6d6d_7264; // "mmrd"

/// `outl` the guest-physical address (< 4 GiB) of a
/// [`crate::boot::PanicReport`] here when the kernel panics.
pub const PORT_PANIC: u16 = 0x508;
