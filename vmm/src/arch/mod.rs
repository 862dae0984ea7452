//! Architecture-specific parts of the VMM: CPU mode setup, boot page tables,
//! CPUID. Generic code uses only what this module re-exports.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;
