//! Resource limits (Linux `include/uapi/linux/resource.h`, `getrlimit(2)`):
//! per process, inherited by `fork` and kept by `execve`. The ones the
//! kernel acts on: `RLIMIT_AS` and `RLIMIT_DATA` (what `mmap`, `brk`,
//! `mremap` and stack growth may add), `RLIMIT_MEMLOCK` (`mlock`, without
//! `CAP_IPC_LOCK`), `RLIMIT_STACK` (how far the stack may grow),
//! `RLIMIT_NPROC` (the tasks of a user, checked at fork and thread
//! creation; root is exempt) and `RLIMIT_NOFILE` (the descriptor table).
//! The rest are kept and reported.

pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIMIT_SIGPENDING: usize = 11;
pub const RLIMIT_MSGQUEUE: usize = 12;
pub const RLIMIT_NICE: usize = 13;
pub const RLIMIT_RTPRIO: usize = 14;
/// Linux `RLIM_NLIMITS`.
pub const RLIM_NLIMITS: usize = 16;
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Linux `sysctl_nr_open`: the most descriptors a table may have.
pub const NR_OPEN: u64 = 1 << 20;

/// A process's limits: `[soft, hard]` per resource.
pub type RLimits = [[u64; 2]; RLIM_NLIMITS];

/// The first process's limits (Linux `INIT_RLIMITS`, with `RLIMIT_NPROC`
/// and `RLIMIT_SIGPENDING` at half of `threads-max` as `fork_init` sets
/// them).
pub fn defaults() -> RLimits {
    let mut r = [[RLIM_INFINITY; 2]; RLIM_NLIMITS];
    let half = (super::max_threads() / 2) as u64;
    r[RLIMIT_STACK] = [super::STACK_RLIMIT, RLIM_INFINITY];
    r[RLIMIT_CORE] = [0, RLIM_INFINITY];
    r[RLIMIT_NPROC] = [half, half];
    r[RLIMIT_NOFILE] = [1024, 4096];
    r[RLIMIT_MEMLOCK] = [8 << 20, 8 << 20];
    r[RLIMIT_SIGPENDING] = [half, half];
    r[RLIMIT_MSGQUEUE] = [819_200, 819_200];
    r[RLIMIT_NICE] = [0, 0];
    r[RLIMIT_RTPRIO] = [0, 0];
    r
}

/// Checks a new `[soft, hard]` for `resource` against the old one (Linux
/// `do_prlimit`): soft above hard is EINVAL; `RLIMIT_NOFILE` above
/// `nr_open` is EPERM; raising the hard limit is EPERM unless
/// `may_raise` (the caller has `CAP_SYS_RESOURCE`).
pub fn check(resource: usize, old: [u64; 2], new: [u64; 2], may_raise: bool) -> Result<(), i32> {
    use crate::fs::errno::{EINVAL, EPERM};
    if new[0] > new[1] {
        return Err(EINVAL);
    }
    if resource == RLIMIT_NOFILE && new[1] > NR_OPEN {
        return Err(EPERM);
    }
    if new[1] > old[1] && !may_raise {
        return Err(EPERM);
    }
    Ok(())
}

/// Hands an address space the limits its operations check themselves
/// (`RLIMIT_AS`, `RLIMIT_DATA`): at exec, and when they change.
pub fn apply_to_mm<F: crate::mm::vma::VmFile>(rlim: &RLimits, vm: &mut crate::mm::vma::VmaTree<F>) {
    vm.rlimit_as = rlim[RLIMIT_AS][0];
    vm.rlimit_data = rlim[RLIMIT_DATA];
}
