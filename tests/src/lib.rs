//! Shared helpers for the integration tests: boot the real VM in-process
//! (uhyve-style) and look at what the guest did.
//!
//! The kernel is built once, by the `vmm` crate's build script, and every
//! test boots it with its own configuration.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use vmm::{exit_code, Outcome, RunReport, VmConfig};

/// Every test VM is stopped after this long, so a hung guest fails its test
/// instead of hanging the suite.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether KVM can be used here. Tests that need it return early, loudly,
/// when it cannot; on the project's machines it is present and they run.
pub fn kvm_available() -> bool {
    let ok = std::fs::OpenOptions::new().read(true).write(true).open(vmm::vm::KVM_DEVICE).is_ok();
    if !ok {
        eprintln!("SKIPPED: {} is not available on this host; this test needs KVM", vmm::vm::KVM_DEVICE);
    }
    ok
}

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

/// Asserts that `console` contains `line` as a whole printk line (after the
/// `[ seconds.micros] ` timestamp).
pub fn assert_line(console: &str, line: &str) {
    assert!(
        console.lines().any(|l| strip_timestamp(l) == Some(line)),
        "console has no line {line:?}:\n{console}"
    );
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
