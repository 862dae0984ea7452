//! The bootable kernel image: everything lives in the library (`lib.rs`);
//! this binary only links it. The entry point is `_start` in
//! `arch/x86_64/entry.rs`, which calls `kernel::init::start_kernel`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate kernel;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-kernel runs only inside the VM: build it with --target x86_64-unknown-none (the vmm build does this)");
    std::process::exit(2);
}
