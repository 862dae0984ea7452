//! Users and permissions: credentials, file owners and modes, capabilities,
//! filesystem statistics and init's identity, each checked against Linux.
//!
//! The programs run natively as root in a private PID and mount namespace
//! with a tmpfs at their scratch directory (what the guest's root
//! filesystem is), so that dropping to `nobody`, `kill` of a parent and
//! `statfs` act on nothing outside; the guest must print the same lines.

use std::path::Path;
use std::process::Command;

use tests::{kvm_available, programs, run_init, run_vmm, M};

const MEM: u64 = 128 * M;

/// Runs `program args...` natively as root inside a new PID and mount
/// namespace, with a fresh tmpfs mounted at a scratch directory whose path
/// replaces `DIR` in `args`; its stdout.
fn native_in_namespace(program: &Path, args: &[&str]) -> String {
    let scratch = tests::Scratch::new("native-ns");
    let dir = scratch.dir.to_str().expect("UTF-8 scratch path").to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("DIR", &dir)).collect();
    let out = Command::new("unshare")
        .args(["--pid", "--mount", "--fork", "sh", "-c", "mount -t tmpfs none \"$0\" && exec \"$@\"", &dir])
        .arg(program)
        .args(&args)
        .output()
        .expect("run unshare (util-linux)");
    assert!(
        out.status.success(),
        "the native run needs root and unshare (a private mount and PID namespace): {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The guest prints what Linux prints for `program` (`creds` built with
/// one C library).
fn creds_match_linux(name: &str) {
    if !kvm_available() {
        return;
    }
    let program = programs::path(name);
    let native = native_in_namespace(&program, &["DIR/w"]);
    assert!(native.contains("child: exit 7\n"), "the native run did not finish:\n{native}");
    let run = run_init(MEM, "", &program, &[], &["/w"]);
    assert_eq!(run.stdout, native, "guest (left) and Linux (right) differ\n--- console:\n{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}

#[test]
fn credentials_and_permissions_match_linux() {
    creds_match_linux("creds");
}

#[test]
fn credentials_and_permissions_match_linux_with_glibc() {
    creds_match_linux("creds_glibc");
}

fn busybox() -> &'static Path {
    let path = Path::new("/bin/busybox");
    assert!(path.exists(), "/bin/busybox is missing: install Debian's busybox-static (the tests' build script tries to)");
    path
}

/// busybox's `id`, `stat -c '%U %G %a'`, `chmod`, `chown`, `chgrp`,
/// `stat -f` and `df` print what they print natively on a tmpfs.
#[test]
fn busybox_owners_modes_and_statfs_match_linux() {
    if !kvm_available() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/busybox_perms.sh");
    let script_arg = script.to_str().expect("UTF-8 path");
    let native = native_in_namespace(busybox(), &["sh", script_arg, "DIR"]);
    assert!(native.ends_with("== done\n"), "the script did not finish natively:\n{native}");
    let files = [(Path::new("/etc/passwd"), "/etc/passwd"), (Path::new("/etc/group"), "/etc/group"), (script.as_path(), "/perms.sh")];
    let run = run_init(MEM, "", busybox(), &files, &["sh", "-c", "/bin/busybox mkdir /w && /bin/busybox sh /perms.sh /w"]);
    assert_eq!(run.stdout, native, "guest (left) and Linux (right) differ\n--- console:\n{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
}

/// `--user`, `--env`, `--env-file` and `--cwd` set who init is, what it
/// sees and where it starts; `/proc/1/environ` shows what it got.
#[test]
fn init_runs_with_the_given_user_environment_and_directory() {
    if !kvm_available() {
        return;
    }
    let scratch = tests::Scratch::new("init-identity");
    let env_file = scratch.file("env", b"# settings\nFROM_FILE=1\nTERM=vt100\nSHARED=file\n", 0o644);
    let script = "id -u; id -g; pwd; echo \"$FROM_FILE $FROM_CLI $SHARED $TERM $HOME\"; echo \"$PATH\"; \
                  tr '\\0' '\\n' < /proc/1/environ | sort; grep -E '^(Uid|Gid|CapEff)' /proc/1/status; cat /proc/1/status > /dev/null && echo readable";
    let busybox = busybox().to_str().expect("UTF-8 path");
    let env_file = env_file.to_str().expect("UTF-8 path");
    let run = run_vmm(&[
        "run",
        "--timeout",
        "150",
        "--mem",
        "128M",
        "--init",
        busybox,
        "--user",
        "65534:100",
        "--env-file",
        env_file,
        "--env",
        "FROM_CLI=2",
        "--env",
        "SHARED=cli",
        "--cwd",
        "/bin",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let want = format!(
        "65534\n100\n/bin\n1 2 cli vt100 /\n{path}\nFROM_CLI=2\nFROM_FILE=1\nHOME=/\nPATH={path}\nSHARED=cli\nTERM=vt100\n\
         Uid:\t65534\t65534\t65534\t65534\nGid:\t100\t100\t100\t100\nCapEff:\t0000000000000000\nreadable\n"
    );
    assert_eq!(run.stdout, want, "{}", run.vmm_stderr);
    assert_eq!(run.code, 0, "{}", run.console);
}

/// Bad `--user`, `--env`, `--env-file` and `--cwd` values are refused by
/// the command line with a reason; a working directory that the guest
/// does not have ends the run with the "cannot execute init" code and the
/// reason on the console, not a panic.
#[test]
fn bad_identity_options_get_clear_errors() {
    let busybox = busybox().to_str().expect("UTF-8 path");
    for (opt, value, why) in [
        ("--user", "nobody", "is not a user or group id"),
        ("--user", "1:-1", "is not a user or group id"),
        ("--user", "4294967295", "is not a user or group id"),
        ("--env", "NOVALUE", "is not KEY=VALUE"),
        ("--env", "=1", "empty name"),
        ("--cwd", "relative", "is not an absolute guest path"),
        ("--env-file", "/no/such/env-file", "cannot read env file"),
    ] {
        let run = run_vmm(&["run", "--init", busybox, opt, value, "--", "true"]);
        assert_eq!(run.code, 2, "{opt} {value}: {}", run.vmm_stderr);
        assert!(run.vmm_stderr.contains(why), "{opt} {value}: {}", run.vmm_stderr);
    }
    if !kvm_available() {
        return;
    }
    let run = run_vmm(&["run", "--timeout", "150", "--mem", "128M", "--init", busybox, "--cwd", "/no/such/dir", "--", "true"]);
    assert_eq!(run.code, vmm::exit_code::INIT_NOT_EXECUTABLE, "{}", run.vmm_stderr);
    assert!(run.console.contains("init: cannot change to the working directory /no/such/dir: ENOENT"), "{}", run.console);
    let run = run_vmm(&["run", "--timeout", "150", "--mem", "128M", "--init", busybox, "--user", "65534", "--cwd", "/bin", "--", "sh", "-c", "exit 3"]);
    assert_eq!(run.code, 3, "{}", run.console);
}
