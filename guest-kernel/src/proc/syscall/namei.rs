//! Paths and names (Linux `fs/namei.c`, `fs/open.c`): resolving a path
//! against a directory descriptor and `/proc`'s links, `open` and
//! `openat2`, the working directory, and what makes and removes names:
//! `mkdir`, `unlink`, `rename`, `mknod`, `link`, `symlink`, `readlink`.

use super::*;

/// `openat2(dirfd, path, how, size)`: `openat` with a `struct open_how`
/// (flags, mode, resolve) that is checked strictly: unknown flags or
/// resolve bits, a mode without `O_CREAT`/`O_TMPFILE`, a `size` below 24
/// are `EINVAL`; unknown non-zero fields past what we know `E2BIG`. Of
/// the resolve rules, `RESOLVE_NO_SYMLINKS` (`ELOOP`), `RESOLVE_NO_XDEV`
/// (no way into `/proc`: `EXDEV`), `RESOLVE_NO_MAGICLINKS` (no
/// `/proc/PID/fd` links: `ELOOP`), `RESOLVE_BENEATH` (no absolute path or
/// `..` above `dirfd`: `EXDEV`) and `RESOLVE_CACHED` (as good as cached
/// here; `EAGAIN` with `O_CREAT`, `O_TRUNC` or `O_TMPFILE`) apply;
/// `RESOLVE_IN_ROOT` is taken as `RESOLVE_BENEATH` (`EXDEV` instead of
/// clamping at `dirfd`).
pub(super) fn sys_openat2(dirfd: i32, path: u64, how: u64, size: u64) -> SysResult {
    const RESOLVE_NO_XDEV: u64 = 1;
    const RESOLVE_NO_MAGICLINKS: u64 = 2;
    const RESOLVE_NO_SYMLINKS: u64 = 4;
    const RESOLVE_BENEATH: u64 = 8;
    const RESOLVE_IN_ROOT: u64 = 0x10;
    const RESOLVE_CACHED: u64 = 0x20;
    const VALID_OPEN_FLAGS: u64 = 0o37_777_703 | file::O_PATH as u64 | file::__O_TMPFILE as u64;
    if size < 24 {
        return Err(EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(E2BIG);
    }
    let mut raw = alloc::vec![0u8; size as usize];
    copy_from_user(&mut raw, how)?;
    if raw[24..].iter().any(|&b| b != 0) {
        return Err(E2BIG);
    }
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (flags, mode, res) = (word(0), word(1), word(2));
    if flags & !VALID_OPEN_FLAGS != 0 || res & !0x3f != 0 || mode & !0o7777 != 0 {
        return Err(EINVAL);
    }
    if mode != 0 && flags & (file::O_CREAT | file::__O_TMPFILE) as u64 == 0 {
        return Err(EINVAL);
    }
    if res & RESOLVE_CACHED != 0 && flags & (file::O_CREAT | file::O_TRUNC | file::__O_TMPFILE) as u64 != 0 {
        return Err(EAGAIN);
    }
    let p = get_path(path)?;
    if res & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0 {
        let mut depth = 0i32;
        for c in p.split('/').filter(|c| !c.is_empty() && *c != ".") {
            depth += if c == ".." { -1 } else { 1 };
            if depth < 0 {
                return Err(EXDEV);
            }
        }
        if p.starts_with('/') {
            return Err(EXDEV);
        }
    }
    let full = resolve(dirfd, &p)?;
    if res & RESOLVE_NO_XDEV != 0 && proc_path(&full).is_some() != dirfd_in_proc(dirfd, &p) {
        return Err(EXDEV);
    }
    if res & RESOLVE_NO_MAGICLINKS != 0 && full.split('/').nth(3).is_some_and(|c| c == "fd") && proc_path(&full).is_some() {
        return Err(ELOOP);
    }
    if res & RESOLVE_NO_SYMLINKS != 0 && proc_path(&full).is_none() {
        let fs = rootfs()?;
        let mut prefix = String::new();
        for c in full.split('/').filter(|c| !c.is_empty()) {
            prefix.push('/');
            prefix.push_str(c);
            if fs.lookup_nofollow(&prefix).is_ok_and(|i| i.is_symlink()) {
                return Err(ELOOP);
            }
        }
    }
    sys_openat(dirfd, path, flags as i32, mode as u32)
}

/// Whether `dirfd` (and so a relative `path`) starts inside `/proc`.
fn dirfd_in_proc(dirfd: i32, path: &str) -> bool {
    if path.starts_with('/') {
        return false;
    }
    if dirfd == AT_FDCWD {
        return task().fs.cwd.starts_with("/proc");
    }
    fd_file(dirfd).is_ok_and(|f| f.ramfs_inode().is_none() && matches!(f.kind(), crate::fs::file::FileKind::ListedDir { .. }))
}

pub(super) const AT_FDCWD: i32 = -100;

pub(super) const AT_SYMLINK_NOFOLLOW: i32 = 0x100;

pub(super) const AT_REMOVEDIR: i32 = 0x200;

pub(super) const AT_EMPTY_PATH: i32 = 0x1000;

/// Resolves a path argument: absolute as it is, relative from the working
/// directory (`AT_FDCWD`) or from the directory open at `dirfd`
/// (`ENOTDIR` for another kind of file, `EBADF` for no file).
pub(super) fn resolve(dirfd: i32, path: &str) -> Result<String, i32> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if in_pseudo_fs(path) {
        return Ok(lexical(path));
    }
    if path.starts_with('/') {
        return Ok(through_proc_link(String::from(path), false));
    }
    let base = if dirfd == AT_FDCWD {
        task().fs.cwd.clone()
    } else {
        let f = fd_file(dirfd)?;
        match f.ramfs_inode() {
            Some(inode) if inode.is_dir() => inode.path(),
            _ => return Err(ENOTDIR),
        }
    };
    let joined = if base.ends_with('/') { alloc::format!("{base}{path}") } else { alloc::format!("{base}/{path}") };
    Ok(if in_pseudo_fs(&joined) { lexical(&joined) } else { through_proc_link(joined, false) })
}

/// A path through one of `/dev`'s links into `/proc` (`/dev/fd/3`; with
/// `follow_last`, also the link itself: `/dev/stdin`), as the path it
/// leads to: the root filesystem's walk does not go into `/proc`.
fn through_proc_link(path: String, follow_last: bool) -> String {
    let Some(rest) = path.strip_prefix("/dev/") else { return path };
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if tail.is_empty() && !follow_last {
        return path;
    }
    let target = rootfs().ok().and_then(|fs| fs.lookup_nofollow(&alloc::format!("/dev/{name}")).ok()).and_then(|i| i.link_target().map(String::from));
    match target {
        Some(t) if t.starts_with("/proc/") && !tail.is_empty() => lexical(&alloc::format!("{t}/{tail}")),
        Some(t) if t.starts_with("/proc/") => t,
        _ => path,
    }
}

/// [`resolve`], then the last component followed too when it is a
/// `/dev` link into `/proc` (what `open` and `stat` do).
pub(super) fn resolve_follow(dirfd: i32, path: &str) -> Result<String, i32> {
    Ok(through_proc_link(resolve(dirfd, path)?, true))
}

/// `path` with its `.` and `..` components worked out by name (for
/// `/proc`, whose directories are not in the root filesystem's tree and
/// have no symlinks to directories above them but `self`'s siblings).
fn lexical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::new();
    for c in parts {
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `chdir`: the directory at `path` (followed) becomes the working one,
/// named by its own path (symlinks and `..` resolved, as Linux's dentry
/// path is).
pub(super) fn sys_chdir(path: u64) -> SysResult {
    let path = resolve(AT_FDCWD, &get_path(path)?)?;
    if let Some(rest) = proc_path(&path) {
        // A directory of /proc: the working directory is its path.
        if crate::proc::procfs::stat(rest, true)?.st_mode & crate::fs::stat::S_IFMT != crate::fs::stat::S_IFDIR {
            return Err(ENOTDIR);
        }
        task().fs.cwd = path;
        return Ok(0);
    }
    let inode = rootfs()?.lookup(&path)?;
    if !inode.is_dir() {
        return Err(ENOTDIR);
    }
    may_search(&inode)?;
    task().fs.cwd = inode.path();
    Ok(0)
}

/// Search permission on a directory to work in (`EACCES`).
fn may_search(dir: &crate::fs::inode::Inode) -> Result<(), i32> {
    crate::fs::perm::generic_permission(&task().cred, dir.owner(), crate::fs::perm::MAY_EXEC)
}

/// `fchdir`: the directory open at `fd`.
pub(super) fn sys_fchdir(fd: i32) -> SysResult {
    let f = fd_file(fd)?;
    let inode = f.ramfs_inode().filter(|i| i.is_dir()).ok_or(ENOTDIR)?;
    may_search(inode)?;
    task().fs.cwd = inode.path();
    Ok(0)
}

pub(super) fn sys_openat(dirfd: i32, path: u64, flags: i32, mode: u32) -> SysResult {
    let flags = flags as u32;
    let path = get_path(path)?;
    let path = if flags & file::O_NOFOLLOW != 0 { resolve(dirfd, &path)? } else { resolve_follow(dirfd, &path)? };
    let f = if let Some(rest) = proc_path(&path) {
        crate::proc::procfs::open(rest, flags)?
    } else {
        let fs = crate::proc::ROOTFS.get().ok_or(ENOENT)?;
        let fs = fs.lock();
        file::open(&fs, &path, flags, mode & !task().fs.umask)?
    };
    if f.is_pipe() {
        // A FIFO: its other side may be waiting for this opener.
        pipe_event();
        if let Some((pipe, for_writer)) = f.fifo_wait() {
            // Linux wait_for_partner: until the other side opens.
            let (reads, writes) = pipe.opens();
            let before = if for_writer { writes } else { reads };
            loop {
                let (r, w) = pipe.opens();
                if (if for_writer { w } else { r }) != before {
                    break;
                }
                if crate::proc::signal::frame::signal_pending() {
                    return Err(crate::proc::signal::frame::ERESTARTSYS);
                }
                crate::proc::sched::wait_event(u64::MAX);
            }
        }
    }
    let fd = task().files.install(f, flags & file::O_CLOEXEC != 0)?;
    Ok(fd as u64)
}

/// `readlinkat` (and `readlink`, `dirfd` AT_FDCWD): a symlink's target,
/// cut to `size` bytes, no NUL; `/proc/self/exe` and `/proc/PID/exe` name
/// the program a process runs. EINVAL for what is not a symlink.
pub(super) fn sys_readlinkat(dirfd: i32, path: u64, buf: u64, size: i32) -> SysResult {
    if size <= 0 {
        return Err(EINVAL);
    }
    let path = resolve(dirfd, &get_path(path)?)?;
    let target = match proc_path(&path) {
        Some(rest) => crate::proc::procfs::readlink(rest)?,
        None => {
            let inode = rootfs()?.lookup_nofollow(&path)?;
            String::from(inode.link_target().ok_or(EINVAL)?)
        }
    };
    let n = target.len().min(size as usize);
    copy_to_user(buf, &target.as_bytes()[..n])?;
    Ok(n as u64)
}

/// `symlinkat` (and `symlink`): a link at `linkpath` to `target`.
pub(super) fn sys_symlinkat(target: u64, newdirfd: i32, linkpath: u64) -> SysResult {
    let target = get_path(target)?;
    let path = resolve(newdirfd, &get_path(linkpath)?)?;
    rootfs()?.symlink(&target, &path)?;
    Ok(0)
}

/// The part of `path` below `/proc` (empty for `/proc` itself), if it is
/// there; a path in `/sys`, which the proc layer also serves, whole.
pub(super) fn proc_path(path: &str) -> Option<&str> {
    if path == "/proc" {
        Some("")
    } else if path == "/sys" || path.starts_with("/sys/") {
        Some(path)
    } else {
        path.strip_prefix("/proc/")
    }
}

/// Whether `path` lies in one of the pseudo filesystems (`/proc`, `/sys`),
/// whose paths are resolved by their text.
fn in_pseudo_fs(path: &str) -> bool {
    path.starts_with("/proc/") || path.starts_with("/sys/")
}

/// The root filesystem, locked.
pub(super) fn rootfs() -> Result<crate::sync::SpinLockGuard<'static, crate::fs::ramfs::Ramfs>, i32> {
    Ok(crate::proc::ROOTFS.get().ok_or(ENOENT)?.lock())
}

pub(super) fn sys_mkdirat(dirfd: i32, path: u64, mode: u32) -> SysResult {
    let path = resolve(dirfd, &get_path(path)?)?;
    rootfs()?.mkdir(&path, mode & !task().fs.umask)?;
    Ok(0)
}

/// `unlinkat`, and `unlink` and `rmdir` (flags 0 and `AT_REMOVEDIR`).
pub(super) fn sys_unlinkat(dirfd: i32, path: u64, flags: i32) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let path = resolve(dirfd, &get_path(path)?)?;
    let fs = rootfs()?;
    if flags & AT_REMOVEDIR != 0 {
        fs.rmdir(&path)?;
    } else {
        fs.unlink(&path)?;
    }
    Ok(0)
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)` (and `rename`,
/// `renameat`); `EXDEV` into or out of `/proc`.
pub(super) fn sys_renameat2(olddirfd: i32, old: u64, newdirfd: i32, new: u64, flags: u32) -> SysResult {
    let old = resolve(olddirfd, &get_path(old)?)?;
    let new = resolve(newdirfd, &get_path(new)?)?;
    if proc_path(&old).is_some() || proc_path(&new).is_some() {
        return Err(EXDEV);
    }
    rootfs()?.rename2(&old, &new, flags)?;
    Ok(0)
}

/// `mknodat(dirfd, path, mode, dev)` (and `mknod`): a FIFO, socket,
/// character or block device node, or (type 0 or `S_IFREG`) an empty
/// regular file, with the umask applied. `EPERM` for a directory,
/// `EINVAL` for an unknown type, `EEXIST` for a taken name.
pub(super) fn sys_mknodat(dirfd: i32, path: u64, mode: u32, dev: u32) -> SysResult {
    use crate::fs::stat::{S_IFDIR, S_IFMT, S_IFREG};
    let path = resolve(dirfd, &get_path(path)?)?;
    if proc_path(&path).is_some() {
        return Err(EEXIST);
    }
    let perm = mode & 0o7777 & !task().fs.umask;
    let fs = rootfs()?;
    match mode & S_IFMT {
        0 | S_IFREG => {
            file::open(&fs, &path, file::O_CREAT | file::O_EXCL | file::O_WRONLY, perm)?;
        }
        S_IFDIR => return Err(EPERM),
        t @ (crate::fs::stat::S_IFCHR | crate::fs::stat::S_IFBLK | crate::fs::stat::S_IFIFO | crate::fs::stat::S_IFSOCK) => {
            // The old 16-bit dev_t encoding (`new_decode_dev`).
            let rdev = crate::fs::stat::makedev((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
            fs.mknod(&path, t | perm, rdev)?;
        }
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// `getcwd`: the working directory and a NUL; ERANGE when `size` is too
/// small for them.
pub(super) fn sys_getcwd(buf: u64, size: u64) -> SysResult {
    let mut cwd = task().fs.cwd.clone().into_bytes();
    cwd.push(0);
    if (size as usize) < cwd.len() {
        return Err(ERANGE);
    }
    copy_to_user(buf, &cwd)?;
    Ok(cwd.len() as u64)
}

/// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)` (and `link`): a
/// hard link; `AT_SYMLINK_FOLLOW` links what a symlink points to. EPERM
/// for a directory, EEXIST for a taken name, EXDEV into `/proc`.
pub(super) fn sys_linkat(olddirfd: i32, oldpath: u64, newdirfd: i32, newpath: u64, flags: i32) -> SysResult {
    const AT_SYMLINK_FOLLOW: i32 = 0x400;
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let old = resolve(olddirfd, &get_path(oldpath)?)?;
    let new = resolve(newdirfd, &get_path(newpath)?)?;
    if proc_path(&old).is_some() || proc_path(&new).is_some() {
        return Err(EXDEV);
    }
    rootfs()?.link(&old, &new, flags & AT_SYMLINK_FOLLOW != 0)?;
    Ok(0)
}
