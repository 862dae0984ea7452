//! A `Vec`-backed fake of physical memory, for the host: unit tests,
//! property tests and benchmarks run the real allocator code over it.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::mm::page::{Page, PhysMem, PAGE_POISON};

/// `npages` page frames starting at PFN 0, with their memory map. Frame
/// contents are kept only when asked for (`with_frames`), as page-aligned
/// frames of 64-bit words.
pub struct FakeRam {
    pages: Vec<Page>,
    frames: Vec<Frame>,
}

/// One page frame, page aligned like the real thing.
#[repr(C, align(4096))]
struct Frame([AtomicU64; WORDS]);

const WORDS: usize = 4096 / 8;
const POISON_WORD: u64 = u64::from_ne_bytes([PAGE_POISON; 8]);

impl FakeRam {
    pub fn new(npages: u64, with_frames: bool) -> Self {
        let pages = (0..npages).map(|_| Page::default()).collect();
        let frames = if with_frames { (0..npages).map(|_| Frame(core::array::from_fn(|_| AtomicU64::new(0)))).collect() } else { Vec::new() };
        Self { pages, frames }
    }

    fn frame(&self, pfn: Pfn) -> &[AtomicU64] {
        self.frames.get(pfn.as_u64() as usize).map_or(&[], |f| &f.0[..])
    }

    /// Writes `value` into every word of the frame (a page "in use").
    pub fn scribble(&self, pfn: Pfn, value: u64) {
        self.frame(pfn).iter().for_each(|w| w.store(value, Relaxed));
    }

    pub fn is_zero(&self, pfn: Pfn) -> bool {
        self.frame(pfn).iter().all(|w| w.load(Relaxed) == 0)
    }
}

impl PhysMem for FakeRam {
    fn page(&self, pfn: Pfn) -> &Page {
        &self.pages[pfn.as_u64() as usize]
    }
    fn clear_page(&self, pfn: Pfn) {
        self.scribble(pfn, 0);
    }
    fn poison_page(&self, pfn: Pfn) {
        self.scribble(pfn, POISON_WORD);
    }
    fn check_poison(&self, pfn: Pfn) -> Option<usize> {
        self.frame(pfn).iter().position(|w| w.load(Relaxed) != POISON_WORD).map(|i| i * 8)
    }
    fn frame_ptr(&self, pfn: Pfn) -> Option<*mut u8> {
        let frame = self.frame(pfn);
        // The words are atomics, so writing through this pointer from one
        // thread at a time is sound (UnsafeCell inside).
        (!frame.is_empty()).then_some(frame.as_ptr() as *mut u8)
    }
    fn ptr_to_pfn(&self, ptr: *const u8) -> Option<Pfn> {
        let base = self.frames.as_ptr() as usize;
        let offset = (ptr as usize).checked_sub(base)?;
        (offset < self.frames.len() * 4096).then_some(Pfn::new((offset / 4096) as u64))
    }
    #[inline(always)]
    fn virt_to_page(&self, ptr: *const u8) -> Option<(Pfn, &Page)> {
        let pfn = self.ptr_to_pfn(ptr)?;
        // SAFETY: `frames` is empty or as long as `pages` (`new`), and
        // `ptr_to_pfn` returned an index into `frames`.
        Some((pfn, unsafe { self.pages.get_unchecked(pfn.as_u64() as usize) }))
    }
}
