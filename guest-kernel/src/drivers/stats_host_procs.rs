//! The processes the host starts through the stats channel's `Run`
//! command: started from the root filesystem with parent pid 0, tracked
//! until the host has been told how they ended, and reaped by the kernel
//! itself. The driver ([`super::stats`]) answers the host; this module
//! only keeps the table and starts and frees the tasks.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::sync::SpinLock;

/// A process the host started.
#[derive(Clone, Copy)]
pub struct Spawned {
    pub pid: u32,
    /// The `Run` command's id.
    pub id: u64,
    /// Its wait status, once it exited.
    pub status: Option<i32>,
}

/// Host-started processes tracked at once (a `Run` beyond them: EAGAIN).
const MAX_SPAWNED: usize = 64;

static SPAWNED: SpinLock<[Option<Spawned>; MAX_SPAWNED]> = SpinLock::new([None; MAX_SPAWNED]);
/// Host-started processes may exist (they are reaped even after the
/// device failed).
static SPAWNED_ANY: AtomicBool = AtomicBool::new(false);
/// A host-started process exited but could not be reaped yet (the CPU was
/// on its kernel stack).
static REAP_DEFERRED: AtomicBool = AtomicBool::new(false);

/// Whether the host has started any process.
pub fn any() -> bool {
    SPAWNED_ANY.load(Relaxed)
}

/// Whether an exited process is waiting to be reaped.
pub fn reap_deferred() -> bool {
    REAP_DEFERRED.load(Relaxed)
}

/// Starts `argv[0]` from the root filesystem as a new process with parent
/// pid 0, tracked under the `Run` command `id`; returns its pid or an
/// errno.
pub fn spawn(argv: &[String], id: u64) -> Result<u32, i32> {
    use crate::fs::errno::{EAGAIN, EINVAL, ENOENT, ENOMEM, ESRCH};
    use crate::proc::{self, sched};
    let path = argv.first().filter(|p| !p.is_empty()).ok_or(EINVAL)?;
    if proc::ROOTFS.get().is_none() {
        return Err(ENOENT);
    }
    if sched::nr_tasks() >= proc::max_threads() || SPAWNED.lock().iter().all(Option::is_some) {
        return Err(EAGAIN);
    }
    let parts = proc::TaskParts::fresh().ok_or(ENOMEM)?;
    let mut task = proc::new_task(0, parts).ok_or(ENOMEM)?;
    proc::syscall::install_console(&mut task.files);
    let pid = task.pid;
    sched::add(task);
    let envp = proc::initial_environment([]);
    let r = sched::with_current(pid, || match sched::task(pid) {
        Some(t) => proc::exec::exec(t, path, argv, &envp),
        None => Err(ESRCH),
    });
    if let Err(e) = r {
        if let Some(t) = sched::take(pid) {
            proc::free_task(t);
        }
        return Err(e);
    }
    SPAWNED_ANY.store(true, Relaxed);
    if let Some(slot) = SPAWNED.lock().iter_mut().find(|s| s.is_none()) {
        *slot = Some(Spawned { pid, id, status: None });
    }
    Ok(pid)
}

/// Records the wait status of `pid`, if the host started it.
pub fn note_exit(pid: u32, status: i32) {
    if let Some(s) = SPAWNED.lock().iter_mut().flatten().find(|s| s.pid == pid) {
        s.status = Some(status);
    }
}

/// Takes one host process that has exited out of the table (`pid`: only
/// that one).
pub fn take_exited(pid: Option<u32>) -> Option<Spawned> {
    SPAWNED.lock().iter_mut().find(|s| s.is_some_and(|s| s.status.is_some() && pid.is_none_or(|p| p == s.pid))).and_then(Option::take)
}

/// Empties the table (at power-off): every process the host started that
/// it has not been told about.
pub fn take_all() -> Vec<Spawned> {
    SPAWNED.lock().iter_mut().filter_map(Option::take).collect()
}

/// Frees host-started processes that have exited (parent pid 0, zombie),
/// except the one whose kernel stack the CPU is on (left for the next
/// safe point).
pub fn reap() {
    use crate::proc::sched::{self, TaskState};
    REAP_DEFERRED.store(false, Relaxed);
    let me = crate::proc::current().map(|t| t.pid);
    for pid in sched::pids() {
        // A process whose threads are all gone (its leader a zombie).
        let zombie =
            sched::task(pid).is_some_and(|t| t.ppid == 0 && t.pid != 1 && t.is_leader() && t.state == TaskState::Zombie) && sched::threads(pid).is_empty();
        if !zombie {
            continue;
        }
        if Some(pid) == me {
            REAP_DEFERRED.store(true, Relaxed);
            continue;
        }
        if let Some(t) = sched::take(pid) {
            crate::proc::free_task(t);
        }
    }
}
