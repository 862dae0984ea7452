//! Errors of the VMM. Each message says what is wrong and, where there is
//! one, what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} does not exist: this host has no KVM (load the kvm module, e.g. `modprobe kvm_intel`, or enable virtualization in the firmware)", .0.display())]
    KvmMissing(PathBuf),
    #[error("{path} is not accessible ({err}): add your user to the `kvm` group or run as root", path = .0.display(), err = .1)]
    KvmAccess(PathBuf, std::io::Error),
    #[error("cannot open {path}: {err}", path = .0.display(), err = .1)]
    KvmOpen(PathBuf, std::io::Error),
    #[error("KVM API version {0} is not supported (need 12)")]
    KvmApiVersion(i32),
    #[error("KVM {what} failed: {source}")]
    Kvm { what: &'static str, source: vmm_sys_util::errno::Error },
    #[error("cannot build the guest CPUID: {0}")]
    Cpuid(String),
    #[error("invalid memory size: {0}")]
    MemSize(String),
    #[error("invalid memory hole {hole}: {reason}")]
    MemHole { hole: String, reason: String },
    #[error("cannot allocate guest memory: {0}")]
    GuestMemory(String),
    #[error("cannot read kernel {path}: {source}")]
    KernelRead { path: PathBuf, source: std::io::Error },
    #[error("kernel {path} is not an x86-64 ELF executable: {reason}")]
    KernelFormat { path: PathBuf, reason: String },
    #[error("cannot load kernel {path}: {reason}")]
    KernelLoad { path: PathBuf, reason: String },
    #[error("kernel command line is {0} bytes, the limit is {1}")]
    CmdlineTooLong(usize, usize),
    #[error("writing guest memory at {addr:#x} failed: {reason}")]
    GuestWrite { addr: u64, reason: String },
    #[error("cannot create an eventfd: {0}")]
    EventFd(std::io::Error),
    #[error("{0}")]
    Swap(#[from] crate::devices::block::SwapError),
    #[error("at most {max} swap areas, {given} given")]
    TooManySwaps { given: usize, max: usize },
    #[error("cannot start the vCPU thread: {0}")]
    Thread(std::io::Error),
    #[error("the vCPU thread died unexpectedly")]
    VcpuThread,
    #[error("cannot serve gdb on {addr}: {source} (pick another address, e.g. --gdb 127.0.0.1:0 for any free port)")]
    GdbListen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("guest stopped in an unexpected way: {0}")]
    UnexpectedExit(String),
}

impl Error {
    pub(crate) fn kvm(what: &'static str) -> impl FnOnce(vmm_sys_util::errno::Error) -> Error {
        move |source| Error::Kvm { what, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
