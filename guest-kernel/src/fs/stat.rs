//! `struct stat` as x86-64 Linux lays it out (`arch/x86/include/uapi/asm/stat.h`),
//! the file type bits of `st_mode`, and device numbers.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// File types in `st_mode` (`include/uapi/linux/stat.h`).
pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
/// Permission and set-id bits: what `chmod` may change.
pub const S_IALLUGO: u32 = 0o7777;

/// A `dev_t` as user space sees it (glibc's `makedev`, the same bits as the
/// kernel's `new_encode_dev` for 12-bit majors and 20-bit minors).
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

pub const fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

pub const fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// `st_dev` of the in-memory root filesystem. Like every filesystem without
/// a block device it has an anonymous device number (major 0); the minors
/// here are ours, Linux hands them out in mount order.
pub const RAMFS_DEV: u64 = makedev(0, 1);
/// `st_dev` of `/proc` files.
pub const PROC_DEV: u64 = makedev(0, 4);
/// `st_dev` of pipes (pipefs).
pub const PIPEFS_DEV: u64 = makedev(0, 13);
/// `st_dev` of anonymous inodes (pidfds).
pub const ANON_INODE_DEV: u64 = makedev(0, 14);
/// `st_dev` of device nodes (the filesystem `/dev` would be, devtmpfs).
pub const DEVTMPFS_DEV: u64 = makedev(0, 5);
/// `st_rdev` of `/dev/console` (`TTYAUX_MAJOR` 5, minor 1).
pub const CONSOLE_RDEV: u64 = makedev(5, 1);

/// Linux x86-64 `struct stat`, what `fstat`/`newfstatat` write. Plain
/// data without padding (zerocopy checks it), so `put_user(buf, &st)`
/// copies it out as it is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub __pad0: i32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    /// 512-byte blocks allocated.
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub __unused: [i64; 3],
}

// The ABI: 144 bytes, no padding, fields where glibc and musl look.
const _: () = assert!(size_of::<Stat>() == Stat::SIZE);
const _: () = assert!(offset_of!(Stat, st_nlink) == 16);
const _: () = assert!(offset_of!(Stat, st_mode) == 24);
const _: () = assert!(offset_of!(Stat, st_rdev) == 40);
const _: () = assert!(offset_of!(Stat, st_size) == 48);
const _: () = assert!(offset_of!(Stat, st_blocks) == 64);
const _: () = assert!(offset_of!(Stat, st_mtime) == 88);
const _: () = assert!(offset_of!(Stat, __unused) == 120);

impl Stat {
    /// `sizeof(struct stat)` on x86-64.
    pub const SIZE: usize = 144;

    /// The bytes user space receives, little-endian as on x86-64 whatever
    /// the host that runs the tests (`as_bytes()` on the guest).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&self.st_dev.to_le_bytes());
        put(&self.st_ino.to_le_bytes());
        put(&self.st_nlink.to_le_bytes());
        put(&self.st_mode.to_le_bytes());
        put(&self.st_uid.to_le_bytes());
        put(&self.st_gid.to_le_bytes());
        put(&self.__pad0.to_le_bytes());
        put(&self.st_rdev.to_le_bytes());
        put(&self.st_size.to_le_bytes());
        put(&self.st_blksize.to_le_bytes());
        put(&self.st_blocks.to_le_bytes());
        for v in [self.st_atime, self.st_atime_nsec, self.st_mtime, self.st_mtime_nsec, self.st_ctime, self.st_ctime_nsec] {
            put(&v.to_le_bytes());
        }
        for v in self.__unused {
            put(&v.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_linux_x86_64_layout() {
        assert_eq!(size_of::<Stat>(), 144);
        let st = Stat {
            st_dev: 0x0102,
            st_ino: 7,
            st_nlink: 3,
            st_mode: S_IFREG | 0o755,
            st_uid: 1000,
            st_gid: 100,
            st_rdev: CONSOLE_RDEV,
            st_size: 4097,
            st_blksize: 4096,
            st_blocks: 16,
            st_mtime: 1_700_000_000,
            ..Stat::default()
        };
        let b = st.to_bytes();
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!(u64_at(0), 0x0102);
        assert_eq!(u64_at(8), 7);
        assert_eq!(u64_at(16), 3);
        assert_eq!(u32_at(24), 0o100755);
        assert_eq!(u32_at(28), 1000);
        assert_eq!(u32_at(32), 100);
        assert_eq!(u64_at(40), 0x501);
        assert_eq!(u64_at(48), 4097);
        assert_eq!(u64_at(56), 4096);
        assert_eq!(u64_at(64), 16);
        assert_eq!(u64_at(88), 1_700_000_000);
        assert!(b[120..].iter().all(|&x| x == 0));
        if cfg!(target_endian = "little") {
            assert_eq!(st.as_bytes(), &b[..]);
            assert_eq!(Stat::read_from_bytes(&b[..]).unwrap(), st);
        }
    }

    #[test]
    fn device_numbers_encode_like_glibc() {
        assert_eq!(makedev(5, 1), 0x501);
        assert_eq!(makedev(8, 0x12345), 0x12345 & 0xff | 8 << 8 | (0x12345 & !0xff) << 12);
        for (ma, mi) in [(0, 0), (5, 1), (4095, 255), (4096, 256), (0xffff_ffff, 0xffff_ffff)] {
            assert_eq!((major(makedev(ma, mi)), minor(makedev(ma, mi))), (ma, mi));
        }
    }
}
