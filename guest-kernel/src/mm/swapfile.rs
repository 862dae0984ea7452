//! Swap areas (Linux `mm/swapfile.c`): the swap header a block device
//! must carry, `swapon` of each device found at boot, and what
//! `/proc/swaps` and `/proc/meminfo` say about them.
//!
//! Each area keeps a swap map (Linux `swap_map`): how many PTEs name each
//! slot. [`get_swap_page`] takes a free slot from the area of highest
//! priority that has one, [`swap_duplicate`] counts a fork's copy of an
//! entry, [`swap_free`] lets one go. Pages go out by `MADV_PAGEOUT`
//! (`MmStruct::pageout`) and come back in `do_swap_page`; the block I/O is
//! the driver's, registered as [`SwapIo`]. There is no reclaim under
//! memory pressure and no swap cache yet: a page shared by several
//! processes stays in memory.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;
use crate::sync::SpinLock;

/// A slot in a swap area (Linux `swp_entry_t`): the area (`swapon`
/// order) and the page offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapEntry {
    pub typ: u32,
    pub offset: u64,
}

/// The page size of a swap header (x86-64's).
pub const SWAP_PAGE: usize = 4096;
/// `mkswap`'s signature, in the last ten bytes of the first page.
pub const SWAP_MAGIC: &[u8; 10] = b"SWAPSPACE2";
/// Linux refuses swap areas of fewer usable pages.
const MIN_GOOD_PAGES: u64 = 10;

/// What the header of a swap area says (`union swap_header`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapHeader {
    /// The last page of the area (the header is page 0).
    pub last_page: u64,
    pub nr_badpages: u32,
    pub label: String,
}

/// Why a device is not a usable swap area (Linux's `swapon` refusals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwapHeaderError {
    /// No `SWAPSPACE2` signature ("Unable to find swap-space signature").
    NoSignature,
    /// A header version other than 1.
    Version(u32),
    /// Fewer than ten usable pages ("Empty swap-file").
    TooSmall,
}

impl core::fmt::Display for SwapHeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSignature => f.write_str("Unable to find swap-space signature"),
            Self::Version(v) => write!(f, "Unable to handle swap header version {v}"),
            Self::TooSmall => f.write_str("Empty swap-file"),
        }
    }
}

/// Reads the header page of a device of `device_pages` pages (Linux
/// `read_swap_header`): the signature, version 1, the last page (limited
/// to the device), at least ten good pages.
pub fn parse_swap_header(page: &[u8; SWAP_PAGE], device_pages: u64) -> Result<SwapHeader, SwapHeaderError> {
    if &page[SWAP_PAGE - SWAP_MAGIC.len()..] != SWAP_MAGIC {
        return Err(SwapHeaderError::NoSignature);
    }
    let word = |at: usize| u32::from_le_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]]);
    let version = word(1024);
    if version != 1 {
        return Err(SwapHeaderError::Version(version));
    }
    let last_page = u64::from(word(1028)).min(device_pages.saturating_sub(1));
    let nr_badpages = word(1032);
    let label_bytes = &page[1052..1068];
    let end = label_bytes.iter().position(|&b| b == 0).unwrap_or(label_bytes.len());
    let label = String::from_utf8_lossy(&label_bytes[..end]).into_owned();
    let header = SwapHeader { last_page, nr_badpages, label };
    if header.good_pages() < MIN_GOOD_PAGES {
        return Err(SwapHeaderError::TooSmall);
    }
    Ok(header)
}

impl SwapHeader {
    /// Pages that can hold swapped pages: all but the header and the bad
    /// ones (Linux `nr_good_pages`).
    pub fn good_pages(&self) -> u64 {
        self.last_page.saturating_sub(u64::from(self.nr_badpages))
    }
}

/// One swap area (Linux `struct swap_info_struct`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapInfo {
    /// The device's name as `/proc/swaps` shows it (`/dev/vda`).
    pub name: String,
    pub prio: i32,
    /// Usable pages.
    pub pages: u64,
    /// Pages holding swapped data.
    pub inuse_pages: u64,
    /// Per slot, how many PTEs name it, plus one while the swap cache
    /// holds its page (0: free); slot 0 is the header.
    map: Vec<u16>,
    /// Per slot, the PFN of the page the swap cache holds for it (0: none;
    /// PFN 0 is never a user page): the swap cache's index, made at
    /// `swapon` so that reclaim never allocates for it.
    cache: Vec<u32>,
    /// Per slot, the shadow its page left when reclaim evicted it: the
    /// workingset clock then, plus one (0: none; Linux keeps it in the
    /// swap cache's xarray where the page was).
    shadow: Vec<u32>,
    /// Pages in the swap cache.
    cached: u64,
    /// Where the search for a free slot starts (Linux `cluster_next`).
    next: usize,
}

impl SwapInfo {
    fn new(name: &str, prio: i32, header: &SwapHeader) -> Self {
        let slots = header.last_page as usize + 1;
        let mut map = alloc::vec![0u16; slots];
        map[0] = u16::MAX;
        let cache = alloc::vec![0u32; slots];
        let shadow = alloc::vec![0u32; slots];
        Self { name: String::from(name), prio, pages: header.good_pages(), inuse_pages: 0, map, cache, shadow, cached: 0, next: 1 }
    }

    /// A free slot, taken (one reference).
    fn take_slot(&mut self) -> Option<u64> {
        let n = self.map.len();
        let found = (self.next..n).chain(1..self.next).find(|&i| self.map[i] == 0)?;
        self.map[found] = 1;
        self.next = found + 1;
        self.inuse_pages += 1;
        Some(found as u64)
    }
}

/// What the readahead window is decided by (Linux's
/// `swapin_readahead_hits`, `prev_offset` and `last_readahead_pages`).
#[derive(Debug, Default)]
pub struct SwapRaState {
    /// Faults that found a page read ahead, since the last window.
    hits: AtomicU64,
    /// The slot of the last fault that read without hits before it.
    prev_offset: AtomicU64,
    /// The last window, in slots.
    last_window: AtomicU64,
}

impl SwapRaState {
    pub const fn new() -> Self {
        Self { hits: AtomicU64::new(0), prev_offset: AtomicU64::new(0), last_window: AtomicU64::new(0) }
    }

    /// A fault found a page read ahead.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Relaxed);
    }

    /// The window for a read of slot `offset`, at most `max` slots (Linux
    /// `swapin_nr_pages`): the hits since the last window plus two,
    /// rounded up to a power of two (at least 4); without hits, two if
    /// the fault is next to the last one and one otherwise; never below
    /// half the last window, so it does not collapse at one miss, and
    /// never above `max` (one slot when `max` is, at once).
    pub fn window(&self, offset: u64, max: u64) -> u64 {
        if max <= 1 {
            return 1;
        }
        let hits = self.hits.swap(0, Relaxed);
        let prev = self.prev_offset.load(Relaxed);
        let mut pages = hits + 2;
        if pages == 2 {
            if offset != prev.wrapping_add(1) && offset != prev.wrapping_sub(1) {
                pages = 1;
            }
        } else {
            pages = pages.next_power_of_two().max(4);
        }
        pages = pages.max(self.last_window.load(Relaxed) / 2).min(max);
        if hits == 0 {
            self.prev_offset.store(offset, Relaxed);
        }
        self.last_window.store(pages, Relaxed);
        pages
    }
}

/// Linux's workingset clock (`lruvec->nonresident_age`): it ticks at
/// each eviction and each activation, and an evicted page's shadow holds
/// its value then, so that a refault knows how many pages went out (or
/// were promoted) while the page was away: its refault distance.
pub struct Workingset {
    age: AtomicU64,
    /// The pages the workingset can hold: a refault no farther than this
    /// would have stayed in memory with that much more room.
    size: fn() -> u64,
}

impl Workingset {
    pub const fn new(size: fn() -> u64) -> Self {
        Self { age: AtomicU64::new(0), size }
    }

    /// A page goes out (or is promoted): the clock's value before.
    pub fn tick(&self) -> u64 {
        self.age.fetch_add(1, Relaxed)
    }

    /// Whether a page evicted at `evicted` (the clock's low bits, as a
    /// shadow keeps them) comes back within the workingset.
    pub fn within(&self, evicted: u64) -> bool {
        let distance = self.age.load(Relaxed).wrapping_sub(evicted) & SHADOW_AGE_MASK;
        distance <= (self.size)()
    }
}

/// Block I/O for swap, given by the block driver: reads consecutive slots
/// of an area from `offset` on into the pages at the physical addresses
/// (one request where the device takes it), and writes one page to a slot
/// (`typ`: the area's index in `swapon` order). False on an I/O error.
#[derive(Clone, Copy)]
pub struct SwapIo {
    pub read: fn(typ: u32, offset: u64, phys: &[u64]) -> bool,
    pub write: fn(typ: u32, offset: u64, phys: u64) -> bool,
}

static SWAP_IO: crate::sync::Once<SwapIo> = crate::sync::Once::new();

/// Pages written to and read from swap (`pswpout`, `pswpin`).
pub static PSWPOUT: AtomicU64 = AtomicU64::new(0);
pub static PSWPIN: AtomicU64 = AtomicU64::new(0);

/// The driver's I/O (once, when the first area is added).
pub fn set_io(io: SwapIo) {
    let _ = SWAP_IO.set(io);
}

/// The areas, in `swapon` order, and the priority the next one gets.
struct SwapList {
    areas: Vec<SwapInfo>,
    least_priority: i32,
    /// The slots whose pages readahead put into the swap cache, oldest
    /// first (a ring), so that reclaim finds those no fault has used.
    readahead: ReadaheadRing,
}

/// Pages read ahead that reclaim can find (4 MiB): one read ahead past
/// this forgets the oldest, which its caller then drops if still unused.
const READAHEAD_RING: usize = 1024;

struct ReadaheadRing {
    slots: [SwapEntry; READAHEAD_RING],
    head: usize,
    len: usize,
}

static SWAP: SpinLock<SwapList> = SpinLock::new(SwapList {
    areas: Vec::new(),
    least_priority: -1,
    readahead: ReadaheadRing { slots: [SwapEntry { typ: 0, offset: 0 }; READAHEAD_RING], head: 0, len: 0 },
});

/// Remembers that readahead cached slot `e`'s page; returns the slot it
/// forgot to make room, if the ring was full.
pub fn readahead_note(e: SwapEntry) -> Option<SwapEntry> {
    let ring = &mut SWAP.lock().readahead;
    let tail = (ring.head + ring.len) % READAHEAD_RING;
    if ring.len == READAHEAD_RING {
        let old = ring.slots[ring.head];
        ring.slots[ring.head] = e;
        ring.head = (ring.head + 1) % READAHEAD_RING;
        return Some(old);
    }
    ring.slots[tail] = e;
    ring.len += 1;
    None
}

/// The oldest slot readahead cached that is still remembered, forgotten.
pub fn readahead_pop() -> Option<SwapEntry> {
    let ring = &mut SWAP.lock().readahead;
    if ring.len == 0 {
        return None;
    }
    let e = ring.slots[ring.head];
    ring.head = (ring.head + 1) % READAHEAD_RING;
    ring.len -= 1;
    Some(e)
}

/// Adds an area (Linux `swapon` without a priority: -2, -3, ... in
/// order) and returns what Linux prints for it.
pub fn swapon(name: &str, header: &SwapHeader) -> String {
    let mut list = SWAP.lock();
    list.least_priority -= 1;
    let prio = list.least_priority;
    let pages = header.good_pages();
    list.areas.push(SwapInfo::new(name, prio, header));
    alloc::format!("Adding {}k swap on {name}.  Priority:{prio} extents:1 across:{}k ", pages * 4, pages * 4)
}

/// A free slot from the area of highest priority that has one (Linux
/// `get_swap_page`), held by one reference.
pub fn get_swap_page() -> Option<SwapEntry> {
    let mut list = SWAP.lock();
    let mut order: Vec<usize> = (0..list.areas.len()).collect();
    order.sort_by_key(|&i| core::cmp::Reverse(list.areas[i].prio));
    for i in order {
        if let Some(offset) = list.areas[i].take_slot() {
            return Some(SwapEntry { typ: i as u32, offset });
        }
    }
    None
}

/// One more PTE names `e` (fork; Linux `swap_duplicate`). A count that
/// would overflow stays (the slot is then never freed: a leak, not a
/// corruption).
pub fn swap_duplicate(e: SwapEntry) {
    let mut list = SWAP.lock();
    if let Some(c) = list.areas.get_mut(e.typ as usize).and_then(|a| a.map.get_mut(e.offset as usize)) {
        *c = c.saturating_add(1).min(u16::MAX - 1);
    }
}

/// How many references `e` has: its PTEs, and the swap cache's (Linux
/// `__swap_count`; 0 for no such slot).
pub fn swap_count(e: SwapEntry) -> u64 {
    let list = SWAP.lock();
    list.areas.get(e.typ as usize).and_then(|a| a.map.get(e.offset as usize)).map_or(0, |&c| u64::from(c))
}

/// One PTE less names `e` (Linux `swap_free`); the slot is free after the
/// last.
pub fn swap_free(e: SwapEntry) {
    let mut list = SWAP.lock();
    let Some(area) = list.areas.get_mut(e.typ as usize) else { return };
    let Some(c) = area.map.get_mut(e.offset as usize) else { return };
    if *c == 0 || *c == u16::MAX {
        return;
    }
    *c -= 1;
    if *c == 0 {
        area.inuse_pages -= 1;
        // Nothing will read the slot again: no refault to detect.
        area.shadow[e.offset as usize] = 0;
    }
}

/// The bits of the workingset clock a shadow keeps (Linux packs fewer,
/// beside the node and memcg): distances wrap at 2^31 evictions.
pub const SHADOW_AGE_MASK: u64 = (1 << 31) - 1;

/// Records the shadow of slot `e`'s page, evicted at workingset clock
/// `age` (kept plus one: 0 is "no shadow").
pub fn shadow_store(e: SwapEntry, age: u64) {
    let mut list = SWAP.lock();
    if let Some(s) = list.areas.get_mut(e.typ as usize).and_then(|a| a.shadow.get_mut(e.offset as usize)) {
        *s = (age & SHADOW_AGE_MASK) as u32 + 1;
    }
}

/// Takes slot `e`'s shadow: the workingset clock's low bits when its page
/// was evicted, if it was.
pub fn shadow_take(e: SwapEntry) -> Option<u64> {
    let mut list = SWAP.lock();
    let s = list.areas.get_mut(e.typ as usize).and_then(|a| a.shadow.get_mut(e.offset as usize))?;
    let v = core::mem::take(s);
    (v != 0).then(|| u64::from(v - 1))
}

/// The page holding slot `e`'s data, if the swap cache has one (Linux
/// `swap_cache_get_folio`).
pub fn swap_cache_find(e: SwapEntry) -> Option<Pfn> {
    let list = SWAP.lock();
    let pfn = *list.areas.get(e.typ as usize)?.cache.get(e.offset as usize)?;
    (pfn != 0).then(|| Pfn::new(pfn.into()))
}

/// Records that `pfn` holds slot `e`'s data.
pub fn swap_cache_insert(e: SwapEntry, pfn: Pfn) {
    let mut list = SWAP.lock();
    let Some(area) = list.areas.get_mut(e.typ as usize) else { return };
    let Ok(pfn) = u32::try_from(pfn.as_u64()) else { return };
    if let Some(slot) = area.cache.get_mut(e.offset as usize) {
        if *slot == 0 {
            area.cached += 1;
        }
        *slot = pfn;
    }
}

/// Forgets the page of slot `e`.
pub fn swap_cache_remove(e: SwapEntry) {
    let mut list = SWAP.lock();
    let Some(area) = list.areas.get_mut(e.typ as usize) else { return };
    if let Some(slot) = area.cache.get_mut(e.offset as usize) {
        if *slot != 0 {
            area.cached -= 1;
        }
        *slot = 0;
    }
}

/// Pages in the swap cache (`SwapCached`).
pub fn swap_cache_pages() -> u64 {
    SWAP.lock().areas.iter().map(|a| a.cached).sum()
}

/// Writes the page at `phys` to slot `e`; false without a driver or on
/// an I/O error.
pub fn write_page(e: SwapEntry, phys: u64) -> bool {
    let ok = SWAP_IO.get().is_some_and(|io| (io.write)(e.typ, e.offset, phys));
    if ok {
        PSWPOUT.fetch_add(1, Relaxed);
    }
    ok
}

/// Reads slots `e`, `e + 1`, ... into the pages at `phys`; false without
/// a driver or on an I/O error.
pub fn read_pages(e: SwapEntry, phys: &[u64]) -> bool {
    let ok = SWAP_IO.get().is_some_and(|io| (io.read)(e.typ, e.offset, phys));
    if ok {
        PSWPIN.fetch_add(phys.len() as u64, Relaxed);
    }
    ok
}

/// All swap space and what of it is free, in pages (`SwapTotal`,
/// `SwapFree`).
pub fn totals() -> (u64, u64) {
    let list = SWAP.lock();
    let total = list.areas.iter().map(|a| a.pages).sum();
    let used: u64 = list.areas.iter().map(|a| a.inuse_pages).sum();
    (total, total - used)
}

/// `/proc/swaps` (Linux `swap_show`).
pub fn show_swaps(w: &mut String) -> core::fmt::Result {
    render_swaps(&SWAP.lock().areas, w)
}

fn render_swaps(areas: &[SwapInfo], w: &mut String) -> core::fmt::Result {
    w.write_str("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")?;
    for a in areas {
        let (bytes, inuse) = (a.pages * 4, a.inuse_pages * 4);
        let pad = if a.name.len() < 40 { 40 - a.name.len() } else { 1 };
        let tab = |n: u64| if n < 10_000_000 { "\t" } else { "" };
        writeln!(w, "{}{:>pad$}partition\t{bytes}\t{}{inuse}\t{}{}", a.name, " ", tab(bytes), tab(inuse), a.prio, pad = pad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The readahead window: one slot for a lone fault, two for the next
    /// one beside it, growing with hits, halving at most per miss, and at
    /// once within a lowered `page-cluster`.
    /// A refault is within the workingset when fewer pages were evicted
    /// since than the workingset holds.
    #[test]
    fn refault_distance_is_evictions_since() {
        let ws = Workingset::new(|| 10);
        let evicted = ws.tick();
        (0..9).for_each(|_| {
            ws.tick();
        });
        assert!(ws.within(evicted), "10 evictions ago");
        ws.tick();
        assert!(!ws.within(evicted), "11 evictions ago");
        assert!(ws.within(ws.tick()), "just now");
    }

    #[test]
    fn the_readahead_window_follows_hits_as_linux_sizes_it() {
        let ra = SwapRaState::new();
        assert_eq!(ra.window(100, 8), 1, "a lone fault");
        assert_eq!(ra.window(101, 8), 2, "next to the last one");
        ra.hit();
        assert_eq!(ra.window(103, 8), 4, "one hit: 1 + 2, rounded up to 4");
        (0..3).for_each(|_| ra.hit());
        assert_eq!(ra.window(107, 8), 8, "capped by page-cluster");
        assert_eq!(ra.window(500, 8), 4, "a miss halves it");
        assert_eq!(ra.window(900, 8), 2);
        (0..6).for_each(|_| ra.hit());
        assert_eq!(ra.window(904, 8), 8);
        assert_eq!(ra.window(910, 2), 2, "a lowered page-cluster holds at once");
        assert_eq!(ra.window(911, 1), 1, "page-cluster 0: the slot alone");
    }

    fn header(last_page: u32, version: u32, magic: &[u8; 10]) -> [u8; SWAP_PAGE] {
        let mut p = [0u8; SWAP_PAGE];
        p[1024..1028].copy_from_slice(&version.to_le_bytes());
        p[1028..1032].copy_from_slice(&last_page.to_le_bytes());
        p[1052..1061].copy_from_slice(b"rvmm-swap");
        p[SWAP_PAGE - 10..].copy_from_slice(magic);
        p
    }

    #[test]
    fn headers_are_read_as_swapon_reads_them() {
        let h = parse_swap_header(&header(4095, 1, SWAP_MAGIC), 4096).unwrap();
        assert_eq!((h.last_page, h.good_pages(), h.label.as_str()), (4095, 4095, "rvmm-swap"));
        // The header may not claim more than the device has.
        assert_eq!(parse_swap_header(&header(9999, 1, SWAP_MAGIC), 4096).unwrap().last_page, 4095);
        assert_eq!(parse_swap_header(&header(4095, 1, b"SWAP-SPACE"), 4096), Err(SwapHeaderError::NoSignature));
        assert_eq!(parse_swap_header(&header(4095, 2, SWAP_MAGIC), 4096), Err(SwapHeaderError::Version(2)));
        assert_eq!(parse_swap_header(&header(5, 1, SWAP_MAGIC), 4096), Err(SwapHeaderError::TooSmall));
    }

    #[test]
    fn slots_are_taken_shared_and_freed() {
        let h = parse_swap_header(&header(12, 1, SWAP_MAGIC), 13).unwrap();
        let mut a = SwapInfo::new("/dev/vda", -2, &h);
        let slots: Vec<u64> = (0..12).map(|_| a.take_slot().unwrap()).collect();
        assert_eq!(slots, (1..=12).collect::<Vec<_>>(), "slot 0 is the header");
        assert_eq!((a.take_slot(), a.inuse_pages), (None, 12), "full");
        a.map[5] -= 1;
        a.inuse_pages -= 1;
        assert_eq!(a.take_slot(), Some(5));
    }

    #[test]
    fn proc_swaps_has_linux_columns() {
        let h = parse_swap_header(&header(4095, 1, SWAP_MAGIC), 4096).unwrap();
        let areas = [SwapInfo::new("/dev/vda", -2, &h)];
        let mut w = String::new();
        render_swaps(&areas, &mut w).unwrap();
        assert_eq!(w, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/vda                                partition\t16380\t\t0\t\t-2\n");
    }
}
