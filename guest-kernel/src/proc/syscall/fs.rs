//! File system calls: read, write, open, close, the *at() calls, dup,
//! fcntl, pipes, stat, truncate, ioctl.

use super::*;

pub(super) const IO_CHUNK: usize = 4096;

/// Runs `op` on a file, sleeping and retrying while it would block (a
/// pipe that is empty or full) unless the description is `O_NONBLOCK`.
/// A signal ends the wait (`EINTR`, or a restart after a handler with
/// `SA_RESTART`).
pub(super) fn blocking<T>(f: &File, mut op: impl FnMut() -> Result<T, i32>) -> Result<T, i32> {
    loop {
        match op() {
            Err(EAGAIN) if f.is_pipe() && f.flags() & file::O_NONBLOCK == 0 => {
                if crate::proc::signal::frame::signal_pending() {
                    return Err(crate::proc::signal::frame::ERESTARTSYS);
                }
                // Woken by the other end: a read, a write, a closed end.
                crate::proc::sched::wait_event(u64::MAX);
            }
            r => {
                if f.is_pipe() {
                    pipe_event();
                }
                return r;
            }
        }
    }
}

/// A pipe gained data or room or lost an end: its waiters (and poll's)
/// look again.
pub(super) fn pipe_event() {
    crate::proc::sched::wake_events();
}

pub(super) fn sys_read(fd: i32, buf: u64, count: u64) -> SysResult {
    let f = fd_file(fd)?;
    let count = count.min(0x7fff_f000) as usize;
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        if done > 0 && crate::proc::sched::cond_resched() {
            break;
        }
        let want = (count - done).min(kbuf.len());
        // Only the first chunk waits: a pipe read returns what is there.
        let r = if done == 0 { blocking(&f, || f.read(&mut kbuf[..want])) } else { f.read(&mut kbuf[..want]) };
        let n = match r {
            Ok(n) => n,
            Err(EAGAIN) if done > 0 => break,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        if let Err(e) = copy_to_user(buf + done as u64, &kbuf[..n]) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        done += n;
        if n < want {
            break;
        }
    }
    if done > 0 && f.is_pipe() {
        // The chunks after the first made room too: a writer waiting for
        // it must hear of the last of them.
        pipe_event();
    }
    Ok(done as u64)
}

pub(super) fn sys_write(fd: i32, buf: u64, count: u64) -> SysResult {
    let f = fd_file(fd)?;
    let count = count.min(0x7fff_f000) as usize;
    if count == 0 {
        // The checks still apply (Linux: EBADF for a zero count).
        return Ok(f.write(&[])? as u64);
    }
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        if done > 0 && crate::proc::sched::cond_resched() {
            break;
        }
        let n = (count - done).min(kbuf.len());
        if let Err(e) = copy_from_user(&mut kbuf[..n], buf + done as u64) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        if f.is_pipe() {
            // A blocking pipe write waits until all of it is in.
            let mut off = 0;
            while off < n {
                match blocking(&f, || f.write(&kbuf[off..n])) {
                    Ok(w) => off += w,
                    Err(EPIPE) => {
                        // SIGPIPE to the writer (which may ignore or catch
                        // it); the call says EPIPE.
                        let (me, tgid) = (task().pid, task().tgid);
                        crate::proc::signal::send_to_thread(
                            me,
                            13,
                            crate::proc::signal::SigInfo { code: crate::proc::signal::SI_USER, pid: tgid, ..Default::default() },
                        );
                        return if done + off > 0 { Ok((done + off) as u64) } else { Err(EPIPE) };
                    }
                    Err(_) if done + off > 0 => return Ok((done + off) as u64),
                    Err(e) => return Err(e),
                }
            }
            done += n;
            continue;
        }
        let w = match f.write(&kbuf[..n]) {
            Ok(w) => w,
            // What was written counts (a file that fills memory part-way).
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += w;
        if w < n {
            break;
        }
    }
    Ok(done as u64)
}

/// `pipe2(2)` (and `pipe(2)`, flags 0): `O_CLOEXEC` and `O_NONBLOCK`.
pub(super) fn sys_pipe2(fds: u64, flags: i32) -> SysResult {
    let flags = flags as u32;
    if flags & !(file::O_CLOEXEC | file::O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let (r, w) = File::pipe(flags);
    let cloexec = flags & file::O_CLOEXEC != 0;
    let t = task();
    let rfd = t.files.install(r, cloexec)?;
    let wfd = match t.files.install(w, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.files.close(rfd);
            return Err(e);
        }
    };
    if let Err(e) = put_user(fds, &[rfd, wfd]) {
        let _ = t.files.close(rfd);
        let _ = t.files.close(wfd);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn sys_pwrite64(fd: i32, buf: u64, count: u64, off: i64) -> SysResult {
    let f = fd_file(fd)?;
    if off < 0 {
        return Err(EINVAL);
    }
    let count = count.min(0x7fff_f000) as usize;
    if count == 0 {
        // The checks still apply (Linux: EBADF, ESPIPE for a zero count).
        return Ok(f.pwrite(&[], off)? as u64);
    }
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count)];
    while done < count {
        if done > 0 && crate::proc::sched::cond_resched() {
            break;
        }
        let n = (count - done).min(kbuf.len());
        if let Err(e) = copy_from_user(&mut kbuf[..n], buf + done as u64) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        let w = match f.pwrite(&kbuf[..n], off + done as i64) {
            Ok(w) => w,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += w;
        if w < n {
            break;
        }
    }
    Ok(done as u64)
}

/// Writes all of `data` to `f` from the kernel, waiting for room in a
/// pipe (a broken pipe is SIGPIPE and `EPIPE`, as `write` gives); the
/// count written, short only when something went wrong after a part.
fn write_all(f: &File, data: &[u8]) -> Result<usize, i32> {
    let mut off = 0;
    while off < data.len() {
        match blocking(f, || f.write(&data[off..])) {
            Ok(0) => break,
            Ok(w) => off += w,
            Err(EPIPE) => {
                let (me, tgid) = (task().pid, task().tgid);
                let info = crate::proc::signal::SigInfo { code: crate::proc::signal::SI_USER, pid: tgid, ..Default::default() };
                crate::proc::signal::send_to_thread(me, 13, info);
                return if off > 0 { Ok(off) } else { Err(EPIPE) };
            }
            Err(_) if off > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(off)
}

/// `sendfile(out_fd, in_fd, offset, count)` (Linux `do_sendfile`): copies
/// in the kernel from `in_fd` (at `*offset`, which then moves and the
/// file's own offset stays, or at and moving its file offset) to
/// `out_fd`. `EBADF` unless `in_fd` reads and `out_fd` writes; `EINVAL`
/// for an `O_APPEND` output; `ESPIPE` for an offset on an input without
/// one; `EFAULT` for a bad offset pointer.
pub(super) fn sys_sendfile(out_fd: i32, in_fd: i32, offset: u64, count: u64) -> SysResult {
    let (inp, out) = (fd_file(in_fd)?, fd_file(out_fd)?);
    if !inp.readable() || !out.writable() {
        return Err(EBADF);
    }
    if out.flags() & file::O_APPEND != 0 {
        return Err(EINVAL);
    }
    let mut pos = if offset != 0 {
        if inp.is_pipe() || inp.is_console() {
            return Err(ESPIPE);
        }
        let p: i64 = get_user(offset)?;
        if p < 0 {
            return Err(EINVAL);
        }
        Some(p)
    } else {
        None
    };
    let count = count.min(0x7fff_f000) as usize;
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        if done > 0 && crate::proc::sched::cond_resched() {
            break;
        }
        let want = (count - done).min(kbuf.len());
        let r = match pos {
            Some(p) => inp.pread(&mut kbuf[..want], p),
            None if done == 0 => blocking(&inp, || inp.read(&mut kbuf[..want])),
            None => inp.read(&mut kbuf[..want]),
        };
        let n = match r {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let w = match write_all(&out, &kbuf[..n]) {
            Ok(w) => w,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += w;
        if let Some(p) = pos.as_mut() {
            *p += w as i64;
        }
        if w < n || n < want {
            break;
        }
    }
    if done > 0 && inp.is_pipe() {
        pipe_event();
    }
    if let Some(p) = pos {
        put_user(offset, &p)?;
    }
    Ok(done as u64)
}

/// `copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)`: copies
/// between regular files, at the given offsets (then moved) or the
/// files' own. `EINVAL` for flags, a file that is not regular, or
/// overlapping ranges of one file; `EISDIR` for a directory; `EBADF` for
/// the wrong access or an `O_APPEND` output.
pub(super) fn sys_copy_file_range(fd_in: i32, off_in: u64, fd_out: i32, off_out: u64, len: u64, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let (inp, out) = (fd_file(fd_in)?, fd_file(fd_out)?);
    if !inp.readable() || !out.writable() || out.flags() & file::O_APPEND != 0 {
        return Err(EBADF);
    }
    let (Some(src), Some(dst)) = (inp.inode(), out.inode()) else {
        let dir = |f: &File| f.ramfs_inode().is_some_and(|i| i.is_dir());
        return Err(if dir(&inp) || dir(&out) { EISDIR } else { EINVAL });
    };
    let get_off = |ptr: u64, f: &File| -> Result<i64, i32> {
        let p = if ptr != 0 { get_user::<i64>(ptr)? } else { f.pos() };
        if p < 0 {
            Err(EINVAL)
        } else {
            Ok(p)
        }
    };
    let (mut pin, mut pout) = (get_off(off_in, &inp)?, get_off(off_out, &out)?);
    let len = len.min(0x7fff_f000);
    if alloc::sync::Arc::ptr_eq(&src, &dst) && (pin as u64) < pout as u64 + len && (pout as u64) < pin as u64 + len {
        return Err(EINVAL);
    }
    let mut done = 0u64;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK];
    while done < len {
        let want = ((len - done) as usize).min(kbuf.len());
        let n = src.read_at(pin as u64, &mut kbuf[..want]);
        if n == 0 {
            break;
        }
        let w = match dst.write_at(pout as u64, &kbuf[..n]) {
            Ok(w) => w,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        done += w as u64;
        pin += w as i64;
        pout += w as i64;
        if w < n {
            break;
        }
    }
    if off_in != 0 {
        put_user(off_in, &pin)?;
    } else {
        inp.lseek(pin, 0)?;
    }
    if off_out != 0 {
        put_user(off_out, &pout)?;
    } else {
        out.lseek(pout, 0)?;
    }
    Ok(done)
}

pub(super) fn sys_pread64(fd: i32, buf: u64, count: u64, off: i64) -> SysResult {
    let f = fd_file(fd)?;
    if off < 0 {
        return Err(EINVAL);
    }
    let count = count.min(0x7fff_f000) as usize;
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; IO_CHUNK.min(count.max(1))];
    while done < count {
        if done > 0 && crate::proc::sched::cond_resched() {
            break;
        }
        let want = (count - done).min(kbuf.len());
        let n = f.pread(&mut kbuf[..want], off + done as i64)?;
        if n == 0 {
            break;
        }
        if let Err(e) = copy_to_user(buf + done as u64, &kbuf[..n]) {
            return if done > 0 { Ok(done as u64) } else { Err(e) };
        }
        done += n;
    }
    Ok(done as u64)
}

/// The loop of `readv`, `writev` and their positioned forms (Linux
/// `do_loop_readv_writev`): `io(base, len, done)` on each buffer in turn,
/// stopping at a short transfer; an error after some bytes moved ends the
/// loop with what moved, as Linux's. More than 1024 buffers or a negative
/// length is `EINVAL`. Not inlined: it is not hot, and a breakpoint on a
/// caller should stop in the caller.
#[inline(never)]
fn iov_each(iov: u64, iovcnt: u64, mut io: impl FnMut(u64, u64, u64) -> SysResult) -> SysResult {
    if iovcnt > 1024 {
        return Err(EINVAL);
    }
    let mut total = 0u64;
    for i in 0..iovcnt {
        let [base, len]: [u64; 2] = get_user(iov + i * 16)?;
        if (len as i64) < 0 {
            return Err(EINVAL);
        }
        if len == 0 {
            continue;
        }
        let n = match io(base, len, total) {
            Ok(n) => n,
            Err(_) if total > 0 => break,
            Err(e) => return Err(e),
        };
        total += n;
        if n < len {
            break;
        }
    }
    Ok(total)
}

/// `readv`: into each buffer in turn, stopping at a short read (what was
/// read so far is the result, as Linux's).
pub(super) fn sys_readv(fd: i32, iov: u64, iovcnt: u64) -> SysResult {
    fd_file(fd)?;
    iov_each(iov, iovcnt, |base, len, _| sys_read(fd, base, len))
}

/// `writev`. Out of line, as Linux's handlers are: small enough now to be
/// inlined into its callers, it would give `break sys_writev` in gdb
/// several locations.
#[inline(never)]
pub(super) fn sys_writev(fd: i32, iov: u64, iovcnt: u64) -> SysResult {
    iov_each(iov, iovcnt, |base, len, _| sys_write(fd, base, len))
}

/// `preadv`/`pwritev` (and their `2` forms, whose flags other than 0
/// are refused: no `RWF_*` here): [`sys_readv`]/[`sys_writev`] at
/// `offset`, the file offset unchanged; `offset` -1 with the `2` forms
/// means the file offset, as `readv`/`writev`.
pub(super) fn sys_preadv(fd: i32, iov: u64, iovcnt: u64, offset: i64, flags: u32, write: bool) -> SysResult {
    if flags != 0 {
        return Err(EOPNOTSUPP);
    }
    if offset == -1 {
        return if write { sys_writev(fd, iov, iovcnt) } else { sys_readv(fd, iov, iovcnt) };
    }
    if offset < 0 {
        return Err(EINVAL);
    }
    let f = fd_file(fd)?;
    if f.is_pipe() || f.is_console() {
        return Err(ESPIPE);
    }
    iov_each(iov, iovcnt, |base, len, done| {
        let at = offset + done as i64;
        if write {
            sys_pwrite64(fd, base, len, at)
        } else {
            sys_pread64(fd, base, len, at)
        }
    })
}

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
    if path.starts_with("/proc/") {
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
    Ok(if joined.starts_with("/proc/") { lexical(&joined) } else { through_proc_link(joined, false) })
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
/// there.
pub(super) fn proc_path(path: &str) -> Option<&str> {
    if path == "/proc" {
        Some("")
    } else {
        path.strip_prefix("/proc/")
    }
}

pub(super) fn sys_close(fd: i32) -> SysResult {
    let was_pipe = task().files.get(fd).is_some_and(|f| f.is_pipe());
    task().files.close(fd)?;
    if was_pipe {
        // Perhaps the last of an end: readers see end of file, writers EPIPE.
        pipe_event();
    }
    Ok(0)
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

pub(super) fn sys_lseek(fd: i32, off: i64, whence: u32) -> SysResult {
    let f = fd_file(fd)?;
    Ok(f.lseek(off, whence)? as u64)
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
            let (blocks, files) = rootfs_limits();
            let (used, inodes) = rootfs()?.usage();
            let free = blocks.saturating_sub(used);
            let ffree = files.saturating_sub(inodes);
            return Ok([TMPFS_MAGIC, PAGE_SIZE, blocks, free, free, files, ffree, 0, 255, PAGE_SIZE, ST_VALID | ST_RELATIME, 0, 0, 0, 0]);
        }
    };
    Ok([magic, PAGE_SIZE, 0, 0, 0, 0, 0, 0, 255, PAGE_SIZE, flags, 0, 0, 0, 0])
}

/// The size and inode limits the root filesystem reports, as a tmpfs
/// mounted without options has them (Linux `shmem_default_max_blocks`,
/// `shmem_default_max_inodes`): half of RAM in pages, and half of the
/// low-memory pages in inodes. Nothing enforces them here but memory
/// itself.
pub(crate) fn rootfs_limits() -> (u64, u64) {
    let alloc = crate::mm::buddy::page_alloc();
    let total = alloc.totalram_pages();
    let high = alloc.zones[crate::mm::zone::ZONE_HIGHMEM].managed();
    (total / 2, total.saturating_sub(high) / 2)
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

pub(super) const TIOCGWINSZ: u32 = 0x5413;

pub(super) fn sys_ioctl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let f = fd_file(fd)?;
    const FIONREAD: u32 = 0x541b;
    if cmd == FIONREAD {
        // Bytes ready: a pipe's, or what is left of a file; the console's
        // input has no count kept (0).
        let n = if f.is_console() { Some(0) } else { f.nread() };
        put_user(arg, &(n.ok_or(ENOTTY)?.min(i32::MAX as usize) as i32))?;
        return Ok(0);
    }
    if let crate::fs::file::FileKind::Snapshot { maps_of: Some(pid), .. } = f.kind() {
        return match cmd {
            PROCMAP_QUERY => procmap_query(*pid, arg),
            _ => Err(ENOTTY),
        };
    }
    if !f.is_console() {
        return Err(ENOTTY);
    }
    match cmd {
        TIOCGWINSZ => {
            // struct winsize { rows, cols, xpixel, ypixel }
            let ws: [u16; 4] = [24, 80, 0, 0];
            put_user(arg, &ws)?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}

/// `_IOWR('f', 17, struct procmap_query)` on `/proc/PID/maps` (Linux 6.11).
const PROCMAP_QUERY: u32 = 0xc068_6611;

/// The `PROCMAP_QUERY` ioctl (Linux `do_procmap_query`): the VMA at (or,
/// with `COVERING_OR_NEXT_VMA`, after) `query_addr` that has the asked-for
/// permissions, with its range, flags, offset, device, inode and name.
/// `EINVAL` for a short struct, unknown flags or a buffer address without
/// a size (or the reverse); `E2BIG` for a struct larger than a page or
/// with unknown non-zero fields; `ENOENT` when no VMA matches;
/// `ENAMETOOLONG` when the name does not fit. No build ID is read (its
/// size comes back 0).
fn procmap_query(pid: u32, arg: u64) -> SysResult {
    const SIZE: u64 = 104;
    const VALID: u64 = 0x3f;
    const COVERING_OR_NEXT: u64 = 0x10;
    const FILE_BACKED: u64 = 0x20;
    use crate::mm::vma::{VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE};
    let usize_: u64 = get_user(arg)?;
    if usize_ > PAGE_SIZE {
        return Err(E2BIG);
    }
    if usize_ < 24 {
        return Err(EINVAL);
    }
    let mut raw = [0u8; SIZE as usize];
    let n = usize_.min(SIZE) as usize;
    copy_from_user(&mut raw[..n], arg)?;
    if usize_ > SIZE {
        // copy_struct_from_user: what we do not know must be zero.
        let mut rest = alloc::vec![0u8; (usize_ - SIZE) as usize];
        copy_from_user(&mut rest, arg + SIZE)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
    }
    let q = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().expect("8 bytes"));
    let q32 = |off: usize| u32::from_le_bytes(raw[off..off + 4].try_into().expect("4 bytes"));
    let (flags, addr) = (q(8), q(16));
    let (name_size, build_id_size, name_addr, build_id_addr) = (q32(80), q32(84), q(88), q(96));
    if flags & !VALID != 0 || (name_size != 0) != (name_addr != 0) || (build_id_size != 0) != (build_id_addr != 0) {
        return Err(EINVAL);
    }
    let target = crate::proc::sched::task(pid).ok_or(ESRCH)?;
    let mm = target.mm.as_deref().ok_or(ESRCH)?;
    let want = [(1, VM_READ), (2, VM_WRITE), (4, VM_EXEC), (8, VM_MAYSHARE)];
    let fits = |v: &crate::mm::vma::Vma<crate::proc::mm::FileRef>| {
        want.iter().all(|&(bit, vm)| flags & bit == 0 || v.flags & vm != 0) && (flags & FILE_BACKED == 0 || v.file.is_some())
    };
    let vma =
        if flags & COVERING_OR_NEXT != 0 { mm.vm.iter().find(|v| v.end > addr && fits(v)) } else { mm.vm.vma_at(addr).filter(|v| fits(v)) }.ok_or(ENOENT)?;
    let mut out = [0u64; 13];
    out[..3].copy_from_slice(&[usize_, flags, addr]);
    out[3] = vma.start;
    out[4] = vma.end;
    out[5] = want.iter().filter(|&&(_, vm)| vma.flags & vm != 0).map(|&(bit, _)| bit).sum();
    out[6] = PAGE_SIZE;
    let (info, path) = match &vma.file {
        Some(f) => {
            let (major, minor, ino, path) = f.maps_info();
            out[7] = vma.pgoff * PAGE_SIZE;
            out[8] = ino;
            ((major, minor), Some(path))
        }
        None => ((0, 0), None),
    };
    let mut name_len = 0u32;
    if name_size != 0 {
        if let Some(name) = crate::mm::task_mmu::vma_name(vma, path) {
            let mut bytes = match name {
                crate::mm::task_mmu::VmaDisplayName::Path(p) => p.into_bytes(),
                crate::mm::task_mmu::VmaDisplayName::Special(s) => s.into_bytes(),
            };
            bytes.push(0);
            if bytes.len() > (name_size as usize).min(crate::proc::uaccess::PATH_MAX) {
                return Err(ENAMETOOLONG);
            }
            copy_to_user(name_addr, &bytes)?;
            name_len = bytes.len() as u32;
        }
    }
    out[9] = u64::from(info.0) | u64::from(info.1) << 32;
    out[10] = u64::from(name_len);
    out[11] = name_addr;
    out[12] = build_id_addr;
    let mut bytes = [0u8; SIZE as usize];
    for (chunk, v) in bytes.chunks_mut(8).zip(out) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    copy_to_user(arg, &bytes[..n])?;
    Ok(0)
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
