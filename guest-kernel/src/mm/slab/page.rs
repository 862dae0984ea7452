//! A slab's state in its head `struct page` (see the module documentation
//! of [`super`]): the packed use counter and colour, the free-pointer
//! words, finding a slab's head page, and moving a slab between its
//! cache's lists.

use crate::mm::addr::Pfn;
use core::sync::atomic::Ordering::Relaxed;

use super::cache::CacheNode;
use super::layout::CacheLayout;
use crate::mm::page::{pg, Page, PageList, PhysMem};
use crate::mm::page_alloc::PageAlloc;

/// Whether a free pointer read from a free object can be followed: inside
/// the slab's objects, word aligned, and (checked for debug caches) at an
/// object boundary.
#[inline]
pub(crate) fn fp_valid(l: &CacheLayout, s_mem: usize, fp: u64, exact: bool) -> bool {
    let fp = fp as usize;
    let end = s_mem + l.objects * l.size;
    fp >= s_mem && fp < end && fp.is_multiple_of(8) && (!exact || (fp - s_mem).is_multiple_of(l.size))
}

/// Objects in use and the colour offset, packed in the head page's
/// `_mapcount`.
#[inline]
pub(crate) fn slab_counters(page: &Page) -> (usize, usize) {
    let v = page._mapcount.load(Relaxed) as u32;
    ((v & 0xffff) as usize, (v >> 16) as usize)
}

#[inline]
pub(super) fn set_slab_counters(page: &Page, inuse: usize, s_mem: usize) {
    page._mapcount.store(((s_mem as u32) << 16 | inuse as u32) as i32, Relaxed);
}

/// Moves a slab between the lists as its use count goes `before` -> `after`.
#[inline]
pub(super) fn relist<M: PhysMem>(pa: &PageAlloc<M>, node: &mut CacheNode, pfn: Pfn, before: usize, after: usize, objects: usize) {
    fn which(node: &mut CacheNode, inuse: usize, objects: usize) -> &mut PageList {
        if inuse == 0 {
            &mut node.empty
        } else if inuse >= objects {
            &mut node.full
        } else {
            &mut node.partial
        }
    }
    let kind = |n: usize| (n == 0, n >= objects);
    if kind(before) != kind(after) {
        which(node, before, objects).remove(&pa.mem, pfn);
        which(node, after, objects).push_front(&pa.mem, pfn);
    }
}

/// # Safety
/// `addr` is 8-aligned, inside slab memory this CPU may read.
#[inline]
pub(crate) unsafe fn read_word(addr: usize) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (addr as *const u64).read() }
}

/// # Safety
/// `addr` is 8-aligned, inside slab memory nothing else uses.
#[inline]
pub(super) unsafe fn write_word(addr: usize, value: u64) {
    // SAFETY: the caller's contract.
    unsafe { (addr as *mut u64).write(value) }
}

/// The head page of the (compound) block holding `addr`.
#[inline(always)]
pub(crate) fn head_page<M: PhysMem>(pa: &PageAlloc<M>, addr: usize) -> Option<(Pfn, &Page)> {
    let (pfn, page) = pa.mem.virt_to_page(addr as *const u8)?;
    if page.flags.load(Relaxed) & pg::TAIL != 0 {
        let head = page.private.load(Relaxed);
        Some((Pfn::new(head), pa.mem.page(Pfn::new(head))))
    } else {
        Some((pfn, page))
    }
}
