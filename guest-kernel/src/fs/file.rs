//! Open file descriptions (Linux `struct file`) and `open` on the root
//! filesystem: what `read`, `write`, `lseek`, `fstat` and friends act on.
//!
//! A [`File`] is shared as `Arc<File>` by every descriptor that refers to it
//! (after `dup` or `fork`), and so is its offset, as in Linux. Kinds:
//!
//! | kind | read | write | lseek | fstat |
//! | --- | --- | --- | --- | --- |
//! | ramfs regular file | from the page frames | into the page frames | SET/CUR/END/DATA/HOLE | the inode |
//! | ramfs directory | `EISDIR` | `EBADF` | SET/CUR | the inode |
//! | `O_PATH` | `EBADF` | `EBADF` | `EBADF` | the inode |
//! | snapshot (`/proc`) | bytes made at open | `EBADF` | SET/CUR | `S_IFREG` 0444, size 0 |
//! | console | 0 (end of file) | the sink | `ESPIPE` | `S_IFCHR` 0600, rdev 5:1 |
//!
//! Regular files are read and written in their page frames, the page cache
//! that `mmap` maps too (Linux ramfs), so `read`, `write` and `MAP_SHARED`
//! mappings all see the same bytes. `O_CREAT` creates files, `O_TRUNC`
//! truncates, `O_APPEND` writes at the end each time (`pwrite` too, as
//! Linux does).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::sync::SpinLock;

use super::errno::*;
use super::inode::Inode;
use super::stat::{Stat, ANON_INODE_DEV, CONSOLE_RDEV, DEVTMPFS_DEV, PIPEFS_DEV, PROC_DEV, S_IFCHR, S_IFDIR, S_IFIFO, S_IFREG};

pub use super::fdtable::{FdTable, RLIMIT_NOFILE_DEFAULT};

mod read_write;

// Open flags, Linux x86-64 values (`include/uapi/asm-generic/fcntl.h`).
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_ACCMODE: u32 = 0o3;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_PATH: u32 = 0o10000000;
pub const __O_TMPFILE: u32 = 0o20000000;
pub const O_TMPFILE: u32 = __O_TMPFILE | O_DIRECTORY;

// `lseek` whence.
pub const SEEK_SET: u32 = 0;
pub const SEEK_CUR: u32 = 1;
pub const SEEK_END: u32 = 2;
pub const SEEK_DATA: u32 = 3;
pub const SEEK_HOLE: u32 = 4;

/// The console's output: gets the stream the file was opened as (1 for
/// stdout, 2 for stderr, ...) and the bytes; returns how many it took.
pub type ConsoleWrite = fn(stream: u32, bytes: &[u8]) -> usize;
/// Reads what the console's input has into `buf`; 0 at its end.
pub type ConsoleRead = fn(buf: &mut [u8]) -> usize;

/// The console's handlers, for opening `/dev/console` and `/dev/tty` by
/// name (set by the process layer at boot; until then those nodes have
/// no driver).
pub static CONSOLE: crate::sync::Once<(ConsoleWrite, ConsoleRead)> = crate::sync::Once::new();

/// The file creation mask of every process (there is no `umask` call
/// yet): the system calls clear these bits from the mode of what they
/// create.
pub const UMASK: u32 = 0o022;

/// Status flags `fcntl(F_SETFL)` may change (Linux `SETFL_MASK`, less the
/// ones without meaning here).
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK;

/// `st_blksize` of `/proc` files (Linux reports 1024).
const PROC_BLKSIZE: i64 = 1024;
/// `st_ino` of the console.
const CONSOLE_INO: u64 = 5;
/// pipefs (an anonymous device, as Linux's) and the inode all pipes show.
const PIPE_INO: u64 = 1;
/// The anonymous-inode filesystem's device and inode (pidfds).
const ANON_INODE_INO: u64 = 1;

pub use super::poll::*;

/// What an open file is.
pub enum FileKind {
    /// A regular file of the root filesystem.
    Regular(Arc<Inode>),
    /// A directory of the root filesystem (`getdents` will read it).
    Directory(Arc<Inode>),
    /// An `O_PATH` descriptor: a location only, for `fstat` and the `*at`
    /// calls.
    Path(Arc<Inode>),
    /// Contents produced when opened (how `/proc` files are served: Linux's
    /// `seq_file` shows a snapshot too).
    /// `maps_of`: the process whose `/proc/PID/maps` this is (for the
    /// `PROCMAP_QUERY` ioctl).
    Snapshot { data: Vec<u8>, ino: u64, maps_of: Option<u32> },
    /// `/dev/console`.
    Console { stream: u32, write: ConsoleWrite, read: ConsoleRead },
    /// One end of a pipe.
    Pipe(crate::fs::pipe::PipeEnd),
    /// A FIFO opened by name: its read end, write end, or both (`O_RDWR`).
    Fifo { inode: Arc<Inode>, read: Option<crate::fs::pipe::PipeEnd>, write: Option<crate::fs::pipe::PipeEnd> },
    /// A directory whose entries were listed when opened (a `/proc`
    /// directory): name, inode number and mode of each.
    ListedDir { ino: u64, entries: Vec<(String, u64, u32)> },
    /// A character device of the memory major (`/dev/null`, `zero`,
    /// `full`, `random`, `urandom`: see [`crate::fs::dev`]).
    Device(Arc<Inode>),
    /// A writable `/proc` file: each write is handed to `store` with the
    /// key given at open (a pid), as Linux's `proc_write` handlers do.
    ProcWrite { key: u32, store: ProcStore },
    /// A `/proc` entry opened with `O_PATH` (or looked up for `stat`): its
    /// inode number and mode, nothing generated.
    ProcPath { ino: u64, mode: u32 },
    /// A `/proc` file read in place at any offset (`/proc/PID/pagemap`,
    /// too large to snapshot): `read(key, pos, buf)` fills `buf` from
    /// `pos` on.
    ProcRead { key: u32, read: ProcRead },
    /// A process file descriptor (`pidfd_open`, `CLONE_PIDFD`): names
    /// process `pid`; `exited` says whether it has ended (readable in
    /// `poll` then).
    Pidfd { pid: u32, exited: fn(u32) -> bool },
}

/// Reads a `/proc` file at an offset (`key`: what the file is about).
pub type ProcRead = fn(key: u32, pos: u64, buf: &mut [u8]) -> Result<usize, Errno>;

/// Applies a write to a `/proc` file (`key`: what the file is about).
pub type ProcStore = fn(key: u32, bytes: &[u8]) -> Result<usize, Errno>;

/// An open file description.
pub struct File {
    /// Status flags as `fcntl(F_GETFL)` reports them.
    flags: AtomicU32,
    /// The file offset (`f_pos`), held across a read so that concurrent
    /// reads through shared descriptors do not interleave (Linux
    /// `f_pos_lock`).
    pos: SpinLock<i64>,
    kind: FileKind,
    /// The owner a `/proc` file shows (uid in the high half, gid in the
    /// low one); root's for every other kind, whose inode knows better.
    proc_owner: AtomicU64,
}

impl File {
    pub(super) fn new(kind: FileKind, flags: u32) -> Arc<Self> {
        // What `open` keeps (Linux clears these in `do_dentry_open`), plus
        // O_LARGEFILE, which every 64-bit open gets.
        let flags = flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC) | O_LARGEFILE;
        Arc::new(Self { flags: AtomicU32::new(flags), pos: SpinLock::new(0), kind, proc_owner: AtomicU64::new(0) })
    }

    /// A `/proc` file that belongs to `uid` and `gid` (a process's
    /// files belong to its user while it is dumpable).
    pub fn owned_by(self: Arc<Self>, uid: u32, gid: u32) -> Arc<Self> {
        self.proc_owner.store(u64::from(uid) << 32 | u64::from(gid), Relaxed);
        self
    }

    /// The console as stream `stream` (what fds 0, 1 and 2 of init are:
    /// `File::console(1, write)` for stdout), open for reading and writing.
    pub fn console(stream: u32, write: ConsoleWrite, read: ConsoleRead) -> Arc<Self> {
        Self::new(FileKind::Console { stream, write, read }, O_RDWR)
    }

    /// A directory listing `entries` (name, inode number, mode): a `/proc`
    /// directory, read with `getdents64`.
    pub fn listed_dir(ino: u64, entries: Vec<(String, u64, u32)>) -> Arc<Self> {
        Self::new(FileKind::ListedDir { ino, entries }, O_RDONLY | O_DIRECTORY)
    }

    /// A read-only file with contents `data` (a `/proc` file), inode number
    /// `ino`.
    pub fn snapshot_ino(data: Vec<u8>, ino: u64) -> Arc<Self> {
        Self::new(FileKind::Snapshot { data, ino, maps_of: None }, O_RDONLY)
    }

    /// [`File::snapshot_ino`] with inode number 0.
    pub fn snapshot(data: Vec<u8>) -> Arc<Self> {
        Self::snapshot_ino(data, 0)
    }

    /// `/proc/PID/maps` of process `pid`, holding `data`.
    pub fn proc_maps(data: Vec<u8>, pid: u32) -> Arc<Self> {
        Self::new(FileKind::Snapshot { data, ino: 0, maps_of: Some(pid) }, O_RDONLY)
    }

    /// A `/proc` entry as `O_PATH` opens it (for `stat`, `access`, `*at`).
    pub fn proc_path(ino: u64, mode: u32) -> Arc<Self> {
        Self::new(FileKind::ProcPath { ino, mode }, O_PATH)
    }

    /// A `/proc` file read at any offset through `read`.
    pub fn proc_read(key: u32, read: ProcRead) -> Arc<Self> {
        Self::new(FileKind::ProcRead { key, read }, O_RDONLY)
    }

    /// A `/proc` file opened for writing.
    pub fn proc_write(key: u32, store: ProcStore) -> Arc<Self> {
        Self::new(FileKind::ProcWrite { key, store }, O_WRONLY)
    }

    pub fn kind(&self) -> &FileKind {
        &self.kind
    }

    /// Status flags (`fcntl(F_GETFL)`): access mode, `O_APPEND`,
    /// `O_NONBLOCK`, `O_PATH`, `O_LARGEFILE`, ...
    pub fn flags(&self) -> u32 {
        self.flags.load(Relaxed)
    }

    /// `fcntl(F_SETFL)`: sets the flags of [`SETFL_MASK`] as in `flags`,
    /// ignoring the others. `EBADF` on an `O_PATH` description.
    pub fn set_flags(&self, flags: u32) -> Result<(), Errno> {
        if self.is_path() {
            return Err(EBADF);
        }
        let _ = self.flags.fetch_update(Relaxed, Relaxed, |old| Some(old & !SETFL_MASK | flags & SETFL_MASK));
        Ok(())
    }

    /// Opened for reading (`FMODE_READ`).
    pub fn readable(&self) -> bool {
        !self.is_path() && matches!(self.flags() & O_ACCMODE, O_RDONLY | O_RDWR)
    }

    /// Opened for writing (`FMODE_WRITE`).
    pub fn writable(&self) -> bool {
        !self.is_path() && matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    fn appending(&self) -> bool {
        self.flags() & O_APPEND != 0
    }

    pub fn is_console(&self) -> bool {
        matches!(self.kind, FileKind::Console { .. })
    }

    /// A pipe end: reads and writes may have to wait (`EAGAIN` from here).
    /// What `poll` would report for this file now (Linux `vfs_poll`):
    /// pipes as their state says; everything else is always ready
    /// (`DEFAULT_POLLMASK`), as regular files and this console are.
    pub fn poll(&self) -> u16 {
        match &self.kind {
            FileKind::Pipe(end) => end.poll(),
            FileKind::Fifo { read, write, .. } => read.iter().chain(write.iter()).fold(0, |m, end| m | end.poll()),
            FileKind::Pidfd { pid, exited } => {
                if exited(*pid) {
                    POLLIN | POLLRDNORM
                } else {
                    0
                }
            }
            _ => POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM,
        }
    }

    /// What `/proc/PID/fd/N` reads as (Linux `d_path`, or the pseudo
    /// names of pipes and anonymous inodes).
    pub fn link_name(&self) -> String {
        match &self.kind {
            FileKind::Regular(inode) | FileKind::Directory(inode) | FileKind::Path(inode) | FileKind::Device(inode) => inode.path(),
            FileKind::Pipe(end) => alloc::format!("pipe:[{}]", end.id()),
            FileKind::Fifo { inode, .. } => inode.path(),
            FileKind::Console { .. } => String::from("/dev/console"),
            FileKind::Pidfd { .. } => String::from("anon_inode:[pidfd]"),
            FileKind::Snapshot { ino, .. } | FileKind::ListedDir { ino, .. } => alloc::format!("/proc/[{ino}]"),
            FileKind::ProcWrite { key, .. } => alloc::format!("/proc/{key}/oom_score_adj"),
            FileKind::ProcRead { key, .. } => alloc::format!("/proc/{key}/pagemap"),
            FileKind::ProcPath { ino, .. } => alloc::format!("/proc/[{ino}]"),
        }
    }

    /// A pidfd for process `pid` (`flags`: `O_NONBLOCK` only).
    pub fn pidfd(pid: u32, exited: fn(u32) -> bool, flags: u32) -> Arc<Self> {
        Self::new(FileKind::Pidfd { pid, exited }, O_RDWR | (flags & O_NONBLOCK))
    }

    /// For a FIFO opened with `O_RDONLY` or `O_WRONLY` and without
    /// `O_NONBLOCK`: the pipe and which side the opener waits for (`true`:
    /// a writer) if nobody has that side open yet.
    pub fn fifo_wait(&self) -> Option<(Arc<crate::fs::pipe::Pipe>, bool)> {
        if self.flags() & O_NONBLOCK != 0 {
            return None;
        }
        match &self.kind {
            FileKind::Fifo { read: Some(end), write: None, .. } if end.pipe().ends().1 == 0 => Some((end.pipe().clone(), true)),
            FileKind::Fifo { read: None, write: Some(end), .. } if end.pipe().ends().0 == 0 => Some((end.pipe().clone(), false)),
            _ => None,
        }
    }

    /// Bytes ready to read (`FIONREAD`): a pipe's contents, what is left
    /// of a regular file after the offset; `None` where it does not apply.
    pub fn nread(&self) -> Option<usize> {
        match &self.kind {
            FileKind::Pipe(end) | FileKind::Fifo { read: Some(end), .. } => Some(end.pipe().available()),
            FileKind::Regular(inode) => Some(inode.size().saturating_sub(self.pos().max(0) as u64) as usize),
            // /proc files have no size (Linux: i_size 0).
            FileKind::Snapshot { .. } | FileKind::ProcRead { .. } => Some(0),
            _ => None,
        }
    }

    /// The process a pidfd names; `None` for any other file.
    pub fn pidfd_pid(&self) -> Option<u32> {
        match self.kind {
            FileKind::Pidfd { pid, .. } => Some(pid),
            _ => None,
        }
    }

    pub fn is_pipe(&self) -> bool {
        matches!(self.kind, FileKind::Pipe(_) | FileKind::Fifo { .. })
    }

    /// `pipe2(2)`: the read and write descriptions of a new pipe (`flags`:
    /// `O_NONBLOCK` is kept as a status flag).
    pub fn pipe(flags: u32) -> (Arc<Self>, Arc<Self>) {
        let (r, w) = crate::fs::pipe::Pipe::pair();
        let keep = flags & O_NONBLOCK;
        (Self::new(FileKind::Pipe(r), O_RDONLY | keep), Self::new(FileKind::Pipe(w), O_WRONLY | keep))
    }

    fn is_path(&self) -> bool {
        matches!(self.kind, FileKind::Path(_) | FileKind::ProcPath { .. })
    }

    /// The regular file behind this description, what `mmap` maps (its
    /// pages are [`Inode::page`]); `None` for every other kind.
    pub fn inode(&self) -> Option<Arc<Inode>> {
        match &self.kind {
            FileKind::Regular(inode) => Some(inode.clone()),
            _ => None,
        }
    }

    /// The root-filesystem inode of a regular file, directory or `O_PATH`
    /// description.
    pub fn ramfs_inode(&self) -> Option<&Arc<Inode>> {
        match &self.kind {
            FileKind::Regular(inode) | FileKind::Directory(inode) | FileKind::Path(inode) | FileKind::Device(inode) | FileKind::Fifo { inode, .. } => {
                Some(inode)
            }
            _ => None,
        }
    }

    /// Drops process `owner`'s POSIX locks on this file (one of its
    /// descriptors of it is being closed).
    pub fn release_posix_locks(&self, owner: u32) {
        if let Some(inode) = self.ramfs_inode() {
            let mut locks = inode.locks.lock();
            if !locks.records().is_empty() {
                locks.release(crate::fs::lock::Owner::Process(owner));
                drop(locks);
                crate::fs::wake_waiters();
            }
        }
    }

    /// This description as a lock owner (OFD and `flock` locks).
    pub fn lock_owner(&self) -> crate::fs::lock::Owner {
        crate::fs::lock::Owner::Description(self as *const Self as usize)
    }

    /// `fstat(2)`.
    pub fn stat(&self) -> Stat {
        let owner = self.proc_owner.load(Relaxed);
        let (st_uid, st_gid) = ((owner >> 32) as u32, owner as u32);
        match &self.kind {
            FileKind::Regular(inode) | FileKind::Directory(inode) | FileKind::Path(inode) | FileKind::Device(inode) | FileKind::Fifo { inode, .. } => {
                inode.stat()
            }
            FileKind::Snapshot { ino, .. } => {
                Stat { st_dev: PROC_DEV, st_ino: *ino, st_nlink: 1, st_mode: S_IFREG | 0o444, st_blksize: PROC_BLKSIZE, st_uid, st_gid, ..Stat::default() }
            }
            FileKind::ProcWrite { key, .. } => Stat {
                st_dev: PROC_DEV,
                st_ino: u64::from(*key),
                st_nlink: 1,
                st_mode: S_IFREG | 0o644,
                st_blksize: PROC_BLKSIZE,
                st_uid,
                st_gid,
                ..Stat::default()
            },
            FileKind::ProcPath { ino, mode } => {
                Stat { st_dev: PROC_DEV, st_ino: *ino, st_nlink: 1, st_mode: *mode, st_blksize: PROC_BLKSIZE, st_uid, st_gid, ..Stat::default() }
            }
            FileKind::ProcRead { key, .. } => Stat {
                st_dev: PROC_DEV,
                st_ino: u64::from(*key),
                st_nlink: 1,
                st_mode: S_IFREG | 0o400,
                st_blksize: PROC_BLKSIZE,
                st_uid,
                st_gid,
                ..Stat::default()
            },
            FileKind::Pipe(_) => Stat { st_dev: PIPEFS_DEV, st_ino: PIPE_INO, st_nlink: 1, st_mode: S_IFIFO | 0o600, st_blksize: 4096, ..Stat::default() },
            // An anonymous inode: permission bits and no file type.
            FileKind::Pidfd { .. } => Stat { st_dev: ANON_INODE_DEV, st_ino: ANON_INODE_INO, st_nlink: 1, st_mode: 0o600, st_blksize: 4096, ..Stat::default() },
            FileKind::ListedDir { ino, .. } => {
                Stat { st_dev: PROC_DEV, st_ino: *ino, st_nlink: 2, st_mode: S_IFDIR | 0o555, st_blksize: PROC_BLKSIZE, st_uid, st_gid, ..Stat::default() }
            }
            FileKind::Console { .. } => Stat {
                st_dev: DEVTMPFS_DEV,
                st_ino: CONSOLE_INO,
                st_nlink: 1,
                st_mode: S_IFCHR | 0o600,
                st_rdev: CONSOLE_RDEV,
                st_blksize: 4096,
                ..Stat::default()
            },
        }
    }
}

impl Drop for File {
    /// A description going away takes its OFD and `flock` locks along.
    fn drop(&mut self) {
        if let Some(inode) = self.ramfs_inode() {
            if inode.locks.lock().release(self.lock_owner()) {
                crate::fs::wake_waiters();
            }
        }
    }
}

pub use super::open::{memfd, open};

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
