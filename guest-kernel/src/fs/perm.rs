//! File permissions (Linux `fs/namei.c` `generic_permission`, `may_open`,
//! `may_create`, `may_delete`, `fs/attr.c` `setattr_prepare`,
//! `fs/inode.c` `inode_init_owner`): one set of rules for every path
//! that reads, writes, executes, searches, creates, removes or changes a
//! file, over an [`Owner`] (uid, gid, mode) and the caller's
//! [`Cred`].
//!
//! The rules, as Linux has them:
//! - the owner is judged by the owner bits only, a member of the file's
//!   group (by the filesystem gid or a supplementary group) by the group
//!   bits, everyone else by the other bits;
//! - `CAP_DAC_READ_SEARCH` overrides reading any file and reading or
//!   searching any directory; `CAP_DAC_OVERRIDE` overrides everything
//!   but executing a file that has no execute bit at all (so root too
//!   gets `EACCES` for a file without one);
//! - in a sticky directory only the file's owner, the directory's owner
//!   or `CAP_FOWNER` may remove or rename an entry (`EPERM`);
//! - `chmod`, explicit times and `O_NOATIME` need the owner or
//!   `CAP_FOWNER` (`EPERM`); `chown` to another user needs `CAP_CHOWN`,
//!   to another group the owner in that group or `CAP_CHOWN`.
//!
//! The filesystem uid and gid are what count, as in Linux; `access(2)`
//! passes [`Cred::for_access`] to check with the real ones.

use crate::cred::{Cred, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID};

use super::errno::{Errno, EACCES, EPERM};
use super::stat::{S_IFDIR, S_IFMT};

/// Permission masks (Linux `MAY_*`).
pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;
const S_IXGRP: u32 = 0o010;
const S_IXUGO: u32 = 0o111;

/// What the permission rules look at of a file: its owner, group and
/// mode (type bits included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Owner {
    fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

/// The mode bits that apply to `cred` (Linux `acl_permission_check`): the
/// owner's, the group's or the others', as a 3-bit `rwx` value.
fn dac_bits(cred: &Cred, f: Owner) -> u32 {
    if cred.fsuid == f.uid {
        (f.mode >> 6) & 7
    } else if cred.in_group_p(f.gid) {
        (f.mode >> 3) & 7
    } else {
        f.mode & 7
    }
}

/// Whether `cred` may access `f` as `mask` (`MAY_READ | MAY_WRITE |
/// MAY_EXEC`) asks: `EACCES` if not (Linux `generic_permission`).
pub fn generic_permission(cred: &Cred, f: Owner, mask: u32) -> Result<(), Errno> {
    let mask = mask & 7;
    if mask & !dac_bits(cred, f) == 0 {
        return Ok(());
    }
    if f.is_dir() {
        if mask & MAY_WRITE == 0 && cred.capable(CAP_DAC_READ_SEARCH) {
            return Ok(());
        }
        return if cred.capable(CAP_DAC_OVERRIDE) { Ok(()) } else { Err(EACCES) };
    }
    if mask == MAY_READ && cred.capable(CAP_DAC_READ_SEARCH) {
        return Ok(());
    }
    if (mask & MAY_EXEC == 0 || f.mode & S_IXUGO != 0) && cred.capable(CAP_DAC_OVERRIDE) {
        return Ok(());
    }
    Err(EACCES)
}

/// Whether `cred` owns `f` or has `CAP_FOWNER` (Linux
/// `inode_owner_or_capable`).
pub fn owner_or_capable(cred: &Cred, f: Owner) -> bool {
    cred.fsuid == f.uid || cred.capable(CAP_FOWNER)
}

/// Whether an entry `victim` may be removed from (or renamed out of)
/// directory `dir`: write and search permission on it, and the sticky
/// rule (Linux `may_delete` without its type checks).
pub fn may_delete(cred: &Cred, dir: Owner, victim: Owner) -> Result<(), Errno> {
    generic_permission(cred, dir, MAY_WRITE | MAY_EXEC)?;
    if dir.mode & S_ISVTX != 0 && cred.fsuid != victim.uid && cred.fsuid != dir.uid && !cred.capable(CAP_FOWNER) {
        return Err(EPERM);
    }
    Ok(())
}

/// Whether an entry may be created in `dir` (Linux `may_create`).
pub fn may_create(cred: &Cred, dir: Owner) -> Result<(), Errno> {
    generic_permission(cred, dir, MAY_WRITE | MAY_EXEC)
}

/// The owner, group and mode of a new inode of `mode` (type and
/// permission bits, the umask already applied) in `dir` (Linux
/// `inode_init_owner` and `mode_strip_sgid`): the caller's filesystem uid;
/// in a set-group-ID directory the directory's group (and a new directory
/// inherits the bit), elsewhere the caller's filesystem gid. A new
/// group-executable set-group-ID file in a group the caller is not in
/// loses the bit unless the caller has `CAP_FSETID`.
pub fn new_owner(cred: &Cred, dir: Owner, mode: u32) -> Owner {
    let mut mode = mode;
    let gid = if dir.mode & S_ISGID != 0 {
        if mode & S_IFMT == S_IFDIR {
            mode |= S_ISGID;
        }
        dir.gid
    } else {
        cred.fsgid
    };
    if mode & S_IFMT != S_IFDIR && mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP && !cred.in_group_p(gid) && !cred.capable(CAP_FSETID) {
        mode &= !S_ISGID;
    }
    Owner { uid: cred.fsuid, gid, mode }
}

/// `chmod`: the permission bits `f` gets for `mode` (Linux
/// `setattr_prepare` for `ATTR_MODE`): `EPERM` unless the owner or
/// `CAP_FOWNER`; set-group-ID is dropped for a caller outside the file's
/// group without `CAP_FSETID`.
pub fn chmod(cred: &Cred, f: Owner, mode: u32) -> Result<u32, Errno> {
    if !owner_or_capable(cred, f) {
        return Err(EPERM);
    }
    let mut mode = mode & 0o7777;
    if !cred.in_group_p(f.gid) && !cred.capable(CAP_FSETID) {
        mode &= !S_ISGID;
    }
    Ok(mode)
}

/// `chown(uid, gid)` (`None`: unchanged) of `f`: its new owner, group and
/// mode (Linux `chown_common` and `setattr_prepare`). A new user needs
/// `CAP_CHOWN` (the owner may "change" to itself); a new group needs the
/// owner to be in it or `CAP_CHOWN`, else `EPERM`. A non-directory loses
/// set-user-ID, and set-group-ID if group-executable or the caller is
/// neither in its group nor has `CAP_FSETID`, even when nothing else
/// changes.
pub fn chown(cred: &Cred, f: Owner, uid: Option<u32>, gid: Option<u32>) -> Result<Owner, Errno> {
    if let Some(uid) = uid {
        let unchanged_by_owner = cred.fsuid == f.uid && uid == f.uid;
        if !(unchanged_by_owner || cred.capable(CAP_CHOWN)) {
            return Err(EPERM);
        }
    }
    if let Some(gid) = gid {
        let owner_in_group = cred.fsuid == f.uid && (gid == f.gid || cred.in_group_p(gid));
        if !(owner_in_group || cred.capable(CAP_CHOWN)) {
            return Err(EPERM);
        }
    }
    let mut mode = f.mode;
    if !f.is_dir() {
        mode &= !S_ISUID;
        if mode & S_ISGID != 0 && (mode & S_IXGRP != 0 || !(cred.in_group_p(f.gid) || cred.capable(CAP_FSETID))) {
            mode &= !S_ISGID;
        }
    }
    Ok(Owner { uid: uid.unwrap_or(f.uid), gid: gid.unwrap_or(f.gid), mode })
}

/// Setting times (`utimensat`): explicit times need the owner or
/// `CAP_FOWNER` (`EPERM`); "now" also write permission (`EACCES`).
pub fn may_set_times(cred: &Cred, f: Owner, explicit: bool) -> Result<(), Errno> {
    if owner_or_capable(cred, f) {
        return Ok(());
    }
    if explicit {
        return Err(EPERM);
    }
    generic_permission(cred, f, MAY_WRITE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cred::{CAP_FULL_SET, NO_ID};
    use crate::fs::stat::S_IFREG;

    fn user(uid: u32, gid: u32, groups: &[u32]) -> Cred {
        let c = Cred::root().setgroups(groups.to_vec()).unwrap();
        c.setresgid(gid, gid, gid).unwrap().setresuid(uid, uid, uid).unwrap()
    }

    fn file(uid: u32, gid: u32, mode: u32) -> Owner {
        Owner { uid, gid, mode: S_IFREG | mode }
    }

    fn dir(uid: u32, gid: u32, mode: u32) -> Owner {
        Owner { uid, gid, mode: S_IFDIR | mode }
    }

    /// A table of Linux's answers: who, what file, what access, result.
    #[test]
    fn generic_permission_table() {
        let root = Cred::root();
        let owner = user(1, 1, &[]);
        let member = user(2, 2, &[1]);
        let other = user(3, 3, &[]);
        let cases: &[(&Cred, Owner, u32, Result<(), Errno>)] = &[
            (&owner, file(1, 1, 0o600), MAY_READ | MAY_WRITE, Ok(())),
            (&owner, file(1, 1, 0o077), MAY_READ, Err(EACCES)), // the owner bits only
            (&member, file(1, 1, 0o640), MAY_READ, Ok(())),
            (&member, file(1, 1, 0o640), MAY_WRITE, Err(EACCES)),
            (&member, file(1, 1, 0o604), MAY_READ, Err(EACCES)), // group bits, not other
            (&other, file(1, 1, 0o604), MAY_READ, Ok(())),
            (&other, file(1, 1, 0o640), MAY_READ, Err(EACCES)),
            (&other, dir(1, 1, 0o700), MAY_EXEC, Err(EACCES)),
            (&other, dir(1, 1, 0o711), MAY_EXEC, Ok(())),
            (&other, dir(1, 1, 0o711), MAY_READ, Err(EACCES)),
            (&root, file(1, 1, 0o000), MAY_READ | MAY_WRITE, Ok(())),
            (&root, file(1, 1, 0o000), MAY_EXEC, Err(EACCES)), // no x bit at all
            (&root, file(1, 1, 0o001), MAY_EXEC, Ok(())),
            (&root, dir(1, 1, 0o000), MAY_EXEC | MAY_WRITE, Ok(())),
        ];
        for (i, (cred, f, mask, want)) in cases.iter().enumerate() {
            assert_eq!(generic_permission(cred, *f, *mask), *want, "case {i}");
        }
        // CAP_DAC_READ_SEARCH alone reads files and searches directories.
        let reader = root.capset(1 << CAP_DAC_READ_SEARCH, CAP_FULL_SET, 0).unwrap();
        assert_eq!(generic_permission(&reader, file(1, 1, 0), MAY_READ), Ok(()));
        assert_eq!(generic_permission(&reader, file(1, 1, 0), MAY_WRITE), Err(EACCES));
        assert_eq!(generic_permission(&reader, dir(1, 1, 0), MAY_READ | MAY_EXEC), Ok(()));
        assert_eq!(generic_permission(&reader, dir(1, 1, 0), MAY_WRITE), Err(EACCES));
        // The filesystem uid counts, not the effective one.
        let fs = root.setfsuid(1).1.unwrap();
        assert_eq!(generic_permission(&fs, file(1, 1, 0o400), MAY_READ), Ok(()));
    }

    #[test]
    fn sticky_directories_protect_other_users_entries() {
        let tmp = dir(0, 0, 0o1777);
        let (a, b) = (user(1, 1, &[]), user(2, 2, &[]));
        assert_eq!(may_delete(&a, tmp, file(1, 1, 0o600)), Ok(()));
        assert_eq!(may_delete(&b, tmp, file(1, 1, 0o666)), Err(EPERM));
        assert_eq!(may_delete(&Cred::root(), tmp, file(1, 1, 0o600)), Ok(()));
        assert_eq!(may_delete(&b, dir(2, 2, 0o1777), file(1, 1, 0o600)), Ok(()), "the directory's owner may");
        assert_eq!(may_delete(&b, dir(0, 0, 0o755), file(2, 2, 0o600)), Err(EACCES), "no write permission");
        assert_eq!(may_create(&b, dir(0, 0, 0o755)), Err(EACCES));
        assert_eq!(may_create(&b, tmp), Ok(()));
    }

    #[test]
    fn new_inodes_get_the_callers_ids_or_the_directorys_group() {
        let a = user(5, 6, &[]);
        assert_eq!(new_owner(&a, dir(0, 0, 0o777), S_IFREG | 0o644), file(5, 6, 0o644));
        let sgid = dir(0, 50, 0o2777);
        assert_eq!(new_owner(&a, sgid, S_IFREG | 0o644), file(5, 50, 0o644));
        assert_eq!(new_owner(&a, sgid, S_IFDIR | 0o755), dir(5, 50, 0o2755), "directories inherit the bit");
        assert_eq!(new_owner(&a, sgid, S_IFREG | 0o2755), file(5, 50, 0o755), "not in the group");
        assert_eq!(new_owner(&Cred::root(), sgid, S_IFREG | 0o2755), file(0, 50, 0o2755));
    }

    #[test]
    fn chmod_and_chown_rules() {
        let (a, b, root) = (user(1, 1, &[7]), user(2, 2, &[]), Cred::root());
        let f = file(1, 1, 0o644);
        assert_eq!(chmod(&a, f, 0o4755), Ok(0o4755));
        assert_eq!(chmod(&b, f, 0o777), Err(EPERM));
        assert_eq!(chmod(&a, file(1, 9, 0o644), 0o2755), Ok(0o755), "set-group-ID outside the group");
        assert_eq!(chmod(&root, file(1, 9, 0o644), 0o2755), Ok(0o2755));
        // chown: only root gives files away; the owner may change the
        // group to one it is in.
        assert_eq!(chown(&a, f, Some(2), None), Err(EPERM));
        assert_eq!(chown(&a, f, Some(1), None).map(|o| o.uid), Ok(1));
        assert_eq!(chown(&a, f, None, Some(7)).map(|o| o.gid), Ok(7));
        assert_eq!(chown(&a, f, None, Some(8)), Err(EPERM));
        assert_eq!(chown(&b, f, None, Some(1)), Err(EPERM));
        assert_eq!(chown(&root, f, Some(2), Some(NO_ID - 1)).map(|o| (o.uid, o.gid)), Ok((2, NO_ID - 1)));
        // The set-ID bits go on any chown of a non-directory.
        assert_eq!(chown(&root, file(1, 1, 0o6755), None, None).map(|o| o.mode & 0o7777), Ok(0o755));
        assert_eq!(chown(&root, file(1, 1, 0o6745), None, None).map(|o| o.mode & 0o7777), Ok(0o2745), "sgid without group x stays");
        assert_eq!(chown(&root, dir(1, 1, 0o6755), Some(0), None).map(|o| o.mode & 0o7777), Ok(0o6755));
    }

    #[test]
    fn times_need_the_owner_or_write_permission() {
        let b = user(2, 2, &[]);
        assert_eq!(may_set_times(&b, file(1, 1, 0o666), false), Ok(()));
        assert_eq!(may_set_times(&b, file(1, 1, 0o666), true), Err(EPERM));
        assert_eq!(may_set_times(&b, file(1, 1, 0o644), false), Err(EACCES));
        assert_eq!(may_set_times(&Cred::root(), file(1, 1, 0), true), Ok(()));
    }
}
