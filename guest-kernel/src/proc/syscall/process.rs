//! Process system calls (Linux `kernel/fork.c`, `kernel/exit.c`,
//! `kernel/signal.c`'s kill, `fs/exec.c`): kill, fork, clone, wait4,
//! execve, arch_prctl.

use super::*;
use crate::proc::signal::frame::{signal_pending, ERESTARTSYS};
use crate::proc::signal::{SigInfo, SI_TKILL, SI_USER};

/// `kill`: `pid` 0 and -1 mean the caller's group and everyone but init:
/// with one session both are every task the caller may signal.
pub(super) fn sys_kill(pid: i32, sig: i32) -> SysResult {
    use crate::proc::sched;
    if !(0..=64).contains(&sig) {
        return Err(EINVAL);
    }
    // -INT_MIN does not exist (Linux: ESRCH).
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let me = task().pid;
    let alive = |t: &crate::proc::Task| t.state != sched::TaskState::Zombie;
    // A group's zombies still count as members (Linux: the call succeeds;
    // a zombie ignores the signal).
    let group = |pgid: u32| -> Vec<u32> { sched::pids().into_iter().filter(|&p| sched::task(p).is_some_and(|t| t.pgid == pgid)).collect() };
    let targets: Vec<u32> = match pid {
        p if p > 0 => {
            // A zombie still exists until reaped: the call succeeds and the
            // signal does nothing (Linux).
            let t = sched::task(p as u32).ok_or(ESRCH)?;
            if !alive(t) {
                return Ok(0);
            }
            alloc::vec![p as u32]
        }
        // The caller's process group.
        0 => group(task().pgid),
        // Everyone the caller may signal but init and itself.
        -1 => sched::pids().into_iter().filter(|&p| p > 1 && p != me && sched::task(p).is_some_and(|t| alive(t))).collect(),
        // Process group -pid.
        p => group(p.unsigned_abs()),
    };
    if targets.is_empty() {
        return Err(ESRCH);
    }
    let info = SigInfo { code: SI_USER, pid: me, ..SigInfo::default() };
    for p in targets {
        send_signal(p, sig, info);
    }
    Ok(0)
}

/// Sends `sig` (1..=64; 0 only checks) to task `pid` (Linux
/// `send_signal`): SIGKILL cannot be caught and ends the task before it
/// next runs in user mode; anything else becomes pending (or is discarded,
/// ignored) and wakes a target that sleeps in a blocking call.
pub(crate) fn send_signal(pid: u32, sig: i32, info: SigInfo) {
    use crate::proc::sched;
    let Some(t) = sched::task(pid) else { return };
    if sig == 0 || t.state == sched::TaskState::Zombie {
        return;
    }
    if sig == crate::proc::SIGKILL {
        t.pending_kill = Some(sig);
        sched::wake(pid);
    } else if t.signals.send(sig as usize, info) {
        sched::wake(pid);
    }
}

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
    let (my_pid, my_sid) = (me.pid, me.sid);
    let pid = if pid == 0 { my_pid } else { u32::try_from(pid).map_err(|_| ESRCH)? };
    let pgid = if pgid == 0 { pid } else { pgid as u32 };
    let t = sched::task(pid).filter(|t| t.pid == my_pid || t.ppid == my_pid).ok_or(ESRCH)?;
    if t.sid != my_sid || t.sid == t.pid {
        return Err(EPERM);
    }
    if pgid != pid && !sched::pids().into_iter().any(|p| sched::task(p).is_some_and(|o| o.pgid == pgid && o.sid == my_sid)) {
        return Err(EPERM);
    }
    t.pgid = pgid;
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
    let me = task();
    let pid = me.pid;
    if crate::proc::sched::pids().into_iter().any(|p| crate::proc::sched::task(p).is_some_and(|t| t.pgid == pid)) {
        return Err(EPERM);
    }
    me.sid = pid;
    me.pgid = pid;
    Ok(u64::from(pid))
}

/// `prctl`: the options programs ask of every process (the name, whether
/// it may dump core, no_new_privs); any other is EINVAL, as Linux says for
/// an option it does not know.
pub(super) fn sys_prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> SysResult {
    const PR_GET_DUMPABLE: i32 = 3;
    const PR_SET_DUMPABLE: i32 = 4;
    const PR_SET_NAME: i32 = 15;
    const PR_GET_NAME: i32 = 16;
    const PR_SET_NO_NEW_PRIVS: i32 = 38;
    const PR_GET_NO_NEW_PRIVS: i32 = 39;
    let t = task();
    match option {
        PR_SET_NAME => {
            // Up to the NUL, at most 15 bytes (Linux strncpy_from_user of
            // TASK_COMM_LEN - 1): a longer name is cut, not refused.
            let name = match crate::proc::uaccess::strncpy_from_user(arg2, 15) {
                Ok(name) => name,
                Err(ENAMETOOLONG) => {
                    let mut b = [0u8; 15];
                    copy_from_user(&mut b, arg2)?;
                    b.to_vec()
                }
                Err(e) => return Err(e),
            };
            t.comm = crate::proc::Comm::from_bytes(&name);
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            let comm = t.comm.as_str().as_bytes();
            name[..comm.len()].copy_from_slice(comm);
            copy_to_user(arg2, &name)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE if arg2 <= 1 => Ok(0),
        PR_SET_NO_NEW_PRIVS if arg2 == 1 && arg3 == 0 && arg4 == 0 && arg5 == 0 => Ok(0),
        PR_GET_NO_NEW_PRIVS if arg2 == 0 && arg3 == 0 && arg4 == 0 && arg5 == 0 => Ok(0),
        _ => Err(EINVAL),
    }
}

/// Bytes of a CPU mask as Linux sizes it (`nr_cpu_ids` bits, rounded up
/// to a long).
const CPUMASK_BYTES: u64 = 8;

/// `sched_getaffinity`: the one CPU there is. `len` must hold the mask and
/// be a multiple of a long (EINVAL); the mask's size is the result.
pub(super) fn sys_sched_getaffinity(pid: i32, len: u32, mask: u64) -> SysResult {
    if u64::from(len) < CPUMASK_BYTES || !u64::from(len).is_multiple_of(8) {
        return Err(EINVAL);
    }
    if pid < 0 {
        return Err(ESRCH);
    }
    if pid != 0 {
        crate::proc::sched::task(pid as u32).ok_or(ESRCH)?;
    }
    put_user(mask, &1u64)?;
    Ok(CPUMASK_BYTES)
}

/// `sched_setaffinity`: any mask that includes CPU 0 (the only one) is
/// accepted; one without it is EINVAL, as Linux says for a mask of no
/// online CPU.
pub(super) fn sys_sched_setaffinity(pid: i32, len: u32, mask: u64) -> SysResult {
    if pid < 0 {
        return Err(ESRCH);
    }
    if pid != 0 {
        crate::proc::sched::task(pid as u32).ok_or(ESRCH)?;
    }
    let mut first = [0u8; 1];
    if len > 0 {
        copy_from_user(&mut first, mask)?;
    }
    if first[0] & 1 == 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

/// `tgkill(tgid, tid, sig)` and `tkill(tid, sig)` (`tgid` -1): a signal
/// to one thread; every process is one thread here, whose tid is its pid
/// (what `raise` and `abort` use).
pub(super) fn sys_tgkill(tgid: i32, tid: i32, sig: i32) -> SysResult {
    use crate::proc::sched;
    if !(0..=64).contains(&sig) || tid <= 0 || tgid == 0 || tgid < -1 {
        return Err(EINVAL);
    }
    let t = sched::task(tid as u32).ok_or(ESRCH)?;
    if tgid != -1 && tgid != tid {
        return Err(ESRCH);
    }
    // A zombie is still there; the signal does nothing.
    if t.state != sched::TaskState::Zombie {
        send_signal(tid as u32, sig, SigInfo { code: SI_TKILL, pid: task().pid, ..SigInfo::default() });
    }
    Ok(0)
}

// --- Processes ---

pub(super) fn sys_fork() -> SysResult {
    use crate::proc::sched;
    if sched::nr_tasks() >= crate::proc::MAX_TASKS {
        return Err(EAGAIN);
    }
    let parent = task();
    let mm = match parent.mm.as_mut() {
        Some(mm) => Some(mm.dup().ok_or(ENOMEM)?),
        None => None,
    };
    let Some(mut child) = crate::proc::new_task(parent.pid) else {
        if let Some(mm) = mm {
            mm.destroy();
        }
        return Err(ENOMEM);
    };
    let parent = task();
    child.comm = parent.comm;
    child.regs = parent.regs.clone();
    // The child returns 0 from the call, with what sysret leaves.
    child.regs.rax = 0;
    child.regs.rcx = child.regs.rip;
    child.regs.r11 = child.regs.rflags;
    child.fpu = parent.fpu.clone();
    child.fs_base = parent.fs_base;
    child.oom_score_adj = parent.oom_score_adj;
    child.signals = parent.signals.fork();
    child.exe = parent.exe.clone();
    child.cmdline = parent.cmdline.clone();
    child.umask = parent.umask;
    child.cwd = parent.cwd.clone();
    child.pgid = parent.pgid;
    child.sid = parent.sid;
    child.mm = mm;
    child.files = parent.files.clone();
    let pid = child.pid;
    sched::add(child);
    Ok(pid as u64)
}

pub(super) const CLONE_VM: u32 = 0x100;
pub(super) const CLONE_VFORK: u32 = 0x4000;
pub(super) const CLONE_THREAD: u32 = 0x10000;
pub(super) const CSIGNAL: u32 = 0xff;
pub(super) const CLONE_SETTLS: u32 = 0x0008_0000;
pub(super) const CLONE_PARENT_SETTID: u32 = 0x0010_0000;
pub(super) const CLONE_CHILD_CLEARTID: u32 = 0x0020_0000;
pub(super) const CLONE_CHILD_SETTID: u32 = 0x0100_0000;
pub(super) const SIGCHLD: u32 = 17;

/// `clone` for what `fork` and `posix_spawn` need: no shared address
/// space or threads yet (CLONE_VM|CLONE_VFORK runs as a plain fork, as
/// Linux allows vfork to).
pub(super) fn sys_clone(flags: u32, stack: u64, ptid: u64, ctid: u64, tls: u64) -> SysResult {
    const KNOWN: u32 = CLONE_VM | CLONE_VFORK | CSIGNAL | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID;
    if flags & CLONE_THREAD != 0 || (flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0) {
        return Err(EINVAL);
    }
    if flags & !KNOWN != 0 || flags & CSIGNAL != SIGCHLD && flags & CSIGNAL != 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_SETTLS != 0 && tls >= crate::proc::uaccess::TASK_SIZE {
        return Err(EPERM);
    }
    // CLONE_VM|CLONE_VFORK (vfork, musl's posix_spawn): the child gets a
    // copy, not the parent's memory itself. That is enough for a vfork
    // child that only sets up and execs or exits (what vfork allows);
    // the parent waits until it has, as Linux's does.
    let pid = sys_fork()?;
    let Some(child) = crate::proc::sched::task(pid as u32) else { return Ok(pid) };
    if stack != 0 {
        child.regs.rsp = stack;
    }
    if flags & CLONE_SETTLS != 0 {
        child.fs_base = tls;
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        // Cleared (and futex-woken) at exit only when another task shares
        // the memory, as in Linux's mm_release; no thread does yet.
        child.clear_child_tid = ctid;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        // In the child's memory (glibc's fork reads its own tid there);
        // a bad pointer is the child's problem, as in Linux, not an error.
        let _ = crate::proc::sched::with_current(pid as u32, || put_user(ctid, &(pid as u32)));
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        let _ = put_user(ptid, &(pid as u32));
    }
    if flags & CLONE_VFORK != 0 {
        wait_for_vfork_done(pid as u32);
    }
    Ok(pid)
}

/// The vfork parent's wait: until the child has exec'd or exited, or a
/// kill ends the parent (Linux `wait_for_vfork_done`, killable only).
fn wait_for_vfork_done(child: u32) {
    use crate::proc::sched::{self, TaskState};
    if let Some(c) = sched::task(child) {
        c.in_vfork = true;
    }
    while sched::task(child).is_some_and(|c| c.in_vfork && c.state != TaskState::Zombie) && task().pending_kill.is_none() {
        task().state = TaskState::WaitChild;
        sched::schedule();
    }
}

pub(super) const WNOHANG: u32 = 1;

pub(super) fn sys_wait4(pid: i32, wstatus: u64, options: i32, rusage: u64) -> SysResult {
    use crate::proc::sched::{self, TaskState};
    let options = options as u32;
    if options & !(WNOHANG | 2 | 8 | 0x4000_0000 | 0x8000_0000 | 0x2000_0000) != 0 {
        return Err(EINVAL);
    }
    // INT_MIN has no process group to name (Linux: ESRCH).
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let pid = pid as i64;
    loop {
        let me = task().pid;
        let my_pgid = task().pgid;
        let in_group = |c: u32, pgid: u32| sched::task(c).is_some_and(|t| t.pgid == pgid);
        let children: Vec<u32> = sched::children(me)
            .into_iter()
            .filter(|&c| match pid {
                -1 => true,
                0 => in_group(c, my_pgid),
                p if p < -1 => in_group(c, (-p) as u32),
                p => c as i64 == p,
            })
            .collect();
        if children.is_empty() {
            return Err(ECHILD);
        }
        if let Some(&z) = children.iter().find(|&&c| sched::task(c).is_some_and(|t| t.state == TaskState::Zombie)) {
            let zombie = sched::take(z).ok_or(ECHILD)?;
            let status = zombie.exit_status.unwrap_or(0);
            crate::proc::free_task(zombie);
            if wstatus != 0 {
                put_user(wstatus, &(status as u32))?;
            }
            if rusage != 0 {
                copy_to_user(rusage, &[0u8; 144])?;
            }
            return Ok(z as u64);
        }
        if options & WNOHANG != 0 {
            return Ok(0);
        }
        if signal_pending() {
            return Err(ERESTARTSYS);
        }
        task().state = TaskState::WaitChild;
        sched::schedule();
    }
}

pub(super) fn sys_execve(path: u64, argv: u64, envp: u64) -> SysResult {
    let path = resolve(AT_FDCWD, &get_path(path)?)?;
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
    // The file must be there and executable before the old image goes.
    let inode = crate::proc::lookup(&path)?;
    if !inode.is_regular() {
        return Err(EACCES);
    }
    if args.is_empty() {
        args.push(path.clone());
    }
    let t = task();
    // Close O_CLOEXEC files (Linux do_close_on_exec).
    t.files.close_on_exec();
    crate::proc::sched::wake_events();
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
