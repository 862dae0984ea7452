//! Guest instruction counting (`vmm run --count-instructions`): the kernel
//! marks regions on `PORT_MARK` when its command line says `count=...`,
//! and the VMM single-steps them.

use shared::ports::{mark_name, MARK_ALLOC_PAGE, MARK_ANON_WRITE_FAULT, MARK_KMALLOC64};
use tests::*;

/// A sane instruction count for one of the kernel's marked regions.
const SANE: std::ops::Range<u64> = 20..100_000;

/// The one count of region `id`, checked for range and for its stderr line.
fn one_count(cli: &CliRun, report: &RunReport, id: u32) -> u64 {
    let counts = report.counts.as_ref().expect("--count-instructions gives counts");
    let of = counts.of(id);
    assert_eq!(of.len(), 1, "region {id} ({}) counted {of:?}:\n{}", mark_name(id), cli.stderr);
    assert!(SANE.contains(&of[0]), "region {id} ({}): {} instructions is not in {SANE:?}", mark_name(id), of[0]);
    let line = format!("vmm: counted {} guest instructions", of[0]);
    assert!(
        cli.stderr.lines().any(|l| l.starts_with(&line) && l.ends_with(&format!(": {}", mark_name(id)))),
        "no line {line:?}...{:?} on stderr:\n{}",
        mark_name(id),
        cli.stderr
    );
    of[0]
}

#[test]
fn counts_the_boot_regions_and_the_count_repeats() {
    if !kvm_available() {
        return;
    }
    let args = ["--no-init", "--count-instructions", "--cmdline", "count=alloc_page,kmalloc64"];
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (cli, report) = vmm_run_report(&args);
        assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
        let counts = report.counts.as_ref().unwrap();
        assert_eq!(counts.regions.len(), 2, "{counts:?}");
        assert_eq!((counts.protocol_errors, counts.stray_debug_exits), (0, 0), "{counts:?}");
        seen.push((one_count(&cli, &report, MARK_ALLOC_PAGE), one_count(&cli, &report, MARK_KMALLOC64)));
    }
    // One vCPU, interrupts held off while stepping, the same boot: the
    // same instructions.
    assert_eq!(seen[0], seen[1], "instruction counts differ between two identical boots");
}

#[test]
fn nothing_is_counted_without_the_flag() {
    if !kvm_available() {
        return;
    }
    let (cli, report) = vmm_run_report(&["--no-init", "--cmdline", "count=alloc_page,kmalloc64"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert_eq!(report.counts, None);
    assert!(!cli.stderr.contains("counted"), "{}", cli.stderr);
}

#[test]
fn counts_a_user_write_fault_of_the_demo() {
    if !kvm_available() {
        return;
    }
    let (cli, report) = vmm_run_report(&["--count-instructions", "--cmdline", "count=fault"]);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
    let counts = report.counts.as_ref().unwrap();
    assert_eq!(counts.regions.len(), 1, "{counts:?}");
    assert_eq!(counts.protocol_errors, 0, "{counts:?}");
    one_count(&cli, &report, MARK_ANON_WRITE_FAULT);
}

#[test]
fn the_flag_alone_is_fine_and_says_nothing_was_marked() {
    if !kvm_available() {
        return;
    }
    let (cli, report) = vmm_run_report(&["--no-init", "--count-instructions"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert_eq!(report.counts.as_ref().map(|c| c.regions.len()), Some(0));
    assert!(cli.stderr.contains("vmm: --count-instructions: the guest marked no region"), "{}", cli.stderr);
}

#[test]
fn the_flag_takes_no_value() {
    let run = vmm_cli(&["run", "--count-instructions=yes"]);
    assert_eq!(run.code, exit_code::USAGE, "{}", run.stderr);
    // (clap colours the value and the option)
    assert!(run.stderr.contains("unexpected value") && run.stderr.contains("--count-instructions"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "the guest ran:\n{}", run.stdout);
}

/// A minimal kernel ELF for the VMM (`ET_EXEC`, one segment at 16 MiB
/// physical, mapped at `START_KERNEL_MAP` + 16 MiB) that runs `code` at
/// ring 0 on the boot page tables.
fn kernel_elf(code: &[u8]) -> Vec<u8> {
    use shared::layout::{KERNEL_PHYS_START, START_KERNEL_MAP};
    const HEADERS: u64 = 64 + 56;
    let vaddr = START_KERNEL_MAP + KERNEL_PHYS_START;
    let mut b = vec![0u8; HEADERS as usize];
    b[..4].copy_from_slice(b"\x7fELF");
    (b[4], b[5], b[6]) = (2, 1, 1); // 64-bit, little-endian, version 1
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&(vaddr + HEADERS).to_le_bytes()); // entry
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    b[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let size = HEADERS + code.len() as u64;
    let ph = &mut b[64..];
    ph[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    ph[4..8].copy_from_slice(&5u32.to_le_bytes()); // R + X
    ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
    ph[24..32].copy_from_slice(&KERNEL_PHYS_START.to_le_bytes());
    ph[32..40].copy_from_slice(&size.to_le_bytes()); // filesz
    ph[40..48].copy_from_slice(&size.to_le_bytes()); // memsz
    ph[48..56].copy_from_slice(&0x20_0000u64.to_le_bytes()); // align
    b.extend_from_slice(code);
    b
}

/// `mov dx, port; mov eax, value; out dx, eax`: three instructions.
fn outl(code: &mut Vec<u8>, port: u16, value: u32) {
    code.extend_from_slice(&[0x66, 0xba]);
    code.extend_from_slice(&port.to_le_bytes());
    code.push(0xb8);
    code.extend_from_slice(&value.to_le_bytes());
    code.push(0xef);
}

fn nops(code: &mut Vec<u8>, n: usize) {
    code.extend(std::iter::repeat_n(0x90, n));
}

/// A guest that breaks the mark protocol every way it can, around one
/// region of known instructions, and stops inside another: the VMM
/// counts what it can, reports the rest and does not fall over.
#[test]
fn a_guest_that_breaks_the_mark_protocol() {
    use shared::ports::{MARK_BEGIN as B, MARK_END as E, PORT_EXIT, PORT_MARK, SERIAL_COM1};
    if !kvm_available() {
        return;
    }
    let mut code = Vec::new();
    outl(&mut code, PORT_MARK, E | 2); // END without BEGIN
                                       // Counted: each instruction, except one that exits to the VMM (an
                                       // `out`), which is one of the region's exits instead (kvm_pvm gives it
                                       // no single-step exit of its own).
    outl(&mut code, PORT_MARK, B | 2); // region 2 from here:
    nops(&mut code, 5); //   5
    outl(&mut code, PORT_MARK, B | 3); //   2 + an exit: nested BEGIN, ignored
    nops(&mut code, 3); //   3
    code.extend_from_slice(&[0x66, 0xba, 0xf8, 0x03, 0xb0, b'x', 0xee]); //   2 + an exit: 'x' to the serial port
    outl(&mut code, PORT_MARK, E | 3); //   2 + an exit: END of another region, ignored
    outl(&mut code, PORT_MARK, E | 2); //   2: the END's `out` closes the region
    outl(&mut code, PORT_MARK, 0x1234); // neither BEGIN nor END
    outl(&mut code, PORT_MARK, B | E | 1); // both
    outl(&mut code, PORT_MARK, B | 1); // region 1 from here:
    nops(&mut code, 1); //   1
    outl(&mut code, PORT_EXIT, 7); //   2 + an exit: the guest stops inside the region
    code.extend_from_slice(&[0xeb, 0xfe]);
    assert_eq!(SERIAL_COM1, 0x3f8);

    let scratch = Scratch::new("count-marks");
    let kernel = scratch.file("marks.elf", &kernel_elf(&code), 0o644);
    let (cli, report) = vmm_run_report(&["--kernel", kernel.to_str().unwrap(), "--no-init", "--count-instructions"]);
    assert_eq!(cli.code, 7, "{}\n{:?}", cli.stderr, report.outcome);
    assert_eq!(report.console_text(), "x");
    let counts = report.counts.as_ref().unwrap();
    assert_eq!(
        counts.regions,
        [
            vmm::RegionCount { id: 2, instructions: 5 + 2 + 3 + 2 + 2 + 2, exits: 3, finished: true },
            vmm::RegionCount { id: 1, instructions: 1 + 2, exits: 1, finished: false },
        ],
        "{}",
        cli.stderr
    );
    assert_eq!(counts.protocol_errors, 6, "{counts:?}");
    assert_eq!(counts.stray_debug_exits, 0, "{counts:?}");
    for line in [
        "vmm: counted 16 guest instructions (3 other VM exits: port I/O): alloc_page(GFP_KERNEL) + __free_page",
        "vmm: counted 3 guest instructions (1 other VM exit: port I/O): anonymous write fault",
        "[unfinished: the guest stopped inside the region]",
        "vmm: instruction counting: 6 protocol errors in the guest's marks:",
        "  END of region 2 without a BEGIN: ignored",
        "  BEGIN of region 3 while region 2 is open: ignored",
        "  END of region 3 while region 2 is open: ignored",
        "  mark value 0x1234 is neither",
        "  mark value 0x30001 is neither",
        "  region 1 was still open when the guest stopped",
    ] {
        assert!(cli.stderr.contains(line), "no {line:?} in:\n{}", cli.stderr);
    }
}

#[test]
fn a_trace_gives_the_address_of_every_counted_instruction() {
    if !kvm_available() {
        return;
    }
    let path = std::env::temp_dir().join(format!("vmm-count-trace-{}.txt", std::process::id()));
    let path_arg = path.to_str().unwrap();
    let (cli, report) = vmm_run_report(&["--count-instructions", "--count-trace", path_arg, "--cmdline", "count=fault"]);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
    let counted = one_count(&cli, &report, MARK_ANON_WRITE_FAULT);
    let text = std::fs::read_to_string(&path).expect("the trace file was written");
    let _ = std::fs::remove_file(&path);
    let pcs: Vec<u64> = text
        .lines()
        .map(|line| {
            let (pc, region) = line.split_once(' ').unwrap_or_else(|| panic!("bad trace line {line:?}"));
            assert_eq!(region, "0", "one region, the first: {line:?}");
            u64::from_str_radix(pc.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"))
        })
        .collect();
    assert_eq!(pcs.len() as u64, counted, "one line per counted instruction");
    // The fault handler runs in the kernel image, in the top 2 GiB.
    assert!(pcs.iter().all(|&pc| pc >= 0xffff_ffff_8000_0000), "an address outside the kernel image: {text}");
    assert!(pcs.windows(2).any(|w| w[1] < w[0]), "the path has calls and returns, not one straight run");
}

#[test]
fn a_trace_needs_counting() {
    let (cli, _) = vmm_cli_report(&["run", "--count-trace", "/tmp/never-written"]);
    assert_ne!(cli.code, 0);
    assert!(cli.stderr.contains("--count-instructions"), "{}", cli.stderr);
}

#[test]
fn counts_a_signal_delivery_and_its_return() {
    if !kvm_available() {
        return;
    }
    let prog = tests::programs::path("proc_signal");
    let init = prog.to_str().unwrap();
    let (cli, report) = vmm_run_report(&["--count-instructions", "--cmdline", "count=signal", "--init", init]);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
    let counts = report.counts.as_ref().unwrap();
    assert_eq!(counts.protocol_errors, 0, "{counts:?}");
    one_count(&cli, &report, shared::ports::MARK_SIGNAL_DELIVERY);
    one_count(&cli, &report, shared::ports::MARK_SIGRETURN);
}

/// A futex wait woken by another thread, a thread's creation, and its
/// exit through to its join: each counted once, the program's work done.
#[test]
fn counts_a_futex_pair_and_a_thread_life() {
    if !kvm_available() {
        return;
    }
    let prog = tests::programs::path("bench_threads");
    let init = prog.to_str().unwrap();
    let (cli, report) = vmm_run_report(&["--count-instructions", "--cmdline", "count=futex,thread", "--init", init]);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
    assert!(String::from_utf8_lossy(&report.program_stdout).contains("threads created and joined: 3 of 3"), "{}", report.console_text());
    one_count(&cli, &report, shared::ports::MARK_FUTEX_WAIT_WAKE);
    one_count(&cli, &report, shared::ports::MARK_THREAD_CREATE);
    one_count(&cli, &report, shared::ports::MARK_THREAD_EXIT);
}

/// `count=syscalls,faults,switches,irqs`: every system call by number,
/// every fault by kind, every switch and user-mode timer interrupt,
/// summed by the VMM. bench_ops makes exactly 200 getppid calls; its
/// first touches are anonymous write faults and its forks COW faults.
#[test]
fn counts_every_syscall_and_fault_into_a_histogram() {
    if !kvm_available() {
        return;
    }
    use shared::ports::{MARK_CONTEXT_SWITCH, MARK_FAULT_ANON, MARK_FAULT_COW, MARK_SYSCALL_BASE};
    let prog = tests::programs::path("bench_ops");
    let (cli, report) = vmm_run_report(&["--count-instructions", "--cmdline", "count=syscalls,faults,switches,irqs", "--init", prog.to_str().unwrap()]);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
    let counts = report.counts.as_ref().expect("--count-instructions gives counts");
    assert_eq!(counts.protocol_errors, 0, "{:?}", counts.error_messages);
    let h = &counts.histogram;
    let getppid = h[&(MARK_SYSCALL_BASE + 110)];
    assert_eq!(getppid.calls, 200, "{}", cli.stderr);
    assert!(SANE.contains(&(getppid.total / getppid.calls)), "{getppid:?}");
    for id in [MARK_FAULT_ANON, MARK_FAULT_COW, MARK_CONTEXT_SWITCH, MARK_SYSCALL_BASE + 57] {
        let e = h.get(&id).unwrap_or_else(|| panic!("no {id} in {h:?}"));
        assert!(e.calls > 0 && e.max >= e.total / e.calls, "{id}: {e:?}");
    }
    assert!(h[&MARK_FAULT_ANON].calls >= 256, "bench_ops touches 256 fresh pages: {:?}", h[&MARK_FAULT_ANON]);
    assert!(cli.stderr.contains("200 calls") && cli.stderr.contains("syscall 110 getppid"), "{}", cli.stderr);
}

/// fork's count grows with the pages it copies (bench_fork forks three
/// times after touching PAGES pages): the per-PTE part is the difference
/// over the difference of pages, positive and of a sane size.
#[test]
fn fork_is_counted_per_present_pte() {
    if !kvm_available() {
        return;
    }
    use shared::ports::MARK_SYSCALL_BASE;
    let prog = tests::programs::path("bench_fork");
    let fork_mean = |pages: &str| {
        let (cli, report) = vmm_run_report(&["--count-instructions", "--cmdline", "count=syscalls", "--init", prog.to_str().unwrap(), "--", pages]);
        assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
        assert!(cli.stdout.contains(&format!("bench_fork: {pages} pages, 3 forks")), "{}", cli.stdout);
        let counts = report.counts.as_ref().expect("--count-instructions gives counts");
        let fork = counts.histogram[&(MARK_SYSCALL_BASE + 57)];
        assert_eq!(fork.calls, 3, "{fork:?}");
        fork.total / fork.calls
    };
    let (none, many) = (fork_mean("0"), fork_mean("512"));
    let per_pte = many.saturating_sub(none) / 512;
    assert!((1..1000).contains(&per_pte), "fork: {none} instructions with no pages, {many} with 512: {per_pte} per PTE");
}

/// `count=reclaim`: every reclaim pass outside a fault (kswapd's, here)
/// is a region. Under pressure there are passes, and what they cost per
/// page they freed is of a sane size: the LRU scan, the reverse map and
/// the swap write of each.
#[test]
fn counts_reclaim_passes() {
    if !kvm_available() {
        return;
    }
    use shared::ports::MARK_RECLAIM;
    let scratch = Scratch::new("count-reclaim");
    let spec = format!("{}:64M", scratch.dir.join("swap").display());
    let prog = tests::programs::path("swap_pressure");
    let args = ["--count-instructions", "--mem", "32M", "--swap", &spec, "--cmdline", "count=reclaim", "--init", prog.to_str().unwrap(), "--", "28"];
    let (cli, report) = vmm_run_report(&args);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stderr, report.console_text());
    let counts = report.counts.as_ref().expect("--count-instructions gives counts");
    assert_eq!(counts.protocol_errors, 0, "{:?}", counts.error_messages);
    let pass = counts.histogram.get(&MARK_RECLAIM).unwrap_or_else(|| panic!("no reclaim pass counted:\n{}", cli.stderr));
    let stolen = counter_in(&cli.stdout, "pgsteal_kswapd");
    assert!(pass.calls > 0 && stolen > 0 && pass.max >= pass.total / pass.calls, "{pass:?}, {stolen} pages");
    assert!((100..100_000).contains(&(pass.total / stolen)), "{} instructions per page reclaimed: {pass:?}, {stolen} pages", pass.total / stolen);
    assert!(cli.stderr.contains("reclaim pass outside a fault"), "{}", cli.stderr);
}
