//! kswapd (Linux `mm/vmscan.c`: `kswapd`, `balance_pgdat`): reclaim in
//! the background. An allocation that finds free memory below the low
//! watermark wakes it ([`PageAlloc::wakeup_kswapd`]); it then reclaims,
//! with the scan direct reclaim uses, until free memory is above the high
//! watermark again, so that the allocations after it find pages without
//! waiting for reclaim themselves. Counted as `pgscan_kswapd` and
//! `pgsteal_kswapd`.
//!
//! With one CPU and a kernel that is not preemptible, a thread of its own
//! would run only where a task gives up the CPU; so kswapd's work runs at
//! such points itself ([`balance`]), as an observer of the process layer
//! ([`init`]): after an interrupt from user mode (the tick that ends a
//! task's turn among them), before the task goes back, and in the idle
//! loop while every task sleeps. Each point does a bounded batch and wakes
//! kswapd again if memory is still short, so no point takes long.
//!
//! [`PageAlloc::wakeup_kswapd`]: crate::mm::page_alloc::PageAlloc::wakeup_kswapd

use super::oom::{shrink, Reclaimer};
use crate::mm::vmscan::SWAP_CLUSTER_MAX;

/// Pages one point reclaims at most.
const BATCH: u64 = 4 * SWAP_CLUSTER_MAX;

/// Hooks kswapd into the safe points (at boot).
pub fn init() {
    fn nothing() {}
    fn nothing_at_exit(_: u32, _: i32) {}
    fn woken() -> bool {
        crate::mm::buddy::page_alloc().kswapd_woken()
    }
    super::notify::register_observer(super::notify::Observer {
        tick: nothing,
        poll: balance,
        pending: woken,
        run_pending: balance,
        task_exit: nothing_at_exit,
    });
}

/// kswapd's work, if it was woken: reclaim until free memory is above the
/// high watermark, nothing more can be reclaimed, or the batch is done
/// (then it stays awake for the next point).
pub fn balance() {
    let alloc = crate::mm::buddy::page_alloc();
    if !alloc.take_kswapd_wakeup() {
        return;
    }
    let mut done = 0;
    while alloc.memory_is_low(0) {
        if done >= BATCH {
            alloc.wakeup_kswapd();
            return;
        }
        match shrink(Reclaimer::Kswapd) {
            // Nothing reclaimable: allocations that need memory reclaim
            // directly or meet the OOM killer, as without kswapd.
            0 => return,
            n => done += n,
        }
    }
}
