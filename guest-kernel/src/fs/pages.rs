//! File contents in whole page frames: the page cache of the in-memory
//! filesystem, and the only `unsafe` code of `fs`.
//!
//! A regular file's bytes `i * 4096 .. (i + 1) * 4096` live in the page
//! frame `pages[i]`, taken from the buddy allocator with `GFP_KERNEL` so
//! that it lies in the direct map. The same frames are what a later
//! `mmap` of the file maps into user space, so the bytes past the end of
//! the file in its last page are zero, as Linux guarantees.
//!
//! ```text
//!   FilePages { size: 9000 }
//!     pages[0] ──> pfn 0x1234  [bytes 0 .. 4096)
//!     pages[1] ──> pfn 0x0817  [bytes 4096 .. 8192)
//!     pages[2] ──> pfn 0x2001  [bytes 8192 .. 9000) + zeroes to 12288
//! ```
//!
//! [`FilePages`] owns its frames: dropping it puts one reference on each
//! (Linux `put_page`), which frees the frames that nothing else (a user
//! mapping holding its own reference) still uses.
#![allow(unsafe_code)]

use alloc::vec::Vec;

use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
use crate::mm::page::PhysMem;
use crate::mm::page_alloc::PageAlloc;

use super::errno::{Errno, EIO, ENOMEM};

pub const PAGE_SIZE: usize = 4096;

/// Where file contents get their page frames. Implemented by the buddy
/// allocator, [`PageAlloc`]; object safe, so that the filesystem's types
/// are not generic over the physical memory behind it.
pub trait PageFrames: Sync {
    /// A zeroed page frame in the direct map (`None`: out of memory).
    fn alloc_frame(&self) -> Option<u64>;
    /// Drops one reference to a frame from `alloc_frame`, freeing it with
    /// the last.
    fn free_frame(&self, pfn: u64);
    /// Where the frame is mapped in the kernel: 4096 readable and writable
    /// bytes.
    fn frame_ptr(&self, pfn: u64) -> Option<*mut u8>;
}

impl<M: PhysMem> PageFrames for PageAlloc<M> {
    fn alloc_frame(&self) -> Option<u64> {
        let pfn = self.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0)?;
        if self.mem.frame_ptr(pfn).is_none() {
            // Not in the direct map (cannot happen for GFP_KERNEL, which
            // never takes HighMem): unusable here.
            self.free_frame(pfn);
            return None;
        }
        Some(pfn)
    }

    fn free_frame(&self, pfn: u64) {
        // A refused free ("Bad page state") is counted in
        // `events.bad_pages` and the page leaked; nothing to do here.
        let _ = self.free_pages(pfn, 0);
    }

    fn frame_ptr(&self, pfn: u64) -> Option<*mut u8> {
        self.mem.frame_ptr(pfn)
    }
}

/// Copies `buf.len()` bytes out of frame `pfn` from byte `off`. False if
/// the range leaves the frame or the frame is not mapped.
fn copy_from_frame(frames: &dyn PageFrames, pfn: u64, off: usize, buf: &mut [u8]) -> bool {
    let Some(ptr) = frames.frame_ptr(pfn) else { return false };
    if off > PAGE_SIZE || buf.len() > PAGE_SIZE - off {
        return false;
    }
    // SAFETY: `frame_ptr` points at the frame's 4096 mapped bytes, and
    // `off + buf.len() <= 4096` was checked above. The frame belongs to a
    // `FilePages` the caller borrows, so it is allocated; Rust code writes
    // it only through `copy_to_frame` under `&mut FilePages`, which cannot
    // overlap this shared borrow. Any bytes are valid `u8`s.
    unsafe { core::ptr::copy_nonoverlapping(ptr.add(off), buf.as_mut_ptr(), buf.len()) };
    true
}

/// Copies `src` into frame `pfn` at byte `off`. False if the range leaves
/// the frame or the frame is not mapped.
fn copy_to_frame(frames: &dyn PageFrames, pfn: u64, off: usize, src: &[u8]) -> bool {
    let Some(ptr) = frames.frame_ptr(pfn) else { return false };
    if off > PAGE_SIZE || src.len() > PAGE_SIZE - off {
        return false;
    }
    // SAFETY: as in `copy_from_frame`; the caller holds `&mut FilePages`,
    // the frame's only owner on the Rust side, so nothing reads it meanwhile.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), ptr.add(off), src.len()) };
    true
}

/// A whole frame's bytes, for tests that check what `page(i)` holds.
#[cfg(test)]
pub(crate) fn frame_bytes(frames: &dyn PageFrames, pfn: u64) -> Vec<u8> {
    let mut buf = alloc::vec![0u8; PAGE_SIZE];
    assert!(copy_from_frame(frames, pfn, 0, &mut buf), "frame {pfn:#x} not mapped");
    buf
}

/// The page frames holding one file's contents, and its size.
pub struct FilePages {
    frames: &'static dyn PageFrames,
    pages: Vec<u64>,
    size: u64,
}

impl FilePages {
    pub fn new(frames: &'static dyn PageFrames) -> Self {
        Self { frames, pages: Vec::new(), size: 0 }
    }

    /// A file holding `data`; `ENOMEM` (having freed what it took) when
    /// frames run out.
    pub fn from_bytes(frames: &'static dyn PageFrames, data: &[u8]) -> Result<Self, Errno> {
        let mut f = Self::new(frames);
        f.write_at(0, data)?;
        Ok(f)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn nr_pages(&self) -> usize {
        self.pages.len()
    }

    /// The frame holding bytes `index * 4096 ..`, `None` past the end.
    pub fn page(&self, index: usize) -> Option<u64> {
        self.pages.get(index).copied()
    }

    /// Copies bytes from `offset` into `buf`; the count copied, short at
    /// the end of the file, 0 at or past it.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let Some(left) = self.size.checked_sub(offset) else { return 0 };
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let (index, off) = ((pos / PAGE_SIZE as u64) as usize, (pos % PAGE_SIZE as u64) as usize);
            let chunk = (PAGE_SIZE - off).min(n - done);
            let Some(pfn) = self.page(index) else { break };
            if !copy_from_frame(self.frames, pfn, off, &mut buf[done..done + chunk]) {
                break;
            }
            done += chunk;
        }
        done
    }

    /// Writes `data` at `offset`, growing the file (holes read as zero).
    /// On `ENOMEM` the frames taken by this call stay part of the file,
    /// but its size is unchanged.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let end = offset.checked_add(data.len() as u64).ok_or(ENOMEM)?;
        let need = usize::try_from(end.div_ceil(PAGE_SIZE as u64)).map_err(|_| ENOMEM)?;
        if need > self.pages.len() {
            self.pages.try_reserve_exact(need - self.pages.len()).map_err(|_| ENOMEM)?;
            while self.pages.len() < need {
                self.pages.push(self.frames.alloc_frame().ok_or(ENOMEM)?);
            }
        }
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (index, off) = ((pos / PAGE_SIZE as u64) as usize, (pos % PAGE_SIZE as u64) as usize);
            let chunk = (PAGE_SIZE - off).min(data.len() - done);
            let pfn = self.page(index).ok_or(EIO)?;
            if !copy_to_frame(self.frames, pfn, off, &data[done..done + chunk]) {
                return Err(EIO);
            }
            done += chunk;
        }
        self.size = self.size.max(end);
        Ok(())
    }
}

impl Drop for FilePages {
    fn drop(&mut self) {
        for &pfn in &self.pages {
            self.frames.free_frame(pfn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::testing::{free_pages, ram};

    #[test]
    fn contents_land_in_zeroed_frames_and_are_freed_on_drop() {
        let pa = ram(4);
        let free = free_pages(pa);
        let data: Vec<u8> = (0..9000u32).map(|i| (i * 7 + 3) as u8).collect();
        let f = FilePages::from_bytes(pa, &data).unwrap();
        assert_eq!((f.size(), f.nr_pages()), (9000, 3));
        for i in 0..3 {
            let pfn = f.page(i).unwrap();
            let mut frame = [0u8; PAGE_SIZE];
            assert!(copy_from_frame(pa, pfn, 0, &mut frame));
            let want = &data[i * PAGE_SIZE..data.len().min((i + 1) * PAGE_SIZE)];
            assert_eq!(&frame[..want.len()], want);
            assert!(frame[want.len()..].iter().all(|&b| b == 0), "tail of page {i} not zero");
        }
        assert_eq!(f.page(3), None);
        let mut buf = vec![0u8; 10000];
        assert_eq!(f.read_at(0, &mut buf), 9000);
        assert_eq!(&buf[..9000], &data[..]);
        assert_eq!(f.read_at(9000, &mut buf), 0);
        assert_eq!(f.read_at(u64::MAX, &mut buf), 0);
        assert_eq!(free_pages(pa), free - 3);
        drop(f);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn writes_grow_the_file_with_zero_holes() {
        let pa = ram(4);
        let mut f = FilePages::new(pa);
        f.write_at(5000, b"xyz").unwrap();
        assert_eq!((f.size(), f.nr_pages()), (5003, 2));
        let mut buf = [1u8; 5003];
        assert_eq!(f.read_at(0, &mut buf), 5003);
        assert!(buf[..5000].iter().all(|&b| b == 0));
        assert_eq!(&buf[5000..], b"xyz");
        f.write_at(0, b"ab").unwrap();
        assert_eq!(f.size(), 5003);
        assert_eq!(f.write_at(u64::MAX, b"x"), Err(ENOMEM));
    }

    #[test]
    fn running_out_of_frames_is_enomem_and_leaks_nothing() {
        let pa = ram(4);
        let free = free_pages(pa);
        let big = vec![0x5au8; 8 << 20];
        assert_eq!(FilePages::from_bytes(pa, &big).err(), Some(ENOMEM));
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn copies_refuse_ranges_outside_the_frame() {
        let pa = ram(4);
        let f = FilePages::from_bytes(pa, b"x").unwrap();
        let pfn = f.page(0).unwrap();
        let mut buf = [0u8; 8];
        assert!(!copy_from_frame(pa, pfn, 4090, &mut buf));
        assert!(!copy_from_frame(pa, pfn, 5000, &mut buf[..0]));
        assert!(copy_from_frame(pa, pfn, 4088, &mut buf));
    }
}
