//! The boot page tables: just enough for the kernel to start.
//!
//! They map guest-physical `[0, 1 GiB)` at `START_KERNEL_MAP` with 2 MiB
//! pages (PML4[511] -> PDPT[510] -> one PD) and nothing else: no identity
//! map, so a stray low pointer faults. The kernel reads its boot data
//! through this window and then switches to tables it builds itself.

use shared::layout::{BOOT_PGTABLE_START, START_KERNEL_MAP};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;

const PML4: u64 = BOOT_PGTABLE_START;
const PDPT: u64 = BOOT_PGTABLE_START + 0x1000;
const PD: u64 = BOOT_PGTABLE_START + 0x2000;

/// Writes the boot page tables and returns the value for CR3.
pub fn write_boot_page_tables(mem: &GuestMemoryMmap) -> Result<u64, vm_memory::GuestMemoryError> {
    let pml4_index = (START_KERNEL_MAP >> 39) & 511;
    let pdpt_index = (START_KERNEL_MAP >> 30) & 511;
    mem.write_obj(PDPT | PRESENT | WRITABLE, GuestAddress(PML4 + pml4_index * 8))?;
    mem.write_obj(PD | PRESENT | WRITABLE, GuestAddress(PDPT + pdpt_index * 8))?;
    let entries: Vec<u8> = (0..512u64).flat_map(|i| ((i << 21) | PRESENT | WRITABLE | HUGE).to_le_bytes()).collect();
    mem.write_slice(&entries, GuestAddress(PD))?;
    Ok(PML4)
}
