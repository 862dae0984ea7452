//! Guest-physical and kernel-virtual memory layout.
//!
//! ```text
//! guest physical                           what
//! 0x0000_0000 ..  0x0000_0500              real-mode IVT/BDA area (reserved by the kernel)
//! 0x0000_0500 ..  0x0000_0520              boot GDT (BOOT_GDT_ADDR)
//! 0x0000_7000 ..  0x0000_8000              BootInfo (BOOT_INFO_ADDR)
//! 0x0000_9000 ..  0x0000_c000              boot page tables: PML4, PDPT, PD (BOOT_PGTABLE_*)
//! 0x0002_0000 ..  0x0002_1000              kernel command line (CMDLINE_ADDR)
//! 0x0002_1000 ..  0x0003_0000              init's argv, NUL-terminated strings (INIT_ARGV_ADDR, INIT_ARGV_MAX)
//! 0x000a_0000 ..  0x0010_0000              legacy hole (VGA, option ROMs, BIOS): E820 reserved
//! 0x0100_0000 ..  kernel end               kernel image, loaded at 16 MiB (KERNEL_PHYS_START)
//! 2M-aligned  ..                           initramfs (cpio newc), only with an init program: the first
//!   above the kernel end                   page-aligned spot at or above that which lies wholly inside
//!                                          one E820 RAM range (BootInfo::initramfs_addr/len)
//!             ..  min(RAM, 3 GiB)          RAM
//! 0xc000_0000 ..  0x1_0000_0000            MMIO hole (devices), E820 reserved, when RAM > 3 GiB
//! 0x1_0000_0000 ..                         the rest of RAM
//! ```
//!
//! Everything below 1 MiB is reserved by the kernel at boot (memblock) and
//! kept clear of `--mem-hole`s by the VMM; the initramfs is ordinary E820
//! RAM that the kernel must reserve itself before it allocates.
//!
//! The VMM's boot page tables map the first 1 GiB of physical memory at
//! [`START_KERNEL_MAP`] with 2 MiB pages, nothing else. The kernel builds its
//! own tables (direct map at [`PAGE_OFFSET`], the kernel image at
//! `START_KERNEL_MAP + phys`) and leaves the boot tables behind.

/// Boot GDT: null, 64-bit code (selector 0x08), data (selector 0x10).
pub const BOOT_GDT_ADDR: u64 = 0x500;
/// Where the VMM writes the [`crate::boot::BootInfo`].
pub const BOOT_INFO_ADDR: u64 = 0x7000;
/// Boot page tables: PML4, PDPT and one PD (1 GiB of 2 MiB pages).
pub const BOOT_PGTABLE_START: u64 = 0x9000;
pub const BOOT_PGTABLE_END: u64 = 0xc000;
/// Kernel command line and its capacity.
pub const CMDLINE_ADDR: u64 = 0x2_0000;
pub const CMDLINE_MAX: usize = 4096;
/// Init's argument vector (`BootInfo::init_argv_addr`): `argv[0]` (init's
/// path in the initramfs) and its arguments, each NUL-terminated, back to
/// back; then its environment and working directory
/// (`BootInfo::init_envp_addr`, `init_cwd_addr`); at most
/// [`INIT_ARGV_MAX`] bytes in all. Right after the command line page, in
/// the low memory the kernel reserves, like the command line.
pub const INIT_ARGV_ADDR: u64 = 0x2_1000;
pub const INIT_ARGV_MAX: usize = 60 << 10;

/// End of conventional low memory (640 KiB) and start of extended memory.
pub const LOW_RAM_END: u64 = 0xa_0000;
pub const HIGH_RAM_START: u64 = 0x10_0000;

/// The kernel image is loaded here (16 MiB), above ZONE_DMA's interesting part.
pub const KERNEL_PHYS_START: u64 = 0x100_0000;

/// The MMIO hole below 4 GiB where devices live.
pub const MMIO_HOLE_START: u64 = 0xc000_0000;
pub const MMIO_HOLE_END: u64 = 0x1_0000_0000;

/// Smallest guest RAM the kernel boots in.
pub const MIN_RAM_SIZE: u64 = 32 << 20;
/// Largest guest RAM the VMM will create (the direct map covers 64 TiB).
pub const MAX_RAM_SIZE: u64 = 1 << 40;

/// Kernel-virtual address of physical 0 in the kernel-image mapping
/// (Linux: `__START_KERNEL_map`).
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// Kernel-virtual address of physical 0 in the direct map (Linux x86-64:
/// `PAGE_OFFSET` without KASLR).
pub const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;

pub const PAGE_SIZE: u64 = 4096;

// The argv area follows the command line and stays in conventional memory.
const _: () = assert!(CMDLINE_ADDR + CMDLINE_MAX as u64 <= INIT_ARGV_ADDR);
const _: () = assert!(BOOT_PGTABLE_END <= CMDLINE_ADDR);
const _: () = assert!(INIT_ARGV_ADDR + INIT_ARGV_MAX as u64 <= LOW_RAM_END);
const _: () = assert!(INIT_ARGV_ADDR.is_multiple_of(PAGE_SIZE) && (INIT_ARGV_MAX as u64).is_multiple_of(PAGE_SIZE));

/// The VMM's virtio-mmio devices other than the stats channel (the block
/// devices of `--swap`): device `i` has the 4 KiB register window at
/// `VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE` and interrupt line (GSI)
/// `VIRTIO_IRQ_BASE + i`, right above the stats device's window. The
/// kernel learns of each from its command line as Linux does without a
/// device tree: `virtio_mmio.device=4K@0xd0001000:16`.
pub const VIRTIO_MMIO_BASE: u64 = 0xd000_1000;
pub const VIRTIO_MMIO_SIZE: u64 = 0x1000;
pub const VIRTIO_IRQ_BASE: u32 = 16;
/// At most this many (IOAPIC lines 16 to 23).
pub const VIRTIO_MMIO_MAX: usize = 8;
