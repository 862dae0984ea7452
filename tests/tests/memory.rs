//! The physical memory layer on the real memory map: zones, the buddy
//! allocator's self-test, Linux-format statistics, and boot cost that does
//! not grow with RAM.

use tests::*;

/// The lines printed after `/proc/NAME:` by `dump=`, without timestamps,
/// up to the next dump or the end of the dumps.
fn proc_file(console: &str, name: &str) -> Vec<String> {
    let header = format!("/proc/{name}:");
    let mut lines = console.lines().filter_map(strip_timestamp).skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "no {header} in the console:\n{console}");
    lines.take_while(|l| !l.starts_with("/proc/") && !l.starts_with("reboot:")).map(str::to_string).collect()
}

fn meminfo_kb(meminfo: &[String], field: &str) -> u64 {
    let line = meminfo.iter().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("no {field} in {meminfo:?}"));
    assert!(line.ends_with(" kB") && line.len() == 27, "not Linux's meminfo format: {line:?}");
    line[field.len() + 1..line.len() - 3].trim().parse().unwrap()
}

/// Usable RAM in the E820 map the kernel printed, in kB.
fn e820_usable_kb(console: &str) -> u64 {
    console
        .lines()
        .filter_map(strip_timestamp)
        .filter_map(|l| l.strip_prefix("BIOS-e820: [mem ")?.strip_suffix("] usable"))
        .map(|range| {
            let (s, e) = range.split_once('-').unwrap();
            let parse = |x: &str| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap();
            (parse(e) + 1 - parse(s)) / 1024
        })
        .sum()
}

fn zones_in_buddyinfo(buddyinfo: &[String]) -> Vec<String> {
    buddyinfo
        .iter()
        .map(|l| {
            assert!(l.starts_with("Node 0, zone "), "not a buddyinfo line: {l:?}");
            assert_eq!(l.split_whitespace().count(), 4 + 11, "not 11 orders: {l:?}");
            l[13..21].trim().to_string()
        })
        .collect()
}

#[test]
fn selftest_on_5g_with_highmem_and_holes() {
    if !kvm_available() {
        return;
    }
    let mut cfg = config(5 * G, "lowmem=1G selftest=buddy page_debug=1 dump=meminfo,buddyinfo,zoneinfo,vmstat");
    cfg.mem_holes = vec![vmm::MemHole { start: 256 * M, size: 64 * M }, vmm::MemHole { start: 4 * G + 512 * M, size: 2 * M }];
    let report = boot(&cfg);
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert_line(&console, "selftest buddy: ok");
    for zone in ["DMA", "DMA32", "HighMem"] {
        assert_line(&console, &format!("selftest buddy: zone {zone:>7}: orders 0-10 ok"));
    }
    // The planted failures were reported the Linux way.
    assert!(console.contains("swapper/0: page allocation failure: order:3, mode:0x4c1(GFP_KERNEL|__GFP_DMA), nodemask=(null)"), "{console}");
    assert_line(&console, "page dumped because: double free");
    assert!(console.lines().any(|l| strip_timestamp(l).is_some_and(|l| l.starts_with("BUG: Bad page state in process swapper/0  pfn:"))));

    assert_eq!(zones_in_buddyinfo(&proc_file(&console, "buddyinfo")), ["DMA", "DMA32", "HighMem"]);
    let meminfo = proc_file(&console, "meminfo");
    let high = meminfo_kb(&meminfo, "HighTotal");
    // HighMem is everything above 1 GiB: 2 GiB below the MMIO hole and
    // 2 GiB above 4 GiB, minus the 2 MiB hole up there.
    assert_eq!(high, (4 * G - 2 * M) / 1024);
    assert!(meminfo_kb(&meminfo, "HighFree") <= high);
    assert_eq!(meminfo_kb(&meminfo, "MemTotal"), meminfo_kb(&meminfo, "LowTotal") + high);
    let zoneinfo = proc_file(&console, "zoneinfo");
    assert!(zoneinfo.iter().any(|l| l == "Node 0, zone  HighMem"), "{zoneinfo:?}");
    let vmstat = proc_file(&console, "vmstat");
    for counter in ["pgalloc_dma", "pgalloc_dma32", "pgalloc_high"] {
        let line = vmstat.iter().find(|l| l.starts_with(&format!("{counter} "))).unwrap_or_else(|| panic!("no {counter}"));
        let n: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(n > 0, "{counter} is zero after the self-test");
    }
}

#[test]
fn zones_and_memtotal_on_5g_without_highmem() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(5 * G, "dump=meminfo,buddyinfo"));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert_eq!(zones_in_buddyinfo(&proc_file(&console, "buddyinfo")), ["DMA", "DMA32", "Normal"]);
    assert_line(&console, "  DMA      [mem 0x0000000000000000-0x0000000000ffffff]");
    assert_line(&console, "  Normal   [mem 0x0000000100000000-0x000000017fffffff]");
    assert_line(&console, "  HighMem  empty");

    // MemTotal is the E820 RAM minus what boot reserved: the first 1 MiB
    // (of which 640K is RAM), the kernel image, page tables, the memory map.
    let meminfo = proc_file(&console, "meminfo");
    let total = meminfo_kb(&meminfo, "MemTotal");
    let usable = e820_usable_kb(&console);
    let memory_line = console.lines().filter_map(strip_timestamp).find(|l| l.starts_with("Memory: ")).unwrap();
    let reserved: u64 = memory_line.split(", ").find_map(|p| p.strip_suffix("K reserved")).unwrap().parse().unwrap();
    assert_eq!(total, usable - reserved, "{memory_line}");
    // 48-byte struct pages: the memory map is 3/256 of RAM, plus slack.
    assert!(reserved < usable * 3 / 256 + 4096, "{reserved}K reserved of {usable}K: {memory_line}");
    assert_eq!(meminfo_kb(&meminfo, "HighTotal"), 0);
    // Boot allocated only the slab caches' first slabs and vmalloc's PUD
    // tables from the buddy allocator.
    let used = total - meminfo_kb(&meminfo, "MemFree");
    assert!(used > 0 && used <= 1024, "{used} kB in use after boot");
}

/// Boot must not touch every struct page: 4 GiB boots within 1.5x of
/// 64 MiB. Best of five, interleaved, to keep other tests' load out.
#[test]
fn boot_time_does_not_grow_with_ram() {
    if !kvm_available() {
        return;
    }
    let best = |mem: u64| boot(&config(mem, "")).boot_time.expect("no boot time");
    let (mut small, mut large) = (std::time::Duration::MAX, std::time::Duration::MAX);
    for _ in 0..5 {
        small = small.min(best(64 * M));
        large = large.min(best(4 * G));
    }
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    eprintln!("boot to mm ready: 64M {small:?}, 4G {large:?}, ratio {ratio:.2}");
    assert!(ratio <= 1.5, "4 GiB boots {ratio:.2}x slower than 64 MiB ({large:?} vs {small:?})");
}

#[test]
fn all_four_zones_when_lowmem_ends_above_4g() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(5 * G, "lowmem=4608M dump=buddyinfo,meminfo"));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert_eq!(zones_in_buddyinfo(&proc_file(&console, "buddyinfo")), ["DMA", "DMA32", "Normal", "HighMem"]);
    assert_line(&console, "  Normal   [mem 0x0000000100000000-0x000000011fffffff]");
    assert_line(&console, "  HighMem  [mem 0x0000000120000000-0x000000017fffffff]");
    // The direct map stops at lowmem's end.
    assert_line(&console, "init_memory_mapping: [mem 0x100000000-0x11fffffff]");
    assert_eq!(meminfo_kb(&proc_file(&console, "meminfo"), "HighTotal"), 1536 * 1024);
}
