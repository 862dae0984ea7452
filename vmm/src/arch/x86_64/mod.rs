//! x86-64: long mode entry straight into the kernel's 64-bit ELF entry.

mod cpuid;
mod gdt;
mod paging;
mod regs;

pub use cpuid::setup_cpuid;
pub use paging::write_boot_page_tables;
pub use regs::{cpu_state, setup_long_mode};
