//! Unpacking a cpio archive into a [`Ramfs`] (Linux `init/initramfs.c`,
//! `unpack_to_rootfs`).
//!
//! As Linux does: names are relative to the root (`bin/sh`, `./bin/sh` and
//! `/bin/sh` are the same; `.` is the root itself, whose mode and owner it
//! sets); mode (type and all of `0o7777`), owner and mtime come from the
//! archive; the archive's inode numbers only tie hard links together
//! (entries with `nlink >= 2` and the same device, inode and type), and
//! a later link's data, if it has any, becomes the file's contents; a
//! later entry of the same name replaces an earlier one (a directory only
//! when empty), except that a directory over a directory just updates it.
//!
//! Unlike Linux, which quietly skips what it cannot create:
//! - missing parent directories are created (mode 0755, owner root);
//! - an entry that cannot be created stops the unpacking with an
//!   [`UnpackError`] naming it (`ENOTDIR`, `ENAMETOOLONG`, `ENOTEMPTY`,
//!   `EINVAL` for a name or target that is not UTF-8 or an unknown file
//!   type, `ENOMEM` when page frames run out);
//! - a replaced regular file becomes a new inode rather than being
//!   truncated in place (whoever still has the old one open keeps it).
//!
//! A failed unpack leaves the filesystem as it was: every change is logged
//! and undone in reverse, which frees the pages that were taken.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use super::cpio::{Cpio, CpioError, Entry};
use super::errno::{self, Errno, EEXIST, EINVAL, ENAMETOOLONG, ENOENT, ENOTDIR, ENOTEMPTY};
use super::inode::{Inode, Meta};
use super::pages::{FilePages, PageFrames};
use super::ramfs::{join, walk, Ramfs, Walk, NAME_MAX, PATH_MAX};
use super::stat::{makedev, S_IALLUGO, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};

/// What an unpack created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Archive entries, without trailers.
    pub entries: u64,
    pub dirs: u64,
    pub files: u64,
    pub symlinks: u64,
    /// Device nodes, FIFOs and sockets.
    pub nodes: u64,
    /// Entries that became another name of an earlier file.
    pub hardlinks: u64,
    /// Bytes of file contents.
    pub bytes: u64,
    /// Page frames those take.
    pub pages: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnpackError {
    /// The archive is malformed.
    Archive(CpioError),
    /// The entry `name` (its header at `offset`) could not be created:
    /// `errno`, `ENOMEM` when page frames ran out.
    Entry { offset: usize, name: String, errno: Errno },
}

impl UnpackError {
    /// The error as an errno: `EINVAL` for a malformed archive.
    pub fn errno(&self) -> Errno {
        match self {
            Self::Archive(_) => EINVAL,
            Self::Entry { errno, .. } => *errno,
        }
    }
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Archive(e) => write!(f, "initramfs: {e}"),
            Self::Entry { offset, name, errno } => {
                write!(f, "initramfs: cannot unpack {name:?} (entry at offset {offset:#x}): {}", errno::name(*errno))
            }
        }
    }
}

impl Ramfs {
    /// Unpacks a cpio archive (one, or several concatenated) into the
    /// tree, file contents into page frames from `frames` (the buddy
    /// allocator: `unpack(archive, page_alloc())`). On error nothing has
    /// changed and no frames are held.
    pub fn unpack(&mut self, archive: &[u8], frames: &'static dyn PageFrames) -> Result<UnpackStats, UnpackError> {
        let (root, next_ino) = self.parts(frames);
        let mut u = Unpacker { root, next_ino, frames, undo: Vec::new(), links: BTreeMap::new(), stats: UnpackStats::default() };
        for item in Cpio::new(archive) {
            let r = match item {
                Err(e) => Err(UnpackError::Archive(e)),
                Ok(e) => u.entry(&e).map_err(|errno| UnpackError::Entry { offset: e.offset, name: String::from_utf8_lossy(e.name).into_owned(), errno }),
            };
            if let Err(e) = r {
                u.rollback();
                return Err(e);
            }
            u.stats.entries += 1;
        }
        Ok(u.stats)
    }
}

/// A change to undo if the unpack fails.
enum Change {
    /// `dir`'s entry `name` was set; it was `previous`.
    Linked { dir: Arc<Inode>, name: String, previous: Option<Arc<Inode>> },
    /// `inode`'s metadata was `meta`.
    Meta { inode: Arc<Inode>, meta: Meta },
}

/// Hard-link identity: device, inode number and type in the archive.
type LinkKey = (u32, u32, u32, u32);

struct Unpacker<'a> {
    root: Arc<Inode>,
    next_ino: &'a mut u64,
    frames: &'static dyn PageFrames,
    undo: Vec<Change>,
    links: BTreeMap<LinkKey, Arc<Inode>>,
    stats: UnpackStats,
}

impl Unpacker<'_> {
    fn entry(&mut self, e: &Entry<'_>) -> Result<(), Errno> {
        let name = e.name_str().ok_or(EINVAL)?;
        if name.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let meta = Meta { mode: e.mode & (S_IFMT | S_IALLUGO), uid: e.uid, gid: e.gid, mtime: e.mtime as i64 };
        let ftype = e.mode & S_IFMT;
        let name = name.trim_end_matches('/');
        let (dir_path, last) = name.rsplit_once('/').unwrap_or(("", name));
        if matches!(last, "" | "." | "..") {
            // The entry names a directory that exists: the root for ".".
            let dir = self.dir(name)?;
            if ftype != S_IFDIR {
                return Err(EEXIST);
            }
            self.set_meta(&dir, meta);
            self.stats.dirs += 1;
            return Ok(());
        }
        if last.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let parent = self.dir(dir_path)?;
        let path = join(&parent.path(), last);
        match ftype {
            S_IFDIR => {
                match parent.child(last) {
                    Some(dir) if dir.is_dir() => self.set_meta(&dir, meta),
                    _ => {
                        let dir = Inode::new_dir(Ramfs::next_ino(self.next_ino), meta, path);
                        self.place(&parent, last, dir)?;
                    }
                }
                self.stats.dirs += 1;
            }
            S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => {
                let key = (e.dev_major, e.dev_minor, e.ino, ftype);
                if let Some(target) = self.links.get(&key).filter(|_| e.nlink >= 2).cloned() {
                    return self.hard_link(e, &parent, last, target, meta);
                }
                let inode = if ftype == S_IFREG {
                    let pages = FilePages::from_bytes(self.frames, e.data)?;
                    self.stats.files += 1;
                    self.stats.bytes += e.data.len() as u64;
                    self.stats.pages += pages.nr_pages() as u64;
                    Inode::new_file(Ramfs::next_ino(self.next_ino), meta, path, pages)
                } else {
                    self.stats.nodes += 1;
                    Inode::new_special(Ramfs::next_ino(self.next_ino), meta, path, makedev(e.rdev_major, e.rdev_minor))
                };
                self.place(&parent, last, inode.clone())?;
                if e.nlink >= 2 {
                    self.links.insert(key, inode);
                }
            }
            S_IFLNK => {
                let target = core::str::from_utf8(e.data).map_err(|_| EINVAL)?;
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target.len() >= PATH_MAX {
                    return Err(ENAMETOOLONG);
                }
                let link = Inode::new_symlink(Ramfs::next_ino(self.next_ino), meta, path, String::from(target));
                self.place(&parent, last, link)?;
                self.stats.symlinks += 1;
            }
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    /// Another name for `target`; a regular file's data, if this entry
    /// carries any, replaces its contents (Linux opens the link and
    /// truncates it to the entry's size).
    fn hard_link(&mut self, e: &Entry<'_>, parent: &Arc<Inode>, name: &str, target: Arc<Inode>, meta: Meta) -> Result<(), Errno> {
        if !parent.child(name).is_some_and(|c| Arc::ptr_eq(&c, &target)) {
            self.place(parent, name, target.clone())?;
        }
        if target.is_regular() {
            if !e.data.is_empty() {
                // `target` was created by this unpack: undoing its links
                // frees it, so the new contents need no undo of their own.
                let pages = FilePages::from_bytes(self.frames, e.data)?;
                self.stats.bytes += e.data.len() as u64;
                self.stats.pages += pages.nr_pages() as u64;
                target.set_contents(pages);
            }
            self.set_meta(&target, meta);
        }
        self.stats.hardlinks += 1;
        Ok(())
    }

    /// The directory at `path` (relative to the root), creating missing
    /// directories on the way.
    fn dir(&mut self, path: &str) -> Result<Arc<Inode>, Errno> {
        if path.is_empty() {
            return Ok(self.root.clone());
        }
        let root = self.root.clone();
        let mut mkdir = |parent: &Arc<Inode>, name: &str| -> Result<Arc<Inode>, Errno> {
            let meta = Meta { mode: S_IFDIR | 0o755, uid: 0, gid: 0, mtime: 0 };
            let dir = Inode::new_dir(Ramfs::next_ino(self.next_ino), meta, join(&parent.path(), name));
            self.place(parent, name, dir.clone())?;
            Ok(dir)
        };
        match walk(&root, path, true, Some(&mut mkdir))? {
            Walk::Found(dir) if dir.is_dir() => Ok(dir),
            Walk::Found(_) => Err(ENOTDIR),
            Walk::Missing { .. } => Err(ENOENT),
        }
    }

    /// Makes `inode` the entry `name` of `parent`, replacing what is there
    /// unless that is a directory with entries.
    fn place(&mut self, parent: &Arc<Inode>, name: &str, inode: Arc<Inode>) -> Result<(), Errno> {
        if parent.child(name).is_some_and(|old| old.is_dir() && !old.is_empty_dir()) {
            return Err(ENOTEMPTY);
        }
        let previous = parent.link_child(name, inode);
        self.undo.push(Change::Linked { dir: parent.clone(), name: String::from(name), previous });
        Ok(())
    }

    fn set_meta(&mut self, inode: &Arc<Inode>, meta: Meta) {
        self.undo.push(Change::Meta { inode: inode.clone(), meta: inode.meta() });
        inode.set_meta(meta);
    }

    fn rollback(&mut self) {
        while let Some(change) = self.undo.pop() {
            match change {
                Change::Linked { dir, name, previous } => {
                    dir.unlink_child(&name);
                    if let Some(previous) = previous {
                        dir.link_child(&name, previous);
                    }
                }
                Change::Meta { inode, meta } => inode.set_meta(meta),
            }
        }
        self.links.clear();
    }
}

#[cfg(test)]
#[path = "initramfs_tests.rs"]
mod tests;
