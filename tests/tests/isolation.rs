//! Isolation, crash and data-loss bugs (each found by fuzzing or by real
//! programs), as regression tests: the zero page, int-typed arguments with
//! garbage above, madvise's errors, a sparse mremap (`isolation.c`, also
//! run natively), an exact leak check, and an init that cannot be executed.

use std::process::Command;

use tests::{exit_program, kvm_available, programs, run_init, InitRun, Scratch, M};

const MEM: u64 = 128 * M;

fn assert_no_leak(what: &str, run: &InitRun) {
    assert!(run.console.contains("init: exited with status"), "{what}: no exit line:\n{}", run.console);
    assert!(!run.console.contains("LEAK"), "{what}: the kernel reports a leak:\n{}", run.console);
}

#[test]
fn isolation_bugs_stay_fixed() {
    if !kvm_available() {
        return;
    }
    let name = "isolation";
    let native = Command::new(programs::path(name)).current_dir(std::env::temp_dir()).output().expect("run natively");
    let native_out = String::from_utf8_lossy(&native.stdout);
    programs::check_tap(&native_out).unwrap_or_else(|e| panic!("{name} natively: {e}\n{native_out}"));
    let run = run_init(MEM, "page_debug=1 selftest=rmapcheck", &programs::path(name), &[], &[]);
    if let Err(e) = programs::check_tap(&run.stdout) {
        panic!("{name} in the guest: {e}\n--- stdout:\n{}--- console:\n{}", run.stdout, run.console);
    }
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(run.console.contains("selftest rmapcheck: ok"), "{}", run.console);
    assert_no_leak(name, &run);
}

/// Children asleep in system calls and running in user mode, files left
/// in the root filesystem, console descriptors closed or replaced: none of
/// it is a leak, and the children are killed and reaped.
#[test]
fn what_init_leaves_behind_is_not_a_leak() {
    if !kvm_available() {
        return;
    }
    let run = run_init(MEM, "", &programs::path("leave_behind"), &[], &[]);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(run.stderr.contains("leave_behind: done"), "{}", run.vmm_stderr);
    assert!(run.console.contains("init: killing 3 remaining task(s) as init exits"), "{}", run.console);
    assert_no_leak("leave_behind", &run);
}

/// A leak planted while init runs is still reported, by the cache it is in.
#[test]
fn planted_leaks_are_reported() {
    if !kvm_available() {
        return;
    }
    let dir = Scratch::new("planted-leak");
    let prog = dir.file("exit0", &exit_program(0), 0o755);
    let page = run_init(MEM, "test=leak-page", &prog, &[], &[]);
    assert!(page.console.contains("init: LEAK: 1 pages and 0 slab objects not returned"), "{}", page.console);
    let slab = run_init(MEM, "test=leak-slab", &prog, &[], &[]);
    assert!(slab.console.contains("init: LEAK: 0 pages and 1 slab objects not returned (kmalloc-64 +1)"), "{}", slab.console);
    let clean = run_init(MEM, "", &prog, &[], &[]);
    assert_no_leak("exit0", &clean);
}

/// An init the kernel cannot execute: the reason on the console, exit
/// code 126, no kernel panic. (A dynamically linked program whose
/// interpreter is missing gets ENOENT, as from Linux's execve.)
#[test]
fn an_init_that_cannot_be_executed_is_reported() {
    if !kvm_available() {
        return;
    }
    // --no-libs: without the interpreter the VMM would otherwise pack.
    let hello_dyn = programs::path("hello_dyn");
    let mem = MEM.to_string();
    let run = tests::run_vmm(&["run", "--mem", &mem, "--no-libs", "--init", hello_dyn.to_str().unwrap()]);
    assert_eq!(run.code, 126, "{}", run.vmm_stderr);
    assert!(
        run.console.contains(
            "init: cannot execute /bin/hello_dyn: ENOENT: dynamically linked, and its program interpreter /lib/ld-musl-x86_64.so.1 is not in the root filesystem"
        ),
        "{}",
        run.console
    );
    assert!(!run.console.contains("panic"), "{}", run.console);

    // A valid ELF header whose program headers lie past the end.
    let dir = Scratch::new("bad-init");
    let mut elf = exit_program(0);
    elf[32..40].copy_from_slice(&0x10_0000u64.to_le_bytes()); // e_phoff
    let prog = dir.file("truncated", &elf, 0o755);
    let run = run_init(MEM, "", &prog, &[], &[]);
    assert_eq!(run.code, 126, "{}", run.vmm_stderr);
    assert!(run.console.contains("init: cannot execute /bin/truncated: ENOEXEC: the program headers lie beyond the end of the file"), "{}", run.console);

    // A static-PIE whose segment, at the base it is loaded at, would reach
    // past the user half (the check used to leave the base out).
    let mut elf = exit_program(0);
    elf[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    elf[64 + 16..64 + 24].copy_from_slice(&0x7fff_0000_0000u64.to_le_bytes()); // p_vaddr
    let prog = dir.file("far_pie", &elf, 0o755);
    let run = run_init(MEM, "", &prog, &[], &[]);
    assert_eq!(run.code, 126, "{}", run.vmm_stderr);
    assert!(run.console.contains("init: cannot execute /bin/far_pie: ENOEXEC: a bad PT_LOAD segment (vaddr 0x7fff00000000"), "{}", run.console);
}

/// Debian's busybox-static (glibc, which passes `AT_FDCWD` with a 32-bit
/// `mov`): `tar xf` over an existing file must replace it, not lose it.
/// Before int arguments were read as `int`, the relative `openat` failed
/// with EBADF after tar had unlinked the old file.
#[test]
fn busybox_tar_over_an_existing_file_keeps_its_data() {
    if !kvm_available() {
        return;
    }
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(busybox.exists(), "/bin/busybox is missing: install Debian's busybox-static (.ci/run does)");
    let dir = Scratch::new("busybox-tar");
    std::fs::create_dir_all(dir.dir.join("tree/etc")).expect("mkdir");
    std::fs::write(dir.dir.join("tree/etc/data.txt"), "new contents from the archive\n").expect("write");
    let archive = dir.dir.join("data.tar");
    let tar = Command::new("tar").arg("cf").arg(&archive).arg("-C").arg(dir.dir.join("tree")).arg("etc/data.txt").status().expect("run tar");
    assert!(tar.success(), "host tar failed");
    let old = dir.file("old.txt", b"old contents\n", 0o644);
    let run = run_init(
        MEM,
        "",
        &programs::path("run_then_cat"),
        &[(busybox, "/bin/busybox"), (&archive, "/data.tar"), (&old, "/etc/data.txt")],
        &["/etc/data.txt", "/bin/busybox", "tar", "xf", "/data.tar"],
    );
    assert_eq!(run.stdout, "status 0\nnew contents from the archive\n", "{}", run.vmm_stderr);
    assert_eq!(run.code, 0, "{}", run.console);
    assert_no_leak("busybox tar", &run);
}
