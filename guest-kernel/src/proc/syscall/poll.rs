//! Waiting for descriptors (Linux `fs/select.c`): poll, ppoll, select,
//! pselect6. Readiness is each file's [`File::poll`]; until one is ready
//! the caller sleeps on the pipes' wait queue, up to its timeout; a signal ends the wait (EINTR after a handler, a restart
//! otherwise).

use super::*;
use crate::fs::file::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use crate::proc::signal::frame::{signal_pending, ERESTARTNOHAND};
use crate::proc::signal::UNBLOCKABLE;

/// Calls `scan` until it finds something ready (its count), the deadline
/// passes (0), or a signal is deliverable.
fn wait_ready(deadline: Option<u64>, mut scan: impl FnMut() -> Result<usize, i32>) -> Result<usize, i32> {
    loop {
        let n = scan()?;
        if n > 0 {
            return Ok(n);
        }
        let now = now_ns();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(0);
        }
        if signal_pending() {
            return Err(ERESTARTNOHAND);
        }
        // What can turn ready wakes the waiters when it does: a pipe
        // (read, write, closed end), a pidfd (its process exits); the
        // rest is always ready. The deadline ends the wait otherwise.
        crate::proc::sched::wait_event(deadline.unwrap_or(u64::MAX));
    }
}

/// A `struct timespec` timeout as a deadline (`None`: no timeout).
fn timespec_deadline(tsp: u64) -> Result<Option<u64>, i32> {
    if tsp == 0 {
        return Ok(None);
    }
    Ok(Some(now_ns().saturating_add(crate::proc::uaccess::get_timespec(tsp)?)))
}

/// `ppoll`/`pselect6`'s signal mask: in force while waiting; put back at
/// once, or (interrupted) once the handler has run.
fn set_wait_mask(mask: Option<u64>) {
    if let Some(mask) = mask {
        let t = task();
        t.signals.saved_mask = Some(t.signals.blocked);
        t.signals.blocked = mask & !UNBLOCKABLE;
    }
}

fn end_wait_mask<T>(r: &Result<T, i32>) {
    if !matches!(r, Err(ERESTARTNOHAND)) {
        let t = task();
        if let Some(old) = t.signals.saved_mask.take() {
            t.signals.blocked = old;
        }
    }
}

fn do_poll(ufds: u64, nfds: u64, deadline: Option<u64>) -> SysResult {
    if nfds > task().files.limit() as u64 {
        return Err(EINVAL);
    }
    let len = nfds as usize * 8;
    let mut fds = alloc::vec![0u8; len];
    copy_from_user(&mut fds, ufds)?;
    let n = wait_ready(deadline, || {
        let files = &task().files;
        let mut ready = 0;
        for e in fds.chunks_exact_mut(8) {
            let fd = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
            let events = u16::from_ne_bytes([e[4], e[5]]);
            let revents = if fd < 0 {
                0
            } else {
                match files.get(fd) {
                    None => POLLNVAL,
                    Some(f) => f.poll() & (events | POLLERR | POLLHUP),
                }
            };
            e[6..8].copy_from_slice(&revents.to_ne_bytes());
            ready += usize::from(revents != 0);
        }
        Ok(ready)
    })?;
    copy_to_user(ufds, &fds)?;
    Ok(n as u64)
}

pub(super) fn sys_poll(ufds: u64, nfds: u32, timeout_ms: i32) -> SysResult {
    let deadline = (timeout_ms >= 0).then(|| now_ns().saturating_add(timeout_ms as u64 * 1_000_000));
    do_poll(ufds, u64::from(nfds), deadline)
}

pub(super) fn sys_ppoll(ufds: u64, nfds: u32, tsp: u64, sigmask: u64, sigsetsize: u64) -> SysResult {
    let deadline = timespec_deadline(tsp)?;
    let mask = if sigmask != 0 {
        if sigsetsize != 8 {
            return Err(EINVAL);
        }
        Some(get_user::<u64>(sigmask)?)
    } else {
        None
    };
    set_wait_mask(mask);
    let r = do_poll(ufds, u64::from(nfds), deadline);
    end_wait_mask(&r);
    r
}

/// Largest `nfds` select looks at (`FD_SETSIZE`).
const FD_SETSIZE: usize = 1024;

fn do_select(nfds: i32, sets: [u64; 3], deadline: Option<u64>) -> SysResult {
    let nfds = usize::try_from(nfds).map_err(|_| EINVAL)?.min(FD_SETSIZE).min(task().files.max_fds());
    let bytes = nfds.div_ceil(64) * 8;
    let mut want = [[0u8; FD_SETSIZE / 8]; 3];
    for (w, &p) in want.iter_mut().zip(&sets) {
        if p != 0 && bytes > 0 {
            copy_from_user(&mut w[..bytes], p)?;
        }
    }
    let bit = |set: &[u8; FD_SETSIZE / 8], fd: usize| set[fd / 8] & (1 << (fd % 8)) != 0;
    let mut out = [[0u8; FD_SETSIZE / 8]; 3];
    let n = wait_ready(deadline, || {
        let files = &task().files;
        out = [[0u8; FD_SETSIZE / 8]; 3];
        let mut ready = 0;
        for fd in 0..nfds {
            let (r, w, e) = (bit(&want[0], fd), bit(&want[1], fd), bit(&want[2], fd));
            if !(r || w || e) {
                continue;
            }
            let ev = files.get(fd as i32).ok_or(EBADF)?.poll();
            let got = [r && ev & (POLLIN | POLLRDNORM | POLLHUP | POLLERR) != 0, w && ev & (POLLOUT | POLLWRNORM | POLLERR) != 0, e && ev & POLLPRI != 0];
            for (set, &g) in out.iter_mut().zip(&got) {
                if g {
                    set[fd / 8] |= 1 << (fd % 8);
                    ready += 1;
                }
            }
        }
        Ok(ready)
    })?;
    for (o, &p) in out.iter().zip(&sets) {
        if p != 0 && bytes > 0 {
            copy_to_user(p, &o[..bytes])?;
        }
    }
    Ok(n as u64)
}

pub(super) fn sys_select(nfds: i32, readfds: u64, writefds: u64, exceptfds: u64, tvp: u64) -> SysResult {
    let deadline = if tvp == 0 {
        None
    } else {
        let [sec, usec]: [u64; 2] = get_user(tvp)?;
        if (sec as i64) < 0 || (usec as i64) < 0 {
            return Err(EINVAL);
        }
        // Linux normalises microseconds past a second.
        Some(now_ns().saturating_add(sec.saturating_mul(1_000_000_000)).saturating_add(usec.saturating_mul(1000)))
    };
    let r = do_select(nfds, [readfds, writefds, exceptfds], deadline);
    if let (Some(d), true) = (deadline, r.is_ok()) {
        // select reports the time left (Linux, without STICKY_TIMEOUTS).
        let left = d.saturating_sub(now_ns());
        put_user(tvp, &[left / 1_000_000_000, (left % 1_000_000_000) / 1000])?;
    }
    r
}

pub(super) fn sys_pselect6(nfds: i32, readfds: u64, writefds: u64, exceptfds: u64, tsp: u64, sig: u64) -> SysResult {
    let deadline = timespec_deadline(tsp)?;
    // The sixth argument: { const sigset_t *ss; size_t ss_len; }.
    let mask = if sig != 0 {
        let [ss, ss_len]: [u64; 2] = get_user(sig)?;
        if ss == 0 {
            None
        } else {
            if ss_len != 8 {
                return Err(EINVAL);
            }
            Some(get_user::<u64>(ss)?)
        }
    } else {
        None
    };
    set_wait_mask(mask);
    let r = do_select(nfds, [readfds, writefds, exceptfds], deadline);
    end_wait_mask(&r);
    r
}
