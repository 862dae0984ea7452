//! Allocation-failure injection (Linux `lib/fault-inject.c` with its
//! `fail_page_alloc` and `failslab` attributes): with
//! `fail_page_alloc=PROB[,INTERVAL,TIMES]` or `failslab=...` on the command
//! line, page or slab allocations fail on purpose, so that the paths that
//! handle running out of memory run. PROB is the percentage of eligible
//! calls that fail, INTERVAL makes only every INTERVAL-th call eligible
//! (default 1), TIMES caps the failures (default -1: no cap); `fail_seed=N`
//! makes the choice repeatable. `__GFP_NOFAIL` requests never fail.
//!
//! Linux by default spares sleeping and HighMem allocations
//! (`ignore-gfp-wait`, `ignore-gfp-highmem`), which leaves little to fail
//! in a small kernel; here every request is eligible. The kernel arms
//! injection when init starts (the boot itself is not failed) and disarms
//! it when init has exited, before the leak check.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

/// One fault attribute: when to fail, and how often it did.
pub struct FaultAttr {
    configured: AtomicBool,
    armed: AtomicBool,
    /// Percent of eligible calls that fail.
    probability: AtomicU32,
    interval: AtomicU64,
    /// Failures left (negative: no cap).
    times: AtomicI64,
    /// Calls seen while armed.
    calls: AtomicU64,
    rng: AtomicU64,
    injected: AtomicU64,
}

impl Default for FaultAttr {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultAttr {
    pub const fn new() -> Self {
        Self {
            configured: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            probability: AtomicU32::new(0),
            interval: AtomicU64::new(1),
            times: AtomicI64::new(-1),
            calls: AtomicU64::new(0),
            rng: AtomicU64::new(1),
            injected: AtomicU64::new(0),
        }
    }

    /// Parses `PROB[,INTERVAL,TIMES]` (the command line's value).
    pub fn setup(&self, text: &str, seed: u64) -> Result<(), &'static str> {
        let mut parts = text.split(',');
        let probability: u32 = parts.next().and_then(|p| p.parse().ok()).filter(|&p| p <= 100).ok_or("PROB must be 0 to 100")?;
        let interval: u64 = match parts.next() {
            Some(i) => i.parse().ok().filter(|&i| i >= 1).ok_or("INTERVAL must be 1 or more")?,
            None => 1,
        };
        let times: i64 = match parts.next() {
            Some(t) => t.parse().map_err(|_| "TIMES must be a number (-1: no cap)")?,
            None => -1,
        };
        if parts.next().is_some() {
            return Err("expected PROB[,INTERVAL,TIMES]");
        }
        self.probability.store(probability, Relaxed);
        self.interval.store(interval, Relaxed);
        self.times.store(times, Relaxed);
        self.rng.store(seed | 1, Relaxed);
        self.configured.store(true, Relaxed);
        Ok(())
    }

    /// Starts failing (if configured).
    pub fn arm(&self) {
        self.armed.store(self.configured.load(Relaxed), Relaxed);
    }

    pub fn disarm(&self) {
        self.armed.store(false, Relaxed);
    }

    pub fn is_configured(&self) -> bool {
        self.configured.load(Relaxed)
    }

    /// Failures injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Relaxed)
    }

    /// Whether this call fails (Linux `should_fail`). One load when off.
    #[inline(always)]
    pub fn should_fail(&self) -> bool {
        self.armed.load(Relaxed) && self.should_fail_armed()
    }

    #[cold]
    #[inline(never)]
    fn should_fail_armed(&self) -> bool {
        if self.times.load(Relaxed) == 0 {
            return false;
        }
        let n = self.calls.fetch_add(1, Relaxed) + 1;
        if !n.is_multiple_of(self.interval.load(Relaxed)) {
            return false;
        }
        // xorshift64: repeatable from the seed.
        let mut x = self.rng.load(Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Relaxed);
        if x % 100 >= u64::from(self.probability.load(Relaxed)) {
            return false;
        }
        if self.times.load(Relaxed) > 0 {
            self.times.fetch_sub(1, Relaxed);
        }
        self.injected.fetch_add(1, Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_until_armed_then_as_configured() {
        let a = FaultAttr::new();
        assert!(!a.should_fail());
        a.setup("100", 7).unwrap();
        assert!(!a.should_fail(), "configured but not armed");
        a.arm();
        assert!((0..10).all(|_| a.should_fail()));
        a.disarm();
        assert!(!a.should_fail());
    }

    #[test]
    fn interval_times_and_probability() {
        let a = FaultAttr::new();
        a.setup("100,3,2", 1).unwrap();
        a.arm();
        let fails: Vec<bool> = (0..12).map(|_| a.should_fail()).collect();
        assert_eq!(fails.iter().filter(|&&f| f).count(), 2, "TIMES caps: {fails:?}");
        assert!(fails[2] && fails[5] && !fails[0] && !fails[1], "every 3rd call: {fails:?}");
        let b = FaultAttr::new();
        b.setup("25", 42).unwrap();
        b.arm();
        let n = (0..10_000).filter(|_| b.should_fail()).count();
        assert!((2_000..3_000).contains(&n), "about a quarter: {n}");
        // The same seed, the same choices.
        let c = FaultAttr::new();
        c.setup("25", 42).unwrap();
        c.arm();
        assert_eq!((0..10_000).filter(|_| c.should_fail()).count(), n);
    }

    #[test]
    fn bad_values_are_refused() {
        let a = FaultAttr::new();
        for bad in ["", "101", "x", "10,0", "10,1,x", "10,1,1,1"] {
            assert!(a.setup(bad, 1).is_err(), "{bad}");
        }
        assert!(!a.is_configured());
    }
}
