//! System calls by Linux x86-64 number (`arch/x86/entry/syscalls/syscall_64.tbl`):
//! number in `rax`, arguments in `rdi rsi rdx r10 r8 r9`, result (or
//! `-errno`) in `rax`; `rcx` and `r11` are clobbered as by `sysret`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::fs::errno::*;
use crate::fs::file::{self, FdTable, File};
use crate::mm::addr::{UserAddr, PAGE_SIZE};
use crate::printk::with_console;

use super::signal::frame::{ERESTARTNOHAND, ERESTARTSYS};
use super::uaccess::{copy_from_user, copy_to_user, get_path, get_user, put_user};
use super::{current, do_exit, exit_code_status, Task};

mod attr;
mod cred;
mod fcntl;
mod mm;
mod namei;
mod poll;
mod prctl;
mod process;
mod read_write;
mod signal;
mod sys;

use self::attr::*;
use self::cred::*;
use self::fcntl::*;
use self::mm::*;
use self::namei::*;
use self::poll::*;
pub(crate) use self::prctl::DEFAULT_TIMER_SLACK_NS;
use self::prctl::*;
use self::process::*;
use self::read_write::*;
use self::signal::*;
use self::sys::*;

type SysResult = Result<u64, i32>;

/// Unknown system calls seen (`/proc/vmstat`-style counter).
pub static NR_ENOSYS: AtomicU64 = AtomicU64::new(0);

/// Opens fds 0, 1 and 2 on the console.
pub fn install_console(files: &mut FdTable) {
    for fd in 0..3 {
        let _ = files.install(File::console(fd, super::notify::console_write, super::notify::console_read), false);
    }
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
    /// An `unsigned long` that the memory calls take as an address of the
    /// caller's address space (`addr`, `start`, `brk`).
    fn addr(&self, i: usize) -> UserAddr {
        UserAddr::new(self.0[i])
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
    if nr == 15 {
        // rt_sigreturn restores every register: no result, no sysret.
        super::signal::frame::sys_rt_sigreturn();
        return;
    }
    let a = Args([r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]);
    let result = match nr {
        0 => sys_read(a.fd(0), a.ulong(1), a.ulong(2)),
        1 => sys_write(a.fd(0), a.ulong(1), a.ulong(2)),
        2 => sys_openat(AT_FDCWD, a.ulong(0), a.int(1), a.mode(2)),
        3 => sys_close(a.fd(0)),
        4 => sys_stat_at(AT_FDCWD, a.ulong(0), a.ulong(1), 0),
        5 => sys_fstat(a.fd(0), a.ulong(1)),
        40 => sys_sendfile(a.fd(0), a.fd(1), a.ulong(2), a.ulong(3)),
        326 => sys_copy_file_range(a.fd(0), a.ulong(1), a.fd(2), a.ulong(3), a.ulong(4), a.uint(5)),
        137 => sys_statfs(a.ulong(0), a.ulong(1)),
        138 => sys_fstatfs(a.fd(0), a.ulong(1)),
        6 => sys_stat_at(AT_FDCWD, a.ulong(0), a.ulong(1), AT_SYMLINK_NOFOLLOW),
        8 => sys_lseek(a.fd(0), a.long(1), a.uint(2)),
        // mmap's flags and prot are `unsigned long`: unknown bits there are
        // ignored or refused by the flag checks, as in Linux; its fd is
        // truncated by fget.
        9 => sys_mmap(a.addr(0), a.ulong(1), a.ulong(2), a.ulong(3), a.fd(4), a.ulong(5)),
        10 => sys_mprotect(a.addr(0), a.ulong(1), a.ulong(2)),
        11 => sys_munmap(a.addr(0), a.ulong(1)),
        12 => sys_brk(a.addr(0)),
        13 => sys_rt_sigaction(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3)),
        14 => sys_rt_sigprocmask(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3)),
        16 => sys_ioctl(a.fd(0), a.uint(1), a.ulong(2)),
        17 => sys_pread64(a.fd(0), a.ulong(1), a.ulong(2), a.long(3)),
        18 => sys_pwrite64(a.fd(0), a.ulong(1), a.ulong(2), a.long(3)),
        7 => sys_poll(a.ulong(0), a.uint(1), a.int(2)),
        19 => sys_readv(a.fd(0), a.ulong(1), a.ulong(2)),
        20 => sys_writev(a.fd(0), a.ulong(1), a.ulong(2)),
        295 => sys_preadv(a.fd(0), a.ulong(1), a.ulong(2), a.long(3), 0, false),
        296 => sys_preadv(a.fd(0), a.ulong(1), a.ulong(2), a.long(3), 0, true),
        327 => sys_preadv(a.fd(0), a.ulong(1), a.ulong(2), a.long(3), a.int(5) as u32, false),
        328 => sys_preadv(a.fd(0), a.ulong(1), a.ulong(2), a.long(3), a.int(5) as u32, true),
        92 => sys_fchownat(AT_FDCWD, Some(a.ulong(0)), a.uint(1), a.uint(2), 0),
        93 => sys_fchownat(a.fd(0), None, a.uint(1), a.uint(2), 0),
        94 => sys_fchownat(AT_FDCWD, Some(a.ulong(0)), a.uint(1), a.uint(2), AT_SYMLINK_NOFOLLOW),
        260 => sys_fchownat(a.fd(0), Some(a.ulong(1)), a.uint(2), a.uint(3), a.int(4)),
        437 => sys_openat2(a.fd(0), a.ulong(1), a.ulong(2), a.ulong(3)),
        23 => sys_select(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3), a.ulong(4)),
        230 => sys_clock_nanosleep(a.int(0), a.int(1), a.ulong(2), a.ulong(3)),
        270 => sys_pselect6(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3), a.ulong(4), a.ulong(5)),
        271 => sys_ppoll(a.ulong(0), a.uint(1), a.ulong(2), a.ulong(3), a.ulong(4)),
        22 => sys_pipe2(a.ulong(0), 0),
        293 => sys_pipe2(a.ulong(0), a.int(1)),
        24 => {
            super::sched::schedule();
            Ok(0)
        }
        25 => sys_mremap(a.addr(0), a.ulong(1), a.ulong(2), a.ulong(3), a.addr(4)),
        28 => sys_madvise(a.addr(0), a.ulong(1), a.int(2)),
        26 => sys_msync(a.addr(0), a.ulong(1), a.int(2)),
        27 => sys_mincore(a.addr(0), a.ulong(1), a.ulong(2)),
        149 => sys_mlock(a.addr(0), a.ulong(1), 0),
        325 => sys_mlock(a.addr(0), a.ulong(1), a.uint(2)),
        150 => sys_munlock(a.addr(0), a.ulong(1)),
        151 => sys_mlockall(a.uint(0)),
        152 => sys_munlockall(),
        440 => sys_process_madvise(a.fd(0), a.ulong(1), a.ulong(2), a.int(3), a.uint(4)),
        448 => sys_process_mrelease(a.fd(0), a.uint(1)),
        462 => sys_mseal(a.addr(0), a.ulong(1), a.ulong(2)),
        319 => sys_memfd_create(a.ulong(0), a.uint(1)),
        115 => sys_getgroups(a.int(0), a.ulong(1)),
        116 => sys_setgroups(a.int(0), a.ulong(1)),
        125 => sys_capget(a.ulong(0), a.ulong(1)),
        126 => sys_capset(a.ulong(0), a.ulong(1)),
        32 => sys_dup(a.fd(0)),
        33 => sys_dup2(a.fd(0), a.fd(1)),
        34 => sys_pause(),
        35 => sys_nanosleep(a.ulong(0), a.ulong(1)),
        36 => sys_getitimer(a.int(0), a.ulong(1)),
        37 => sys_alarm(a.uint(0)),
        38 => sys_setitimer(a.int(0), a.ulong(1), a.ulong(2)),
        // clone's flags are `unsigned long`, but Linux reads only their
        // low 32 bits (`lower_32_bits(clone_flags)`).
        56 => sys_clone(a.ulong(0), a.ulong(1), a.ulong(2), a.ulong(3), a.ulong(4)),
        57 => sys_fork(),
        58 => sys_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0),
        435 => sys_clone3(a.ulong(0), a.ulong(1)),
        434 => sys_pidfd_open(a.int(0), a.uint(1)),
        424 => sys_pidfd_send_signal(a.fd(0), a.int(1), a.ulong(2), a.uint(3)),
        247 => sys_waitid(a.int(0), a.int(1), a.ulong(2), a.int(3), a.ulong(4)),
        202 => super::futex::sys_futex(a.ulong(0), a.int(1) as u32, a.uint(2), a.ulong(3), a.ulong(4), a.uint(5)),
        273 => super::futex::sys_set_robust_list(a.ulong(0), a.ulong(1)),
        274 => super::futex::sys_get_robust_list(a.int(0), a.ulong(1), a.ulong(2)),
        // rseq: refused as by a kernel built without it (glibc and musl
        // then go on without it, quietly).
        334 => Err(ENOSYS),
        59 => sys_execve(a.ulong(0), a.ulong(1), a.ulong(2)),
        61 => sys_wait4(a.int(0), a.ulong(1), a.int(2), a.ulong(3)),
        39 => Ok(u64::from(task.tgid)), // getpid
        186 => Ok(u64::from(task.pid)), // gettid
        60 => {
            super::do_exit_thread(exit_code_status(a.int(0)));
            Ok(0)
        }
        231 => {
            do_exit(exit_code_status(a.int(0)));
            Ok(0)
        }
        62 => sys_kill(a.int(0), a.int(1)),
        217 => sys_getdents64(a.fd(0), a.ulong(1), a.uint(2)),
        200 => sys_tgkill(-1, a.int(0), a.int(1)), // tkill
        234 => sys_tgkill(a.int(0), a.int(1), a.int(2)),
        63 => sys_uname(a.ulong(0)),
        72 => sys_fcntl(a.fd(0), a.uint(1), a.ulong(2)),
        73 => sys_flock(a.fd(0), a.uint(1)),
        74 | 75 => sys_fsync(a.fd(0)), // fsync, fdatasync
        76 => sys_truncate(a.ulong(0), a.long(1)),
        77 => sys_ftruncate(a.fd(0), a.long(1)),
        21 => sys_faccessat(AT_FDCWD, a.ulong(0), a.int(1), 0),
        269 => sys_faccessat(a.fd(0), a.ulong(1), a.int(2), 0),
        439 => sys_faccessat(a.fd(0), a.ulong(1), a.int(2), a.int(3)),
        90 => sys_fchmodat(AT_FDCWD, Some(a.ulong(0)), a.mode(1)),
        91 => sys_fchmodat(a.fd(0), None, a.mode(1)),
        268 => sys_fchmodat(a.fd(0), Some(a.ulong(1)), a.mode(2)),
        79 => sys_getcwd(a.ulong(0), a.ulong(1)),
        80 => sys_chdir(a.ulong(0)),
        81 => sys_fchdir(a.fd(0)),
        82 => sys_renameat2(AT_FDCWD, a.ulong(0), AT_FDCWD, a.ulong(1), 0),
        264 => sys_renameat2(a.fd(0), a.ulong(1), a.fd(2), a.ulong(3), 0),
        316 => sys_renameat2(a.fd(0), a.ulong(1), a.fd(2), a.ulong(3), a.uint(4)),
        133 => sys_mknodat(AT_FDCWD, a.ulong(0), a.mode(1), a.uint(2)),
        259 => sys_mknodat(a.fd(0), a.ulong(1), a.mode(2), a.uint(3)),
        332 => sys_statx(a.fd(0), a.ulong(1), a.int(2), a.uint(3), a.ulong(4)),
        83 => sys_mkdirat(AT_FDCWD, a.ulong(0), a.mode(1)),
        84 => sys_unlinkat(AT_FDCWD, a.ulong(0), AT_REMOVEDIR), // rmdir
        87 => sys_unlinkat(AT_FDCWD, a.ulong(0), 0),
        96 => sys_gettimeofday(a.ulong(0), a.ulong(1)),
        164 => sys_settimeofday(a.ulong(0), a.ulong(1)),
        201 => sys_time(a.ulong(0)),
        227 => sys_clock_settime(a.int(0), a.ulong(1)),
        229 => sys_clock_getres(a.int(0), a.ulong(1)),
        99 => sys_sysinfo(a.ulong(0)),
        98 => sys_getrusage(a.int(0), a.ulong(1)),
        100 => sys_times(a.ulong(0)),
        140 => sys_getpriority(a.int(0), a.int(1)),
        141 => sys_setpriority(a.int(0), a.int(1), a.int(2)),
        102 => Ok(u64::from(task.cred.uid)),  // getuid
        104 => Ok(u64::from(task.cred.gid)),  // getgid
        107 => Ok(u64::from(task.cred.euid)), // geteuid
        108 => Ok(u64::from(task.cred.egid)), // getegid
        105 => sys_setuid(a.uint(0)),
        106 => sys_setgid(a.uint(0)),
        113 => sys_setreuid(a.uint(0), a.uint(1)),
        114 => sys_setregid(a.uint(0), a.uint(1)),
        117 => sys_setresuid(a.uint(0), a.uint(1), a.uint(2)),
        118 => sys_getres(false, a.ulong(0), a.ulong(1), a.ulong(2)),
        119 => sys_setresgid(a.uint(0), a.uint(1), a.uint(2)),
        120 => sys_getres(true, a.ulong(0), a.ulong(1), a.ulong(2)),
        122 => sys_setfsuid(a.uint(0)),
        123 => sys_setfsgid(a.uint(0)),
        86 => sys_linkat(AT_FDCWD, a.ulong(0), AT_FDCWD, a.ulong(1), 0),
        265 => sys_linkat(a.fd(0), a.ulong(1), a.fd(2), a.ulong(3), a.int(4)),
        280 => sys_utimensat(a.fd(0), a.ulong(1), a.ulong(2), a.int(3)),
        235 => sys_utimes(a.ulong(0), a.ulong(1), true),
        132 => sys_utimes(a.ulong(0), a.ulong(1), false),
        88 => sys_symlinkat(a.ulong(0), AT_FDCWD, a.ulong(1)),
        89 => sys_readlinkat(AT_FDCWD, a.ulong(0), a.ulong(1), a.int(2)),
        266 => sys_symlinkat(a.ulong(0), a.fd(1), a.ulong(2)),
        267 => sys_readlinkat(a.fd(0), a.ulong(1), a.ulong(2), a.int(3)),
        95 => {
            // umask: the old mask back; the new one's permission bits kept.
            let old = task.fs.umask;
            task.fs.umask = a.mode(0) & 0o777;
            Ok(u64::from(old))
        }
        203 => sys_sched_setaffinity(a.int(0), a.uint(1), a.ulong(2)),
        204 => sys_sched_getaffinity(a.int(0), a.uint(1), a.ulong(2)),
        157 => sys_prctl(a.int(0), a.ulong(1), a.ulong(2), a.ulong(3), a.ulong(4)),
        109 => sys_setpgid(a.int(0), a.int(1)),
        110 => Ok(task.ppid as u64),
        111 => Ok(u64::from(task.pgid)),
        112 => sys_setsid(),
        121 => sys_getpgid(a.int(0), false),
        124 => sys_getpgid(a.int(0), true),
        127 => sys_rt_sigpending(a.ulong(0), a.ulong(1)),
        130 => sys_rt_sigsuspend(a.ulong(0), a.ulong(1)),
        131 => sys_sigaltstack(a.ulong(0), a.ulong(1)),
        222 => sys_timer_create(a.int(0), a.ulong(1), a.ulong(2)),
        223 => sys_timer_settime(a.int(0), a.int(1), a.ulong(2), a.ulong(3)),
        224 => sys_timer_gettime(a.int(0), a.ulong(1)),
        225 => sys_timer_getoverrun(a.int(0)),
        226 => sys_timer_delete(a.int(0)),
        128 => sys_rt_sigtimedwait(a.ulong(0), a.ulong(1), a.ulong(2), a.ulong(3)),
        129 => sys_rt_sigqueueinfo(a.int(0), None, a.int(1), a.ulong(2)),
        297 => sys_rt_sigqueueinfo(a.int(0), Some(a.int(1)), a.int(2), a.ulong(3)),
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
        97 => sys_prlimit64(0, a.uint(0), 0, a.ulong(1)),  // getrlimit
        160 => sys_prlimit64(0, a.uint(0), a.ulong(1), 0), // setrlimit
        318 => sys_getrandom(a.ulong(0), a.ulong(1), a.uint(2)),
        _ => Err(unknown(nr)),
    };
    let task = current().expect("a task is running");
    task.regs.rax = match result {
        Ok(v) => v,
        Err(e @ (ERESTARTSYS | ERESTARTNOHAND)) => {
            // Settled when the signal is delivered: restarted, or EINTR.
            task.syscall_restart = Some((nr, e));
            (-(EINTR as i64)) as u64
        }
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
            let name = shared::syscalls::name(nr).unwrap_or("?");
            let _ = writeln!(w, "{}[{}]: unknown system call {nr} ({name}), returning -ENOSYS", task.comm, task.pid);
        });
    }
    ENOSYS
}

pub(super) fn task() -> &'static mut Task {
    current().expect("a task is running")
}

fn fd_file(fd: i32) -> Result<Arc<File>, i32> {
    task().files.get(fd).ok_or(EBADF)
}
