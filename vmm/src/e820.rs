//! The guest's E820 memory map, as firmware would report it.
//!
//! ```text
//! [0, 640K)            usable       conventional memory (boot structures live here)
//! [640K, 1M)           reserved     legacy hole: VGA, option ROMs, BIOS
//! [1M, min(RAM, 3G))   usable
//! [3G, 4G)             reserved     MMIO hole, only when RAM does not fit below it
//! [4G, 4G + rest)      usable       the RAM that did not fit below the hole
//! ```
//! `--mem-hole`s are then cut out of the usable ranges as reserved entries.

use shared::boot::{E820Entry, E820_MAX_ENTRIES, E820_RAM, E820_RESERVED};
use shared::layout::{HIGH_RAM_START, LOW_RAM_END, MMIO_HOLE_END, MMIO_HOLE_START, PAGE_SIZE};

/// Guest-physical RAM ranges `(start, len)` for `mem_size` bytes of RAM:
/// what is backed by host memory and registered with KVM.
pub fn ram_ranges(mem_size: u64) -> Vec<(u64, u64)> {
    let below = mem_size.min(MMIO_HOLE_START);
    let mut ranges = vec![(0, below)];
    if mem_size > below {
        ranges.push((MMIO_HOLE_END, mem_size - below));
    }
    ranges
}

/// A range of guest memory that a hole must not cover, with what it holds.
pub struct Protected {
    pub start: u64,
    pub end: u64,
    pub what: &'static str,
}

/// Builds the sorted, non-overlapping E820 map for `mem_size` bytes of RAM
/// with `holes` punched into it. A hole must be page aligned, lie inside
/// A reserved range punched into guest RAM (`--mem-hole START:SIZE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemHole {
    pub start: u64,
    pub size: u64,
}

/// usable RAM and stay clear of `protected` ranges.
pub fn build(mem_size: u64, holes: &[MemHole], protected: &[Protected]) -> Result<Vec<E820Entry>, (MemHole, String)> {
    let ram = ram_ranges(mem_size);
    let low_end = ram[0].1;
    let mut map = vec![
        E820Entry::new(0, LOW_RAM_END, E820_RAM),
        E820Entry::new(LOW_RAM_END, HIGH_RAM_START - LOW_RAM_END, E820_RESERVED),
        E820Entry::new(HIGH_RAM_START, low_end - HIGH_RAM_START, E820_RAM),
    ];
    if let Some(&(start, len)) = ram.get(1) {
        map.push(E820Entry::new(MMIO_HOLE_START, MMIO_HOLE_END - MMIO_HOLE_START, E820_RESERVED));
        map.push(E820Entry::new(start, len, E820_RAM));
    }

    for hole in holes {
        let err = |reason: String| (*hole, reason);
        let end = hole.start.checked_add(hole.size).ok_or_else(|| err("it wraps around the address space".into()))?;
        if hole.start % PAGE_SIZE != 0 || hole.size % PAGE_SIZE != 0 {
            return Err(err("start and size must be multiples of 4K".into()));
        }
        if let Some(p) = protected.iter().find(|p| hole.start < p.end && p.start < end) {
            return Err(err(format!("it overlaps {} at [{:#x}, {:#x})", p.what, p.start, p.end)));
        }
        let idx = map
            .iter()
            .position(|e| e.typ == E820_RAM && e.addr <= hole.start && end <= e.end())
            .ok_or_else(|| err(format!("it is not inside guest RAM ({})", describe_ram(&ram))))?;
        let entry = map.remove(idx);
        let pieces = [
            E820Entry::new(entry.addr, hole.start - entry.addr, E820_RAM),
            E820Entry::new(hole.start, hole.size, E820_RESERVED),
            E820Entry::new(end, entry.end() - end, E820_RAM),
        ];
        for (i, piece) in pieces.into_iter().filter(|p| p.size > 0).enumerate() {
            map.insert(idx + i, piece);
        }
    }
    if map.len() > E820_MAX_ENTRIES {
        let last = *holes.last().expect("only holes add entries");
        return Err((last, format!("too many holes: the E820 map holds at most {E820_MAX_ENTRIES} entries")));
    }
    Ok(map)
}

fn describe_ram(ram: &[(u64, u64)]) -> String {
    let parts: Vec<String> = ram.iter().map(|(s, l)| format!("[{:#x}, {:#x})", s.max(&HIGH_RAM_START), s + l)).collect();
    parts.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;

    fn usable(map: &[E820Entry]) -> u64 {
        map.iter().filter(|e| e.typ == E820_RAM).map(|e| e.size).sum()
    }

    #[test]
    fn small_guest_has_no_mmio_hole() {
        let map = build(64 * M, &[], &[]).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map[2], E820Entry::new(M, 63 * M, E820_RAM));
        assert_eq!(usable(&map), 64 * M - (HIGH_RAM_START - LOW_RAM_END));
    }

    #[test]
    fn large_guest_splits_around_the_mmio_hole() {
        let map = build(5 * G, &[], &[]).unwrap();
        assert_eq!(map[3], E820Entry::new(3 * G, G, E820_RESERVED));
        assert_eq!(map[4], E820Entry::new(4 * G, 2 * G, E820_RAM));
        assert!(map.windows(2).all(|w| w[0].end() <= w[1].addr));
    }

    #[test]
    fn holes_are_cut_out_of_ram() {
        let holes = [MemHole { start: 256 * M, size: 64 * M }, MemHole { start: 4 * G + 512 * M, size: 4 * M }];
        let map = build(5 * G, &holes, &[]).unwrap();
        assert!(map.contains(&E820Entry::new(256 * M, 64 * M, E820_RESERVED)));
        assert!(map.contains(&E820Entry::new(4 * G + 512 * M, 4 * M, E820_RESERVED)));
        assert_eq!(usable(&map), usable(&build(5 * G, &[], &[]).unwrap()) - 68 * M);
        assert!(map.windows(2).all(|w| w[0].end() <= w[1].addr));
    }

    #[test]
    fn bad_holes_are_refused() {
        let protected = [Protected { start: 16 * M, end: 18 * M, what: "the kernel image" }];
        let bad = [
            MemHole { start: 100 * M, size: 1 },
            MemHole { start: 3 * G, size: 4 * M },
            MemHole { start: 60 * M, size: 8 * M },
            MemHole { start: 17 * M, size: M },
            MemHole { start: u64::MAX - 4095, size: 8192 },
        ];
        for hole in bad {
            assert!(build(64 * M, &[hole], &protected).is_err(), "{hole:?} accepted");
        }
    }
}
