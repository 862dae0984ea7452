//! Files: the in-memory root filesystem that init programs run from
//! (Linux's initramfs unpacked into a ramfs), and the open-file layer the
//! file system calls act on.
//!
//! ```text
//!  boot:      initramfs (cpio newc) ──cpio──> Ramfs::unpack ──> tree of Inodes
//!                                                               │ file contents in
//!                                                               ▼ page frames (GFP_KERNEL)
//!  syscalls:  Task.files: FdTable ── fd ──> Arc<File> ──> FileKind::Regular(Arc<Inode>) ──> page(i)
//!                                   0,1,2 ─> File::console        ::Directory, ::Path (O_PATH)
//!                          /proc/... ──────> File::snapshot       ::Snapshot, ::Console
//!  mmap:      fault ──> Inode::find_or_create_page(i) ──> the same frames, mapped into user
//!             space (the page cache: read, write and MAP_SHARED mappings share them)
//! ```
//!
//! The tree is writable: `open(O_CREAT)`, `write`, `truncate`, `mkdir`,
//! `unlink`, `rmdir`, `rename` (see [`ramfs`] and [`file`]).
//!
//! - [`cpio`]: the archive parser (and a writer, for tests and tools);
//! - [`ramfs`] ([`inode`], [`pages`], [`initramfs`]): the tree, lookup,
//!   unpacking, file contents in page frames;
//! - [`file`] ([`fdtable`]): open file descriptions, `open`, descriptor
//!   tables;
//! - [`stat`], [`errno`]: the ABI types and numbers, as Linux x86-64 has them.
//!
//! Plain Rust over the [`pages::PageFrames`] trait (the buddy allocator),
//! tested on the host over fake RAM. All `unsafe` code is in [`pages`]
//! (copying to and from page frames).
#![deny(unsafe_code)]

/// Set by the process layer: wakes the tasks waiting for a file event (a
/// pipe end closed, a lock released where no system call of the waiter's
/// kind would notice). Files know nothing of tasks.
pub static WAKE_WAITERS: crate::sync::Once<fn()> = crate::sync::Once::new();

/// Calls [`WAKE_WAITERS`] once it is set.
pub fn wake_waiters() {
    if let Some(wake) = WAKE_WAITERS.get() {
        wake();
    }
}

pub mod binfmt_elf;
pub mod cpio;
pub mod dev;
pub mod errno;
pub mod fdtable;
pub mod file;
pub mod initramfs;
pub mod inode;
pub mod lock;
mod open;
pub mod pages;
pub mod perm;
pub mod pipe;
pub mod poll;
pub mod ramfs;
pub mod stat;

#[cfg(test)]
mod testing;
