//! Credentials (Linux `kernel/sys.c`, `kernel/groups.c`,
//! `kernel/capability.c`): the supplementary groups and the capability
//! sets. Every task is uid 0 and gid 0 ([`crate::cred`]).

use super::*;
use crate::cred::NGROUPS_MAX;

/// `getgroups(size, list)`: the count; with `size > 0` also the groups,
/// `EINVAL` when they do not fit or `size` is negative.
pub(super) fn sys_getgroups(size: i32, list: u64) -> SysResult {
    let groups = &task().cred.groups;
    if size < 0 {
        return Err(EINVAL);
    }
    if size > 0 {
        if groups.len() > size as usize {
            return Err(EINVAL);
        }
        for (i, g) in groups.iter().enumerate() {
            put_user(list + 4 * i as u64, g)?;
        }
    }
    Ok(groups.len() as u64)
}

/// `setgroups(size, list)`: `EINVAL` beyond `NGROUPS_MAX` (or negative),
/// `EPERM` without `CAP_SETGID`.
pub(super) fn sys_setgroups(size: i32, list: u64) -> SysResult {
    let t = task();
    if !t.cred.capable(crate::cred::CAP_SETGID) {
        return Err(EPERM);
    }
    let n = usize::try_from(size).ok().filter(|&n| n <= NGROUPS_MAX).ok_or(EINVAL)?;
    let mut groups = Vec::new();
    groups.try_reserve(n).map_err(|_| ENOMEM)?;
    for i in 0..n {
        groups.push(get_user::<u32>(list + 4 * i as u64)?);
    }
    t.cred.setgroups(groups)?;
    Ok(0)
}

/// The capability header's version and how many 32-bit data records it
/// has (Linux `cap_validate_magic`): an unknown version is `EINVAL`, after
/// the preferred one (3) is written back to the header.
fn cap_version(header: u64) -> Result<usize, i32> {
    const V1: u32 = 0x1998_0330;
    const V2: u32 = 0x2007_1026;
    const V3: u32 = 0x2008_0522;
    match get_user::<u32>(header)? {
        V1 => Ok(1),
        V2 | V3 => Ok(2),
        _ => {
            put_user(header, &V3)?;
            Err(EINVAL)
        }
    }
}

/// `capget(header, data)`: the capability sets of `header.pid` (0: the
/// caller). A NULL `data` only checks (and, if unknown, corrects) the
/// version.
pub(super) fn sys_capget(header: u64, data: u64) -> SysResult {
    let words = match cap_version(header) {
        Err(EINVAL) if data == 0 => return Ok(0),
        r => r?,
    };
    if data == 0 {
        return Ok(0);
    }
    let pid = get_user::<i32>(header + 4)?;
    if pid < 0 {
        return Err(EINVAL);
    }
    let cred = if pid == 0 { &task().cred } else { &crate::proc::sched::task(pid as u32).ok_or(ESRCH)?.cred };
    for i in 0..words {
        let half = |set: u64| (set >> (32 * i)) as u32;
        let rec = [half(cred.cap_effective), half(cred.cap_permitted), half(cred.cap_inheritable)];
        put_user(data + 12 * i as u64, &rec)?;
    }
    Ok(0)
}

/// `capset(header, data)`: replaces the caller's sets under Linux's rules
/// ([`crate::cred::Cred::capset`]); another process's is `EPERM`.
pub(super) fn sys_capset(header: u64, data: u64) -> SysResult {
    let words = cap_version(header)?;
    let pid = get_user::<i32>(header + 4)?;
    let t = task();
    if pid != 0 && pid as u32 != t.pid {
        return Err(EPERM);
    }
    let mut sets = [0u64; 3];
    for i in 0..words {
        let rec: [u32; 3] = get_user(data + 12 * i as u64)?;
        for (set, half) in sets.iter_mut().zip(rec) {
            *set |= u64::from(half) << (32 * i);
        }
    }
    t.cred.capset(sets[0], sets[1], sets[2])?;
    Ok(0)
}
