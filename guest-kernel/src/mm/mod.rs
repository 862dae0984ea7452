//! Memory management.
//!
//! Boot order, as in Linux's `setup_arch`: the firmware map ([`e820`]) is
//! sanitized and fed to the early allocator ([`memblock`]); the kernel then
//! builds its own page tables ([`pgtable`]) with the direct map of all RAM
//! at `PAGE_OFFSET` and the kernel image at `__START_KERNEL_map`, and
//! switches to them ([`init`]).
//!
//! The virtual address space (x86-64, 4-level paging; Linux's layout):
//!
//! ```text
//! 0x0000_0000_0040_0000  static programs' text (ET_EXEC), then brk's [heap]
//! 0x0000_5555_5555_4000  static-PIE programs (ELF_ET_DYN_BASE)
//!        ...             mmap area, growing down from below the stack
//! 0x0000_7fff_ffff_f000  [stack] top (STACK_TOP = TASK_SIZE), growing down
//! 0x0000_7fff_ffff_f000  the syscall trampoline page (user, read-only, in no VMA)
//! 0x0000_8000_0000_0000  -- non-canonical hole --
//! 0xffff_8880_0000_0000  direct map of lowmem (PAGE_OFFSET; `lowmem=` ends it)
//! 0xffff_c900_0000_0000  vmalloc area, 32 TiB (VMALLOC_START..VMALLOC_END):
//!                        vmalloc, kernel stacks
//! 0xffff_ea00_0000_0000  vmemmap: the `struct page` array (VMEMMAP_START)
//! 0xffff_ffff_8000_0000  kernel image (__START_KERNEL_map + physical)
//! 0xffff_ffff_ff00_0000  PKMAP: permanent kmap slots for HighMem (PKMAP_BASE)
//! 0xffff_ffff_ff40_0000  fixmap: kmap_local/kmap_atomic slots (FIXADDR_START)
//! ```
//!
//! Layers: `mm` imports nothing from `fs`,
//! `proc` or `drivers`; where it must reach a higher layer it calls a hook
//! that layer registers (the user-fault hook in `arch::x86_64::traps` and
//! the truncation hook in `fs::inode` are the models), and each layer
//! creates its own slab caches.
//!
//! `unsafe` code lives only in the thin layer that turns physical memory
//! into Rust references: the memory map (`memmap`), the kernel's
//! `PhysMem` and `UserMem` (`physmem`, `user_mem`), kmap and the fixmap
//! (`highmem`, `fixmap`), vmalloc's page-table access, and the object
//! memory of the slab and kmalloc. The algorithm modules, marked
//! `#[deny(unsafe_code)]` below, have none.

#[deny(unsafe_code)]
pub mod addr;
#[cfg(target_os = "none")]
#[deny(unsafe_code)]
pub mod buddy;
#[cfg(target_os = "none")]
pub mod buddy_selftest;
#[deny(unsafe_code)]
pub mod e820;
#[deny(unsafe_code)]
pub mod errno;
#[cfg(not(target_os = "none"))]
pub mod fake;
#[deny(unsafe_code)]
pub mod fault_inject;
#[cfg(target_os = "none")]
pub mod fixmap;
#[deny(unsafe_code)]
pub mod fork;
#[deny(unsafe_code)]
pub mod gfp;
#[cfg(target_os = "none")]
pub mod highmem;
#[deny(unsafe_code)]
pub mod huge_memory;
#[cfg(target_os = "none")]
pub mod init;
pub mod kmalloc;
#[cfg(target_os = "none")]
pub mod kmap_selftest;
#[cfg(target_os = "none")]
pub mod kmem;
#[deny(unsafe_code)]
pub mod lru;
#[deny(unsafe_code)]
pub mod memblock;
#[cfg(target_os = "none")]
pub mod memmap;
#[deny(unsafe_code)]
pub mod memory;
#[cfg(test)]
mod memory_proptest;
#[deny(unsafe_code)]
pub mod mlock;
#[deny(unsafe_code)]
pub mod mm_types;
#[deny(unsafe_code)]
pub mod mmap;
#[cfg(test)]
mod mmap_model;
#[cfg(test)]
mod mmap_proptest;
#[cfg(test)]
mod mmap_tests;
#[deny(unsafe_code)]
pub mod mprotect;
#[deny(unsafe_code)]
pub mod mremap;
#[deny(unsafe_code)]
pub mod page;
#[deny(unsafe_code)]
pub mod page_alloc;
pub mod page_reporting;
#[deny(unsafe_code)]
pub mod pgtable;
#[cfg(target_os = "none")]
pub mod physmem;
#[deny(unsafe_code)]
pub mod pte;
#[deny(unsafe_code)]
pub mod rmap;
#[cfg(target_os = "none")]
#[deny(unsafe_code)]
pub mod sections;
#[cfg(target_os = "none")]
#[deny(unsafe_code)]
pub mod shmem;
pub mod slab;
pub mod slab_debug;
#[cfg(target_os = "none")]
pub mod slab_selftest;
#[deny(unsafe_code)]
pub mod swap_state;
#[deny(unsafe_code)]
pub mod swapfile;
#[deny(unsafe_code)]
pub mod task_mmu;
#[deny(unsafe_code)]
pub mod tlb;
pub mod user_mem;
#[deny(unsafe_code)]
pub mod util;
#[deny(unsafe_code)]
pub mod uvm;
#[deny(unsafe_code)]
pub mod vma;
#[deny(unsafe_code)]
pub mod vma_box;
#[cfg(target_os = "none")]
pub mod vmalloc;
#[cfg(target_os = "none")]
pub mod vmalloc_selftest;
#[deny(unsafe_code)]
pub mod vmap_area;
#[deny(unsafe_code)]
mod vmap_tree;
#[deny(unsafe_code)]
pub mod vmscan;
#[deny(unsafe_code)]
pub mod vmstat;
#[deny(unsafe_code)]
pub mod zone;
