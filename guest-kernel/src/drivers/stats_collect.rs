//! What a stats snapshot carries, gathered from the memory manager and
//! the processes and encoded by `stats_wire` (the collector; the driver in
//! `stats` decides when and sends it).

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;

use shared::stats::Reason;

use super::stats_text::{meminfo_pairs, vmstat_pairs, NR_MEMINFO, NR_VMSTAT};
use super::stats_wire::{self, FilesView, ProcessView, SlabView, SnapshotView, VmallocView, ZoneView};
use crate::mm::addr::PAGE_SIZE;

/// How much a snapshot carries. Where ring 0 is emulated the /proc text
/// formatters dominate (slabinfo alone takes ~130 ms there), so periodic
/// snapshots carry the records only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Detail {
    /// The records: meminfo, zones, vmstat, slabs, vmalloc areas,
    /// processes; no texts (`files` and the per-process texts empty).
    Records,
    /// The records and each live process's `status` and `maps` texts.
    Processes,
    /// Everything: also the six /proc files.
    Full,
}

/// One of the global /proc files, as the kernel prints it.
fn proc_text(name: &str) -> String {
    let mut s = String::new();
    let _ = crate::proc::procfs::global(name, &mut s);
    s
}

/// Gathers the statistics and encodes them as a snapshot message (no
/// owned `Snapshot`: names are borrowed, see `stats_wire`).
pub fn encode_snapshot(seq: u64, guest_ns: u64, reason: Reason, detail: Detail, driver: &[(&'static str, u64)]) -> Vec<u8> {
    use crate::mm::zone::{MAX_ORDER, WMARK_HIGH, WMARK_LOW, WMARK_MIN};
    use crate::proc::sched::{self, TaskState};
    let alloc = crate::mm::buddy::page_alloc();

    let mut meminfo: Vec<(&str, u64)> = Vec::with_capacity(NR_MEMINFO + 4);
    meminfo.extend_from_slice(&meminfo_pairs(alloc));
    let (swap_total, swap_free) = crate::mm::swapfile::totals();
    meminfo.extend([
        ("SwapTotal", swap_total * 4),
        ("SwapFree", swap_free * 4),
        ("SwapCached", crate::mm::swapfile::swap_cache_pages() * 4),
        ("AnonHugePages", crate::mm::huge_memory::NR_ANON_THPS.load(Relaxed) * (crate::mm::huge_memory::HPAGE_PMD_SIZE >> 10)),
    ]);
    let mut vmstat: Vec<(&str, u64)> = Vec::with_capacity(NR_VMSTAT + 2 + NR_EXTRAS + driver.len());
    vmstat.extend_from_slice(&vmstat_pairs(alloc));
    // What /proc/vmstat adds after the page allocator's counters.
    vmstat.push(("pgfault", crate::mm::memory::PGFAULT.load(Relaxed)));
    vmstat.push(("cow_fault", crate::mm::memory::COW_FAULT.load(Relaxed)));
    vmstat.push(("zero_page_fault", crate::mm::memory::ZERO_PAGE_FAULT.load(Relaxed)));
    vmstat.extend_from_slice(&vmstat_extras());
    vmstat.extend_from_slice(driver);

    // Free blocks per order, copied under each zone's lock.
    let free: Vec<(&crate::mm::zone::Zone, [u64; MAX_ORDER])> = alloc
        .zones
        .iter()
        .filter(|z| z.populated())
        .map(|z| {
            let area = z.free_area.lock();
            (z, core::array::from_fn(|o| area.nr_free(o)))
        })
        .collect();
    let zones: Vec<ZoneView> = free
        .iter()
        .map(|(z, counts)| ZoneView {
            name: z.name,
            managed: z.managed(),
            free: z.free_pages(),
            free_per_order: counts,
            min: z.wmark(WMARK_MIN),
            low: z.wmark(WMARK_LOW),
            high: z.wmark(WMARK_HIGH),
        })
        .collect();

    let mut slabs: Vec<SlabView> = Vec::with_capacity(48);
    crate::mm::kmem::SLAB.for_each_cache(|c| {
        let st = c.stats();
        slabs.push(SlabView {
            name: c.name(),
            object_size: c.object_size() as u64,
            active_objs: crate::mm::kmem::SLAB.objects_in_use(c),
            num_objs: st.num_objs,
            slabs: st.num_slabs,
        });
    });

    let areas = crate::mm::vmalloc::busy_areas();
    let vmalloc: Vec<VmallocView> = areas.iter().map(|a| VmallocView { start: a.va_start, end: a.va_end, pages: a.nr_pages, caller: a.caller }).collect();

    // The kernel does not switch tasks while this runs: the table and
    // every task's memory stay as they are.
    let pids = sched::processes();
    let texts: Vec<(String, String)> = pids
        .iter()
        .map(|&pid| {
            let (mut status, mut maps) = (String::new(), String::new());
            if detail != Detail::Records {
                if let Some(t) = sched::task(pid).filter(|t| t.mm.is_some()) {
                    let _ = crate::proc::procfs::per_process(t, "status", &mut status);
                    let _ = crate::proc::procfs::per_process(t, "maps", &mut maps);
                }
            }
            (status, maps)
        })
        .collect();
    let kb = |pages: u64| pages * (PAGE_SIZE >> 10);
    let processes: Vec<ProcessView> = pids
        .iter()
        .zip(&texts)
        .filter_map(|(&pid, (status, maps))| {
            let t: &crate::proc::Task = sched::task(pid)?;
            let state = match t.state {
                TaskState::Runnable => 'R',
                TaskState::Zombie => 'Z',
                TaskState::Stopped => 'T',
                TaskState::WaitChild | TaskState::SleepUntil(_) | TaskState::WaitEvent(_) | TaskState::Futex(_) => 'S',
            };
            let mut p = ProcessView {
                pid,
                ppid: t.ppid,
                comm: t.comm.as_str(),
                state,
                vm_size_kb: 0,
                vm_rss_kb: 0,
                rss_anon_kb: 0,
                rss_file_kb: 0,
                rss_shmem_kb: 0,
                vma_count: 0,
                page_faults: 0,
                status,
                maps,
            };
            if let Some(mm) = t.mm.as_ref() {
                p.vm_size_kb = kb(mm.vm.total_vm);
                p.vm_rss_kb = kb(mm.rss.total());
                p.rss_anon_kb = kb(mm.rss.anon);
                p.rss_file_kb = kb(mm.rss.file);
                p.rss_shmem_kb = kb(mm.rss.shmem);
                p.vma_count = mm.vm.map_count as u64;
                p.page_faults = mm.stats.faults;
            }
            Some(p)
        })
        .collect();

    let files: [String; 6] =
        if detail == Detail::Full { ["meminfo", "buddyinfo", "zoneinfo", "vmstat", "slabinfo", "vmallocinfo"].map(proc_text) } else { Default::default() };
    let view = SnapshotView {
        reason,
        meminfo: &meminfo,
        zones: &zones,
        vmstat: &vmstat,
        slabs: &slabs,
        vmalloc: &vmalloc,
        processes: &processes,
        files: FilesView { meminfo: &files[0], buddyinfo: &files[1], zoneinfo: &files[2], vmstat: &files[3], slabinfo: &files[4], vmallocinfo: &files[5] },
    };
    stats_wire::encode_snapshot(seq, guest_ns, &view)
}

/// Number of [`vmstat_extras`].
const NR_EXTRAS: usize = 26;

/// Counters /proc/vmstat does not print.
fn vmstat_extras() -> [(&'static str, u64); NR_EXTRAS] {
    use crate::mm::highmem::KMAP_STATS;
    let k = &KMAP_STATS;
    [
        ("pgmajfault", crate::mm::memory::PGMAJFAULT.load(Relaxed)),
        ("pswpin", crate::mm::swapfile::PSWPIN.load(Relaxed)),
        ("pswpout", crate::mm::swapfile::PSWPOUT.load(Relaxed)),
        ("pgscan_kswapd", crate::mm::vmscan::PGSCAN_KSWAPD.load(Relaxed)),
        ("pgscan_direct", crate::mm::vmscan::PGSCAN_DIRECT.load(Relaxed)),
        ("pgsteal_kswapd", crate::mm::vmscan::PGSTEAL_KSWAPD.load(Relaxed)),
        ("pgsteal_direct", crate::mm::vmscan::PGSTEAL_DIRECT.load(Relaxed)),
        ("kmap", k.kmap.load(Relaxed)),
        ("kmap_high", k.kmap_high.load(Relaxed)),
        ("kmap_atomic", k.kmap_atomic.load(Relaxed)),
        ("kmap_atomic_high", k.kmap_atomic_high.load(Relaxed)),
        // The TLB flushes the kernel counts: PKMAP wraps, vmalloc purges.
        ("pkmap_flushes", k.pkmap_flushes.load(Relaxed)),
        ("vmalloc_purges", crate::mm::vmalloc::NR_PURGES.load(Relaxed)),
        ("oom_kill", crate::proc::oom::OOM_KILLS.load(Relaxed)),
        ("workingset_refault_anon", crate::mm::swap_state::WORKINGSET_REFAULT_ANON.load(Relaxed)),
        ("workingset_activate_anon", crate::mm::swap_state::WORKINGSET_ACTIVATE_ANON.load(Relaxed)),
        ("swap_ra", crate::mm::swap_state::SWAP_RA.load(Relaxed)),
        ("swap_ra_hit", crate::mm::swap_state::SWAP_RA_HIT.load(Relaxed)),
        ("thp_fault_alloc", crate::mm::huge_memory::THP_FAULT_ALLOC.load(Relaxed)),
        ("thp_fault_fallback", crate::mm::huge_memory::THP_FAULT_FALLBACK.load(Relaxed)),
        ("thp_split_page", crate::mm::huge_memory::THP_SPLIT_PAGE.load(Relaxed)),
        ("thp_split_pmd", crate::mm::huge_memory::THP_SPLIT_PMD.load(Relaxed)),
        ("balloon_inflate", crate::mm::vmstat::BALLOON_INFLATE.load(Relaxed)),
        ("balloon_deflate", crate::mm::vmstat::BALLOON_DEFLATE.load(Relaxed)),
        ("nr_switches", crate::proc::sched::NR_SWITCHES.load(Relaxed)),
        ("timer_ticks", crate::proc::sched::TICKS.load(Relaxed)),
    ]
}
