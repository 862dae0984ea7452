//! Reading, writing and seeking an open file (Linux `fs/read_write.c` and
//! `fs/readdir.c`): the offset shared by every descriptor of the
//! description, `O_APPEND`, the kinds' sources and sinks, and directory
//! listings.

use alloc::vec::Vec;

use super::*;

impl File {
    /// `getdents64(2)`: the directory's entries from the offset on, as
    /// `struct linux_dirent64` records (8-byte aligned: inode, offset of
    /// the next, record length, `DT_*` type, NUL-terminated name), as many
    /// as fit in `count` bytes; the offset counts entries (`.` is 0, `..`
    /// 1, then the names in order). An empty result is the end; a buffer
    /// too small for the next record is `EINVAL`, a file that is not a
    /// directory `ENOTDIR`.
    pub fn getdents64(&self, count: usize) -> Result<Vec<u8>, Errno> {
        // (name, inode number, mode) of each entry after `.` and `..`.
        let (own_ino, own_mode, entries): (u64, u32, Vec<(String, u64, u32)>) = match &self.kind {
            FileKind::Directory(dir) => (dir.ino(), dir.mode(), dir.entries().into_iter().map(|(n, i)| (n, i.ino(), i.mode())).collect()),
            FileKind::ListedDir { ino, entries } => (*ino, S_IFDIR | 0o555, entries.clone()),
            _ => return Err(if self.inode().is_some() || self.is_pipe() || self.is_console() { ENOTDIR } else { EBADF }),
        };
        let mut pos = self.pos.lock();
        let mut out = Vec::new();
        let mut at = usize::try_from(*pos).unwrap_or(usize::MAX);
        loop {
            let (name, ino, mode) = match at {
                0 => (".", own_ino, own_mode),
                // The parent is not recorded; a directory's own inode
                // stands in for it (only the root is its own parent).
                1 => ("..", own_ino, own_mode),
                i => match entries.get(i - 2) {
                    Some((n, ino, mode)) => (n.as_str(), *ino, *mode),
                    None => break,
                },
            };
            let reclen = (8 + 8 + 2 + 1 + name.len() + 1).next_multiple_of(8);
            if out.len() + reclen > count {
                if out.is_empty() {
                    return Err(EINVAL);
                }
                break;
            }
            out.extend_from_slice(&ino.to_le_bytes());
            out.extend_from_slice(&(at as i64 + 1).to_le_bytes());
            out.extend_from_slice(&(reclen as u16).to_le_bytes());
            out.push(((mode & crate::fs::stat::S_IFMT) >> 12) as u8);
            out.extend_from_slice(name.as_bytes());
            out.resize(out.len() + reclen - (19 + name.len()), 0);
            at += 1;
        }
        *pos = at as i64;
        Ok(out)
    }

    /// The current offset.
    pub fn pos(&self) -> i64 {
        *self.pos.lock()
    }

    /// `read(2)`: reads at the offset and advances it.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(EBADF);
        }
        match &self.kind {
            FileKind::Pipe(end) | FileKind::Fifo { read: Some(end), .. } => return end.read(buf),
            _ => {}
        }
        let mut pos = self.pos.lock();
        let n = self.read_from(buf, *pos)?;
        *pos += n as i64;
        Ok(n)
    }

    /// `pread64(2)`: reads at `offset`; the file offset stays.
    pub fn pread(&self, buf: &mut [u8], offset: i64) -> Result<usize, Errno> {
        if self.is_path() {
            return Err(EBADF);
        }
        if offset < 0 {
            return Err(EINVAL);
        }
        if self.is_console() || self.is_pipe() {
            return Err(ESPIPE);
        }
        if !self.readable() {
            return Err(EBADF);
        }
        self.read_from(buf, offset)
    }

    fn read_from(&self, buf: &mut [u8], pos: i64) -> Result<usize, Errno> {
        let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
        match &self.kind {
            FileKind::Regular(inode) => Ok(inode.read_at(pos, buf)),
            FileKind::Directory(_) | FileKind::ListedDir { .. } => Err(EISDIR),
            FileKind::Path(_) => Err(EBADF),
            FileKind::Snapshot { data, .. } => {
                let start = usize::try_from(pos).map_or(data.len(), |p| p.min(data.len()));
                let n = buf.len().min(data.len() - start);
                buf[..n].copy_from_slice(&data[start..start + n]);
                Ok(n)
            }
            // The console's input (the VMM's stdin): what there is, 0 at
            // its end.
            FileKind::Console { read, .. } => Ok(read(buf)),
            FileKind::Pipe(end) | FileKind::Fifo { read: Some(end), .. } => end.read(buf),
            FileKind::Fifo { .. } => Err(EBADF),
            FileKind::Device(inode) => crate::fs::dev::read(inode.rdev(), buf),
            FileKind::ProcWrite { .. } => Err(EBADF),
            FileKind::ProcRead { key, read } => read(*key, pos, buf),
            FileKind::ProcPath { .. } => Err(EBADF),
            FileKind::Pidfd { .. } => Err(EINVAL),
        }
    }

    /// `write(2)`: writes at the offset (at the end of the file with
    /// `O_APPEND`) and advances it. A regular file grows as needed; the
    /// count is short when memory runs out part-way (`ENOMEM` if nothing
    /// was written), `EFBIG` at the largest file size, `EINVAL` if the
    /// offset plus the count overflows (Linux `rw_verify_area`).
    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(EBADF);
        }
        match &self.kind {
            FileKind::Console { stream, write, .. } => Ok(write(*stream, buf)),
            FileKind::Pipe(end) | FileKind::Fifo { write: Some(end), .. } => end.write(buf),
            FileKind::Fifo { .. } => Err(EBADF),
            FileKind::ProcWrite { key, store } => store(*key, buf),
            FileKind::Pidfd { .. } => Err(EINVAL),
            FileKind::Device(inode) => crate::fs::dev::write(inode.rdev(), buf),
            FileKind::Regular(inode) => {
                let mut pos = self.pos.lock();
                let (at, n) = if self.appending() {
                    inode.append(buf)?
                } else {
                    check_range(*pos, buf.len())?;
                    (*pos as u64, inode.write_at(*pos as u64, buf)?)
                };
                *pos = (at + n as u64) as i64;
                Ok(n)
            }
            // Nothing else can be open for writing.
            _ => Err(EBADF),
        }
    }

    /// `pwrite64(2)`: writes at `offset`; the file offset stays. With
    /// `O_APPEND` the data goes to the end of the file whatever `offset`
    /// says (a Linux bug kept for compatibility, documented in its
    /// `pwrite(2)`). Errors in Linux's order: `EINVAL` (negative offset),
    /// `EBADF` (`O_PATH`), `ESPIPE` (the console), `EBADF` (not open for
    /// writing), then those of [`File::write`].
    pub fn pwrite(&self, buf: &[u8], offset: i64) -> Result<usize, Errno> {
        if offset < 0 {
            return Err(EINVAL);
        }
        if self.is_path() {
            return Err(EBADF);
        }
        if self.is_console() || self.is_pipe() {
            return Err(ESPIPE);
        }
        if !self.writable() {
            return Err(EBADF);
        }
        match &self.kind {
            FileKind::Regular(inode) if self.appending() => Ok(inode.append(buf)?.1),
            FileKind::Regular(inode) => {
                check_range(offset, buf.len())?;
                inode.write_at(offset as u64, buf)
            }
            FileKind::Device(inode) => crate::fs::dev::write(inode.rdev(), buf),
            _ => Err(EBADF),
        }
    }

    /// `ftruncate(2)`: `EBADF` for `O_PATH`; `EINVAL` for a negative size,
    /// or a description that is not a regular file open for writing;
    /// `EFBIG` past the largest file size.
    pub fn truncate(&self, size: i64) -> Result<(), Errno> {
        if self.is_path() {
            return Err(EBADF);
        }
        if size < 0 {
            return Err(EINVAL);
        }
        match &self.kind {
            FileKind::Regular(inode) if self.writable() => inode.truncate(size as u64),
            _ => Err(EINVAL),
        }
    }

    /// `lseek(2)`: the new offset. `EINVAL` for an unknown `whence` or a
    /// result that would be negative or overflow; `ESPIPE` on the console;
    /// `ENXIO` for `SEEK_DATA`/`SEEK_HOLE` at or past the end of a file.
    pub fn lseek(&self, offset: i64, whence: u32) -> Result<i64, Errno> {
        if self.is_path() {
            return Err(EBADF);
        }
        if whence > SEEK_HOLE {
            return Err(EINVAL);
        }
        let mut pos = self.pos.lock();
        let new = match &self.kind {
            FileKind::Console { .. } | FileKind::Pipe(_) | FileKind::Fifo { .. } | FileKind::Pidfd { .. } => return Err(ESPIPE),
            // The memory devices stay at 0 whatever is asked (Linux
            // `null_lseek`, `noop_llseek` for zero and full).
            FileKind::ProcWrite { .. } | FileKind::Device(_) => Some(0),
            FileKind::Regular(inode) => {
                let size = i64::try_from(inode.size()).map_err(|_| EINVAL)?;
                match whence {
                    SEEK_SET => Some(offset),
                    SEEK_CUR => pos.checked_add(offset),
                    SEEK_END => size.checked_add(offset),
                    // As Linux ramfs (`generic_file_llseek`): the whole
                    // file is data, holes included.
                    SEEK_DATA if (0..size).contains(&offset) => Some(offset),
                    SEEK_HOLE if (0..size).contains(&offset) => Some(size),
                    _ => return Err(ENXIO),
                }
            }
            // Linux `dcache_dir_lseek` and `seq_lseek`: no SEEK_END.
            FileKind::Directory(_)
            | FileKind::ListedDir { .. }
            | FileKind::Snapshot { .. }
            | FileKind::ProcRead { .. }
            | FileKind::ProcPath { .. }
            | FileKind::Path(_) => match whence {
                SEEK_SET => Some(offset),
                SEEK_CUR => pos.checked_add(offset),
                _ => return Err(EINVAL),
            },
        };
        let new = new.filter(|&n| n >= 0).ok_or(EINVAL)?;
        *pos = new;
        Ok(new)
    }
}

/// `EINVAL` if a transfer of `len` bytes at `pos` would end past the
/// largest offset (Linux `rw_verify_area`).
fn check_range(pos: i64, len: usize) -> Result<(), Errno> {
    let len = i64::try_from(len).map_err(|_| EINVAL)?;
    pos.checked_add(len).map(|_| ()).ok_or(EINVAL)
}
