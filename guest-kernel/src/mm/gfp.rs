//! GFP ("get free pages") flags: how an allocation may behave, which zones
//! it may use, and the usual combinations of both.
//!
//! Bit values are Linux's (`include/linux/gfp_types.h`), so `mode:0x...` in
//! a failure report reads the same. The type flags are composed exactly as
//! seed 003's table gives them, with `__GFP_WAIT` ("may sleep") being
//! today's `__GFP_DIRECT_RECLAIM`.

use core::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Gfp(pub u32);

// Zone modifiers.
pub const __GFP_DMA: Gfp = Gfp(0x01);
pub const __GFP_HIGHMEM: Gfp = Gfp(0x02);
pub const __GFP_DMA32: Gfp = Gfp(0x04);
// Behaviour.
/// May use the emergency reserves: dip below the min watermark.
pub const __GFP_HIGH: Gfp = Gfp(0x20);
/// May start disk I/O.
pub const __GFP_IO: Gfp = Gfp(0x40);
/// May call into the filesystem.
pub const __GFP_FS: Gfp = Gfp(0x80);
/// Return zeroed pages.
pub const __GFP_ZERO: Gfp = Gfp(0x100);
/// May sleep and reclaim memory (seed 003's `__GFP_WAIT`).
pub const __GFP_DIRECT_RECLAIM: Gfp = Gfp(0x400);
pub const __GFP_WAIT: Gfp = __GFP_DIRECT_RECLAIM;
/// Print no failure warning.
pub const __GFP_NOWARN: Gfp = Gfp(0x2000);
/// Retry reclaim harder before failing (seed 003's `__GFP_REPEAT`).
pub const __GFP_RETRY_MAYFAIL: Gfp = Gfp(0x4000);
pub const __GFP_REPEAT: Gfp = __GFP_RETRY_MAYFAIL;
/// Must not fail: retry, then use the reserves.
pub const __GFP_NOFAIL: Gfp = Gfp(0x8000);
/// Give up after one round of reclaim.
pub const __GFP_NORETRY: Gfp = Gfp(0x10000);
/// Compound page: head and tail pages know each other.
pub const __GFP_COMP: Gfp = Gfp(0x40000);
/// Prefer a cache-cold page (seed 003's `__GFP_COLD`; from the cold end of
/// the per-CPU list).
pub const __GFP_COLD: Gfp = Gfp(0x0100_0000);
/// This kernel's own bit, not Linux's: never failed by fault injection
/// (`fail_page_alloc=`, `failslab=`). The Rust heap (`GlobalAlloc`) asks
/// with it: the collections on it cannot take a failure back (an
/// allocation they cannot get stops the kernel), so injecting one there
/// tests nothing but that.
pub const __GFP_NO_INJECT: Gfp = Gfp(0x4000_0000);

// Type flags, from seed 003's table.
pub const GFP_ATOMIC: Gfp = __GFP_HIGH;
pub const GFP_NOWAIT: Gfp = Gfp(0);
pub const GFP_NOIO: Gfp = __GFP_WAIT;
pub const GFP_NOFS: Gfp = Gfp(__GFP_WAIT.0 | __GFP_IO.0);
pub const GFP_KERNEL: Gfp = Gfp(__GFP_WAIT.0 | __GFP_IO.0 | __GFP_FS.0);
pub const GFP_USER: Gfp = GFP_KERNEL;
pub const GFP_HIGHUSER: Gfp = Gfp(GFP_USER.0 | __GFP_HIGHMEM.0);
pub const GFP_DMA: Gfp = __GFP_DMA;

impl Gfp {
    pub const fn contains(self, other: Gfp) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub const fn union(self, other: Gfp) -> Gfp {
        Gfp(self.0 | other.0)
    }
    pub const fn without(self, other: Gfp) -> Gfp {
        Gfp(self.0 & !other.0)
    }
    pub const fn can_direct_reclaim(self) -> bool {
        self.contains(__GFP_DIRECT_RECLAIM)
    }
}

impl core::ops::BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, rhs: Gfp) -> Gfp {
        self.union(rhs)
    }
}

/// Linux's `%pGg`: the type flag a mask starts with, then the remaining bits
/// by name.
impl fmt::Debug for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const TYPES: [(Gfp, &str); 6] = [
            (GFP_HIGHUSER, "GFP_HIGHUSER"),
            (GFP_KERNEL, "GFP_KERNEL"),
            (GFP_NOFS, "GFP_NOFS"),
            (GFP_NOIO, "GFP_NOIO"),
            (GFP_ATOMIC, "GFP_ATOMIC"),
            (GFP_DMA, "GFP_DMA"),
        ];
        const BITS: [(Gfp, &str); 16] = [
            (__GFP_DMA, "__GFP_DMA"),
            (__GFP_HIGHMEM, "__GFP_HIGHMEM"),
            (__GFP_DMA32, "__GFP_DMA32"),
            (__GFP_HIGH, "__GFP_HIGH"),
            (__GFP_IO, "__GFP_IO"),
            (__GFP_FS, "__GFP_FS"),
            (__GFP_ZERO, "__GFP_ZERO"),
            (__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
            (__GFP_NOWARN, "__GFP_NOWARN"),
            (__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
            (__GFP_NOFAIL, "__GFP_NOFAIL"),
            (__GFP_NORETRY, "__GFP_NORETRY"),
            (__GFP_COMP, "__GFP_COMP"),
            (__GFP_COLD, "__GFP_COLD"),
            (__GFP_NO_INJECT, "__GFP_NO_INJECT"),
            (Gfp(0), ""),
        ];
        let mut rest = *self;
        let mut first = true;
        let mut put = |f: &mut fmt::Formatter<'_>, name: &str| {
            let sep = if first { "" } else { "|" };
            first = false;
            write!(f, "{sep}{name}")
        };
        if let Some((t, name)) = TYPES.iter().find(|(t, _)| self.contains(*t)) {
            put(f, name)?;
            rest = rest.without(*t);
        }
        for (bit, name) in BITS.iter().filter(|(b, _)| b.0 != 0) {
            if rest.contains(*bit) {
                put(f, name)?;
                rest = rest.without(*bit);
            }
        }
        if rest.0 != 0 {
            put(f, "")?;
            write!(f, "{:#x}", rest.0)?;
        }
        if self.0 == 0 {
            f.write_str("GFP_NOWAIT")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_flags_compose_as_the_seed_says() {
        assert_eq!(GFP_ATOMIC, __GFP_HIGH);
        assert_eq!(GFP_NOWAIT.0, 0);
        assert_eq!(GFP_KERNEL, __GFP_WAIT | __GFP_IO | __GFP_FS);
        assert_eq!(GFP_USER, GFP_KERNEL);
        assert_eq!(GFP_HIGHUSER, GFP_USER | __GFP_HIGHMEM);
        assert_eq!(GFP_DMA, __GFP_DMA);
        assert!(GFP_KERNEL.can_direct_reclaim() && !GFP_ATOMIC.can_direct_reclaim());
    }

    #[test]
    fn names_like_linux() {
        assert_eq!(format!("{:?}", GFP_KERNEL), "GFP_KERNEL");
        assert_eq!(format!("{:?}", GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN), "GFP_KERNEL|__GFP_ZERO|__GFP_NOWARN");
        assert_eq!(format!("{:?}", GFP_HIGHUSER), "GFP_HIGHUSER");
        assert_eq!(format!("{:?}", GFP_ATOMIC | __GFP_DMA), "GFP_ATOMIC|__GFP_DMA");
        assert_eq!(format!("{:?}", GFP_NOWAIT), "GFP_NOWAIT");
        assert_eq!(format!("{:?}", Gfp(0x8000_0000)), "0x80000000");
    }
}
