//! The memory statistics files, in Linux's exact text formats:
//! `/proc/buddyinfo`, `/proc/zoneinfo`, `/proc/vmstat` (`mm/vmstat.c`),
//! `/proc/meminfo` (`fs/proc/meminfo.c`, `arch/x86/mm/pat/set_memory.c`)
//! and the memory report after an allocation failure (`mm/show_mem.c`).
//!
//! The layouts are Linux 6.0's, byte for byte, with the counters this kernel
//! does not keep (page cache, LRU lists, swap, NUMA, CMA, ...) left out
//! rather than printed as zeroes; each function says what it leaves out.
//! The node is always node 0.
//!
//! Counts are copied out under the zone locks and printed after the locks
//! are released, so a writer that is slow (a serial console) or that itself
//! allocates never runs under a zone lock.

use core::fmt::{Result, Write};

use crate::mm::addr::PAGE_SHIFT;
use crate::mm::page::PhysMem;
use crate::mm::page_alloc::PageAlloc;
use crate::mm::zone::*;

use core::sync::atomic::Ordering::Relaxed;

/// Linux `K(x)`: pages to KiB.
const fn k(pages: u64) -> u64 {
    pages << (PAGE_SHIFT - 10)
}

/// `free_area[order].nr_free` for every order, read under the zone lock.
fn free_counts(z: &Zone) -> [u64; MAX_ORDER] {
    let area = z.free_area.lock();
    core::array::from_fn(|o| area.nr_free(o))
}

/// `(count, high, batch)` of every CPU's per-CPU list.
fn pcp_counts(z: &Zone) -> [(u64, u64, u64); NR_CPUS] {
    core::array::from_fn(|cpu| {
        let pcp = z.pcp[cpu].lock();
        (pcp.list.len, pcp.high, pcp.batch)
    })
}

/// The zone's `lowmem_reserve[]`.
fn reserves(z: &Zone) -> [u64; MAX_NR_ZONES] {
    core::array::from_fn(|i| z.reserve(i))
}

/// `/proc/buddyinfo` (Linux `frag_show_print`): the free blocks of each
/// order, one line per populated zone.
///
/// ```text
/// Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3
/// ```
/// Each count is followed by a space, the last one too: the line ends in
/// a space before its newline, as in Linux.
pub fn buddyinfo<M: PhysMem>(alloc: &PageAlloc<M>, w: &mut impl Write) -> Result {
    for z in alloc.zones.iter().filter(|z| z.populated()) {
        let counts = free_counts(z);
        write!(w, "Node 0, zone {:>8} ", z.name)?;
        for n in counts {
            write!(w, "{n:>6} ")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// `/proc/zoneinfo` (Linux `zoneinfo_show_print`), for all four zones.
///
/// Unpopulated zones get Linux's short form: the header, the page counts
/// and the `protection:` line, nothing more.
///
/// Deviations from Linux 6.0:
/// - no `per-node stats` block under the first populated zone (none of the
///   node counters exist here);
/// - of the per-zone counters (`      %-12s %lu`) only `nr_free_pages`,
///   the one this kernel keeps; no NUMA counters;
/// - `boost` and `cma` are always 0 (no watermark boosting, no CMA), as is
///   `vm stats threshold` (counters are exact atomics) and
///   `node_unreclaimable`;
/// - Linux 6.1+ adds a `promo` watermark line after `high`, and 6.7+ prints
///   the per-CPU lines as `count:    `/`high:     `/`batch:    ` followed
///   by `high_min:`/`high_max:`; this follows the older layout.
pub fn zoneinfo<M: PhysMem>(alloc: &PageAlloc<M>, w: &mut impl Write) -> Result {
    for z in &alloc.zones {
        let r = reserves(z);
        writeln!(w, "Node 0, zone {:>8}", z.name)?;
        writeln!(w, "  pages free     {}", z.free_pages())?;
        writeln!(w, "        boost    0")?;
        writeln!(w, "        min      {}", z.wmark(WMARK_MIN))?;
        writeln!(w, "        low      {}", z.wmark(WMARK_LOW))?;
        writeln!(w, "        high     {}", z.wmark(WMARK_HIGH))?;
        writeln!(w, "        spanned  {}", z.spanned_pages)?;
        writeln!(w, "        present  {}", z.present_pages)?;
        writeln!(w, "        managed  {}", z.managed())?;
        writeln!(w, "        cma      0")?;
        write!(w, "        protection: ({}", r[0])?;
        for v in &r[1..] {
            write!(w, ", {v}")?;
        }
        writeln!(w, ")")?;
        if !z.populated() {
            continue;
        }
        writeln!(w, "      {:<12} {}", "nr_free_pages", z.free_pages())?;
        writeln!(w, "  pagesets")?;
        for (cpu, (count, high, batch)) in pcp_counts(z).into_iter().enumerate() {
            writeln!(w, "    cpu: {cpu}")?;
            writeln!(w, "              count: {count}")?;
            writeln!(w, "              high:  {high}")?;
            writeln!(w, "              batch: {batch}")?;
            writeln!(w, "  vm stats threshold: 0")?;
        }
        writeln!(w, "  node_unreclaimable:  0")?;
        writeln!(w, "  start_pfn:           {}", z.zone_start_pfn)?;
    }
    Ok(())
}

/// Linux `totalreserve_pages` (`calculate_totalreserve_pages`): per zone,
/// its largest lowmem reserve plus its high watermark, at most its managed
/// pages; summed over the zones.
pub fn totalreserve_pages<M: PhysMem>(alloc: &PageAlloc<M>) -> u64 {
    alloc
        .zones
        .iter()
        .map(|z| {
            let max = (z.idx..MAX_NR_ZONES).map(|j| z.reserve(j)).max().unwrap_or(0);
            (max + z.wmark(WMARK_HIGH)).min(z.managed())
        })
        .sum()
}

/// Linux `si_mem_available`, in pages: free pages less the reserves. With
/// no page cache or reclaimable slab yet, that is all of it.
pub fn si_mem_available<M: PhysMem>(alloc: &PageAlloc<M>) -> u64 {
    alloc.nr_free_pages().saturating_sub(totalreserve_pages(alloc))
}

/// Linux `show_val_kb`: the name (with its colon) padded to 16 columns,
/// the value in KiB right-aligned in 8, then ` kB`.
fn show_val_kb(w: &mut impl Write, name: &str, pages: u64) -> Result {
    writeln!(w, "{name:<16}{:>8} kB", k(pages))
}

/// `/proc/meminfo` (Linux `meminfo_proc_show`): `MemTotal`, `MemFree`,
/// `MemAvailable`, then `HighTotal`, `HighFree`, `LowTotal`, `LowFree`, in
/// Linux's order. `MemFree` is the buddy free pages (`NR_FREE_PAGES`; pages
/// on the per-CPU lists are not counted, as in Linux).
///
/// Deviations: the lines for counters this kernel does not keep (`Buffers`,
/// `Cached`, the LRU lists, swap, slab, ...) are left out, and the
/// `High*`/`Low*` lines, which Linux prints only with `CONFIG_HIGHMEM`, are
/// always printed (the HighMem zone exists here with `lowmem=`).
pub fn meminfo<M: PhysMem>(alloc: &PageAlloc<M>, w: &mut impl Write) -> Result {
    let high = &alloc.zones[ZONE_HIGHMEM];
    let (totalram, freeram) = (alloc.totalram_pages(), alloc.nr_free_pages());
    let (totalhigh, freehigh) = (high.managed(), high.free_pages());
    show_val_kb(w, "MemTotal:", totalram)?;
    show_val_kb(w, "MemFree:", freeram)?;
    show_val_kb(w, "MemAvailable:", si_mem_available(alloc))?;
    show_val_kb(w, "HighTotal:", totalhigh)?;
    show_val_kb(w, "HighFree:", freehigh)?;
    show_val_kb(w, "LowTotal:", totalram - totalhigh)?;
    show_val_kb(w, "LowFree:", freeram.saturating_sub(freehigh))
}

/// [`meminfo`] followed by x86's `arch_report_meminfo` lines: how much of
/// the direct map `direct_map = (4k, 2M, 1G)`, in KiB, maps with each page
/// size. Linux prints `DirectMap1G` only when 1 GiB pages are enabled; this
/// always prints it.
pub fn meminfo_with_directmap<M: PhysMem>(alloc: &PageAlloc<M>, direct_map: (u64, u64, u64), w: &mut impl Write) -> Result {
    meminfo(alloc, w)?;
    writeln!(w, "DirectMap4k:    {:>8} kB", direct_map.0)?;
    writeln!(w, "DirectMap2M:    {:>8} kB", direct_map.1)?;
    writeln!(w, "DirectMap1G:    {:>8} kB", direct_map.2)
}

/// `/proc/vmstat` (Linux `vmstat_show`): `name value` lines.
///
/// `nr_free_pages`, `pgalloc_dma`, `pgalloc_dma32`, `pgalloc_normal`,
/// `pgalloc_high`, `pgfree`, `allocstall`, then this kernel's own counters:
/// `pgzero_skipped`, `pgzero_cleared`, `deferred_init_blocks`, `bad_pages`,
/// `alloc_failures`.
///
/// Deviation: since Linux 4.10 direct reclaim stalls are counted per zone
/// (`allocstall_dma` ... before `pgfree`); this kernel keeps one node-wide
/// count and prints it as the older `allocstall`, where Linux before 4.10
/// had it (after `pgfree`). Counters Linux has and this kernel does not
/// are left out.
pub fn vmstat<M: PhysMem>(alloc: &PageAlloc<M>, w: &mut impl Write) -> Result {
    const PGALLOC: [&str; MAX_NR_ZONES] = ["pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_high"];
    let e = &alloc.events;
    writeln!(w, "nr_free_pages {}", alloc.nr_free_pages())?;
    for (z, name) in alloc.zones.iter().zip(PGALLOC) {
        writeln!(w, "{name} {}", z.pgalloc.load(Relaxed))?;
    }
    for (name, v) in [
        ("pgfree", &e.pgfree),
        ("allocstall", &e.allocstall),
        ("pgzero_skipped", &e.pgzero_skipped),
        ("pgzero_cleared", &e.pgzero_cleared),
        ("deferred_init_blocks", &e.deferred_init_blocks),
        ("bad_pages", &e.bad_pages),
        ("alloc_failures", &e.alloc_failures),
    ] {
        writeln!(w, "{name} {}", v.load(Relaxed))?;
    }
    Ok(())
}

/// The memory report after an allocation failure (Linux
/// `__show_free_areas`, as `show_mem` prints it after `Mem-Info:`), for the
/// populated zones:
///
/// ```text
/// Node 0 DMA free:15360kB boost:0kB min:240kB low:300kB high:360kB present:16000kB managed:15360kB free_pcp:0kB local_pcp:0kB
/// lowmem_reserve[]: 0 48 48 48
/// Node 0 DMA: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 1*1024kB 1*2048kB 3*4096kB = 15360kB
/// ```
/// Deviations: the node-wide summary lines before the zones and the page
/// cache/swap lines after them are left out; in the zone line, the fields
/// for counters this kernel does not keep (`reserved_highatomic`, the LRU
/// lists, `writepending`, `mlocked`, `bounce`, `free_cma`) are left out;
/// the free-area lines have no migrate types (`(UME)`).
pub fn show_free_areas<M: PhysMem>(alloc: &PageAlloc<M>, w: &mut impl Write) -> Result {
    for z in alloc.zones.iter().filter(|z| z.populated()) {
        let pcp = pcp_counts(z);
        let free_pcp: u64 = pcp.iter().map(|p| p.0).sum();
        let local_pcp = pcp[0].0;
        writeln!(
            w,
            "Node 0 {} free:{}kB boost:0kB min:{}kB low:{}kB high:{}kB present:{}kB managed:{}kB free_pcp:{}kB local_pcp:{}kB",
            z.name,
            k(z.free_pages()),
            k(z.wmark(WMARK_MIN)),
            k(z.wmark(WMARK_LOW)),
            k(z.wmark(WMARK_HIGH)),
            k(z.present_pages),
            k(z.managed()),
            k(free_pcp),
            k(local_pcp),
        )?;
        write!(w, "lowmem_reserve[]:")?;
        for v in reserves(z) {
            write!(w, " {v}")?;
        }
        writeln!(w)?;
    }
    for z in alloc.zones.iter().filter(|z| z.populated()) {
        let counts = free_counts(z);
        write!(w, "Node 0 {}: ", z.name)?;
        let mut total = 0;
        for (order, n) in counts.into_iter().enumerate() {
            write!(w, "{n}*{}kB ", k(1) << order)?;
            total += n << order;
        }
        writeln!(w, "= {}kB", k(total))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::fake::FakeRam;
    use crate::mm::gfp::*;
    use crate::mm::page_alloc::AllocConfig;

    const M: u64 = 256; // pages per MiB

    /// 64 MiB of RAM: DMA [0, 16M), DMA32 [16M, 64M), RAM at [0, 640K) and
    /// from 1 MiB, free from 1 MiB.
    fn small() -> PageAlloc<FakeRam> {
        let mut a = PageAlloc::new(FakeRam::new(64 * M, false), [(0, 16 * M), (16 * M, 64 * M), (0, 0), (0, 0)], AllocConfig::default());
        a.add_present(0, 160);
        a.add_present(M, 64 * M);
        a.free_boot_range(M, 64 * M, true);
        a.setup_watermarks();
        a
    }

    fn text(f: impl FnOnce(&mut String) -> Result) -> String {
        let mut s = String::new();
        f(&mut s).unwrap();
        s
    }

    #[test]
    fn buddyinfo_after_boot() {
        let a = small();
        assert_eq!(
            text(|w| buddyinfo(&a, w)),
            "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n\
             Node 0, zone    DMA32      0      0      0      0      0      0      0      0      0      0     12 \n"
        );
    }

    #[test]
    fn buddyinfo_follows_a_split() {
        let a = small();
        // An order-0 DMA page: the order-8 block is split down to order 0
        // (DMA's per-CPU batch is one page, the one handed out).
        a.alloc_pages(GFP_DMA, 0).unwrap();
        let t = text(|w| buddyinfo(&a, w));
        assert_eq!(t.lines().next().unwrap(), "Node 0, zone      DMA      1      1      1      1      1      1      1      1      0      1      3 ");
    }

    #[test]
    fn zoneinfo_layout() {
        let a = small();
        let t = text(|w| zoneinfo(&a, w));
        // min_free_kbytes = sqrt(16128 pages * 4 * 16) = 1015: 253 pages,
        // split 3840 : 12288 between DMA and DMA32.
        let expected = "\
Node 0, zone      DMA
  pages free     3840
        boost    0
        min      60
        low      75
        high     90
        spanned  4096
        present  4000
        managed  3840
        cma      0
        protection: (0, 48, 48, 48)
      nr_free_pages 3840
  pagesets
    cpu: 0
              count: 0
              high:  6
              batch: 1
  vm stats threshold: 0
  node_unreclaimable:  0
  start_pfn:           0
Node 0, zone    DMA32
  pages free     12288
        boost    0
        min      192
        low      240
        high     288
        spanned  12288
        present  12288
        managed  12288
        cma      0
        protection: (0, 0, 0, 0)
      nr_free_pages 12288
  pagesets
    cpu: 0
              count: 0
              high:  18
              batch: 3
  vm stats threshold: 0
  node_unreclaimable:  0
  start_pfn:           4096
Node 0, zone   Normal
  pages free     0
        boost    0
        min      0
        low      0
        high     0
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0)
Node 0, zone  HighMem
  pages free     0
        boost    0
        min      0
        low      0
        high     0
        spanned  0
        present  0
        managed  0
        cma      0
        protection: (0, 0, 0, 0)
";
        assert_eq!(t, expected);
    }

    #[test]
    fn meminfo_columns() {
        let a = small();
        // totalreserve: DMA 48 + 90, DMA32 0 + 288 = 426 pages.
        assert_eq!(totalreserve_pages(&a), 426);
        let t = text(|w| meminfo_with_directmap(&a, (1024, 63 * 1024, 0), w));
        assert_eq!(
            t,
            "MemTotal:          64512 kB\n\
             MemFree:           64512 kB\n\
             MemAvailable:      62808 kB\n\
             HighTotal:             0 kB\n\
             HighFree:              0 kB\n\
             LowTotal:          64512 kB\n\
             LowFree:           64512 kB\n\
             DirectMap4k:        1024 kB\n\
             DirectMap2M:       64512 kB\n\
             DirectMap1G:           0 kB\n"
        );
        // The value ends at column 24, as Linux's.
        assert!(t.lines().all(|l| l.len() == 27 && &l[24..] == " kB"));
    }

    #[test]
    fn meminfo_splits_high_and_low() {
        // DMA [0, 16M), DMA32 [16M, 48M), HighMem [48M, 64M).
        let mut a = PageAlloc::new(FakeRam::new(64 * M, false), [(0, 16 * M), (16 * M, 48 * M), (0, 0), (48 * M, 64 * M)], AllocConfig::default());
        a.add_present(M, 64 * M);
        a.free_boot_range(M, 64 * M, true);
        a.setup_watermarks();
        let t = text(|w| meminfo(&a, w));
        assert!(t.lines().all(|l| l.len() == 27 && &l[24..] == " kB"));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[3], "HighTotal:         16384 kB");
        assert_eq!(lines[4], "HighFree:          16384 kB");
        assert_eq!(lines[5], "LowTotal:          48128 kB");
        assert_eq!(lines[6], "LowFree:           48128 kB");
    }

    #[test]
    fn mem_available_never_negative() {
        let a = small();
        let mut held = Vec::new();
        while let Some(p) = a.alloc_pages(GFP_ATOMIC | __GFP_NOFAIL | __GFP_NOWARN, 0) {
            held.push(p);
        }
        assert!(a.nr_free_pages() < totalreserve_pages(&a));
        assert_eq!(si_mem_available(&a), 0);
        assert!(text(|w| meminfo(&a, w)).contains("MemAvailable:          0 kB\n"));
    }

    #[test]
    fn vmstat_names_and_order() {
        let a = small();
        let p = a.alloc_pages(GFP_KERNEL | __GFP_ZERO, 2).unwrap();
        a.free_pages(p, 2).unwrap();
        a.alloc_pages(GFP_DMA, 0).unwrap();
        assert_eq!(
            text(|w| vmstat(&a, w)),
            "nr_free_pages 16127\n\
             pgalloc_dma 1\n\
             pgalloc_dma32 4\n\
             pgalloc_normal 0\n\
             pgalloc_high 0\n\
             pgfree 4\n\
             allocstall 0\n\
             pgzero_skipped 4\n\
             pgzero_cleared 0\n\
             deferred_init_blocks 1\n\
             bad_pages 0\n\
             alloc_failures 0\n"
        );
    }

    #[test]
    fn per_cpu_pages_are_reported() {
        let a = small();
        // DMA32's batch is 3: one page handed out, two left on the list.
        a.alloc_pages(GFP_KERNEL, 0).unwrap();
        assert!(text(|w| zoneinfo(&a, w)).contains("  pages free     12285\n"));
        assert!(text(|w| zoneinfo(&a, w)).contains("    cpu: 0\n              count: 2\n              high:  18\n"));
        assert!(text(|w| show_free_areas(&a, w)).contains(" managed:49152kB free_pcp:8kB local_pcp:8kB\n"));
    }

    #[test]
    fn show_free_areas_report() {
        let a = small();
        a.alloc_pages(GFP_DMA, 0).unwrap();
        assert_eq!(
            text(|w| show_free_areas(&a, w)),
            "Node 0 DMA free:15356kB boost:0kB min:240kB low:300kB high:360kB present:16000kB managed:15360kB free_pcp:0kB local_pcp:0kB\n\
             lowmem_reserve[]: 0 48 48 48\n\
             Node 0 DMA32 free:49152kB boost:0kB min:768kB low:960kB high:1152kB present:49152kB managed:49152kB free_pcp:0kB local_pcp:0kB\n\
             lowmem_reserve[]: 0 0 0 0\n\
             Node 0 DMA: 1*4kB 1*8kB 1*16kB 1*32kB 1*64kB 1*128kB 1*256kB 1*512kB 0*1024kB 1*2048kB 3*4096kB = 15356kB\n\
             Node 0 DMA32: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 0*1024kB 0*2048kB 12*4096kB = 49152kB\n"
        );
    }
}
