//! Boots the real VM at several sizes and checks what the kernel reported
//! about the memory it was given.

use tests::*;

#[test]
fn boots_64m_and_powers_off() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(64 * M, ""));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert!(report.boot_time.is_some(), "the kernel never reported mm ready");
    for line in console.lines() {
        assert!(strip_timestamp(line).is_some(), "line without a printk timestamp: {line:?}");
    }
    assert_line(&console, "BIOS-provided physical RAM map:");
    assert_line(&console, "BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable");
    assert_line(&console, "BIOS-e820: [mem 0x00000000000a0000-0x00000000000fffff] reserved");
    assert_line(&console, "BIOS-e820: [mem 0x0000000000100000-0x0000000003ffffff] usable");
    assert_line(&console, "max_pfn = 0x4000 max_low_pfn = 0x4000");
    assert_line(&console, "init_memory_mapping: [mem 0x00100000-0x03ffffff]");
    assert_line(&console, "mm: direct map verified over 2 free ranges");
    assert!(console.contains("K/65152K available ("), "{console}");
    assert_line(&console, "reboot: Power down");
}

#[test]
fn boots_1g_with_large_pages_in_the_direct_map() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(G, "memblock=debug"));
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    assert_line(&console, "BIOS-e820: [mem 0x0000000000100000-0x000000003fffffff] usable");
    assert_line(&console, "max_pfn = 0x40000 max_low_pfn = 0x40000");
    // memblock: RAM below 640K and above 1M; the first 1M and the kernel
    // image (at 16M) reserved.
    assert_line(&console, " memory.cnt  = 0x2");
    assert_line(&console, " reserved[0x0]\t[0x0000000000000000-0x00000000000fffff], 0x0000000000100000 bytes flags: 0x0");
    assert!(console.contains(" reserved[0x1]\t[0x0000000001000000-"), "kernel image not reserved:\n{console}");
    // 1G - 2M of 2 MiB pages (or 1 GiB pages where the CPU has them), and
    // 4K pages only for the first 2 MiB.
    let direct_4k = console.lines().find_map(|l| strip_timestamp(l)?.strip_prefix("DirectMap4k:")).unwrap();
    assert_eq!(direct_4k.trim(), "1664 kB");
}

#[test]
fn boots_5g_across_the_mmio_hole_with_extra_holes() {
    if !kvm_available() {
        return;
    }
    let mut cfg = config(5 * G, "memblock=debug");
    cfg.mem_holes = vec![vmm::MemHole { start: 256 * M, size: 64 * M }, vmm::MemHole { start: 4 * G + 512 * M, size: 2 * M }];
    let report = boot(&cfg);
    let console = report.console_text();
    assert_eq!(report.outcome, Outcome::Exited(0), "{console}");
    for line in [
        "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable",
        "BIOS-e820: [mem 0x0000000010000000-0x0000000013ffffff] reserved",
        "BIOS-e820: [mem 0x0000000014000000-0x00000000bfffffff] usable",
        "BIOS-e820: [mem 0x00000000c0000000-0x00000000ffffffff] reserved",
        "BIOS-e820: [mem 0x0000000100000000-0x000000011fffffff] usable",
        "BIOS-e820: [mem 0x0000000120000000-0x00000001201fffff] reserved",
        "BIOS-e820: [mem 0x0000000120200000-0x000000017fffffff] usable",
        // RAM above 4 GiB: max_pfn is past it, max_low_pfn stops at the hole.
        "max_pfn = 0x180000 max_low_pfn = 0xc0000",
        " memory.cnt  = 0x5",
        "init_memory_mapping: [mem 0x100000000-0x11fffffff]",
        "init_memory_mapping: [mem 0x120200000-0x17fffffff]",
    ] {
        assert_line(&console, line);
    }
    // Both ends of every free range, the highest above 4 GiB, were written
    // and read back through the direct map: at least the six RAM pieces
    // (the memory map's reservations may split them further).
    let verified: u64 = console
        .lines()
        .filter_map(strip_timestamp)
        .find_map(|l| l.strip_prefix("mm: direct map verified over ")?.strip_suffix(" free ranges"))
        .expect("no direct map check")
        .parse()
        .unwrap();
    assert!(verified >= 6, "only {verified} free ranges verified");
    let total_k = (5 * G - 384 * 1024 - 66 * M) >> 10;
    assert!(console.contains(&format!("K/{total_k}K available")), "expected {total_k}K of RAM:\n{console}");
}

#[test]
fn boot_time_is_reported_for_tests_and_verbose_runs() {
    if !kvm_available() {
        return;
    }
    let run = vmm_cli(&["run", "--no-init", "--mem", "64M", "--timeout", "60", "--verbose"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("vmm: boot time (VMM start to mm ready): "), "{}", run.stderr);
    assert!(run.stdout.contains("reboot: Power down"), "console did not reach stdout:\n{}", run.stdout);
}

/// `quiet` and `loglevel=` filter the console as Linux does: the routine
/// boot lines (`KERN_INFO`) go, errors and the power-off line stay; the
/// default shows everything. (The lines leave through the VMM's console
/// port, a line per exit, with the same text as before.)
#[test]
fn quiet_and_loglevel_filter_the_console() {
    if !kvm_available() {
        return;
    }
    let full = boot(&config(64 * M, "")).console_text();
    assert_line(&full, "Linux version 6.1.0-rvmm (guest-kernel 0.1.0) #1 SMP");
    for cmdline in ["quiet", "loglevel=4", "quiet loglevel=1"] {
        let report = boot(&config(64 * M, cmdline));
        let console = report.console_text();
        assert_eq!(report.outcome, Outcome::Exited(0), "{cmdline}: {console}");
        assert!(!console.contains("Linux version"), "{cmdline}: {console}");
        assert_line(&console, "reboot: Power down");
        assert_eq!(console.lines().count(), 1, "{cmdline}: {console}");
    }
    // An error line stays under quiet: a planted leak's report.
    let run = run_init(64 * M, "quiet test=leak-page", &programs::path("hello"), &[], &[]);
    assert!(run.console.contains("init: LEAK: 1 pages"), "{}", run.console);
    assert!(!run.console.contains("init: exited with status"), "{}", run.console);
}

/// The VMM's descriptors do not leak into programs its host process
/// starts: everything it opens for a VM is close-on-exec, so a child
/// spawned while a VM runs inherits no more than one spawned before.
/// (Two interrupt eventfds once leaked; the host-side fuzzer, started from
/// a test process with VMs running, saw them as descriptors of its own.)
#[test]
fn a_running_vm_leaks_no_descriptor_into_children() {
    if !kvm_available() {
        return;
    }
    let inherited = || {
        let out = std::process::Command::new("sh").args(["-c", "ls /proc/$$/fd"]).output().expect("run sh");
        let mut fds: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect();
        fds.sort();
        fds
    };
    let before = inherited();
    let mut config = config(64 * M, "");
    config.init = Some(init_image(64 * M, &sleeper_program(), &[]));
    let run = run_controlled(&config, |ctl| {
        ctl.wait_for_snapshot(|_, _| true).expect("a snapshot from the running guest");
        let during = inherited();
        let _ = ctl.shutdown();
        during
    });
    let leaked: Vec<&String> = run.result.iter().filter(|fd| !before.contains(fd)).collect();
    assert!(leaked.is_empty(), "a child spawned while the VM ran inherited descriptors {leaked:?} (before: {before:?})");
}
