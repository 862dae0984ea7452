//! The in-memory filesystem that holds the unpacked initramfs (Linux's
//! `rootfs`, a ramfs): a tree of [`Inode`]s and path lookup over it.
//!
//! ```text
//!   Ramfs.root ── Inode 1 "/" (dir) ─┬─ "bin"  ── Inode 2 (dir) ── "sh" ── Inode 3 (file) ── FilePages
//!                                    ├─ "init" ── Inode 4 (file) ── FilePages ── [pfn, pfn, ...]
//!                                    └─ "sbin" ── Inode 5 (symlink "bin")
//! ```
//!
//! Lookup follows Linux's `path_lookupat`: absolute or relative (to the
//! root: there is no working directory here) paths, repeated slashes,
//! `.` and `..` (the root is its own parent), symlinks followed in the
//! middle of a path always and at its end on request, at most 40 of them
//! ([`MAXSYMLINKS`], then `ELOOP`); a trailing slash demands a directory.
//! Errors are Linux's: `ENOENT`, `ENOTDIR`, `ENAMETOOLONG` (a component over
//! [`NAME_MAX`] bytes, a path of [`PATH_MAX`] bytes or more), `ELOOP`.
//!
//! The tree is filled by [`Ramfs::unpack`] (`initramfs.rs`) and changed
//! by the system calls: files are created by `open` (`file.rs`), and
//! [`Ramfs::mkdir`], [`Ramfs::unlink`], [`Ramfs::rmdir`],
//! [`Ramfs::rename`] and [`Ramfs::truncate`] do the rest, with Linux's
//! errors. Every process is root with umask applied by the caller; there
//! are no permission checks, hard links, symlinks or device nodes made at
//! run time (only from the archive), and no mount points.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::errno::{Errno, EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, ENOTEMPTY, EPERM, EROFS};
use super::inode::Meta;
use super::pages::FilePages;
use super::perm::{self, MAY_EXEC, MAY_WRITE};
use super::stat::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};

pub use super::initramfs::{UnpackError, UnpackStats};
pub use super::inode::Inode;
pub use super::pages::PageFrames;

/// Longest file name (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Size of the longest path including its NUL (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Most symlinks one lookup follows (Linux `MAXSYMLINKS`).
pub const MAXSYMLINKS: u32 = 40;
/// The root directory's inode number.
pub const ROOT_INO: u64 = 1;

pub struct Ramfs {
    root: Arc<Inode>,
    next_ino: AtomicU64,
    /// Where new files' pages come from: the allocator of the last
    /// [`Ramfs::unpack`] or [`Ramfs::with_frames`]; without one, creating
    /// a file is `EROFS`.
    frames: Option<&'static dyn PageFrames>,
}

/// How a walk ended.
pub(super) enum Walk {
    Found(Arc<Inode>),
    /// Everything but the last component exists, and that is a directory
    /// (`parent`) without the last component (`name`): what `O_CREAT`
    /// would create. `trailing_slash`: the path ended in `/`.
    Missing {
        parent: Arc<Inode>,
        name: String,
        trailing_slash: bool,
    },
}

/// The last component of a path, as Linux's `filename_parentat` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Last {
    Name(String),
    Dot,
    DotDot,
    /// The path is `/` (or only slashes).
    Root,
}

/// The absolute path of entry `name` of the directory at `dir`.
pub(super) fn join(dir: &str, name: &str) -> String {
    let mut path = String::from(dir.trim_end_matches('/'));
    path.push('/');
    path.push_str(name);
    path
}

/// The metadata of a new inode of `mode` (type and permission bits) in
/// `dir`: owned by the current credentials ([`perm::new_owner`]); the
/// times are set when it is born.
fn new_meta(dir: &Inode, mode: u32) -> Meta {
    let owner = perm::new_owner(&crate::cred::current(), dir.owner(), mode);
    Meta { mode: owner.mode, uid: owner.uid, gid: owner.gid, mtime: 0 }
}

/// Whether the current credentials may remove `victim` from `dir`.
fn may_delete(dir: &Inode, victim: &Inode) -> Result<(), Errno> {
    perm::may_delete(&crate::cred::current(), dir.owner(), victim.owner())
}

/// A path component still to walk.
enum Comp {
    Name(String),
    /// A trailing slash: where it is reached, there must be a directory.
    Slash,
}

fn push_path(work: &mut Vec<Comp>, path: &str) {
    if path.ends_with('/') && path.bytes().any(|b| b != b'/') {
        work.push(Comp::Slash);
    }
    work.extend(path.split('/').filter(|c| !c.is_empty()).rev().map(|c| Comp::Name(String::from(c))));
}

/// Creates the directory `name` in `parent` for a walk that makes missing
/// directories (unpacking).
pub(super) type Mkdir<'a> = &'a mut dyn FnMut(&Arc<Inode>, &str) -> Result<Arc<Inode>, Errno>;

/// Walks `path` from `root`. With `mkdir`, missing components are created
/// as directories instead of ending the walk.
pub(super) fn walk(root: &Arc<Inode>, path: &str, follow_last: bool, mut mkdir: Option<Mkdir<'_>>) -> Result<Walk, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    let mut work = Vec::new();
    push_path(&mut work, path);
    let cred = crate::cred::current();
    let mut cur = root.clone();
    let mut parents: Vec<Arc<Inode>> = Vec::new();
    let mut links = 0;
    while let Some(comp) = work.pop() {
        if !cur.is_dir() {
            return Err(ENOTDIR);
        }
        let Comp::Name(name) = comp else { continue };
        // Search permission on every directory a name is looked up in
        // (Linux `may_lookup`).
        perm::generic_permission(&cred, cur.owner(), MAY_EXEC)?;
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        match name.as_str() {
            "." => continue,
            ".." => {
                cur = parents.pop().unwrap_or_else(|| root.clone());
                continue;
            }
            _ => {}
        }
        let child = match (cur.child(&name), mkdir.as_mut()) {
            (Some(child), _) => child,
            (None, Some(mkdir)) => mkdir(&cur, &name)?,
            (None, None) if work.iter().all(|c| matches!(c, Comp::Slash)) => {
                return Ok(Walk::Missing { parent: cur, name, trailing_slash: !work.is_empty() });
            }
            (None, None) => return Err(ENOENT),
        };
        if let Some(target) = child.link_target() {
            // A link in the middle, or at the end with a trailing slash
            // (`work` holds the Slash), is always followed.
            if follow_last || !work.is_empty() {
                links += 1;
                if links > MAXSYMLINKS {
                    return Err(ELOOP);
                }
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target.starts_with('/') {
                    parents.clear();
                    cur = root.clone();
                }
                push_path(&mut work, target);
                continue;
            }
        }
        parents.push(core::mem::replace(&mut cur, child));
    }
    Ok(Walk::Found(cur))
}

impl Ramfs {
    /// An empty filesystem: the root directory, mode 0755, owned by root.
    /// Files can be created once it has page frames ([`Ramfs::unpack`]
    /// gives it its allocator).
    pub fn new() -> Self {
        let meta = Meta { mode: S_IFDIR | 0o755, uid: 0, gid: 0, mtime: 0 };
        Self { root: Inode::new_root(ROOT_INO, meta), next_ino: AtomicU64::new(ROOT_INO + 1), frames: None }
    }

    /// An empty filesystem whose files take their pages from `frames`.
    pub fn with_frames(frames: &'static dyn PageFrames) -> Self {
        let mut fs = Self::new();
        fs.frames = Some(frames);
        fs
    }

    pub fn root(&self) -> &Arc<Inode> {
        &self.root
    }

    /// The inode at `path`, following symlinks (Linux `stat`).
    pub fn lookup(&self, path: &str) -> Result<Arc<Inode>, Errno> {
        self.lookup_at(path, true)
    }

    /// The inode at `path`; a symlink at its end is returned itself
    /// (Linux `lstat`).
    pub fn lookup_nofollow(&self, path: &str) -> Result<Arc<Inode>, Errno> {
        self.lookup_at(path, false)
    }

    fn lookup_at(&self, path: &str, follow: bool) -> Result<Arc<Inode>, Errno> {
        match self.walk(path, follow)? {
            Walk::Found(inode) => Ok(inode),
            Walk::Missing { .. } => Err(ENOENT),
        }
    }

    pub(super) fn walk(&self, path: &str, follow_last: bool) -> Result<Walk, Errno> {
        walk(&self.root, path, follow_last, None)
    }

    /// Empties the filesystem. Pages of files still open (or mapped) are
    /// freed when those let go; the rest now.
    pub fn clear(&mut self) {
        let meta = self.root.meta();
        self.root = Inode::new_root(ROOT_INO, Meta { mode: S_IFDIR | 0o755, ..meta });
    }

    /// The next inode number (Linux `get_next_ino`: never reused).
    pub(super) fn next_ino(next: &mut u64) -> u64 {
        let ino = *next;
        *next += 1;
        ino
    }

    /// For unpacking into the tree: its root and inode counter; `frames`
    /// becomes where new files get their pages.
    pub(super) fn parts(&mut self, frames: &'static dyn PageFrames) -> (Arc<Inode>, &mut u64) {
        self.frames = Some(frames);
        (self.root.clone(), self.next_ino.get_mut())
    }

    fn alloc_ino(&self) -> u64 {
        self.next_ino.fetch_add(1, Relaxed)
    }

    /// The directory holding the last component of `path`, and that
    /// component (Linux `filename_parentat`); `trailing_slash`: the path
    /// ends in `/`. Errors: those of the lookup of the directory part.
    pub(super) fn parent(&self, path: &str) -> Result<(Arc<Inode>, Last, bool), Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok((self.root.clone(), Last::Root, false));
        }
        let trailing_slash = trimmed.len() < path.len();
        let (dir, last) = match trimmed.rfind('/') {
            Some(i) => (if trimmed[..i].is_empty() { "/" } else { &trimmed[..i] }, &trimmed[i + 1..]),
            None => (".", trimmed),
        };
        let dir = match self.walk(dir, true)? {
            Walk::Found(d) if d.is_dir() => d,
            Walk::Found(_) => return Err(ENOTDIR),
            Walk::Missing { .. } => return Err(ENOENT),
        };
        perm::generic_permission(&crate::cred::current(), dir.owner(), MAY_EXEC)?;
        let last = match last {
            "." => Last::Dot,
            ".." => Last::DotDot,
            name if name.len() > NAME_MAX => return Err(ENAMETOOLONG),
            name => Last::Name(String::from(name)),
        };
        Ok((dir, last, trailing_slash))
    }

    /// Creates the regular file `name` in `parent` (mode `mode`, the
    /// umask already applied; owned as [`perm::new_owner`] says), empty
    /// (Linux `ramfs_create`). `EEXIST` if the name is taken; `EACCES`
    /// without write and search permission on `parent`; `EROFS` without
    /// page frames.
    pub(super) fn create(&self, parent: &Arc<Inode>, name: &str, mode: u32) -> Result<Arc<Inode>, Errno> {
        if parent.child(name).is_some() {
            return Err(EEXIST);
        }
        perm::may_create(&crate::cred::current(), parent.owner())?;
        let file = self.new_file(parent, join(&parent.path(), name), mode)?;
        parent.link_child(name, file.clone());
        parent.touch();
        Ok(file)
    }

    /// A regular file linked nowhere, owned as if made in `dir`
    /// (`O_TMPFILE`, or before `create` links it).
    pub(super) fn new_file(&self, dir: &Inode, path: String, mode: u32) -> Result<Arc<Inode>, Errno> {
        let frames = self.frames.ok_or(EROFS)?;
        let meta = new_meta(dir, S_IFREG | mode & 0o7777);
        let file = Inode::new_file(self.alloc_ino(), meta, path, FilePages::new(frames));
        file.born();
        Ok(file)
    }

    /// Where a new entry `path` goes: its parent, its name and whether the
    /// path ended in a slash. `EEXIST` when the name is taken (a dangling
    /// symlink too) or is `/`, `.` or `..`; lookup errors for the parent.
    /// `EACCES` without write and search permission on the parent.
    fn free_name(&self, path: &str) -> Result<(Arc<Inode>, String, bool), Errno> {
        let (parent, last, trailing_slash) = self.parent(path)?;
        let Last::Name(name) = last else {
            return Err(EEXIST);
        };
        if parent.child(&name).is_some() {
            return Err(EEXIST);
        }
        perm::may_create(&crate::cred::current(), parent.owner())?;
        Ok((parent, name, trailing_slash))
    }

    /// `mkdir(2)`: a directory at `path`, mode `mode & 0o1777` (the umask
    /// already applied). `EEXIST` when the name exists (a dangling
    /// symlink too, and `/`, `.`, `..`); lookup errors for the parent.
    pub fn mkdir(&self, path: &str, mode: u32) -> Result<Arc<Inode>, Errno> {
        let (parent, name, _) = self.free_name(path)?;
        let meta = new_meta(&parent, S_IFDIR | mode & 0o1777);
        let dir = Inode::new_dir(self.alloc_ino(), meta, join(&parent.path(), &name));
        dir.born();
        parent.link_child(&name, dir.clone());
        parent.touch();
        Ok(dir)
    }

    /// A device node, FIFO or socket at `path` (`mode` carries `S_IFCHR`,
    /// `S_IFBLK`, `S_IFIFO` or `S_IFSOCK`), as
    /// `mknod(2)` makes one; `EEXIST` when the name is taken.
    pub fn mknod(&self, path: &str, mode: u32, rdev: u64) -> Result<Arc<Inode>, Errno> {
        let (parent, name, _) = self.free_name(path)?;
        if !matches!(mode & S_IFMT, S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) {
            return Err(EINVAL);
        }
        let device = matches!(mode & S_IFMT, S_IFCHR | S_IFBLK);
        if device && !crate::cred::current().capable(crate::cred::CAP_MKNOD) {
            return Err(EPERM);
        }
        let rdev = if device { rdev } else { 0 };
        let meta = new_meta(&parent, mode & (S_IFMT | 0o7777));
        let node = Inode::new_special(self.alloc_ino(), meta, join(&parent.path(), &name), rdev);
        node.born();
        parent.link_child(&name, node.clone());
        parent.touch();
        Ok(node)
    }

    /// `symlink(2)`: a symbolic link at `path` to `target` (not checked:
    /// it may dangle). `EEXIST` when the name is taken, `ENOENT` for an
    /// empty target.
    pub fn symlink(&self, target: &str, path: &str) -> Result<Arc<Inode>, Errno> {
        if target.is_empty() {
            return Err(ENOENT);
        }
        if target.len() >= 4096 {
            return Err(ENAMETOOLONG);
        }
        let (parent, name, trailing_slash) = self.free_name(path)?;
        if trailing_slash {
            return Err(ENOENT);
        }
        let meta = new_meta(&parent, S_IFLNK | 0o777);
        let link = Inode::new_symlink(self.alloc_ino(), meta, join(&parent.path(), &name), String::from(target));
        link.born();
        parent.link_child(&name, link.clone());
        parent.touch();
        Ok(link)
    }

    /// `link(2)`: a second name `new` for the file at `old` (not followed
    /// if a symlink, as `linkat` without `AT_SYMLINK_FOLLOW`). `EPERM` for
    /// a directory, `EEXIST` when `new` is taken, `ENOENT` for a trailing
    /// slash on the new name of a non-directory.
    pub fn link(&self, old: &str, new: &str, follow: bool) -> Result<(), Errno> {
        let inode = if follow { self.lookup(old)? } else { self.lookup_nofollow(old)? };
        if inode.is_dir() {
            return Err(EPERM);
        }
        let (parent, name, trailing_slash) = self.free_name(new)?;
        if trailing_slash {
            return Err(ENOENT);
        }
        parent.link_child(&name, inode.clone());
        parent.touch();
        inode.touch_ctime();
        Ok(())
    }

    /// `unlink(2)`: removes the name `path` (not followed if a symlink).
    /// The file lives on while it is open or mapped. `EISDIR` for a
    /// directory (and `/`, `.`, `..`); `ENOTDIR` for a non-directory named
    /// with a trailing slash; `ENOENT`.
    pub fn unlink(&self, path: &str) -> Result<(), Errno> {
        let (parent, last, trailing_slash) = self.parent(path)?;
        let Last::Name(name) = last else {
            return Err(EISDIR);
        };
        let child = parent.child(&name).ok_or(ENOENT)?;
        if trailing_slash && !child.is_dir() {
            return Err(ENOTDIR);
        }
        may_delete(&parent, &child)?;
        if child.is_dir() {
            return Err(EISDIR);
        }
        parent.unlink_child(&name);
        parent.touch();
        child.touch_ctime();
        Ok(())
    }

    /// `rmdir(2)`: removes the empty directory `path`. `ENOTEMPTY`;
    /// `ENOTDIR` for a non-directory; `EBUSY` for `/`, `EINVAL` for `.`,
    /// `ENOTEMPTY` for `..`, as Linux.
    pub fn rmdir(&self, path: &str) -> Result<(), Errno> {
        let (parent, last, _) = self.parent(path)?;
        let name = match last {
            Last::Name(name) => name,
            Last::Root => return Err(EBUSY),
            Last::Dot => return Err(EINVAL),
            Last::DotDot => return Err(ENOTEMPTY),
        };
        let child = parent.child(&name).ok_or(ENOENT)?;
        may_delete(&parent, &child)?;
        if !child.is_dir() {
            return Err(ENOTDIR);
        }
        if !child.is_empty_dir() {
            return Err(ENOTEMPTY);
        }
        parent.unlink_child(&name);
        child.clear_nlink();
        parent.touch();
        child.touch_ctime();
        Ok(())
    }

    /// `rename(2)`: moves `old` to `new`, replacing what is there (a
    /// non-directory by a non-directory, an empty directory by a
    /// directory). Errors as Linux: `ENOENT`; `EBUSY` when either last
    /// component is `/`, `.` or `..`; `ENOTDIR` (a directory over a
    /// non-directory, or a trailing slash on a non-directory); `EISDIR` (a
    /// non-directory over a directory); `ENOTEMPTY`; `EINVAL` (a directory
    /// into itself or below). The same file under both names: nothing
    /// happens. The moved inode's own path follows it; a moved
    /// directory's entries keep their old paths (only `/proc/PID/maps`
    /// shows them).
    pub fn rename(&self, old: &str, new: &str) -> Result<(), Errno> {
        self.rename2(old, new, 0)
    }

    /// `renameat2(2)`'s part: [`Ramfs::rename`] with `RENAME_NOREPLACE`
    /// (`EEXIST` if `new` exists) or `RENAME_EXCHANGE` (both must exist;
    /// they trade places, `EINVAL` if one holds the other); `EINVAL` for
    /// both or for other flags (`RENAME_WHITEOUT` included, which ramfs
    /// lacks).
    pub fn rename2(&self, old: &str, new: &str, flags: u32) -> Result<(), Errno> {
        const RENAME_NOREPLACE: u32 = 1;
        const RENAME_EXCHANGE: u32 = 2;
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 || flags == RENAME_NOREPLACE | RENAME_EXCHANGE {
            return Err(EINVAL);
        }
        if flags == RENAME_EXCHANGE {
            return self.exchange(old, new);
        }
        let (old_dir, old_last, old_slash) = self.parent(old)?;
        let (new_dir, new_last, new_slash) = self.parent(new)?;
        let (Last::Name(old_name), Last::Name(new_name)) = (old_last, new_last) else {
            return Err(EBUSY);
        };
        let src = old_dir.child(&old_name).ok_or(ENOENT)?;
        if !src.is_dir() && (old_slash || new_slash) {
            return Err(ENOTDIR);
        }
        let dst = new_dir.child(&new_name);
        if dst.is_some() && flags & RENAME_NOREPLACE != 0 {
            return Err(EEXIST);
        }
        if let Some(dst) = &dst {
            if Arc::ptr_eq(dst, &src) {
                return Ok(());
            }
        }
        may_rename(&old_dir, &src, &new_dir, dst.as_deref())?;
        if src.is_dir() {
            if contains(&src, &new_dir) {
                return Err(EINVAL);
            }
            match &dst {
                Some(d) if !d.is_dir() => return Err(ENOTDIR),
                Some(d) if !d.is_empty_dir() => return Err(ENOTEMPTY),
                _ => {}
            }
        } else if dst.as_ref().is_some_and(|d| d.is_dir()) {
            return Err(EISDIR);
        }
        let replaced = new_dir.link_child(&new_name, src.clone());
        old_dir.unlink_child(&old_name);
        if let Some(r) = replaced {
            if r.is_dir() {
                r.clear_nlink();
            }
            r.touch_ctime();
        }
        src.set_path(join(&new_dir.path(), &new_name));
        src.touch_ctime();
        old_dir.touch();
        new_dir.touch();
        Ok(())
    }

    /// `RENAME_EXCHANGE`: the entries `a` and `b` swap inodes.
    fn exchange(&self, a: &str, b: &str) -> Result<(), Errno> {
        let (a_dir, a_last, _) = self.parent(a)?;
        let (b_dir, b_last, _) = self.parent(b)?;
        let (Last::Name(a_name), Last::Name(b_name)) = (a_last, b_last) else {
            return Err(EBUSY);
        };
        let x = a_dir.child(&a_name).ok_or(ENOENT)?;
        let y = b_dir.child(&b_name).ok_or(ENOENT)?;
        if Arc::ptr_eq(&x, &y) {
            return Ok(());
        }
        may_rename(&a_dir, &x, &b_dir, Some(&y))?;
        if y.is_dir() && !Arc::ptr_eq(&a_dir, &b_dir) {
            perm::generic_permission(&crate::cred::current(), y.owner(), MAY_WRITE)?;
        }
        if (x.is_dir() && contains(&x, &b_dir)) || (y.is_dir() && contains(&y, &a_dir)) {
            return Err(EINVAL);
        }
        a_dir.link_child(&a_name, y.clone());
        b_dir.link_child(&b_name, x.clone());
        x.set_path(join(&b_dir.path(), &b_name));
        y.set_path(join(&a_dir.path(), &a_name));
        for inode in [&x, &y, &a_dir, &b_dir] {
            inode.touch_ctime();
        }
        Ok(())
    }

    /// `truncate(2)`: sets the size of the regular file at `path`
    /// (followed). `EISDIR` for a directory, `EINVAL` for anything else
    /// that is not a regular file, `EFBIG` past the largest file size,
    /// `EACCES` without write permission.
    pub fn truncate(&self, path: &str, size: u64) -> Result<(), Errno> {
        let inode = self.lookup(path)?;
        if inode.is_dir() {
            return Err(EISDIR);
        }
        if !inode.is_regular() {
            return Err(EINVAL);
        }
        perm::generic_permission(&crate::cred::current(), inode.owner(), MAY_WRITE)?;
        inode.truncate(size)
    }
}

/// The permission checks of a rename of `src` in `old_dir` to an entry of
/// `new_dir` that is `dst` (Linux `vfs_rename`): removing the source,
/// removing the target or creating in the new directory, and write
/// permission on a directory that changes parent (its `..` changes).
fn may_rename(old_dir: &Arc<Inode>, src: &Inode, new_dir: &Arc<Inode>, dst: Option<&Inode>) -> Result<(), Errno> {
    let cred = crate::cred::current();
    perm::may_delete(&cred, old_dir.owner(), src.owner())?;
    match dst {
        Some(dst) => perm::may_delete(&cred, new_dir.owner(), dst.owner())?,
        None => perm::may_create(&cred, new_dir.owner())?,
    }
    if src.is_dir() && !Arc::ptr_eq(old_dir, new_dir) {
        perm::generic_permission(&cred, src.owner(), MAY_WRITE)?;
    }
    Ok(())
}

impl Ramfs {
    /// What the tree holds, for `statfs`: page frames of file contents and
    /// inodes (each counted once, however many names it has; the root
    /// included).
    pub fn usage(&self) -> (u64, u64) {
        let mut seen = alloc::collections::BTreeSet::new();
        let mut work = alloc::vec![self.root.clone()];
        let mut pages = 0;
        while let Some(inode) = work.pop() {
            if !seen.insert(inode.ino()) {
                continue;
            }
            pages += inode.nr_pages() as u64;
            work.extend(inode.entries().into_iter().map(|(_, i)| i));
        }
        (pages, seen.len() as u64)
    }
}

/// Whether `inode` is `dir` or somewhere below it. Iterative, over the
/// directories of the subtree only.
fn contains(dir: &Arc<Inode>, inode: &Arc<Inode>) -> bool {
    let mut work = alloc::vec![dir.clone()];
    while let Some(d) = work.pop() {
        if Arc::ptr_eq(&d, inode) {
            return true;
        }
        work.extend(d.entries().into_iter().map(|(_, i)| i).filter(|i| i.is_dir()));
    }
    false
}

impl Default for Ramfs {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::cpio::Builder;
    use crate::fs::stat::S_IFDIR;
    use crate::fs::testing::ram;

    fn fs() -> Ramfs {
        let mut b = Builder::new();
        b.dir("bin", 0o755).file("bin/busybox", 0o755, b"bb").symlink("bin/sh", "busybox");
        b.dir("etc", 0o755).file("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n");
        b.symlink("sbin", "/bin").symlink("loop", "loop").symlink("dangling", "nowhere").symlink("up", "etc/../bin/");
        let mut fs = Ramfs::new();
        fs.unpack(&b.finish(), ram(4)).unwrap();
        fs
    }

    fn ino(fs: &Ramfs, path: &str) -> Result<u64, Errno> {
        fs.lookup(path).map(|i| i.ino())
    }

    #[test]
    fn lookup_normalises_like_linux() {
        let fs = fs();
        let busybox = ino(&fs, "/bin/busybox").unwrap();
        for p in ["/bin/busybox", "bin/busybox", "//bin///busybox", "/./bin/./busybox", "/../bin/busybox", "/etc/../bin/busybox", "/bin/../../../bin/busybox"] {
            assert_eq!(ino(&fs, p), Ok(busybox), "{p}");
        }
        assert_eq!(ino(&fs, "/"), Ok(ROOT_INO));
        assert_eq!(ino(&fs, "///"), Ok(ROOT_INO));
        assert_eq!(ino(&fs, "/.."), Ok(ROOT_INO));
        assert_eq!(ino(&fs, "."), Ok(ROOT_INO));
        assert_eq!(ino(&fs, "/bin/"), ino(&fs, "/bin"));
    }

    #[test]
    fn lookup_errors_are_linux_errnos() {
        let fs = fs();
        assert_eq!(ino(&fs, ""), Err(ENOENT));
        assert_eq!(ino(&fs, "/nope"), Err(ENOENT));
        assert_eq!(ino(&fs, "/nope/x"), Err(ENOENT));
        assert_eq!(ino(&fs, "/bin/busybox/x"), Err(ENOTDIR));
        assert_eq!(ino(&fs, "/bin/busybox/"), Err(ENOTDIR));
        assert_eq!(ino(&fs, "/bin/busybox/."), Err(ENOTDIR));
        assert_eq!(ino(&fs, "/bin/busybox/.."), Err(ENOTDIR));
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(ino(&fs, &format!("/{long}")), Err(ENAMETOOLONG));
        assert_eq!(ino(&fs, &format!("/{}", "x".repeat(NAME_MAX))), Err(ENOENT));
        let deep = "/.".repeat(PATH_MAX / 2);
        assert_eq!(ino(&fs, &deep), Err(ENAMETOOLONG));
        assert_eq!(ino(&fs, &deep[..PATH_MAX - 2]), Ok(ROOT_INO));
    }

    #[test]
    fn symlinks_are_followed_in_the_middle_and_on_request_at_the_end() {
        let fs = fs();
        let busybox = ino(&fs, "/bin/busybox").unwrap();
        assert_eq!(ino(&fs, "/bin/sh"), Ok(busybox));
        assert_eq!(ino(&fs, "/sbin/sh"), Ok(busybox));
        assert_eq!(ino(&fs, "/up/sh"), Ok(busybox));
        assert!(fs.lookup_nofollow("/bin/sh").unwrap().is_symlink());
        assert!(fs.lookup_nofollow("/sbin").unwrap().is_symlink());
        // A trailing slash follows even without follow.
        assert!(fs.lookup_nofollow("/sbin/").unwrap().is_dir());
        assert_eq!(fs.lookup_nofollow("/bin/sh/").map(|i| i.ino()), Err(ENOTDIR));
        assert_eq!(ino(&fs, "/loop"), Err(ELOOP));
        assert!(fs.lookup_nofollow("/loop").is_ok());
        assert_eq!(ino(&fs, "/dangling"), Err(ENOENT));
        // ".." after a symlink is the link target's parent, as in Linux.
        assert_eq!(ino(&fs, "/sbin/../etc/passwd"), ino(&fs, "/etc/passwd"));
    }

    #[test]
    fn walk_tells_what_o_creat_could_create() {
        let fs = fs();
        let bin = fs.lookup("/bin").unwrap();
        let missing = |path: &str| match fs.walk(path, true) {
            Ok(Walk::Missing { parent, name, trailing_slash }) => Some((parent, name, trailing_slash)),
            _ => None,
        };
        let (parent, name, slash) = missing("/bin/new").unwrap();
        assert!(Arc::ptr_eq(&parent, &bin) && name == "new" && !slash);
        assert!(missing("/bin/new/").unwrap().2);
        // A dangling symlink leads to its target's name.
        let (parent, name, _) = missing("/dangling").unwrap();
        assert!(Arc::ptr_eq(&parent, fs.root()) && name == "nowhere");
        assert!(matches!(fs.walk("/nope/new", true), Err(ENOENT)));
    }

    #[test]
    fn parent_lookup_splits_off_the_last_component() {
        let fs = fs();
        let last = |p: &str| fs.parent(p).map(|(d, l, s)| (d.ino(), l, s));
        let bin = ino(&fs, "/bin").unwrap();
        assert_eq!(last("/bin/x"), Ok((bin, Last::Name("x".into()), false)));
        assert_eq!(last("bin//x//"), Ok((bin, Last::Name("x".into()), true)));
        assert_eq!(last("/sbin/x"), Ok((bin, Last::Name("x".into()), false)), "symlinks in the directory part");
        assert_eq!(last("x"), Ok((ROOT_INO, Last::Name("x".into()), false)));
        assert_eq!(last("/x"), Ok((ROOT_INO, Last::Name("x".into()), false)));
        assert_eq!(last("/"), Ok((ROOT_INO, Last::Root, false)));
        assert_eq!(last("/bin/."), Ok((bin, Last::Dot, false)));
        assert_eq!(last("/bin/.."), Ok((bin, Last::DotDot, false)));
        assert_eq!(last("/nope/x"), Err(ENOENT));
        assert_eq!(last("/bin/busybox/x"), Err(ENOTDIR));
        assert_eq!(last(""), Err(ENOENT));
        assert_eq!(last(&format!("/{}", "x".repeat(NAME_MAX + 1))), Err(ENAMETOOLONG));
    }

    #[test]
    fn mkdir_rmdir_and_unlink_follow_linux() {
        let fs = fs();
        let root_links = fs.root().nlink();
        let d = fs.mkdir("/d", 0o755).unwrap();
        assert_eq!((d.mode(), d.nlink(), fs.root().nlink()), (S_IFDIR | 0o755, 2, root_links + 1));
        assert_eq!(d.path(), "/d");
        assert_eq!(fs.mkdir("/d", 0o755).err(), Some(EEXIST));
        assert_eq!(fs.mkdir("/d/", 0o755).err(), Some(EEXIST));
        assert_eq!(fs.mkdir("/dangling", 0o755).err(), Some(EEXIST));
        assert_eq!(fs.mkdir("/", 0o755).err(), Some(EEXIST));
        assert_eq!(fs.mkdir("/d/..", 0o755).err(), Some(EEXIST));
        assert_eq!(fs.mkdir("/nope/x", 0o755).err(), Some(ENOENT));
        assert_eq!(fs.mkdir("/bin/busybox/x", 0o755).err(), Some(ENOTDIR));
        assert_eq!(fs.mkdir("/d/sub/", 0o7777).unwrap().mode(), S_IFDIR | 0o1777);
        assert_eq!(d.nlink(), 3);
        assert_eq!(fs.rmdir("/d").err(), Some(ENOTEMPTY));
        assert_eq!(fs.rmdir("/d/sub/.").err(), Some(EINVAL));
        assert_eq!(fs.rmdir("/d/sub/..").err(), Some(ENOTEMPTY));
        assert_eq!(fs.rmdir("/").err(), Some(EBUSY));
        assert_eq!(fs.rmdir("/bin/busybox").err(), Some(ENOTDIR));
        assert_eq!(fs.rmdir("/d/nope").err(), Some(ENOENT));
        let sub = fs.lookup("/d/sub").unwrap();
        fs.rmdir("/d/sub/").unwrap();
        assert_eq!((sub.nlink(), d.nlink()), (0, 2));
        fs.rmdir("/d").unwrap();
        assert_eq!(fs.root().nlink(), root_links);
        assert_eq!(fs.lookup("/d").err(), Some(ENOENT));
        // unlink
        assert_eq!(fs.unlink("/bin").err(), Some(EISDIR));
        assert_eq!(fs.unlink("/bin/").err(), Some(EISDIR));
        assert_eq!(fs.unlink("/").err(), Some(EISDIR));
        assert_eq!(fs.unlink("/bin/..").err(), Some(EISDIR));
        assert_eq!(fs.unlink("/etc/passwd/").err(), Some(ENOTDIR));
        assert_eq!(fs.unlink("/etc/nope").err(), Some(ENOENT));
        let sh = fs.lookup_nofollow("/bin/sh").unwrap();
        fs.unlink("/bin/sh").unwrap();
        assert!(sh.is_symlink() && sh.nlink() == 0, "the link itself goes");
        assert!(fs.lookup("/bin/busybox").is_ok());
        let passwd = fs.lookup("/etc/passwd").unwrap();
        let etc = fs.lookup("/etc").unwrap();
        let before = etc.mtime_ns();
        fs.unlink("/etc/passwd").unwrap();
        assert_eq!(passwd.nlink(), 0);
        assert!(etc.mtime_ns() > before, "the directory's mtime");
        let mut buf = [0u8; 4];
        assert_eq!(passwd.read_at(0, &mut buf), 4, "still readable while held");
        assert_eq!(&buf, b"root");
    }

    #[test]
    fn rename_moves_and_replaces_like_linux() {
        let fs = fs();
        let passwd = fs.lookup("/etc/passwd").unwrap();
        fs.rename("/etc/passwd", "/bin/pw").unwrap();
        assert!(Arc::ptr_eq(&fs.lookup("/bin/pw").unwrap(), &passwd));
        assert_eq!(fs.lookup("/etc/passwd").err(), Some(ENOENT));
        assert_eq!((passwd.nlink(), passwd.path()), (1, String::from("/bin/pw")));
        // Over an existing file: it loses its name.
        let busybox = fs.lookup("/bin/busybox").unwrap();
        fs.rename("/bin/pw", "/bin/busybox").unwrap();
        assert_eq!(busybox.nlink(), 0);
        assert!(Arc::ptr_eq(&fs.lookup("/bin/busybox").unwrap(), &passwd));
        // Same file under both names: nothing happens.
        fs.rename("/bin/busybox", "/bin/busybox").unwrap();
        assert_eq!(passwd.nlink(), 1);
        // Directories.
        let root_links = fs.root().nlink();
        fs.mkdir("/a", 0o755).unwrap();
        fs.mkdir("/a/b", 0o755).unwrap();
        fs.mkdir("/e", 0o755).unwrap();
        assert_eq!(fs.rename("/a", "/a/b/c").err(), Some(EINVAL), "into itself");
        assert_eq!(fs.rename("/a", "/a").err(), None);
        assert_eq!(fs.rename("/a", "/bin").err(), Some(ENOTEMPTY));
        assert_eq!(fs.rename("/a", "/bin/busybox").err(), Some(ENOTDIR));
        assert_eq!(fs.rename("/bin/busybox", "/a").err(), Some(EISDIR));
        assert_eq!(fs.rename("/bin/busybox/", "/x").err(), Some(ENOTDIR));
        assert_eq!(fs.rename("/bin/busybox", "/x/").err(), Some(ENOTDIR));
        assert_eq!(fs.rename("/nope", "/x").err(), Some(ENOENT));
        assert_eq!(fs.rename("/a/.", "/x").err(), Some(EBUSY));
        assert_eq!(fs.rename("/a", "/").err(), Some(EBUSY));
        let e = fs.lookup("/e").unwrap();
        fs.rename("/a", "/e/").unwrap();
        assert_eq!(e.nlink(), 0, "the empty directory it replaced");
        assert_eq!(fs.root().nlink(), root_links + 1);
        let a = fs.lookup("/e").unwrap();
        assert_eq!(a.nlink(), 3);
        fs.rename("/e/b", "/b").unwrap();
        assert_eq!((a.nlink(), fs.root().nlink()), (2, root_links + 2));
    }

    #[test]
    fn create_needs_page_frames_and_a_free_name() {
        let fs = Ramfs::new();
        assert_eq!(fs.create(fs.root(), "f", 0o644).err(), Some(EROFS));
        let pa = ram(4);
        let fs = Ramfs::with_frames(pa);
        let f = fs.create(fs.root(), "f", 0o7777 | S_IFDIR).unwrap();
        assert_eq!((f.mode(), f.nlink(), f.size(), f.path()), (S_IFREG | 0o7777, 1, 0, String::from("/f")));
        assert_eq!(fs.create(fs.root(), "f", 0o644).err(), Some(EEXIST));
        let g = fs.create(fs.root(), "g", 0o600).unwrap();
        assert!(g.ino() > f.ino());
    }

    #[test]
    fn device_nodes_and_symlinks_are_made_like_linux() {
        let fs = fs();
        let _ = fs.mkdir("/dev", 0o755);
        let null = fs.mknod("/dev/null", S_IFCHR | 0o666, crate::fs::stat::makedev(1, 3)).unwrap();
        assert_eq!((null.mode(), null.rdev()), (S_IFCHR | 0o666, crate::fs::stat::makedev(1, 3)));
        assert_eq!(fs.mknod("/dev/null", S_IFCHR | 0o666, 0).err(), Some(EEXIST));
        assert_eq!(fs.mknod("/dev/x", S_IFREG | 0o666, 0).err(), Some(EINVAL));
        assert_eq!(fs.mknod("/nodir/x", S_IFCHR, 0).err(), Some(ENOENT));
        fs.symlink("/dev/null", "/bin-null").unwrap();
        assert_eq!(fs.lookup("/bin-null").unwrap().ino(), null.ino(), "followed");
        assert_eq!(fs.lookup_nofollow("/bin-null").unwrap().link_target(), Some("/dev/null"));
        fs.symlink("missing", "/t-dangling").unwrap();
        assert_eq!(fs.lookup("/t-dangling").err(), Some(ENOENT));
        assert_eq!(fs.symlink("x", "/t-dangling").err(), Some(EEXIST));
        assert_eq!(fs.symlink("", "/empty").err(), Some(ENOENT));
    }

    #[test]
    fn truncate_by_path() {
        let fs = fs();
        assert_eq!(fs.truncate("/bin", 0).err(), Some(EISDIR));
        assert_eq!(fs.truncate("/nope", 0).err(), Some(ENOENT));
        assert_eq!(fs.truncate("/etc/passwd", u64::MAX).err(), Some(crate::fs::errno::EFBIG));
        fs.truncate("/etc/passwd", 4).unwrap();
        assert_eq!(fs.lookup("/etc/passwd").unwrap().size(), 4);
        fs.truncate("/sbin/busybox", 100_000).unwrap();
        assert_eq!(fs.lookup("/bin/busybox").unwrap().size(), 100_000);
    }

    #[test]
    fn clear_frees_everything_not_in_use() {
        let pa = ram(4);
        let free = crate::fs::testing::free_pages(pa);
        let mut b = Builder::new();
        b.file("a", 0o644, &[1; 5000]).file("b", 0o644, &[2; 100]);
        let mut fs = Ramfs::new();
        fs.unpack(&b.finish(), pa).unwrap();
        let held = fs.lookup("/b").unwrap();
        fs.clear();
        assert_eq!(fs.lookup("/a").err(), Some(ENOENT));
        assert_eq!(crate::fs::testing::free_pages(pa), free - 1);
        assert_eq!(held.read_at(0, &mut [0; 4]), 4);
        drop(held);
        assert_eq!(crate::fs::testing::free_pages(pa), free);
    }
}
