//! Credentials (Linux `kernel/sys.c`, `kernel/groups.c`,
//! `kernel/capability.c`): the user and group ids, the supplementary
//! groups and the capability sets. The rules are [`crate::cred`]'s; here
//! are the ABI and the commit of each change ([`Task::commit_creds`]).
//!
//! [`Task::commit_creds`]: crate::proc::Task::commit_creds

use super::*;
use crate::cred::{Cred, NGROUPS_MAX};

/// Installs the credentials a rule computed.
fn commit(new: Result<Cred, i32>) -> SysResult {
    task().commit_creds(new?);
    Ok(0)
}

pub(super) fn sys_setuid(uid: u32) -> SysResult {
    commit(task().cred.setuid(uid))
}

pub(super) fn sys_setgid(gid: u32) -> SysResult {
    commit(task().cred.setgid(gid))
}

pub(super) fn sys_setreuid(ruid: u32, euid: u32) -> SysResult {
    commit(task().cred.setreuid(ruid, euid))
}

pub(super) fn sys_setregid(rgid: u32, egid: u32) -> SysResult {
    commit(task().cred.setregid(rgid, egid))
}

pub(super) fn sys_setresuid(ruid: u32, euid: u32, suid: u32) -> SysResult {
    commit(task().cred.setresuid(ruid, euid, suid))
}

pub(super) fn sys_setresgid(rgid: u32, egid: u32, sgid: u32) -> SysResult {
    commit(task().cred.setresgid(rgid, egid, sgid))
}

/// `setfsuid(uid)`: always the old filesystem uid, changed or not.
pub(super) fn sys_setfsuid(uid: u32) -> SysResult {
    let (old, new) = task().cred.setfsuid(uid);
    if let Some(new) = new {
        task().commit_creds(new);
    }
    Ok(u64::from(old))
}

/// `setfsgid(gid)`: always the old filesystem gid, changed or not.
pub(super) fn sys_setfsgid(gid: u32) -> SysResult {
    let (old, new) = task().cred.setfsgid(gid);
    if let Some(new) = new {
        task().commit_creds(new);
    }
    Ok(u64::from(old))
}

/// `getresuid(ruid, euid, suid)` and `getresgid`: the three ids, each
/// written to its pointer (`EFAULT`).
pub(super) fn sys_getres(group: bool, real: u64, effective: u64, saved: u64) -> SysResult {
    let c = &task().cred;
    let ids = if group { [c.gid, c.egid, c.sgid] } else { [c.uid, c.euid, c.suid] };
    for (ptr, id) in [real, effective, saved].into_iter().zip(ids) {
        put_user(ptr, &id)?;
    }
    Ok(0)
}

/// `prctl(PR_CAP_AMBIENT, op, cap, 0, 0)`: `PR_CAP_AMBIENT_IS_SET` (1),
/// `_RAISE` (2), `_LOWER` (3), `_CLEAR_ALL` (4, `cap` 0); `EINVAL` for
/// other operations, unknown capabilities and non-zero spare arguments.
pub(super) fn prctl_cap_ambient(op: u64, cap: u64, spare: &[u64]) -> SysResult {
    if spare.iter().any(|&a| a != 0) {
        return Err(EINVAL);
    }
    let t = task();
    let valid = cap <= u64::from(crate::cred::CAP_LAST_CAP);
    match op {
        1 if valid => Ok((t.cred.cap_ambient >> cap) & 1),
        2 | 3 if valid => commit(t.cred.set_ambient(cap, Some(op == 2))),
        4 if cap == 0 => commit(t.cred.set_ambient(0, None)),
        _ => Err(EINVAL),
    }
}

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
    if !task().cred.capable(crate::cred::CAP_SETGID) {
        return Err(EPERM);
    }
    let n = usize::try_from(size).ok().filter(|&n| n <= NGROUPS_MAX).ok_or(EINVAL)?;
    let mut groups = Vec::new();
    groups.try_reserve(n).map_err(|_| ENOMEM)?;
    for i in 0..n {
        groups.push(get_user::<u32>(list + 4 * i as u64)?);
    }
    commit(task().cred.setgroups(groups))
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
    let cred = if pid == 0 { task().cred.clone() } else { crate::proc::sched::task(pid as u32).ok_or(ESRCH)?.cred.clone() };
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
    commit(t.cred.capset(sets[0], sets[1], sets[2]))
}
