//! `/proc` (Linux `fs/proc/`): files generated when opened, in Linux's
//! formats, and directories listed when opened.
//!
//! - [`root`]: `/proc` itself and its files (`meminfo`, `stat`, `cpuinfo`,
//!   `version`, `mounts`, ...), as Linux's `fs/proc/*.c`;
//! - [`base`]: `/proc/PID` and `/proc/PID/task/TID` (Linux
//!   `fs/proc/base.c`, `task_mmu.c`, `array.c`);
//! - [`sys`]: `/proc/sys` (Linux `kernel/sysctl.c`, `mm/*` tunables);
//! - [`sysfs`]: `/sys`, the few files the kernel has there (the
//!   transparent huge page knobs). Its paths come here whole, starting
//!   with `/sys` (a path below `/proc/` never starts with `/`).
//!
//! Links (`self`, `thread-self`, `mounts`, `PID/exe`, `cwd`, `root`,
//! `fd/N`) are followed when opened; [`readlink`] reads them.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fs::errno::{EACCES, EINVAL, ENOENT};
use crate::fs::file::{File, O_ACCMODE, O_RDONLY};
use crate::fs::stat::{S_IFDIR, S_IFLNK, S_IFREG};

use super::current;

mod array;
mod base;
mod root;
pub mod sys;
mod sysfs;

pub(crate) use base::per_process;
pub(crate) use root::global;

/// A directory entry: name, inode number, mode (type and permissions).
type DirEntry = (String, u64, u32);

/// Inode numbers: `/proc` is 1, its own entries count up from 2 (below
/// [`sys::SYS_INO`]); each task's directory and files have a block of
/// their own above those.
fn proc_ino(pid: u32, index: usize) -> u64 {
    (u64::from(pid) + 1) << 10 | index as u64
}

/// Opens `path`, the part below `/proc/` (empty for `/proc`), or a whole
/// path in `/sys`, with `open(2)` flags.
pub fn open(path: &str, flags: u32) -> Result<Arc<File>, i32> {
    if path.starts_with("/sys") {
        return sysfs::open(path, flags);
    }
    let path = path.trim_end_matches('/');
    if path == "sys" || path.starts_with("sys/") {
        return sys::open(path.strip_prefix("sys").unwrap_or("").trim_start_matches('/'), flags);
    }
    let parts: Vec<&str> = if path.is_empty() { Vec::new() } else { path.split('/').collect() };
    let me = current().ok_or(ENOENT)?;
    let (my_tid, my_tgid) = (me.pid, me.tgid);
    let (tid, tgid, rest): (u32, u32, &[&str]) = match parts.as_slice() {
        [] => return Ok(root::dir()),
        ["thread-self", rest @ ..] => (my_tid, my_tgid, rest),
        ["self", rest @ ..] => (my_tgid, my_tgid, rest),
        ["mounts"] => (my_tgid, my_tgid, &["mounts"][..]),
        [first, rest @ ..] => match first.parse::<u32>() {
            Ok(pid) => (pid, super::sched::task(pid).map_or(pid, |t| t.tgid), rest),
            Err(_) if rest.is_empty() => return root::open(first, flags),
            Err(_) => return Err(ENOENT),
        },
    };
    base::open(tid, tgid, rest, flags)
}

/// The target of the link at `path` (below `/proc/`); `EINVAL` for
/// what is not a link, `ENOENT` for what is not there.
pub fn readlink(path: &str) -> Result<String, i32> {
    if path.starts_with("/sys") {
        // No links in /sys here.
        return open(path, crate::fs::file::O_PATH).and(Err(EINVAL));
    }
    let me = current().ok_or(ENOENT)?;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (pid, rest): (u32, &[&str]) = match parts.as_slice() {
        ["self"] => return Ok(alloc::format!("{}", me.tgid)),
        ["thread-self"] => return Ok(alloc::format!("{}/task/{}", me.tgid, me.pid)),
        ["mounts"] => return Ok(String::from("self/mounts")),
        ["self", rest @ ..] => (me.tgid, rest),
        ["thread-self", rest @ ..] => (me.pid, rest),
        [first, rest @ ..] => (first.parse().map_err(|_| ENOENT)?, rest),
        [] => return Err(EINVAL),
    };
    // /proc/PID/task/TID/... is the thread's own.
    let (pid, rest) = match rest {
        ["task", t, rest @ ..] => (t.parse().map_err(|_| ENOENT)?, rest),
        _ => (pid, rest),
    };
    base::readlink(pid, rest)
}

/// What `stat` (`follow`) or `lstat` says of `path` (below `/proc/`):
/// links as links without `follow`, everything else as opened with
/// `O_PATH` (no contents generated, so no read permission needed).
pub fn stat(path: &str, follow: bool) -> Result<crate::fs::stat::Stat, i32> {
    if !follow {
        if let Ok(target) = readlink(path) {
            let ino = open(path, crate::fs::file::O_PATH).map_or(2, |f| f.stat().st_ino);
            return Ok(crate::fs::stat::Stat {
                st_dev: crate::fs::stat::PROC_DEV,
                st_ino: ino,
                st_nlink: 1,
                st_mode: LINK,
                st_size: target.len() as i64,
                st_blksize: 1024,
                ..Default::default()
            });
        }
    }
    Ok(open(path, crate::fs::file::O_PATH)?.stat())
}

/// A `/proc` file opened for writing goes through `store` (the one
/// kind of write this filesystem takes); reading ones are snapshots.
fn only_read(flags: u32) -> Result<(), i32> {
    if flags & O_ACCMODE != O_RDONLY {
        Err(EACCES)
    } else {
        Ok(())
    }
}

/// A directory of `entries` with inode `ino`, sorted as Linux lists them
/// (the fixed entries in table order is what Linux does; sorting keeps
/// the listing stable whatever order they were built in).
fn listed(ino: u64, mut entries: Vec<DirEntry>) -> Arc<File> {
    entries.sort();
    File::listed_dir(ino, entries)
}

/// Parses a decimal integer written to a `/proc` file (surrounding
/// whitespace allowed, as Linux's `kstrtoint` after `strim`).
fn parse_written<T: core::str::FromStr>(bytes: &[u8]) -> Result<T, i32> {
    core::str::from_utf8(bytes).map_err(|_| EINVAL)?.trim().parse().map_err(|_| EINVAL)
}

/// The release `uname` and `/proc/sys/kernel/osrelease` report.
pub const OSRELEASE: &str = "6.1.0-rvmm";
/// `uname -v`.
pub const VERSION: &str = "#1 SMP";

const LINK: u32 = S_IFLNK | 0o777;
const DIR: u32 = S_IFDIR | 0o555;
const FILE: u32 = S_IFREG | 0o444;
