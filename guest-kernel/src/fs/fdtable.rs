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

/// The table, as Linux's `struct fdtable`: an array of open-file pointers
/// indexed by descriptor, and a close-on-exec bitmap beside it. An empty
/// slot is `None`, which `Option<Arc<File>>` stores as a null pointer (the
/// pointer's own niche): a slot is either no file or a live file, and a
/// zeroed slot reads as closed, never as a file at address 0.
#[derive(Clone)]
pub struct FdTable {
    fd: Vec<Option<Arc<File>>>,
    /// Bit `fd % 64` of word `fd / 64`: close `fd` at `execve`.
    close_on_exec: Vec<u64>,
    limit: usize,
    /// The process whose table this is (its tgid): closing any descriptor
    /// of a file drops that process's POSIX locks on it, as Linux's
    /// `filp_close` → `locks_remove_posix`. 0 for none.
    pub owner: u32,
}

impl FdTable {
    /// An empty table with the default limit.
    pub fn new() -> Self {
        Self::with_limit(RLIMIT_NOFILE_DEFAULT)
    }

    pub fn with_limit(limit: usize) -> Self {
        Self { fd: Vec::new(), close_on_exec: Vec::new(), limit, owner: 0 }
    }

    /// The size Linux's table would have now (`fdtable::max_fds`): 64
    /// slots at first (`NR_OPEN_DEFAULT`), doubled as descriptors above
    /// them are opened. `select` looks no further.
    pub fn max_fds(&self) -> usize {
        self.fd.len().next_power_of_two().max(64)
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
        usize::try_from(fd).ok().filter(|&i| self.fd.get(i).is_some_and(Option::is_some))
    }

    fn set_cloexec_bit(&mut self, i: usize, on: bool) {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if on {
            if word >= self.close_on_exec.len() {
                self.close_on_exec.resize(word + 1, 0);
            }
            self.close_on_exec[word] |= bit;
        } else if let Some(w) = self.close_on_exec.get_mut(word) {
            *w &= !bit;
        }
    }

    fn cloexec_bit(&self, i: usize) -> bool {
        self.close_on_exec.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Puts `file` in slot `i` (which the caller made exist), returning
    /// what was there (Linux `fd_install`, plus the flag).
    fn put(&mut self, i: usize, file: Arc<File>, cloexec: bool) -> Option<Arc<File>> {
        self.set_cloexec_bit(i, cloexec);
        self.fd[i].replace(file)
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
        let fd = (min..self.limit).find(|&i| self.fd.get(i).is_none_or(Option::is_none)).ok_or(EMFILE)?;
        let fd_i32 = i32::try_from(fd).map_err(|_| EMFILE)?;
        if fd >= self.fd.len() {
            self.fd.resize(fd + 1, None);
        }
        self.put(fd, file, cloexec);
        Ok(fd_i32)
    }

    /// Installs `file` at `fd`, closing what was there (the core of
    /// `dup2`/`dup3`); returns the replaced file. `EBADF` when `fd` is
    /// negative or not below the limit.
    pub fn install_at(&mut self, fd: i32, file: Arc<File>, cloexec: bool) -> Result<Option<Arc<File>>, Errno> {
        let i = usize::try_from(fd).ok().filter(|&i| i < self.limit).ok_or(EBADF)?;
        if i >= self.fd.len() {
            self.fd.resize(i + 1, None);
        }
        let old = self.put(i, file, cloexec);
        if let Some(f) = &old {
            f.release_posix_locks(self.owner);
        }
        Ok(old)
    }

    /// The file at `fd` (`None`: `EBADF` for the caller).
    pub fn get(&self, fd: i32) -> Option<Arc<File>> {
        usize::try_from(fd).ok().and_then(|i| self.fd.get(i)).and_then(Option::clone)
    }

    /// `close(2)`: `EBADF` when `fd` is not open. The description goes
    /// when its last descriptor does.
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let i = self.index(fd).ok_or(EBADF)?;
        if let Some(f) = self.fd[i].take() {
            f.release_posix_locks(self.owner);
        }
        self.set_cloexec_bit(i, false);
        self.trim();
        Ok(())
    }

    /// Drops the free slots at the end, and gives back the memory of a
    /// table that has become much smaller than it was (Linux keeps a grown
    /// table until exit; here init's table outlives the check that every
    /// page came back, so it returns to its size).
    fn trim(&mut self) {
        while self.fd.last().is_some_and(Option::is_none) {
            self.fd.pop();
        }
        let words = self.fd.len().div_ceil(64);
        self.close_on_exec.truncate(words);
        let keep = self.fd.len().max(4);
        if self.fd.capacity() >= 2 * keep {
            // A new, smaller vector (`shrink_to` would `krealloc`, which
            // keeps a block that shrinks, as Linux's does); if there is no
            // memory for it, the old one stays.
            let mut small = Vec::new();
            if small.try_reserve_exact(keep).is_ok() {
                small.append(&mut self.fd);
                self.fd = small;
            }
        }
        if self.close_on_exec.capacity() >= 2 * words.max(1) {
            let mut small = Vec::new();
            if small.try_reserve_exact(words).is_ok() {
                small.append(&mut self.close_on_exec);
                self.close_on_exec = small;
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
        Ok(self.cloexec_bit(i))
    }

    /// `fcntl(F_SETFD)`.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        let i = self.index(fd).ok_or(EBADF)?;
        self.set_cloexec_bit(i, cloexec);
        Ok(())
    }

    /// Closes every close-on-exec descriptor (Linux `do_close_on_exec`, at
    /// `execve`).
    pub fn close_on_exec(&mut self) {
        for (word, bits) in core::mem::take(&mut self.close_on_exec).into_iter().enumerate() {
            for bit in 0..64 {
                if bits & (1 << bit) != 0 {
                    if let Some(f) = self.fd.get_mut(word * 64 + bit).and_then(Option::take) {
                        f.release_posix_locks(self.owner);
                    }
                }
            }
        }
        self.trim();
    }

    /// Open descriptors.
    pub fn count(&self) -> usize {
        self.fd.iter().filter(|s| s.is_some()).count()
    }

    /// The open descriptors in increasing order, with their files.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Arc<File>)> {
        self.fd.iter().enumerate().filter_map(|(i, s)| Some((i32::try_from(i).ok()?, s.as_ref()?)))
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
        let small = t.fd.capacity();
        t.dup2(0, 60, false).unwrap();
        assert!(t.fd.capacity() > 60);
        t.close(60).unwrap();
        assert_eq!(t.fd.len(), 3);
        assert!(t.fd.capacity() <= small.max(4), "{} > {small}", t.fd.capacity());
        t.install_at(40, file(), true).unwrap();
        t.install_at(100, file(), true).unwrap();
        assert_eq!(t.close_on_exec.len(), 2);
        t.close_on_exec();
        assert!(t.fd.capacity() <= small.max(4));
        assert!(t.close_on_exec.iter().all(|&w| w == 0));
    }

    /// A slot is a pointer whose null is "closed": the type leaves no room
    /// for a file at address 0 (what a zeroed slot used to read as).
    #[test]
    fn an_empty_slot_is_a_null_pointer() {
        // One pointer wide: `None` is the null pointer (the niche of
        // `Arc`'s non-null pointer, which the language guarantees).
        assert_eq!(core::mem::size_of::<Option<Arc<File>>>(), core::mem::size_of::<usize>());
    }

    /// Random install/close/dup2/cloexec/exec sequences against a plain
    /// model: the same descriptors, the same files, the same flags.
    #[test]
    fn random_operations_match_a_model() {
        use proptest::prelude::*;
        proptest!(|(ops in proptest::collection::vec((0..6u8, 0..80i32, 0..80i32, any::<bool>()), 1..200))| {
            let mut t = FdTable::with_limit(70);
            let mut model: alloc::collections::BTreeMap<i32, (usize, bool)> = alloc::collections::BTreeMap::new();
            let files: Vec<Arc<File>> = (0..4).map(|_| file()).collect();
            for (op, a, b, flag) in ops {
                match op {
                    0 => {
                        let r = t.install(files[a as usize % 4].clone(), flag);
                        let want = (0..70).find(|fd| !model.contains_key(fd));
                        prop_assert_eq!(r.ok(), want);
                        if let Some(fd) = want { model.insert(fd, (a as usize % 4, flag)); }
                    }
                    1 => { prop_assert_eq!(t.close(a).is_ok(), model.remove(&a).is_some()); }
                    2 => {
                        let r = t.dup2(a, b, flag);
                        match model.get(&a).copied() {
                            Some((f, _)) if b < 70 => { prop_assert_eq!(r, Ok(b)); if a != b { model.insert(b, (f, flag)); } }
                            Some(_) => prop_assert_eq!(r, Err(EBADF)),
                            None => prop_assert_eq!(r, Err(EBADF)),
                        }
                    }
                    3 => {
                        let r = t.set_cloexec(a, flag);
                        match model.get_mut(&a) { Some(e) => { prop_assert!(r.is_ok()); e.1 = flag; } None => prop_assert_eq!(r, Err(EBADF)) }
                    }
                    4 => { t.close_on_exec(); model.retain(|_, e| !e.1); }
                    _ => {}
                }
                let got: Vec<(i32, bool)> = t.iter().map(|(fd, _)| (fd, t.cloexec(fd).unwrap())).collect();
                let want: Vec<(i32, bool)> = model.iter().map(|(&fd, &(_, c))| (fd, c)).collect();
                prop_assert_eq!(got, want);
                for (&fd, &(f, _)) in &model {
                    prop_assert!(Arc::ptr_eq(&t.get(fd).unwrap(), &files[f]));
                }
            }
        });
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
