//! What a file is and who may change it (Linux `fs/stat.c`, `fs/attr.c`,
//! `fs/open.c`, `fs/statfs.c`, `fs/utimes.c`, `fs/readdir.c`): `stat` and
//! `statx`, `statfs`, `access`, `chmod`, `chown`, `truncate`, `utimensat`,
//! `getdents64`.

use super::*;

/// `fchownat(dirfd, path, owner, group, flags)` (and `chown`, `lchown`,
/// `fchown` through `fd`): the owner and group of a root-filesystem file
/// (-1: unchanged) under Linux's rules ([`crate::fs::perm::chown`]:
/// `EPERM`); files outside the root filesystem (`/proc`, pipes) take it
/// as a no-op.
pub(super) fn sys_fchownat(dirfd: i32, path: Option<u64>, uid: u32, gid: u32, flags: i32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let inode = match path.map(get_path).transpose()? {
        Some(p) if !(p.is_empty() && flags & AT_EMPTY_PATH != 0) => {
            let p = resolve(dirfd, &p)?;
            if let Some(rest) = proc_path(&p) {
                crate::proc::procfs::stat(rest, flags & AT_SYMLINK_NOFOLLOW == 0)?;
                return Ok(0);
            }
            let fs = rootfs()?;
            if flags & AT_SYMLINK_NOFOLLOW != 0 {
                fs.lookup_nofollow(&p)?
            } else {
                fs.lookup(&p)?
            }
        }
        _ => match fd_file(dirfd)?.ramfs_inode() {
            Some(inode) => inode.clone(),
            None => return Ok(0),
        },
    };
    let keep = |id: u32| (id != crate::cred::NO_ID).then_some(id);
    let new = crate::fs::perm::chown(&task().cred, inode.owner(), keep(uid), keep(gid))?;
    inode.set_owner(new);
    Ok(0)
}

/// `faccessat2` (and `access`, `faccessat`): whether the file exists and
/// the caller may use it as `mode` asks, by the rules every other path
/// follows ([`crate::fs::perm::generic_permission`]: `EACCES`; for root,
/// executing needs an execute bit). `EINVAL` for unknown mode bits or
/// flags.
pub(super) fn sys_faccessat(dirfd: i32, path: u64, mode: i32, flags: i32) -> SysResult {
    const AT_EACCESS: i32 = 0x200;
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    // Checked, the lookup included, with the real ids unless AT_EACCESS
    // (Linux `access_override_creds`).
    let t = task();
    let own = t.cred.clone();
    if flags & AT_EACCESS == 0 {
        t.cred = Arc::new(own.for_access());
    }
    let result = access_check(dirfd, path, mode as u32, flags);
    task().cred = own;
    result
}

/// [`sys_faccessat`] with the credentials to check with in place.
fn access_check(dirfd: i32, path: u64, mode: u32, flags: i32) -> SysResult {
    let p = get_path(path)?;
    let f = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        fd_file(dirfd)?
    } else {
        let p = resolve(dirfd, &p)?;
        match proc_path(&p) {
            Some(rest) => crate::proc::procfs::open(rest, file::O_PATH)?,
            None => {
                let fs = rootfs()?;
                let o_flags = if flags & AT_SYMLINK_NOFOLLOW != 0 { file::O_PATH | file::O_NOFOLLOW } else { file::O_PATH };
                file::open(&fs, &p, o_flags, 0)?
            }
        }
    };
    if mode != 0 {
        let st = f.stat();
        let owner = crate::fs::perm::Owner { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode };
        crate::fs::perm::generic_permission(&task().cred, owner, mode)?;
    }
    Ok(0)
}

/// `fchmodat` (and `chmod`, `fchmod` through `fd`): the permission bits of
/// a root-filesystem file, symlinks followed, for its owner or
/// `CAP_FOWNER` (`EPERM`; [`crate::fs::perm::chmod`]). Other files
/// (`/proc`, pipes, the console) take the call as Linux's do for root: it
/// succeeds and nothing they show changes.
pub(super) fn sys_fchmodat(dirfd: i32, path: Option<u64>, mode: u32) -> SysResult {
    let inode = match path {
        None => match fd_file(dirfd)?.ramfs_inode() {
            Some(inode) => inode.clone(),
            None => return Ok(0),
        },
        Some(path) => {
            let p = resolve(dirfd, &get_path(path)?)?;
            if let Some(rest) = proc_path(&p) {
                crate::proc::procfs::open(rest, file::O_PATH)?;
                return Ok(0);
            }
            rootfs()?.lookup(&p)?
        }
    };
    inode.chmod(crate::fs::perm::chmod(&task().cred, inode.owner(), mode)?);
    Ok(0)
}

/// `statx(dirfd, path, flags, mask, buf)`: the `stat` of the file in
/// `struct statx`, every basic field filled (`STATX_BASIC_STATS`) whatever
/// `mask` asks. `EINVAL` for unknown flags, a sync type of 3, or the
/// reserved mask bit.
pub(super) fn sys_statx(dirfd: i32, path: u64, flags: i32, mask: u32, buf: u64) -> SysResult {
    const AT_NO_AUTOMOUNT: i32 = 0x800;
    const AT_STATX_SYNC_TYPE: i32 = 0x6000;
    const STATX_RESERVED: u32 = 0x8000_0000;
    const STATX_BASIC_STATS: u32 = 0x7ff;
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(EINVAL);
    }
    let p = get_path(path)?;
    let st = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        fd_file(dirfd)?.stat()
    } else {
        let p = resolve(dirfd, &p)?;
        match proc_path(&p) {
            Some(rest) => crate::proc::procfs::stat(rest, flags & AT_SYMLINK_NOFOLLOW == 0)?,
            None => {
                let o_flags = if flags & AT_SYMLINK_NOFOLLOW != 0 { file::O_PATH | file::O_NOFOLLOW } else { file::O_PATH };
                file::open(&*rootfs()?, &p, o_flags, 0)?.stat()
            }
        }
    };
    let mut b = [0u8; 256];
    let put = |b: &mut [u8; 256], off: usize, bytes: &[u8]| b[off..off + bytes.len()].copy_from_slice(bytes);
    put(&mut b, 0, &STATX_BASIC_STATS.to_le_bytes());
    put(&mut b, 4, &(st.st_blksize as u32).to_le_bytes());
    put(&mut b, 16, &(st.st_nlink as u32).to_le_bytes());
    put(&mut b, 20, &st.st_uid.to_le_bytes());
    put(&mut b, 24, &st.st_gid.to_le_bytes());
    put(&mut b, 28, &(st.st_mode as u16).to_le_bytes());
    put(&mut b, 32, &st.st_ino.to_le_bytes());
    put(&mut b, 40, &st.st_size.to_le_bytes());
    put(&mut b, 48, &st.st_blocks.to_le_bytes());
    for (off, sec, nsec) in [(64, st.st_atime, st.st_atime_nsec), (96, st.st_ctime, st.st_ctime_nsec), (112, st.st_mtime, st.st_mtime_nsec)] {
        put(&mut b, off, &sec.to_le_bytes());
        put(&mut b, off + 8, &(nsec as u32).to_le_bytes());
    }
    use crate::fs::stat::{major, minor};
    for (off, dev) in [(128, st.st_rdev), (136, st.st_dev)] {
        put(&mut b, off, &major(dev).to_le_bytes());
        put(&mut b, off + 4, &minor(dev).to_le_bytes());
    }
    copy_to_user(buf, &b)?;
    Ok(0)
}

pub(super) fn sys_truncate(path: u64, len: i64) -> SysResult {
    if len < 0 {
        return Err(EINVAL);
    }
    let path = resolve(AT_FDCWD, &get_path(path)?)?;
    rootfs()?.truncate(&path, len as u64)?;
    Ok(0)
}

pub(super) fn sys_ftruncate(fd: i32, len: i64) -> SysResult {
    if len < 0 {
        return Err(EINVAL);
    }
    fd_file(fd)?.truncate(len)?;
    Ok(0)
}

/// `fsync` and `fdatasync`: the files live in memory, nothing to write
/// back.
pub(super) fn sys_fsync(fd: i32) -> SysResult {
    fd_file(fd)?;
    Ok(0)
}

pub(super) fn sys_fstat(fd: i32, statbuf: u64) -> SysResult {
    let st = fd_file(fd)?.stat();
    put_user(statbuf, &st)?;
    Ok(0)
}

/// What `statfs` reports of the filesystem holding a file with device
/// `dev` (Linux `simple_statfs` for ramfs, `proc_fill_super`'s values for
/// proc; the pseudo filesystems of pipes and pidfds alike): its magic,
/// 4 KiB blocks with no count (memory-backed), names up to 255 bytes, and
/// the mount flags.
fn statfs_of(dev: u64) -> Result<[u64; 15], i32> {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const PROC_SUPER_MAGIC: u64 = 0x9fa0;
    const PIPEFS_MAGIC: u64 = 0x5049_5045;
    const ANON_INODE_FS_MAGIC: u64 = 0x0904_1934;
    const ST_VALID: u64 = 0x20;
    const ST_NOSUID: u64 = 2;
    const ST_NODEV: u64 = 4;
    const ST_NOEXEC: u64 = 8;
    const ST_RELATIME: u64 = 0x400;
    use crate::fs::stat::{ANON_INODE_DEV, PIPEFS_DEV, PROC_DEV};
    // f_type f_bsize f_blocks f_bfree f_bavail f_files f_ffree f_fsid
    // f_namelen f_frsize f_flags f_spare[4].
    let [magic, flags] = match dev {
        PROC_DEV => [PROC_SUPER_MAGIC, ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME],
        PIPEFS_DEV => [PIPEFS_MAGIC, ST_VALID],
        ANON_INODE_DEV => [ANON_INODE_FS_MAGIC, ST_VALID],
        // The root filesystem, and the device nodes in it (devtmpfs's
        // magic is tmpfs's).
        _ => {
            let (blocks, files) = crate::proc::rootfs_limits();
            let (used, inodes) = rootfs()?.usage();
            let free = blocks.saturating_sub(used);
            let ffree = files.saturating_sub(inodes);
            return Ok([TMPFS_MAGIC, PAGE_SIZE, blocks, free, free, files, ffree, 0, 255, PAGE_SIZE, ST_VALID | ST_RELATIME, 0, 0, 0, 0]);
        }
    };
    Ok([magic, PAGE_SIZE, 0, 0, 0, 0, 0, 0, 255, PAGE_SIZE, flags, 0, 0, 0, 0])
}

/// `statfs(path, buf)`.
pub(super) fn sys_statfs(path: u64, buf: u64) -> SysResult {
    let p = resolve(AT_FDCWD, &get_path(path)?)?;
    let dev = match proc_path(&p) {
        Some(rest) => crate::proc::procfs::stat(rest, true)?.st_dev,
        None => file::open(&*rootfs()?, &p, file::O_PATH, 0)?.stat().st_dev,
    };
    put_user(buf, &statfs_of(dev)?)?;
    Ok(0)
}

/// `fstatfs(fd, buf)`.
pub(super) fn sys_fstatfs(fd: i32, buf: u64) -> SysResult {
    put_user(buf, &statfs_of(fd_file(fd)?.stat().st_dev)?)?;
    Ok(0)
}

pub(super) fn sys_stat_at(dirfd: i32, path: u64, statbuf: u64, flags: i32) -> SysResult {
    let p = get_path(path)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return sys_fstat(dirfd, statbuf);
    }
    let p = if flags & AT_SYMLINK_NOFOLLOW != 0 { resolve(dirfd, &p)? } else { resolve_follow(dirfd, &p)? };
    let st = if let Some(rest) = proc_path(&p) {
        crate::proc::procfs::stat(rest, flags & AT_SYMLINK_NOFOLLOW == 0)?
    } else {
        let fs = crate::proc::ROOTFS.get().ok_or(ENOENT)?;
        let fs = fs.lock();
        let o_flags = if flags & AT_SYMLINK_NOFOLLOW != 0 { file::O_PATH | file::O_NOFOLLOW } else { file::O_PATH };
        file::open(&fs, &p, o_flags, 0)?.stat()
    };
    put_user(statbuf, &st)?;
    Ok(0)
}

/// `getdents64(2)`.
pub(super) fn sys_getdents64(fd: i32, dirp: u64, count: u32) -> SysResult {
    let f = fd_file(fd)?;
    let count = (count as usize).min(1 << 20);
    let records = f.getdents64(count)?;
    copy_to_user(dirp, &records)?;
    Ok(records.len() as u64)
}

/// `utimensat(dirfd, path, times, flags)`: sets a file's access and
/// modification times from two timespecs (`UTIME_NOW`, `UTIME_OMIT`; no
/// `times`: both now); a NULL `path` names `dirfd` itself (`futimens`).
/// EINVAL for a bad nanosecond field or flag.
pub(super) fn sys_utimensat(dirfd: i32, path: u64, times: u64, flags: i32) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let now = crate::time::realtime_ns();
    let (atime, mtime) = if times == 0 {
        (Some(now), Some(now))
    } else {
        let t: [i64; 4] = get_user(times)?;
        let one = |s: i64, ns: i64| -> Result<Option<i64>, i32> {
            match ns {
                UTIME_NOW => Ok(Some(now)),
                UTIME_OMIT => Ok(None),
                0..=999_999_999 => Ok(Some(s.saturating_mul(1_000_000_000).saturating_add(ns))),
                _ => Err(EINVAL),
            }
        };
        let both_now = t[1] == UTIME_NOW && t[3] == UTIME_NOW;
        let times = (one(t[0], t[1])?, one(t[2], t[3])?);
        if !both_now {
            return set_times(dirfd, path, flags & AT_SYMLINK_NOFOLLOW != 0, times, true);
        }
        times
    };
    set_times(dirfd, path, flags & AT_SYMLINK_NOFOLLOW != 0, (atime, mtime), false)
}

/// `utimes(path, tv)` and `utime(path, buf)`: the same with microseconds
/// or seconds.
pub(super) fn sys_utimes(path: u64, times: u64, micro: bool) -> SysResult {
    let now = crate::time::realtime_ns();
    let (atime, mtime) = if times == 0 {
        return set_times(AT_FDCWD, path, false, (Some(now), Some(now)), false);
    } else if micro {
        let t: [i64; 4] = get_user(times)?;
        if !(0..1_000_000).contains(&t[1]) || !(0..1_000_000).contains(&t[3]) {
            return Err(EINVAL);
        }
        (Some(t[0] * 1_000_000_000 + t[1] * 1000), Some(t[2] * 1_000_000_000 + t[3] * 1000))
    } else {
        let t: [i64; 2] = get_user(times)?;
        (Some(t[0].saturating_mul(1_000_000_000)), Some(t[1].saturating_mul(1_000_000_000)))
    };
    set_times(AT_FDCWD, path, false, (atime, mtime), true)
}

/// Sets the access and modification times (`None`: kept) of the file
/// at `path` (or `dirfd` for a NULL path). `explicit`: times were given,
/// which only the owner or `CAP_FOWNER` may do (`EPERM`); "now" also
/// suits anyone with write permission (`EACCES` otherwise).
fn set_times(dirfd: i32, path: u64, nofollow: bool, (atime, mtime): (Option<i64>, Option<i64>), explicit: bool) -> SysResult {
    let inode = if path == 0 {
        fd_file(dirfd)?.ramfs_inode().cloned().ok_or(EBADF)?
    } else {
        let p = resolve(dirfd, &get_path(path)?)?;
        if proc_path(&p).is_some() {
            return Err(EPERM);
        }
        if nofollow {
            rootfs()?.lookup_nofollow(&p)?
        } else {
            rootfs()?.lookup(&p)?
        }
    };
    crate::fs::perm::may_set_times(&task().cred, inode.owner(), explicit)?;
    inode.set_times(atime, mtime);
    Ok(0)
}
