//! The boot protocol: what the VMM hands the kernel at its entry point.
//!
//! The VMM enters the kernel in 64-bit mode with `rdi` holding the
//! guest-physical address of a [`BootInfo`] (see [`crate::layout`]).
//!
//! Guarantee: at entry, all guest RAM reads as zero except the kernel
//! image's loaded segments and the boot structures below 1 MiB (fresh
//! anonymous host memory). The kernel relies on it: its memory map starts
//! all-zero ("uninitialised") without being written, and every free page
//! starts out known-zero, so `__GFP_ZERO` need not clear it.
//!
//! The wire structures derive zerocopy's traits, which prove at compile time
//! that they have no padding, so either side can view them as bytes.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bumped on every incompatible change to anything in this crate.
pub const BOOT_PROTOCOL_VERSION: u32 = 4;

/// `BootInfo::magic`: "RVMMBOOT" in little-endian byte order.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"RVMMBOOT");

/// Capacity of the E820 table (Linux: `E820_MAX_ENTRIES_ZEROPAGE` is 128).
pub const E820_MAX_ENTRIES: usize = 128;

/// E820 memory types, with Linux's values (`arch/x86/include/asm/e820/types.h`).
pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;
pub const E820_NVS: u32 = 4;
pub const E820_UNUSABLE: u32 = 5;
pub const E820_PMEM: u32 = 7;

/// One entry of the firmware memory map, as the VMM writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct E820Entry {
    /// First guest-physical address of the range.
    pub addr: u64,
    /// Length of the range in bytes.
    pub size: u64,
    /// One of the `E820_*` types.
    pub typ: u32,
    pub _pad: u32,
}

impl E820Entry {
    pub const fn new(addr: u64, size: u64, typ: u32) -> Self {
        Self { addr, size, typ, _pad: 0 }
    }

    /// One past the last address, saturating at `u64::MAX`.
    pub const fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }
}

/// Everything the kernel learns about its machine at boot.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// [`BOOT_PROTOCOL_VERSION`] of the VMM that wrote this.
    pub version: u32,
    /// `size_of::<BootInfo>()` as the VMM sees it.
    pub size: u32,
    /// Guest RAM in bytes (usable and reserved RAM, not the MMIO hole).
    pub ram_size: u64,
    /// Guest-physical address and length of the kernel command line (not
    /// NUL-terminated, UTF-8).
    pub cmdline_addr: u64,
    pub cmdline_len: u64,
    /// Guest-physical range of the VMM's boot page tables `[start, end)`,
    /// which the kernel may reclaim once it runs on its own tables.
    pub boot_pgtable_start: u64,
    pub boot_pgtable_end: u64,
    /// Guest-physical range of the initial ramdisk; zero length when none.
    pub initramfs_addr: u64,
    pub initramfs_len: u64,
    /// Guest-physical range of init's argument vector: NUL-terminated
    /// strings back to back, `argv[0]` (init's path in the initramfs)
    /// first; zero length when the kernel has no init to run.
    pub init_argv_addr: u64,
    pub init_argv_len: u64,
    /// Guest-physical range of the variables init's environment gets on
    /// top of the kernel's defaults (`PATH`, `HOME`, `TERM`): `KEY=VALUE`
    /// strings, each NUL-terminated, back to back; zero length for none.
    pub init_envp_addr: u64,
    pub init_envp_len: u64,
    /// Guest-physical range of init's working directory (an absolute
    /// path, not NUL-terminated); zero length for `/`.
    pub init_cwd_addr: u64,
    pub init_cwd_len: u64,
    /// The user and group init runs as (0 and 0: root, with every
    /// capability; anyone else has none, as after Linux's `execve`).
    pub init_uid: u32,
    pub init_gid: u32,
    /// Guest-physical base of the stats channel's virtio-mmio registers
    /// (`stats::STATS_MMIO_BASE`); 0 when the VMM has no such device.
    pub stats_mmio_base: u64,
    /// Its interrupt line (GSI).
    pub stats_irq: u32,
    pub _pad2: u32,
    /// Number of valid entries in `e820`.
    pub e820_nr: u32,
    pub _pad: u32,
    pub e820: [E820Entry; E820_MAX_ENTRIES],
}

impl BootInfo {
    pub const fn empty() -> Self {
        Self {
            magic: BOOT_INFO_MAGIC,
            version: BOOT_PROTOCOL_VERSION,
            size: core::mem::size_of::<BootInfo>() as u32,
            ram_size: 0,
            cmdline_addr: 0,
            cmdline_len: 0,
            boot_pgtable_start: 0,
            boot_pgtable_end: 0,
            initramfs_addr: 0,
            initramfs_len: 0,
            init_argv_addr: 0,
            init_argv_len: 0,
            init_envp_addr: 0,
            init_envp_len: 0,
            init_cwd_addr: 0,
            init_cwd_len: 0,
            init_uid: 0,
            init_gid: 0,
            stats_mmio_base: 0,
            stats_irq: 0,
            _pad2: 0,
            e820_nr: 0,
            _pad: 0,
            e820: [E820Entry::new(0, 0, 0); E820_MAX_ENTRIES],
        }
    }

    /// The valid part of the E820 table (clamped to the capacity, since the
    /// count comes from the other side).
    pub fn e820_entries(&self) -> &[E820Entry] {
        let n = (self.e820_nr as usize).min(E820_MAX_ENTRIES);
        &self.e820[..n]
    }

    /// Checks magic, version and size; `Err` says what is wrong.
    pub fn validate(&self) -> Result<(), BootInfoError> {
        if self.magic != BOOT_INFO_MAGIC {
            return Err(BootInfoError::BadMagic(self.magic));
        }
        if self.version != BOOT_PROTOCOL_VERSION {
            return Err(BootInfoError::VersionMismatch { vmm: self.version, kernel: BOOT_PROTOCOL_VERSION });
        }
        if self.size as usize != core::mem::size_of::<BootInfo>() {
            return Err(BootInfoError::SizeMismatch { vmm: self.size, kernel: core::mem::size_of::<BootInfo>() as u32 });
        }
        Ok(())
    }
}

/// Why a [`BootInfo`] was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    BadMagic(u64),
    VersionMismatch { vmm: u32, kernel: u32 },
    SizeMismatch { vmm: u32, kernel: u32 },
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "boot info has bad magic {m:#x}"),
            Self::VersionMismatch { vmm, kernel } => {
                write!(f, "boot protocol version mismatch: VMM speaks v{vmm}, kernel v{kernel}")
            }
            Self::SizeMismatch { vmm, kernel } => {
                write!(f, "boot info size mismatch: VMM wrote {vmm} bytes, kernel expects {kernel}")
            }
        }
    }
}

/// `PanicReport::magic`.
pub const PANIC_REPORT_MAGIC: u64 = u64::from_le_bytes(*b"RVMMPANC");

/// Capacity of [`PanicReport::msg`].
pub const PANIC_MSG_MAX: usize = 512;

/// What went wrong, in [`PanicReport::kind`].
pub const PANIC_KIND_PANIC: u32 = 0;
pub const PANIC_KIND_EXCEPTION: u32 = 1;

/// What the kernel tells the VMM when it panics: it fills one of these in
/// guest memory below 4 GiB and writes its physical address to
/// [`crate::ports::PORT_PANIC`].
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PanicReport {
    pub magic: u64,
    /// `PANIC_KIND_*`.
    pub kind: u32,
    /// Exception vector, for `PANIC_KIND_EXCEPTION`.
    pub vector: u32,
    pub error_code: u64,
    /// Where the kernel was when it failed (the faulting instruction for an
    /// exception, the panic handler's caller otherwise).
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub cr2: u64,
    pub cr3: u64,
    /// Valid bytes of `msg` (UTF-8).
    pub msg_len: u32,
    pub _pad: u32,
    pub msg: [u8; PANIC_MSG_MAX],
}

impl PanicReport {
    pub const fn empty() -> Self {
        Self {
            magic: PANIC_REPORT_MAGIC,
            kind: PANIC_KIND_PANIC,
            vector: 0,
            error_code: 0,
            rip: 0,
            rsp: 0,
            rflags: 0,
            cr2: 0,
            cr3: 0,
            msg_len: 0,
            _pad: 0,
            msg: [0; PANIC_MSG_MAX],
        }
    }

    /// The message, lossily: the other side controls the bytes.
    pub fn message(&self) -> &[u8] {
        &self.msg[..(self.msg_len as usize).min(PANIC_MSG_MAX)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_info_validation_names_the_mismatch() {
        let mut info = BootInfo::empty();
        assert_eq!(info.validate(), Ok(()));
        info.version = BOOT_PROTOCOL_VERSION + 1;
        assert_eq!(info.validate(), Err(BootInfoError::VersionMismatch { vmm: BOOT_PROTOCOL_VERSION + 1, kernel: BOOT_PROTOCOL_VERSION }));
        info = BootInfo::empty();
        info.magic = 0;
        assert!(matches!(info.validate(), Err(BootInfoError::BadMagic(0))));
        info = BootInfo::empty();
        info.size -= 8;
        assert!(matches!(info.validate(), Err(BootInfoError::SizeMismatch { .. })));
        // A count from the other side never reads past the table.
        info = BootInfo::empty();
        info.e820_nr = u32::MAX;
        assert_eq!(info.e820_entries().len(), E820_MAX_ENTRIES);
    }
}
