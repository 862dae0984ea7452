//! The register file gdb sees: x86-64 with the system registers a kernel
//! debugger needs.
//!
//! `gdbstub_arch`'s `X86_64_SSE` covers the user-visible registers
//! (general, `rip`, `eflags`, segment selectors, x87 and SSE); a kernel is
//! debugged with `cr3` and friends too, so this architecture appends them
//! after those, the way QEMU's gdbstub does: `fs_base`, `gs_base`,
//! `k_gs_base`, `cr0`, `cr2`, `cr3`, `cr4`, `cr8`, `efer`. gdb learns the
//! layout from [`TARGET_XML`] and shows them as `$cr3` and so on.

use gdbstub::arch::{Arch, Registers};
use gdbstub_arch::x86::reg::X86_64CoreRegs;

/// x86-64 as a kernel debugger sees it.
pub enum X86_64Kernel {}

impl Arch for X86_64Kernel {
    type Usize = u64;
    type Registers = KernelRegs;
    // Single registers are read and written through the whole file (`g`/`G`).
    type RegId = ();
    type BreakpointKind = usize;

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// The system registers, in the order they follow the core file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemRegs {
    pub fs_base: u64,
    pub gs_base: u64,
    /// `IA32_KERNEL_GS_BASE`, the value `swapgs` exchanges with `gs_base`.
    pub k_gs_base: u64,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
}

impl SystemRegs {
    const COUNT: usize = 9;

    fn as_array(&self) -> [u64; Self::COUNT] {
        [self.fs_base, self.gs_base, self.k_gs_base, self.cr0, self.cr2, self.cr3, self.cr4, self.cr8, self.efer]
    }

    fn from_array(a: [u64; Self::COUNT]) -> Self {
        let [fs_base, gs_base, k_gs_base, cr0, cr2, cr3, cr4, cr8, efer] = a;
        Self { fs_base, gs_base, k_gs_base, cr0, cr2, cr3, cr4, cr8, efer }
    }
}

/// The whole register file: `gdbstub_arch`'s core and SSE registers, then
/// the [`SystemRegs`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelRegs {
    pub core: X86_64CoreRegs,
    pub sys: SystemRegs,
}

/// Bytes of [`X86_64CoreRegs`] in a `g` packet: 16 general registers, rip,
/// eflags, 6 selectors, 8 x87 registers of 10 bytes, 8 x87 control words,
/// 16 xmm registers and mxcsr.
const CORE_BYTES: usize = 16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4;

impl Registers for KernelRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.core.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        self.core.gdb_serialize(&mut write_byte);
        for value in self.sys.as_array() {
            value.to_le_bytes().into_iter().for_each(|b| write_byte(Some(b)));
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != CORE_BYTES + SystemRegs::COUNT * 8 {
            return Err(());
        }
        let (core, sys) = bytes.split_at(CORE_BYTES);
        let mut values = [0u64; SystemRegs::COUNT];
        for (value, chunk) in values.iter_mut().zip(sys.chunks_exact(8)) {
            *value = u64::from_le_bytes(chunk.try_into().map_err(|_| ())?);
        }
        self.core.gdb_deserialize(core)?;
        self.sys = SystemRegs::from_array(values);
        Ok(())
    }
}

/// The target description: gdb's own `i386:x86-64` core and SSE features
/// (same names, types and order as gdb's `64bit-core.xml` and
/// `64bit-sse.xml`, which `X86_64CoreRegs` serializes), then the segment
/// bases and the system registers.
pub const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<feature name="org.gnu.gdb.i386.core">
  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/>
    <field name="" start="1" end="1"/>
    <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/>
    <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>
  <reg name="rax" bitsize="64" type="int64" regnum="0"/>
  <reg name="rbx" bitsize="64" type="int64"/>
  <reg name="rcx" bitsize="64" type="int64"/>
  <reg name="rdx" bitsize="64" type="int64"/>
  <reg name="rsi" bitsize="64" type="int64"/>
  <reg name="rdi" bitsize="64" type="int64"/>
  <reg name="rbp" bitsize="64" type="data_ptr"/>
  <reg name="rsp" bitsize="64" type="data_ptr"/>
  <reg name="r8" bitsize="64" type="int64"/>
  <reg name="r9" bitsize="64" type="int64"/>
  <reg name="r10" bitsize="64" type="int64"/>
  <reg name="r11" bitsize="64" type="int64"/>
  <reg name="r12" bitsize="64" type="int64"/>
  <reg name="r13" bitsize="64" type="int64"/>
  <reg name="r14" bitsize="64" type="int64"/>
  <reg name="r15" bitsize="64" type="int64"/>
  <reg name="rip" bitsize="64" type="code_ptr"/>
  <reg name="eflags" bitsize="32" type="i386_eflags"/>
  <reg name="cs" bitsize="32" type="int32"/>
  <reg name="ss" bitsize="32" type="int32"/>
  <reg name="ds" bitsize="32" type="int32"/>
  <reg name="es" bitsize="32" type="int32"/>
  <reg name="fs" bitsize="32" type="int32"/>
  <reg name="gs" bitsize="32" type="int32"/>
  <reg name="st0" bitsize="80" type="i387_ext"/>
  <reg name="st1" bitsize="80" type="i387_ext"/>
  <reg name="st2" bitsize="80" type="i387_ext"/>
  <reg name="st3" bitsize="80" type="i387_ext"/>
  <reg name="st4" bitsize="80" type="i387_ext"/>
  <reg name="st5" bitsize="80" type="i387_ext"/>
  <reg name="st6" bitsize="80" type="i387_ext"/>
  <reg name="st7" bitsize="80" type="i387_ext"/>
  <reg name="fctrl" bitsize="32" type="int" group="float"/>
  <reg name="fstat" bitsize="32" type="int" group="float"/>
  <reg name="ftag" bitsize="32" type="int" group="float"/>
  <reg name="fiseg" bitsize="32" type="int" group="float"/>
  <reg name="fioff" bitsize="32" type="int" group="float"/>
  <reg name="foseg" bitsize="32" type="int" group="float"/>
  <reg name="fooff" bitsize="32" type="int" group="float"/>
  <reg name="fop" bitsize="32" type="int" group="float"/>
</feature>
<feature name="org.gnu.gdb.i386.sse">
  <vector id="v8bf16" type="bfloat16" count="8"/>
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v8_bfloat16" type="v8bf16"/>
    <field name="v4_float" type="v4f"/>
    <field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/>
    <field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/>
    <field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/>
    <field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/>
    <field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/>
    <field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/>
    <field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/>
    <field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/>
    <field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/>
    <field name="FZ" start="15" end="15"/>
  </flags>
  <reg name="xmm0" bitsize="128" type="vec128" regnum="40"/>
  <reg name="xmm1" bitsize="128" type="vec128"/>
  <reg name="xmm2" bitsize="128" type="vec128"/>
  <reg name="xmm3" bitsize="128" type="vec128"/>
  <reg name="xmm4" bitsize="128" type="vec128"/>
  <reg name="xmm5" bitsize="128" type="vec128"/>
  <reg name="xmm6" bitsize="128" type="vec128"/>
  <reg name="xmm7" bitsize="128" type="vec128"/>
  <reg name="xmm8" bitsize="128" type="vec128"/>
  <reg name="xmm9" bitsize="128" type="vec128"/>
  <reg name="xmm10" bitsize="128" type="vec128"/>
  <reg name="xmm11" bitsize="128" type="vec128"/>
  <reg name="xmm12" bitsize="128" type="vec128"/>
  <reg name="xmm13" bitsize="128" type="vec128"/>
  <reg name="xmm14" bitsize="128" type="vec128"/>
  <reg name="xmm15" bitsize="128" type="vec128"/>
  <reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector"/>
</feature>
<feature name="org.gnu.gdb.i386.segments">
  <reg name="fs_base" bitsize="64" type="int" regnum="57"/>
  <reg name="gs_base" bitsize="64" type="int"/>
</feature>
<feature name="org.rust-vmm.x86.sys">
  <reg name="k_gs_base" bitsize="64" type="int" group="system" regnum="59"/>
  <reg name="cr0" bitsize="64" type="int" group="system"/>
  <reg name="cr2" bitsize="64" type="int" group="system"/>
  <reg name="cr3" bitsize="64" type="int" group="system"/>
  <reg name="cr4" bitsize="64" type="int" group="system"/>
  <reg name="cr8" bitsize="64" type="int" group="system"/>
  <reg name="efer" bitsize="64" type="int" group="system"/>
</feature>
</target>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KernelRegs {
        let mut regs = KernelRegs::default();
        regs.core.regs = core::array::from_fn(|i| 0x1000 + i as u64);
        regs.core.rip = 0xffff_ffff_8100_0000;
        regs.core.eflags = 0x246;
        regs.core.segments.cs = 0x10;
        regs.core.xmm[3] = u128::MAX - 7;
        regs.core.mxcsr = 0x1f80;
        regs.sys = SystemRegs { fs_base: 1, gs_base: 2, k_gs_base: 3, cr0: 4, cr2: 5, cr3: 6, cr4: 7, cr8: 8, efer: 9 };
        regs
    }

    fn serialize(regs: &KernelRegs) -> Vec<u8> {
        let mut bytes = Vec::new();
        regs.gdb_serialize(|b| bytes.push(b.unwrap_or(0)));
        bytes
    }

    #[test]
    fn round_trips_and_puts_the_system_registers_last() {
        let regs = sample();
        let bytes = serialize(&regs);
        assert_eq!(bytes.len(), CORE_BYTES + 9 * 8);
        // cr3 is the sixth system register.
        let cr3 = &bytes[CORE_BYTES + 5 * 8..CORE_BYTES + 6 * 8];
        assert_eq!(u64::from_le_bytes(cr3.try_into().unwrap()), 6);
        let mut back = KernelRegs::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, regs);
        assert_eq!(back.pc(), 0xffff_ffff_8100_0000);
    }

    #[test]
    fn a_short_or_long_register_file_is_refused() {
        let bytes = serialize(&sample());
        let mut regs = KernelRegs::default();
        assert!(regs.gdb_deserialize(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(regs.gdb_deserialize(&long).is_err());
        assert_eq!(regs, KernelRegs::default(), "a refused file changes nothing");
    }

    /// The XML numbers registers the way the serializer orders them: 16
    /// general, rip, eflags, 6 selectors, 8 st, 8 x87 words, then xmm0 at 40,
    /// mxcsr 56, fs_base 57, k_gs_base 59, efer 65.
    #[test]
    fn the_description_matches_the_serializer() {
        let names: Vec<&str> = TARGET_XML.lines().filter_map(|l| l.trim().strip_prefix("<reg name=\"")).map(|l| l.split('"').next().unwrap()).collect();
        assert_eq!(names.len(), 66);
        assert_eq!(names.iter().position(|&n| n == "xmm0"), Some(40));
        assert_eq!(names.iter().position(|&n| n == "mxcsr"), Some(56));
        assert_eq!(names.iter().position(|&n| n == "fs_base"), Some(57));
        assert_eq!(names.iter().position(|&n| n == "k_gs_base"), Some(59));
        assert_eq!(names.iter().position(|&n| n == "cr3"), Some(62));
        assert_eq!(names.last(), Some(&"efer"));
        let bytes: usize = TARGET_XML
            .lines()
            .filter(|l| l.trim().starts_with("<reg name="))
            .map(|l| l.split("bitsize=\"").nth(1).unwrap().split('"').next().unwrap().parse::<usize>().unwrap() / 8)
            .sum();
        assert_eq!(bytes, serialize(&sample()).len());
    }
}
