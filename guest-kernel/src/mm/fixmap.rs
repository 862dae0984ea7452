//! Fixed-address kernel mappings (Linux `fixmap`): virtual slots whose PTEs
//! the kernel rewrites to reach one physical page at a time. Today one slot
//! serves HighMem pages the allocator must clear or check (they are outside
//! the direct map); `kmap_atomic` will add per-CPU slots.
//!
//! ```text
//! FIXADDR_START  0xffff_ffff_ff40_0000   slot 0: FIX_CLEAR_HIGHPAGE
//! ```

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::arch::cpu::invlpg;
use crate::arch::pgtable::{table_index, PAGE_KERNEL};
use crate::mm::addr::{PhysAddr, VirtAddr, __va};
use crate::sync::SpinLock;

pub const FIXADDR_START: u64 = 0xffff_ffff_ff40_0000;
pub const FIX_CLEAR_HIGHPAGE: usize = 0;
pub const NR_FIX_SLOTS: usize = 1;

/// Physical address of the page table holding the fixmap PTEs; set once at
/// boot by [`init`].
static FIXMAP_PTE_TABLE: AtomicU64 = AtomicU64::new(0);
/// Serialises users of the slot.
static SLOT_LOCK: SpinLock<()> = SpinLock::new(());

pub const fn fix_to_virt(slot: usize) -> VirtAddr {
    VirtAddr(FIXADDR_START + (slot as u64) * 4096)
}

/// Records the page table that `populate_pte_table` created for the fixmap.
pub fn init(pte_table: PhysAddr) {
    FIXMAP_PTE_TABLE.store(pte_table.as_u64(), Relaxed);
}

fn pte(slot: usize) -> *mut u64 {
    let table = FIXMAP_PTE_TABLE.load(Relaxed);
    assert!(table != 0, "fixmap used before init");
    let index = table_index(fix_to_virt(slot).as_u64(), 1);
    (__va(PhysAddr(table)).as_u64() as *mut u64).wrapping_add(index)
}

/// Runs `f` with physical page `pa` mapped at a fixmap slot.
pub fn with_page_at_fixmap<R>(pa: PhysAddr, f: impl FnOnce(VirtAddr) -> R) -> R {
    let _guard = SLOT_LOCK.lock();
    let slot = FIX_CLEAR_HIGHPAGE;
    let va = fix_to_virt(slot);
    // SAFETY: the PTE is in the fixmap's page table, reached through the
    // direct map; the slot lock makes this the only user of the slot.
    unsafe { pte(slot).write_volatile(pa.as_u64() | PAGE_KERNEL) };
    invlpg(va.as_u64());
    let result = f(va);
    // SAFETY: as above.
    unsafe { pte(slot).write_volatile(0) };
    invlpg(va.as_u64());
    result
}
