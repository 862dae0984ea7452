//! `prctl` (Linux `kernel/sys.c` `prctl` and the capability options of
//! `security/commoncap.c`): the options of a process about itself.

use super::*;

/// `prctl(option, arg2, arg3, arg4, arg5)` (Linux `kernel/sys.c`): the
/// options below; `EINVAL` for others, and for arguments Linux requires to
/// be zero that are not.
pub(super) fn sys_prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> SysResult {
    const PR_SET_PDEATHSIG: i32 = 1;
    const PR_GET_PDEATHSIG: i32 = 2;
    const PR_GET_DUMPABLE: i32 = 3;
    const PR_SET_DUMPABLE: i32 = 4;
    const PR_GET_KEEPCAPS: i32 = 7;
    const PR_SET_KEEPCAPS: i32 = 8;
    const PR_SET_NAME: i32 = 15;
    const PR_GET_NAME: i32 = 16;
    const PR_CAPBSET_READ: i32 = 23;
    const PR_CAPBSET_DROP: i32 = 24;
    const PR_GET_SECUREBITS: i32 = 27;
    const PR_SET_SECUREBITS: i32 = 28;
    const PR_SET_TIMERSLACK: i32 = 29;
    const PR_GET_TIMERSLACK: i32 = 30;
    const PR_SET_NO_NEW_PRIVS: i32 = 38;
    const PR_GET_NO_NEW_PRIVS: i32 = 39;
    const PR_SET_THP_DISABLE: i32 = 41;
    const PR_CAP_AMBIENT: i32 = 47;
    const PR_GET_THP_DISABLE: i32 = 42;
    const PR_SET_MDWE: i32 = 65;
    const PR_GET_MDWE: i32 = 66;
    const PR_SET_VMA: i32 = 0x5356_4d41;
    const PR_MDWE_REFUSE_EXEC_GAIN: u64 = 1;
    const PR_MDWE_NO_INHERIT: u64 = 2;
    let t = task();
    let zero = |args: &[u64]| if args.iter().all(|&a| a == 0) { Ok(()) } else { Err(EINVAL) };
    match option {
        PR_SET_PDEATHSIG => {
            if arg2 > 64 {
                return Err(EINVAL);
            }
            t.pdeath_signal = arg2 as u32;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            put_user(arg2, &(t.pdeath_signal as i32))?;
            Ok(0)
        }
        PR_SET_NAME => {
            // Up to the NUL, at most 15 bytes (Linux strncpy_from_user of
            // TASK_COMM_LEN - 1): a longer name is cut, not refused.
            let name = match crate::proc::uaccess::strncpy_from_user(arg2, 15) {
                Ok(name) => name,
                Err(ENAMETOOLONG) => {
                    let mut b = [0u8; 15];
                    copy_from_user(&mut b, arg2)?;
                    b.to_vec()
                }
                Err(e) => return Err(e),
            };
            t.comm = crate::proc::Comm::from_bytes(&name);
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            let comm = t.comm.as_str().as_bytes();
            name[..comm.len()].copy_from_slice(comm);
            copy_to_user(arg2, &name)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(u64::from(super::mm::mm()?.flags.dumpable)),
        PR_SET_DUMPABLE if arg2 <= 1 => {
            super::mm::mm()?.flags.dumpable = arg2 as u8;
            Ok(0)
        }
        PR_CAPBSET_READ if arg2 <= u64::from(crate::cred::CAP_LAST_CAP) => Ok((t.cred.cap_bset >> arg2) & 1),
        PR_CAPBSET_DROP => {
            let new = t.cred.capbset_drop(arg2)?;
            t.commit_creds(new);
            Ok(0)
        }
        PR_GET_SECUREBITS => Ok(u64::from(t.cred.securebits)),
        PR_SET_SECUREBITS => {
            let new = t.cred.set_securebits(arg2)?;
            t.commit_creds(new);
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok(u64::from(t.cred.securebits & crate::cred::SECBIT_KEEP_CAPS != 0)),
        PR_SET_KEEPCAPS => {
            let new = t.cred.set_keepcaps(arg2)?;
            t.commit_creds(new);
            Ok(0)
        }
        PR_CAP_AMBIENT => super::cred::prctl_cap_ambient(arg2, arg3, &[arg4, arg5]),
        PR_SET_TIMERSLACK => {
            t.timer_slack_ns = if arg2 == 0 { DEFAULT_TIMER_SLACK_NS } else { arg2 };
            Ok(0)
        }
        PR_GET_TIMERSLACK => Ok(t.timer_slack_ns),
        PR_SET_NO_NEW_PRIVS if arg2 == 1 => {
            zero(&[arg3, arg4, arg5])?;
            if !t.cred.no_new_privs {
                let new = crate::cred::Cred { no_new_privs: true, ..(*t.cred).clone() };
                t.commit_creds(new);
            }
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            zero(&[arg2, arg3, arg4, arg5])?;
            Ok(u64::from(t.cred.no_new_privs))
        }
        PR_SET_THP_DISABLE => {
            zero(&[arg3, arg4, arg5])?;
            super::mm::mm()?.flags.thp_disable = arg2 != 0;
            Ok(0)
        }
        PR_GET_THP_DISABLE => {
            zero(&[arg2, arg3, arg4, arg5])?;
            Ok(u64::from(super::mm::mm()?.flags.thp_disable))
        }
        PR_SET_MDWE => {
            zero(&[arg3, arg4, arg5])?;
            if arg2 & !(PR_MDWE_REFUSE_EXEC_GAIN | PR_MDWE_NO_INHERIT) != 0 || arg2 == PR_MDWE_NO_INHERIT {
                return Err(EINVAL);
            }
            let mm = super::mm::mm()?;
            // Once set, never changed or cleared.
            if mm.flags.mdwe != 0 && u64::from(mm.flags.mdwe) != arg2 {
                return Err(EPERM);
            }
            mm.flags.mdwe = arg2 as u32;
            Ok(0)
        }
        PR_GET_MDWE => {
            zero(&[arg2, arg3, arg4, arg5])?;
            Ok(u64::from(super::mm::mm()?.flags.mdwe))
        }
        PR_SET_VMA => super::mm::set_vma_anon_name(arg2, UserAddr::new(arg3), arg4, arg5),
        _ => Err(EINVAL),
    }
}

/// Linux's default timer slack (`PR_GET_TIMERSLACK`), ns.
pub(crate) const DEFAULT_TIMER_SLACK_NS: u64 = 50_000;
