//! The stats channel end to end: the virtio-mmio stats device, the host
//! views of what it carries (`--stats-out`, `--proc-out`, `--stats table`,
//! `vmm stats`), and workloads driven through the control queue with
//! `vmm::run_with_control`.
//!
//! The first tests use a stand-in kernel (machine code written here) that
//! drives the device the way a guest driver does, so the VMM side is tested
//! on its own; the rest boot the real kernel and its driver.

use std::path::Path;
use std::time::{Duration, Instant};

use shared::stats::{
    encode, encode_command, regs, Command, CommandResult, Op, Payload, ProcFiles, ProcessStats, Reason, Reply, SlabStats, Snapshot, VmallocArea, ZoneStats,
};
use tests::*;
use vmm::{ControlError, SnapshotExt, StatsMessage};

const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
const PHYS: u64 = 0x100_0000;
const VIRT: u64 = START_KERNEL_MAP + PHYS;

// The stand-in's segment: code, then both queues (4 entries each), the
// control buffer, the command it expects, and its messages.
const STATS_DESC: usize = 0x1000;
const STATS_AVAIL: usize = 0x1100;
const STATS_USED: usize = 0x1200;
const CONTROL_DESC: usize = 0x1400;
const CONTROL_AVAIL: usize = 0x1500;
const CONTROL_USED: usize = 0x1600;
const CONTROL_BUF: usize = 0x1800;
const EXPECTED: usize = 0x1900;
const MESSAGES: usize = 0x2000;
const QUEUE_ENTRIES: u32 = 4;
/// Where the stand-in maps the device: the last 2 MiB page of the boot
/// mapping (PD entry 511), physical 1 GiB - 2 MiB, which it remaps.
const MMIO_VIRT: u64 = START_KERNEL_MAP + (511 << 21);
/// An address far outside guest RAM, for the stand-in's bad descriptor.
const BAD_ADDR: u64 = 0x7fff_0000_0000;

fn sample_snapshot(reason: Reason, rss_kb: u64, free: u64) -> Snapshot {
    let process = |pid: u32, comm: &str, rss: u64| ProcessStats {
        pid,
        ppid: if pid == 1 { 0 } else { 1 },
        comm: comm.into(),
        state: 'S',
        vm_size_kb: 2048,
        vm_rss_kb: rss,
        rss_anon_kb: rss / 2,
        rss_file_kb: rss / 2,
        rss_shmem_kb: 0,
        vma_count: 5,
        page_faults: rss / 4,
        status: format!("Name:\t{comm}\nPid:\t{pid}\nVmRSS:\t{rss:>8} kB\n"),
        maps: "00400000-00401000 r-xp 00000000 00:00 0                          /bin/x\n".into(),
    };
    Snapshot {
        reason,
        meminfo: vec![("MemTotal".into(), 131_072), ("MemFree".into(), free * 4)],
        zones: vec![
            ZoneStats { name: "DMA".into(), managed: 3000, free: 2000, free_per_order: vec![4, 2, 1, 0, 1], min: 10, low: 12, high: 15 },
            ZoneStats { name: "DMA32".into(), managed: 25000, free: free - 2000, free_per_order: vec![10, 5, 3, 2, 4], min: 100, low: 125, high: 150 },
        ],
        vmstat: vec![("pgfault".into(), 1000 + rss_kb), ("pgmajfault".into(), 0), ("cow_fault".into(), 7)],
        slabs: vec![
            SlabStats { name: "vm_area_struct".into(), object_size: 192, active_objs: 40, num_objs: 63, slabs: 3 },
            SlabStats { name: "kmalloc-64".into(), object_size: 64, active_objs: 300, num_objs: 320, slabs: 5 },
        ],
        vmalloc: vec![VmallocArea { start: 0xffff_c900_0000_0000, end: 0xffff_c900_0000_5000, pages: 4, caller: "kernel_stack".into() }],
        processes: vec![process(1, "init", 64), process(7, "worker", rss_kb)],
        files: ProcFiles {
            meminfo: format!("MemTotal:         131072 kB\nMemFree:        {:>8} kB\n", free * 4),
            buddyinfo: "Node 0, zone      DMA      4      2      1      0      1\n".into(),
            zoneinfo: "Node 0, zone      DMA\n  pages free     2000\n".into(),
            vmstat: format!("pgfault {}\n", 1000 + rss_kb),
            slabinfo: "slabinfo - version: 2.1\nvm_area_struct        40     63    192   21    1\n".into(),
            vmallocinfo: "0xffffc90000000000-0xffffc90000005000   20480 kernel_stack pages=4\n".into(),
        },
    }
}

/// The messages the stand-in sends: two snapshots and (with a command) a
/// reply to command #1.
fn stand_in_messages() -> [Vec<u8>; 3] {
    [
        encode(1, 100_000_000, &Payload::Snapshot(sample_snapshot(Reason::Interval, 400, 20_000))).unwrap(),
        encode(2, 300_000_000, &Payload::Snapshot(sample_snapshot(Reason::Final, 800, 19_000))).unwrap(),
        encode(3, 200_000_000, &Payload::Reply(Reply { id: 1, result: CommandResult::Done })).unwrap(),
    ]
}

fn put(seg: &mut [u8], at: usize, bytes: &[u8]) {
    seg[at..at + bytes.len()].copy_from_slice(bytes);
}

fn put_desc(seg: &mut [u8], table: usize, i: usize, addr: u64, len: u32, flags: u16) {
    let at = table + 16 * i;
    put(seg, at, &addr.to_le_bytes());
    put(seg, at + 8, &len.to_le_bytes());
    put(seg, at + 12, &flags.to_le_bytes());
    put(seg, at + 14, &0u16.to_le_bytes());
}

/// A stand-in kernel with a minimal virtio-mmio driver for the stats
/// device, in machine code: it maps the device's page (at the address in
/// `BootInfo::stats_mmio_base`), checks the magic, initialises the device
/// (reset, ACK, DRIVER, VERSION_1, FEATURES_OK, both queues of 4 entries,
/// DRIVER_OK) with three chains already available on the stats queue (a
/// snapshot, a chain whose buffer lies outside guest RAM, the final
/// snapshot) and one 64-byte buffer on the control queue, and notifies.
/// With `take_command` it then spins until the control buffer comes back,
/// checks that it holds `Command { id: 1, op: DropCaches }`, posts its
/// reply (`Done` for id 1) and notifies again. It exits with the stats
/// queue's used index + 16 * the control queue's used index (3 alone, 20
/// with the command), 0xee if the magic is wrong, 0xef if the command is.
fn stand_in_kernel(take_command: bool) -> Vec<u8> {
    let messages = stand_in_messages();
    let mut seg = vec![0u8; MESSAGES];
    let mut at = Vec::new();
    for m in &messages {
        at.push(seg.len());
        seg.extend_from_slice(m);
        seg.resize(seg.len().next_multiple_of(16), 0);
    }
    let phys = |off: usize| PHYS + off as u64;
    // Stats queue: descriptors 0..3; chains 0, 1, 2 available now, 3 later.
    put_desc(&mut seg, STATS_DESC, 0, phys(at[0]), messages[0].len() as u32, 0);
    put_desc(&mut seg, STATS_DESC, 1, BAD_ADDR, 64, 0);
    put_desc(&mut seg, STATS_DESC, 2, phys(at[1]), messages[1].len() as u32, 0);
    put_desc(&mut seg, STATS_DESC, 3, phys(at[2]), messages[2].len() as u32, 0);
    put(&mut seg, STATS_AVAIL, &1u16.to_le_bytes()); // VRING_AVAIL_F_NO_INTERRUPT: this driver polls
    put(&mut seg, STATS_AVAIL + 2, &3u16.to_le_bytes());
    for i in 0..4u16 {
        put(&mut seg, STATS_AVAIL + 4 + 2 * i as usize, &i.to_le_bytes());
    }
    // Control queue: one device-writable buffer.
    put_desc(&mut seg, CONTROL_DESC, 0, phys(CONTROL_BUF), 64, 2);
    put(&mut seg, CONTROL_AVAIL + 2, &1u16.to_le_bytes());
    let expected = encode_command(&Command { id: 1, op: Op::DropCaches }).unwrap();
    assert!(expected.len() <= 8);
    put(&mut seg, EXPECTED, &expected);

    let mut c = Code::new();
    // rbx = the device's registers, through PD entry 511 remapped (2 MiB
    // page, uncached) to the page holding stats_mmio_base.
    let base_field = START_KERNEL_MAP + shared::layout::BOOT_INFO_ADDR + std::mem::offset_of!(shared::boot::BootInfo, stats_mmio_base) as u64;
    c.mov_r64(6, base_field);
    c.bytes(&[0x48, 0x8b, 0x06]); // mov rax, [rsi]
    c.bytes(&[0x48, 0x89, 0xc1]); // mov rcx, rax
    c.mov_r64(2, !0x1f_ffffu64);
    c.bytes(&[0x48, 0x21, 0xd0]); // and rax, rdx
    c.bytes(&[0x48, 0x0d, 0x9b, 0, 0, 0]); // or rax, P|RW|PWT|PCD|PS
    c.mov_r64(7, START_KERNEL_MAP + shared::layout::BOOT_PGTABLE_START + 0x2000 + 511 * 8);
    c.bytes(&[0x48, 0x89, 0x07]); // mov [rdi], rax
    c.bytes(&[0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8]); // mov rax, cr3; mov cr3, rax
    c.bytes(&[0x81, 0xe1, 0xff, 0xff, 0x1f, 0x00]); // and ecx, 0x1fffff
    c.mov_r64(3, MMIO_VIRT);
    c.bytes(&[0x48, 0x01, 0xcb]); // add rbx, rcx
    c.bytes(&[0x8b, 0x83]).bytes(&(regs::MAGIC_VALUE as u32).to_le_bytes()); // mov eax, [rbx + MAGIC_VALUE]
    c.bytes(&[0x3d]).bytes(&regs::MAGIC.to_le_bytes()); // cmp eax, MAGIC
    c.bytes(&[0x0f, 0x85]);
    let to_fail = c.len();
    c.bytes(&[0; 4]); // jne fail

    // mov dword [rbx + offset], value
    fn reg(c: &mut Code, offset: u64, value: u32) {
        c.bytes(&[0xc7, 0x83]).bytes(&(offset as u32).to_le_bytes()).bytes(&value.to_le_bytes());
    }
    use regs::*;
    reg(&mut c, STATUS, 0);
    reg(&mut c, STATUS, STATUS_ACKNOWLEDGE);
    reg(&mut c, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    reg(&mut c, DRIVER_FEATURES_SEL, 1);
    reg(&mut c, DRIVER_FEATURES, FEATURE_VERSION_1_WORD1);
    reg(&mut c, DRIVER_FEATURES_SEL, 0);
    reg(&mut c, DRIVER_FEATURES, 0);
    reg(&mut c, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    for (q, desc, avail, used) in [(0, STATS_DESC, STATS_AVAIL, STATS_USED), (1, CONTROL_DESC, CONTROL_AVAIL, CONTROL_USED)] {
        reg(&mut c, QUEUE_SEL, q);
        reg(&mut c, QUEUE_NUM, QUEUE_ENTRIES);
        reg(&mut c, QUEUE_DESC_LOW, phys(desc) as u32);
        reg(&mut c, QUEUE_DESC_HIGH, 0);
        reg(&mut c, QUEUE_DRIVER_LOW, phys(avail) as u32);
        reg(&mut c, QUEUE_DRIVER_HIGH, 0);
        reg(&mut c, QUEUE_DEVICE_LOW, phys(used) as u32);
        reg(&mut c, QUEUE_DEVICE_HIGH, 0);
        reg(&mut c, QUEUE_READY, 1);
    }
    reg(&mut c, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    reg(&mut c, QUEUE_NOTIFY, 0);

    let mut to_fail2 = None;
    if take_command {
        c.mov_r64(6, VIRT + CONTROL_USED as u64 + 2);
        let spin = c.len();
        c.bytes(&[0x0f, 0xb7, 0x06]); // movzx eax, word [rsi]
        c.bytes(&[0x85, 0xc0]); // test eax, eax
        c.jz_back(spin);
        c.mov_r64(6, VIRT + CONTROL_BUF as u64);
        c.bytes(&[0x48, 0x8b, 0x06]); // mov rax, [rsi]
        c.mov_r64(7, VIRT + EXPECTED as u64);
        c.bytes(&[0x48, 0x3b, 0x07]); // cmp rax, [rdi]
        c.bytes(&[0x0f, 0x85]);
        to_fail2 = Some(c.len());
        c.bytes(&[0; 4]); // jne fail2
        c.mov_r64(6, VIRT + STATS_AVAIL as u64 + 2);
        c.bytes(&[0x66, 0xc7, 0x06, 4, 0]); // mov word [rsi], 4: chain 3 is available
        reg(&mut c, QUEUE_NOTIFY, 0);
    }
    c.mov_r64(6, VIRT + STATS_USED as u64 + 2);
    c.bytes(&[0x0f, 0xb7, 0x06]); // movzx eax, word [rsi]
    c.mov_r64(6, VIRT + CONTROL_USED as u64 + 2);
    c.bytes(&[0x0f, 0xb7, 0x0e]); // movzx ecx, word [rsi]
    c.bytes(&[0xc1, 0xe1, 0x04]); // shl ecx, 4
    c.bytes(&[0x01, 0xc8]); // add eax, ecx
    let out = c.len();
    c.bytes(&[0x66, 0xba]).bytes(&shared::ports::PORT_EXIT.to_le_bytes()); // mov dx, PORT_EXIT
    c.bytes(&[0xef, 0xf4, 0xeb, 0xfd]); // out dx, eax; hlt; jmp hlt
    let fail = c.len();
    c.mov_eax(0xee).jmp_back(out);
    let fail2 = c.len();
    c.mov_eax(0xef).jmp_back(out);
    let mut patch = |at: usize, target: usize| {
        let rel = (target as i64 - (at as i64 + 4)) as i32;
        c.0[at..at + 4].copy_from_slice(&rel.to_le_bytes());
    };
    patch(to_fail, fail);
    if let Some(at) = to_fail2 {
        patch(at, fail2);
    }
    assert!(c.len() < STATS_DESC, "the code runs into the rings");
    put(&mut seg, 0, &c.0);
    kernel_elf(&seg)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The stand-in's two snapshots reach every host view: the JSON lines, the
/// /proc directory, the table, the report; its bad chain is refused with
/// one clear line; `vmm stats` reads the recording back and plots it.
#[test]
fn a_stand_in_driver_reaches_every_host_view() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("stats-stand-in-cli");
    let kernel = scratch.file("kernel", &stand_in_kernel(false), 0o644);
    let jsonl = scratch.dir.join("run.jsonl");
    let procdir = scratch.dir.join("proc");
    let (run, report) = vmm_cli_report(&[
        "run",
        "--kernel",
        path_str(&kernel),
        "--no-init",
        "--timeout",
        "30",
        "--stats-out",
        path_str(&jsonl),
        "--proc-out",
        path_str(&procdir),
        "--stats",
        "table",
    ]);
    let report = report.unwrap_or_else(|| panic!("no run: {}", run.stderr));
    assert_eq!(run.code, 3, "two good chains and one bad one come back:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    // The bad chain: refused, counted, one line.
    let bad = format!(
        "vmm: stats device: stats queue: bad descriptor chain (head 1): descriptor 1's buffer [{BAD_ADDR:#x}, +0x40) is not inside guest RAM; returned unused"
    );
    assert_eq!(run.stderr.matches(&bad).count(), 1, "{}", run.stderr);
    assert_eq!(report.stats.rejected, 1);
    assert_eq!((report.stats.received, report.stats.snapshots, report.stats.replies, report.stats.lost), (2, 2, 0, 0));
    let last = report.stats.final_snapshot().expect("the final snapshot");
    assert_eq!(*last, sample_snapshot(Reason::Final, 800, 19_000));

    // --stats-out: one JSON object per line, header fields and payload.
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("{\"seq\":1,\"guest_ns\":100000000,\"kind\":\"snapshot\",\"payload\":{\"Snapshot\":{\"reason\":\"Interval\""), "{}", lines[0]);
    let second = StatsMessage::from_json_line(lines[1]).unwrap();
    assert_eq!(second.payload, Payload::Snapshot(sample_snapshot(Reason::Final, 800, 19_000)));

    // --proc-out: the last snapshot's files.
    let read = |name: &str| std::fs::read_to_string(procdir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(read("meminfo"), "MemTotal:         131072 kB\nMemFree:           76000 kB\n");
    assert!(read("buddyinfo").starts_with("Node 0, zone      DMA"));
    assert!(read("slabinfo").starts_with("slabinfo - version: 2.1\n"));
    for name in ["zoneinfo", "vmstat", "vmallocinfo", "1/status", "1/maps", "7/maps"] {
        assert!(!read(name).is_empty(), "{name} is empty");
    }
    assert_eq!(read("7/status"), "Name:\tworker\nPid:\t7\nVmRSS:\t     800 kB\n");

    // --stats table, on stderr.
    for line in [
        "vmm: stats: 2 messages (2 snapshots, 0 replies), 0 lost, 1 bad chains refused",
        "last snapshot: #2 (final) at 0.300 s guest time",
        "vm_area_struct",
        "worker",
        "faults: pgfault 1800, pgmajfault 0, cow_fault 7",
    ] {
        assert!(run.stderr.contains(line), "no {line:?} in:\n{}", run.stderr);
    }

    // vmm stats FILE [--plot OUT.svg]
    let svg = scratch.dir.join("run.svg");
    let stats = vmm_cli(&["stats", path_str(&jsonl), "--plot", path_str(&svg)]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    for line in [
        "messages: 2 (2 snapshots: 1 final, 1 interval, 0 replies)",
        "time span: 0.100 s to 0.300 s guest time (0.200 s); seq 1 to 2, 0 missing",
        "free memory: min 76000 kB (at 0.300 s), max 80000 kB (at 0.100 s)",
        "    7 worker                800 kB (at 0.300 s)",
        "faults: pgfault 1800 (+400 over the recording)",
    ] {
        assert!(stats.stdout.contains(line), "no {line:?} in:\n{}", stats.stdout);
    }
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("RSS per process") && drawn.contains("7 worker"), "{drawn:.300}");

    // A file that is not a recording is refused with one line.
    let bogus = scratch.file("bogus.jsonl", b"hello\n", 0o644);
    let refused = vmm_cli(&["stats", path_str(&bogus)]);
    assert_eq!(refused.code, exit_code::VMM_ERROR);
    assert!(refused.stderr.contains("has no stats records (line 1:"), "{}", refused.stderr);
    let missing = vmm_cli(&["stats", "/nonexistent/run.jsonl"]);
    assert_eq!(missing.code, exit_code::VMM_ERROR);
    assert!(missing.stderr.contains("cannot read /nonexistent/run.jsonl"), "{}", missing.stderr);
}

/// A command goes through the channel into the stand-in's control buffer
/// (the vCPU is kicked out of the guest's spin loop to take it), and the
/// guest's reply answers `drop_caches`.
#[test]
fn a_stand_in_driver_takes_a_command_and_answers() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("stats-stand-in-control");
    let kernel = scratch.file("kernel", &stand_in_kernel(true), 0o644);
    let config = VmConfig { kernel, ..config(64 * M, "") };
    let run = run_controlled(&config, |ctl| {
        let dropped = ctl.drop_caches();
        let stopped = ctl.wait_stopped();
        // Once the guest is gone, calls fail at once with the reason.
        let t = Instant::now();
        let late = ctl.snapshot();
        (dropped, stopped, late, t.elapsed(), ctl.messages().len())
    });
    let (dropped, stopped, late, late_took, seen) = run.result;
    assert_eq!(dropped, Ok(()), "{}", run.stderr);
    assert_eq!(stopped.as_deref(), Ok("the guest powered off with exit code 20"));
    assert!(matches!(&late, Err(ControlError::Stopped { reason, .. }) if reason.contains("exit code 20")), "{late:?}");
    assert!(late_took < Duration::from_secs(1));
    assert_eq!(seen, 3);
    assert_eq!(run.report.outcome, Outcome::Exited(20), "{}", run.stderr);
    assert_eq!((run.report.stats.snapshots, run.report.stats.replies, run.report.stats.rejected), (2, 1, 1));
    // Messages are kept in arrival order (seq 1, 2, then the reply, seq 3).
    let seqs: Vec<u64> = run.report.stats.messages.iter().map(|m| m.header.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

/// A guest that never answers: the call fails with what it was waiting for.
#[test]
fn a_command_the_guest_never_answers_fails_clearly() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("stats-stand-in-silent");
    let kernel = scratch.file("kernel", &stand_in_kernel(false), 0o644);
    let silent = VmConfig { kernel, ..config(64 * M, "") };
    let run = run_controlled(&silent, |ctl| ctl.run(&["/bin/true"]));
    // The stand-in takes the command into its buffer but powers off
    // without answering.
    match &run.result {
        Err(ControlError::Stopped { what, reason }) => {
            assert!(what.contains("/bin/true"), "{what}");
            assert!(reason.contains("powered off with exit code"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(run.result.as_ref().unwrap_err().to_string().contains("the guest stopped before answering"));

    // A kernel with no driver at all (it spins): the command waits for a
    // buffer, and the timeout says so.
    let spinner = scratch.file("spinner", &kernel_elf(&[0xeb, 0xfe]), 0o644);
    let spinning = VmConfig { kernel: spinner, timeout: Some(Duration::from_secs(2)), ..config(64 * M, "") };
    let run = run_controlled(&spinning, |ctl| {
        ctl.set_timeout(Duration::from_millis(300));
        ctl.drop_caches()
    });
    match &run.result {
        Err(e @ ControlError::Timeout { state, .. }) => {
            assert!(state.contains("command #1 is waiting for the guest to post a control-queue buffer"), "{e}");
            assert!(e.to_string().starts_with("drop caches: no answer from the guest within 0.3 s"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(run.report.outcome, Outcome::TimedOut(_)), "{:?}", run.report.outcome);
}

/// A control closure that panics stops the guest at once (not at the
/// timeout) and the panic comes out of `run_with_control`.
#[test]
fn a_panicking_control_closure_stops_the_guest() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("stats-panic");
    let spinner = scratch.file("spinner", &kernel_elf(&[0xeb, 0xfe]), 0o644);
    let spinning = VmConfig { kernel: spinner, ..config(64 * M, "") };
    let start = Instant::now();
    let result = std::panic::catch_unwind(|| {
        let streams = vmm::Streams { stdout: &mut std::io::sink(), stderr: &mut std::io::sink(), console: vmm::Stream::Stderr, stats: None, stdin: None };
        vmm::run_with_control(&spinning, streams, |_ctl| -> () { panic!("planted test failure") })
    });
    let payload = result.expect_err("the panic goes on");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"planted test failure"));
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

// ---- The real kernel and its driver ------------------------------------

/// A guest with the sleeping init and `files`, driven by `f`.
fn controlled<R: Send>(files: &[(&str, &[u8])], f: impl FnOnce(&vmm::Control) -> R + Send) -> ControlledRun<R> {
    let mem = 128 * M;
    let config = VmConfig { init: Some(init_image(mem, &sleeper_program(), files)), ..config(mem, "") };
    run_controlled(&config, f)
}

fn assert_clean(run: &ControlledRun<impl Sized>) {
    assert_eq!(run.report.outcome, Outcome::Exited(0), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(!run.stderr.contains("LEAK"), "{}", run.stderr);
    assert_eq!(run.report.stats.rejected, 0, "{}", run.stderr);
    assert_eq!(run.report.stats.driver_errors, 0, "{}", run.stderr);
    assert_eq!(run.report.stats.lost, 0, "{}", run.stderr);
    let last = run.report.stats.last_snapshot.as_ref().map(|(_, s)| s.reason);
    assert_eq!(last, Some(Reason::Final), "the final snapshot arrives at shutdown:\n{}", run.stderr);
}

/// Polls snapshots until `pred` holds (20 s at most). The polls are
/// spaced: making a snapshot takes the guest's time too.
fn snapshot_until(ctl: &vmm::Control, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = ctl.snapshot().unwrap_or_else(|e| panic!("{what}: {e}"));
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: not seen; last snapshot: {} free pages, processes {:#?}", s.free_pages(), s.processes);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn snapshots_on_request_at_intervals_and_at_shutdown() {
    if !kvm_available() {
        return;
    }
    let run = controlled(&[], |ctl| {
        let s = ctl.snapshot().expect("a snapshot on request");
        assert_eq!(s.reason, Reason::Request);
        let total = s.meminfo_kb("MemTotal").expect("MemTotal");
        assert!(total > 100 * 1024 && total <= 128 * 1024, "{total}");
        assert!(s.meminfo_kb("MemFree").unwrap() < total);
        assert!(!s.zones.is_empty() && s.zones.iter().any(|z| z.name == "DMA32"), "{:?}", s.zones);
        assert!(s.zones.iter().all(|z| z.free_per_order.len() == s.zones[0].free_per_order.len()));
        assert!(s.slab("vm_area_struct").is_some(), "{:?}", s.slabs);
        assert!(s.vmstat("pgfault").is_some() && s.vmstat("pgfree").is_some(), "{:?}", s.vmstat);
        let init = s.process(1).expect("init in the snapshot");
        assert!(init.vma_count > 0 && init.status.contains("Pid:\t1"), "{init:?}");
        assert!(s.files.meminfo.starts_with("MemTotal:"), "{}", s.files.meminfo);
        assert!(s.files.buddyinfo.starts_with("Node 0, zone"), "{}", s.files.buddyinfo);
        ctl.wait_for_snapshot(|_, s| s.reason == Reason::Interval).expect("an interval snapshot");
        ctl.shutdown().expect("shutdown");
    });
    assert_clean(&run);
    // Interval snapshots are 100 ms of guest time apart (the default).
    let times: Vec<u64> = run.report.stats.snapshots().filter(|(_, s)| s.reason == Reason::Interval).map(|(h, _)| h.guest_ns).collect();
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 90_000_000, "{times:?}");
    }
}

#[test]
fn touching_pages_shows_in_faults_and_rss_and_the_memory_comes_back() {
    if !kvm_available() {
        return;
    }
    const PAGES: u64 = 256;
    let toucher = toucher_program(PAGES as u32, 3000);
    let run = controlled(&[("/bin/touch", &toucher)], |ctl| {
        let before = ctl.snapshot().expect("snapshot before");
        let pid = ctl.run(&["/bin/touch"]).expect("run /bin/touch");
        let during = snapshot_until(ctl, "the toucher's RSS", |s| s.process(pid).is_some_and(|p| p.vm_rss_kb >= PAGES * 4));
        let p = during.process(pid).unwrap();
        assert!(p.rss_anon_kb >= PAGES * 4, "{p:?}");
        assert!(p.page_faults >= PAGES, "{p:?}");
        let faults = during.vmstat("pgfault").unwrap() - before.vmstat("pgfault").unwrap();
        assert!(faults >= PAGES, "pgfault rose by {faults}");
        assert!(during.free_pages() + PAGES <= before.free_pages() + 128, "{} -> {}", before.free_pages(), during.free_pages());
        assert_eq!(ctl.wait(pid).expect("wait"), 0);
        // The pages come back (give or take what the per-CPU lists and
        // the kernel's own caches hold at the moment of a snapshot).
        const SLACK: u64 = 128;
        let after = snapshot_until(ctl, "the toucher's memory back", |s| s.free_pages() + SLACK >= before.free_pages());
        assert!(
            after.free_pages() + SLACK >= before.free_pages(),
            "free pages {} before, {} with the toucher, {} after",
            before.free_pages(),
            during.free_pages(),
            after.free_pages()
        );
        assert!(ctl.snapshots().iter().any(|(_, s)| s.reason == Reason::ProcessExit { pid }), "a snapshot at the exit of {pid}");
        ctl.shutdown().expect("shutdown");
    });
    assert_clean(&run);
}

#[test]
fn failed_runs_and_drop_caches_are_answered() {
    if !kvm_available() {
        return;
    }
    let run = controlled(&[], |ctl| {
        match ctl.run(&["/bin/nonexistent"]) {
            Err(ControlError::Failed { errno: 2, name: "ENOENT", .. }) => {}
            other => panic!("{other:?}"),
        }
        ctl.drop_caches().expect("drop caches");
        // Exit statuses: a program that exits 3.
        ctl.shutdown().expect("shutdown");
    });
    assert_clean(&run);
}

#[test]
fn exit_statuses_come_back_through_wait() {
    if !kvm_available() {
        return;
    }
    let three = exit_program(3);
    let run = controlled(&[("/bin/three", &three)], |ctl| {
        let pid = ctl.run(&["/bin/three"]).expect("run");
        assert!(pid > 1);
        assert_eq!(ctl.wait(pid).expect("wait"), 3 << 8);
        ctl.shutdown().expect("shutdown");
    });
    assert_clean(&run);
}

/// The real guest through the command line: init exits, the last
/// snapshots arrive, every view has them.
#[test]
fn the_real_guest_fills_the_host_views() {
    if !kvm_available() {
        return;
    }
    let scratch = Scratch::new("stats-real-cli");
    let prog = scratch.file("exit0", &exit_program(0), 0o755);
    let jsonl = scratch.dir.join("run.jsonl");
    let procdir = scratch.dir.join("proc");
    let (run, report) = vmm_cli_report(&[
        "run",
        "--init",
        path_str(&prog),
        "--timeout",
        "60",
        "--stats-out",
        path_str(&jsonl),
        "--proc-out",
        path_str(&procdir),
        "--proc-every",
        "--stats",
        "table",
    ]);
    let report = report.unwrap_or_else(|| panic!("no run: {}", run.stderr));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(report.stats.final_snapshot().is_some(), "no final snapshot:\n{}", run.stderr);
    assert!(report.stats.snapshots().any(|(_, s)| s.reason == Reason::ProcessExit { pid: 1 }), "no snapshot at init's exit:\n{}", run.stderr);
    assert_eq!(report.stats.rejected, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let messages: Vec<StatsMessage> = text.lines().map(|l| StatsMessage::from_json_line(l).unwrap()).collect();
    assert_eq!(messages.len() as u64, report.stats.received);
    assert!(messages.windows(2).all(|w| w[1].header.seq == w[0].header.seq + 1), "sequence numbers have gaps");
    let meminfo = std::fs::read_to_string(procdir.join("meminfo")).unwrap();
    assert!(meminfo.starts_with("MemTotal:"), "{meminfo}");
    assert!(std::fs::read_to_string(procdir.join("buddyinfo")).unwrap().starts_with("Node 0, zone"));
    assert!(run.stderr.contains("(final) at"), "{}", run.stderr);
    let stats = vmm_cli(&["stats", path_str(&jsonl)]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(stats.stdout.contains("1 final"), "{}", stats.stdout);
}

/// `test=virtio-bad-desc`: the guest posts out-of-range, looping and
/// oversize chains; the VMM refuses each with a clear line and carries on.
#[test]
fn bad_descriptors_from_the_guest_are_refused() {
    if !kvm_available() {
        return;
    }
    let (run, report) = vmm_cli_report(&["run", "--no-init", "--mem", "128M", "--timeout", "60", "--cmdline", "test=virtio-bad-desc"]);
    let report = report.unwrap_or_else(|| panic!("no run: {}", run.stderr));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for why in ["is not inside guest RAM", "the chain loops", "above the 262144-byte limit"] {
        let line = run.stderr.lines().find(|l| l.contains(why));
        assert!(line.is_some_and(|l| l.starts_with("vmm: stats device: stats queue: bad descriptor chain")), "no line for {why:?}:\n{}", run.stderr);
    }
    assert!(report.stats.rejected >= 3, "{}", report.stats.rejected);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(report.stats.final_snapshot().is_some(), "the channel kept working:\n{}", run.stderr);
}

#[test]
fn vm_area_struct_objects_follow_mmap_and_munmap() {
    if !kvm_available() {
        return;
    }
    const REGIONS: u64 = 40;
    // Mapped for 3 s, then unmapped for 8 s: room for the snapshots to see
    // both even on a loaded host (each costs the guest ~100 ms here).
    let mapper = mapper_program(REGIONS as u32, 3000, 8000);
    let run = controlled(&[("/bin/mapper", &mapper)], |ctl| {
        let vmas = |s: &Snapshot| s.slab("vm_area_struct").expect("vm_area_struct").active_objs;
        let before = ctl.snapshot().expect("snapshot before");
        let pid = ctl.run(&["/bin/mapper"]).expect("run /bin/mapper");
        let mapped = snapshot_until(ctl, "the mappings", |s| s.process(pid).is_some_and(|p| p.vma_count >= REGIONS));
        assert!(vmas(&mapped) >= vmas(&before) + REGIONS, "{} -> {}", vmas(&before), vmas(&mapped));
        let mapped_vmas = mapped.process(pid).map_or(REGIONS, |p| p.vma_count);
        let unmapped = snapshot_until(ctl, "the munmaps", |s| s.process(pid).is_some_and(|p| p.vma_count + REGIONS <= mapped_vmas));
        // (slack of 2: another VMA may come or go between the snapshots)
        assert!(vmas(&unmapped) + REGIONS <= vmas(&mapped) + 2, "{} -> {}", vmas(&mapped), vmas(&unmapped));
        assert_eq!(ctl.wait(pid).expect("wait"), 0);
        let after = ctl.snapshot().expect("snapshot after");
        assert!(vmas(&after) <= vmas(&before) + 2, "{} before, {} after", vmas(&before), vmas(&after));
        ctl.shutdown().expect("shutdown");
    });
    assert_clean(&run);
}
