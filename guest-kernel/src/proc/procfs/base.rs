//! `/proc/PID` and `/proc/PID/task/TID` (Linux `fs/proc/base.c`,
//! `array.c`, `task_mmu.c`, `fd.c`).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use super::array::{limits, stat, status};
use super::{current, listed, only_read, parse_written, proc_ino, DirEntry, DIR, FILE, LINK};
use crate::fs::errno::{EACCES, EINVAL, ENOENT, ESRCH};
use crate::fs::file::{File, O_ACCMODE, O_PATH, O_RDONLY};
use crate::fs::stat::{S_IFDIR, S_IFMT, S_IFREG};
use crate::mm::addr::{UserAddr, PAGE_SIZE};
use crate::proc::sched::{self, TaskState};
use crate::proc::Task;

/// The entries of a process's directory, with their modes, in Linux's
/// listing order (alphabetical in `tgid_base_stuff` for these).
const ENTRIES: [(&str, u32); 23] = [
    ("auxv", S_IFREG | 0o400),
    ("clear_refs", S_IFREG | 0o200),
    ("cmdline", S_IFREG | 0o444),
    ("comm", S_IFREG | 0o644),
    ("cwd", LINK),
    ("environ", S_IFREG | 0o400),
    ("exe", LINK),
    ("fd", S_IFDIR | 0o500),
    ("fdinfo", S_IFDIR | 0o500),
    ("limits", S_IFREG | 0o444),
    ("maps", S_IFREG | 0o444),
    ("mountinfo", S_IFREG | 0o444),
    ("mounts", S_IFREG | 0o444),
    ("oom_score", S_IFREG | 0o444),
    ("oom_score_adj", S_IFREG | 0o644),
    ("pagemap", S_IFREG | 0o400),
    ("root", LINK),
    ("smaps", S_IFREG | 0o444),
    ("smaps_rollup", S_IFREG | 0o444),
    ("stat", S_IFREG | 0o444),
    ("statm", S_IFREG | 0o444),
    ("status", S_IFREG | 0o444),
    ("task", DIR),
];

/// Inode numbers of a task's entries: its directory 0, the entries from
/// 1, descriptors from 64.
fn entry_ino(tid: u32, name: &str) -> u64 {
    proc_ino(tid, ENTRIES.iter().position(|(n, _)| *n == name).map_or(0, |i| i + 1))
}

/// A live task (threads that have exited are gone from `/proc`).
fn live(tid: u32) -> Result<&'static mut Task, i32> {
    sched::task(tid).filter(|t| t.state != TaskState::Zombie).ok_or(ENOENT)
}

/// Who a task's `/proc` files belong to (Linux `task_dump_owner`): its
/// effective uid and gid while its process is dumpable, root otherwise.
fn dump_owner(task: &Task) -> (u32, u32) {
    if dumpable(task) {
        (task.cred.euid, task.cred.egid)
    } else {
        (0, 0)
    }
}

fn dumpable(task: &Task) -> bool {
    task.mm.as_ref().is_some_and(|mm| mm.flags.dumpable != 0)
}

/// Whether the current task may open entry `rest` of `task`'s directory
/// with `flags`: the entry's mode and owner decide, as for any file
/// ([`crate::fs::perm::generic_permission`]; `O_PATH` needs nothing,
/// entries below `fd` and `fdinfo` need search permission on those), and
/// what reveals the process (its links, `environ`, `auxv`, `pagemap`,
/// `fd`, `fdinfo`) needs what `ptrace` would
/// ([`crate::cred::Cred::may_ptrace_read`]).
fn may_open(task: &Task, rest: &[&str], flags: u32) -> Result<(), i32> {
    use crate::fs::perm::{generic_permission, Owner, MAY_EXEC, MAY_READ, MAY_WRITE};
    let Some(me) = current() else { return Ok(()) };
    let cred = me.cred.clone();
    let (uid, gid) = dump_owner(task);
    let mode_of = |name: &str| ENTRIES.iter().find(|(n, _)| *n == name).map(|&(_, m)| m);
    let (mode, mask) = match rest {
        [] => (DIR, MAY_READ),
        // A link is followed to what it names, which has its own mode.
        [name] if flags & O_PATH != 0 || mode_of(name) == Some(LINK) => (mode_of(name).unwrap_or(FILE), 0),
        [name] => {
            let mask = match flags & O_ACCMODE {
                O_RDONLY => MAY_READ,
                crate::fs::file::O_WRONLY => MAY_WRITE,
                _ => MAY_READ | MAY_WRITE,
            };
            (mode_of(name).unwrap_or(FILE), mask)
        }
        [dir, ..] => (mode_of(dir).unwrap_or(DIR), MAY_EXEC),
    };
    generic_permission(&cred, Owner { uid, gid, mode }, mask)?;
    let revealing = matches!(rest.first(), Some(&("exe" | "cwd" | "root" | "environ" | "auxv" | "pagemap" | "fd" | "fdinfo")));
    if revealing && flags & O_PATH == 0 && task.tgid != me.tgid && !cred.may_ptrace_read(&task.cred, dumpable(task)) {
        return Err(EACCES);
    }
    Ok(())
}

/// Opens `rest` below `/proc/TID` (`tgid`: its process), if the caller
/// may ([`may_open`]); what is opened shows the task's owner.
pub(super) fn open(tid: u32, tgid: u32, rest: &[&str], flags: u32) -> Result<Arc<File>, i32> {
    let (target, entry) = match rest {
        ["task", t, entry @ ..] => (t.parse().unwrap_or(0), entry),
        _ => (tid, rest),
    };
    let owner = match live(target) {
        Ok(task) => {
            may_open(task, entry, flags)?;
            dump_owner(task)
        }
        Err(_) => (0, 0),
    };
    let file = open_entry(tid, tgid, rest, flags)?;
    Ok(file.owned_by(owner.0, owner.1))
}

fn open_entry(tid: u32, tgid: u32, rest: &[&str], flags: u32) -> Result<Arc<File>, i32> {
    let (tid, rest, in_task_dir) = match rest {
        ["task"] => return task_dir(tgid),
        ["task", t, rest @ ..] => {
            let t: u32 = t.parse().map_err(|_| ENOENT)?;
            sched::task(t).filter(|x| x.tgid == tgid).ok_or(ENOENT)?;
            (t, rest, true)
        }
        _ => (tid, rest, false),
    };
    let task = live(tid)?;
    let writing = flags & O_ACCMODE != O_RDONLY;
    if flags & O_PATH != 0 {
        if let [name] = rest {
            if let Some((_, mode)) = ENTRIES.iter().find(|(n, _)| n == name).filter(|(_, m)| m & S_IFMT == S_IFREG) {
                return Ok(File::proc_path(entry_ino(tid, name), *mode));
            }
        }
    }
    match rest {
        [] => {
            let entries =
                ENTRIES.iter().filter(|(n, _)| !(in_task_dir && *n == "task")).map(|(n, mode)| (String::from(*n), entry_ino(tid, n), *mode)).collect();
            Ok(listed(proc_ino(tid, 0), entries))
        }
        ["fd"] => {
            let entries = task.files.iter().map(|(fd, _)| (alloc::format!("{fd}"), proc_ino(tid, 64 + fd as usize), LINK & !0o077 | 0o700)).collect();
            Ok(listed(entry_ino(tid, "fd"), entries))
        }
        ["fdinfo"] => {
            let entries = task.files.iter().map(|(fd, _)| (alloc::format!("{fd}"), proc_ino(tid, 64 + fd as usize), S_IFREG | 0o444)).collect();
            Ok(listed(entry_ino(tid, "fdinfo"), entries))
        }
        ["fd", n] => reopen_fd(task, n, flags),
        ["fdinfo", n] => {
            only_read(flags)?;
            let fd: i32 = n.parse().map_err(|_| ENOENT)?;
            let file = task.files.get(fd).ok_or(ENOENT)?;
            let st = file.stat();
            let text = alloc::format!("pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{}\nino:\t{}\n", file.pos(), file.flags(), mnt_id(st.st_dev), st.st_ino);
            Ok(File::snapshot_ino(text.into_bytes(), proc_ino(tid, 64 + fd as usize)))
        }
        // The links to files: opening one opens what it points to.
        ["exe" | "cwd" | "root"] => {
            let target = readlink(tid, rest)?;
            let fs = crate::proc::ROOTFS.get().ok_or(ENOENT)?.lock();
            crate::fs::file::open(&fs, &target, flags & !crate::fs::file::O_CREAT, 0)
        }
        ["comm"] if writing => Ok(File::proc_write(tid, store_comm)),
        ["oom_score_adj"] if writing => Ok(File::proc_write(tid, store_oom_score_adj)),
        ["clear_refs"] if writing => Ok(File::proc_write(tid, store_clear_refs)),
        ["clear_refs"] => Err(EACCES),
        ["environ" | "auxv"] => {
            only_read(flags)?;
            let mm = task.mm.as_ref().ok_or(ENOENT)?;
            let bytes = if rest[0] == "auxv" {
                mm.saved_auxv.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                // What the environment strings hold now (Linux reads the
                // process's memory too).
                let (start, end) = (mm.vm.env_start, mm.vm.env_end);
                let mut buf = alloc::vec![0u8; end.as_u64().saturating_sub(start.as_u64()).min(1 << 20) as usize];
                let n = mm.access_remote_vm(start, &mut buf);
                buf.truncate(n);
                buf
            };
            Ok(File::snapshot_ino(bytes, entry_ino(tid, rest[0])))
        }
        ["pagemap"] => {
            only_read(flags)?;
            task.mm.as_ref().ok_or(ENOENT)?;
            Ok(File::proc_read(tid, read_pagemap))
        }
        [name] => {
            only_read(flags)?;
            let mut out = String::new();
            per_process(task, name, &mut out)?;
            if *name == "maps" {
                return Ok(File::proc_maps(out.into_bytes(), tid));
            }
            Ok(File::snapshot_ino(out.into_bytes(), entry_ino(tid, name)))
        }
        _ => Err(ENOENT),
    }
}

/// The target of the link `rest` (`exe`, `cwd`, `root`, `fd/N`) of task
/// `tid`.
pub(super) fn readlink(tid: u32, rest: &[&str]) -> Result<String, i32> {
    let task = live(tid)?;
    match rest {
        ["exe"] if task.exe.is_empty() => Err(ENOENT),
        ["exe"] => Ok(task.exe.clone()),
        ["cwd"] => Ok(task.fs.cwd.clone()),
        ["root"] => Ok(String::from("/")),
        ["fd", n] => {
            let fd: i32 = n.parse().map_err(|_| ENOENT)?;
            Ok(task.files.get(fd).ok_or(ENOENT)?.link_name())
        }
        [name] if ENTRIES.iter().any(|(n, _)| n == name) => Err(EINVAL),
        ["fd" | "fdinfo" | "task"] | ["fdinfo", _] | [] => Err(EINVAL),
        _ => Err(ENOENT),
    }
}

/// Opening `/proc/PID/fd/N`: a file of the root filesystem is opened
/// again by its path with `flags` (a description of its own, as Linux
/// opens the dentry again); anything else (a pipe, the console) is the
/// same description.
fn reopen_fd(task: &Task, n: &str, flags: u32) -> Result<Arc<File>, i32> {
    let fd: i32 = n.parse().map_err(|_| ENOENT)?;
    let file = task.files.get(fd).ok_or(ENOENT)?;
    match file.ramfs_inode() {
        Some(inode) if inode.nlink() > 0 || inode.is_dir() => {
            let fs = crate::proc::ROOTFS.get().ok_or(ENOENT)?.lock();
            crate::fs::file::open(&fs, &inode.path(), flags & !crate::fs::file::O_CREAT, 0)
        }
        _ => Ok(file),
    }
}

/// `/proc/PID/task`: a directory per thread of the process.
fn task_dir(tgid: u32) -> Result<Arc<File>, i32> {
    let tids = sched::all_threads(tgid);
    if tids.is_empty() {
        return Err(ENOENT);
    }
    let entries: Vec<DirEntry> = tids.iter().map(|&t| (alloc::format!("{t}"), proc_ino(t, 0), DIR)).collect();
    Ok(listed(entry_ino(tgid, "task"), entries))
}

/// The mount a device's files are on, as `mountinfo` numbers them.
fn mnt_id(dev: u64) -> u32 {
    if dev == crate::fs::stat::PROC_DEV {
        2
    } else {
        1
    }
}

/// Writes `/proc/PID/comm` (Linux `comm_write`): the first 15 bytes
/// become the name; only threads of the writer's own process.
fn store_comm(tid: u32, bytes: &[u8]) -> Result<usize, i32> {
    let task = live(tid)?;
    let me = crate::proc::current().ok_or(ESRCH)?;
    if task.tgid != me.tgid {
        return Err(EINVAL);
    }
    task.comm = crate::proc::Comm::from_bytes(&bytes[..bytes.len().min(15)]);
    Ok(bytes.len())
}

/// Writes `/proc/PID/oom_score_adj`: an integer in -1000..=1000 (Linux
/// `oom_score_adj_write`; -1000 exempts the process from the OOM killer).
fn store_oom_score_adj(pid: u32, bytes: &[u8]) -> Result<usize, i32> {
    let v: i32 = parse_written(bytes)?;
    if !(-1000..=1000).contains(&v) {
        return Err(EINVAL);
    }
    // One value per process (Linux keeps it in `signal_struct`).
    let tgid = sched::task(pid).ok_or(ESRCH)?.tgid;
    for tid in sched::all_threads(tgid) {
        if let Some(t) = sched::task(tid) {
            t.oom_score_adj = v;
        }
    }
    Ok(bytes.len())
}

/// Writes `/proc/PID/clear_refs` (Linux `clear_refs_write`): 1 clears the
/// accessed bits of every page, 2 of anonymous pages, 3 of file pages;
/// 4 clears the soft-dirty bits (the next write to each page sets its
/// bit again); 5 resets the RSS high-water mark (`VmHWM`).
fn store_clear_refs(pid: u32, bytes: &[u8]) -> Result<usize, i32> {
    let what: i32 = parse_written(bytes)?;
    if !(1..=5).contains(&what) {
        return Err(EINVAL);
    }
    let mm = live(pid)?.mm.as_deref_mut().ok_or(ESRCH)?;
    match what {
        5 => mm.hiwater_rss = mm.rss.total(),
        4 => mm.clear_soft_dirty(),
        _ => mm.clear_young(what == 1 || what == 2, what == 1 || what == 3),
    }
    Ok(bytes.len())
}

/// Reads `/proc/PID/pagemap` at `pos`: 8 bytes per virtual page, as Linux
/// `pagemap_read` encodes them (present bit 63, file or shared bit 61,
/// exclusively mapped bit 56, soft-dirty bit 55, the PFN in bits 0-54,
/// shown to a reader with `CAP_SYS_ADMIN`). Reads must be 8-byte aligned.
fn read_pagemap(pid: u32, pos: u64, buf: &mut [u8]) -> Result<usize, i32> {
    const PM_ENTRY_BYTES: u64 = 8;
    if !pos.is_multiple_of(PM_ENTRY_BYTES) || !(buf.len() as u64).is_multiple_of(PM_ENTRY_BYTES) {
        return Err(EINVAL);
    }
    let show_pfn = crate::proc::current().is_some_and(|t| t.cred.capable(crate::cred::CAP_SYS_ADMIN));
    let mm = live(pid)?.mm.as_deref().ok_or(ESRCH)?;
    let first = pos / PM_ENTRY_BYTES;
    let end_vpage = crate::proc::uaccess::TASK_SIZE / PAGE_SIZE;
    let n = ((buf.len() as u64) / PM_ENTRY_BYTES).min(end_vpage.saturating_sub(first));
    for i in 0..n {
        let entry = mm.pagemap_entry(UserAddr::new((first + i) * PAGE_SIZE), show_pfn);
        buf[(i * PM_ENTRY_BYTES) as usize..][..8].copy_from_slice(&entry.to_le_bytes());
    }
    Ok((n * PM_ENTRY_BYTES) as usize)
}

/// Writes `/proc/PID/NAME` (a generated file) into `w`.
pub(crate) fn per_process(task: &mut Task, name: &str, w: &mut String) -> Result<(), i32> {
    let _ = match name {
        "comm" => writeln!(w, "{}", task.comm),
        "cmdline" => {
            w.push_str(&String::from_utf8_lossy(&task.cmdline));
            Ok(())
        }
        "stat" => stat(task, w),
        "status" => status(task, w),
        "limits" => limits(task, w),
        "oom_score_adj" => writeln!(w, "{}", task.oom_score_adj),
        "oom_score" => writeln!(w, "{}", oom_score(task)),
        // The root filesystem is a tmpfs (Linux's rootfs is one when it
        // can be), with the limits statfs reports. It is shown as a plain
        // tmpfs mount: `df` skips a device named "rootfs".
        "mounts" => {
            let (blocks, files) = crate::proc::rootfs_limits();
            writeln!(w, "tmpfs / tmpfs rw,size={}k,nr_inodes={files} 0 0", blocks * 4)
                .and_then(|_| w.write_str("proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"))
        }
        "mountinfo" => {
            let (blocks, files) = crate::proc::rootfs_limits();
            writeln!(w, "1 1 0:1 / / rw - tmpfs tmpfs rw,size={}k,nr_inodes={files}", blocks * 4)
                .and_then(|_| w.write_str("2 1 0:4 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"))
        }
        "smaps" => smaps(task.mm.as_deref_mut().ok_or(ENOENT)?, w, false),
        "smaps_rollup" => smaps(task.mm.as_deref_mut().ok_or(ENOENT)?, w, true),
        "maps" => task.mm.as_ref().ok_or(ENOENT)?.vm.show_maps(w, |f: &crate::proc::mm::FileRef| f.maps_info()),
        "statm" => {
            let mm = task.mm.as_ref().ok_or(ENOENT)?;
            // size resident shared text lib data dt (pages).
            let text = mm.vm.end_code.as_u64().saturating_sub(mm.vm.start_code.as_u64()).div_ceil(PAGE_SIZE);
            writeln!(w, "{} {} {} {text} 0 {} 0", mm.vm.total_vm, mm.rss.total(), mm.rss.file + mm.rss.shmem, mm.vm.data_vm + mm.vm.stack_vm)
        }
        _ => return Err(ENOENT),
    };
    Ok(())
}

/// `/proc/PID/oom_score` (Linux `proc_oom_score`): the OOM killer's
/// badness (resident pages and page tables, shifted by `oom_score_adj`)
/// scaled into 0..=2000 and then by two thirds, as Linux reports it; 0
/// for what the killer never picks (init, `oom_score_adj` -1000).
fn oom_score(task: &Task) -> i64 {
    let Some(mm) = task.mm.as_ref() else { return 0 };
    if task.tgid == 1 || task.oom_score_adj == -1000 {
        return 0;
    }
    let total = crate::mm::buddy::page_alloc().totalram_pages().max(1) as i64;
    let points = (mm.rss.total() + mm.pt.nr_tables) as i64 + i64::from(task.oom_score_adj) * (total / 1000);
    (1000 + points * 1000 / total) * 2 / 3
}

impl MemSize {
    /// A present page other than the zero page, mapped young and dirty as
    /// given, in a VMA locked or not.
    fn add_page(&mut self, pfn: crate::mm::addr::Pfn, young: bool, dirty: bool, locked: bool) {
        let page = crate::mm::buddy::pfn_to_page(crate::mm::huge_memory::page_folio(&crate::mm::user_mem::KernelUserMem, pfn));
        let mapcount = page.mapcount().max(1) as u64;
        let pss = (PAGE_SIZE << PSS_SHIFT) / mapcount;
        self.rss += PAGE_SIZE;
        self.pss += pss;
        match (mapcount > 1, dirty) {
            (true, true) => self.shared_dirty += PAGE_SIZE,
            (true, false) => self.shared_clean += PAGE_SIZE,
            (false, true) => self.private_dirty += PAGE_SIZE,
            (false, false) => self.private_clean += PAGE_SIZE,
        }
        if young {
            self.referenced += PAGE_SIZE;
        }
        if crate::mm::uvm::is_anon(page) {
            self.anonymous += PAGE_SIZE;
            self.pss_anon += pss;
        } else if page.test(crate::mm::page::pg::SHMEM) {
            self.pss_shmem += pss;
        } else {
            self.pss_file += pss;
        }
        if locked {
            self.locked += pss;
        }
    }
}

/// What one VMA's pages add up to in `/proc/PID/smaps` (bytes).
#[derive(Default)]
struct MemSize {
    rss: u64,
    /// Proportional set size, in bytes << PSS_SHIFT (Linux's fixed point).
    pss: u64,
    pss_anon: u64,
    pss_file: u64,
    pss_shmem: u64,
    shared_clean: u64,
    shared_dirty: u64,
    private_clean: u64,
    private_dirty: u64,
    referenced: u64,
    anonymous: u64,
    /// Anonymous memory mapped by huge PMDs.
    anon_huge: u64,
    locked: u64,
    /// Pages in swap, and their share by the slot's count (fixed point).
    swap: u64,
    swap_pss: u64,
}

const PSS_SHIFT: u32 = 12;

/// `/proc/PID/smaps` (Linux `show_smap`): each VMA's maps line, then what
/// its present pages cost and what of it is in swap; with `rollup`, `smaps_rollup`: the sums under
/// one line spanning every VMA. A page mapped by several processes is
/// shared and counts 1/mapcount towards each one's Pss; the shared zero
/// page is not counted (Linux's `vm_normal_page` skips it).
fn smaps(mm: &mut crate::proc::mm::Mm, w: &mut String, rollup: bool) -> core::fmt::Result {
    let vmas: Vec<_> = mm.vm.iter().cloned().collect();
    let zero = crate::mm::user_mem::zero_pfn();
    let mut total = MemSize::default();
    for vma in &vmas {
        let mut m = MemSize::default();
        mm.pt.for_each_pte(vma.start, vma.end, |_, e| {
            let pte = e.get();
            if pte.is_swap() {
                let count = crate::mm::swapfile::swap_count(pte.swap_entry()).max(1);
                m.swap += PAGE_SIZE;
                m.swap_pss += (PAGE_SIZE << PSS_SHIFT) / count;
                return;
            }
            if pte.pfn() == zero || !pte.present() {
                return;
            }
            m.add_page(pte.pfn(), pte.young(), pte.dirty(), vma.flags & crate::mm::vma::VM_LOCKED != 0);
        });
        // Huge pages: the part inside this VMA (one that straddles a VMA
        // split by madvise counts in each).
        mm.pt.for_each_huge(vma.start, vma.end, |va, pmd| {
            let (lo, hi) = (va.max(vma.start), (va + crate::mm::huge_memory::HPAGE_PMD_SIZE).min(vma.end));
            let first = pmd.pfn() + (lo - va) / PAGE_SIZE;
            for i in 0..(hi - lo) / PAGE_SIZE {
                m.add_page(first + i, pmd.young(), pmd.dirty(), vma.flags & crate::mm::vma::VM_LOCKED != 0);
            }
            m.anon_huge += hi - lo;
        });
        if rollup {
            total.rss += m.rss;
            total.pss += m.pss;
            total.pss_anon += m.pss_anon;
            total.pss_file += m.pss_file;
            total.pss_shmem += m.pss_shmem;
            total.shared_clean += m.shared_clean;
            total.shared_dirty += m.shared_dirty;
            total.private_clean += m.private_clean;
            total.private_dirty += m.private_dirty;
            total.referenced += m.referenced;
            total.anonymous += m.anonymous;
            total.anon_huge += m.anon_huge;
            total.locked += m.locked;
            total.swap += m.swap;
            total.swap_pss += m.swap_pss;
            continue;
        }
        mm.vm.show_map_vma(w, vma, |f: &crate::proc::mm::FileRef| f.maps_info())?;
        show_smap_counts(w, &m, Some(vma.end - vma.start))?;
        let thp_eligible = vma.file.is_none() && crate::mm::huge_memory::thp_vma_eligible(vma.flags, vma.start, vma.end);
        writeln!(w, "THPeligible:    {}", u8::from(thp_eligible))?;
        w.push_str("VmFlags:");
        for (bit, name) in VM_FLAG_NAMES {
            if vma.flags & bit != 0 {
                w.push(' ');
                w.push_str(name);
            }
        }
        w.push_str(" \n");
    }
    if rollup {
        let (start, end) = (vmas.first().map_or(0, |v| v.start.as_u64()), vmas.last().map_or(0, |v| v.end.as_u64()));
        writeln!(w, "{start:08x}-{end:08x} ---p 00000000 00:00 0                          [rollup]")?;
        show_smap_counts(w, &total, None)?;
    }
    Ok(())
}

/// The counters of one `smaps` entry (with `Size`) or of `smaps_rollup`
/// (without `Size` and the page sizes, with `Pss_Anon` and its kin).
fn show_smap_counts(w: &mut String, m: &MemSize, size: Option<u64>) -> core::fmt::Result {
    let kb = |b: u64| b >> 10;
    let line = |w: &mut String, name: &str, v: u64| writeln!(w, "{:<16}{:>8} kB", alloc::format!("{name}:"), v);
    if let Some(size) = size {
        line(w, "Size", kb(size))?;
        line(w, "KernelPageSize", 4)?;
        line(w, "MMUPageSize", 4)?;
    }
    line(w, "Rss", kb(m.rss))?;
    line(w, "Pss", kb(m.pss >> PSS_SHIFT))?;
    if size.is_none() {
        line(w, "Pss_Dirty", kb((m.shared_dirty + m.private_dirty).min(m.pss >> PSS_SHIFT)))?;
        line(w, "Pss_Anon", kb(m.pss_anon >> PSS_SHIFT))?;
        line(w, "Pss_File", kb(m.pss_file >> PSS_SHIFT))?;
        line(w, "Pss_Shmem", kb(m.pss_shmem >> PSS_SHIFT))?;
    }
    line(w, "Shared_Clean", kb(m.shared_clean))?;
    line(w, "Shared_Dirty", kb(m.shared_dirty))?;
    line(w, "Private_Clean", kb(m.private_clean))?;
    line(w, "Private_Dirty", kb(m.private_dirty))?;
    line(w, "Referenced", kb(m.referenced))?;
    line(w, "Anonymous", kb(m.anonymous))?;
    for name in ["KSM", "LazyFree"] {
        line(w, name, 0)?;
    }
    line(w, "AnonHugePages", kb(m.anon_huge))?;
    for name in ["ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb"] {
        line(w, name, 0)?;
    }
    line(w, "Swap", kb(m.swap))?;
    line(w, "SwapPss", kb(m.swap_pss >> PSS_SHIFT))?;
    line(w, "Locked", kb(m.locked >> PSS_SHIFT))
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
