//! User programs as init in the guest: the C suite (`tests/guest/*.c`,
//! musl, static) and the built-in demo. Each TAP program also runs natively
//! in the same test, so the guest is held to what Linux does. After every
//! program the kernel's free-page and slab-object counts must be back where
//! they were before it started.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use tests::{kvm_available, programs, run_init, InitRun, M};

/// Guest RAM for the suite: small enough to boot fast, with room to spare.
const MEM: u64 = 128 * M;

fn guest(name: &str, args: &[&str]) -> InitRun {
    run_init(MEM, "", &programs::path(name), &[], args)
}

/// The kernel's account of init's end: the exit line and no leak report.
fn assert_clean_exit(name: &str, run: &InitRun, code: i32) {
    let line = format!("init: exited with status {code};");
    assert!(run.console.contains(&line), "{name}: no '{line}' in the console:\n{}", run.console);
    assert!(!run.console.contains("LEAK"), "{name}: the kernel reports a leak:\n{}", run.console);
    assert!(run.console.contains("reboot: Power down"), "{name}: the kernel did not shut down cleanly:\n{}", run.console);
    assert_eq!(run.code, code, "{name}: vmm exit code\n--- console:\n{}", run.console);
}

/// Runs TAP program `name` natively and in the guest; both must pass.
/// The guest's output comes back (empty without KVM).
fn tap(name: &str) -> String {
    if !kvm_available() {
        return String::new();
    }
    let native = Command::new(programs::path(name)).output().expect("run natively");
    let native_out = String::from_utf8_lossy(&native.stdout);
    programs::check_tap(&native_out).unwrap_or_else(|e| panic!("{name} natively: {e}\n{native_out}"));

    let run = guest(name, &[]);
    if let Err(e) = programs::check_tap(&run.stdout) {
        panic!("{name} in the guest: {e}\n--- stdout:\n{}--- console:\n{}", run.stdout, run.console);
    }
    assert_clean_exit(name, &run, 0);
    println!("{}", run.stdout);
    run.stdout
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

/// /proc as Linux's tree, with statfs, sendfile, copy_file_range and
/// groups. In the guest also soft-dirty tracking (this host's kernel may
/// lack it) and the /proc/sys writes (which would change the host).
#[test]
fn proc_files() {
    let out = tap("proc_files");
    for line in ["- ... a write sets it again", "- ... a write after mprotect sets it too", "- ... mmap runs out of VMAs (ENOMEM)"] {
        assert!(out.is_empty() || out.contains(line), "{line:?} did not run:\n{out}");
    }
}

/// mlock and its kin, mincore, msync, memfd seals, madvise, mseal,
/// process_madvise, prctl, PROCMAP_QUERY. The guest names anonymous
/// memory (`PR_SET_VMA_ANON_NAME`), which this host's kernel may lack.
#[test]
fn mm_syscalls() {
    let out = tap("mm_syscalls");
    assert!(out.is_empty() || out.contains("- /proc/self/maps shows [anon:probe name]"), "the anonymous-name checks did not run:\n{out}");
}

/// A writable filesystem: write/pwrite/O_APPEND/truncate/unlink, and
/// MAP_SHARED mappings, write() and read() on the same page-cache pages,
/// across fork too.
#[test]
fn fs_write() {
    tap("fs_write");
}

/// A static-PIE (ET_DYN without an interpreter) loads at ELF_ET_DYN_BASE
/// and relocates itself.
#[test]
fn mm_malloc_static_pie() {
    tap("mm_malloc_pie");
    if kvm_available() {
        let run = guest("mm_malloc_pie", &[]);
        assert!(run.stdout.contains("555555554000-"), "not loaded at ELF_ET_DYN_BASE:\n{}", run.stdout);
    }
}

/// fork with copy-on-write both ways, 16 children touching pages and
/// reaped, WNOHANG, a segfaulting and a killed child while the parent goes
/// on, execve, a fork bomb stopped by EAGAIN, sleeping: and afterwards every
/// page and slab object is back (the clean-exit check).
#[test]
fn proc_fork() {
    tap("proc_fork");
}

/// A pseudo-random fork/COW/munmap/exit workload with smaps checks; with
/// `selftest=rmapcheck` the kernel checks every mapped page's map and
/// reference counts against all page tables at each exit.
#[test]
fn proc_rmap_counts_stay_exact() {
    if !kvm_available() {
        return;
    }
    let native = Command::new(programs::path("proc_rmap")).output().expect("run natively");
    programs::check_tap(&String::from_utf8_lossy(&native.stdout)).expect("natively");
    let run = run_init(MEM, "selftest=rmapcheck", &programs::path("proc_rmap"), &[], &[]);
    programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.console));
    let line = run.console.lines().find(|l| l.contains("selftest rmapcheck: ")).unwrap_or_else(|| panic!("{}", run.console));
    assert!(line.contains("selftest rmapcheck: ok ("), "{line}");
    let checks: u64 = line.split("ok (").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(checks >= 10, "only {checks} checks ran: {line}");
    assert!(!run.console.contains("rmapcheck: FAILED"), "{}", run.console);
    assert_clean_exit("proc_rmap", &run, 0);
}

/// A memory hog in a 32 MiB guest is chosen by the OOM killer (largest
/// RSS), reported with Linux's line and killed; the small process beside it
/// and the parent finish; nothing leaks.
#[test]
fn oom_killer_picks_the_hog() {
    if !kvm_available() {
        return;
    }
    let run = run_init(32 * M, "", &programs::path("oom"), &[], &[]);
    programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.console));
    let line = run.console.lines().find(|l| l.contains("Out of memory: Killed process ")).unwrap_or_else(|| panic!("{}", run.console));
    for field in ["(oom) total-vm:", "kB, anon-rss:", "kB, file-rss:", "kB, shmem-rss:", "kB, UID:0 pgtables:", "kB oom_score_adj:500"] {
        assert!(line.contains(field), "{field:?} missing from: {line}");
    }
    assert!(!line.contains("Killed process 1 "), "init must never be chosen: {line}");
    assert_clean_exit("oom", &run, 0);
}

/// Every fatal case again, now as children of one program that execs
/// `fatal` and goes on; and a program run twice shares its text pages.
#[test]
fn proc_exec_fatal_children_and_shared_text() {
    if !kvm_available() {
        return;
    }
    let fatal = programs::path("fatal");
    let run = run_init(MEM, "", &programs::path("proc_exec"), &[(&fatal, "/bin/fatal")], &["/bin/fatal"]);
    programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.console));
    assert_eq!(run.console.matches("fatal[").count(), 7, "one segfault line per case:\n{}", run.console);
    assert_clean_exit("proc_exec", &run, 0);
}

/// Signals delivered to handlers: siginfo and ucontext, SIGSEGV recovery
/// with mprotect, SA_RESTART against EINTR, SIGCHLD with sigsuspend,
/// alarm and pause, the alternate stack, masks, SIG_IGN, SA_RESETHAND,
/// SIGPIPE, the FPU state across a handler, abort (natively and in the
/// guest, the same results).
#[test]
fn proc_signal() {
    tap("proc_signal");
}

/// poll, ppoll, select and pselect on pipes, readv, clock_nanosleep, and
/// process groups and sessions (kill and wait4 of a group).
#[test]
fn proc_poll() {
    tap("proc_poll");
}

/// Threads and futexes: pthreads with mutexes and condition variables,
/// every futex operation, a futex shared across processes, signals to a
/// thread and to the process, robust mutexes, exit_group and execve from
/// a thread, vfork's shared memory, pidfds, waitid, SIGCHLD ignored,
/// rlimits.
#[test]
fn proc_threads() {
    tap("proc_threads");
}

/// The same process-model programs built against glibc.
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

/// Pipes (blocking, end of file, O_NONBLOCK, SIGPIPE, dup2 redirection of
/// an exec'd child) and posix_spawn (musl's CLONE_VM|CLONE_VFORK clone and
/// error pipe).
#[test]
fn proc_spawn() {
    tap("proc_spawn");
}

/// Writable files, MAP_SHARED file mappings seen by read() and by other
/// processes, with the page counts checked at every exit.
#[test]
fn fs_write_keeps_page_counts_exact() {
    if !kvm_available() {
        return;
    }
    let run = run_init(MEM, "selftest=rmapcheck", &programs::path("fs_write"), &[], &[]);
    programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.console));
    assert!(run.console.contains("selftest rmapcheck: ok ("), "{}", run.console);
    assert_clean_exit("fs_write", &run, 0);
}

/// Each fatal case kills init with SIGSEGV: natively signal 11, in the guest
/// `vmm` exits 128 + 11 after Linux's segfault line, and the kernel goes
/// on to shut down with nothing leaked.
#[test]
fn fatal_faults_kill_init_with_sigsegv() {
    if !kvm_available() {
        return;
    }
    for case in programs::FATAL_CASES {
        let native = Command::new(programs::path("fatal")).arg(case).output().expect("run natively");
        assert_eq!(native.status.signal(), Some(11), "fatal {case} natively: {native:?}");

        let run = guest("fatal", &[case]);
        assert!(run.stdout.contains(&format!("fatal {case}: about to")), "fatal {case}: {}", run.stdout);
        assert!(!run.stdout.contains("survived"), "fatal {case} survived in the guest:\n{}", run.stdout);
        let line = run
            .console
            .lines()
            .find(|l| l.contains("fatal[1]: segfault at "))
            .unwrap_or_else(|| panic!("fatal {case}: no segfault line in the console:\n{}", run.console));
        assert!(line.contains(" ip ") && line.contains(" sp ") && line.contains(" error "), "fatal {case}: {line}");
        assert_clean_exit(case, &run, 139);
    }
}

/// The segfault line names the faulting address and the x86 error code as
/// Linux prints them.
#[test]
fn segfault_line_reports_address_and_error_code() {
    if !kvm_available() {
        return;
    }
    let run = guest("fatal", &["null"]);
    assert!(run.console.contains("fatal[1]: segfault at 0 ip "), "{}", run.console);
    assert!(run.console.contains(" error 4"), "a user read of a not-present page is error 4:\n{}", run.console);
    let run = guest("fatal", &["rodata"]);
    assert!(run.console.contains(" error 7"), "a user write to a read-only present page is error 7:\n{}", run.console);
}

/// Unknown system calls return -ENOSYS and are logged once per number.
#[test]
fn unknown_syscalls_are_logged_once() {
    if !kvm_available() {
        return;
    }
    let run = guest("mm_errors", &[]);
    let lines = run.console.lines().filter(|l| l.contains("unknown system call 1000 (?), returning -ENOSYS")).count();
    assert_eq!(lines, 1, "{}", run.console);
}

/// The boot probe's decision is logged, and system calls work on the path
/// it chose (every program above depends on it).
#[test]
fn syscall_path_is_probed_and_logged() {
    if !kvm_available() {
        return;
    }
    let run = guest("mm_brk", &[]);
    let line = run.console.lines().find(|l| l.contains("syscall: entry via ")).expect("probe line");
    assert!(line.contains("#GP at the LSTAR trampoline") || line.contains("syscall/LSTAR"), "{line}");
    assert_eq!(run.code, 0);
}

/// With `lowmem=` user pages come from HighMem (GFP_HIGHUSER) and are
/// cleared and copied through kmap: the suite's demand-paging program still
/// passes, and HighMem's free count drops while it runs (checked by the
/// kmap counters moving).
#[test]
fn user_pages_come_from_highmem() {
    if !kvm_available() {
        return;
    }
    let run = run_init(512 * M, "lowmem=64M", &programs::path("mm_demand"), &[], &[]);
    programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.console));
    assert_clean_exit("mm_demand with lowmem=64M", &run, 0);
}

/// Programs get their arguments and can open files packed beside them.
#[test]
fn init_gets_its_arguments_and_files() {
    if !kvm_available() {
        return;
    }
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let run = run_init(MEM, "", &programs::path("mm_files"), &[(&readme, "/etc/some.toml")], &["extra", "args"]);
    programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.console));
    assert_clean_exit("mm_files", &run, 0);
}

/// `vmm run` with no `--init` runs the built-in demo: seed 001's malloc
/// walk-through, narrated, ending with exit 0.
#[test]
fn built_in_demo_narrates_seed_001() {
    if !kvm_available() {
        return;
    }
    let run = tests::run_vmm(&["run", "--timeout", "60"]);
    for needle in ["A = malloc(30 KiB)", "C = malloc(200 KiB)", "its own mapping: mmap", "[heap]", "free(C): munmap"] {
        assert!(run.stdout.contains(needle), "demo output lacks {needle:?}:\n{}\n{}", run.stdout, run.vmm_stderr);
    }
    assert_eq!(run.code, 0, "{}", run.vmm_stderr);
}

/// The benchmark of issue 17's table (`tests/guest/bench_ops.c`) runs
/// natively and in the guest and reports the same operations, each with a
/// positive time. (The numbers themselves go into BENCHMARKS.md, never
/// into an assertion.)
#[test]
fn bench_ops_reports_every_operation() {
    let names = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| {
                let (name, rest) = l.split_once(": ").unwrap_or_else(|| panic!("not a benchmark line: {l:?}"));
                let us: f64 = rest.split(' ').next().and_then(|x| x.parse().ok()).unwrap_or_else(|| panic!("no time in {l:?}"));
                assert!(us > 0.0, "{l}");
                name.to_string()
            })
            .collect()
    };
    let native = Command::new(programs::path("bench_ops")).output().expect("run natively");
    assert!(native.status.success());
    let native = names(&String::from_utf8_lossy(&native.stdout));
    assert_eq!(native.len(), 9, "{native:?}");
    if !kvm_available() {
        return;
    }
    let run = guest("bench_ops", &[]);
    assert_clean_exit("bench_ops", &run, 0);
    assert_eq!(names(&run.stdout), native);
}

/// Pages are cleared and copied by the guest or by the VMM as the boot-time
/// measurement (or the command line) says; either way copy-on-write and
/// fresh pages hold what they must (`proc_fork` and `mm_demand` pass).
#[test]
fn page_clearing_and_copying_work_both_ways() {
    if !kvm_available() {
        return;
    }
    for (way, said) in [("guest", "by the guest"), ("host", "by the VMM")] {
        let cmdline = format!("clear_page={way} copy_page={way}");
        for prog in ["proc_fork", "mm_demand"] {
            let run = run_init(MEM, &cmdline, &programs::path(prog), &[], &[]);
            assert!(run.console.contains(&format!("mm: clear_page {said}")), "{cmdline}: {}", run.console);
            assert!(run.console.contains(&format!("copy_page {said}")), "{cmdline}: {}", run.console);
            programs::check_tap(&run.stdout).unwrap_or_else(|e| panic!("{prog} with {cmdline}: {e}\n{}", run.stdout));
            assert_clean_exit(prog, &run, 0);
        }
    }
}
