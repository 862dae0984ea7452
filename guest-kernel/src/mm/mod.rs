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
#[cfg(not(target_os = "none"))]
pub mod fake;
#[cfg(target_os = "none")]
pub mod fixmap;
pub mod gfp;
#[cfg(target_os = "none")]
pub mod highmem;
#[cfg(target_os = "none")]
pub mod init;
pub mod kmalloc;
#[cfg(target_os = "none")]
pub mod kmap_selftest;
#[cfg(target_os = "none")]
pub mod kmem;
pub mod memblock;
#[cfg(target_os = "none")]
pub mod memmap;
pub mod memory;
pub mod mmap;
#[cfg(test)]
mod mmap_model;
#[cfg(test)]
mod mmap_proptest;
#[cfg(test)]
mod mmap_tests;
pub mod mprotect;
pub mod mremap;
pub mod page;
pub mod page_alloc;
pub mod pgtable;
#[cfg(target_os = "none")]
pub mod shmem;
pub mod slab;
pub mod slab_debug;
#[cfg(target_os = "none")]
pub mod slab_selftest;
pub mod task_mmu;
#[cfg(target_os = "none")]
pub mod uvm;
pub mod vma;
#[cfg(target_os = "none")]
pub mod vmalloc;
#[cfg(target_os = "none")]
pub mod vmalloc_selftest;
pub mod vmap_area;
pub mod vmstat;
pub mod zone;
