//! Inodes of the in-memory filesystem (Linux ramfs): directories, regular
//! files whose contents are page frames ([`FilePages`]), symlinks and
//! device/FIFO/socket nodes.
//!
//! Inodes are shared as `Arc<Inode>`: a directory holds its children that
//! way, and so do open files and (later) memory mappings, so a file
//! replaced in the tree lives on, with its pages, for as long as someone
//! still uses it, as an unlinked file does in Linux.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering::Relaxed};

use crate::sync::SpinLock;

use super::pages::FilePages;
use super::stat::{Stat, RAMFS_DEV, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// Preferred I/O size, `st_blksize` (`PAGE_SIZE` on ramfs).
const BLKSIZE: i64 = 4096;

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
    /// A character or block device (with its `rdev`), FIFO or socket.
    Special {
        rdev: u64,
    },
}

pub struct Inode {
    ino: u64,
    mode: AtomicU32,
    uid: AtomicU32,
    gid: AtomicU32,
    mtime: AtomicI64,
    nlink: AtomicU32,
    path: String,
    data: InodeData,
}

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
            mtime: AtomicI64::new(meta.mtime),
            nlink: AtomicU32::new(nlink),
            path,
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

    pub fn mtime(&self) -> i64 {
        self.mtime.load(Relaxed)
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
    pub fn rdev(&self) -> u64 {
        match self.data {
            InodeData::Special { rdev } => rdev,
            _ => 0,
        }
    }

    /// The absolute path the inode was created under (what
    /// `/proc/PID/maps` shows for a mapping of it); a hard-linked file
    /// keeps its first name. Owned, so that callers may keep it past the
    /// borrow, and so that a tree with `rename` can compute it (Linux
    /// `d_path`) without changing this signature.
    pub fn path(&self) -> String {
        self.path.clone()
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
    /// `index * 4096 ..` of a regular file; `None` past its last page and
    /// for other inodes. Bytes past the end of the file in the last page
    /// are zero.
    pub fn page(&self, index: usize) -> Option<u64> {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().page(index),
            _ => None,
        }
    }

    /// Copies a regular file's bytes from `offset` into `buf`: the count
    /// copied, short at the end of the file, 0 at or past it and for
    /// other inodes.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        match &self.data {
            InodeData::Regular(pages) => pages.lock().read_at(offset, buf),
            _ => 0,
        }
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

    /// What `stat` reports. All three times are the mtime (the archive
    /// gives no other).
    pub fn stat(&self) -> Stat {
        let mtime = self.mtime();
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
            st_atime: mtime,
            st_mtime: mtime,
            st_ctime: mtime,
            ..Stat::default()
        }
    }

    pub(super) fn meta(&self) -> Meta {
        Meta { mode: self.mode(), uid: self.uid(), gid: self.gid(), mtime: self.mtime() }
    }

    /// Sets owner, times and permissions; the type bits stay.
    pub(super) fn set_meta(&self, meta: Meta) {
        self.mode.store(self.mode() & S_IFMT | meta.mode & !S_IFMT, Relaxed);
        self.uid.store(meta.uid, Relaxed);
        self.gid.store(meta.gid, Relaxed);
        self.mtime.store(meta.mtime, Relaxed);
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
        let InodeData::Dir(children) = &self.data else { return None };
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
        let InodeData::Dir(children) = &self.data else { return None };
        let old = children.lock().remove(name);
        if let Some(old) = &old {
            self.dropped_link(old);
        }
        old
    }

    fn dropped_link(&self, old: &Inode) {
        old.nlink.fetch_sub(1, Relaxed);
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

/// Tears directory trees down iteratively: a deep tree would otherwise
/// recurse once per level, on a 16 KiB kernel stack.
impl Drop for Inode {
    fn drop(&mut self) {
        let InodeData::Dir(children) = &self.data else { return };
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
        Self::new(ino, meta, path, InodeData::Special { rdev })
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
        let f = Inode::new_file(
            9,
            Meta { mode: 0o4755, uid: 5, gid: 6, mtime: 77 },
            "/bin/x".into(),
            FilePages::from_bytes(pa, &[1; 4097]).unwrap(),
        );
        let st = f.stat();
        assert_eq!((st.st_ino, st.st_mode, st.st_uid, st.st_gid), (9, S_IFREG | 0o4755, 5, 6));
        assert_eq!((st.st_size, st.st_blocks, st.st_blksize, st.st_mtime, st.st_nlink), (4097, 16, 4096, 77, 0));
        let l = Inode::new_symlink(10, meta(0o777), "/l".into(), "target".into());
        assert_eq!((l.stat().st_size, l.stat().st_mode, l.link_target()), (6, S_IFLNK | 0o777, Some("target")));
        assert_eq!(l.read_at(0, &mut [0; 4]), 0);
        assert_eq!(l.page(0), None);
    }
}
