//! Transparent huge pages (issue 21): `tests/guest/thp.c` holds the guest
//! to what Linux does in each mode (it also runs natively, in
//! `user_native`), under the debug checks; busybox reads and writes the
//! sysfs knob; with the balloon, memory freed from huge pages goes back
//! to the host.

use tests::*;
use vmm::SnapshotExt;

const MEM: u64 = 128 * M;
const DEBUG: &str = "page_debug=1 slub_debug=1 selftest=rmapcheck";

/// In each mode the program's checks pass, with a huge page required
/// where the mode allows one (no fallback is acceptable in a fresh
/// guest), the rmap check finds every page counted right, and nothing
/// leaks. The default mode is `madvise`. `always` runs without
/// `page_debug`, which sets up every descriptor of a block when it is
/// allocated: there a huge page's 511 tails are set up only when it is
/// split.
#[test]
fn huge_pages_in_each_mode_as_linux_has_them() {
    if !kvm_available() {
        return;
    }
    for (mode, cmdline, passed) in [
        ("madvise", DEBUG.to_string(), 25),
        ("always", "transparent_hugepage=always slub_debug=1 selftest=rmapcheck".to_string(), 25),
        ("never", format!("transparent_hugepage=never {DEBUG}"), 9),
    ] {
        let run = run_init(MEM, &cmdline, &programs::path("thp"), &[], &["require"]);
        if let Err(e) = programs::check_tap(&run.stdout) {
            panic!("{mode}: {e}\n--- stdout:\n{}--- console:\n{}", run.stdout, run.console);
        }
        assert!(run.stdout.contains(&format!("# mode: {mode}\n")), "{mode}:\n{}", run.stdout);
        assert!(run.stdout.contains(&format!("{passed} passed, 0 failed")), "{mode}:\n{}", run.stdout);
        assert_eq!(run.code, 0, "{mode}:\n{}", run.console);
        assert!(run.console.contains("selftest rmapcheck: ok"), "{mode}:\n{}", run.console);
        assert_no_kernel_reports(&run.console, &[], mode);
    }
}

/// The knob as a shell user sees it: read, written, refused when the
/// word is not a mode (EINVAL, the mode stays) or the writer is not root,
/// and a bad mode on the command line is reported and ignored.
#[test]
fn the_sysfs_knob_reads_and_writes_as_in_linux() {
    if !kvm_available() {
        return;
    }
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(busybox.exists(), "/bin/busybox is missing: install Debian's busybox-static (the tests' build script tries to)");
    let script = "cd /sys/kernel/mm/transparent_hugepage && ls && cat enabled hpage_pmd_size && echo always > enabled && cat enabled \
                  && (echo sometimes > enabled || echo refused) && cat /sys/kernel/mm/transparent_hugepage/enabled";
    let run = run_init(MEM, "transparent_hugepage=sometimes", busybox, &[], &["sh", "-c", script]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    assert_eq!(
        run.stdout, "enabled\nhpage_pmd_size\nalways [madvise] never\n2097152\n[always] madvise never\nrefused\n[always] madvise never\n",
        "{}",
        run.console
    );
    assert!(run.console.contains("transparent_hugepage: unknown mode \"sometimes\", keeping madvise"), "{}", run.console);
    // Only root writes it.
    let script = "echo always > /sys/kernel/mm/transparent_hugepage/enabled || echo refused; cat /sys/kernel/mm/transparent_hugepage/enabled";
    let (cli, _) = vmm_run_report(&["--user", "1000", "--init", busybox.to_str().unwrap(), "--", "sh", "-c", script]);
    assert_eq!(cli.stdout, "refused\nalways [madvise] never\n", "{}", cli.stderr);
}

/// Huge pages and free page reporting together: 32 MiB touched in huge
/// pages (`always`), freed, reported to the host, and taken again (the
/// program checks it reads zeros), under the debug checks; the stats
/// stream saw the huge pages.
#[test]
fn huge_pages_freed_go_back_to_the_host() {
    if !kvm_available() {
        return;
    }
    let prog = programs::path("balloon_free");
    let cmdline = format!("transparent_hugepage=always {DEBUG}");
    let (cli, report) = vmm_run_report(&["--balloon", "--cmdline", &cmdline, "--init", prog.to_str().unwrap(), "--", "32", "4"]);
    let console = report.console_text();
    assert_eq!(cli.code, 0, "{}\n{console}", cli.stderr);
    assert!(cli.stdout.contains("balloon_free: 32 MiB touched, freed, reused: ok"), "{}", cli.stdout);
    assert!(console.contains("selftest rmapcheck: ok"), "{console}");
    assert_no_kernel_reports(&console, &[], "huge pages with the balloon");
    let b = report.balloon.expect("--balloon reports what the balloon did");
    assert!(b.reported_pages * 4096 >= 28 << 20, "32 MiB freed, {} KiB reported", b.reported_pages * 4);
    let most_huge = report.stats.messages.iter().filter_map(|m| m.snapshot()).filter_map(|s| s.meminfo_kb("AnonHugePages")).max().unwrap_or(0);
    assert!(most_huge >= 28 << 10, "AnonHugePages reached only {most_huge} kB");
}
