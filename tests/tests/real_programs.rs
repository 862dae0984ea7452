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

/// The part of the shell script below that does not install anything: run
/// natively with the same busybox, it must print what the guest prints.
const SHELL_SCRIPT: &str = r#"trap 'echo got USR1' USR1
echo start
kill -USR1 $$
x=$(echo hi | tr h H)
echo "sub: $x"
(sleep 0.1; echo bg done; exit 4) &
wait $!
echo "status $?"
sleep 5 &
kill -STOP $!
kill -CONT $!
kill $!
wait $!
echo "stopped, continued, killed: $?"
echo data > /dev/null && echo "null ok"
head -c 4 /dev/zero | od -An -tx1
ls -l /dev/null | cut -c1-10
echo a b c | while read p q r; do echo "$r $q $p"; done
seq 1 3 | sort -r | tr '\n' ' '; echo
trap 'echo bye' EXIT
"#;

/// busybox installs its applets as symlinks (`--install -s`: symlinkat,
/// readlink of /proc/self/exe) and runs a script with a trap on a signal
/// it sends itself, background jobs and `wait` (one stopped, continued
/// and killed), pipes, command
/// substitution, `read`, `/dev/null` and `/dev/zero`: the same output as
/// the same script natively.
#[test]
fn busybox_installs_its_applets_and_runs_a_shell_script() {
    if !kvm_available() {
        return;
    }
    // Natively, in the busybox shell, with busybox's own applets first on
    // PATH (a scratch directory of links, as --install makes).
    let dir = tests::Scratch::new("busybox-script");
    let applets = dir.dir.join("bin");
    std::fs::create_dir_all(&applets).unwrap();
    for applet in ["sleep", "tr", "head", "od", "ls", "cut", "seq", "sort"] {
        let _ = std::os::unix::fs::symlink(busybox(), applets.join(applet));
    }
    let native = std::process::Command::new(busybox()).args(["sh", "-c", SHELL_SCRIPT]).env("PATH", &applets).output().expect("run busybox natively");
    let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(native_out.starts_with("start\ngot USR1\n"), "natively: {native_out}");

    let script = dir.file(
        "t.sh",
        format!("/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin\n/bin/busybox --install -s\nreadlink /bin/ls\n{SHELL_SCRIPT}").as_bytes(),
        0o755,
    );
    let run = run_init(MEM, "", busybox(), &[(&script, "/t.sh")], &["sh", "/t.sh"]);
    assert_eq!(run.stdout, format!("/bin/busybox\n{native_out}"), "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}

/// The VMM's stdin is init's fd 0: a shell's `read` takes one line each,
/// the rest goes to the next reader, and the input ends (as a pipe into
/// the same busybox natively).
#[test]
fn stdin_reaches_init_like_a_pipe() {
    if !kvm_available() {
        return;
    }
    let input = b"one\ntwo\nthree\nfour\n";
    let script = r#"read a; read b; echo "[$b|$a]"; /bin/busybox wc -l; read c || echo "end: $?""#;
    let mut native = std::process::Command::new(busybox())
        .args(["sh", "-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run busybox natively");
    std::io::Write::write_all(native.stdin.as_mut().unwrap(), input).unwrap();
    drop(native.stdin.take());
    let native = native.wait_with_output().unwrap();
    let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
    assert_eq!(native_out, "[two|one]\n2\nend: 1\n");

    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let busybox_init = format!("{}:/bin/busybox", busybox().display());
    let args = ["vmm", "run", "--timeout", "60", "--init", &busybox_init, "--", "sh", "-c", script];
    let stdin: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new(input.to_vec()));
    let outcome = vmm::cli::run_with_io(args, Some(stdin), &mut stdout, &mut stderr);
    let stderr = String::from_utf8_lossy(&stderr);
    assert_eq!(String::from_utf8_lossy(&stdout), native_out, "{stderr}");
    assert_eq!(outcome.code, 0, "{stderr}");
}

/// `/proc` is a directory (the processes and the global files), busybox
/// `ps` lists the processes from their `stat` and `cmdline`, and `nproc`
/// counts the one CPU through `sched_getaffinity`.
#[test]
fn busybox_ps_and_ls_read_proc() {
    if !kvm_available() {
        return;
    }
    let script = "/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin\n/bin/busybox --install -s\n\
                  ls /proc/self/\n\
                  cut -d' ' -f2-3 /proc/self/stat\n\
                  ls /proc | grep -c meminfo\n\
                  sleep 5 &\n\
                  ps | grep 'sleep 5' | grep -vc grep\n\
                  kill %1\n\
                  nproc\n";
    let dir = tests::Scratch::new("busybox-proc");
    let script = dir.file("t.sh", script.as_bytes(), 0o755);
    let run = run_init(MEM, "", busybox(), &[(&script, "/t.sh")], &["sh", "/t.sh"]);
    let entries = "auxv clear_refs cmdline comm cwd environ exe fd fdinfo limits maps mountinfo mounts oom_score oom_score_adj pagemap root \
                   smaps smaps_rollup stat statm status task";
    let want = format!("{}\n(cut) R\n1\n1\n1\n", entries.split_whitespace().collect::<Vec<_>>().join("\n"));
    assert_eq!(run.stdout, want, "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
}

/// `cd`, `pwd` and relative paths: each process has a working directory
/// (chdir, fchdir, getcwd; the *at calls and exec resolve from it), named
/// by its real path once symlinks are followed.
#[test]
fn busybox_sh_changes_directory() {
    if !kvm_available() {
        return;
    }
    let script = "/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin\n/bin/busybox --install -s\n\
                  mkdir -p /tmp/a/b\n\
                  cd /tmp/a; pwd\n\
                  cd b; /bin/pwd\n\
                  cd ..; echo x > f; cat /tmp/a/f\n\
                  cd /; cd tmp/a/b && /bin/pwd\n\
                  cd /nonexistent 2>/dev/null || echo cd failed\n\
                  ln -s /tmp/a /link; cd /link/b; /bin/pwd\n";
    let dir = tests::Scratch::new("busybox-cd");
    let script = dir.file("t.sh", script.as_bytes(), 0o755);
    let run = run_init(MEM, "", busybox(), &[(&script, "/t.sh")], &["sh", "/t.sh"]);
    assert_eq!(run.stdout, "/tmp/a\n/tmp/a/b\nx\n/tmp/a/b\ncd failed\n/tmp/a/b\n", "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
}

/// The guest reads the time of day from the VMM's CMOS clock at boot:
/// busybox `date` prints the host's date, not 1970.
#[test]
fn busybox_date_is_the_hosts() {
    if !kvm_available() {
        return;
    }
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let run = run_init(MEM, "", busybox(), &[], &["date", "+%s"]);
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let guest: i64 = run.stdout.trim().parse().unwrap_or_else(|_| panic!("date printed {:?}\n{}", run.stdout, run.console));
    assert!((before - 2..=after + 2).contains(&guest), "guest {guest}, host {before}..{after}\n{}", run.console);
    assert!(run.console.contains("rtc_cmos: setting system clock to "), "{}", run.console);
}

/// Dynamically linked programs: the kernel loads the interpreter a program
/// names (PT_INTERP) and starts it with AT_BASE and AT_ENTRY; musl's
/// ld.so (packed here by hand), and glibc's with libc.so.6 (packed by the
/// VMM, which finds what the program needs as ldd does), run the program
/// as natively.
#[test]
fn dynamically_linked_programs_run_with_their_interpreter() {
    if !kvm_available() {
        return;
    }
    let musl_ld = std::path::Path::new("/lib/ld-musl-x86_64.so.1");
    let run = run_init(MEM, "", &tests::programs::path("hello_dyn"), &[(musl_ld, "/lib/ld-musl-x86_64.so.1")], &[]);
    assert_eq!(run.stdout, "hello\n", "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);

    let run = run_init(MEM, "", &tests::programs::path("hello_glibc_dyn"), &[], &[]);
    assert_eq!(run.stdout, "hello\n", "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}

/// The script the guest's python3 runs: json, collections, and a list of
/// a million ints.
const PYTHON_SCRIPT: &str = "import json, collections
c = collections.Counter(i % 7 for i in range(1000))
big = list(range(10**6))
print(json.dumps({'counts': sorted(c.items()), 'sum': sum(big), 'len': len(big)}))";

/// The host's python3, dynamically linked against glibc, runs as init
/// with the part of its standard library the script imports (each module
/// and its compiled form, at the host's paths; the VMM adds the
/// interpreter and libraries), and prints what it prints natively.
#[test]
fn python3_runs_a_script_as_natively() {
    if !kvm_available() {
        return;
    }
    let python = std::path::Path::new("/usr/bin/python3");
    assert!(python.exists(), "/usr/bin/python3 is missing: install Debian's python3 (the tests' build script tries to)");
    let flags = ["-I", "-S", "-B"];
    let native = std::process::Command::new(python).args(flags).args(["-c", PYTHON_SCRIPT]).output().expect("run python3 natively");
    let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(native.status.success() && native_out.contains("\"len\": 1000000"), "natively: {native_out}");
    // What the script loads, found by importing the same modules natively:
    // each module's source and cached bytecode, and os.py (the landmark
    // python finds its library by).
    let list = "import json, collections, sys, os, importlib.util as u
fs = {m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)} | {os.__file__}
for f in sorted(fs):
    print(f)
    if f.endswith('.py'):
        print(u.cache_from_source(f))";
    let listed = std::process::Command::new(python).args(["-I", "-S", "-c", list]).output().expect("list python3's modules");
    let paths: Vec<std::path::PathBuf> = String::from_utf8_lossy(&listed.stdout).lines().map(std::path::PathBuf::from).filter(|p| p.is_file()).collect();
    assert!(paths.len() > 10, "{paths:?}");
    let files: Vec<(&std::path::Path, &str)> = paths.iter().map(|p| (p.as_path(), p.to_str().unwrap())).collect();
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-c", PYTHON_SCRIPT]);
    let run = run_init(256 * tests::M, "", python, &files, &args);
    assert_eq!(run.stdout, native_out, "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
    assert!(!run.console.contains("LEAK"), "{}", run.console);
}

/// `/proc/PID/fd`: a directory of links, one per descriptor, naming the
/// file (or `pipe:[N]`); opening one opens the file again.
#[test]
fn proc_fd_lists_and_opens_descriptors() {
    if !kvm_available() {
        return;
    }
    let script = "echo hello > /f.txt\nexec 3< /f.txt\n/bin/busybox ls /proc/self/fd\n/bin/busybox readlink /proc/self/fd/3\n\
                  /bin/busybox cat /proc/self/fd/3\necho x | /bin/busybox readlink /proc/self/fd/0 | /bin/busybox cut -c1-6\n\
                  echo data | /bin/busybox cat /proc/self/fd/0\n";
    let dir = tests::Scratch::new("busybox-fd");
    let script = dir.file("t.sh", script.as_bytes(), 0o755);
    let run = run_init(MEM, "", busybox(), &[(&script, "/t.sh")], &["sh", "/t.sh"]);
    assert_eq!(run.stdout, "0\n1\n2\n3\n/f.txt\nhello\npipe:[\ndata\n", "{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
}

/// Debian's busybox applets (`ls -la`, `find`, `du`, `stat`, `chmod`,
/// `ln`, `readlink`, `realpath`, `touch`, `tar` c/t/x, `dd`, `xargs`,
/// `timeout`, `time`, `rm -r`, `id`, `date`, `uptime`, `free`, `df`,
/// `mount`, `ps`, `top`) over a scratch tree, natively and in the guest:
/// the same output, once the lines marked `~` (times, pids, memory sizes)
/// have their numbers and spacing normalised.
#[test]
fn busybox_applets_match_the_host() {
    if !kvm_available() {
        return;
    }
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest/busybox_applets.sh");
    let dir = tests::Scratch::new("busybox-applets");
    let work = dir.dir.join("w");
    std::fs::create_dir(&work).expect("scratch work directory");
    let native =
        std::process::Command::new(busybox()).arg("sh").arg(&script).arg(&work).stderr(std::process::Stdio::null()).output().expect("run busybox natively");
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(native.ends_with("== done\n"), "the script did not finish natively:\n{native}");
    let run = run_init(MEM, "", busybox(), &[(&script, "/applets.sh")], &["sh", "-c", "/bin/busybox mkdir /w && /bin/busybox sh /applets.sh /w 2>/dev/null"]);
    let normalise = |text: &str| -> String {
        text.lines()
            .map(|l| match l.strip_prefix('~') {
                Some(fuzzy) => {
                    let digits: String = fuzzy.chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).collect();
                    let mut squeezed = digits.split_whitespace().collect::<Vec<_>>().join(" ");
                    while squeezed.contains("NN") {
                        squeezed = squeezed.replace("NN", "N");
                    }
                    format!("~{squeezed}\n")
                }
                None => format!("{l}\n"),
            })
            .collect()
    };
    assert_eq!(normalise(&run.stdout), normalise(&native), "guest (left) and host (right) differ\n--- console:\n{}", run.console);
    assert_eq!(run.code, 0, "{}", run.console);
}
