//! Time since boot, from the TSC.
//!
//! The TSC frequency comes from CPUID: the hypervisor timing leaf
//! (0x40000010, which our VMM fills from `KVM_GET_TSC_KHZ`), else the
//! architectural leaves 0x15 (crystal ratio) and 0x16 (base MHz).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::{cpuid, rdtsc};

static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);

/// Fallback when no CPUID leaf tells: timestamps are then only roughly
/// seconds, and boot says so.
const FALLBACK_KHZ: u64 = 1_000_000;

/// Where the frequency came from, for the boot log.
pub enum TscSource {
    Hypervisor,
    Cpuid15,
    Cpuid16,
    Guess,
}

/// Marks time zero. Call first thing at boot.
pub fn mark_boot() {
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
}

pub fn calibrate() -> (u64, TscSource) {
    let (khz, source) = detect_tsc_khz();
    TSC_KHZ.store(khz, Ordering::Relaxed);
    (khz, source)
}

fn detect_tsc_khz() -> (u64, TscSource) {
    let hv_max = cpuid(0x4000_0000, 0).eax;
    if (0x4000_0010..0x4000_ffff).contains(&hv_max) {
        let khz = cpuid(0x4000_0010, 0).eax as u64;
        if khz != 0 {
            return (khz, TscSource::Hypervisor);
        }
    }
    let max = cpuid(0, 0).eax;
    if max >= 0x15 {
        let l = cpuid(0x15, 0);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return (l.ecx as u64 * l.ebx as u64 / l.eax as u64 / 1000, TscSource::Cpuid15);
        }
    }
    if max >= 0x16 {
        let mhz = cpuid(0x16, 0).eax as u64 & 0xffff;
        if mhz != 0 {
            return (mhz * 1000, TscSource::Cpuid16);
        }
    }
    (FALLBACK_KHZ, TscSource::Guess)
}

/// Nanoseconds since [`mark_boot`].
pub fn uptime_ns() -> u64 {
    let khz = match TSC_KHZ.load(Ordering::Relaxed) {
        0 => FALLBACK_KHZ,
        khz => khz,
    };
    let cycles = rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    (cycles as u128 * 1_000_000 / khz as u128) as u64
}
