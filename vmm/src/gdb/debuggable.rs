//! What the gdb stub needs from a stopped vCPU, as a small trait
//! ([`Debuggable`], after Cloud Hypervisor's), and its KVM implementation.
//!
//! The stub never touches KVM itself: it sends closures over
//! `&mut dyn Debuggable` to the vCPU thread, which runs them while the
//! vCPU is stopped. A second hypervisor (or a core-dump reader) would
//! implement the trait and reuse the stub whole.

use kvm_bindings::{kvm_fpu, kvm_guest_debug, kvm_regs, kvm_sregs, Msrs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::arch::{KernelRegs, SystemRegs};
use super::paging::{self, PagingMode, Translation, WalkError};

/// `IA32_KERNEL_GS_BASE`.
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// Why a debugger request failed.
#[derive(Debug, thiserror::Error)]
pub enum DebugError {
    #[error("KVM {0} failed: {1}")]
    Kvm(&'static str, vmm_sys_util::errno::Error),
    #[error("{0}")]
    Walk(#[from] WalkError),
    #[error("physical address {0:#x} is not guest RAM")]
    NotRam(u64),
    #[error("the vCPU is not stopped for the debugger any more (the guest ended)")]
    Gone,
    #[error("{0}")]
    Refused(String),
}

/// A vCPU stopped for the debugger, and its memory.
pub trait Debuggable {
    fn read_regs(&self) -> Result<KernelRegs, DebugError>;
    fn write_regs(&mut self, regs: &KernelRegs) -> Result<(), DebugError>;
    /// CR0, CR3, CR4 and EFER: what a page walk starts from.
    fn paging_mode(&self) -> Result<PagingMode, DebugError>;
    /// Reads guest RAM at a physical address; all of `buf` or an error.
    fn read_phys(&self, addr: u64, buf: &mut [u8]) -> Result<(), DebugError>;
    /// Writes guest RAM at a physical address; all of `data` or an error.
    fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), DebugError>;

    /// Translates a virtual address through the current CR3.
    fn translate(&self, vaddr: u64) -> Result<Translation, DebugError> {
        let mode = self.paging_mode()?;
        let read_entry = |phys: u64| {
            let mut b = [0u8; 8];
            self.read_phys(phys, &mut b).ok().map(|()| u64::from_le_bytes(b))
        };
        Ok(paging::translate(mode, vaddr, read_entry)?)
    }

    /// Reads virtual memory up to the first unmapped byte: the count read,
    /// or the error if not even the first byte is mapped.
    fn read_virt(&self, vaddr: u64, buf: &mut [u8]) -> Result<usize, DebugError> {
        let mut done = 0;
        while done < buf.len() {
            let step = self.translate(vaddr.wrapping_add(done as u64)).and_then(|t| {
                let n = (t.bytes_left_in_page as usize).min(buf.len() - done);
                self.read_phys(t.phys, &mut buf[done..done + n]).map(|()| n)
            });
            match step {
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// Writes virtual memory: every page is translated first, so a write
    /// that would stop halfway changes nothing.
    fn write_virt(&mut self, vaddr: u64, data: &[u8]) -> Result<(), DebugError> {
        let mut pieces = Vec::new();
        let mut done = 0;
        while done < data.len() {
            let t = self.translate(vaddr.wrapping_add(done as u64))?;
            let n = (t.bytes_left_in_page as usize).min(data.len() - done);
            pieces.push((t.phys, done..done + n));
            done += n;
        }
        for (phys, range) in pieces {
            self.write_phys(phys, &data[range])?;
        }
        Ok(())
    }
}

/// A KVM vCPU and the guest memory, borrowed by the vCPU thread while the
/// vCPU is stopped.
pub struct KvmVcpu<'a> {
    pub vcpu: &'a VcpuFd,
    pub mem: &'a GuestMemoryMmap,
}

impl KvmVcpu<'_> {
    fn kernel_gs_base(&self) -> Option<u64> {
        let mut msrs = Msrs::from_entries(&[kvm_bindings::kvm_msr_entry { index: MSR_KERNEL_GS_BASE, ..Default::default() }]).ok()?;
        match self.vcpu.get_msrs(&mut msrs) {
            Ok(1) => msrs.as_slice().first().map(|e| e.data),
            _ => None,
        }
    }
}

impl Debuggable for KvmVcpu<'_> {
    fn read_regs(&self) -> Result<KernelRegs, DebugError> {
        let regs = self.vcpu.get_regs().map_err(|e| DebugError::Kvm("KVM_GET_REGS", e))?;
        let sregs = self.vcpu.get_sregs().map_err(|e| DebugError::Kvm("KVM_GET_SREGS", e))?;
        let fpu = self.vcpu.get_fpu().map_err(|e| DebugError::Kvm("KVM_GET_FPU", e))?;
        // A platform that cannot read the MSR shows 0 rather than failing
        // the whole register file.
        Ok(from_kvm(&regs, &sregs, &fpu, self.kernel_gs_base().unwrap_or(0)))
    }

    fn write_regs(&mut self, new: &KernelRegs) -> Result<(), DebugError> {
        let mut regs = self.vcpu.get_regs().map_err(|e| DebugError::Kvm("KVM_GET_REGS", e))?;
        let mut sregs = self.vcpu.get_sregs().map_err(|e| DebugError::Kvm("KVM_GET_SREGS", e))?;
        let mut fpu = self.vcpu.get_fpu().map_err(|e| DebugError::Kvm("KVM_GET_FPU", e))?;
        let k_gs_base = self.kernel_gs_base();
        let old = from_kvm(&regs, &sregs, &fpu, k_gs_base.unwrap_or(0));
        let changed = to_kvm(new, &mut regs, &mut sregs, &mut fpu);
        // Only what gdb changed goes back: a `G` packet carries every
        // register, and rewriting unchanged system state is a needless risk.
        if changed.regs {
            self.vcpu.set_regs(&regs).map_err(|e| DebugError::Kvm("KVM_SET_REGS", e))?;
        }
        if changed.sregs {
            self.vcpu.set_sregs(&sregs).map_err(|e| DebugError::Kvm("KVM_SET_SREGS", e))?;
        }
        if changed.fpu {
            self.vcpu.set_fpu(&fpu).map_err(|e| DebugError::Kvm("KVM_SET_FPU", e))?;
        }
        if new.sys.k_gs_base != old.sys.k_gs_base {
            if k_gs_base.is_none() {
                return Err(DebugError::Refused("this KVM does not let the VMM read IA32_KERNEL_GS_BASE, so it is not written either".into()));
            }
            let entry = kvm_bindings::kvm_msr_entry { index: MSR_KERNEL_GS_BASE, data: new.sys.k_gs_base, ..Default::default() };
            let msrs = Msrs::from_entries(&[entry]).map_err(|_| DebugError::Refused("cannot build the MSR list".into()))?;
            self.vcpu.set_msrs(&msrs).map_err(|e| DebugError::Kvm("KVM_SET_MSRS", e))?;
        }
        Ok(())
    }

    fn paging_mode(&self) -> Result<PagingMode, DebugError> {
        let s = self.vcpu.get_sregs().map_err(|e| DebugError::Kvm("KVM_GET_SREGS", e))?;
        Ok(PagingMode { cr0: s.cr0, cr3: s.cr3, cr4: s.cr4, efer: s.efer })
    }

    fn read_phys(&self, addr: u64, buf: &mut [u8]) -> Result<(), DebugError> {
        self.mem.read_slice(buf, GuestAddress(addr)).map_err(|_| DebugError::NotRam(addr))
    }

    fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), DebugError> {
        self.mem.write_slice(data, GuestAddress(addr)).map_err(|_| DebugError::NotRam(addr))
    }
}

/// The register file from KVM's structures. The x87 tag word is rebuilt
/// from KVM's abridged one (FXSAVE format): an empty register is tag 11,
/// any other is reported as 00 (valid).
pub fn from_kvm(r: &kvm_regs, s: &kvm_sregs, f: &kvm_fpu, k_gs_base: u64) -> KernelRegs {
    let mut regs = KernelRegs::default();
    let c = &mut regs.core;
    c.regs = [r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15];
    c.rip = r.rip;
    c.eflags = r.rflags as u32;
    c.segments.cs = s.cs.selector.into();
    c.segments.ss = s.ss.selector.into();
    c.segments.ds = s.ds.selector.into();
    c.segments.es = s.es.selector.into();
    c.segments.fs = s.fs.selector.into();
    c.segments.gs = s.gs.selector.into();
    for (st, fpr) in c.st.iter_mut().zip(&f.fpr) {
        st.copy_from_slice(&fpr[..10]);
    }
    c.fpu.fctrl = f.fcw.into();
    c.fpu.fstat = f.fsw.into();
    c.fpu.ftag = (0..8).fold(0u32, |tag, i| if f.ftwx & (1 << i) == 0 { tag | (3 << (2 * i)) } else { tag });
    c.fpu.fioff = f.last_ip as u32;
    c.fpu.fooff = f.last_dp as u32;
    c.fpu.fop = f.last_opcode.into();
    for (xmm, bytes) in c.xmm.iter_mut().zip(&f.xmm) {
        *xmm = u128::from_le_bytes(*bytes);
    }
    c.mxcsr = f.mxcsr;
    regs.sys = SystemRegs { fs_base: s.fs.base, gs_base: s.gs.base, k_gs_base, cr0: s.cr0, cr2: s.cr2, cr3: s.cr3, cr4: s.cr4, cr8: s.cr8, efer: s.efer };
    regs
}

/// Which of KVM's structures [`to_kvm`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub regs: bool,
    pub sregs: bool,
    pub fpu: bool,
}

/// Writes the register file into KVM's structures (selectors change only
/// the selector, not the hidden descriptor cache; the upper 32 bits of
/// RFLAGS are reserved and stay as they were).
pub fn to_kvm(new: &KernelRegs, r: &mut kvm_regs, s: &mut kvm_sregs, f: &mut kvm_fpu) -> Changed {
    let (old_r, old_s, old_f) = (*r, *s, *f);
    let c = &new.core;
    [r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15] = c.regs;
    r.rip = c.rip;
    r.rflags = (r.rflags & !0xffff_ffff) | u64::from(c.eflags);
    // Selectors are 16 bits; gdb shows them in 32.
    s.cs.selector = c.segments.cs as u16;
    s.ss.selector = c.segments.ss as u16;
    s.ds.selector = c.segments.ds as u16;
    s.es.selector = c.segments.es as u16;
    s.fs.selector = c.segments.fs as u16;
    s.gs.selector = c.segments.gs as u16;
    s.fs.base = new.sys.fs_base;
    s.gs.base = new.sys.gs_base;
    s.cr0 = new.sys.cr0;
    s.cr2 = new.sys.cr2;
    s.cr3 = new.sys.cr3;
    s.cr4 = new.sys.cr4;
    s.cr8 = new.sys.cr8;
    s.efer = new.sys.efer;
    for (fpr, st) in f.fpr.iter_mut().zip(&c.st) {
        fpr[..10].copy_from_slice(st);
    }
    f.fcw = c.fpu.fctrl as u16;
    f.fsw = c.fpu.fstat as u16;
    f.ftwx = (0..8).fold(0u8, |t, i| if (c.fpu.ftag >> (2 * i)) & 3 != 3 { t | (1 << i) } else { t });
    f.last_ip = (f.last_ip & !0xffff_ffff) | u64::from(c.fpu.fioff);
    f.last_dp = (f.last_dp & !0xffff_ffff) | u64::from(c.fpu.fooff);
    f.last_opcode = c.fpu.fop as u16;
    for (bytes, xmm) in f.xmm.iter_mut().zip(&c.xmm) {
        *bytes = xmm.to_le_bytes();
    }
    f.mxcsr = c.mxcsr;
    Changed { regs: bytes_of(r) != bytes_of(&old_r), sregs: bytes_of(s) != bytes_of(&old_s), fpu: bytes_of(f) != bytes_of(&old_f) }
}

/// The bytes of a plain-data KVM structure, for comparison.
fn bytes_of<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: only called on kvm_regs, kvm_sregs and kvm_fpu, plain C
    // structs of integers that KVM fills whole, padding included (they
    // come from its ioctls or are copies of what came from them); the slice
    // covers exactly the value and lives no longer than the borrow.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// A hardware breakpoint or watchpoint in one of the four debug registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwSlot {
    pub addr: u64,
    pub kind: HwKind,
    /// 1 for execution; 1, 2, 4 or 8 bytes, aligned, for data.
    pub len: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwKind {
    Execute,
    Write,
    /// x86 has no read-only watchpoint: reads and writes.
    ReadWrite,
}

/// Everything the debugger has armed, applied when the vCPU resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugSettings {
    pub hw: [Option<HwSlot>; 4],
    /// Kernel addresses holding an `int3` the stub inserted.
    pub sw_breakpoints: Vec<u64>,
    /// Stop after one instruction.
    pub single_step: bool,
}

impl DebugSettings {
    pub fn is_idle(&self) -> bool {
        self.hw.iter().all(Option::is_none) && self.sw_breakpoints.is_empty() && !self.single_step
    }

    /// The DR7 value for the armed slots (local enable, R/W and LEN fields).
    pub fn dr7(&self) -> u64 {
        let mut dr7 = 0;
        for (i, slot) in self.hw.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let rw: u64 = match slot.kind {
                HwKind::Execute => 0b00,
                HwKind::Write => 0b01,
                HwKind::ReadWrite => 0b11,
            };
            let len: u64 = match (slot.kind, slot.len) {
                (HwKind::Execute, _) | (_, 1) => 0b00,
                (_, 2) => 0b01,
                (_, 8) => 0b10,
                _ => 0b11,
            };
            dr7 |= 1 << (2 * i) | rw << (16 + 4 * i) | len << (18 + 4 * i);
        }
        dr7
    }

    /// `KVM_SET_GUEST_DEBUG` for these settings; `step` adds single-step
    /// (for the instruction counter or a step over a breakpoint), and
    /// `block_irq` is `KVM_GUESTDBG_BLOCKIRQ` where KVM offers it (0 if not),
    /// used whenever single-stepping so that a step is one instruction of
    /// the code stepped and not an interrupt handler.
    pub fn to_kvm(&self, step: bool, block_irq: u32) -> kvm_guest_debug {
        use kvm_bindings::{KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP, KVM_GUESTDBG_USE_SW_BP};
        let mut debug = kvm_guest_debug::default();
        let step = step || self.single_step;
        if !step && self.is_idle() {
            return debug;
        }
        debug.control = KVM_GUESTDBG_ENABLE;
        if step {
            debug.control |= KVM_GUESTDBG_SINGLESTEP | block_irq;
        }
        if !self.sw_breakpoints.is_empty() {
            debug.control |= KVM_GUESTDBG_USE_SW_BP;
        }
        if self.hw.iter().any(Option::is_some) {
            debug.control |= KVM_GUESTDBG_USE_HW_BP;
            for (i, slot) in self.hw.iter().enumerate() {
                debug.arch.debugreg[i] = slot.map_or(0, |s| s.addr);
            }
            debug.arch.debugreg[7] = self.dr7();
        }
        debug
    }

    /// The settings without the execution breakpoints at `rip`: what the
    /// vCPU runs with for one step when it resumes on top of one (on
    /// kvm_pvm an armed breakpoint fires again even with RFLAGS.RF set).
    pub fn without_execute_at(&self, rip: u64) -> Option<DebugSettings> {
        let hit = |s: &Option<HwSlot>| s.is_some_and(|s| s.kind == HwKind::Execute && s.addr == rip);
        if !self.hw.iter().any(hit) {
            return None;
        }
        let mut less = self.clone();
        for slot in less.hw.iter_mut().filter(|s| hit(s)) {
            *slot = None;
        }
        Some(less)
    }
}

#[cfg(test)]
mod tests {
    use kvm_bindings::{KVM_GUESTDBG_BLOCKIRQ, KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP, KVM_GUESTDBG_USE_SW_BP};

    use super::*;

    #[test]
    fn registers_round_trip_through_kvm_structures() {
        let r = kvm_regs { rax: 1, rbx: 2, rcx: 3, rdx: 4, rsi: 5, rdi: 6, rsp: 7, rbp: 8, r8: 9, r15: 16, rip: 0x1234, rflags: 0x246, ..Default::default() };
        let mut s = kvm_sregs { cr0: 0x8005_0033, cr3: 0x07ff_f000, cr4: 0x6a0, efer: 0xd01, ..Default::default() };
        s.cs.selector = 0x10;
        s.ss.selector = 0x18;
        s.gs.base = 0xffff_8880_0000_1000;
        let mut f = kvm_fpu { fcw: 0x37f, ftwx: 0b0000_0001, mxcsr: 0x1f80, ..Default::default() };
        f.xmm[2] = [0xab; 16];
        f.fpr[0][..10].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let regs = from_kvm(&r, &s, &f, 0x42);
        // gdb's order puts rbp before rsp; KVM's struct the other way round.
        assert_eq!(regs.core.regs[6..8], [8, 7]);
        assert_eq!((regs.core.rip, regs.core.eflags, regs.core.segments.cs), (0x1234, 0x246, 0x10));
        assert_eq!((regs.sys.cr3, regs.sys.gs_base, regs.sys.k_gs_base), (0x07ff_f000, 0xffff_8880_0000_1000, 0x42));
        assert_eq!(regs.core.fpu.ftag, 0xfffc, "st0 in use, the rest empty");
        assert_eq!(regs.core.xmm[2], u128::from_le_bytes([0xab; 16]));

        // Writing back the same values changes nothing.
        let (mut r2, mut s2, mut f2) = (r, s, f);
        assert_eq!(to_kvm(&regs, &mut r2, &mut s2, &mut f2), Changed::default());

        // Changing rax and cr3 touches exactly regs and sregs.
        let mut new = regs.clone();
        new.core.regs[0] = 99;
        new.sys.cr3 = 0x100_0000;
        assert_eq!(to_kvm(&new, &mut r2, &mut s2, &mut f2), Changed { regs: true, sregs: true, fpu: false });
        assert_eq!((r2.rax, s2.cr3), (99, 0x100_0000));
        assert_eq!(from_kvm(&r2, &s2, &f2, 0x42), new);
    }

    #[test]
    fn dr7_encodes_each_slot() {
        let mut d = DebugSettings::default();
        d.hw[0] = Some(HwSlot { addr: 0xffff_ffff_8100_0000, kind: HwKind::Execute, len: 1 });
        d.hw[2] = Some(HwSlot { addr: 0x1000, kind: HwKind::Write, len: 8 });
        d.hw[3] = Some(HwSlot { addr: 0x2000, kind: HwKind::ReadWrite, len: 4 });
        // L0, L2, L3; slot 2: RW=01 LEN=10; slot 3: RW=11 LEN=11.
        let expected = 1 | 1 << 4 | 1 << 6 | 0b01 << 24 | 0b10 << 26 | 0b11 << 28 | 0b11 << 30;
        assert_eq!(d.dr7(), expected);
        let kvm = d.to_kvm(false, KVM_GUESTDBG_BLOCKIRQ);
        assert_eq!(kvm.control, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP);
        assert_eq!(kvm.arch.debugreg[..4], [0xffff_ffff_8100_0000, 0, 0x1000, 0x2000]);
        assert_eq!(kvm.arch.debugreg[7], expected);
    }

    #[test]
    fn guest_debug_control() {
        let idle = DebugSettings::default();
        assert_eq!(idle.to_kvm(false, KVM_GUESTDBG_BLOCKIRQ).control, 0, "nothing armed: debugging off");
        assert_eq!(idle.to_kvm(true, KVM_GUESTDBG_BLOCKIRQ).control, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_BLOCKIRQ);
        let sw = DebugSettings { sw_breakpoints: vec![0xffff_ffff_8100_0000], ..Default::default() };
        assert_eq!(sw.to_kvm(false, 0).control, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP);
    }

    #[test]
    fn stepping_over_an_execute_breakpoint_disarms_only_it() {
        let mut d = DebugSettings::default();
        d.hw[1] = Some(HwSlot { addr: 0x5000, kind: HwKind::Execute, len: 1 });
        d.hw[2] = Some(HwSlot { addr: 0x5000, kind: HwKind::Write, len: 4 });
        assert_eq!(d.without_execute_at(0x6000), None);
        let less = d.without_execute_at(0x5000).unwrap();
        assert_eq!(less.hw[1], None);
        assert_eq!(less.hw[2], d.hw[2]);
    }

    /// Memory as a flat "physical" array with identity-free mappings: two
    /// virtual pages map to physical pages in reverse order.
    struct Fake {
        ram: Vec<u8>,
    }

    const CR3: u64 = 0x1000;

    impl Fake {
        fn new() -> Self {
            let mut f = Fake { ram: vec![0; 0x10000] };
            // vaddr 0x40_0000.. -> pml4[0] -> pdpt 0x2000 -> pd 0x3000 -> pt 0x4000
            f.put(CR3, 0x2000 | 3);
            f.put(0x2000, 0x3000 | 3);
            f.put(0x3000 + 2 * 8, 0x4000 | 3);
            f.put(0x4000, 0x9000 | 3); // 0x40_0000 -> 0x9000
            f.put(0x4000 + 8, 0x8000 | 3); // 0x40_1000 -> 0x8000
            f
        }
        fn put(&mut self, addr: u64, v: u64) {
            self.ram[addr as usize..addr as usize + 8].copy_from_slice(&v.to_le_bytes());
        }
    }

    impl Debuggable for Fake {
        fn read_regs(&self) -> Result<KernelRegs, DebugError> {
            Ok(KernelRegs::default())
        }
        fn write_regs(&mut self, _: &KernelRegs) -> Result<(), DebugError> {
            Ok(())
        }
        fn paging_mode(&self) -> Result<PagingMode, DebugError> {
            Ok(PagingMode { cr0: 1 << 31, cr3: CR3, cr4: 0, efer: 1 << 10 })
        }
        fn read_phys(&self, addr: u64, buf: &mut [u8]) -> Result<(), DebugError> {
            let src = self.ram.get(addr as usize..addr as usize + buf.len()).ok_or(DebugError::NotRam(addr))?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), DebugError> {
            let dst = self.ram.get_mut(addr as usize..addr as usize + data.len()).ok_or(DebugError::NotRam(addr))?;
            dst.copy_from_slice(data);
            Ok(())
        }
    }

    #[test]
    fn virtual_accesses_split_at_pages() {
        let mut f = Fake::new();
        f.write_virt(0x40_0ffe, &[1, 2, 3, 4]).unwrap();
        assert_eq!(f.ram[0x9ffe..0xa000], [1, 2]);
        assert_eq!(f.ram[0x8000..0x8002], [3, 4]);
        let mut buf = [0u8; 4];
        assert_eq!(f.read_virt(0x40_0ffe, &mut buf).unwrap(), 4);
        assert_eq!(buf, [1, 2, 3, 4]);
        // A read running into an unmapped page stops there.
        let mut big = [0u8; 0x2000];
        assert_eq!(f.read_virt(0x40_1000, &mut big).unwrap(), 0x1000);
        assert!(matches!(f.read_virt(0x40_2000, &mut big), Err(DebugError::Walk(WalkError::NotPresent { .. }))));
        // A write running into an unmapped page writes nothing.
        let before = f.ram.clone();
        assert!(f.write_virt(0x40_1ffe, &[9; 4]).is_err());
        assert!(f.ram == before);
    }
}
