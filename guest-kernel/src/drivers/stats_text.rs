//! Plain parts of the stats channel, host-tested: the `/proc/meminfo`
//! and `/proc/vmstat` records straight from the counters (checked against
//! the text formatters, which cost far more where ring 0 is emulated),
//! parsers for those texts, and the `stats_interval=` boot parameter.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;

use crate::mm::page::PhysMem;
use crate::mm::page_alloc::PageAlloc;
use crate::mm::vmstat::si_mem_available;
use crate::mm::zone::{MAX_NR_ZONES, ZONE_HIGHMEM};

/// Number of [`meminfo_pairs`].
pub const NR_MEMINFO: usize = 7;
/// Number of [`vmstat_pairs`].
pub const NR_VMSTAT: usize = 12;

/// What `mm::vmstat::meminfo` prints, as `(name, kB)` in its order.
pub fn meminfo_pairs<M: PhysMem>(alloc: &PageAlloc<M>) -> [(&'static str, u64); NR_MEMINFO] {
    let kb = |pages: u64| pages << 2;
    let high = &alloc.zones[ZONE_HIGHMEM];
    let (totalram, freeram) = (alloc.totalram_pages(), alloc.nr_free_pages());
    let (totalhigh, freehigh) = (high.managed(), high.free_pages());
    [
        ("MemTotal", kb(totalram)),
        ("MemFree", kb(freeram)),
        ("MemAvailable", kb(si_mem_available(alloc))),
        ("HighTotal", kb(totalhigh)),
        ("HighFree", kb(freehigh)),
        ("LowTotal", kb(totalram - totalhigh)),
        ("LowFree", kb(freeram.saturating_sub(freehigh))),
    ]
}

/// What `mm::vmstat::vmstat` prints, as `(name, value)` in its order.
pub fn vmstat_pairs<M: PhysMem>(alloc: &PageAlloc<M>) -> [(&'static str, u64); NR_VMSTAT] {
    const PGALLOC: [&str; MAX_NR_ZONES] = ["pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_high"];
    let e = &alloc.events;
    let z = |i: usize| (PGALLOC[i], alloc.zones[i].pgalloc.load(Relaxed));
    [
        ("nr_free_pages", alloc.nr_free_pages()),
        z(0),
        z(1),
        z(2),
        z(3),
        ("pgfree", e.pgfree.load(Relaxed)),
        ("allocstall", e.allocstall.load(Relaxed)),
        ("pgzero_skipped", e.pgzero_skipped.load(Relaxed)),
        ("pgzero_cleared", e.pgzero_cleared.load(Relaxed)),
        ("deferred_init_blocks", e.deferred_init_blocks.load(Relaxed)),
        ("bad_pages", e.bad_pages.load(Relaxed)),
        ("alloc_failures", e.alloc_failures.load(Relaxed)),
    ]
}

/// Default `stats_interval`, in milliseconds of guest time.
pub const DEFAULT_INTERVAL_MS: u64 = 100;

/// `/proc/meminfo` lines (`Name:   1234 kB`, or `Name: 12` for counts)
/// as `(Name, value)`, in the file's order; lines that do not parse are
/// skipped.
pub fn parse_meminfo(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let mut words = rest.split_ascii_whitespace();
            let value = words.next()?.parse::<u64>().ok()?;
            match words.next() {
                None | Some("kB") => {}
                Some(_) => return None,
            }
            let name = name.trim();
            (!name.is_empty()).then(|| (name.to_string(), value))
        })
        .collect()
}

/// `/proc/vmstat` lines (`name value`) as `(name, value)`, in order;
/// lines that do not parse are skipped.
pub fn parse_vmstat(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_ascii_whitespace();
            let (name, value) = (words.next()?, words.next()?.parse::<u64>().ok()?);
            words.next().is_none().then(|| (name.to_string(), value))
        })
        .collect()
}

/// The value of `stats_interval=` in milliseconds (`None` for a value that
/// is not a number; 0 turns periodic snapshots off). A trailing `ms` is
/// accepted.
pub fn parse_interval_ms(value: &str) -> Option<u64> {
    value.strip_suffix("ms").unwrap_or(value).parse::<u64>().ok()
}

/// An interval in timer ticks at `hz`, rounded up (at least one tick);
/// `None` for 0 (off).
pub fn interval_ticks(ms: u64, hz: u64) -> Option<u64> {
    (ms != 0).then(|| ms.saturating_mul(hz).div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::addr::Pfn;

    fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(n, x)| (n.to_string(), *x)).collect()
    }

    #[test]
    fn meminfo_text_parses_in_order() {
        let text = "MemTotal:         127196 kB\nMemFree:          111520 kB\nMemAvailable:     108000 kB\nHugePages_Total:       0\nbroken line\nBad:   12 MB\nDirectMap2M:      129024 kB\n";
        assert_eq!(
            parse_meminfo(text),
            pairs(&[("MemTotal", 127196), ("MemFree", 111520), ("MemAvailable", 108000), ("HugePages_Total", 0), ("DirectMap2M", 129024)])
        );
        assert!(parse_meminfo("").is_empty());
        assert!(parse_meminfo(":  5 kB\nX: -1 kB\n").is_empty());
    }

    #[test]
    fn the_kernels_own_meminfo_round_trips() {
        // The formatter's layout: name with colon padded to 16, value in 8.
        let mut text = String::new();
        for (name, kb) in [("MemTotal:", 131072u64), ("MemFree:", 7), ("LowFree:", 123456789)] {
            text.push_str(&alloc::format!("{name:<16}{kb:>8} kB\n"));
        }
        assert_eq!(parse_meminfo(&text), pairs(&[("MemTotal", 131072), ("MemFree", 7), ("LowFree", 123456789)]));
    }

    #[test]
    fn vmstat_text_parses_in_order() {
        let text = "nr_free_pages 27880\npgalloc_dma 0\npgfault 1234\n\ntwo words here\nneg -5\ncow_fault 18446744073709551615\n";
        assert_eq!(parse_vmstat(text), pairs(&[("nr_free_pages", 27880), ("pgalloc_dma", 0), ("pgfault", 1234), ("cow_fault", u64::MAX)]));
    }

    /// The records equal what the formatters print, parsed: a change to
    /// either side without the other fails here.
    #[test]
    fn records_match_the_proc_texts() {
        use crate::mm::fake::FakeRam;
        use crate::mm::gfp::{GFP_DMA, GFP_KERNEL};
        use crate::mm::page_alloc::AllocConfig;
        const M: u64 = 256;
        let mut a = PageAlloc::new(FakeRam::new(64 * M, false), [(0, 16 * M), (16 * M, 48 * M), (0, 0), (48 * M, 64 * M)], AllocConfig::default());
        a.add_present(Pfn::new(0), Pfn::new(160));
        a.add_present(Pfn::new(M), Pfn::new(64 * M));
        a.free_boot_range(Pfn::new(M), Pfn::new(64 * M), true);
        a.setup_watermarks();
        let p = a.alloc_pages(GFP_KERNEL, 2).unwrap();
        let _ = a.alloc_pages(GFP_DMA, 0).unwrap();
        a.free_pages(p, 2).unwrap();
        let owned = |v: &[(&str, u64)]| v.iter().map(|(n, x)| (n.to_string(), *x)).collect::<Vec<_>>();
        let mut text = String::new();
        crate::mm::vmstat::meminfo(&a, &crate::mm::vmstat::MemExtra::default(), &mut text).unwrap();
        let parsed = parse_meminfo(&text);
        assert!(owned(&meminfo_pairs(&a)).iter().all(|p| parsed.contains(p)), "{text}");
        assert!(meminfo_pairs(&a)[3].1 > 0, "the test has HighMem");
        let mut text = String::new();
        crate::mm::vmstat::vmstat(&a, &[], &[], &mut text).unwrap();
        // The Linux-named counters the channel sends are the file's.
        let parsed = parse_vmstat(&text);
        for (name, v) in owned(&vmstat_pairs(&a)) {
            if let Some((_, file)) = parsed.iter().find(|(n, _)| *n == name) {
                assert_eq!(*file, v, "{name}");
            }
        }
        assert!(parsed.iter().any(|(n, _)| n == "pgfree"));
    }

    #[test]
    fn interval_parameter() {
        assert_eq!(parse_interval_ms("250"), Some(250));
        assert_eq!(parse_interval_ms("40ms"), Some(40));
        assert_eq!(parse_interval_ms("0"), Some(0));
        assert_eq!(parse_interval_ms("fast"), None);
        assert_eq!(parse_interval_ms(""), None);
        assert_eq!(interval_ticks(100, 100), Some(10));
        assert_eq!(interval_ticks(1, 100), Some(1));
        assert_eq!(interval_ticks(15, 100), Some(2));
        assert_eq!(interval_ticks(0, 100), None);
        assert_eq!(interval_ticks(u64::MAX, 100), Some(u64::MAX / 1000 + 1));
    }
}
