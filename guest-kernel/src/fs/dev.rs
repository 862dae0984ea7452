//! The memory character devices (Linux `drivers/char/mem.c`, major 1):
//! `/dev/null` (reads end at once, writes vanish), `/dev/zero` (reads
//! zeros), `/dev/full` (writes fail with ENOSPC), `/dev/random` and
//! `/dev/urandom` (pseudo-random bytes: this kernel has no entropy
//! source, see `getrandom`). The kernel makes their nodes in `/dev` at
//! boot, as devtmpfs does.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::errno::{Errno, ENOSPC, ENXIO};
use super::stat::{makedev, S_IFCHR, S_IFMT};

/// The nodes `/dev` gets at boot: name, minor (major 1), mode.
pub const MEM_DEVICES: [(&str, u32, u32); 5] = [("null", 3, 0o666), ("zero", 5, 0o666), ("full", 7, 0o666), ("random", 8, 0o666), ("urandom", 9, 0o666)];

const MEM_MAJOR: u32 = 1;

/// Whether a node of this mode and device number has a driver here.
pub fn is_known(mode: u32, rdev: u64) -> bool {
    mode & S_IFMT == S_IFCHR && MEM_DEVICES.iter().any(|&(_, minor, _)| makedev(MEM_MAJOR, minor) == rdev)
}

fn minor_of(rdev: u64) -> Option<u32> {
    MEM_DEVICES.iter().map(|&(_, minor, _)| minor).find(|&minor| makedev(MEM_MAJOR, minor) == rdev)
}

static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);

/// Where the generator starts: the boot clock in the kernel (it differs
/// from boot to boot), a constant on the host.
#[cfg(target_os = "none")]
fn seed() -> u64 {
    crate::time::uptime_ns()
}

#[cfg(not(target_os = "none"))]
fn seed() -> u64 {
    0x9e37_79b9_7f4a_7c15
}

fn random_fill(buf: &mut [u8]) {
    let mut x = RANDOM_STATE.load(Relaxed);
    if x == 0 {
        x = seed() | 1;
    }
    for b in buf.iter_mut() {
        // xorshift64*: not cryptographic.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *b = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
    }
    RANDOM_STATE.store(x, Relaxed);
}

pub fn read(rdev: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    match minor_of(rdev).ok_or(ENXIO)? {
        3 => Ok(0),
        8 | 9 => {
            random_fill(buf);
            Ok(buf.len())
        }
        _ => {
            buf.fill(0);
            Ok(buf.len())
        }
    }
}

pub fn write(rdev: u64, buf: &[u8]) -> Result<usize, Errno> {
    match minor_of(rdev).ok_or(ENXIO)? {
        7 => Err(ENOSPC),
        _ => Ok(buf.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_devices_behave_like_linux() {
        let dev = |minor| makedev(1, minor);
        let mut buf = [7u8; 16];
        assert_eq!(read(dev(3), &mut buf), Ok(0), "null: end of file");
        assert_eq!(write(dev(3), &buf), Ok(16), "null: swallows");
        assert_eq!(read(dev(5), &mut buf), Ok(16));
        assert_eq!(buf, [0; 16], "zero: zeros");
        assert_eq!(write(dev(7), &buf), Err(ENOSPC), "full: no space");
        assert_eq!(read(dev(7), &mut buf), Ok(16), "full reads zeros");
        let mut a = [0u8; 64];
        assert_eq!(read(dev(9), &mut a), Ok(64));
        assert!(a.iter().any(|&b| b != 0), "urandom: not all zero");
        assert!(is_known(S_IFCHR | 0o666, dev(8)));
        assert!(!is_known(S_IFCHR | 0o666, makedev(4, 1)), "a tty: no driver");
        assert!(!is_known(super::super::stat::S_IFBLK | 0o666, dev(3)), "a block device 1,3 is not null");
        assert_eq!(read(makedev(4, 1), &mut a), Err(ENXIO));
    }
}
