//! Descriptors (Linux `fs/file.c`, `fs/fcntl.c`, `fs/locks.c`,
//! `mm/memfd.c`): `close`, `dup`, `fcntl` with record and OFD locks and
//! seals, `flock`, `memfd_create`.

use super::*;

pub(super) fn sys_close(fd: i32) -> SysResult {
    let was_pipe = task().files.get(fd).is_some_and(|f| f.is_pipe());
    task().files.close(fd)?;
    if was_pipe {
        // Perhaps the last of an end: readers see end of file, writers EPIPE.
        pipe_event();
    }
    Ok(0)
}

pub(super) fn sys_dup(fd: i32) -> SysResult {
    Ok(task().files.dup(fd, 0, false)? as u64)
}

pub(super) fn sys_dup2(old: i32, new: i32) -> SysResult {
    Ok(task().files.dup2(old, new, false)? as u64)
}

pub(super) fn sys_dup3(old: i32, new: i32, flags: i32) -> SysResult {
    if flags as u32 & !file::O_CLOEXEC != 0 || old == new {
        return Err(EINVAL);
    }
    Ok(task().files.dup2(old, new, flags != 0)? as u64)
}

pub(super) const F_DUPFD: u32 = 0;

pub(super) const F_GETFD: u32 = 1;

pub(super) const F_SETFD: u32 = 2;

pub(super) const F_GETFL: u32 = 3;

pub(super) const F_SETFL: u32 = 4;

pub(super) const F_DUPFD_CLOEXEC: u32 = 1030;

pub(super) const FD_CLOEXEC: u64 = 1;

/// `fcntl` commands on memfd seals (Linux `F_LINUX_SPECIFIC_BASE + 9, 10`).
const F_ADD_SEALS: u32 = 1033;

const F_GET_SEALS: u32 = 1034;

/// `memfd_create(name, flags)`: `MFD_CLOEXEC`, `MFD_ALLOW_SEALING`,
/// `MFD_NOEXEC_SEAL` (mode 0666 and sealed against exec), `MFD_EXEC`.
/// `EINVAL` for other flags (no hugetlbfs here), for both exec flags, and
/// for a name longer than 249 bytes; `EFAULT` for a bad name.
pub(super) fn sys_memfd_create(name: u64, flags: u32) -> SysResult {
    use crate::fs::inode::{F_SEAL_EXEC, F_SEAL_SEAL};
    const MFD_CLOEXEC: u32 = 1;
    const MFD_ALLOW_SEALING: u32 = 2;
    const MFD_NOEXEC_SEAL: u32 = 8;
    const MFD_EXEC: u32 = 0x10;
    const MFD_NAME_MAX_LEN: usize = 255 - "memfd:".len();
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC) != 0 || flags & (MFD_EXEC | MFD_NOEXEC_SEAL) == MFD_EXEC | MFD_NOEXEC_SEAL {
        return Err(EINVAL);
    }
    let name = match crate::proc::uaccess::strncpy_from_user(name, MFD_NAME_MAX_LEN) {
        Err(ENAMETOOLONG) => return Err(EINVAL),
        r => String::from_utf8_lossy(&r?).into_owned(),
    };
    let (mode, mut seals) = if flags & MFD_NOEXEC_SEAL != 0 { (0o666, F_SEAL_EXEC) } else { (0o777, F_SEAL_SEAL) };
    if flags & MFD_ALLOW_SEALING != 0 {
        seals &= !F_SEAL_SEAL;
    }
    let file = crate::fs::file::memfd(&*rootfs()?, &name, mode, seals)?;
    Ok(task().files.install(file, flags & MFD_CLOEXEC != 0)? as u64)
}

/// `fcntl` record-lock commands.
const F_GETLK: u32 = 5;

const F_SETLK: u32 = 6;

const F_SETLKW: u32 = 7;

const F_OFD_GETLK: u32 = 36;

const F_OFD_SETLK: u32 = 37;

const F_OFD_SETLKW: u32 = 38;

/// `struct flock`'s `l_type`.
const F_RDLCK: i16 = 0;

const F_WRLCK: i16 = 1;

const F_UNLCK: i16 = 2;

/// `struct flock` (x86-64): type, whence, start, len, pid.
fn get_flock(arg: u64) -> Result<(i16, i16, i64, i64, i32), i32> {
    let b: [u8; 32] = get_user(arg)?;
    let i64_at = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    Ok((i16::from_le_bytes([b[0], b[1]]), i16::from_le_bytes([b[2], b[3]]), i64_at(8), i64_at(16), i32::from_le_bytes(b[24..28].try_into().expect("4 bytes"))))
}

/// The inclusive byte range a `struct flock` names (Linux
/// `flock_to_posix_lock`): from `whence` + `start`, `len` bytes (0: to the
/// end of the file, however far; negative: the bytes before). `EINVAL`
/// for a bad `whence` or a start before 0, `EOVERFLOW` past the largest
/// offset.
fn lock_range(f: &File, whence: i16, start: i64, len: i64) -> Result<(u64, u64), i32> {
    let base = match whence {
        0 => 0,
        1 => f.pos(),
        2 => f.stat().st_size,
        _ => return Err(EINVAL),
    };
    let start = base.checked_add(start).ok_or(EOVERFLOW)?;
    let (start, end) = match len {
        0 => (start, i64::MAX),
        l if l > 0 => (start, start.checked_add(l - 1).ok_or(EOVERFLOW)?),
        l => (start.checked_add(l).ok_or(EINVAL)?, start - 1),
    };
    if start < 0 {
        return Err(EINVAL);
    }
    Ok((start as u64, if end == i64::MAX { u64::MAX } else { end as u64 }))
}

/// Who owns the locks a `fcntl` call makes: the process, or with the OFD
/// commands the open file description.
fn lock_owner(f: &File, ofd: bool) -> crate::fs::lock::Owner {
    if ofd {
        f.lock_owner()
    } else {
        crate::fs::lock::Owner::Process(task().tgid)
    }
}

/// `F_GETLK`/`F_OFD_GETLK`: the first lock that would stop this one, or
/// `F_UNLCK` in `l_type` if none would.
fn fcntl_getlk(f: &File, arg: u64, ofd: bool) -> SysResult {
    use crate::fs::lock::{Kind, Owner};
    let (ty, whence, start, len, pid) = get_flock(arg)?;
    let kind = match ty {
        F_RDLCK => Kind::Read,
        F_WRLCK => Kind::Write,
        _ => return Err(EINVAL),
    };
    if ofd && pid != 0 {
        return Err(EINVAL);
    }
    let inode = f.ramfs_inode().ok_or(EINVAL)?;
    let (s, e) = lock_range(f, whence, start, len)?;
    let mut b: [u8; 32] = get_user(arg)?;
    match inode.locks.lock().conflict(lock_owner(f, ofd), kind, s, e) {
        None => b[..2].copy_from_slice(&F_UNLCK.to_le_bytes()),
        Some(l) => {
            let ty = if l.kind == Kind::Write { F_WRLCK } else { F_RDLCK };
            let len = if l.end == u64::MAX { 0 } else { (l.end - l.start + 1) as i64 };
            let pid = match l.owner {
                Owner::Process(p) => p as i32,
                Owner::Description(_) => -1,
            };
            b[..2].copy_from_slice(&ty.to_le_bytes());
            b[2..4].copy_from_slice(&0i16.to_le_bytes());
            b[8..16].copy_from_slice(&(l.start as i64).to_le_bytes());
            b[16..24].copy_from_slice(&len.to_le_bytes());
            b[24..28].copy_from_slice(&pid.to_le_bytes());
        }
    }
    put_user(arg, &b)?;
    Ok(0)
}

/// `F_SETLK`/`F_SETLKW` and their OFD forms: takes or drops a record
/// lock. A read lock needs the file open for reading, a write lock for
/// writing (`EBADF`); a conflict is `EAGAIN`, or with the waiting forms a
/// sleep until it is gone (interrupted by a signal). No deadlock
/// detection (`EDEADLK`) yet.
fn fcntl_setlk(f: &File, arg: u64, ofd: bool, wait: bool) -> SysResult {
    use crate::fs::lock::Kind;
    let (ty, whence, start, len, pid) = get_flock(arg)?;
    let kind = match ty {
        F_RDLCK if !f.readable() => return Err(EBADF),
        F_WRLCK if !f.writable() => return Err(EBADF),
        F_RDLCK => Some(Kind::Read),
        F_WRLCK => Some(Kind::Write),
        F_UNLCK => None,
        _ => return Err(EINVAL),
    };
    if ofd && pid != 0 {
        return Err(EINVAL);
    }
    let inode = f.ramfs_inode().ok_or(EINVAL)?;
    let (s, e) = lock_range(f, whence, start, len)?;
    let owner = lock_owner(f, ofd);
    loop {
        if inode.locks.lock().set(owner, kind, s, e).is_ok() {
            if kind.is_none() {
                crate::proc::sched::wake_events();
            }
            return Ok(0);
        }
        if !wait {
            return Err(EAGAIN);
        }
        if crate::proc::signal::frame::signal_pending() {
            return Err(crate::proc::signal::frame::ERESTARTSYS);
        }
        crate::proc::sched::wait_event(u64::MAX);
    }
}

/// `flock(fd, op)`: a whole-file lock owned by the open file description,
/// `LOCK_SH` or `LOCK_EX` (waiting unless `LOCK_NB`: then `EWOULDBLOCK`),
/// or `LOCK_UN`. `EINVAL` for another operation.
pub(super) fn sys_flock(fd: i32, op: u32) -> SysResult {
    use crate::fs::lock::Kind;
    const LOCK_SH: u32 = 1;
    const LOCK_EX: u32 = 2;
    const LOCK_NB: u32 = 4;
    const LOCK_UN: u32 = 8;
    let f = fd_file(fd)?;
    let kind = match op & !LOCK_NB {
        LOCK_SH => Some(Kind::Read),
        LOCK_EX => Some(Kind::Write),
        LOCK_UN => None,
        _ => return Err(EINVAL),
    };
    let inode = f.ramfs_inode().ok_or(EINVAL)?;
    loop {
        if inode.locks.lock().flock(f.lock_owner(), kind).is_ok() {
            if kind.is_none() {
                crate::proc::sched::wake_events();
            }
            return Ok(0);
        }
        if op & LOCK_NB != 0 {
            return Err(EAGAIN);
        }
        if crate::proc::signal::frame::signal_pending() {
            return Err(crate::proc::signal::frame::ERESTARTSYS);
        }
        crate::proc::sched::wait_event(u64::MAX);
    }
}

pub(super) fn sys_fcntl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let files = &mut task().files;
    let f = files.get(fd).ok_or(EBADF)?;
    match cmd {
        // The lowest descriptor at or above `arg` (`int`, as Linux reads
        // it): EINVAL when negative or not below RLIMIT_NOFILE.
        F_DUPFD | F_DUPFD_CLOEXEC => Ok(files.dup(fd, arg as i32, cmd == F_DUPFD_CLOEXEC)? as u64),
        F_GETFD => Ok(if files.cloexec(fd)? { FD_CLOEXEC } else { 0 }),
        F_SETFD => {
            files.set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(f.flags() as u64),
        F_SETFL => {
            f.set_flags(arg as u32)?;
            Ok(0)
        }
        F_ADD_SEALS => {
            let inode = f.inode().ok_or(EINVAL)?;
            inode.get_seals()?;
            if !f.writable() {
                return Err(EPERM);
            }
            inode.add_seals(arg as u32, || crate::proc::mm::mapped_shared_writable(&inode))?;
            Ok(0)
        }
        F_GET_SEALS => Ok(u64::from(f.inode().ok_or(EINVAL)?.get_seals()?)),
        F_GETLK | F_OFD_GETLK => fcntl_getlk(&f, arg, cmd == F_OFD_GETLK),
        F_SETLK | F_SETLKW | F_OFD_SETLK | F_OFD_SETLKW => {
            fcntl_setlk(&f, arg, matches!(cmd, F_OFD_SETLK | F_OFD_SETLKW), matches!(cmd, F_SETLKW | F_OFD_SETLKW))
        }
        _ => Err(EINVAL),
    }
}
