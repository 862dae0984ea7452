//! The syscall fuzzer (`tests/guest/fuzz.c`) as init, a bounded slice of
//! it: a few seeds with the kernel's debug options on (`slub_debug=1
//! page_debug=1 selftest=rmapcheck`). Every run must end with no finding,
//! no kernel report (BUG, oops, panic, LEAK, rmapcheck failure) and a
//! clean power-off. Long campaigns: `tests/scripts/fuzz-campaign.sh`.
//!
//! The same program also runs natively (in the test, without the
//! namespaces a long campaign would want it is safe: it signals only its
//! own children and makes no call that acts outside itself), so its model
//! is held to Linux.

use std::process::Command;

use tests::{kvm_available, programs, run_init, M};

/// Calls per seed in the guest: a couple of minutes for the slice here,
/// where each system call costs about half a millisecond of emulated ring
/// 0 and the debug options several times that.
const CALLS: &str = "300";
const MEM: u64 = 256 * M;
const DEBUG: &str = "slub_debug=1 page_debug=1 selftest=rmapcheck";

fn fuzz_in_guest(seed: u32) {
    if !kvm_available() {
        return;
    }
    let seed = seed.to_string();
    let run = run_init(MEM, DEBUG, &programs::path("fuzz"), &[], &["--seed", &seed, "--calls", CALLS]);
    let report = format!("--- stdout:\n{}--- console:\n{}", run.stdout, run.console);
    assert!(run.stdout.contains(&format!("fuzz: seed {seed}: {CALLS} calls, 0 findings")), "seed {seed}: findings\n{report}");
    assert_eq!(run.code, 0, "seed {seed}\n{report}");
    tests::assert_no_kernel_reports(&run.console, &[], &format!("seed {seed}\n{}", run.stdout));
    assert!(run.console.contains("selftest rmapcheck: ok"), "seed {seed}\n{report}");
    assert!(run.console.contains("reboot: Power down"), "seed {seed}\n{report}");
}

#[test]
fn fuzz_seed_1() {
    fuzz_in_guest(1);
}

#[test]
fn fuzz_seed_2() {
    fuzz_in_guest(2);
}

#[test]
fn fuzz_seed_3() {
    fuzz_in_guest(3);
}

/// The fuzzer's model is Linux's: natively it finds nothing, and the same
/// seed gives the same output.
#[test]
fn fuzz_natively_finds_nothing_and_is_deterministic() {
    let dir = std::env::temp_dir();
    let run = || {
        let out = Command::new(programs::path("fuzz")).args(["--seed", "7", "--calls", "3000", "--dir"]).arg(&dir).output().expect("run the fuzzer natively");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    assert!(first.contains("fuzz: seed 7: 3000 calls, 0 findings"), "{first}");
    assert_eq!(first, run(), "the same seed must give the same output");
}

/// One seed with a swap device: the fuzzer's `MADV_PAGEOUT`s send pages to
/// swap among its forks, mremaps, munmaps and checks of every page.
#[test]
fn fuzz_with_swap() {
    if !kvm_available() {
        return;
    }
    let scratch = tests::Scratch::new("fuzz-swap");
    let spec = format!("{}:32M", scratch.dir.join("swap").display());
    let fuzz = programs::path("fuzz");
    let run = tests::run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "256M",
        "--cmdline",
        DEBUG,
        "--swap",
        &spec,
        "--init",
        fuzz.to_str().unwrap(),
        "--",
        "--seed",
        "4",
        "--calls",
        CALLS,
    ]);
    let report = format!("--- stdout:\n{}--- console:\n{}", run.stdout, run.console);
    assert!(run.stdout.contains(&format!("fuzz: seed 4: {CALLS} calls, 0 findings")), "findings\n{report}");
    assert_eq!(run.code, 0, "{report}");
    tests::assert_no_kernel_reports(&run.console, &[], &run.stdout);
    assert!(run.console.contains("selftest rmapcheck: ok"), "{report}");
}

/// The fuzzer with allocation failures injected (`fail_page_alloc=1
/// failslab=1`, one allocation in a hundred failing, seeded): calls that
/// need memory may refuse with ENOMEM or EAGAIN (`--inject` counts those
/// instead of calling them findings), a fault whose page could not be had
/// is taken again rather than killing the process (memory is not short),
/// and the kernel neither panics nor leaks.
#[test]
fn fuzz_with_allocation_failures() {
    if !kvm_available() {
        return;
    }
    let fuzz = programs::path("fuzz");
    let cmdline = format!("{DEBUG} fail_page_alloc=1 failslab=1 fail_seed=5");
    let run = tests::run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "128M",
        "--cmdline",
        &cmdline,
        "--init",
        fuzz.to_str().unwrap(),
        "--",
        "--seed",
        "5",
        "--calls",
        CALLS,
        "--inject",
    ]);
    let report = format!("--- stdout:\n{}--- console:\n{}", run.stdout, run.console);
    assert!(run.stdout.contains(&format!("fuzz: seed 5: {CALLS} calls, 0 findings, ")), "findings\n{report}");
    assert_eq!(run.code, 0, "{report}");
    tests::assert_no_kernel_reports(&run.console, &["Out of memory"], &run.stdout);
    let failed = |key: &str| tests::injected_failures(&run.console, key).unwrap_or_else(|| panic!("no count for {key}: {report}"));
    assert!(failed("fail_page_alloc") > 0 && failed("failslab") > 0, "nothing was injected\n{report}");
    assert!(run.console.contains("selftest rmapcheck: ok"), "{report}");
}

/// One seed with every anonymous write that can map a huge page mapping
/// one (`transparent_hugepage=always`): the fuzzer's munmap, mprotect,
/// mremap, fork and pageout then split and share them, under the debug
/// checks; the snapshots show that huge pages were made and split.
#[test]
fn fuzz_with_huge_pages() {
    use vmm::SnapshotExt;
    if !kvm_available() {
        return;
    }
    let fuzz = programs::path("fuzz");
    let mem = (MEM >> 20).to_string() + "M";
    let cmdline = format!("transparent_hugepage=always {DEBUG}");
    let (cli, report) =
        tests::vmm_run_report(&["--mem", &mem, "--cmdline", &cmdline, "--init", fuzz.to_str().unwrap(), "--", "--seed", "35", "--calls", CALLS]);
    let console = report.console_text();
    assert!(cli.stdout.contains(&format!("fuzz: seed 35: {CALLS} calls, 0 findings")), "findings\n{}\n{console}", cli.stdout);
    assert_eq!(cli.code, 0, "{console}");
    tests::assert_no_kernel_reports(&console, &[], "huge pages");
    assert!(console.contains("selftest rmapcheck: ok"), "{console}");
    let last = report.stats.last_snapshot.as_ref().map(|(_, s)| s).expect("a final snapshot");
    let (made, split) = (last.vmstat("thp_fault_alloc").unwrap_or(0), last.vmstat("thp_split_pmd").unwrap_or(0));
    assert!(made > 0 && split > 0, "huge pages made {made}, split {split}");
}
