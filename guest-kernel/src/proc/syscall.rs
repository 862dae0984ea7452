//! System calls by Linux x86-64 number (`arch/x86/entry/syscalls/syscall_64.tbl`):
//! number in `rax`, arguments in `rdi rsi rdx r10 r8 r9`, result (or
//! `-errno`) in `rax`; `rcx` and `r11` are clobbered as by `sysret`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::fs::errno::*;
use crate::fs::file::{self, FdTable, File};
use crate::mm::addr::PAGE_SIZE;
use crate::printk::with_console;

use super::uaccess::{copy_from_user, copy_to_user, get_path, get_user, put_user};
use super::{current, do_exit, exit_code_status, Task};

type SysResult = Result<u64, i32>;

/// Unknown system calls seen (`/proc/vmstat`-style counter).
pub static NR_ENOSYS: AtomicU64 = AtomicU64::new(0);

/// Opens fds 0, 1 and 2 on the console.
pub fn install_console(files: &mut FdTable) {
    for fd in 0..3 {
        let _ = files.install(File::console(fd, host_write), false);
    }
}

/// The console's write: to the VMM's stdout or stderr through the hostio
/// port, bypassing the kernel log.
fn host_write(stream: u32, bytes: &[u8]) -> usize {
    crate::drivers::hostio::write(if stream == 2 { 2 } else { 1 }, bytes)
}

/// The six argument registers, read by each argument's C type the way
/// Linux's `SYSCALL_DEFINE` wrappers cast them: `int`-sized types (`int`,
/// `unsigned int`, `pid_t`, `clockid_t`, file descriptors, `int` flags)
/// use the low 32 bits, sign-extended when signed, and `umode_t` the low
/// 16; pointers, `size_t`, `long` and `unsigned long` use all 64. User
/// code may leave anything in the upper halves (glibc loads `AT_FDCWD`
/// with a 32-bit `mov`).
#[derive(Clone, Copy)]
struct Args([u64; 6]);

impl Args {
    /// `int`, `pid_t`, `clockid_t`, a signed fd (`int dfd`).
    fn int(&self, i: usize) -> i32 {
        self.0[i] as u32 as i32
    }
    /// `unsigned int` (most fds are `unsigned int fd` in Linux).
    fn uint(&self, i: usize) -> u32 {
        self.0[i] as u32
    }
    /// A file descriptor, whichever of `int` and `unsigned int` Linux
    /// declares it as: both name the same table slot, and a negative
    /// `int` is as invalid as an `unsigned int` beyond the table.
    fn fd(&self, i: usize) -> i32 {
        self.int(i)
    }
    /// `umode_t`.
    fn mode(&self, i: usize) -> u32 {
        self.0[i] as u16 as u32
    }
    /// `unsigned long`, `size_t` and user pointers.
    fn ulong(&self, i: usize) -> u64 {
        self.0[i]
    }
    /// `long`, `off_t`, `loff_t`.
    fn long(&self, i: usize) -> i64 {
        self.0[i] as i64
    }
}

pub fn dispatch() {
    let task = current().expect("a task is running");
    let r = &task.regs;
    let nr = r.rax;
    let a = Args([r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]);
    let result = match nr {
        0 => sys_read(a.fd(0), a.ulong(1), a.ulong(2)),
        1 => sys_write(a.fd(0), a.ulong(1), a.ulong(2)),
        2 => sys_openat(AT_FDCWD, a.ulong(0), a.int(1), a.mode(2)),
        3 => sys_close(a.fd(0)),
        4 => sys_stat_at(AT_FDCWD, a.ulong(0), a.ulong(1), 0),
        5 => sys_fstat(a.fd(0), a.ulong(1)),
        6 => sys_stat_at(AT_FDCWD, a.ulong(0), a.ulong(1), AT_SYMLINK_NOFOLLOW),
        8 => sys_lseek(a.fd(0), a.long(1), a.uint(2)),
        // mmap's flags and prot are `unsigned long`: unknown bits there are
        // ignored or refused by the flag checks, as in Linux; its fd is
        // truncated by fget.
        9 => sys_mmap(a.ulong(0), a.ulong(1), a.ulong(2), a.ulong(3), a.fd(4), a.ulong(5)),
        10 => sys_mprotect(a.ulong(0), a.ulong(1), a.ulong(2)),
        11 => sys_munmap(a.ulong(0), a.ulong(1)),
        12 => sys_brk(a.ulong(0)),
        13 => sys_rt_sigaction(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3)),
        14 => sys_rt_sigprocmask(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3)),
        15 => {
            // rt_sigreturn: no handler frame can be on the stack (handlers
            // are not delivered yet), so this is Linux's "bad frame" case.
            do_exit(super::SIGSEGV);
            Ok(0)
        }
        16 => sys_ioctl(a.fd(0), a.uint(1), a.ulong(2)),
        17 => sys_pread64(a.fd(0), a.ulong(1), a.ulong(2), a.long(3)),
        18 => sys_pwrite64(a.fd(0), a.ulong(1), a.ulong(2), a.long(3)),
        20 => sys_writev(a.fd(0), a.ulong(1), a.ulong(2)),
        22 => sys_pipe2(a.ulong(0), 0),
        293 => sys_pipe2(a.ulong(0), a.int(1)),
        24 => {
            super::sched::schedule();
            Ok(0)
        }
        25 => sys_mremap(a.ulong(0), a.ulong(1), a.ulong(2), a.ulong(3), a.ulong(4)),
        28 => sys_madvise(a.ulong(0), a.ulong(1), a.int(2)),
        32 => sys_dup(a.fd(0)),
        33 => sys_dup2(a.fd(0), a.fd(1)),
        35 => sys_nanosleep(a.ulong(0), a.ulong(1)),
        // clone's flags are `unsigned long`, but Linux reads only their
        // low 32 bits (`lower_32_bits(clone_flags)`).
        56 => sys_clone(a.uint(0), a.ulong(1), a.ulong(2), a.ulong(3), a.ulong(4)),
        57 | 58 => sys_fork(),
        59 => sys_execve(a.ulong(0), a.ulong(1), a.ulong(2)),
        61 => sys_wait4(a.int(0), a.ulong(1), a.int(2), a.ulong(3)),
        39 | 186 => Ok(task.pid as u64), // getpid, gettid
        60 | 231 => {
            do_exit(exit_code_status(a.int(0)));
            Ok(0)
        }
        62 => sys_kill(a.int(0), a.int(1)),
        63 => sys_uname(a.ulong(0)),
        72 => sys_fcntl(a.fd(0), a.uint(1), a.ulong(2)),
        74 | 75 => sys_fsync(a.fd(0)), // fsync, fdatasync
        76 => sys_truncate(a.ulong(0), a.long(1)),
        77 => sys_ftruncate(a.fd(0), a.long(1)),
        79 => sys_getcwd(a.ulong(0), a.ulong(1)),
        82 => sys_rename(a.ulong(0), a.ulong(1)),
        83 => sys_mkdirat(AT_FDCWD, a.ulong(0), a.mode(1)),
        84 => sys_unlinkat(AT_FDCWD, a.ulong(0), AT_REMOVEDIR), // rmdir
        87 => sys_unlinkat(AT_FDCWD, a.ulong(0), 0),
        96 => sys_gettimeofday(a.ulong(0)),
        99 => sys_sysinfo(a.ulong(0)),
        102 | 104 | 107 | 108 => Ok(0), // getuid, getgid, geteuid, getegid
        110 => Ok(task.ppid as u64),
        158 => sys_arch_prctl(a.int(0), a.ulong(1)),
        218 => {
            task.clear_child_tid = a.ulong(0);
            Ok(task.pid as u64)
        }
        228 => sys_clock_gettime(a.int(0), a.ulong(1)),
        257 => sys_openat(a.fd(0), a.ulong(1), a.int(2), a.mode(3)),
        258 => sys_mkdirat(a.fd(0), a.ulong(1), a.mode(2)),
        262 => sys_stat_at(a.fd(0), a.ulong(1), a.ulong(2), a.int(3)),
        263 => sys_unlinkat(a.fd(0), a.ulong(1), a.int(2)),
        292 => sys_dup3(a.fd(0), a.fd(1), a.int(2)),
        302 => sys_prlimit64(a.int(0), a.uint(1), a.ulong(2), a.ulong(3)),
        318 => sys_getrandom(a.ulong(0), a.ulong(1), a.uint(2)),
        _ => Err(unknown(nr)),
    };
    let task = current().expect("a task is running");
    task.regs.rax = match result {
        Ok(v) => v,
        Err(e) => (-(e as i64)) as u64,
    };
    // What sysret would leave.
    task.regs.rcx = task.regs.rip;
    task.regs.r11 = task.regs.rflags;
    if !crate::arch::user::user_rip_ok(&task.regs) {
        do_exit(super::SIGSEGV);
    }
}

fn unknown(nr: u64) -> i32 {
    NR_ENOSYS.fetch_add(1, Relaxed);
    let task = current().expect("a task is running");
    let (word, bit) = ((nr / 64) as usize, nr % 64);
    let first = match task.enosys_seen.get_mut(word) {
        Some(w) if *w & (1 << bit) == 0 => {
            *w |= 1 << bit;
            true
        }
        Some(_) => false,
        None => true,
    };
    if first {
        with_console(|w| {
            let _ = writeln!(w, "{}[{}]: unknown system call {nr}, returning -ENOSYS", task.comm, task.pid);
        });
    }
    ENOSYS
}

fn task() -> &'static mut Task {
    current().expect("a task is running")
}

fn fd_file(fd: i32) -> Result<Arc<File>, i32> {
    task().files.get(fd).ok_or(EBADF)
}

// --- Files ---

const IO_CHUNK: usize = 4096;

/// Runs `op` on a file, sleeping and retrying while it would block (a
/// pipe that is empty or full) unless the description is `O_NONBLOCK`.
/// A fatal signal ends the wait with `EINTR`.
fn blocking<T>(f: &File, mut op: impl FnMut() -> Result<T, i32>) -> Result<T, i32> {
    loop {
        match op() {
            Err(EAGAIN) if f.is_pipe() && f.flags() & file::O_NONBLOCK == 0 => {
                if task().pending_kill.is_some() {
                    return Err(EINTR);
                }
                // No wait queues yet: sleep a tick and look again.
                let until = now_ns() + 1_000_000;
                task().state = super::sched::TaskState::SleepUntil(until);
                super::sched::schedule();
            }
            r => return r,
        }
    }
}

fn sys_read(fd: i32, buf: u64, count: u64) -> SysResult {
    let f = fd_file(fd)?;
    let count = count.min(0x7fff_f000) as usize;
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        let want = (count - done).min(kbuf.len());
        // Only the first chunk waits: a pipe read returns what is there.
        let r = if done == 0 { blocking(&f, || f.read(&mut kbuf[..want])) } else { f.read(&mut kbuf[..want]) };
        let n = match r {
            Ok(n) => n,
            Err(EAGAIN) if done > 0 => break,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        if let Err(e) = copy_to_user(buf + done as u64, &kbuf[..n]) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        done += n;
        if n < want {
            break;
        }
    }
    Ok(done as u64)
}

fn sys_write(fd: i32, buf: u64, count: u64) -> SysResult {
    let f = fd_file(fd)?;
    let count = count.min(0x7fff_f000) as usize;
    if count == 0 {
        // The checks still apply (Linux: EBADF for a zero count).
        return Ok(f.write(&[])? as u64);
    }
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        let n = (count - done).min(kbuf.len());
        if let Err(e) = copy_from_user(&mut kbuf[..n], buf + done as u64) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        if f.is_pipe() {
            // A blocking pipe write waits until all of it is in.
            let mut off = 0;
            while off < n {
                match blocking(&f, || f.write(&kbuf[off..n])) {
                    Ok(w) => off += w,
                    Err(EPIPE) => {
                        // SIGPIPE's default action.
                        do_exit(13);
                        return if done + off > 0 { Ok((done + off) as u64) } else { Err(EPIPE) };
                    }
                    Err(_) if done + off > 0 => return Ok((done + off) as u64),
                    Err(e) => return Err(e),
                }
            }
            done += n;
            continue;
        }
        let w = match f.write(&kbuf[..n]) {
            Ok(w) => w,
            // What was written counts (a file that fills memory part-way).
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += w;
        if w < n {
            break;
        }
    }
    Ok(done as u64)
}

/// `pipe2(2)` (and `pipe(2)`, flags 0): `O_CLOEXEC` and `O_NONBLOCK`.
fn sys_pipe2(fds: u64, flags: i32) -> SysResult {
    let flags = flags as u32;
    if flags & !(file::O_CLOEXEC | file::O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let (r, w) = File::pipe(flags);
    let cloexec = flags & file::O_CLOEXEC != 0;
    let t = task();
    let rfd = t.files.install(r, cloexec)?;
    let wfd = match t.files.install(w, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.files.close(rfd);
            return Err(e);
        }
    };
    if let Err(e) = put_user(fds, &[rfd, wfd]) {
        let _ = t.files.close(rfd);
        let _ = t.files.close(wfd);
        return Err(e);
    }
    Ok(0)
}

fn sys_pwrite64(fd: i32, buf: u64, count: u64, off: i64) -> SysResult {
    let f = fd_file(fd)?;
    if off < 0 {
        return Err(EINVAL);
    }
    let count = count.min(0x7fff_f000) as usize;
    if count == 0 {
        // The checks still apply (Linux: EBADF, ESPIPE for a zero count).
        return Ok(f.pwrite(&[], off)? as u64);
    }
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count)];
    while done < count {
        let n = (count - done).min(kbuf.len());
        if let Err(e) = copy_from_user(&mut kbuf[..n], buf + done as u64) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        let w = match f.pwrite(&kbuf[..n], off + done as i64) {
            Ok(w) => w,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += w;
        if w < n {
            break;
        }
    }
    Ok(done as u64)
}

fn sys_pread64(fd: i32, buf: u64, count: u64, off: i64) -> SysResult {
    let f = fd_file(fd)?;
    if off < 0 {
        return Err(EINVAL);
    }
    let count = count.min(0x7fff_f000) as usize;
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        let want = (count - done).min(kbuf.len());
        let n = f.pread(&mut kbuf[..want], off + done as i64)?;
        if n == 0 {
            break;
        }
        if let Err(e) = copy_to_user(buf + done as u64, &kbuf[..n]) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        done += n;
    }
    Ok(done as u64)
}

fn sys_writev(fd: i32, iov: u64, iovcnt: u64) -> SysResult {
    if iovcnt > 1024 {
        return Err(EINVAL);
    }
    let mut total = 0u64;
    for i in 0..iovcnt {
        let base: u64 = get_user(iov + i * 16)?;
        let len: u64 = get_user(iov + i * 16 + 8)?;
        if len == 0 {
            continue;
        }
        let n = sys_write(fd, base, len)?;
        total += n;
        if n < len {
            break;
        }
    }
    Ok(total)
}

const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: i32 = 0x100;
const AT_REMOVEDIR: i32 = 0x200;
const AT_EMPTY_PATH: i32 = 0x1000;

/// Resolves a path argument relative to the root (the only directory a
/// process can be in for now).
fn resolve(dirfd: i32, path: &str) -> Result<String, i32> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.starts_with('/') || dirfd == AT_FDCWD {
        Ok(if path.starts_with('/') { String::from(path) } else { alloc::format!("/{path}") })
    } else {
        fd_file(dirfd)?;
        Err(ENOTDIR)
    }
}

fn sys_openat(dirfd: i32, path: u64, flags: i32, mode: u32) -> SysResult {
    let flags = flags as u32;
    let path = resolve(dirfd, &get_path(path)?)?;
    let f = if let Some(rest) = path.strip_prefix("/proc/") {
        super::procfs::open(rest, flags)?
    } else {
        let fs = super::ROOTFS.get().ok_or(ENOENT)?;
        let fs = fs.lock();
        file::open(&fs, &path, flags, mode & !file::UMASK)?
    };
    let fd = task().files.install(f, flags & file::O_CLOEXEC != 0)?;
    Ok(fd as u64)
}

fn sys_close(fd: i32) -> SysResult {
    task().files.close(fd)?;
    Ok(0)
}

/// The root filesystem, locked.
fn rootfs() -> Result<crate::sync::SpinLockGuard<'static, crate::fs::ramfs::Ramfs>, i32> {
    Ok(super::ROOTFS.get().ok_or(ENOENT)?.lock())
}

fn sys_mkdirat(dirfd: i32, path: u64, mode: u32) -> SysResult {
    let path = resolve(dirfd, &get_path(path)?)?;
    rootfs()?.mkdir(&path, mode & !file::UMASK)?;
    Ok(0)
}

/// `unlinkat`, and `unlink` and `rmdir` (flags 0 and `AT_REMOVEDIR`).
fn sys_unlinkat(dirfd: i32, path: u64, flags: i32) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let path = resolve(dirfd, &get_path(path)?)?;
    let fs = rootfs()?;
    if flags & AT_REMOVEDIR != 0 {
        fs.rmdir(&path)?;
    } else {
        fs.unlink(&path)?;
    }
    Ok(0)
}

fn sys_rename(old: u64, new: u64) -> SysResult {
    let old = resolve(AT_FDCWD, &get_path(old)?)?;
    let new = resolve(AT_FDCWD, &get_path(new)?)?;
    rootfs()?.rename(&old, &new)?;
    Ok(0)
}

fn sys_truncate(path: u64, len: i64) -> SysResult {
    if len < 0 {
        return Err(EINVAL);
    }
    let path = resolve(AT_FDCWD, &get_path(path)?)?;
    rootfs()?.truncate(&path, len as u64)?;
    Ok(0)
}

fn sys_ftruncate(fd: i32, len: i64) -> SysResult {
    if len < 0 {
        return Err(EINVAL);
    }
    fd_file(fd)?.truncate(len)?;
    Ok(0)
}

/// `fsync` and `fdatasync`: the files live in memory, nothing to write
/// back.
fn sys_fsync(fd: i32) -> SysResult {
    fd_file(fd)?;
    Ok(0)
}

fn sys_dup(fd: i32) -> SysResult {
    Ok(task().files.dup(fd, 0, false)? as u64)
}

fn sys_dup2(old: i32, new: i32) -> SysResult {
    Ok(task().files.dup2(old, new, false)? as u64)
}

fn sys_dup3(old: i32, new: i32, flags: i32) -> SysResult {
    if flags as u32 & !file::O_CLOEXEC != 0 || old == new {
        return Err(EINVAL);
    }
    Ok(task().files.dup2(old, new, flags != 0)? as u64)
}

const F_DUPFD: u32 = 0;
const F_GETFD: u32 = 1;
const F_SETFD: u32 = 2;
const F_GETFL: u32 = 3;
const F_SETFL: u32 = 4;
const F_DUPFD_CLOEXEC: u32 = 1030;
const FD_CLOEXEC: u64 = 1;

fn sys_fcntl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let files = &mut task().files;
    let f = files.get(fd).ok_or(EBADF)?;
    match cmd {
        // The lowest descriptor at or above `arg` (`int`, as Linux reads
        // it): EINVAL when negative or not below RLIMIT_NOFILE.
        F_DUPFD | F_DUPFD_CLOEXEC => Ok(files.dup(fd, arg as i32, cmd == F_DUPFD_CLOEXEC)? as u64),
        F_GETFD => Ok(if files.cloexec(fd)? { FD_CLOEXEC } else { 0 }),
        F_SETFD => {
            files.set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(f.flags() as u64),
        F_SETFL => {
            f.set_flags(arg as u32)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// `getcwd`: every process is in `/` (there is no `chdir`).
fn sys_getcwd(buf: u64, size: u64) -> SysResult {
    if size < 2 {
        return Err(ERANGE);
    }
    copy_to_user(buf, b"/\0")?;
    Ok(2)
}

fn sys_lseek(fd: i32, off: i64, whence: u32) -> SysResult {
    let f = fd_file(fd)?;
    Ok(f.lseek(off, whence)? as u64)
}

fn sys_fstat(fd: i32, statbuf: u64) -> SysResult {
    let st = fd_file(fd)?.stat();
    put_user(statbuf, &st)?;
    Ok(0)
}

fn sys_stat_at(dirfd: i32, path: u64, statbuf: u64, flags: i32) -> SysResult {
    let p = get_path(path)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return sys_fstat(dirfd, statbuf);
    }
    let p = resolve(dirfd, &p)?;
    let f = if let Some(rest) = p.strip_prefix("/proc/") {
        super::procfs::open(rest, 0)?
    } else {
        let fs = super::ROOTFS.get().ok_or(ENOENT)?;
        let fs = fs.lock();
        file::open(&fs, &p, file::O_PATH, 0)?
    };
    put_user(statbuf, &f.stat())?;
    Ok(0)
}

const TIOCGWINSZ: u32 = 0x5413;

fn sys_ioctl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let f = fd_file(fd)?;
    if !f.is_console() {
        return Err(ENOTTY);
    }
    match cmd {
        TIOCGWINSZ => {
            // struct winsize { rows, cols, xpixel, ypixel }
            let ws: [u16; 4] = [24, 80, 0, 0];
            put_user(arg, &ws)?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}

// --- Memory ---

fn mm() -> Result<&'static mut super::mm::Mm, i32> {
    task().mm.as_mut().ok_or(EFAULT)
}

fn sys_brk(brk: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    Ok(vm.brk(brk, &mut ptes))
}

fn sys_mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: i32, off: u64) -> SysResult {
    use crate::mm::mmap::{MAP_ANONYMOUS, MAP_POPULATE};
    use crate::mm::mmap::{MAP_SHARED, MAP_TYPE};
    let mut flags = flags as u32;
    let (file, writable) = if flags & MAP_ANONYMOUS == 0 {
        let f = fd_file(fd)?;
        let inode = f.inode().ok_or(ENODEV)?;
        if !f.readable() {
            // Every file mapping needs read access (Linux do_mmap).
            return Err(EACCES);
        }
        (Some(super::mm::FileRef::File(inode)), f.writable())
    } else if flags & MAP_TYPE == MAP_SHARED && len > 0 && len <= super::uaccess::TASK_SIZE {
        // Shared anonymous memory is a shmem object shared across fork
        // (Linux shmem_zero_setup): never anonymous pages in a shared VMA,
        // which the fault path cannot share. (MAP_SHARED_VALIDATE is
        // EINVAL for anonymous memory, as in Linux.)
        flags &= !MAP_ANONYMOUS;
        let shm = alloc::sync::Arc::new(crate::mm::shmem::Shmem::new(crate::mm::addr::page_align_up(len)));
        (Some(super::mm::FileRef::Shmem(shm)), true)
    } else {
        (None, false)
    };
    if !off.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    let start = vm.mmap(addr, len, prot as u32, flags, file, off / PAGE_SIZE, writable, &mut ptes).map_err(|e| e.0)?;
    if flags & MAP_POPULATE != 0 {
        populate(start, len);
    }
    Ok(start)
}

/// MAP_POPULATE: fault every page in now (errors are ignored, as Linux).
fn populate(start: u64, len: u64) {
    let Ok(mm) = mm() else { return };
    let write = mm.vm.vma_at(start).is_some_and(|v| v.flags & crate::mm::vma::VM_WRITE != 0);
    let err = if write { super::fault::PF_WRITE } else { 0 } | super::fault::PF_USER;
    let mut va = start;
    while va < start + len {
        if super::fault::handle_mm_fault(mm, va, err, super::STACK_RLIMIT).is_err() {
            break;
        }
        va += PAGE_SIZE;
    }
    mm.update_hiwater();
}

fn sys_munmap(addr: u64, len: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.munmap(addr, len, &mut ptes).map_err(|e| e.0)?;
    Ok(0)
}

fn sys_mprotect(addr: u64, len: u64, prot: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.mprotect(addr, len, prot as u32, &mut ptes).map_err(|e| e.0)?;
    Ok(0)
}

fn sys_mremap(old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> SysResult {
    let mm = mm()?;
    let (vm, mut ptes) = mm.split();
    vm.mremap(old, old_len, new_len, flags as u32, new_addr, &mut ptes).map_err(|e| e.0)
}

const MADV_DONTNEED: i32 = 4;

/// `madvise` (Linux `mm/madvise.c`). Unknown advice and an unaligned start
/// are `EINVAL`; a length that wraps when rounded up is `EINVAL`, an empty
/// range is success. The advice applies to every mapped part of the range;
/// if part of it (or all of it) is not mapped the result is `ENOMEM`, after
/// the mapped parts were advised, as Linux does.
fn sys_madvise(addr: u64, len: u64, advice: i32) -> SysResult {
    const ADVISORY: [i32; 16] = [
        0, 1, 2, 3, // normal, random, sequential, willneed
        8, // free: the pages may go or stay; keeping them is allowed
        10, 11, 12, 13, 14, 15, 16, 17, // dontfork .. dodump: no effect here
        19, 20, 21, // keeponfork, cold, pageout: hints
    ];
    if !addr.is_multiple_of(PAGE_SIZE) || !(advice == MADV_DONTNEED || ADVISORY.contains(&advice)) {
        return Err(EINVAL);
    }
    let aligned = len.checked_add(PAGE_SIZE - 1).ok_or(EINVAL)? & !(PAGE_SIZE - 1);
    let end = addr.checked_add(aligned).ok_or(EINVAL)?;
    if end == addr {
        return Ok(0);
    }
    let mm = mm()?;
    let mut unmapped = false;
    let mut va = addr;
    while va < end {
        let Some((start, stop)) = mm.vm.find_vma(va).map(|v| (v.start, v.end)) else {
            unmapped = true;
            break;
        };
        if start >= end {
            unmapped = true;
            break;
        }
        if start > va {
            unmapped = true;
        }
        let (s, e) = (start.max(va), stop.min(end));
        if advice == MADV_DONTNEED {
            // Drop the pages; the next touch faults in zero (anonymous) or
            // the object's contents (file and shmem mappings).
            mm.pt.unmap(s, e, &mut mm.rss);
        }
        va = e;
    }
    if unmapped {
        Err(ENOMEM)
    } else {
        Ok(0)
    }
}

// --- Process and signals ---

/// `kill` with default actions only: every signal that does not default
/// to "ignore" or "stop" terminates the target (no handlers are delivered
/// yet). `pid` 0 and -1 mean the caller's group and everyone but init:
/// with one session both are every task the caller may signal.
fn sys_kill(pid: i32, sig: i32) -> SysResult {
    use super::sched;
    if !(0..=64).contains(&sig) {
        return Err(EINVAL);
    }
    // -INT_MIN does not exist (Linux: ESRCH).
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let me = task().pid;
    let pid = pid as i64;
    let targets: Vec<u32> = match pid {
        p if p > 0 => {
            // A zombie still exists until reaped: the call succeeds and the
            // signal does nothing (Linux).
            let t = sched::task(p as u32).ok_or(ESRCH)?;
            if t.state == sched::TaskState::Zombie {
                return Ok(0);
            }
            alloc::vec![p as u32]
        }
        0 | -1 => sched::pids()
            .into_iter()
            .filter(|&p| sched::task(p).is_some_and(|t| t.state != sched::TaskState::Zombie) && (pid == 0 || p != 1 || me == 1))
            .collect(),
        _ => {
            let p = (-pid) as u32;
            sched::task(p).ok_or(ESRCH)?;
            alloc::vec![p]
        }
    };
    // Stop signals do nothing here (no job control yet); ignored signals
    // are discarded; everything else takes its default action.
    if sig == 0 || matches!(sig, 19..=22) {
        return Ok(0);
    }
    for p in targets {
        if sched::task(p).is_some_and(|t| t.signals.ignores(sig as usize)) {
            continue;
        }
        if p == me {
            do_exit(sig);
        } else if let Some(t) = sched::task(p) {
            t.pending_kill = Some(sig);
            sched::wake(p);
        }
    }
    Ok(0)
}

// --- Processes ---

fn sys_fork() -> SysResult {
    use super::sched;
    if sched::nr_tasks() >= super::MAX_TASKS {
        return Err(EAGAIN);
    }
    let parent = task();
    let mm = match parent.mm.as_mut() {
        Some(mm) => Some(mm.dup().ok_or(ENOMEM)?),
        None => None,
    };
    let Some(mut child) = super::new_task(parent.pid) else {
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
    child.signals = parent.signals.clone();
    child.mm = mm;
    child.files = parent.files.clone();
    let pid = child.pid;
    sched::add(child);
    Ok(pid as u64)
}

const CLONE_VM: u32 = 0x100;
const CLONE_VFORK: u32 = 0x4000;
const CLONE_THREAD: u32 = 0x10000;
const CSIGNAL: u32 = 0xff;
const SIGCHLD: u32 = 17;

/// `clone` for what `fork` and `posix_spawn` need: no shared address
/// space or threads yet (CLONE_VM|CLONE_VFORK runs as a plain fork, as
/// Linux allows vfork to).
fn sys_clone(flags: u32, stack: u64, _ptid: u64, _ctid: u64, _tls: u64) -> SysResult {
    if flags & CLONE_THREAD != 0 || (flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0) {
        return Err(EINVAL);
    }
    if flags & !(CLONE_VM | CLONE_VFORK | CSIGNAL) != 0 || flags & CSIGNAL != SIGCHLD && flags & CSIGNAL != 0 {
        return Err(EINVAL);
    }
    // CLONE_VM|CLONE_VFORK (musl's posix_spawn): the child gets a copy,
    // not the parent's memory itself. That is enough for a vfork child
    // that only sets up and execs (what posix_spawn's child does: it
    // reports failure through a pipe), and the parent need not wait.
    let pid = sys_fork()?;
    if stack != 0 {
        if let Some(t) = super::sched::task(pid as u32) {
            t.regs.rsp = stack;
        }
    }
    Ok(pid)
}

const WNOHANG: u32 = 1;

fn sys_wait4(pid: i32, wstatus: u64, options: i32, rusage: u64) -> SysResult {
    use super::sched::{self, TaskState};
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
        let children: Vec<u32> = sched::children(me).into_iter().filter(|&c| pid == -1 || pid == 0 || pid < -1 || c as i64 == pid).collect();
        if children.is_empty() {
            return Err(ECHILD);
        }
        if let Some(&z) = children.iter().find(|&&c| sched::task(c).is_some_and(|t| t.state == TaskState::Zombie)) {
            let zombie = sched::take(z).ok_or(ECHILD)?;
            let status = zombie.exit_status.unwrap_or(0);
            super::free_task(zombie);
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
        if task().pending_kill.is_some() {
            return Err(EINTR);
        }
        task().state = TaskState::WaitChild;
        sched::schedule();
    }
}

fn sys_execve(path: u64, argv: u64, envp: u64) -> SysResult {
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
    let inode = super::lookup(&path)?;
    if !inode.is_regular() {
        return Err(EACCES);
    }
    if args.is_empty() {
        args.push(path.clone());
    }
    let t = task();
    // Close O_CLOEXEC files (Linux do_close_on_exec).
    t.files.close_on_exec();
    match super::exec::exec(t, &path, &args, &env) {
        Ok(()) => Ok(0),
        Err(e) if t.mm.is_none() => {
            // Past the point of no return: the old image is gone.
            do_exit(super::SIGSEGV);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn sys_rt_sigaction(sig: i32, act: u64, oldact: u64, sigsetsize: u64) -> SysResult {
    use super::signal::{KSigaction, NSIG};
    if sigsetsize != 8 || !(1..=NSIG as i32).contains(&sig) || ((sig == 9 || sig == 19) && act != 0) {
        return Err(EINVAL);
    }
    let sig = sig as usize;
    // As Linux: the new action is read first, the old one written after.
    let new: Option<KSigaction> = if act != 0 { Some(get_user(act)?) } else { None };
    let old = task().signals.action(sig);
    if let Some(new) = new {
        task().signals.set_action(sig, new);
    }
    if oldact != 0 {
        put_user(oldact, &old)?;
    }
    Ok(0)
}

const SIG_BLOCK: i32 = 0;
const SIG_UNBLOCK: i32 = 1;
const SIG_SETMASK: i32 = 2;

fn sys_rt_sigprocmask(how: i32, set: u64, oldset: u64, sigsetsize: u64) -> SysResult {
    use super::signal::UNBLOCKABLE;
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let old = task().signals.blocked;
    if set != 0 {
        let new = get_user::<u64>(set)? & !UNBLOCKABLE;
        let blocked = &mut task().signals.blocked;
        *blocked = match how {
            SIG_BLOCK => old | new,
            SIG_UNBLOCK => old & !new,
            SIG_SETMASK => new,
            _ => return Err(EINVAL),
        };
    }
    if oldset != 0 {
        put_user(oldset, &old)?;
    }
    Ok(0)
}

const ARCH_SET_FS: i32 = 0x1002;
const ARCH_GET_FS: i32 = 0x1003;

fn sys_arch_prctl(code: i32, addr: u64) -> SysResult {
    let t = task();
    match code {
        ARCH_SET_FS => {
            if addr >= super::uaccess::TASK_SIZE {
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

// --- Time and system information ---

fn now_ns() -> u64 {
    crate::time::uptime_ns()
}

fn sys_clock_gettime(clock: i32, tp: u64) -> SysResult {
    if !(0..=11).contains(&clock) {
        return Err(EINVAL);
    }
    let ns = now_ns();
    let ts: [u64; 2] = [ns / 1_000_000_000, ns % 1_000_000_000];
    put_user(tp, &ts)?;
    Ok(0)
}

fn sys_gettimeofday(tv: u64) -> SysResult {
    if tv != 0 {
        let ns = now_ns();
        put_user(tv, &[ns / 1_000_000_000, (ns % 1_000_000_000) / 1000])?;
    }
    Ok(0)
}

fn sys_nanosleep(req: u64, _rem: u64) -> SysResult {
    let ts: [u64; 2] = get_user(req)?;
    if ts[1] >= 1_000_000_000 || (ts[0] as i64) < 0 {
        return Err(EINVAL);
    }
    let until = now_ns().saturating_add(ts[0].saturating_mul(1_000_000_000)).saturating_add(ts[1]);
    while now_ns() < until {
        if task().pending_kill.is_some() {
            return Err(EINTR);
        }
        task().state = super::sched::TaskState::SleepUntil(until);
        super::sched::schedule();
    }
    Ok(0)
}

fn sys_uname(buf: u64) -> SysResult {
    let mut u = [0u8; 65 * 6];
    let fields = ["Linux", "rvmm", "6.1.0-rvmm", "#1 SMP", "x86_64", "(none)"];
    for (i, f) in fields.iter().enumerate() {
        u[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    copy_to_user(buf, &u)?;
    Ok(0)
}

fn sys_sysinfo(info: u64) -> SysResult {
    let alloc = crate::mm::buddy::page_alloc();
    let total = alloc.totalram_pages() * PAGE_SIZE;
    let free = alloc.nr_free_pages_all() * PAGE_SIZE;
    // struct sysinfo (x86-64): uptime, loads[3], totalram, freeram,
    // sharedram, bufferram, totalswap, freeswap, procs (u16) + pad,
    // totalhigh, freehigh, mem_unit (u32), padding.
    let mut w = [0u64; 14];
    w[0] = now_ns() / 1_000_000_000;
    w[4] = total;
    w[5] = free;
    w[10] = 1; // procs, in the low 16 bits
    let mut bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes[104..108].copy_from_slice(&1u32.to_le_bytes()); // mem_unit
    bytes.truncate(112);
    copy_to_user(info, &bytes)?;
    Ok(0)
}

fn sys_prlimit64(pid: i32, resource: u32, new: u64, old: u64) -> SysResult {
    if pid != 0 && pid as i64 != task().pid as i64 {
        return Err(ESRCH);
    }
    const INF: u64 = u64::MAX;
    let lim: [u64; 2] = match resource {
        3 => [super::STACK_RLIMIT, INF], // RLIMIT_STACK
        7 => [1024, 4096],               // RLIMIT_NOFILE
        0..=15 => [INF, INF],
        _ => return Err(EINVAL),
    };
    if new != 0 {
        let _: [u64; 2] = get_user(new)?;
    }
    if old != 0 {
        put_user(old, &lim)?;
    }
    Ok(0)
}

fn sys_getrandom(buf: u64, len: u64, flags: u32) -> SysResult {
    if flags & !7 != 0 {
        return Err(EINVAL);
    }
    let len = len.min(1 << 20) as usize;
    let mut state = crate::arch::cpu::rdtsc() | 1;
    let mut done = 0;
    while done < len {
        let mut chunk = [0u8; 256];
        for b in chunk.iter_mut() {
            // xorshift64*: not cryptographic; this kernel has no entropy source.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *b = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        let n = (len - done).min(chunk.len());
        copy_to_user(buf + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(len as u64)
}
