//! A hostile guest cannot hurt the VMM (issue 18): stand-in kernels that
//! write garbage to every I/O port the VMM offers (the serial port, the
//! host I/O, console, page-operation, mark and boot-timer ports with
//! addresses that are not requests), hammer the boot-timer port, and hand
//! the panic port a report that is not one. The VMM must neither panic nor
//! stop serving; it reports each kind of misuse once and exits with the
//! guest's code.

use tests::*;

/// Every port from 0 to 0xffff but the exit (0x500) and panic (0x508)
/// ones gets a 32-bit write of a pseudo-random value and a byte read;
/// then the boot-timer port gets 2,000 more writes; then exit(0x42).
/// (Assembled from `xor ebx,ebx; mov r8d,...; 1: cmp ebx,0x500; je 2f;
/// ...; out dx,eax; in al,dx; 2: r8d = r8d * 1103515245 + 12345; ...`.)
const PORT_SWEEP: &[u8] = &[
    0x31, 0xdb, 0x41, 0xb8, 0x78, 0x56, 0x34, 0x12, 0x81, 0xfb, 0x00, 0x05, 0x00, 0x00, 0x74, 0x0f, 0x81, 0xfb, 0x08, 0x05, 0x00, 0x00, 0x74, 0x07, 0x89, 0xda,
    0x44, 0x89, 0xc0, 0xef, 0xec, 0x45, 0x69, 0xc0, 0x6d, 0x4e, 0xc6, 0x41, 0x41, 0x81, 0xc0, 0x39, 0x30, 0x00, 0x00, 0xff, 0xc3, 0x81, 0xfb, 0x00, 0x00, 0x01,
    0x00, 0x72, 0xd1, 0xb9, 0xd0, 0x07, 0x00, 0x00, 0x66, 0xba, 0x04, 0x05, 0x44, 0x89, 0xc0, 0xef, 0x45, 0x69, 0xc0, 0x6d, 0x4e, 0xc6, 0x41, 0x41, 0x81, 0xc0,
    0x39, 0x30, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xe6, 0x66, 0xba, 0x00, 0x05, 0xb8, 0x42, 0x00, 0x00, 0x00, 0xef, 0xeb, 0xfe,
];

#[test]
fn garbage_on_every_port_is_survived_and_reported_once() {
    if !kvm_available() {
        return;
    }
    let dir = Scratch::new("hostile-ports");
    let kernel = dir.file("ports.elf", &kernel_elf(PORT_SWEEP), 0o644);
    let run = run_vmm(&["run", "--kernel", kernel.to_str().unwrap(), "--no-init", "--timeout", "300"]);
    assert_eq!(run.code, 0x42, "{}", run.vmm_stderr);
    assert!(!run.vmm_stderr.contains("panicked"), "{}", run.vmm_stderr);
    // Each port's refusals: at most one line per kind of mistake.
    for (port, kinds) in [("PORT_HOSTIO", 5), ("PORT_CONSOLE", 5), ("PORT_PAGEOP", 4)] {
        let lines = run.vmm_stderr.lines().filter(|l| l.starts_with(&format!("vmm: {port} "))).count();
        assert!((1..=kinds).contains(&lines), "{port}: {lines} lines\n{}", run.vmm_stderr);
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
