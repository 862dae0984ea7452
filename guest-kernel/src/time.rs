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

/// The TSC frequency found by [`calibrate`] (0 before).
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
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

/// Wall-clock time at uptime 0 (ns since the Unix epoch, UTC): set from
/// the CMOS clock at boot ([`read_rtc`]) and by `clock_settime`.
static REALTIME_AT_BOOT: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);

/// `CLOCK_REALTIME` now, ns since the epoch.
pub fn realtime_ns() -> i64 {
    REALTIME_AT_BOOT.load(Ordering::Relaxed).saturating_add(i64::try_from(uptime_ns()).unwrap_or(i64::MAX))
}

/// Sets `CLOCK_REALTIME` to `ns` since the epoch (`clock_settime`,
/// `settimeofday`); the monotonic clocks go on undisturbed.
pub fn set_realtime_ns(ns: i64) {
    REALTIME_AT_BOOT.store(ns.saturating_sub(i64::try_from(uptime_ns()).unwrap_or(i64::MAX)), Ordering::Relaxed);
}

/// The uptime (ns) at which `CLOCK_REALTIME` reads `ns` (0 if that was
/// before boot): how an absolute wall-clock deadline becomes a sleep's.
pub fn uptime_at_realtime(ns: i64) -> u64 {
    u64::try_from(ns.saturating_sub(REALTIME_AT_BOOT.load(Ordering::Relaxed))).unwrap_or(0)
}

/// Reads the date and time from the CMOS clock (Linux
/// `mach_get_cmos_time`): waits out an update in progress, reads until two
/// readings agree, decodes BCD and 12-hour values. Returns the Unix time
/// it set `CLOCK_REALTIME` to, or `None` (the clock left at the epoch)
/// where there is no valid clock.
pub fn read_rtc() -> Option<i64> {
    use crate::arch::cpu::{inb, outb};
    use shared::rtc::*;
    let reg = |r: u8| {
        outb(PORT_INDEX, r);
        inb(PORT_DATA)
    };
    if reg(REG_STATUS_D) & STATUS_D_VALID == 0 || reg(REG_STATUS_D) == 0xff {
        return None;
    }
    let read_all = || {
        for _ in 0..1_000_000 {
            if reg(REG_STATUS_A) & STATUS_A_UIP == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        [REG_SECONDS, REG_MINUTES, REG_HOURS, REG_DAY, REG_MONTH, REG_YEAR, REG_CENTURY].map(reg)
    };
    let mut raw = read_all();
    for _ in 0..10 {
        let again = read_all();
        if again == raw {
            break;
        }
        raw = again;
    }
    let status_b = reg(REG_STATUS_B);
    let decode = |v: u8| if status_b & STATUS_B_BINARY != 0 { v } else { from_bcd(v) };
    let [sec, min, hour, day, month, year, century] = raw;
    let mut h = decode(hour & 0x7f);
    if status_b & STATUS_B_24H == 0 && hour & 0x80 != 0 {
        h = h % 12 + 12;
    }
    let century = match decode(century) {
        c @ 19..=99 => i64::from(c),
        _ => 20,
    };
    let t =
        DateTime { year: century * 100 + i64::from(decode(year)), month: decode(month), day: decode(day), hour: h, minute: decode(min), second: decode(sec) };
    if !(1..=12).contains(&t.month) || !(1..=31).contains(&t.day) || t.hour > 23 || t.minute > 59 || t.second > 60 {
        return None;
    }
    let unix = t.to_unix();
    set_realtime_ns(unix.saturating_mul(1_000_000_000));
    Some(unix)
}
