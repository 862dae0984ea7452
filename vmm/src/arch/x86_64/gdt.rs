//! The boot GDT and the KVM segment registers derived from it.
//!
//! Descriptor encoding as in the SDM vol. 3, 3.4.5 (and Linux's
//! `GDT_ENTRY(flags, base, limit)` in `asm/segment.h`).

use kvm_bindings::kvm_segment;

/// Selectors into the boot GDT.
pub const CODE_SELECTOR: u16 = 0x08;
pub const DATA_SELECTOR: u16 = 0x10;
pub const TSS_SELECTOR: u16 = 0x18;

/// `flags` is the 12-bit access/flags field: G, D/B, L, AVL, P, DPL, S, type.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << 32)
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
        | ((limit as u64 & 0x000f_0000) << 32)
        | ((flags as u64 & 0xf0ff) << 40)
}

/// null, 64-bit ring-0 code, ring-0 data, a 64-bit TSS placeholder (the
/// kernel loads its own TSS; VMX entry needs TR to describe a busy TSS).
pub const BOOT_GDT: [u64; 4] = [
    0,
    gdt_entry(0xa09b, 0, 0xfffff), // G, L, P, DPL0, S, code execute/read accessed
    gdt_entry(0xc093, 0, 0xfffff), // G, D/B, P, DPL0, S, data read/write accessed
    gdt_entry(0x008b, 0, 0x67),    // P, 64-bit busy TSS, byte granular
];

/// The KVM view of GDT entry `index` loaded with `selector`.
pub fn segment(index: usize, selector: u16) -> kvm_segment {
    let e = BOOT_GDT[index];
    let base = ((e >> 16) & 0x00ff_ffff) | ((e >> 32) & 0xff00_0000);
    let raw_limit = ((e & 0xffff) | ((e >> 32) & 0xf_0000)) as u32;
    let g = ((e >> 55) & 1) as u8;
    kvm_segment {
        base,
        // KVM wants the byte-granular limit.
        limit: if g == 1 { (raw_limit << 12) | 0xfff } else { raw_limit },
        selector,
        type_: ((e >> 40) & 0xf) as u8,
        present: ((e >> 47) & 1) as u8,
        dpl: ((e >> 45) & 3) as u8,
        db: ((e >> 54) & 1) as u8,
        s: ((e >> 44) & 1) as u8,
        l: ((e >> 53) & 1) as u8,
        g,
        avl: ((e >> 52) & 1) as u8,
        unusable: 0,
        padding: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_segment_is_64_bit_ring_0() {
        let cs = segment(1, CODE_SELECTOR);
        assert_eq!((cs.l, cs.db, cs.dpl, cs.present, cs.s, cs.type_), (1, 0, 0, 1, 1, 0xb));
        assert_eq!(cs.limit, 0xffff_ffff);
        let tss = segment(3, TSS_SELECTOR);
        assert_eq!((tss.type_, tss.s, tss.limit), (0xb, 0, 0x67));
    }
}
