//! Kernel access to user memory (Linux `arch/x86/lib/usercopy` and the
//! exception table): one copy routine whose user-side faults either get
//! resolved by the page-fault handler or end at a fixup that makes the
//! copy fail. The safe entry points check that the user range lies below
//! [`TASK_SIZE_MAX`] themselves, so callers need no `unsafe`.

use core::arch::{asm, global_asm};
use core::ptr::addr_of;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The end of the user half the kernel lets user copies touch (Linux
/// `TASK_SIZE_MAX`: the last page below 2^47 stays out, and holds the
/// system-call trampoline here).
pub const TASK_SIZE_MAX: u64 = 0x7fff_ffff_f000;

/// RFLAGS.AC: with SMAP on, supervisor accesses to user pages are allowed
/// while it is set.
const X86_EFLAGS_AC: u64 = 1 << 18;

static SMAP: AtomicBool = AtomicBool::new(false);

/// Called once SMAP is switched on in CR4: user copies then open the
/// window with `stac`/`clac`.
pub fn note_smap_enabled() {
    SMAP.store(true, Relaxed);
}

global_asm!(
    ".pushsection .text",
    // fn copy_user_asm(dst, src, len) -> u64: 0 on success, 1 on a fault
    // (the fixup below).
    ".global copy_user_asm",
    "copy_user_asm:",
    "    mov rcx, rdx",
    "    shr rcx, 3",
    ".global uaccess_start",
    "uaccess_start:",
    "    rep movsq",
    "    mov rcx, rdx",
    "    and rcx, 7",
    "    rep movsb",
    ".global uaccess_end",
    "uaccess_end:",
    "    xor eax, eax",
    "    ret",
    ".global uaccess_fixup",
    "uaccess_fixup:",
    "    mov eax, 1",
    "    ret",
    ".popsection",
);

extern "C" {
    fn copy_user_asm(dst: *mut u8, src: *const u8, len: usize) -> u64;
    static uaccess_start: u8;
    static uaccess_end: u8;
    static uaccess_fixup: u8;
}

/// Whether `rip` is a user-access instruction whose fault has a fixup
/// (Linux's exception table, with a single entry), and where to go.
pub fn uaccess_fixup_for(rip: u64) -> Option<u64> {
    let (start, end, fixup) = (addr_of!(uaccess_start) as u64, addr_of!(uaccess_end) as u64, addr_of!(uaccess_fixup) as u64);
    (start..end).contains(&rip).then_some(fixup)
}

/// A user page the copy needed could not be made accessible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFault;

/// Copies `len` bytes between kernel and user memory; `Err(UserFault)` if a user
/// page could not be made accessible (the caller returns `EFAULT`). The
/// user range must already be checked to lie below the user limit.
///
/// # Safety
/// The kernel side of the copy must be valid for `len` bytes.
pub unsafe fn copy_user(dst: *mut u8, src: *const u8, len: usize) -> Result<(), UserFault> {
    let smap = SMAP.load(Relaxed);
    // Setting and clearing RFLAGS.AC only opens and closes the SMAP window. (Through `popfq`: kvm_pvm's ring-0 emulator does not know `stac`/`clac`
    // and stops the VM on them.) The copy faults only on the user side; a fault there is either resolved by the page-fault handler or sent to the
    // fixup, which returns 1. The kernel side is the caller's promise.
    // SAFETY: the reasons just above.
    let r = unsafe {
        if smap {
            asm!("pushfq", "or qword ptr [rsp], {ac}", "popfq", ac = const X86_EFLAGS_AC, options(nomem));
        }
        let r = copy_user_asm(dst, src, len);
        if smap {
            asm!("pushfq", "and qword ptr [rsp], {ac}", "popfq", ac = const !X86_EFLAGS_AC, options(nomem));
        }
        r
    };
    if r == 0 {
        Ok(())
    } else {
        Err(UserFault)
    }
}

/// Whether `[addr, addr + len)` lies below [`TASK_SIZE_MAX`] (Linux
/// `access_ok`).
pub fn access_ok(addr: u64, len: usize) -> bool {
    addr.checked_add(len as u64).is_some_and(|end| end <= TASK_SIZE_MAX)
}

/// Copies user memory at `src` into `dst`; `Err(UserFault)` when the range
/// is not in the user half or a page of it cannot be made accessible.
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), UserFault> {
    if dst.is_empty() {
        return Ok(());
    }
    if !access_ok(src, dst.len()) {
        return Err(UserFault);
    }
    // SAFETY: `dst` is a live kernel buffer of its length; the user side
    // was checked to lie in the user half.
    unsafe { copy_user(dst.as_mut_ptr(), src as *const u8, dst.len()) }
}

/// Copies `src` to user memory at `dst`; errors as [`copy_from_user`].
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), UserFault> {
    if src.is_empty() {
        return Ok(());
    }
    if !access_ok(dst, src.len()) {
        return Err(UserFault);
    }
    // SAFETY: as for `copy_from_user`, the other way round.
    unsafe { copy_user(dst as *mut u8, src.as_ptr(), src.len()) }
}
