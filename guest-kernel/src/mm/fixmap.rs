//! Fixed-address kernel mappings (Linux `fixmap`): virtual slots whose PTEs
//! the kernel rewrites to reach one physical page at a time. The slots are
//! the per-CPU `kmap_atomic`/`kmap_local` stack (`highmem.rs`).
//!
//! ```text
//! FIXADDR_START  0xffff_ffff_ff40_0000   FIX_KMAP_BEGIN: KM_MAX_IDX slots per CPU
//! ```

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::arch::cpu::invlpg;
use crate::arch::pgtable::{table_index, PAGE_KERNEL};
use crate::mm::addr::{__va, PhysAddr, VirtAddr};
use crate::mm::zone::NR_CPUS;

pub const FIXADDR_START: u64 = 0xffff_ffff_ff40_0000;
/// kmap_local/kmap_atomic nesting depth per CPU (Linux `KM_MAX_IDX`).
pub const KM_MAX_IDX: usize = 16;
pub const FIX_KMAP_BEGIN: usize = 0;
pub const FIX_KMAP_END: usize = FIX_KMAP_BEGIN + KM_MAX_IDX * NR_CPUS;
pub const NR_FIX_SLOTS: usize = FIX_KMAP_END;
// All slots sit in the one page table `init` is given.
const _: () = assert!(NR_FIX_SLOTS <= 512);

/// Physical address of the page table holding the fixmap PTEs; set once at
/// boot by [`init`].
static FIXMAP_PTE_TABLE: AtomicU64 = AtomicU64::new(0);

pub const fn fix_to_virt(slot: usize) -> VirtAddr {
    VirtAddr::new(FIXADDR_START + (slot as u64) * 4096)
}

/// The slot of a fixmap address, if it is one.
pub fn virt_to_fix(va: VirtAddr) -> Option<usize> {
    let slot = va.as_u64().checked_sub(FIXADDR_START)? / 4096;
    (slot < NR_FIX_SLOTS as u64).then_some(slot as usize)
}

/// Records the page table that `populate_pte_table` created for the fixmap.
pub fn init(pte_table: PhysAddr) {
    FIXMAP_PTE_TABLE.store(pte_table.as_u64(), Relaxed);
}

fn pte(slot: usize) -> *mut u64 {
    let table = FIXMAP_PTE_TABLE.load(Relaxed);
    assert!(table != 0 && slot < NR_FIX_SLOTS, "fixmap slot {slot} used before init or out of range");
    let index = table_index(fix_to_virt(slot).as_u64(), 1);
    (__va(PhysAddr::new(table)).as_u64() as *mut u64).wrapping_add(index)
}

/// Points `slot` at physical page `pa` (Linux `__set_fixmap`). The caller
/// owns the slot (per-CPU stack discipline).
pub fn set_fixmap(slot: usize, pa: PhysAddr) {
    // SAFETY: the PTE is in the fixmap's page table (direct-mapped), and
    // nothing else maps through this slot while its owner holds it.
    unsafe { pte(slot).write_volatile(pa.as_u64() | PAGE_KERNEL) };
}

/// Unmaps `slot` and drops its TLB entry on this CPU.
pub fn clear_fixmap(slot: usize) {
    // SAFETY: as for `set_fixmap`.
    unsafe { pte(slot).write_volatile(0) };
    invlpg(fix_to_virt(slot).as_u64());
}
