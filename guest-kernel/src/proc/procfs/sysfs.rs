//! `/sys`, as far as the kernel has something to show there: the
//! transparent huge page knobs of `/sys/kernel/mm/transparent_hugepage`
//! (Linux `mm/huge_memory.c`'s `hugepage_attr_group`). Served by the
//! proc layer like `/proc` (the paths reach it whole, starting with
//! `/sys`); a write takes effect at once.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{listed, DIR};
use crate::fs::errno::{EACCES, EINVAL, EISDIR, ENOENT};
use crate::fs::file::{File, O_ACCMODE, O_RDONLY};
use crate::fs::stat::S_IFREG;
use crate::mm::huge_memory::{self, ThpMode};

/// `/sys`'s inode number; its directories and files follow.
const SYSFS_INO: u64 = 512;

/// The directories, each with its parent's index (`/sys` is 0).
const DIRS: [(&str, usize); 4] = [("/sys", 0), ("/sys/kernel", 0), ("/sys/kernel/mm", 1), ("/sys/kernel/mm/transparent_hugepage", 2)];

/// A file: its directory's index, name, mode, contents, and how a write
/// is applied (`None`: read-only).
struct Entry {
    dir: usize,
    name: &'static str,
    mode: u32,
    read: fn() -> String,
    write: Option<Store>,
}

/// Applies a value written to a file.
type Store = fn(&[u8]) -> Result<(), i32>;

const ENTRIES: [Entry; 2] = [
    Entry { dir: 3, name: "enabled", mode: 0o644, read: huge_memory::enabled_text, write: Some(write_enabled) },
    Entry { dir: 3, name: "hpage_pmd_size", mode: 0o444, read: || alloc::format!("{}\n", huge_memory::HPAGE_PMD_SIZE), write: None },
];

/// `enabled`: one of the mode names (Linux takes nothing else, `EINVAL`).
fn write_enabled(bytes: &[u8]) -> Result<(), i32> {
    let mode = core::str::from_utf8(bytes).ok().and_then(ThpMode::parse).ok_or(EINVAL)?;
    huge_memory::set_mode(mode);
    Ok(())
}

fn store(key: u32, bytes: &[u8]) -> Result<usize, i32> {
    let write = ENTRIES.get(key as usize).and_then(|e| e.write).ok_or(EACCES)?;
    write(bytes)?;
    Ok(bytes.len())
}

fn dir_ino(i: usize) -> u64 {
    SYSFS_INO + i as u64
}

fn entry_ino(i: usize) -> u64 {
    SYSFS_INO + DIRS.len() as u64 + i as u64
}

/// Opens `path`, a whole path starting with `/sys`, with `open(2)` flags.
pub(super) fn open(path: &str, flags: u32) -> Result<Arc<File>, i32> {
    let path = match path.trim_end_matches('/') {
        "" => "/sys",
        p => p,
    };
    let writing = flags & O_ACCMODE != O_RDONLY;
    if let Some(d) = DIRS.iter().position(|&(name, _)| name == path) {
        if writing {
            return Err(EISDIR);
        }
        let mut entries: Vec<(String, u64, u32)> = DIRS
            .iter()
            .enumerate()
            .filter(|&(i, &(_, parent))| i != 0 && parent == d)
            .map(|(i, &(name, _))| (String::from(name.rsplit('/').next().unwrap_or(name)), dir_ino(i), DIR))
            .collect();
        entries.extend(ENTRIES.iter().enumerate().filter(|(_, e)| e.dir == d).map(|(i, e)| (String::from(e.name), entry_ino(i), S_IFREG | e.mode)));
        return Ok(listed(dir_ino(d), entries));
    }
    let (dir, name) = path.rsplit_once('/').ok_or(ENOENT)?;
    let d = DIRS.iter().position(|&(n, _)| n == dir).ok_or(ENOENT)?;
    let (i, e) = ENTRIES.iter().enumerate().find(|(_, e)| e.dir == d && e.name == name).ok_or(ENOENT)?;
    if flags & crate::fs::file::O_PATH != 0 {
        return Ok(File::proc_path(entry_ino(i), S_IFREG | e.mode));
    }
    // Root owns them: the owner's bits decide.
    let (can_read, can_write) = (e.mode & 0o400 != 0, e.mode & 0o200 != 0 && e.write.is_some());
    let want_read = flags & O_ACCMODE != crate::fs::file::O_WRONLY;
    // The files are root's, mode 0644 at most: only root writes them.
    let root = super::current().is_some_and(|t| t.cred.fsuid == 0);
    if (writing && !(can_write && root)) || (want_read && !can_read) {
        return Err(EACCES);
    }
    if writing {
        return Ok(File::proc_write(i as u32, store));
    }
    Ok(File::snapshot_ino((e.read)().into_bytes(), entry_ino(i)))
}
