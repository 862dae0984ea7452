//! The memory balloon (`vmm run --balloon`, issue 21): memory a program
//! frees goes back to the host two seconds later (free page reporting),
//! and comes back to the guest zeroed; the host inflates and deflates the
//! balloon (`vmm balloon PATH SIZE` on the control socket, or
//! `Control::set_balloon`).

use tests::*;
use vmm::SnapshotExt;

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
    assert_line(&console, "virtio_balloon: at 0xd0001000 irq 16: inflate, deflate, and free page reporting of blocks of 2048 KiB and up, 2 s after they free");
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
    assert_line(&console, "virtio_balloon: at 0xd0001000 irq 16: inflate and deflate; free page reporting off (page_poison=1)");
    assert_eq!(report.balloon.expect("the device is there").reports, 0);
    assert_no_kernel_reports(&console, &[], "balloon with page_poison");
}

/// The host inflates the balloon to 16 MiB and deflates it again: the
/// driver gets there, `MemTotal` falls by the balloon's size and comes
/// back, `/proc/vmstat` counts the pages, the VMM discarded them, and
/// nothing leaks. With `page_poison=1` the pages given back are poisoned
/// again on their way to the free lists, and the poison checks pass.
#[test]
fn the_host_inflates_and_deflates_the_balloon() {
    if !kvm_available() {
        return;
    }
    let mem = 128 << 20;
    let config = vmm::VmConfig { balloon: true, init: Some(init_image(mem, &sleeper_program(), &[])), ..config(mem, "page_debug=1 page_poison=1") };
    let run = run_controlled(&config, |ctl| {
        let total = |ctl: &vmm::Control| ctl.snapshot().expect("a snapshot").meminfo_kb("MemTotal").expect("MemTotal");
        let before = total(ctl);
        ctl.set_balloon(4096).expect("the guest has a balloon");
        assert_eq!(ctl.wait_balloon().expect("the driver inflates"), 4096);
        let inflated = total(ctl);
        ctl.set_balloon(0).expect("deflate");
        assert_eq!(ctl.wait_balloon().expect("the driver deflates"), 0);
        let after = total(ctl);
        ctl.shutdown().expect("an orderly end");
        (before, inflated, after)
    });
    let (before, inflated, after) = run.result;
    assert_eq!(run.report.outcome, vmm::Outcome::Exited(0), "{}", run.stderr);
    assert_eq!(before - inflated, 16 << 10, "MemTotal {before} kB -> {inflated} kB with 16 MiB in the balloon");
    assert_eq!(after, before, "MemTotal comes back when the balloon deflates");
    let b = run.report.balloon.expect("--balloon reports what the balloon did");
    assert_eq!((b.inflated_pages, b.deflated_pages, b.target_pages, b.actual_pages), (4096, 4096, 0, 0), "{b:?}");
    assert_eq!(b.rejected, 0, "{b:?}");
    assert_no_kernel_reports(&run.stderr, &[], "inflate and deflate");
}

/// `vmm balloon` drives a running `vmm run --control-socket`: the answer
/// says the size reached, a bad size is refused by the client, and the
/// socket is gone when the VMM exits. The guest exits with pages still in
/// the balloon, which the leak check does not count as lost.
#[test]
fn vmm_balloon_on_the_control_socket() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("balloon-socket");
    let socket = scratch.dir.join("vmm.sock");
    let mut c = Code::new();
    c.sleep_ms(8000).exit(0);
    let init = scratch.file("sleep8", &static_elf(&c.0), 0o755);
    let (sock, init_path) = (socket.to_str().unwrap().to_string(), init.to_str().unwrap().to_string());
    let vmm_thread = std::thread::spawn(move || vmm_run_report(&["--balloon", "--control-socket", &sock, "--init", &init_path]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !socket.exists() {
        assert!(std::time::Instant::now() < deadline, "no control socket");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let balloon = |extra: &[&str]| {
        let mut argv = vec!["vmm", "balloon", socket.to_str().unwrap()];
        argv.extend_from_slice(extra);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = vmm::cli::run_with_args(argv, &mut out, &mut err).code;
        (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
    };
    let (code, _, err) = balloon(&["4097"]);
    assert_ne!(code, 0);
    assert!(err.contains("whole 4 KiB pages"), "{err}");
    let (code, out, err) = balloon(&["4M", "--wait"]);
    assert_eq!((code, out.trim()), (0, "target 1024 actual 1024"), "{err}");
    let (code, out, err) = balloon(&[]);
    assert_eq!((code, out.trim()), (0, "target 1024 actual 1024"), "{err}");
    let (cli, report) = vmm_thread.join().unwrap();
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(!socket.exists(), "the socket is removed at exit");
    let console = report.console_text();
    assert_no_kernel_reports(&console, &[], "balloon at exit");
    let b = report.balloon.unwrap();
    assert_eq!((b.inflated_pages, b.actual_pages), (1024, 1024), "{b:?}");
}

/// A balloon blown up to most of the guest's memory does not get a
/// program that needs memory killed: before the OOM killer chooses, the
/// driver deflates (`VIRTIO_BALLOON_F_DEFLATE_ON_OOM`, 1 MiB at a time),
/// the program gets its 12 MiB, and `actual` falls below the target the
/// host set, which stays.
#[test]
fn the_balloon_deflates_before_the_oom_killer_chooses() {
    if !kvm_available() {
        return;
    }
    let mem = 128 << 20;
    let toucher = toucher_program(3072, 0);
    let config = vmm::VmConfig { balloon: true, init: Some(init_image(mem, &sleeper_program(), &[("/bin/toucher", &toucher)])), ..config(mem, "") };
    let run = run_controlled(&config, |ctl| {
        ctl.set_balloon(28672).expect("the guest has a balloon");
        let held = ctl.wait_balloon().expect("the driver inflates to 112 MiB");
        let pid = ctl.run(&["/bin/toucher"]).expect("run the toucher");
        let status = ctl.wait(pid).expect("the toucher ends");
        let (target, actual) = ctl.balloon().expect("a balloon");
        let last = ctl.snapshot().expect("a snapshot");
        ctl.shutdown().expect("an orderly end");
        (held, status, target, actual, last.vmstat("oom_kill"), last.vmstat("balloon_deflate"))
    });
    let (held, status, target, actual, oom_kills, deflated) = run.result;
    assert_eq!(run.report.outcome, vmm::Outcome::Exited(0), "{}", run.stderr);
    assert_eq!(held, 28672);
    assert_eq!(status, 0, "the toucher was not killed\n{}", run.stderr);
    assert_eq!(oom_kills, Some(0), "{}", run.stderr);
    assert!(deflated.unwrap_or(0) >= 256, "the balloon deflated {deflated:?} pages");
    assert!(target == 28672 && actual < target, "target {target}, actual {actual}");
    assert_no_kernel_reports(&run.stderr, &["Out of memory"], "deflate on OOM");
}
