//! Bad input on the command line gets one clear error and a non-zero exit,
//! never a panic of the VMM.

use tests::*;

fn assert_refused(args: &[&str], code: i32, message: &str) {
    let run = vmm_cli(args);
    assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(message), "{args:?}: expected {message:?} in:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{args:?}: the VMM panicked:\n{}", run.stderr);
    assert!(run.stdout.is_empty(), "{args:?}: the guest ran:\n{}", run.stdout);
}

#[test]
fn bad_memory_sizes() {
    assert_refused(&["run", "--mem", "0"], exit_code::USAGE, "below the minimum guest RAM of 32M");
    assert_refused(&["run", "--mem", "banana"], exit_code::USAGE, "'banana' is not a size");
    assert_refused(&["run", "--mem", "16M"], exit_code::USAGE, "below the minimum");
    assert_refused(&["run", "--mem", "2T"], exit_code::USAGE, "above the maximum");
    assert_refused(&["run", "--mem", "100000001"], exit_code::USAGE, "not a multiple of the 4K page size");
}

#[test]
fn bad_kernels() {
    let dir = std::env::temp_dir().join(format!("vmm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("not-elf");
    std::fs::write(&text, "just text\n").unwrap();
    let text = text.to_str().unwrap();
    assert_refused(&["run", "--kernel", text], exit_code::VMM_ERROR, "is not an x86-64 ELF executable: no ELF magic");
    assert_refused(&["run", "--kernel", "/nonexistent/kernel"], exit_code::VMM_ERROR, "cannot read kernel /nonexistent/kernel");
    // The test binary itself: an x86-64 ELF, but position-independent and
    // linked for user space.
    let me = std::env::current_exe().unwrap();
    let run = vmm_cli(&["run", "--kernel", me.to_str().unwrap()]);
    assert_eq!(run.code, exit_code::VMM_ERROR, "{}", run.stderr);
    assert!(run.stderr.contains("is not an x86-64 ELF executable"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_holes() {
    assert_refused(&["run", "--mem-hole", "256M"], exit_code::USAGE, "is not START:SIZE");
    assert_refused(&["run", "--mem-hole", "256M:0"], exit_code::USAGE, "size zero");
    assert_refused(&["run", "--mem", "64M", "--mem-hole", "2G:4M"], exit_code::VMM_ERROR, "it is not inside guest RAM");
    assert_refused(&["run", "--mem", "5G", "--mem-hole", "3G:4M"], exit_code::VMM_ERROR, "it is not inside guest RAM");
    assert_refused(&["run", "--mem-hole", "16M:1M"], exit_code::VMM_ERROR, "it overlaps the kernel image");
    assert_refused(&["run", "--mem-hole", "512K:4K"], exit_code::VMM_ERROR, "it overlaps the boot structures");
    assert_refused(&["run", "--mem-hole", "64M:100"], exit_code::VMM_ERROR, "multiples of 4K");
}

#[test]
fn bad_timeouts_and_command_lines() {
    assert_refused(&["run", "--timeout", "0"], exit_code::USAGE, "positive number of seconds");
    assert_refused(&["run", "--timeout", "soon"], exit_code::USAGE, "not a number of seconds");
    let long = "x".repeat(5000);
    assert_refused(&["run", "--cmdline", &long], exit_code::VMM_ERROR, "kernel command line is 5000 bytes, the limit is 4096");
    assert_refused(&["frobnicate"], exit_code::USAGE, "unrecognized subcommand");
}

#[test]
fn missing_kvm_names_the_problem_and_the_fix() {
    let cfg = VmConfig { kvm_device: "/nonexistent/kvm".into(), ..VmConfig::new() };
    let err = vmm::run(&cfg, Box::new(std::io::sink())).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/kvm does not exist: this host has no KVM (load the kvm module"), "{err}");
}
