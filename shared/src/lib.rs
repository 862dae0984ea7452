//! The interface between the host VMM and the guest kernel.
//!
//! Everything that both sides must agree on lives here and nowhere else:
//! the boot protocol ([`boot`]), the guest-physical memory layout
//! ([`layout`]), the I/O ports of the VMM's devices ([`ports`]) and the
//! stats channel's device and wire format ([`stats`]).
//! All wire structures are `#[repr(C)]` plain data; a change to any of them
//! bumps [`boot::BOOT_PROTOCOL_VERSION`], which the kernel checks at boot.
#![no_std]

pub mod boot;
pub mod layout;
pub mod ports;
pub mod rtc;
pub mod stats;
pub mod syscalls;
