//! A hostile guest cannot hurt the VMM (issue 18): stand-in kernels,
//! assembled from `tests/guest/hostile/*.s`, that write garbage to every
//! I/O port the VMM offers (the serial port, the RTC, the host I/O,
//! console, page-operation, mark and boot-timer ports with addresses that
//! are not requests), to every virtio-mmio register of the stats device,
//! post garbage descriptor chains on its queues, and hand the panic port a
//! report that is not one. The VMM must neither panic nor stop serving; it
//! reports each kind of misuse once and exits with the guest's code. (Its
//! memory stays bounded: 4.3 MB peak RSS for the ring run, measured with
//! `/usr/bin/time -v`; see BENCHMARKS.md.)

use tests::*;

/// Assembles `tests/guest/hostile/NAME.s` (GNU as, from binutils, which
/// the project's set-up installs) into a stand-in kernel's code.
fn assemble(dir: &Scratch, name: &str) -> Vec<u8> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/hostile").join(format!("{name}.s"));
    let (obj, bin) = (dir.dir.join(format!("{name}.o")), dir.dir.join(format!("{name}.bin")));
    let ok = |what: &str, st: std::io::Result<std::process::ExitStatus>| match st {
        Ok(s) if s.success() => {}
        other => panic!("{what} failed ({other:?}): install binutils (as, objcopy)"),
    };
    let includes = src.parent().expect("the sources' directory");
    ok("as", std::process::Command::new("as").arg("--64").arg("-I").arg(includes).arg("-o").arg(&obj).arg(&src).status());
    ok("objcopy", std::process::Command::new("objcopy").args(["-O", "binary", "-j", ".text"]).arg(&obj).arg(&bin).status());
    std::fs::read(&bin).expect("the assembled code")
}

/// Boots `name`'s stand-in kernel and returns the run.
fn boot_hostile(name: &str) -> InitRun {
    let dir = Scratch::new(&format!("hostile-{name}"));
    let kernel = dir.file(&format!("{name}.elf"), &kernel_elf(&assemble(&dir, name)), 0o644);
    let run = run_vmm(&["run", "--kernel", kernel.to_str().unwrap(), "--no-init", "--timeout", "300"]);
    assert!(!run.vmm_stderr.contains("panicked"), "{name}: {}", run.vmm_stderr);
    run
}

/// Lines of the VMM's stderr that start with `prefix`, each once.
fn reported_once(stderr: &str, prefix: &str) -> usize {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(prefix)).collect();
    let mut unique = lines.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "a kind of misuse reported twice:\n{stderr}");
    lines.len()
}

#[test]
fn garbage_on_every_port_is_survived_and_reported_once() {
    if !kvm_available() {
        return;
    }
    let run = boot_hostile("ports");
    assert_eq!(run.code, 0x42, "{}", run.vmm_stderr);
    // Each port's refusals: at most one line per kind of mistake.
    for (port, kinds) in [("PORT_HOSTIO", 5), ("PORT_CONSOLE", 5), ("PORT_PAGEOP", 4)] {
        let lines = reported_once(&run.vmm_stderr, &format!("vmm: {port} "));
        assert!((1..=kinds).contains(&lines), "{port}: {lines} lines\n{}", run.vmm_stderr);
    }
}

/// Pseudo-random values in every virtio-mmio register of the stats device,
/// again and again: each kind of misuse is reported once, the guest runs
/// to its end.
#[test]
fn garbage_in_every_mmio_register_is_survived() {
    if !kvm_available() {
        return;
    }
    let run = boot_hostile("mmio");
    assert_eq!(run.code, 0x43, "{}", run.vmm_stderr);
    assert!(reported_once(&run.vmm_stderr, "vmm: stats device: ") >= 2, "{}", run.vmm_stderr);
}

/// A driver that sets the queues up and then posts garbage rings: every
/// kind of bad chain (too long, outside the queue, looping, indirect,
/// the wrong direction, undecodable) is refused and reported once, and the
/// device goes on to the next.
#[test]
fn garbage_descriptor_chains_are_refused_one_by_one() {
    if !kvm_available() {
        return;
    }
    let run = boot_hostile("rings");
    assert_eq!(run.code, 0x44, "{}", run.vmm_stderr);
    let n = reported_once(&run.vmm_stderr, "vmm: stats device: stats queue: bad descriptor chain");
    assert!(n >= 4, "only {n} kinds of bad chain came up:\n{}", run.vmm_stderr);
    for kind in ["loops", "outside the queue", "above the 262144-byte limit"] {
        assert!(run.vmm_stderr.contains(kind), "{kind}: {}", run.vmm_stderr);
    }
}

/// A panic report that is not one (outside RAM, unaligned, garbage where
/// it points): the VMM says it could not read it and exits with its panic
/// code, 112, instead of falling over.
#[test]
fn a_panic_port_write_that_is_not_a_report_is_survived() {
    if !kvm_available() {
        return;
    }
    let dir = Scratch::new("hostile-panic");
    for at in [0xdead_beefu32, 0x0100_0000, 3, 0xf_f000] {
        // mov dx, PORT_PANIC; mov eax, at; out dx, eax; jmp .
        let mut code = vec![0x66, 0xba];
        code.extend_from_slice(&shared::ports::PORT_PANIC.to_le_bytes());
        code.push(0xb8);
        code.extend_from_slice(&at.to_le_bytes());
        code.extend_from_slice(&[0xef, 0xeb, 0xfe]);
        let kernel = dir.file("panic.elf", &kernel_elf(&code), 0o644);
        let run = run_vmm(&["run", "--kernel", kernel.to_str().unwrap(), "--no-init", "--timeout", "30"]);
        assert_eq!(run.code, 112, "{at:#x}: {}", run.vmm_stderr);
        assert!(run.vmm_stderr.contains(&format!("(panic report at {at:#x} unreadable: ")), "{at:#x}: {}", run.vmm_stderr);
        assert!(!run.vmm_stderr.contains("panicked"), "{}", run.vmm_stderr);
    }
}
