//! The kernel's GDT and TSS, laid out as Linux does on x86-64 so that the
//! user selectors are the ones `syscall`/`sysret` expect:
//!
//! ```text
//! index  selector  segment
//!   2     0x10     __KERNEL_CS   64-bit code, DPL 0
//!   3     0x18     __KERNEL_DS   data, DPL 0
//!   5     0x2b     __USER_DS     data, DPL 3
//!   6     0x33     __USER_CS     64-bit code, DPL 3
//!   8-9   0x40     TSS           (16-byte system descriptor)
//! ```

use core::arch::asm;
use core::ptr::addr_of;

pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SELECTOR: u16 = 0x40;

/// IST slot (1-based, as in the IDT) of the double-fault stack.
pub const IST_DOUBLE_FAULT: u8 = 1;
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, packed)]
struct Tss {
    _reserved0: u32,
    rsp: [u64; 3],
    _reserved1: u64,
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

static mut TSS: Tss =
    Tss { _reserved0: 0, rsp: [0; 3], _reserved1: 0, ist: [0; 7], _reserved2: 0, _reserved3: 0, iomap_base: core::mem::size_of::<Tss>() as u16 };

const fn segment(flags: u64) -> u64 {
    // Base 0, limit 0xfffff; `flags` are bits 40..55 of the descriptor.
    0x000f_0000_0000_ffff | (flags << 40)
}

static mut GDT: [u64; 10] = [
    0,
    0,
    segment(0xa09b), // __KERNEL_CS: G, L, P, DPL0, code
    segment(0xc093), // __KERNEL_DS: G, D, P, DPL0, data
    0,
    segment(0xc0f3), // __USER_DS: G, D, P, DPL3, data
    segment(0xa0fb), // __USER_CS: G, L, P, DPL3, code
    0,
    0, // TSS, filled in by init()
    0,
];

#[repr(C, packed)]
pub struct DescriptorTablePointer {
    pub limit: u16,
    pub base: u64,
}

/// Loads the GDT, reloads every segment register and loads the TSS.
pub fn init() {
    // SAFETY: runs once on the boot CPU before anything else uses the GDT
    // or TSS, so these statics are not aliased.
    unsafe {
        let tss = &mut *core::ptr::addr_of_mut!(TSS);
        tss.ist[(IST_DOUBLE_FAULT - 1) as usize] = addr_of!(DOUBLE_FAULT_STACK) as u64 + IST_STACK_SIZE as u64;
        let base = addr_of!(TSS) as u64;
        let limit = (core::mem::size_of::<Tss>() - 1) as u64;
        let gdt = &mut *core::ptr::addr_of_mut!(GDT);
        gdt[8] = (limit & 0xffff)
            | ((base & 0x00ff_ffff) << 16)
            | (0x89 << 40) // P, 64-bit available TSS
            | ((limit & 0xf_0000) << 32)
            | ((base & 0xff00_0000) << 32);
        gdt[9] = base >> 32;
    }
    let ptr = DescriptorTablePointer { limit: (core::mem::size_of::<[u64; 10]>() - 1) as u16, base: addr_of!(GDT) as u64 };
    // SAFETY: the GDT above is valid and static; the far return reloads CS with the kernel code selector it describes, the data selectors are valid,
    // and the TSS descriptor points at a static TSS.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov ss, {ds:x}",
            "xor {tmp:e}, {tmp:e}",
            "mov fs, {tmp:x}",
            "mov gs, {tmp:x}",
            "ltr {tss:x}",
            ptr = in(reg) &ptr,
            cs = const KERNEL_CS as u64,
            ds = in(reg) KERNEL_DS as u64,
            tss = in(reg) TSS_SELECTOR as u64,
            tmp = out(reg) _,
        );
    }
}

/// Sets the stack the CPU switches to on an exception or interrupt from
/// ring 3 (TSS.RSP0).
///
/// # Safety
/// `rsp0` must be the 16-byte aligned end of memory that may take the
/// next ring-3 trap frame; one CPU, interrupts off.
pub unsafe fn set_rsp0(rsp0: u64) {
    // SAFETY: the caller's contract; the TSS is packed, so write unaligned.
    unsafe { core::ptr::addr_of_mut!(TSS.rsp).cast::<u64>().write_unaligned(rsp0) };
}
