//! `/proc/sys` (Linux `kernel/sysctl.c` and the `vm` tunables of
//! `mm/`): one value per file, read as a line, written as a decimal.
//! A write takes effect at once: `min_free_kbytes` and
//! `watermark_scale_factor` recompute the zone watermarks,
//! `overcommit_*` change what `mmap` and `brk` may charge,
//! `max_map_count` the VMA limit of every process, `drop_caches` frees
//! what the slab caches hold empty, `threads-max` the task limit.

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering::Relaxed;

use super::{listed, parse_written, DirEntry, DIR};
use crate::fs::errno::{EACCES, EINVAL, ENOENT};
use crate::fs::file::{File, O_ACCMODE, O_RDONLY};
use crate::fs::stat::S_IFREG;

/// `/proc/sys`'s inode number; its directories and files follow.
pub(super) const SYS_INO: u64 = 64;

use crate::mm::util::{OVERCOMMIT_KBYTES, OVERCOMMIT_MEMORY, OVERCOMMIT_RATIO, SWAPPINESS};

/// Strict overcommit's limit, pages (`CommitLimit`).
pub fn commit_limit() -> u64 {
    crate::mm::util::vm_commit_limit(crate::mm::buddy::page_alloc().totalram_pages(), crate::mm::swapfile::totals().0)
}

/// A tunable: its directory, name, mode, how it reads, and how a write
/// is applied (`None`: read-only).
struct Entry {
    dir: &'static str,
    name: &'static str,
    mode: u32,
    read: fn() -> String,
    write: Option<Store>,
}

/// Applies a value written to a tunable.
type Store = fn(&[u8]) -> Result<(), i32>;

fn show(v: impl core::fmt::Display) -> String {
    alloc::format!("{v}")
}

/// A value `lo..=hi` written to a file.
fn bounded(bytes: &[u8], lo: i64, hi: i64) -> Result<u64, i32> {
    let v: i64 = parse_written(bytes)?;
    if (lo..=hi).contains(&v) {
        Ok(v as u64)
    } else {
        Err(EINVAL)
    }
}

const ENTRIES: [Entry; 16] = [
    Entry { dir: "kernel", name: "core_pattern", mode: 0o444, read: || show("core"), write: None },
    Entry { dir: "kernel", name: "osrelease", mode: 0o444, read: || show(super::OSRELEASE), write: None },
    Entry { dir: "kernel", name: "ostype", mode: 0o444, read: || show("Linux"), write: None },
    Entry { dir: "kernel", name: "pid_max", mode: 0o644, read: || show(crate::proc::FUTEX_TID_MASK.min(4 << 20)), write: None },
    Entry {
        dir: "kernel",
        name: "threads-max",
        mode: 0o644,
        read: || show(crate::proc::max_threads()),
        write: Some(|b| crate::proc::set_threads_max(parse_written(b)?)),
    },
    Entry { dir: "kernel", name: "version", mode: 0o444, read: || show(super::VERSION), write: None },
    Entry {
        dir: "vm",
        name: "drop_caches",
        mode: 0o200,
        read: || show(0),
        write: Some(|b| {
            // The page cache is the files themselves (ramfs): nothing to
            // drop there. Slab: give back what empty slabs hold.
            if bounded(b, 1, 4)? & 2 != 0 {
                crate::mm::kmem::SLAB.shrink_all();
                crate::mm::buddy::page_alloc().drain_all_pages();
            }
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "max_map_count",
        mode: 0o644,
        read: || show(crate::mm::vma::SYSCTL_MAX_MAP_COUNT.load(Relaxed)),
        write: Some(|b| {
            let v = bounded(b, 0, i32::MAX.into())? as usize;
            crate::mm::vma::SYSCTL_MAX_MAP_COUNT.store(v, Relaxed);
            crate::proc::mm::set_max_map_count(v);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "min_free_kbytes",
        mode: 0o644,
        read: || show(crate::mm::buddy::page_alloc().min_free_kbytes.load(Relaxed)),
        write: Some(|b| {
            crate::mm::buddy::page_alloc().set_min_free_kbytes(bounded(b, 0, i32::MAX.into())?);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "mmap_min_addr",
        mode: 0o644,
        read: || show(crate::mm::vma::mmap_min_addr()),
        write: Some(|b| {
            let v = bounded(b, 0, i64::MAX)?;
            crate::mm::vma::SYSCTL_MMAP_MIN_ADDR.store(v, Relaxed);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "overcommit_kbytes",
        mode: 0o644,
        read: || show(OVERCOMMIT_KBYTES.load(Relaxed)),
        write: Some(|b| {
            let v = bounded(b, 0, i64::MAX)?;
            OVERCOMMIT_KBYTES.store(v, Relaxed);
            if v != 0 {
                OVERCOMMIT_RATIO.store(0, Relaxed);
            }
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "overcommit_memory",
        mode: 0o644,
        read: || show(OVERCOMMIT_MEMORY.load(Relaxed)),
        write: Some(|b| {
            OVERCOMMIT_MEMORY.store(bounded(b, 0, 2)?, Relaxed);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "overcommit_ratio",
        mode: 0o644,
        read: || show(OVERCOMMIT_RATIO.load(Relaxed)),
        write: Some(|b| {
            OVERCOMMIT_RATIO.store(bounded(b, 0, i32::MAX.into())?, Relaxed);
            OVERCOMMIT_KBYTES.store(0, Relaxed);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "page-cluster",
        mode: 0o644,
        read: || show(crate::mm::swap_state::PAGE_CLUSTER.load(Relaxed)),
        write: Some(|b| {
            crate::mm::swap_state::PAGE_CLUSTER.store(bounded(b, 0, 31)?, Relaxed);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "swappiness",
        mode: 0o644,
        read: || show(SWAPPINESS.load(Relaxed)),
        write: Some(|b| {
            SWAPPINESS.store(bounded(b, 0, 200)?, Relaxed);
            Ok(())
        }),
    },
    Entry {
        dir: "vm",
        name: "watermark_scale_factor",
        mode: 0o644,
        read: || show(crate::mm::buddy::page_alloc().watermark_scale_factor.load(Relaxed)),
        write: Some(|b| {
            crate::mm::buddy::page_alloc().set_watermark_scale_factor(bounded(b, 1, 3000)?);
            Ok(())
        }),
    },
];

const DIRS: [&str; 2] = ["kernel", "vm"];

fn dir_ino(i: usize) -> u64 {
    SYS_INO + 1 + i as u64
}

fn entry_ino(i: usize) -> u64 {
    SYS_INO + 8 + i as u64
}

/// A write to entry `key`.
fn store(key: u32, bytes: &[u8]) -> Result<usize, i32> {
    let write = ENTRIES.get(key as usize).and_then(|e| e.write).ok_or(EACCES)?;
    write(bytes)?;
    Ok(bytes.len())
}

/// Opens `/proc/sys/PATH` (`PATH` empty for the directory itself).
pub(super) fn open(path: &str, flags: u32) -> Result<Arc<File>, i32> {
    let writing = flags & O_ACCMODE != O_RDONLY;
    if path.is_empty() || DIRS.contains(&path) {
        if writing {
            return Err(crate::fs::errno::EISDIR);
        }
        let entries: alloc::vec::Vec<DirEntry> = if path.is_empty() {
            DIRS.iter().enumerate().map(|(i, d)| (String::from(*d), dir_ino(i), DIR)).collect()
        } else {
            ENTRIES.iter().enumerate().filter(|(_, e)| e.dir == path).map(|(i, e)| (String::from(e.name), entry_ino(i), S_IFREG | e.mode)).collect()
        };
        let ino = DIRS.iter().position(|d| *d == path).map_or(SYS_INO, dir_ino);
        return Ok(listed(ino, entries));
    }
    let (dir, name) = path.split_once('/').ok_or(ENOENT)?;
    let (i, e) = ENTRIES.iter().enumerate().find(|(_, e)| e.dir == dir && e.name == name).ok_or(ENOENT)?;
    if flags & crate::fs::file::O_PATH != 0 {
        return Ok(File::proc_path(entry_ino(i), S_IFREG | e.mode));
    }
    // As Linux's `sysctl_perm`: the files are root's, group root's, so
    // root's effective user takes the owner's bits, a member of group root
    // the group's, anyone else the others' (0644: read only).
    let bits = match super::current().map(|t| &t.cred) {
        Some(c) if c.euid == 0 => e.mode >> 6,
        Some(c) if c.in_egroup_p(0) => e.mode >> 3,
        _ => e.mode,
    } & 0o7;
    let (can_read, can_write) = (bits & 0o4 != 0, bits & 0o2 != 0 && e.write.is_some());
    let want_read = flags & O_ACCMODE != crate::fs::file::O_WRONLY;
    if (writing && !can_write) || (want_read && !can_read) {
        return Err(EACCES);
    }
    if writing {
        return Ok(File::proc_write(i as u32, store));
    }
    Ok(File::snapshot_ino(alloc::format!("{}\n", (e.read)()).into_bytes(), entry_ino(i)))
}
