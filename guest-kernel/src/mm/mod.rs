//! Memory management.
//!
//! Boot order, as in Linux's `setup_arch`: the firmware map ([`e820`]) is
//! sanitized and fed to the early allocator ([`memblock`]); the kernel then
//! builds its own page tables ([`pgtable`]) with the direct map of all RAM
//! at `PAGE_OFFSET` and the kernel image at `__START_KERNEL_map`, and
//! switches to them ([`init`]). See [`addr`] for the virtual layout.

pub mod addr;
#[cfg(target_os = "none")]
pub mod buddy;
#[cfg(target_os = "none")]
pub mod buddy_selftest;
pub mod e820;
#[cfg(target_os = "none")]
pub mod fixmap;
#[cfg(target_os = "none")]
pub mod highmem;
#[cfg(not(target_os = "none"))]
pub mod fake;
#[cfg(target_os = "none")]
pub mod init;
#[cfg(target_os = "none")]
pub mod kmap_selftest;
pub mod memblock;
pub mod mmap;
#[cfg(test)]
mod mmap_model;
#[cfg(test)]
mod mmap_proptest;
#[cfg(test)]
mod mmap_tests;
pub mod mprotect;
pub mod mremap;
#[cfg(target_os = "none")]
pub mod memmap;
pub mod gfp;
pub mod kmalloc;
pub mod memory;
pub mod page;
pub mod page_alloc;
pub mod pgtable;
pub mod slab;
pub mod slab_debug;
pub mod task_mmu;
pub mod vma;
pub mod vmstat;
pub mod vmap_area;
#[cfg(target_os = "none")]
pub mod vmalloc;
#[cfg(target_os = "none")]
pub mod kmem;
#[cfg(target_os = "none")]
pub mod slab_selftest;
#[cfg(target_os = "none")]
pub mod vmalloc_selftest;
pub mod zone;
#[cfg(target_os = "none")]
pub mod shmem;
#[cfg(target_os = "none")]
pub mod uvm;
