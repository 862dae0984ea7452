//! Privileged x86-64 instructions, one small safe or unsafe function each.
//! Nothing outside `arch::x86_64` contains inline assembly.

use core::arch::asm;

pub const MSR_EFER: u32 = 0xc000_0080;
pub const MSR_GS_BASE: u32 = 0xc000_0101;
pub const EFER_NXE: u64 = 1 << 11;

pub const CR0_WP: u64 = 1 << 16;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;

#[derive(Clone, Copy, Debug)]
pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    CpuidResult { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx }
}

/// CPU features the kernel cares about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub nx: bool,
    pub gbpages: bool,
    pub pge: bool,
    pub smep: bool,
    pub smap: bool,
}

pub fn features() -> Features {
    let max_basic = cpuid(0, 0).eax;
    let max_ext = cpuid(0x8000_0000, 0).eax;
    let basic = cpuid(1, 0);
    let ext = if max_ext >= 0x8000_0001 { cpuid(0x8000_0001, 0) } else { CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 } };
    let leaf7 = if max_basic >= 7 { cpuid(7, 0).ebx } else { 0 };
    Features {
        nx: ext.edx & (1 << 20) != 0,
        gbpages: ext.edx & (1 << 26) != 0,
        pge: basic.edx & (1 << 13) != 0,
        smep: leaf7 & (1 << 7) != 0,
        smap: leaf7 & (1 << 20) != 0,
    }
}

/// What `/proc/cpuinfo` shows of the CPU (Linux `show_cpuinfo` reads the
/// same CPUID leaves).
pub struct Identity {
    pub vendor: alloc::string::String,
    pub brand: alloc::string::String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub max_leaf: u32,
    /// Linux's names of the leaf 1 and 0x8000_0001 feature bits that are set.
    pub flags: alloc::string::String,
    pub phys_bits: u32,
    pub virt_bits: u32,
}

pub fn identify() -> Identity {
    let words = |regs: &[u32]| -> alloc::string::String {
        let bytes: alloc::vec::Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).filter(|&b| b != 0).collect();
        alloc::string::String::from_utf8_lossy(&bytes).trim().into()
    };
    let l0 = cpuid(0, 0);
    let l1 = cpuid(1, 0);
    let max_ext = cpuid(0x8000_0000, 0).eax;
    let ext = |leaf: u32| if max_ext >= leaf { cpuid(leaf, 0) } else { CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 } };
    let brand_regs: alloc::vec::Vec<u32> = (0x8000_0002..=0x8000_0004)
        .flat_map(|l| {
            let r = ext(l);
            [r.eax, r.ebx, r.ecx, r.edx]
        })
        .collect();
    let base_family = (l1.eax >> 8) & 0xf;
    let family = if base_family == 0xf { base_family + ((l1.eax >> 20) & 0xff) } else { base_family };
    let model = if base_family >= 6 { ((l1.eax >> 4) & 0xf) | ((l1.eax >> 12) & 0xf0) } else { (l1.eax >> 4) & 0xf };
    const EDX1: [(u32, &str); 24] = [
        (0, "fpu"),
        (1, "vme"),
        (2, "de"),
        (3, "pse"),
        (4, "tsc"),
        (5, "msr"),
        (6, "pae"),
        (7, "mce"),
        (8, "cx8"),
        (9, "apic"),
        (11, "sep"),
        (12, "mtrr"),
        (13, "pge"),
        (14, "mca"),
        (15, "cmov"),
        (16, "pat"),
        (17, "pse36"),
        (19, "clflush"),
        (23, "mmx"),
        (24, "fxsr"),
        (25, "sse"),
        (26, "sse2"),
        (28, "ht"),
        (29, "tm"),
    ];
    const EXT_EDX: [(u32, &str); 5] = [(11, "syscall"), (20, "nx"), (26, "pdpe1gb"), (27, "rdtscp"), (29, "lm")];
    const ECX1: [(u32, &str); 16] = [
        (0, "pni"),
        (1, "pclmulqdq"),
        (9, "ssse3"),
        (12, "fma"),
        (13, "cx16"),
        (19, "sse4_1"),
        (20, "sse4_2"),
        (21, "x2apic"),
        (22, "movbe"),
        (23, "popcnt"),
        (25, "aes"),
        (26, "xsave"),
        (28, "avx"),
        (29, "f16c"),
        (30, "rdrand"),
        (31, "hypervisor"),
    ];
    let mut flags = alloc::vec::Vec::new();
    let e1 = ext(0x8000_0001);
    for (reg, table) in [(l1.edx, &EDX1[..]), (e1.edx, &EXT_EDX[..]), (l1.ecx, &ECX1[..])] {
        flags.extend(table.iter().filter(|(bit, _)| reg & (1 << bit) != 0).map(|(_, name)| *name));
    }
    let sizes = ext(0x8000_0008).eax;
    Identity {
        vendor: words(&[l0.ebx, l0.edx, l0.ecx]),
        brand: words(&brand_regs),
        family,
        model,
        stepping: l1.eax & 0xf,
        max_leaf: l0.eax,
        flags: flags.join(" "),
        phys_bits: if sizes == 0 { 36 } else { sizes & 0xff },
        virt_bits: if sizes == 0 { 48 } else { (sizes >> 8) & 0xff },
    }
}

pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub fn read_cr0() -> u64 {
    let v;
    // SAFETY: reading CR0 has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn read_cr2() -> u64 {
    let v;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn read_cr3() -> u64 {
    let v;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn read_cr4() -> u64 {
    let v;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// # Safety
/// The new CR0 must keep paging and protection on and the kernel's memory
/// model intact (the kernel only ever sets WP).
pub unsafe fn write_cr0(v: u64) {
    // SAFETY: the caller upholds the contract above.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// # Safety
/// Only feature bits the CPU supports may be set, and none that change the
/// paging mode.
pub unsafe fn write_cr4(v: u64) {
    // SAFETY: the caller upholds the contract above.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Switches address space (and flushes non-global TLB entries).
///
/// # Safety
/// `pml4` must be the physical address of a valid PML4 that maps the
/// running code, its stack and every object the kernel will touch next.
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the caller upholds the contract above.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
}

/// Reloads CR3 with its own value: flushes this address space's non-global
/// TLB entries.
pub fn write_cr3_reload() {
    // SAFETY: the same page tables stay loaded.
    unsafe { write_cr3(read_cr3()) };
}

pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the kernel reads only architectural MSRs that exist on x86-64.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    ((hi as u64) << 32) | lo as u64
}

/// # Safety
/// Writing an MSR can change any CPU behaviour; the caller must know the
/// value is valid and consistent with the kernel's state.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller upholds the contract above.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags)) };
}

/// Invalidates the TLB entry for `va` on this CPU.
pub fn invlpg(va: u64) {
    // SAFETY: INVLPG only drops a cached translation.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) };
}

/// Flushes every TLB entry, global ones included (toggling CR4.PGE).
pub fn flush_tlb_all() {
    let cr4 = read_cr4();
    // SAFETY: clearing and restoring PGE is the architectural way to flush global entries; it changes nothing else.
    unsafe {
        write_cr4(cr4 & !CR4_PGE);
        write_cr4(cr4);
    }
}

pub fn outb(port: u16, value: u8) {
    // SAFETY: the kernel's ports are the VMM's devices; writing them has no memory effects.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) };
}

pub fn inb(port: u16) -> u8 {
    let v;
    // SAFETY: as for `outb`.
    unsafe { asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags)) };
}

/// Zeroes one 4 KiB page with `rep stosq` (the byte form is several times
/// slower where ring 0 is emulated).
///
/// # Safety
/// `page` must be a writable, 8-byte aligned, 4 KiB region that nothing else
/// is using.
pub unsafe fn clear_page(page: *mut u8) {
    // SAFETY: the caller upholds the contract of `fill_page`.
    unsafe { fill_page(page, 0) }
}

/// Fills one 4 KiB page with the 64-bit `pattern` (`rep stosq`).
///
/// # Safety
/// As for [`clear_page`].
pub unsafe fn fill_page(page: *mut u8, pattern: u64) {
    // SAFETY: the caller upholds the contract above.
    unsafe { asm!("rep stosq", inout("rdi") page => _, inout("rcx") 512usize => _, in("rax") pattern, options(nostack, preserves_flags)) };
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: disabling interrupts and halting only stops this CPU.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) };
    }
}

/// Resets the CPU the hard way: an exception with an empty IDT is a triple
/// fault. Used by `test=triple-fault` to prove the VMM reports it.
pub fn triple_fault() -> ! {
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let empty = Idtr { limit: 0, base: 0 };
    // SAFETY: deliberately fatal: the CPU shuts down at `ud2`.
    unsafe { asm!("lidt [{}]", "ud2", in(reg) &empty, options(noreturn)) }
}

/// Disables interrupts and returns the previous RFLAGS (Linux
/// `local_irq_save`).
pub fn local_irq_save() -> u64 {
    let flags;
    // SAFETY: saving RFLAGS and clearing IF only defers interrupts.
    unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem)) };
    flags
}

/// Lets pending interrupts in for one instruction, then disables them
/// again: a preemption point in a long kernel loop (the kernel otherwise
/// runs with interrupts off).
pub fn irq_window() {
    // SAFETY: `sti` takes effect after the next instruction, so pending interrupts are taken at the `nop`; the interrupt entry saves every register, and callers hold no lock.
    unsafe { asm!("sti", "nop", "cli", options(nomem, nostack)) };
}

/// Re-enables interrupts if `flags` (from `local_irq_save`) had IF set.
pub fn local_irq_restore(flags: u64) {
    if flags & (1 << 9) != 0 {
        // SAFETY: interrupts were enabled when the matching save ran.
        unsafe { asm!("sti", options(nomem, nostack)) };
    }
}

/// The current instruction and stack pointers, for reports.
pub fn current_rip_rsp() -> (u64, u64) {
    let (rip, rsp): (u64, u64);
    // SAFETY: only reads RIP (via a RIP-relative LEA) and RSP.
    unsafe { asm!("lea {}, [rip]", "mov {}, rsp", out(reg) rip, out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    (rip, rsp)
}

pub fn read_rflags() -> u64 {
    let flags;
    // SAFETY: reading RFLAGS has no side effects.
    unsafe { asm!("pushfq", "pop {}", out(reg) flags, options(nomem, preserves_flags)) };
    flags
}

/// A breakpoint trap (`int3`). Only `test=int3` uses it: on kvm_pvm an
/// `int3` at ring 0 stops the VM with an emulation failure.
pub fn breakpoint() {
    // SAFETY: int3 raises #BP, which the IDT handles (fatally).
    unsafe { asm!("int3", options(nomem, nostack)) };
}
