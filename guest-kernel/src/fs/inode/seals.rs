//! Memfd seals (Linux `mm/memfd.c`: `F_ADD_SEALS`, `F_GET_SEALS` and the
//! writes and size changes they forbid) and hole punching.

use super::*;

/// Memfd seals (Linux `mm/memfd.c`) and hole punching.
impl Inode {
    /// Makes a file sealable, with `seals` to start with (a memfd:
    /// `F_SEAL_SEAL` unless created with `MFD_ALLOW_SEALING`).
    pub fn allow_sealing(&self, seals: u32) {
        self.seals.store(seals, Relaxed);
    }

    /// The seals (`F_GET_SEALS`); `EINVAL` for a file that cannot be sealed.
    pub fn get_seals(&self) -> Result<u32, Errno> {
        match self.seals.load(Relaxed) {
            NO_SEALING => Err(EINVAL),
            s => Ok(s),
        }
    }

    /// The seals, 0 for a file that cannot be sealed.
    pub(super) fn seals(&self) -> u32 {
        self.get_seals().unwrap_or(0)
    }

    /// Whether a shared mapping of the file may be writable.
    pub fn write_sealed(&self) -> bool {
        self.seals() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0
    }

    /// `F_ADD_SEALS` (Linux `memfd_add_seals`): `EINVAL` for unknown seals
    /// or a file that cannot be sealed, `EPERM` once `F_SEAL_SEAL` is set,
    /// `EBUSY` for `F_SEAL_WRITE` while `mapped_writable` (a shared
    /// writable mapping of the file exists).
    pub fn add_seals(&self, add: u32, mapped_writable: impl Fn() -> bool) -> Result<(), Errno> {
        if add & !SEALS_KNOWN != 0 {
            return Err(EINVAL);
        }
        let now = self.get_seals()?;
        if now & F_SEAL_SEAL != 0 {
            return Err(EPERM);
        }
        if add & F_SEAL_WRITE != 0 && now & F_SEAL_WRITE == 0 && mapped_writable() {
            return Err(EBUSY);
        }
        self.seals.store(now | add, Relaxed);
        Ok(())
    }

    /// `EPERM` for a write of `len` bytes at `offset` into a file of `size`
    /// bytes that its seals forbid (Linux `shmem_write_begin`).
    pub(super) fn check_write_seals(&self, size: u64, offset: u64, len: usize) -> Result<(), Errno> {
        let seals = self.seals();
        if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(EPERM);
        }
        if seals & F_SEAL_GROW != 0 && offset.saturating_add(len as u64) > size {
            return Err(EPERM);
        }
        Ok(())
    }

    /// Frees pages `[first, end)` of a regular file, which then read as
    /// zeroes (`fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`
    /// over whole pages, what `MADV_REMOVE` does): every process's
    /// mapping of them is dropped first, as by truncation.
    pub fn punch_hole(&self, first: u64, end: u64) -> Result<(), Errno> {
        let InodeData::Regular(pages) = &self.data else {
            return Err(EINVAL);
        };
        if self.write_sealed() {
            return Err(EPERM);
        }
        if let Some(unmap) = UNMAP_MAPPING_RANGE.get() {
            unmap(self, first, end);
        }
        pages.lock().punch_hole(first, end);
        self.touch();
        Ok(())
    }
}
