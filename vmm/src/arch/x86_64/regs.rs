//! vCPU register state for entering the kernel in long mode, and reading it
//! back for reports.

use kvm_bindings::kvm_regs;
use kvm_ioctls::VcpuFd;
use shared::layout::BOOT_GDT_ADDR;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::gdt::{segment, BOOT_GDT, CODE_SELECTOR, DATA_SELECTOR, TSS_SELECTOR};
use crate::error::{Error, Result};
use crate::report::CpuState;

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// Puts the vCPU in 64-bit mode at `entry` with paging on `cr3`, the boot
/// GDT loaded, no IDT (an exception before the kernel installs its own is a
/// triple fault, which the VMM reports), and `rdi` = `boot_info`.
pub fn setup_long_mode(vcpu: &VcpuFd, mem: &GuestMemoryMmap, entry: u64, boot_info: u64, cr3: u64) -> Result<()> {
    let gdt: Vec<u8> = BOOT_GDT.iter().flat_map(|e| e.to_le_bytes()).collect();
    mem.write_slice(&gdt, GuestAddress(BOOT_GDT_ADDR)).map_err(|e| Error::GuestWrite { addr: BOOT_GDT_ADDR, reason: e.to_string() })?;

    let mut sregs = vcpu.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?;
    sregs.gdt.base = BOOT_GDT_ADDR;
    sregs.gdt.limit = (BOOT_GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = segment(1, CODE_SELECTOR);
    let data = segment(2, DATA_SELECTOR);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = segment(3, TSS_SELECTOR);
    sregs.cr3 = cr3;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
    vcpu.set_sregs(&sregs).map_err(Error::kvm("KVM_SET_SREGS"))?;

    let regs = kvm_regs { rip: entry, rdi: boot_info, rflags: 0x2, ..Default::default() };
    vcpu.set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
    Ok(())
}

/// Reads the vCPU's registers for a report; `None` if KVM cannot say.
pub fn cpu_state(vcpu: &VcpuFd) -> Option<CpuState> {
    let r = vcpu.get_regs().ok()?;
    let s = vcpu.get_sregs().ok()?;
    Some(CpuState {
        rip: r.rip,
        rsp: r.rsp,
        rflags: r.rflags,
        gprs: [r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15],
        cs: s.cs.selector,
        cr0: s.cr0,
        cr2: s.cr2,
        cr3: s.cr3,
        cr4: s.cr4,
        efer: s.efer,
    })
}
