//! Credentials (Linux `struct cred`, `kernel/cred.c`, `kernel/sys.c`,
//! `kernel/groups.c`, `security/commoncap.c`): who a task is and what it
//! may do.
//!
//! A task holds its credentials as a shared, immutable `Arc<Cred>`:
//! `fork` shares them, and a change is made on a copy that then replaces
//! the task's pointer (Linux `prepare_creds` and `commit_creds`), so no
//! one ever sees a half-changed set. Everything here is plain Rust over
//! a `Cred` value, tested on the host against Linux's rules: the
//! `set*id` calls ([`Cred::setuid`] and friends), the capability fix-ups
//! that follow a change of user id ([`Cred::fix_setuid`]), the sets an
//! `execve` computes ([`Cred::exec`]), and the checks other tasks are
//! subject to ([`Cred::may_signal`], [`Cred::same_user`]).
//!
//! One user namespace, no file capabilities, no LSM: an id is a plain
//! `u32`, and `u32::MAX` (`(uid_t)-1`) is invalid, as Linux's
//! `INVALID_UID`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fs::errno::{Errno, EINVAL, EPERM};

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;
pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_LINUX_IMMUTABLE: u32 = 9;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_IPC_OWNER: u32 = 15;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_NICE: u32 = 23;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_MKNOD: u32 = 27;
pub const CAP_MAC_OVERRIDE: u32 = 32;
/// The highest capability Linux 6.x knows (`CAP_CHECKPOINT_RESTORE`).
pub const CAP_LAST_CAP: u32 = 40;
/// Every capability (Linux `CAP_FULL_SET`).
pub const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
/// The capabilities that follow the filesystem uid (Linux `CAP_FS_SET`).
pub const CAP_FS_SET: u64 = 1 << CAP_CHOWN
    | 1 << CAP_MKNOD
    | 1 << CAP_LINUX_IMMUTABLE
    | 1 << CAP_DAC_OVERRIDE
    | 1 << CAP_DAC_READ_SEARCH
    | 1 << CAP_FOWNER
    | 1 << CAP_FSETID
    | 1 << CAP_MAC_OVERRIDE;
/// Linux `NGROUPS_MAX`.
pub const NGROUPS_MAX: usize = 65536;

/// Secure bits (`prctl(PR_SET_SECUREBITS)`, `linux/securebits.h`): each
/// setting has a lock bit above it.
pub const SECBIT_NOROOT: u32 = 1 << 0;
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// Every setting and its lock.
pub const SECURE_ALL_BITS: u32 = 0x55;
pub const SECURE_ALL_LOCKS: u32 = SECURE_ALL_BITS << 1;

/// The invalid id, `(uid_t)-1`: "leave unchanged" for the calls that
/// take it so, `EINVAL` for the others.
pub const NO_ID: u32 = u32::MAX;

/// Which call changed the user ids, for [`Cred::fix_setuid`] (Linux's
/// `LSM_SETID_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetId {
    /// `setuid`, `setreuid`, `setresuid`.
    Ids,
    /// `setfsuid`.
    Fs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cred {
    /// Real, effective, saved and filesystem user ids.
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    /// Real, effective, saved and filesystem group ids.
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    /// Supplementary groups, sorted (Linux keeps `group_info` sorted).
    pub groups: Vec<u32>,
    /// `SECBIT_*`.
    pub securebits: u32,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    pub cap_bset: u64,
    pub cap_ambient: u64,
    /// `PR_SET_NO_NEW_PRIVS`: set for good, inherited, and `execve`
    /// grants nothing (no set-user-ID, no new capabilities).
    pub no_new_privs: bool,
}

/// Set by the process layer: the running task's credentials.
pub static CURRENT: crate::sync::Once<fn() -> Arc<Cred>> = crate::sync::Once::new();

/// The credentials of the task the kernel is working for (Linux
/// `current_cred()`): root before there are tasks (unpacking the
/// initramfs), and in host tests unless [`testing::as_cred`] says
/// otherwise.
pub fn current() -> Arc<Cred> {
    #[cfg(not(target_os = "none"))]
    if let Some(cred) = testing::current() {
        return cred;
    }
    match CURRENT.get() {
        Some(current) => current(),
        None => Arc::new(Cred::root()),
    }
}

/// Host tests: running code as someone else.
#[cfg(not(target_os = "none"))]
pub mod testing {
    use super::Cred;
    use alloc::sync::Arc;
    use std::cell::RefCell;

    std::thread_local! {
        static CRED: RefCell<Option<Arc<Cred>>> = const { RefCell::new(None) };
    }

    pub(super) fn current() -> Option<Arc<Cred>> {
        CRED.with(|c| c.borrow().clone())
    }

    /// Runs `f` with `cred` as the current credentials of this thread.
    pub fn as_cred<R>(cred: Cred, f: impl FnOnce() -> R) -> R {
        let old = CRED.with(|c| c.replace(Some(Arc::new(cred))));
        let r = f();
        CRED.with(|c| *c.borrow_mut() = old);
        r
    }
}

/// What `execve` made of the credentials ([`Cred::exec`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecCreds {
    pub cred: Cred,
    /// `AT_SECURE`: the program gained privilege (set-user-ID, or
    /// capabilities for a non-root real user), so its C library must not
    /// trust the environment.
    pub secure: bool,
    /// Whether the new image may be dumped (and its `/proc` files belong
    /// to its user): not after a change of effective ids.
    pub dumpable: bool,
}

impl Cred {
    /// What init runs with: root, in no supplementary group (Linux's
    /// `init_cred` has group 0 only as gid), every capability.
    pub fn root() -> Self {
        Self {
            uid: 0,
            euid: 0,
            suid: 0,
            fsuid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            fsgid: 0,
            groups: Vec::new(),
            securebits: 0,
            cap_effective: CAP_FULL_SET,
            cap_permitted: CAP_FULL_SET,
            cap_inheritable: 0,
            cap_bset: CAP_FULL_SET,
            cap_ambient: 0,
            no_new_privs: false,
        }
    }

    /// Root's credentials after `setresgid(gid)`, `setgroups(0)`,
    /// `setresuid(uid)` and an `execve`: all ids `uid`/`gid`, no
    /// supplementary groups, and, for a `uid` other than 0, no
    /// capabilities (what `vmm run --user` starts init with).
    pub fn user(uid: u32, gid: u32) -> Result<Self, Errno> {
        let root = Self::root();
        let dropped = root.setgroups(Vec::new())?.setresgid(gid, gid, gid)?.setresuid(uid, uid, uid)?;
        Ok(dropped.exec(None).cred)
    }

    /// Whether the effective set holds `cap` (Linux `capable`).
    pub fn capable(&self, cap: u32) -> bool {
        self.cap_effective & (1 << cap) != 0
    }

    /// Whether `gid` is the filesystem group or a supplementary one
    /// (Linux `in_group_p`): what file permission checks ask.
    pub fn in_group_p(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.binary_search(&gid).is_ok()
    }

    /// `in_group_p` for the effective group (Linux `in_egroup_p`).
    pub fn in_egroup_p(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.binary_search(&gid).is_ok()
    }

    fn is_secure(&self, bit: u32) -> bool {
        self.securebits & bit != 0
    }

    /// The capability fix-ups after a change of user ids (Linux
    /// `cap_task_fix_setuid`), unless `SECBIT_NO_SETUID_FIXUP`: leaving
    /// uid 0 in all of real, effective and saved drops the permitted and
    /// effective sets (kept with `SECBIT_KEEP_CAPS`) and always the
    /// ambient one; an effective uid leaving 0 drops the effective set, one
    /// becoming 0 regains the permitted set. A filesystem uid leaving 0
    /// drops, one becoming 0 regains, the filesystem capabilities.
    fn fix_setuid(&mut self, old: &Cred, how: SetId) {
        if self.is_secure(SECBIT_NO_SETUID_FIXUP) {
            return;
        }
        match how {
            SetId::Ids => {
                let was_root = old.uid == 0 || old.euid == 0 || old.suid == 0;
                let is_root = self.uid == 0 || self.euid == 0 || self.suid == 0;
                if was_root && !is_root {
                    if !self.is_secure(SECBIT_KEEP_CAPS) {
                        self.cap_permitted = 0;
                        self.cap_effective = 0;
                    }
                    self.cap_ambient = 0;
                }
                if old.euid == 0 && self.euid != 0 {
                    self.cap_effective = 0;
                }
                if old.euid != 0 && self.euid == 0 {
                    self.cap_effective = self.cap_permitted;
                }
            }
            SetId::Fs => {
                if old.fsuid == 0 && self.fsuid != 0 {
                    self.cap_effective &= !CAP_FS_SET;
                }
                if old.fsuid != 0 && self.fsuid == 0 {
                    self.cap_effective |= self.cap_permitted & CAP_FS_SET;
                }
            }
        }
    }

    /// `setuid(uid)` (Linux `__sys_setuid`): with `CAP_SETUID` all of
    /// real, effective and saved become `uid`; without, only the effective
    /// (and filesystem) uid, and only to the real or saved one, else
    /// `EPERM`. `EINVAL` for `(uid_t)-1`.
    pub fn setuid(&self, uid: u32) -> Result<Cred, Errno> {
        if uid == NO_ID {
            return Err(EINVAL);
        }
        let mut new = self.clone();
        if self.capable(CAP_SETUID) {
            new.uid = uid;
            new.suid = uid;
        } else if uid != self.uid && uid != self.suid {
            return Err(EPERM);
        }
        new.euid = uid;
        new.fsuid = uid;
        new.fix_setuid(self, SetId::Ids);
        Ok(new)
    }

    /// `setgid(gid)`: as [`Cred::setuid`], with `CAP_SETGID` and no
    /// capability fix-ups.
    pub fn setgid(&self, gid: u32) -> Result<Cred, Errno> {
        if gid == NO_ID {
            return Err(EINVAL);
        }
        let mut new = self.clone();
        if self.capable(CAP_SETGID) {
            new.gid = gid;
            new.sgid = gid;
        } else if gid != self.gid && gid != self.sgid {
            return Err(EPERM);
        }
        new.egid = gid;
        new.fsgid = gid;
        Ok(new)
    }

    /// `setreuid(ruid, euid)` (Linux `__sys_setreuid`), -1 keeping one:
    /// without `CAP_SETUID` the real uid may become the real or effective
    /// one, the effective uid any of real, effective, saved. The saved uid
    /// follows the effective one when the real uid is set or the effective
    /// one becomes other than the old real one.
    pub fn setreuid(&self, ruid: u32, euid: u32) -> Result<Cred, Errno> {
        let cap = self.capable(CAP_SETUID);
        let mut new = self.clone();
        if ruid != NO_ID {
            if !cap && ruid != self.uid && ruid != self.euid {
                return Err(EPERM);
            }
            new.uid = ruid;
        }
        if euid != NO_ID {
            if !cap && euid != self.uid && euid != self.euid && euid != self.suid {
                return Err(EPERM);
            }
            new.euid = euid;
        }
        if ruid != NO_ID || (euid != NO_ID && euid != self.uid) {
            new.suid = new.euid;
        }
        new.fsuid = new.euid;
        new.fix_setuid(self, SetId::Ids);
        Ok(new)
    }

    /// `setregid(rgid, egid)`: as [`Cred::setreuid`] with `CAP_SETGID`.
    pub fn setregid(&self, rgid: u32, egid: u32) -> Result<Cred, Errno> {
        let cap = self.capable(CAP_SETGID);
        let mut new = self.clone();
        if rgid != NO_ID {
            if !cap && rgid != self.gid && rgid != self.egid {
                return Err(EPERM);
            }
            new.gid = rgid;
        }
        if egid != NO_ID {
            if !cap && egid != self.gid && egid != self.egid && egid != self.sgid {
                return Err(EPERM);
            }
            new.egid = egid;
        }
        if rgid != NO_ID || (egid != NO_ID && egid != self.gid) {
            new.sgid = new.egid;
        }
        new.fsgid = new.egid;
        Ok(new)
    }

    /// `setresuid(ruid, euid, suid)`, -1 keeping one: without
    /// `CAP_SETUID` each new id must be one of the three old ones.
    pub fn setresuid(&self, ruid: u32, euid: u32, suid: u32) -> Result<Cred, Errno> {
        let allowed = |id: u32| id == NO_ID || id == self.uid || id == self.euid || id == self.suid;
        if !(self.capable(CAP_SETUID) || [ruid, euid, suid].into_iter().all(allowed)) {
            return Err(EPERM);
        }
        let mut new = self.clone();
        for (id, slot) in [(ruid, &mut new.uid), (euid, &mut new.euid), (suid, &mut new.suid)] {
            if id != NO_ID {
                *slot = id;
            }
        }
        new.fsuid = new.euid;
        new.fix_setuid(self, SetId::Ids);
        Ok(new)
    }

    /// `setresgid(rgid, egid, sgid)`: as [`Cred::setresuid`] with
    /// `CAP_SETGID`.
    pub fn setresgid(&self, rgid: u32, egid: u32, sgid: u32) -> Result<Cred, Errno> {
        let allowed = |id: u32| id == NO_ID || id == self.gid || id == self.egid || id == self.sgid;
        if !(self.capable(CAP_SETGID) || [rgid, egid, sgid].into_iter().all(allowed)) {
            return Err(EPERM);
        }
        let mut new = self.clone();
        for (id, slot) in [(rgid, &mut new.gid), (egid, &mut new.egid), (sgid, &mut new.sgid)] {
            if id != NO_ID {
                *slot = id;
            }
        }
        new.fsgid = new.egid;
        Ok(new)
    }

    /// `setfsuid(uid)`: the old filesystem uid, and the new credentials if
    /// `uid` is one of real, effective, saved or filesystem uid (or the
    /// caller has `CAP_SETUID`); otherwise nothing changes and there is no
    /// error, as in Linux.
    pub fn setfsuid(&self, uid: u32) -> (u32, Option<Cred>) {
        let old = self.fsuid;
        let allowed = uid == self.uid || uid == self.euid || uid == self.suid || uid == self.fsuid || self.capable(CAP_SETUID);
        if uid == NO_ID || !allowed || uid == old {
            return (old, None);
        }
        let mut new = self.clone();
        new.fsuid = uid;
        new.fix_setuid(self, SetId::Fs);
        (old, Some(new))
    }

    /// `setfsgid(gid)`: as [`Cred::setfsuid`] with `CAP_SETGID`.
    pub fn setfsgid(&self, gid: u32) -> (u32, Option<Cred>) {
        let old = self.fsgid;
        let allowed = gid == self.gid || gid == self.egid || gid == self.sgid || gid == self.fsgid || self.capable(CAP_SETGID);
        if gid == NO_ID || !allowed || gid == old {
            return (old, None);
        }
        let mut new = self.clone();
        new.fsgid = gid;
        (old, Some(new))
    }

    /// Sets the supplementary groups (Linux `setgroups`): `EPERM` without
    /// `CAP_SETGID`; `EINVAL` for more than `NGROUPS_MAX` or an invalid
    /// id.
    pub fn setgroups(&self, mut groups: Vec<u32>) -> Result<Cred, Errno> {
        if !self.capable(CAP_SETGID) {
            return Err(EPERM);
        }
        if groups.len() > NGROUPS_MAX || groups.contains(&NO_ID) {
            return Err(EINVAL);
        }
        groups.sort_unstable();
        Ok(Cred { groups, ..self.clone() })
    }

    /// Replaces the capability sets (Linux `cap_capset`'s rules, for a
    /// process acting on itself): permitted may only shrink; effective
    /// must lie inside the new permitted; inheritable inside the old
    /// inheritable plus the bounding set, and, without `CAP_SETPCAP`,
    /// inside the old inheritable plus the old permitted. `EPERM`
    /// otherwise. Ambient capabilities leave with the ones they needed.
    pub fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> Result<Cred, Errno> {
        let setpcap = self.capable(CAP_SETPCAP);
        if !setpcap && inheritable & !(self.cap_inheritable | self.cap_permitted) != 0 {
            return Err(EPERM);
        }
        if inheritable & !(self.cap_inheritable | self.cap_bset) != 0 {
            return Err(EPERM);
        }
        if permitted & !self.cap_permitted != 0 || effective & !permitted != 0 {
            return Err(EPERM);
        }
        let mut new = self.clone();
        new.cap_effective = effective & CAP_FULL_SET;
        new.cap_permitted = permitted & CAP_FULL_SET;
        new.cap_inheritable = inheritable & CAP_FULL_SET;
        new.cap_ambient &= permitted & inheritable;
        Ok(new)
    }

    /// `PR_CAPBSET_DROP`: `EPERM` without `CAP_SETPCAP`, `EINVAL` for an
    /// unknown capability.
    pub fn capbset_drop(&self, cap: u64) -> Result<Cred, Errno> {
        if cap > u64::from(CAP_LAST_CAP) {
            return Err(EINVAL);
        }
        if !self.capable(CAP_SETPCAP) {
            return Err(EPERM);
        }
        Ok(Cred { cap_bset: self.cap_bset & !(1 << cap), ..self.clone() })
    }

    /// `PR_SET_SECUREBITS` (Linux `cap_task_prctl`): `EPERM` for unknown
    /// bits, without `CAP_SETPCAP`, to change a locked setting or to
    /// remove a lock.
    pub fn set_securebits(&self, bits: u64) -> Result<Cred, Errno> {
        let bits = u32::try_from(bits).ok().filter(|b| b & !(SECURE_ALL_BITS | SECURE_ALL_LOCKS) == 0).ok_or(EPERM)?;
        let locks = self.securebits & SECURE_ALL_LOCKS;
        if (locks >> 1) & (self.securebits ^ bits) != 0 || locks & !bits != 0 || !self.capable(CAP_SETPCAP) {
            return Err(EPERM);
        }
        Ok(Cred { securebits: bits, ..self.clone() })
    }

    /// `PR_SET_KEEPCAPS`: 0 or 1 (`EINVAL` otherwise), `EPERM` once
    /// locked.
    pub fn set_keepcaps(&self, keep: u64) -> Result<Cred, Errno> {
        if keep > 1 {
            return Err(EINVAL);
        }
        if self.securebits & (SECBIT_KEEP_CAPS << 1) != 0 {
            return Err(EPERM);
        }
        let mut new = self.clone();
        new.securebits = if keep == 1 { new.securebits | SECBIT_KEEP_CAPS } else { new.securebits & !SECBIT_KEEP_CAPS };
        Ok(new)
    }

    /// `PR_CAP_AMBIENT_RAISE`/`LOWER`/`CLEAR_ALL` (`raise`: `Some(true)`,
    /// `Some(false)`, `None` for all): a capability is raised only if it is
    /// both permitted and inheritable and `SECBIT_NO_CAP_AMBIENT_RAISE` is
    /// clear (`EPERM`).
    pub fn set_ambient(&self, cap: u64, raise: Option<bool>) -> Result<Cred, Errno> {
        let mut new = self.clone();
        match raise {
            None => new.cap_ambient = 0,
            Some(_) if cap > u64::from(CAP_LAST_CAP) => return Err(EINVAL),
            Some(false) => new.cap_ambient &= !(1 << cap),
            Some(true) => {
                let bit = 1 << cap;
                if self.cap_permitted & bit == 0 || self.cap_inheritable & bit == 0 || self.is_secure(SECBIT_NO_CAP_AMBIENT_RAISE) {
                    return Err(EPERM);
                }
                new.cap_ambient |= bit;
            }
        }
        Ok(new)
    }

    /// The credentials of a new program (Linux `prepare_exec_creds`,
    /// `bprm_fill_uid` and `cap_bprm_creds_from_file`, without file
    /// capabilities). `file` is the executable's owner, group and mode:
    /// `S_ISUID` makes its owner the effective uid, `S_ISGID` with group
    /// execute its group the effective gid, unless `no_new_privs`. Root
    /// (real or effective uid 0, unless `SECBIT_NOROOT`) gets the bounding
    /// set plus the inheritable one as permitted, and all of them
    /// effective if its effective uid is 0; anyone else keeps only its
    /// ambient capabilities. The saved and filesystem ids become the
    /// effective ones; `SECBIT_KEEP_CAPS` is cleared.
    pub fn exec(&self, file: Option<(u32, u32, u32)>) -> ExecCreds {
        let mut new = self.clone();
        new.securebits &= !SECBIT_KEEP_CAPS;
        if let (Some((owner, group, mode)), false) = (file, self.no_new_privs) {
            if mode & 0o4000 != 0 {
                new.euid = owner;
            }
            if mode & 0o2010 == 0o2010 {
                new.egid = group;
            }
        }
        let mut effective = false;
        if !self.is_secure(SECBIT_NOROOT) {
            if new.euid == 0 || new.uid == 0 {
                new.cap_permitted = self.cap_bset | self.cap_inheritable;
            }
            effective = new.euid == 0;
        }
        if !(new.euid == 0 || new.uid == 0) || self.is_secure(SECBIT_NOROOT) {
            new.cap_permitted = 0;
        }
        let is_setid = new.euid != self.uid || new.egid != self.gid;
        let gained = new.cap_permitted & !self.cap_permitted != 0;
        if (is_setid || gained) && self.no_new_privs {
            new.euid = new.uid;
            new.egid = new.gid;
            new.cap_permitted &= self.cap_permitted;
        }
        new.suid = new.euid;
        new.fsuid = new.euid;
        new.sgid = new.egid;
        new.fsgid = new.egid;
        if is_setid {
            new.cap_ambient = 0;
        }
        new.cap_permitted |= new.cap_ambient;
        new.cap_effective = if effective { new.cap_permitted } else { new.cap_ambient };
        let grew = new.cap_permitted & !new.cap_ambient != 0;
        let secure = is_setid || (new.uid != 0 && (effective || grew));
        // Linux decides in `begin_new_exec` from the old ids, then
        // `commit_creds` takes it away again for a change of privilege.
        let dumpable = self.euid == self.uid && self.egid == self.gid && !new.loses_dumpable(self);
        ExecCreds { cred: new, secure, dumpable }
    }

    /// Whether replacing `old` by these credentials makes the process
    /// not dumpable (Linux `commit_creds`): a change of effective or
    /// filesystem ids, or permitted capabilities it did not have.
    pub fn loses_dumpable(&self, old: &Cred) -> bool {
        self.euid != old.euid || self.egid != old.egid || self.fsuid != old.fsuid || self.fsgid != old.fsgid || self.cap_permitted & !old.cap_permitted != 0
    }

    /// Whether a task with these credentials may send a signal to one
    /// with `target`'s (Linux `kill_ok_by_cred`): its real or effective
    /// uid is the target's real or saved uid, or it has `CAP_KILL`.
    pub fn may_signal(&self, target: &Cred) -> bool {
        [self.euid, self.uid].iter().any(|&u| u == target.uid || u == target.suid) || self.capable(CAP_KILL)
    }

    /// Whether this task may change `target`'s nice value (Linux
    /// `set_one_prio_perm`): its effective uid is the target's real or
    /// effective uid, or it has `CAP_SYS_NICE`.
    pub fn may_renice(&self, target: &Cred) -> bool {
        self.euid == target.uid || self.euid == target.euid || self.capable(CAP_SYS_NICE)
    }

    /// Whether this task may read or change `target`'s resource limits
    /// (Linux `check_prlimit_permission`): all of the target's uids and
    /// gids are the caller's real ones, or it has `CAP_SYS_RESOURCE`.
    pub fn may_prlimit(&self, target: &Cred) -> bool {
        let same =
            [target.uid, target.euid, target.suid].iter().all(|&u| u == self.uid) && [target.gid, target.egid, target.sgid].iter().all(|&g| g == self.gid);
        same || self.capable(CAP_SYS_RESOURCE)
    }

    /// Whether this task may look into another process (its `/proc`
    /// links, environment, auxiliary vector, page map) the way Linux's
    /// `ptrace_may_access(PTRACE_MODE_READ_FSCREDS)` allows: the caller's
    /// filesystem ids are all of the target's real, effective and saved
    /// ones and the target is dumpable, or the caller has
    /// `CAP_SYS_PTRACE`. (A thread of the same process always may: the
    /// caller checks that.)
    pub fn may_ptrace_read(&self, target: &Cred, target_dumpable: bool) -> bool {
        let same =
            [target.uid, target.euid, target.suid].iter().all(|&u| u == self.fsuid) && [target.gid, target.egid, target.sgid].iter().all(|&g| g == self.fsgid);
        (same && target_dumpable) || self.capable(CAP_SYS_PTRACE)
    }

    /// The credentials `access(2)` checks with (Linux
    /// `access_override_creds`): the real uid and gid as the filesystem
    /// ones, and, unless `SECBIT_NO_SETUID_FIXUP`, no effective
    /// capabilities for a non-root real uid and the permitted ones for
    /// root.
    pub fn for_access(&self) -> Cred {
        let mut c = self.clone();
        c.fsuid = c.uid;
        c.fsgid = c.gid;
        if !self.is_secure(SECBIT_NO_SETUID_FIXUP) {
            c.cap_effective = if c.uid == 0 { c.cap_permitted } else { 0 };
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: u32 = 65534;

    fn ids(c: &Cred) -> ([u32; 4], [u32; 4]) {
        ([c.uid, c.euid, c.suid, c.fsuid], [c.gid, c.egid, c.sgid, c.fsgid])
    }

    /// An unprivileged task with distinct real, effective and saved ids.
    fn mixed() -> Cred {
        let c = Cred::root().setresgid(10, 11, 12).unwrap().setresuid(1, 2, 3).unwrap();
        assert_eq!(c.cap_permitted, 0);
        c
    }

    #[test]
    fn root_setuid_drops_everything_for_good() {
        let c = Cred::root().setuid(NOBODY).unwrap();
        assert_eq!(ids(&c).0, [NOBODY; 4]);
        assert_eq!((c.cap_effective, c.cap_permitted, c.cap_ambient), (0, 0, 0));
        assert_eq!(c.cap_bset, CAP_FULL_SET, "the bounding set stays");
        assert_eq!(c.setuid(0), Err(EPERM), "no way back");
        assert_eq!(c.setreuid(0, NO_ID), Err(EPERM));
        assert_eq!(c.setresuid(NO_ID, 0, NO_ID), Err(EPERM));
        assert_eq!(c.setuid(NO_ID), Err(EINVAL));
        assert_eq!(c.setgid(5), Err(EPERM));
        assert_eq!(c.setgroups(alloc::vec![0]), Err(EPERM));
        assert_eq!(c.capset(1, 1, 0), Err(EPERM));
    }

    /// The table of Linux's rules for an unprivileged caller with real,
    /// effective and saved uids 1, 2, 3.
    #[test]
    fn unprivileged_id_changes_follow_linux() {
        let c = mixed();
        // setuid: only to the real or saved uid, and only the effective one.
        assert_eq!(ids(&c.setuid(1).unwrap()).0, [1, 1, 3, 1]);
        assert_eq!(ids(&c.setuid(3).unwrap()).0, [1, 3, 3, 3]);
        assert_eq!(c.setuid(2), Err(EPERM), "the effective uid is not among real and saved");
        assert_eq!(c.setuid(4), Err(EPERM));
        // setreuid: real to real or effective; effective to any of the
        // three; saved follows when the real uid is set or the effective
        // one leaves the old real uid.
        assert_eq!(ids(&c.setreuid(2, NO_ID).unwrap()).0, [2, 2, 2, 2]);
        assert_eq!(c.setreuid(3, NO_ID), Err(EPERM));
        assert_eq!(ids(&c.setreuid(NO_ID, 3).unwrap()).0, [1, 3, 3, 3]);
        assert_eq!(ids(&c.setreuid(NO_ID, 1).unwrap()).0, [1, 1, 3, 1], "back to the real uid keeps saved");
        assert_eq!(ids(&c.setreuid(NO_ID, NO_ID).unwrap()).0, [1, 2, 3, 2]);
        assert_eq!(c.setreuid(NO_ID, 4), Err(EPERM));
        // setresuid: each to one of the old three.
        assert_eq!(ids(&c.setresuid(3, 1, 2).unwrap()).0, [3, 1, 2, 1]);
        assert_eq!(c.setresuid(1, 1, 4), Err(EPERM));
        // setfsuid: any of the four; otherwise silently nothing.
        assert_eq!(c.setfsuid(3).0, 2);
        assert_eq!(c.setfsuid(3).1.map(|n| n.fsuid), Some(3));
        assert_eq!(c.setfsuid(4), (2, None));
        assert_eq!(c.setfsuid(NO_ID), (2, None));
        // The same for groups, with CAP_SETGID.
        assert_eq!(ids(&c.setgid(10).unwrap()).1, [10, 10, 12, 10]);
        assert_eq!(c.setgid(11), Err(EPERM));
        assert_eq!(ids(&c.setregid(11, NO_ID).unwrap()).1, [11, 11, 11, 11]);
        assert_eq!(ids(&c.setresgid(NO_ID, 12, NO_ID).unwrap()).1, [10, 12, 12, 12]);
        assert_eq!(c.setresgid(13, NO_ID, NO_ID), Err(EPERM));
        assert_eq!(c.setfsgid(13), (11, None));
    }

    #[test]
    fn capabilities_follow_the_uids() {
        // Effective uid away from 0 and back: the effective set goes and
        // comes back from the permitted one.
        let away = Cred::root().setresuid(NO_ID, NOBODY, NO_ID).unwrap();
        assert_eq!((away.cap_effective, away.cap_permitted), (0, CAP_FULL_SET));
        let back = away.setresuid(NO_ID, 0, NO_ID).unwrap();
        assert_eq!(back.cap_effective, CAP_FULL_SET);
        // KEEPCAPS keeps the permitted set across losing uid 0 everywhere.
        let keep = Cred::root().set_keepcaps(1).unwrap().setresuid(NOBODY, NOBODY, NOBODY).unwrap();
        assert_eq!((keep.cap_effective, keep.cap_permitted), (0, CAP_FULL_SET));
        let keep = keep.capset(1 << CAP_KILL, CAP_FULL_SET, 0).unwrap();
        assert!(keep.capable(CAP_KILL));
        // ... until an exec, for a non-root user.
        let after = keep.exec(None).cred;
        assert_eq!((after.cap_effective, after.cap_permitted, after.securebits), (0, 0, 0));
        // The filesystem uid takes only the filesystem capabilities along.
        let (_, fs) = Cred::root().setfsuid(NOBODY);
        let fs = fs.unwrap();
        assert_eq!(fs.cap_effective, CAP_FULL_SET & !CAP_FS_SET);
        assert_eq!(fs.setfsuid(0).1.unwrap().cap_effective, CAP_FULL_SET);
        // NO_SETUID_FIXUP: nothing moves.
        let nofix = Cred::root().set_securebits(u64::from(SECBIT_NO_SETUID_FIXUP)).unwrap().setuid(NOBODY).unwrap();
        assert_eq!(nofix.cap_effective, CAP_FULL_SET);
    }

    #[test]
    fn exec_honours_set_id_bits_and_computes_capabilities() {
        let user = Cred::user(1000, 100).unwrap();
        assert_eq!((ids(&user), user.cap_permitted, user.groups.len()), (([1000; 4], [100; 4]), 0, 0));
        // A plain program: nothing changes, dumpable, not secure.
        let plain = user.exec(Some((0, 0, 0o755)));
        assert_eq!((plain.cred.clone(), plain.secure, plain.dumpable), (user.clone(), false, true));
        // Set-user-ID root: effective and saved uid 0, every capability,
        // AT_SECURE, not dumpable.
        let suid = user.exec(Some((0, 0, 0o4755)));
        assert_eq!(ids(&suid.cred).0, [1000, 0, 0, 0]);
        assert_eq!((suid.cred.cap_effective, suid.secure, suid.dumpable), (CAP_FULL_SET, true, false));
        // Set-group-ID needs group execute.
        assert_eq!(ids(&user.exec(Some((0, 5, 0o2755))).cred).1, [100, 5, 5, 5]);
        assert_eq!(ids(&user.exec(Some((0, 5, 0o2745))).cred).1, [100; 4]);
        // no_new_privs: the bits are ignored.
        let nnp = Cred { no_new_privs: true, ..user.clone() }.exec(Some((0, 0, 0o6755)));
        assert_eq!((ids(&nnp.cred), nnp.secure), (([1000; 4], [100; 4]), false));
        // Root keeps bounding plus inheritable, all effective.
        let root = Cred { cap_bset: 0xff, ..Cred::root() }.exec(None).cred;
        assert_eq!((root.cap_permitted, root.cap_effective), (0xff, 0xff));
        // A real root with another effective uid: permitted, not effective.
        let half = Cred::root().setresuid(0, NOBODY, 0).unwrap().exec(None);
        assert_eq!((half.cred.cap_permitted, half.cred.cap_effective, half.cred.suid), (CAP_FULL_SET, 0, NOBODY));
        assert!(!half.dumpable, "effective and real uid differed");
        // Ambient capabilities survive a non-root exec, not a set-ID one.
        let amb = Cred::root().set_keepcaps(1).unwrap().setresuid(NOBODY, NOBODY, NOBODY).unwrap();
        let amb = amb.capset(0, 1 << CAP_KILL, 1 << CAP_KILL).unwrap().set_ambient(u64::from(CAP_KILL), Some(true)).unwrap();
        let after = amb.exec(None).cred;
        assert_eq!((after.cap_permitted, after.cap_effective, after.cap_ambient), (1 << CAP_KILL, 1 << CAP_KILL, 1 << CAP_KILL));
        assert_eq!(amb.exec(Some((1, 1, 0o4755))).cred.cap_ambient, 0);
    }

    #[test]
    fn ambient_and_securebits_rules() {
        let c = Cred::root();
        assert_eq!(c.set_ambient(u64::from(CAP_KILL), Some(true)), Err(EPERM), "not inheritable");
        assert_eq!(c.set_ambient(99, Some(true)), Err(EINVAL));
        let locked = c.set_securebits(u64::from(SECBIT_KEEP_CAPS << 1)).unwrap();
        assert_eq!(locked.set_keepcaps(1), Err(EPERM));
        assert_eq!(locked.set_securebits(0), Err(EPERM), "a lock stays");
        assert_eq!(c.set_securebits(1 << 20), Err(EPERM));
        assert_eq!(mixed().set_securebits(0), Err(EPERM));
        assert_eq!(c.set_keepcaps(2), Err(EINVAL));
        assert_eq!(c.capbset_drop(u64::from(CAP_LAST_CAP) + 1), Err(EINVAL));
        assert_eq!(c.capbset_drop(u64::from(CAP_KILL)).unwrap().cap_bset, CAP_FULL_SET & !(1 << CAP_KILL));
    }

    #[test]
    fn other_tasks_checks() {
        let (root, a, b) = (Cred::root(), Cred::user(1, 1).unwrap(), Cred::user(2, 2).unwrap());
        assert!(root.may_signal(&a) && a.may_signal(&a) && !a.may_signal(&b) && !a.may_signal(&root));
        // A set-user-ID program may still be signalled by its real user.
        let suid = a.exec(Some((0, 0, 0o4755))).cred;
        assert!(a.may_signal(&suid));
        assert!(!a.may_renice(&b) && a.may_renice(&a) && root.may_renice(&b));
        assert!(!a.may_prlimit(&suid) && a.may_prlimit(&a) && root.may_prlimit(&a));
        assert!(a.may_ptrace_read(&a, true) && !a.may_ptrace_read(&a, false) && !a.may_ptrace_read(&suid, true));
        assert!(root.may_ptrace_read(&suid, false));
        let acc = suid.for_access();
        assert_eq!((acc.fsuid, acc.cap_effective), (1, 0));
        assert_eq!(Cred::root().setresuid(NO_ID, 5, NO_ID).unwrap().for_access().cap_effective, CAP_FULL_SET);
    }

    #[test]
    fn capabilities_only_shrink_and_effective_stays_in_permitted() {
        let c = Cred::root();
        assert!(c.capable(CAP_IPC_LOCK));
        let without = CAP_FULL_SET & !(1 << CAP_IPC_LOCK);
        assert_eq!(c.capset(CAP_FULL_SET, without, 0), Err(EPERM), "effective beyond permitted");
        let c = c.capset(without, CAP_FULL_SET, 0).unwrap();
        assert!(!c.capable(CAP_IPC_LOCK));
        // Still permitted, so it can come back.
        let c = c.capset(CAP_FULL_SET, CAP_FULL_SET, 0).unwrap().capset(without, without, 0).unwrap();
        assert_eq!(c.capset(CAP_FULL_SET, CAP_FULL_SET, 0), Err(EPERM), "permitted never grows");
        let c = c.capset(0, 0, 0).unwrap();
        assert_eq!(c.capset(0, 0, 1), Err(EPERM), "no CAP_SETPCAP, no new inheritable bits");
        assert_eq!(c.setgroups(alloc::vec![1]), Err(EPERM));
    }

    #[test]
    fn groups_are_kept_sorted_and_count_for_in_group() {
        let c = Cred::root().setgroups(alloc::vec![10, 3, 7]).unwrap();
        assert_eq!(c.groups, [3, 7, 10]);
        assert!(c.in_group_p(7) && c.in_group_p(0) && !c.in_group_p(4));
        assert_eq!(c.setgroups(alloc::vec![NO_ID]), Err(EINVAL));
        assert!(!Cred::root().loses_dumpable(&Cred::root()));
        assert!(Cred::root().setuid(1).unwrap().loses_dumpable(&Cred::root()));
    }
}
