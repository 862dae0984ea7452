//! Programs nobody here wrote, as init: Debian's busybox-static and bash-static (glibc).
//! What works today is held here; what does not yet is in the issues.

use tests::{kvm_available, run_init, M};

const MEM: u64 = 128 * M;

fn busybox() -> &'static std::path::Path {
    let path = std::path::Path::new("/bin/busybox");
    assert!(path.exists(), "/bin/busybox is missing: install Debian's busybox-static (the tests' build script tries to)");
    path
}

/// busybox sh forks with glibc's clone flags (CLONE_CHILD_SETTID |
/// CLONE_CHILD_CLEARTID | SIGCHLD) for subshells and command
/// substitution, and waits for them.
#[test]
fn busybox_sh_forks_subshells() {
    if !kvm_available() {
        return;
    }
    let script = "echo hello from sh; echo $((6*7)); x=$(echo sub); echo got $x; (exit 3); echo status $?";
    let run = run_init(MEM, "", busybox(), &[], &["sh", "-c", script]);
    assert_eq!(run.stdout, "hello from sh\n42\ngot sub\nstatus 3\n", "{}", run.vmm_stderr);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}

/// busybox ls reads directories with getdents64 (and stats each entry).
#[test]
fn busybox_ls_lists_a_directory() {
    if !kvm_available() {
        return;
    }
    let dir = tests::Scratch::new("busybox-ls");
    let a = dir.file("a.txt", b"12345", 0o644);
    let b = dir.file("b.txt", b"x", 0o600);
    let run = run_init(MEM, "", busybox(), &[(&a, "/etc/a.txt"), (&b, "/etc/b.txt")], &["ls", "-a", "/etc"]);
    assert_eq!(run.stdout, ".\n..\na.txt\nb.txt\n", "{}", run.vmm_stderr);
    assert_eq!(run.code, 0, "{}", run.console);
}

/// Debian's bash-static (glibc): `-c` with command substitution (a fork)
/// and arithmetic.
#[test]
fn bash_static_runs_a_script() {
    if !kvm_available() {
        return;
    }
    let bash = std::path::Path::new("/bin/bash-static");
    assert!(bash.exists(), "/bin/bash-static is missing: install Debian's bash-static (the tests' build script tries to)");
    let run = run_init(MEM, "", bash, &[], &["-c", "echo hello from bash; x=$(echo sub); echo $x; echo $((2**10))"]);
    assert_eq!(run.stdout, "hello from bash\nsub\n1024\n", "{}", run.vmm_stderr);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}
