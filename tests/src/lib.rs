//! Shared helpers for the integration tests: boot the real VM in-process
//! (uhyve-style) and look at what the guest did.
//!
//! The kernel is built once, by the `vmm` crate's build script, and every
//! test boots it with its own configuration.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use vmm::{exit_code, Outcome, RunReport, VmConfig};

/// Every test VM is stopped after this long, so a hung guest fails its test
/// instead of hanging the suite. The longest tests (the busybox applets)
/// take about 35 s alone here and nearly twice that while the whole suite
/// runs beside them on two cores.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(150);

/// Whether KVM can be used here. Where it cannot, a test that needs it
/// fails, unless [`SKIP_KVM_TESTS`] is set: then it returns early, loudly.
pub fn kvm_available() -> bool {
    let ok = std::fs::OpenOptions::new().read(true).write(true).open(vmm::vm::KVM_DEVICE).is_ok();
    if !ok {
        // A test that needs KVM and cannot have it fails, so that a host
        // without KVM never reports a green suite that ran nothing; only an
        // explicit choice skips it.
        assert!(
            std::env::var_os(SKIP_KVM_TESTS).is_some(),
            "{} is not available (no KVM, or no permission to open it): these tests boot real VMs. Run them where KVM is, \
             or set {SKIP_KVM_TESTS}=1 to skip them knowingly",
            vmm::vm::KVM_DEVICE
        );
        eprintln!("SKIPPED ({SKIP_KVM_TESTS} is set): {} is not available; this test needs KVM", vmm::vm::KVM_DEVICE);
    }
    ok
}

/// The environment variable that lets the tests that need KVM skip
/// themselves on a host without it (they fail otherwise).
pub const SKIP_KVM_TESTS: &str = "VMM_SKIP_KVM_TESTS";

/// A `Write` whose bytes the test can read afterwards.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A test VM configuration: `mem` bytes, `cmdline`, the test timeout.
pub fn config(mem: u64, cmdline: &str) -> VmConfig {
    VmConfig { mem_size: mem, cmdline: cmdline.into(), timeout: Some(TEST_TIMEOUT), ..VmConfig::new() }
}

/// Boots `config` and returns the report; the console is captured only.
pub fn boot(config: &VmConfig) -> RunReport {
    vmm::run(config, Box::new(std::io::sink())).unwrap_or_else(|e| panic!("the VMM could not run the guest: {e}"))
}

/// What `vmm` did when run with `args` (after the program name).
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `vmm` command line in-process, exactly as the binary does.
pub fn vmm_cli(args: &[&str]) -> CliRun {
    let stdout = Captured::default();
    let mut stderr = Vec::new();
    let argv = std::iter::once("vmm").chain(args.iter().copied());
    let code = vmm::cli::main_with_args(argv, Box::new(stdout.clone()), &mut stderr);
    CliRun { code, stdout: stdout.text(), stderr: String::from_utf8_lossy(&stderr).into_owned() }
}

/// [`vmm_cli`], also returning the run report (`None` when `vmm` refused
/// to start the guest).
pub fn vmm_cli_report(args: &[&str]) -> (CliRun, Option<RunReport>) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("vmm").chain(args.iter().copied());
    let outcome = vmm::cli::run_with_args(argv, &mut stdout, &mut stderr);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (CliRun { code: outcome.code, stdout: text(&stdout), stderr: text(&stderr) }, outcome.report)
}

/// `vmm run --timeout TEST_TIMEOUT ARGS...` through the real command line,
/// checked to have run the guest without a VMM panic.
pub fn vmm_run_report(args: &[&str]) -> (CliRun, RunReport) {
    let timeout = TEST_TIMEOUT.as_secs().to_string();
    let argv: Vec<&str> = ["run", "--timeout", &timeout].into_iter().chain(args.iter().copied()).collect();
    let (cli, report) = vmm_cli_report(&argv);
    let report = report.unwrap_or_else(|| panic!("{args:?}: vmm did not run the guest:\n{}", cli.stderr));
    assert!(!cli.stderr.contains("panicked"), "{args:?}: the VMM panicked:\n{}", cli.stderr);
    (cli, report)
}

/// What `vmm run --init ...` did, with each output apart.
#[derive(Debug)]
pub struct InitRun {
    /// The `vmm` exit code: init's exit code once the kernel runs it.
    pub code: i32,
    /// The program's stdout: everything `vmm` wrote to its stdout.
    pub stdout: String,
    /// The program's stderr alone (from the run report).
    pub stderr: String,
    /// The kernel's console log alone (from the run report).
    pub console: String,
    /// Everything `vmm` wrote to its stderr, interleaved as it came: the
    /// console, the program's stderr, the VMM's messages and errors.
    pub vmm_stderr: String,
    /// How the guest ended; `None` when `vmm` refused to start it (then
    /// `vmm_stderr` says why).
    pub outcome: Option<Outcome>,
}

/// Runs `vmm run --mem MEM --cmdline CMDLINE --timeout TEST_TIMEOUT --init
/// PROGRAM [--file HOST:GUEST]... [-- ARGS...]` in-process through the real
/// command line, with in-memory streams. The program goes to
/// `/bin/<its file name>` in the guest.
pub fn run_init(mem: u64, cmdline: &str, program: &Path, files: &[(&Path, &str)], args: &[&str]) -> InitRun {
    let mut argv: Vec<OsString> = ["run", "--mem", &mem.to_string(), "--cmdline", cmdline, "--timeout"].iter().map(OsString::from).collect();
    argv.push(TEST_TIMEOUT.as_secs().to_string().into());
    argv.push("--init".into());
    argv.push(init_spec(program));
    for (host, guest) in files {
        argv.push("--file".into());
        argv.push(file_spec(host, guest));
    }
    if !args.is_empty() {
        argv.push("--".into());
        argv.extend(args.iter().map(OsString::from));
    }
    run_vmm(&argv)
}

/// Runs the `vmm` command line (after the program name) in-process and
/// keeps every output apart; for `--init` runs beyond [`run_init`].
pub fn run_vmm<S: AsRef<OsStr>>(args: &[S]) -> InitRun {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let argv = std::iter::once(OsStr::new("vmm")).chain(args.iter().map(AsRef::as_ref));
    let outcome = vmm::cli::run_with_args(argv, &mut stdout, &mut stderr);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let report = outcome.report.as_ref();
    InitRun {
        code: outcome.code,
        stdout: text(&stdout),
        stderr: report.map(|r| text(&r.program_stderr)).unwrap_or_default(),
        console: report.map(|r| text(&r.console)).unwrap_or_default(),
        vmm_stderr: text(&stderr),
        outcome: report.map(|r| r.outcome.clone()),
    }
}

/// `--init` value for `program`: its plain path, or with an explicit
/// `/bin/NAME` when the path itself has a `:` (the split is at the last one).
fn init_spec(program: &Path) -> OsString {
    let name = program.file_name().unwrap_or_else(|| panic!("{} has no file name", program.display()));
    if program.as_os_str().as_encoded_bytes().contains(&b':') {
        let mut spec = program.as_os_str().to_owned();
        spec.push(":/bin/");
        spec.push(name);
        spec
    } else {
        program.as_os_str().to_owned()
    }
}

fn file_spec(host: &Path, guest: &str) -> OsString {
    let mut spec = host.as_os_str().to_owned();
    spec.push(":");
    spec.push(guest);
    spec
}

/// A minimal static x86-64 Linux executable (`ET_EXEC`, one read+execute
/// `PT_LOAD` segment at 0x400000) whose entry point runs `code`.
pub fn static_elf(code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let mut b = vec![0u8; HEADERS as usize];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // 64-bit
    b[5] = 1; // little-endian
    b[6] = 1; // ELF version
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    b[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let size = HEADERS + code.len() as u64;
    let ph = &mut b[64..];
    ph[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    ph[4..8].copy_from_slice(&5u32.to_le_bytes()); // R + X
    ph[16..24].copy_from_slice(&BASE.to_le_bytes()); // vaddr
    ph[24..32].copy_from_slice(&BASE.to_le_bytes()); // paddr
    ph[32..40].copy_from_slice(&size.to_le_bytes()); // filesz
    ph[40..48].copy_from_slice(&size.to_le_bytes()); // memsz
    ph[48..56].copy_from_slice(&0x1000u64.to_le_bytes()); // align
    b.extend_from_slice(code);
    b
}

/// A [`static_elf`] that calls `exit(code)`: `mov edi, code; mov eax, 60;
/// syscall; jmp .` (the jump is never reached).
pub fn exit_program(code: u8) -> Vec<u8> {
    static_elf(&[0xbf, code, 0, 0, 0, 0xb8, 60, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xfe])
}

/// A scratch directory for one test, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    /// A fresh directory named after `name` and this process.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vmm-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Self { dir }
    }

    /// Writes `bytes` to `name` in the directory with permission bits `mode`.
    pub fn file(&self, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asserts that `console` contains `line` as a whole printk line (after the
/// `[ seconds.micros] ` timestamp).
pub fn assert_line(console: &str, line: &str) {
    assert!(console.lines().any(|l| strip_timestamp(l) == Some(line)), "console has no line {line:?}:\n{console}");
}

/// What the kernel prints when something went wrong inside it: a bug, an
/// oops, a panic, a leak at init's exit, a failed self-test, a bad page.
pub const KERNEL_REPORTS: [&str; 6] = ["BUG", "Oops", "panic", "LEAK", "FAILED", "Bad page"];

/// The number after the first `NAME ` in a program's output (the
/// counters the guest programs print as `name value` pairs); panics,
/// showing the output, when there is none.
pub fn counter_in(output: &str, name: &str) -> u64 {
    let rest = output.split(&format!("{name} ")).nth(1).unwrap_or_else(|| panic!("no {name} in {output}"));
    rest.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad {name} in {output}"))
}

/// Asserts that `console` has none of [`KERNEL_REPORTS`] nor any of
/// `also`; `context` goes into the message.
pub fn assert_no_kernel_reports(console: &str, also: &[&str], context: &str) {
    for bad in KERNEL_REPORTS.iter().chain(also) {
        assert!(!console.contains(bad), "the kernel reports {bad:?}\n{context}\n{console}");
    }
}

/// How many allocations fault injection failed for `key`
/// (`fail_page_alloc`, `failslab`), from the line the kernel prints at the
/// end of a run (`fault injection: KEY failed N allocations`).
pub fn injected_failures(console: &str, key: &str) -> Option<u64> {
    let pat = format!("fault injection: {key} failed ");
    let line = console.lines().find(|l| l.contains(&pat))?;
    line.split(&pat).nth(1)?.split(' ').next()?.parse().ok()
}

/// The text of a printk line without its timestamp, or `None` when the
/// line does not start with a Linux-style `[%5lu.%06lu] ` stamp.
pub fn strip_timestamp(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let (stamp, text) = rest.split_once("] ")?;
    let (secs, micros) = stamp.trim_start().split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (stamp.len() >= 12 && digits(secs) && micros.len() == 6 && digits(micros)).then_some(text)
}

pub const M: u64 = 1 << 20;
pub const G: u64 = 1 << 30;
pub mod programs;

/// A little x86-64 machine-code writer for the tests' stand-in programs and
/// kernels (no assembler needed): each method appends one instruction.
#[derive(Clone, Debug, Default)]
pub struct Code(pub Vec<u8>);

impl Code {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn imm32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    /// `mov eax, imm32`
    pub fn mov_eax(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0xb8]).imm32(v)
    }
    /// `mov ecx, imm32`
    pub fn mov_ecx(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0xb9]).imm32(v)
    }
    /// `mov edx, imm32`
    pub fn mov_edx(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0xba]).imm32(v)
    }
    /// `mov esi, imm32`
    pub fn mov_esi(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0xbe]).imm32(v)
    }
    /// `mov edi, imm32`
    pub fn mov_edi(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0xbf]).imm32(v)
    }
    /// `mov r64, imm64` for rax (0), rcx (1), rdx (2), rbx (3), rsi (6), rdi (7).
    pub fn mov_r64(&mut self, reg: u8, v: u64) -> &mut Self {
        self.bytes(&[0x48, 0xb8 + reg]).bytes(&v.to_le_bytes())
    }
    /// `mov r10d, imm32`
    pub fn mov_r10d(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0x41, 0xba]).imm32(v)
    }
    /// `mov r12d, imm32`
    pub fn mov_r12d(&mut self, v: u32) -> &mut Self {
        self.bytes(&[0x41, 0xbc]).imm32(v)
    }
    pub fn syscall(&mut self) -> &mut Self {
        self.bytes(&[0x0f, 0x05])
    }
    /// `jnz` back to `target` (an earlier offset).
    pub fn jnz_back(&mut self, target: usize) -> &mut Self {
        let rel = target as i64 - (self.len() as i64 + 2);
        if rel >= -128 {
            self.bytes(&[0x75, rel as i8 as u8])
        } else {
            let rel = target as i64 - (self.len() as i64 + 6);
            self.bytes(&[0x0f, 0x85]).imm32(rel as i32 as u32)
        }
    }
    /// `jz` back to `target` (an earlier offset).
    pub fn jz_back(&mut self, target: usize) -> &mut Self {
        let rel = target as i64 - (self.len() as i64 + 2);
        assert!(rel >= -128, "short jumps only");
        self.bytes(&[0x74, rel as i8 as u8])
    }
    /// `jmp` back to `target` (an earlier offset).
    pub fn jmp_back(&mut self, target: usize) -> &mut Self {
        let rel = target as i64 - (self.len() as i64 + 2);
        assert!(rel >= -128, "short jumps only");
        self.bytes(&[0xeb, rel as i8 as u8])
    }
    /// `nanosleep(&{ms / 1000, ms % 1000 * 1e6}, NULL)` with the timespec on
    /// the stack (popped again after).
    pub fn sleep_ms(&mut self, ms: u32) -> &mut Self {
        self.bytes(&[0x68]).imm32((ms % 1000) * 1_000_000); // push nsec
        self.bytes(&[0x68]).imm32(ms / 1000); // push sec
        self.bytes(&[0x48, 0x89, 0xe7]); // mov rdi, rsp
        self.bytes(&[0x31, 0xf6]); // xor esi, esi
        self.mov_eax(35).syscall();
        self.bytes(&[0x48, 0x83, 0xc4, 0x10]) // add rsp, 16
    }
    /// `exit(code)`
    pub fn exit(&mut self, code: u8) -> &mut Self {
        self.mov_edi(code as u32).mov_eax(60).syscall()
    }
    /// `mmap(NULL, len, prot in edx, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)`;
    /// the address ends in rax. Set edx first.
    pub fn mmap_anon_edx(&mut self, len: u64) -> &mut Self {
        self.mov_eax(9);
        self.bytes(&[0x31, 0xff]); // xor edi, edi
        self.mov_r64(6, len); // mov rsi, len
        self.mov_r10d(0x22);
        self.bytes(&[0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff]); // mov r8, -1
        self.bytes(&[0x45, 0x31, 0xc9]); // xor r9d, r9d
        self.syscall()
    }
}

/// An init program that sleeps forever, one second at a time (for guests
/// driven through the control queue).
pub fn sleeper_program() -> Vec<u8> {
    let mut c = Code::new();
    let top = c.len();
    c.sleep_ms(1000).jmp_back(top);
    static_elf(&c.0)
}

/// A program that maps `pages` anonymous pages, writes one byte to each,
/// sleeps `sleep_ms` and exits 0 (exit 1 if the mapping failed).
pub fn toucher_program(pages: u32, sleep_ms: u32) -> Vec<u8> {
    let mut c = Code::new();
    c.mov_edx(3).mmap_anon_edx(pages as u64 * 4096);
    // An error is -4095..-1: exit 1.
    c.bytes(&[0x48, 0x3d]).bytes(&(-4095i32).to_le_bytes()); // cmp rax, -4095
    c.bytes(&[0x72, 0x0c]); // jb +12 (unsigned below: a real address)
    c.exit(1); // 12 bytes
    c.mov_ecx(pages);
    let top = c.len();
    c.bytes(&[0xc6, 0x00, 0x01]); // mov byte [rax], 1
    c.bytes(&[0x48, 0x05, 0x00, 0x10, 0x00, 0x00]); // add rax, 4096
    c.bytes(&[0xff, 0xc9]); // dec ecx
    c.jnz_back(top);
    c.sleep_ms(sleep_ms).exit(0);
    static_elf(&c.0)
}

/// A program that makes `regions` one-page anonymous mappings (alternately
/// read-only and read-write, so that no two merge into one VMA), sleeps
/// `sleep_ms`, unmaps them all, sleeps `hold_ms` and exits 0.
pub fn mapper_program(regions: u32, sleep_ms: u32, hold_ms: u32) -> Vec<u8> {
    let mut c = Code::new();
    c.mov_r12d(regions);
    let map = c.len();
    c.bytes(&[0x44, 0x89, 0xe2]); // mov edx, r12d
    c.bytes(&[0x83, 0xe2, 0x01]); // and edx, 1
    c.bytes(&[0xd1, 0xe2]); // shl edx, 1
    c.bytes(&[0x83, 0xca, 0x01]); // or edx, 1: PROT_READ, or PROT_READ|PROT_WRITE
    c.mmap_anon_edx(4096);
    c.bytes(&[0x50]); // push rax
    c.bytes(&[0x41, 0xff, 0xcc]); // dec r12d
    c.jnz_back(map);
    c.sleep_ms(sleep_ms);
    c.mov_r12d(regions);
    let unmap = c.len();
    c.bytes(&[0x5f]); // pop rdi
    c.mov_esi(4096).mov_eax(11).syscall(); // munmap(rdi, 4096)
    c.bytes(&[0x41, 0xff, 0xcc]); // dec r12d
    c.jnz_back(unmap);
    c.sleep_ms(hold_ms).exit(0);
    static_elf(&c.0)
}

/// A kernel ELF for stand-in kernels: one read/write/execute `PT_LOAD`
/// segment `seg` loaded at 16 MiB and linked in the boot mapping at
/// `START_KERNEL_MAP + 16 MiB`, entered at its first byte.
pub fn kernel_elf(seg: &[u8]) -> Vec<u8> {
    const PHYS: u64 = 0x100_0000;
    const VIRT: u64 = 0xffff_ffff_8000_0000 + PHYS;
    let mut elf = vec![0u8; 0x1000];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[6] = 1;
    elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf[18..20].copy_from_slice(&62u16.to_le_bytes());
    elf[20..24].copy_from_slice(&1u32.to_le_bytes());
    elf[24..32].copy_from_slice(&VIRT.to_le_bytes());
    elf[32..40].copy_from_slice(&64u64.to_le_bytes());
    elf[52..54].copy_from_slice(&64u16.to_le_bytes());
    elf[54..56].copy_from_slice(&56u16.to_le_bytes());
    elf[56..58].copy_from_slice(&1u16.to_le_bytes());
    let ph = &mut elf[64..120];
    ph[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    ph[4..8].copy_from_slice(&7u32.to_le_bytes()); // RWX
    ph[8..16].copy_from_slice(&0x1000u64.to_le_bytes());
    ph[16..24].copy_from_slice(&VIRT.to_le_bytes());
    ph[24..32].copy_from_slice(&PHYS.to_le_bytes());
    ph[32..40].copy_from_slice(&(seg.len() as u64).to_le_bytes());
    ph[40..48].copy_from_slice(&(seg.len() as u64).to_le_bytes());
    ph[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
    elf.extend_from_slice(seg);
    elf
}

/// An [`vmm::InitImage`] with `init` as `/bin/init` and each of `files`
/// (guest path, bytes; executable) beside it, for `mem` bytes of RAM.
pub fn init_image(mem: u64, init: &[u8], files: &[(&str, &[u8])]) -> vmm::InitImage {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch = Scratch::new(&format!("init-image-{n}"));
    let program = vmm::GuestFile { host: scratch.file("init", init, 0o755), guest: "/bin/init".into() };
    let files = files
        .iter()
        .enumerate()
        .map(|(i, (guest, bytes))| vmm::GuestFile { host: scratch.file(&format!("file{i}"), bytes, 0o755), guest: guest.to_string() })
        .collect();
    let spec = vmm::InitSpec { program, files, args: Vec::new(), identity: vmm::Identity::default() };
    vmm::InitImage::build(&spec, mem).unwrap_or_else(|e| panic!("cannot pack the initramfs: {e}"))
}

/// What [`run_controlled`] gives back.
pub struct ControlledRun<R> {
    pub report: RunReport,
    /// What the closure returned.
    pub result: R,
    /// Everything `vmm` wrote to its stdout and stderr (console, program
    /// output, the VMM's messages).
    pub stdout: String,
    pub stderr: String,
}

/// Boots `config` with [`vmm::run_with_control`], running `f` against the
/// guest's control channel meanwhile; the console goes to `stderr`.
pub fn run_controlled<R: Send>(config: &VmConfig, f: impl FnOnce(&vmm::Control) -> R + Send) -> ControlledRun<R> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let streams = vmm::Streams { stdout: &mut stdout, stderr: &mut stderr, console: vmm::Stream::Stderr, stats: None, stdin: None };
    let (report, result) = vmm::run_with_control(config, streams, f).unwrap_or_else(|e| panic!("the VMM could not run the guest: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    ControlledRun { report, result, stdout: text(&stdout), stderr: text(&stderr) }
}
