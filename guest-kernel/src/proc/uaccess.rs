//! Copying to and from user memory (Linux `copy_{from,to}_user`,
//! `strncpy_from_user`). Every user pointer is range-checked against the
//! user half first; a page that is missing is faulted in on the spot by the
//! page-fault handler, and one that cannot be (no VMA, wrong permission)
//! makes the copy fail with `EFAULT` through the exception-table fixup.

use alloc::string::String;
use alloc::vec::Vec;

use crate::fs::errno::{EFAULT, ENAMETOOLONG};
use crate::mm::addr::PAGE_SIZE;

/// The end of user addresses (Linux `TASK_SIZE_MAX` on x86-64).
pub const TASK_SIZE: u64 = crate::arch::uaccess::TASK_SIZE_MAX;
/// Linux `PATH_MAX`.
pub const PATH_MAX: usize = 4096;

pub use crate::arch::uaccess::access_ok;

pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), i32> {
    crate::arch::uaccess::copy_from_user(dst, src).map_err(|_| EFAULT)
}

pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), i32> {
    crate::arch::uaccess::copy_to_user(dst, src).map_err(|_| EFAULT)
}

/// Writes `len` zero bytes at `dst` (Linux `clear_user`).
pub fn clear_user(dst: u64, len: usize) -> Result<(), i32> {
    const ZEROES: [u8; 512] = [0; 512];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(ZEROES.len());
        copy_to_user(dst + done as u64, &ZEROES[..n])?;
        done += n;
    }
    Ok(())
}

/// Reads a plain-data value.
pub fn get_user<T: zerocopy::FromBytes + zerocopy::IntoBytes>(src: u64) -> Result<T, i32> {
    let mut v = T::new_zeroed();
    copy_from_user(v.as_mut_bytes(), src)?;
    Ok(v)
}

/// Writes a plain-data value.
pub fn put_user<T: zerocopy::IntoBytes + zerocopy::Immutable>(dst: u64, v: &T) -> Result<(), i32> {
    copy_to_user(dst, v.as_bytes())
}

/// A NUL-terminated string of at most `max` bytes (without the NUL), read
/// a page at a time so that a string ending just before an unmapped page
/// is fine. `ENAMETOOLONG` when no NUL comes in time; invalid UTF-8 is
/// kept as bytes.
pub fn strncpy_from_user(src: u64, max: usize) -> Result<Vec<u8>, i32> {
    let mut out = Vec::new();
    let mut addr = src;
    loop {
        let chunk = (PAGE_SIZE - (addr & (PAGE_SIZE - 1))) as usize;
        let mut buf = [0u8; 256];
        let n = chunk.min(buf.len());
        copy_from_user(&mut buf[..n], addr)?;
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return if out.len() > max { Err(ENAMETOOLONG) } else { Ok(out) };
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > max {
            return Err(ENAMETOOLONG);
        }
        addr += n as u64;
    }
}

/// A path argument: at most `PATH_MAX - 1` bytes.
pub fn get_path(src: u64) -> Result<String, i32> {
    let bytes = strncpy_from_user(src, PATH_MAX - 1)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A `struct timespec` as nanoseconds (Linux `timespec64_valid`): EINVAL
/// for negative seconds or nanoseconds outside `0..1e9`; a time too large
/// saturates.
pub fn timespec_ns([sec, nsec]: [i64; 2]) -> Result<u64, i32> {
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(crate::fs::errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64))
}

/// The `struct timespec` at `uaddr`, as nanoseconds ([`timespec_ns`]).
pub fn get_timespec(uaddr: u64) -> Result<u64, i32> {
    timespec_ns(get_user(uaddr)?)
}
