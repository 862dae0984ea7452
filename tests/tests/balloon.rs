//! Free page reporting (`vmm run --balloon`, issue 21): memory a program
//! frees goes back to the host two seconds later, and comes back to the
//! guest zeroed.

use tests::*;

/// A program touches 32 MiB, frees it and sleeps: the guest reports the
/// freed blocks, the host's resident guest RAM falls by about as much,
/// and the memory the program then takes again reads as zeros.
#[test]
fn freed_memory_goes_back_to_the_host() {
    if !kvm_available() {
        return;
    }
    let prog = programs::path("balloon_free");
    let (cli, report) = vmm_run_report(&["--balloon", "--init", prog.to_str().unwrap(), "--", "32", "4"]);
    let console = report.console_text();
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, console);
    assert!(cli.stdout.contains("balloon_free: 32 MiB touched, freed, reused: ok"), "{}", cli.stdout);
    assert_line(&console, "virtio_balloon: at 0xd0001000 irq 16: free page reporting of blocks of 2048 KiB and up, 2 s after they free");
    assert_no_kernel_reports(&console, &[], "balloon");
    let b = report.balloon.expect("--balloon reports what the balloon did");
    assert_eq!(b.rejected, 0, "{b:?}");
    assert!(b.reported_pages * 4096 >= 28 << 20, "32 MiB freed, {} KiB reported", b.reported_pages * 4);
    assert!(b.resident_before >= 32 << 20, "the program's memory was resident: {b:?}");
    assert!(b.resident_after + (24 << 20) <= b.resident_before, "the host let go of most of it: {b:?}");
    // The stats stream carries the host's side of each snapshot: the
    // guest RAM resident falls after its peak, and the VMM's RSS with it.
    let host: Vec<vmm::stats::HostSample> = report.stats.messages.iter().filter_map(|m| m.host).collect();
    // The largest fall from an earlier sample to a later one.
    let fall = |of: fn(&vmm::stats::HostSample) -> u64| {
        let mut top = 0;
        host.iter()
            .map(|h| {
                top = top.max(of(h));
                top - of(h)
            })
            .max()
            .unwrap_or(0)
    };
    let (resident, rss) = (fall(|h| h.guest_resident_kb), fall(|h| h.vmm_rss_kb));
    assert!(resident >= 24 << 10, "resident guest RAM fell by only {resident} kB: {host:?}");
    assert!(rss >= 24 << 10, "the VMM's RSS fell by only {rss} kB");
}

/// Without `--balloon` there is no device and nothing is given back;
/// with `page_poison=1` the kernel does not report (a discarded page
/// would not read as its poison).
#[test]
fn no_reporting_without_the_balloon_or_with_page_poison() {
    if !kvm_available() {
        return;
    }
    let prog = programs::path("balloon_free");
    let (cli, report) = vmm_run_report(&["--init", prog.to_str().unwrap(), "--", "4", "0"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(report.balloon.is_none());
    assert!(!report.console_text().contains("virtio_balloon"), "{}", report.console_text());
    let (cli, report) = vmm_run_report(&["--balloon", "--cmdline", "page_debug=1 page_poison=1", "--init", prog.to_str().unwrap(), "--", "8", "3"]);
    let console = report.console_text();
    assert_eq!(cli.code, 0, "{}\n{console}", cli.stderr);
    assert_line(&console, "virtio_balloon: at 0xd0001000 irq 16: free page reporting off (page_poison=1)");
    assert_eq!(report.balloon.expect("the device is there").reports, 0);
    assert_no_kernel_reports(&console, &[], "balloon with page_poison");
}
