//! A user page-table entry (Linux `pte_t` and its `pte_*`/`mk*`
//! helpers), the swap entry a non-present one can hold, and the borrowed
//! slot every write of a user PTE goes through.

use crate::arch::pgtable::{flags, ADDR_MASK};
use crate::mm::addr::Pfn;
use crate::mm::swapfile::SwapEntry;
use crate::mm::user_mem::UserMem;

/// A software PTE bit (ignored by the CPU): a page kept but made
/// inaccessible by `PROT_NONE`, with PRESENT clear (Linux `_PAGE_PROTNONE`).
pub const PTE_PROTNONE: u64 = 1 << 9;

/// A user PTE (Linux `pte_t`): the page it holds and its x86 flag bits,
/// with two software bits: `PROT_NONE` ([`PTE_PROTNONE`]) and soft-dirty.
/// Read from a table through a [`PteSlot`]; built and changed with the
/// accessors below, Linux's `pte_*` and `mk*` helpers.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Pte(pub(super) u64);

impl Pte {
    /// No page (`pte_none`).
    pub const NONE: Pte = Pte(0);

    /// A present PTE for `pfn` with user access, read-only or writable
    /// (a writable one is also dirty), executable or not (Linux
    /// `mk_pte`).
    #[inline]
    pub fn new(pfn: Pfn, writable: bool, exec: bool) -> Self {
        Self(pfn.phys().as_u64() | user_pte_flags(writable, exec))
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
    /// The CPU may use it.
    pub fn present(self) -> bool {
        self.0 & flags::PRESENT != 0
    }
    /// It holds a page, accessible or `PROT_NONE`.
    pub fn mapped(self) -> bool {
        self.0 & (flags::PRESENT | PTE_PROTNONE) != 0
    }
    pub fn writable(self) -> bool {
        self.0 & flags::RW != 0
    }
    /// Accessed since the bit was last cleared (`pte_young`).
    pub fn young(self) -> bool {
        self.0 & flags::ACCESSED != 0
    }
    pub fn dirty(self) -> bool {
        self.0 & flags::DIRTY != 0
    }
    pub fn soft_dirty(self) -> bool {
        self.0 & flags::SOFT_DIRTY != 0
    }
    pub fn pfn(self) -> Pfn {
        Pfn::new((self.0 & ADDR_MASK) >> 12)
    }

    /// Writable and dirty, and soft-dirty (`pte_mkwrite(pte_mkdirty())`).
    #[must_use]
    pub fn mkwrite(self) -> Self {
        Self(self.0 | flags::RW | flags::DIRTY | flags::SOFT_DIRTY)
    }
    /// Read-only (`pte_wrprotect`).
    #[must_use]
    pub fn wrprotect(self) -> Self {
        Self(self.0 & !flags::RW)
    }
    /// Not accessed (`pte_mkold`).
    #[must_use]
    pub fn mkold(self) -> Self {
        Self(self.0 & !flags::ACCESSED)
    }
    /// Soft-dirty (`pte_mksoft_dirty`).
    #[must_use]
    pub fn mksoft_dirty(self) -> Self {
        Self(self.0 | flags::SOFT_DIRTY)
    }
    /// Clean for soft-dirty tracking: also read-only, so that the next
    /// write faults and marks it again (`clear_soft_dirty`).
    #[must_use]
    pub fn clear_soft_dirty(self) -> Self {
        Self(self.0 & !(flags::SOFT_DIRTY | flags::RW))
    }
    /// The same page with new protection (`pte_modify`): accessible
    /// read-only or writable, or (`!access`) kept but inaccessible. The
    /// soft-dirty bit stays.
    #[must_use]
    pub fn modify(self, access: bool, writable: bool, exec: bool) -> Self {
        let keep = self.0 & (ADDR_MASK | flags::SOFT_DIRTY);
        Self(keep | if access { user_pte_flags(writable, exec) } else { PTE_PROTNONE })
    }
}

/// Swap entries in non-present PTEs, encoded as Linux x86-64 encodes
/// them (`__swp_entry`): the swap area's type in the top five bits, the
/// slot's offset inverted from the bit above [`PTE_PROTNONE`] up, so that
/// a swap PTE is neither `pte_none` nor mapped.
const SWP_TYPE_BITS: u32 = 5;
const SWP_OFFSET_FIRST_BIT: u32 = PTE_PROTNONE.trailing_zeros() + 1;
const SWP_OFFSET_SHIFT: u32 = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS;

impl Pte {
    /// The PTE of a page that went to swap slot `e`.
    pub fn swap(e: SwapEntry) -> Self {
        Self((!e.offset << SWP_OFFSET_SHIFT >> SWP_TYPE_BITS) | (u64::from(e.typ) << (64 - SWP_TYPE_BITS)))
    }

    /// Whether this is a swap entry (`is_swap_pte`).
    pub fn is_swap(self) -> bool {
        !self.is_none() && !self.mapped()
    }

    /// The slot a swap PTE names.
    pub fn swap_entry(self) -> SwapEntry {
        SwapEntry { typ: (self.0 >> (64 - SWP_TYPE_BITS)) as u32, offset: !self.0 << SWP_TYPE_BITS >> SWP_OFFSET_SHIFT }
    }
}

impl core::fmt::Debug for Pte {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pte({:#x})", self.0)
    }
}

/// The slot of one PTE in a table, borrowed from the tables: every write
/// goes through [`PteSlot::set`], which enforces the zero-page rule.
pub struct PteSlot<'a>(pub(super) &'a mut u64);

impl PteSlot<'_> {
    #[inline]
    pub fn get(&self) -> Pte {
        Pte(*self.0)
    }

    /// Writes a user PTE. Every path that makes or changes a user PTE comes
    /// here, so this is where the rule the isolation of processes rests on
    /// is enforced: the shared zero page is never mapped writable (a write
    /// through such a PTE would show up in every process's fresh anonymous
    /// memory). Breaking it is a kernel bug, and the kernel stops rather
    /// than let the write through.
    #[inline]
    pub fn set<M: UserMem>(&mut self, mem: &M, pte: Pte) {
        if pte.0 & (flags::RW | flags::PRESENT) == flags::RW | flags::PRESENT && pte.pfn() == mem.zero_pfn() {
            writable_zero_page_pte(pte.0);
        }
        *self.0 = pte.0;
    }

    /// Empties the slot (`pte_clear`).
    #[inline]
    pub fn clear(&mut self) {
        *self.0 = 0;
    }
}

/// Leaf protection for a user page.
pub fn user_pte_flags(writable: bool, exec: bool) -> u64 {
    let mut f = flags::PRESENT | flags::USER | flags::ACCESSED;
    if writable {
        f |= flags::RW | flags::DIRTY;
    }
    if !exec {
        f |= flags::NX;
    }
    f
}

/// Out of line, so that the check in [`PteSlot::set`] stays a few instructions
/// on the fault path.
#[cold]
#[inline(never)]
fn writable_zero_page_pte(pte: u64) -> ! {
    panic!("BUG: a writable PTE for the zero page ({pte:#x})");
}
