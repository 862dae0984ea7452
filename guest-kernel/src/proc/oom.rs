//! The OOM killer (Linux `mm/oom_kill.c`): when a user page cannot be
//! allocated, pick the process whose death frees the most (`oom_badness`:
//! RSS plus page tables, plus `oom_score_adj` thousandths of all memory;
//! -1000 exempts), report it as Linux does, take its memory at once (as the
//! OOM reaper would) and let it die of SIGKILL when it next runs. Init is
//! never chosen.
//!
//! Before anyone is killed, direct reclaim ([`try_to_free_pages`]) sends
//! anonymous pages to swap when there is swap space: the OOM killer runs
//! only when nothing could be reclaimed.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::sched::{self, TaskState};
use super::{current, SIGKILL};
use crate::printk::{with_console_level, KERN_ERR};

/// Processes killed (`/proc/vmstat` `oom_kill`).
pub static OOM_KILLS: AtomicU64 = AtomicU64::new(0);

/// Handles an allocation failure of the current task. Returns true when
/// memory was reclaimed, to swap or by killing another process (the
/// caller retries); false when the current task is the victim (the caller
/// makes it exit).
pub fn out_of_memory() -> bool {
    if try_to_free_pages() > 0 {
        return true;
    }
    if transient_failure() {
        return true;
    }
    // A balloon that may deflate on OOM gives pages back first (Linux's
    // `oom_notify_list`, before a victim is chosen).
    if super::notify::oom_notify() > 0 {
        return true;
    }
    let me = current().map_or(0, |t| t.tgid);
    // One candidate per process: its first live thread with memory.
    let victim = sched::pids()
        .into_iter()
        .filter_map(|p| {
            let t = sched::task(p)?;
            if t.tgid == 1 || t.state == TaskState::Zombie || t.pending_kill == Some(SIGKILL) || t.oom_score_adj == -1000 {
                return None;
            }
            let mm = t.mm.as_ref()?;
            let total = crate::mm::buddy::page_alloc().totalram_pages() as i64;
            let points = (mm.rss.total() + mm.pt.nr_tables) as i64 + i64::from(t.oom_score_adj) * total / 1000;
            Some((points.max(1), t.tgid, p))
        })
        .max();
    let Some((_, tgid, tid)) = victim else {
        // Nothing but init (or nothing with memory): the faulting task goes.
        report(current().map_or(0, |t| t.pid));
        return false;
    };
    report(tid);
    OOM_KILLS.fetch_add(1, Relaxed);
    if tgid == me {
        return false;
    }
    super::signal::kill_process(tgid, SIGKILL);
    // The reaper's part: its memory comes back now, not when it runs.
    for t in sched::threads(tgid) {
        if let Some(mm) = sched::task(t).and_then(|t| t.mm.take()) {
            super::put_mm(mm);
        }
    }
    true
}

/// Failed allocations in a row while memory was not short, and the
/// allocator's success count when the last one came.
static TRANSIENT: AtomicU64 = AtomicU64::new(0);
static TRANSIENT_AT: AtomicU64 = AtomicU64::new(0);

/// How many failures in a row, with no allocation succeeding in between,
/// still count as transient.
const TRANSIENT_LIMIT: u64 = 16;

/// Whether an allocation failed while memory is not short (an injected
/// failure, `fail_page_alloc=`): the caller just tries again, as Linux's
/// page fault path retries a `VM_FAULT_OOM` instead of killing (its
/// allocator calls the OOM killer itself when memory really runs out).
/// Failures that go on with no allocation succeeding in between are
/// real, whatever the free counts say (a zone kept for others).
fn transient_failure() -> bool {
    let alloc = crate::mm::buddy::page_alloc();
    if alloc.memory_is_low(0) {
        TRANSIENT.store(0, Relaxed);
        return false;
    }
    let allocated: u64 = alloc.zones.iter().map(|z| z.pgalloc.load(Relaxed)).sum();
    if TRANSIENT_AT.swap(allocated, Relaxed) != allocated {
        TRANSIENT.store(0, Relaxed);
    }
    TRANSIENT.fetch_add(1, Relaxed) < TRANSIENT_LIMIT
}

/// Who reclaims: an allocation that waits for it, or kswapd in the
/// background (for the counters: `pg*_direct`, `pg*_kswapd`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reclaimer {
    Direct,
    Kswapd,
}

/// Direct reclaim (Linux `try_to_free_pages`, from the allocator's slow
/// path): see [`shrink`].
pub fn try_to_free_pages() -> u64 {
    shrink(Reclaimer::Direct)
}

/// One reclaim pass: up to `SWAP_CLUSTER_MAX` pages are freed, first the
/// swap cache's pages that readahead brought and no fault used, then
/// anonymous pages from the LRU lists (`vmscan::shrink_lruvec`), found in
/// every address space through the reverse map. The pass looks at no
/// more than twice the pages on the lists. Returns the pages reclaimed;
/// 0 without swap space.
pub fn shrink(who: Reclaimer) -> u64 {
    super::count::reclaim_begin();
    let freed = shrink_counted(who);
    super::count::reclaim_end();
    freed
}

fn shrink_counted(who: Reclaimer) -> u64 {
    use crate::mm::lru::LruList;
    use crate::mm::user_mem::{KernelUserMem, LRUVEC};
    use crate::mm::vmscan::{ScanControl, PGSCAN_DIRECT, PGSCAN_KSWAPD, PGSTEAL_DIRECT, PGSTEAL_KSWAPD, SWAP_CLUSTER_MAX};
    let (pgscan, pgsteal) = match who {
        Reclaimer::Direct => (&PGSCAN_DIRECT, &PGSTEAL_DIRECT),
        Reclaimer::Kswapd => (&PGSCAN_KSWAPD, &PGSTEAL_KSWAPD),
    };
    // The pages read ahead that no fault used are scanned and taken first.
    let dropped = crate::mm::swap_state::shrink_readahead(&KernelUserMem, SWAP_CLUSTER_MAX);
    pgscan.fetch_add(dropped, Relaxed);
    pgsteal.fetch_add(dropped, Relaxed);
    if dropped == SWAP_CLUSTER_MAX || crate::mm::swapfile::totals().1 == 0 {
        return dropped;
    }
    let _memalloc = crate::mm::buddy::MemallocScope::enter();
    let on_lists = {
        let lruvec = LRUVEC.lock();
        lruvec.len(LruList::InactiveAnon) + lruvec.len(LruList::ActiveAnon)
    };
    let mut sc = ScanControl::new(SWAP_CLUSTER_MAX - dropped, 2 * on_lists);
    crate::mm::vmscan::shrink_lruvec(&KernelUserMem, &mut super::mm::address_spaces(), &mut sc);
    pgscan.fetch_add(sc.nr_scanned, Relaxed);
    pgsteal.fetch_add(sc.nr_reclaimed, Relaxed);
    dropped + sc.nr_reclaimed
}

/// Reclaims while fewer than `pages` pages are free above the high
/// watermarks and reclaim makes progress: room for a kernel operation about
/// to allocate that much.
pub fn reclaim_for(pages: u64) {
    while crate::mm::buddy::page_alloc().memory_is_low(pages) {
        if try_to_free_pages() == 0 {
            return;
        }
    }
}

/// Linux's line: "Out of memory: Killed process PID (NAME) total-vm:..kB,
/// anon-rss:..kB, file-rss:..kB, shmem-rss:..kB, UID:0 pgtables:..kB
/// oom_score_adj:0".
fn report(pid: u32) {
    let Some(t) = sched::task(pid) else { return };
    let Some(mm) = t.mm.as_ref() else { return };
    let kb = |pages: u64| pages * 4;
    with_console_level(KERN_ERR, |w| {
        let _ = writeln!(
            w,
            "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:0 pgtables:{}kB oom_score_adj:{}",
            t.tgid,
            t.comm,
            kb(mm.vm.total_vm),
            kb(mm.rss.anon),
            kb(mm.rss.file),
            kb(mm.rss.shmem),
            kb(mm.pt.nr_tables),
            t.oom_score_adj
        );
    });
}
