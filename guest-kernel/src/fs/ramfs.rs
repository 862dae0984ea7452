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
//! The tree is filled by [`Ramfs::unpack`] (`initramfs.rs`) and is
//! read-only to user space for now.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::errno::{Errno, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR};
use super::inode::Meta;
use super::stat::S_IFDIR;

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
    next_ino: u64,
}

/// How a walk ended.
pub(super) enum Walk {
    Found(Arc<Inode>),
    /// Everything but the last component exists, and that is a directory
    /// without the last component: what `O_CREAT` would create.
    /// `trailing_slash`: the path ended in `/`.
    Missing {
        trailing_slash: bool,
    },
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
    let mut cur = root.clone();
    let mut parents: Vec<Arc<Inode>> = Vec::new();
    let mut links = 0;
    while let Some(comp) = work.pop() {
        if !cur.is_dir() {
            return Err(ENOTDIR);
        }
        let Comp::Name(name) = comp else { continue };
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
                return Ok(Walk::Missing { trailing_slash: !work.is_empty() });
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
    pub fn new() -> Self {
        let meta = Meta { mode: S_IFDIR | 0o755, uid: 0, gid: 0, mtime: 0 };
        Self { root: Inode::new_root(ROOT_INO, meta), next_ino: ROOT_INO + 1 }
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

    pub(super) fn parts(&mut self) -> (Arc<Inode>, &mut u64) {
        (self.root.clone(), &mut self.next_ino)
    }
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
        for p in [
            "/bin/busybox",
            "bin/busybox",
            "//bin///busybox",
            "/./bin/./busybox",
            "/../bin/busybox",
            "/etc/../bin/busybox",
            "/bin/../../../bin/busybox",
        ] {
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
        assert!(matches!(fs.walk("/bin/new", true), Ok(Walk::Missing { trailing_slash: false })));
        assert!(matches!(fs.walk("/bin/new/", true), Ok(Walk::Missing { trailing_slash: true })));
        assert!(matches!(fs.walk("/dangling", true), Ok(Walk::Missing { .. })));
        assert!(matches!(fs.walk("/nope/new", true), Err(ENOENT)));
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
