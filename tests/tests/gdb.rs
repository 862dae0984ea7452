//! Debugging the guest with real gdb through `vmm run --gdb`: breakpoints
//! in the kernel, backtraces, kernel statics, user memory of a running
//! program, single steps; and a stub that survives whatever arrives on its
//! socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use tests::{kvm_available, programs, run_vmm, InitRun, TEST_TIMEOUT};

/// The kernel ELF with its debug info, as the README tells users.
fn kernel() -> &'static str {
    vmm::DEFAULT_KERNEL
}

/// A free local port (the kernel hands out another one next time).
fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Starts `vmm run --gdb ADDR ARGS...` in-process on its own thread.
fn start_vmm(addr: SocketAddr, args: &[&str]) -> std::thread::JoinHandle<InitRun> {
    let mut argv: Vec<String> = vec!["run".into(), "--timeout".into(), TEST_TIMEOUT.as_secs().to_string(), "--gdb".into(), addr.to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    std::thread::spawn(move || run_vmm(&argv))
}

fn gdb_installed() -> bool {
    Command::new("gdb").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Runs `gdb -batch` on the kernel with these commands against `addr`
/// (gdb retries the connection until the VMM listens).
fn gdb_batch(addr: SocketAddr, commands: &[String]) -> String {
    assert!(gdb_installed(), "gdb is not installed: .ci/run installs it (apt-get install gdb)");
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "gdb", "-batch", "-nx", "-ex", "set language rust", "-ex", "set tcp connect-timeout 30"]);
    cmd.args(["-ex", &format!("target remote {addr}")]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.arg(kernel());
    let out = cmd.output().expect("run gdb");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Where virtual address `vaddr` of a static ELF comes from in its file.
fn file_offset(elf: &[u8], vaddr: u64) -> usize {
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36) as usize, u16_at(0x38) as usize);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (kind, offset, start, filesz) = (u32::from_le_bytes(elf[ph..ph + 4].try_into().unwrap()), u64_at(ph + 8), u64_at(ph + 16), u64_at(ph + 32));
        if kind == 1 && (start..start + filesz).contains(&vaddr) {
            return (offset + vaddr - start) as usize;
        }
    }
    panic!("{vaddr:#x} is in no PT_LOAD segment");
}

/// The bytes of an `x/Nxb ADDR` listing (`0x401000 <sym>:\t0x50\t0x58 ...`).
fn examined_bytes(output: &str, addr: u64) -> Vec<u8> {
    let prefix = format!("{addr:#x}");
    let mut bytes = Vec::new();
    let mut inside = false;
    for line in output.lines() {
        if line.starts_with(&prefix) {
            inside = true;
        } else if !line.starts_with("0x") {
            inside = false;
        }
        if inside {
            let values = line.split(':').nth(1).unwrap_or("");
            bytes.extend(values.split_whitespace().filter_map(|v| u8::from_str_radix(v.trim_start_matches("0x"), 16).ok()));
        }
    }
    bytes
}

#[test]
fn gdb_debugs_the_kernel_and_a_running_program() {
    if !kvm_available() {
        return;
    }
    let program = programs::path("mm_malloc");
    let elf = std::fs::read(&program).unwrap();
    let entry = u64::from_le_bytes(elf[0x18..0x20].try_into().unwrap());
    let addr = free_addr();
    let vmm = start_vmm(addr, &["--gdb-wait", "--init", program.to_str().unwrap()]);

    let output = gdb_batch(
        addr,
        &[
            "info registers rip cr0 cr3 efer".into(),
            // Registers and memory are writable (put back before going on).
            "set $saved = $r15".into(),
            "set $r15 = 0x1234abcd".into(),
            "printf \"r15 %#x\\n\", $r15".into(),
            "set $r15 = $saved".into(),
            "set $cr2 = 0x5555000".into(),
            "printf \"cr2 %#x\\n\", $cr2".into(),
            "set $saved = kernel::mm::vmalloc::NR_PURGES.v.value".into(),
            "set var kernel::mm::vmalloc::NR_PURGES.v.value = 4242".into(),
            "printf \"purges %d\\n\", kernel::mm::vmalloc::NR_PURGES.v.value".into(),
            "set var kernel::mm::vmalloc::NR_PURGES.v.value = $saved".into(),
            // The buddy allocator's entry, in debug registers.
            "hbreak kernel::mm::buddy::alloc_pages".into(),
            "continue".into(),
            "bt 3".into(),
            // A kernel static: the free pages of ZONE_DMA32.
            "printf \"free pages %d\\n\", kernel::mm::buddy::PAGE_ALLOC.value.value.0.zones[1].nr_free.v.value".into(),
            "delete".into(),
            // The program's first write(v), with a software breakpoint (an
            // int3; on kvm_pvm the VMM turns the emulation failure it causes
            // into the stop): the vCPU is in the program's address space.
            "break kernel::proc::syscall::read_write::sys_writev".into(),
            "continue".into(),
            "info registers cr3".into(),
            format!("x/16xb {entry:#x}"),
            "monitor translate 0x400000".into(),
            "stepi".into(),
            "info registers rip".into(),
            "monitor meminfo".into(),
            "monitor buddyinfo".into(),
            "monitor ps".into(),
            "monitor slabinfo".into(),
            "delete".into(),
            "continue".into(),
        ],
    );
    let run = vmm.join().unwrap();
    let context = format!("--- gdb:\n{output}\n--- vmm stderr:\n{}", run.vmm_stderr);

    // Stopped before the first instruction: at the kernel's entry, paging on.
    assert!(output.contains("rip            0xffffffff81000000"), "{context}");
    assert!(output.contains("r15 0x1234abcd\n"), "{context}");
    assert!(output.contains("purges 4242\n"), "{context}");
    assert!(output.contains("cr2 0x5555000\n"), "{context}");
    // The breakpoint on the allocator, its caller in the backtrace.
    let hit = output.lines().find(|l| l.starts_with("Breakpoint 1")).unwrap_or_else(|| panic!("breakpoint 1 not hit:\n{context}"));
    assert!(hit.contains(", kernel::mm::buddy::alloc_pages ("), "{context}");
    let frame1 = output.lines().find(|l| l.starts_with("#1 ")).unwrap_or_else(|| panic!("no frame #1 in:\n{context}"));
    assert!(frame1.contains("kernel::"), "{frame1}\n{context}");
    // The free page count, a plausible number for 128 MiB.
    let free: u64 = output
        .lines()
        .find_map(|l| l.strip_prefix("free pages "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no free page count printed:\n{context}"));
    assert!((1000..32768).contains(&free), "{free} free pages\n{context}");
    // User memory at a virtual address: the program's entry code as the
    // file has it.
    assert!(output.contains("Breakpoint 2, kernel::proc::syscall::read_write::sys_writev"), "{context}");
    let read = examined_bytes(&output, entry);
    let off = file_offset(&elf, entry);
    assert_eq!(read, elf[off..off + 16], "user memory at {entry:#x} differs from the file\n{context}");
    assert!(output.contains("0x400000 -> physical"), "{context}");
    // One instruction further.
    let rip_after: Vec<&str> = output.lines().filter(|l| l.starts_with("rip ")).collect();
    assert!(rip_after.len() >= 2 && rip_after[rip_after.len() - 1] != rip_after[rip_after.len() - 2], "{context}");
    // The stats views inside gdb.
    assert!(output.contains("MemTotal:"), "{context}");
    assert!(output.contains("Node 0, zone    DMA32"), "{context}");
    assert!(output.contains("  PID  PPID S"), "{context}");
    assert!(output.contains("kmalloc-64"), "{context}");
    // Run to the end: gdb hears the exit, the program did its work.
    assert!(output.contains("[Inferior 1 (process 1) exited normally]"), "{context}");
    assert_eq!(run.code, 0, "{context}");
    assert!(run.stdout.contains("0 failed"), "{context}");
    assert!(run.vmm_stderr.contains("the guest ended (Exited(0)); telling gdb"), "{context}");
}

/// `mm_malloc` as init under `--gdb-wait` on a free port.
fn start_waiting_mm_malloc() -> (SocketAddr, std::thread::JoinHandle<InitRun>) {
    let program = programs::path("mm_malloc");
    let addr = free_addr();
    (addr, start_vmm(addr, &["--gdb-wait", "--init", program.to_str().unwrap()]))
}

/// A raw protocol client.
struct Client {
    stream: TcpStream,
    got: Vec<u8>,
}

impl Client {
    /// Connects, retrying while the VMM is not listening yet.
    fn connect(addr: SocketAddr) -> Client {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    return Client { stream, got: Vec::new() };
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("cannot connect to the gdb stub at {addr}: {e}"),
            }
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn send(&mut self, body: &str) {
        let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        self.send_raw(format!("${body}#{sum:02x}").as_bytes());
    }

    /// Reads until `pred` holds for what arrived (or the connection ends).
    fn read_until(&mut self, pred: impl Fn(&[u8]) -> bool) -> String {
        let mut buf = [0u8; 4096];
        while !pred(&self.got) {
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&std::mem::take(&mut self.got)).into_owned()
    }

    /// The next reply packet's body (acks skipped, run-length encoding
    /// expanded: `X*c` is X and then c - 29 more of it).
    fn reply(&mut self) -> String {
        let text = self.read_until(|b| b.iter().rposition(|&c| c == b'#').is_some_and(|i| b.len() >= i + 3));
        let start = text.find('$').unwrap_or_else(|| panic!("no packet in {text:?}"));
        let end = text.rfind('#').unwrap();
        let mut body = String::new();
        let mut chars = text[start + 1..end].chars();
        while let Some(c) = chars.next() {
            if c == '*' {
                let count = chars.next().unwrap() as usize - 29;
                let last = body.chars().last().unwrap();
                body.extend(std::iter::repeat_n(last, count));
            } else {
                body.push(c);
            }
        }
        body
    }

    /// Whether the VMM closed the connection.
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 256];
        matches!(self.stream.read(&mut buf), Ok(0)) || matches!(self.stream.read(&mut buf), Ok(0))
    }
}

#[test]
fn garbage_truncated_packets_and_dropped_connections_leave_the_guest_running() {
    if !kvm_available() {
        return;
    }
    let (addr, vmm) = start_waiting_mm_malloc();

    // 1: noise, a bad checksum (answered with a retransmission request),
    // then a packet with a valid checksum that is no valid command: that
    // ends the connection, not the VMM.
    let mut c = Client::connect(addr);
    c.send_raw(b"hello\x00\xff\r\n");
    c.send_raw(b"$g#00");
    assert_eq!(c.read_until(|b| !b.is_empty()), "-");
    c.send("?");
    let stop = c.reply();
    assert!(stop.starts_with('S') || stop.starts_with('T'), "{stop}");
    c.send("mzz,zz");
    assert!(c.closed(), "a malformed command closes the connection");

    // 2: a packet cut off, then the connection dropped mid-command.
    let mut c = Client::connect(addr);
    c.send_raw(b"$qSupported:multiprocess+;swbrea");
    drop(c);

    // 3: a well-behaved client: registers, a continue, Ctrl-C, a detach.
    // With --gdb-wait the guest waited for it through the first two.
    let mut c = Client::connect(addr);
    c.send("?");
    let stop = c.reply();
    assert!(stop.starts_with('S') || stop.starts_with('T'), "{stop}");
    c.send("g");
    let regs = c.reply();
    assert_eq!(regs.len(), 2 * (536 + 9 * 8), "the register file: {regs}");
    // rip (after 16 general registers) is still the kernel's entry point.
    assert_eq!(&regs[256..272], "00000081ffffffff", "{regs}");
    c.send("c");
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(&[0x03]);
    let stop = c.reply();
    assert!(stop == "S02" || stop.starts_with("T02"), "Ctrl-C stops the guest with SIGINT: {stop}");
    c.send("D");
    assert_eq!(c.reply(), "OK");
    drop(c);

    let run = vmm.join().unwrap();
    let context = format!("--- vmm stderr:\n{}", run.vmm_stderr);
    assert_eq!(run.code, 0, "{context}");
    assert!(run.stdout.contains("0 failed"), "{context}");
    assert!(run.vmm_stderr.contains("closing the connection"), "{context}");
    assert!(run.vmm_stderr.contains("the guest stays stopped until gdb attaches again"), "{context}");
    assert!(run.vmm_stderr.contains("gdb detached; the guest runs on"), "{context}");
}

#[test]
fn a_bad_gdb_address_is_refused() {
    let run = run_vmm(&["run", "--gdb", "nowhere"]);
    assert_eq!(run.code, 2, "{}", run.vmm_stderr);
    assert!(run.vmm_stderr.contains("is not HOST:PORT"), "{}", run.vmm_stderr);
    let run = run_vmm(&["run", "--gdb-wait"]);
    assert_eq!(run.code, 2, "{}", run.vmm_stderr);
    assert!(run.vmm_stderr.contains("--gdb"), "{}", run.vmm_stderr);
    if kvm_available() {
        // A port already taken: a clear error before the guest starts.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let run = run_vmm(&["run", "--gdb", &addr, "--no-init"]);
        assert_eq!(run.code, 1, "{}", run.vmm_stderr);
        assert!(run.vmm_stderr.contains(&format!("cannot serve gdb on {addr}")), "{}", run.vmm_stderr);
        assert!(run.outcome.is_none());
    }
}

/// The `monitor` views rendered from a snapshot's records read exactly as
/// the guest's own /proc files in the same (final) snapshot.
#[test]
fn monitor_views_match_the_guests_own_proc_files() {
    if !kvm_available() {
        return;
    }
    let report = tests::boot(&tests::config(128 * tests::M, ""));
    let snap = report.stats.final_snapshot().unwrap_or_else(|| panic!("no final snapshot:\n{}", report.console_text()));
    assert!(!snap.files.meminfo.is_empty() && !snap.files.buddyinfo.is_empty());
    // The text is printed a little after the records are taken (printing
    // allocates), so the numbers may differ; the layout may not.
    let meminfo = vmm::gdb::monitor::meminfo(snap);
    assert_eq!(meminfo.lines().count(), snap.meminfo.len());
    assert_same_layout(&meminfo, &snap.files.meminfo);
    assert_same_layout(&vmm::gdb::monitor::buddyinfo(snap), &snap.files.buddyinfo);
}

/// Each line of the view is laid out as the file's line with the same
/// words (all but the numbers; the file may have more lines, in between
/// too): they are as long.
fn assert_same_layout(records: &str, text: &str) {
    let words = |l: &str| l.split_whitespace().filter(|w| w.parse::<u64>().is_err()).map(String::from).collect::<Vec<_>>();
    for x in records.lines() {
        let Some(y) = text.lines().find(|y| words(y) == words(x)) else { panic!("no line like {x:?} in:\n{text}") };
        assert_eq!(x.len(), y.len(), "{x:?} vs {y:?}");
    }
}

#[test]
fn gdb_kill_ends_the_run() {
    if !kvm_available() {
        return;
    }
    let (addr, vmm) = start_waiting_mm_malloc();
    let mut c = Client::connect(addr);
    c.send("?");
    c.reply();
    c.send("k");
    let run = vmm.join().unwrap();
    assert_eq!(run.code, 137, "{}", run.vmm_stderr);
    assert!(matches!(run.outcome, Some(vmm::Outcome::Killed(_))), "{:?}\n{}", run.outcome, run.vmm_stderr);
    assert!(run.vmm_stderr.contains("gdb killed the guest"), "{}", run.vmm_stderr);
    assert!(run.stdout.is_empty(), "the program never ran: {}", run.stdout);
}

/// `monitor maps PID` and `monitor ps` at the moment init exits, with every
/// snapshot carrying the process texts (`stats_full=1`).
#[test]
fn monitor_maps_shows_the_program() {
    if !kvm_available() {
        return;
    }
    let program = programs::path("mm_malloc");
    let addr = free_addr();
    let vmm = start_vmm(addr, &["--gdb-wait", "--cmdline", "stats_full=1", "--init", program.to_str().unwrap()]);
    let output = gdb_batch(
        addr,
        &[
            "break kernel::proc::do_exit".into(),
            "continue".into(),
            "monitor ps".into(),
            "monitor maps 1".into(),
            "monitor maps 999".into(),
            "delete".into(),
            "continue".into(),
        ],
    );
    let run = vmm.join().unwrap();
    let context = format!("--- gdb:\n{output}\n--- vmm stderr:\n{}", run.vmm_stderr);
    assert!(output.contains("kernel::proc::do_exit"), "{context}");
    assert!(output.lines().any(|l| l.trim_start().starts_with("1     0 ") && l.ends_with("mm_malloc")), "{context}");
    // The program's text mapping, as /proc/PID/maps prints it.
    assert!(output.lines().any(|l| l.starts_with("00400000-") && l.ends_with("/bin/mm_malloc")), "{context}");
    assert!(output.contains("no process 999 in the latest snapshot"), "{context}");
    assert_eq!(run.code, 0, "{context}");
}

/// The stub's breakpoint bookkeeping over the raw protocol: four debug
/// registers and no more, refusals gdb shows as errors, and an inserted
/// `int3` invisible to memory reads.
#[test]
fn breakpoint_limits_and_refusals() {
    if !kvm_available() {
        return;
    }
    let (addr, vmm) = start_waiting_mm_malloc();
    let mut c = Client::connect(addr);
    c.send("?");
    c.reply();
    let text = 0xffff_ffff_8100_1000u64;
    for i in 0..4 {
        c.send(&format!("Z1,{:x},1", text + i));
        assert_eq!(c.reply(), "OK", "hardware breakpoint {i}");
    }
    c.send(&format!("Z1,{:x},1", text + 4));
    assert!(c.reply().starts_with('E'), "a fifth hardware breakpoint");
    c.send(&format!("Z2,{:x},8", text + 0x100));
    assert!(c.reply().starts_with('E'), "no debug register left for a watchpoint");
    c.send(&format!("z1,{:x},1", text + 3));
    assert_eq!(c.reply(), "OK");
    c.send(&format!("Z3,{:x},8", text + 0x100));
    assert!(c.reply().starts_with('E'), "x86 has no read-only watchpoint");
    c.send(&format!("Z2,{:x},3", text + 0x100));
    assert!(c.reply().starts_with('E'), "3 bytes is no watchpoint size");
    c.send(&format!("Z2,{:x},8", text + 0x101));
    assert!(c.reply().starts_with('E'), "a misaligned watchpoint");
    c.send(&format!("Z2,{:x},8", text + 0x100));
    assert_eq!(c.reply(), "OK");

    // A software breakpoint in the kernel: memory reads still show the
    // original byte; in user text it is refused.
    c.send(&format!("m{text:x},4"));
    let before = c.reply();
    c.send(&format!("Z0,{text:x},1"));
    assert_eq!(c.reply(), "OK");
    c.send(&format!("m{text:x},4"));
    assert_eq!(c.reply(), before, "the int3 is hidden from memory reads");
    c.send(&format!("z0,{text:x},1"));
    assert_eq!(c.reply(), "OK");
    c.send("Z0,401000,1");
    assert!(c.reply().starts_with('E'), "no int3 in user text");
    // Unmapped memory is an error, not a crash.
    c.send("m400000000000,8");
    assert!(c.reply().starts_with('E'));
    c.send("k");
    let run = vmm.join().unwrap();
    assert_eq!(run.code, 137, "{}", run.vmm_stderr);
    for message in ["all four debug registers are in use", "no read-only watchpoint", "not 3 at", "no software breakpoint at user address 0x401000"] {
        assert!(run.vmm_stderr.contains(message), "{message:?} not in:\n{}", run.vmm_stderr);
    }
}
