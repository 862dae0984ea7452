//! Reading and writing (Linux `fs/read_write.c`, `fs/splice.c`,
//! `fs/pipe.c`, `fs/ioctl.c`): `read`, `write` and their positioned and
//! vectored forms, `sendfile`, `copy_file_range`, `pipe2`, `lseek`,
//! `ioctl`.

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

pub(super) fn sys_lseek(fd: i32, off: i64, whence: u32) -> SysResult {
    let f = fd_file(fd)?;
    Ok(f.lseek(off, whence)? as u64)
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
    let at = UserAddr::new(addr);
    let vma = if flags & COVERING_OR_NEXT != 0 { mm.vm.iter().find(|v| v.end > at && fits(v)) } else { mm.vm.vma_at(at).filter(|v| fits(v)) }.ok_or(ENOENT)?;
    let mut out = [0u64; 13];
    out[..3].copy_from_slice(&[usize_, flags, addr]);
    out[3] = vma.start.as_u64();
    out[4] = vma.end.as_u64();
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
