//! The error numbers of mm's operations, typed (`Errno::EINVAL`); the
//! system-call layer turns them into its plain `i32` with `?`.

use core::fmt;

/// A Linux errno, positive (`Errno::EINVAL.0 == 22`); system calls return
/// its negation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Self = Self(1);
    pub const EBADF: Self = Self(9);
    pub const EAGAIN: Self = Self(11);
    pub const ENOMEM: Self = Self(12);
    pub const EACCES: Self = Self(13);
    pub const EFAULT: Self = Self(14);
    pub const EEXIST: Self = Self(17);
    pub const ENODEV: Self = Self(19);
    pub const EINVAL: Self = Self(22);
    pub const EOVERFLOW: Self = Self(75);
    pub const EOPNOTSUPP: Self = Self(95);

    /// The symbolic name (`"EINVAL"`).
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "EPERM",
            9 => "EBADF",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            17 => "EEXIST",
            19 => "ENODEV",
            22 => "EINVAL",
            75 => "EOVERFLOW",
            95 => "EOPNOTSUPP",
            _ => "E?",
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// So that `?` turns it into the plain `i32` errno of the system-call layer.
impl From<Errno> for i32 {
    fn from(e: Errno) -> i32 {
        e.0
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
