//! The command line: `vmm run [--mem SIZE] [--cmdline ...] [--kernel PATH]
//! [--timeout SECS] [--mem-hole START:SIZE]... [--init PROGRAM[:GUEST_PATH]
//! [--file HOST_PATH[:GUEST_PATH]]...] [--no-init] [--count-instructions]
//! [--verbose] [--stats-out FILE] [--proc-out DIR [--proc-every]]
//! [--stats table] [-- ARGS...]`.
//!
//! `vmm stats FILE.jsonl [--plot OUT.svg]` summarises (and draws) a run
//! recorded with `vmm run --stats-out FILE.jsonl`.
//!
//! `vmm balloon PATH [SIZE [--wait]]` shows or sets the balloon's size of
//! a guest running with `vmm run --balloon --control-socket PATH`.
//!
//! [`main_with_args`] is the whole program minus the process: the binary
//! calls it with the real arguments and streams, tests call it with their
//! own, so both see exactly the same behaviour.
//!
//! Streams: without `--init`, stdout carries the guest's console. With it,
//! stdout carries only the program's stdout, and stderr the console, the
//! program's stderr and the VMM's messages.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::devices::console::Stream;
use crate::e820::MemHole;
use crate::error::Error;
use crate::initramfs::{GuestFile, Identity, InitError, InitImage, InitSpec};
use crate::report::{exit_code, RunReport};
use crate::stats::summary::{self, Recording};
use crate::stats::views::{self, ProcOut};
use crate::stats::StatsMessage;
use crate::vm::{Streams, VmConfig};

pub use crate::size::parse_size;

#[derive(Debug, Parser)]
#[command(name = "vmm", version, about = "Boot the guest kernel in a KVM virtual machine")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the run arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot the guest kernel and run it until it powers off.
    Run(RunArgs),
    /// Summarise a run recorded with `vmm run --stats-out FILE`: snapshots, time span, free memory, peak RSS per process, faults.
    Stats(StatsArgs),
    /// Show or set the balloon's size of a guest running with `vmm run --balloon --control-socket PATH`.
    Balloon(BalloonArgs),
}

#[derive(Debug, Args)]
pub struct BalloonArgs {
    /// The running VMM's control socket (`vmm run --control-socket PATH`).
    #[arg(value_name = "PATH")]
    pub socket: PathBuf,

    /// How much guest memory the balloon should hold (given back to the host): a size with an optional K, M or G suffix, in whole 4 KiB pages; 0 gives it all back to the guest. Without it, print the balloon's size.
    #[arg(value_name = "SIZE")]
    pub size: Option<String>,

    /// With SIZE: answer only once the guest's driver has reached it.
    #[arg(long, requires = "size")]
    pub wait: bool,

    /// How long to wait for the VMM's answer.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A file written by `vmm run --stats-out` (one JSON object per line).
    #[arg(value_name = "FILE.jsonl")]
    pub file: PathBuf,

    /// Also draw free pages per order, RSS per process and swap (pages in use, moved, major faults) over guest time into this SVG file.
    #[arg(long, value_name = "OUT.svg")]
    pub plot: Option<PathBuf>,
}

/// `--stats FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// Free memory per zone and order, top slab caches, per-process RSS and fault counts, on stderr at exit.
    Table,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Guest RAM size: a number with an optional K, M, G or T suffix (binary units), e.g. 64M, 1536M, 5G.
    #[arg(long, value_name = "SIZE", default_value = "128M", value_parser = parse_mem_size)]
    pub mem: u64,

    /// Kernel command line, as space-separated `key=value` words.
    #[arg(long, value_name = "\"k=v ...\"", default_value = "")]
    pub cmdline: String,

    /// Kernel ELF to boot [default: the guest kernel built with this vmm].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,

    /// Stop the guest after this many seconds of wall time (exit code 124).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// Mark START..START+SIZE of guest RAM reserved in the E820 map (repeatable), giving the kernel discontiguous memory.
    #[arg(long = "mem-hole", value_name = "START:SIZE", value_parser = parse_mem_hole)]
    pub mem_holes: Vec<MemHole>,

    /// Print VMM events (boot time, exits) on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Run PROGRAM, an x86-64 ELF executable on the host, as the guest's init: it goes into the initramfs at GUEST_PATH [default: /bin/NAME] and gets ARGS as its arguments. stdout then carries only its output; the console moves to stderr.
    #[arg(long, value_name = "PROGRAM[:GUEST_PATH]", value_parser = parse_init)]
    pub init: Option<GuestFile>,

    /// Also put HOST_PATH into the initramfs at GUEST_PATH [default: /NAME], with its permission bits: a regular file, or a directory with every file under it (repeatable; needs --init).
    #[arg(long = "file", value_name = "HOST_PATH[:GUEST_PATH]", value_parser = parse_file, requires = "init")]
    pub files: Vec<GuestFile>,

    /// Do not pack a dynamically linked --init program's interpreter and shared libraries (by default they go in at the paths the host has them at, found as ldd finds them).
    #[arg(long, requires = "init")]
    pub no_libs: bool,

    /// Boot the kernel alone: no init program (not even the built-in demo); the kernel sets up memory, runs any selftest=/dump= and powers off.
    #[arg(long, conflicts_with = "init")]
    pub no_init: bool,

    /// Set KEY to VALUE in init's environment, on top of the defaults PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME=/ and TERM=linux (repeatable; wins over --env-file).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<String>,

    /// Read variables for init's environment from FILE: one KEY=VALUE per line, blank lines and lines starting with # skipped (repeatable).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,

    /// Run init as user UID and group GID [default GID: UID], numbers as the guest has no user database: without capabilities unless UID is 0, as Linux leaves a non-root program after execve.
    #[arg(long, value_name = "UID[:GID]", value_parser = parse_user)]
    pub user: Option<(u32, u32)>,

    /// Start init in DIR, an absolute path in the guest [default: /].
    #[arg(long, value_name = "DIR", value_parser = parse_cwd)]
    pub cwd: Option<String>,

    /// Give the guest a swap area: a virtio-blk device backed by FILE, which must carry a Linux swap header (as mkswap writes it); created sparse with SIZE bytes and a header if it does not exist (repeatable: several areas, in priority order).
    #[arg(long = "swap", value_name = "FILE[:SIZE]", value_parser = parse_swap)]
    pub swap: Vec<crate::vm::SwapSpec>,

    /// Give the guest a virtio-balloon device with free page reporting: the guest reports memory that stays free, and the VMM gives the host pages behind it back (the VMM's resident set falls when the guest frees memory).
    #[arg(long)]
    pub balloon: bool,

    /// Listen on a Unix socket at PATH (which must not exist) for control requests while the guest runs: `vmm balloon PATH SIZE` sets the balloon's size. The socket is removed at exit.
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,

    /// Do not ask the host for transparent huge pages behind guest RAM (by default the VMM advises MADV_HUGEPAGE, so that one host fault backs 2 MiB, except with --balloon, whose 4 KiB discards would split them; --verbose says what the host gave).
    #[arg(long)]
    pub no_host_hugepages: bool,

    /// Count the guest instructions of the kernel regions marked on the mark port (single-stepped; the kernel marks them for count=alloc_page,kmalloc64,fault on --cmdline) and print one line per region on stderr at exit.
    #[arg(long)]
    pub count_instructions: bool,

    /// With --count-instructions: write the guest address of every counted instruction to FILE, one per line with the index of its region among the `counted` lines (`0xffffffff8012abcd 0`); `cut -d' ' -f1 FILE | addr2line -f -e KERNEL` names the functions.
    #[arg(long, value_name = "FILE", requires = "count_instructions")]
    pub count_trace: Option<PathBuf>,

    /// Serve the GDB remote protocol on ADDR (HOST:PORT, or a bare PORT for 127.0.0.1:PORT; port 0 picks a free one, printed on stderr): `gdb KERNEL -ex 'target remote ADDR'` debugs the guest kernel (see the README).
    #[arg(long, value_name = "ADDR", value_parser = parse_gdb_addr)]
    pub gdb: Option<std::net::SocketAddr>,

    /// With --gdb: stop the guest before its first instruction until gdb attaches (and again when a gdb drops its connection without detaching).
    #[arg(long, requires = "gdb")]
    pub gdb_wait: bool,

    /// Write every message of the guest's stats channel (snapshots and replies) to FILE as it arrives, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub stats_out: Option<PathBuf>,

    /// At exit, write the last snapshot's /proc files into DIR: meminfo, buddyinfo, zoneinfo, vmstat, slabinfo, vmallocinfo, and PID/status, PID/maps for each process in it.
    #[arg(long, value_name = "DIR")]
    pub proc_out: Option<PathBuf>,

    /// With --proc-out: rewrite DIR after every snapshot, not only at exit.
    #[arg(long, requires = "proc_out")]
    pub proc_every: bool,

    /// Print a summary of the stats channel on stderr at exit.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub stats: Option<StatsFormat>,

    /// Arguments for init: the program's argv[1..] with --init (or for the built-in demo), else passed after `--` on the kernel command line.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

impl RunArgs {
    /// Init's environment, user and working directory from `--env-file`,
    /// `--env`, `--user` and `--cwd`.
    fn identity(&self) -> Result<Identity, InitError> {
        let mut env = Vec::new();
        for path in &self.env_files {
            let text = std::fs::read_to_string(path).map_err(|source| InitError::Read { what: "env file", path: path.clone(), source })?;
            env.extend(crate::initramfs::parse_env_file(&text).map_err(|e| InitError::Env(format!("{}: {e}", path.display())))?);
        }
        env.extend(self.env.iter().cloned());
        let (uid, gid) = self.user.unwrap_or((0, 0));
        Ok(Identity { env, uid, gid, cwd: self.cwd.clone() })
    }

    /// The VM to run. With `--init` this reads and checks the program and
    /// files and packs them.
    pub fn to_config(&self) -> Result<VmConfig, InitError> {
        let init = match &self.init {
            Some(program) => {
                let mut files = crate::initramfs::expand_directories(self.files.clone())?;
                if !self.no_libs {
                    // What a dynamically linked program needs, unless given.
                    let libs = crate::initramfs::libs::needed_files(&program.host).map_err(InitError::Libraries)?;
                    files.extend(libs.into_iter().filter(|l| !self.files.iter().any(|f| f.guest == l.guest)));
                }
                let spec = InitSpec { program: program.clone(), files, args: self.args.clone(), identity: self.identity()? };
                Some(InitImage::build(&spec, self.mem)?)
            }
            None if self.no_init => None,
            None => Some(demo_image(self.mem, &self.args, self.identity()?)?),
        };
        Ok(VmConfig {
            mem_size: self.mem,
            cmdline: self.cmdline.clone(),
            kernel: self.kernel.clone().unwrap_or_else(|| PathBuf::from(crate::DEFAULT_KERNEL)),
            timeout: self.timeout,
            mem_holes: self.mem_holes.clone(),
            // With an init program the arguments are its argv instead.
            init_args: if init.is_some() { Vec::new() } else { self.args.clone() },
            init,
            kvm_device: PathBuf::from(crate::vm::KVM_DEVICE),
            count_instructions: self.count_instructions,
            count_trace: self.count_trace.is_some(),
            gdb: self.gdb.map(|addr| crate::gdb::GdbConfig { addr, wait: self.gdb_wait }),
            swap: self.swap.clone(),
            balloon: self.balloon,
            host_hugepages: !self.no_host_hugepages,
        })
    }
}

/// `--gdb`: `HOST:PORT` (IPv4 or `[IPv6]`), or a bare port on 127.0.0.1.
fn parse_gdb_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| format!("{text:?} is not HOST:PORT (e.g. 127.0.0.1:1234) or a port number"))
}

/// The built-in demo program (vmm/demo), carried inside this binary.
const DEMO_INIT: &[u8] = include_bytes!(env!("DEMO_INIT_PATH"));

/// The initramfs for `vmm run` without `--init`: the built-in demo as
/// `/bin/rvmm-demo`. It is written to a private temporary file for the
/// packer, which reads and checks programs from the host.
fn demo_image(mem: u64, args: &[String], identity: Identity) -> Result<InitImage, InitError> {
    // Unique per call: tests run several VMs at once in one process.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rvmm-demo-{}-{n}", std::process::id()));
    let host = dir.join("rvmm-demo");
    let io = |source| InitError::Read { what: "built-in demo", path: host.clone(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::write(&host, DEMO_INIT).map_err(io)?;
    let spec = InitSpec { program: GuestFile { host: host.clone(), guest: "/bin/rvmm-demo".into() }, files: Vec::new(), args: args.to_vec(), identity };
    let image = InitImage::build(&spec, mem);
    let _ = std::fs::remove_dir_all(&dir);
    image
}

/// Runs `vmm` with `args` (including the program name), writing to
/// `stdout` and `stderr` as the process does (see the module doc). Returns
/// the process exit code.
pub fn main_with_args<I, T>(args: I, mut stdout: Box<dyn Write + Send>, stderr: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // A user program's fd 0 reads the VMM's own stdin.
    let stdin: Box<dyn std::io::BufRead + Send> = Box::new(std::io::BufReader::new(std::io::stdin()));
    run_with_io(args, Some(stdin), &mut *stdout, stderr).code
}

/// What one `vmm` invocation did.
#[derive(Debug)]
pub struct CliOutcome {
    /// The process exit code.
    pub code: i32,
    /// The guest's run, when one started.
    pub report: Option<RunReport>,
}

/// [`main_with_args`] with an empty input for the guest, also returning
/// the run report (for tests, which want the console apart from a
/// program's stderr).
pub fn run_with_args<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> CliOutcome
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_with_io(args, None, stdout, stderr)
}

/// [`run_with_args`] with `stdin` as what a user program reads from fd 0
/// (`None`: an empty input).
pub fn run_with_io<I, T>(args: I, stdin: Option<Box<dyn std::io::BufRead + Send>>, stdout: &mut dyn Write, stderr: &mut dyn Write) -> CliOutcome
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = write!(stderr, "{}", e.render().ansi());
            return CliOutcome { code: e.exit_code(), report: None };
        }
    };
    match cli.command {
        Command::Run(run_args) => run_command(&run_args, stdin, stdout, stderr),
        Command::Stats(stats_args) => stats_command(&stats_args, stdout, stderr),
        Command::Balloon(balloon_args) => balloon_command(&balloon_args, stdout, stderr),
    }
}

/// `vmm balloon PATH [SIZE [--wait]]`: one request on the control socket.
fn balloon_command(args: &BalloonArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> CliOutcome {
    let request = match (&args.size, args.wait) {
        (None, _) => "balloon".to_string(),
        (Some(size), wait) => {
            if let Err(e) = crate::stats::socket::balloon_pages(size) {
                return failed(stderr, &e, exit_code::USAGE);
            }
            format!("balloon {size}{}", if wait { " wait" } else { "" })
        }
    };
    match crate::stats::socket::request(&args.socket, &request, args.timeout) {
        Ok(answer) => match answer.strip_prefix("ok ") {
            Some(state) => {
                let _ = writeln!(stdout, "{state}");
                CliOutcome { code: 0, report: None }
            }
            None => failed(stderr, &answer.strip_prefix("error: ").unwrap_or(&answer), exit_code::VMM_ERROR),
        },
        Err(e) => failed(stderr, &format!("control socket {}: {e}", args.socket.display()), exit_code::VMM_ERROR),
    }
}

fn failed(stderr: &mut dyn Write, e: &dyn std::fmt::Display, code: i32) -> CliOutcome {
    let _ = writeln!(stderr, "vmm: error: {e}");
    CliOutcome { code, report: None }
}

fn stats_command(args: &StatsArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> CliOutcome {
    let path = args.file.display();
    let rec = match Recording::read(&args.file) {
        Ok(rec) => rec,
        Err(e) => return failed(stderr, &format!("cannot read {path}: {e}"), exit_code::VMM_ERROR),
    };
    if let Some((line, why)) = rec.bad_lines.first() {
        if rec.messages.is_empty() {
            return failed(stderr, &format!("{path} has no stats records (line {line}: {why})"), exit_code::VMM_ERROR);
        }
        let _ = writeln!(stderr, "vmm: warning: {path}: {} unreadable lines skipped (line {line}: {why})", rec.bad_lines.len());
    }
    let _ = write!(stdout, "{path}: {}", summary::summarize(&rec));
    if let Some(out) = &args.plot {
        if let Err(e) = summary::plot(&rec, out) {
            return failed(stderr, &e, exit_code::VMM_ERROR);
        }
        let _ = writeln!(stdout, "plot: {}", out.display());
    }
    CliOutcome { code: 0, report: None }
}

fn run_command(args: &RunArgs, stdin: Option<Box<dyn std::io::BufRead + Send>>, stdout: &mut dyn Write, stderr: &mut dyn Write) -> CliOutcome {
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => return failed(stderr, &e, exit_code::USAGE),
    };
    // The outputs are opened before the guest starts.
    let mut count_trace = match &args.count_trace {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(file),
            Err(e) => return failed(stderr, &format!("cannot create --count-trace file {}: {e}", path.display()), exit_code::VMM_ERROR),
        },
        None => None,
    };
    let mut stats_out = match &args.stats_out {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(std::io::BufWriter::new(file)),
            Err(e) => return failed(stderr, &format!("cannot create --stats-out file {}: {e}", path.display()), exit_code::VMM_ERROR),
        },
        None => None,
    };
    let control_socket = match &args.control_socket {
        Some(path) => match crate::stats::socket::ControlSocket::bind(path) {
            Ok(socket) => Some(socket),
            Err(e) => return failed(stderr, &format!("cannot listen on --control-socket {}: {e}", path.display()), exit_code::VMM_ERROR),
        },
        None => None,
    };
    let mut proc_out = match &args.proc_out {
        Some(dir) => match ProcOut::new(dir) {
            Ok(out) => Some(out),
            Err(e) => return failed(stderr, &format!("cannot create --proc-out directory {}: {e}", dir.display()), exit_code::VMM_ERROR),
        },
        None => None,
    };
    // Write failures during the run are reported after it, once per output.
    let mut write_errors: Vec<String> = Vec::new();
    let proc_every = args.proc_every;
    let mut on_stats = |message: &StatsMessage| {
        if let Some(out) = stats_out.as_mut() {
            if let Err(e) = writeln!(out, "{}", message.to_json_line()).and_then(|()| out.flush()) {
                note_once(&mut write_errors, format!("vmm: --stats-out: writing failed: {e}"));
            }
        }
        if let (true, Some(out), Some(snap)) = (proc_every, proc_out.as_mut(), message.snapshot()) {
            if let Err(e) = out.write(snap) {
                note_once(&mut write_errors, format!("vmm: --proc-out {}: writing failed: {e}", out.dir().display()));
            }
        }
    };
    let wants_messages = args.stats_out.is_some() || (args.proc_out.is_some() && proc_every);
    // With a program, stdout is the program's alone.
    let console = if config.init.is_some() { Stream::Stderr } else { Stream::Stdout };
    let hook: Option<&mut dyn FnMut(&StatsMessage)> = if wants_messages { Some(&mut on_stats) } else { None };
    let streams = Streams { stdout, stderr: &mut *stderr, console, stats: hook, stdin };
    let run = match &control_socket {
        Some(socket) => crate::vm::run_with_control(&config, streams, |ctl| socket.serve(ctl)).map(|(report, ())| report),
        None => crate::vm::run_with_streams(&config, streams),
    };
    for line in &write_errors {
        let _ = writeln!(stderr, "{line}");
    }
    match run {
        Ok(report) => {
            if let Some(out) = proc_out.as_mut() {
                match &report.stats.last_snapshot {
                    Some((_, snap)) => {
                        if let Err(e) = out.write(snap) {
                            let _ = writeln!(stderr, "vmm: --proc-out {}: writing failed: {e}", out.dir().display());
                        }
                    }
                    None => {
                        let _ = writeln!(stderr, "vmm: --proc-out {}: no snapshot arrived from the guest; nothing written", out.dir().display());
                    }
                }
            }
            if args.stats == Some(StatsFormat::Table) {
                let _ = write!(stderr, "{}", views::table(&report.stats));
            }
            if args.verbose {
                let h = report.host_hugepages;
                let _ = writeln!(
                    stderr,
                    "vmm: host huge pages behind guest RAM: {} MiB at the end ({})",
                    h.bytes >> 20,
                    if h.advised {
                        "MADV_HUGEPAGE taken"
                    } else if args.no_host_hugepages {
                        "off: --no-host-hugepages"
                    } else if args.balloon {
                        "off: the balloon gives 4 KiB pages back"
                    } else {
                        "MADV_HUGEPAGE refused by the host"
                    }
                );
                if let Some(t) = report.boot_time {
                    let _ = writeln!(stderr, "vmm: boot time (VMM start to mm ready): {:.3} ms", t.as_secs_f64() * 1e3);
                }
                let _ = writeln!(stderr, "vmm: guest ran for {:.3} ms", report.run_time.as_secs_f64() * 1e3);
                if report.hostio_rejected > 0 {
                    let _ = writeln!(stderr, "vmm: {} host I/O requests refused", report.hostio_rejected);
                }
                let st = &report.stats;
                let _ = writeln!(
                    stderr,
                    "vmm: stats channel: {} messages ({} snapshots, {} replies), {} lost, {} bad chains, {} driver errors",
                    st.received, st.snapshots, st.replies, st.lost, st.rejected, st.driver_errors
                );
            }
            if let Some(b) = &report.balloon {
                let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
                let _ = writeln!(
                    stderr,
                    "vmm: balloon: {} free page reports gave {:.1} MiB back; guest RAM resident on the host {:.1} MiB at most before a report, {:.1} MiB after the last; {} pages inflated, {} deflated, {} of {} asked for held at the end",
                    b.reports,
                    mib(b.reported_pages * 4096),
                    mib(b.resident_before),
                    mib(b.resident_after),
                    b.inflated_pages,
                    b.deflated_pages,
                    b.actual_pages,
                    b.target_pages
                );
            }
            if let Some(counts) = &report.counts {
                for line in counts.lines() {
                    let _ = writeln!(stderr, "vmm: {line}");
                }
                if let (Some(file), Some(path)) = (count_trace.as_mut(), &args.count_trace) {
                    if let Err(e) = file.write_all(counts.trace_text().as_bytes()) {
                        let _ = writeln!(stderr, "vmm: --count-trace {}: writing failed: {e}", path.display());
                    }
                    if counts.trace_dropped > 0 {
                        let _ =
                            writeln!(stderr, "vmm: --count-trace: {} instructions past the first {} not traced", counts.trace_dropped, crate::count::MAX_TRACE);
                    }
                }
            }
            if let Some(dump) = report.dump() {
                let _ = write!(stderr, "{dump}");
            }
            CliOutcome { code: report.exit_code(), report: Some(report) }
        }
        // Only the initramfs not fitting the --mem given makes this one.
        Err(e @ Error::MemSize(_)) => failed(stderr, &e, exit_code::USAGE),
        Err(e) => failed(stderr, &e, exit_code::VMM_ERROR),
    }
}

fn note_once(notes: &mut Vec<String>, line: String) {
    if !notes.contains(&line) {
        notes.push(line);
    }
}

/// `--init PROGRAM[:GUEST_PATH]`: the guest path defaults to `/bin/NAME`.
pub fn parse_init(s: &str) -> Result<GuestFile, String> {
    GuestFile::parse(s, "/bin")
}

/// `--env KEY=VALUE`.
pub fn parse_env(s: &str) -> Result<String, String> {
    crate::initramfs::check_env(s)?;
    Ok(s.to_string())
}

/// `--user UID[:GID]`: decimal ids below 4294967295 (which is `(uid_t)-1`);
/// the group defaults to the user id.
pub fn parse_user(s: &str) -> Result<(u32, u32), String> {
    let id = |t: &str| {
        t.parse::<u32>().ok().filter(|&v| v != u32::MAX).ok_or_else(|| format!("{t:?} in {s:?} is not a user or group id (a number below 4294967295)"))
    };
    match s.split_once(':') {
        Some((u, g)) => Ok((id(u)?, id(g)?)),
        None => id(s).map(|u| (u, u)),
    }
}

/// `--swap FILE[:SIZE]`: a size after the last `:` (`64M`, `1G`), else
/// the whole value is the file.
pub fn parse_swap(s: &str) -> Result<crate::vm::SwapSpec, String> {
    let (path, size) = match s.rsplit_once(':') {
        Some((path, size)) if !path.is_empty() => (path, Some(parse_size(size)?)),
        _ => (s, None),
    };
    if path.is_empty() {
        return Err(format!("{s:?} names no swap file"));
    }
    Ok(crate::vm::SwapSpec { path: PathBuf::from(path), size })
}

/// `--cwd DIR`: an absolute guest path.
pub fn parse_cwd(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s.contains('\0') {
        return Err(format!("{s:?} is not an absolute guest path"));
    }
    Ok(s.to_string())
}

/// `--file HOST_PATH[:GUEST_PATH]`: the guest path defaults to `/NAME`.
pub fn parse_file(s: &str) -> Result<GuestFile, String> {
    GuestFile::parse(s, "/")
}

/// A guest RAM size: a [`parse_size`] within the limits the kernel and the
/// VMM support, in whole pages.
pub fn parse_mem_size(s: &str) -> Result<u64, String> {
    use shared::layout::{MAX_RAM_SIZE, MIN_RAM_SIZE, PAGE_SIZE};
    let size = parse_size(s)?;
    if size < MIN_RAM_SIZE {
        return Err(format!("{s} is below the minimum guest RAM of {}M", MIN_RAM_SIZE >> 20));
    }
    if size > MAX_RAM_SIZE {
        return Err(format!("{s} is above the maximum guest RAM of {}G", MAX_RAM_SIZE >> 30));
    }
    if size % PAGE_SIZE != 0 {
        return Err(format!("{s} is not a multiple of the 4K page size"));
    }
    Ok(size)
}

/// `START:SIZE`, both in [`parse_size`] syntax.
pub fn parse_mem_hole(s: &str) -> Result<MemHole, String> {
    let (start, size) = s.split_once(':').ok_or_else(|| format!("'{s}' is not START:SIZE, e.g. 256M:64M"))?;
    let hole = MemHole { start: parse_size(start)?, size: parse_size(size)? };
    if hole.size == 0 {
        return Err(format!("'{s}' has size zero"));
    }
    Ok(hole)
}

/// Seconds, whole or fractional, greater than zero.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(secs > 0.0 && secs.is_finite() && secs < 1e9) {
        return Err(format!("'{s}' must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("5G"), Ok(5 << 30));
        assert_eq!(parse_size("1536M"), Ok(1536 << 20));
        assert_eq!(parse_size("1536MiB"), Ok(1536 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("0x1000"), Ok(4096));
        assert_eq!(parse_size("123"), Ok(123));
        for bad in ["banana", "", "M", "-1M", "1.5G", "0xZZ", "12Q", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn mem_limits() {
        assert!(parse_mem_size("0").unwrap_err().contains("minimum"));
        assert!(parse_mem_size("1M").unwrap_err().contains("minimum"));
        assert!(parse_mem_size("2T").unwrap_err().contains("maximum"));
        assert!(parse_mem_size("67108865").unwrap_err().contains("page"));
        assert_eq!(parse_mem_size("32M"), Ok(32 << 20));
    }

    #[test]
    fn init_and_files() {
        let Command::Run(args) =
            Cli::try_parse_from(["vmm", "run", "--init", "/x/prog", "--file", "/y/data", "--file", "/y/f:/etc/f", "--", "a", "b c"]).unwrap().command
        else {
            panic!("not run")
        };
        assert_eq!(args.init, Some(GuestFile { host: "/x/prog".into(), guest: "/bin/prog".into() }));
        assert_eq!(args.files, [GuestFile { host: "/y/data".into(), guest: "/data".into() }, GuestFile { host: "/y/f".into(), guest: "/etc/f".into() }]);
        assert_eq!(args.args, ["a", "b c"]);
        assert!(Cli::try_parse_from(["vmm", "run", "--file", "/y/data"]).is_err(), "--file without --init");
        assert!(Cli::try_parse_from(["vmm", "run", "--init", "/x/prog:bin/prog"]).is_err());
    }

    #[test]
    fn init_goes_on_the_command_line() {
        let image = InitImage { path: "/bin/prog".into(), archive: vec![], argv: b"/bin/prog\0".to_vec(), ..InitImage::default() };
        let mut config = VmConfig { cmdline: " page_debug=1 ".into(), init: Some(image), ..VmConfig::new() };
        assert_eq!(config.full_cmdline(), "page_debug=1 init=/bin/prog");
        config.cmdline.clear();
        assert_eq!(config.full_cmdline(), "init=/bin/prog");
        config.init = None;
        config.init_args = vec!["a".into(), "b".into()];
        assert_eq!(config.full_cmdline(), " -- a b");
    }

    #[test]
    fn stats_options() {
        let Command::Run(args) =
            Cli::try_parse_from(["vmm", "run", "--stats-out", "/t/s.jsonl", "--proc-out", "/t/p", "--proc-every", "--stats", "table"]).unwrap().command
        else {
            panic!("not run")
        };
        assert_eq!(args.stats_out, Some(PathBuf::from("/t/s.jsonl")));
        assert_eq!(args.proc_out, Some(PathBuf::from("/t/p")));
        assert!(args.proc_every);
        assert_eq!(args.stats, Some(StatsFormat::Table));
        assert!(Cli::try_parse_from(["vmm", "run", "--proc-every"]).is_err(), "--proc-every without --proc-out");
        assert!(Cli::try_parse_from(["vmm", "run", "--stats", "graph"]).is_err());
        let Command::Stats(args) = Cli::try_parse_from(["vmm", "stats", "r.jsonl", "--plot", "o.svg"]).unwrap().command else { panic!("not stats") };
        assert_eq!((args.file, args.plot), (PathBuf::from("r.jsonl"), Some(PathBuf::from("o.svg"))));
    }

    #[test]
    fn holes_and_timeouts() {
        assert_eq!(parse_mem_hole("256M:64M"), Ok(MemHole { start: 256 << 20, size: 64 << 20 }));
        assert!(parse_mem_hole("256M").is_err());
        assert!(parse_mem_hole("256M:0").is_err());
        assert!(parse_mem_hole("x:1M").is_err());
        assert_eq!(parse_timeout("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-3", "nan", "inf", "soon"] {
            assert!(parse_timeout(bad).is_err(), "{bad} accepted");
        }
    }
}
