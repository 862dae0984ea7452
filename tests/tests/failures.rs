//! A guest that fails ends `vmm` with a distinct exit code and a readable
//! dump on stderr.

use tests::*;

#[test]
fn planted_panic_is_reported_with_registers_and_console_tail() {
    if !kvm_available() {
        return;
    }
    let run = vmm_cli(&["run", "--mem", "64M", "--timeout", "60", "--cmdline", "test=panic"]);
    assert_eq!(run.code, exit_code::GUEST_PANIC, "{}", run.stderr);
    let err = &run.stderr;
    assert!(err.contains("vmm: guest kernel panic: test=panic: planted kernel panic at guest-kernel/src/init.rs:"), "{err}");
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
    let run = vmm_cli(&["run", "--mem", "64M", "--timeout", "60", "--cmdline", "test=triple-fault"]);
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
    let run = vmm_cli(&["run", "--mem", "64M", "--timeout", "1", "--cmdline", "test=hang"]);
    assert_eq!(run.code, exit_code::TIMEOUT, "{}", run.stderr);
    assert!(run.stderr.contains("vmm: guest timed out after"), "{}", run.stderr);
    assert!(run.stderr.contains("test: spinning forever"), "{}", run.stderr);
}
