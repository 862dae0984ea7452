//! `/proc`: files generated when opened, in Linux's formats, and its
//! directories listed when opened: `/proc` itself (`self`, a directory per
//! live process, the global files) and `/proc/PID` (the per-process
//! files).

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;

use crate::fs::errno::{EACCES, EINVAL, ENOENT, ESRCH};
use crate::fs::file::{File, O_ACCMODE, O_RDONLY};
use crate::fs::stat::{S_IFDIR, S_IFLNK, S_IFREG};
use crate::mm::addr::PAGE_SIZE;

use super::current;

pub fn open(path: &str, flags: u32) -> Result<Arc<File>, i32> {
    if let Some(name) = path.trim_end_matches('/').strip_prefix("sys/") {
        return sysctl(name, flags);
    }
    let is_fd = path.split('/').nth(1) == Some("fd") || path.split('/').nth(3) == Some("fd");
    if flags & O_ACCMODE != O_RDONLY && !is_fd {
        // The one writable file: /proc/PID/oom_score_adj.
        if let Some((dir, "oom_score_adj")) = path.trim_end_matches('/').split_once('/') {
            let pid = if dir == "self" { current().ok_or(ENOENT)?.tgid } else { dir.parse::<u32>().map_err(|_| ENOENT)? };
            super::sched::task(pid).ok_or(ENOENT)?;
            return Ok(File::proc_write(pid, store_oom_score_adj));
        }
        return Err(EACCES);
    }
    let mut out = String::new();
    let path = path.trim_end_matches('/');
    let parts: alloc::vec::Vec<&str> = if path.is_empty() { alloc::vec::Vec::new() } else { path.split('/').collect() };
    // `/proc/thread-self` is `/proc/TGID/task/TID` of the caller.
    let me = current().ok_or(ENOENT)?;
    let (my_tid, my_tgid) = (me.pid, me.tgid);
    let (tid, tgid, rest): (u32, u32, &[&str]) = match parts.as_slice() {
        [] => return Ok(root_dir()),
        ["thread-self", rest @ ..] => (my_tid, my_tgid, rest),
        ["self", rest @ ..] => (my_tgid, my_tgid, rest),
        [first, rest @ ..] => match first.parse::<u32>() {
            Ok(pid) => (pid, pid, rest),
            Err(_) if rest.is_empty() => {
                global(first, &mut out)?;
                return Ok(File::snapshot(out.into_bytes()));
            }
            Err(_) => return Err(ENOENT),
        },
    };
    // A thread's directory: `/proc/TID` (not listed, but there, as in
    // Linux) or `/proc/PID/task/TID`.
    let (tid, rest, in_task_dir) = match rest {
        ["task"] => return task_dir(tgid),
        ["task", t, rest @ ..] => {
            let t = t.parse::<u32>().map_err(|_| ENOENT)?;
            super::sched::task(t).filter(|x| x.tgid == tgid).ok_or(ENOENT)?;
            (t, rest, true)
        }
        _ => (tid, rest, false),
    };
    let task = super::sched::task(tid).filter(|t| t.state != super::sched::TaskState::Zombie).ok_or(ENOENT)?;
    match rest {
        ["fd"] => {
            let entries = task.files.iter().map(|(fd, _)| (alloc::format!("{fd}"), proc_ino(tid, 64 + fd as usize), S_IFLNK | 0o700)).collect();
            Ok(File::listed_dir(proc_ino(tid, PROCESS_FILES.len() + 2), entries))
        }
        ["fd", n] => reopen_fd(task, n, flags),
        // The links to files: opening one opens what it points to.
        ["exe" | "cwd" | "root"] => {
            let target = match rest[0] {
                "exe" if task.exe.is_empty() => return Err(ENOENT),
                "exe" => task.exe.clone(),
                "cwd" => task.fs.cwd.clone(),
                _ => String::from("/"),
            };
            let fs = super::ROOTFS.get().ok_or(ENOENT)?.lock();
            crate::fs::file::open(&fs, &target, flags & !crate::fs::file::O_CREAT, 0)
        }
        [] => {
            let mut files: alloc::vec::Vec<(String, u64, u32)> =
                PROCESS_FILES.iter().enumerate().map(|(i, n)| (String::from(*n), proc_ino(tid, i + 1), S_IFREG | 0o444)).collect();
            files.push((String::from("fd"), proc_ino(tid, PROCESS_FILES.len() + 2), S_IFDIR | 0o500));
            if !in_task_dir {
                files.push((String::from("task"), proc_ino(tid, PROCESS_FILES.len() + 1), S_IFDIR | 0o555));
            }
            files.sort();
            Ok(File::listed_dir(proc_ino(tid, 0), files))
        }
        [name] => {
            per_process(task, name, &mut out)?;
            if *name == "maps" {
                return Ok(File::proc_maps(out.into_bytes(), tid));
            }
            Ok(File::snapshot(out.into_bytes()))
        }
        _ => Err(ENOENT),
    }
}

/// `/proc/sys`: the kernel's tunables, one value per file (Linux
/// `kernel/sysctl.c`); `threads-max` is writable (20 up to the largest
/// thread id), the rest read-only. The directories themselves list their
/// files.
fn sysctl(name: &str, flags: u32) -> Result<Arc<File>, i32> {
    const KERNEL: [&str; 4] = ["ostype", "osrelease", "pid_max", "threads-max"];
    let dir = |names: &[&str], base: u64| {
        File::listed_dir(base, names.iter().enumerate().map(|(i, n)| (String::from(*n), base + 1 + i as u64, S_IFREG | 0o644)).collect())
    };
    let value = match name {
        "" => return Ok(File::listed_dir(SYS_INO, alloc::vec![(String::from("kernel"), SYS_INO + 16, S_IFDIR | 0o555)])),
        "kernel" => return Ok(dir(&KERNEL, SYS_INO + 16)),
        "kernel/ostype" => String::from("Linux"),
        "kernel/osrelease" => String::from("6.1.0-rvmm"),
        "kernel/pid_max" => alloc::format!("{}", super::FUTEX_TID_MASK.min(4 << 20)),
        "kernel/threads-max" => {
            if flags & O_ACCMODE != O_RDONLY {
                return Ok(File::proc_write(0, store_threads_max));
            }
            alloc::format!("{}", super::max_threads())
        }
        _ => return Err(ENOENT),
    };
    if flags & O_ACCMODE != O_RDONLY {
        return Err(EACCES);
    }
    Ok(File::snapshot(alloc::format!("{value}\n").into_bytes()))
}

/// Inode numbers of `/proc/sys` (after the global files and below the
/// per-process blocks).
const SYS_INO: u64 = 64;

/// Writes `/proc/sys/kernel/threads-max` (Linux `sysctl_max_threads`).
fn store_threads_max(_: u32, bytes: &[u8]) -> Result<usize, i32> {
    let v: usize = core::str::from_utf8(bytes).map_err(|_| EINVAL)?.trim().parse().map_err(|_| EINVAL)?;
    super::set_threads_max(v)?;
    Ok(bytes.len())
}

/// Opening `/proc/PID/fd/N`: a file of the root filesystem is opened
/// again by its path with `flags` (a description of its own, as Linux
/// opens the dentry again); anything else (a pipe, the console) is the
/// same description.
fn reopen_fd(task: &super::Task, n: &str, flags: u32) -> Result<Arc<File>, i32> {
    let fd: i32 = n.parse().map_err(|_| ENOENT)?;
    let file = task.files.get(fd).ok_or(ENOENT)?;
    match file.ramfs_inode() {
        Some(inode) => {
            let fs = super::ROOTFS.get().ok_or(ENOENT)?.lock();
            crate::fs::file::open(&fs, &inode.path(), flags & !crate::fs::file::O_CREAT, 0)
        }
        None => Ok(file),
    }
}

/// What `/proc/PID/fd/N` names (`readlink`), for process `who` ("self"
/// or a pid).
pub fn fd_link(who: &str, n: &str, me: u32) -> Result<String, i32> {
    let pid = if who == "self" { me } else { who.parse().map_err(|_| ENOENT)? };
    let task = super::sched::task(pid).ok_or(ENOENT)?;
    let fd: i32 = n.parse().map_err(|_| ENOENT)?;
    Ok(task.files.get(fd).ok_or(ENOENT)?.link_name())
}

/// `/proc/PID/task`: a directory per thread of the process.
fn task_dir(tgid: u32) -> Result<Arc<File>, i32> {
    let tids = super::sched::all_threads(tgid);
    if tids.is_empty() {
        return Err(ENOENT);
    }
    let entries = tids.iter().map(|&t| (alloc::format!("{t}"), proc_ino(t, 0), S_IFDIR | 0o555)).collect();
    Ok(File::listed_dir(proc_ino(tgid, PROCESS_FILES.len() + 1), entries))
}

/// The files of `/proc` and of `/proc/PID`, as their listings show them.
const GLOBAL_FILES: [&str; 8] = ["buddyinfo", "loadavg", "meminfo", "slabinfo", "uptime", "vmallocinfo", "vmstat", "zoneinfo"];
const PROCESS_FILES: [&str; 8] = ["cmdline", "comm", "maps", "oom_score_adj", "smaps", "stat", "statm", "status"];

/// Inode numbers of `/proc` entries: the root 1, global files from 2,
/// each process's directory and files in a block of its own.
fn proc_ino(pid: u32, index: usize) -> u64 {
    (u64::from(pid) + 1) << 8 | index as u64
}

/// `/proc`: `self`, `thread-self`, each live process, the global files.
fn root_dir() -> Arc<File> {
    let mut entries = alloc::vec![
        (String::from("self"), 2, S_IFLNK | 0o777),
        (String::from("thread-self"), 2, S_IFLNK | 0o777),
        (String::from("sys"), SYS_INO, S_IFDIR | 0o555)
    ];
    for pid in super::sched::processes() {
        if !super::sched::threads(pid).is_empty() {
            entries.push((alloc::format!("{pid}"), proc_ino(pid, 0), S_IFDIR | 0o555));
        }
    }
    entries.extend(GLOBAL_FILES.iter().enumerate().map(|(i, n)| (String::from(*n), 3 + i as u64, S_IFREG | 0o444)));
    File::listed_dir(1, entries)
}

pub(crate) fn global(name: &str, w: &mut String) -> Result<(), i32> {
    use crate::mm::vmstat;
    let alloc = crate::mm::buddy::page_alloc();
    let _ = match name {
        "meminfo" => vmstat::meminfo(alloc, w),
        "buddyinfo" => vmstat::buddyinfo(alloc, w),
        "zoneinfo" => vmstat::zoneinfo(alloc, w),
        "vmstat" => vmstat::vmstat(alloc, w).and_then(|()| {
            use core::sync::atomic::Ordering::Relaxed;
            writeln!(w, "pgfault {}", super::fault::PGFAULT.load(Relaxed))?;
            writeln!(w, "cow_fault {}", super::fault::COW_FAULT.load(Relaxed))?;
            writeln!(w, "zero_page_fault {}", super::fault::ZERO_PAGE_FAULT.load(Relaxed))
        }),
        "slabinfo" => crate::mm::kmem::SLAB.slabinfo(w),
        "vmallocinfo" => crate::mm::vmalloc::vmallocinfo(w),
        "uptime" => {
            let ns = crate::time::uptime_ns();
            // The second number is idle time summed over CPUs: not kept.
            writeln!(w, "{}.{:02} 0.00", ns / 1_000_000_000, ns % 1_000_000_000 / 10_000_000)
        }
        "loadavg" => {
            use super::sched::{self, TaskState};
            let pids = sched::pids();
            let running = pids.iter().filter(|&&p| sched::task(p).is_some_and(|t| t.state == TaskState::Runnable)).count();
            let last = pids.iter().max().copied().unwrap_or(0);
            writeln!(w, "0.00 0.00 0.00 {running}/{} {last}", pids.len())
        }
        _ => return Err(ENOENT),
    };
    Ok(())
}

/// A task's state as `/proc/PID/status` and `stat` show it.
fn state_name(state: super::sched::TaskState) -> &'static str {
    use super::sched::TaskState;
    match state {
        TaskState::Runnable => "R (running)",
        TaskState::WaitChild | TaskState::SleepUntil(_) | TaskState::WaitEvent(_) | TaskState::Futex(_) => "S (sleeping)",
        TaskState::Zombie => "Z (zombie)",
        TaskState::Stopped => "T (stopped)",
    }
}

/// `/proc/PID/stat`: Linux's 52 fields, those not kept here 0 (times,
/// priorities, addresses; rsslim unlimited).
fn stat(task: &super::Task, w: &mut String) {
    let state = &state_name(task.state)[..1];
    let (faults, vsize, rss) = task.mm.as_ref().map_or((0, 0, 0), |mm| (mm.stats.faults, mm.vm.total_vm * PAGE_SIZE, mm.rss.total()));
    let _ = write!(
        w,
        "{} ({}) {state} {} {} {} 0 -1 4194304 {faults} 0 0 0 0 0 0 0 20 0 {} 0 0 {vsize} {rss} {}",
        task.pid,
        task.comm,
        task.ppid,
        task.pgid,
        task.sid,
        super::sched::threads(task.tgid).len().max(1),
        u64::MAX
    );
    // startcode .. kstkeip, then the signal masks (pending, blocked,
    // ignored, caught) as decimal, as Linux's obsolete fields show them.
    let _ = write!(w, " 0 0 0 0 0 {} {} 0 0", task.signals.pending(), task.signals.blocked);
    // wchan nswap cnswap exit_signal processor rt_priority policy
    // delayacct_blkio_ticks guest_time cguest_time, then the data, brk,
    // argument and environment bounds and the exit code.
    let _ = writeln!(w, " 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 {}", task.exit_status.unwrap_or(0));
}

/// Writes `/proc/PID/oom_score_adj`: an integer in -1000..=1000 (Linux
/// `oom_score_adj_write`; -1000 exempts the process from the OOM killer).
fn store_oom_score_adj(pid: u32, bytes: &[u8]) -> Result<usize, i32> {
    let text = core::str::from_utf8(bytes).map_err(|_| EINVAL)?.trim();
    let v: i32 = text.parse().map_err(|_| EINVAL)?;
    if !(-1000..=1000).contains(&v) {
        return Err(EINVAL);
    }
    // One value per process (Linux keeps it in `signal_struct`).
    let tgid = super::sched::task(pid).ok_or(ESRCH)?.tgid;
    for tid in super::sched::all_threads(tgid) {
        if let Some(t) = super::sched::task(tid) {
            t.oom_score_adj = v;
        }
    }
    Ok(bytes.len())
}

pub(crate) fn per_process(task: &mut super::Task, name: &str, w: &mut String) -> Result<(), i32> {
    match name {
        "comm" => {
            let _ = writeln!(w, "{}", task.comm);
            return Ok(());
        }
        "cmdline" => {
            w.push_str(&String::from_utf8_lossy(&task.cmdline));
            return Ok(());
        }
        "stat" => {
            stat(task, w);
            return Ok(());
        }
        _ => {}
    }
    if name == "smaps" {
        let mm = task.mm.as_mut().ok_or(ENOENT)?;
        let _ = smaps(mm, w);
        return Ok(());
    }
    let mm = task.mm.as_ref().ok_or(ENOENT)?;
    match name {
        "maps" => {
            let _ = mm.vm.show_maps(w, |f: &super::mm::FileRef| f.maps_info());
        }
        "status" => {
            let _ = writeln!(w, "Name:\t{}", task.comm);
            let _ = writeln!(w, "State:\t{}", state_name(task.state));
            let _ = writeln!(w, "Tgid:\t{}", task.tgid);
            let _ = writeln!(w, "Pid:\t{}", task.pid);
            let _ = writeln!(w, "PPid:\t{}", task.ppid);
            let _ = writeln!(w, "Uid:\t0\t0\t0\t0");
            let _ = writeln!(w, "Gid:\t0\t0\t0\t0");
            let rss = mm.rss;
            let _ = mm.vm.show_status(w, rss.anon, rss.file, rss.shmem, mm.hiwater_rss, mm.pt.nr_tables * PAGE_SIZE);
            let _ = writeln!(w, "Threads:\t{}", super::sched::threads(task.tgid).len().max(1));
        }
        "oom_score_adj" => {
            let _ = writeln!(w, "{}", task.oom_score_adj);
        }
        "statm" => {
            let _ = writeln!(w, "{} {} {} 0 0 0 0", mm.vm.total_vm, mm.rss.total(), mm.rss.file);
        }
        _ => return Err(ENOENT),
    }
    Ok(())
}

/// What one VMA's pages add up to in `/proc/PID/smaps` (bytes).
#[derive(Default)]
struct MemSize {
    rss: u64,
    /// Proportional set size, in bytes << PSS_SHIFT (Linux's fixed point).
    pss: u64,
    shared_clean: u64,
    shared_dirty: u64,
    private_clean: u64,
    private_dirty: u64,
    anonymous: u64,
}

const PSS_SHIFT: u32 = 12;

/// `/proc/PID/smaps` (Linux `show_smap`): each VMA's maps line, then what
/// its present pages cost. A page mapped by several processes is shared
/// and counts 1/mapcount towards each one's Pss; the shared zero page is
/// not counted (Linux's `vm_normal_page` skips it).
fn smaps(mm: &mut super::mm::Mm, w: &mut String) -> core::fmt::Result {
    use crate::arch::pgtable::{flags, ADDR_MASK};
    use crate::mm::addr::Pfn;
    let vmas: alloc::vec::Vec<_> = mm.vm.iter().cloned().collect();
    let zero = crate::mm::uvm::zero_pfn();
    for vma in &vmas {
        mm.vm.show_map_vma(w, vma, |f: &super::mm::FileRef| f.maps_info())?;
        let mut m = MemSize::default();
        mm.pt.for_each_present(vma.start, vma.end, |_, e| {
            let pfn = (*e & ADDR_MASK) >> 12;
            if pfn == zero || *e & flags::PRESENT == 0 {
                return;
            }
            let page = crate::mm::buddy::pfn_to_page(Pfn(pfn));
            let mapcount = page.mapcount().max(1) as u64;
            let dirty = *e & flags::DIRTY != 0;
            m.rss += PAGE_SIZE;
            m.pss += (PAGE_SIZE << PSS_SHIFT) / mapcount;
            match (mapcount > 1, dirty) {
                (true, true) => m.shared_dirty += PAGE_SIZE,
                (true, false) => m.shared_clean += PAGE_SIZE,
                (false, true) => m.private_dirty += PAGE_SIZE,
                (false, false) => m.private_clean += PAGE_SIZE,
            }
            if crate::mm::uvm::is_anon(page) {
                m.anonymous += PAGE_SIZE;
            }
        });
        let kb = |b: u64| b >> 10;
        let line = |w: &mut String, name: &str, v: u64| writeln!(w, "{:<16}{:>8} kB", alloc::format!("{name}:"), v);
        line(w, "Size", kb(vma.end - vma.start))?;
        line(w, "KernelPageSize", 4)?;
        line(w, "MMUPageSize", 4)?;
        line(w, "Rss", kb(m.rss))?;
        line(w, "Pss", kb(m.pss >> PSS_SHIFT))?;
        line(w, "Shared_Clean", kb(m.shared_clean))?;
        line(w, "Shared_Dirty", kb(m.shared_dirty))?;
        line(w, "Private_Clean", kb(m.private_clean))?;
        line(w, "Private_Dirty", kb(m.private_dirty))?;
        line(w, "Referenced", kb(m.rss))?;
        line(w, "Anonymous", kb(m.anonymous))?;
        for name in ["LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss"] {
            line(w, name, 0)?;
        }
        line(w, "Locked", if vma.flags & crate::mm::vma::VM_LOCKED != 0 { kb(m.pss >> PSS_SHIFT) } else { 0 })?;
        writeln!(w, "THPeligible:    0")?;
        w.push_str("VmFlags:");
        for (bit, name) in VM_FLAG_NAMES {
            if vma.flags & bit != 0 {
                w.push(' ');
                w.push_str(name);
            }
        }
        w.push_str(" \n");
    }
    Ok(())
}

/// Linux's two-letter `VmFlags` mnemonics for the flags we have, in bit
/// order (`show_smap_vma_flags`).
const VM_FLAG_NAMES: [(u64, &str); 21] = {
    use crate::mm::vma::*;
    [
        (VM_READ, "rd"),
        (VM_WRITE, "wr"),
        (VM_EXEC, "ex"),
        (VM_SHARED, "sh"),
        (VM_MAYREAD, "mr"),
        (VM_MAYWRITE, "mw"),
        (VM_MAYEXEC, "me"),
        (VM_MAYSHARE, "ms"),
        (VM_GROWSDOWN, "gd"),
        (VM_LOCKED, "lo"),
        (VM_SEQ_READ, "sr"),
        (VM_RAND_READ, "rr"),
        (VM_DONTCOPY, "dc"),
        (VM_LOCKONFAULT, "lf"),
        (VM_ACCOUNT, "ac"),
        (VM_NORESERVE, "nr"),
        (VM_WIPEONFORK, "wf"),
        (VM_DONTDUMP, "dd"),
        (VM_HUGEPAGE, "hg"),
        (VM_NOHUGEPAGE, "nh"),
        (VM_SEALED, "sl"),
    ]
};
