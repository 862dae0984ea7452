//! Reaching pages outside the direct map (Linux `mm/highmem.c`).
//!
//! - `kmap(page)`: a long-lived mapping in the PKMAP window. Lowmem pages
//!   just return their direct-map address. Slots are reference counted
//!   (`pkmap_count`: 0 free, 1 mapped but unused, n+1 with n users); a slot
//!   whose users are gone keeps its mapping until the window is full, when
//!   `flush_all_zero_pkmaps` clears them all with one TLB flush.
//! - `kmap_local_page(page)` / `kmap_atomic(page)`: short mappings in
//!   per-CPU fixmap slots, used and released in stack order, never
//!   blocking; `kunmap_local`/`kunmap_atomic` clear the PTE and `invlpg` it.
//!   [`KmapLocal`] is the same as an RAII guard.
//!
//! ```text
//! PKMAP_BASE  0xffff_ffff_ff00_0000   LAST_PKMAP (512) slots, one page table
//! ```

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::arch::cpu::{flush_tlb_all, invlpg};
use crate::arch::pgtable::{table_index, PAGE_KERNEL};
use crate::mm::addr::{__va, Pfn, PhysAddr, VirtAddr};
use crate::mm::fixmap::{clear_fixmap, fix_to_virt, set_fixmap, virt_to_fix, FIX_KMAP_BEGIN, KM_MAX_IDX};
use crate::mm::memmap::{page_address, page_to_pfn};
use crate::mm::page::Page;
use crate::mm::zone::NR_CPUS;
use crate::sync::SpinLock;

pub const PKMAP_BASE: u64 = 0xffff_ffff_ff00_0000;
pub const LAST_PKMAP: usize = 512;
/// Open-addressed PFN -> slot table, twice the slots.
const HASH_SIZE: usize = 2 * LAST_PKMAP;
const EMPTY: u32 = u32::MAX;

/// Counters (`/proc/vmstat` extras).
pub struct KmapStats {
    pub kmap: AtomicU64,
    pub kmap_high: AtomicU64,
    pub kmap_atomic: AtomicU64,
    pub kmap_atomic_high: AtomicU64,
    pub pkmap_flushes: AtomicU64,
}

pub static KMAP_STATS: KmapStats = KmapStats {
    kmap: AtomicU64::new(0),
    kmap_high: AtomicU64::new(0),
    kmap_atomic: AtomicU64::new(0),
    kmap_atomic_high: AtomicU64::new(0),
    pkmap_flushes: AtomicU64::new(0),
};

struct Pkmap {
    /// Physical address of the PKMAP page table.
    pte_table: u64,
    count: [u32; LAST_PKMAP],
    /// PFN mapped at each slot (valid while count > 0).
    pfn: [u64; LAST_PKMAP],
    /// PFN -> slot, linear probing; rebuilt after a flush.
    hash: [u32; HASH_SIZE],
    last_pkmap_nr: usize,
}

static PKMAP: SpinLock<Pkmap> = SpinLock::new(Pkmap { pte_table: 0, count: [0; LAST_PKMAP], pfn: [0; LAST_PKMAP], hash: [EMPTY; HASH_SIZE], last_pkmap_nr: 0 });

/// Records the page table that covers the PKMAP window.
pub fn init(pte_table: PhysAddr) {
    PKMAP.lock().pte_table = pte_table.as_u64();
}

fn pkmap_addr(slot: usize) -> VirtAddr {
    VirtAddr::new(PKMAP_BASE + slot as u64 * 4096)
}

impl Pkmap {
    fn pte(&self, slot: usize) -> *mut u64 {
        assert!(self.pte_table != 0, "kmap used before highmem init");
        let index = table_index(pkmap_addr(slot).as_u64(), 1);
        (__va(PhysAddr::new(self.pte_table)).as_u64() as *mut u64).wrapping_add(index)
    }

    fn lookup(&self, pfn: Pfn) -> Option<usize> {
        let mut i = (pfn.as_u64() as usize).wrapping_mul(0x9e37_79b9) % HASH_SIZE;
        loop {
            match self.hash[i] {
                EMPTY => return None,
                slot if self.pfn[slot as usize] == pfn.as_u64() && self.count[slot as usize] > 0 => return Some(slot as usize),
                _ => i = (i + 1) % HASH_SIZE,
            }
        }
    }

    fn insert(&mut self, pfn: Pfn, slot: usize) {
        let mut i = (pfn.as_u64() as usize).wrapping_mul(0x9e37_79b9) % HASH_SIZE;
        while self.hash[i] != EMPTY {
            i = (i + 1) % HASH_SIZE;
        }
        self.hash[i] = slot as u32;
    }

    /// Linux `flush_all_zero_pkmaps`: unmaps every slot without users, then
    /// one TLB flush.
    fn flush_all_zero_pkmaps(&mut self) {
        let mut flushed = false;
        for slot in 0..LAST_PKMAP {
            if self.count[slot] == 1 {
                self.count[slot] = 0;
                // SAFETY: the slot's PTE in the PKMAP page table; no user holds it.
                unsafe { self.pte(slot).write_volatile(0) };
                flushed = true;
            }
        }
        if flushed {
            flush_tlb_all();
            KMAP_STATS.pkmap_flushes.fetch_add(1, Relaxed);
        }
        self.hash = [EMPTY; HASH_SIZE];
        for slot in 0..LAST_PKMAP {
            if self.count[slot] > 0 {
                let pfn = self.pfn[slot];
                self.insert(Pfn::new(pfn), slot);
            }
        }
    }

    /// Linux `map_new_virtual`.
    fn map_new_virtual(&mut self, pfn: Pfn) -> usize {
        let mut scanned = 0;
        loop {
            self.last_pkmap_nr = (self.last_pkmap_nr + 1) % LAST_PKMAP;
            if self.last_pkmap_nr == 0 {
                self.flush_all_zero_pkmaps();
            }
            if self.count[self.last_pkmap_nr] == 0 {
                break;
            }
            scanned += 1;
            // Linux sleeps here until a kunmap frees a slot; with nothing
            // else to run, every slot held means a leak.
            assert!(scanned <= 2 * LAST_PKMAP, "kmap: all {LAST_PKMAP} PKMAP slots are in use");
        }
        let slot = self.last_pkmap_nr;
        // SAFETY: the slot is free (count 0, unmapped since the last flush).
        unsafe { self.pte(slot).write_volatile(pfn.phys().as_u64() | PAGE_KERNEL) };
        self.count[slot] = 1;
        self.pfn[slot] = pfn.as_u64();
        self.insert(pfn, slot);
        slot
    }
}

/// Maps `page` for long-term use (Linux `kmap`).
pub fn kmap(page: &Page) -> VirtAddr {
    KMAP_STATS.kmap.fetch_add(1, Relaxed);
    if let Some(addr) = page_address(page) {
        return addr;
    }
    KMAP_STATS.kmap_high.fetch_add(1, Relaxed);
    let pfn = page_to_pfn(page).as_u64();
    let mut pk = PKMAP.lock();
    let slot = match pk.lookup(Pfn::new(pfn)) {
        Some(slot) => slot,
        None => pk.map_new_virtual(Pfn::new(pfn)),
    };
    pk.count[slot] += 1;
    pkmap_addr(slot)
}

/// Releases a `kmap` of `page` (Linux `kunmap`).
pub fn kunmap(page: &Page) {
    if page_address(page).is_some() {
        return;
    }
    let pfn = page_to_pfn(page).as_u64();
    let mut pk = PKMAP.lock();
    let slot = pk.lookup(Pfn::new(pfn)).unwrap_or_else(|| panic!("kunmap: pfn {pfn:#x} is not kmapped"));
    assert!(pk.count[slot] > 1, "kunmap: pfn {pfn:#x} has no users");
    pk.count[slot] -= 1;
}

/// Users of PKMAP slots, for tests and dumps: (slots mapped, slots in use).
pub fn pkmap_usage() -> (usize, usize) {
    let pk = PKMAP.lock();
    (pk.count.iter().filter(|&&c| c > 0).count(), pk.count.iter().filter(|&&c| c > 1).count())
}

/// Per-CPU depth of the kmap_local stack.
static KMAP_IDX: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];

fn this_cpu() -> usize {
    0
}

/// Maps `page` in this CPU's next fixmap slot (Linux `kmap_local_page`);
/// lowmem pages return their direct-map address and use no slot. Release
/// with [`kunmap_local`], innermost first.
pub fn kmap_local_page(page: &Page) -> VirtAddr {
    KMAP_STATS.kmap_atomic.fetch_add(1, Relaxed);
    if let Some(addr) = page_address(page) {
        return addr;
    }
    KMAP_STATS.kmap_atomic_high.fetch_add(1, Relaxed);
    let cpu = this_cpu();
    let idx = KMAP_IDX[cpu].fetch_add(1, Relaxed);
    assert!(idx < KM_MAX_IDX, "kmap_local: more than {KM_MAX_IDX} nested mappings");
    let slot = FIX_KMAP_BEGIN + cpu * KM_MAX_IDX + idx;
    set_fixmap(slot, page_to_pfn(page).phys());
    // The slot may still be cached from its previous owner.
    invlpg(fix_to_virt(slot).as_u64());
    fix_to_virt(slot)
}

/// Releases the innermost `kmap_local_page` (Linux `kunmap_local`).
/// Direct-map addresses are ignored, as in Linux.
pub fn kunmap_local(addr: VirtAddr) {
    let Some(slot) = virt_to_fix(addr) else { return };
    let cpu = this_cpu();
    let idx = KMAP_IDX[cpu].load(Relaxed);
    assert!(idx > 0, "kunmap_local({:#x}) with nothing mapped", addr.as_u64());
    let top = FIX_KMAP_BEGIN + cpu * KM_MAX_IDX + idx - 1;
    assert_eq!(slot, top, "kunmap_local out of order: {:#x} is not the innermost mapping", addr.as_u64());
    clear_fixmap(slot);
    KMAP_IDX[cpu].store(idx - 1, Relaxed);
}

/// Linux `kmap_atomic`: `kmap_local_page` that must not sleep (nothing
/// here sleeps; with preemption it will also disable it).
pub fn kmap_atomic(page: &Page) -> VirtAddr {
    kmap_local_page(page)
}

pub fn kunmap_atomic(addr: VirtAddr) {
    kunmap_local(addr)
}

/// Current kmap_local nesting on this CPU.
pub fn kmap_local_depth() -> usize {
    KMAP_IDX[this_cpu()].load(Relaxed)
}

/// A `kmap_local_page` mapping, released when dropped.
pub struct KmapLocal {
    addr: VirtAddr,
}

impl KmapLocal {
    pub fn new(page: &Page) -> Self {
        Self { addr: kmap_local_page(page) }
    }
    pub fn addr(&self) -> VirtAddr {
        self.addr
    }
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.addr.as_mut_ptr()
    }

    /// Copies the page's bytes from `offset` into `buf` (panics past its
    /// end).
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        assert!(offset.checked_add(buf.len()).is_some_and(|end| end <= crate::mm::addr::PAGE_SIZE as usize), "read past the page");
        // SAFETY: the page is mapped at `addr` while `self` lives, and the
        // range lies inside it (checked above).
        unsafe { core::ptr::copy_nonoverlapping(self.as_mut_ptr().add(offset), buf.as_mut_ptr(), buf.len()) };
    }

    /// Copies `bytes` into the page at `offset` (panics past its end).
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset.checked_add(bytes.len()).is_some_and(|end| end <= crate::mm::addr::PAGE_SIZE as usize), "write past the page");
        // SAFETY: the page is mapped at `addr` while `self` lives, and the
        // range lies inside it (checked above).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.as_mut_ptr().add(offset), bytes.len()) };
    }
}

impl Drop for KmapLocal {
    fn drop(&mut self) {
        kunmap_local(self.addr);
    }
}
