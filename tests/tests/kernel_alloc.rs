//! The kernel's allocators on top of the buddy allocator: slab caches and
//! kmalloc (the kernel's global allocator), vmalloc, kmap; on a 2 GiB guest
//! with `lowmem=512M` so that HighMem is in play.

use tests::*;

fn text_lines(console: &str) -> Vec<&str> {
    console.lines().filter_map(strip_timestamp).collect()
}

#[test]
fn slab_vmalloc_kmap_selftests_and_dumps() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(2 * G, "lowmem=512M selftest=slab,vmalloc,kmap dump=slabinfo,vmallocinfo"));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    for test in ["slab", "vmalloc", "kmap"] {
        assert_line(&console, &format!("selftest {test}: ok"));
    }
    let lines = text_lines(&console);

    // /proc/slabinfo: Linux's header and one line per cache, the process
    // layer's caches included.
    let at = lines.iter().position(|l| *l == "/proc/slabinfo:").expect("no slabinfo dump");
    assert_eq!(lines[at + 1], "slabinfo - version: 2.1");
    assert!(lines[at + 2].starts_with("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"));
    let caches: Vec<&str> = lines[at + 3..].iter().take_while(|l| !l.starts_with("/proc/")).copied().collect();
    for name in ["task_struct", "mm_struct", "vm_area_struct", "kmalloc-8", "kmalloc-96", "kmalloc-192", "kmalloc-8k", "dma-kmalloc-64"] {
        let line = caches.iter().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("no {name} in {caches:?}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 16, "{line}");
        assert_eq!((fields[6], fields[11], fields[12]), (":", ":", "slabdata"), "{line}");
        let (active, total): (u64, u64) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        assert!(active <= total, "{line}");
    }
    let kmalloc_64: Vec<&str> = caches.iter().find(|l| l.starts_with("kmalloc-64 ")).unwrap().split_whitespace().collect();
    assert_eq!((kmalloc_64[3], kmalloc_64[4], kmalloc_64[5]), ("64", "64", "1"), "kmalloc-64: 64 objects of 64 bytes per 1-page slab");

    // /proc/vmallocinfo while the self-test held its areas: guard pages
    // included in the sizes, pages= for vmalloc areas.
    assert!(lines.contains(&"0xffffc90000000000-0xffffc90000002000    8192 vmalloc pages=1 vmalloc"), "{console}");
    assert!(lines.iter().any(|l| l.ends_with(" 1052672 vmalloc pages=256 vmalloc")), "{console}");
    assert!(lines.iter().any(|l| l.ends_with(" vzalloc pages=16 vmalloc")), "{console}");
}

#[test]
fn slab_redzone_overwrite_is_reported_and_contained() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(128 * M, "slub_debug=1 test=slab-redzone selftest=slab"));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert_line(&console, "slub: debugging (red zones, poisoning) on for all caches");
    assert_line(&console, "BUG kmalloc-64 (Not tainted): Redzone overwritten");
    let lines = text_lines(&console);
    assert!(lines.iter().any(|l| l.starts_with("INFO: Object 0xffff888") && l.contains(" @offset=")), "{console}");
    assert!(lines.iter().any(|l| l.starts_with("FIX kmalloc-64: Restoring Redzone")), "{console}");
    assert_line(&console, "test: slab-redzone: reported; no further damage after it");
    // And the allocator is still sound enough for the whole self-test.
    assert_line(&console, "selftest slab: ok");
}
