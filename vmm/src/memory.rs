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

/// Asks the host for transparent huge pages behind guest RAM
/// (`MADV_HUGEPAGE` on each region): one host fault then backs 2 MiB of
/// guest memory, and the guest's own huge pages are huge in the host's
/// page tables too. Whether the host took the advice for every region (a
/// host without THP refuses it with `EINVAL`).
pub fn advise_hugepages(mem: &GuestMemoryMmap) -> bool {
    mem.iter().all(|region| {
        let Ok(host) = region.get_host_address(vm_memory::MemoryRegionAddress(0)) else { return false };
        // SAFETY: `host..host + len` is the region's live anonymous mapping, owned by `mem`; MADV_HUGEPAGE only changes how the host backs it, never its contents.
        unsafe { libc::madvise(host.cast(), region.len() as usize, libc::MADV_HUGEPAGE) == 0 }
    })
}

/// Bytes of guest RAM the host backs with huge pages now (`AnonHugePages`
/// of the regions' mappings in `/proc/self/smaps`); 0 when it cannot be
/// read.
pub fn host_hugepage_bytes(mem: &GuestMemoryMmap) -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
    let ranges: Vec<(u64, u64)> =
        mem.iter().filter_map(|r| r.get_host_address(vm_memory::MemoryRegionAddress(0)).ok().map(|h| (h as u64, h as u64 + r.len()))).collect();
    let mut inside = false;
    let mut kb = 0;
    for line in smaps.lines() {
        if let Some((start, end)) = smaps_range(line) {
            inside = ranges.iter().any(|&(s, e)| start < e && end > s);
        } else if let (true, Some(v)) = (inside, line.strip_prefix("AnonHugePages:")) {
            kb += v.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
        }
    }
    kb << 10
}

/// The address range of an smaps header line (`START-END perms ...`).
fn smaps_range(line: &str) -> Option<(u64, u64)> {
    let (range, rest) = line.split_once(' ')?;
    let (s, e) = range.split_once('-')?;
    (!rest.is_empty()).then_some(())?;
    Some((u64::from_str_radix(s, 16).ok()?, u64::from_str_radix(e, 16).ok()?))
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
