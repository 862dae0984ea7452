//! The user test programs: static x86-64 Linux programs written in C
//! (`tests/guest/*.c`), built by `tests/build.rs` with `musl-gcc -static -O2`.
//!
//! Each `mm_*` program prints TAP-style lines (`ok N - ...` /
//! `not ok N - ... # details`), ends with `N passed, M failed` and exits 0
//! only when every check passed. `fatal CASE` makes one bad memory access
//! and must die of SIGSEGV. `tests/tests/user_native.rs` runs them all on
//! the host, so their expectations are Linux's.

use std::path::PathBuf;

// Generated: `pub const MM_MALLOC: &str = "..."`, ... and
// `pub const ALL: &[(&str, &str)]` (name, path).
include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// The TAP-style programs (every program except `fatal`).
pub const TAP: &[&str] = &[
    "mm_malloc",
    "mm_brk",
    "mm_demand",
    "mm_ops",
    "mm_errors",
    "mm_files",
    "mm_syscalls",
    "proc_files",
    "fs_write",
    "proc_fork",
    "proc_rmap",
    "proc_spawn",
    "proc_signal",
    "proc_poll",
    "proc_threads",
    "oom",
    "isolation",
    "swap_pageout",
    "thp",
    "proc_fork_glibc",
    "proc_signal_glibc",
    "proc_threads_glibc",
];

/// The cases `fatal` takes as argv[1]; each must end in SIGSEGV.
pub const FATAL_CASES: &[&str] = &["null", "rodata", "protread", "protnone", "kernel-direct", "kernel-text", "nx"];

/// The path of the built program `name` (e.g. `"mm_brk"`); panics on a
/// name that is not one of [`ALL`].
pub fn path(name: &str) -> PathBuf {
    ALL.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| PathBuf::from(p))
        .unwrap_or_else(|| panic!("no user test program {name:?}; the programs are {:?}", names()))
}

/// The names of every program.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|(n, _)| *n).collect()
}

/// The ELF image of program `name`, e.g. to give the guest as init.
pub fn bytes(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Checks a TAP-style program's output: every `ok`/`not ok` line is
/// numbered in order, there is no `not ok`, and the last line is
/// `N passed, 0 failed` with N > 0 equal to the number of `ok` lines.
/// Returns N, or a description of what is wrong.
pub fn check_tap(output: &str) -> Result<usize, String> {
    let mut oks = 0;
    let mut n = 0;
    let mut failed = Vec::new();
    for line in output.lines() {
        let rest = if let Some(r) = line.strip_prefix("ok ") {
            oks += 1;
            r
        } else if let Some(r) = line.strip_prefix("not ok ") {
            failed.push(line);
            r
        } else {
            continue;
        };
        n += 1;
        let num = rest.split(' ').next().unwrap_or("");
        if num != n.to_string() {
            return Err(format!("test line {n} is numbered {num:?}: {line:?}"));
        }
    }
    if !failed.is_empty() {
        return Err(format!("{} failed:\n{}", failed.len(), failed.join("\n")));
    }
    let last = output.lines().last().unwrap_or("");
    let want = format!("{oks} passed, 0 failed");
    if oks == 0 || last != want {
        return Err(format!("last line is {last:?}, want {want:?}"));
    }
    Ok(oks)
}
