//! Typed addresses and Linux's conversions between them.
//!
//! ```text
//! kernel virtual                              what
//! 0x0000_0000_0000_0000 .. 0x0000_7fff_ffff_ffff   user space (see `mm` for the whole map)
//! 0xffff_8880_0000_0000 .. + RAM                  direct map of all RAM (PAGE_OFFSET)
//! 0xffff_ffff_8000_0000 .. + 1 GiB                kernel image (__START_KERNEL_map + phys)
//! ```

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

pub use shared::layout::{PAGE_OFFSET, START_KERNEL_MAP};

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Pages in a PMD-sized (transparent huge) page, and its order and size.
pub const HPAGE_PMD_NR: u64 = 512;
pub const HPAGE_PMD_ORDER: usize = 9;
pub const HPAGE_PMD_SIZE: u64 = 1 << 21;
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);

/// A guest-physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(u64);

/// A kernel-virtual address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtAddr(u64);

/// A user virtual address: what Linux's mm passes as `unsigned long` and
/// its uaccess code marks `__user`. It is compared, offset, aligned and
/// measured, never dereferenced: user memory is reached only through
/// `UserMem` and the uaccess copies, so a user address cannot be used as a
/// kernel pointer by mistake, nor a length or a page index as an address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct UserAddr(u64);

/// A page frame number: a physical address divided by [`PAGE_SIZE`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
#[repr(transparent)]
pub struct Pfn(u64);

impl PhysAddr {
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    pub const fn pfn(self) -> Pfn {
        Pfn::new(self.0 >> PAGE_SHIFT)
    }
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }
    pub const fn add(self, offset: u64) -> Self {
        Self(self.0 + offset)
    }
}

impl VirtAddr {
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }
    pub const fn add(self, offset: u64) -> Self {
        Self(self.0.wrapping_add(offset))
    }
    pub fn as_ptr<T>(self) -> *const T {
        self.0 as *const T
    }
    pub fn as_mut_ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

impl UserAddr {
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    /// Address 0, which `mmap` reads as "no hint".
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }
    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }
    pub const fn is_page_aligned(self) -> bool {
        self.is_aligned(PAGE_SIZE)
    }
    /// The address rounded down to a multiple of `align` (a power of two).
    pub const fn align_down(self, align: u64) -> Self {
        Self(self.0 & !(align - 1))
    }
    /// The start of the page holding this address.
    pub const fn page_align_down(self) -> Self {
        self.align_down(PAGE_SIZE)
    }
    /// The start of the next page boundary at or above this address, or
    /// `None` past the top of the address space.
    pub const fn checked_page_align_up(self) -> Option<Self> {
        match self.0.checked_add(PAGE_SIZE - 1) {
            Some(a) => Some(Self(a & PAGE_MASK)),
            None => None,
        }
    }
    /// The offset of this address in its page.
    pub const fn page_offset(self) -> u64 {
        self.0 & !PAGE_MASK
    }
    /// The virtual page number (the address >> `PAGE_SHIFT`).
    pub const fn page_number(self) -> u64 {
        self.0 >> PAGE_SHIFT
    }
    pub const fn checked_add(self, len: u64) -> Option<Self> {
        match self.0.checked_add(len) {
            Some(a) => Some(Self(a)),
            None => None,
        }
    }
    pub const fn checked_sub(self, len: u64) -> Option<Self> {
        match self.0.checked_sub(len) {
            Some(a) => Some(Self(a)),
            None => None,
        }
    }
    pub const fn saturating_sub(self, len: u64) -> Self {
        Self(self.0.saturating_sub(len))
    }
    /// `len` bytes further on, with C's wrap-around (for the overflow
    /// checks that Linux writes that way).
    pub const fn wrapping_add(self, len: u64) -> Self {
        Self(self.0.wrapping_add(len))
    }
}

/// An address `len` bytes further on.
impl Add<u64> for UserAddr {
    type Output = UserAddr;
    fn add(self, len: u64) -> UserAddr {
        UserAddr(self.0 + len)
    }
}

impl AddAssign<u64> for UserAddr {
    fn add_assign(&mut self, len: u64) {
        self.0 += len;
    }
}

/// An address `len` bytes lower.
impl Sub<u64> for UserAddr {
    type Output = UserAddr;
    fn sub(self, len: u64) -> UserAddr {
        UserAddr(self.0 - len)
    }
}

/// The number of bytes between two addresses.
impl Sub for UserAddr {
    type Output = u64;
    fn sub(self, other: UserAddr) -> u64 {
        self.0 - other.0
    }
}

impl fmt::LowerHex for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::Debug for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserAddr({:#x})", self.0)
    }
}

impl Pfn {
    pub const fn new(pfn: u64) -> Self {
        Self(pfn)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    /// The first frame of the 2^`order` block holding this one.
    pub const fn align_down(self, order: usize) -> Self {
        Self(self.0 & !((1 << order) - 1))
    }
    /// The buddy of the 2^`order` block starting here (Linux
    /// `__find_buddy_pfn`).
    pub const fn buddy(self, order: usize) -> Self {
        Self(self.0 ^ (1 << order))
    }
    /// The largest order of a block that may start here.
    pub const fn alignment_order(self) -> usize {
        self.0.trailing_zeros() as usize
    }
    pub const fn phys(self) -> PhysAddr {
        PhysAddr::new(self.0 << PAGE_SHIFT)
    }
}

/// Frames further on.
impl Add<u64> for Pfn {
    type Output = Pfn;
    fn add(self, n: u64) -> Pfn {
        Pfn(self.0 + n)
    }
}

impl AddAssign<u64> for Pfn {
    fn add_assign(&mut self, n: u64) {
        self.0 += n;
    }
}

/// The number of frames between two.
impl Sub for Pfn {
    type Output = u64;
    fn sub(self, other: Pfn) -> u64 {
        self.0 - other.0
    }
}

impl fmt::LowerHex for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#x})", self.0)
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtAddr({:#x})", self.0)
    }
}

pub const fn page_align_up(x: u64) -> u64 {
    (x + PAGE_SIZE - 1) & PAGE_MASK
}

pub const fn page_align_down(x: u64) -> u64 {
    x & PAGE_MASK
}

/// The direct-map address of `pa` (Linux `__va`). Valid once the direct
/// map is up, for lowmem.
pub const fn __va(pa: PhysAddr) -> VirtAddr {
    VirtAddr::new(pa.0 + PAGE_OFFSET)
}

/// The physical address behind a direct-map or kernel-image address
/// (Linux `__pa`, which on x86-64 accepts both).
pub const fn __pa(va: VirtAddr) -> PhysAddr {
    if va.0 >= START_KERNEL_MAP {
        PhysAddr::new(va.0 - START_KERNEL_MAP)
    } else {
        PhysAddr::new(va.0 - PAGE_OFFSET)
    }
}

/// Physical address of a kernel-image object (Linux `__pa_symbol`).
pub fn __pa_symbol<T>(sym: *const T) -> PhysAddr {
    PhysAddr::new(sym as u64 - START_KERNEL_MAP)
}

pub const fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    __va(pa)
}

pub const fn virt_to_phys(va: VirtAddr) -> PhysAddr {
    __pa(va)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        let pa = PhysAddr::new(0x1234_5000);
        assert_eq!(__va(pa), VirtAddr::new(0xffff_8880_1234_5000));
        assert_eq!(__pa(__va(pa)), pa);
        assert_eq!(__pa(VirtAddr::new(START_KERNEL_MAP + 0x100_0000)), PhysAddr::new(0x100_0000));
        assert_eq!(pa.pfn(), Pfn::new(0x12345));
        assert_eq!(Pfn::new(0x12345).phys(), pa);
        assert_eq!(page_align_up(0x1001), 0x2000);
        assert_eq!(page_align_down(0x1fff), 0x1000);
    }
}
