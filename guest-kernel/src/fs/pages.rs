//! File contents in whole page frames: the page cache of the in-memory
//! filesystem, and the only `unsafe` code of `fs`.
//!
//! A regular file's bytes `i * 4096 .. (i + 1) * 4096` live in the page
//! frame `pages[i]`, taken from the buddy allocator with `GFP_KERNEL |
//! __GFP_ZERO` so that it lies in the direct map. The same frames are what
//! an `mmap` of the file maps into user space (Linux ramfs: the page cache
//! is the only copy), so `read`, `write` and every mapping see the same
//! bytes.
//!
//! ```text
//!   FilePages { size: 13000 }
//!     pages[0] ──> pfn 0x1234  [bytes 0 .. 4096)
//!     pages[1] ──> (hole)      [bytes 4096 .. 8192) read as zeroes
//!     pages[2] ──> pfn 0x0817  [bytes 8192 .. 12288)
//!     pages[3] ──> pfn 0x2001  [bytes 12288 .. 13000) + zeroes to 16384
//! ```
//!
//! Invariants:
//! - a page exists only below the end of the file (index `< ceil(size /
//!   4096)`); holes (never written, or grown by `truncate`) have none and
//!   read as zeroes until a write or a fault ([`FilePages::find_or_create_page`])
//!   fills them;
//! - bytes past the end of the file in its last page read as zero once the
//!   file grows over them: growing zeroes them first (a shared mapping may
//!   have written there), and shrinking zeroes the new partial page's tail,
//!   as Linux's `truncate_inode_pages` does;
//! - the file holds exactly one reference on each frame it owns (Linux's
//!   page cache reference): dropping it puts that reference (Linux
//!   `put_page`), which frees the frames that no user mapping (each PTE
//!   holds a reference of its own) still uses.
//!
//! Shrinking a file takes the pages past its new end out of the file. In
//! the kernel every process mapping of them is gone first (the inode's
//! truncation calls the process layer's `unmap_mapping_range`, as Linux
//! does), so a later access past the end is SIGBUS. Should a page still be
//! mapped (on the host, where no process layer exists), it stays alive,
//! detached from the file (writes to it reach no file).
//! So that the reference rule above stays exact for every mapped page
//! (`refcount == mapcount + 1`, what `selftest=rmapcheck` checks), the
//! file keeps its reference on such a detached page until no mapping is
//! left ([`FilePages::truncate`] looks again each time, dropping the file
//! drops them all).
#![allow(unsafe_code)]

use crate::mm::addr::Pfn;
use alloc::vec::Vec;

use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
use crate::mm::page::PhysMem;
use crate::mm::page_alloc::PageAlloc;

use super::errno::{Errno, EIO, ENOMEM};

pub const PAGE_SIZE: usize = 4096;
const PAGE: u64 = PAGE_SIZE as u64;

/// Where file contents get their page frames. Implemented by the buddy
/// allocator, [`PageAlloc`]; object safe, so that the filesystem's types
/// are not generic over the physical memory behind it.
pub trait PageFrames: Sync {
    /// A zeroed page frame in the direct map (`None`: out of memory).
    fn alloc_frame(&self) -> Option<Pfn>;
    /// Drops one reference to a frame from `alloc_frame`, freeing it with
    /// the last.
    fn free_frame(&self, pfn: Pfn);
    /// Where the frame is mapped in the kernel: 4096 readable and writable
    /// bytes.
    fn frame_ptr(&self, pfn: Pfn) -> Option<*mut u8>;
    /// Whether anyone but its owner holds a reference on the frame (a user
    /// mapping: every PTE holds one).
    fn in_use_elsewhere(&self, pfn: Pfn) -> bool;
}

impl<M: PhysMem> PageFrames for PageAlloc<M> {
    fn alloc_frame(&self) -> Option<Pfn> {
        let pfn = self.alloc_pages(GFP_KERNEL | __GFP_ZERO, 0)?;
        if self.mem.frame_ptr(pfn).is_none() {
            // Not in the direct map (cannot happen for GFP_KERNEL, which
            // never takes HighMem): unusable here.
            self.free_frame(pfn);
            return None;
        }
        Some(pfn)
    }

    fn free_frame(&self, pfn: Pfn) {
        // A refused free ("Bad page state") is counted in
        // `events.bad_pages` and the page leaked; nothing to do here.
        let _ = self.free_pages(pfn, 0);
    }

    fn frame_ptr(&self, pfn: Pfn) -> Option<*mut u8> {
        self.mem.frame_ptr(pfn)
    }

    fn in_use_elsewhere(&self, pfn: Pfn) -> bool {
        self.page(pfn).refcount() > 1
    }
}

/// Copies `buf.len()` bytes out of frame `pfn` from byte `off`. False if
/// the range leaves the frame or the frame is not mapped.
fn copy_from_frame(frames: &dyn PageFrames, pfn: Pfn, off: usize, buf: &mut [u8]) -> bool {
    let Some(ptr) = frames.frame_ptr(pfn) else {
        return false;
    };
    if off > PAGE_SIZE || buf.len() > PAGE_SIZE - off {
        return false;
    }
    // `frame_ptr` points at the frame's 4096 mapped bytes, and `off + buf.len() <= 4096` was checked above. The frame belongs to a `FilePages` the
    // caller borrows, so it is allocated. No Rust reference to the frame exists (kernel code reaches it only through these raw copies, under the
    // file's lock; user space through its mappings, not while this CPU runs the kernel), and any bytes are valid `u8`s.
    // SAFETY: the reasons just above.
    unsafe { core::ptr::copy_nonoverlapping(ptr.add(off), buf.as_mut_ptr(), buf.len()) };
    true
}

/// Copies `src` into frame `pfn` at byte `off`. False if the range leaves
/// the frame or the frame is not mapped.
fn copy_to_frame(frames: &dyn PageFrames, pfn: Pfn, off: usize, src: &[u8]) -> bool {
    let Some(ptr) = frames.frame_ptr(pfn) else {
        return false;
    };
    if off > PAGE_SIZE || src.len() > PAGE_SIZE - off {
        return false;
    }
    // SAFETY: as in `copy_from_frame`; the caller holds `&mut FilePages`, so no other kernel copy touches the frame meanwhile, and `src` is a kernel
    // buffer, never the frame itself.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), ptr.add(off), src.len()) };
    true
}

/// Zeroes bytes `off..` to the end of frame `pfn`. False if the frame is
/// not mapped or `off` is past the frame.
fn zero_frame_from(frames: &dyn PageFrames, pfn: Pfn, off: usize) -> bool {
    let Some(ptr) = frames.frame_ptr(pfn) else {
        return false;
    };
    if off > PAGE_SIZE {
        return false;
    }
    // SAFETY: as in `copy_to_frame`: `off..4096` lies inside the frame's mapped bytes, which the caller's `&mut FilePages` owns on the kernel side.
    unsafe { core::ptr::write_bytes(ptr.add(off), 0, PAGE_SIZE - off) };
    true
}

/// A whole frame's bytes, for tests that check what `page(i)` holds.
#[cfg(test)]
pub(crate) fn frame_bytes(frames: &dyn PageFrames, pfn: Pfn) -> Vec<u8> {
    let mut buf = alloc::vec![0u8; PAGE_SIZE];
    assert!(copy_from_frame(frames, pfn, 0, &mut buf), "frame {pfn:#x} not mapped");
    buf
}

/// Writes `src` into frame `pfn` at `off`, as a user mapping would.
#[cfg(test)]
pub(crate) fn poke_frame(frames: &dyn PageFrames, pfn: Pfn, off: usize, src: &[u8]) {
    assert!(copy_to_frame(frames, pfn, off, src), "frame {pfn:#x}");
}

/// Frames holding file contents, over all files (the page cache of
/// `/proc/meminfo`'s `Cached`).
static FILE_FRAMES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Frames holding file contents now.
pub fn nr_file_frames() -> usize {
    FILE_FRAMES.load(core::sync::atomic::Ordering::Relaxed)
}

/// The page frames holding one file's contents, and its size.
pub struct FilePages {
    frames: &'static dyn PageFrames,
    /// `pages[i]`: the frame of bytes `i * 4096 ..`, `None` for a hole.
    /// Never longer than the pages the size covers.
    pages: Vec<Option<Pfn>>,
    /// Frames in `pages` (`st_blocks / 8`).
    nr: usize,
    size: u64,
    /// Frames truncated away while a process still mapped them, each with
    /// the file's reference (see the module documentation).
    detached: Vec<Pfn>,
}

/// The page index and offset in it of byte `pos`.
fn split(pos: u64) -> (usize, usize) {
    // Indices of pages the vector can hold fit a usize; larger ones are
    // refused by `slot` before use.
    (usize::try_from(pos / PAGE).unwrap_or(usize::MAX), (pos % PAGE) as usize)
}

impl FilePages {
    pub fn new(frames: &'static dyn PageFrames) -> Self {
        Self { frames, pages: Vec::new(), nr: 0, size: 0, detached: Vec::new() }
    }

    /// A file holding `data`; `ENOMEM` (having freed what it took) when
    /// frames run out.
    pub fn from_bytes(frames: &'static dyn PageFrames, data: &[u8]) -> Result<Self, Errno> {
        let mut f = Self::new(frames);
        if f.write_at(0, data)? < data.len() {
            return Err(ENOMEM);
        }
        Ok(f)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Frames holding the file's bytes (holes take none).
    pub fn nr_pages(&self) -> usize {
        self.nr
    }

    /// Frames cut off by `truncate` that a mapping still uses.
    pub fn nr_detached(&self) -> usize {
        self.detached.len()
    }

    /// Pages the size covers: indices below this may have a frame.
    fn size_pages(&self) -> u64 {
        self.size.div_ceil(PAGE)
    }

    /// The frame holding bytes `index * 4096 ..`: `None` for a hole and
    /// past the end.
    pub fn page(&self, index: usize) -> Option<Pfn> {
        self.pages.get(index).copied().flatten()
    }

    /// The frame of page `index`, allocated (zeroed) if it is a hole
    /// (Linux `find_or_create_page`, what a fault on a mapping of the file
    /// does); `None` at or past the end of the file or out of memory.
    pub fn find_or_create_page(&mut self, index: usize) -> Option<Pfn> {
        if index as u64 >= self.size_pages() {
            return None;
        }
        self.slot(index).ok()
    }

    /// The frame of page `index`, allocating it. The caller checks the
    /// index is below the size (or is about to grow it that far).
    fn slot(&mut self, index: usize) -> Result<Pfn, Errno> {
        if let Some(pfn) = self.page(index) {
            return Ok(pfn);
        }
        if index >= self.pages.len() {
            let more = index.checked_add(1).ok_or(ENOMEM)? - self.pages.len();
            self.pages.try_reserve(more).map_err(|_| ENOMEM)?;
        }
        let pfn = self.frames.alloc_frame().ok_or(ENOMEM)?;
        if index >= self.pages.len() {
            self.pages.resize(index + 1, None);
        }
        self.pages[index] = Some(pfn);
        self.nr += 1;
        FILE_FRAMES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        Ok(pfn)
    }

    /// Zeroes page `index` from byte `off` to its end, if it has a frame.
    fn zero_tail(&self, index: usize, off: usize) {
        if off == 0 {
            return;
        }
        if let Some(pfn) = self.page(index) {
            zero_frame_from(self.frames, pfn, off);
        }
    }

    /// Copies bytes from `offset` into `buf`; the count copied, short at
    /// the end of the file, 0 at or past it. Holes read as zeroes.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let Some(left) = self.size.checked_sub(offset) else {
            return 0;
        };
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < n {
            let (index, off) = split(offset + done as u64);
            let chunk = (PAGE_SIZE - off).min(n - done);
            let out = &mut buf[done..done + chunk];
            match self.page(index) {
                Some(pfn) => {
                    if !copy_from_frame(self.frames, pfn, off, out) {
                        break;
                    }
                }
                None => out.fill(0),
            }
            done += chunk;
        }
        done
    }

    /// Writes `data` at `offset`, growing the file (what lies between the
    /// old end and `offset` reads as zero). Returns the bytes written:
    /// short when frames run out part-way (the size then covers what was
    /// written), `ENOMEM` when not even the first byte could be; `EIO` if
    /// a frame is not mapped. The caller keeps `offset + data.len()` within
    /// the largest file size.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        if data.is_empty() {
            return Ok(0);
        }
        offset.checked_add(data.len() as u64).ok_or(ENOMEM)?;
        if offset > self.size {
            // A shared mapping may have written past the end in the last
            // page: that is not file data.
            let (index, off) = split(self.size);
            self.zero_tail(index, off);
        }
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (index, off) = split(pos);
            let chunk = (PAGE_SIZE - off).min(data.len() - done);
            let pfn = match self.slot(index) {
                Ok(pfn) => pfn,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            if !copy_to_frame(self.frames, pfn, off, &data[done..done + chunk]) {
                if done == 0 {
                    return Err(EIO);
                }
                break;
            }
            done += chunk;
            self.size = self.size.max(pos + chunk as u64);
        }
        Ok(done)
    }

    /// Appends `data` (`O_APPEND`): where it went and how much of it (see
    /// [`FilePages::write_at`]).
    pub fn append(&mut self, data: &[u8]) -> Result<(u64, usize), Errno> {
        let at = self.size;
        Ok((at, self.write_at(at, data)?))
    }

    /// Sets the size (Linux `truncate_setsize` on ramfs). Shrinking takes
    /// the pages past the new end out of the file: freed, or detached if a
    /// process still maps them (see the module documentation); the new
    /// last page is zeroed past the end. Growing allocates nothing: the new
    /// bytes are a hole, and the old last page is zeroed past the old end.
    pub fn truncate(&mut self, size: u64) {
        self.reclaim_detached();
        let old = self.size;
        if size < old {
            let keep = usize::try_from(size.div_ceil(PAGE)).unwrap_or(usize::MAX);
            while self.pages.len() > keep {
                if let Some(pfn) = self.pages.pop().flatten() {
                    self.nr -= 1;
                    FILE_FRAMES.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
                    FILE_FRAMES.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
                    self.release(pfn);
                }
            }
            let (index, off) = split(size);
            self.zero_tail(index, off);
        } else if size > old {
            let (index, off) = split(old);
            self.zero_tail(index, off);
        }
        self.size = size;
    }

    /// Makes pages `[first, end)` holes: their frames are freed (or
    /// detached while a process still maps them). The size stays.
    pub fn punch_hole(&mut self, first: u64, end: u64) {
        self.reclaim_detached();
        let len = self.pages.len() as u64;
        for index in first.min(len)..end.min(len) {
            if let Some(pfn) = self.pages[index as usize].take() {
                self.nr -= 1;
                FILE_FRAMES.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
                self.release(pfn);
            }
        }
    }

    /// Gives up the file's reference on a frame it no longer holds data in.
    fn release(&mut self, pfn: Pfn) {
        if self.frames.in_use_elsewhere(pfn) && self.detached.try_reserve(1).is_ok() {
            self.detached.push(pfn);
        } else {
            self.frames.free_frame(pfn);
        }
    }

    /// Frees the detached frames that nobody maps any more.
    fn reclaim_detached(&mut self) {
        let frames = self.frames;
        self.detached.retain(|&pfn| {
            let keep = frames.in_use_elsewhere(pfn);
            if !keep {
                frames.free_frame(pfn);
            }
            keep
        });
    }
}

impl Drop for FilePages {
    fn drop(&mut self) {
        FILE_FRAMES.fetch_sub(self.nr, core::sync::atomic::Ordering::Relaxed);
        for pfn in self.pages.iter().flatten().chain(self.detached.iter()) {
            self.frames.free_frame(*pfn);
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
        let free = free_pages(pa);
        let mut f = FilePages::new(pa);
        assert_eq!(f.write_at(5000, b"xyz"), Ok(3));
        assert_eq!((f.size(), f.nr_pages()), (5003, 1), "the hole takes no frame");
        assert_eq!(f.page(0), None);
        let mut buf = [1u8; 5003];
        assert_eq!(f.read_at(0, &mut buf), 5003);
        assert!(buf[..5000].iter().all(|&b| b == 0));
        assert_eq!(&buf[5000..], b"xyz");
        assert_eq!(f.write_at(0, b"ab"), Ok(2));
        assert_eq!((f.size(), f.nr_pages()), (5003, 2));
        assert_eq!(f.write_at(u64::MAX, b"x"), Err(ENOMEM));
        assert_eq!(f.write_at(123, b""), Ok(0));
        drop(f);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn writes_at_every_page_boundary() {
        let pa = ram(4);
        let free = free_pages(pa);
        let mut f = FilePages::new(pa);
        let mut model: Vec<u8> = Vec::new();
        let mut seed = 1u32;
        for &pos in &[0u64, 4095, 4096, 4097, 8191, 8192, 12287, 1, 20479, 20480] {
            for len in [1usize, 2, 4095, 4096, 4097, 8193] {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let data: Vec<u8> = (0..len).map(|i| (seed >> 16) as u8 ^ i as u8).collect();
                assert_eq!(f.write_at(pos, &data), Ok(len), "write {len} at {pos}");
                let end = pos as usize + len;
                if model.len() < end {
                    model.resize(end, 0);
                }
                model[pos as usize..end].copy_from_slice(&data);
                assert_eq!(f.size(), model.len() as u64);
                let mut back = vec![0xeeu8; model.len() + 10];
                assert_eq!(f.read_at(0, &mut back), model.len());
                assert_eq!(&back[..model.len()], &model[..], "after {len} at {pos}");
                // Reads from every boundary agree too.
                for from in [pos.saturating_sub(1), pos, pos + 1, end as u64 - 1] {
                    let mut part = vec![0u8; 5000];
                    let n = f.read_at(from, &mut part);
                    let want = &model[(from as usize).min(model.len())..];
                    assert_eq!(&part[..n], &want[..n.min(want.len())]);
                    assert_eq!(n, want.len().min(5000));
                }
            }
        }
        drop(f);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn truncate_drops_pages_and_zeroes_tails() {
        let pa = ram(4);
        let free = free_pages(pa);
        let mut f = FilePages::from_bytes(pa, &[7u8; 3 * PAGE_SIZE]).unwrap();
        f.truncate(5000);
        assert_eq!((f.size(), f.nr_pages()), (5000, 2));
        assert_eq!(free_pages(pa), free - 2);
        assert!(frame_bytes(pa, f.page(1).unwrap())[5000 - 4096..].iter().all(|&b| b == 0), "the tail is zeroed");
        // Growing adds a hole: zeroes, no frames.
        f.truncate(5 * PAGE);
        assert_eq!((f.size(), f.nr_pages()), (5 * PAGE, 2));
        let mut buf = vec![1u8; 5 * PAGE_SIZE];
        assert_eq!(f.read_at(0, &mut buf), 5 * PAGE_SIZE);
        assert!(buf[..5000].iter().all(|&b| b == 7));
        assert!(buf[5000..].iter().all(|&b| b == 0));
        // A page beyond the size is not there to fault in; one inside is.
        assert_eq!(f.find_or_create_page(5), None);
        let pfn = f.find_or_create_page(4).unwrap();
        assert_eq!(f.find_or_create_page(4), Some(pfn), "the same page each time");
        assert_eq!(f.nr_pages(), 3);
        assert!(frame_bytes(pa, pfn).iter().all(|&b| b == 0));
        f.truncate(0);
        assert_eq!((f.size(), f.nr_pages()), (0, 0));
        assert_eq!(f.find_or_create_page(0), None);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn growing_zeroes_what_a_mapping_wrote_past_the_end() {
        let pa = ram(4);
        let mut f = FilePages::from_bytes(pa, b"abc").unwrap();
        let pfn = f.page(0).unwrap();
        poke_frame(pa, pfn, 3, b"junk");
        let mut buf = [9u8; 8];
        assert_eq!(f.read_at(0, &mut buf), 3, "past the end is not file data");
        f.truncate(8);
        assert_eq!(f.read_at(0, &mut buf), 8);
        assert_eq!(&buf, b"abc\0\0\0\0\0");
        poke_frame(pa, pfn, 8, b"junk");
        assert_eq!(f.write_at(10, b"Z"), Ok(1));
        let mut buf = [9u8; 11];
        assert_eq!(f.read_at(0, &mut buf), 11);
        assert_eq!(&buf, b"abc\0\0\0\0\0\0\0Z");
    }

    #[test]
    fn a_mapped_page_outlives_truncation_with_the_files_reference() {
        let pa = ram(4);
        let free = free_pages(pa);
        let mut f = FilePages::from_bytes(pa, &[1u8; 2 * PAGE_SIZE]).unwrap();
        let pfn = f.page(1).unwrap();
        // A process maps page 1 (its PTE's reference and map count).
        let page = pa.page(pfn);
        page._refcount.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        page._mapcount.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        f.truncate(100);
        assert_eq!((f.nr_pages(), f.nr_detached()), (1, 1));
        assert_eq!((page.refcount(), page.mapcount()), (2, 1), "mapcount + 1: the file still holds it");
        assert_eq!(frame_bytes(pa, pfn)[0], 1, "the mapping keeps the old bytes");
        // Growing again gives the file a new, zeroed page, not the old one.
        assert_eq!(f.write_at(PAGE, b"x"), Ok(1));
        assert_ne!(f.page(1), Some(pfn));
        // Still mapped: kept.
        f.truncate(10);
        assert_eq!(f.nr_detached(), 1);
        // Unmapped: the next truncate frees it.
        page._mapcount.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
        pa.free_frame(pfn);
        f.truncate(10);
        assert_eq!(f.nr_detached(), 0);
        assert_eq!(free_pages(pa), free - 1);
        drop(f);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn dropping_the_file_puts_detached_pages_too() {
        let pa = ram(4);
        let free = free_pages(pa);
        let mut f = FilePages::from_bytes(pa, &[1u8; PAGE_SIZE]).unwrap();
        let pfn = f.page(0).unwrap();
        let page = pa.page(pfn);
        page._refcount.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        f.truncate(0);
        drop(f);
        assert_eq!(page.refcount(), 1, "only the mapping's reference is left");
        assert_eq!(free_pages(pa), free - 1);
        pa.free_frame(pfn);
        assert_eq!(free_pages(pa), free);
    }

    #[test]
    fn running_out_of_frames_is_enomem_and_leaks_nothing() {
        let pa = ram(4);
        let free = free_pages(pa);
        let big = vec![0x5au8; 8 << 20];
        assert_eq!(FilePages::from_bytes(pa, &big).err(), Some(ENOMEM));
        assert_eq!(free_pages(pa), free);
        // A write that runs out part-way is short, and the size covers
        // exactly what was written.
        let mut f = FilePages::new(pa);
        let n = f.write_at(0, &big).unwrap();
        assert!(n > 0 && n < big.len() && n.is_multiple_of(PAGE_SIZE), "{n}");
        assert_eq!(f.size(), n as u64);
        assert_eq!(f.nr_pages(), n / PAGE_SIZE);
        assert_eq!(f.write_at(n as u64, b"more"), Err(ENOMEM));
        assert_eq!(f.find_or_create_page(n / PAGE_SIZE), None);
        drop(f);
        assert_eq!(free_pages(pa), free);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Write(u64, usize, u8),
        Truncate(u64),
        /// A store through a shared mapping of the page holding `pos`.
        MapStore(u64, u8),
        Read(u64, usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        // Offsets cluster around page boundaries.
        let pos = (0u64..6, prop_oneof![Just(0i64), Just(1), Just(-1), -3000i64..3000]).prop_map(|(p, d)| (p as i64 * PAGE as i64 + d).max(0) as u64);
        prop_oneof![
            (pos.clone(), 0usize..9000, any::<u8>()).prop_map(|(p, n, b)| Op::Write(p, n, b)),
            pos.clone().prop_map(Op::Truncate),
            (pos.clone(), any::<u8>()).prop_map(|(p, b)| Op::MapStore(p, b)),
            (pos, 0usize..20000).prop_map(|(p, n)| Op::Read(p, n)),
        ]
    }

    proptest::proptest! {
        /// Random writes, truncations, stores through a mapping and reads
        /// against a byte-vector model: the file always reads as the
        /// model, never holds a page past its end, and frees everything.
        #[test]
        fn file_pages_match_a_byte_model(ops in proptest::collection::vec(op(), 1..40)) {
            let pa = ram(4);
            let free = free_pages(pa);
            let mut f = FilePages::new(pa);
            let mut model: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Write(pos, n, b) => {
                        let data: Vec<u8> = (0..n).map(|i| b.wrapping_add(i as u8) | 1).collect();
                        proptest::prop_assert_eq!(f.write_at(pos, &data), Ok(n));
                        if n > 0 {
                            let end = pos as usize + n;
                            if model.len() < end {
                                model.resize(end, 0);
                            }
                            model[pos as usize..end].copy_from_slice(&data);
                        }
                    }
                    Op::Truncate(size) => {
                        f.truncate(size);
                        model.resize(size as usize, 0);
                    }
                    Op::MapStore(pos, b) => {
                        let (index, off) = split(pos);
                        match f.find_or_create_page(index) {
                            Some(pfn) => {
                                poke_frame(pa, pfn, off, &[b]);
                                if (pos as usize) < model.len() {
                                    model[pos as usize] = b;
                                }
                            }
                            None => proptest::prop_assert!(pos >= model.len().div_ceil(PAGE_SIZE) as u64 * PAGE),
                        }
                    }
                    Op::Read(pos, n) => {
                        let mut buf = vec![0xa5u8; n];
                        let got = f.read_at(pos, &mut buf);
                        let want = model.get(pos as usize..).unwrap_or(&[]);
                        let want = &want[..want.len().min(n)];
                        proptest::prop_assert_eq!(&buf[..got], want);
                    }
                }
                proptest::prop_assert_eq!(f.size(), model.len() as u64);
                proptest::prop_assert!(f.pages.len() as u64 <= f.size_pages());
                proptest::prop_assert_eq!(f.nr_pages(), f.pages.iter().flatten().count());
                proptest::prop_assert_eq!(free_pages(pa) + f.nr_pages() as u64, free);
            }
            let mut all = vec![0u8; model.len()];
            proptest::prop_assert_eq!(f.read_at(0, &mut all), model.len());
            proptest::prop_assert_eq!(&all, &model);
            drop(f);
            proptest::prop_assert_eq!(free_pages(pa), free);
        }
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
        assert!(!zero_frame_from(pa, pfn, 4097));
    }
}
