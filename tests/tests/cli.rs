//! Bad input on the command line gets one clear error and a non-zero exit,
//! never a panic of the VMM.

use tests::*;

fn assert_refused(args: &[&str], code: i32, message: &str) {
    let run = vmm_cli(args);
    assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(message), "{args:?}: expected {message:?} in:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{args:?}: the VMM panicked:\n{}", run.stderr);
    assert!(run.stdout.is_empty(), "{args:?}: the guest ran:\n{}", run.stdout);
}

#[test]
fn bad_memory_sizes() {
    assert_refused(&["run", "--mem", "0"], exit_code::USAGE, "below the minimum guest RAM of 32M");
    assert_refused(&["run", "--mem", "banana"], exit_code::USAGE, "'banana' is not a size");
    assert_refused(&["run", "--mem", "16M"], exit_code::USAGE, "below the minimum");
    assert_refused(&["run", "--mem", "2T"], exit_code::USAGE, "above the maximum");
    assert_refused(&["run", "--mem", "100000001"], exit_code::USAGE, "not a multiple of the 4K page size");
}

#[test]
fn bad_kernels() {
    let dir = std::env::temp_dir().join(format!("vmm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("not-elf");
    std::fs::write(&text, "just text\n").unwrap();
    let text = text.to_str().unwrap();
    assert_refused(&["run", "--kernel", text], exit_code::VMM_ERROR, "is not an x86-64 ELF executable: no ELF magic");
    assert_refused(&["run", "--kernel", "/nonexistent/kernel"], exit_code::VMM_ERROR, "cannot read kernel /nonexistent/kernel");
    // The test binary itself: an x86-64 ELF, but position-independent and
    // linked for user space.
    let me = std::env::current_exe().unwrap();
    let run = vmm_cli(&["run", "--kernel", me.to_str().unwrap()]);
    assert_eq!(run.code, exit_code::VMM_ERROR, "{}", run.stderr);
    assert!(run.stderr.contains("is not an x86-64 ELF executable"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_holes() {
    assert_refused(&["run", "--mem-hole", "256M"], exit_code::USAGE, "is not START:SIZE");
    assert_refused(&["run", "--mem-hole", "256M:0"], exit_code::USAGE, "size zero");
    assert_refused(&["run", "--mem", "64M", "--mem-hole", "2G:4M"], exit_code::VMM_ERROR, "it is not inside guest RAM");
    assert_refused(&["run", "--mem", "5G", "--mem-hole", "3G:4M"], exit_code::VMM_ERROR, "it is not inside guest RAM");
    assert_refused(&["run", "--mem-hole", "16M:1M"], exit_code::VMM_ERROR, "it overlaps the kernel image");
    assert_refused(&["run", "--mem-hole", "512K:4K"], exit_code::VMM_ERROR, "it overlaps the boot structures");
    assert_refused(&["run", "--mem-hole", "64M:100"], exit_code::VMM_ERROR, "multiples of 4K");
}

#[test]
fn bad_timeouts_and_command_lines() {
    assert_refused(&["run", "--timeout", "0"], exit_code::USAGE, "positive number of seconds");
    assert_refused(&["run", "--timeout", "soon"], exit_code::USAGE, "not a number of seconds");
    let long = "x".repeat(5000);
    assert_refused(&["run", "--no-init", "--cmdline", &long], exit_code::VMM_ERROR, "kernel command line is 5000 bytes, the limit is 4096");
    assert_refused(&["frobnicate"], exit_code::USAGE, "unrecognized subcommand");
}

#[test]
fn missing_kvm_names_the_problem_and_the_fix() {
    let cfg = VmConfig { kvm_device: "/nonexistent/kvm".into(), ..VmConfig::new() };
    let err = vmm::run(&cfg, Box::new(std::io::sink())).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/kvm does not exist: this host has no KVM (load the kvm module"), "{err}");
}

/// An ELF header with the given class, type and machine, padded to 64 bytes.
fn elf_header(class: u8, typ: u16, machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = class;
    b[5] = 1;
    b[16..18].copy_from_slice(&typ.to_le_bytes());
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b
}

#[test]
fn bad_init_programs() {
    let scratch = Scratch::new("cli-init");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let text = path(&scratch.file("script.sh", b"#!/bin/sh\necho hi\n", 0o755));
    let arm = path(&scratch.file("arm", &elf_header(2, 2, 183), 0o755));
    let i386 = path(&scratch.file("i386", &elf_header(1, 2, 3), 0o755));
    let object = path(&scratch.file("obj.o", &elf_header(2, 1, 62), 0o644));
    let dir = path(&scratch.dir);
    let usage = exit_code::USAGE;
    assert_refused(&["run", "--init", "/nonexistent/prog"], usage, "cannot read init program /nonexistent/prog: No such file");
    assert_refused(&["run", "--init", &dir], usage, &format!("init program {dir} is not a regular file"));
    assert_refused(&["run", "--init", &text], usage, &format!("init program {text} is not an x86-64 ELF executable: no ELF magic"));
    assert_refused(&["run", "--init", &arm], usage, "is not an x86-64 ELF executable: machine 183 is not x86-64");
    assert_refused(&["run", "--init", &i386], usage, "is not an x86-64 ELF executable: not a 64-bit ELF");
    assert_refused(&["run", "--init", &object], usage, "is not an x86-64 ELF executable: a relocatable object");
    // Each error is one line.
    let run = vmm_cli(&["run", "--init", &text]);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn bad_files() {
    let scratch = Scratch::new("cli-files");
    let prog = scratch.file("prog", &exit_program(0), 0o755);
    let prog = prog.to_str().unwrap();
    let dir = scratch.dir.to_str().unwrap();
    let usage = exit_code::USAGE;
    assert_refused(&["run", "--init", prog, "--file", "/nonexistent/data"], usage, "cannot read file /nonexistent/data: No such file");
    assert_refused(&["run", "--init", prog, "--file", "/dev/null"], usage, "file /dev/null is not a regular file");
    // A directory is packed whole (see vmm's initramfs tests), so it runs.
    if tests::kvm_available() {
        let run = tests::run_vmm(&["run", "--init", prog, "--file", &format!("{dir}:/packed")]);
        assert_eq!(run.code, 0, "{}", run.vmm_stderr);
    }
    // --file alone has nowhere to go.
    assert_refused(&["run", "--file", prog], usage, "--init");
}

#[test]
fn bad_guest_paths() {
    let scratch = Scratch::new("cli-paths");
    let prog = scratch.file("prog", &exit_program(0), 0o755);
    let data = scratch.file("data", b"data", 0o644);
    let (prog, data) = (prog.to_str().unwrap(), data.to_str().unwrap());
    let usage = exit_code::USAGE;
    let init_at = |guest: &str| format!("{prog}:{guest}");
    let file_at = |guest: &str| format!("{data}:{guest}");
    assert_refused(&["run", "--init", &init_at("bin/prog")], usage, "'bin/prog' is not absolute");
    assert_refused(&["run", "--init", &init_at("")], usage, "'' is not absolute");
    assert_refused(&["run", "--init", &init_at("/bin/../prog")], usage, "'/bin/../prog' contains '..'");
    assert_refused(&["run", "--init", prog, "--file", &file_at("etc/data")], usage, "'etc/data' is not absolute");
    assert_refused(&["run", "--init", prog, "--file", &file_at("/etc//data")], usage, "'/etc//data' has an empty component");
    assert_refused(&["run", "--init", prog, "--file", &file_at("/etc/")], usage, "'/etc/' has an empty component");
    assert_refused(&["run", "--init", prog, "--file", &file_at("/")], usage, "'/' has an empty component");
    assert_refused(&["run", "--init", prog, "--file", &file_at("/bin/prog")], usage, "guest path '/bin/prog' is given twice");
    assert_refused(&["run", "--init", prog, "--file", &file_at("/d"), "--file", &file_at("/d")], usage, "guest path '/d' is given twice");
    assert_refused(&["run", "--init", prog, "--file", &file_at("/bin")], usage, "'/bin' is a file, but '/bin/prog' needs it to be a directory");
    assert_refused(&["run", "--init", &init_at("/bin/my prog")], usage, "whitespace");
}

#[test]
fn init_that_does_not_fit() {
    let scratch = Scratch::new("cli-size");
    let prog = scratch.file("prog", &exit_program(0), 0o755);
    let prog = prog.to_str().unwrap();
    let sparse = |name: &str, len: u64| {
        let path = scratch.dir.join(name);
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
        path.to_str().unwrap().to_string()
    };
    let huge = sparse("huge", 40 * M);
    let big = sparse("big", 20 * M);
    let usage = exit_code::USAGE;
    // More than all of RAM: refused before it is read.
    assert_refused(&["run", "--mem", "32M", "--init", prog, "--file", &huge], usage, "more than the 33554432 bytes of guest RAM");
    // Less than RAM, but more than is free above the kernel image.
    assert_refused(&["run", "--mem", "32M", "--init", prog, "--file", &big], usage, "32 MiB of guest RAM has no room for the");
    // Init's argument vector is limited to 60 KiB.
    let arg = "a".repeat(1000);
    let mut args = vec!["run", "--init", prog, "--"];
    args.extend(std::iter::repeat_n(arg.as_str(), 62));
    assert_refused(&args, usage, "init's arguments, environment and working directory take 62");
}

#[test]
fn init_moves_the_console_to_stderr() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("cli-streams");
    let prog = scratch.file("exit0", &exit_program(0), 0o755);
    let data = scratch.file("data", b"some data\n", 0o600);
    let run = run_init(64 * M, "", &prog, &[(&data, "/etc/data")], &["one", "two"]);
    // However far the kernel gets with init (that is not this test's
    // business), the program says nothing, so stdout stays empty: the
    // console went to stderr.
    assert!(run.outcome.is_some(), "{}", run.vmm_stderr);
    assert_eq!(run.stdout, "", "stdout carries only the program's output");
    assert_eq!(run.stderr, "");
    assert!(run.console.contains("Command line: init=/bin/exit0\n"), "{}", run.console);
    assert!(run.vmm_stderr.contains(&run.console), "the console is not on vmm's stderr:\n{}", run.vmm_stderr);
    // Without --init the console stays on stdout.
    let plain = vmm_cli(&["run", "--no-init", "--mem", "64M", "--timeout", "60", "--", "one"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(plain.stdout.contains("reboot: Power down"), "{}", plain.stdout);
    assert_eq!(plain.stderr, "");
}

/// A stand-in kernel that only uses the host I/O port, as user programs'
/// `write`s will: a HostWrite for stdout, one for stderr, one with a bad fd;
/// then it exits with the sum of the three `written` fields. Loaded at
/// 16 MiB and entered at its first byte through the boot mapping.
fn host_io_kernel() -> Vec<u8> {
    // Where tests::kernel_elf loads the segment.
    const PHYS: u64 = 0x100_0000;
    const REQS: usize = 0x100;
    const MSGS: usize = 0x180;
    let messages: [&[u8]; 2] = [b"hello out\n", b"hello err\n"];
    let mut seg = vec![0u8; 0x200];

    // HostWrite {fd, _pad, addr, len, written}; `written` starts non-zero
    // so that the VMM's write-back shows.
    let fds = [1u32, 2, 7];
    for (i, fd) in fds.into_iter().enumerate() {
        let msg = i.min(1);
        let at = REQS + 32 * i;
        seg[at..at + 4].copy_from_slice(&fd.to_le_bytes());
        seg[at + 8..at + 16].copy_from_slice(&(PHYS + (MSGS + 16 * msg) as u64).to_le_bytes());
        seg[at + 16..at + 24].copy_from_slice(&(messages[msg].len() as u64).to_le_bytes());
        seg[at + 24..at + 32].copy_from_slice(&100u64.to_le_bytes());
    }
    for (i, msg) in messages.iter().enumerate() {
        seg[MSGS + 16 * i..MSGS + 16 * i + msg.len()].copy_from_slice(msg);
    }

    let mut code: Vec<u8> = vec![0x66, 0xba, 0x0c, 0x05]; // mov dx, PORT_HOSTIO
    for i in 0..fds.len() {
        code.push(0xb8); // mov eax, imm32
        code.extend_from_slice(&((PHYS as usize + REQS + 32 * i) as u32).to_le_bytes());
        code.push(0xef); // out dx, eax
    }
    for i in 0..fds.len() {
        // mov eax, [rip + d] / add eax, [rip + d]: the i-th `written`.
        code.extend_from_slice(if i == 0 { &[0x8b, 0x05] } else { &[0x03, 0x05] });
        let next = code.len() + 4;
        let disp = (REQS + 32 * i + 24) as i32 - next as i32;
        code.extend_from_slice(&disp.to_le_bytes());
    }
    code.extend_from_slice(&[0x66, 0xba, 0x00, 0x05]); // mov dx, PORT_EXIT
    code.extend_from_slice(&[0xef, 0xf4, 0xeb, 0xfd]); // out dx, eax; hlt; jmp hlt
    assert!(code.len() < REQS);
    seg[..code.len()].copy_from_slice(&code);

    tests::kernel_elf(&seg)
}

#[test]
fn host_io_port_carries_program_output() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("cli-hostio");
    let kernel = scratch.file("kernel", &host_io_kernel(), 0o644);
    let prog = scratch.file("prog", &exit_program(0), 0o755);
    let (kernel, prog) = (kernel.to_str().unwrap(), prog.to_str().unwrap());
    let run = run_vmm(&["run", "--kernel", kernel, "--timeout", "30", "--init", prog]);
    // 10 + 10 bytes written, 0 for the refused request.
    assert_eq!(run.outcome, Some(Outcome::Exited(20)), "{}", run.vmm_stderr);
    assert_eq!(run.code, 20);
    assert_eq!(run.stdout, "hello out\n");
    assert_eq!(run.stderr, "hello err\n");
    assert!(run.vmm_stderr.contains("hello err\n"), "{}", run.vmm_stderr);
    assert!(run.vmm_stderr.contains("vmm: PORT_HOSTIO (0x50c): fd 7 is neither stdin (0), stdout (1) nor stderr (2); request ignored"), "{}", run.vmm_stderr);
    assert_eq!(run.console, "");
}

/// `--swap`: a file without a swap header, a size that does not parse and
/// a file too small are refused with the reason; a new file is created
/// with Linux's swap header and the kernel is told where the device is.
#[test]
fn swap_files_are_checked_and_made() {
    let scratch = Scratch::new("cli-swap");
    let prog = scratch.file("prog", &exit_program(0), 0o755);
    let prog = prog.to_str().unwrap();
    let plain = scratch.file("plain", &[0u8; 64 << 10], 0o644);
    let run = run_vmm(&["run", "--init", prog, "--swap", plain.to_str().unwrap()]);
    assert_eq!(run.code, exit_code::VMM_ERROR, "{}", run.vmm_stderr);
    assert!(run.vmm_stderr.contains("no Linux swap header") && run.vmm_stderr.contains("mkswap"), "{}", run.vmm_stderr);
    let run = run_vmm(&["run", "--init", prog, "--swap", "/tmp/x:lots"]);
    assert_eq!(run.code, exit_code::USAGE, "{}", run.vmm_stderr);
    let new = scratch.dir.join("new-swap");
    let spec = format!("{}:8K", new.display());
    let run = run_vmm(&["run", "--init", prog, "--swap", &spec]);
    assert!(run.vmm_stderr.contains("too small"), "{}", run.vmm_stderr);
    assert!(!new.exists(), "nothing is created for a refused size");
    if !kvm_available() {
        return;
    }
    let spec = format!("{}:1M", new.display());
    let run = run_vmm(&["run", "--timeout", "150", "--init", prog, "--swap", &spec]);
    assert_eq!(run.code, 0, "{}", run.vmm_stderr);
    let bytes = std::fs::read(&new).unwrap();
    assert_eq!((bytes.len(), &bytes[4086..4096]), (1 << 20, &b"SWAPSPACE2"[..]));
    assert!(run.console.contains("virtio_mmio.device=4K@0xd0001000:16"), "{}", run.console);
}
