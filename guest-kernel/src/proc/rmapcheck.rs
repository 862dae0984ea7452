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
/// Huge PMDs are counted per huge page, and their 512 pages checked
/// against those counts in one ordered pass (a map entry per page of
/// every huge page would cost seconds per check where ring 0 is
/// emulated).
pub fn check() -> Result<u64, String> {
    use crate::mm::huge_memory::HPAGE_PMD_NR;
    let mut maps: BTreeMap<u64, i32> = BTreeMap::new();
    let mut huge: BTreeMap<u64, i32> = BTreeMap::new();
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
                    *huge.entry(pmd.pfn().as_u64()).or_insert(0) += 1;
                }
            });
        }
    }
    // Every mapped page with its count: PTEs, plus the PMDs of its huge
    // page. Both maps are ordered, so the huge pages' pages merge in.
    let mut counted = 0u64;
    let mut report = String::new();
    let mut bad = 0;
    let mut ptes = maps.iter().peekable();
    let mut heads = huge.iter().peekable();
    loop {
        let next_head = heads.peek().map(|(&h, _)| h);
        let next_pte = ptes.peek().map(|(&p, _)| p);
        let (pfn, count) = match (next_head, next_pte) {
            (None, None) => break,
            (Some(h), p) if p.is_none_or(|p| p >= h) => {
                let (_, &pmds) = heads.next().expect("peeked");
                let recorded = crate::mm::huge_memory::pmd_mapcount(&crate::mm::user_mem::KernelUserMem, Pfn::new(h));
                if recorded != pmds as u32 {
                    bad += 1;
                    let _ = write!(report, "huge page {h:#x}: {pmds} PMDs, its count says {recorded}; ");
                }
                for pfn in h..h + HPAGE_PMD_NR {
                    let from_ptes = match ptes.peek() {
                        Some((&p, &c)) if p == pfn => {
                            ptes.next();
                            c
                        }
                        _ => 0,
                    };
                    counted += 1;
                    check_page(pfn, pmds + from_ptes, &mut bad, &mut report);
                }
                continue;
            }
            _ => {
                let (&p, &c) = ptes.next().expect("peeked");
                (p, c)
            }
        };
        counted += 1;
        check_page(pfn, count, &mut bad, &mut report);
    }
    MAX_PAGES.fetch_max(counted, Relaxed);
    check_reverse_map(maps.keys().chain(huge.keys()), &mut bad, &mut report);
    if bad > 0 {
        let _ = write!(report, "{bad} of {counted} mapped pages wrong");
        return Err(report);
    }
    Ok(counted)
}

/// The reverse map finds as many mappings of each anonymous page as its
/// map count says, each of them mapping that page.
fn check_reverse_map<'a>(pfns: impl Iterator<Item = &'a u64>, bad: &mut u64, report: &mut String) {
    use crate::mm::user_mem::KernelUserMem;
    let mut mms = super::mm::address_spaces();
    for &pfn in pfns {
        let pfn = Pfn::new(pfn);
        let page = crate::mm::buddy::pfn_to_page(pfn);
        if crate::mm::huge_memory::page_folio(&KernelUserMem, pfn) != pfn || !crate::mm::uvm::is_anon(page) {
            continue;
        }
        let mut wrong = None;
        let found = crate::mm::rmap::rmap_walk_anon(&KernelUserMem, pfn, &mut mms, |mm, va| {
            if mm.pt.lookup(va).map(|e| e.pfn()) != Some(pfn) {
                wrong = Some(va);
            }
            core::ops::ControlFlow::Continue(())
        });
        if found != crate::mm::rmap::page_mappings(page) || wrong.is_some() {
            *bad += 1;
            if *bad <= 5 {
                let _ = write!(report, "pfn {:#x}: mapcount {}, the reverse map found {found} (a wrong one at {wrong:x?}); ", pfn.as_u64(), page.mapcount());
            }
        }
    }
}

/// One page mapped `count` times: its map count and references agree.
fn check_page(pfn: u64, count: i32, bad: &mut u64, report: &mut String) {
    let page = crate::mm::buddy::pfn_to_page(crate::mm::huge_memory::page_folio(&crate::mm::user_mem::KernelUserMem, Pfn::new(pfn)));
    let owner = i32::from(!crate::mm::uvm::is_anon(page)) + i32::from(page.test(crate::mm::page::pg::SWAPCACHE));
    if page.mapcount() != count || page.refcount() != count + owner {
        *bad += 1;
        if *bad <= 5 {
            let _ = write!(report, "pfn {pfn:#x}: mapped {count} times, mapcount {}, refcount {} (want {}); ", page.mapcount(), page.refcount(), count + owner);
        }
    }
}
