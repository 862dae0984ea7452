//! User output to the host and input from it: the VMM copies a described
//! buffer to its own stdout or stderr, or fills it from its stdin
//! (`shared::ports::PORT_HOSTIO`), one exit per call.

use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{compiler_fence, Ordering::SeqCst};

use shared::ports::{HostWrite, HOSTIO_MAX_LEN, PORT_HOSTIO};

use crate::mm::addr::__pa_symbol;

const BUF_LEN: usize = 4096;

#[repr(C, align(4096))]
struct Bounce([u8; BUF_LEN]);

// The bounce buffer and request live in the kernel image, so their
// physical addresses are fixed and below 4 GiB.
static mut BOUNCE: Bounce = Bounce([0; BUF_LEN]);
static mut REQUEST: HostWrite = HostWrite { fd: 0, _pad: 0, addr: 0, len: 0, written: 0 };

/// Writes `bytes` to the host's `fd` (1 or 2); returns the bytes written.
pub fn write(fd: u32, bytes: &[u8]) -> usize {
    const _: () = assert!(BUF_LEN as u64 <= HOSTIO_MAX_LEN);
    let mut done = 0;
    while done < bytes.len() {
        let n = (bytes.len() - done).min(BUF_LEN);
        // SAFETY: one CPU with interrupts off: nothing else uses the bounce buffer or request while we fill them and the VMM reads them during the port write.
        let written = unsafe {
            let buf = &mut *addr_of_mut!(BOUNCE);
            buf.0[..n].copy_from_slice(&bytes[done..done + n]);
            let req = &mut *addr_of_mut!(REQUEST);
            *req = HostWrite { fd, _pad: 0, addr: __pa_symbol(addr_of!(BOUNCE)).as_u64(), len: n as u64, written: 0 };
            // The VMM reads and writes these during the port write.
            compiler_fence(SeqCst);
            crate::arch::cpu::outl(PORT_HOSTIO, __pa_symbol(addr_of!(REQUEST)).as_u64() as u32);
            compiler_fence(SeqCst);
            core::ptr::read_volatile(addr_of!(REQUEST.written))
        };
        done += written as usize;
        if written as usize != n {
            break;
        }
    }
    done
}

/// Reads from the host's stdin into `buf` (at most a page per call);
/// returns the bytes read, 0 at the end of the input (or with no input).
pub fn read(buf: &mut [u8]) -> usize {
    let n = buf.len().min(BUF_LEN);
    if n == 0 {
        return 0;
    }
    // SAFETY: as in `write`: one CPU with interrupts off; the VMM fills the bounce buffer and `written` during the port write.
    unsafe {
        let req = &mut *addr_of_mut!(REQUEST);
        *req = HostWrite { fd: 0, _pad: 0, addr: __pa_symbol(addr_of!(BOUNCE)).as_u64(), len: n as u64, written: 0 };
        compiler_fence(SeqCst);
        crate::arch::cpu::outl(PORT_HOSTIO, __pa_symbol(addr_of!(REQUEST)).as_u64() as u32);
        compiler_fence(SeqCst);
        let got = (core::ptr::read_volatile(addr_of!(REQUEST.written)) as usize).min(n);
        let bounce = &*addr_of!(BOUNCE);
        buf[..got].copy_from_slice(&bounce.0[..got]);
        got
    }
}

/// The kernel console's own request and buffer (printk may run while a
/// user write is half-way through the ones above, on the panic path).
#[repr(C, align(4096))]
struct LineBuf([u8; CONSOLE_LINE]);

/// Most bytes one console request carries.
pub const CONSOLE_LINE: usize = 512;

static mut CONSOLE_BUF: LineBuf = LineBuf([0; CONSOLE_LINE]);
static mut CONSOLE_REQUEST: HostWrite = HostWrite { fd: 0, _pad: 0, addr: 0, len: 0, written: 0 };

/// Sends `bytes` (at most [`CONSOLE_LINE`]) to the console through the
/// VMM's console port (`shared::ports::PORT_CONSOLE`), one exit for all of
/// them: false when the VMM does not have the port.
pub fn console_write(bytes: &[u8]) -> bool {
    let n = bytes.len().min(CONSOLE_LINE);
    // SAFETY: one CPU with interrupts off, and the console lock (or the panic path, which stops everything else) held by the caller: nothing else uses this buffer and request while the VMM reads them.
    unsafe {
        let buf = &mut *addr_of_mut!(CONSOLE_BUF);
        buf.0[..n].copy_from_slice(&bytes[..n]);
        let req = &mut *addr_of_mut!(CONSOLE_REQUEST);
        *req = HostWrite { fd: 1, _pad: 0, addr: __pa_symbol(addr_of!(CONSOLE_BUF)).as_u64(), len: n as u64, written: u64::MAX };
        compiler_fence(SeqCst);
        crate::arch::cpu::outl(shared::ports::PORT_CONSOLE, __pa_symbol(addr_of!(CONSOLE_REQUEST)).as_u64() as u32);
        compiler_fence(SeqCst);
        core::ptr::read_volatile(addr_of!(CONSOLE_REQUEST.written)) == n as u64
    }
}
