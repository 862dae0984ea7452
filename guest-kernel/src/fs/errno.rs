//! Error numbers, with Linux's values (`include/uapi/asm-generic/errno-base.h`
//! and `errno.h`, which x86-64 uses unchanged).
//!
//! The kernel passes them around as positive [`Errno`] values; the system
//! call layer returns `-errno` in `rax`.

/// A positive Linux error number.
pub type Errno = i32;

pub const EPERM: Errno = 1;
pub const ENOENT: Errno = 2;
pub const ESRCH: Errno = 3;
pub const EINTR: Errno = 4;
pub const EIO: Errno = 5;
pub const ENXIO: Errno = 6;
pub const E2BIG: Errno = 7;
pub const ENOEXEC: Errno = 8;
pub const EBADF: Errno = 9;
pub const ECHILD: Errno = 10;
pub const EAGAIN: Errno = 11;
pub const EWOULDBLOCK: Errno = EAGAIN;
pub const ENOMEM: Errno = 12;
pub const EACCES: Errno = 13;
pub const EFAULT: Errno = 14;
pub const ENOTBLK: Errno = 15;
pub const EBUSY: Errno = 16;
pub const EEXIST: Errno = 17;
pub const EXDEV: Errno = 18;
pub const ENODEV: Errno = 19;
pub const ENOTDIR: Errno = 20;
pub const EISDIR: Errno = 21;
pub const EINVAL: Errno = 22;
pub const ENFILE: Errno = 23;
pub const EMFILE: Errno = 24;
pub const ENOTTY: Errno = 25;
pub const ETXTBSY: Errno = 26;
pub const EFBIG: Errno = 27;
pub const ENOSPC: Errno = 28;
pub const ESPIPE: Errno = 29;
pub const EROFS: Errno = 30;
pub const EMLINK: Errno = 31;
pub const EPIPE: Errno = 32;
pub const EDOM: Errno = 33;
pub const ERANGE: Errno = 34;
pub const EDEADLK: Errno = 35;
pub const ENAMETOOLONG: Errno = 36;
pub const ENOLCK: Errno = 37;
pub const ENOSYS: Errno = 38;
pub const ENOTEMPTY: Errno = 39;
pub const ELOOP: Errno = 40;
pub const EOVERFLOW: Errno = 75;
pub const EOPNOTSUPP: Errno = 95;
pub const ETIMEDOUT: Errno = 110;
pub const ENOTSUP: Errno = EOPNOTSUPP;

/// The symbolic name of an error number (`"ENOENT"`), for messages;
/// `"E?"` for numbers this table does not know.
pub fn name(errno: Errno) -> &'static str {
    const NAMES: [&str; 41] = [
        "0",
        "EPERM",
        "ENOENT",
        "ESRCH",
        "EINTR",
        "EIO",
        "ENXIO",
        "E2BIG",
        "ENOEXEC",
        "EBADF",
        "ECHILD",
        "EAGAIN",
        "ENOMEM",
        "EACCES",
        "EFAULT",
        "ENOTBLK",
        "EBUSY",
        "EEXIST",
        "EXDEV",
        "ENODEV",
        "ENOTDIR",
        "EISDIR",
        "EINVAL",
        "ENFILE",
        "EMFILE",
        "ENOTTY",
        "ETXTBSY",
        "EFBIG",
        "ENOSPC",
        "ESPIPE",
        "EROFS",
        "EMLINK",
        "EPIPE",
        "EDOM",
        "ERANGE",
        "EDEADLK",
        "ENAMETOOLONG",
        "ENOLCK",
        "ENOSYS",
        "ENOTEMPTY",
        "ELOOP",
    ];
    match errno {
        EOVERFLOW => "EOVERFLOW",
        EOPNOTSUPP => "EOPNOTSUPP",
        ETIMEDOUT => "ETIMEDOUT",
        _ => usize::try_from(errno).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("E?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_numbers() {
        assert_eq!(name(ENOENT), "ENOENT");
        assert_eq!(name(ENAMETOOLONG), "ENAMETOOLONG");
        assert_eq!(name(ELOOP), "ELOOP");
        assert_eq!(name(EOPNOTSUPP), "EOPNOTSUPP");
        assert_eq!(name(-1), "E?");
        assert_eq!(name(1000), "E?");
    }
}
