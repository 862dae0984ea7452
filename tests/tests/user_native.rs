//! The user test programs (`tests/guest/*.c`) run natively on this Linux
//! host: this is what proves that their expectations are Linux's. The same
//! binaries run as init in the guest (other tests).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use tests::programs;

fn run(name: &str, args: &[&str]) -> Output {
    let path = programs::path(name);
    Command::new(&path).args(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
}

/// Runs a TAP program (argv[0] is its path, which mm_files and mm_errors
/// open) and asserts exit 0 and `N passed, 0 failed` with N > 0.
fn tap(name: &str) {
    let out = run(name, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Err(e) = programs::check_tap(&stdout) {
        panic!("{name}: {e}\n--- stdout:\n{stdout}--- stderr:\n{stderr}");
    }
    assert!(out.status.success(), "{name} exited with {:?}\n--- stdout:\n{stdout}--- stderr:\n{stderr}", out.status);
    println!("{stdout}");
}

#[test]
fn swap_pageout() {
    tap("swap_pageout");
}

#[test]
fn thp() {
    tap("thp");
}

#[test]
fn mm_malloc() {
    tap("mm_malloc");
}

#[test]
fn mm_brk() {
    tap("mm_brk");
}

#[test]
fn mm_demand() {
    tap("mm_demand");
}

#[test]
fn mm_ops() {
    tap("mm_ops");
}

#[test]
fn mm_errors() {
    tap("mm_errors");
}

#[test]
fn mm_files() {
    tap("mm_files");
}

#[test]
fn proc_files() {
    tap("proc_files");
}

#[test]
fn mm_syscalls() {
    tap("mm_syscalls");
}

/// A writable filesystem: write/pwrite/O_APPEND/truncate/unlink, and
/// MAP_SHARED mappings, write() and read() on the same page-cache pages,
/// across fork too.
#[test]
fn fs_write() {
    tap("fs_write");
}

#[test]
fn mm_malloc_pie() {
    tap("mm_malloc_pie");
}

#[test]
fn proc_rmap() {
    tap("proc_rmap");
}

#[test]
fn oom() {
    tap("oom");
}

#[test]
fn proc_exec() {
    let out = run("proc_exec", &[programs::FATAL]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    programs::check_tap(&stdout).unwrap_or_else(|e| panic!("proc_exec: {e}\n{stdout}"));
}

#[test]
fn proc_spawn() {
    tap("proc_spawn");
}

#[test]
fn proc_fork() {
    tap("proc_fork");
}

#[test]
fn proc_signal() {
    tap("proc_signal");
}

#[test]
fn proc_poll() {
    tap("proc_poll");
}

#[test]
fn proc_threads() {
    tap("proc_threads");
}

#[test]
fn proc_fork_glibc() {
    tap("proc_fork_glibc");
}

#[test]
fn proc_signal_glibc() {
    tap("proc_signal_glibc");
}

#[test]
fn proc_threads_glibc() {
    tap("proc_threads_glibc");
}

#[test]
fn isolation() {
    tap("isolation");
}

/// The swap pressure program on the host: every page reads back what was
/// written (here nothing needs to leave memory).
#[test]
fn swap_pressure_reads_back_every_page() {
    let out = run("swap_pressure", &["16"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}", out.status);
    assert!(stdout.contains("16 MiB: 4096 pages checked, 0 bad"), "{stdout}");
}

/// The locked-memory program on the host: 1 MiB locked (within the
/// default `RLIMIT_MEMLOCK` of 8 MiB), 4 MiB of other memory, every page
/// read back, and the locked VMA never in swap.
#[test]
fn swap_mlock_keeps_locked_memory() {
    let out = run("swap_mlock", &["1", "4"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("round 0: locked VMA swap 0 kB") && stdout.contains("0 bad pages"), "{stdout}");
}

#[test]
fn every_tap_program_is_tested() {
    let mut all = programs::names();
    all.retain(|n| {
        !matches!(
            *n,
            "fatal"
                | "bench_fault"
                | "bench_threads"
                | "bench_ops"
                | "bench_fork"
                | "balloon_free"
                | "mm_malloc_pie"
                | "proc_exec"
                | "fuzz"
                | "leave_behind"
                | "hello_dyn"
                | "hello_glibc_dyn"
                | "run_then_cat"
                | "exec_each"
                | "hello"
                | "creds"
                | "creds_glibc"
                | "swap_pressure"
                | "swap_mlock"
        )
    });
    assert_eq!(all, programs::TAP);
}

#[test]
fn fatal_cases_die_of_sigsegv() {
    for case in programs::FATAL_CASES {
        let out = run("fatal", &[case]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.signal(), Some(11), "fatal {case}: {:?}, want SIGSEGV\n{stdout}", out.status);
        assert!(stdout.contains(&format!("fatal {case}: about to ")), "fatal {case} printed {stdout:?}");
        assert!(!stdout.contains("survived"), "fatal {case}: {stdout}");
    }
}

#[test]
fn fatal_refuses_an_unknown_case() {
    let out = run("fatal", &["bogus"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: fatal "));
}
