//! POSIX interval timers (Linux `kernel/time/posix-timers.c`):
//! `timer_create`, `timer_settime`, `timer_gettime`, `timer_getoverrun`,
//! `timer_delete`. A process's timers are in its `signal_struct`;
//! [`super::itimer`] fires them from the scheduler's clock check (the
//! resolution is the tick).
//! CLOCK_MONOTONIC and CLOCK_BOOTTIME are the same clock here (a guest
//! does not suspend); an absolute CLOCK_REALTIME setting is turned into
//! the monotonic time it falls at when set.

use alloc::vec::Vec;

use super::signal::siginfo::{SigInfo, SI_TIMER};
use crate::fs::errno::EINVAL;

/// `sigev_notify` values.
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
/// Timers a process may have (Linux: `RLIMIT_SIGPENDING`; here a fixed
/// bound, EAGAIN beyond it).
pub const MAX_TIMERS: usize = 256;

/// One timer.
#[derive(Clone, Copy, Debug)]
pub struct PosixTimer {
    pub id: i32,
    /// Its clock counts wall-clock time (an absolute setting is converted).
    pub realtime: bool,
    /// How it notifies: a signal to the process, to one thread, or none.
    notify: i32,
    signo: i32,
    value: u64,
    /// `SIGEV_THREAD_ID`: the thread.
    tid: u32,
    /// When it next expires (uptime ns; 0: disarmed) and its period.
    pub expires: u64,
    interval: u64,
    /// Expirations missed before the last one delivered.
    overrun: i32,
}

/// The clocks a timer may use: REALTIME, MONOTONIC, BOOTTIME and their
/// alarm forms (every process is root here, so CAP_WAKE_ALARM holds).
fn clock_ok(clock: i32) -> bool {
    matches!(clock, 0 | 1 | 7 | 8 | 9)
}

/// `timer_create(clock, sevp, timerid)`: a disarmed timer; without
/// `sevp`, SIGALRM to the process with the timer's id as value.
pub fn create(timers: &mut Vec<PosixTimer>, clock: i32, sevp: Option<[u8; 64]>, me: u32, thread_ok: impl Fn(u32) -> bool) -> Result<i32, i32> {
    if !clock_ok(clock) {
        return Err(EINVAL);
    }
    let id = (0..).find(|i| !timers.iter().any(|t| t.id == *i)).unwrap_or(0);
    let (notify, signo, value, tid) = match sevp {
        None => (SIGEV_SIGNAL, 14, id as u64, me),
        Some(b) => {
            let value = u64::from_ne_bytes(b[0..8].try_into().unwrap_or([0; 8]));
            let signo = i32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
            let notify = i32::from_ne_bytes([b[12], b[13], b[14], b[15]]);
            let tid = u32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
            match notify {
                SIGEV_NONE => (notify, 0, value, me),
                SIGEV_SIGNAL if (1..=64).contains(&signo) => (notify, signo, value, me),
                SIGEV_THREAD_ID if (1..=64).contains(&signo) && thread_ok(tid) => (notify, signo, value, tid),
                _ => return Err(EINVAL),
            }
        }
    };
    if timers.len() >= MAX_TIMERS {
        return Err(crate::fs::errno::EAGAIN);
    }
    timers.push(PosixTimer { id, realtime: matches!(clock, 0 | 8), notify, signo, value, tid, expires: 0, interval: 0, overrun: 0 });
    Ok(id)
}

/// The timer `id` (EINVAL if there is none).
pub fn find(timers: &mut [PosixTimer], id: i32) -> Result<&mut PosixTimer, i32> {
    timers.iter_mut().find(|t| t.id == id).ok_or(EINVAL)
}

impl PosixTimer {
    /// The signal it sends (0: none).
    pub fn signal(&self) -> usize {
        if self.notify == SIGEV_NONE {
            0
        } else {
            self.signo as usize
        }
    }

    /// `timer_settime`: arms it to expire at `at` (uptime ns; 0 disarms)
    /// and then every `interval` ns.
    pub fn set(&mut self, at: u64, interval: u64) {
        self.expires = at;
        self.interval = if at == 0 { 0 } else { interval };
        self.overrun = 0;
    }

    /// `timer_gettime`: the period and the time left (ns).
    pub fn get(&self, now: u64) -> (u64, u64) {
        let left = if self.expires == 0 { 0 } else { self.expires.saturating_sub(now).max(1) };
        (self.interval, left)
    }

    pub fn overrun(&self) -> i32 {
        self.overrun
    }

    /// If it has expired by `now`: moves it to its next expiry (counting
    /// the periods missed as overruns) and returns whom to signal and
    /// with what.
    pub fn fire(&mut self, now: u64) -> Option<(i32, Option<u32>, SigInfo)> {
        if self.expires == 0 || self.expires > now {
            return None;
        }
        match (now - self.expires).checked_div(self.interval) {
            None => {
                self.expires = 0;
                self.overrun = 0;
            }
            Some(missed) => {
                self.overrun = i32::try_from(missed).unwrap_or(i32::MAX);
                self.expires = self.expires.saturating_add((missed + 1).saturating_mul(self.interval));
            }
        }
        let info = SigInfo { code: SI_TIMER, pid: self.id as u32, status: self.overrun, value: self.value, ..SigInfo::default() };
        match self.notify {
            SIGEV_SIGNAL => Some((self.signo, None, info)),
            SIGEV_THREAD_ID => Some((self.signo, Some(self.tid), info)),
            _ => None,
        }
    }
}
