//! The overcommit policy (Linux `mm/util.c`: `sysctl_overcommit_*`,
//! `vm_commit_limit`, `__vm_enough_memory`) and the reclaim tunable
//! `vm.swappiness`: what `/proc/sys/vm` sets and `mmap`, `brk` and
//! `execve` consult before charging memory.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `vm.overcommit_memory`: 0 heuristic, 1 always, 2 never (strict).
pub static OVERCOMMIT_MEMORY: AtomicU64 = AtomicU64::new(0);
/// `vm.overcommit_ratio`: percent of RAM strict mode allows.
pub static OVERCOMMIT_RATIO: AtomicU64 = AtomicU64::new(50);
/// `vm.overcommit_kbytes`: when non-zero, what strict mode allows instead.
pub static OVERCOMMIT_KBYTES: AtomicU64 = AtomicU64::new(0);
/// `vm.swappiness` (kept; reclaim takes only anonymous pages so far).
pub static SWAPPINESS: AtomicU64 = AtomicU64::new(60);

/// `vm.overcommit_memory = 2`.
pub const OVERCOMMIT_NEVER: u64 = 2;

/// Strict overcommit's limit in pages for `totalram` pages of RAM and
/// `total_swap` of swap (Linux `vm_commit_limit`: the ratio of RAM, or
/// the kbytes, plus all of swap).
pub fn vm_commit_limit(totalram: u64, total_swap: u64) -> u64 {
    let ram = match OVERCOMMIT_KBYTES.load(Relaxed) {
        0 => totalram * OVERCOMMIT_RATIO.load(Relaxed) / 100,
        kb => kb / 4,
    };
    ram + total_swap
}

/// Whether `pages` more of charged memory fit (Linux
/// `__vm_enough_memory`): always under policy 1; under 0 unless one
/// request exceeds all of RAM and swap (the heuristic); under 2 while
/// everything charged (`committed`, asked for only then) stays under the
/// limit.
pub fn vm_enough_memory(pages: u64, totalram: u64, total_swap: u64, committed: impl FnOnce() -> u64) -> bool {
    match OVERCOMMIT_MEMORY.load(Relaxed) {
        1 => true,
        OVERCOMMIT_NEVER => committed() + pages <= vm_commit_limit(totalram, total_swap),
        _ => pages <= totalram + total_swap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_policies() {
        // One test changes the globals, so all cases are here, in order.
        assert!(vm_enough_memory(100, 100, 0, || unreachable!("the heuristic does not count")));
        assert!(!vm_enough_memory(101, 100, 0, || 0));
        // Swap counts as memory.
        assert!(vm_enough_memory(150, 100, 50, || 0) && !vm_enough_memory(151, 100, 50, || 0));
        OVERCOMMIT_MEMORY.store(1, Relaxed);
        assert!(vm_enough_memory(u64::MAX / 2, 100, 0, || 0));
        OVERCOMMIT_MEMORY.store(2, Relaxed);
        assert_eq!(vm_commit_limit(1000, 0), 500);
        assert_eq!(vm_commit_limit(1000, 300), 800);
        assert!(vm_enough_memory(100, 1000, 0, || 400) && !vm_enough_memory(101, 1000, 0, || 400));
        OVERCOMMIT_KBYTES.store(4096, Relaxed);
        assert_eq!(vm_commit_limit(1000, 0), 1024);
        OVERCOMMIT_KBYTES.store(0, Relaxed);
        OVERCOMMIT_MEMORY.store(0, Relaxed);
    }
}
