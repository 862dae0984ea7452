//! HighMem: pages outside the direct map, reached through kmap and
//! kmap_local, on a 2 GiB guest with `lowmem=512M`.

use tests::*;

#[test]
fn kmap_selftest_on_2g_with_lowmem_512m() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(2 * G, "lowmem=512M selftest=kmap,buddy dump=vmstat,counters"));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert_line(&console, "lowmem=512M: 512MB LOWMEM available, 1536MB HIGHMEM above 0x20000000");
    assert_line(&console, "init_memory_mapping: [mem 0x00100000-0x1fffffff]");
    assert_line(&console, "selftest kmap: ok");
    assert_line(&console, "selftest buddy: ok");
    // 576 pages through a 512-slot window: it wrapped and flushed.
    let stats = console.lines().filter_map(strip_timestamp).find(|l| l.starts_with("selftest kmap: ") && l.contains("PKMAP flushes")).unwrap();
    assert!(stats.contains(" 1152 HighMem kmaps, ") && !stats.contains(" 0 PKMAP flushes"), "{stats}");
    let counter = |name: &str| -> u64 {
        let prefix = format!("{name} ");
        console.lines().filter_map(strip_timestamp).find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no {name}")).parse().unwrap()
    };
    assert!(counter("kmap_high") >= 1152);
    assert!(counter("pkmap_flushes") >= 1);
    assert!(counter("kmap_atomic_high") >= 576);
}
