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

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
/// Pages put into and taken out of the memory balloon (Linux's
/// `balloon_inflate` and `balloon_deflate` events); their difference is
/// what the balloon holds.
pub static BALLOON_INFLATE: AtomicU64 = AtomicU64::new(0);
pub static BALLOON_DEFLATE: AtomicU64 = AtomicU64::new(0);

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

/// `/proc/pagetypeinfo` (Linux `pagetypeinfo_show`): the free pages per
/// order and migrate type, then the page blocks per type, for the
/// populated zones. Mobility grouping is off here (as Linux turns it off
/// on small machines), so every free page and block is `Unmovable`.
pub fn pagetypeinfo<M: PhysMem>(alloc: &PageAlloc<M>, w: &mut impl Write) -> Result {
    const TYPES: [&str; 5] = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"];
    const PAGEBLOCK_ORDER: u32 = 9;
    writeln!(w, "Page block order: {PAGEBLOCK_ORDER}")?;
    writeln!(w, "Pages per block:  {}\n", 1 << PAGEBLOCK_ORDER)?;
    write!(w, "{:<43} ", "Free pages count per migrate type at order")?;
    for order in 0..MAX_ORDER {
        write!(w, "{order:>6} ")?;
    }
    writeln!(w)?;
    let zones = || alloc.zones.iter().filter(|z| z.populated());
    for z in zones() {
        let counts = free_counts(z);
        for (i, ty) in TYPES.iter().enumerate() {
            write!(w, "Node {:>4}, zone {:>8}, type {ty:>12} ", 0, z.name)?;
            for n in counts {
                write!(w, "{:>6} ", if i == 0 { n } else { 0 })?;
            }
            writeln!(w)?;
        }
    }
    write!(w, "\n{:<23}", "Number of blocks type ")?;
    for ty in TYPES {
        write!(w, "{ty:>12} ")?;
    }
    writeln!(w)?;
    for z in zones() {
        write!(w, "Node {}, zone {:>8} ", 0, z.name)?;
        let blocks = z.spanned_pages.div_ceil(1 << PAGEBLOCK_ORDER);
        for i in 0..TYPES.len() {
            write!(w, "{:>12} ", if i == 0 { blocks } else { 0 })?;
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

/// What `/proc/meminfo` shows beyond the page allocator's own counts,
/// gathered by the caller (pages unless named otherwise). Zero for what
/// the caller does not know (a boot-time dump knows none of it).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemExtra {
    /// Page-cache pages: file contents and shared memory (`Cached`).
    pub cached: u64,
    /// Anonymous pages mapped by processes (`AnonPages`).
    pub anon: u64,
    /// File pages mapped by processes (`Mapped`).
    pub mapped: u64,
    pub shmem: u64,
    pub mlocked: u64,
    pub slab_reclaimable: u64,
    pub slab_unreclaimable: u64,
    pub kernel_stack_kb: u64,
    pub page_tables: u64,
    /// `vm.overcommit_ratio` applied to RAM (`CommitLimit`).
    pub commit_limit: u64,
    /// Charged memory of all processes (`Committed_AS`).
    pub committed: u64,
    pub vmalloc_total_kb: u64,
    pub vmalloc_used: u64,
    /// KiB mapped by 4 KiB, 2 MiB and 1 GiB pages in the direct map.
    pub direct_map_kb: (u64, u64, u64),
    /// Pages of all swap areas, and of them free (`SwapTotal`, `SwapFree`).
    pub swap_total: u64,
    pub swap_free: u64,
    /// Pages in the swap cache (`SwapCached`).
    pub swap_cached: u64,
    /// Pages of anonymous huge pages mapped by PMDs (`AnonHugePages`).
    pub anon_huge: u64,
    /// Anonymous pages on the active and the inactive LRU list (a huge page
    /// counted as the one entry it is there).
    pub lru_active_anon: u64,
    pub lru_inactive_anon: u64,
}

/// `/proc/meminfo` (Linux `meminfo_proc_show`, then x86's
/// `arch_report_meminfo`): Linux's keys in Linux's order, as a kernel with
/// highmem, swap support (the areas `swapon` found), zswap and transparent huge
/// pages (none used) prints them. `MemFree` is the buddy free pages
/// (`NR_FREE_PAGES`; pages on the per-CPU lists are not counted, as in
/// Linux). `Active(anon)` and `Inactive(anon)` are the anonymous LRU
/// lists, with shmem counted active (in RAM for good, as ramfs's pages);
/// the page cache counts as active file memory, having no lists of its
/// own. `DirectMap1G` is always printed.
pub fn meminfo<M: PhysMem>(alloc: &PageAlloc<M>, x: &MemExtra, w: &mut impl Write) -> Result {
    let high = &alloc.zones[ZONE_HIGHMEM];
    let (totalram, freeram) = (alloc.totalram_pages(), alloc.nr_free_pages());
    let (totalhigh, freehigh) = (high.managed(), high.free_pages());
    let file = x.cached.saturating_sub(x.shmem);
    let (active_anon, inactive_anon) = (x.lru_active_anon + x.shmem, x.lru_inactive_anon);
    for (name, pages) in [
        ("MemTotal:", totalram),
        ("MemFree:", freeram),
        ("MemAvailable:", si_mem_available(alloc)),
        ("Buffers:", 0),
        ("Cached:", x.cached),
        ("SwapCached:", x.swap_cached),
        ("Active:", active_anon + file),
        ("Inactive:", inactive_anon),
        ("Active(anon):", active_anon),
        ("Inactive(anon):", inactive_anon),
        ("Active(file):", file),
        ("Inactive(file):", 0),
        ("Unevictable:", x.mlocked),
        ("Mlocked:", x.mlocked),
        ("HighTotal:", totalhigh),
        ("HighFree:", freehigh),
        ("LowTotal:", totalram - totalhigh),
        ("LowFree:", freeram.saturating_sub(freehigh)),
        ("SwapTotal:", x.swap_total),
        ("SwapFree:", x.swap_free),
        ("Zswap:", 0),
        ("Zswapped:", 0),
        ("Dirty:", 0),
        ("Writeback:", 0),
        ("AnonPages:", x.anon),
        ("Mapped:", x.mapped),
        ("Shmem:", x.shmem),
        ("KReclaimable:", x.slab_reclaimable),
        ("Slab:", x.slab_reclaimable + x.slab_unreclaimable),
        ("SReclaimable:", x.slab_reclaimable),
        ("SUnreclaim:", x.slab_unreclaimable),
    ] {
        show_val_kb(w, name, pages)?;
    }
    writeln!(w, "{:<16}{:>8} kB", "KernelStack:", x.kernel_stack_kb)?;
    for (name, pages) in [
        ("PageTables:", x.page_tables),
        ("SecPageTables:", 0),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        ("CommitLimit:", x.commit_limit),
        ("Committed_AS:", x.committed),
    ] {
        show_val_kb(w, name, pages)?;
    }
    writeln!(w, "{:<16}{:>8} kB", "VmallocTotal:", x.vmalloc_total_kb)?;
    show_val_kb(w, "VmallocUsed:", x.vmalloc_used)?;
    for (name, pages) in [
        ("VmallocChunk:", 0),
        ("Percpu:", 0),
        ("AnonHugePages:", x.anon_huge),
        ("ShmemHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FileHugePages:", 0),
        ("FilePmdMapped:", 0),
    ] {
        show_val_kb(w, name, pages)?;
    }
    for name in ["HugePages_Total:", "HugePages_Free:", "HugePages_Rsvd:", "HugePages_Surp:"] {
        writeln!(w, "{name:<16}{:>8}", 0)?;
    }
    writeln!(w, "{:<16}{:>8} kB", "Hugepagesize:", 2048)?;
    writeln!(w, "{:<16}{:>8} kB", "Hugetlb:", 0)?;
    writeln!(w, "DirectMap4k:    {:>8} kB", x.direct_map_kb.0)?;
    writeln!(w, "DirectMap2M:    {:>8} kB", x.direct_map_kb.1)?;
    writeln!(w, "DirectMap1G:    {:>8} kB", x.direct_map_kb.2)
}

/// `/proc/vmstat` (Linux `vmstat_show`): `name value` lines, Linux's
/// names only, in Linux's order: `nr_free_pages`, then the node counters
/// the caller knows (`node`, e.g. `nr_anon_pages`), the page allocator's
/// events (`pgalloc_*`, `allocstall_*`, `pgfree`), then the caller's
/// later events (`events`, e.g. `pgfault`, `oom_kill`). Direct reclaim
/// stalls are counted node-wide here; Linux counts them per zone, and they
/// show under `allocstall_normal`. This kernel's own counters
/// (`pgzero_*`, `bad_pages`, ...) go to the host over the stats channel,
/// not here.
pub fn vmstat<M: PhysMem>(alloc: &PageAlloc<M>, node: &[(&str, u64)], events: &[(&str, u64)], w: &mut impl Write) -> Result {
    const PGALLOC: [&str; MAX_NR_ZONES] = ["pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_high"];
    let e = &alloc.events;
    writeln!(w, "nr_free_pages {}", alloc.nr_free_pages())?;
    for (name, v) in node {
        writeln!(w, "{name} {v}")?;
    }
    for (z, name) in alloc.zones.iter().zip(PGALLOC) {
        writeln!(w, "{name} {}", z.pgalloc.load(Relaxed))?;
    }
    writeln!(w, "pgalloc_movable 0")?;
    for zone in ["dma", "dma32", "normal", "high", "movable"] {
        let v = if zone == "normal" { e.allocstall.load(Relaxed) } else { 0 };
        writeln!(w, "allocstall_{zone} {v}")?;
    }
    writeln!(w, "pgfree {}", e.pgfree.load(Relaxed))?;
    for (name, v) in events {
        writeln!(w, "{name} {v}")?;
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
    use crate::mm::addr::Pfn;
    use crate::mm::fake::FakeRam;
    use crate::mm::gfp::*;
    use crate::mm::page_alloc::AllocConfig;

    const M: u64 = 256; // pages per MiB

    /// 64 MiB of RAM: DMA [0, 16M), DMA32 [16M, 64M), RAM at [0, 640K) and
    /// from 1 MiB, free from 1 MiB.
    fn small() -> PageAlloc<FakeRam> {
        let mut a = PageAlloc::new(FakeRam::new(64 * M, false), [(0, 16 * M), (16 * M, 64 * M), (0, 0), (0, 0)], AllocConfig::default());
        a.add_present(Pfn::new(0), Pfn::new(160));
        a.add_present(Pfn::new(M), Pfn::new(64 * M));
        a.free_boot_range(Pfn::new(M), Pfn::new(64 * M), true);
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
        let x =
            MemExtra { cached: 10, shmem: 4, anon: 6, lru_active_anon: 2, lru_inactive_anon: 4, direct_map_kb: (1024, 63 * 1024, 0), ..MemExtra::default() };
        let t = text(|w| meminfo(&a, &x, w));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            &lines[..5],
            [
                "MemTotal:          64512 kB",
                "MemFree:           64512 kB",
                "MemAvailable:      62808 kB",
                "Buffers:               0 kB",
                "Cached:               40 kB"
            ]
        );
        // Shmem counts active; the lists give the rest.
        assert!(lines.contains(&"Active(anon):         24 kB") && lines.contains(&"Inactive(anon):       16 kB"), "{t}");
        assert!(lines.contains(&"Active:               48 kB") && lines.contains(&"Active(file):         24 kB"), "{t}");
        assert_eq!(lines[lines.len() - 3..], ["DirectMap4k:        1024 kB", "DirectMap2M:       64512 kB", "DirectMap1G:           0 kB"]);
        // Linux's keys in Linux's order (a 6.x x86-64 kernel with highmem).
        let keys: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        let want = "MemTotal MemFree MemAvailable Buffers Cached SwapCached Active Inactive Active(anon) Inactive(anon) Active(file) \
                    Inactive(file) Unevictable Mlocked HighTotal HighFree LowTotal LowFree SwapTotal SwapFree Zswap Zswapped Dirty \
                    Writeback AnonPages Mapped Shmem KReclaimable Slab SReclaimable SUnreclaim KernelStack PageTables SecPageTables \
                    NFS_Unstable Bounce WritebackTmp CommitLimit Committed_AS VmallocTotal VmallocUsed VmallocChunk Percpu \
                    AnonHugePages ShmemHugePages ShmemPmdMapped FileHugePages FilePmdMapped HugePages_Total HugePages_Free \
                    HugePages_Rsvd HugePages_Surp Hugepagesize Hugetlb DirectMap4k DirectMap2M DirectMap1G";
        assert_eq!(keys, want.split_whitespace().collect::<Vec<_>>());
        // Values end at column 24, as Linux's.
        assert!(lines.iter().all(|l| l.len() >= 24 && l[..24].ends_with(|c: char| c.is_ascii_digit())), "{t}");
    }

    #[test]
    fn meminfo_splits_high_and_low() {
        // DMA [0, 16M), DMA32 [16M, 48M), HighMem [48M, 64M).
        let mut a = PageAlloc::new(FakeRam::new(64 * M, false), [(0, 16 * M), (16 * M, 48 * M), (0, 0), (48 * M, 64 * M)], AllocConfig::default());
        a.add_present(Pfn::new(M), Pfn::new(64 * M));
        a.free_boot_range(Pfn::new(M), Pfn::new(64 * M), true);
        a.setup_watermarks();
        let t = text(|w| meminfo(&a, &MemExtra::default(), w));
        let lines: Vec<&str> = t.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("HighTotal:")).unwrap();
        assert_eq!(lines[at - 1], "Mlocked:               0 kB", "after Mlocked, as Linux with CONFIG_HIGHMEM");
        assert_eq!(lines[at], "HighTotal:         16384 kB");
        assert_eq!(lines[at + 1], "HighFree:          16384 kB");
        assert_eq!(lines[at + 2], "LowTotal:          48128 kB");
        assert_eq!(lines[at + 3], "LowFree:           48128 kB");
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
        assert!(text(|w| meminfo(&a, &MemExtra::default(), w)).contains("MemAvailable:          0 kB\n"));
    }

    #[test]
    fn vmstat_names_and_order() {
        let a = small();
        let p = a.alloc_pages(GFP_KERNEL | __GFP_ZERO, 2).unwrap();
        a.free_pages(p, 2).unwrap();
        a.alloc_pages(GFP_DMA, 0).unwrap();
        assert_eq!(
            text(|w| vmstat(&a, &[("nr_anon_pages", 3)], &[("pgfault", 9)], w)),
            "nr_free_pages 16127\n\
             nr_anon_pages 3\n\
             pgalloc_dma 1\n\
             pgalloc_dma32 4\n\
             pgalloc_normal 0\n\
             pgalloc_high 0\n\
             pgalloc_movable 0\n\
             allocstall_dma 0\n\
             allocstall_dma32 0\n\
             allocstall_normal 0\n\
             allocstall_high 0\n\
             allocstall_movable 0\n\
             pgfree 4\n\
             pgfault 9\n"
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
