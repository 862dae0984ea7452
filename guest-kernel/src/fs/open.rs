//! `open(2)` over the root filesystem (Linux `fs/open.c`, `fs/namei.c`
//! `path_openat` and `may_open`), and `memfd_create`'s files.

use alloc::sync::Arc;

use super::errno::*;
use super::file::*;
use super::inode::Inode;
use super::perm;
use super::ramfs::{join, Ramfs, Walk};

/// `/dev/tty` (5, 0) and `/dev/console` (5, 1).
fn is_console_node(mode: u32, rdev: u64) -> bool {
    use crate::fs::stat::{makedev, S_IFCHR, S_IFMT};
    mode & S_IFMT == S_IFCHR && (rdev == makedev(5, 0) || rdev == makedev(5, 1))
}

/// Whether `flags` ask for write access (`O_TRUNC` does, as in Linux).
fn wants_write(flags: u32) -> bool {
    flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
}

/// The permission to open an existing `inode` with `flags` (Linux
/// `may_open`): read and/or write as the access mode asks (write for
/// `O_TRUNC` too), `EACCES` otherwise; `O_NOATIME` only for the owner or
/// `CAP_FOWNER` (`EPERM`). A file `open` has just created needs none.
fn may_open(inode: &Inode, flags: u32) -> Result<(), Errno> {
    let mut mask = match flags & O_ACCMODE {
        O_RDONLY => perm::MAY_READ,
        O_WRONLY => perm::MAY_WRITE,
        _ => perm::MAY_READ | perm::MAY_WRITE,
    };
    if flags & O_TRUNC != 0 {
        mask |= perm::MAY_WRITE;
    }
    let cred = crate::cred::current();
    perm::generic_permission(&cred, inode.owner(), mask)?;
    if flags & O_NOATIME != 0 && !perm::owner_or_capable(&cred, inode.owner()) {
        return Err(EPERM);
    }
    Ok(())
}

/// `open(2)` of `path` in the root filesystem, with Linux's errors:
///
/// - `EINVAL`: `O_CREAT | O_DIRECTORY`, or a malformed `O_TMPFILE`;
/// - `ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, `ELOOP` from the lookup (of the
///   parent directory, for a file to create); `ELOOP` also for a final
///   symlink with `O_NOFOLLOW` (without `O_PATH`);
/// - `EEXIST`: `O_CREAT | O_EXCL` and the path exists (symlinks not
///   followed);
/// - `EISDIR`: a directory with write access or `O_CREAT`, or `O_CREAT` of
///   a missing path that ends in `/`;
/// - `ENOTDIR`: `O_DIRECTORY` and not a directory;
/// - `EACCES`: no search permission on a directory of the path, no
///   permission to open the file as asked or to create it; `EPERM` for
///   `O_NOATIME` on another user's file ([`may_open`]);
/// - `ENXIO`: device nodes without a driver, sockets, a FIFO's writer
///   without a reader under `O_NONBLOCK`;
/// - `EROFS`: a filesystem without page frames for new files.
///
/// `O_CREAT` of a missing name creates an empty regular file with
/// permissions `mode & 0o7777` (the caller has applied the umask; see
/// [`UMASK`]), owned as [`perm::new_owner`] says; a dangling symlink is
/// followed to the name to create, as Linux does (unless `O_EXCL`).
/// `O_TRUNC` empties an existing regular file, even opened read-only (as
/// Linux), given write permission. `O_TMPFILE` makes an unnamed file in
/// the directory `path`, gone when closed.
///
/// `O_PATH` opens any inode, symlinks too with `O_NOFOLLOW`, and ignores
/// the other flags but `O_DIRECTORY`. `O_CLOEXEC` belongs to the
/// descriptor: pass it to [`FdTable::install`].
pub fn open(fs: &Ramfs, path: &str, flags: u32, mode: u32) -> Result<Arc<File>, Errno> {
    if flags & (O_CREAT | O_DIRECTORY) == O_CREAT | O_DIRECTORY {
        return Err(EINVAL);
    }
    if flags & __O_TMPFILE != 0 {
        if flags & (O_TMPFILE | O_CREAT) != O_TMPFILE || flags & O_ACCMODE == O_RDONLY {
            return Err(EINVAL);
        }
        let dir = match fs.walk(path, true)? {
            Walk::Found(dir) if dir.is_dir() => dir,
            Walk::Found(_) => return Err(ENOTDIR),
            Walk::Missing { .. } => return Err(ENOENT),
        };
        perm::may_create(&crate::cred::current(), dir.owner())?;
        let file = fs.new_file(&dir, join(&dir.path(), "#tmpfile"), mode)?;
        return Ok(File::new(FileKind::Regular(file), flags));
    }
    if flags & O_PATH != 0 {
        let inode = match fs.walk(path, flags & O_NOFOLLOW == 0)? {
            Walk::Found(inode) => inode,
            Walk::Missing { .. } => return Err(ENOENT),
        };
        if flags & O_DIRECTORY != 0 && !inode.is_dir() {
            return Err(ENOTDIR);
        }
        return Ok(File::new(FileKind::Path(inode), flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW)));
    }
    let creat = flags & O_CREAT != 0;
    let excl = creat && flags & O_EXCL != 0;
    let follow = flags & O_NOFOLLOW == 0 && !excl;
    let (inode, created) = match fs.walk(path, follow)? {
        Walk::Found(_) if excl => return Err(EEXIST),
        Walk::Found(inode) => (inode, false),
        Walk::Missing { trailing_slash: true, .. } if creat => return Err(EISDIR),
        Walk::Missing { parent, name, .. } if creat => (fs.create(&parent, &name, mode)?, true),
        Walk::Missing { .. } => return Err(ENOENT),
    };
    if creat && inode.is_dir() {
        return Err(EISDIR);
    }
    if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(ENOTDIR);
    }
    if inode.is_dir() && wants_write(flags) {
        return Err(EISDIR);
    }
    if inode.is_symlink() {
        // Only reached with O_NOFOLLOW.
        return Err(ELOOP);
    }
    if !created {
        may_open(&inode, flags)?;
    }
    let kind = if inode.is_dir() {
        FileKind::Directory(inode)
    } else if inode.is_regular() {
        if flags & O_TRUNC != 0 && !created {
            inode.truncate(0)?;
        }
        FileKind::Regular(inode)
    } else if let Some(pipe) = inode.fifo() {
        // Linux fifo_open: each opener gets the end it asked for; a writer
        // that may not wait finds no reader (ENXIO). A blocking opener
        // waits for the other side in the system call.
        let (r, w) = match flags & O_ACCMODE {
            O_RDONLY => (true, false),
            O_WRONLY => (false, true),
            _ => (true, true),
        };
        if w && !r && flags & O_NONBLOCK != 0 && pipe.ends().0 == 0 {
            return Err(ENXIO);
        }
        let read = r.then(|| pipe.open_end(false));
        let write = w.then(|| pipe.open_end(true));
        FileKind::Fifo { inode, read, write }
    } else if crate::fs::dev::is_known(inode.mode(), inode.rdev()) {
        FileKind::Device(inode)
    } else if let Some(&(write, read)) = CONSOLE.get().filter(|_| is_console_node(inode.mode(), inode.rdev())) {
        // The one terminal: the controlling one of every process.
        FileKind::Console { stream: 1, write, read }
    } else {
        // A device with no driver (Linux: ENXIO).
        return Err(ENXIO);
    };
    Ok(File::new(kind, flags))
}

/// A new memfd (Linux `memfd_create`): an unnamed regular file shown as
/// `/memfd:NAME (deleted)`, open for reading and writing, with mode
/// `mode` and the seals `seals` to begin with.
pub fn memfd(fs: &Ramfs, name: &str, mode: u32, seals: u32) -> Result<Arc<File>, Errno> {
    let inode = fs.new_file(fs.root(), alloc::format!("/memfd:{name} (deleted)"), mode)?;
    inode.allow_sealing(seals);
    Ok(File::new(FileKind::Regular(inode), O_RDWR))
}
