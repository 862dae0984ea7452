//! Mutated ELF files (issue 18): mutants of a small static program (bit
//! flips in the ELF and program headers, truncations, huge or misplaced
//! segments, an entry point in the kernel half, a bad `PT_INTERP`) run
//! through `execve` from a parent that must survive them all, and a few
//! as init. Each must fail cleanly: an errno from `execve`, a signal for
//! the new image, an exit, or, as init, the VMM's "cannot execute init"
//! code; never a kernel panic, oops or hang.

use std::path::PathBuf;
use std::process::Command;

use tests::{kvm_available, programs, run_init, Scratch, M};

const MEM: u64 = 128 * M;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// splitmix64, so the bit flips are the same in every run.
fn rng(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The mutants of `base` (a static x86-64 executable), named.
fn mutants(base: &[u8]) -> Vec<(String, Vec<u8>)> {
    const PT_LOAD: u32 = 1;
    const PT_INTERP: u32 = 3;
    let phoff = u64_at(base, 32) as usize;
    let phentsize = u16_at(base, 54) as usize;
    let phnum = u16_at(base, 56) as usize;
    let ph = |i: usize| phoff + i * phentsize;
    let loads: Vec<usize> = (0..phnum).filter(|&i| u32::from_le_bytes(base[ph(i)..ph(i) + 4].try_into().unwrap()) == PT_LOAD).collect();
    assert!(loads.len() >= 2, "the base program has text and data segments");
    let (first, last) = (ph(loads[0]), ph(*loads.last().unwrap()));
    let headers_end = phoff + phnum * phentsize;

    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut with = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.to_vec();
        f(&mut b);
        out.push((name.to_string(), b));
    };
    for len in [0usize, 3, 16, 63, 64, headers_end - 1, base.len() / 2] {
        with(&format!("truncated_{len}"), &|b| b.truncate(len));
    }
    with("bad_magic", &|b| b[1] = b'F');
    with("elfclass32", &|b| b[4] = 1);
    with("big_endian", &|b| b[5] = 2);
    with("machine_aarch64", &|b| b[18] = 183);
    with("type_rel", &|b| b[16] = 1);
    with("phoff_past_end", &|b| put64(b, 32, 1 << 40));
    with("phoff_wraps", &|b| put64(b, 32, u64::MAX - 8));
    with("phnum_65535", &|b| b[56..58].copy_from_slice(&0xffffu16.to_le_bytes()));
    with("phentsize_0", &|b| b[54..56].copy_from_slice(&0u16.to_le_bytes()));
    with("phentsize_55", &|b| b[54..56].copy_from_slice(&55u16.to_le_bytes()));
    with("entry_kernel_half", &|b| put64(b, 24, 0xffff_8000_0000_0000));
    with("entry_zero", &|b| put64(b, 24, 0));
    with("entry_noncanonical", &|b| put64(b, 24, 0x0000_8000_0000_1000));
    with("load_offset_past_end", &|b| put64(b, last + 8, 1 << 40));
    with("load_filesz_past_end", &|b| put64(b, last + 32, 1 << 40));
    with("load_filesz_above_memsz", &|b| {
        let memsz = u64_at(b, last + 40);
        put64(b, last + 32, memsz + 4096);
    });
    with("load_memsz_huge", &|b| put64(b, last + 40, 1 << 46));
    with("load_memsz_wraps", &|b| put64(b, last + 40, u64::MAX - 4096));
    with("load_vaddr_kernel_half", &|b| put64(b, last + 16, 0xffff_8880_0000_0000));
    with("load_vaddr_wraps", &|b| put64(b, last + 16, u64::MAX - 4095));
    with("load_unaligned", &|b| {
        let v = u64_at(b, last + 16);
        put64(b, last + 16, v + 1);
    });
    with("load_align_3", &|b| put64(b, last + 48, 3));
    with("loads_overlap", &|b| {
        let v = u64_at(b, first + 16);
        let off = u64_at(b, first + 8);
        put64(b, last + 16, v);
        put64(b, last + 8, off);
    });
    with("load_at_zero", &|b| put64(b, first + 16, 0));
    with("interp_missing", &|b| {
        // The first PT_LOAD becomes a PT_INTERP naming a path inside the
        // file that does not exist in the guest.
        b[first..first + 4].copy_from_slice(&PT_INTERP.to_le_bytes());
    });
    with("interp_past_end", &|b| {
        b[first..first + 4].copy_from_slice(&PT_INTERP.to_le_bytes());
        put64(b, first + 8, 1 << 40);
    });
    with("interp_huge", &|b| {
        b[first..first + 4].copy_from_slice(&PT_INTERP.to_le_bytes());
        put64(b, first + 32, 1 << 40);
    });
    let seed = 0x5eed_u64;
    for i in 0..32 {
        with(&format!("flip_{i:02}"), &|b| {
            let mut s = seed.wrapping_add(i);
            for _ in 0..1 + rng(&mut s) % 4 {
                let at = (rng(&mut s) % headers_end as u64) as usize;
                b[at] ^= 1 << (rng(&mut s) % 8);
            }
        });
    }
    out
}

/// Writes the mutants into a scratch directory of the test's own (`name`),
/// executable.
fn write_mutants(name: &str) -> (Scratch, Vec<String>) {
    let base = std::fs::read(programs::path("hello")).expect("the hello program is built");
    let dir = Scratch::new(name);
    let names: Vec<String> = mutants(&base)
        .into_iter()
        .map(|(name, bytes)| {
            dir.file(&name, &bytes, 0o755);
            name
        })
        .collect();
    (dir, names)
}

/// The runner's report: one "PATH: outcome" per mutant, and the final line.
fn check_report(out: &str, names: &[String], prefix: &str) {
    for name in names {
        let path = format!("{prefix}/{name}");
        let line = out.lines().find(|l| l.starts_with(&format!("exec_each: {path}: "))).unwrap_or_else(|| panic!("no outcome for {path}:\n{out}"));
        let outcome = &line[format!("exec_each: {path}: ").len()..];
        assert!(outcome.starts_with("execve failed: ") || outcome.starts_with("signal ") || outcome.starts_with("exit "), "{path}: {outcome}");
    }
    assert!(out.contains(&format!("exec_each: {} programs, done", names.len())), "the parent did not finish:\n{out}");
}

#[test]
fn mutated_elf_files_fail_cleanly_through_execve() {
    let (dir, names) = write_mutants("elf-mutants-execve");
    // Natively first: the runner and the mutants behave.
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.dir.join(n)).collect();
    let native = Command::new(programs::path("exec_each")).args(&paths).output().expect("run natively");
    check_report(&String::from_utf8_lossy(&native.stdout), &names, dir.dir.to_str().unwrap());
    if !kvm_available() {
        return;
    }
    let guest_paths: Vec<String> = names.iter().map(|n| format!("/m/{n}")).collect();
    let args: Vec<&str> = guest_paths.iter().map(String::as_str).collect();
    let run = run_init(MEM, "", &programs::path("exec_each"), &[(dir.dir.as_path(), "/m")], &args);
    let report = format!("--- stdout:\n{}--- vmm stderr:\n{}", run.stdout, run.vmm_stderr);
    assert!(run.stdout.contains("programs, done"), "{report}");
    check_report(&run.stdout, &names, "/m");
    for bad in ["BUG", "Oops", "panic", "LEAK", "Bad page"] {
        assert!(!run.console.contains(bad), "the kernel reports {bad:?}\n{report}");
    }
    assert_eq!(run.code, 0, "{report}");
}

#[test]
fn mutated_elf_files_as_init_fail_cleanly() {
    if !kvm_available() {
        return;
    }
    let (dir, names) = write_mutants("elf-mutants-init");
    for name in ["truncated_63", "phnum_65535", "entry_kernel_half", "load_memsz_huge", "load_vaddr_kernel_half", "loads_overlap", "interp_missing", "flip_07"]
    {
        assert!(names.iter().any(|n| n == name), "{name}");
        // --no-libs: the kernel, not the VMM's library search, meets a bad
        // PT_INTERP.
        let path = dir.dir.join(name);
        let run = tests::run_vmm(&["run", "--mem", &MEM.to_string(), "--no-libs", "--init", path.to_str().unwrap()]);
        let report = format!("{name}: vmm exit {}\n--- console:\n{}", run.code, run.console);
        for bad in ["BUG", "Oops", "Kernel panic", "LEAK", "Bad page"] {
            assert!(!run.console.contains(bad), "the kernel reports {bad:?}\n{report}");
        }
        // Refused by the VMM's own check of the file (2, with the reason),
        // refused by the kernel before it ran (126, with the reason), or it
        // ran and init ended (killed by a signal or exiting), reported and
        // powered off.
        let refused_by_vmm = run.code == 2 && run.vmm_stderr.contains(&format!("vmm: error: init program {} is not an x86-64 ELF executable", path.display()));
        let refused = run.code == 126 && run.console.contains(&format!("init: cannot execute /bin/{name}: "));
        let ended = run.console.contains("init: exited with status") && run.console.contains("reboot: Power down");
        assert!(refused_by_vmm || refused || ended, "{report}\n--- vmm stderr:\n{}", run.vmm_stderr);
    }
}
