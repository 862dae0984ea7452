//! Process system calls (Linux `kernel/fork.c`, `kernel/exit.c`,
//! `kernel/sys.c`'s process groups, `fs/exec.c`): setpgid, setsid, fork,
//! clone, pidfds, wait4, waitid, execve, arch_prctl.

use super::*;
use crate::fs::file::{O_CLOEXEC, O_NONBLOCK};
use crate::proc::signal::frame::{signal_pending, ERESTARTSYS};

/// `setpgid`: `pid` 0 is the caller, `pgid` 0 is `pid`. Only the caller or
/// a child of it (ESRCH), in the caller's session, not a session leader
/// (EPERM), into its own new group or an existing one of the session
/// (EPERM).
pub(super) fn sys_setpgid(pid: i32, pgid: i32) -> SysResult {
    use crate::proc::sched;
    if pgid < 0 {
        return Err(EINVAL);
    }
    let me = task();
    let (my_pid, my_sid) = (me.tgid, me.sid);
    let pid = if pid == 0 { my_pid } else { u32::try_from(pid).map_err(|_| ESRCH)? };
    let pgid = if pgid == 0 { pid } else { pgid as u32 };
    let t = sched::task(pid).filter(|t| t.is_leader() && (t.pid == my_pid || t.ppid == my_pid)).ok_or(ESRCH)?;
    if t.sid != my_sid || t.sid == t.pid {
        return Err(EPERM);
    }
    if pgid != pid && !sched::processes().into_iter().any(|p| sched::task(p).is_some_and(|o| o.pgid == pgid && o.sid == my_sid)) {
        return Err(EPERM);
    }
    set_process_ids(pid, Some(pgid), None);
    Ok(0)
}

/// `getpgid` (`pid` 0: the caller) and `getsid`.
pub(super) fn sys_getpgid(pid: i32, session: bool) -> SysResult {
    let t = if pid == 0 { task() } else { crate::proc::sched::task(u32::try_from(pid).map_err(|_| ESRCH)?).ok_or(ESRCH)? };
    Ok(u64::from(if session { t.sid } else { t.pgid }))
}

/// `setsid`: a new session and group led by the caller, unless it leads a
/// group already (EPERM).
pub(super) fn sys_setsid() -> SysResult {
    let pid = task().tgid;
    if crate::proc::sched::pids().into_iter().any(|p| crate::proc::sched::task(p).is_some_and(|t| t.pgid == pid)) {
        return Err(EPERM);
    }
    set_process_ids(pid, Some(pid), Some(pid));
    Ok(u64::from(pid))
}

/// Sets the process group and session of every thread of process `tgid`
/// (Linux keeps them in the shared `signal_struct`).
fn set_process_ids(tgid: u32, pgid: Option<u32>, sid: Option<u32>) {
    for tid in crate::proc::sched::all_threads(tgid) {
        if let Some(t) = crate::proc::sched::task(tid) {
            t.pgid = pgid.unwrap_or(t.pgid);
            t.sid = sid.unwrap_or(t.sid);
        }
    }
}

// --- Processes ---

pub(super) const CLONE_VM: u64 = 0x100;
pub(super) const CLONE_FS: u64 = 0x200;
pub(super) const CLONE_FILES: u64 = 0x400;
pub(super) const CLONE_SIGHAND: u64 = 0x800;
pub(super) const CLONE_PIDFD: u64 = 0x1000;
pub(super) const CLONE_VFORK: u64 = 0x4000;
pub(super) const CLONE_PARENT: u64 = 0x8000;
pub(super) const CLONE_THREAD: u64 = 0x10000;
pub(super) const CLONE_NEWNS: u64 = 0x20000;
pub(super) const CLONE_SETTLS: u64 = 0x0008_0000;
pub(super) const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
pub(super) const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
pub(super) const CLONE_DETACHED: u64 = 0x0040_0000;
pub(super) const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
/// The namespace flags (`CLONE_NEWTIME`, `NEWCGROUP`, `NEWUTS`, `NEWIPC`,
/// `NEWUSER`, `NEWPID`, `NEWNET`, `NEWNS`): there are no namespaces here.
const CLONE_NEW_ANY: u64 = 0x80 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | CLONE_NEWNS;
pub(super) const CSIGNAL: u64 = 0xff;
pub(super) const SIGCHLD: u64 = 17;

/// What a new task is made from (Linux `struct kernel_clone_args`).
#[derive(Default)]
pub(super) struct CloneArgs {
    pub flags: u64,
    /// `CLONE_PIDFD`: where the parent gets the pidfd.
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    pub tls: u64,
}

pub(super) fn sys_fork() -> SysResult {
    kernel_clone(&CloneArgs { exit_signal: SIGCHLD, ..CloneArgs::default() })
}

/// `clone(flags, stack, parent_tid, child_tid, tls)`: the exit signal is
/// the low byte of the flags. The flags are `unsigned long`, but Linux
/// reads only their low 32 bits.
pub(super) fn sys_clone(flags: u64, stack: u64, ptid: u64, ctid: u64, tls: u64) -> SysResult {
    let flags = flags & 0xffff_ffff;
    // CLONE_PIDFD stores the fd where CLONE_PARENT_SETTID stores the tid:
    // not both. CLONE_NEWTIME shares its bit with the exit signal here.
    if flags & CLONE_PIDFD != 0 && flags & CLONE_PARENT_SETTID != 0 {
        return Err(EINVAL);
    }
    let args = CloneArgs { flags: flags & !CSIGNAL, pidfd: ptid, child_tid: ctid, parent_tid: ptid, exit_signal: flags & CSIGNAL, stack, tls };
    kernel_clone(&args)
}

/// `clone3(args, size)`: `struct clone_args` of at least 64 bytes
/// (`CLONE_ARGS_SIZE_VER0`); bytes past the ones known must be zero
/// (E2BIG). `set_tid` and `cgroup` are not supported (EINVAL).
pub(super) fn sys_clone3(uargs: u64, size: u64) -> SysResult {
    const VER0: u64 = 64;
    const KNOWN: u64 = 88;
    if size < VER0 {
        return Err(EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(E2BIG);
    }
    let mut raw = [0u8; KNOWN as usize];
    let n = size.min(KNOWN) as usize;
    copy_from_user(&mut raw[..n], uargs)?;
    if size > KNOWN {
        let mut rest = alloc::vec![0u8; (size - KNOWN) as usize];
        copy_from_user(&mut rest, uargs + KNOWN)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
    }
    let field = |i: usize| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (flags, pidfd, child_tid, parent_tid, exit_signal) = (field(0), field(1), field(2), field(3), field(4));
    let (stack, stack_size, tls, set_tid, set_tid_size) = (field(5), field(6), field(7), field(8), field(9));
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    if flags & CSIGNAL != 0 || exit_signal > 64 || flags & (CLONE_INTO_CGROUP | !(CLONE_CLEAR_SIGHAND | 0xffff_ffff)) != 0 {
        return Err(EINVAL);
    }
    if set_tid != 0 || set_tid_size != 0 {
        return Err(EINVAL);
    }
    if (stack == 0) != (stack_size == 0) {
        return Err(EINVAL);
    }
    // CLONE_CLEAR_SIGHAND: the child's handlers go back to the default;
    // not with CLONE_SIGHAND, which shares them.
    if flags & CLONE_CLEAR_SIGHAND != 0 && flags & CLONE_SIGHAND != 0 {
        return Err(EINVAL);
    }
    let args = CloneArgs { flags, pidfd, child_tid, parent_tid, exit_signal, stack: stack.wrapping_add(stack_size), tls };
    let pid = kernel_clone(&args)?;
    if flags & CLONE_CLEAR_SIGHAND != 0 {
        if let Some(child) = crate::proc::sched::task(pid as u32) {
            child.signals.clear_handlers();
        }
    }
    Ok(pid)
}

/// Makes a new task from the current one (Linux `kernel_clone` and
/// `copy_process`): a new process, or with `CLONE_THREAD` a thread of this
/// one; each `CLONE_*` flag shares a part (memory, files, filesystem
/// place, signal handlers) that would otherwise be copied. Flag
/// combinations Linux refuses are EINVAL; the task limits EAGAIN.
/// `CLONE_SYSVSEM`, `CLONE_IO`, `CLONE_PTRACE` and `CLONE_UNTRACED` are
/// accepted and change nothing: there are no System V semaphores, I/O
/// contexts or tracers here.
fn kernel_clone(args: &CloneArgs) -> SysResult {
    let marked = args.flags & CLONE_THREAD != 0 && crate::proc::count::count_thread_create();
    if marked {
        crate::arch::mark_begin(::shared::ports::MARK_THREAD_CREATE);
    }
    let r = copy_process(args);
    if marked {
        crate::arch::mark_end(::shared::ports::MARK_THREAD_CREATE);
    }
    r
}

/// [`kernel_clone`]'s work.
/// What a new task needs besides its page tables, in pages: a kernel
/// stack with its guard and tables, the task, its descriptor table and
/// signal state, with room to spare.
const FORK_HEADROOM_PAGES: u64 = 32;

fn copy_process(args: &CloneArgs) -> SysResult {
    use crate::proc::{rlimit::RLIMIT_NPROC, sched, TaskParts};
    let flags = args.flags;
    let parent = task();
    if flags & CLONE_NEW_ANY != 0
        || flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0
        || flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0
        // Init has no parent to share.
        || flags & CLONE_PARENT != 0 && parent.tgid == 1
        || flags & CLONE_PIDFD != 0 && flags & CLONE_DETACHED != 0
    {
        return Err(EINVAL);
    }
    if flags & CLONE_SETTLS != 0 && args.tls >= crate::proc::uaccess::TASK_SIZE {
        return Err(EPERM);
    }
    // RLIMIT_NPROC counts the tasks of the caller's real user; root and
    // CAP_SYS_RESOURCE or CAP_SYS_ADMIN are exempt (Linux `copy_process`).
    let nproc = parent.signals.group_ref().rlim[RLIMIT_NPROC][0];
    let cred = &parent.cred;
    let exempt = cred.uid == 0 || cred.capable(crate::cred::CAP_SYS_RESOURCE) || cred.capable(crate::cred::CAP_SYS_ADMIN);
    if sched::nr_tasks() >= crate::proc::max_threads() || (!exempt && sched::nr_tasks_of(cred.uid) as u64 >= nproc) {
        return Err(EAGAIN);
    }
    // Room for the new task's kernel stack, descriptors and page tables
    // first: where memory is short, reclaim makes it (as Linux's
    // allocations in fork would) rather than fail the fork.
    let tables = if flags & CLONE_VM == 0 { parent.mm.as_ref().map_or(0, |mm| mm.pt.nr_tables) } else { 0 };
    crate::proc::oom::reclaim_for(FORK_HEADROOM_PAGES + tables);
    let parent = task();
    let files = if flags & CLONE_FILES != 0 { Some(parent.files.clone()) } else { parent.files.copy() };
    let fs = if flags & CLONE_FS != 0 { Some(parent.fs.clone()) } else { parent.fs.copy() };
    let new_stack = flags & (CLONE_VM | CLONE_VFORK) == CLONE_VM;
    let signals = parent.signals.clone_for(flags & CLONE_SIGHAND != 0, flags & CLONE_THREAD != 0, new_stack);
    let (Some(files), Some(fs), Some(signals)) = (files, fs, signals) else { return Err(ENOMEM) };
    let mm = match parent.mm.as_mut() {
        Some(mm) if flags & CLONE_VM != 0 => Some(mm.clone()),
        Some(_) => Some(dup_current_mm()?),
        None => None,
    };
    let Some(mut child) = crate::proc::new_task(parent.tgid, TaskParts { files, fs, signals }) else {
        if let Some(mm) = mm {
            crate::proc::put_mm(mm);
        }
        return Err(ENOMEM);
    };
    let parent = task();
    if flags & CLONE_THREAD != 0 {
        child.tgid = parent.tgid;
        if flags & CLONE_FILES == 0 {
            child.files.owner = parent.tgid;
        }
    }
    if flags & (CLONE_THREAD | CLONE_PARENT) != 0 {
        child.ppid = parent.ppid;
    }
    // A thread ends silently; a process signals its parent as asked.
    child.exit_signal = if flags & CLONE_THREAD != 0 { 0 } else { args.exit_signal as u32 };
    child.comm = parent.comm;
    child.regs = parent.regs.clone();
    // The child returns 0 from the call, with what sysret leaves.
    child.regs.rax = 0;
    child.regs.rcx = child.regs.rip;
    child.regs.r11 = child.regs.rflags;
    if args.stack != 0 {
        child.regs.rsp = args.stack;
    }
    child.fpu = crate::proc::fpu::snapshot(parent);
    child.fs_base = if flags & CLONE_SETTLS != 0 { args.tls } else { parent.fs_base };
    child.oom_score_adj = parent.oom_score_adj;
    child.cred = parent.cred.clone();
    child.timer_slack_ns = parent.timer_slack_ns;
    child.nice = parent.nice;
    child.exe = parent.exe.clone();
    child.cmdline = parent.cmdline.clone();
    child.pgid = parent.pgid;
    child.sid = parent.sid;
    if flags & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid = args.child_tid;
    }
    let shares_mm = flags & CLONE_VM != 0;
    child.mm = mm;
    let pid = child.pid;
    let tgid = child.tgid;
    sched::add(child);
    // Writes for the child and the parent, each in its own memory (the
    // same memory with CLONE_VM); a bad pointer is the writer's problem,
    // as in Linux, not an error of the call.
    if flags & CLONE_CHILD_SETTID != 0 {
        if shares_mm {
            let _ = put_user(args.child_tid, &pid);
        } else {
            let _ = sched::with_current(pid, || put_user(args.child_tid, &pid));
        }
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        let _ = put_user(args.parent_tid, &pid);
    }
    if flags & CLONE_PIDFD != 0 {
        let fd = match install_pidfd(tgid, O_CLOEXEC) {
            Ok(fd) => fd,
            Err(e) => {
                // The child never runs: it goes as it came.
                if let Some(c) = sched::task(pid) {
                    c.pending_kill = Some(crate::proc::SIGKILL);
                }
                return Err(e);
            }
        };
        if let Err(e) = put_user(args.pidfd, &(fd as i32)) {
            let _ = task().files.close(fd as i32);
            return Err(e);
        }
    }
    if flags & CLONE_VFORK != 0 {
        wait_for_vfork_done(pid);
    }
    Ok(u64::from(pid))
}

/// The vfork parent's wait: until the child has exec'd or exited, or a
/// kill ends the parent (Linux `wait_for_vfork_done`, killable only).
/// The current address space copied for a child (`dup_mmap`). When there
/// is no memory for the copy, memory is reclaimed to swap and the copy
/// tried again while that frees something, as Linux's allocations in
/// `fork` reclaim before they give up (`ENOMEM`).
fn dup_current_mm() -> Result<crate::proc::Shared<crate::proc::Mm>, i32> {
    loop {
        let copy = task().mm.as_mut().and_then(|mm| mm.dup_mmap()).and_then(crate::proc::new_mm);
        if let Some(mm) = copy {
            return Ok(mm);
        }
        if crate::proc::oom::try_to_free_pages() == 0 {
            return Err(ENOMEM);
        }
    }
}

fn wait_for_vfork_done(child: u32) {
    use crate::proc::sched::{self, TaskState};
    let me = task().pid;
    if let Some(c) = sched::task(child) {
        c.vfork_parent = me;
    }
    while sched::task(child).is_some_and(|c| c.vfork_parent == me && c.state != TaskState::Zombie) && task().pending_kill.is_none() {
        task().state = TaskState::WaitChild;
        sched::schedule();
    }
}

/// A pidfd for process `tgid` in the caller's table (`O_CLOEXEC` in
/// `flags`); EMFILE when the table is full.
fn install_pidfd(tgid: u32, flags: u32) -> SysResult {
    let file = File::pidfd(tgid, crate::proc::sched::process_has_exited, flags & O_NONBLOCK);
    let fd = task().files.install(file, flags & O_CLOEXEC != 0)?;
    Ok(fd as u64)
}

/// `pidfd_open(pid, flags)`: a descriptor for a process (a thread group
/// leader; EINVAL for another thread, ESRCH for none), readable in `poll`
/// once the process has exited. `flags`: `PIDFD_NONBLOCK` only.
pub(super) fn sys_pidfd_open(pid: i32, flags: u32) -> SysResult {
    const PIDFD_NONBLOCK: u32 = O_NONBLOCK;
    if flags & !PIDFD_NONBLOCK != 0 || pid <= 0 {
        return Err(EINVAL);
    }
    let t = crate::proc::sched::task(pid as u32).ok_or(ESRCH)?;
    if !t.is_leader() {
        return Err(EINVAL);
    }
    install_pidfd(pid as u32, flags | O_CLOEXEC)
}

/// The process a pidfd refers to (EBADF for another kind of file).
pub(super) fn pidfd_target(fd: i32) -> Result<u32, i32> {
    fd_file(fd)?.pidfd_pid().ok_or(EBADF)
}

pub(super) const WNOHANG: u32 = 1;
const WSTOPPED: u32 = 2;
const WEXITED: u32 = 4;
const WCONTINUED: u32 = 8;
const WNOWAIT: u32 = 0x0100_0000;
const WNOTHREAD: u32 = 0x2000_0000;
const WALL: u32 = 0x4000_0000;
const WCLONE: u32 = 0x8000_0000;

/// Which children a wait is for.
enum WaitFor {
    Any,
    Pid(u32),
    Pgid(u32),
}

/// A child that was waited for: its pid and wait status.
struct Reaped {
    pid: u32,
    status: i32,
}

/// The heart of `wait4` and `waitid` (Linux `do_wait`): a zombie child of
/// the caller's process that `which` names and the options allow (a child
/// whose exit signal is not SIGCHLD is a "clone" child, seen only with
/// `__WCLONE` or `__WALL`), reaped unless `WNOWAIT`; with `WSTOPPED`
/// (`WUNTRACED`) a child that stopped, with `WCONTINUED` one that
/// continued, each reported once; `Ok(None)` with `WNOHANG` and none
/// ready; ECHILD when there is no such child at all. Sleeps until a child
/// changes state otherwise.
fn do_wait(which: WaitFor, options: u32) -> Result<Option<Reaped>, i32> {
    use crate::proc::sched::{self, TaskState};
    loop {
        let me = task();
        let my_tgid = me.tgid;
        let children: Vec<u32> = sched::children(my_tgid)
            .into_iter()
            .filter(|&c| {
                let Some(t) = sched::task(c) else { return false };
                let clone_child = t.exit_signal != SIGCHLD as u32;
                let kind_ok = options & WALL != 0 || (options & WCLONE != 0) == clone_child;
                kind_ok
                    && match which {
                        WaitFor::Any => true,
                        WaitFor::Pid(p) => c == p,
                        WaitFor::Pgid(g) => t.pgid == g,
                    }
            })
            .collect();
        if children.is_empty() {
            return Err(ECHILD);
        }
        // A zombie leader is ready once its other threads are gone.
        let ready = children
            .iter()
            .copied()
            .filter(|_| options & WEXITED != 0)
            .find(|&c| sched::task(c).is_some_and(|t| t.state == TaskState::Zombie) && sched::threads(c).is_empty());
        if let Some(z) = ready {
            let status = sched::task(z).and_then(|t| t.exit_status).unwrap_or(0);
            if options & WNOWAIT == 0 {
                // Its usage, and its reaped children's, become the parent's
                // (Linux `wait_task_zombie`).
                if let Some(u) = sched::task(z).map(|t| t.signals.group_ref().usage) {
                    let c = &mut task().signals.group().usage.children;
                    c.utime += u.own.utime + u.children.utime;
                    c.stime += u.own.stime + u.children.stime;
                    c.minflt += u.own.minflt + u.children.minflt;
                    c.maxrss = c.maxrss.max(u.own.maxrss).max(u.children.maxrss);
                }
                let zombie = sched::take(z).ok_or(ECHILD)?;
                crate::proc::free_task(zombie);
            }
            return Ok(Some(Reaped { pid: z, status }));
        }
        // Job control: a stop (status `sig << 8 | 0x7f`) or a continue
        // (0xffff) not yet reported.
        for &c in &children {
            let Some(group) = sched::task(c).filter(|t| t.state != TaskState::Zombie || !sched::threads(c).is_empty()).map(|t| t.signals.group()) else {
                continue;
            };
            if options & WSTOPPED != 0 {
                if let Some(sig) = group.stop_report {
                    if options & WNOWAIT == 0 {
                        group.stop_report = None;
                    }
                    return Ok(Some(Reaped { pid: c, status: (sig << 8) | 0x7f }));
                }
            }
            if options & WCONTINUED != 0 && group.continued_report {
                if options & WNOWAIT == 0 {
                    group.continued_report = false;
                }
                return Ok(Some(Reaped { pid: c, status: 0xffff }));
            }
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        if signal_pending() {
            return Err(ERESTARTSYS);
        }
        task().state = TaskState::WaitChild;
        sched::schedule();
    }
}

pub(super) fn sys_wait4(pid: i32, wstatus: u64, options: i32, rusage: u64) -> SysResult {
    let options = options as u32;
    if options & !(WNOHANG | WSTOPPED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(EINVAL);
    }
    let which = match pid {
        // INT_MIN has no process group to name (Linux: ESRCH).
        i32::MIN => return Err(ESRCH),
        -1 => WaitFor::Any,
        0 => WaitFor::Pgid(task().pgid),
        p if p < 0 => WaitFor::Pgid(p.unsigned_abs()),
        p => WaitFor::Pid(p as u32),
    };
    match do_wait(which, options | WEXITED)? {
        None => Ok(0),
        Some(r) => {
            if wstatus != 0 {
                put_user(wstatus, &(r.status as u32))?;
            }
            if rusage != 0 {
                copy_to_user(rusage, &[0u8; 144])?;
            }
            Ok(u64::from(r.pid))
        }
    }
}

/// `waitid(idtype, id, infop, options, rusage)`: `P_ALL`, `P_PID`,
/// `P_PGID` (id 0: the caller's group) or `P_PIDFD`; `WEXITED` must be
/// asked for (stopped and continued children do not exist here). The
/// child is described in `infop` as a SIGCHLD `siginfo_t`; with `WNOHANG`
/// and none ready, `infop`'s signal and pid are 0.
pub(super) fn sys_waitid(idtype: i32, id: i32, infop: u64, options: i32, rusage: u64) -> SysResult {
    use crate::proc::signal::{CLD_DUMPED, CLD_EXITED, CLD_KILLED, SIGCHLD as SIGCHLD_NR};
    let options = options as u32;
    if options & !(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE) != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return Err(EINVAL);
    }
    let which = match idtype {
        0 => WaitFor::Any,
        1 if id > 0 => WaitFor::Pid(id as u32),
        2 if id == 0 => WaitFor::Pgid(task().pgid),
        2 if id > 0 => WaitFor::Pgid(id as u32),
        3 => {
            let pid = pidfd_target(id)?;
            WaitFor::Pid(pid)
        }
        _ => return Err(EINVAL),
    };
    let r = do_wait(which, options)?;
    if infop != 0 {
        let mut info = [0u8; 128];
        if let Some(r) = r {
            use crate::proc::signal::{CLD_CONTINUED, CLD_STOPPED, SIGCONT};
            let (code, status) = match r.status & 0x7f {
                _ if r.status == 0xffff => (CLD_CONTINUED, SIGCONT as i32),
                0x7f => (CLD_STOPPED, (r.status >> 8) & 0xff),
                0 => (CLD_EXITED, (r.status >> 8) & 0xff),
                sig if r.status & 0x80 != 0 => (CLD_DUMPED, sig),
                sig => (CLD_KILLED, sig),
            };
            info[0..4].copy_from_slice(&(SIGCHLD_NR as i32).to_ne_bytes());
            info[8..12].copy_from_slice(&code.to_ne_bytes());
            info[16..20].copy_from_slice(&r.pid.to_ne_bytes());
            info[24..28].copy_from_slice(&status.to_ne_bytes());
        }
        copy_to_user(infop, &info)?;
    }
    if rusage != 0 {
        copy_to_user(rusage, &[0u8; 144])?;
    }
    Ok(0)
}

pub(super) fn sys_execve(path: u64, argv: u64, envp: u64) -> SysResult {
    // A /proc link (`/proc/self/exe`, what busybox runs its applets
    // through) names the file it points to.
    let path = super::namei::resolve_follow(AT_FDCWD, &get_path(path)?)?;
    let path = match super::namei::proc_path(&path).map(crate::proc::procfs::readlink) {
        Some(Ok(target)) if target.starts_with('/') => target,
        _ => path,
    };
    let read_vec = |mut p: u64| -> Result<Vec<String>, i32> {
        let mut out = Vec::new();
        if p == 0 {
            return Ok(out);
        }
        loop {
            let s: u64 = get_user(p)?;
            if s == 0 {
                return Ok(out);
            }
            if out.len() >= 4096 {
                return Err(E2BIG);
            }
            out.push(get_path(s)?);
            p += 8;
        }
    };
    let mut args = read_vec(argv)?;
    let env = read_vec(envp)?;
    if args.is_empty() {
        args.push(path.clone());
    }
    let t = task();
    match crate::proc::exec::exec(t, &path, &args, &env) {
        Ok(()) => Ok(0),
        Err(e) if t.mm.is_none() => {
            // Past the point of no return: the old image is gone.
            do_exit(crate::proc::SIGSEGV);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

pub(super) const ARCH_SET_FS: i32 = 0x1002;
pub(super) const ARCH_GET_FS: i32 = 0x1003;

pub(super) fn sys_arch_prctl(code: i32, addr: u64) -> SysResult {
    let t = task();
    match code {
        ARCH_SET_FS => {
            if addr >= crate::proc::uaccess::TASK_SIZE {
                return Err(EPERM);
            }
            t.fs_base = addr;
            crate::arch::user::write_fs_base(addr);
            Ok(0)
        }
        ARCH_GET_FS => {
            put_user(addr, &t.fs_base)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
