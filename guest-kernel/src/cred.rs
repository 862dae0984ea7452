//! Credentials (Linux `struct cred`, `kernel/cred.c`, `kernel/capability.c`,
//! `kernel/groups.c`): every task runs as root (uid and gid 0, which this
//! kernel never changes), with the supplementary groups and the
//! capability sets a process may shrink. The kernel checks the
//! capabilities it has a use for: `CAP_IPC_LOCK` lifts `RLIMIT_MEMLOCK`,
//! `CAP_SETGID` allows `setgroups`, `CAP_SYS_NICE` lowering a nice value.
//! Per thread, as in Linux; `fork` and `clone` copy them.

use alloc::vec::Vec;

pub const CAP_SETGID: u32 = 6;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_SYS_NICE: u32 = 23;
/// The highest capability Linux 6.x knows (`CAP_CHECKPOINT_RESTORE`).
pub const CAP_LAST_CAP: u32 = 40;
/// Every capability (Linux `CAP_FULL_SET`).
pub const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
/// Linux `NGROUPS_MAX`.
pub const NGROUPS_MAX: usize = 65536;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cred {
    /// Supplementary groups, sorted (Linux keeps `group_info` sorted).
    pub groups: Vec<u32>,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    pub cap_bset: u64,
    pub cap_ambient: u64,
    /// `PR_SET_NO_NEW_PRIVS`: set for good, inherited.
    pub no_new_privs: bool,
}

impl Cred {
    /// What init runs with: root, in no supplementary group (Linux's
    /// `init_cred` has group 0 only as gid), every capability.
    pub fn root() -> Self {
        Self {
            groups: Vec::new(),
            cap_effective: CAP_FULL_SET,
            cap_permitted: CAP_FULL_SET,
            cap_inheritable: 0,
            cap_bset: CAP_FULL_SET,
            cap_ambient: 0,
            no_new_privs: false,
        }
    }

    /// Whether the effective set holds `cap` (Linux `capable`).
    pub fn capable(&self, cap: u32) -> bool {
        self.cap_effective & (1 << cap) != 0
    }

    /// Replaces the capability sets (Linux `cap_capset`'s rules, for a
    /// process acting on itself): permitted may only shrink; effective
    /// must lie inside the new permitted; inheritable inside the old
    /// inheritable plus the bounding set, and, without `CAP_SETPCAP`,
    /// inside the old inheritable plus the old permitted. `EPERM`
    /// otherwise. Ambient capabilities leave with the ones they needed.
    pub fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> Result<(), i32> {
        use crate::fs::errno::EPERM;
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
        self.cap_effective = effective;
        self.cap_permitted = permitted;
        self.cap_inheritable = inheritable;
        self.cap_ambient &= permitted & inheritable;
        Ok(())
    }

    /// Sets the supplementary groups (Linux `setgroups`): `EPERM` without
    /// `CAP_SETGID`; `EINVAL` for more than `NGROUPS_MAX`.
    pub fn setgroups(&mut self, mut groups: Vec<u32>) -> Result<(), i32> {
        if !self.capable(CAP_SETGID) {
            return Err(crate::fs::errno::EPERM);
        }
        if groups.len() > NGROUPS_MAX {
            return Err(crate::fs::errno::EINVAL);
        }
        groups.sort_unstable();
        self.groups = groups;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::errno::EPERM;

    #[test]
    fn capabilities_only_shrink_and_effective_stays_in_permitted() {
        let mut c = Cred::root();
        assert!(c.capable(CAP_IPC_LOCK));
        let without = CAP_FULL_SET & !(1 << CAP_IPC_LOCK);
        assert_eq!(c.capset(CAP_FULL_SET, without, 0), Err(EPERM), "effective beyond permitted");
        c.capset(without, CAP_FULL_SET, 0).unwrap();
        assert!(!c.capable(CAP_IPC_LOCK));
        // Still permitted, so it can come back.
        c.capset(CAP_FULL_SET, CAP_FULL_SET, 0).unwrap();
        c.capset(without, without, 0).unwrap();
        assert_eq!(c.capset(CAP_FULL_SET, CAP_FULL_SET, 0), Err(EPERM), "permitted never grows");
        c.capset(0, 0, 0).unwrap();
        assert_eq!(c.capset(0, 0, 1), Err(EPERM), "no CAP_SETPCAP, no new inheritable bits");
        assert_eq!(c.setgroups(alloc::vec![1]), Err(EPERM));
    }

    #[test]
    fn groups_are_kept_sorted() {
        let mut c = Cred::root();
        c.setgroups(alloc::vec![10, 3, 7]).unwrap();
        assert_eq!(c.groups, [3, 7, 10]);
    }
}
