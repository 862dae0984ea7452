//! The firmware memory map (E820), as Linux's `arch/x86/kernel/e820.c` keeps it.
//!
//! This module owns the kernel's copy of the map the VMM hands over in
//! [`shared::boot::BootInfo`]: appending entries, sanitizing the map into a
//! sorted, non-overlapping list (`e820__update_table`), printing it the way
//! Linux does, and the queries boot code asks of it (how much RAM, where RAM
//! ends, whether a range is all RAM). It is pure bookkeeping over a fixed-size
//! array: no allocation, no hardware access.

use core::fmt;

pub use shared::boot::{E820Entry, E820_ACPI, E820_MAX_ENTRIES, E820_NVS, E820_PMEM, E820_RAM, E820_RESERVED, E820_UNUSABLE};

/// Legacy persistent memory (Linux `E820_TYPE_PRAM`), printed like [`E820_PMEM`].
pub const E820_PRAM: u32 = 12;
/// Soft-reserved memory (Linux `E820_TYPE_SOFT_RESERVED`).
pub const E820_SOFT_RESERVED: u32 = 0xefff_ffff;

const PAGE_SHIFT: u32 = 12;
/// Highest page frame number the x86-64 direct map can cover (Linux
/// `MAX_ARCH_PFN` with 4-level paging: 64 TiB of physical address space).
pub const MAX_ARCH_PFN: u64 = 1 << (46 - PAGE_SHIFT);
/// First page frame above 4 GiB: the limit for `max_low_pfn`.
const LOW_RAM_LIMIT_PFN: u64 = 1 << (32 - PAGE_SHIFT);

/// [`E820Table::add`] found the table full; the entry was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Full;

impl fmt::Display for E820Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e820: too many entries (capacity {E820_MAX_ENTRIES})")
    }
}

/// The name Linux prints for an E820 type; see [`type_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeName(pub u32);

/// How Linux's `e820_print_type` names `typ`.
pub const fn type_name(typ: u32) -> TypeName {
    TypeName(typ)
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            E820_RAM => f.write_str("usable"),
            E820_RESERVED => f.write_str("reserved"),
            E820_SOFT_RESERVED => f.write_str("soft reserved"),
            E820_ACPI => f.write_str("ACPI data"),
            E820_NVS => f.write_str("ACPI NVS"),
            E820_UNUSABLE => f.write_str("unusable"),
            t @ (E820_PMEM | E820_PRAM) => write!(f, "persistent (type {t})"),
            t => write!(f, "type {t}"),
        }
    }
}

/// An E820 memory map of at most [`E820_MAX_ENTRIES`] entries.
///
/// Entries are kept in the order they were added until [`sanitize`] sorts
/// and de-overlaps them; the queries other than [`total`] expect a
/// sanitized table, as their Linux counterparts do.
///
/// [`sanitize`]: E820Table::sanitize
/// [`total`]: E820Table::total
#[derive(Clone)]
pub struct E820Table {
    entries: [E820Entry; E820_MAX_ENTRIES],
    nr: usize,
}

/// One end of an entry, for the change-point sweep in [`E820Table::sanitize`].
#[derive(Clone, Copy)]
struct ChangePoint {
    addr: u64,
    /// Type of the entry this point starts or ends.
    typ: u32,
    is_end: bool,
}

impl E820Table {
    /// An empty table.
    pub const fn new() -> Self {
        Self { entries: [E820Entry::new(0, 0, 0); E820_MAX_ENTRIES], nr: 0 }
    }

    /// A table holding `e` as given (unsanitized); entries past the capacity
    /// are dropped.
    pub fn from_entries(e: &[E820Entry]) -> Self {
        let mut table = Self::new();
        let n = e.len().min(E820_MAX_ENTRIES);
        table.entries[..n].copy_from_slice(&e[..n]);
        table.nr = n;
        table
    }

    /// Appends `[addr, addr + size)` of type `typ` (Linux `e820__range_add`).
    /// Nothing is merged or checked here; [`Self::sanitize`] does that.
    pub fn add(&mut self, addr: u64, size: u64, typ: u32) -> Result<(), E820Full> {
        if self.nr >= E820_MAX_ENTRIES {
            return Err(E820Full);
        }
        self.entries[self.nr] = E820Entry::new(addr, size, typ);
        self.nr += 1;
        Ok(())
    }

    /// The valid entries.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries[..self.nr]
    }

    /// Rewrites the table as sorted, non-overlapping entries, with the same
    /// semantics as Linux's `e820__update_table`:
    ///
    /// * where entries overlap, the highest type value wins (firmware lists
    ///   reserved holes on top of RAM, and reserved = 2 > RAM = 1);
    /// * touching or overlapping entries of the same type become one;
    /// * zero-length entries and type-0 entries disappear;
    /// * an entry whose `addr + size` overflows ends at `u64::MAX` (Linux
    ///   rejects such a table instead; a kernel with no other map must cope).
    ///
    /// Unlike Linux this also sanitizes tables of fewer than two entries, so
    /// that the postconditions always hold. If the result would not fit (a
    /// RAM range riddled with holes can need twice the entries), the entries
    /// at the highest addresses are dropped, as Linux does.
    pub fn sanitize(&mut self) {
        // Each entry contributes a start and an end point. At a given
        // address starts sort before ends, so that same-type neighbours
        // never close and reopen (that is what merges them) and so that a
        // type change is monotone at any one address.
        let mut points = [ChangePoint { addr: 0, typ: 0, is_end: false }; 2 * E820_MAX_ENTRIES];
        let mut np = 0;
        for e in self.entries() {
            let end = e.end();
            if end > e.addr {
                points[np] = ChangePoint { addr: e.addr, typ: e.typ, is_end: false };
                points[np + 1] = ChangePoint { addr: end, typ: e.typ, is_end: true };
                np += 2;
            }
        }
        let points = &mut points[..np];
        points.sort_unstable_by_key(|p| (p.addr, p.is_end));

        // The types of the entries covering the sweep position. Only the
        // maximum matters, so this is a multiset and an end point may remove
        // any instance of its type, not necessarily its own entry's.
        let mut overlap = [0u32; E820_MAX_ENTRIES];
        let mut nover = 0;
        // The piece being built: it starts at `last_addr` with `last_type`
        // (0 = no piece, a gap in the map).
        let mut last_type = 0;
        let mut last_addr = 0;
        // The input now lives only in `points`, so the output can overwrite
        // the entries array in place.
        let mut nout = 0;
        for p in points.iter() {
            if p.is_end {
                // Present: its start point was processed before it.
                if let Some(i) = overlap[..nover].iter().position(|&t| t == p.typ) {
                    nover -= 1;
                    overlap[i] = overlap[nover];
                }
            } else {
                overlap[nover] = p.typ;
                nover += 1;
            }
            let current = overlap[..nover].iter().copied().max().unwrap_or(0);
            if current == last_type {
                continue;
            }
            // Several points at one address close pieces of zero length:
            // those are not entries.
            if last_type != 0 && p.addr > last_addr {
                self.entries[nout] = E820Entry::new(last_addr, p.addr - last_addr, last_type);
                nout += 1;
                if nout == E820_MAX_ENTRIES {
                    break;
                }
            }
            last_type = current;
            last_addr = p.addr;
        }
        self.entries[nout..].fill(E820Entry::new(0, 0, 0));
        self.nr = nout;
    }

    /// Writes one line per entry in Linux's `e820__print_table` format, for
    /// example `BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable`.
    pub fn print(&self, who: &str, w: &mut impl fmt::Write) -> fmt::Result {
        for e in self.entries() {
            // The inclusive end wraps for odd entries exactly as Linux's does.
            let last = e.addr.wrapping_add(e.size).wrapping_sub(1);
            writeln!(w, "{who}: [mem {:#018x}-{:#018x}] {}", e.addr, last, type_name(e.typ))?;
        }
        Ok(())
    }

    /// Bytes of type `typ`: the sum of the sizes of its entries, which only
    /// means "covered bytes" once the table is sanitized.
    pub fn total(&self, typ: u32) -> u64 {
        self.entries().iter().filter(|e| e.typ == typ).fold(0u64, |sum, e| sum.saturating_add(e.end() - e.addr))
    }

    /// One past the last page frame of type `typ` below `limit_pfn`, capped
    /// at [`MAX_ARCH_PFN`] (Linux `e820_end_pfn`). A partial last page does
    /// not count; an entry crossing the limit makes the limit the answer.
    pub fn end_pfn(&self, limit_pfn: u64, typ: u32) -> u64 {
        let mut last_pfn = 0;
        for e in self.entries().iter().filter(|e| e.typ == typ) {
            let start_pfn = e.addr >> PAGE_SHIFT;
            let end_pfn = e.end() >> PAGE_SHIFT;
            if start_pfn >= limit_pfn {
                continue;
            }
            if end_pfn > limit_pfn {
                // Sorted table: nothing later can end lower.
                last_pfn = limit_pfn;
                break;
            }
            last_pfn = last_pfn.max(end_pfn);
        }
        last_pfn.min(MAX_ARCH_PFN)
    }

    /// `max_pfn`: the end of RAM in page frames (Linux `e820__end_of_ram_pfn`).
    pub fn end_of_ram_pfn(&self) -> u64 {
        self.end_pfn(MAX_ARCH_PFN, E820_RAM)
    }

    /// `max_low_pfn`: the end of RAM below 4 GiB in page frames (Linux
    /// `e820__end_of_low_ram_pfn`).
    pub fn end_of_low_ram_pfn(&self) -> u64 {
        self.end_pfn(LOW_RAM_LIMIT_PFN, E820_RAM)
    }

    /// Whether all of `[start, end)` is RAM, possibly across several
    /// touching entries (Linux `e820__mapped_all(start, end, E820_TYPE_RAM)`).
    /// Walks the entries in order, so the table must be sorted.
    pub fn is_usable(&self, start: u64, end: u64) -> bool {
        let mut start = start;
        for e in self.entries().iter().filter(|e| e.typ == E820_RAM) {
            if e.addr >= end || e.end() <= start {
                continue;
            }
            // An entry covering the first uncovered byte moves it on; an
            // entry starting later leaves a hole, so `start` stays put and
            // the answer ends up false.
            if e.addr <= start {
                start = e.end();
            }
            if start >= end {
                return true;
            }
        }
        false
    }
}

impl Default for E820Table {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for E820Table {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl Eq for E820Table {}

impl fmt::Debug for E820Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(addr: u64, size: u64, typ: u32) -> E820Entry {
        E820Entry::new(addr, size, typ)
    }

    fn sanitized(entries: &[E820Entry]) -> Vec<E820Entry> {
        let mut t = E820Table::from_entries(entries);
        t.sanitize();
        t.entries().to_vec()
    }

    /// The typical PC map the VMM hands over for 128 MiB minus a reserved top.
    fn typical() -> E820Table {
        E820Table::from_entries(&[
            e(0, 0x9fc00, E820_RAM),
            e(0x9fc00, 0x400, E820_RESERVED),
            e(0xf0000, 0x10000, E820_RESERVED),
            e(0x100000, 0x7fe0000 - 0x100000, E820_RAM),
        ])
    }

    #[test]
    fn type_names_match_linux() {
        let names = [
            (E820_RAM, "usable"),
            (E820_RESERVED, "reserved"),
            (E820_ACPI, "ACPI data"),
            (E820_NVS, "ACPI NVS"),
            (E820_UNUSABLE, "unusable"),
            (E820_PMEM, "persistent (type 7)"),
            (E820_PRAM, "persistent (type 12)"),
            (E820_SOFT_RESERVED, "soft reserved"),
            (6, "type 6"),
            (0, "type 0"),
        ];
        for (typ, name) in names {
            assert_eq!(type_name(typ).to_string(), name);
        }
    }

    #[test]
    fn print_uses_linux_format() {
        let mut out = String::new();
        typical().print("BIOS-e820", &mut out).unwrap();
        assert_eq!(
            out,
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
             BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n\
             BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved\n\
             BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable\n"
        );
    }

    #[test]
    fn typical_map_is_already_sane() {
        let mut t = typical();
        let before = t.clone();
        t.sanitize();
        assert_eq!(t, before);
        assert_eq!(t.total(E820_RAM), 0x9fc00 + 0x7fe0000 - 0x100000);
        assert_eq!(t.total(E820_RESERVED), 0x10400);
        assert_eq!(t.end_of_ram_pfn(), 0x7fe0);
        assert_eq!(t.end_of_low_ram_pfn(), 0x7fe0);
    }

    #[test]
    fn sanitize_sorts() {
        let got = sanitized(&[e(0x100000, 0x1000, E820_RAM), e(0xf0000, 0x10000, E820_RESERVED), e(0, 0x1000, E820_RAM)]);
        assert_eq!(got, [e(0, 0x1000, E820_RAM), e(0xf0000, 0x10000, E820_RESERVED), e(0x100000, 0x1000, E820_RAM)]);
    }

    #[test]
    fn sanitize_overlap_takes_highest_type() {
        // Reserved overlapping the end of RAM wins the overlap.
        let got = sanitized(&[e(0, 0x10000, E820_RAM), e(0x8000, 0x10000, E820_RESERVED)]);
        assert_eq!(got, [e(0, 0x8000, E820_RAM), e(0x8000, 0x10000, E820_RESERVED)]);
        // Even when the reserved entry is listed first, and RAM starts inside it.
        let got = sanitized(&[e(0x8000, 0x10000, E820_RESERVED), e(0x10000, 0x10000, E820_RAM)]);
        assert_eq!(got, [e(0x8000, 0x10000, E820_RESERVED), e(0x18000, 0x8000, E820_RAM)]);
        // Identical ranges: the higher type only.
        let got = sanitized(&[e(0, 0x1000, E820_NVS), e(0, 0x1000, E820_ACPI)]);
        assert_eq!(got, [e(0, 0x1000, E820_NVS)]);
    }

    #[test]
    fn sanitize_reserved_in_middle_splits_ram() {
        let got = sanitized(&[e(0, 0x100000, E820_RAM), e(0x40000, 0x1000, E820_RESERVED)]);
        assert_eq!(got, [e(0, 0x40000, E820_RAM), e(0x40000, 0x1000, E820_RESERVED), e(0x41000, 0xbf000, E820_RAM)]);
    }

    #[test]
    fn sanitize_merges_same_type_only() {
        let got = sanitized(&[
            e(0, 0x1000, E820_RAM),
            e(0x1000, 0x1000, E820_RAM),
            e(0x1800, 0x1000, E820_RAM), // overlapping, same type
            e(0x2800, 0x800, E820_ACPI), // touching, different type
        ]);
        assert_eq!(got, [e(0, 0x2800, E820_RAM), e(0x2800, 0x800, E820_ACPI)]);
        // RAM on both sides of a reserved piece inside a bigger RAM entry
        // stays split, and a RAM entry contained in RAM vanishes.
        let got = sanitized(&[e(0, 0x3000, E820_RAM), e(0x1000, 0x1000, E820_RAM), e(0x1000, 0x800, E820_RESERVED)]);
        assert_eq!(got, [e(0, 0x1000, E820_RAM), e(0x1000, 0x800, E820_RESERVED), e(0x1800, 0x1800, E820_RAM)]);
    }

    #[test]
    fn sanitize_drops_zero_length_and_type_zero() {
        let got = sanitized(&[e(0x5000, 0, E820_RESERVED), e(0, 0x10000, E820_RAM), e(0x2000, 0x1000, 0)]);
        assert_eq!(got, [e(0, 0x10000, E820_RAM)]);
        // A lone zero-length entry goes too (Linux leaves 1-entry tables alone).
        assert_eq!(sanitized(&[e(0x1000, 0, E820_RAM)]), []);
        assert_eq!(sanitized(&[]), []);
    }

    #[test]
    fn sanitize_clamps_overflow() {
        let top = u64::MAX - 0xfff;
        let got = sanitized(&[e(top, u64::MAX, E820_RESERVED), e(u64::MAX, 10, E820_RAM), e(0, 0x1000, E820_RAM)]);
        assert_eq!(got, [e(0, 0x1000, E820_RAM), e(top, 0xfff, E820_RESERVED)]);
        let mut t = E820Table::from_entries(&got);
        t.sanitize();
        assert_eq!(t.entries(), got);
        // Printing an overflowing entry does not panic either.
        let mut out = String::new();
        E820Table::from_entries(&[e(u64::MAX, u64::MAX, E820_RAM), e(0, 0, E820_RAM)]).print("x", &mut out).unwrap();
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn add_and_from_entries_respect_capacity() {
        let mut t = E820Table::new();
        for i in 0..E820_MAX_ENTRIES as u64 {
            t.add(i * 0x2000, 0x1000, E820_RAM).unwrap();
        }
        assert_eq!(t.add(1 << 40, 0x1000, E820_RAM), Err(E820Full));
        assert_eq!(t.entries().len(), E820_MAX_ENTRIES);
        assert!(!E820Full.to_string().is_empty());

        let many = vec![e(0, 0x1000, E820_RAM); E820_MAX_ENTRIES + 5];
        assert_eq!(E820Table::from_entries(&many).entries().len(), E820_MAX_ENTRIES);
    }

    #[test]
    fn sanitize_truncates_when_output_exceeds_capacity() {
        // One RAM range with 127 holes needs 255 entries: the lowest 128 stay.
        let mut t = E820Table::new();
        t.add(0, 0x1000 * 256, E820_RAM).unwrap();
        for i in 0..127u64 {
            t.add(0x1000 * (2 * i + 1), 0x1000, E820_RESERVED).unwrap();
        }
        t.sanitize();
        assert_eq!(t.entries().len(), E820_MAX_ENTRIES);
        for (i, entry) in t.entries().iter().enumerate() {
            let typ = if i % 2 == 0 { E820_RAM } else { E820_RESERVED };
            assert_eq!(*entry, e(0x1000 * i as u64, 0x1000, typ));
        }
    }

    #[test]
    fn end_pfn_clamps_at_4g_and_arch_limit() {
        let t = E820Table::from_entries(&[
            e(0, 0x9fc00, E820_RAM),
            e(0x100000, 0xbff00000, E820_RAM),
            e(0xc0000000, 0x40000000, E820_RESERVED),
            e(0x100000000, 0x140000000, E820_RAM),
        ]);
        assert_eq!(t.end_of_low_ram_pfn(), 0xc0000);
        assert_eq!(t.end_of_ram_pfn(), 0x240000);
        assert_eq!(t.end_pfn(1 << 20, E820_RESERVED), 0x100000);

        // RAM crossing 4 GiB: max_low_pfn is 4 GiB exactly.
        let t = E820Table::from_entries(&[e(0x100000, 0x140000000, E820_RAM)]);
        assert_eq!(t.end_of_low_ram_pfn(), 0x100000);
        assert_eq!(t.end_of_ram_pfn(), 0x140100);

        // A partial last page is not counted; more RAM than the direct map covers is capped.
        // RAM starting above it is ignored.
        let t = E820Table::from_entries(&[e(0, 0x1fff, E820_RAM), e(1 << 45, 1 << 46, E820_RAM), e(1 << 47, 1, E820_RAM)]);
        assert_eq!(t.end_pfn(1, E820_RAM), 1);
        assert_eq!(t.end_of_ram_pfn(), MAX_ARCH_PFN);
        assert_eq!(t.end_pfn(u64::MAX, E820_RAM), MAX_ARCH_PFN);
        let t = E820Table::from_entries(&[e(0, 0x1fff, E820_RAM)]);
        assert_eq!(t.end_of_ram_pfn(), 1);
        assert_eq!(E820Table::new().end_of_ram_pfn(), 0);
    }

    #[test]
    fn is_usable_needs_ram_throughout() {
        let t = E820Table::from_entries(&[
            e(0, 0x9fc00, E820_RAM),
            e(0x9fc00, 0x400, E820_RESERVED),
            e(0x100000, 0x100000, E820_RAM),
            e(0x200000, 0x100000, E820_RAM), // touching RAM, as if unmerged
        ]);
        assert!(t.is_usable(0, 0x9fc00));
        assert!(t.is_usable(0x1000, 0x2000));
        assert!(!t.is_usable(0, 0x9fc01));
        assert!(!t.is_usable(0x9f000, 0x100000));
        assert!(t.is_usable(0x180000, 0x280000));
        assert!(!t.is_usable(0x180000, 0x300001));
        assert!(!t.is_usable(0xa0000, 0xb0000));
    }

    // ---- property tests -------------------------------------------------

    /// The type at `p` in a map, by brute force: the highest type of the
    /// entries covering it, 0 when none does.
    fn model_type_at(entries: &[E820Entry], p: u64) -> u32 {
        entries.iter().filter(|e| e.addr <= p && p < e.end()).map(|e| e.typ).max().unwrap_or(0)
    }

    fn arb_entry() -> impl Strategy<Value = E820Entry> {
        let typ = prop::sample::select(vec![0, E820_RAM, E820_RAM, E820_RESERVED, E820_ACPI, E820_NVS, E820_UNUSABLE, E820_PMEM]);
        // Mostly a small space (many overlaps), sometimes near the top (overflow).
        let small = (0u64..0x400, 0u64..0x100).prop_map(|(a, s)| (a * 0x40, s * 0x40));
        let top = (0u64..0x1000, any::<u64>()).prop_map(|(a, s)| (u64::MAX - a, s));
        (prop_oneof![9 => small, 1 => top], typ).prop_map(|((a, s), t)| E820Entry::new(a, s, t))
    }

    proptest! {
        // No regression files: they would land outside this module's source.
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn sanitize_matches_max_type_model(input in prop::collection::vec(arb_entry(), 0..24)) {
            let mut t = E820Table::from_entries(&input);
            t.sanitize();
            let out = t.entries();

            // Shape: sorted, disjoint, non-empty, typed, same types never touch.
            for x in out {
                prop_assert!(x.size > 0 && x.typ != 0);
                prop_assert!(x.addr.checked_add(x.size).is_some());
            }
            for w in out.windows(2) {
                prop_assert!(w[0].end() <= w[1].addr);
                prop_assert!(!(w[0].end() == w[1].addr && w[0].typ == w[1].typ));
            }

            // Pointwise: every boundary and midpoint of the input agrees.
            for x in &input {
                let end = x.end();
                for p in [x.addr, end, end.wrapping_sub(1), x.addr + (end - x.addr) / 2] {
                    prop_assert_eq!(model_type_at(out, p), model_type_at(&input, p), "at {:#x}", p);
                }
            }

            // Totals: between consecutive input boundaries the type is constant.
            let mut bounds: Vec<u64> = input.iter().flat_map(|x| [x.addr, x.end()]).collect();
            bounds.sort_unstable();
            bounds.dedup();
            for typ in [E820_RAM, E820_RESERVED, E820_ACPI, E820_NVS, E820_UNUSABLE, E820_PMEM] {
                let measure: u64 = bounds
                    .windows(2)
                    .filter(|w| model_type_at(&input, w[0]) == typ)
                    .map(|w| w[1] - w[0])
                    .sum();
                prop_assert_eq!(t.total(typ), measure, "type {}", typ);
            }

            // Idempotent.
            let mut again = t.clone();
            again.sanitize();
            prop_assert_eq!(again, t);
        }

        #[test]
        fn is_usable_matches_model(input in prop::collection::vec(arb_entry(), 0..12), a in 0u64..0x400, len in 1u64..0x100) {
            let mut t = E820Table::from_entries(&input);
            t.sanitize();
            let (start, end) = (a * 0x40, (a + len) * 0x40);
            // Units of 0x40 suffice: every small-space boundary is a multiple.
            let all_ram = (start / 0x40..end / 0x40).all(|u| model_type_at(&input, u * 0x40) == E820_RAM);
            prop_assert_eq!(t.is_usable(start, end), all_ram);
        }
    }
}
