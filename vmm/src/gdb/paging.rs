//! Guest virtual to physical addresses, by walking the guest's own page
//! tables as the CPU would (4-level x86-64 paging), so that gdb reads and
//! writes memory at the addresses the guest code uses: the kernel half and
//! the user half of whatever address space CR3 holds when the vCPU stopped.

use std::fmt;

/// CR0.PG: paging on.
const CR0_PG: u64 = 1 << 31;
/// CR4.LA57: 5-level paging.
const CR4_LA57: u64 = 1 << 12;
/// EFER.LMA: long mode active.
const EFER_LMA: u64 = 1 << 10;

const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_USER: u64 = 1 << 2;
const PTE_HUGE: u64 = 1 << 7;
/// Bits 12..52 of an entry: the next table or the frame.
const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// The paging state a walk starts from (from the vCPU's sregs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagingMode {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

/// One translated address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub phys: u64,
    /// Bytes from `phys` to the end of the page that maps it (4 KiB, 2 MiB
    /// or 1 GiB pages), so callers can split accesses at page boundaries.
    pub bytes_left_in_page: u64,
    pub writable: bool,
    pub user: bool,
}

/// Why an address has no translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// Bits 63..48 are not copies of bit 47.
    NonCanonical(u64),
    /// The entry at `level` (4 = PML4 .. 1 = PTE) is not present.
    NotPresent { vaddr: u64, level: u8 },
    /// A page-table page is outside guest RAM.
    TableOutsideRam { table: u64, level: u8 },
    /// 5-level paging (CR4.LA57) is on; this walker does 4 levels.
    FiveLevel,
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WalkError::NonCanonical(a) => write!(f, "{a:#x} is not a canonical address"),
            WalkError::NotPresent { vaddr, level } => {
                write!(f, "{vaddr:#x} is not mapped (no present {} entry)", level_name(level))
            }
            WalkError::TableOutsideRam { table, level } => {
                write!(f, "the {} table at {table:#x} is outside guest RAM", level_name(level))
            }
            WalkError::FiveLevel => write!(f, "the guest uses 5-level paging, which this walker does not follow"),
        }
    }
}

impl std::error::Error for WalkError {}

fn level_name(level: u8) -> &'static str {
    match level {
        4 => "PML4",
        3 => "PDPT",
        2 => "PD",
        _ => "PT",
    }
}

/// Translates `vaddr` under `mode`, reading page-table entries with
/// `read_entry(phys)` (`None` for an address outside guest RAM). With paging
/// off, virtual is physical.
pub fn translate(mode: PagingMode, vaddr: u64, read_entry: impl Fn(u64) -> Option<u64>) -> Result<Translation, WalkError> {
    if mode.cr0 & CR0_PG == 0 {
        let page_left = 0x1000 - (vaddr & 0xfff);
        return Ok(Translation { phys: vaddr, bytes_left_in_page: page_left, writable: true, user: false });
    }
    if mode.cr4 & CR4_LA57 != 0 {
        return Err(WalkError::FiveLevel);
    }
    if mode.efer & EFER_LMA == 0 {
        // Legacy 32-bit paging: our kernel never runs there (the VMM starts
        // it in long mode); refuse rather than guess.
        return Err(WalkError::NotPresent { vaddr, level: 4 });
    }
    let sign = (vaddr as i64) >> 47;
    if sign != 0 && sign != -1 {
        return Err(WalkError::NonCanonical(vaddr));
    }
    let mut table = mode.cr3 & PTE_ADDR;
    let (mut writable, mut user) = (true, true);
    for level in (1..=4u8).rev() {
        let shift = 12 + 9 * (level as u64 - 1);
        let index = (vaddr >> shift) & 0x1ff;
        let entry = read_entry(table + index * 8).ok_or(WalkError::TableOutsideRam { table, level })?;
        if entry & PTE_PRESENT == 0 {
            return Err(WalkError::NotPresent { vaddr, level });
        }
        writable &= entry & PTE_WRITABLE != 0;
        user &= entry & PTE_USER != 0;
        let leaf = level == 1 || (entry & PTE_HUGE != 0 && level <= 3);
        if leaf {
            let page_size = 1u64 << shift;
            let offset = vaddr & (page_size - 1);
            let frame = entry & PTE_ADDR & !(page_size - 1);
            return Ok(Translation { phys: frame + offset, bytes_left_in_page: page_size - offset, writable, user });
        }
        table = entry & PTE_ADDR;
    }
    unreachable!("level 1 entries are always leaves")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MODE: PagingMode = PagingMode { cr0: CR0_PG | 1, cr3: 0x1000, cr4: 0x20, efer: EFER_LMA | (1 << 8) };

    /// Page tables as a map from entry address to entry.
    #[derive(Default)]
    struct Tables(HashMap<u64, u64>);

    impl Tables {
        fn set(&mut self, table: u64, index: u64, entry: u64) {
            self.0.insert(table + index * 8, entry);
        }
        fn read(&self) -> impl Fn(u64) -> Option<u64> + '_ {
            // Everything below 16 MiB is "RAM"; absent entries read 0.
            |a| (a < 16 << 20).then(|| self.0.get(&a).copied().unwrap_or(0))
        }
    }

    fn idx(vaddr: u64, level: u32) -> u64 {
        (vaddr >> (12 + 9 * (level - 1))) & 0x1ff
    }

    #[test]
    fn four_kib_pages_in_both_halves() {
        let mut t = Tables::default();
        let user = 0x0000_5555_5555_4123u64;
        t.set(0x1000, idx(user, 4), 0x2000 | 7);
        t.set(0x2000, idx(user, 3), 0x3000 | 7);
        t.set(0x3000, idx(user, 2), 0x4000 | 7);
        t.set(0x4000, idx(user, 1), 0x0abc_d000 | 5); // user, read-only
        let tr = translate(MODE, user, t.read()).unwrap();
        assert_eq!(tr, Translation { phys: 0x0abc_d123, bytes_left_in_page: 0x1000 - 0x123, writable: false, user: true });

        let kernel = 0xffff_8880_0001_2345u64;
        t.set(0x1000, idx(kernel, 4), 0x5000 | 3);
        t.set(0x5000, idx(kernel, 3), 0x6000 | 3);
        t.set(0x6000, idx(kernel, 2), 0x7000 | 3);
        t.set(0x7000, idx(kernel, 1), 0x0001_2000 | 3);
        let tr = translate(MODE, kernel, t.read()).unwrap();
        assert_eq!((tr.phys, tr.writable, tr.user), (0x0001_2345, true, false));
    }

    #[test]
    fn huge_pages() {
        let mut t = Tables::default();
        let two_mib = 0xffff_ffff_8020_1234u64;
        t.set(0x1000, idx(two_mib, 4), 0x2000 | 3);
        t.set(0x2000, idx(two_mib, 3), 0x3000 | 3);
        t.set(0x3000, idx(two_mib, 2), 0x0060_0000 | PTE_HUGE | 3);
        let tr = translate(MODE, two_mib, t.read()).unwrap();
        assert_eq!(tr.phys, 0x0060_0000 + 0x1234);
        assert_eq!(tr.bytes_left_in_page, (2 << 20) - 0x1234);

        let one_gib = 0xffff_8881_4000_0010u64;
        t.set(0x1000, idx(one_gib, 4), 0x4000 | 3);
        t.set(0x4000, idx(one_gib, 3), 0x4000_0000 | PTE_HUGE | 3);
        let tr = translate(MODE, one_gib, t.read()).unwrap();
        assert_eq!(tr.phys, 0x4000_0010);
        assert_eq!(tr.bytes_left_in_page, (1 << 30) - 0x10);
    }

    #[test]
    fn failures_say_where_the_walk_stopped() {
        let mut t = Tables::default();
        let a = 0x7fff_0000_0000u64;
        assert_eq!(translate(MODE, a, t.read()), Err(WalkError::NotPresent { vaddr: a, level: 4 }));
        t.set(0x1000, idx(a, 4), 0x2000 | 1);
        t.set(0x2000, idx(a, 3), 0x3000 | 1);
        assert_eq!(translate(MODE, a, t.read()), Err(WalkError::NotPresent { vaddr: a, level: 2 }));
        t.set(0x3000, idx(a, 2), (64 << 20) | 1); // a table beyond "RAM"
        assert_eq!(translate(MODE, a, t.read()), Err(WalkError::TableOutsideRam { table: 64 << 20, level: 1 }));
        assert_eq!(translate(MODE, 0x0000_8000_0000_0000, t.read()), Err(WalkError::NonCanonical(0x0000_8000_0000_0000)));
        let la57 = PagingMode { cr4: MODE.cr4 | CR4_LA57, ..MODE };
        assert_eq!(translate(la57, a, t.read()), Err(WalkError::FiveLevel));
        assert!(WalkError::NotPresent { vaddr: a, level: 2 }.to_string().contains("no present PD entry"));
    }

    #[test]
    fn without_paging_virtual_is_physical() {
        let real = PagingMode { cr0: 1, cr3: 0, cr4: 0, efer: 0 };
        let tr = translate(real, 0x12345, |_| None).unwrap();
        assert_eq!((tr.phys, tr.bytes_left_in_page), (0x12345, 0x1000 - 0x345));
    }
}
