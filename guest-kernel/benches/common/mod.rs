//! Shared by the host benchmarks: criterion settings, the TSC, fixed-count
//! timing loops and a measurement of the core clock, so ns convert to
//! cycles the same way in every table of BENCHMARKS.md.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use criterion::Criterion;

/// Short runs: 1 s warm-up, 3 s measurement, 50 samples.
pub fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(50)
}

#[cfg(target_arch = "x86_64")]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no preconditions; user mode may execute it unless
    // CR4.TSD is set, which no mainstream OS does.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn rdtsc() -> u64 {
    0
}

/// ns and TSC ticks per call of `f`, over `n` calls, best of 5.
pub fn time(n: u64, mut f: impl FnMut()) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let (t0, c0) = (Instant::now(), rdtsc());
        for _ in 0..n {
            f();
        }
        let (c1, t1) = (rdtsc(), Instant::now());
        let ns = t1.duration_since(t0).as_nanos() as f64 / n as f64;
        if ns < best.0 {
            best = (ns, (c1 - c0) as f64 / n as f64);
        }
    }
    best
}

/// The core clock in MHz: a loop of 8 dependent adds per iteration runs at
/// one add per cycle (the loop counter runs alongside).
#[cfg(target_arch = "x86_64")]
pub fn core_mhz() -> Option<f64> {
    const ITERS: u64 = 50_000_000;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        // SAFETY: register arithmetic only; no memory, no stack.
        unsafe {
            core::arch::asm!(
                "2:",
                "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) ITERS => _,
                x = inout(reg) 0u64 => _,
                options(nomem, nostack),
            );
        }
        best = best.min(t0.elapsed().as_nanos() as f64);
    }
    Some(8.0 * ITERS as f64 / best * 1000.0)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn core_mhz() -> Option<f64> {
    None
}
