//! `selftest=rmapcheck`: after every process exit (and before init's
//! teardown) walk every address space's page tables and check that each
//! mapped page's `_mapcount` is exactly the number of PTEs that map it and
//! its `_refcount` is that plus the owner's reference (page cache or shmem
//! object) for non-anonymous pages and the swap cache's for pages in it:
//! the invariant fork, COW, munmap, reclaim and exit must keep.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::mm::addr::Pfn;

pub static ENABLED: AtomicBool = AtomicBool::new(false);
pub static RUNS: AtomicU64 = AtomicU64::new(0);
pub static FAILURES: AtomicU64 = AtomicU64::new(0);
/// Most pages any one check saw mapped.
pub static MAX_PAGES: AtomicU64 = AtomicU64::new(0);
/// Checks left out because memory was short: the check's own map of every
/// mapped page must not take what reclaim is freeing.
pub static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Free pages above the high watermarks a check wants (256 KiB: its map
/// for some 13,000 mapped pages).
const MARGIN_PAGES: u64 = 64;

/// Runs the check if enabled; prints what is wrong.
pub fn run(when: &str) {
    if !ENABLED.load(Relaxed) {
        return;
    }
    if crate::mm::buddy::page_alloc().memory_is_low(MARGIN_PAGES) {
        SKIPPED.fetch_add(1, Relaxed);
        return;
    }
    RUNS.fetch_add(1, Relaxed);
    if let Err(report) = check() {
        FAILURES.fetch_add(1, Relaxed);
        pr_err!("rmapcheck: FAILED {when}: {report}");
    }
}

/// Counts PTEs per page over every task and compares with the counters.
pub fn check() -> Result<u64, String> {
    let mut maps: BTreeMap<u64, i32> = BTreeMap::new();
    // An address space shared by threads is counted once.
    let mut seen: alloc::vec::Vec<usize> = alloc::vec::Vec::new();
    for pid in super::sched::pids() {
        let Some(task) = super::sched::task(pid) else { continue };
        let Some(mm) = task.mm.as_mut() else { continue };
        if seen.contains(&mm.id()) {
            continue;
        }
        seen.push(mm.id());
        let ranges: alloc::vec::Vec<(crate::mm::addr::UserAddr, crate::mm::addr::UserAddr)> = mm.vm.iter().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            mm.pt.for_each_present(start, end, |_, e| {
                *maps.entry(e.get().pfn().as_u64()).or_insert(0) += 1;
            });
            // A huge PMD maps each of its pages once (counted in the VMA
            // where it starts, should a VMA edge cross it).
            mm.pt.for_each_huge(start, end, |va, pmd| {
                if va >= start {
                    for i in 0..crate::mm::huge_memory::HPAGE_PMD_NR {
                        *maps.entry(pmd.pfn().as_u64() + i).or_insert(0) += 1;
                    }
                }
            });
        }
    }
    MAX_PAGES.fetch_max(maps.len() as u64, Relaxed);
    let mut report = String::new();
    let mut bad = 0;
    for (&pfn, &count) in &maps {
        let page = crate::mm::buddy::pfn_to_page(Pfn::new(pfn));
        let owner = i32::from(!crate::mm::uvm::is_anon(page)) + i32::from(page.test(crate::mm::page::pg::SWAPCACHE));
        if page.mapcount() != count || page.refcount() != count + owner {
            bad += 1;
            if bad <= 5 {
                let _ = write!(report, "pfn {pfn:#x}: {count} PTEs, mapcount {}, refcount {} (want {}); ", page.mapcount(), page.refcount(), count + owner);
            }
        }
    }
    if bad > 0 {
        let _ = write!(report, "{bad} of {} mapped pages wrong", maps.len());
        return Err(report);
    }
    Ok(maps.len() as u64)
}
