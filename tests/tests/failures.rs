//! A guest that fails ends `vmm` with a distinct exit code and a readable
//! dump on stderr.

use tests::*;

#[test]
fn planted_panic_is_reported_with_registers_and_console_tail() {
    if !kvm_available() {
        return;
    }
    let run = vmm_cli(&["run", "--no-init", "--mem", "64M", "--timeout", "60", "--cmdline", "test=panic"]);
    assert_eq!(run.code, exit_code::GUEST_PANIC, "{}", run.stderr);
    let err = &run.stderr;
    assert!(err.contains("vmm: guest kernel panic: test=panic: planted kernel panic at guest-kernel/src/selftest.rs:"), "{err}");
    for field in ["RIP: 0xffffffff8", "RSP: 0xffffffff8", "CR2: ", "CR3: 0x"] {
        assert!(err.contains(field), "dump lacks {field}:\n{err}");
    }
    assert!(err.contains("--- last "), "{err}");
    assert!(err.contains("Kernel panic - not syncing: test=panic"), "console tail missing:\n{err}");
    assert!(!err.contains("panicked at"), "the VMM itself panicked:\n{err}");
}

#[test]
fn kernel_page_fault_is_an_oops_and_a_panic() {
    if !kvm_available() {
        return;
    }
    let report = boot(&config(64 * M, "test=oops"));
    let console = report.console_text();
    match &report.outcome {
        Outcome::Panicked(p) => {
            assert_eq!(p.exception, Some((14, 0)), "expected #PF, read of a not-present page");
            assert_eq!(p.cr2, 0);
            assert!(p.rip >= 0xffff_ffff_8100_0000, "RIP {:#x} is not in the kernel image", p.rip);
            assert_eq!(p.message, "Fatal exception: page fault");
        }
        other => panic!("expected a panic, got {other:?}\n{console}"),
    }
    assert_line(&console, "BUG: unable to handle page fault for address: 0000000000000000");
    assert_line(&console, "#PF: supervisor read access in kernel mode");
    assert_eq!(report.exit_code(), exit_code::GUEST_PANIC);
}

#[test]
fn planted_triple_fault_is_reported() {
    if !kvm_available() {
        return;
    }
    let run = vmm_cli(&["run", "--no-init", "--mem", "64M", "--timeout", "60", "--cmdline", "test=triple-fault"]);
    assert_eq!(run.code, exit_code::TRIPLE_FAULT, "{}", run.stderr);
    let err = &run.stderr;
    assert!(err.contains("vmm: guest triple fault (KVM_EXIT_SHUTDOWN)"), "{err}");
    for field in ["RIP: 0xffffffff8", "RSP: ", "CR2: ", "CR3: 0x"] {
        assert!(err.contains(field), "dump lacks {field}:\n{err}");
    }
    assert!(err.contains("test: triple fault planted by test=triple-fault"), "console tail missing:\n{err}");
}

#[test]
fn timeout_stops_a_spinning_guest() {
    if !kvm_available() {
        return;
    }
    let run = vmm_cli(&["run", "--no-init", "--mem", "64M", "--timeout", "1", "--cmdline", "test=hang"]);
    assert_eq!(run.code, exit_code::TIMEOUT, "{}", run.stderr);
    assert!(run.stderr.contains("vmm: guest timed out after"), "{}", run.stderr);
    assert!(run.stderr.contains("test: spinning forever"), "{}", run.stderr);
}

/// Runs `test=NAME` and returns the kernel's panic report, which must be a
/// page fault.
fn planted_page_fault(name: &str) -> (vmm::GuestPanic, String) {
    let report = boot(&config(64 * M, &format!("test={name}")));
    let console = report.console_text();
    match report.outcome {
        Outcome::Panicked(p) if p.exception.is_some_and(|(vector, _)| vector == 14) => (p, console),
        other => panic!("test={name}: expected a #PF panic, got {other:?}\n{console}"),
    }
}

#[test]
fn kernel_rodata_is_read_only() {
    if !kvm_available() {
        return;
    }
    let (p, console) = planted_page_fault("wp");
    // Present + write: a protection violation, not a missing page.
    assert_eq!(p.exception, Some((14, 0x3)), "{console}");
    assert!(p.cr2 >= 0xffff_ffff_8100_0000, "CR2 {:#x} is not in the kernel image", p.cr2);
    assert_line(&console, "#PF: supervisor write access in kernel mode");
}

#[test]
fn kernel_data_is_not_executable() {
    if !kvm_available() {
        return;
    }
    let (p, console) = planted_page_fault("nx");
    // Present + instruction fetch.
    assert_eq!(p.exception, Some((14, 0x11)), "{console}");
    assert_eq!(p.cr2, p.rip, "the fault is the fetch at the called address");
    assert_line(&console, "#PF: supervisor instruction fetch access in kernel mode");
}

#[test]
fn ring0_int3_is_an_emulation_failure_here_and_a_breakpoint_trap_elsewhere() {
    if !kvm_available() {
        return;
    }
    let run = vmm_cli(&["run", "--no-init", "--mem", "64M", "--timeout", "60", "--cmdline", "test=int3"]);
    let err = &run.stderr;
    match run.code {
        // kvm_pvm: the hypervisor cannot emulate int3 at ring 0.
        exit_code::EMULATION_FAILURE => {
            assert!(err.contains("KVM_EXIT_INTERNAL_ERROR"), "{err}");
            assert!(err.contains("RIP: 0xffffffff8"), "{err}");
        }
        // VMX/SVM: int3 reaches the kernel's #BP handler.
        exit_code::GUEST_PANIC => assert!(err.contains("exception 3 (#BP)"), "{err}"),
        code => panic!("unexpected exit code {code}:\n{err}"),
    }
    assert!(err.contains("test: int3 at ring 0 planted by test=int3"), "console tail missing:\n{err}");
}

/// Allocation-failure injection (`fail_page_alloc=`, `failslab=`): with
/// one percent of page and slab allocations failing while init runs, the
/// process model's checks fail where memory ran out (ENOMEM, EAGAIN, a
/// child killed), but the kernel neither panics nor leaks, and the page
/// counts stay right. The same seed makes the same failures.
#[test]
fn injected_allocation_failures_are_survived() {
    if !kvm_available() {
        return;
    }
    let prog = programs::path("proc_fork");
    let cmdline = "fail_page_alloc=1 failslab=1 fail_seed=1 selftest=rmapcheck";
    let run = run_init(128 * M, cmdline, &prog, &[], &[]);
    let report = format!("vmm exit {}\n--- stdout:\n{}--- console:\n{}", run.code, run.stdout, run.console);
    assert!(run.code == 0 || run.code == 1, "{report}");
    tests::assert_no_kernel_reports(&run.console, &[], &report);
    let failed = |key: &str| tests::injected_failures(&run.console, key).unwrap_or_else(|| panic!("no count for {key}: {report}"));
    assert!(failed("fail_page_alloc") + failed("failslab") > 0, "{report}");
    assert!(run.console.contains("selftest rmapcheck: ok"), "{report}");
    assert!(run.stdout.contains("passed,"), "the program ran to its end: {report}");
    // Bad values are refused with a reason, and the boot goes on.
    let run = run_init(64 * M, "fail_page_alloc=200", &programs::path("hello"), &[], &[]);
    assert!(run.console.contains("fault injection: fail_page_alloc=200: PROB must be 0 to 100; off"), "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
}
