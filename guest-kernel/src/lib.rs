//! The guest kernel as a library.
//!
//! Built for `x86_64-unknown-none` it is the kernel; built for the host
//! (`cargo test`) it is the kernel's algorithms under unit and property
//! tests. Only the boot path, the console and the parts of `arch` that
//! execute privileged instructions are limited to the real target.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

#[cfg(target_os = "none")]
#[macro_use]
pub mod printk;

pub mod arch;
pub mod cmdline;
pub mod cred;
pub mod fs;
pub mod mm;
// Host builds get the drivers' plain parts (ring logic, parsers) for tests.
pub mod drivers;
#[cfg(target_os = "none")]
pub mod init;
#[cfg(target_os = "none")]
pub mod panic;
#[cfg(target_os = "none")]
pub mod proc;
#[cfg(target_os = "none")]
pub mod selftest;
pub mod sync;
#[cfg(target_os = "none")]
pub mod time;
