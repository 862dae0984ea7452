//! Inodes of the in-memory filesystem (Linux ramfs): directories, regular
//! files whose contents are page frames ([`FilePages`]), symlinks and
//! device/FIFO/socket nodes.
//!
//! Inodes are shared as `Arc<Inode>`: a directory holds its children that
//! way, and so do open files and memory mappings, so a file unlinked or
//! replaced in the tree lives on, with its pages, for as long as someone
//! still uses it, as an unlinked file does in Linux.
//!
//! Times: the modification and change times are kept to the nanosecond
//! from the kernel's clock ([`now_ns`]: the time since boot, which is also
//! what `clock_gettime(CLOCK_REALTIME)` reports here); there is no access
//! time (`st_atime` is the mtime, as for files from the archive).

use crate::mm::addr::Pfn;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering::Relaxed};

use crate::sync::SpinLock;

use super::errno::{Errno, EBUSY, EFBIG, EINVAL, EPERM};
use super::pages::FilePages;
use super::stat::{Stat, RAMFS_DEV, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

mod seals;

/// Preferred I/O size, `st_blksize` (`PAGE_SIZE` on ramfs).
const BLKSIZE: i64 = 4096;

/// The largest file size (ramfs's `s_maxbytes`, `MAX_LFS_FILESIZE`):
/// writing at or past it is `EFBIG`.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

const NSEC_PER_SEC: i64 = 1_000_000_000;

/// The current time for inode timestamps, in nanoseconds.
#[cfg(target_os = "none")]
pub fn now_ns() -> i64 {
    crate::time::realtime_ns()
}

/// On the host (tests): a clock that advances a second at every reading,
/// so that each change is seen to update the times.
#[cfg(not(target_os = "none"))]
pub fn now_ns() -> i64 {
    static CLOCK: AtomicI64 = AtomicI64::new(0);
    CLOCK.fetch_add(NSEC_PER_SEC, Relaxed) + NSEC_PER_SEC
}

/// What `chmod`, `chown` and `utime` change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Type and permission bits (`S_IFREG | 0o644`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

pub(super) enum InodeData {
    Dir(SpinLock<BTreeMap<String, Arc<Inode>>>),
    Regular(SpinLock<FilePages>),
    Symlink(String),
    /// A character or block device (with its `rdev`), FIFO or socket; a
    /// FIFO's pipe once it is first opened.
    Special {
        rdev: u64,
        fifo: SpinLock<Option<Arc<crate::fs::pipe::Pipe>>>,
    },
}

pub struct Inode {
    ino: u64,
    mode: AtomicU32,
    uid: AtomicU32,
    gid: AtomicU32,
    /// Access, modification and status change times, nanoseconds (the
    /// access time moves only when set: reads do not update it, as with
    /// `noatime`).
    atime_ns: AtomicI64,
    mtime_ns: AtomicI64,
    ctime_ns: AtomicI64,
    nlink: AtomicU32,
    path: SpinLock<String>,
    /// File seals (`F_ADD_SEALS`) of a memfd; [`NO_SEALING`] for every
    /// other file (Linux: only shmem and hugetlbfs files can be sealed).
    seals: AtomicU32,
    /// Record and `flock` locks on the file.
    pub locks: SpinLock<super::lock::Locks>,
    data: InodeData,
}

/// File seals (Linux `include/uapi/linux/fcntl.h`).
pub const F_SEAL_SEAL: u32 = 0x01;
pub const F_SEAL_SHRINK: u32 = 0x02;
pub const F_SEAL_GROW: u32 = 0x04;
pub const F_SEAL_WRITE: u32 = 0x08;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
pub const F_SEAL_EXEC: u32 = 0x20;
const SEALS_KNOWN: u32 = 0x3f;
/// `seals` of a file that cannot be sealed.
const NO_SEALING: u32 = u32::MAX;

impl Inode {
    /// A new inode, not yet linked anywhere: `nlink` 0, or 1 for a
    /// directory (its own `.`). The type bits of `meta.mode` must agree
    /// with `data`.
    pub(super) fn new(ino: u64, meta: Meta, path: String, data: InodeData) -> Arc<Self> {
        let nlink = if matches!(data, InodeData::Dir(_)) { 1 } else { 0 };
        Arc::new(Self {
            ino,
            mode: AtomicU32::new(meta.mode),
            uid: AtomicU32::new(meta.uid),
            gid: AtomicU32::new(meta.gid),
            atime_ns: AtomicI64::new(meta.mtime.saturating_mul(NSEC_PER_SEC)),
            mtime_ns: AtomicI64::new(meta.mtime.saturating_mul(NSEC_PER_SEC)),
            ctime_ns: AtomicI64::new(meta.mtime.saturating_mul(NSEC_PER_SEC)),
            nlink: AtomicU32::new(nlink),
            path: SpinLock::new(path),
            seals: AtomicU32::new(NO_SEALING),
            locks: SpinLock::new(super::lock::Locks::default()),
            data,
        })
    }

    /// A filesystem's root: a directory that is its own parent (`nlink` 2).
    pub(super) fn new_root(ino: u64, meta: Meta) -> Arc<Self> {
        let root = Self::new_dir(ino, meta, String::from("/"));
        root.nlink.store(2, Relaxed);
        root
    }

    pub(super) fn new_dir(ino: u64, meta: Meta, path: String) -> Arc<Self> {
        Self::new(ino, Meta { mode: S_IFDIR | meta.mode & !S_IFMT, ..meta }, path, InodeData::Dir(SpinLock::new(BTreeMap::new())))
    }

    /// Inode number, unique within the filesystem (`st_ino`).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Type and permissions (`st_mode`).
    pub fn mode(&self) -> u32 {
        self.mode.load(Relaxed)
    }

    /// The type bits of the mode (`S_IFREG`, `S_IFDIR`, ...).
    pub fn file_type(&self) -> u32 {
        self.mode() & S_IFMT
    }

    pub fn uid(&self) -> u32 {
        self.uid.load(Relaxed)
    }

    pub fn gid(&self) -> u32 {
        self.gid.load(Relaxed)
    }

    /// Modification time, seconds.
    pub fn mtime(&self) -> i64 {
        self.mtime_ns().div_euclid(NSEC_PER_SEC)
    }

    /// Modification time, nanoseconds.
    pub fn mtime_ns(&self) -> i64 {
        self.mtime_ns.load(Relaxed)
    }

    /// Status change time, nanoseconds.
    pub fn ctime_ns(&self) -> i64 {
        self.ctime_ns.load(Relaxed)
    }

    /// The contents changed: mtime and ctime are now (Linux
    /// `file_update_time`, and a directory gaining or losing an entry).
    /// `chmod`: the permission bits (`mode & 0o7777`); the type stays;
    /// the status change time moves.
    pub fn chmod(&self, mode: u32) {
        let old = self.mode.load(Relaxed);
        self.mode.store(old & S_IFMT | mode & 0o7777, Relaxed);
        self.touch_ctime();
    }

    /// Owner, group and mode, what the permission rules judge by.
    pub fn owner(&self) -> super::perm::Owner {
        super::perm::Owner { uid: self.uid(), gid: self.gid(), mode: self.mode() }
    }

    /// `chown(2)`: sets owner, group and permission bits as
    /// [`super::perm::chown`] computed them; the status change time moves.
    pub fn set_owner(&self, owner: super::perm::Owner) {
        self.uid.store(owner.uid, Relaxed);
        self.gid.store(owner.gid, Relaxed);
        self.chmod(owner.mode);
    }

    pub(super) fn touch(&self) {
        let now = now_ns();
        self.mtime_ns.store(now, Relaxed);
        self.ctime_ns.store(now, Relaxed);
    }

    /// A new inode: all three times are now.
    pub(super) fn born(&self) {
        self.touch();
        self.atime_ns.store(self.mtime_ns(), Relaxed);
    }

    /// `utimensat`: sets the access and modification times given (ns;
    /// `None` leaves one as it is); the status change time moves.
    pub fn set_times(&self, atime: Option<i64>, mtime: Option<i64>) {
        if let Some(a) = atime {
            self.atime_ns.store(a, Relaxed);
        }
        if let Some(m) = mtime {
            self.mtime_ns.store(m, Relaxed);
        }
        self.touch_ctime();
    }

    /// The inode itself changed (a link count, a name): ctime is now.
    pub(super) fn touch_ctime(&self) {
        self.ctime_ns.store(now_ns(), Relaxed);
    }

    /// Hard links: names for a file; 2 plus the subdirectories for a
    /// directory in the tree.
    pub fn nlink(&self) -> u32 {
        self.nlink.load(Relaxed)
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.data, InodeData::Dir(_))
    }

    pub fn is_regular(&self) -> bool {
        matches!(self.data, InodeData::Regular(_))
    }

    pub fn is_symlink(&self) -> bool {
        matches!(self.data, InodeData::Symlink(_))
    }

    /// `st_size`: a file's bytes, a symlink's target length, 0 for
    /// directories (as on ramfs) and device nodes.
    pub fn size(&self) -> u64 {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().size(),
            InodeData::Symlink(target) => target.len() as u64,
            InodeData::Dir(_) | InodeData::Special { .. } => 0,
        }
    }

    /// The device a device node stands for (`st_rdev`); 0 for others.
    /// A FIFO's pipe (made on first use); `None` for every other inode.
    pub fn fifo(&self) -> Option<Arc<crate::fs::pipe::Pipe>> {
        match &self.data {
            InodeData::Special { fifo, .. } if self.file_type() == super::stat::S_IFIFO => {
                Some(fifo.lock().get_or_insert_with(crate::fs::pipe::Pipe::fifo).clone())
            }
            _ => None,
        }
    }

    pub fn rdev(&self) -> u64 {
        match self.data {
            InodeData::Special { rdev, .. } => rdev,
            _ => 0,
        }
    }

    /// The absolute path the inode was created under, or last renamed to
    /// (what `/proc/PID/maps` shows for a mapping of it); a hard-linked
    /// file keeps its first name, and the entries of a renamed directory
    /// keep their old paths (Linux computes it from the dentries,
    /// `d_path`, and adds " (deleted)" for an unlinked file: not done here).
    pub fn path(&self) -> String {
        self.path.lock().clone()
    }

    pub(super) fn set_path(&self, path: String) {
        *self.path.lock() = path;
    }

    /// A symlink's target.
    pub fn link_target(&self) -> Option<&str> {
        match &self.data {
            InodeData::Symlink(target) => Some(target),
            _ => None,
        }
    }

    /// Page frames holding a regular file's contents.
    pub fn nr_pages(&self) -> usize {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().nr_pages(),
            _ => 0,
        }
    }

    /// The page frame (PFN, in the direct map) holding bytes
    /// `index * 4096 ..` of a regular file, if it has one: `None` for a
    /// hole, past its last page and for other inodes. Bytes past the end
    /// of the file in the last page are zero (unless a shared mapping
    /// wrote there).
    pub fn page(&self, index: usize) -> Option<Pfn> {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().page(index),
            _ => None,
        }
    }

    /// The page frame of page `index`, allocated (zeroed) if that part of
    /// the file is a hole: what a fault on a mapping of the file maps
    /// (Linux `filemap_fault` -> `find_or_create_page`). `None` at or past
    /// the end of the file (the fault is SIGBUS), out of memory, and for
    /// other inodes. The file keeps its reference on the page; the caller
    /// takes its own for the mapping.
    pub fn find_or_create_page(&self, index: usize) -> Option<Pfn> {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().find_or_create_page(index),
            _ => None,
        }
    }

    /// Copies a regular file's bytes from `offset` into `buf`: the count
    /// copied, short at the end of the file, 0 at or past it and for
    /// other inodes. Holes read as zeroes.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().read_at(offset, buf),
            _ => 0,
        }
    }

    /// Writes `data` into a regular file at `offset` (`pwrite`), growing
    /// it: the bytes written, short when page frames run out part-way or
    /// at the largest file size. `EFBIG` at or past [`MAX_FILE_SIZE`],
    /// `ENOMEM` when nothing could be written, `EINVAL` for other inodes.
    /// A write of some bytes updates mtime and ctime.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let InodeData::Regular(pages) = &self.data else {
            return Err(EINVAL);
        };
        if data.is_empty() {
            return Ok(0);
        }
        let mut pages = pages.lock();
        self.check_write_seals(pages.size(), offset, data.len())?;
        let n = pages.write_at(offset, clamp(offset, data)?)?;
        drop(pages);
        self.touch();
        Ok(n)
    }

    /// Appends `data` to a regular file (`O_APPEND`): the offset it went to
    /// and the count written, as [`Inode::write_at`], with the end found
    /// and written under one lock.
    pub fn append(&self, data: &[u8]) -> Result<(u64, usize), Errno> {
        let InodeData::Regular(pages) = &self.data else {
            return Err(EINVAL);
        };
        let mut pages = pages.lock();
        let at = pages.size();
        if data.is_empty() {
            return Ok((at, 0));
        }
        self.check_write_seals(at, at, data.len())?;
        let n = pages.write_at(at, clamp(at, data)?)?;
        drop(pages);
        self.touch();
        Ok((at, n))
    }

    /// Sets a regular file's size (`truncate`, `ftruncate`, `O_TRUNC`):
    /// see [`FilePages::truncate`]. `EFBIG` past [`MAX_FILE_SIZE`],
    /// `EINVAL` for other inodes. Updates mtime and ctime.
    pub fn truncate(&self, size: u64) -> Result<(), Errno> {
        let InodeData::Regular(pages) = &self.data else {
            return Err(EINVAL);
        };
        if size > MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        let seals = self.seals();
        let old = self.size();
        if (size < old && seals & F_SEAL_SHRINK != 0) || (size > old && seals & F_SEAL_GROW != 0) {
            return Err(EPERM);
        }
        if size < old {
            // Linux truncate_pagecache: no process may keep a page past the
            // new end, not even a private copy; a later access there is
            // SIGBUS (or, once the file grows again, reads the new data).
            if let Some(unmap) = UNMAP_MAPPING_RANGE.get() {
                unmap(self, size.div_ceil(4096), u64::MAX);
            }
        }
        pages.lock().truncate(size);
        self.touch();
        Ok(())
    }

    /// The entry `name` of a directory (not `.` or `..`).
    pub fn child(&self, name: &str) -> Option<Arc<Inode>> {
        match &self.data {
            InodeData::Dir(children) => children.lock().get(name).cloned(),
            _ => None,
        }
    }

    /// A directory's entries by name (without `.` and `..`); empty for
    /// other inodes.
    pub fn entries(&self) -> Vec<(String, Arc<Inode>)> {
        match &self.data {
            InodeData::Dir(children) => children.lock().iter().map(|(n, i)| (n.clone(), i.clone())).collect(),
            _ => Vec::new(),
        }
    }

    /// What `stat` reports.
    pub fn stat(&self) -> Stat {
        let (atime, mtime, ctime) = (self.atime_ns.load(Relaxed), self.mtime_ns(), self.ctime_ns());
        let (sec, nsec) = (|t: i64| t.div_euclid(NSEC_PER_SEC), |t: i64| t.rem_euclid(NSEC_PER_SEC));
        Stat {
            st_dev: RAMFS_DEV,
            st_ino: self.ino,
            st_nlink: self.nlink() as u64,
            st_mode: self.mode(),
            st_uid: self.uid(),
            st_gid: self.gid(),
            st_rdev: self.rdev(),
            st_size: self.size() as i64,
            st_blksize: BLKSIZE,
            st_blocks: self.nr_pages() as i64 * 8,
            st_atime: sec(atime),
            st_atime_nsec: nsec(atime),
            st_mtime: sec(mtime),
            st_mtime_nsec: nsec(mtime),
            st_ctime: sec(ctime),
            st_ctime_nsec: nsec(ctime),
            ..Stat::default()
        }
    }

    pub(super) fn meta(&self) -> Meta {
        Meta { mode: self.mode(), uid: self.uid(), gid: self.gid(), mtime: self.mtime() }
    }

    /// Sets owner, times (mtime and ctime, to the second) and
    /// permissions; the type bits stay.
    pub(super) fn set_meta(&self, meta: Meta) {
        self.mode.store(self.mode() & S_IFMT | meta.mode & !S_IFMT, Relaxed);
        self.uid.store(meta.uid, Relaxed);
        self.gid.store(meta.gid, Relaxed);
        let t = meta.mtime.saturating_mul(NSEC_PER_SEC);
        self.atime_ns.store(t, Relaxed);
        self.mtime_ns.store(t, Relaxed);
        self.ctime_ns.store(t, Relaxed);
    }

    /// A directory removed from the tree (`rmdir`, or replaced by
    /// `rename`) has no links left, not even its own `.` (Linux
    /// `clear_nlink`).
    pub(super) fn clear_nlink(&self) {
        self.nlink.store(0, Relaxed);
    }

    /// Whether this is a directory without entries.
    pub(super) fn is_empty_dir(&self) -> bool {
        match &self.data {
            InodeData::Dir(children) => children.lock().is_empty(),
            _ => false,
        }
    }

    /// Makes `child` the entry `name` of this directory and returns the
    /// entry it replaces, keeping link counts (Linux `d_instantiate` plus
    /// `inc_nlink`). `None` and no change if this is not a directory.
    pub(super) fn link_child(&self, name: &str, child: Arc<Inode>) -> Option<Arc<Inode>> {
        let InodeData::Dir(children) = &self.data else {
            return None;
        };
        child.nlink.fetch_add(1, Relaxed);
        if child.is_dir() {
            self.nlink.fetch_add(1, Relaxed);
        }
        let old = children.lock().insert(String::from(name), child);
        if let Some(old) = &old {
            self.dropped_link(old);
        }
        old
    }

    /// Removes the entry `name` and returns it (Linux `unlink`/`rmdir`).
    pub(super) fn unlink_child(&self, name: &str) -> Option<Arc<Inode>> {
        let InodeData::Dir(children) = &self.data else {
            return None;
        };
        let old = children.lock().remove(name);
        if let Some(old) = &old {
            self.dropped_link(old);
        }
        old
    }

    fn dropped_link(&self, old: &Inode) {
        // Saturating: a directory whose links were cleared may be unlinked
        // once more by a rollback.
        let _ = old.nlink.fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
        if old.is_dir() {
            self.nlink.fetch_sub(1, Relaxed);
        }
    }

    /// Replaces a regular file's contents (the old frames are freed).
    pub(super) fn set_contents(&self, new: FilePages) {
        if let InodeData::Regular(pages) = &self.data {
            let old = core::mem::replace(&mut *pages.lock(), new);
            drop(old);
        }
    }
}

/// `data` cut to what fits below [`MAX_FILE_SIZE`] from `offset` (Linux
/// `generic_write_check_limits`); `EFBIG` if nothing does.
fn clamp(offset: u64, data: &[u8]) -> Result<&[u8], Errno> {
    let room = MAX_FILE_SIZE.checked_sub(offset).filter(|&r| r > 0).ok_or(EFBIG)?;
    Ok(&data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))])
}

/// Set by the process layer: removes every user mapping of `inode`'s
/// pages `[from, to)` (Linux `unmap_mapping_range`). Files know nothing
/// of processes; truncation (`to == u64::MAX`: private copies go too, as
/// Linux's `even_cows`) and hole punching (private copies stay) call this
/// before the pages leave the file.
pub static UNMAP_MAPPING_RANGE: crate::sync::Once<fn(&Inode, u64, u64)> = crate::sync::Once::new();

/// Tears directory trees down iteratively: a deep tree would otherwise
/// recurse once per level, on a 16 KiB kernel stack.
impl Drop for Inode {
    fn drop(&mut self) {
        let InodeData::Dir(children) = &self.data else {
            return;
        };
        let mut work: Vec<Arc<Inode>> = core::mem::take(&mut *children.lock()).into_values().collect();
        while let Some(inode) = work.pop() {
            // Only the last reference empties a directory; one still in use
            // elsewhere keeps its entries.
            if let Some(inode) = Arc::into_inner(inode) {
                if let InodeData::Dir(children) = &inode.data {
                    work.extend(core::mem::take(&mut *children.lock()).into_values());
                }
            }
        }
    }
}

/// Builds regular-file, symlink and special inodes.
impl Inode {
    pub(super) fn new_file(ino: u64, meta: Meta, path: String, pages: FilePages) -> Arc<Self> {
        Self::new(ino, Meta { mode: S_IFREG | meta.mode & !S_IFMT, ..meta }, path, InodeData::Regular(SpinLock::new(pages)))
    }

    pub(super) fn new_symlink(ino: u64, meta: Meta, path: String, target: String) -> Arc<Self> {
        Self::new(ino, Meta { mode: S_IFLNK | meta.mode & !S_IFMT, ..meta }, path, InodeData::Symlink(target))
    }

    /// `meta.mode` carries the type (`S_IFCHR`, `S_IFBLK`, `S_IFIFO` or
    /// `S_IFSOCK`).
    pub(super) fn new_special(ino: u64, meta: Meta, path: String, rdev: u64) -> Arc<Self> {
        Self::new(ino, meta, path, InodeData::Special { rdev, fifo: SpinLock::new(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testing::{free_pages, ram};

    fn meta(mode: u32) -> Meta {
        Meta { mode, uid: 0, gid: 0, mtime: 0 }
    }

    #[test]
    fn link_counts_follow_linux() {
        let root = Inode::new_root(1, meta(0o755));
        let sub = Inode::new_dir(2, meta(0o755), "/d".into());
        let file = Inode::new_file(3, meta(0o644), "/f".into(), FilePages::new(ram(4)));
        assert!(root.link_child("d", sub.clone()).is_none());
        root.link_child("f", file.clone());
        root.link_child("g", file.clone());
        assert_eq!((root.nlink(), sub.nlink(), file.nlink()), (3, 2, 2));
        let old = root.unlink_child("d").unwrap();
        assert!(Arc::ptr_eq(&old, &sub));
        assert_eq!((root.nlink(), sub.nlink()), (2, 1));
        // Replacing an entry drops the old one's link.
        let other = Inode::new_file(4, meta(0o600), "/g".into(), FilePages::new(ram(4)));
        assert!(Arc::ptr_eq(&root.link_child("g", other).unwrap(), &file));
        assert_eq!(file.nlink(), 1);
        assert!(file.link_child("x", sub).is_none(), "files have no entries");
    }

    #[test]
    fn a_deep_tree_is_freed_without_recursion() {
        let pa = ram(4);
        let free = free_pages(pa);
        let root = Inode::new_dir(1, meta(0o755), "/".into());
        let mut dir = root.clone();
        for i in 0..50_000u64 {
            let sub = Inode::new_dir(i + 2, meta(0o755), String::new());
            dir.link_child("d", sub.clone());
            dir = sub;
        }
        dir.link_child("f", Inode::new_file(1, meta(0o644), String::new(), FilePages::from_bytes(pa, b"data").unwrap()));
        let kept = root.child("d").unwrap();
        drop(dir);
        drop(root);
        assert!(kept.child("d").is_some(), "a directory still in use keeps its entries");
        assert_eq!(free_pages(pa), free - 1);
        drop(kept);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn stat_reports_the_inode() {
        let pa = ram(4);
        let f = Inode::new_file(9, Meta { mode: 0o4755, uid: 5, gid: 6, mtime: 77 }, "/bin/x".into(), FilePages::from_bytes(pa, &[1; 4097]).unwrap());
        let st = f.stat();
        assert_eq!((st.st_ino, st.st_mode, st.st_uid, st.st_gid), (9, S_IFREG | 0o4755, 5, 6));
        assert_eq!((st.st_size, st.st_blocks, st.st_blksize, st.st_mtime, st.st_nlink), (4097, 16, 4096, 77, 0));
        let l = Inode::new_symlink(10, meta(0o777), "/l".into(), "target".into());
        assert_eq!((l.stat().st_size, l.stat().st_mode, l.link_target()), (6, S_IFLNK | 0o777, Some("target")));
        assert_eq!(l.read_at(0, &mut [0; 4]), 0);
        assert_eq!(l.page(0), None);
    }
}
