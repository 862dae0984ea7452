//! `/proc` itself: its listing and the files that describe the whole
//! system (Linux `fs/proc/meminfo.c`, `stat.c`, `cpuinfo.c`, `version.c`,
//! `uptime.c`, `loadavg.c`, `mm/vmstat.c`, `fs/proc_namespace.c`,
//! `fs/filesystems.c`, `mm/swapfile.c`).

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;

use super::{only_read, proc_ino, DirEntry, DIR, FILE, LINK, OSRELEASE, VERSION};
use crate::fs::errno::ENOENT;
use crate::fs::file::File;
use crate::proc::sched;

/// The files of `/proc`, as its listing shows them (`mounts` is a link).
const FILES: [&str; 15] = [
    "buddyinfo",
    "cmdline",
    "cpuinfo",
    "filesystems",
    "loadavg",
    "meminfo",
    "pagetypeinfo",
    "slabinfo",
    "stat",
    "swaps",
    "uptime",
    "version",
    "vmallocinfo",
    "vmstat",
    "zoneinfo",
];

/// `/proc`: `self`, `thread-self`, `mounts`, `sys`, each live process,
/// the files.
pub(super) fn dir() -> Arc<File> {
    let mut entries: alloc::vec::Vec<DirEntry> = alloc::vec![
        (String::from("self"), 2, LINK),
        (String::from("thread-self"), 3, LINK),
        (String::from("mounts"), 4, LINK),
        (String::from("sys"), super::sys::SYS_INO, DIR),
    ];
    for pid in sched::processes() {
        if !sched::threads(pid).is_empty() {
            entries.push((alloc::format!("{pid}"), proc_ino(pid, 0), DIR));
        }
    }
    entries.extend(FILES.iter().enumerate().map(|(i, n)| (String::from(*n), 8 + i as u64, FILE)));
    super::listed(1, entries)
}

/// Opens `/proc/NAME`.
pub(super) fn open(name: &str, flags: u32) -> Result<Arc<File>, i32> {
    if flags & crate::fs::file::O_PATH != 0 {
        let i = FILES.iter().position(|n| *n == name).ok_or(ENOENT)?;
        return Ok(File::proc_path(8 + i as u64, FILE));
    }
    only_read(flags)?;
    let mut out = String::new();
    global(name, &mut out)?;
    let ino = FILES.iter().position(|n| *n == name).map_or(0, |i| 8 + i as u64);
    Ok(File::snapshot_ino(out.into_bytes(), ino))
}

/// Writes `/proc/NAME` into `w`; `ENOENT` for a name that is not there.
pub(crate) fn global(name: &str, w: &mut String) -> Result<(), i32> {
    use crate::mm::vmstat;
    let alloc = crate::mm::buddy::page_alloc();
    let _ = match name {
        "meminfo" => vmstat::meminfo(alloc, &mem_extra(), w),
        "buddyinfo" => vmstat::buddyinfo(alloc, w),
        "pagetypeinfo" => vmstat::pagetypeinfo(alloc, w),
        "zoneinfo" => vmstat::zoneinfo(alloc, w),
        "vmstat" => {
            let m = mem_extra();
            let node = [
                ("nr_inactive_anon", m.lru_inactive_anon),
                ("nr_active_anon", m.lru_active_anon + m.shmem),
                ("nr_slab_reclaimable", m.slab_reclaimable),
                ("nr_slab_unreclaimable", m.slab_unreclaimable),
                ("nr_anon_pages", m.anon),
                ("nr_mapped", m.mapped),
                ("nr_file_pages", m.cached),
                ("nr_shmem", m.shmem),
                ("nr_kernel_stack", m.kernel_stack_kb),
                ("nr_page_table_pages", m.page_tables),
                ("nr_anon_transparent_hugepages", m.anon_huge / crate::mm::huge_memory::HPAGE_PMD_NR),
            ];
            let events = [
                ("pswpin", crate::mm::swapfile::PSWPIN.load(Relaxed)),
                ("pswpout", crate::mm::swapfile::PSWPOUT.load(Relaxed)),
                ("pgactivate", crate::mm::vmscan::PGACTIVATE.load(Relaxed)),
                ("pgdeactivate", crate::mm::vmscan::PGDEACTIVATE.load(Relaxed)),
                ("pgfault", crate::mm::memory::PGFAULT.load(Relaxed)),
                ("pgmajfault", crate::mm::memory::PGMAJFAULT.load(Relaxed)),
                ("pgrefill", crate::mm::vmscan::PGREFILL.load(Relaxed)),
                ("pgsteal_kswapd", crate::mm::vmscan::PGSTEAL_KSWAPD.load(Relaxed)),
                ("pgsteal_direct", crate::mm::vmscan::PGSTEAL_DIRECT.load(Relaxed)),
                ("pgscan_kswapd", crate::mm::vmscan::PGSCAN_KSWAPD.load(Relaxed)),
                ("pgscan_direct", crate::mm::vmscan::PGSCAN_DIRECT.load(Relaxed)),
                ("oom_kill", crate::proc::oom::OOM_KILLS.load(Relaxed)),
                ("nr_tlb_local_flush_all", crate::mm::uvm::NR_TLB_LOCAL_FLUSH_ALL.load(Relaxed)),
                ("nr_tlb_local_flush_one", crate::mm::uvm::NR_TLB_LOCAL_FLUSH_ONE.load(Relaxed)),
                ("workingset_refault_anon", crate::mm::swap_state::WORKINGSET_REFAULT_ANON.load(Relaxed)),
                ("workingset_activate_anon", crate::mm::swap_state::WORKINGSET_ACTIVATE_ANON.load(Relaxed)),
                ("swap_ra", crate::mm::swap_state::SWAP_RA.load(Relaxed)),
                ("swap_ra_hit", crate::mm::swap_state::SWAP_RA_HIT.load(Relaxed)),
                ("unevictable_pgs_culled", crate::mm::vmscan::UNEVICTABLE_PGCULLED.load(Relaxed)),
                ("unevictable_pgs_rescued", crate::mm::lru::UNEVICTABLE_PGS_RESCUED.load(Relaxed)),
                ("thp_fault_alloc", crate::mm::huge_memory::THP_FAULT_ALLOC.load(Relaxed)),
                ("thp_fault_fallback", crate::mm::huge_memory::THP_FAULT_FALLBACK.load(Relaxed)),
                ("thp_split_page", crate::mm::huge_memory::THP_SPLIT_PAGE.load(Relaxed)),
                ("thp_split_pmd", crate::mm::huge_memory::THP_SPLIT_PMD.load(Relaxed)),
                ("balloon_inflate", crate::mm::vmstat::BALLOON_INFLATE.load(Relaxed)),
                ("balloon_deflate", crate::mm::vmstat::BALLOON_DEFLATE.load(Relaxed)),
            ];
            vmstat::vmstat(alloc, &node, &events, w)
        }
        "slabinfo" => crate::mm::kmem::SLAB.slabinfo(w),
        "vmallocinfo" => crate::mm::vmalloc::vmallocinfo(w),
        "uptime" => {
            let ns = crate::time::uptime_ns();
            // Idle time, summed over CPUs, is not kept.
            writeln!(w, "{}.{:02} 0.00", ns / 1_000_000_000, ns % 1_000_000_000 / 10_000_000)
        }
        "loadavg" => {
            let pids = sched::pids();
            let running = pids.iter().filter(|&&p| sched::task(p).is_some_and(|t| t.state == sched::TaskState::Runnable)).count();
            writeln!(w, "0.00 0.00 0.00 {running}/{} {}", pids.len(), crate::proc::last_pid())
        }
        "stat" => stat(w),
        "cpuinfo" => cpuinfo(w),
        "version" => writeln!(w, "Linux version {OSRELEASE} (rvmm@rvmm) (rustc) {VERSION}"),
        "cmdline" => writeln!(w, "{}", crate::cmdline::saved_command_line()),
        "filesystems" => ["rootfs", "tmpfs", "proc", "pipefs", "anon_inodefs"].iter().try_for_each(|fs| writeln!(w, "nodev\t{fs}")),
        "swaps" => crate::mm::swapfile::show_swaps(w),
        _ => return Err(ENOENT),
    };
    Ok(())
}

/// What `/proc/meminfo` and `/proc/vmstat` add to the page allocator's
/// counts: page cache, mapped pages, slab, stacks, page tables, commit.
pub fn mem_extra() -> crate::mm::vmstat::MemExtra {
    use crate::mm::vma::{VM_ACCOUNT, VM_LOCKED};
    let mut x = crate::mm::vmstat::MemExtra::default();
    let shmem = crate::mm::shmem::NR_SHMEM.load(Relaxed);
    x.shmem = shmem;
    x.anon_huge = crate::mm::huge_memory::NR_ANON_THPS.load(Relaxed) * crate::mm::huge_memory::HPAGE_PMD_NR;
    x.cached = crate::fs::pages::nr_file_frames() as u64 + shmem;
    crate::mm::kmem::SLAB.for_each_cache(|c| {
        let pages = c.stats().num_slabs << c.layout().map_or(0, |l| l.order);
        // Caches of reclaimable objects: none here yet.
        x.slab_unreclaimable += pages;
    });
    x.kernel_stack_kb = sched::nr_tasks() as u64 * crate::proc::THREAD_SIZE / 1024;
    let mut seen: alloc::vec::Vec<usize> = alloc::vec::Vec::new();
    for pid in sched::pids() {
        let Some(t) = sched::task(pid) else { continue };
        let Some(mm) = t.mm.as_ref() else { continue };
        // Threads share one address space: count it once.
        if seen.contains(&mm.id()) {
            continue;
        }
        seen.push(mm.id());
        x.anon += mm.rss.anon;
        x.mapped += mm.rss.file + mm.rss.shmem;
        x.page_tables += mm.pt.nr_tables;
        for v in mm.vm.iter() {
            if v.flags & VM_ACCOUNT != 0 {
                x.committed += v.pages();
            }
            if v.flags & VM_LOCKED != 0 {
                x.mlocked += v.pages();
            }
        }
    }
    x.page_tables += crate::mm::vmalloc::NR_KERNEL_TABLES.load(Relaxed);
    x.commit_limit = super::sys::commit_limit();
    x.vmalloc_total_kb = (crate::mm::vmap_area::VMALLOC_END - crate::mm::vmap_area::VMALLOC_START + 1) >> 10;
    x.vmalloc_used = crate::mm::vmalloc::NR_VMALLOC_PAGES.load(Relaxed);
    x.direct_map_kb = crate::mm::init::direct_map_kb();
    (x.swap_total, x.swap_free) = crate::mm::swapfile::totals();
    x.swap_cached = crate::mm::swapfile::swap_cache_pages();
    {
        use crate::mm::lru::LruList;
        let lruvec = crate::mm::user_mem::LRUVEC.lock();
        (x.lru_active_anon, x.lru_inactive_anon) = (lruvec.len(LruList::ActiveAnon), lruvec.len(LruList::InactiveAnon));
    }
    x
}

/// `/proc/stat` (Linux `show_stat`): CPU time in ticks (all of it counted
/// as idle or user: the kernel does not account), interrupts, context
/// switches, boot time, forks, running and blocked tasks.
fn stat(w: &mut String) -> core::fmt::Result {
    let ticks = sched::TICKS.load(Relaxed);
    for cpu in ["cpu ", "cpu0"] {
        writeln!(w, "{cpu} 0 0 0 {ticks} 0 0 0 0 0 0")?;
    }
    writeln!(w, "intr {ticks}")?;
    writeln!(w, "ctxt {}", sched::NR_SWITCHES.load(Relaxed))?;
    let boot = crate::time::realtime_ns() - crate::time::uptime_ns() as i64;
    writeln!(w, "btime {}", boot.div_euclid(1_000_000_000))?;
    writeln!(w, "processes {}", crate::proc::last_pid())?;
    let running = sched::pids().iter().filter(|&&p| sched::task(p).is_some_and(|t| t.state == sched::TaskState::Runnable)).count();
    writeln!(w, "procs_running {running}")?;
    writeln!(w, "procs_blocked 0")?;
    writeln!(w, "softirq 0 0 0 0 0 0 0 0 0 0 0")
}

/// `/proc/cpuinfo` for the one CPU (Linux `show_cpuinfo`, x86): what
/// CPUID says, plus the page size facts.
fn cpuinfo(w: &mut String) -> core::fmt::Result {
    let id = crate::arch::cpu::identify();
    writeln!(w, "processor\t: 0")?;
    writeln!(w, "vendor_id\t: {}", id.vendor)?;
    writeln!(w, "cpu family\t: {}", id.family)?;
    writeln!(w, "model\t\t: {}", id.model)?;
    writeln!(w, "model name\t: {}", id.brand)?;
    writeln!(w, "stepping\t: {}", id.stepping)?;
    writeln!(w, "physical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\napicid\t\t: 0\ninitial apicid\t: 0")?;
    writeln!(w, "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes", id.max_leaf)?;
    writeln!(w, "flags\t\t: {}", id.flags)?;
    writeln!(w, "clflush size\t: 64\ncache_alignment\t: 64")?;
    writeln!(w, "address sizes\t: {} bits physical, {} bits virtual", id.phys_bits, id.virt_bits)?;
    writeln!(w, "power management:\n")
}
