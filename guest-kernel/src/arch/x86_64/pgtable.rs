//! The x86-64 4-level page-table format (SDM vol. 3, 4.5): 512 eight-byte
//! entries per 4 KiB table, PML4 -> PDPT (PUD) -> PD (PMD) -> PT (PTE).

/// Entry bits, with Linux's names (`_PAGE_*`).
pub mod flags {
    pub const PRESENT: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const PWT: u64 = 1 << 3;
    pub const PCD: u64 = 1 << 4;
    pub const ACCESSED: u64 = 1 << 5;
    pub const DIRTY: u64 = 1 << 6;
    /// PS: this PUD/PMD entry maps a 1 GiB / 2 MiB page.
    pub const PSE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    /// Software bit: written since the last soft-dirty reset (Linux
    /// `_PAGE_SOFT_DIRTY`, `_PAGE_BIT_SOFTW3`).
    pub const SOFT_DIRTY: u64 = 1 << 11;
    pub const NX: u64 = 1 << 63;
}

pub const ENTRIES_PER_TABLE: usize = 512;
/// Physical-address bits of an entry (bits 12..51).
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

pub const PAGE_SHIFT: u32 = 12;
pub const PMD_SHIFT: u32 = 21;
pub const PUD_SHIFT: u32 = 30;
pub const PGDIR_SHIFT: u32 = 39;

/// Shift of the virtual-address bits that index a table at `level`
/// (4 = PGD/PML4, 3 = PUD, 2 = PMD, 1 = PTE).
pub const fn level_shift(level: u32) -> u32 {
    PAGE_SHIFT + 9 * (level - 1)
}

/// Index into the table at `level` for virtual address `va`.
pub const fn table_index(va: u64, level: u32) -> usize {
    ((va >> level_shift(level)) & 511) as usize
}

/// Kernel page protections (Linux `PAGE_KERNEL*`); accessed/dirty preset so
/// the CPU never has to write them back.
pub const PAGE_KERNEL: u64 = flags::PRESENT | flags::RW | flags::ACCESSED | flags::DIRTY | flags::GLOBAL | flags::NX;
pub const PAGE_KERNEL_RO: u64 = flags::PRESENT | flags::ACCESSED | flags::GLOBAL | flags::NX;
pub const PAGE_KERNEL_RX: u64 = flags::PRESENT | flags::ACCESSED | flags::GLOBAL;
/// Flags of an entry that points to a lower-level table: permissive, the
/// leaf decides.
pub const PAGE_TABLE: u64 = flags::PRESENT | flags::RW | flags::USER | flags::ACCESSED | flags::DIRTY;
