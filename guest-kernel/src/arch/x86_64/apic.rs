//! The local APIC in x2APIC mode (MSR access, nothing to map): a periodic
//! timer for preemption and sleeping, and end-of-interrupt. KVM's in-kernel
//! LAPIC counts at 1 GHz (its bus cycle is 1 ns).

use super::cpu::{cpuid, rdmsr, wrmsr};

const MSR_APIC_BASE: u32 = 0x1b;
const APIC_BASE_EN: u64 = 1 << 11;
const APIC_BASE_EXTD: u64 = 1 << 10;
const MSR_X2APIC_EOI: u32 = 0x80b;
const MSR_X2APIC_SVR: u32 = 0x80f;
const MSR_X2APIC_LVT_TIMER: u32 = 0x832;
const MSR_X2APIC_TMICT: u32 = 0x838;
const MSR_X2APIC_TDCR: u32 = 0x83e;
/// The vector of the timer interrupt.
pub const TIMER_VECTOR: u64 = 32;
/// The spurious-interrupt vector (never delivered through a stub we have;
/// only the SVR needs one).
const SPURIOUS_VECTOR: u64 = 0xff;
/// APIC timer ticks per millisecond at KVM's 1 GHz APIC bus, divide by 1.
const TICKS_PER_MS: u64 = 1_000_000;

/// Whether the CPU has an x2APIC (CPUID.1:ECX bit 21).
pub fn has_x2apic() -> bool {
    cpuid(1, 0).ecx & (1 << 21) != 0
}

/// Switches the local APIC to x2APIC mode with a one-shot timer, first
/// firing in `first_ns`; [`arm_timer`] sets each next one. Returns false
/// (and changes nothing) without x2APIC.
pub fn start_timer(first_ns: u64) -> bool {
    if !has_x2apic() {
        return false;
    }
    // SAFETY: the architectural way to enable the x2APIC (EN, then EXTD), software-enable it with a spurious vector, and program its timer; interrupts stay masked by RFLAGS.IF until user mode or idle.
    unsafe {
        let base = rdmsr(MSR_APIC_BASE);
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN);
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
        wrmsr(MSR_X2APIC_SVR, (1 << 8) | SPURIOUS_VECTOR);
        wrmsr(MSR_X2APIC_TDCR, 0b1011); // divide by 1
        wrmsr(MSR_X2APIC_LVT_TIMER, TIMER_VECTOR);
        wrmsr(MSR_X2APIC_TMICT, ns_to_count(first_ns));
    }
    true
}

/// The timer's initial count for `ns` nanoseconds (at least one count;
/// 0 would stop it).
fn ns_to_count(ns: u64) -> u64 {
    (ns.saturating_mul(TICKS_PER_MS) / 1_000_000).clamp(1, u64::from(u32::MAX))
}

/// Fires the one-shot timer `ns` nanoseconds from now (replacing what
/// was armed).
pub fn arm_timer(ns: u64) {
    // SAFETY: writing the x2APIC timer's initial count restarts its countdown; nothing else changes.
    unsafe { wrmsr(MSR_X2APIC_TMICT, ns_to_count(ns)) };
}

/// Acknowledges the interrupt being handled.
pub fn eoi() {
    // SAFETY: writing 0 to the x2APIC EOI register only ends the current interrupt.
    unsafe { wrmsr(MSR_X2APIC_EOI, 0) };
}
