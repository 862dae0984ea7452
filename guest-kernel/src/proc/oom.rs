//! The OOM killer (Linux `mm/oom_kill.c`): when a user page cannot be
//! allocated, pick the process whose death frees the most (`oom_badness`:
//! RSS plus page tables, plus `oom_score_adj` thousandths of all memory;
//! -1000 exempts), report it as Linux does, take its memory at once (as the
//! OOM reaper would) and let it die of SIGKILL when it next runs. Init is
//! never chosen.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::sched::{self, TaskState};
use super::{current, SIGKILL};
use crate::printk::{with_console_level, KERN_ERR};

/// Processes killed (`/proc/vmstat` `oom_kill`).
pub static OOM_KILLS: AtomicU64 = AtomicU64::new(0);

/// Handles an allocation failure of the current task. Returns true when
/// another process was killed and its memory reclaimed (the caller
/// retries); false when the current task is the victim (the caller makes
/// it exit).
pub fn out_of_memory() -> bool {
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
