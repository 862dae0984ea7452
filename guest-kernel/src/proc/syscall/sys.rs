//! Time and system information: clock_gettime and the other clocks,
//! nanosleep, timers, uname, sysinfo, prlimit64, getrandom.

use super::*;
use crate::proc::uaccess::{get_timespec, timespec_ns};

/// The monotonic clock (uptime), ns.
pub(super) fn now_ns() -> u64 {
    crate::time::uptime_ns()
}

/// Whether `clock` counts wall-clock time (`CLOCK_REALTIME`, its coarse
/// and alarm forms, and `CLOCK_TAI`, which equals it while no TAI offset
/// is set); the others count from boot.
pub(super) fn is_realtime(clock: i32) -> bool {
    matches!(clock, 0 | 5 | 8 | 11)
}

/// A clock Linux knows (10, `CLOCK_SGI_CYCLE`, is gone).
fn clock_ok(clock: i32) -> bool {
    (0..=11).contains(&clock) && clock != 10
}

/// A clock's reading, ns.
fn clock_ns(clock: i32) -> i64 {
    if is_realtime(clock) {
        crate::time::realtime_ns()
    } else {
        i64::try_from(now_ns()).unwrap_or(i64::MAX)
    }
}

fn timespec(ns: i64) -> [i64; 2] {
    [ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000)]
}

pub(super) fn sys_clock_gettime(clock: i32, tp: u64) -> SysResult {
    if !clock_ok(clock) {
        return Err(EINVAL);
    }
    put_user(tp, &timespec(clock_ns(clock)))?;
    Ok(0)
}

/// `clock_getres`: 1 ns for the precise clocks, a tick for the coarse.
pub(super) fn sys_clock_getres(clock: i32, res: u64) -> SysResult {
    if !clock_ok(clock) {
        return Err(EINVAL);
    }
    if res != 0 {
        let ns = if matches!(clock, 5 | 6) { 1_000_000_000 / crate::proc::HZ as i64 } else { 1 };
        put_user(res, &timespec(ns))?;
    }
    Ok(0)
}

/// `clock_settime`: only `CLOCK_REALTIME` can be set (EINVAL for the
/// others, and for a time before the epoch or a bad timespec).
pub(super) fn sys_clock_settime(clock: i32, tp: u64) -> SysResult {
    if !clock_ok(clock) || clock != 0 {
        return Err(EINVAL);
    }
    crate::time::set_realtime_ns(i64::try_from(get_timespec(tp)?).unwrap_or(i64::MAX));
    Ok(0)
}

pub(super) fn sys_gettimeofday(tv: u64, tz: u64) -> SysResult {
    if tv != 0 {
        let [s, ns] = timespec(crate::time::realtime_ns());
        put_user(tv, &[s, ns / 1000])?;
    }
    if tz != 0 {
        // The kernel's timezone: UTC, no DST.
        put_user(tz, &[0i32, 0i32])?;
    }
    Ok(0)
}

/// `settimeofday(tv, tz)`: sets `CLOCK_REALTIME` (the timezone is
/// accepted and kept nowhere, as for a UTC system).
pub(super) fn sys_settimeofday(tv: u64, tz: u64) -> SysResult {
    if tz != 0 {
        let _: [i32; 2] = get_user(tz)?;
    }
    if tv != 0 {
        let t: [i64; 2] = get_user(tv)?;
        if t[0] < 0 || !(0..1_000_000).contains(&t[1]) {
            return Err(EINVAL);
        }
        crate::time::set_realtime_ns(t[0].saturating_mul(1_000_000_000).saturating_add(t[1] * 1000));
    }
    Ok(0)
}

/// `time(tloc)`: wall-clock seconds.
pub(super) fn sys_time(tloc: u64) -> SysResult {
    let s = crate::time::realtime_ns().div_euclid(1_000_000_000);
    if tloc != 0 {
        put_user(tloc, &s)?;
    }
    Ok(s as u64)
}

/// `nanosleep`: interrupted by a signal, it says EINTR whatever
/// `SA_RESTART` says and writes the time left to `rem` (Linux).
pub(super) fn sys_nanosleep(req: u64, rem: u64) -> SysResult {
    let until = now_ns().saturating_add(get_timespec(req)?);
    loop {
        let now = now_ns();
        if now >= until {
            return Ok(0);
        }
        if crate::proc::signal::frame::signal_pending() {
            if rem != 0 {
                let left = until - now;
                put_user(rem, &[left / 1_000_000_000, left % 1_000_000_000])?;
            }
            return Err(EINTR);
        }
        task().state = crate::proc::sched::TaskState::SleepUntil(until);
        crate::proc::sched::schedule();
    }
}

/// `clock_nanosleep`: relative, or until an absolute time of the clock
/// (`TIMER_ABSTIME`); the clocks here all count from boot. Interrupted, it
/// says EINTR and (relative) writes the time left to `rem`.
pub(super) fn sys_clock_nanosleep(clock: i32, flags: i32, req: u64, rem: u64) -> SysResult {
    const TIMER_ABSTIME: i32 = 1;
    // REALTIME, MONOTONIC, MONOTONIC_RAW, REALTIME_COARSE,
    // MONOTONIC_COARSE, BOOTTIME; the CPU-time clocks cannot be slept on.
    if !matches!(clock, 0 | 1 | 4 | 5 | 6 | 7) {
        return Err(EINVAL);
    }
    if flags & TIMER_ABSTIME == 0 {
        return sys_nanosleep(req, rem);
    }
    let abs = get_timespec(req)?;
    // A wall-clock deadline is where the monotonic clock will be then.
    let until = if is_realtime(clock) { crate::time::uptime_at_realtime(abs as i64) } else { abs };
    while now_ns() < until {
        if crate::proc::signal::frame::signal_pending() {
            return Err(EINTR);
        }
        task().state = crate::proc::sched::TaskState::SleepUntil(until);
        crate::proc::sched::schedule();
    }
    Ok(0)
}

/// `alarm(seconds)`: SIGALRM after that long (0 cancels); returns the
/// seconds that were left of the previous one, rounded to nearest (at
/// least 1 if one was set).
pub(super) fn sys_alarm(seconds: u32) -> SysResult {
    let t = task();
    let now = now_ns();
    let left = t.signals.group().alarm_at.saturating_sub(now);
    let old = if t.signals.group().alarm_at == 0 { 0 } else { ((left + 500_000_000) / 1_000_000_000).max(1) };
    t.signals.group().alarm_at = if seconds == 0 { 0 } else { now + u64::from(seconds) * 1_000_000_000 };
    crate::proc::sched::note_deadline(t.signals.group().alarm_at.max(1));
    t.signals.group().alarm_every = 0;
    Ok(old)
}

const ITIMER_REAL: i32 = 0;

/// `struct itimerval` as nanoseconds: (interval, value left).
fn itimer_now(t: &crate::proc::Task) -> [u64; 4] {
    let g = t.signals.group_ref();
    let left = if g.alarm_at == 0 { 0 } else { g.alarm_at.saturating_sub(now_ns()).max(1000) };
    let tv = |ns: u64| [ns / 1_000_000_000, (ns % 1_000_000_000) / 1000];
    let (i, v) = (tv(g.alarm_every), tv(left));
    [i[0], i[1], v[0], v[1]]
}

/// `getitimer`: ITIMER_REAL only (the virtual and profiling timers need
/// CPU-time accounting this kernel does not keep: EINVAL).
pub(super) fn sys_getitimer(which: i32, value: u64) -> SysResult {
    if which != ITIMER_REAL {
        return Err(EINVAL);
    }
    put_user(value, &itimer_now(task()))?;
    Ok(0)
}

/// `setitimer(ITIMER_REAL)`: SIGALRM after `it_value`, then every
/// `it_interval`; the old setting goes to `old` if asked.
pub(super) fn sys_setitimer(which: i32, new: u64, old: u64) -> SysResult {
    if which != ITIMER_REAL {
        return Err(EINVAL);
    }
    let v: [u64; 4] = if new != 0 { get_user(new)? } else { [0; 4] };
    if v[1] >= 1_000_000 || v[3] >= 1_000_000 || (v[0] as i64) < 0 || (v[2] as i64) < 0 {
        return Err(EINVAL);
    }
    if old != 0 {
        put_user(old, &itimer_now(task()))?;
    }
    let ns = |s: u64, us: u64| s.saturating_mul(1_000_000_000).saturating_add(us * 1000);
    let t = task();
    let value = ns(v[2], v[3]);
    t.signals.group().alarm_at = if value == 0 { 0 } else { now_ns().saturating_add(value) };
    crate::proc::sched::note_deadline(t.signals.group().alarm_at.max(1));
    t.signals.group().alarm_every = ns(v[0], v[1]);
    Ok(0)
}

pub(super) fn sys_uname(buf: u64) -> SysResult {
    let mut u = [0u8; 65 * 6];
    let fields = ["Linux", "rvmm", "6.1.0-rvmm", "#1 SMP", "x86_64", "(none)"];
    for (i, f) in fields.iter().enumerate() {
        u[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    copy_to_user(buf, &u)?;
    Ok(0)
}

/// A process's usage: its exited threads' and live threads' time, its
/// faults and RSS peak (the live address space's included).
fn process_usage(t: &crate::proc::Task) -> crate::proc::signal::Counts {
    let mut u = t.signals.group_ref().usage.own;
    for tid in crate::proc::sched::threads(t.tgid) {
        if let Some(th) = crate::proc::sched::task(tid) {
            u.utime += th.utime;
            u.stime += th.stime;
        }
    }
    if let Some(mm) = t.mm.as_ref() {
        u.maxrss = u.maxrss.max(mm.hiwater_rss.max(mm.rss.total()));
    }
    u
}

/// `getrusage(who, usage)`: `RUSAGE_SELF` (0), `RUSAGE_CHILDREN` (-1, the
/// reaped ones), `RUSAGE_THREAD` (1): CPU time (tick-granular), the
/// largest RSS in KiB and the minor faults; no major faults, swaps or
/// block I/O here. `EINVAL` for another `who`.
pub(super) fn sys_getrusage(who: i32, usage: u64) -> SysResult {
    let t = task();
    let c = match who {
        0 => process_usage(t),
        -1 => t.signals.group_ref().usage.children,
        1 => crate::proc::signal::Counts { utime: t.utime, stime: t.stime, minflt: t.signals.group_ref().usage.own.minflt, maxrss: process_usage(t).maxrss },
        _ => return Err(EINVAL),
    };
    let tv = |ticks: u64| [ticks / crate::proc::HZ, ticks % crate::proc::HZ * (1_000_000 / crate::proc::HZ)];
    let mut ru = [0u64; 18];
    ru[..2].copy_from_slice(&tv(c.utime));
    ru[2..4].copy_from_slice(&tv(c.stime));
    ru[4] = c.maxrss * (PAGE_SIZE / 1024);
    ru[8] = c.minflt;
    put_user(usage, &ru)?;
    Ok(0)
}

/// `times(buf)`: user and system time of the process and its reaped
/// children, in clock ticks (`USER_HZ` = `HZ` = 100 here); the result is
/// the ticks since boot.
pub(super) fn sys_times(buf: u64) -> SysResult {
    let t = task();
    if buf != 0 {
        let (me, ch) = (process_usage(t), t.signals.group_ref().usage.children);
        put_user(buf, &[me.utime, me.stime, ch.utime, ch.stime])?;
    }
    Ok(crate::proc::sched::TICKS.load(core::sync::atomic::Ordering::Relaxed))
}

/// The tasks `which`/`who` name for `getpriority`/`setpriority`:
/// `PRIO_PROCESS` a thread (0: the caller), `PRIO_PGRP` a process group's
/// (0: the caller's), `PRIO_USER` a user's (every task is uid 0).
fn prio_targets(which: i32, who: i32) -> Result<Vec<u32>, i32> {
    use crate::proc::sched;
    let me = task();
    let live = |t: &&mut crate::proc::Task| t.state != sched::TaskState::Zombie;
    Ok(match which {
        0 => {
            let tid = if who == 0 { me.pid } else { u32::try_from(who).map_err(|_| ESRCH)? };
            sched::task(tid).filter(live).map(|t| alloc::vec![t.pid]).unwrap_or_default()
        }
        1 => {
            let pgid = if who == 0 { me.pgid } else { u32::try_from(who).map_err(|_| ESRCH)? };
            sched::pids().into_iter().filter(|&p| sched::task(p).filter(live).is_some_and(|t| t.pgid == pgid)).collect()
        }
        2 if who == 0 => sched::pids().into_iter().filter(|&p| sched::task(p).filter(live).is_some()).collect(),
        2 => Vec::new(),
        _ => return Err(EINVAL),
    })
}

/// `getpriority(which, who)`: `20 - nice` of the highest-priority target
/// (the raw system call's encoding, which libc turns back into a nice
/// value); `ESRCH` when there is none.
pub(super) fn sys_getpriority(which: i32, who: i32) -> SysResult {
    let targets = prio_targets(which, who)?;
    let best = targets.iter().filter_map(|&p| crate::proc::sched::task(p)).map(|t| t.nice).min().ok_or(ESRCH)?;
    Ok((20 - best) as u64)
}

/// `setpriority(which, who, prio)`: the nice value, clamped to -20..=19,
/// of every target. Raising priority (a lower nice) needs `CAP_SYS_NICE`
/// or room under `RLIMIT_NICE` (`EACCES`).
pub(super) fn sys_setpriority(which: i32, who: i32, prio: i32) -> SysResult {
    let nice = prio.clamp(-20, 19);
    let targets = prio_targets(which, who)?;
    if targets.is_empty() {
        return Err(ESRCH);
    }
    let me = task();
    let cred = me.cred.clone();
    let rlim = me.signals.group_ref().rlim[crate::proc::rlimit::RLIMIT_NICE][0];
    let can_nice = cred.capable(crate::cred::CAP_SYS_NICE) || (20 - nice) as u64 <= rlim;
    // Linux `set_one_prio`: each target's error in turn, EPERM for
    // another user's task, EACCES for a nice value the caller may not
    // lower to; success once any target changed and none failed after.
    let mut result = Err(ESRCH);
    for p in targets {
        let Some(t) = crate::proc::sched::task(p) else { continue };
        if !cred.may_renice(&t.cred) {
            result = Err(EPERM);
        } else if nice < t.nice && !can_nice {
            result = Err(EACCES);
        } else {
            if result == Err(ESRCH) {
                result = Ok(0);
            }
            t.nice = nice;
        }
    }
    result
}

pub(super) fn sys_sysinfo(info: u64) -> SysResult {
    let alloc = crate::mm::buddy::page_alloc();
    let total = alloc.totalram_pages() * PAGE_SIZE;
    let free = alloc.nr_free_pages_all() * PAGE_SIZE;
    // struct sysinfo (x86-64): uptime, loads[3], totalram, freeram,
    // sharedram, bufferram, totalswap, freeswap, procs (u16) + pad,
    // totalhigh, freehigh, mem_unit (u32), padding.
    let mut w = [0u64; 14];
    w[0] = now_ns() / 1_000_000_000;
    w[4] = total;
    w[5] = free;
    w[6] = crate::mm::shmem::NR_SHMEM.load(core::sync::atomic::Ordering::Relaxed) * PAGE_SIZE;
    let (swap_total, swap_free) = crate::mm::swapfile::totals();
    w[8] = swap_total * PAGE_SIZE;
    w[9] = swap_free * PAGE_SIZE;
    // procs (tasks, as Linux's nr_threads), in the low 16 bits.
    w[10] = crate::proc::sched::nr_tasks().min(u16::MAX as usize) as u64;
    let high = &alloc.zones[crate::mm::zone::ZONE_HIGHMEM];
    w[11] = high.managed() * PAGE_SIZE;
    w[12] = high.free_pages() * PAGE_SIZE;
    let mut bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes[104..108].copy_from_slice(&1u32.to_le_bytes()); // mem_unit
    bytes.truncate(112);
    copy_to_user(info, &bytes)?;
    Ok(0)
}

/// `prlimit64` (and `getrlimit`/`setrlimit` through it): the limits of
/// the caller's process or another's (`pid`, any of its threads), read
/// into `old` before `new` replaces them.
pub(super) fn sys_prlimit64(pid: i32, resource: u32, new: u64, old: u64) -> SysResult {
    use crate::proc::rlimit::{self, RLIMIT_NOFILE, RLIM_NLIMITS};
    let resource = resource as usize;
    if resource >= RLIM_NLIMITS {
        return Err(EINVAL);
    }
    let new: Option<[u64; 2]> = if new != 0 { Some(get_user(new)?) } else { None };
    if new.is_some_and(|n| n[0] > n[1]) {
        return Err(EINVAL);
    }
    let me = task().cred.clone();
    let t = match pid {
        0 => task(),
        p if p > 0 => crate::proc::sched::task(p as u32).filter(|t| t.state != crate::proc::sched::TaskState::Zombie).ok_or(ESRCH)?,
        _ => return Err(EINVAL),
    };
    if t.tgid != task().tgid && !me.may_prlimit(&t.cred) {
        return Err(EPERM);
    }
    if let Some(n) = new {
        rlimit::check(resource, t.signals.group_ref().rlim[resource], n, me.capable(crate::cred::CAP_SYS_RESOURCE))?;
    }
    if old != 0 {
        put_user(old, &t.signals.group_ref().rlim[resource])?;
    }
    if let Some(n) = new {
        t.signals.group().rlim[resource] = n;
        if resource == RLIMIT_NOFILE {
            t.files.set_limit(n[0].min(rlimit::NR_OPEN) as usize);
        }
        if let Some(mm) = t.mm.as_deref_mut() {
            crate::proc::rlimit::apply_to_mm(&t.signals.group_ref().rlim, &mut mm.vm);
        }
    }
    Ok(0)
}

pub(super) fn sys_getrandom(buf: u64, len: u64, flags: u32) -> SysResult {
    if flags & !7 != 0 {
        return Err(EINVAL);
    }
    let len = len.min(1 << 20) as usize;
    let mut state = crate::arch::cpu::rdtsc() | 1;
    let mut done = 0;
    while done < len {
        if done > 0 && crate::proc::sched::cond_resched() {
            break;
        }
        let mut chunk = [0u8; 256];
        for b in chunk.iter_mut() {
            // xorshift64*: not cryptographic; this kernel has no entropy source.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *b = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        let n = (len - done).min(chunk.len());
        copy_to_user(buf + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(done as u64)
}

/// `timer_create(clock, sevp, timerid)`: see `proc::timer`.
pub(super) fn sys_timer_create(clock: i32, sevp: u64, timerid: u64) -> SysResult {
    let sev: Option<[u8; 64]> = if sevp != 0 { Some(get_user(sevp)?) } else { None };
    let t = task();
    let (me, tgid) = (t.pid, t.tgid);
    let thread_ok = |tid: u32| crate::proc::sched::task(tid).is_some_and(|x| x.tgid == tgid);
    let id = crate::proc::timer::create(&mut t.signals.group().timers, clock, sev, me, thread_ok)?;
    if let Err(e) = put_user(timerid, &id) {
        task().signals.group().timers.retain(|x| x.id != id);
        return Err(e);
    }
    Ok(0)
}

/// `struct itimerspec` as nanoseconds: EINVAL for a bad timespec.
fn itimerspec_ns([is, ins, vs, vns]: [i64; 4]) -> Result<(u64, u64), i32> {
    Ok((timespec_ns([is, ins])?, timespec_ns([vs, vns])?))
}

fn itimerspec_of(interval: u64, value: u64) -> [u64; 4] {
    [interval / 1_000_000_000, interval % 1_000_000_000, value / 1_000_000_000, value % 1_000_000_000]
}

/// `timer_settime(id, flags, new, old)`: arms (relative, or absolute with
/// `TIMER_ABSTIME`) or disarms (a zero value) the timer; the old setting
/// goes to `old`.
pub(super) fn sys_timer_settime(id: i32, flags: i32, new: u64, old: u64) -> SysResult {
    const TIMER_ABSTIME: i32 = 1;
    let (interval, value) = itimerspec_ns(get_user(new)?)?;
    let now = now_ns();
    let timer = crate::proc::timer::find(&mut task().signals.group().timers, id)?;
    let (old_interval, old_left) = timer.get(now);
    let at = match value {
        0 => 0,
        v if flags & TIMER_ABSTIME != 0 && timer.realtime => crate::time::uptime_at_realtime(v as i64).max(1),
        v if flags & TIMER_ABSTIME != 0 => v.max(1),
        v => now.saturating_add(v),
    };
    timer.set(at, interval);
    if at != 0 {
        crate::proc::sched::note_deadline(at);
    }
    if old != 0 {
        put_user(old, &itimerspec_of(old_interval, old_left))?;
    }
    Ok(0)
}

/// `timer_gettime(id, cur)`: the period and the time left.
pub(super) fn sys_timer_gettime(id: i32, cur: u64) -> SysResult {
    let (interval, left) = crate::proc::timer::find(&mut task().signals.group().timers, id)?.get(now_ns());
    put_user(cur, &itimerspec_of(interval, left))?;
    Ok(0)
}

/// `timer_getoverrun(id)`: expirations missed before the last delivered.
pub(super) fn sys_timer_getoverrun(id: i32) -> SysResult {
    Ok(crate::proc::timer::find(&mut task().signals.group().timers, id)?.overrun() as u64)
}

/// `timer_delete(id)`.
pub(super) fn sys_timer_delete(id: i32) -> SysResult {
    let timers = &mut task().signals.group().timers;
    let sig = crate::proc::timer::find(timers, id)?.signal();
    timers.retain(|t| t.id != id);
    if sig != 0 {
        // Its pending signal goes with it, wherever it waits.
        for tid in crate::proc::sched::threads(task().tgid) {
            if let Some(t) = crate::proc::sched::task(tid) {
                t.signals.discard_timer_signal(sig, id);
            }
        }
    }
    let timers = &mut task().signals.group().timers;
    if timers.is_empty() {
        *timers = Vec::new();
    }
    Ok(0)
}

/// Bytes of a CPU mask as Linux sizes it (`nr_cpu_ids` bits, rounded up
/// to a long).
const CPUMASK_BYTES: u64 = 8;

/// `sched_getaffinity`: the one CPU there is. `len` must hold the mask and
/// be a multiple of a long (EINVAL); the mask's size is the result.
pub(super) fn sys_sched_getaffinity(pid: i32, len: u32, mask: u64) -> SysResult {
    if u64::from(len) < CPUMASK_BYTES || !u64::from(len).is_multiple_of(8) {
        return Err(EINVAL);
    }
    if pid < 0 {
        return Err(ESRCH);
    }
    if pid != 0 {
        crate::proc::sched::task(pid as u32).ok_or(ESRCH)?;
    }
    put_user(mask, &1u64)?;
    Ok(CPUMASK_BYTES)
}

/// `sched_setaffinity`: any mask that includes CPU 0 (the only one) is
/// accepted; one without it is EINVAL, as Linux says for a mask of no
/// online CPU.
pub(super) fn sys_sched_setaffinity(pid: i32, len: u32, mask: u64) -> SysResult {
    if pid < 0 {
        return Err(ESRCH);
    }
    if pid != 0 {
        let target = crate::proc::sched::task(pid as u32).ok_or(ESRCH)?;
        // Linux `check_same_owner` or CAP_SYS_NICE.
        if !task().cred.may_renice(&target.cred) {
            return Err(EPERM);
        }
    }
    let mut first = [0u8; 1];
    if len > 0 {
        copy_from_user(&mut first, mask)?;
    }
    if first[0] & 1 == 0 {
        return Err(EINVAL);
    }
    Ok(0)
}
