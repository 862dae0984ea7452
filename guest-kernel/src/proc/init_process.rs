//! The first process (Linux `init/main.c` `kernel_init`,
//! `run_init_process`, and `init/initramfs.c`): the root filesystem
//! unpacked from the initramfs, init's identity, environment and working
//! directory, its `execve`, and the wait until it and every other task
//! are gone.

use alloc::string::String;
use alloc::sync::Arc;

use super::{current, exec, free_task, lookup, new_task, notify, sched, syscall, Task, TaskParts, ROOTFS};
use crate::fs::ramfs::Ramfs;

/// Why init could not be started.
pub enum InitError {
    /// The program cannot be executed; the reason, for the console.
    NotExecutable(String),
    /// Init's working directory cannot be entered; the reason.
    BadCwd(String),
    /// The user and group cannot be taken; the reason.
    BadUser(String),
    /// No memory for init's task.
    NoMemory(&'static str),
}

/// Who init is and where it starts (`vmm run --user`, `--cwd`).
pub struct InitIdentity<'a> {
    pub uid: u32,
    pub gid: u32,
    /// An absolute path; `/` when empty.
    pub cwd: &'a str,
}

/// The environment of a process the kernel starts (init, a program the
/// host runs): Linux's `envp_init` (`HOME=/`, `TERM=linux`) with a
/// default `PATH`, then `extra` (`KEY=VALUE`), a variable given again
/// replacing the earlier one in place.
pub fn initial_environment<'a>(extra: impl IntoIterator<Item = &'a str>) -> alloc::vec::Vec<String> {
    let mut env: alloc::vec::Vec<String> =
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux"].into_iter().map(String::from).collect();
    for entry in extra {
        let key = entry.split_once('=').map_or(entry, |(k, _)| k);
        match env.iter_mut().find(|e| e.split_once('=').is_some_and(|(k, _)| k == key)) {
            Some(slot) => *slot = String::from(entry),
            None => env.push(String::from(entry)),
        }
    }
    env
}

/// Creates init from `argv` (argv[0] is its path in the root filesystem),
/// runs it to completion and returns its wait status, once it and every
/// other task are gone.
pub fn run_init(argv: &[String], envp: &[String], id: &InitIdentity) -> Result<i32, InitError> {
    let parts = TaskParts::fresh().ok_or(InitError::NoMemory("no memory for init's task"))?;
    let mut task = new_task(0, parts).ok_or(InitError::NoMemory("no memory for init's task"))?;
    syscall::install_console(&mut task.files);
    let pid = task.pid;
    // Current before exec: page faults while building its stack need it.
    sched::install_current(task);
    let task = current().ok_or(InitError::NoMemory("init vanished"))?;
    if let Err(e) = become_init(task, argv, envp, id) {
        if let Some(t) = sched::take(pid) {
            free_task(t);
        }
        sched::forget_current();
        return Err(e);
    }
    sched::run_first(pid);
    // Back on the boot stack: init has exited after every other task was
    // killed and became a zombie (`exit::exit_current`); reap them all.
    let task = sched::take(pid).ok_or(InitError::NoMemory("init vanished"))?;
    let status = task.signals.group_ref().group_exit.or(task.exit_status).unwrap_or(0);
    for t in sched::take_all() {
        free_task(t);
    }
    free_task(task);
    Ok(status)
}

/// Makes `task` init: its user, its working directory (entered as that
/// user: search permission counts), then `execve` of `argv[0]`.
fn become_init(task: &mut Task, argv: &[String], envp: &[String], id: &InitIdentity) -> Result<(), InitError> {
    if (id.uid, id.gid) != (0, 0) {
        let cred = crate::cred::Cred::user(id.uid, id.gid).map_err(|e| InitError::BadUser(String::from(crate::fs::errno::name(e))))?;
        task.cred = Arc::new(cred);
    }
    if !id.cwd.is_empty() {
        let why = |e: i32| InitError::BadCwd(String::from(crate::fs::errno::name(e)));
        let dir = lookup(id.cwd).map_err(why)?;
        if !dir.is_dir() {
            return Err(why(crate::fs::errno::ENOTDIR));
        }
        crate::fs::perm::generic_permission(&task.cred, dir.owner(), crate::fs::perm::MAY_EXEC).map_err(why)?;
        task.fs.cwd = dir.path();
    }
    exec::exec(task, &argv[0], argv, envp).map_err(|e| InitError::NotExecutable(exec::why_not_executable(&argv[0], e)))
}

/// Creates the root filesystem, empty.
pub fn init_rootfs() {
    let _ = ROOTFS.set(crate::sync::SpinLock::new(Ramfs::new()));
}

/// Unpacks the initramfs into the root filesystem.
pub fn mount_rootfs(archive: &[u8]) -> Result<(), String> {
    let fs = ROOTFS.get().ok_or_else(|| String::from("no root filesystem"))?;
    let mut fs = fs.lock();
    fs.unpack(archive, crate::mm::buddy::page_alloc()).map_err(|e| alloc::format!("{e:?}"))?;
    // The memory devices, as devtmpfs would provide them (an archive's own
    // nodes stay).
    use crate::fs::stat::{makedev, S_IFCHR};
    let _ = fs.mkdir("/dev", 0o755);
    for (name, minor, mode) in crate::fs::dev::MEM_DEVICES {
        let _ = fs.mknod(&alloc::format!("/dev/{name}"), S_IFCHR | mode, makedev(1, minor));
    }
    // The terminal, and the links into /proc that udev makes.
    let _ = fs.mknod("/dev/tty", S_IFCHR | 0o666, makedev(5, 0));
    let _ = fs.mknod("/dev/console", S_IFCHR | 0o600, makedev(5, 1));
    for (name, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")] {
        let _ = fs.symlink(target, &alloc::format!("/dev/{name}"));
    }
    let _ = crate::fs::file::CONSOLE.set((notify::console_write, notify::console_read));
    Ok(())
}

/// Empties the root filesystem (at power off, so that the leak check sees
/// what its files held come back).
pub fn unmount_rootfs() {
    if let Some(fs) = ROOTFS.get() {
        let old = core::mem::take(&mut *fs.lock());
        drop(old);
    }
}
