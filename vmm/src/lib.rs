//! A small KVM virtual machine monitor for the guest kernel of this workspace.
//!
//! [`vm::run`] is the whole life of a VM: guest memory with an E820 map,
//! the kernel ELF, long mode, the devices, one vCPU, and a [`RunReport`] of
//! what the guest did. The `vmm` binary is a clap front end over it
//! ([`cli`]); the integration tests call it in-process.

pub mod arch;
pub mod cli;
pub mod count;
pub mod devices;
pub mod e820;
pub mod error;
pub mod gdb;
pub mod initramfs;
pub mod loader;
pub mod memory;
pub mod report;
pub mod size;
pub mod stats;
mod vcpu;
pub mod vm;

pub use count::{InstructionCounts, RegionCount};
pub use devices::console::Stream;
pub use e820::MemHole;
pub use error::Error;
pub use initramfs::{GuestFile, Identity, InitImage, InitSpec};
pub use report::{exit_code, CpuState, GuestPanic, Outcome, RunReport};
pub use stats::{Control, ControlError, SnapshotExt, StatsMessage, StatsReport};
pub use vm::{run, run_with_control, run_with_streams, Streams, SwapSpec, VmConfig};

/// The guest kernel built alongside this VMM (by `build.rs`).
pub const DEFAULT_KERNEL: &str = env!("GUEST_KERNEL_PATH");
