//! Guest RAM: anonymous host mappings (vm-memory) registered with KVM.
//!
//! The mappings are `MAP_NORESERVE` and untouched, so the host backs a page
//! only when the guest (or the VMM) first touches it: a 5 GiB guest costs
//! what it uses.

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

use crate::e820::ram_ranges;
use crate::error::{Error, Result};

pub fn create_guest_memory(mem_size: u64) -> Result<GuestMemoryMmap> {
    let ranges: Vec<(GuestAddress, usize)> = ram_ranges(mem_size).into_iter().map(|(start, len)| (GuestAddress(start), len as usize)).collect();
    GuestMemoryMmap::from_ranges(&ranges).map_err(|e| Error::GuestMemory(e.to_string()))
}

/// Gives KVM one memory slot per RAM range.
pub fn register_with_kvm(vm: &VmFd, mem: &GuestMemoryMmap) -> Result<()> {
    for (slot, region) in mem.iter().enumerate() {
        let host = region.get_host_address(vm_memory::MemoryRegionAddress(0)).map_err(|e| Error::GuestMemory(e.to_string()))?;
        let region = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the host range [userspace_addr, +memory_size) is a live mapping owned by `mem`, which outlives the VM: the vCPU thread holds a clone of `mem` for as long as it runs the guest, and the VM fd is dropped with it.
        unsafe { vm.set_user_memory_region(region) }.map_err(Error::kvm("KVM_SET_USER_MEMORY_REGION"))?;
    }
    Ok(())
}

/// Bytes of guest RAM the host has resident now (`mincore` over each
/// region): what the guest costs the host, without the VMM's own memory.
pub fn resident_bytes(mem: &GuestMemoryMmap) -> u64 {
    const PAGE: usize = 4096;
    let mut total = 0u64;
    for region in mem.iter() {
        let Ok(host) = region.get_host_address(vm_memory::MemoryRegionAddress(0)) else { continue };
        let len = region.len() as usize;
        let mut vec = vec![0u8; len.div_ceil(PAGE)];
        // SAFETY: `host..host + len` is the region's live mapping (page aligned, owned by `mem`); mincore only reads the page tables and writes one byte per page into `vec`, which has room for them.
        let rc = unsafe { libc::mincore(host.cast(), len, vec.as_mut_ptr()) };
        if rc == 0 {
            total += vec.iter().filter(|&&b| b & 1 != 0).count() as u64 * PAGE as u64;
        }
    }
    total
}
