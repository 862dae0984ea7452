//! Processes: tasks, their kernel stacks, the user-mode loop that turns
//! traps into system calls, page faults and signals, and init.
//!
//! A task runs on its own kernel stack (from vmalloc, as Linux's
//! `VMAP_STACK`, with a guard page below it) in a loop: [`enter_user`] runs
//! it at ring 3 until it traps, the trap is handled in plain Rust, and the
//! loop goes round again until the task exits.
//!
//! [`enter_user`]: crate::arch::user::enter_user
//!
//! The threads of a process are tasks that share its address space,
//! files, working directory and signal handlers ([`shared::Shared`]), as
//! Linux's do.
//!
//! The layers inside, each using only those below it (a lower one that
//! must call a higher one takes a hook, as the scheduler does for the
//! process timers):
//!
//! ```text
//! syscall, procfs, exec, exit, itimer, futex  what processes ask for, how they end
//! signal::frame, signal::jobctl               delivery on the way to user mode; stops
//! signal, signal::send, timer, coredump       signal state and queueing; timers; core files
//! mm, fpu, count                              a task's memory and machine state
//! sched (tick below it), signal::siginfo      tasks, switches, the clock; signal names
//! ```
//!
//! No `unsafe` here but in the scheduler core (`sched`: the task table's
//! cell, `current`, and the context switch) and in [`shared`] (state that
//! tasks share), which say why.
#![deny(unsafe_code)]

pub mod coredump;
pub mod count;
pub mod exec;
pub mod exit;
pub mod fpu;
pub mod futex;
mod init_process;
pub mod itimer;
pub mod kswapd;
pub mod mm;
pub mod notify;
pub mod oom;
pub mod procfs;
pub mod rlimit;
pub mod rmapcheck;
pub mod sched;
pub mod shared;
pub mod signal;
pub mod syscall;
pub mod timer;
mod traps;
pub mod uaccess;

pub use self::init_process::{init_rootfs, initial_environment, mount_rootfs, run_init, unmount_rootfs, InitError, InitIdentity};
pub use self::traps::COUNT_FAULT;

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::arch::user::{self, enter_user, FpuState, UserExit, UserRegs};
use crate::fs::file::FdTable;
use crate::fs::ramfs::Ramfs;
use crate::printk::with_console;

use self::mm::Mm;
use self::shared::Shared;
use crate::mm::memory::{self as fault, FaultError};

/// Kernel stack size (Linux `THREAD_SIZE` on x86-64).
pub const THREAD_SIZE: u64 = 16 << 10;
/// Timer ticks per second (Linux `HZ`).
pub const HZ: u64 = 100;
/// Default `RLIMIT_STACK`.
pub const STACK_RLIMIT: u64 = 8 << 20;

pub const SIGKILL: i32 = 9;
pub const SIGBUS: i32 = 7;
pub const SIGSEGV: i32 = 11;

/// A task, in the `task_struct` slab cache.
pub type TaskBox = crate::mm::kmem::CacheBox<Task>;

/// A task (Linux `task_struct`): one thread of a process.
pub struct Task {
    /// The thread's id (`gettid`; Linux `task_struct::pid`).
    pub pid: u32,
    /// The process's id (`getpid`): the pid of its first thread, the
    /// thread group leader.
    pub tgid: u32,
    /// The parent process's id (a process, not a thread: `getppid`).
    pub ppid: u32,
    /// The program's name, at most 15 bytes (Linux `TASK_COMM_LEN`).
    pub comm: Comm,
    pub regs: UserRegs,
    pub fpu: FpuState,
    pub fs_base: u64,
    /// The address space (`None` for a task between exec's teardown and
    /// its new image); threads and `CLONE_VM` children share it.
    pub mm: Option<Shared<Mm>>,
    pub files: Shared<FdTable>,
    /// The working directory and umask (`CLONE_FS` shares them).
    pub fs: Shared<FsStruct>,
    /// `CLONE_CHILD_CLEARTID`, `set_tid_address`: zeroed and futex-woken
    /// when the thread exits while others share its memory.
    pub clear_child_tid: u64,
    /// Where the task waits in a futex queue (`FUTEX_WAIT`), if it does.
    pub futex: Option<futex::FutexWaiter>,
    /// `set_robust_list`: the head of the thread's list of robust futexes
    /// (0: none), walked when it exits.
    pub robust_list: u64,
    /// The signal sent to the parent when the process ends (SIGCHLD, or
    /// what `clone` asked for; 0: none).
    pub exit_signal: u32,
    pub kstack: sched::KernelStack,
    /// The saved kernel stack pointer while switched away.
    pub kernel_rsp: u64,
    /// Set once the task has exited: its `wait` status.
    pub exit_status: Option<i32>,
    /// Syscall numbers already reported as unknown (bit per number < 512).
    pub enosys_seen: [u64; 8],
    pub state: sched::TaskState,
    /// A fatal signal sent by `kill`, acted on before the task next
    /// returns to user mode.
    pub pending_kill: Option<i32>,
    /// `/proc/PID/oom_score_adj`: -1000 (never chosen) to 1000; inherited.
    pub oom_score_adj: i32,
    /// The blocked mask, pending signals, and handles of the process's
    /// dispositions and shared pending set; inherited (less what is
    /// pending) by fork.
    pub signals: signal::SignalState,
    /// A system call that ended early for a signal and asks to be
    /// restarted: its number and `ERESTARTSYS` or `ERESTARTNOHAND`.
    pub syscall_restart: Option<(u64, i32)>,
    /// The program it runs, as `execve` found it (`/proc/PID/exe`).
    pub exe: alloc::string::String,
    /// Its arguments, each ending in NUL, as `execve` gave them
    /// (`/proc/PID/cmdline`; at most a page kept).
    pub cmdline: alloc::vec::Vec<u8>,
    /// A `vfork` child that has not yet exec'd or exited: the thread that
    /// waits until it has (Linux `vfork_done`); 0 otherwise.
    pub vfork_parent: u32,
    /// Process group and session (`setpgid`, `setsid`); inherited, the
    /// same in every thread of a process.
    pub pgid: u32,
    pub sid: u32,
    /// Who the thread is: ids, groups, capabilities. Shared and never
    /// changed in place: see [`Task::commit_creds`].
    pub cred: Arc<crate::cred::Cred>,
    /// `PR_SET_PDEATHSIG`: the signal this thread gets when its parent
    /// process exits (0: none); not inherited.
    pub pdeath_signal: u32,
    /// `PR_SET_TIMERSLACK`, ns (kept and reported; sleeps here end on the
    /// tick anyway).
    pub timer_slack_ns: u64,
    /// CPU time in ticks: in user mode and in the kernel.
    pub utime: u64,
    pub stime: u64,
    /// The nice value, -20..=19 (`setpriority`); inherited.
    pub nice: i32,
    /// When it was created, ticks since boot (`/proc/PID/stat` starttime).
    pub start_time: u64,
}

impl Task {
    /// Whether this is its process's first thread (the group leader).
    pub fn is_leader(&self) -> bool {
        self.pid == self.tgid
    }

    /// How far the stack may grow (`RLIMIT_STACK`'s soft limit).
    pub fn stack_limit(&self) -> u64 {
        self.signals.group_ref().rlim[rlimit::RLIMIT_STACK][0]
    }

    /// Installs new credentials, made from a copy of the old ones (Linux
    /// `commit_creds`). A change of privilege ([`Cred::loses_dumpable`])
    /// makes the process not dumpable (its `/proc/PID` files then belong
    /// to root, and it leaves no core) and forgets the parent-death
    /// signal, as in Linux.
    ///
    /// [`Cred::loses_dumpable`]: crate::cred::Cred::loses_dumpable
    pub fn commit_creds(&mut self, new: crate::cred::Cred) {
        if new.loses_dumpable(&self.cred) {
            if let Some(mm) = self.mm.as_mut() {
                mm.flags.dumpable = 0;
            }
            self.pdeath_signal = 0;
        }
        self.cred = Arc::new(new);
    }
}

/// Root's credentials, shared by every task that has not changed them.
static ROOT_CRED: crate::sync::Once<Arc<crate::cred::Cred>> = crate::sync::Once::new();

/// [`crate::cred::current`] in the kernel: the running task's
/// credentials, root's outside any task.
fn current_cred() -> Arc<crate::cred::Cred> {
    match sched::current() {
        Some(task) => task.cred.clone(),
        None => ROOT_CRED.get().cloned().unwrap_or_else(|| Arc::new(crate::cred::Cred::root())),
    }
}

/// Where a process stands in the filesystem (Linux `fs_struct`).
#[derive(Clone)]
pub struct FsStruct {
    /// The file creation mask (`umask`); inherited.
    pub umask: u32,
    /// The working directory, an absolute path in the root filesystem
    /// (`chdir`, `getcwd`); inherited, kept by `execve`.
    pub cwd: String,
}

/// A task's name in place (no allocation), as Linux's `char comm[16]`.
#[derive(Clone, Copy, Default)]
pub struct Comm {
    len: u8,
    bytes: [u8; 15],
}

impl Comm {
    /// A name given as bytes (`prctl(PR_SET_NAME)`): up to the first NUL,
    /// cut to 15 bytes.
    pub fn from_bytes(name: &[u8]) -> Self {
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let mut c = Comm::default();
        let n = name.len().min(15);
        c.bytes[..n].copy_from_slice(&name[..n]);
        c.len = n as u8;
        c
    }

    /// The last path component of `path`, cut to 15 bytes.
    pub fn from_path(path: &str) -> Self {
        let name = path.rsplit('/').next().unwrap_or(path).as_bytes();
        let mut c = Comm::default();
        let n = name.len().min(15);
        c.bytes[..n].copy_from_slice(&name[..n]);
        c.len = n as u8;
        c
    }
    pub fn as_str(&self) -> &str {
        let b = &self.bytes[..self.len as usize];
        // A cut in the middle of a UTF-8 sequence: keep the valid prefix.
        core::str::from_utf8(b).unwrap_or_else(|e| core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""))
    }
}

impl core::fmt::Display for Comm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

static NEXT_PID: AtomicU64 = AtomicU64::new(1);

/// The last pid handed out (`/proc/loadavg`; `/proc/stat`'s `processes`,
/// the tasks created since boot).
pub fn last_pid() -> u64 {
    NEXT_PID.load(Relaxed) - 1
}

/// The in-memory root filesystem.
pub static ROOTFS: crate::sync::Once<crate::sync::SpinLock<Ramfs>> = crate::sync::Once::new();

pub use sched::current;

/// Sets up what processes need: the zero page and trampoline, the fault
/// hook, and the system-call path (probed).
pub fn init() {
    crate::mm::user_mem::init();
    set_max_threads();
    if crate::arch::cpu::read_cr4() & crate::arch::cpu::CR4_SMAP != 0 {
        crate::arch::uaccess::note_smap_enabled();
    }
    let _ = crate::arch::traps::KERNEL_USER_FAULT.set(traps::kernel_user_fault);
    let _ = crate::fs::inode::UNMAP_MAPPING_RANGE.set(mm::unmap_mapping_range);
    let _ = crate::fs::WAKE_WAITERS.set(sched::wake_events);
    let _ = ROOT_CRED.set(Arc::new(crate::cred::Cred::root()));
    let _ = crate::cred::CURRENT.set(current_cred);
    let _ = crate::arch::traps::KERNEL_IRQ.set(sched::kernel_interrupt);
    sched::on_timer_expiry(itimer::run_timers);
    kswapd::init();
    let path = exec::probe_syscall_path();
    printk!(
        "syscall: entry via {}",
        match path {
            user::SyscallPath::Native => "syscall/LSTAR (ring 0 entered natively)",
            user::SyscallPath::GpTrampoline => "#GP at the LSTAR trampoline (syscall stays at ring 3 on this hypervisor)",
        }
    );
    // The tick starts after the probe, which expects no interrupts.
    if sched::start_timer() {
        printk!("sched: x2APIC timer at {HZ} Hz for preemption and sleeping");
    } else {
        printk!("sched: no x2APIC: no preemption, nanosleep spins");
    }
}

/// The process layer's slab caches (Linux's names).
pub static TASK_STRUCT_CACHEP: crate::sync::Once<&'static crate::mm::slab::KmemCache> = crate::sync::Once::new();
pub static MM_CACHEP: crate::sync::Once<&'static crate::mm::slab::KmemCache> = crate::sync::Once::new();
pub static FILES_CACHEP: crate::sync::Once<&'static crate::mm::slab::KmemCache> = crate::sync::Once::new();
pub static FS_CACHEP: crate::sync::Once<&'static crate::mm::slab::KmemCache> = crate::sync::Once::new();

/// Linux `fork_init` + `proc_caches_init`: the process layer's caches,
/// `task_struct`, the shared parts of a process (`mm_struct`,
/// `files_cache`, `fs_cache`, `sighand_cache`, `signal_cache`) and
/// `vm_area_struct` (kept by `mm::vma`, sized here from what a VMA maps),
/// right after the kmalloc caches.
pub fn proc_caches_init() {
    use crate::mm::kmem::create_cache;
    use core::mem::size_of;
    // A shared part is its value and a count.
    fn shared<T>() -> usize {
        size_of::<T>() + size_of::<usize>()
    }
    let _ = TASK_STRUCT_CACHEP.set(create_cache("task_struct", size_of::<Task>()));
    let _ = MM_CACHEP.set(create_cache("mm_struct", shared::<mm::Mm>()));
    let _ = FILES_CACHEP.set(create_cache("files_cache", shared::<FdTable>()));
    let _ = FS_CACHEP.set(create_cache("fs_cache", shared::<FsStruct>()));
    let _ = signal::SIGHAND_CACHEP.set(create_cache("sighand_cache", shared::<signal::SigHand>()));
    let _ = signal::SIGNAL_CACHEP.set(create_cache("signal_cache", shared::<signal::SignalStruct>()));
    let vma = create_cache("vm_area_struct", size_of::<crate::mm::vma::Vma<mm::FileRef>>());
    let _ = crate::mm::kmem::VM_AREA_CACHEP.set(vma);
}

/// An address space in the `mm_struct` cache; `None` when out of memory.
pub fn new_mm(mm: Mm) -> Option<Shared<Mm>> {
    Shared::new_or(*MM_CACHEP.get()?, mm).ok()
}

/// The kernel's limit on tasks (`/proc/sys/kernel/threads-max`, Linux
/// `max_threads`): a fork or thread beyond it fails with EAGAIN. Set at
/// boot so that the tasks' kernel stacks take at most an eighth of RAM.
static MAX_THREADS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(MIN_THREADS);
/// Linux's floor for `max_threads`.
const MIN_THREADS: usize = 20;

/// `threads-max` now.
pub fn max_threads() -> usize {
    MAX_THREADS.load(Relaxed)
}

/// Linux `set_max_threads`: RAM pages over eight stacks' worth of pages.
fn set_max_threads() {
    let pages = crate::mm::buddy::page_alloc().totalram_pages() as usize;
    let per_task = (8 * THREAD_SIZE / crate::mm::addr::PAGE_SIZE) as usize;
    MAX_THREADS.store((pages / per_task).clamp(MIN_THREADS, FUTEX_TID_MASK as usize), Relaxed);
}

/// Sets `threads-max` (`/proc/sys/kernel/threads-max`): from Linux's
/// floor up to the largest thread id (EINVAL otherwise).
pub fn set_threads_max(v: usize) -> Result<(), i32> {
    if !(MIN_THREADS..=FUTEX_TID_MASK as usize).contains(&v) {
        return Err(crate::fs::errno::EINVAL);
    }
    MAX_THREADS.store(v, Relaxed);
    Ok(())
}

/// Thread ids fit in the low 30 bits of a robust futex word.
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// What a new task shares with, or copies from, its creator.
pub struct TaskParts {
    pub files: Shared<FdTable>,
    pub fs: Shared<FsStruct>,
    pub signals: signal::SignalState,
}

impl TaskParts {
    /// A first process's parts (init, a process the host starts): no
    /// files, the root directory, default signal handling.
    pub fn fresh() -> Option<Self> {
        Some(Self {
            files: Shared::new(*FILES_CACHEP.get()?, FdTable::new())?,
            fs: Shared::new(*FS_CACHEP.get()?, FsStruct { umask: crate::fs::file::UMASK, cwd: String::from("/") })?,
            signals: signal::SignalState::new()?,
        })
    }
}

/// A fresh task with a kernel stack ready to run `task_entry`, parent
/// `ppid`, no address space, and `parts`. Its own process (`tgid` = pid)
/// unless the caller makes it a thread.
pub fn new_task(ppid: u32, parts: TaskParts) -> Option<TaskBox> {
    let (kstack, kernel_rsp) = sched::KernelStack::new(task_entry)?;
    let cache = *TASK_STRUCT_CACHEP.get()?;
    let pid = NEXT_PID.fetch_add(1, Relaxed) as u32;
    let TaskParts { mut files, fs, signals } = parts;
    if !files.is_shared() {
        // Its own table: POSIX locks dropped on its closes are this
        // process's.
        files.owner = pid;
    }
    crate::mm::kmem::CacheBox::new(
        cache,
        Task {
            pid,
            tgid: pid,
            ppid,
            comm: Comm::default(),
            regs: UserRegs::default(),
            fpu: FpuState::new(),
            fs_base: 0,
            mm: None,
            files,
            fs,
            clear_child_tid: 0,
            futex: None,
            robust_list: 0,
            exit_signal: signal::SIGCHLD as u32,
            kstack,
            kernel_rsp,
            exit_status: None,
            enosys_seen: [0; 8],
            state: sched::TaskState::Runnable,
            pending_kill: None,
            oom_score_adj: 0,
            signals,
            syscall_restart: None,
            exe: String::new(),
            cmdline: alloc::vec::Vec::new(),
            vfork_parent: 0,
            // A task without a parent (init, a process the host starts)
            // leads its own session and group; fork gives a child its
            // parent's.
            pgid: pid,
            sid: pid,
            cred: ROOT_CRED.get().cloned().unwrap_or_else(|| Arc::new(crate::cred::Cred::root())),
            pdeath_signal: 0,
            timer_slack_ns: syscall::DEFAULT_TIMER_SLACK_NS,
            utime: 0,
            stime: 0,
            nice: 0,
            start_time: sched::TICKS.load(Relaxed),
        },
    )
}

/// Frees what is left of a task that will never run again (not the one
/// running): its address space (if no other task shares it), files and
/// kernel stack.
pub fn free_task(mut t: TaskBox) {
    fpu::forget(t.pid);
    if let Some(mm) = t.mm.take() {
        put_mm(mm);
    }
    // The kernel stack goes with the task.
    drop(t);
}

/// Lets go of an address space (Linux `mmput`): the last user frees every
/// page and table, on the kernel's tables (its own must not be live
/// then); the running task's are loaded again after.
pub fn put_mm(mm: Shared<Mm>) {
    if let Ok(mm) = mm.try_unwrap() {
        crate::mm::user_mem::activate_kernel_tables();
        drop(mm);
        sched::reload_cr3();
    }
}

/// The kernel side of a task, on its own stack.
extern "C" fn task_entry(_: u64) -> ! {
    // First run: the task before may have exited.
    sched::finish_switch();
    loop {
        let task = current().expect("a task is running");
        if let Some(sig) = task.pending_kill.take() {
            // The process is ending already (or another thread is in
            // `execve`): only this thread goes. Otherwise the whole
            // process does.
            let group = task.signals.group_ref();
            let exec_task = group.group_exec_task;
            match group.group_exit {
                Some(status) => do_exit_thread(status),
                None if exec_task != 0 && exec_task != task.pid => do_exit_thread(sig),
                None => do_exit(sig),
            }
        }
        if task.exit_status.is_some() {
            break;
        }
        // Signals are delivered on the way back to user mode.
        let restart = task.syscall_restart.take();
        if restart.is_some() || task.signals.deliverable() != 0 || task.signals.saved_mask.is_some() {
            signal::frame::do_signal(task, restart);
            if task.exit_status.is_some() {
                break;
            }
        }
        fpu::load_for_user(task);
        let exit = enter_user(&mut task.regs);
        match exit {
            UserExit::Syscall => {
                count::syscall_begin(task.regs.rax);
                syscall::dispatch();
                count::syscall_end();
            }
            UserExit::Exception { vector, error_code, cr2 } => traps::user_exception(vector, error_code, cr2),
            UserExit::Interrupt(v) => {
                count::irq_begin();
                let tick = sched::interrupt(v);
                count::irq_end();
                if tick {
                    // The tick found the task in user mode. Preemption: it
                    // ends this task's turn, unless the turn has just begun
                    // (a tick left pending while the kernel ran with
                    // interrupts off belongs to the task before).
                    task.utime += 1;
                    sched::preempt_tick();
                }
                // A safe point, before user mode again: the observers'
                // work (kswapd's, the stats channel's, the balloon's).
                notify::poll();
            }
        }
    }
    exit_task()
}

/// The exit of the current task (Linux `do_exit`'s teardown): its robust
/// futexes and `clear_child_tid`, its share of the address space and the
/// files, then the scheduler's part (a zombie for the parent to reap, or
/// freed at once).
fn exit_task() -> ! {
    let task = current().expect("a task is running");
    // Linux `exit_mm` → `mm_release`: robust futexes are released and the
    // tid word is cleared (waking `pthread_join`) while the memory is
    // still there.
    futex::exit_release(task);
    let last_user = task.mm.as_ref().is_some_and(|mm| !mm.is_shared());
    if last_user {
        // Counted while the address space is still the task's.
        rmapcheck::run("before an exit");
    }
    // The thread's time and the memory's peak stay with the process.
    let peak = task.mm.as_ref().map_or(0, |mm| mm.hiwater_rss.max(mm.rss.total()));
    let (utime, stime) = (task.utime, task.stime);
    let own = &mut task.signals.group().usage.own;
    own.utime += utime;
    own.stime += stime;
    own.maxrss = own.maxrss.max(peak);
    if let Some(mm) = task.mm.take() {
        // The last user frees the tables, on the kernel's.
        put_mm(mm);
    }
    if last_user {
        rmapcheck::run("after an exit");
    }
    // Everything it opened goes, unless another task shares the table;
    // init's console files stay until it is freed (they are part of the
    // leak baseline).
    if !task.files.is_shared() {
        let open: alloc::vec::Vec<i32> = task.files.iter().map(|(fd, _)| fd).filter(|&fd| fd > 2 || task.pid != 1).collect();
        for fd in open {
            let _ = task.files.close(fd);
        }
        // Pipe ends it held may be gone: their other ends' waiters look
        // again.
        sched::wake_events();
    }
    // A vfork parent goes on once its child has exited.
    let vfork_parent = core::mem::take(&mut task.vfork_parent);
    if vfork_parent != 0 {
        sched::wake(vfork_parent);
    }
    exit::exit_current()
}

/// Ends the current process with a wait status (Linux `do_group_exit`:
/// `exit_group`, a fatal signal): `sig` for a signal death, `code << 8`
/// for `exit(code)` (see [`exit_code_status`]). Every other thread of the
/// process is killed; the first status set for the group is the one its
/// parent sees. Never inlined: one place to put a breakpoint on every
/// exit, as in Linux.
#[inline(never)]
pub fn do_exit(status: i32) {
    let Some(task) = current() else { return };
    let status = *task.signals.group().group_exit.get_or_insert(status);
    task.exit_status = Some(status);
    let (me, tgid) = (task.pid, task.tgid);
    for tid in sched::threads(tgid).into_iter().filter(|&t| t != me) {
        if let Some(t) = sched::task(tid) {
            t.pending_kill = Some(SIGKILL);
            sched::wake(tid);
        }
    }
}

/// Ends only the current thread (`exit`; Linux `do_exit`): the process
/// goes on while it has other threads.
pub fn do_exit_thread(status: i32) {
    if let Some(task) = current() {
        task.exit_status = Some(status);
        if !task.is_leader() {
            count::count_thread_exit(task.pid);
        }
    }
}

/// The wait status of `exit(code)`.
pub fn exit_code_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The VMM exit code for a wait status: the exit code, or 128 + signal.
pub fn status_to_exit_code(status: i32) -> u32 {
    if status & 0x7f == 0 {
        ((status >> 8) & 0xff) as u32
    } else {
        128 + (status & 0x7f) as u32
    }
}

/// Shared handle to the root filesystem's inode for `path`.
pub fn lookup(path: &str) -> Result<Arc<crate::fs::ramfs::Inode>, i32> {
    let fs = ROOTFS.get().ok_or(crate::fs::errno::ENOENT)?;
    fs.lock().lookup(path)
}

/// The size and inode limits the root filesystem reports, as a tmpfs
/// mounted without options has them (Linux `shmem_default_max_blocks`,
/// `shmem_default_max_inodes`): half of RAM in pages, and half of the
/// low-memory pages in inodes. Nothing enforces them here but memory
/// itself.
pub(crate) fn rootfs_limits() -> (u64, u64) {
    let alloc = crate::mm::buddy::page_alloc();
    let total = alloc.totalram_pages();
    let high = alloc.zones[crate::mm::zone::ZONE_HIGHMEM].managed();
    (total / 2, total.saturating_sub(high) / 2)
}
