//! `/proc/PID/stat`, `status` and `limits` (Linux `fs/proc/array.c`,
//! `fs/proc/base.c` `proc_pid_limits`): a task's state in Linux's
//! formats.

use alloc::string::String;
use core::fmt::Write;

use crate::mm::addr::PAGE_SIZE;
use crate::proc::sched::{self, TaskState};
use crate::proc::Task;

/// A task's state as `status` and `stat` show it.
fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Runnable => "R (running)",
        TaskState::WaitChild | TaskState::SleepUntil(_) | TaskState::WaitEvent(_) | TaskState::Futex(_) => "S (sleeping)",
        TaskState::Zombie => "Z (zombie)",
        TaskState::Stopped => "T (stopped)",
    }
}

/// `/proc/PID/stat` (Linux `do_task_stat`): the 52 fields; a process's
/// times and faults are its threads' together (a thread's own under
/// `task/`); the kernel stack pointer and instruction pointer are 0, as
/// Linux shows them, rsslim unlimited.
pub(super) fn stat(task: &Task, w: &mut String) -> core::fmt::Result {
    let state = &state_name(task.state)[..1];
    let (vsize, rss) = task.mm.as_ref().map_or((0, 0), |mm| (mm.vm.total_vm * PAGE_SIZE, mm.rss.total()));
    let threads = sched::threads(task.tgid).len().max(1);
    let usage = task.signals.group_ref().usage;
    let (minflt, cminflt) = (usage.own.minflt, usage.children.minflt);
    let (utime, stime) = if task.is_leader() {
        let mut u = (usage.own.utime, usage.own.stime);
        for th in sched::threads(task.tgid).into_iter().filter_map(sched::task) {
            u = (u.0 + th.utime, u.1 + th.stime);
        }
        u
    } else {
        (task.utime, task.stime)
    };
    let (cutime, cstime) = (usage.children.utime, usage.children.stime);
    write!(
        w,
        "{} ({}) {state} {} {} {} 0 -1 4194560 {minflt} {cminflt} 0 0 {utime} {stime} {cutime} {cstime} {} {} {threads} 0 {} {vsize} {rss} {}",
        task.pid,
        task.comm,
        task.ppid,
        task.pgid,
        task.sid,
        20 + task.nice,
        task.nice,
        task.start_time,
        u64::MAX
    )?;
    let (start_code, end_code, start_stack) =
        task.mm.as_ref().map_or((0, 0, 0), |mm| (mm.vm.start_code.as_u64(), mm.vm.end_code.as_u64(), mm.vm.start_stack.as_u64()));
    let (ignored, caught) = task.signals.ignored_and_caught();
    // startcode endcode startstack kstkesp kstkeip, then the signal masks
    // (pending, blocked, ignored, caught) in decimal, as Linux's obsolete
    // fields show them.
    write!(w, " {start_code} {end_code} {start_stack} 0 0 {} {} {ignored} {caught}", task.signals.pending(), task.signals.blocked)?;
    // wchan nswap cnswap exit_signal processor rt_priority policy
    // delayacct_blkio_ticks guest_time cguest_time.
    write!(w, " 0 0 0 {} 0 0 0 0 0 0", task.exit_signal)?;
    let (sd, ed, sb, as_, ae, es, ee) = task.mm.as_ref().map_or((0, 0, 0, 0, 0, 0, 0), |mm| {
        let v = &mm.vm;
        (v.start_data.as_u64(), v.end_data.as_u64(), v.start_brk.as_u64(), v.arg_start.as_u64(), v.arg_end.as_u64(), v.env_start.as_u64(), v.env_end.as_u64())
    });
    writeln!(w, " {sd} {ed} {sb} {as_} {ae} {es} {ee} {}", task.exit_status.unwrap_or(0))
}

/// `/proc/PID/status` (Linux `proc_pid_status`): Linux's keys in Linux's
/// order, the ids and capability sets of [`crate::cred`]; there is no
/// seccomp, no NUMA and one CPU.
pub(super) fn status(task: &Task, w: &mut String) -> core::fmt::Result {
    let (ppid, tracer) = (task.ppid, 0);
    writeln!(w, "Name:\t{}", task.comm)?;
    writeln!(w, "Umask:\t{:04o}", task.fs.umask)?;
    writeln!(w, "State:\t{}", state_name(task.state))?;
    writeln!(w, "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{ppid}\nTracerPid:\t{tracer}", task.tgid, task.pid)?;
    let c = &task.cred;
    writeln!(w, "Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}", c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid)?;
    writeln!(w, "FDSize:\t{}", task.files.max_fds())?;
    write!(w, "Groups:\t")?;
    for g in &task.cred.groups {
        write!(w, "{g} ")?;
    }
    writeln!(w)?;
    writeln!(w, "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\nKthread:\t0", task.tgid, task.pid, task.pgid, task.sid)?;
    if let Some(mm) = task.mm.as_ref() {
        let rss = mm.rss;
        mm.vm.show_status(w, rss, mm.hiwater_rss, mm.pt.nr_tables * PAGE_SIZE)?;
        writeln!(w, "CoreDumping:\t0")?;
        writeln!(w, "THP_enabled:\t{}", u8::from(!mm.flags.thp_disable))?;
        writeln!(w, "untag_mask:\t{:#x}", u64::MAX)?;
    }
    writeln!(w, "Threads:\t{}", sched::threads(task.tgid).len().max(1))?;
    let rlim = task.signals.group_ref().rlim[crate::proc::rlimit::RLIMIT_SIGPENDING][0];
    writeln!(w, "SigQ:\t{}/{rlim}", task.signals.pending().count_ones())?;
    let (ignored, caught) = task.signals.ignored_and_caught();
    for (key, v) in [
        ("SigPnd", task.signals.thread_pending()),
        ("ShdPnd", task.signals.shared_pending()),
        ("SigBlk", task.signals.blocked),
        ("SigIgn", ignored),
        ("SigCgt", caught),
    ] {
        writeln!(w, "{key}:\t{v:016x}")?;
    }
    for (key, v) in [("CapInh", c.cap_inheritable), ("CapPrm", c.cap_permitted), ("CapEff", c.cap_effective), ("CapBnd", c.cap_bset), ("CapAmb", c.cap_ambient)]
    {
        writeln!(w, "{key}:\t{v:016x}")?;
    }
    writeln!(w, "NoNewPrivs:\t{}", u8::from(c.no_new_privs))?;
    writeln!(w, "Seccomp:\t0\nSeccomp_filters:\t0")?;
    writeln!(w, "Speculation_Store_Bypass:\tvulnerable\nSpeculationIndirectBranch:\talways enabled")?;
    writeln!(w, "Cpus_allowed:\t1\nCpus_allowed_list:\t0\nMems_allowed:\t1\nMems_allowed_list:\t0")?;
    writeln!(w, "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0")
}

/// `/proc/PID/limits` (Linux `proc_pid_limits`).
pub(super) fn limits(task: &Task, w: &mut String) -> core::fmt::Result {
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    writeln!(w, "{:<25} {:<20} {:<20} {:<10}", "Limit", "Soft Limit", "Hard Limit", "Units")?;
    let rlim = &task.signals.group_ref().rlim;
    for (i, (name, units)) in NAMES.iter().enumerate() {
        write!(w, "{name:<25} ")?;
        for v in rlim[i] {
            if v == crate::proc::rlimit::RLIM_INFINITY {
                write!(w, "{:<20} ", "unlimited")?;
            } else {
                write!(w, "{v:<20} ")?;
            }
        }
        writeln!(w, "{units:<10}")?;
    }
    Ok(())
}
