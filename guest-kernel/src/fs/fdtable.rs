//! A process's file descriptor table (Linux `struct files_struct`).
//!
//! Descriptors are small integers naming shared open file descriptions
//! (`Arc<File>`); each also carries its close-on-exec flag. New descriptors
//! take the lowest free number, as POSIX requires, below the
//! `RLIMIT_NOFILE` limit (`EMFILE` when none is left). Cloning the table is
//! `fork`: the copies share the descriptions, and so their offsets.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::errno::{Errno, EBADF, EINVAL, EMFILE};
use super::file::File;

/// The default soft `RLIMIT_NOFILE` (Linux `INR_OPEN_CUR`).
pub const RLIMIT_NOFILE_DEFAULT: usize = 1024;

#[derive(Clone)]
struct Slot {
    file: Arc<File>,
    cloexec: bool,
}

#[derive(Clone)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
    limit: usize,
}

impl FdTable {
    /// An empty table with the default limit.
    pub fn new() -> Self {
        Self::with_limit(RLIMIT_NOFILE_DEFAULT)
    }

    pub fn with_limit(limit: usize) -> Self {
        Self { slots: Vec::new(), limit }
    }

    /// The `RLIMIT_NOFILE` in force: descriptors are below it.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit; descriptors already above it stay open, as in
    /// Linux.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    fn index(&self, fd: i32) -> Option<usize> {
        usize::try_from(fd).ok().filter(|&i| self.slots.get(i).is_some_and(Option::is_some))
    }

    /// Installs `file` at the lowest free descriptor (Linux
    /// `get_unused_fd_flags` + `fd_install`); `EMFILE` when all below the
    /// limit are taken.
    pub fn install(&mut self, file: Arc<File>, cloexec: bool) -> Result<i32, Errno> {
        self.install_from(0, file, cloexec).map_err(|e| if e == EINVAL { EMFILE } else { e })
    }

    /// Installs `file` at the lowest free descriptor `>= min_fd`
    /// (`fcntl(F_DUPFD)`): `EINVAL` when `min_fd` is negative or not below
    /// the limit, `EMFILE` when nothing is free.
    pub fn install_from(&mut self, min_fd: i32, file: Arc<File>, cloexec: bool) -> Result<i32, Errno> {
        let min = usize::try_from(min_fd).map_err(|_| EINVAL)?;
        if min >= self.limit {
            return Err(EINVAL);
        }
        let fd = (min..self.limit).find(|&i| self.slots.get(i).is_none_or(Option::is_none)).ok_or(EMFILE)?;
        let fd_i32 = i32::try_from(fd).map_err(|_| EMFILE)?;
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(Slot { file, cloexec });
        Ok(fd_i32)
    }

    /// Installs `file` at `fd`, closing what was there (the core of
    /// `dup2`/`dup3`); returns the replaced file. `EBADF` when `fd` is
    /// negative or not below the limit.
    pub fn install_at(&mut self, fd: i32, file: Arc<File>, cloexec: bool) -> Result<Option<Arc<File>>, Errno> {
        let i = usize::try_from(fd).ok().filter(|&i| i < self.limit).ok_or(EBADF)?;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        Ok(self.slots[i].replace(Slot { file, cloexec }).map(|s| s.file))
    }

    /// The file at `fd` (`None`: `EBADF` for the caller).
    pub fn get(&self, fd: i32) -> Option<Arc<File>> {
        self.index(fd).and_then(|i| self.slots[i].as_ref()).map(|s| s.file.clone())
    }

    /// `close(2)`: `EBADF` when `fd` is not open. The description goes
    /// when its last descriptor does.
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let i = self.index(fd).ok_or(EBADF)?;
        self.slots[i] = None;
        self.trim();
        Ok(())
    }

    /// Drops the free slots at the end, and gives back the memory of a
    /// table that has become much smaller than it was (Linux keeps a grown
    /// table until exit; here init's table outlives the check that every
    /// page came back, so it returns to its size).
    fn trim(&mut self) {
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        let keep = self.slots.len().max(4);
        if self.slots.capacity() >= 2 * keep {
            // A new, smaller vector (`shrink_to` would `krealloc`, which
            // keeps a block that shrinks, as Linux's does); if there is no
            // memory for it, the old one stays.
            let mut small = Vec::new();
            if small.try_reserve_exact(keep).is_ok() {
                small.append(&mut self.slots);
                self.slots = small;
            }
        }
    }

    /// `dup(2)` (`min_fd` 0) and `fcntl(F_DUPFD[_CLOEXEC])`.
    pub fn dup(&mut self, fd: i32, min_fd: i32, cloexec: bool) -> Result<i32, Errno> {
        let file = self.get(fd).ok_or(EBADF)?;
        if min_fd == 0 {
            self.install(file, cloexec)
        } else {
            self.install_from(min_fd, file, cloexec)
        }
    }

    /// `dup2(2)`, and `dup3(2)` once its caller has refused `oldfd ==
    /// newfd` (`EINVAL`): `newfd` now refers to `oldfd`'s file. With equal
    /// descriptors nothing changes.
    pub fn dup2(&mut self, oldfd: i32, newfd: i32, cloexec: bool) -> Result<i32, Errno> {
        let file = self.get(oldfd).ok_or(EBADF)?;
        if oldfd != newfd {
            self.install_at(newfd, file, cloexec)?;
        }
        Ok(newfd)
    }

    /// The close-on-exec flag (`fcntl(F_GETFD)`).
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        let i = self.index(fd).ok_or(EBADF)?;
        Ok(self.slots[i].as_ref().is_some_and(|s| s.cloexec))
    }

    /// `fcntl(F_SETFD)`.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        let i = self.index(fd).ok_or(EBADF)?;
        if let Some(slot) = self.slots[i].as_mut() {
            slot.cloexec = cloexec;
        }
        Ok(())
    }

    /// Closes every close-on-exec descriptor (Linux `do_close_on_exec`, at
    /// `execve`).
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                *slot = None;
            }
        }
        self.trim();
    }

    /// Open descriptors.
    pub fn count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The open descriptors in increasing order, with their files.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Arc<File>)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| Some((i32::try_from(i).ok()?, &s.as_ref()?.file)))
    }
}

impl Default for FdTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<File> {
        File::snapshot(b"x".to_vec())
    }

    #[test]
    fn lowest_free_descriptor_first() {
        let mut t = FdTable::new();
        for want in 0..5 {
            assert_eq!(t.install(file(), false), Ok(want));
        }
        t.close(1).unwrap();
        t.close(3).unwrap();
        assert_eq!(t.install(file(), false), Ok(1));
        assert_eq!(t.install(file(), false), Ok(3));
        assert_eq!(t.install(file(), false), Ok(5));
        assert_eq!(t.count(), 6);
        let fds: Vec<i32> = t.iter().map(|(fd, _)| fd).collect();
        assert_eq!(fds, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_limit_gives_emfile() {
        let mut t = FdTable::with_limit(3);
        for _ in 0..3 {
            t.install(file(), false).unwrap();
        }
        assert_eq!(t.install(file(), false), Err(EMFILE));
        t.close(1).unwrap();
        assert_eq!(t.install(file(), false), Ok(1));
        let mut t = FdTable::new();
        for i in 0..RLIMIT_NOFILE_DEFAULT {
            assert_eq!(t.install(file(), false), Ok(i as i32));
        }
        assert_eq!(t.install(file(), false), Err(EMFILE));
        assert_eq!(FdTable::with_limit(0).install(file(), false), Err(EMFILE));
    }

    #[test]
    fn bad_descriptors_are_ebadf() {
        let mut t = FdTable::new();
        assert_eq!(t.close(0), Err(EBADF));
        assert_eq!(t.close(-1), Err(EBADF));
        assert!(t.get(0).is_none() && t.get(-5).is_none() && t.get(i32::MAX).is_none());
        let fd = t.install(file(), false).unwrap();
        t.close(fd).unwrap();
        assert_eq!(t.close(fd), Err(EBADF), "double close");
        assert_eq!(t.cloexec(fd), Err(EBADF));
        assert_eq!(t.set_cloexec(fd, true), Err(EBADF));
        assert_eq!(t.dup(fd, 0, false), Err(EBADF));
        assert_eq!(t.dup2(fd, 3, false), Err(EBADF));
    }

    #[test]
    fn cloexec_is_per_descriptor_and_exec_closes_them() {
        let mut t = FdTable::new();
        let f = file();
        let a = t.install(f.clone(), true).unwrap();
        let b = t.dup(a, 0, false).unwrap();
        assert_eq!((t.cloexec(a), t.cloexec(b)), (Ok(true), Ok(false)));
        assert!(Arc::ptr_eq(&t.get(a).unwrap(), &t.get(b).unwrap()));
        t.set_cloexec(b, true).unwrap();
        t.set_cloexec(a, false).unwrap();
        t.close_on_exec();
        assert!(t.get(a).is_some() && t.get(b).is_none());
        assert_eq!(Arc::strong_count(&f), 2);
    }

    #[test]
    fn dup_variants_follow_linux() {
        let mut t = FdTable::with_limit(16);
        let f = file();
        t.install(f.clone(), false).unwrap();
        assert_eq!(t.dup(0, 10, true), Ok(10));
        assert_eq!(t.dup(0, 10, false), Ok(11));
        assert_eq!(t.dup(0, 16, false), Err(EINVAL));
        assert_eq!(t.dup(0, -1, false), Err(EINVAL));
        assert_eq!(t.dup2(0, 5, false), Ok(5));
        assert_eq!(t.dup2(0, 0, false), Ok(0));
        assert_eq!(t.dup2(0, 16, false), Err(EBADF));
        assert_eq!(t.dup2(0, -1, false), Err(EBADF));
        // dup2 over an open descriptor closes it.
        let other = file();
        t.install_at(7, other.clone(), true).unwrap();
        assert_eq!(Arc::strong_count(&other), 2);
        t.dup2(0, 7, false).unwrap();
        assert_eq!(Arc::strong_count(&other), 1);
        assert_eq!(t.cloexec(7), Ok(false));
        assert_eq!(t.install(file(), false), Ok(1));
    }

    #[test]
    fn a_table_shrinks_back_when_high_descriptors_close() {
        let mut t = FdTable::new();
        for _ in 0..3 {
            t.install(file(), false).unwrap();
        }
        let small = t.slots.capacity();
        t.dup2(0, 60, false).unwrap();
        assert!(t.slots.capacity() > 60);
        t.close(60).unwrap();
        assert_eq!(t.slots.len(), 3);
        assert!(t.slots.capacity() <= small.max(4), "{} > {small}", t.slots.capacity());
        t.install_at(40, file(), true).unwrap();
        t.close_on_exec();
        assert!(t.slots.capacity() <= small.max(4));
    }

    #[test]
    fn fork_shares_descriptions_and_offsets() {
        let mut parent = FdTable::new();
        let fd = parent.install(File::snapshot(b"hello".to_vec()), false).unwrap();
        let child = parent.clone();
        let mut buf = [0u8; 2];
        parent.get(fd).unwrap().read(&mut buf).unwrap();
        assert_eq!(child.get(fd).unwrap().read(&mut buf), Ok(2));
        assert_eq!(&buf, b"ll");
        parent.close(fd).unwrap();
        assert!(child.get(fd).is_some());
    }
}
