//! The guest's CPUID: what KVM supports, plus a hypervisor timing leaf.

use kvm_bindings::{kvm_cpuid_entry2, CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuFd};

use crate::error::{Error, Result};

/// The hypervisor leaf range and its timing leaf (the VMware convention,
/// also used by QEMU's `vmware-cpuid-freq`): EAX = TSC kHz, EBX = bus kHz.
const HYPERVISOR_BASE: u32 = 0x4000_0000;
const TIMING_LEAF: u32 = 0x4000_0010;

/// Sets the vCPU's CPUID to what KVM supports, with the initial APIC ID of
/// vCPU 0 and the TSC frequency in the timing leaf so that the guest can
/// calibrate its clock without measuring.
pub fn setup_cpuid(kvm: &Kvm, vcpu: &VcpuFd) -> Result<()> {
    let supported = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(Error::kvm("KVM_GET_SUPPORTED_CPUID"))?;
    let mut entries: Vec<kvm_cpuid_entry2> = supported.as_slice().to_vec();
    let has_hypervisor_leaves = entries.iter().any(|e| e.function == HYPERVISOR_BASE);
    let tsc_khz = vcpu.get_tsc_khz().ok().filter(|&khz| khz > 0 && has_hypervisor_leaves);

    for e in entries.iter_mut() {
        match e.function {
            // Initial APIC ID 0, one logical processor.
            1 => e.ebx &= 0x0000_ffff,
            HYPERVISOR_BASE if tsc_khz.is_some() => e.eax = e.eax.max(TIMING_LEAF),
            _ => {}
        }
    }
    if let Some(khz) = tsc_khz {
        entries.retain(|e| e.function != TIMING_LEAF);
        entries.push(kvm_cpuid_entry2 { function: TIMING_LEAF, eax: khz, ebx: 1_000_000, ..Default::default() });
    }
    let cpuid = CpuId::from_entries(&entries).map_err(|e| Error::Cpuid(format!("{e:?}")))?;
    vcpu.set_cpuid2(&cpuid).map_err(Error::kvm("KVM_SET_CPUID2"))
}
