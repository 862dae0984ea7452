//! Swap areas: `vmm run --swap` gives the guest virtio-blk devices that
//! its driver finds on the command line, reads the swap header of and
//! adds as swap, with Linux's messages, priorities and /proc formats.

use std::path::Path;

use tests::{kvm_available, run_vmm, Scratch};

#[test]
fn swap_devices_are_found_and_listed_as_linux_lists_them() {
    if !kvm_available() {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "/bin/busybox is missing: install Debian's busybox-static (the tests' build script tries to)");
    let scratch = Scratch::new("swap-areas");
    let ours = scratch.dir.join("ours.swap");
    // The second area made by Linux's mkswap when the host has it, else
    // by the VMM as well.
    let theirs = scratch.dir.join("theirs.swap");
    std::fs::File::create(&theirs).unwrap().set_len(8 << 20).unwrap();
    let theirs_spec = match std::process::Command::new("mkswap").arg(&theirs).output() {
        Ok(out) if out.status.success() => theirs.display().to_string(),
        _ => {
            std::fs::remove_file(&theirs).unwrap();
            format!("{}:8M", theirs.display())
        }
    };
    let ours_spec = format!("{}:16M", ours.display());
    let script = "/bin/busybox cat /proc/swaps; /bin/busybox grep Swap /proc/meminfo; /bin/busybox free | /bin/busybox grep Swap";
    let run = run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "128M",
        "--swap",
        &ours_spec,
        "--swap",
        &theirs_spec,
        "--init",
        "/bin/busybox",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 0, "{}", run.vmm_stderr);
    let want = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                /dev/vda                                partition\t16380\t\t0\t\t-2\n\
                /dev/vdb                                partition\t8188\t\t0\t\t-3\n\
                SwapCached:            0 kB\nSwapTotal:         24568 kB\nSwapFree:          24568 kB\n\
                Swap:         24568           0       24568\n";
    assert_eq!(run.stdout, want, "{}", run.console);
    for line in [
        "virtio_blk virtio0: [vda] 32768 512-byte logical blocks (16384 kB), at 0xd0001000 irq 16",
        "Adding 16380k swap on /dev/vda.  Priority:-2 extents:1 across:16380k",
        "Adding 8188k swap on /dev/vdb.  Priority:-3 extents:1 across:8188k",
    ] {
        assert!(run.console.contains(line), "no {line:?} in\n{}", run.console);
    }
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}

/// `MADV_PAGEOUT` sends anonymous pages to the swap device and the next
/// touch reads them back, through fork, mremap, munmap and exit, with the
/// kernel's debug checks on: no leak, no page-count error, every slot free
/// at the end. (Natively, on a host without swap, the same program passes
/// with its pages never leaving memory: `tests/tests/user_native.rs`.)
#[test]
fn pages_go_to_swap_and_come_back() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("swap-pageout");
    let spec = format!("{}:16M", scratch.dir.join("swap").display());
    let program = tests::programs::path("swap_pageout");
    let program = program.to_str().unwrap();
    let run = run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "128M",
        "--cmdline",
        "page_debug=1 slub_debug=1 selftest=rmapcheck",
        "--swap",
        &spec,
        "--init",
        program,
        "--",
        "x",
    ]);
    assert!(run.stdout.contains("# swap: 16380 kB, 16380 kB free"), "{}", run.stdout);
    assert!(run.stdout.contains("16 passed, 0 failed"), "{}\n{}", run.stdout, run.console);
    assert_eq!(run.code, 0, "{}", run.console);
    tests::assert_no_kernel_reports(&run.console, &[], &run.stdout);
    assert!(run.console.contains("selftest rmapcheck: ok"), "{}", run.console);
}

/// More anonymous memory than the guest has (32 MiB in 32 MiB, whose RAM
/// is 29 MiB once the kernel has its share), written, then shared with a
/// child by fork: direct reclaim sends pages to swap instead of calling
/// the OOM killer, the ones both processes map through the swap cache, and
/// every page comes back intact in the child and then in the parent, with
/// the debug checks on and nothing leaked. Without swap the same request
/// is more than the machine has, and `mmap` refuses it as Linux's
/// heuristic overcommit does (swap counts towards what it allows).
#[test]
fn memory_pressure_reclaims_to_swap_instead_of_killing() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("swap-pressure");
    let spec = format!("{}:64M", scratch.dir.join("swap").display());
    let program = tests::programs::path("swap_pressure");
    let program = program.to_str().unwrap();
    let cmdline = "page_debug=1 selftest=rmapcheck";
    let recording = scratch.dir.join("stats.jsonl");
    let recording = recording.to_str().unwrap();
    let with_swap =
        ["run", "--timeout", "150", "--mem", "32M", "--cmdline", cmdline, "--swap", &spec, "--stats-out", recording, "--init", program, "--", "32", "fork"];
    let run = run_vmm(&with_swap);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    assert!(run.stdout.contains("child: 8192 pages checked, 0 bad"), "{}\n{}", run.stdout, run.console);
    assert!(run.stdout.contains("32 MiB: 8192 pages checked, 0 bad"), "{}\n{}", run.stdout, run.console);
    let counter = |name: &str| tests::counter_in(&run.stdout, name);
    // At least what does not fit went out, and came back in.
    assert!(counter("pswpout") >= 1024, "{}", run.stdout);
    assert!(counter("pswpin") >= 1024, "{}", run.stdout);
    // Neighbouring pages went to neighbouring slots, so readahead brought
    // pages that the next faults found.
    assert!(counter("swap_ra_hit") > 0 && counter("pgmajfault") < counter("pswpin"), "{}", run.stdout);
    // kswapd, woken below the low watermark, reclaimed in the background.
    assert!(counter("pgsteal_kswapd") > 0, "{}", run.stdout);
    tests::assert_no_kernel_reports(&run.console, &["Out of memory"], &run.stdout);
    assert!(run.console.contains("selftest rmapcheck: ok"), "{}", run.console);
    // The stats channel carried the swap figures through the pressure.
    let stats = run_vmm(&["stats", recording]);
    let line = stats.stdout.lines().find(|l| l.starts_with("swap: 65532 kB, most in use ")).unwrap_or_else(|| panic!("{}", stats.stdout));
    let most: u64 = line["swap: 65532 kB, most in use ".len()..].split(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(most >= 1024, "swap use never seen in the recording: {line}");
    assert!(stats.stdout.contains("pgmajfault ") && !stats.stdout.contains("pgmajfault 0 "), "{}", stats.stdout);

    let run = run_vmm(&["run", "--timeout", "150", "--mem", "32M", "--init", program, "--", "32"]);
    assert_eq!((run.code, run.stderr.trim()), (2, "mmap: Out of memory"), "{}\n{}", run.stdout, run.console);
}

/// Locked memory stays in RAM under pressure: reclaim moves the pages of
/// an mlocked VMA to the unevictable list the first time it meets them
/// (`unevictable_pgs_culled`) and sends the other pages to swap; after
/// `munlock` they are back on the inactive list
/// (`unevictable_pgs_rescued`) and the next round of pressure may take
/// them. Every page reads what was written, with the reverse-map check
/// after every exit.
#[test]
fn locked_pages_stay_in_memory_until_munlock() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("swap-mlock");
    let spec = format!("{}:64M", scratch.dir.join("swap").display());
    let program = tests::programs::path("swap_mlock");
    let args =
        ["run", "--timeout", "150", "--mem", "32M", "--cmdline", "selftest=rmapcheck", "--swap", &spec, "--init", program.to_str().unwrap(), "--", "4", "26"];
    let run = run_vmm(&args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    assert!(run.stdout.contains("round 0: locked VMA swap 0 kB"), "{}", run.stdout);
    let after_munlock = tests::counter_in(&run.stdout, "round 1: locked VMA swap");
    assert!(after_munlock > 0, "unlocked, the pages may go to swap: {}", run.stdout);
    let counter = |name: &str| tests::counter_in(&run.stdout, name);
    assert!(counter("unevictable_pgs_culled") > 0 && counter("unevictable_pgs_rescued") > 0, "{}", run.stdout);
    assert!(run.stdout.contains("0 bad pages"), "{}", run.stdout);
    tests::assert_no_kernel_reports(&run.console, &[], &run.stdout);
    assert!(run.console.contains("selftest rmapcheck: ok"), "{}", run.console);
}

/// The built-in demo's second act (`vmm run -- pressure`): seed 003's
/// memory pressure, narrated with the guest's own counters. kswapd does
/// the reclaim while the program writes more than RAM; a working set
/// that fits comes back once and then stays; one larger than RAM moves
/// pages both ways on every pass; everything comes back at the end.
/// Without swap the act says what it needs.
#[test]
fn the_demos_second_act_shows_memory_pressure() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("demo-pressure");
    let spec = format!("{}:64M", scratch.dir.join("swap").display());
    let run = run_vmm(&["run", "--timeout", "240", "--mem", "32M", "--swap", &spec, "--", "pressure"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    let number_after = |needle: &str| -> u64 {
        let rest = run.stdout.split(needle).nth(1).unwrap_or_else(|| panic!("no {needle:?} in\n{}", run.stdout));
        rest.trim_start().split(|c: char| !c.is_ascii_digit()).next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no number after {needle:?}"))
    };
    assert!(number_after("in the background (") > 0, "kswapd reclaimed nothing:\n{}", run.stdout);
    assert!(number_after("pages went out; swap holds") > 0, "{}", run.stdout);
    assert!(number_after("pass 1:") > 0, "the working set that fits came back without a fault:\n{}", run.stdout);
    let second_fit = run.stdout.lines().find(|l| l.starts_with("reading the first") && l.contains("pass 2:")).expect("a second pass");
    assert!(second_fit.contains("pass 2: 0 major faults"), "{second_fit}");
    let thrash = run.stdout.lines().filter(|l| l.starts_with("reading all") && !l.contains(": 0 major faults")).count();
    assert_eq!(thrash, 2, "every pass over more than RAM faults:\n{}", run.stdout);
    // The pages read back were evicted earlier: refaults, as the
    // workingset detection counts them.
    assert!(number_after("in; ") > 0, "no refault seen:\n{}", run.stdout);
    tests::assert_no_kernel_reports(&run.console, &[], &run.stdout);
    assert!(run.console.contains("init: exited with status 0"), "{}", run.console);

    let run = run_vmm(&["run", "--timeout", "60", "--", "pressure"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.contains("this act needs a swap area: vmm run --mem 32M --swap"), "{}", run.stdout);
}

/// `vm.page-cluster`, the swap readahead window, as Linux has it: 3 by
/// default, 0 to 31 accepted, anything else `EINVAL`, written by root
/// only; and the readahead counters in `/proc/vmstat`.
#[test]
fn page_cluster_is_linuxs_knob() {
    if !kvm_available() {
        return;
    }
    let script = "cat /proc/sys/vm/page-cluster; echo 0 > /proc/sys/vm/page-cluster && cat /proc/sys/vm/page-cluster; \
                  echo 32 > /proc/sys/vm/page-cluster || echo refused; grep swap_ra /proc/vmstat";
    let run = run_vmm(&["run", "--timeout", "60", "--init", "/bin/busybox", "--", "sh", "-c", script]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    assert_eq!(run.stdout, "3\n0\nrefused\nswap_ra 0\nswap_ra_hit 0\n", "{}", run.console);
    // Only root writes it (the others' bits of 0644), as any vm sysctl;
    // drop_caches (0200) others cannot even read.
    let script = "echo 1 > /proc/sys/vm/page-cluster || echo refused; cat /proc/sys/vm/page-cluster; cat /proc/sys/vm/drop_caches || echo unreadable";
    let run = run_vmm(&["run", "--timeout", "60", "--user", "1000", "--init", "/bin/busybox", "--", "sh", "-c", script]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    assert_eq!(run.stdout, "refused\n3\nunreadable\n", "{}", run.console);
}

/// Swap full too: a program that needs more than RAM and swap together
/// (40 MiB in a 32 MiB guest with 4 MiB of swap, overcommit allowed) is
/// killed by the OOM killer with Linux's report once reclaim finds no slot
/// left; the shell that ran it goes on, and its memory and swap slots all
/// come back.
#[test]
fn swap_full_ends_in_the_oom_killer_and_the_kernel_lives() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("swap-full");
    let spec = format!("{}:4M", scratch.dir.join("swap").display());
    let program = tests::programs::path("swap_pressure");
    let file = format!("{}:/bin/swap_pressure", program.display());
    let script = "echo 1 > /proc/sys/vm/overcommit_memory; /bin/swap_pressure 40; echo \"status $?\"; \
                  /bin/busybox grep SwapFree /proc/meminfo; /bin/busybox grep oom_kill /proc/vmstat";
    let run = run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "32M",
        "--cmdline",
        "page_debug=1 selftest=rmapcheck",
        "--swap",
        &spec,
        "--file",
        &file,
        "--init",
        "/bin/busybox",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.console);
    assert!(run.console.contains("Out of memory: Killed process 2 (swap_pressure) total-vm:"), "{}", run.console);
    for want in ["status 137", "SwapFree:           4084 kB", "oom_kill 1"] {
        assert!(run.stdout.contains(want), "no {want:?} in\n{}\n{}", run.stdout, run.console);
    }
    assert!(!run.stdout.contains("pages checked"), "{}", run.stdout);
    tests::assert_no_kernel_reports(&run.console, &[], &run.stdout);
}

/// A swap device that fails on the host: the swap file lives on a 256 KiB
/// tmpfs, which is full after a few dozen pages, so the VMM's writes fail
/// and the guest gets `VIRTIO_BLK_S_IOERR`. The kernel reports the first
/// errors (then counts them), keeps the pages it could not write, and when
/// nothing can be reclaimed the OOM killer takes the hog; the shell that
/// ran it goes on, nothing leaks, and the VMM carries on to a clean power
/// off. (Run by re-executing this test binary inside a private mount
/// namespace where the tmpfs is mounted: needs root and util-linux's
/// unshare.)
#[test]
fn a_swap_device_that_fails_writes_costs_the_hog_not_the_kernel() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("swap-ioerr");
    let dir = scratch.dir.to_str().expect("UTF-8 scratch path");
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", "mount -t tmpfs -o size=256k none \"$0\" && exec \"$@\"", dir])
        .arg(&exe)
        .args(["--exact", "swap_write_errors_inside_a_namespace", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("SWAP_IOERR_DIR", dir)
        .output()
        .expect("run unshare (util-linux)");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the run in a private mount namespace (root and unshare needed) failed: {:?}\n{text}", out.status);
    assert!(text.contains("test swap_write_errors_inside_a_namespace ... ok"), "{text}");
}

/// The guest side of the test above, inside its namespace.
#[test]
#[ignore = "run by a_swap_device_that_fails_writes_costs_the_hog_not_the_kernel, inside a mount namespace"]
fn swap_write_errors_inside_a_namespace() {
    let dir = std::env::var("SWAP_IOERR_DIR").expect("SWAP_IOERR_DIR: run through the test above");
    let spec = format!("{dir}/swap:16M");
    let program = tests::programs::path("swap_pressure");
    let file = format!("{}:/bin/swap_pressure", program.display());
    let run = run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "32M",
        "--swap",
        &spec,
        "--file",
        &file,
        "--init",
        "/bin/busybox",
        "--",
        "sh",
        "-c",
        "/bin/swap_pressure 32; echo \"status $?\"",
    ]);
    assert_eq!(run.code, 0, "{}\n{}\n{}", run.stdout, run.console, run.vmm_stderr);
    assert!(run.console.contains("virtio_blk: swap area 0: write of page "), "no write error reported\n{}", run.console);
    assert!(run.console.contains(" failed: I/O error"), "{}", run.console);
    assert!(run.console.contains("Out of memory: Killed process 2 (swap_pressure)"), "{}", run.console);
    assert!(run.stdout.contains("status 137"), "{}", run.stdout);
    tests::assert_no_kernel_reports(&run.console, &[], &run.stdout);
    let reported = run.console.matches("virtio_blk: swap area 0: ").count();
    assert!(reported <= 5, "every error reported ({reported}): {}", run.console);
}
