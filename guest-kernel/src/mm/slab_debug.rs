//! Slab debugging as SLUB does it (`slub_debug`, `SLAB_RED_ZONE`,
//! `SLAB_POISON`): the byte patterns, the checks, and the report.
//!
//! A debug cache bypasses the per-CPU arrays, so every allocation and free
//! is checked under the cache lock:
//!
//! ```text
//!  object slot:  [ object: object_size | red zone to the next word + 8 | free pointer | pad to align ]
//!  free object:    6b 6b ... 6b a5        bb bb ... bb                     next free
//!  in use:         (the owner's bytes)    cc cc ... cc                     (stale)
//! ```
//!
//! Poison is checked when an object is handed out (a write after free),
//! the red zone when it is freed (an overflow) and handed out, and the
//! slab's freelist is searched on every free (a double free). A problem is
//! never absorbed silently: it becomes a [`SlabBug`], counted, kept in a
//! small log, and passed to the report hook (`SlabAllocator::set_report_hook`),
//! whose `Display` prints Linux's text. What is found damaged is then made
//! safe: a damaged red zone is restored; an object whose poison was damaged
//! is taken out of use (leaked: whoever still writes to it cannot hurt the
//! next owner); a double free or an invalid pointer is not freed.

use crate::mm::addr::Pfn;
use core::fmt;
use core::sync::atomic::Ordering::Relaxed;

use crate::mm::page::{FlagNames, Page, PhysMem, NIL};
use crate::mm::page_alloc::PageAlloc;
use crate::mm::slab::layout::{CacheLayout, CacheParams};
use crate::mm::slab::page::{fp_valid, head_page, read_word, slab_counters};

/// Red zone of a free object (Linux `SLUB_RED_INACTIVE`).
pub const SLUB_RED_INACTIVE: u8 = 0xbb;
/// Red zone of an allocated object (Linux `SLUB_RED_ACTIVE`).
pub const SLUB_RED_ACTIVE: u8 = 0xcc;
/// Bytes of a free object (Linux `POISON_FREE`).
pub const POISON_FREE: u8 = 0x6b;
/// Last byte of a free object (Linux `POISON_END`).
pub const POISON_END: u8 = 0xa5;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabBugKind {
    /// The bytes after an object were written while it was in use (an
    /// overflow), or while it was free.
    RedzoneOverwritten,
    /// A free object was written (use after free).
    PoisonOverwritten,
    /// The object is already free (double free).
    DoubleFree,
    /// The pointer is not the start of an object of a slab (or of a large
    /// kmalloc).
    InvalidPointer,
    /// `kmem_cache_free` with a cache the object does not belong to.
    WrongCache,
    /// A free object's link to the next free object was damaged; the rest of
    /// the slab's freelist is abandoned.
    FreepointerCorrupt,
}

impl SlabBugKind {
    /// Linux's wording.
    pub fn message(self) -> &'static str {
        match self {
            Self::RedzoneOverwritten => "Redzone overwritten",
            Self::PoisonOverwritten => "Poison overwritten",
            Self::DoubleFree => "Object already free",
            Self::InvalidPointer => "Invalid object pointer",
            Self::WrongCache => "Wrong slab cache",
            Self::FreepointerCorrupt => "Freepointer corrupt",
        }
    }
}

/// What was done about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabFix {
    /// The red zone was rewritten with its pattern; the object was freed.
    RestoredRedzone,
    /// The object was taken out of use for good (never handed out again).
    Leaked,
    /// The free was refused; the object was left as it was.
    NotFreed,
    /// The freelist was cut at the damaged link: the slab's remaining free
    /// objects are taken out of use.
    FreelistTruncated,
}

/// A run of damaged bytes: `[start, end]` (addresses, inclusive), the first
/// of them and what it should have been.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub start: usize,
    pub end: usize,
    pub found: u8,
    pub expected: u8,
}

/// One detected problem (Linux's `slab_err`/`object_err` report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabBug {
    /// The cache's name (`"kfree"` for a pointer that is in no cache).
    pub cache: &'static str,
    pub kind: SlabBugKind,
    /// The object's address (the pointer passed in for an invalid one).
    pub object: usize,
    /// The object's offset from the start of its slab.
    pub offset: usize,
    /// The object's free pointer as an address (0: none or not readable).
    pub fp: usize,
    /// The slab's first byte (0 when the pointer is in no slab).
    pub slab: usize,
    /// Objects in the slab and how many are in use.
    pub objects: u32,
    pub inuse: u32,
    /// The slab's freelist head as an address (0: none).
    pub slab_fp: usize,
    /// The slab head page's flags.
    pub page_flags: u32,
    pub corrupt: Option<Corruption>,
    pub fix: SlabFix,
    /// For [`SlabBugKind::WrongCache`]: the cache the object belongs to.
    pub other_cache: &'static str,
}

impl SlabBug {
    pub(crate) fn new(cache: &'static str, kind: SlabBugKind, object: usize, fix: SlabFix) -> Self {
        Self { cache, kind, object, offset: 0, fp: 0, slab: 0, objects: 0, inuse: 0, slab_fp: 0, page_flags: 0, corrupt: None, fix, other_cache: "" }
    }
}

/// Linux's report:
///
/// ```text
/// =============================================================================
/// BUG kmalloc-64 (Not tainted): Redzone overwritten
/// -----------------------------------------------------------------------------
///
/// INFO: 0x...-0x... @offset=64. First byte 0x41 instead of 0xcc
/// INFO: Slab 0x... objects=32 used=1 fp=0x... flags=0x...(init|slab|zone=1)
/// INFO: Object 0x... @offset=0 fp=0x...
/// FIX kmalloc-64: Restoring Redzone 0x...-0x...=0xcc
/// ```
impl fmt::Display for SlabBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "=============================================================================")?;
        write!(f, "BUG {} (Not tainted): {}", self.cache, self.kind.message())?;
        if self.kind == SlabBugKind::WrongCache {
            write!(f, " (object is from {})", self.other_cache)?;
        }
        writeln!(f)?;
        writeln!(f, "-----------------------------------------------------------------------------")?;
        writeln!(f)?;
        if let Some(c) = self.corrupt {
            writeln!(
                f,
                "INFO: {:#018x}-{:#018x} @offset={}. First byte {:#04x} instead of {:#04x}",
                c.start,
                c.end,
                c.start.wrapping_sub(self.slab),
                c.found,
                c.expected
            )?;
        }
        if self.slab != 0 {
            writeln!(
                f,
                "INFO: Slab {:#018x} objects={} used={} fp={:#018x} flags={}",
                self.slab,
                self.objects,
                self.inuse,
                self.slab_fp,
                FlagNames(self.page_flags)
            )?;
        }
        writeln!(f, "INFO: Object {:#018x} @offset={} fp={:#018x}", self.object, self.offset, self.fp)?;
        match (self.fix, self.corrupt) {
            (SlabFix::RestoredRedzone, Some(c)) => {
                writeln!(f, "FIX {}: Restoring Redzone {:#018x}-{:#018x}={:#04x}", self.cache, c.start, c.end, c.expected)
            }
            (SlabFix::RestoredRedzone, None) => writeln!(f, "FIX {}: Restoring Redzone", self.cache),
            (SlabFix::Leaked, _) => writeln!(f, "FIX {}: Marking object {:#018x} used (leaked)", self.cache, self.object),
            (SlabFix::NotFreed, _) => writeln!(f, "FIX {}: Object at {:#018x} not freed", self.cache, self.object),
            (SlabFix::FreelistTruncated, _) => writeln!(f, "FIX {}: Marking all objects used", self.cache),
        }
    }
}

/// The last few reports, for tests and `dmesg`-like dumps.
#[derive(Clone, Copy)]
pub(crate) struct BugLog {
    pub recent: [Option<SlabBug>; BUG_LOG_LEN],
    pub next: usize,
}

pub(crate) const BUG_LOG_LEN: usize = 8;

impl BugLog {
    pub const fn new() -> Self {
        Self { recent: [None; BUG_LOG_LEN], next: 0 }
    }
    pub fn push(&mut self, bug: SlabBug) {
        self.recent[self.next % BUG_LOG_LEN] = Some(bug);
        self.next += 1;
    }
    pub fn last(&self) -> Option<SlabBug> {
        self.next.checked_sub(1).and_then(|i| self.recent[i % BUG_LOG_LEN])
    }
}

/// Reports found while holding the cache lock, delivered after it is
/// dropped (the hook may print, or even allocate from another cache).
pub(crate) struct Pending {
    bugs: [Option<SlabBug>; 4],
    n: usize,
    /// Reports beyond the capacity: counted, not kept.
    pub dropped: u64,
}

impl Pending {
    pub const fn new() -> Self {
        Self { bugs: [None; 4], n: 0, dropped: 0 }
    }
    pub fn push(&mut self, bug: SlabBug) {
        match self.bugs.get_mut(self.n) {
            Some(slot) => {
                *slot = Some(bug);
                self.n += 1;
            }
            None => self.dropped += 1,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0 && self.dropped == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = &SlabBug> {
        self.bugs[..self.n].iter().flatten()
    }
}

// --- The checks, under the cache lock. ---

/// Checks a free object about to be handed out: poison intact, red zone
/// inactive. A damaged object is reported and kept out of use (the
/// caller counts it leaked); a good one gets its red zone marked active.
pub(crate) fn check_alloc<M: PhysMem>(pa: &PageAlloc<M>, p: &CacheParams, obj: usize, bugs: &mut Pending) -> bool {
    let l = &p.layout;
    // SAFETY: `obj` is a free object of one of the cache's slabs, now
    // ours; the checks read and write only its slot.
    unsafe {
        let damage = if l.poison { check_poison(obj, l.object_size).map(|c| (SlabBugKind::PoisonOverwritten, c)) } else { None };
        let damage = damage.or_else(|| check_bytes(obj + l.object_size, obj + l.red_zone_end, SLUB_RED_INACTIVE).map(|c| (SlabBugKind::RedzoneOverwritten, c)));
        if let Some((kind, c)) = damage {
            if let Some((pfn, _)) = head_page(pa, obj) {
                let mut bug = describe(pa, p, kind, obj, pfn, SlabFix::Leaked);
                bug.corrupt = Some(c);
                bugs.push(bug);
            }
            return false;
        }
        fill(obj + l.object_size, obj + l.red_zone_end, SLUB_RED_ACTIVE);
    }
    true
}

/// Checks an object being freed: a valid object of the slab, not free
/// already, red zone intact (restored if not). Poisons it and marks its
/// red zone inactive. `false`: refused (reported; left alone).
pub(crate) fn check_free<M: PhysMem>(pa: &PageAlloc<M>, p: &CacheParams, obj: usize, pfn: Pfn, bugs: &mut Pending) -> bool {
    let l = &p.layout;
    let page = pa.mem.page(pfn);
    let Some(base) = pa.mem.frame_ptr(pfn) else { return false };
    let base = base as usize;
    let (inuse, s_mem) = slab_counters(page);
    let off = obj.wrapping_sub(base);
    if off < s_mem || !(off - s_mem).is_multiple_of(l.size) || (off - s_mem) / l.size >= l.objects {
        bugs.push(describe(pa, p, SlabBugKind::InvalidPointer, obj, pfn, SlabFix::NotFreed));
        return false;
    }
    if inuse == 0 || on_freelist(page, base, l, s_mem, obj) {
        bugs.push(describe(pa, p, SlabBugKind::DoubleFree, obj, pfn, SlabFix::NotFreed));
        return false;
    }
    // SAFETY: `obj` is an allocated object of this slab being freed by
    // its owner; only its slot is read and written.
    unsafe {
        if let Some(c) = check_bytes(obj + l.object_size, obj + l.red_zone_end, SLUB_RED_ACTIVE) {
            let mut bug = describe(pa, p, SlabBugKind::RedzoneOverwritten, obj, pfn, SlabFix::RestoredRedzone);
            bug.corrupt = Some(c);
            bugs.push(bug);
        }
        if l.poison {
            poison_object(obj, l.object_size);
        }
        fill(obj + l.object_size, obj + l.red_zone_end, SLUB_RED_INACTIVE);
    }
    true
}

/// Whether `obj` is on the slab's freelist (Linux `on_freelist`).
fn on_freelist(page: &Page, base: usize, l: &CacheLayout, s_mem: usize, obj: usize) -> bool {
    let mut cur = page.page_type.load(Relaxed);
    for _ in 0..l.objects {
        if cur == NIL {
            return false;
        }
        let o = base + cur as usize;
        if o == obj {
            return true;
        }
        // SAFETY: `cur` was checked to be an object of this slab when it
        // was linked or read; its free pointer lies inside its slot.
        let next = unsafe { read_word(o + l.fp_offset) };
        if next != NIL as u64 && !fp_valid(l, s_mem, next, true) {
            return false;
        }
        cur = next as u32;
    }
    false
}

/// A report about `obj` in the slab at `pfn`, with the slab's state.
pub(crate) fn describe<M: PhysMem>(pa: &PageAlloc<M>, p: &CacheParams, kind: SlabBugKind, obj: usize, pfn: Pfn, fix: SlabFix) -> SlabBug {
    let mut bug = SlabBug::new(p.name, kind, obj, fix);
    let page = pa.mem.page(pfn);
    let Some(base) = pa.mem.frame_ptr(pfn) else { return bug };
    let base = base as usize;
    let l = &p.layout;
    let (inuse, s_mem) = slab_counters(page);
    bug.slab = base;
    bug.offset = obj.wrapping_sub(base);
    bug.objects = l.objects as u32;
    bug.inuse = inuse as u32;
    bug.page_flags = page.flags();
    let head = page.page_type.load(Relaxed);
    bug.slab_fp = if head == NIL { 0 } else { base + head as usize };
    let slot_ok = bug.offset >= s_mem && bug.offset + l.fp_offset + 8 <= l.slab_bytes() && obj.is_multiple_of(8);
    if slot_ok {
        // SAFETY: the word lies inside the slab (checked just above).
        let fp = unsafe { read_word(obj + l.fp_offset) };
        bug.fp = if fp == NIL as u64 {
            0
        } else if fp_valid(l, s_mem, fp, true) {
            base + fp as usize
        } else {
            fp as usize
        };
    }
    bug
}

/// The first and last byte in `[start, end)` that is not `value`.
///
/// # Safety
/// `[start, end)` must be readable memory (a slab's).
pub(crate) unsafe fn check_bytes(start: usize, end: usize, value: u8) -> Option<Corruption> {
    if end <= start {
        return None;
    }
    // SAFETY: the caller guarantees the range is readable.
    let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, end - start) };
    let first = bytes.iter().position(|&b| b != value)?;
    let last = bytes.iter().rposition(|&b| b != value).unwrap_or(first);
    Some(Corruption { start: start + first, end: start + last, found: bytes[first], expected: value })
}

/// Fills `[start, end)` with `value`.
///
/// # Safety
/// `[start, end)` must be writable memory that nothing else is using.
pub(crate) unsafe fn fill(start: usize, end: usize, value: u8) {
    if end > start {
        // SAFETY: the caller guarantees the range is writable and unused.
        unsafe { core::ptr::write_bytes(start as *mut u8, value, end - start) };
    }
}

/// Fills a free object with `6b 6b ... a5`.
///
/// # Safety
/// As for [`fill`], for `[obj, obj + size)`; `size` > 0.
pub(crate) unsafe fn poison_object(obj: usize, size: usize) {
    // SAFETY: the caller guarantees the object is writable and unused.
    unsafe {
        fill(obj, obj + size - 1, POISON_FREE);
        fill(obj + size - 1, obj + size, POISON_END);
    }
}

/// Checks a free object's poison.
///
/// # Safety
/// As for [`check_bytes`], for `[obj, obj + size)`; `size` > 0.
pub(crate) unsafe fn check_poison(obj: usize, size: usize) -> Option<Corruption> {
    // SAFETY: the caller guarantees the object is readable.
    unsafe { check_bytes(obj, obj + size - 1, POISON_FREE).or_else(|| check_bytes(obj + size - 1, obj + size, POISON_END)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_reads_like_linux() {
        let mut bug = SlabBug::new("kmalloc-64", SlabBugKind::RedzoneOverwritten, 0x1000_0040, SlabFix::RestoredRedzone);
        bug.slab = 0x1000_0000;
        bug.offset = 0x40;
        bug.objects = 32;
        bug.inuse = 1;
        bug.corrupt = Some(Corruption { start: 0x1000_0080, end: 0x1000_0081, found: 0x41, expected: SLUB_RED_ACTIVE });
        let text = bug.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "=".repeat(77));
        assert_eq!(lines[1], "BUG kmalloc-64 (Not tainted): Redzone overwritten");
        assert_eq!(lines[2], "-".repeat(77));
        assert_eq!(lines[4], "INFO: 0x0000000010000080-0x0000000010000081 @offset=128. First byte 0x41 instead of 0xcc");
        assert!(lines[5].starts_with("INFO: Slab 0x0000000010000000 objects=32 used=1 fp=0x"), "{}", lines[5]);
        assert_eq!(lines[6], "INFO: Object 0x0000000010000040 @offset=64 fp=0x0000000000000000");
        assert_eq!(lines[7], "FIX kmalloc-64: Restoring Redzone 0x0000000010000080-0x0000000010000081=0xcc");
    }

    #[test]
    fn byte_checks_find_the_damaged_run() {
        let mut buf = [POISON_FREE; 32];
        buf[31] = POISON_END;
        let a = buf.as_ptr() as usize;
        // SAFETY: `buf` is a live local array of 32 bytes.
        unsafe {
            assert_eq!(check_poison(a, 32), None);
            buf[3] = 0;
            buf[9] = 1;
            let c = check_poison(buf.as_ptr() as usize, 32).unwrap();
            assert_eq!((c.start - a, c.end - a, c.found, c.expected), (3, 9, 0, POISON_FREE));
            poison_object(buf.as_mut_ptr() as usize, 32);
            assert_eq!(check_poison(buf.as_ptr() as usize, 32), None);
        }
    }

    use crate::mm::gfp::*;
    use crate::mm::slab::tests::{free_all, ram, slab};
    use crate::mm::slab::{SLAB_DEBUG_FLAGS, SLAB_RED_ZONE};
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

    static HOOK_CALLS: AtomicU64 = AtomicU64::new(0);
    fn hook(bug: &SlabBug) {
        assert!(bug.to_string().starts_with("====="));
        HOOK_CALLS.fetch_add(1, Relaxed);
    }

    /// Objects allocated after a problem are distinct and writable.
    fn still_sound(s: &crate::mm::slab::SlabAllocator<'_, crate::mm::fake::FakeRam>, size: usize) {
        let objs: Vec<NonNull<u8>> = (0..300).map(|_| s.kmalloc(size, GFP_KERNEL).unwrap()).collect();
        let mut addrs: Vec<usize> = objs.iter().map(|p| p.as_ptr() as usize).collect();
        addrs.sort_unstable();
        assert!(addrs.windows(2).all(|w| w[0] + size <= w[1]), "objects overlap");
        let before = s.bug_count();
        for p in objs {
            // SAFETY: `size` bytes just allocated; freed once.
            unsafe {
                core::ptr::write_bytes(p.as_ptr(), 0x11, size);
                s.kfree(p.as_ptr());
            }
        }
        assert_eq!(s.bug_count(), before, "clean use reported a bug");
    }

    #[test]
    fn slub_debug_covers_kmalloc() {
        let pa = ram(8);
        let s = slab(&pa, true);
        let c = s.kmalloc_cache(64, GFP_KERNEL).unwrap();
        assert_eq!(c.flags() & SLAB_DEBUG_FLAGS, SLAB_DEBUG_FLAGS);
        // Object, red zone word, free pointer, rounded to the natural alignment.
        assert_eq!((c.object_size(), c.size()), (64, 128));
        let mut out = String::new();
        s.slabinfo(&mut out).unwrap();
        assert!(out.lines().any(|l| l.starts_with("kmalloc-64 ") && l.contains(" 128 ") && l.contains("tunables    0    0    0")), "{out}");
    }

    #[test]
    fn redzone_overwrite_is_reported_and_repaired() {
        let pa = ram(8);
        let s = slab(&pa, true);
        s.set_report_hook(hook);
        let p = s.kmalloc(64, GFP_KERNEL).unwrap();
        // SAFETY: deliberately one byte past the 64-byte object: the red zone.
        unsafe { p.as_ptr().add(64).write(0x41) };
        // SAFETY: allocated above; freed once.
        unsafe { s.kfree(p.as_ptr()) };
        let bug = s.last_bug().unwrap();
        assert_eq!((bug.cache, bug.kind, bug.object, bug.fix), ("kmalloc-64", SlabBugKind::RedzoneOverwritten, p.as_ptr() as usize, SlabFix::RestoredRedzone));
        let c = bug.corrupt.unwrap();
        assert_eq!((c.start, c.end, c.found, c.expected), (p.as_ptr() as usize + 64, p.as_ptr() as usize + 64, 0x41, SLUB_RED_ACTIVE));
        let text = bug.to_string();
        assert!(text.contains("BUG kmalloc-64 (Not tainted): Redzone overwritten"), "{text}");
        assert!(text.contains(&format!("INFO: Object {:#018x} @offset={}", bug.object, bug.offset)), "{text}");
        assert!(text.contains("FIX kmalloc-64: Restoring Redzone"), "{text}");
        assert!(HOOK_CALLS.load(Relaxed) >= 1);
        // The object was repaired and freed: it comes back clean.
        let q = s.kmalloc(64, GFP_KERNEL).unwrap();
        assert_eq!(p, q);
        assert_eq!(s.bug_count(), 1);
        // SAFETY: freed once.
        unsafe { s.kfree(q.as_ptr()) };
        still_sound(&s, 64);
    }

    #[test]
    fn double_free_is_refused_and_the_freelist_survives() {
        let pa = ram(8);
        let start = free_all(&pa);
        let s = slab(&pa, true);
        let p = s.kmalloc(32, GFP_KERNEL).unwrap();
        let q = s.kmalloc(32, GFP_KERNEL).unwrap();
        // SAFETY: `p` is freed twice on purpose; the debug cache refuses the second.
        unsafe {
            s.kfree(p.as_ptr());
            s.kfree(q.as_ptr());
            s.kfree(p.as_ptr());
        }
        let bug = s.last_bug().unwrap();
        assert_eq!((bug.kind, bug.fix, bug.object), (SlabBugKind::DoubleFree, SlabFix::NotFreed, p.as_ptr() as usize));
        assert!(bug.to_string().contains("BUG kmalloc-32 (Not tainted): Object already free"));
        // An interior pointer is not an object.
        let r = s.kmalloc(32, GFP_KERNEL).unwrap();
        // SAFETY: refused: not the start of an object.
        unsafe { s.kfree(r.as_ptr().add(8)) };
        assert_eq!(s.last_bug().unwrap().kind, SlabBugKind::InvalidPointer);
        // SAFETY: freed once.
        unsafe { s.kfree(r.as_ptr()) };
        assert_eq!(s.bug_count(), 2);
        still_sound(&s, 32);
        s.shrink_all();
        assert_eq!(free_all(&pa), start, "accounting drifted");
    }

    #[test]
    fn use_after_free_is_caught_and_the_object_retired() {
        let pa = ram(8);
        let s = slab(&pa, true);
        let c = s.kmem_cache_create("uaf_test", 100, 0, 0, None).unwrap();
        let p = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        // SAFETY: freed once.
        unsafe { s.kmem_cache_free(c, p) };
        // SAFETY: deliberately written after free (the slab memory stays mapped).
        unsafe { p.as_ptr().add(10).write(0) };
        // The next allocation would be `p`: it is checked, reported, kept out of use.
        let q = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        assert_ne!(p, q);
        let bug = s.last_bug().unwrap();
        assert_eq!((bug.cache, bug.kind, bug.fix), ("uaf_test", SlabBugKind::PoisonOverwritten, SlabFix::Leaked));
        let cor = bug.corrupt.unwrap();
        assert_eq!((cor.start - p.as_ptr() as usize, cor.found, cor.expected), (10, 0, POISON_FREE));
        assert!(bug.to_string().contains("BUG uaf_test (Not tainted): Poison overwritten"));
        assert_eq!(c.stats().leaked_objs, 1);
        // SAFETY: freed once.
        unsafe { s.kmem_cache_free(c, q) };
        // The retired object does not keep the cache from going away.
        s.kmem_cache_destroy(c).unwrap();
        assert_eq!(s.bug_count(), 1);
        still_sound(&s, 100);
    }

    #[test]
    fn damaged_free_pointer_truncates_the_freelist() {
        let pa = ram(8);
        let s = slab(&pa, false);
        // Red zone only: the free pointer is the object's first word.
        let c = s.kmem_cache_create("fp_test", 64, 0, SLAB_RED_ZONE, None).unwrap();
        assert_eq!(c.layout().unwrap().fp_offset, 0);
        let p = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        // SAFETY: freed once.
        unsafe { s.kmem_cache_free(c, p) };
        // SAFETY: deliberately written after free: a wild free pointer.
        unsafe { (p.as_ptr() as *mut u64).write(0x4141_4141) };
        let q = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        let bug = s.last_bug().unwrap();
        assert_eq!((bug.kind, bug.fix, bug.object, bug.fp), (SlabBugKind::FreepointerCorrupt, SlabFix::FreelistTruncated, p.as_ptr() as usize, 0x4141_4141));
        // The damaged slab is out of use; `q` comes from a fresh one.
        assert_ne!(s.slab_head(p.as_ptr() as usize).unwrap().0, s.slab_head(q.as_ptr() as usize).unwrap().0);
        let objs: Vec<_> = (0..200).map(|_| s.kmem_cache_alloc(c, GFP_KERNEL).unwrap()).collect();
        assert!(!objs.contains(&p));
        assert_eq!(s.bug_count(), 1);
    }

    #[test]
    fn bug_log_keeps_the_latest() {
        let mut log = BugLog::new();
        assert!(log.last().is_none());
        for i in 0..20 {
            log.push(SlabBug::new("c", SlabBugKind::DoubleFree, i, SlabFix::NotFreed));
        }
        assert_eq!(log.last().unwrap().object, 19);
    }
}
